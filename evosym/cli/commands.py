"""The subcommands of the ``evosym`` CLI."""

from __future__ import annotations

import os
import re
import sys
import textwrap

from .. import catalogue
from ..errors import EvosymError
from ..printers import render, render_many
from ..runtime import backends
from ..proof.rules import RULES
from . import report as results
from ..files import write_all, write_atomic
from ..targets import check_target, existing_folder, folder_inside, same_place
from ..proof.codec import escaped
from .output import Progress, out, say, write_stdout, wrote


def _selected(args, command: str) -> list[str]:
    """The operators a command runs on: NAME, or the whole catalogue with --all (exactly one)."""
    if args.all == bool(args.name):
        raise EvosymError(f"{command} needs exactly one of NAME or --all")
    return catalogue.catalogue_names() if args.all else [args.name]


def _emit(text: str, args, inputs=()) -> None:
    if getattr(args, "output", None):
        path = write_atomic(args.output, text, force=args.force, inputs=inputs)
        wrote(path)
    else:
        write_stdout(text)


def cmd_list(args, parser) -> int:
    mods = catalogue.load_all()
    width = max(len(m.name) for m in mods)
    for m in mods:
        out(f"{m.name.ljust(width)}  {m.operator.summary}")
    return 0


def _fill(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text.replace("`", ""), 100, initial_indent=indent, subsequent_indent=indent)


def cmd_rules(args, parser) -> int:
    """Every rule (statement, arguments, preconditions); with NAME one rule in full, or 'conclude'."""
    from ..docgen import rules_page as ref
    from ..proof.rules import get_rule
    name = getattr(args, "name", None)
    if name == "conclude":
        out("conclude")
        out(_fill(ref.CONCLUDE))
        out(_fill(ref.WINDOW))
        for field, kind, what in ref.window_axis_fields():
            out(f"    {field} ({kind})")
            out(_fill(what, "      "))
        out(_fill(ref.OTHER_OMEGA))
        return 0
    if name:
        rule = get_rule(name)
        out(name)
        out(_fill(rule.statement()))
        text = ref.details(rule)
        for paragraph in text.split("\n\n") if text else ():
            out(_fill(paragraph))
        for pre in rule.preconditions:
            out(f"  precondition: {pre}")
        out(f"  arguments of d.apply(\"{name}\", …):" if ref.arguments(rule) else "  arguments: none")
        for arg, kind, what in ref.arguments(rule):
            out(f"    {arg} ({kind})" if kind else f"    {arg}")
            if what:
                out(_fill(what, "      "))
        out(_fill(ref.CALL))
        out(_fill("Sums: " + ref.SUMS))
        return 0
    for name in sorted(RULES):
        rule = RULES[name]
        out(name)
        out(_fill(rule.statement()))
        out(_fill("arguments: " + (ref.compact_arguments(rule) or "none"), "  "))
        for pre in rule.preconditions:
            out(f"  precondition: {pre}")
        out()
    out(_fill("Sums: Σ_{u=lo}^{hi} runs over lo ≤ u ≤ hi, both bounds inclusive (so do the bounds rules take). "
                "'evosym rules NAME' describes a rule's arguments one by one; 'evosym rules conclude' the end of a "
                "derivation, d.conclude(omega=Window((WindowAxis(kernel, stride, dilation, padding, length), …)), "
                "channel=c, neighbour=(m, n))."))
    return 0


