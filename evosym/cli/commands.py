"""The subcommands of the ``evosym`` CLI."""

from __future__ import annotations

import sys
import textwrap

from .. import catalogue
from ..errors import EvosymError
from ..printers import render, render_many
from ..proof.rules import RULES
from .output import check_target, write_atomic


def _selected(args, command: str) -> list[str]:
    """The operators a command runs on: NAME, or the whole catalogue with --all (exactly one)."""
    if args.all == bool(args.name):
        raise EvosymError(f"{command} needs exactly one of NAME or --all")
    return catalogue.catalogue_names() if args.all else [args.name]


def _emit(text: str, args) -> None:
    if getattr(args, "output", None):
        path = write_atomic(args.output, text, force=args.force)
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_list(args, parser) -> int:
    mods = catalogue.load_all()
    width = max(len(m.name) for m in mods)
    for m in mods:
        print(f"{m.name.ljust(width)}  {m.operator.summary}")
    return 0


def cmd_rules(args, parser) -> int:
    for name in sorted(RULES):
        rule = RULES[name]
        print(name)
        print(textwrap.fill(rule.statement(), 100, initial_indent="  ", subsequent_indent="  "))
        for pre in rule.preconditions:
            print(f"  precondition: {pre}")
        print()
    return 0


def cmd_prove(args, parser) -> int:
    """Derive each operator in a child process (user code never runs here), check what it hands back
    in this process, print the proofs, and write certificates if asked."""
    from ..isolation.spawn import DerivationFailed
    from ..proof.certificate import certificate, dumps
    names = _selected(args, "prove")
    if args.force and not (args.output or args.certificate or args.certificates):
        raise EvosymError("--force only applies with --output, --certificate or --certificates")
    if args.certificate and len(names) != 1:
        raise EvosymError("--certificate FILE takes one operator; with --all use --certificates DIR")
    if args.output:
        check_target(args.output, force=args.force)  # fail before the work, not after
    if args.certificate:
        check_target(args.certificate, force=args.force)
    folder = _certificate_folder(args, names)
    checked, docs = [], []
    try:
        for _, data, cp in catalogue.checked_apart(names, args.time_limit):
            checked.append(cp)
            docs.append(certificate(cp, data))
    except DerivationFailed as exc:
        print(f"evosym: proof failed: {exc}", file=sys.stderr)
        return 1
    if args.summary:
        lines = [f"{'PROVED' if cp.ok else 'FAILED'}  {cp.operator.name:<20} {len(cp.steps)} steps "
                 f"({sum(s.check.general for s in cp.steps)} general)"
                 + (f" + limit {len(cp.limit.steps)} steps ({sum(s.check.general for s in cp.limit.steps)} general)"
                    if cp.limit is not None else "") + f", {len(cp.shapes)} shapes, {cp.seconds:.2f} s" for cp in checked]
        _emit("\n".join(lines) + "\n", args)
    else:
        _emit(render_many(checked, args.format) if args.all else render(checked[0], args.format), args)
    if args.certificate:
        print(f"wrote {write_atomic(args.certificate, dumps(docs[0]), force=args.force)}", file=sys.stderr)
    if folder is not None:
        for cp, doc in zip(checked, docs):
            path = write_atomic(folder / f"{cp.operator.name}.json", dumps(doc), force=args.force)
            print(f"wrote {path}", file=sys.stderr)
    failed = [cp.operator.name for cp in checked if not cp.ok]
    if failed:
        print(f"evosym: proof failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _certificate_folder(args, names):
    """--certificates DIR: an existing folder; catalogue operators' files refused up front if they exist."""
    from pathlib import Path
    if not args.certificates:
        return None
    folder = Path(args.certificates)
    if not folder.is_dir():
        raise EvosymError(f"certificate folder {folder} " + ("is not a folder" if folder.exists() else "does not exist"))
    known = set(catalogue.catalogue_names())
    for name in names:
        if name in known:
            check_target(folder / f"{name}.json", force=args.force)
    return folder


def cmd_codegen(args, parser) -> int:
    from pathlib import Path

    from ..codegen.generate import generate
    names = _selected(args, "codegen")
    if args.all and not args.output:
        raise EvosymError("codegen --all needs --output DIR")
    if args.force and not args.output:
        raise EvosymError("--force only applies with --output")
    out_dir = Path(args.output) if args.output else None
    if out_dir is not None and not out_dir.is_dir():
        raise EvosymError(f"output folder {out_dir} " + ("is not a folder" if out_dir.exists() else "does not exist"))
    if args.ptxas is not None and args.target != "cuda":
        raise EvosymError("--ptxas only applies with --target cuda")
    archs = []
    if args.ptxas is not None:
        from ..runtime.build import cuda_archs
        archs = cuda_archs(args.ptxas)
    if out_dir is not None:   # every file it may write, refused before any work (nothing half-written)
        from ..codegen.generate import filename
        for name in names:
            check_target(out_dir / filename(catalogue.load(name).name, args.target), force=args.force)
    for name in names:
        try:
            gen = generate(name, args.target)
        except EvosymError as exc:
            if not args.all or args.target == "torch":
                raise
            print(f"skipped {name}: {exc}", file=sys.stderr)   # --all: operators the target cannot lower
            continue
        if archs:
            from ..runtime.build import ptxas_report
            for arch in archs:
                for kernel, (regs, stores, loads) in ptxas_report(gen.source, arch).items():
                    print(f"{gen.plan.name} {arch} {kernel}: {regs} registers, {stores} B spill stores, "
                          f"{loads} B spill loads", file=sys.stderr)
        if out_dir is None:
            sys.stdout.write(gen.source)
        else:
            path = write_atomic(out_dir / gen.filename, gen.source, force=args.force)
            print(f"wrote {path}", file=sys.stderr)
        print(f"{gen.plan.name}: {gen.plan.path}: {gen.plan.reason}", file=sys.stderr)
    return 0


def _candidate(spec: str):
    """Import MODULE:ATTR; call it when it is a factory (not a module or a tensor function's class)."""
    import importlib
    import os

    import torch
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise EvosymError(f"--candidate takes MODULE:ATTR, e.g. my_pkg.layers:make_conv, not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise EvosymError(f"--candidate: cannot import {module_name}: {exc}") from None
    except AttributeError:
        raise EvosymError(f"--candidate: {module_name} has no {attr!r}") from None
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, torch.nn.Module)):
        try:
            obj = obj()
        except TypeError as exc:
            raise EvosymError(f"--candidate: {spec} must be a module or a function of no arguments that returns "
                              f"one ({exc})") from None
    return obj


