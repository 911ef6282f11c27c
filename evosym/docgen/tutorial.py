"""The tutorial "add your own operator" (``docs/tutorial.md``), with every command really run.

The page is a list of steps: prose, the operator file (a packaged resource, shown whole), shell
commands and a Python snippet. ``evosym docs`` runs each command in a fresh temporary folder, in
order, and prints its real output; a command that fails stops the generation. The tests run the
committed page again, independently of this module, and compare the outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from ..errors import EvosymError
from .. import attach_source_packages
from .pages import MARK

attach_source_packages()   # derivations/ and codegen/templates/ as subpackages in a source checkout

FILE = "my_causal_conv.py"
SNIPPET = "use_it.py"
TAIL = 16          # lines shown of a long output (its end, after "…")

_USE_IT = '''import torch
import torch.nn.functional as F

from causal_conv1d import causal_conv1d_evolution   # the module evosym generated

x = torch.randint(-3, 4, (2, 4, 10)).double()      # B=2, C=4, L=10
W = torch.randint(-3, 4, (4, 3)).double()          # one filter of length K=3 per channel
y = causal_conv1d_evolution(x, W, C=4, K=3)
expected = F.conv1d(F.pad(x, (2, 0)), W[:, None, :], groups=4)
print(tuple(y.shape), torch.equal(y, expected))
future_changed = torch.cat([x[..., :5], torch.zeros(2, 4, 5, dtype=x.dtype)], -1)
print("outputs 0..4 do not see inputs 5..9:", torch.equal(causal_conv1d_evolution(future_changed, W, C=4, K=3)[..., :5], y[..., :5]))
'''

STEPS = (
    ("text", "This tutorial adds an operator that is not in the catalogue — the causal depthwise convolution "
             "that Mamba and Hyena use as their short convolution — proves it equal to the Evolution form, "
             "generates its PyTorch code and checks that code numerically. Everything below was run by "
             "`evosym docs` when this page was generated (the outputs are real), and the tests run the "
             "page again."),
    ("text", "## 1. Write one file\n\nAn operator file defines `OPERATOR` (the traditional form in SymPy, with "
             "its sizes, tensors, a grid of small shapes for the bounded checks and an independent reference). "
             "The proof is left to evosym's proof search: a file may also spell it out in `derive(d)` (named "
             "rules, then `d.conclude(...)` with the neighbourhood Ω). "
             "The traditional form reads the zero-padded input x̃ at t + u − (K − 1): output t sees inputs "
             "t − K + 1 … t only. Save this as `" + FILE + "`:"),
    ("file", FILE),
    ("text", "The search proposes ordinary rule applications from the expression's structure — unfold the "
             "padding definition, pin channel and position with Kronecker deltas, move those sums out, "
             "factor the input out, name what is left the kernel — and infers Ω from the kernel's index map; "
             "the checker re-checks every step as if you had typed it. `--show-derive` prints the proof found "
             "as the `derive(d)` you could paste into the file (the rules are listed by `evosym rules` and in "
             "the [rules reference](rules.md)):"),
    ("run-all", ("prove", FILE, "--show-derive")),
    ("text", "## 2. Prove it\n\nEvery step is replayed and its preconditions proved symbolically "
             "(**general**) or, failing that, checked at the grid shapes only (**bounded**); every step is "
             "also compared exactly at the grid shapes. The end of the proof:"),
    ("run", ("prove", FILE)),
    ("text", "A typo in the file — say `t + u - K` instead of `t + u - (K - 1)` — makes the reference check "
             "fail with the sizes and the output index where the two sides differ. The kernel's "
             "properties and costs, each derived from the proved kernel:"),
    ("run", ("info", FILE)),
    ("text", "## 3. Generate code\n\n`evosym codegen` plans a lowering from the proven properties (here a "
             "static, shared, depthwise window: one `F.conv1d` call on the padded input) and writes "
             "`causal_conv1d.py` (it never overwrites a file without `--force`):"),
    ("run", ("codegen", FILE, "--output", ".")),
    ("text", "The generated function takes the tensors and the sizes that are not read off the tensors:"),
    ("snippet", SNIPPET),
    ("run-python", SNIPPET),
    ("text", "## 4. Check the generated code\n\n`evosym check` compares the default lowering and the generic "
             "one with the reference at random shapes around the grid: float64 and float32 within a "
             "rounding bound, integer inputs exactly, and gradients (gradcheck in float64):"),
    ("run", ("check", FILE)),
    ("text", "Add `--verbose` to see every comparison, `--kernels` to check the generated CPU kernels as "
             "well (the CUDA kernels with `--device cuda`), and `--format latex` to `evosym prove` for a LaTeX proof. To add the "
             "operator to the catalogue, put the file in `derivations/` (see "
             "[operator-files.md](operator-files.md))."),
)


def operator_source() -> str:
    return resources.files("evosym.templates").joinpath("docs/causal_conv1d.py").read_text(encoding="utf-8")


def _env() -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONHASHSEED"] = "0"
    env.pop("EVOSYM_UPDATE_GOLDEN", None)
    return env


def run_command(argv: list[str], cwd: str | Path) -> str:
    """Run one tutorial command (``evosym …`` or ``python FILE``) in ``cwd``; what a terminal shows, or an error."""
    cmd = [sys.executable, "-m", "evosym"] + argv[1:] if argv[0] == "evosym" else [sys.executable] + argv[1:]
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
                          timeout=600)
    if proc.returncode != 0:
        raise EvosymError(f"tutorial command {' '.join(argv)!r} failed ({proc.returncode}): {proc.stdout.strip()[-500:]}")
    return proc.stdout


def shown(output: str) -> str:
    """The part of an output the page shows: all of it, or its last TAIL lines after "…"."""
    lines = output.rstrip("\n").splitlines()
    return "\n".join(lines if len(lines) <= TAIL else ["…"] + lines[-TAIL:])


def tutorial_page() -> str:
    out = [MARK, "", "# Tutorial: add your own operator", "",
           "[Catalogue](catalogue.md) · [Concepts](concepts.md) · [Rules](rules.md)", ""]
    with tempfile.TemporaryDirectory(prefix="evosym-tutorial-") as tmp:
        for kind, what in STEPS:
            if kind == "text":
                out += [what, ""]
            elif kind == "file":
                src = operator_source()
                Path(tmp, what).write_text(src, encoding="utf-8")
                out += [f"<!-- file: {what} -->", "```python", src.rstrip("\n"), "```", ""]
            elif kind == "snippet":
                Path(tmp, what).write_text(_USE_IT, encoding="utf-8")
                out += [f"<!-- file: {what} -->", "```python", _USE_IT.rstrip("\n"), "```", ""]
            else:
                argv = ["python", what] if kind == "run-python" else ["evosym", *what]
                output = run_command(argv, tmp)   # "run-all": the whole output, else its end
                out += ["```console", "$ " + " ".join(argv), output.rstrip("\n") if kind == "run-all" else shown(output),
                        "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"
