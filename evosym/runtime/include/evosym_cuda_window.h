// evosym_cuda_window.h: the CUDA kernels of a windowed Evolution form (forward, gradient w.r.t. the input,
// gradient w.r.t. the kernel) and their launchers, written once for every operator and every number of
// spatial axes. A generated source (codegen/templates/cuda/kernels.cu.j2) holds only what differs per
// operator, printed by SymPy from the proof, and includes this header after it:
//
//   #define EVO_THREADS n, EVO_MAX_CHUNK n   the launch's block size and the tuning knob (defaults below)
//   #define EVO_DIMS d                 the number of spatial axes (1 to 3)
//   #include "evosym_index.h"          i64, evo_floordiv … (what the printed expressions call), EVO_FN
//   struct evo_sizes { … };            the sizes, and evo_unpack_sizes(zv, &z) in the manifest's order
//   evo_batch, evo_groups, evo_og, evo_cg, evo_share   the channel map (static EVO_FN, const evo_sizes&)
//   evo_window_fits(z)                 what the window needs of the sizes (true when nothing)
//   template <> struct evo_axis<A>     per axis A < d: affine, wrap (constexpr bool); len_in, len_out, taps,
//                                      stride, dilation (z); q(z, p, u); tap_lo(z, p), tap_hi(z, p): the taps
//                                      of p inside the input; on an affine axis the inverse over taps
//                                      p_num(z, q, u) (= s·p), back_lo(z, q), back_hi(z, q); on any other the
//                                      inverse over positions start(z, p), first(z, t), last(z, t),
//                                      copy_lo(z, q), copy_hi(z, q) (evosym.codegen.window_maps)
//   #include "evosym_cuda_window.h"
//
// and then its extern "C" entry points, which call evo_run_forward, evo_run_backward_input and
// evo_run_backward_kernel below (and, with the fused attention, evosym_cuda_attention.h's).
//
// y[b, g*O_g + o', p] = sum_c' sum_u kt[b, g/share, o', c', u.., p..] * x~[b, g*C_g + c', q(p, u)]
// kt is the kernel K^ in tap coordinates, computed by the generated PyTorch module; any axis of kt may have
// length 1 (broadcast). Threads never communicate (no shared memory, no barriers, no warp intrinsics), so the
// same source runs on the host under evosym_emulate.h. Data reuse comes from registers instead: a thread
// computes all the channels (up to EVO_MAX_CHUNK) that share one kernel value, loading it once. Loops over
// the axes are nested by template recursion (evo_tap_loops, evo_inverse_loops), so each operator compiles to
// the loop nest its axes need; the last axis's loop is written out in each kernel.
// Standalone: no torch headers.
#ifndef EVOSYM_CUDA_WINDOW_H
#define EVOSYM_CUDA_WINDOW_H

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define EVO_LAUNCH(kernel, blocks, threads, stream, ...) \
    kernel<<<(blocks), (threads), 0, (cudaStream_t)(stream)>>>(__VA_ARGS__)
#define EVO_LAST_ERROR() ((int)cudaGetLastError())
#define EVO_UNROLL _Pragma("unroll")
#else
#include "evosym_emulate.h"
#define EVO_UNROLL
#endif

#ifndef EVO_THREADS
#define EVO_THREADS 256
#endif
#ifndef EVO_MAX_CHUNK
#define EVO_MAX_CHUNK 16   // most channels per thread that share one kernel: 16, 8, 4, 2 or 1
#endif

#include "evosym_axes.h"

#define EVO_LAST (EVO_DIMS - 1)   // the last (innermost) spatial axis
typedef evo_axis<EVO_LAST> evo_last;

// the lengths unflattened by evo_unflatten: output positions, input positions, taps
#define EVO_OUT 0
#define EVO_IN 1
#define EVO_TAPS 2
static EVO_FN i64 evo_length(const evo_sizes& z, const int kind, const int a) {
    return kind == EVO_OUT ? evo_len_out(z, a) : kind == EVO_IN ? evo_len_in(z, a) : evo_taps(z, a);
}
// v[a] from `rest` (row-major, the last axis fastest); rest keeps what is left (channels, batch)
static EVO_FN void evo_unflatten(const evo_sizes& z, const int kind, i64& rest, i64* v) {
    EVO_UNROLL
    for (int a = EVO_DIMS - 1; a >= 0; --a) {
        v[a] = evo_rem(rest, evo_length(z, kind, a));
        rest = evo_div(rest, evo_length(z, kind, a));
    }
}
// the offset in kt of the taps u and positions p of every axis
static EVO_FN i64 evo_kt_offset(const evo_layout& kl, const i64* u, const i64* p) {
    i64 off = 0;
    EVO_UNROLL
    for (int a = 0; a < EVO_DIMS; ++a) off += u[a] * kl.stride[4 + a] + p[a] * kl.stride[4 + EVO_DIMS + a];
    return off;
}

