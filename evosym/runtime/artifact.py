"""Kernel artifacts: a manifest and the kernel sources it names, validated, registered, built on use.

``evosym codegen`` writes, next to a generated module that can run compiled kernels, a manifest
(``NAME.manifest.json``) and the kernel sources (``NAME.cpp`` for the CPU, ``NAME.cu`` for CUDA).
The manifest says what the runtime needs to call them: the operator's sizes in the order the
kernels read them (and their lower bounds), the input, output and window lengths and the channel
map as size expressions (:mod:`.sizeexpr`), whether the CUDA source has the fused attention, and
each source's SHA-256. The manifest carries the module's SHA-256 and each source's, so a manifest,
module and sources that were not generated together are refused rather than mixed.

Nothing here proves, plans or renders: the runtime imports no part of evosym's prover, catalogue or
code generator (a test reads the import graph), and runs where only torch and a compiler are
installed. A registered artifact is known by its *key*, ``operator@sha256(manifest)[:16]``; evosym's
own tools (``evosym check``, ``bench``) register freshly generated artifacts in memory
(:func:`register`), and may also register one under the bare operator name for their callers.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import stat
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import backends, cache, sizeexpr
from .build import build
from .errors import EvosymError

SCHEMA = "evosym-kernels/1"
SUFFIX = ".manifest.json"
_LOCK = threading.RLock()
_REGISTRY: dict = {}   # key (or an operator name given as alias) -> Kernels
_LOADED: dict = {}     # module path -> ((inode, mtime, size) of module and manifest, key): unchanged files are not re-read
_IDENT = sizeexpr.NAME
_MAX_MANIFEST = 1 << 20
_MAX_SOURCE = 64 << 20


@dataclass
class Kernels:
    """One operator's kernel sources and what is needed to call them (from its manifest)."""

    key: str
    name: str
    ident: str
    sizes: tuple             # size names, in the order the kernels read them
    lows: tuple              # each size's least value (0 or 1)
    batch: object            # size expressions (sizeexpr): the batch, the channel map (groups, O_g, C_g, share),
    channel_map: tuple       # the input and output lengths and the window's taps per axis
    lengths_in: tuple
    lengths_out: tuple
    taps: tuple
    dims: int
    source: str = ""         # the CUDA source ("" when there is none)
    cpu_source: str = ""     # the CPU kernels' C++ source (both kept by name: callers replace them; :meth:`text`)
    more_sources: dict = field(default_factory=dict)   # backend -> source of any other registered kernel backend
    refusals: dict = field(default_factory=dict)       # backend -> why it has no source (e.g. a window the CPU
    #                                                     target does not lower: the manifest's cpu_refusal)
    attention: bool = False  # the CUDA source also has the fused attention (runtime/attention.py)
    libraries: dict = field(default_factory=dict)   # (target, arch) -> (Library, ctypes.CDLL)
    agreed: set = field(default_factory=set)         # (library, sizes) whose lengths the kernels confirmed
    building: object = field(default_factory=threading.Lock, repr=False, compare=False)   # one build at a time

    def agree(self, cdll, sizes: tuple, zv) -> None:
        """An :class:`EvosymError` unless the kernels' own lengths at ``sizes`` (``evo_<op>_extents``, printed
        from the proof into the source) are the manifest's: an edited manifest cannot size a tensor the
        kernels then read or write past."""
        if (id(cdll), sizes) in self.agreed:
            return
        ext = self.extents(sizes)
        want = [ext["B"], ext["groups"], ext["og"], ext["cg"], ext["share"], *ext["in"], *ext["out"], *ext["taps"]]
        got = (ctypes.c_longlong * len(want))()
        getattr(cdll, f"evo_{self.ident}_extents")(zv, got)
        if list(got) != want:
            raise EvosymError(f"{self.name}: the manifest's lengths {want} are not its kernels' own {list(got)} at "
                              f"sizes {sizes} (B, groups, O_g, C_g, share, input, output, taps): a manifest that was "
                              "not generated with these sources; regenerate them together with evosym codegen")
        with _LOCK:
            self.agreed.add((id(cdll), sizes))

    def extents(self, sizes: tuple) -> dict:
        env = dict(zip(self.sizes, sizes))
        val = lambda e: sizeexpr.integer(e, env)  # noqa: E731
        groups, og, cg, share = (val(e) for e in self.channel_map)
        if share < 1 or groups % share:
            raise EvosymError(f"{self.name}: {groups} channel groups do not split into kernel groups of {share}")
        return {"B": val(self.batch), "groups": groups, "og": og, "cg": cg, "share": share,
                "in": tuple(val(e) for e in self.lengths_in), "out": tuple(val(e) for e in self.lengths_out),
                "taps": tuple(val(e) for e in self.taps)}

    def text(self, backend: str) -> str:
        """The source of the kernel backend ``backend`` ("" when the artifact has none)."""
        field_ = backends.get(backend).field
        return getattr(self, field_) if field_ else self.more_sources.get(backend, "")

    def library(self, device, backend: str | None = None):
        """(Library, CDLL) for ``device``: the target of :func:`.backends.target_for` — CUDA kernels on a
        GPU; on the CPU the CPU kernels, or the emulated CUDA source with ``backend="emulated"``."""
        spec = backends.target_for(device.type, backend, f"{self.name}: ")
        owner = backends.owner(spec)
        if spec.arch == "sm":
            import torch
            major, minor = torch.cuda.get_device_capability(device)
            arch = f"sm_{major}{minor}"
        else:
            arch = spec.name
        source = self.text(owner.name)
        if not source:
            raise EvosymError(self.refusals.get(owner.name) or f"{self.name}: its artifact has no {owner.label} source")
        target = spec.name
        if (target, arch) in self.libraries:
            return self.libraries[(target, arch)]
        with self.building:   # this artifact's build only: other artifacts' calls go on meanwhile
            if (target, arch) not in self.libraries:
                lib = build(source, target, arch if spec.arch == "sm" else None)
                try:
                    loaded = cache.load(lib.path)
                except cache.Unloadable as exc:   # (changed since it was checked: rebuilt once, then an error)
                    cache.discard(cache.Entry(lib.path.parent, lib.path.stem))
                    warnings.warn(f"evosym: {exc}: rebuilt", cache.KernelCacheWarning, stacklevel=2)
                    lib = build(source, target, arch if spec.arch == "sm" else None)
                    loaded = cache.load(lib.path)
                self.libraries[(target, arch)] = (lib, _bind(loaded, self, owner))
            return self.libraries[(target, arch)]


