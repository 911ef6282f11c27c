// evosym_cpu_window.h: the CPU kernels of a windowed Evolution form (forward, gradient w.r.t. the input,
// gradient w.r.t. the kernel, the fused kernel gradient + softmax of attend), written once for every
// operator and every number of spatial axes. A generated source (codegen/templates/cpu/kernels.cpp.j2)
// holds only what differs per operator, printed by SymPy from the proof, and includes this header after it:
//
//   #define EVO_DIMS d                 the number of spatial axes (1 to 3)
//   #include "evosym_index.h"          i64, evo_floordiv … (what the printed expressions call), EVO_FN
//   struct evo_sizes { … };            the sizes, and evo_unpack_sizes(zv, &z) in the manifest's order
//   evo_batch, evo_groups, evo_og, evo_cg, evo_share   the channel map (static EVO_FN, const evo_sizes&)
//   template <> struct evo_axis<A>     per axis A < d: len_in, len_out, taps, stride (z); q(z, p, u);
//                                      tap_lo(z, p), tap_hi(z, p): the taps of p inside the input, clamped to
//                                      [0, taps − 1]; p_lo(z, u), p_hi(z, u): the output positions whose tap u
//                                      lies inside the input, clamped to [0, len_out − 1]; affine (q = s·p + δ·u
//                                      − P), else a clamped or wrapping axis whose every tap reads the input and
//                                      whose interior [in_lo(z), in_hi(z)] (before clipping) reads q(in_lo, u) +
//                                      s·(p − in_lo) (an affine axis: in_lo = 0, in_hi = len_out − 1)
//   evo_window_fits(z)                 what the window needs of the sizes (the entry points check it)
//   #include "evosym_cpu_window.h"
//
// and then its extern "C" entry points, which call evo_forward<T>, evo_backward_input<T> and
// evo_backward_kernel<T> below (and set evo_threads).
//
// y[b, g*O_g + o', p] = sum_c' sum_u kt[b, g/share, o', c', u.., p..] * x~[b, g*C_g + c', q(p, u)]
// kt is the kernel K^ in tap coordinates, computed by the generated PyTorch module; any axis of kt may have
// length 1 (broadcast, stride 0). OpenMP over (batch, channel block, output row), vectorised loops over
// contiguous rows, the window clamped to the input (per row for the axes before the last, per tap as an
// output range for the last axis) instead of a branch per tap. Each parallel task writes only its own
// outputs (no atomics). The axes before the last are loops nested by template recursion (evo_tap_loops),
// so each operator compiles to the loop nest its axes need; the last axis's loops are the rows below.
// A clamped (NATTEN) or wrapping (circular) last axis runs its interior positions as the affine rows and
// register tiles, and its border positions at the printed q(p, u), grouped where consecutive ones read the same
// inputs (a clamped border reads its nearest interior position's window: evo_last_runs, evo_border_block); the
// axes before the last read q(p, u) per row, whatever their kind. Standalone: no torch headers.
#ifndef EVOSYM_CPU_WINDOW_H
#define EVOSYM_CPU_WINDOW_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <type_traits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "evosym_axes.h"

#define EVO_LAST (EVO_DIMS - 1)   // the last (innermost, contiguous) spatial axis

// the last axis's pieces; its kind and interior default to an affine axis's (every position) for a source
// generated before the CPU target lowered clamped and wrapping windows, which prints none of them
template <typename A, typename = void> struct evo_axis_kind : A {
    static constexpr bool affine = true;
    static EVO_FN i64 in_lo(const evo_sizes&) { return 0; }
    static EVO_FN i64 in_hi(const evo_sizes& z) { return A::len_out(z) - 1; }
};
template <typename A> struct evo_axis_kind<A, std::void_t<decltype(A::affine)>> : A {};
typedef evo_axis_kind<evo_axis<EVO_LAST>> evo_last;

// output rows: every output position of the axes before the last
static inline i64 evo_rows_out(const evo_sizes& z) {
    i64 n = 1;
    for (int a = 0; a < EVO_LAST; ++a) n *= evo_len_out(z, a);
    return n;
}
// the output position p of row r on the axes before the last (p[EVO_LAST] = 0)
static inline void evo_row_position(const evo_sizes& z, i64 r, i64* p) {
    for (int a = EVO_LAST - 1; a >= 0; --a) {
        p[a] = r % evo_len_out(z, a);
        r /= evo_len_out(z, a);
    }
    p[EVO_LAST] = 0;
}
// the offset of axis-before-the-last position or tap vectors in kt, for the first n axes (from axis `first`)
static inline i64 evo_kt_offset(const evo_layout& kl, const int first, const i64* v, const int n) {
    i64 off = 0;
    for (int a = 0; a < n; ++a) off += v[a] * kl.stride[first + a];
    return off;
}

// the last axis's interior clipped to its output positions, [*lo, *hi) (every position on an affine axis)
static inline void evo_interior(const evo_sizes& z, i64* lo, i64* hi) {
    const i64 n = evo_last::len_out(z);
    *lo = evo_min(evo_max(evo_last::in_lo(z), 0), n);
    *hi = evo_max(evo_min(evo_last::in_hi(z) + 1, n), *lo);
}

// the output positions in [from, to) of the last axis whose tap u reads the input, as runs: f(p0, n, q0, qs) for the
// n positions p0 + j reading q0 + qs·j. An affine axis: one run, [p_lo(u), p_hi(u)], qs = s; a clamped or wrapping
// axis: its interior as one run (qs = s), its border as runs of consecutive positions reading one input (qs = 0: a
// clamped border's tap reads the same input at every border position; a wrapping border's, one position each)
template <typename F>
static inline void evo_last_runs(const evo_sizes& z, const i64 u, const i64 from, const i64 to, F&& f) {
    const i64 s = evo_last::stride(z);
    if constexpr (evo_last::affine) {
        const i64 plo = evo_max(evo_last::p_lo(z, u), from), phi = evo_min(evo_last::p_hi(z, u), to - 1);
        if (plo <= phi) f(plo, phi - plo + 1, evo_last::q(z, plo, u), s);
    } else {
        i64 lo, hi;
        evo_interior(z, &lo, &hi);
        auto border = [&](const i64 a, const i64 b) {
            for (i64 p = a, n; p < b; p += n) {
                const i64 q0 = evo_last::q(z, p, u);
                for (n = 1; p + n < b && evo_last::q(z, p + n, u) == q0; ++n) {}
                f(p, n, q0, (i64)0);
            }
        };
        border(from, evo_min(lo, to));
        const i64 a = evo_max(lo, from), b = evo_min(hi, to);
        if (a < b) f(a, b - a, evo_last::q(z, a, u), s);
        border(evo_max(hi, from), to);
    }
}