// the taps of the affine axes that read input position q: [back_lo(q), back_hi(q)] (other axes: unused)
template <int A>
EVO_FN void evo_back_range(const evo_sizes& z, const i64* q, i64* blo, i64* bhi) {
    if constexpr (A < EVO_DIMS) {
        if constexpr (evo_axis<A>::affine) {
            blo[A] = evo_axis<A>::back_lo(z, q[A]);
            bhi[A] = evo_axis<A>::back_hi(z, q[A]);
        } else {
            blo[A] = 0;
            bhi[A] = -1;
        }
        evo_back_range<A + 1>(z, q, blo, bhi);
    }
}

// for A ≤ a < EVO_DIMS, nested in axis order, the (p[a], u[a]) whose tap reads input position q[a]; then
// body(). An affine axis runs over its taps (p = (q − δ·u + P)/s), any other over its output positions.
template <int A, typename F>
EVO_LOOP void evo_inverse_loops(const evo_sizes& z, const i64* q, const i64* blo, const i64* bhi, i64* p, i64* u,
                                F& body) {
    typedef evo_axis<(A < EVO_DIMS ? A : 0)> ax;
    if constexpr (A >= EVO_DIMS) {
        body();
    } else if constexpr (ax::affine) {
        const i64 s = ax::stride(z);
        for (u[A] = blo[A]; u[A] <= bhi[A]; ++u[A]) {
            const i64 n = ax::p_num(z, q[A], u[A]);   // in [0, s·(L_out − 1)]
            if (s != 1 && evo_rem(n, s) != 0) continue;
            p[A] = s == 1 ? n : evo_div(n, s);
            evo_inverse_loops<A + 1>(z, q, blo, bhi, p, u, body);
        }
    } else {
        for (i64 m = ax::copy_lo(z, q[A]); m <= ax::copy_hi(z, q[A]); ++m) {   // t = q + m·L_in
            const i64 t = q[A] + m * ax::len_in(z);
            for (p[A] = ax::first(z, t); p[A] <= ax::last(z, t); ++p[A]) {
                const i64 d = t - ax::start(z, p[A]);            // = δ·u when p's window reads t
                if (d < 0 || evo_rem(d, ax::dilation(z)) != 0) continue;
                u[A] = evo_div(d, ax::dilation(z));
                if (u[A] >= ax::taps(z)) continue;
                evo_inverse_loops<A + 1>(z, q, blo, bhi, p, u, body);
            }
        }
    }
}

static int evo_blocks(i64 total, unsigned* blocks) {
    if (total <= 0) return -1;                       // nothing to compute
    const i64 n = (total + EVO_THREADS - 1) / EVO_THREADS;
    if (n > 2147483647LL) return 1001;               // more blocks than a 1-D grid holds: refuse, never skip
    *blocks = (unsigned)n;
    return 0;
}

// channels per thread in the kernels that share one kernel across channels (O_g = C_g = 1): the
// largest power of two up to EVO_MAX_CHUNK dividing share; 0 when channels mix (O_g or C_g > 1)
static int evo_chunk(const evo_sizes& z) {
    if (evo_og(z) != 1 || evo_cg(z) != 1) return 0;
    const i64 share = evo_share(z);
    for (int ch = EVO_MAX_CHUNK; ch > 1; ch /= 2)
        if (ch <= 16 && share % ch == 0) return ch;
    return 1;
}

// O_g = C_g = 1 and kt given at full length on every axis (nothing broadcast)
static bool evo_kernel_is_full(const evo_sizes& z, const evo_layout& kl) {
    i64 full[EVO_AXES];
    evo_full_layout(z, 1, 1, full);
    if (evo_og(z) != 1 || evo_cg(z) != 1) return false;
    for (int a = 0; a < EVO_AXES; ++a)
        if (kl.size[a] != full[a]) return false;
    return true;
}

