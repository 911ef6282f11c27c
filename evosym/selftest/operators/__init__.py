"""Operators used by the self-test that the catalogue does not have: a position-specific kernel
(locally connected) and an input-dependent one (a convolution gated by the centre pixel)."""
