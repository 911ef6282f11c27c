// evosym_index.h: the integer arithmetic that evosym's generated index functions are printed with
// (SymPy's floor, ceiling, Mod, Max and Min as evo_floordiv, evo_ceildiv, evo_mod, evo_max, evo_min),
// shared by the CPU and CUDA kernel sources. A generated source includes it first, then defines its
// sizes and index functions with EVO_FN, then includes its target's kernel header
// (evosym_cpu_window.h, evosym_cuda_window.h).
//
// EVO_FN marks a small function that the kernels call on the device and on the host: under nvcc
// __host__ __device__ __forceinline__, elsewhere (the CPU kernels, the CUDA source built for the host
// under evosym_emulate.h) plain inline.
#ifndef EVOSYM_INDEX_H
#define EVOSYM_INDEX_H

#if defined(__CUDACC__)
#define EVO_FN __host__ __device__ __forceinline__
#else
#define EVO_FN inline
#endif

typedef long long i64;

static EVO_FN i64 evo_floordiv(i64 a, i64 b) {
    const i64 q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static EVO_FN i64 evo_ceildiv(i64 a, i64 b) { return -evo_floordiv(-a, b); }
static EVO_FN i64 evo_mod(i64 a, i64 b) { return a - b * evo_floordiv(a, b); }
static EVO_FN i64 evo_max(i64 a, i64 b) { return a > b ? a : b; }
static EVO_FN i64 evo_min(i64 a, i64 b) { return a < b ? a : b; }
// a / b and a % b for a ≥ 0, b > 0: 32-bit arithmetic when both fit (64-bit division is emulated on GPUs)
static EVO_FN i64 evo_div(i64 a, i64 b) {
    return (((unsigned long long)(a | b)) >> 32) == 0 ? (i64)((unsigned)a / (unsigned)b) : a / b;
}
static EVO_FN i64 evo_rem(i64 a, i64 b) {
    return (((unsigned long long)(a | b)) >> 32) == 0 ? (i64)((unsigned)a % (unsigned)b) : a % b;
}
// a mod b for b > 0, the division skipped when a is already in [0, b) (every tap but a window's wrapped ones)
static EVO_FN i64 evo_wrap(i64 a, i64 b) { return (a >= 0 && a < b) ? a : evo_mod(a, b); }

#endif