// a launch of kernel<CH> for the chunk ch (16, 8, 4, 2), else of fallback
#define EVO_DISPATCH(ch, kernel, fallback, ...)                 \
    do {                                                         \
        if ((ch) == 16) EVO_LAUNCH(kernel<16>, __VA_ARGS__);     \
        else if ((ch) == 8) EVO_LAUNCH(kernel<8>, __VA_ARGS__);  \
        else if ((ch) == 4) EVO_LAUNCH(kernel<4>, __VA_ARGS__);  \
        else if ((ch) == 2) EVO_LAUNCH(kernel<2>, __VA_ARGS__);  \
        else EVO_LAUNCH(fallback, __VA_ARGS__);                  \
    } while (0)

// ============================ the kernels (T: float or double) ============================

// y[b, o, p]: one thread per output element; taps clamped to the input (no per-tap branch)
template <typename T>
__global__ void evo_forward(const T* __restrict__ x, const T* __restrict__ kt,
                                  T* __restrict__ y, const evo_sizes z, const evo_layout kl, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 rest = idx, p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], lo[EVO_DIMS], hi[EVO_DIMS];
    evo_unflatten(z, EVO_OUT, rest, p);
    const i64 og = evo_og(z), cg = evo_cg(z), channels_out = evo_groups(z) * og;
    const i64 o = evo_rem(rest, channels_out), b = evo_div(rest, channels_out);
    const i64 g = evo_div(o, og), o1 = evo_rem(o, og);
    const T* kb = kt + b * kl.stride[0] + evo_div(g, evo_share(z)) * kl.stride[1] + o1 * kl.stride[2];
    for (int a = 0; a < EVO_DIMS; ++a) kb += p[a] * kl.stride[4 + EVO_DIMS + a];
    evo_tap_range(z, p, lo, hi);
    T acc = 0;
    for (i64 c1 = 0; c1 < cg; ++c1) {
        const T* xc = x + (b * evo_groups(z) * cg + g * cg + c1) * evo_plane_in(z);
        const T* kc = kb + c1 * kl.stride[3];
        auto row = [&]() {   // the innermost axis: pointers advance by the kernel stride and the dilation
            const T* kp = kc + lo[EVO_LAST] * kl.stride[4 + EVO_LAST];
            for (int a = 0; a < EVO_LAST; ++a) kp += u[a] * kl.stride[4 + a];
            const i64 kstep = kl.stride[4 + EVO_LAST];
            if constexpr (evo_last::wrap) {   // it wraps around: each tap's input position is wrapped
                q[EVO_LAST] = 0;
                const T* xrow = xc + evo_flat_in(z, q, EVO_DIMS);
                for (i64 ul = lo[EVO_LAST]; ul <= hi[EVO_LAST]; ++ul, kp += kstep)
                    acc += *kp * xrow[evo_last::q(z, p[EVO_LAST], ul)];
            } else {
                q[EVO_LAST] = evo_last::q(z, p[EVO_LAST], lo[EVO_LAST]);
                const T* xp = xc + evo_flat_in(z, q, EVO_DIMS);
                const i64 xstep = evo_last::dilation(z);
                for (i64 ul = lo[EVO_LAST]; ul <= hi[EVO_LAST]; ++ul, kp += kstep, xp += xstep) acc += *kp * *xp;
            }
        };
        evo_tap_loops<0, EVO_LAST>(z, p, lo, hi, u, q, row);
    }
    y[idx] = acc;
}

