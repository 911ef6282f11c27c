"""The kernel runtime: generated kernels built, cached and run as torch custom ops (the lowest layer).

It imports only the standard library and torch, so it also runs as a copy next to a generated module
(``evosym_runtime``, written by ``evosym codegen --standalone``). One copy per process: the ops it
defines (``evosym::aggregate``, …) are global to torch, and a second copy would replace them with ops
that know none of the first one's artifacts.
"""

import sys as _sys

_OTHER = [n for n in ("evosym.runtime", "evosym_runtime") if n != __name__ and n in _sys.modules]
if _OTHER:
    raise ImportError(f"another copy of evosym's kernel runtime ({_OTHER[0]}) is already loaded in this process; "
                      f"{__name__} would redefine its torch ops: use one copy (installed evosym, or a module's "
                      "evosym_runtime/)")
