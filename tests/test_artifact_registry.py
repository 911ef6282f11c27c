"""evosym's tools register freshly generated artifacts with the runtime: once per checked proof, without
keeping the proof alive, and an operator without kernels is refused with the reason its target gave."""

from __future__ import annotations

import gc
import weakref

import pytest

from evosym import catalogue
from evosym.codegen.artifact import kernels_for, register_checked
from evosym.errors import EvosymError


@pytest.mark.parametrize("name, words", [("mhsa", "every input position (global)"),
                                         ("linear", "channels-first layouts")])
def test_no_kernels_says_why(name, words):
    with pytest.raises(EvosymError) as info:
        kernels_for(name)
    msg = str(info.value)
    assert msg.startswith(f"{name}: evosym generates no kernels") and words in msg
    assert msg.count(f"{name}:") == 1, msg


def test_registration_renders_once_and_does_not_keep_the_proof_alive():
    cp = catalogue.load("conv1d").proof().check()
    first = register_checked(cp)
    assert first is not None and register_checked(cp) == first
    ref = weakref.ref(cp)
    del cp
    gc.collect()
    assert ref() is None, "the registry keeps every checked proof it registered alive"