def _bind(cdll, k: Kernels, owner: backends.Backend):
    """Declare the library's entry points (kind, tensor pointers, i64 arrays: the sizes, then the kernel
    tensor's layout where there is one) — those of every kernel source and those its backend's ``abi``
    adds; a missing symbol is an error, not a crash."""
    kinds = [(kind, 3, 2) for kind in ("forward", "backward_input", "backward_kernel")]
    target = owner.name
    try:
        extents = getattr(cdll, f"evo_{k.ident}_extents")
        extents.argtypes = [ctypes.POINTER(ctypes.c_longlong)] * 2
        extents.restype = ctypes.c_int
        if "attend" in owner.abi:
            kinds.append(("attend", 3, 2))
        if "threads" in owner.abi:
            getattr(cdll, f"evo_{k.ident}_set_threads").argtypes = [ctypes.c_int]
        if "attention" in owner.abi and k.attention:
            kinds += [("attention_forward", 6, 2), ("attention_backward", 11, 2)]   # β, ∂β may be null
        for kind, pointers, arrays in kinds:
            for sfx in ("f32", "f64"):
                fn = getattr(cdll, f"evo_{k.ident}_{kind}_{sfx}")
                fn.argtypes = [ctypes.c_void_p] * pointers + [ctypes.POINTER(ctypes.c_longlong)] * arrays + [ctypes.c_void_p]
                fn.restype = ctypes.c_int
    except AttributeError as exc:
        raise EvosymError(f"{k.name}: the {target} library lacks an entry point its manifest promises ({exc})") from None
    return cdll


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_of(operator: str, manifest_sha: str) -> str:
    """The key of an artifact: its operator and the first 16 hex digits of its manifest's SHA-256."""
    return f"{operator}@{manifest_sha[:16]}"


