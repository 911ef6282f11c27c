"""Escaping plain text (rule statements, messages) for LaTeX, so documents compile with pdflatex.

Special characters are escaped and the Unicode used in statements (Σ, δ, ≤, ⌊, ·, subscripts …)
becomes LaTeX math; anything left outside ASCII is spelled out as its code point rather than
breaking the build, and the tests require that the catalogue never needs that fallback.
"""

from __future__ import annotations

import re

SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "{": r"\{", "}": r"\}", "#": r"\#",
           "%": r"\%", "&": r"\&", "$": r"\textdollar{}", "~": r"\textasciitilde{}"}
MATH = {"Σ": r"\Sigma", "δ": r"\delta", "Ω": r"\Omega", "Δ": r"\Delta", "α": r"\alpha", "β": r"\beta", "γ": r"\gamma",
        "θ": r"\theta", "λ": r"\lambda", "μ": r"\mu", "σ": r"\sigma", "τ": r"\tau", "φ": r"\phi", "ω": r"\omega",
        "ε": r"\varepsilon", "ρ": r"\rho", "π": r"\pi", "ζ": r"\zeta", "≡": r"\equiv", "ℓ": r"\ell", "≤": r"\le", "≥": r"\ge", "≠": r"\ne", "⌊": r"\lfloor", "⌋": r"\rfloor",
        "⌈": r"\lceil", "⌉": r"\rceil", "·": r"\cdot", "−": "-", "∈": r"\in", "∉": r"\notin", "⊆": r"\subseteq",
        "∩": r"\cap", "∪": r"\cup", "×": r"\times", "→": r"\to", "↦": r"\mapsto", "≈": r"\approx", "⇒": r"\Rightarrow", "⇔": r"\Leftrightarrow",
        "∀": r"\forall", "∃": r"\exists", "√": r"\surd", "∞": r"\infty", "⊙": r"\odot", "⊗": r"\otimes", "Π": r"\Pi", "‖": r"\|", "±": r"\pm", "∗": r"\ast",
        "²": "^2", "³": "^3", "ᵀ": "^T", "₀": "_0", "₁": "_1", "₂": "_2", "₃": "_3", "ₙ": "_n", "ₖ": "_k", "ᵢ": "_i", "<": "<", ">": ">", "|": "|"}
TEXT = {"…": r"\ldots{}", "ö": r"\"{o}", "ü": r"\"{u}", "ä": r"\"{a}", "é": r"\'{e}", "—": "---", "–": "--", "’": "'", "“": "``", "”": "''", "✓": r"$\checkmark$",
        "✗": r"$\times$", "̃": "", "̂": "", "̄": "", "Â": r"\^{A}", "Ã": r"\~{A}",
        "Ŵ": r"\^{W}"}


