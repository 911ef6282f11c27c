"""The ``evosym`` command: list the catalogue, prove operators, print rules.

Errors a user can cause are one line on stderr and exit code 2; a proof that does not check
exits 1 after printing where it fails; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from .. import __version__
from ..errors import EvosymError


def _command(name: str):
    """The subcommand ``cmd_<name>``, imported when it runs: ``verify`` then loads only the trusted base."""
    def run(args, parser):
        if name == "verify":
            from ..verify import verify_files
            return verify_files(args.certificates, quiet=args.quiet, seconds=args.time_limit or None)
        from . import commands
        return getattr(commands, f"cmd_{name}")(args, parser)
    return run


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds (0: no limit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, not {text}")
    return value


def _operators(p, every: str) -> None:
    """NAME (catalogue name or operator file) or --all, for commands that take operators."""
    p.add_argument("name", nargs="?", metavar="NAME", help="operator name or path to an operator file")
    p.add_argument("--all", action="store_true", help=every)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evosym",
        description="Prove feature operators equal to the Evolution form "
                    "y[b,o,p] = Σ_c Σ_{q∈Ω(p)} K_b[o,c,p,q]·v[b,c,q], with every step checked.")
    parser.add_argument("--version", action="version", version=f"evosym {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list the operators of the catalogue")
    p.set_defaults(func=_command("list"))

    p = sub.add_parser("prove", help="print the checked proof of an operator",
                       description="Derive an operator's Evolution form and re-check every step. NAME is a "
                                   "catalogue operator ('evosym list') or the path of an operator file.")
    _operators(p, "prove every operator of the catalogue")
    p.add_argument("--format", choices=("text", "markdown", "latex"), default="text", help="output format (default: text)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE (atomically) instead of standard output")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--summary", action="store_true", help="print one line per operator instead of the proofs")
    p.add_argument("--time-limit", type=_seconds, default=600.0, metavar="SECONDS",
                   help="give up on an operator after this long (default 600; 0 for none)")
    p.add_argument("--certificate", metavar="FILE", help="also write the checked proof as a certificate (JSON)")
    p.add_argument("--certificates", metavar="DIR", help="also write one certificate per operator, DIR/NAME.json")
    p.set_defaults(func=_command("prove"))

    p = sub.add_parser("verify", help="re-check proof certificates in this process, which runs no operator file",
                       description="Decode each certificate (no code named by it runs), replay every step, re-prove "
                                   "every obligation, re-run the bounded comparisons, the Evolution-form match, the "
                                   "support and reference checks, and compare every verdict with the recorded one. "
                                   "Exit 0: every certificate reproduces and its proof holds; 1: one does not; 2: one "
                                   "cannot be read.")
    p.add_argument("certificates", nargs="+", metavar="CERTIFICATE", help="certificate files (evosym prove --certificate)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--time-limit", type=_seconds, default=600.0, metavar="SECONDS",
                   help="give up on a certificate after this long, refusing it (default 600; 0 for none)")
    p.set_defaults(func=_command("verify"))

    p = sub.add_parser("table", help="the property table of the catalogue (derived from the kernels, checked)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE (atomically) instead of standard output")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(func=_command("table"))

    p = sub.add_parser("info", help="one operator's properties, cost and proof status")
    p.add_argument("name", metavar="NAME", help="operator name or path to an operator file")
    p.set_defaults(func=_command("info"))

    p = sub.add_parser("rules", help="list the rewrite rules with their statements and preconditions")
    p.set_defaults(func=_command("rules"))

    p = sub.add_parser("codegen", help="generate code from an operator's proved Evolution form",
                       description="Prove the operator, choose a lowering from its proven properties and write "
                                   "the generated module (NAME.py) to DIR, or print it.")
    _operators(p, "every operator of the catalogue (needs --output)")
    p.add_argument("--target", choices=("torch", "cuda", "cpu"), default="torch",
                   help="torch: a PyTorch module (NAME.py); cuda: standalone CUDA kernels, forward and both "
                        "backward passes (NAME.cu); cpu: the same as C++ with OpenMP (NAME.cpp) (default: torch)")
    p.add_argument("--output", "-o", metavar="DIR",
                   help="write DIR/NAME.py, NAME.cu or NAME.cpp (atomically) instead of printing")
    p.add_argument("--ptxas", metavar="ARCHS",
                   help="with --target cuda: compile with nvcc for these architectures (e.g. sm_80,sm_90) and print "
                        "registers and spills per kernel")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=_command("codegen"))

    p = sub.add_parser("check", help="check generated code numerically against independent references",
                       description="Generate the operator's code and compare both lowerings with the operator's "
                                   "torch reference: float64, float32, exact integer inputs, gradcheck, gradients.")
    _operators(p, "every operator of the catalogue")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    p.add_argument("--kernels", dest="kernels", action="append_const", const="device", default=[],
                   help="also check the generated kernels (path='kernels'): the CUDA kernels on --device cuda, "
                        "the CPU kernels on the CPU")
    p.add_argument("--emulated", dest="kernels", action="append_const", const="emulated",
                   help="also check the CUDA kernels' source built for the host with an emulated launch (CPU; "
                        "how CI checks the CUDA source without a GPU)")
    p.add_argument("--sanitize", action="store_true",
                   help="with --emulated or --kernels on the CPU: build those kernels with AddressSanitizer and "
                        "UBSan and run the check in a child process that loads them; any read or write outside a "
                        "tensor, or undefined behaviour, in a kernel stops the run with the sanitizer's report (gradients are "
                        "compared with the reference's autograd; gradcheck is not run)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random shapes and inputs (printed per shape)")
    p.add_argument("--verbose", "-v", action="store_true", help="print every comparison, not only failures")
    p.add_argument("--candidate", metavar="MODULE:ATTR",
                   help="check YOUR implementation instead: an nn.Module (or a function returning one) importable "
                        "as MODULE:ATTR, against the proven operator NAME")
    p.add_argument("--size", action="append", default=[], metavar="NAME=VALUE",
                   help="with --candidate: an operator size (repeatable), unless read from an nn.ConvNd/nn.Linear")
    p.add_argument("--gradients", action="store_true", help="with --candidate: also compare input gradients")
    p.set_defaults(func=_command("check"))

    p = sub.add_parser("bench", help="time generated code against the traditional implementation",
                       description="Median time per call and memory of the generated module (default and generic "
                                   "lowering) and of the traditional implementation, interleaved in one process, "
                                   "at each operator's realistic size; ratios are generated / traditional.")
    p.add_argument("name", nargs="?", metavar="NAME", help="operator name (default: the whole catalogue)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    p.add_argument("--repeat", type=int, default=31, help="timed rounds per implementation (default 31)")
    p.add_argument("--no-generic", action="store_true", help="skip timing the generic lowering")
    p.add_argument("--kernels", action="store_true",
                   help="with NAME: time the generated kernels of --device (CPU or CUDA: operator, aggregation alone, "
                        "both backward passes) against the generic and traditional paths and the unfold-based "
                        "aggregation; on the CPU also against a native depthwise convolution of the same window")
    p.add_argument("--size", action="append", default=[], metavar="NAME=VALUE",
                   help="override a benchmark size (repeatable), e.g. --size B=64")
    p.set_defaults(func=_command("bench"))

    p = sub.add_parser("docs", help="generate docs/ from the proofs: operator pages, pictures, index, rules, tutorial",
                       description="Regenerate the generated pages of the documentation folder: one page and one "
                                   "connectivity picture (SVG) per catalogue operator, the catalogue index, the "
                                   "concepts page, the rules reference and the executed tutorial. Hand-written "
                                   "pages are never touched.")
    p.add_argument("--output", "-o", metavar="DIR", default="docs", help="the documentation folder (default: docs)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 listing every generated file that is missing, stale or left over")
    p.add_argument("--force", action="store_true", help="overwrite generated files that changed")
    p.set_defaults(func=_command("docs"))

    p = sub.add_parser("selftest", help="run the mutation suite: every seeded mutant must be killed",
                       description="Seeded wrong proof steps, operator definitions, kernel properties, generated "
                                   "code and checker inputs, and the checker with one of its fixes disabled "
                                   "against a hostile example; prints the kill rate per category.")
    p.add_argument("--category", action="append", choices=("proof-step", "operator-definition", "kernel-property",
                                                          "generated-code", "numeric-checker", "checker-premise"),
                   help="only this category (repeatable)")
    p.add_argument("--verbose", "-v", action="store_true", help="one line per mutant, with what killed it")
    p.set_defaults(func=_command("selftest"))
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # what a command that reruns itself passes on
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args, parser)
    except EvosymError as exc:
        print(f"evosym: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evosym: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug in evosym itself: still one line, with a way to see more
        if os.environ.get("EVOSYM_DEBUG"):
            raise
        print(f"evosym: internal error: {type(exc).__name__}: {exc} (set EVOSYM_DEBUG=1 for a traceback; "
              "please report it)", file=sys.stderr)
        return 3


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