def _check_candidate(args) -> int:
    from ..testing import assert_equivalent
    if args.all or not args.name:
        raise EvosymError("check --candidate needs one operator NAME")
    sizes = {}
    for item in args.size:
        key, eq, value = item.partition("=")
        if not eq or not value.strip().lstrip("-").isdigit():
            raise EvosymError(f"--size takes NAME=INTEGER, not {item!r}")
        sizes[key.strip()] = int(value)
    candidate = _candidate(args.candidate)
    try:
        report = assert_equivalent(candidate, args.name, sizes=sizes or None, seed=args.seed, gradients=args.gradients)
    except AssertionError as exc:
        print(f"NOT EQUIVALENT  {args.candidate} vs {args.name}\n{exc}")
        return 1
    print(f"EQUIVALENT  {args.candidate} vs {report.operator}: {len(report.trials)} comparisons "
          f"({', '.join(sorted({t[1] for t in report.trials}))}), sizes {report.sizes}")
    return 0


def cmd_check(args, parser) -> int:
    from ..codegen.check import check_operator
    if args.candidate:
        wrong = [flag for flag, given in (("--device cuda", args.device != "cpu"), ("--kernels/--emulated", args.kernels),
                                          ("--sanitize", args.sanitize)) if given]
        if wrong:   # assert_equivalent runs the candidate on the CPU; it never runs generated kernels
            raise EvosymError(f"{' and '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not apply with --candidate "
                              "(it compares on the CPU, against the proven operator)")
        return _check_candidate(args)
    if args.size or args.gradients:
        raise EvosymError("--size and --gradients apply with --candidate only (the generated code is checked at "
                          "the operator's grid and random sizes, with gradients)")
    names = _selected(args, "check")
    if args.sanitize:
        from ..runtime import build, sanitize
        if args.device != "cpu" or not args.kernels:
            raise EvosymError("--sanitize checks kernels built for the host: use it with --emulated or --kernels, "
                              "on the CPU")
        if not sanitize.requested():   # this process cannot load sanitized builds: a child process that can
            sys.stdout.flush()
            return sanitize.rerun(args.argv, build.compiler("host"))
    failed = []
    for name in names:
        report = check_operator(name, device=args.device, seed=args.seed, kernels=args.kernels,
                                gradcheck=not args.sanitize)   # under the sanitizers: the autograd comparison
        text = report.text()
        if not args.verbose:
            lines = text.splitlines()
            text = "\n".join([lines[0]] + [line for line in lines[1:] if "✗" in line or line.startswith("  note:")])
        print(text)
        if not report.ok:
            failed.append(report.name)
    if failed:
        print(f"evosym: check failed: {', '.join(failed)} (replay with --seed {args.seed} --verbose)", file=sys.stderr)
        return 1
    return 0


