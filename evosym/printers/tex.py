"""Escaping plain text (rule statements, messages) for LaTeX, so documents compile with pdflatex.

Special characters are escaped and the Unicode used in statements (Σ, δ, ≤, ⌊, ·, subscripts …)
becomes LaTeX math; anything left outside ASCII is spelled out as its code point rather than
breaking the build, and the tests require that the catalogue never needs that fallback.
"""

from __future__ import annotations

SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "{": r"\{", "}": r"\}", "#": r"\#",
           "%": r"\%", "&": r"\&", "$": r"\textdollar{}", "~": r"\textasciitilde{}"}
MATH = {"Σ": r"\Sigma", "δ": r"\delta", "Ω": r"\Omega", "Δ": r"\Delta", "α": r"\alpha", "β": r"\beta", "γ": r"\gamma",
        "θ": r"\theta", "λ": r"\lambda", "μ": r"\mu", "σ": r"\sigma", "τ": r"\tau", "φ": r"\phi", "ω": r"\omega",
        "ε": r"\varepsilon", "ρ": r"\rho", "π": r"\pi", "ζ": r"\zeta", "≡": r"\equiv", "ℓ": r"\ell", "≤": r"\le", "≥": r"\ge", "≠": r"\ne", "⌊": r"\lfloor", "⌋": r"\rfloor",
        "⌈": r"\lceil", "⌉": r"\rceil", "·": r"\cdot", "−": "-", "∈": r"\in", "∉": r"\notin", "⊆": r"\subseteq",
        "∩": r"\cap", "∪": r"\cup", "×": r"\times", "→": r"\to", "⇒": r"\Rightarrow", "⇔": r"\Leftrightarrow",
        "∀": r"\forall", "∃": r"\exists", "√": r"\surd", "∞": r"\infty", "⊙": r"\odot", "⊗": r"\otimes", "Π": r"\Pi", "‖": r"\|", "±": r"\pm",
        "²": "^2", "³": "^3", "ᵀ": "^T", "₀": "_0", "₁": "_1", "₂": "_2", "₃": "_3", "ₙ": "_n", "ₖ": "_k", "ᵢ": "_i", "<": "<", ">": ">", "|": "|"}
TEXT = {"…": r"\ldots{}", "—": "---", "–": "--", "’": "'", "“": "``", "”": "''", "✓": r"$\checkmark$",
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
         "…": "...", "→": "->", "✓": "ok", "✗": "FAIL", "̃": "~", "π": "pi", "ζ": "zeta", "≡": "==", "Δ": "Delta", "Π": "prod", "‖": "||", "±": "+-",
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