// y for one kernel shared by each block of channels (O_g = C_g = 1, share > 1): one thread per
// (b, kernel group, chunk of CH channels, p); each kernel value is loaded once for CH channels
template <int CH, typename T>
__global__ void evo_forward_shared(const T* __restrict__ x, const T* __restrict__ kt,
                                         T* __restrict__ y, const evo_sizes z, const evo_layout kl, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 rest = idx, p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], lo[EVO_DIMS], hi[EVO_DIMS];
    evo_unflatten(z, EVO_OUT, rest, p);
    const i64 share = evo_share(z), chunks = evo_div(share, CH), kgroups = evo_div(evo_groups(z), share);
    const i64 chunk = evo_rem(rest, chunks);
    rest = evo_div(rest, chunks);
    const i64 gk = evo_rem(rest, kgroups), b = evo_div(rest, kgroups);
    const i64 c0 = gk * share + chunk * CH;                      // first channel (= group, C_g = 1) of this thread
    const i64 plane_in = evo_plane_in(z), plane_out = evo_plane_out(z);
    const T* kb = kt + b * kl.stride[0] + gk * kl.stride[1];
    for (int a = 0; a < EVO_DIMS; ++a) kb += p[a] * kl.stride[4 + EVO_DIMS + a];
    const T* xc = x + (b * evo_groups(z) + c0) * plane_in;
    evo_tap_range(z, p, lo, hi);
    T acc[CH];
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) acc[r] = 0;
    auto row = [&]() {   // the innermost axis
        const T* kp = kb + lo[EVO_LAST] * kl.stride[4 + EVO_LAST];
        for (int a = 0; a < EVO_LAST; ++a) kp += u[a] * kl.stride[4 + a];
        const i64 kstep = kl.stride[4 + EVO_LAST];
        if constexpr (evo_last::wrap) {   // the row's start: each tap's input position is wrapped
            q[EVO_LAST] = 0;
            const T* xrow = xc + evo_flat_in(z, q, EVO_DIMS);
            for (i64 ul = lo[EVO_LAST]; ul <= hi[EVO_LAST]; ++ul, kp += kstep) {
                const T kv = *kp;
                const T* xp = xrow + evo_last::q(z, p[EVO_LAST], ul);
                EVO_UNROLL
                for (int r = 0; r < CH; ++r) acc[r] += kv * xp[r * plane_in];
            }
        } else {
            q[EVO_LAST] = evo_last::q(z, p[EVO_LAST], lo[EVO_LAST]);
            const T* xp = xc + evo_flat_in(z, q, EVO_DIMS);
            const i64 xstep = evo_last::dilation(z);
            for (i64 ul = lo[EVO_LAST]; ul <= hi[EVO_LAST]; ++ul, kp += kstep, xp += xstep) {
                const T kv = *kp;
                EVO_UNROLL
                for (int r = 0; r < CH; ++r) acc[r] += kv * xp[r * plane_in];
            }
        }
    };
    evo_tap_loops<0, EVO_LAST>(z, p, lo, hi, u, q, row);
    T* yp = y + (b * evo_groups(z) + c0) * plane_out + evo_flat_out(z, p, EVO_DIMS);
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) yp[r * plane_out] = acc[r];
}

// dx[b, c, q]: one thread per input element; p = (q - beta(u)) / s where that is an output position
template <typename T>
__global__ void evo_backward_input(const T* __restrict__ kt, const T* __restrict__ dy,
                                         T* __restrict__ dx, const evo_sizes z, const evo_layout kl, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 rest = idx, p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], blo[EVO_DIMS], bhi[EVO_DIMS];
    evo_unflatten(z, EVO_IN, rest, q);
    const i64 og = evo_og(z), cg = evo_cg(z), channels_in = evo_groups(z) * cg;
    const i64 c = evo_rem(rest, channels_in), b = evo_div(rest, channels_in);
    const i64 g = evo_div(c, cg), c1 = evo_rem(c, cg);
    const T* kb = kt + b * kl.stride[0] + evo_div(g, evo_share(z)) * kl.stride[1] + c1 * kl.stride[3];
    evo_back_range<0>(z, q, blo, bhi);
    T acc = 0;
    for (i64 o1 = 0; o1 < og; ++o1) {
        const T* dyo = dy + (b * evo_groups(z) * og + g * og + o1) * evo_plane_out(z);
        const T* ko = kb + o1 * kl.stride[2];
        auto tap = [&]() { acc += ko[evo_kt_offset(kl, u, p)] * dyo[evo_flat_out(z, p, EVO_DIMS)]; };
        evo_inverse_loops<0>(z, q, blo, bhi, p, u, tap);
    }
    dx[idx] = acc;
}