def cmd_prove(args, parser) -> int:
    """Derive each operator in a child process (user code never runs here), check what it hands back
    in this process, print the proofs, and write certificates if asked."""
    from ..isolation.spawn import DerivationFailed
    from ..proof.certificate import certificate, dumps
    names = _selected(args, "prove")
    if args.show_derive and (args.format != "text" or args.summary):
        raise EvosymError(f"--show-derive prints the derive(d) function as Python; it does not take "
                          f"{'--summary' if args.summary else '--format ' + args.format}")
    if args.force and not (args.output or args.certificate or args.certificates):
        raise EvosymError("--force only applies with --output, --certificate or --certificates")
    fragment = getattr(args, "fragment", False)
    if fragment and (args.format != "latex" or args.summary or args.show_derive):
        raise EvosymError("--fragment applies to --format latex only (the proofs without a preamble)")
    if args.certificate and len(names) != 1:
        raise EvosymError("--certificate FILE takes one operator; with --all use --certificates DIR")
    inputs = _input_files(names)   # never overwritten, even with --force
    if args.output:
        check_target(args.output, force=args.force, inputs=inputs)  # fail before the work, not after
    if args.certificate:
        check_target(args.certificate, force=args.force, inputs=inputs)
        if args.output and same_place(args.output, args.certificate):
            raise EvosymError(f"--output and --certificate name the same file, {args.certificate}")
    folder = _certificate_folder(args, names)
    checked, docs = [], []
    progress = Progress(len(names))   # on a terminal only: [k/n] on one line of standard error
    try:
        progress.show(f"deriving {names[0]}")
        for _, data, cp in catalogue.checked_apart(names, args.time_limit, search=args.search):
            checked.append(cp)
            docs.append(certificate(cp, data))
            progress.step(f"{'proved' if cp.ok else 'FAILED'} {cp.operator.name}")
    except DerivationFailed as exc:
        progress.done()
        if args.format == "json":   # what was checked before it, and the failure, for CI
            _emit(results.dumps(results.prove_document(checked, search=args.search, error=str(exc))), args, inputs)
        say(f"evosym: proof failed: {exc}")
        return 1
    finally:
        progress.done()
    if folder is not None:   # (an operator file's name is known now: its certificate is not the proof's output)
        known = set(catalogue.catalogue_names())   # (a catalogue operator's was looked at before the work)
        _apart(args, [folder / f"{cp.operator.name}.json" for cp, name in zip(checked, names) if name not in known])
    if args.show_derive:
        text = "\n\n".join(_derive_source(cp) for cp in checked)
    elif args.format == "json":   # the whole result, --summary or not (docs/json.md)
        text = results.dumps(results.prove_document(checked, search=args.search))
    elif args.summary:
        lines = [f"{'PROVED' if cp.ok else 'FAILED'}  {cp.operator.name:<20} {len(cp.steps)} steps "
                 f"({sum(s.check.general for s in cp.steps)} general)"
                 + (f" + limit {len(cp.limit.steps)} steps ({sum(s.check.general for s in cp.limit.steps)} general)"
                    if cp.limit is not None else "") + f", {len(cp.shapes)} shapes, {cp.seconds:.2f} s" for cp in checked]
        text = "\n".join(lines) + "\n"
    else:
        text = render_many(checked, args.format, fragment) if args.all else render(checked[0], args.format, fragment)
    files = []   # written together, all or none (the proof's output without its certificate was left; a review)
    if args.output:
        files.append((args.output, text))
    else:
        write_stdout(text)
    if args.certificate:
        files.append((args.certificate, dumps(docs[0])))
    if folder is not None:
        files += [(folder / f"{cp.operator.name}.json", dumps(doc)) for cp, doc in zip(checked, docs)]
    for path in write_all(files, force=args.force, inputs=inputs):
        wrote(path)
    failed = [cp.operator.name for cp in checked if not cp.ok]
    if failed:
        say(f"evosym: proof failed: {', '.join(failed)}")
        return 1
    return 0


def _derive_source(cp) -> str:
    """The checked proof's steps as the derive(d) function of an operator file (with a verdict line)."""
    from ..search import derive_source
    p = cp.proof
    verdict = "checked" if cp.ok else "NOT checked: the proof fails (see evosym prove)"
    return (f"# {cp.operator.name}: {len(p.steps)} steps, {verdict}\n"
            + derive_source(p.steps, (p.omega, p.channel, p.neighbour), cp.operator.size_symbols()))


