"""Check your own implementation of an operator against its proven Evolution form.

    from evosym.testing import assert_equivalent
    assert_equivalent(my_conv, "conv2d")                      # an nn.Conv2d-like module: sizes read from it
    assert_equivalent(MyGroupedConv(...), "conv2d", sizes={"G": 2, "C_g": 3, ...})

Like ``torch.testing.assert_close``, it returns nothing when the candidate agrees and raises an
``AssertionError`` that says where and, when it can tell, which kernel property the candidate
breaks. See docs/testing.md.
"""

from .equivalence import Report, assert_equivalent

__all__ = ["Report", "assert_equivalent"]