// dx for one kernel shared by each block of channels (O_g = C_g = 1): one thread per (b, kernel group,
// chunk of CH channels, q); each kernel value is loaded once for CH channels
template <int CH, typename T>
__global__ void evo_backward_input_shared(const T* __restrict__ kt, const T* __restrict__ dy,
                                                T* __restrict__ dx, const evo_sizes z, const evo_layout kl, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 rest = idx, p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], blo[EVO_DIMS], bhi[EVO_DIMS];
    evo_unflatten(z, EVO_IN, rest, q);
    const i64 share = evo_share(z), chunks = evo_div(share, CH), kgroups = evo_div(evo_groups(z), share);
    const i64 chunk = evo_rem(rest, chunks);
    rest = evo_div(rest, chunks);
    const i64 gk = evo_rem(rest, kgroups), b = evo_div(rest, kgroups);
    const i64 c0 = gk * share + chunk * CH, plane_in = evo_plane_in(z), plane_out = evo_plane_out(z);
    const T* kb = kt + b * kl.stride[0] + gk * kl.stride[1];
    const T* dyc = dy + (b * evo_groups(z) + c0) * plane_out;
    evo_back_range<0>(z, q, blo, bhi);
    T acc[CH];
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) acc[r] = 0;
    auto tap = [&]() {
        const T kv = kb[evo_kt_offset(kl, u, p)];
        const T* dyp = dyc + evo_flat_out(z, p, EVO_DIMS);
        EVO_UNROLL
        for (int r = 0; r < CH; ++r) acc[r] += kv * dyp[r * plane_out];
    };
    evo_inverse_loops<0>(z, q, blo, bhi, p, u, tap);
    T* dxp = dx + (b * evo_groups(z) + c0) * plane_in + evo_flat_in(z, q, EVO_DIMS);
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) dxp[r * plane_in] = acc[r];
}

// dkt where O_g = C_g = 1 and kt has every axis at full length (a kernel per sample, kernel group, tap
// and position, as involution's): one thread per entry, positions innermost (coalesced), summing the
// share channels of its kernel group; a tap outside the input gets 0
template <typename T>
__global__ void evo_backward_kernel_full(const T* __restrict__ x, const T* __restrict__ dy,
                                               T* __restrict__ dkt, const evo_sizes z, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 rest = idx, p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS];
    evo_unflatten(z, EVO_OUT, rest, p);
    evo_unflatten(z, EVO_TAPS, rest, u);
    const i64 share = evo_share(z), kgroups = evo_div(evo_groups(z), share);
    const i64 gk = evo_rem(rest, kgroups), b = evo_div(rest, kgroups);
    T acc = 0;
    if (evo_offsets(z, p, u, q)) {
        const i64 c0 = gk * share, plane_in = evo_plane_in(z), plane_out = evo_plane_out(z);
        const T* xp = x + (b * evo_groups(z) + c0) * plane_in + evo_flat_in(z, q, EVO_DIMS);
        const T* dyp = dy + (b * evo_groups(z) + c0) * plane_out + evo_flat_out(z, p, EVO_DIMS);
        for (i64 c = 0; c < share; ++c) acc += dyp[c * plane_out] * xp[c * plane_in];
    }
    dkt[idx] = acc;
}

// for A ≤ a < EVO_DIMS, nested in axis order: u[a] over [lo[4 + a], hi[4 + a]), p[a] over
// [lo[4 + d + a], hi[4 + d + a]), q[a] = q(p[a], u[a]) when inside the input; then body()
template <int A, typename F>
EVO_LOOP void evo_entry_loops(const evo_sizes& z, const i64* lo, const i64* hi, i64* p, i64* u, i64* q, F& body) {
    if constexpr (A >= EVO_DIMS) {
        body();
    } else {
        for (u[A] = lo[4 + A]; u[A] < hi[4 + A]; ++u[A])
            for (p[A] = lo[4 + EVO_DIMS + A]; p[A] < hi[4 + EVO_DIMS + A]; ++p[A]) {
                q[A] = evo_axis<A>::q(z, p[A], u[A]);
                if (q[A] < 0 || q[A] >= evo_axis<A>::len_in(z)) continue;
                evo_entry_loops<A + 1>(z, lo, hi, p, u, q, body);
            }
    }
}