def _certificate_folder(args, names):
    """--certificates DIR: an existing folder; catalogue operators' files refused up front if they exist."""
    if not args.certificates:
        return None
    folder = existing_folder(args.certificates, "certificate folder")
    known = set(catalogue.catalogue_names())
    for name in names:
        if name in known:
            check_target(folder / f"{name}.json", force=args.force)
    _apart(args, [folder / f"{name}.json" for name in names if name in known])
    return folder


def _apart(args, certificates) -> None:
    """A certificate of --certificates DIR is not the file --output or --certificate names: the second write replaced
    the first (with --force, the proof's JSON lost under its certificate; an adversarial pass)."""
    for path in certificates:
        for option, other in (("--output", args.output), ("--certificate", args.certificate)):
            if other and same_place(other, str(path)):
                raise EvosymError(f"{option} and --certificates name the same file, {path}: choose another output")


def _input_files(names) -> list[str]:
    """The files a command reads its operators from (an operator file as given, a catalogue operator's
    derivation module, found without running it): outputs never overwrite them."""
    import importlib.util
    import os
    known = set(catalogue.catalogue_names())
    files = []
    for name in names:
        if name in known:
            spec = importlib.util.find_spec(f"{catalogue.PACKAGE}.{name}")
            if spec is not None and spec.origin:
                files.append(spec.origin)
        else:
            try:
                os.stat(name)
            except FileNotFoundError:   # said by the loader, with the usual message
                pass
            except OSError as exc:   # a name too long, a link loop, no permission
                raise EvosymError(f"cannot read operator file {name}: {exc.strerror or exc}") from None
            files.append(name)
    return files


def _generated_name(source: str, operator: str, target: str) -> str:
    """The generated file's name: NAME.py, NAME.cu or NAME.cpp, except for an operator file named like its
    operator (my_op.py defining my_op), whose torch module would carry the file's own name: NAME_evolution.py.
    The catalogue's names are unchanged."""
    from pathlib import Path

    from ..codegen.generate import filename
    name = filename(operator, target)
    if source not in catalogue.catalogue_names() and Path(source).name == name:
        return filename(f"{operator}_evolution", target)
    return name


def cmd_codegen(args, parser) -> int:
    names = _selected(args, "codegen")
    if args.all and not args.output:
        raise EvosymError("codegen --all needs --output DIR")
    if args.force and not args.output:
        raise EvosymError("--force only applies with --output")
    out_dir = existing_folder(args.output, "output folder") if args.output else None
    spec = backends.get(args.target)
    nvcc = [b for b in backends.kernel_backends() if any(t.compiler == "nvcc" for t in b.targets)]
    if args.ptxas is not None and spec not in nvcc:   # ptxas: nvcc's register report
        raise EvosymError(f"--ptxas only applies with --target {' or '.join(b.name for b in nvcc)}")
    archs = []
    if args.ptxas is not None:
        from ..runtime.build import cuda_archs
        archs = cuda_archs(args.ptxas)
    if (args.kernels or args.standalone) and (spec.kernels or out_dir is None):   # a module's artifact and runtime
        raise EvosymError("--kernels and --standalone apply with --target torch --output DIR")
    inputs = _input_files(names)   # never overwritten, even with --force
    generated = {}
    if out_dir is not None:   # every file it may write, refused before any work (nothing half-written)
        known = set(catalogue.catalogue_names())
        for name in names:     # the files named after a catalogue operator: before anything is proved (an operator
            if name in known:  # file's name is known from its derivation: it is never imported here)
                check_target(out_dir / _generated_name(name, name, args.target), force=args.force, inputs=inputs)
        for name in names:     # the artifacts next to a module: known once generated, checked before any write
            generated[name] = gen = _generated(name, args)
            if gen is None:
                continue
            for file in gen.files(_generated_name(name, gen.plan.name, args.target), kernels=args.kernels):
                check_target(out_dir / file, force=args.force, inputs=inputs)
        if args.standalone:
            from ..codegen.standalone import runtime_files
            runtime = runtime_files()
            for file in runtime:
                for folder in reversed((out_dir / file).relative_to(out_dir).parents[:-1]):
                    folder_inside(out_dir / folder, "the runtime's files", "output folder")
                if (out_dir / file).parent.is_dir():
                    check_target(out_dir / file, force=args.force, inputs=inputs)
    files, said = [], []   # written together at the end, all or none (no module without its kernel sources)
    for name in names:
        gen = generated[name] if out_dir is not None else _generated(name, args)
        if gen is None:
            continue
        if archs:
            from ..runtime.build import ptxas_report
            for arch in archs:
                for kernel, (regs, stores, loads) in ptxas_report(gen.source, arch).items():
                    say(f"{gen.plan.name} {arch} {kernel}: {regs} registers, {stores} B spill stores, "
                        f"{loads} B spill loads")
        if out_dir is None:
            write_stdout(gen.source)
            say(f"{gen.plan.name}: {gen.plan.path}: {gen.plan.reason}")
        else:
            named = gen.files(_generated_name(name, gen.plan.name, args.target), kernels=args.kernels)
            files += [(out_dir / file, text) for file, text in named.items()]
            said.append(f"{gen.plan.name}: {gen.plan.path}: {gen.plan.reason}")
    if out_dir is None:
        return 0
    made = []   # the runtime's folders this command makes: removed again where nothing was written
    try:
        if args.standalone:
            for file in runtime:
                for folder in reversed((out_dir / file).relative_to(out_dir).parents[:-1]):
                    if not (out_dir / folder).exists():
                        made.append(out_dir / folder)   # (before: a signal may come as it is made)
                        try:
                            (out_dir / folder).mkdir()
                        except OSError:
                            made.pop()
                            raise
            files += [(out_dir / file, text) for file, text in runtime.items()]
        written = write_all(files, force=args.force, inputs=inputs)
    except BaseException:
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    for path in written[:len(written) - (len(runtime) if args.standalone else 0)]:
        wrote(path)
    for line in said:
        say(line)
    if args.standalone:
        say(f"wrote {out_dir / 'evosym_runtime'} (evosym's kernel runtime, {len(runtime)} files)")
    return 0


