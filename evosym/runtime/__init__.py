"""Building and calling evosym's generated kernels (CUDA, or the same source emulated on the host)."""
