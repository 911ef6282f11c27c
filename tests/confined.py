"""Tests that need the operator files' process confined: skipped where the kernel has no Landlock (there the process
runs unconfined, with a warning, and what they test does not hold)."""

from __future__ import annotations

import pytest

from evosym.isolation.landlock import abi

landlock_only = pytest.mark.skipif(not abi(), reason="this kernel has no Landlock: the operator files' process is not confined")