// for A ≤ a < END, nested in axis order: u[a] over [ulo[a], uhi[a]), p[a] over the output positions whose
// tap u[a] reads the input, q[a] = q(p[a], u[a]); then body()
template <int A, int END, typename F>
EVO_LOOP void evo_position_loops(const evo_sizes& z, const i64* ulo, const i64* uhi, i64* p, i64* u, i64* q, F& body) {
    if constexpr (A >= END) {
        body();
    } else {
        for (u[A] = ulo[A]; u[A] < uhi[A]; ++u[A])
            for (p[A] = evo_axis<A>::p_lo(z, u[A]); p[A] <= evo_axis<A>::p_hi(z, u[A]); ++p[A]) {
                q[A] = evo_axis<A>::q(z, p[A], u[A]);
                evo_position_loops<A + 1, END>(z, ulo, uhi, p, u, q, body);
            }
    }
}

static int evo_threads = 0;   // set by the caller (torch's thread count); 0: OpenMP's default
// multiply-adds below which a call runs serially: waking a thread team costs more than it saves
#define EVO_SERIAL_WORK (1LL << 15)
#ifdef _OPENMP
#define EVO_THREADS (evo_threads > 0 ? evo_threads : omp_get_max_threads())
#else
#define EVO_THREADS 1
#endif

// channels per block: consecutive output channels that read the same kernel (O_g = C_g = 1,
// share > 1, as involution's groups) are computed together, each kernel row loaded once for all
static inline i64 evo_block(const evo_sizes& z) {
    const i64 share = evo_share(z);
    if (evo_og(z) != 1 || evo_cg(z) != 1 || share <= 1) return 1;
    for (i64 n = share < 16 ? share : 16; n > 1; --n)
        if (share % n == 0) return n;
    return 1;
}

// out[j*os] += a[j*as] * b[j*bs] for j < n; the stride patterns of unit-stride windows get
// vectorised loops of their own (contiguous; a broadcast scalar; a dot product)
template <typename T>
static inline void evo_row(T* __restrict out, const i64 os, const T* __restrict a, const i64 as,
                           const T* __restrict b, const i64 bs, const i64 n) {
    if (os == 1 && bs == 1 && as == 1) {
#pragma omp simd
        for (i64 j = 0; j < n; ++j) out[j] += a[j] * b[j];
    } else if (os == 1 && bs == 1 && as == 0) {
        const T av = *a;
#pragma omp simd
        for (i64 j = 0; j < n; ++j) out[j] += av * b[j];
    } else if (os == 1 && as == 1 && bs == 0) {
        const T bv = *b;
#pragma omp simd
        for (i64 j = 0; j < n; ++j) out[j] += a[j] * bv;
    } else if (os == 0 && as == 1 && bs == 1 && n > 8) {
        T acc = 0;
#pragma omp simd reduction(+ : acc)
        for (i64 j = 0; j < n; ++j) acc += a[j] * b[j];
        *out += acc;
    } else if (os == 0) {
        T acc = 0;
        for (i64 j = 0; j < n; ++j) acc += a[j * as] * b[j * bs];
        *out += acc;
    } else {
        for (i64 j = 0; j < n; ++j) out[j * os] += a[j * as] * b[j * bs];
    }
}

// ---- the forward's register-tiled path (stride 1 along the last axis, C_g = 1) ----------------
// Each task copies its input rows into zero-padded rows and its kernel rows into rows padded to
// whole chunks, so every tap is a full-width read: a chunk of EVO_CHUNK outputs of EVO_TC channels
// is accumulated in registers over all taps (GCC/Clang vector extensions), then stored once.
template <typename T> struct evo_simd;
template <> struct evo_simd<float> { typedef float v __attribute__((vector_size(64))); };
template <> struct evo_simd<double> { typedef double v __attribute__((vector_size(64))); };
#define EVO_NV 4                                   // vectors per chunk
template <typename T>
static inline typename evo_simd<T>::v evo_load(const T* p) {
    typename evo_simd<T>::v v;
    memcpy(&v, p, sizeof v);
    return v;
}

// a clamped or wrapping axis's border: n ≤ EVO_BP consecutive positions that read the same window (a clamped
// border's positions all do), out[j·os + p] = sum over r < m of a[r·as + p]·v[r][j] for p < n and j < nj, vectorised
// over j, the n positions' sums independent, each in the order of r (as the scalar sum). The forward: r the window's
// taps, a their kernel rows, v[r] tap r's input at the block's channels j (zero-padded to whole vectors); attend's
// kernel gradient: r the channels, a their dy rows, v[r] the window's inputs of channel r at the taps j (a padded
// input row: its taps read consecutive inputs). a is read at EVO_BP positions a row and each v[r] a whole vector at a
// time: the caller's buffers hold that much past their ends
#define EVO_BP 8
template <typename T, int N>   // N = n positions, accumulated in N registers (a border of R positions needs R, not EVO_BP)
static inline void evo_border_block_n(T* __restrict out, const i64 os, const i64 nj, const T* __restrict a, const i64 as,
                                      const T* const* v, const i64 m) {
    typedef typename evo_simd<T>::v V;
    constexpr i64 W = (i64)(sizeof(V) / sizeof(T));
    for (i64 j0 = 0; j0 < nj; j0 += W) {
        V acc[N];
        for (int p = 0; p < N; ++p) acc[p] = V{};
        for (i64 r = 0; r < m; ++r) {
            const V vr = evo_load(v[r] + j0);
            const T* ar = a + r * as;
            for (int p = 0; p < N; ++p) acc[p] += ar[p] * vr;
        }
        for (int p = 0; p < N; ++p) {
            T t[W];
            memcpy(t, &acc[p], sizeof(V));
            for (i64 j = 0; j < W && j0 + j < nj; ++j) out[(j0 + j) * os + p] = t[j];
        }
    }
}
template <typename T>
static inline void evo_border_block(T* __restrict out, const i64 os, const i64 nj, const T* __restrict a, const i64 as,
                                    const i64 n, const T* const* v, const i64 m) {
    switch (n) {
        case 1: evo_border_block_n<T, 1>(out, os, nj, a, as, v, m); break;
        case 2: evo_border_block_n<T, 2>(out, os, nj, a, as, v, m); break;
        case 3: evo_border_block_n<T, 3>(out, os, nj, a, as, v, m); break;
        case 4: evo_border_block_n<T, 4>(out, os, nj, a, as, v, m); break;
        case 5: evo_border_block_n<T, 5>(out, os, nj, a, as, v, m); break;
        case 6: evo_border_block_n<T, 6>(out, os, nj, a, as, v, m); break;
        case 7: evo_border_block_n<T, 7>(out, os, nj, a, as, v, m); break;
        case EVO_BP: evo_border_block_n<T, EVO_BP>(out, os, nj, a, as, v, m); break;
        default: break;
    }
}

// q(p0, u) − p0 of the last axis (stride 1) for its taps u < n (n ≤ 256): where the interior's position p reads
// tap u, less p; and their least and greatest value
static inline void evo_tap_offsets(const evo_sizes& z, const i64 n, const i64 p0, i64* qoff, i64* qmin, i64* qmax) {
    for (i64 u = 0; u < n; ++u) {
        qoff[u] = evo_axis<EVO_DIMS - 1>::q(z, p0, u) - p0;
        *qmin = u == 0 || qoff[u] < *qmin ? qoff[u] : *qmin;
        *qmax = u == 0 || qoff[u] > *qmax ? qoff[u] : *qmax;
    }
}