def _generated(name: str, args):
    """The generation of ``name`` for the command's target; None (said on stderr) for an operator the
    target cannot lower under --all."""
    from ..codegen.generate import generate
    try:
        return generate(name, args.target)
    except EvosymError as exc:
        if not args.all or not backends.get(args.target).kernels:   # a module is generated for every operator
            raise
        say(f"skipped {name}: {exc}")   # --all: operators the target cannot lower
        return None


def _candidate_files(spec: str) -> list[str]:
    """The source files --candidate MODULE:ATTR names (the module and its packages' __init__) and the modules the
    module's own text imports, found on the import path without running them: outputs never overwrite them. (The
    JUnit placeholder is written before the candidate is imported, so that a candidate ending the process leaves a
    failure: a module it imports only by a computed name is not known then.)"""
    import os
    path = [os.getcwd()] + [p for p in sys.path if p]
    files = _files_on_path(spec.partition(":")[0].split("."), path, installed=True)
    return files + [f for source in files for f in _imported_by(source, path)]


def _files_on_path(parts: list[str], path: list, *, installed: bool = False) -> list[str]:
    """The source files of the module named by ``parts`` and of its packages, found on ``path`` without running them
    (``installed``: the top package by every finder too, an editable install's: finders run, no module does)."""
    import importlib.machinery
    import importlib.util
    files = []
    for k, part in enumerate(parts):
        try:
            found = importlib.machinery.PathFinder.find_spec(part, path)
            if found is None and k == 0 and installed:
                found = importlib.util.find_spec(part)
        except (ImportError, ValueError, OSError):
            found = None
        if found is None:
            break
        if found.origin and found.has_location:
            files.append(found.origin)
        path = list(found.submodule_search_locations or [])
        if not path:
            break
    return files


