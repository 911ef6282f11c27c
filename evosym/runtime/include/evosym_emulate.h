// evosym_emulate.h: the CUDA built-ins that evosym's generated kernels use, for running the same
// kernel source on the host. Valid only for kernels whose threads never communicate (no shared
// memory, no barriers, no warp intrinsics): each thread then runs to completion on its own, so a
// loop over (block, thread) computes exactly what the GPU computes. Blocks run in parallel under
// OpenMP when the compiler has it and there is more than one; each OpenMP thread has its own
// blockIdx/threadIdx.
#ifndef EVOSYM_EMULATE_H
#define EVOSYM_EMULATE_H

struct dim3 {
    unsigned x, y, z;
};

static dim3 gridDim, blockDim;                // set before a launch, read-only during it
static thread_local dim3 blockIdx, threadIdx;   // per emulated thread

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

#if defined(_OPENMP)
#define EVO_PARALLEL_BLOCKS _Pragma("omp parallel for schedule(static) if (evo_nblocks > 1)")
#else
#define EVO_PARALLEL_BLOCKS
#endif

#define EVO_LAUNCH(kernel, blocks, threads, stream, ...)                                   \
    do {                                                                                     \
        (void)(stream);                                                                      \
        gridDim = dim3{(unsigned)(blocks), 1u, 1u};                                          \
        blockDim = dim3{(unsigned)(threads), 1u, 1u};                                        \
        const long long evo_nblocks = (long long)gridDim.x;                                  \
        EVO_PARALLEL_BLOCKS                                                                  \
        for (long long evo_b = 0; evo_b < evo_nblocks; ++evo_b) {                            \
            blockIdx = dim3{(unsigned)evo_b, 0u, 0u};                                        \
            for (unsigned evo_t = 0; evo_t < blockDim.x; ++evo_t) {                          \
                threadIdx = dim3{evo_t, 0u, 0u};                                             \
                kernel(__VA_ARGS__);                                                         \
            }                                                                                \
        }                                                                                    \
    } while (0)

#define EVO_LAST_ERROR() 0

#endif
