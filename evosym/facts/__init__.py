"""Kernel facts: what a checked proof's kernel is, computed once, read by the analysis, printers and lowering.

The tap form of K̂ (:mod:`.taps`: the kernel in window coordinates q = s·p + δ·u − P, verified at the
grid) and its channel and factor structure (:mod:`.factors`: groups, blocks of channels sharing a
kernel, premix and postmix factors), gathered once per checked proof in :mod:`.kernel`
(:func:`.kernel.kernel_facts`), with the kind of Ω (:mod:`.omega`), a softmax in K̂ (:mod:`.softmax`)
and the Dirichlet-convolution fact (:mod:`.divisors`). Below the printers, the property analysis and the code
generator, above the trusted core: nothing here imports them.
"""
