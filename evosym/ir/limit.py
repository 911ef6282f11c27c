"""A declared limit of an operator: a sharpness parameter α → ∞ under which a softmax becomes one-hot.

Some operators equal another only in a limit (Cordonnier et al.: attention with quadratic positional
logits becomes a convolution as α → ∞). The operator stays exact at every finite α, with its own
Evolution form; this declaration says which softmax sharpens, where it should peak, and what the limit
operator is, so that :mod:`evosym.proof.limit` can prove the limit step, check the limit operator
against an independent reference, and bound the error at finite α.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp


@dataclass(frozen=True)
class SoftmaxLimit:
    """``lim_{sharpness → ∞} weights[…, keys] = δ(keys, minimiser)``, and what the operator becomes then.

    ``weights`` names a softmax definition A := exp(ℓ)/Z whose key parameters are ``keys``;
    ``minimiser`` (one expression per key, in A's other parameters) is where each softmax should
    peak. ``target`` describes the limit operator, ``target_reference(tensors, sizes)`` computes it
    independently (torch), ``weight_map`` states the constructive map from the operator's parameters
    to the target's. ``errors`` are the weight errors for which the α needed is reported;
    ``alphas`` the sharpness values at which the measured error is compared with the bound (at least one, each finite
    and > 0; ``errors`` each in [1e-300, 2)): the check fails where these compare nothing.
    """

    weights: str
    sharpness: sp.Expr
    keys: tuple[sp.Symbol, ...]
    minimiser: tuple[sp.Expr, ...]
    target: str
    target_reference: Callable = field(compare=False)
    weight_map: str = ""
    errors: tuple[float, ...] = (1e-2, 1e-6)
    alphas: tuple[float, ...] = (1.0, 10.0)

    def __post_init__(self):
        if len(self.keys) != len(self.minimiser):
            raise ValueError(f"SoftmaxLimit: {len(self.keys)} key axes but {len(self.minimiser)} minimiser entries")