def tex_escape(text: str) -> str:
    """``text`` as LaTeX text-mode source using ASCII only; adjacent math symbols share one ``$…$``."""
    out, math = [], []
    for ch in text:
        if ch in MATH:
            math.append(MATH[ch] + (" " if MATH[ch][-1].isalpha() else ""))
            continue
        if math:
            out.append("$" + "".join(math).rstrip() + "$")
            math = []
        if ch in SPECIAL:
            out.append(SPECIAL[ch])
        elif ch in TEXT:
            out.append(TEXT[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append(r"\texttt{[U+%04X]}" % ord(ch))
    if math:
        out.append("$" + "".join(math).rstrip() + "$")
    return "".join(out)


ASCII = {"−": "-", "·": "*", "δ": "delta", "Σ": "sum", "Ω": "Omega", "≤": "<=", "≥": ">=", "≠": "!=",
         "⌊": "floor(", "⌋": ")", "⌈": "ceil(", "⌉": ")", "∈": " in ", "⊆": " subset of ", "∩": " & ", "×": "x",
         "…": "...", "→": "->", "↦": "|->", "≈": "~=", "✓": "ok", "✗": "FAIL", "̃": "~", "π": "pi", "ζ": "zeta", "≡": "==", "Δ": "Delta", "Π": "prod", "‖": "||", "±": "+-", "∗": "*",
         "̄": "bar", "Ŵ": "W^"}


def to_ascii(text: str) -> str:
    """A faithful ASCII spelling of plain text (for verbatim blocks, where LaTeX cannot map Unicode)."""
    out = []
    for ch in text:
        out.append(ch if ord(ch) < 128 else ASCII.get(ch, "[U+%04X]" % ord(ch)))
    return "".join(out)


def fill(template: str, args, escape, expr) -> str:
    """A ``{}`` template with its text escaped by ``escape`` and its fields printed by ``expr``."""
    parts = template.split("{}")
    out = [escape(parts[0])]
    for arg, part in zip(args, parts[1:]):
        out.append(expr(arg))
        out.append(escape(part))
    return "".join(out)


def tex_rel(rel: str) -> str:
    """A relation written with Unicode (``≥ 1``) in LaTeX math (``\\ge 1``)."""
    return rel.replace("≥", r"\ge").replace("≤", r"\le")


# -- rule statements as math -------------------------------------------------------------------------------
# A rule's statement is one sentence of prose with formulas in it ("if f vanishes unless lo ≤ e ≤ hi, then
# f(e) = Σ_{m=lo}^{hi} δ_{m,e} f(m)"). In a LaTeX document the formulas are typeset as math: the sentence is
# cut into tokens, each marked math, prose or neutral (spaces, commas, brackets), and every maximal run of
# math and neutral tokens, trimmed of neutral ends and cut at a comma between formulas, becomes one $…$.
# Generic: no rule is named here.


_SUBS = "₀₁₂₃₄₅₆₇₈₉ₙₖᵢ²³ᵀ"
_TOKEN = re.compile(r"""(?P<group>[_^]\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\})   # _{…} or ^{…}
                      |(?P<sub>[_^][^\s{]|[""" + _SUBS + r"""])          # _k, ^T, ₁, ²
                      |(?P<word>(?:(?![""" + _SUBS + r"""])[^\W\d_])(?:(?![""" + _SUBS + r"""])[^\W\d_]|-(?=[^\W\d_]))*(?:'s\b)?)
                      |(?P<num>\d+(?:\.\d+)?)
                      |(?P<space>\s+)
                      |(?P<defn>:=)
                      |(?P<other>.)""", re.VERBOSE | re.DOTALL)
MATH_WORDS = {"exp": r"\exp", "lim": r"\lim", "log": r"\log", "max": r"\max", "min": r"\min",
              "mod": r"\mathrm{mod}", "conj": r"\mathrm{conj}", "lo": r"\mathrm{lo}", "hi": r"\mathrm{hi}"}
_IN_MATH = {"Σ": r"\sum", "Π": r"\prod", "…": r"\ldots", ":=": r"\mathrel{:}="}
_MATH_CHARS = set("=+<>|/*'…") | set(MATH)
_NEUTRAL = set("()[], ")
_OPEN, _CLOSE = "([", ")]"


def _tokens(text: str) -> list[tuple[str, str]]:
    return [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text)]


def _is_prose_word(tok: str) -> bool:
    return len(tok) > 1 and tok not in MATH_WORDS and not any(ord(ch) >= 128 for ch in tok.replace("'s", ""))


def _kinds(tokens) -> list[str]:
    """Per token: "M" (math), "N" (neutral: may sit inside a formula) or "P" (prose)."""
    kinds: list[str] = []
    for k, (kind, tok) in enumerate(tokens):
        nxt = tokens[k + 1][1] if k + 1 < len(tokens) else ""
        if kind in ("group", "sub", "num", "defn"):
            kinds.append("M")
        elif kind == "space":
            kinds.append("N")
        elif kind == "word" and len(tok) == 1:
            after = next((t for kd, t in tokens[k + 1:] if kd != "space"), "")
            before = next((t for kd, t in reversed(tokens[:k]) if kd != "space"), "")
            article = ((tok == "a" and (before == "" or _is_prose_word(before) or before in "(:;."))
                       or (tok == "A" and before in ("", ".", ":")))
            kinds.append("P" if article and nxt.isspace() and _is_prose_word(after) else "M")
        elif kind == "word":
            math = tok in MATH_WORDS or nxt[:1] in ("(", "[", "_", "^") or nxt[:1] in _SUBS
            kinds.append("M" if math else "P")
        elif tok in _NEUTRAL:
            kinds.append("N")
        else:
            kinds.append("M" if tok in _MATH_CHARS else "P")
    return kinds


def _math_token(kind: str, tok: str) -> str:
    if kind == "group":
        return tok[0] + "{" + _math(tok[2:-1]) + "}"
    if kind == "sub":
        if tok in MATH:            # ₁ → _1, ² → ^2
            return MATH[tok]
        return tok[0] + "{" + _math(tok[1]) + "}"
    if kind == "word" and tok in MATH_WORDS:
        return MATH_WORDS[tok] + " "
    if kind == "word" and len(tok) > 1:
        if tok.isascii():
            return r"\mathrm{" + tex_escape(tok) + "}"
        return "".join(_math_token("word", ch) for ch in tok)     # πi: a product of symbols
    if kind == "space":
        return " "
    if tok in _IN_MATH:
        return _IN_MATH[tok] + " "
    if tok in MATH:
        m = MATH[tok]
        return m + (" " if m[-1].isalpha() and m.startswith("\\") else "")
    if tok in SPECIAL:
        return SPECIAL[tok]
    return tok if ord(tok) < 128 else r"\text{" + tex_escape(tok) + "}"


def _math(text: str) -> str:
    """Everything in ``text`` as math (the inside of a sub- or superscript)."""
    return "".join(_math_token(kind, tok) for kind, tok in _tokens(text)).strip()


def statement_tex(text: str) -> str:
    """A rule statement as LaTeX: prose escaped as text, its formulas typeset as math."""
    tokens = _tokens(text)
    kinds = _kinds(tokens)
    out, k = [], 0
    while k < len(tokens):
        if kinds[k] == "P":
            out.append(tex_escape(tokens[k][1]))
            k += 1
            continue
        end = k
        while end < len(tokens) and kinds[end] != "P":
            end += 1
        out += _formulas(tokens, kinds, k, end)
        k = end
    return "".join(out)


def _formulas(tokens, kinds, start, end) -> list[str]:
    """tokens[start:end] (math and neutral) as text with its formulas in $…$: a comma followed by a space
    outside brackets separates two formulas ("n ≥ 1, d ≥ 1")."""
    pieces, depth, lo = [], 0, start
    for j in range(start, end):
        t = tokens[j][1]
        depth += (t in _OPEN) - (t in _CLOSE)
        if t == "," and depth <= 0 and j + 1 < end and tokens[j + 1][0] == "space":
            pieces.append((lo, j))
            lo = j
    pieces.append((lo, end))
    out = []
    for a, b in pieces:
        math = [j for j in range(a, b) if kinds[j] == "M"]
        if not math:
            out.append(tex_escape("".join(tokens[j][1] for j in range(a, b))))
            continue
        lo, hi = _balance(tokens, math[0], math[-1], a, b)
        out.append(tex_escape("".join(tokens[j][1] for j in range(a, lo))))
        out.append("$" + "".join(_math_token(*tokens[j]) for j in range(lo, hi + 1)).strip() + "$")
        out.append(tex_escape("".join(tokens[j][1] for j in range(hi + 1, b))))
    return out


def _balance(tokens, lo, hi, start, end) -> tuple[int, int]:
    """Widen the formula tokens[lo..hi] over the neutral brackets next to it that it closes or opens, and over
    a bracket pair around it ("[0, L − 1]" is one formula, an interval)."""
    d, low = 0, 0
    for j in range(lo, hi + 1):
        d += (tokens[j][1] in _OPEN) - (tokens[j][1] in _CLOSE)
        low = min(low, d)
    need_open, need_close = -low, d - low
    while lo > start and need_open and tokens[lo - 1][1] in _OPEN + " ":
        lo -= 1
        need_open -= tokens[lo][1] in _OPEN
    while hi + 1 < end and need_close and tokens[hi + 1][1] in _CLOSE + " ":
        hi += 1
        need_close -= tokens[hi][1] in _CLOSE
    while lo > start and hi + 1 < end and tokens[lo - 1][1] in _OPEN and tokens[hi + 1][1] in _CLOSE:
        lo, hi = lo - 1, hi + 1
    while tokens[lo][0] == "space":
        lo += 1
    while tokens[hi][0] == "space":
        hi -= 1
    return lo, hi
