"""How a name looks once printed: a key shared by every two names a reader could take one for the other.

A proof is read on a terminal, in Markdown and in LaTeX, and the printers write Greek names as letters
(``sigma`` → σ), trailing digits and ``_`` as subscripts (``x1``, ``x_1`` → x₁) and SymPy's capitals as the Latin
letter they look like (``Alpha`` → A). Two names of one scope that print alike make a statement read as one about
another operator (a kernel size ``sigma`` beside a stride ``σ`` prints ⌊(L − σ)/σ⌋; a summed ``σ`` beside a size
``sigma`` prints Σ_σ x[σ + σ]). :func:`look` maps a name to what a reader sees, conservatively: every two names the
printers could show alike get one look (and a few that they show differently, such as ``x__1`` and ``x_1``, get one
too). A letter outside the Latin and the Greek alphabets (the 24 letters and their variant forms) could be any of
the look-alikes Unicode has (Cyrillic С beside Latin C, the lunate sigma ϲ beside c), so :func:`foreign_letters`
names it instead. A display name must read as a name, not as a number or an expression (:func:`display_problem`),
and a printed proof's own letters keep their meaning (:data:`RESERVED`).
"""

from __future__ import annotations

import re
import unicodedata

# Greek letter names as SymPy's printers read them (any case: ALPHA, alpha; the capitals by their Unicode names),
# and the spellings its LaTeX printer also knows
_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon "
          "phi chi psi omega").split()
_SPELLED = {"lamda": "lambda", "khi": "chi", "varepsilon": "epsilon", "varkappa": "kappa", "varphi": "phi",
            "varpi": "pi", "varrho": "rho", "varsigma": "sigma", "vartheta": "theta"}
# the Greek letters a name may hold: the alphabet (ς too) and the variant forms LaTeX names (ϑ ϕ ϖ ϱ ϵ ϰ)
_GREEK_LETTERS = frozenset("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩαβγδεζηθικλμνξοπρςστυφχψωϑϕϖϱϵϰ")
# Greek letters a reader takes for a Latin one (capitals drawn alike; small letters alike in a terminal's font; not
# γ, ρ or ω, which a proof writes beside y, p and w)
_LATIN_ALIKE = dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧοικνυχϰ", "ABEZHIKMNOPTYXoikvuxk"))
# marks a name shows after its letters (W*, W⁺, W†): kept, so W and W* look apart
_MARKS = {"\u2217": "*", "\u2212": "-", "\u2032": "'"}
# letters (with the accents over them), digits, primes and marks: what a name shows; underscores and carets place
_PARTS = re.compile(r"(?:[^\W\d_][\u0300-\u036f\u20d0-\u20ff]*)+|\d+|['\u2032*\u2217+\-\u2212\u2020]")
# what every printed proof writes with a letter of its own: Ω the neighbourhood and Σ a sum (no name begins with
# them: Ω_i, Σ_h), δ(a, b) the Kronecker delta (no function is named so; a symbol δ prints without arguments)
RESERVED = {"\u03a9": "the neighbourhood Ω", "\u03a3": "a sum Σ"}
RESERVED_FUNCTIONS = {"\u03b4": "the Kronecker delta δ(a, b)"}
# letters a function applied to arguments reads as a special function by (with poles: an undefined function is
# total, opaque, and a reader of Γ(L − 1) would take it for the gamma function at L = 1)
FUNCTION_LETTERS = {"\u0393": "the gamma function Γ", "\u03c8": "the digamma function ψ", "\u03b6": "the zeta function ζ"}
# names a printed formula shows as a constant or an operator (π, a product Π) wherever they are, and those it shows
# as a constant where a formula holds it (the imaginary unit i in a root of unity e^(2πi·t); not Euler's e, which
# LaTeX prints as the base of e^{x} beside the attention operators' channel index e)
CONSTANTS = {"\u03c0": "the constant π", "\u03a0": "a product Π"}
CONSTANTS_HELD = {"i": "the imaginary unit i"}
# words the printers write as functions or notation: a symbol so named reads as one (exp (K − 1), i·mod + u)
FUNCTION_WORDS = frozenset("exp log ln sin cos tan cot sec csc sinh cosh tanh arcsin arccos arctan max min sup inf "
                           "lim det gcd lcm mod conj Re Im arg sgn sign sqrt floor ceil abs".split())