def _imported_by(source: str, path: list) -> list[str]:
    """The files of the modules ``source``'s text imports by name (``import a.b``, ``from a import b``, relative ones
    from its folder), found on ``path`` without running anything; none where it cannot be read or parsed."""
    import ast
    import os
    try:
        with open(source, "rb") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(((a.name, 0) for a in node.names))
        elif isinstance(node, ast.ImportFrom):
            names.update(((f"{node.module}.{a.name}" if node.module else a.name, node.level) for a in node.names))
            if node.module:
                names.add((node.module, node.level))
    here = [os.path.dirname(os.path.abspath(source))]
    return [f for name, level in sorted(names) for f in _files_on_path(name.split("."), here if level else path)]


def _weight_map(items) -> dict:
    """--weights NAME=ATTR[,NAME=ATTR…] (repeatable) as {operator parameter: attribute path on the candidate}."""
    mapped = {}
    for item in items:
        for part in item.split(","):
            key, eq, value = (t.strip() for t in part.partition("="))
            if not eq or not key or not value or not all(v.isidentifier() for v in value.split(".")):
                raise EvosymError(f"--weights takes NAME=ATTR[,NAME=ATTR…] (e.g. W_dw=dw.weight), not {part.strip()!r}")
            if key in mapped:
                raise EvosymError(f"--weights maps {key} twice")
            mapped[key] = value
    return mapped


def _check_candidate(args) -> int:
    import math

    import torch

    # everything the verdict depends on is bound before the candidate's module is imported or constructed
    from ..testing.equivalence import Report, assert_equivalent
    from ..isolation.libc import not_dumpable
    from ..testing.setup import proven
    from .junit import candidate_suite, xml
    if args.all or not args.name:
        raise EvosymError("check --candidate needs one operator NAME")
    if args.junit:   # (the candidate may change the working folder: every path is absolute before it runs)
        args.junit = os.path.abspath(args.junit)
    inputs = [os.path.abspath(f) for f in _candidate_files(args.candidate) + _input_files([args.name])]
    _junit_target(args, inputs)
    verdict = _candidate_verdict(args, results.candidate_document, results.dumps, candidate_suite, xml, write_atomic,
                                 inputs)
    sizes = _sizes(args.size)
    weights = _weight_map(args.weights)
    trials, dtypes = 4, (torch.float64, torch.float32)
    planned = trials * len(dtypes)
    proven(args.name)   # (the operator first: its errors before any file is written)
    verdict.placeholder(planned)   # a failing report first: a candidate that ends the process leaves no pass behind
    not_dumpable()   # (the candidate's process is this user's: it may not read this one's memory)
    try:   # the candidate runs in a process of its own: it never sees the operator's values nor the harness
        report = assert_equivalent(args.candidate, args.name, sizes=sizes or None, weights=weights or None,
                                   seed=args.seed, trials=trials, dtypes=dtypes, gradients=args.gradients)
    except AssertionError as exc:
        return verdict(planned, f"NOT EQUIVALENT  {escaped(args.candidate)} vs {escaped(args.name)}\n{exc}",
                       failure=str(exc))
    done = report.trials if type(report) is Report and type(report.trials) is list else []
    if len(done) != planned or not all(type(t) is tuple and len(t) == 3 and isinstance(t[2], float) and math.isfinite(t[2])
                                        for t in done):
        why = f"{args.name}: {len(done)} of {planned} comparisons ran: no verdict (did the candidate modify the harness?)"
        return verdict(planned, f"NOT EQUIVALENT  {escaped(args.candidate)} vs {escaped(args.name)}\n{why}", failure=why)
    redrawn = report.redrawn if type(report.redrawn) is list else []
    at = (f"; also with its trainable parameters {_shown_names(redrawn)} drawn at random" if redrawn
          else "; at its own weights only (no weight read from a parameter drawn at random)")
    return verdict(planned, f"EQUIVALENT  {escaped(args.candidate)} vs {report.operator}: {len(done)} comparisons "
                            f"({', '.join(sorted({t[1] for t in done}))}), sizes {report.sizes}{at}"
                            + _gradients_line(report.gradients), report=report)