def _sizes(items) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise EvosymError(f"--size takes NAME=INTEGER, not {item!r}")
        out[key.strip()] = int(value)
    return out


def cmd_bench(args, parser) -> int:
    import torch

    from ..codegen.bench import bench_operator, table
    if args.repeat < 1:
        raise EvosymError("--repeat must be at least 1")
    sizes = _sizes(args.size)
    if args.kernels:
        from ..codegen.bench_kernels import bench_kernels
        if not args.name:
            raise EvosymError("bench --kernels needs an operator NAME")
        print(bench_kernels(args.name, device=args.device, sizes=sizes or None).text())
        return 0
    names = [args.name] if args.name else catalogue.catalogue_names()
    rows = []
    for name in names:
        rows.append(bench_operator(name, device=args.device, repeat=args.repeat, generic=not args.no_generic,
                                   sizes=sizes or None))
        print(f"measured {name}", file=sys.stderr)
    print(f"device: {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.repeat} interleaved rounds")
    print(table(rows))
    return 0


def cmd_table(args, parser) -> int:
    from ..analysis.report import table
    if args.force and not args.output:
        raise EvosymError("--force only applies with --output")
    if args.output:
        check_target(args.output, force=args.force)
    checked = [catalogue.checked(n) for n in catalogue.catalogue_names()]
    _emit(table(checked), args)
    return 0


def cmd_info(args, parser) -> int:
    from ..analysis.report import info
    cp = catalogue.checked(args.name)
    if not cp.ok:
        raise EvosymError(f"{args.name}: the proof does not check (see 'evosym prove {args.name}')")
    sys.stdout.write(info(cp))
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
            print(line)
        if problems:
            print(f"evosym: {len(problems)} generated doc file(s) out of date; run 'evosym docs --force'", file=sys.stderr)
            return 1
        print(f"docs up to date: {len(files)} generated files in {root}")
        return 0
    written = write_docs(files, root, force=args.force)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} of {len(files)} generated files changed in {root}")
    return 0


def cmd_selftest(args, parser) -> int:
    from ..selftest.run import run, summary
    rows = run(categories=set(args.category or ()))
    print(summary(rows, verbose=args.verbose))
    survivors = [m.name for m, o, _ in rows if not o.killed]
    if survivors:
        print(f"evosym: selftest: {len(survivors)} mutant(s) survived: {', '.join(survivors)}", file=sys.stderr)
        return 1
    return 0


__all__ = ["EvosymError", "cmd_info", "cmd_table", "cmd_selftest", "cmd_bench", "cmd_check", "cmd_codegen", "cmd_list", "cmd_prove", "cmd_rules"]