// the last axis's border, [0, ilo) and [ihi, len_out), as runs of at most EVO_BP consecutive positions that read one
// window (the same q(p, u) at every tap u); near: that window is the one of the interior position nearest the side
// (at[side], ilo or ihi − 1). The same for every row and channel, so found once per call: found per row and tap, the
// comparisons took a third of neighborhood_attention's kernel gradient at 56×56, K = 7
struct evo_border_run {
    i64 p0, n;
    int side;
    bool near;
};
static inline std::vector<evo_border_run> evo_border_runs(const evo_sizes& z, const i64 ilo, const i64 ihi) {
    std::vector<evo_border_run> runs;
    const i64 taps = evo_last::taps(z);
    auto same = [&](const i64 a, const i64 b) {
        for (i64 u = 0; u < taps; ++u)
            if (evo_last::q(z, a, u) != evo_last::q(z, b, u)) return false;
        return true;
    };
    auto side_runs = [&](const i64 from, const i64 to, const int side, const i64 at) {
        for (i64 p0 = from, p1; p0 < to; p0 = p1) {
            for (p1 = p0 + 1; p1 < to && p1 - p0 < EVO_BP && same(p1, p0); ++p1) {}
            runs.push_back({p0, p1 - p0, side, ilo < ihi && same(p0, at)});
        }
    };
    side_runs(0, ilo, 0, ilo);
    side_runs(ihi, evo_last::len_out(z), 1, ihi - 1);
    return runs;
}

// scratch memory of the calling thread, kept between calls (a fresh large allocation per call costs
// a page fault per 4 KiB on first touch); every element is written before it is read
template <typename T>
static T* evo_scratch(const size_t n) {
    static thread_local std::vector<T> buf;
    if (buf.size() < n) buf.resize(n);
    return buf.data();
}

// rows of a padded copy whose position `lo` (the interior's first) lies on a whole vector: the offset of position 0 in
// a row, and the row pitch (whole vectors) for rows of `w` positions. Whole-vector loads that straddle two cache lines
// cost twice as much (neighborhood_attention's interior starts at R: unaligned by R positions every chunk)
template <typename T>
static inline void evo_aligned_rows(const i64 lo, const i64 w, i64* at, i64* pitch) {
    constexpr i64 L = (i64)(sizeof(typename evo_simd<T>::v) / sizeof(T));
    *at = (L - lo % L) % L;
    *pitch = (*at + w + L - 1) / L * L;
}
// p rounded up to a whole vector's alignment (a buffer holds one vector more than it needs for this)
template <typename T>
static inline T* evo_vector_aligned(T* p) {
    return (T*)(((uintptr_t)p + sizeof(typename evo_simd<T>::v) - 1) & ~(uintptr_t)(sizeof(typename evo_simd<T>::v) - 1));
}

// the input's rows copied once, zero-padded on both sides: xpad[row][i] = x[row][q = qmin + i], so
// that every tap of every chunk of a register-tiled kernel is a full-width read
template <typename T>
static void evo_pad_rows(const T* __restrict x, T* __restrict xpad, const i64 nrows, const i64 len_in, const i64 xw,
                         const i64 qmin, const bool parallel) {
    const i64 lo = qmin < 0 ? -qmin : 0, hi = evo_min(xw, len_in - qmin);   // [lo, hi): inside the input
#pragma omp parallel for schedule(static) num_threads(EVO_THREADS) if (parallel)
    for (i64 rr = 0; rr < nrows; ++rr) {
        T* xd = xpad + rr * xw;
        if (hi > lo) {
            memset(xd, 0, sizeof(T) * lo);
            memcpy(xd + lo, x + rr * len_in + qmin + lo, sizeof(T) * (hi - lo));
            memset(xd + hi, 0, sizeof(T) * (xw - hi));
        } else {
            memset(xd, 0, sizeof(T) * xw);
        }
    }
}

// the start of a chunk of at most w positions from j0 in [lo, hi): a last chunk shorter than w moves back to end at hi
// where [lo, hi) holds w positions, so that every store is a whole vector (its first positions are computed twice, to
// the same values: the same operands summed in the same order). A partial store (a memcpy of a varying length) took a
// quarter of neighborhood_attention's kernel gradient at 56×56
static inline i64 evo_chunk_start(const i64 j0, const i64 w, const i64 lo, const i64 hi) {
    return hi - j0 < w && hi - lo >= w ? hi - w : j0;
}

// acc[c][·] = sum over taps i of krow_i[j0 + ·] * xrow_c,i[j0 + ·] for TC channels c, the n ≤ EVO_NV·L positions from
// j0; where n is not whole vectors but at least one, the last vector moves back to end at n (evo_chunk_start)
template <typename T, int TC>
static inline void evo_tile(T* const* yt, const i64 n, const T* kbuf, const i64 kw, const T* const* xbase,
                            const i64* xoff, const i64 ntap, const i64 j0) {
    typedef typename evo_simd<T>::v V;
    constexpr int L = (int)(sizeof(V) / sizeof(T));
    i64 vo[EVO_NV];                                     // vector v's first position, less j0
    for (int v = 0; v < EVO_NV; ++v) vo[v] = j0 + evo_chunk_start(v * L, L, 0, n);
    V acc[TC][EVO_NV];
    for (int c = 0; c < TC; ++c)
        for (int v = 0; v < EVO_NV; ++v) acc[c][v] = V{};
    for (i64 i = 0; i < ntap; ++i) {
        const T* kp = kbuf + i * kw;
        V kv[EVO_NV];
        for (int v = 0; v < EVO_NV; ++v) kv[v] = evo_load(kp + vo[v]);
        for (int c = 0; c < TC; ++c) {
            const T* xp = xbase[c] + xoff[i];
            for (int v = 0; v < EVO_NV; ++v) acc[c][v] += kv[v] * evo_load(xp + vo[v]);
        }
    }
    for (int c = 0; c < TC; ++c)
        for (int v = 0; v < EVO_NV && v * L < n; ++v) {
            if (n >= L) {   // a whole vector: one store
                memcpy(yt[c] + vo[v], &acc[c][v], sizeof(V));
                continue;
            }
            T out[L];
            memcpy(out, &acc[c][v], sizeof out);
            for (i64 j = 0; j < n; ++j) yt[c][vo[v] + j] = out[j];
        }
}


