"""The ``evosym`` command: list the catalogue, prove operators, print rules.

Errors a user can cause are one line on stderr and exit code 2; a proof that does not check
exits 1 after printing where it fails; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import sys
import warnings

from .. import __version__
from ..errors import EvosymError
from ..runtime import backends
from ..timelimit import DEFAULT as DEFAULT_TIME_LIMIT
from ..proof.codec import escaped
from .output import configure_terminal, say as _say, write_stdout


def _command(name: str):
    """The subcommand ``cmd_<name>``, imported when it runs: ``verify`` then loads only the trusted base."""
    def run(args, parser):
        if name == "verify":
            from ..verify import verify_files
            return verify_files(args.certificates, quiet=args.quiet, seconds=args.time_limit or None)
        from . import commands
        return getattr(commands, f"cmd_{name}")(args, parser)
    return run


MAX_SECONDS = 366 * 24 * 3600   # a year: far beyond any proof, and what timers and select() accept


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds (0: no limit), at most a year."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0 (0: no limit), not {text}")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SECONDS} seconds (a year; 0: no limit), not {text}")
    return value


def _given(what: str):
    """An argument type that refuses the empty string, which names no ``what``: taken as "not given" it would print
    to standard output where a file was asked for, or check the catalogue's operator where a candidate was named."""
    def given(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError(f"an empty string names no {what}")
        return text
    return given


_path, _name = _given("file or folder"), _given("operator, rule or file")


MAX_SEED = 2**32 - 1


def _seed(text: str) -> int:
    """A seed: an integer from 0 to 2³² − 1 (what every random generator used accepts)."""
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, not {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: 'evosym: error: …' (the arguments it quotes escaped) and where to find the
    usage; help and version text that standard output cannot take is an error, where argparse drops it silently."""

    def error(self, message):
        self.exit(2, f"evosym: error: {escaped(message)} (see '{self.prog} --help')\n")

    def _print_message(self, message, file=None):
        if message and (file is None or file is sys.stdout):
            write_stdout(message)   # an OSError: main says standard output failed, exit 2
        else:
            super()._print_message(message, file)


def _operators(p, every: str) -> None:
    """NAME (catalogue name or operator file) or --all, for commands that take operators."""
    p.add_argument("name", nargs="?", metavar="NAME", type=_name, help="operator name or path to an operator file")
    p.add_argument("--all", action="store_true", help=every)


def _json_format(p, command: str, also: str = "") -> None:
    """--format {text,json} for a command whose text output has no other formats."""
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help=f"output format (default: text; json: the evosym-{command}/1 schema"
                        + (f", {also}" if also else "") + ", docs/json.md)")


def _junit(p, cases: str) -> None:
    """--junit FILE (and --force to overwrite it) for commands whose results are test cases."""
    p.add_argument("--junit", metavar="FILE", type=_path, help=f"also write the results as JUnit XML to FILE (atomically): {cases}")
    p.add_argument("--force", action="store_true", help="overwrite the --junit FILE if it exists")


def _either(items: list) -> str:
    """'a, b or c'."""
    return " or ".join(filter(None, [", ".join(items[:-1]), items[-1]]))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    p.add_argument("--format", choices=("text", "markdown", "latex", "json"), default="text",
                   help="output format (default: text; json: the evosym-prove/1 schema, docs/json.md)")
    p.add_argument("--fragment", action="store_true",
                   help="with --format latex: the proofs without \\documentclass or preamble, to \\input into a paper")
    p.add_argument("--output", "-o", metavar="FILE", type=_path, help="write to FILE (atomically) instead of standard output")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--summary", action="store_true", help="print one line per operator instead of the proofs")
    p.add_argument("--time-limit", type=_seconds, default=DEFAULT_TIME_LIMIT, metavar="SECONDS",
                   help="give up on an operator after this long (default 600; 0 for none)")
    p.add_argument("--certificate", metavar="FILE", type=_path, help="also write the checked proof as a certificate (JSON)")
    p.add_argument("--certificates", metavar="DIR", type=_path, help="also write one certificate per operator, DIR/NAME.json")
    p.add_argument("--search", action="store_true",
                   help="find each proof by search, ignoring the files' derive functions")
    p.add_argument("--show-derive", action="store_true",
                   help="print the proof as the derive(d) function to paste into the operator file, instead of the proof")
    p.set_defaults(func=_command("prove"))

    p = sub.add_parser("verify", help="re-check proof certificates in this process, which runs no operator file",
                       description="Decode each certificate (no code named by it runs), replay every step, re-prove "
                                   "every obligation, re-run the bounded comparisons, the Evolution-form match, the "
                                   "support and reference checks, and compare every verdict with the recorded one. "
                                   "Exit 0: every certificate reproduces and its proof holds; 1: one does not; 2: one "
                                   "cannot be read.")
    p.add_argument("certificates", nargs="+", metavar="CERTIFICATE", type=_path, help="certificate files (evosym prove --certificate)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--time-limit", type=_seconds, default=DEFAULT_TIME_LIMIT, metavar="SECONDS",
                   help="give up on a certificate after this long, refusing it (default 600; 0 for none)")
    p.set_defaults(func=_command("verify"))

    p = sub.add_parser("table", help="the property table of the catalogue (derived from the kernels, checked)")
    p.add_argument("--output", "-o", metavar="FILE", type=_path, help="write to FILE (atomically) instead of standard output")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    _json_format(p, "table")
    p.set_defaults(func=_command("table"))

    p = sub.add_parser("info", help="one operator's properties, cost and proof status")
    p.add_argument("name", metavar="NAME", type=_name, help="operator name or path to an operator file")
    _json_format(p, "info")
    p.set_defaults(func=_command("info"))

    p = sub.add_parser("rules", help="list the rewrite rules with their statements, arguments and preconditions",
                       description="Every rewrite rule: its statement, arguments (with types) and preconditions. "
                                   "With NAME, one rule with each argument described; 'evosym rules conclude' "
                                   "describes d.conclude and Ω (Window, WindowAxis's fields, Global, IndexSet). "
                                   "Sums' bounds are inclusive: Σ_{u=lo}^{hi} runs over lo ≤ u ≤ hi.")
    p.add_argument("name", nargs="?", metavar="NAME", type=_name, help="a rule (e.g. introduce-delta), or 'conclude'")
    p.set_defaults(func=_command("rules"))

    p = sub.add_parser("codegen", help="generate code from an operator's proved Evolution form",
                       description="Prove the operator, choose a lowering from its proven properties and write "
                                   "the generated module (NAME.py) to DIR, or print it.")
    _operators(p, "every operator of the catalogue (needs --output)")
    targets = [backends.get(n) for n in backends.names()]   # the registry's (evosym/runtime/backends.py)
    p.add_argument("--target", choices=backends.names(), default="torch",
                   help="; ".join(f"{b.name}: {b.summary} (NAME{b.suffix})" for b in targets) + " (default: torch)")
    kernel_files = ", ".join(f"NAME{b.suffix}" for b in sorted(backends.kernel_backends(), key=lambda b: b.suffix))
    p.add_argument("--output", "-o", metavar="DIR", type=_path,
                   help=f"write DIR/{_either([f'NAME{b.suffix}' for b in targets])} (atomically) instead of printing; "
                        "a torch module whose default path runs generated kernels gets its artifact next to it "
                        f"(NAME.manifest.json, {kernel_files})")
    p.add_argument("--kernels", action="store_true",
                   help="with --target torch --output: write the kernel artifact for every module that has kernels "
                        "(path='kernels'), not only where the default path runs them")
    p.add_argument("--standalone", action="store_true",
                   help="with --target torch --output: also copy evosym's kernel runtime next to the module "
                        "(DIR/evosym_runtime/), so the module runs its kernels with only torch and a C++ compiler")
    p.add_argument("--ptxas", metavar="ARCHS",
                   help="with --target cuda: compile with nvcc for these architectures (e.g. sm_80,sm_90) and print "
                        "registers and spills per kernel")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=_command("codegen"))

    p = sub.add_parser("check", help="check generated code numerically against independent references",
                       description="Generate the operator's code and compare both lowerings with the operator's "
                                   "torch reference: float64, float32, exact integer inputs, gradcheck, gradients.")
    _operators(p, "every operator of the catalogue")
    p.add_argument("--device", choices=backends.devices(), default="cpu", help="where to run (default: cpu)")
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
    p.add_argument("--seed", type=_seed, default=0,
                   help=f"seed of the random shapes and inputs, 0 to {MAX_SEED} (printed per shape)")
    p.add_argument("--verbose", "-v", action="store_true", help="print every comparison, not only failures")
    p.add_argument("--candidate", metavar="MODULE:ATTR", type=_given("candidate"),
                   help="check YOUR implementation instead: an nn.Module (or a function returning one) importable "
                        "as MODULE:ATTR, against the proven operator NAME")
    p.add_argument("--size", action="append", default=[], metavar="NAME=VALUE",
                   help="with --candidate: an operator size (repeatable), unless read from an nn.ConvNd/nn.Linear")
    p.add_argument("--gradients", action="store_true",
                   help="with --candidate: also compare the gradients of the inputs and the candidate's parameters "
                        "(float64, float32)")
    p.add_argument("--weights", action="append", default=[], metavar="NAME=ATTR[,NAME=ATTR…]",
                   help="with --candidate: where the operator's parameter NAME lives on the candidate, as an attribute "
                        "path (e.g. --weights W_dw=dw.weight,W_pw=pw.weight); repeatable")
    _json_format(p, "check", "evosym-check-candidate/1 with --candidate")
    _junit(p, "one testcase per checked shape of each operator (with --candidate: one)")
    p.set_defaults(func=_command("check"))

    p = sub.add_parser("bench", help="time generated code against the traditional implementation",
                       description="Median time per call and memory of the generated module (default and generic "
                                   "lowering) and of the traditional implementation, interleaved in one process, "
                                   "at each operator's realistic size; ratios are generated / traditional.")
    p.add_argument("name", nargs="?", metavar="NAME", type=_name, help="operator name (default: the whole catalogue)")
    p.add_argument("--device", choices=backends.devices(), default="cpu", help="where to run (default: cpu)")
    p.add_argument("--repeat", type=int, default=31, help="timed rounds per implementation (default 31)")
    p.add_argument("--no-generic", action="store_true", help="skip timing the generic lowering")
    p.add_argument("--kernels", action="store_true",
                   help="with NAME: time the generated kernels of --device (CPU or CUDA: operator, aggregation alone, "
                        "both backward passes) against the generic and traditional paths and the unfold-based "
                        "aggregation; on the CPU also against a native depthwise convolution of the same window")
    p.add_argument("--size", action="append", default=[], metavar="NAME=VALUE",
                   help="override a benchmark size (repeatable), e.g. --size B=64")
    p.add_argument("--against", action="store_true",
                   help="time evosym's default generated module against what a user would write instead (F.linear + "
                        "scaled_dot_product_attention, nn.MultiheadAttention, Swin's window partition, torch.compile, "
                        "flex_attention …), each checked against the reference first, with peak memory; without "
                        "NAME: every operator that has an alternative")
    p.add_argument("--backward", action="store_true", help="with --against: also time forward + backward")
    p.add_argument("--compile", action="store_true",
                   help="with --against: also torch.compile of the reference (slow to compile)")
    _json_format(p, "bench", "evosym-bench-kernels/1 with --kernels, evosym-bench-against/1 with --against")
    p.set_defaults(func=_command("bench"))

    p = sub.add_parser("docs", help="generate docs/ from the proofs: operator pages, pictures, index, rules, tutorial",
                       description="Regenerate the generated pages of the documentation folder: one page and one "
                                   "connectivity picture (SVG) per catalogue operator, the catalogue index, the "
                                   "concepts page, the rules reference and the executed tutorial. Hand-written "
                                   "pages are never touched.")
    p.add_argument("--output", "-o", metavar="DIR", type=_path, default="docs", help="the documentation folder (default: docs)")
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
    _json_format(p, "selftest")
    _junit(p, "one testcase per mutant; a survivor is a failure")
    p.set_defaults(func=_command("selftest"))
    return parser


# What a user or their environment caused, not a bug in evosym: a full disk, a name too long, a link loop,
# no permission, a read-only file system, a missing or wrong kind of file. One line and exit 2.
ENVIRONMENT_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ENOSPC", "EDQUOT", "EFBIG", "EIO", "ENAMETOOLONG", "ELOOP", "EACCES", "EPERM", "EROFS", "ENOTDIR", "EISDIR",
    "ENOENT", "EEXIST", "ENXIO", "ENODEV", "EMFILE", "ENFILE", "ETXTBSY", "EXDEV", "ESTALE") if hasattr(errno, name))

STREAM_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "ENXIO", "EBADF")
                          if hasattr(errno, name))


def _flush_stdout() -> OSError | None:
    """Flush standard output; the error if it cannot be written (a full disk, a vanished device)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as exc:
        return exc
    except ValueError:   # closed
        pass
    return None


def _drop_stdout() -> None:
    """Standard output failed: send what is still buffered to /dev/null, so that the interpreter's exit
    does not fail on it again (only the process's real standard output; never a test's capture)."""
    if sys.stdout is None or sys.stdout is not sys.__stdout__:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _output_failed(exc: OSError) -> int:
    _drop_stdout()
    _say(f"evosym: error: cannot write standard output: {exc.strerror or exc}")
    return 2


def main(argv=None) -> int:
    configure_terminal()   # a terminal that cannot print Σ gets 'sum', never a UnicodeEncodeError
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit:   # --help, --version or a usage error: argparse has printed it
        failed = _flush_stdout()
        if failed is not None:
            return _output_failed(failed)
        raise
    except OSError as exc:   # --help or --version on a standard output that takes no more
        return _output_failed(exc)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # what a command that reruns itself passes on
    if not getattr(args, "func", None):
        try:
            parser.print_help()
        except OSError as exc:   # (a closed pipe too: no traceback)
            return _output_failed(exc)
        failed = _flush_stdout()
        return _output_failed(failed) if failed is not None else 2
    try:
        rc = args.func(args, parser)
        failed = _flush_stdout()   # a full device behind standard output shows here, not at the interpreter's exit
        return rc if failed is None else _output_failed(failed)
    except EvosymError as exc:
        _say(f"evosym: error: {exc}")
        return 2
    except KeyboardInterrupt as exc:
        _say("evosym: interrupted")
        _said_notes(exc)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        failed = _flush_stdout()   # still failing: it was standard output
        if failed is not None or (exc.filename is None and exc.errno in STREAM_ERRNOS):
            return _output_failed(failed or exc)   # files are written by write_atomic, whose errors name them
        if exc.errno in ENVIRONMENT_ERRNOS and not os.environ.get("EVOSYM_DEBUG"):
            where = f"{exc.filename}: " if exc.filename is not None else ""
            _say(f"evosym: error: {where}{exc.strerror or exc}")
            return 2
        return _internal(exc)
    except Exception as exc:  # a bug in evosym itself: still one line, with a way to see more
        return _internal(exc)


def _internal(exc: Exception) -> int:
    if os.environ.get("EVOSYM_DEBUG"):
        raise exc
    _say(f"evosym: internal error: {type(exc).__name__}: {exc} (set EVOSYM_DEBUG=1 for a traceback; "
         "please report it)")
    return 3


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """evosym's own warnings as one line, 'evosym: warning: …' (escaped), not Python's two with a source line; any
    other library's as Python shows them."""
    text = str(message)
    if not (category.__module__.startswith("evosym") or os.path.abspath(str(filename)).startswith(_PACKAGE)):
        return _PYTHON_SHOW(message, category, filename, lineno, file, line)
    _say("evosym: warning: " + text.removeprefix("evosym: "))


_PYTHON_SHOW = warnings.showwarning
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep   # evosym/


class Terminated(BaseException):
    """SIGTERM or SIGHUP (a CI job's timeout, a closed terminal) raised where the command runs, as Ctrl-C is: what
    it started is ended and cleaned up on the way out (operator files' processes, scratch folders, a half-written
    file's temporary), not left behind as the signal's default action leaves them."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _said_notes(exc: BaseException) -> None:
    """What a stop's exception notes (a set of files written before it: :func:`evosym.files.write_all`), one line
    each: a command reported stopped does not hide that it wrote them."""
    for note in getattr(exc, "__notes__", ()):
        _say(escaped(note))   # (paths: their control characters as escapes)


def _terminate(signum, frame):
    raise Terminated(signum)


def run() -> None:
    """Console-script entry point (``python -m evosym`` too): the command, evosym's warnings as one line each."""
    warnings.showwarning = _show_warning
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:   # (one its caller ignores stays ignored)
            signal.signal(sig, _terminate)
    try:
        rc = main()
    except Terminated as exc:
        _say(f"evosym: stopped by {signal.Signals(exc.signum).name}")
        _said_notes(exc)
        rc = 128 + exc.signum
    sys.exit(rc)
