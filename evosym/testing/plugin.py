"""pytest plugin (registered as the ``pytest11`` entry point ``evosym``): the ``evosym_equivalent``
fixture, so that a test is one line::

    def test_my_conv(evosym_equivalent):
        evosym_equivalent(MyConv(...), "conv2d")
"""

import pytest

from .equivalence import assert_equivalent


@pytest.fixture
def evosym_equivalent():
    """:func:`evosym.testing.assert_equivalent`."""
    return assert_equivalent