// y[b, o, p]: one task per (b, block of output channels, output row); the row is accumulated
// tap by tap over the output positions whose window tap lies in the input
template <typename T>
static void evo_forward(const T* __restrict x, const T* __restrict kt, T* __restrict y, const evo_sizes& z,
                        const evo_layout& kl) {
    const i64 B = evo_batch(z), G = evo_groups(z), og = evo_og(z), cg = evo_cg(z), share = evo_share(z);
    const i64 nb = evo_block(z), blocks = G * og / nb, rows = evo_rows_out(z);
    const i64 plane_in = evo_plane_in(z), plane_out = evo_plane_out(z);
    const i64 len_out = evo_last::len_out(z), len_in = evo_last::len_in(z), taps = evo_last::taps(z);
    const i64 s = evo_last::stride(z), ks = kl.stride[4 + EVO_DIMS + EVO_LAST];
    const i64 work = B * G * og * cg * plane_out * evo_taps_all(z);
    if (B * blocks * rows == 0) return;
    // register-tiled path: stride 1 along the last axis, the kernel contiguous or broadcast along it, C_g = 1
    constexpr i64 CW = EVO_NV * (i64)(sizeof(typename evo_simd<T>::v) / sizeof(T));
    const bool tiled = s == 1 && (ks == 0 || ks == 1) && cg == 1 && taps <= 256;
    i64 ilo, ihi;                                       // the interior [ilo, ihi): all of the last axis when affine
    evo_interior(z, &ilo, &ihi);
    i64 qoff[256], qmin = 0, qmax = 0;                  // q(p, u) − p of the last axis's interior, and its range
    if (tiled) evo_tap_offsets(z, taps, ilo, qoff, &qmin, &qmax);
    const i64 kw = ilo + (len_out - ilo + CW - 1) / CW * CW;   // padded kernel row: whole chunks from ilo
    const i64 xw = kw + qmax - qmin;                    // padded input row: every tap of every chunk
    i64 ka, kpw;                                        // a gathered kernel row's position 0 and pitch: ilo on a vector
    evo_aligned_rows<T>(ilo, kw, &ka, &kpw);
    const i64 rows_in = plane_in / (len_in > 0 ? len_in : 1), xrows_all = tiled ? B * G * cg * rows_in : 0;
    T* xpad = evo_scratch<T>((size_t)(xrows_all * xw));
    if (tiled) evo_pad_rows<T>(x, xpad, xrows_all, len_in, xw, qmin, work > EVO_SERIAL_WORK);
    // a clamped axis's border positions read the window of the interior position nearest them: its inputs at a
    // block's channels, per input row and side, gathered once here (xcols[((b·blocks + blk)·rows_in + row)·2 +
    // side][u][t], channels padded to whole vectors) rather than by every task reading the row (each task gathering
    // them itself, across the channel planes, took 45% of neighborhood_attention's forward kernel at 56×56, K = 7)
    constexpr i64 W = (i64)(sizeof(typename evo_simd<T>::v) / sizeof(T));
    const i64 nw = (nb + W - 1) / W * W, at[2] = {ilo, ihi - 1};
    bool still[2] = {false, false};                     // side 0 (left), 1 (right): a border reading at[side]'s window
    const std::vector<evo_border_run> bruns = tiled && !evo_last::affine ? evo_border_runs(z, ilo, ihi)
                                                                        : std::vector<evo_border_run>();
    for (const evo_border_run& br : bruns) still[br.side] = still[br.side] || br.near;
    i64 qat[2][256];                                    // q(at[side], u): the nearest interior position's window
    for (int side = 0; side < 2; ++side)
        for (i64 u = 0; u < taps && still[side]; ++u) qat[side][u] = evo_last::q(z, at[side], u);
    static thread_local std::vector<T> xcols_buf;
    T* xcols = nullptr;
    if (still[0] || still[1]) {
        xcols_buf.assign((size_t)(B * blocks * rows_in * 2 * taps * nw), T(0));
        xcols = xcols_buf.data();
#pragma omp parallel for collapse(2) schedule(static) num_threads(EVO_THREADS) if (work > EVO_SERIAL_WORK)
        for (i64 bb = 0; bb < B * blocks; ++bb)
        for (i64 row = 0; row < rows_in; ++row) {
            const i64 b = bb / blocks, g = bb % blocks * nb / og;
            const T* xg = x + (b * G * cg + g * cg) * plane_in + row * len_in;   // C_g = 1: channel t at + t·plane_in
            for (int side = 0; side < 2; ++side) {
                if (!still[side]) continue;
                T* dst = xcols + ((bb * rows_in + row) * 2 + side) * taps * nw;
                for (i64 t = 0; t < nb; ++t)
                    for (i64 u = 0; u < taps; ++u) dst[u * nw + t] = xg[t * plane_in + qat[side][u]];
            }
        }
    }
#pragma omp parallel for collapse(3) schedule(static) num_threads(EVO_THREADS) if (work > EVO_SERIAL_WORK)
    for (i64 b = 0; b < B; ++b)
    for (i64 blk = 0; blk < blocks; ++blk)
    for (i64 r = 0; r < rows; ++r) {
        const i64 o = blk * nb, g = o / og, o1 = o % og;
        i64 p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], lo[EVO_DIMS], hi[EVO_DIMS];
        evo_row_position(z, r, p);
        evo_tap_range(z, p, lo, hi);                    // the taps of the axes before the last that read the input
        T* yrow = y + (b * G * og + o) * plane_out + r * len_out;
        const T* kb = kt + b * kl.stride[0] + (g / share) * kl.stride[1] + o1 * kl.stride[2]
                      + evo_kt_offset(kl, 4 + EVO_DIMS, p, EVO_LAST);
        // the positions [from, to) of the row, tap by tap (the whole row, or a clamped or wrapping axis's border)
        auto plain = [&](const i64 from, const i64 to) {
            if (from >= to) return;
            for (i64 t = 0; t < nb; ++t) memset(yrow + t * plane_out + from, 0, sizeof(T) * (to - from));
            for (i64 c1 = 0; c1 < cg; ++c1) {
                const T* xc = x + (b * G * cg + g * cg + c1) * plane_in;
                const T* kc = kb + c1 * kl.stride[3];
                auto accumulate = [&]() {   // one tap of the axes before the last: its rows, tap by tap of the last
                    const T* xrow = xc + (EVO_LAST > 0 ? evo_flat_in(z, q, EVO_LAST) * len_in : 0);
                    const T* krow = kc + evo_kt_offset(kl, 4, u, EVO_LAST);
                    for (i64 ul = 0; ul < taps; ++ul) {
                        evo_last_runs(z, ul, from, to, [&](const i64 p0, const i64 n, const i64 q0, const i64 qs) {
                            const T* kp = krow + ul * kl.stride[4 + EVO_LAST] + p0 * ks;
                            for (i64 t = 0; t < nb; ++t)
                                evo_row<T>(yrow + t * plane_out + p0, 1, kp, ks, xrow + q0 + t * plane_in, qs, n);
                        });
                    }
                };
                evo_tap_loops<0, EVO_LAST>(z, p, lo, hi, u, q, accumulate);
            }
        };
        if (!tiled) {
            plain(0, len_out);
            continue;
        }
        {
            static thread_local std::vector<T> kbuf;
            // per gathered tap: its padded and unpadded input row, its tap of the last axis, its place in xcols
            static thread_local std::vector<i64> xoff, xraw, tapl, xcoff;
            xoff.clear();
            xraw.clear();
            tapl.clear();
            xcoff.clear();
            i64 nk = 0;
            kbuf.resize(evo_taps_all(z) * kpw + CW + 2 * W);   // + the alignment and ka
            T* const k0 = evo_vector_aligned(kbuf.data()) + ka;   // gathered row i at k0 + i·kpw, from position 0
            auto gather = [&]() {   // the kernel rows of one tap of the axes before the last, and their input rows
                const T* krow = kb + evo_kt_offset(kl, 4, u, EVO_LAST);
                const i64 xrow = EVO_LAST > 0 ? evo_flat_in(z, q, EVO_LAST) * xw : 0;
                for (i64 ul = 0; ul < taps; ++ul, ++nk) {
                    T* kd = k0 + nk * kpw;
                    const T* kp = krow + ul * kl.stride[4 + EVO_LAST];
                    if (ks == 1) memcpy(kd, kp, sizeof(T) * len_out);
                    else for (i64 j = 0; j < len_out; ++j) kd[j] = *kp;
                    memset(kd + len_out, 0, sizeof(T) * (kpw - ka - len_out));
                    xoff.push_back(xrow + qoff[ul] - qmin);
                    if (!evo_last::affine) {
                        const i64 row = EVO_LAST > 0 ? evo_flat_in(z, q, EVO_LAST) : 0;
                        xraw.push_back(row * len_in);
                        tapl.push_back(ul);
                        xcoff.push_back((row * 2 * taps + ul) * nw);
                    }
                }
            };
            evo_tap_loops<0, EVO_LAST>(z, p, lo, hi, u, q, gather);
            memset(k0 + nk * kpw, 0, sizeof(T) * CW);   // past the last row: the border's whole-vector reads
            const T* xb = xpad + (b * G * cg + g * cg) * rows_in * xw;   // channel t at + t·rows_in·xw
            for (i64 jc = ilo; jc < ihi; jc += CW) {
                const i64 j0 = evo_chunk_start(jc, CW, ilo, ihi), n = evo_min(CW, ihi - j0);
                i64 t = 0;
                for (; t + 2 <= nb; t += 2) {
                    T* yt[2] = {yrow + t * plane_out, yrow + (t + 1) * plane_out};
                    const T* xbase[2] = {xb + t * rows_in * xw, xb + (t + 1) * rows_in * xw};
                    evo_tile<T, 2>(yt, n, k0, kpw, xbase, xoff.data(), nk, j0);
                }
                for (; t < nb; ++t) {
                    T* yt[1] = {yrow + t * plane_out};
                    const T* xbase[1] = {xb + t * rows_in * xw};
                    evo_tile<T, 1>(yt, n, k0, kpw, xbase, xoff.data(), nk, j0);
                }
            }
            if (!evo_last::affine) {   // a clamped or wrapping axis's border: position by position at q(p, u)
                static thread_local std::vector<T> xcol;               // a window's inputs: per tap, the block's channels
                static thread_local std::vector<const T*> vrow;        // tap i's inputs at the block's channels
                const T* xg = x + (b * G * cg + g * cg) * plane_in;   // C_g = 1: channel t of the block at + t·plane_in
                xcol.assign(nk * nw, T(0));
                vrow.resize(nk);
                for (const evo_border_run& br : bruns) {   // a run of positions reading one window
                    if (br.near && still[br.side]) {       // the nearest interior position's: gathered above
                        const T* base = xcols + ((b * blocks + blk) * rows_in * 2 + br.side) * taps * nw;
                        for (i64 i = 0; i < nk; ++i) vrow[i] = base + xcoff[i];
                    } else {   // another window: its inputs gathered here, once for its run
                        for (i64 t = 0; t < nb; ++t)
                            for (i64 i = 0; i < nk; ++i)
                                xcol[i * nw + t] = xg[t * plane_in + xraw[i] + evo_last::q(z, br.p0, tapl[i])];
                        for (i64 i = 0; i < nk; ++i) vrow[i] = xcol.data() + i * nw;
                    }
                    evo_border_block<T>(yrow + br.p0, plane_out, nb, k0 + br.p0, kpw, br.n, vrow.data(), nk);
                }
            }
        }
    }
}