// dkt: one thread per entry of kt as given; an axis of length 1 sums over its full extent
template <typename T>
__global__ void evo_backward_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                          T* __restrict__ dkt, const evo_sizes z, const evo_layout kl, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 full[EVO_AXES];
    evo_full_layout(z, evo_og(z), evo_cg(z), full);
    i64 lo[EVO_AXES], hi[EVO_AXES];
    i64 rest = idx;
    for (int a = EVO_AXES - 1; a >= 0; --a) {
        const i64 i = evo_rem(rest, kl.size[a]);
        rest = evo_div(rest, kl.size[a]);
        lo[a] = kl.size[a] == 1 ? 0 : i;
        hi[a] = kl.size[a] == 1 ? full[a] : i + 1;
    }
    const i64 og = evo_og(z), cg = evo_cg(z), share = evo_share(z);
    T acc = 0;
    for (i64 b = lo[0]; b < hi[0]; ++b)
    for (i64 gk = lo[1]; gk < hi[1]; ++gk)
    for (i64 g = gk * share; g < (gk + 1) * share; ++g)
    for (i64 o1 = lo[2]; o1 < hi[2]; ++o1)
    for (i64 c1 = lo[3]; c1 < hi[3]; ++c1) {
        const T* xc = x + (b * evo_groups(z) * cg + g * cg + c1) * evo_plane_in(z);
        const T* dyo = dy + (b * evo_groups(z) * og + g * og + o1) * evo_plane_out(z);
        i64 p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS];
        auto tap = [&]() { acc += dyo[evo_flat_out(z, p, EVO_DIMS)] * xc[evo_flat_in(z, q, EVO_DIMS)]; };
        evo_entry_loops<0>(z, lo, hi, p, u, q, tap);
    }
    dkt[idx] = acc;
}

// ---- the launchers the entry points call: 0, or an error code (1001: too many blocks; 1003: the window
// does not fit the sizes; CUDA's own) ----

template <typename T>
static int evo_run_forward(const T* x, const T* kt, T* y, const i64* zv, const i64* layout, void* stream) {
    evo_sizes z;
    evo_layout kl;
    evo_unpack(zv, layout, &z, &kl);
    if (!evo_window_fits(z)) return 1003;
    const int ch = evo_chunk(z);
    unsigned blocks = 0;
    const i64 total = evo_batch(z) * evo_groups(z) * evo_og(z) * evo_plane_out(z) / (ch > 0 ? ch : 1);
    const int rc = evo_blocks(total, &blocks);
    if (rc) return rc < 0 ? 0 : rc;
    EVO_DISPATCH(ch, evo_forward_shared, evo_forward, blocks, EVO_THREADS, stream, x, kt, y, z, kl, total);
    return EVO_LAST_ERROR();
}

template <typename T>
static int evo_run_backward_input(const T* kt, const T* dy, T* dx, const i64* zv, const i64* layout, void* stream) {
    evo_sizes z;
    evo_layout kl;
    evo_unpack(zv, layout, &z, &kl);
    if (!evo_window_fits(z)) return 1003;
    const int ch = evo_chunk(z);
    const i64 total = evo_batch(z) * evo_groups(z) * evo_cg(z) * evo_plane_in(z) / (ch > 1 ? ch : 1);
    unsigned blocks = 0;
    const int rc = evo_blocks(total, &blocks);
    if (rc) return rc < 0 ? 0 : rc;
    EVO_DISPATCH(ch, evo_backward_input_shared, evo_backward_input, blocks, EVO_THREADS, stream, kt, dy, dx, z, kl,
                 total);
    return EVO_LAST_ERROR();
}

template <typename T>
static int evo_run_backward_kernel(const T* x, const T* dy, T* dkt, const i64* zv, const i64* layout, void* stream) {
    evo_sizes z;
    evo_layout kl;
    evo_unpack(zv, layout, &z, &kl);
    if (!evo_window_fits(z)) return 1003;
    i64 total = 1;
    for (int a = 0; a < EVO_AXES; ++a) total *= kl.size[a];
    unsigned blocks = 0;
    const int rc = evo_blocks(total, &blocks);
    if (rc) return rc < 0 ? 0 : rc;
    if (evo_kernel_is_full(z, kl)) EVO_LAUNCH(evo_backward_kernel_full, blocks, EVO_THREADS, stream, x, dy, dkt, z, total);
    else EVO_LAUNCH(evo_backward_kernel, blocks, EVO_THREADS, stream, x, dy, dkt, z, kl, total);
    return EVO_LAST_ERROR();
}

#endif