def _gradients_line(seen) -> str:
    """The gradients a passing check compared (``Report.gradients``), one line; none without --gradients."""
    if not isinstance(seen, dict):
        return ""
    params = f"; its parameters {_shown_names(seen['parameters'])}" if seen["parameters"] else ""
    if seen["not compared"]:   # (beside those compared too: a check that compared some says why not the others)
        others = "not its other parameters" if seen["parameters"] else "not its parameters"
        params += f"; {others}: {escaped(str(seen['not compared']))}"
    return f"\n  gradients compared ({', '.join(seen['dtypes'])}): its inputs {', '.join(seen['inputs'])}{params}"


def _shown_names(names) -> str:
    """Parameter names the candidate gave, in ASCII (a look-alike letter or a control character shows as its
    escape): "weight, bias"."""
    return ", ".join(escaped(str(n)[:200].encode("ascii", "backslashreplace").decode("ascii")) for n in names)


def _candidate_verdict(args, document, dumps, suite, xml, write, inputs):
    """The verdict's output (the text line, or JSON) and its JUnit file, with functions bound before the
    candidate is imported; returns the exit code: 0 equivalent, 1 not. ``verdict.placeholder(planned)`` writes the
    JUnit file's failing placeholder (no verdict yet), which the verdict replaces."""
    written = []

    def verdict(planned, text, *, report=None, failure=None) -> int:
        doc = document(candidate=args.candidate, operator=args.name, seed=args.seed, gradients=args.gradients,
                       planned=planned, report=report, failure=failure)
        out(dumps(doc), end="") if args.format == "json" else out(text)
        if args.junit:
            path = write(args.junit, xml(suite(doc)), force=args.force or bool(written), inputs=inputs)
            wrote(path)
        return 0 if failure is None and report is not None else 1

    def placeholder(planned) -> None:
        if args.junit:
            why = "no verdict: the check did not finish (the candidate ended the process, or it was killed)"
            doc = document(candidate=args.candidate, operator=args.name, seed=args.seed, gradients=args.gradients,
                           planned=planned, report=None, failure=why)
            write(args.junit, xml(suite(doc)), force=args.force, inputs=inputs)
            written.append(True)
    verdict.placeholder = placeholder
    return verdict


def _junit_target(args, inputs=()) -> None:
    """--junit FILE refused before any work when it cannot be written (exists without --force, a folder, a file the
    command reads…)."""
    if args.force and not args.junit:
        raise EvosymError("--force only applies with --junit")
    if args.junit:
        check_target(args.junit, force=args.force, inputs=inputs)


def _write_junit(args, suite, inputs=()) -> None:
    if args.junit:
        from ..isolation.references import close_all
        from .junit import xml
        close_all()   # the references' processes ended first: every file they ran is known (never overwritten)
        wrote(write_atomic(args.junit, xml(suite), force=args.force, inputs=inputs))


def cmd_check(args, parser) -> int:
    import time

    from ..codegen.check import check_operator
    if args.candidate:
        wrong = [flag for flag, given in (("--device cuda", args.device != "cpu"), ("--kernels/--emulated", args.kernels),
                                          ("--sanitize", args.sanitize)) if given]
        if wrong:   # assert_equivalent runs the candidate on the CPU; it never runs generated kernels
            raise EvosymError(f"{' and '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not apply with --candidate "
                              "(it compares on the CPU, against the proven operator)")
        return _check_candidate(args)
    if args.size or args.gradients or getattr(args, "weights", None):
        raise EvosymError("--size, --weights and --gradients apply with --candidate only (the generated code is checked at "
                          "the operator's grid and random sizes, with gradients)")
    names = _selected(args, "check")
    inputs = _input_files(names)   # never overwritten by --junit, even with --force
    _junit_target(args, inputs)
    if args.sanitize:
        from ..runtime import build, sanitize
        if args.device != "cpu" or not args.kernels:
            raise EvosymError("--sanitize checks kernels built for the host: use it with --emulated or --kernels, "
                              "on the CPU")
        if not sanitize.requested():   # this process cannot load sanitized builds: a child process that can
            sys.stdout.flush()
            return sanitize.rerun(args.argv, build.compiler(backends.target_for("cpu").name))   # the host's compiler
    failed, done = [], []
    for name in names:
        start = time.perf_counter()
        report = check_operator(name, device=args.device, seed=args.seed, kernels=args.kernels,
                                gradcheck=not args.sanitize)   # under the sanitizers: the autograd comparison
        done.append((report, time.perf_counter() - start))
        if not report.ok:
            failed.append(report.name)
        if args.format == "json":
            continue
        text = report.text()
        if not args.verbose:
            lines = text.splitlines()
            text = "\n".join([lines[0]] + [line for line in lines[1:] if "✗" in line or line.startswith("  note:")])
        out(text)
    if args.format == "json" or args.junit:
        doc = results.check_document(done, device=args.device, seed=args.seed, kernels=args.kernels)
        if args.format == "json":
            write_stdout(results.dumps(doc))
        if args.junit:
            from .junit import check_suite
            _write_junit(args, check_suite(doc), inputs)
    if failed:
        say(f"evosym: check failed: {', '.join(failed)} (replay with --seed {args.seed} --verbose)")
        return 1
    return 0