// dx[b, c, q]: one task per (b, block of input channels) owns its input planes and scatters
// dx[q(p, u)] += kt[..., u, p] * dy[p] over the clamped window (no races between tasks)
template <typename T>
static void evo_backward_input(const T* __restrict kt, const T* __restrict dy, T* __restrict dx, const evo_sizes& z,
                               const evo_layout& kl) {
    const i64 B = evo_batch(z), G = evo_groups(z), og = evo_og(z), cg = evo_cg(z), share = evo_share(z);
    const i64 nb = evo_block(z), blocks = G * cg / nb, rows = evo_rows_out(z);
    const i64 plane_in = evo_plane_in(z), plane_out = evo_plane_out(z);
    const i64 len_out = evo_last::len_out(z), len_in = evo_last::len_in(z), taps = evo_last::taps(z);
    const i64 s = evo_last::stride(z), ks = kl.stride[4 + EVO_DIMS + EVO_LAST];
    const i64 work = B * G * og * cg * plane_out * evo_taps_all(z);
    (void)len_in;
    if (B * blocks == 0) return;
#pragma omp parallel for collapse(2) schedule(static) num_threads(EVO_THREADS) if (work > EVO_SERIAL_WORK)
    for (i64 b = 0; b < B; ++b)
    for (i64 blk = 0; blk < blocks; ++blk) {
        const i64 c = blk * nb, g = c / cg, c1 = c % cg;
        T* dxc = dx + (b * G * cg + c) * plane_in;
        memset(dxc, 0, sizeof(T) * plane_in * nb);
        for (i64 o1 = 0; o1 < og; ++o1) {
            const T* dyo = dy + (b * G * og + g * og + o1) * plane_out;
            const T* ko = kt + b * kl.stride[0] + (g / share) * kl.stride[1] + o1 * kl.stride[2] + c1 * kl.stride[3];
            for (i64 r = 0; r < rows; ++r) {
                i64 p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], lo[EVO_DIMS], hi[EVO_DIMS];
                evo_row_position(z, r, p);
                evo_tap_range(z, p, lo, hi);
                const T* dyrow = dyo + r * len_out;
                const T* kr = ko + evo_kt_offset(kl, 4 + EVO_DIMS, p, EVO_LAST);
                auto scatter = [&]() {   // one tap of the axes before the last: its rows, tap by tap of the last
                    T* dxrow = dxc + (EVO_LAST > 0 ? evo_flat_in(z, q, EVO_LAST) * len_in : 0);
                    const T* krow = kr + evo_kt_offset(kl, 4, u, EVO_LAST);
                    for (i64 ul = 0; ul < taps; ++ul) {
                        evo_last_runs(z, ul, 0, len_out, [&](const i64 p0, const i64 n, const i64 q0, const i64 qs) {
                            const T* kp = krow + ul * kl.stride[4 + EVO_LAST] + p0 * ks;
                            for (i64 t = 0; t < nb; ++t)
                                evo_row<T>(dxrow + q0 + t * plane_in, qs, kp, ks, dyrow + p0 + t * plane_out, 1, n);
                        });
                    }
                };
                evo_tap_loops<0, EVO_LAST>(z, p, lo, hi, u, q, scatter);
            }
        }
    }
}

