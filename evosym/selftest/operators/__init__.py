"""Operators used by the self-test that the catalogue does not have: a position-specific kernel
(locally connected), an input-dependent one (a convolution gated by the centre pixel), and the
textbook convolution with a flipped kernel (a reflection, and a window whose offset can be negative).
They are also worked examples of operator files."""