MAX_SIZE = (1 << 31) - 1   # what --size takes: the generated kernels' index range (a larger one is no benchmark)


def _sizes(items) -> dict:
    sizes = {}
    for item in items:
        key, sep, value = (t.strip() for t in item.partition("="))
        if not sep or not key or not re.fullmatch(r"-?[0-9]+", value):   # (ASCII digits: int() refuses '²')
            raise EvosymError(f"--size takes NAME=INTEGER, not {item!r}")
        sizes[key] = _bounded_size(key, int(value))
    return sizes


def _bounded_size(name: str, value: int) -> int:
    if abs(value) > MAX_SIZE:
        raise EvosymError(f"--size {name}={value}: sizes are at most 2^31 − 1 = {MAX_SIZE}")
    return value


def cmd_bench(args, parser) -> int:
    import torch

    from ..codegen.bench import bench_operator, table
    if args.repeat < 1:
        raise EvosymError("--repeat must be at least 1")
    sizes = _sizes(args.size)
    if args.against:
        return _bench_against(args, sizes)
    if args.backward or args.compile:
        raise EvosymError("--backward and --compile apply only with --against")
    if args.kernels:
        from ..codegen.bench_kernels import bench_kernels
        if not args.name:
            raise EvosymError("bench --kernels needs an operator NAME")
        if args.name not in catalogue.catalogue_names():
            raise EvosymError(f"bench --kernels times the reference in this process, and an operator file's ({args.name}) "
                              "runs only in its confined process: time the file with 'evosym bench FILE'")
        kb = bench_kernels(args.name, device=args.device, sizes=sizes or None)
        out(results.dumps(results.bench_kernels_document(kb)), end="") if args.format == "json" else out(kb.text())
        return 0
    names = [args.name] if args.name else catalogue.catalogue_names()
    rows = []
    for name in names:
        rows.append(bench_operator(name, device=args.device, repeat=args.repeat, generic=not args.no_generic,
                                   sizes=sizes or None))
        say(f"measured {name}")
    if args.format == "json":
        write_stdout(results.dumps(results.bench_document(
            rows, device=args.device, repeat=args.repeat, generic=not args.no_generic, torch_version=torch.__version__,
            threads=torch.get_num_threads())))
        return 0
    built_in = set(catalogue.catalogue_names())
    files = [n for n in names if n not in built_in]
    out(f"device: {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"median of {args.repeat} interleaved rounds" + (
              f" ({', '.join(escaped(f) for f in files)}: the reference timed in the operator file's confined process, its memory not "
              "measured)" if files else ""))
    out(table(rows))
    return 0