// exp of a vector of floats, |relative error| ≤ 2 ulp on [−87.3, 88.7] (Cephes' expf: x = n·ln2 + r,
// a degree-5 polynomial in r, 2ⁿ from the exponent bits); below −87.3 (−inf: a hidden tap's weight) it returns 0
// (expf's own results there are below 1e-38, subnormal), NaN as NaN
static inline evo_simd<float>::v evo_expf(evo_simd<float>::v x) {
    typedef evo_simd<float>::v V;
    typedef int VI __attribute__((vector_size(sizeof(V))));
    const V lo = V{} - 87.3f, hi = V{} + 88.7f;
    const auto below = x < lo;
    x = below ? lo : x;
    x = x > hi ? hi : x;
    V fx = x * 1.44269504088896341f + 0.5f;
    V t = __builtin_convertvector(__builtin_convertvector(fx, VI), V);   // truncation toward zero
    t = t > fx ? t - 1.0f : t;                                              // floor
    x = x - t * 0.693359375f - t * -2.12194440e-4f;
    V y = ((((1.9875691500e-4f * x + 1.3981999507e-3f) * x + 8.3334519073e-3f) * x + 4.1665795894e-2f) * x
           + 1.6666665459e-1f) * x + 5.0000001201e-1f;
    y = y * x * x + x + 1.0f;
    VI e = (__builtin_convertvector(t, VI) + 127) << 23;
    V scale;
    memcpy(&scale, &e, sizeof scale);
    return below ? V{} : y * scale;
}

// exp lane by lane: float vectorised (evo_expf), double with the C library's exp (exact to < 1 ulp)
template <typename T>
static inline typename evo_simd<T>::v evo_vexp(typename evo_simd<T>::v x) {
    if constexpr (sizeof(T) == sizeof(float)) {
        return evo_expf(x);
    } else {
        constexpr int L = (int)(sizeof(x) / sizeof(T));
        T v[L];
        memcpy(v, &x, sizeof v);
        for (int j = 0; j < L; ++j) v[j] = exp(v[j]);
        memcpy(&x, v, sizeof v);
        return x;
    }
}

// attend's logit bias: base[t·stride + j] += bias[t·stride + j] for the ntap rows t and the n positions j (β laid
// out as the logits, so the same offsets), before the softmax reads the row
template <typename T>
static inline void evo_add_rows(T* __restrict base, const T* __restrict bias, const i64 stride, const i64 ntap, const i64 n) {
    for (i64 t = 0; t < ntap; ++t) {
        T* row = base + t * stride;
        const T* brow = bias + t * stride;
#pragma omp simd
        for (i64 j = 0; j < n; ++j) row[j] += brow[j];
    }
}

// softmax over ntap rows (row t at base + t·stride) at each of n positions, a vector of positions at
// a time: the maximum over the rows subtracted, exp, the sum, one reciprocal per position
template <typename T>
static inline void evo_softmax_rows(T* base, const i64 stride, const i64 ntap, const i64 n) {
    typedef typename evo_simd<T>::v V;
    constexpr i64 L = (i64)(sizeof(V) / sizeof(T));
    for (i64 j0 = 0; j0 < n; j0 += L) {
        const i64 w = evo_min(L, n - j0);
        V m, sum = V{};
        if (w == L) {
            m = evo_load(base + j0);
            for (i64 t = 1; t < ntap; ++t) {
                const V v = evo_load(base + t * stride + j0);
                m = v > m ? v : m;
            }
            for (i64 t = 0; t < ntap; ++t) {
                const V e = evo_vexp<T>(evo_load(base + t * stride + j0) - m);
                memcpy(base + t * stride + j0, &e, sizeof e);
                sum += e;
            }
            const V inv = T(1) / sum;
            for (i64 t = 0; t < ntap; ++t) {
                const V v = evo_load(base + t * stride + j0) * inv;
                memcpy(base + t * stride + j0, &v, sizeof v);
            }
            continue;
        }
        T buf[L], mx[L], tot[L];   // the last, partial vector of a row: through a buffer
        for (i64 j = 0; j < L; ++j) mx[j] = j < w ? base[j0 + j] : T(0);
        for (i64 t = 1; t < ntap; ++t)
            for (i64 j = 0; j < w; ++j) mx[j] = base[t * stride + j0 + j] > mx[j] ? base[t * stride + j0 + j] : mx[j];
        memcpy(&m, mx, sizeof m);
        for (i64 t = 0; t < ntap; ++t) {
            for (i64 j = 0; j < L; ++j) buf[j] = j < w ? base[t * stride + j0 + j] : T(0);
            V e;
            memcpy(&e, buf, sizeof e);
            e = evo_vexp<T>(e - m);
            sum += e;
            memcpy(buf, &e, sizeof e);
            memcpy(base + t * stride + j0, buf, sizeof(T) * w);
        }
        memcpy(tot, &sum, sizeof tot);
        for (i64 t = 0; t < ntap; ++t)
            for (i64 j = 0; j < w; ++j) base[t * stride + j0 + j] /= tot[j];
    }
}

// acc[t][·] = sum over the channels c of dyrow_c[j0 + ·] * xrow_c[xoff[t] + j0 + ·] for NT taps t: one
// vector of outputs of each of NT taps accumulated in registers, each dy vector loaded once for all
template <typename T, int NT>
static inline void evo_ktile(T* const* out, const i64 n, const T* const* dyr, const T* const* xr, const i64 nch,
                             const i64* xoff, const i64 j0) {
    typedef typename evo_simd<T>::v V;
    V acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = V{};
    for (i64 c = 0; c < nch; ++c) {
        const V dv = evo_load(dyr[c] + j0);
        const T* xp = xr[c] + j0;
        for (int t = 0; t < NT; ++t) acc[t] += dv * evo_load(xp + xoff[t]);
    }
    for (int t = 0; t < NT; ++t) {
        if (n == (i64)(sizeof(V) / sizeof(T))) {   // a whole vector: one store
            memcpy(out[t] + j0, &acc[t], sizeof(V));
            continue;
        }
        T o[sizeof(V) / sizeof(T)];
        memcpy(o, &acc[t], sizeof o);
        for (i64 j = 0; j < n; ++j) out[t][j0 + j] = o[j];
    }
}


#define EVO_KT 8   // taps of the last axis per register tile of the kernel gradient
template <typename T>
static inline void evo_ktiles(T* const* out, const i64 n, const T* const* dyr, const T* const* xr, const i64 nch,
                              const i64* xoff, const i64 ntap, const i64 j0) {
    i64 t = 0;
    for (; t + EVO_KT <= ntap; t += EVO_KT) evo_ktile<T, EVO_KT>(out + t, n, dyr, xr, nch, xoff + t, j0);
    switch (ntap - t) {
        case 1: evo_ktile<T, 1>(out + t, n, dyr, xr, nch, xoff + t, j0); break;
        case 2: evo_ktile<T, 2>(out + t, n, dyr, xr, nch, xoff + t, j0); break;
        case 3: evo_ktile<T, 3>(out + t, n, dyr, xr, nch, xoff + t, j0); break;
        case 4: evo_ktile<T, 4>(out + t, n, dyr, xr, nch, xoff + t, j0); break;
        case 5: evo_ktile<T, 5>(out + t, n, dyr, xr, nch, xoff + t, j0); break;
        case 6: evo_ktile<T, 6>(out + t, n, dyr, xr, nch, xoff + t, j0); break;
        case 7: evo_ktile<T, 7>(out + t, n, dyr, xr, nch, xoff + t, j0); break;
        default: break;
    }
}