def reserved(name: str) -> str:
    """What a printed proof means by the letter ``name`` begins with (Ω, Σ), or what the word it is names (a
    function), or why it cannot be printed as a name (no letter first: ``_1`` prints as a subscript or a number);
    empty when ``name`` is a name of its own."""
    shown = look(name)
    if not name or not unicodedata.normalize("NFD", name)[0].isalpha() or not shown or not shown[0].isalpha():
        return "a name that does not begin with a letter (printed, it reads as a number or a subscript)"
    if shown[0] in RESERVED:
        return f"a name printed beginning with {shown[0]}, which is {RESERVED[shown[0]]} in every printed proof"
    if shown in CONSTANTS:
        return f"a name printed as {CONSTANTS[shown]}"
    if name in FUNCTION_WORDS or shown in FUNCTION_WORDS:
        return f"a name printed as the function or notation {shown}"
    for sup in name.split("__")[1:]:   # x__1 prints x^{1} in LaTeX: a superscript reads as a power or a transpose
        if not _latex_script(sup.split("_")[0], True):
            return f"a name whose superscript {sup.split('_')[0]!r} (after __) prints as a power or an operation"
    return ""


def _letter(word: str) -> str:
    """The Greek letter a word names (``sigma`` → σ, ``Sigma`` → Σ, ``lamda`` → λ), or the word."""
    lower = _SPELLED.get(word.lower(), word.lower())
    if lower not in _GREEK:
        return word
    case = "CAPITAL" if word[0].isupper() and word[1:].islower() and not word.startswith("var") else "SMALL"
    return unicodedata.lookup(f"GREEK {case} LETTER {'LAMDA' if lower == 'lambda' else lower.upper()}")


def look(name: str) -> str:
    """What a reader sees of ``name``: its compatibility form, decomposed (fullwidth and mathematical letters as
    plain ones, an accent after its letter), Greek names as letters, without the underscores that print as
    subscripts, Greek letters a reader takes for Latin ones as those."""
    parts = _PARTS.findall(unicodedata.normalize("NFKD", name))
    shown = "".join(_letter(p) for p in parts)
    return "".join(_LATIN_ALIKE.get(ch) or _MARKS.get(ch, ch) for ch in shown)


# LaTeX commands that set a letter's style, not which letter it is (dropped), and those that print a mark or letter
_STYLES = frozenset("mathrm mathit mathsf mathtt mathbf boldsymbol operatorname text".split())
_SYMBOLS = {"prime": "'", "ell": "l", "ast": "*", "dagger": "\u2020", "overline": "bar", "widehat": "hat",
            "widetilde": "tilde"}
_COMMAND = re.compile(r"\\([A-Za-z]+)")


def latex_look(tex: str) -> str:
    """What a reader sees of a LaTeX display name (``W^{\\mathrm{dw}}``): as :func:`look`, with Greek commands as
    their letters, style commands dropped, ``\\ast`` as ``*`` and ``\\overline`` as ``\\bar`` (they print alike), other
    commands (``\\tilde``) kept as a word of their own."""
    def shown(m):
        word = m.group(1)
        return " " if word in _STYLES else _SYMBOLS.get(word) or f" {_letter(word)} "
    return look(_COMMAND.sub(shown, tex))


def _latin_or_greek(ch: str) -> bool:
    """A Latin (ASCII) or Greek letter, also as a sub- or superscript (ᵢ, ᵝ), and the script ℓ."""
    if ch.isascii() or ch in _GREEK_LETTERS or ch == "\u2113":
        return True
    plain = unicodedata.normalize("NFKD", ch)
    return unicodedata.decomposition(ch).startswith(("<sub>", "<super>")) and len(plain) == 1 and _latin_or_greek(plain)


def foreign_letters(name: str) -> str:
    """The letters of ``name`` outside the Latin (ASCII) and Greek alphabets, accents apart (``Ŵ`` is W and an
    accent), as ``С (U+0421 CYRILLIC CAPITAL LETTER ES)``; empty when there are none. Fullwidth and mathematical
    letters (``Ｓ``, ``𝐒``) are other letters: a printed proof would show them beside the plain ones (sub- and
    superscript letters and ℓ are not)."""
    odd = dict.fromkeys(ch for ch in unicodedata.normalize("NFD", name) if ch.isalpha() and not _latin_or_greek(ch))
    return ", ".join(f"{ch} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})" for ch in odd)