def _bench_against(args, sizes) -> int:
    """``bench [NAME] --against``: one report per operator; exit 1 if an implementation failed or disagreed."""
    import torch

    from ..codegen.alternatives import operators_with_alternatives
    from ..codegen.bench_against import bench_against, known, no_alternative_message
    if args.kernels:
        raise EvosymError("--against and --kernels are two different benchmarks: give one of them")
    if args.name and not known(args.name):
        raise EvosymError(no_alternative_message(args.name))
    names = [args.name] if args.name else operators_with_alternatives()
    reports = []
    for name in names:
        reports.append(bench_against(name, device=args.device, repeat=args.repeat, backward=args.backward,
                                     sizes=sizes or None, compile=args.compile))
        say(f"measured {name}")
    if args.format == "json":
        write_stdout(results.dumps(results.bench_against_document(
            reports, device=args.device, repeat=args.repeat, backward=args.backward, compile=args.compile,
            torch_version=torch.__version__, threads=torch.get_num_threads())))
    else:
        out("\n\n".join(r.text() for r in reports))
    failed = [f"{r.name}: {label}" for r in reports for label in r.failed]
    if failed:
        say(f"evosym: bench --against: {len(failed)} implementation(s) failed or disagree with the reference "
            f"(not timed): {'; '.join(failed)}")
        return 1
    return 0


def cmd_table(args, parser) -> int:
    from ..analysis.report import table
    if args.force and not args.output:
        raise EvosymError("--force only applies with --output")
    if args.output:
        check_target(args.output, force=args.force)
    from ..analysis.report import cost_of, properties_of
    names = catalogue.catalogue_names()
    checked, progress = [], Progress(len(names))   # on a terminal: proving and analysing (cached across runs)
    try:
        for name in names:
            progress.show(f"proving and analysing {name}")
            cp = catalogue.checked(name)
            properties_of(cp), cost_of(cp)
            checked.append(cp)
            progress.step(f"analysed {name}")
    finally:
        progress.done()
    _emit(results.dumps(results.table_document(checked)) if args.format == "json" else table(checked), args)
    return 0


def cmd_info(args, parser) -> int:
    from ..analysis.report import info
    cp = catalogue.checked(args.name, callables=False)   # an operator file is not imported here: info reads the proof
    if not cp.ok:
        raise EvosymError(f"{args.name}: the proof does not check (see 'evosym prove {args.name}')")
    write_stdout(results.dumps(results.info_document(cp)) if args.format == "json" else info(cp))
    return 0


def cmd_docs(args, parser) -> int:
    from pathlib import Path

    from ..docgen.site import compare, generate_docs, progress_to_stderr, write_docs
    root = Path(args.output)
    if args.check and args.force:
        raise EvosymError("--check writes nothing; it does not take --force")
    if not root.is_dir():
        raise EvosymError(f"documentation folder {root} does not exist" + ("" if args.check else "; create it first"))
    files = generate_docs(progress=progress_to_stderr)
    if args.check:
        problems = compare(files, root)
        for line in problems:
            out(line)
        if problems:
            say(f"evosym: {len(problems)} generated doc file(s) out of date; run 'evosym docs --force'")
            return 1
        out(f"docs up to date: {len(files)} generated files in {root}")
        return 0
    written = write_docs(files, root, force=args.force)
    for path in written:
        out(f"wrote {escaped(str(path))}")
    out(f"{len(written)} of {len(files)} generated files changed in {escaped(str(root))}")
    return 0


def cmd_selftest(args, parser) -> int:
    from ..selftest.run import run, summary
    _junit_target(args)
    rows = run(categories=set(args.category or ()))
    if args.format == "json" or args.junit:
        doc = results.selftest_document(rows, args.category or ())
        if args.junit:
            from .junit import selftest_suite
            _write_junit(args, selftest_suite(doc))
    if args.format == "json":
        write_stdout(results.dumps(doc))
    else:
        out(summary(rows, verbose=args.verbose))
    survivors = [m.name for m, o, _ in rows if not o.killed]
    if survivors:
        say(f"evosym: selftest: {len(survivors)} mutant(s) survived: {', '.join(survivors)}")
        return 1
    return 0


__all__ = ["EvosymError", "cmd_info", "cmd_table", "cmd_selftest", "cmd_bench", "cmd_check", "cmd_codegen", "cmd_list", "cmd_prove", "cmd_rules"]