def _field(data: dict, name: str, kind, where: str):
    if name not in data or not isinstance(data[name], kind) or (kind is int and isinstance(data[name], bool)):
        raise EvosymError(f"{where}: the manifest's {name!r} is missing or not a {getattr(kind, '__name__', kind)}")
    return data[name]


def _no_duplicates(pairs) -> dict:
    """A JSON object whose keys are each given once (a reader of the file sees what the runtime reads)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} is given twice")
        out[key] = value
    return out


def _read_regular(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (a pipe, device or folder is refused, never
    waited on or read without end)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise EvosymError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise EvosymError(f"{what} {path} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise EvosymError(f"{what} {path} is larger than {limit} bytes")
    return data


def _module_sha(data: bytes) -> str:
    """The SHA-256 a manifest records for its module: of the text with its line endings as \\n (a checkout that
    writes CRLF does not change the module)."""
    return _sha(data.replace(b"\r\n", b"\n"))


def parse(text: bytes, where: str) -> dict:
    """The manifest's fields, every one checked (types, names, size expressions), or a clear error."""
    try:
        data = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EvosymError(f"{where}: not a kernel manifest (invalid JSON: {str(exc)[:200]})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise EvosymError(f"{where}: not a kernel manifest of schema {SCHEMA} (found {found!r}); regenerate it with "
                          "evosym codegen")
    name = _field(data, "operator", str, where)
    ident = _field(data, "ident", str, where)
    if not _IDENT.match(ident) or not name:
        raise EvosymError(f"{where}: the manifest's operator name or identifier is malformed")
    sizes = _field(data, "sizes", list, where)
    if not sizes or not all(isinstance(s, list) and len(s) == 2 and isinstance(s[0], str) and _IDENT.match(s[0])
                            and s[0] not in sizeexpr.OPERATIONS and type(s[1]) is int and s[1] in (0, 1) for s in sizes):
        raise EvosymError(f"{where}: the manifest's sizes must be [identifier, 0 or 1] pairs")
    names = frozenset(s[0] for s in sizes)
    if len(names) != len(sizes):
        raise EvosymError(f"{where}: the manifest names a size twice")
    dims = _field(data, "dims", int, where)
    exprs = {}
    for what, count in (("batch", None), ("channel_map", 4), ("lengths_in", dims), ("lengths_out", dims), ("taps", dims)):
        value = data.get(what)
        items = [value] if count is None else value
        if count is not None and (not isinstance(value, list) or len(value) != count):
            raise EvosymError(f"{where}: the manifest's {what} must list {count} size expressions")
        for e in items:
            sizeexpr.validate(e, names, f"{where}: {what}")
        exprs[what] = value if count is None else tuple(value)
    sources = _field(data, "sources", dict, where)
    for target, entry in sources.items():
        if target not in {b.name for b in backends.kernel_backends()} or not isinstance(entry, dict) or set(entry) != {"file", "sha256"} \
                or not isinstance(entry["file"], str) or not isinstance(entry["sha256"], str) \
                or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            raise EvosymError(f"{where}: the manifest's source entry {target!r} is malformed")
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", entry["file"]):
            raise EvosymError(f"{where}: the manifest's {target} source must be a file name in its own folder, "
                              f"not {entry['file']!r}")
    module_sha = data.get("module_sha256")
    if not isinstance(module_sha, str) or not re.fullmatch(r"[0-9a-f]{64}", module_sha):
        raise EvosymError(f"{where}: the manifest's module_sha256 is missing or malformed")
    refusals = {}
    for b in backends.kernel_backends():   # an optional kernel backend says why it has no source: <name>_refusal
        if b.name in sources and not sources[b.name]["file"].endswith(b.suffix):
            raise EvosymError(f"{where}: the manifest's {b.name} source {sources[b.name]['file']!r} is not a {b.suffix} "
                              "file (regenerate the module, manifest and sources together with evosym codegen)")
        if b.required:
            if b.name not in sources:
                raise EvosymError(f"{where}: the manifest names no {b.label} source, which every kernel artifact has")
            continue
        refusal = _field(data, f"{b.name}_refusal", str, where)
        if bool(refusal) == (b.name in sources):
            raise EvosymError(f"{where}: the manifest must give either a {b.label} source or the reason it has none "
                              f"({b.name}_refusal), " + ("not both" if refusal else "not neither"))
        if refusal:
            refusals[b.name] = f"{name}: no {b.label} kernels (its manifest says: {refusal[:300]})"
    return dict(name=name, ident=ident, module_sha256=module_sha, sizes=tuple(s[0] for s in sizes), lows=tuple(s[1] for s in sizes), dims=dims,
                attention=bool(_field(data, "attention", bool, where)), refusals=refusals, sources=sources, **exprs)