# a display name as text: a letter (with accents) first, then letters, digits, sub- and superscript letters and _,
# then primes; no mark (W*, W⁺, W†, Wᵀ read as conjugate, pseudo-inverse, adjoint, transpose) and no superscript digit
_TEXT_NAME = re.compile(r"[^\W\d_][\w\u0300-\u036f\u20d0-\u20ff]*['\u2032]*")
_OPERATIONS = frozenset("T H \u22a4".split())   # superscripts that read as an operation (transpose, Hermitian)
# LaTeX commands a display name may hold as a letter's accent or style (a group follows); any other (\infty,
# \partial, \top, \dagger) reads as a number or an operation
_ACCENTS = _STYLES | frozenset("hat bar tilde vec dot ddot dddot ddddot mathring check breve acute grave widehat "
                               "widetilde overline underline mathcal mathbb mathfrak".split())
_SCRIPT = re.compile(r"[\w,'+\-()]+")
_LABEL = re.compile(r"'+|(?=.*[^\W\d_])[\w+\-]+|\([\w+\-]+\)")   # a superscript: primes, a word (l+1), (1), (k+1)


def _latex_script(body: str, sup: bool) -> bool:
    """Whether a sub- or superscript's text reads as part of a name: a subscript of letters, digits, commas, primes,
    + and − (h_{t-1}); a superscript of primes, a word with a letter (W^{dw}) or a parenthesised label (W^{(1)}),
    never a number (a power), a sign (W^{-1}, W^{+}), a mark or T and H (transpose, Hermitian)."""
    if sup:
        return bool(_LABEL.fullmatch(body)) and body not in _OPERATIONS
    return bool(_SCRIPT.fullmatch(body))


def _latex_reads_as_name(tex: str) -> bool:
    def command(m):
        word = m.group(1)
        if word in _ACCENTS:
            return ""
        letter = _letter(word)
        if letter != word:
            return letter
        return {"ell": "l", "prime": "'"}.get(word, "\x00")   # (an unknown command: never a name)
    text = _COMMAND.sub(command, tex).replace(" ", "")
    if "\x00" in text:
        return False
    head = text.lstrip("{")
    if not head or not (head[0].isalpha()):
        return False
    k = 0
    while k < len(text):
        ch = text[k]
        if ch in "^_":
            k += 1
            if k < len(text) and text[k] == "{":
                depth, j = 0, k
                while j < len(text):
                    depth += (text[j] == "{") - (text[j] == "}")
                    if depth == 0:
                        break
                    j += 1
                body, k = text[k + 1:j].replace("{", "").replace("}", ""), j + 1
            else:
                body, k = text[k:k + 1], k + 1
            if not _latex_script(body, ch == "^"):
                return False
        elif ch.isalnum() or ch in "{}'":
            k += 1
        else:
            return False
    return True


def display_problem(text: str | None, tex: str | None) -> str:
    """Why a tensor's display names (``text=``, ``latex=``) do not read as a name: a number (``1``), a power
    (``K^{2}``, ``K²``), an operation (``a+b``, ``K/2``, ``W^{\\top}``, ``W^{-1}``, ``Wᵀ``, ``W*``) printed where the
    tensor is read; empty when they do."""
    powers = text is not None and any(unicodedata.decomposition(ch).startswith("<super>")
                                      and (unicodedata.normalize("NFKD", ch).isdigit()
                                           or unicodedata.normalize("NFKD", ch) in _OPERATIONS) for ch in text)
    if text is not None and (powers or not _TEXT_NAME.fullmatch(unicodedata.normalize("NFC", text))):
        return (f"its text display name {text!r} does not read as a name (a letter first, then letters, digits, _ and "
                "primes: no superscript digit, T or H, which read as a power or a transpose, no mark * ⁺ ⁻ †, which "
                "reads as an operation)")
    if tex is not None and not _latex_reads_as_name(tex):
        return (f"its LaTeX display name {tex!r} does not read as a name (a letter first, with accents, then letters, "
                "digits, subscripts and superscripts that are labels, not a power, a sign, a mark or a transpose)")
    return ""


def fresh(base: str, taken) -> str:
    """``base``, primed until its look is none of ``taken``'s (the names a printed line shows beside it)."""
    looks = {look(str(t)) for t in taken}
    while look(base) in looks:
        base += "'"
    return base


__all__ = ["CONSTANTS", "CONSTANTS_HELD", "FUNCTION_LETTERS", "FUNCTION_WORDS", "RESERVED", "RESERVED_FUNCTIONS", "display_problem", "foreign_letters", "fresh", "latex_look", "look", "reserved"]
