"""Rendering plans with jinja2: strict templates, a banner, byte-deterministic output."""

from __future__ import annotations

import functools
import importlib.resources
import re

import jinja2

from .. import __version__
from .. import attach_source_packages
from ..proof.codec import escaped
from .names import check_input_names, check_size_names
from .texts import fstring_text
from .plan import Plan

attach_source_packages()   # derivations/ and codegen/templates/ as subpackages in a source checkout

TEMPLATE = "torch/module.py.j2"


def environment(overrides: dict | None = None) -> jinja2.Environment:
    """The template environment: undefined names are errors, whitespace is controlled. Templates are found by
    name: ``torch/…`` and ``docs/…`` in ``evosym.templates``; ``<backend>/…`` in that backend's folder and
    ``common/…`` in the kernel templates' shared macros (:func:`.backends.template_folders`). Without
    ``overrides`` one environment per process, so that each template is compiled once (jinja2 recompiles one whose
    file changed; a backend registered later gets a new one): compiling the torch template at every render was ~14 %
    of the numeric checks' time."""
    if overrides:
        return _environment(overrides)
    from ..runtime import backends
    return _shared(backends.names())


@functools.lru_cache(maxsize=4)
def _shared(backends: tuple) -> jinja2.Environment:
    """The environment of the registered ``backends``' templates."""
    return _environment(None)


def _environment(overrides: dict | None) -> jinja2.Environment:
    from .backends import template_folders
    root = importlib.resources.files("evosym.templates")
    folders = {prefix: jinja2.FileSystemLoader(str(path)) for prefix, path in template_folders().items()}
    loader = jinja2.ChoiceLoader(([jinja2.DictLoader(overrides)] if overrides else [])   # (canaries: a changed text)
                                 + [jinja2.PrefixLoader(folders), jinja2.FileSystemLoader(str(root))])
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters["replace_sizes"] = lambda text: text
    env.filters["pyrepr"] = repr   # a Python string literal
    env.filters["fstring_text"] = fstring_text   # text inside an f-string (codegen/texts.py)
    return env


def template_source(template: str = TEMPLATE) -> str:
    """The text of a template (tests mutate it to show the numeric check catches template bugs)."""
    return environment().loader.get_source(environment(), template)[0]


def template_function(name: str) -> str:
    """The text of a helper function the torch template writes into every generated module (``_size``,
    ``_pad_axes`` …), up to the blank lines or the template tag after it: one text for the template, the divisor
    lowering's module and the tests that run the helper."""
    src = template_source()
    start = src.index(f"def {name}(")
    return src[start:min(i for i in (src.find("\n\n\n", start), src.find("{%", start), len(src)) if i >= 0)].rstrip()


def render_torch(plan: Plan, binding: dict | None = None, template: str = TEMPLATE, source: str | None = None,
                 regenerate: str | None = None, overrides: dict | None = None) -> str:
    """The generated torch module for ``plan`` (a string ending in one newline).

    ``source`` renders a given template text instead of the named template, ``overrides`` (name → text) other
    templates it imports, e.g. ``torch/macros.j2`` (for canaries).
    ``regenerate``: what the banner tells ``evosym codegen`` to regenerate the file from: the operator file's
    path as the user gave it (relative stays relative: the output is deterministic), else the operator's name.
    """
    if plan.divisor is not None and source is None:   # Ω = the divisors of n: its own lowering (codegen/divisors.py)
        from .divisors import render
        source = render(plan, binding)
        check_size_names(source, plan.name, plan.all_sizes)
        return source
    env = environment(overrides)
    tpl = env.from_string(source) if source is not None else env.get_template(template)
    source = tpl.render(plan=plan, binding=binding, version=__version__, template=template,
                        regenerate=escaped(regenerate or plan.name))   # a newline would end the banner's comment
    source = re.sub(r"\n{3,}(?=[^\n])", lambda m_: "\n\n\n" if m_.group(0).count("\n") > 2 else m_.group(0), source)
    check_input_names(source, plan.name, list(plan.inputs or [plan.value]) + list(plan.param_names))
    check_size_names(source, plan.name, plan.all_sizes)
    return source.rstrip("\n") + "\n"


def render_kernels(template: str, context: dict, name: str, source: str | None = None,
                   regenerate: str | None = None) -> str:
    """A kernel backend's source (ends in one newline): its ``template``, or ``source`` (a template text, for
    canaries), rendered with ``context``; the banner's "Regenerate:" line names ``regenerate`` (the operator file, as
    :func:`render_torch` takes it), else the operator ``name``."""
    env = environment()
    tpl = env.from_string(source) if source is not None else env.get_template(template)
    return tpl.render(**context, regenerate=escaped(regenerate or name)).rstrip("\n") + "\n"