// dkt's register-tiled path (stride 1 along the last axis, kt not broadcast). The input is first
// copied once into rows zero-padded on both sides (every tap of every vector a full-width read);
// then one task per (b, kernel group, o', c', output row) owns that row of every tap: its dy rows
// are copied into rows padded to whole vectors, and each vector of outputs of up to EVO_KT taps is
// accumulated over the channels that share the kernel in registers.
template <typename T>
static void evo_backward_kernel_tiled(const T* __restrict x, const T* __restrict dy, T* __restrict dkt,
                                      const evo_sizes& z, const bool softmax, const T* __restrict bias,
                                      const bool bias_once) {
    const i64 B = evo_batch(z), G = evo_groups(z), og = evo_og(z), cg = evo_cg(z), share = evo_share(z);
    const i64 plane_in = evo_plane_in(z), plane_out = evo_plane_out(z), rows = evo_rows_out(z);
    const i64 len_out = evo_last::len_out(z), len_in = evo_last::len_in(z), taps = evo_last::taps(z);
    const i64 entries = B * (G / share) * og * cg, per_entry = evo_taps_all(z) * plane_out;
    const i64 bias_entries = bias_once && B > 0 ? entries / B : entries;   // β's entries: once for the batch, or per sample
    const i64 work = entries * share * plane_out * evo_taps_all(z);
    constexpr i64 CW = (i64)(sizeof(typename evo_simd<T>::v) / sizeof(T));
    i64 ilo, ihi;                                       // the interior [ilo, ihi): all of the last axis when affine
    evo_interior(z, &ilo, &ihi);
    i64 qoff[256], qmin = 0, qmax = 0;                  // q(p, u) − p of the last axis's interior, and its range
    evo_tap_offsets(z, taps, ilo, qoff, &qmin, &qmax);
    i64 xoff[256];
    for (i64 u = 0; u < taps; ++u) xoff[u] = qoff[u] - qmin;
    const i64 kw = ilo + (len_out - ilo + CW - 1) / CW * CW;   // padded dy row: whole vectors from ilo
    const i64 xw = kw + qmax - qmin;                    // padded input row: xpad[i] = x[q = qmin + i]
    i64 da, dpw;                                        // a copied dy row's position 0 and pitch: ilo on a vector
    evo_aligned_rows<T>(ilo, kw, &da, &dpw);
    const i64 rows_in = plane_in / (len_in > 0 ? len_in : 1), xrows = B * G * cg * rows_in;
    if (entries * rows == 0) return;
    T* xpad = evo_scratch<T>((size_t)(xrows * xw + CW));
    evo_pad_rows<T>(x, xpad, xrows, len_in, xw, qmin, work > EVO_SERIAL_WORK);
    memset(xpad + xrows * xw, 0, sizeof(T) * CW);       // past the last row: the border's whole-vector reads
    bool runs = !evo_last::affine && ilo < ihi;         // taps reading consecutive inputs (the border's vector path)
    for (i64 u = 0; u < taps; ++u) runs = runs && xoff[u] == xoff[0] + u;
    const std::vector<evo_border_run> bruns = evo_last::affine ? std::vector<evo_border_run>() : evo_border_runs(z, ilo, ihi);
#pragma omp parallel for collapse(2) schedule(static) num_threads(EVO_THREADS) if (work > EVO_SERIAL_WORK)
    for (i64 e = 0; e < entries; ++e)
    for (i64 r = 0; r < rows; ++r) {
        const i64 c1 = e % cg, o1 = (e / cg) % og, gk = (e / (cg * og)) % (G / share), b = e / (cg * og * (G / share));
        i64 p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], lo[EVO_DIMS], hi[EVO_DIMS];
        evo_row_position(z, r, p);
        for (int a = 0; a < EVO_DIMS; ++a) {            // every tap of the axes before the last
            lo[a] = 0;
            hi[a] = evo_taps(z, a) - 1;
        }
        static thread_local std::vector<T> dbuf;
        static thread_local std::vector<const T*> dyr, xr;
        static thread_local std::vector<T*> out;
        dbuf.resize(share * dpw + 3 * CW);   // + the alignment and da
        T* const d0 = evo_vector_aligned(dbuf.data()) + da;   // dy row k at d0 + k·dpw, from position 0
        memset(d0 + share * dpw, 0, sizeof(T) * CW);   // past the last row: the border's whole-vector reads
        dyr.resize(share);
        xr.resize(share);
        out.resize(taps);
        for (i64 k = 0; k < share; ++k) {
            T* dd = d0 + k * dpw;
            memcpy(dd, dy + (b * G * og + (gk * share + k) * og + o1) * plane_out + r * len_out, sizeof(T) * len_out);
            memset(dd + len_out, 0, sizeof(T) * (dpw - da - len_out));
            dyr[k] = dd;
        }
        T* de = dkt + e * per_entry + r * len_out;      // + (tap index) * plane_out
        i64 tap = 0;                                    // flat index of the taps before the last axis
        auto correlate = [&]() {   // one tap of the axes before the last: the rows of its taps of the last axis
            for (i64 ul = 0; ul < taps; ++ul) out[ul] = de + (tap * taps + ul) * plane_out;
            ++tap;
            for (int a = 0; a < EVO_LAST; ++a)
                if (q[a] < 0 || q[a] >= evo_len_in(z, a)) {   // a tap row outside the input: zero
                    for (i64 ul = 0; ul < taps; ++ul) memset(out[ul], 0, sizeof(T) * len_out);
                    return;
                }
            const i64 xrow = EVO_LAST > 0 ? evo_flat_in(z, q, EVO_LAST) : 0;
            for (i64 k = 0; k < share; ++k)
                xr[k] = xpad + ((b * G * cg + (gk * share + k) * cg + c1) * rows_in + xrow) * xw;
            for (i64 jc = ilo; jc < ihi; jc += CW) {
                const i64 j0 = evo_chunk_start(jc, CW, ilo, ihi);
                evo_ktiles<T>(out.data(), evo_min(CW, ihi - j0), dyr.data(), xr.data(), share, xoff, taps, j0);
            }
            if (evo_last::affine) return;
            // a clamped or wrapping axis: position by position; channel k of the kernel group at x0 + k·C_g·plane_in
            const T* x0 = x + ((b * G * cg + gk * share * cg + c1) * rows_in + xrow) * len_in;
            const i64 xs = cg * plane_in;
            static thread_local std::vector<const T*> xw0;   // the window of interior position at, per channel
            xw0.resize(share);
            for (const evo_border_run& br : bruns) {
                if (runs && br.near) {   // positions reading the nearest interior position's window: a block
                    const i64 at = br.side == 0 ? ilo : ihi - 1;
                    for (i64 k = 0; k < share; ++k) xw0[k] = xr[k] + xoff[0] + at;   // at's first tap, channel k
                    evo_border_block<T>(out[0] + br.p0, plane_out, taps, d0 + br.p0, dpw, br.n, xw0.data(), share);
                    continue;
                }
                for (i64 pl = br.p0; pl < br.p0 + br.n; ++pl)   // any other: one position at a time
                    for (i64 ul = 0; ul < taps; ++ul) {
                        const T* xp = x0 + evo_last::q(z, pl, ul);
                        const T* dp = d0 + pl;                        // dyr[k] = d0 + k·dpw
                        T acc = 0;
                        for (i64 k = 0; k < share; ++k) acc += dp[k * dpw] * xp[k * xs];
                        out[ul][pl] = acc;
                    }
            }
        };
        evo_tap_loops<0, EVO_LAST>(z, p, lo, hi, u, q, correlate);
        if (bias)   // attend's β (entry e of the logits, or e mod bias_entries where β is given once for the batch)
            evo_add_rows<T>(de, bias + (e % bias_entries) * per_entry + r * len_out, plane_out, evo_taps_all(z), len_out);
        if (softmax) evo_softmax_rows<T>(de, plane_out, evo_taps_all(z), len_out);   // this row of every tap: cache-hot
    }
}