def register(manifest: bytes, sources: dict, *, alias: str | None = None, where: str = "<memory>") -> str:
    """Register an artifact given as data: the manifest's bytes and ``sources`` (target → source text,
    each matching its SHA-256 in the manifest). Returns its key; ``alias`` (an operator name) also
    finds it, the latest registration winning."""
    fields = parse(manifest, where)
    fields.pop("module_sha256")
    texts = {}
    for target, entry in fields.pop("sources").items():
        text = sources.get(target)
        if text is None or _sha(text.encode("utf-8")) != entry["sha256"]:
            raise EvosymError(f"{where}: the {target} source does not match the manifest's SHA-256 (regenerate the "
                              "module, manifest and sources together with evosym codegen)")
        texts[target] = text
    key = key_of(fields["name"], _sha(manifest))
    with _LOCK:
        if key not in _REGISTRY:
            named = {b.field: texts.pop(b.name, "") for b in backends.kernel_backends() if b.field}
            _REGISTRY[key] = Kernels(key=key, **named, more_sources=texts, **fields)
        if alias is not None:
            _REGISTRY[alias] = _REGISTRY[key]
        return key


def load(module_file, name: str, key: str | None = None) -> str:
    """The key of a generated module's artifact: the manifest ``NAME.manifest.json`` next to the module
    file, which must record that file's SHA-256 (module, manifest and sources generated together), and
    the sources it names, each checked against its SHA-256 (their lengths are checked against the
    compiled kernels' own before any launch: :meth:`Kernels.agree`). A module run from a string (no file:
    how ``evosym check`` runs fresh generations) passes the ``key`` its runner registered, else finds the
    artifact registered under its operator's name. Unchanged files are not read again."""
    if key is not None:
        return kernels(key).key
    if not module_file:
        return kernels(name).key
    module = Path(module_file).resolve()
    path = module.with_name(module.stem + SUFFIX)
    try:
        stamp = tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in (os.stat(module), os.stat(path)))
    except OSError as exc:
        raise EvosymError(f"{name}: no kernel artifact next to {module}: cannot read {path} "
                          f"({exc.strerror or exc}); `evosym codegen {name} --output DIR --kernels` writes the module "
                          "with its manifest and kernel sources where the operator has generated kernels") from None
    with _LOCK:
        if _LOADED.get(str(module), (None,))[0] == stamp:
            return _LOADED[str(module)][1]
    manifest = _read_regular(path, _MAX_MANIFEST, "the kernel manifest")
    module_sha = _module_sha(_read_regular(module, _MAX_SOURCE, "the module"))
    fields = parse(manifest, str(path))
    if fields["module_sha256"] != module_sha:
        raise EvosymError(f"{path} was not generated with {module.name} (the module's SHA-256 differs): regenerate the "
                          "module, manifest and sources together with evosym codegen")
    if fields["name"] != name:
        raise EvosymError(f"{path} is the manifest of {fields['name']!r}, not of {name!r}")
    sources = {}
    for target, entry in fields["sources"].items():
        file = path.parent / entry["file"]
        data = _read_regular(file, _MAX_SOURCE, f"the {target} kernel source")
        try:
            sources[target] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise EvosymError(f"the {target} kernel source {file} is not UTF-8 text") from None
    key = register(manifest, sources, where=str(path))
    with _LOCK:
        _LOADED[str(module)] = (stamp, key)
    return key


def kernels(key: str) -> Kernels:
    """The registered artifact ``key`` (or alias), or a clear error saying how to register it."""
    with _LOCK:
        k = _REGISTRY.get(key)
    if k is None:
        raise EvosymError(f"no generated kernels are registered as {key!r}: a generated module loads its own "
                          "(manifest next to it); in evosym, evosym.codegen.artifact.kernels_for(NAME) registers an operator's")
    return k