// dkt: one task per entry of kt before its position axes (b, kernel group, o', c', u…), which
// owns that entry's positions; an axis of length 1 (broadcast) sums over its full extent, a
// broadcast position axis has stride 0 and accumulates (a dot product along the last axis).
// attend (softmax): kt whole; β (``bias``, or null), laid out as kt's entries (b, kernel group, o', c') and their
// taps and positions, is added to every logit before the softmax; ``bias_once``: β has batch length 1 (the same
// for every sample), else one per sample
template <typename T>
static void evo_backward_kernel(const T* __restrict x, const T* __restrict dy, T* __restrict dkt, const evo_sizes& z,
                                const evo_layout& kl, const bool softmax = false, const T* __restrict bias = nullptr,
                                const bool bias_once = false) {
    const i64 G = evo_groups(z), og = evo_og(z), cg = evo_cg(z), share = evo_share(z);
    i64 full[EVO_AXES];
    evo_full_layout(z, og, cg, full);
    const i64 plane_in = evo_plane_in(z), plane_out = evo_plane_out(z);
    const i64 len_out = evo_last::len_out(z), len_in = evo_last::len_in(z);
    const i64 s = evo_last::stride(z);
    (void)len_in;
    (void)len_out;
    i64 ds[EVO_AXES], entries = 1, block = 1;   // dkt is contiguous in kt's shape; 0 where broadcast
    for (int a = EVO_AXES - 1; a >= 0; --a) {
        ds[a] = kl.size[a] == 1 ? 0 : block;
        block *= kl.size[a];
    }
    for (int a = 0; a < 4 + EVO_DIMS; ++a) entries *= kl.size[a];
    const i64 per_entry = block / (entries > 0 ? entries : 1);
    const i64 work = evo_batch(z) * G * og * cg * plane_out * evo_taps_all(z);
    if (entries == 0) return;
    bool tiled = s == 1 && evo_last::taps(z) <= 256;
    for (int a = 0; a < EVO_AXES; ++a) tiled = tiled && kl.size[a] == full[a];
    if (tiled) {
        evo_backward_kernel_tiled<T>(x, dy, dkt, z, softmax, bias, bias_once);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(EVO_THREADS) if (work > EVO_SERIAL_WORK)
    for (i64 e = 0; e < entries; ++e) {
        i64 lo[4 + EVO_DIMS], hi[4 + EVO_DIMS], rest = e;
        for (int a = 3 + EVO_DIMS; a >= 0; --a) {
            const i64 i = rest % kl.size[a];
            rest /= kl.size[a];
            lo[a] = kl.size[a] == 1 ? 0 : i;
            hi[a] = kl.size[a] == 1 ? full[a] : i + 1;
        }
        T* de = dkt + e * per_entry;
        memset(de, 0, sizeof(T) * per_entry);
        for (i64 b = lo[0]; b < hi[0]; ++b)
        for (i64 gk = lo[1]; gk < hi[1]; ++gk)
        for (i64 g = gk * share; g < (gk + 1) * share; ++g)
        for (i64 o1 = lo[2]; o1 < hi[2]; ++o1)
        for (i64 c1 = lo[3]; c1 < hi[3]; ++c1) {
            const T* xc = x + (b * G * cg + g * cg + c1) * plane_in;
            const T* dyo = dy + (b * G * og + g * og + o1) * plane_out;
            i64 p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS];
            auto correlate = [&]() {   // one (tap, position) of the axes before the last: the taps of the last
                const T* xrow = xc + (EVO_LAST > 0 ? evo_flat_in(z, q, EVO_LAST) * len_in : 0);
                const T* dyrow = dyo + (EVO_LAST > 0 ? evo_flat_out(z, p, EVO_LAST) * len_out : 0);
                T* drow = de;
                for (int a = 0; a < EVO_LAST; ++a) drow += p[a] * ds[4 + EVO_DIMS + a];
                const i64 dsl = ds[4 + EVO_DIMS + EVO_LAST];
                for (i64 ul = lo[4 + EVO_LAST]; ul < hi[4 + EVO_LAST]; ++ul)
                    evo_last_runs(z, ul, 0, len_out, [&](const i64 plo, const i64 n, const i64 q0, const i64 qs) {
                        const i64 phi = plo + n - 1;   // the run's output positions [plo, phi]
                        evo_row<T>(drow + plo * dsl, dsl, xrow + q0, qs, dyrow + plo, 1, phi - plo + 1);
                    });
            };
            evo_position_loops<0, EVO_LAST>(z, lo + 4, hi + 4, p, u, q, correlate);
        }
    }
    if (softmax) {   // attend: kt is whole (never broadcast); softmax over the taps of each (entry, row)
        const i64 blocks = evo_batch(z) * (G / share) * og * cg, rows = evo_rows_out(z), taps_all = evo_taps_all(z);
        const i64 bias_entries = bias_once && evo_batch(z) > 0 ? blocks / evo_batch(z) : blocks;   // β's entries: once, or per sample
#pragma omp parallel for collapse(2) schedule(static) num_threads(EVO_THREADS) if (work > EVO_SERIAL_WORK)
        for (i64 e = 0; e < blocks; ++e)
        for (i64 r = 0; r < rows; ++r) {
            if (bias)
                evo_add_rows<T>(dkt + e * taps_all * plane_out + r * len_out,
                                bias + (e % bias_entries) * taps_all * plane_out + r * len_out, plane_out, taps_all, len_out);
            evo_softmax_rows<T>(dkt + e * taps_all * plane_out + r * len_out, plane_out, taps_all, len_out);
        }
    }
}

// the attend_biased entry point: attend with β, laid out as the logits, added to them before the softmax;
// options[0] says how β is given (1: batch length 1, the same for every sample; 2: per sample). 1003 where the
// input does not fit the window, 1004 for a null β or another mode
template <typename T>
static int evo_attend_biased(const T* x, const T* dy, const T* bias, T* dkt, const i64* zv, const i64* layout,
                             const i64* options) {
    evo_sizes z;
    evo_layout kl;
    evo_unpack(zv, layout, &z, &kl);
    if (!evo_window_fits(z)) return 1003;
    if (!bias || (options[0] != 1 && options[0] != 2)) return 1004;
    evo_backward_kernel<T>(x, dy, dkt, z, kl, true, bias, options[0] == 1);
    return 0;
}

#endif
