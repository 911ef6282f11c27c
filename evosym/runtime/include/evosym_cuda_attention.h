// evosym_cuda_attention.h: the fused local attention of a windowed Evolution form whose kernel is
// M·softmax(a ⋆ b) (+ a logit term beta): the logits (a windowed correlation), their softmax over the window
// and the aggregation in one pass, and the backward passes, written once for every operator and number of
// spatial axes. A generated CUDA source whose plan has the fused attention includes it after
// evosym_cuda_window.h (and so needs what that header needs), then defines the extern "C" entry points that
// call evo_run_attention_forward and evo_run_attention_backward.
#ifndef EVOSYM_CUDA_ATTENTION_H
#define EVOSYM_CUDA_ATTENTION_H

#include <math.h>

#ifndef EVOSYM_CUDA_WINDOW_H
#error "evosym_cuda_attention.h: include evosym_cuda_window.h first"
#endif

// ---- fused attention: shared pieces -------------------------------------------------------
static EVO_FN float evo_exp(float t) { return expf(t); }
static EVO_FN double evo_exp(double t) { return exp(t); }
static EVO_FN float evo_log(float t) { return logf(t); }
static EVO_FN double evo_log(double t) { return log(t); }

// beta[b', gk, u.., p..] (contiguous) is given once for the whole batch (mode 1: b' = 0) or per sample
// (mode 2: b' = b); mode 0: none. Its batch stride, in elements (0 when broadcast); -1 for a bad mode.
static i64 evo_bias_stride(const evo_sizes& z, const i64 mode, const void* bias) {
    if (mode < 0 || mode > 2 || (mode != 0) != (bias != 0)) return -1;
    return mode == 2 ? evo_div(evo_groups(z), evo_share(z)) * evo_taps_all(z) * evo_plane_out(z) : 0;
}

// a thread's place: the positions (kind EVO_OUT: p, EVO_IN: q), then its chunk of CH channels, kernel
// group gk and sample b
struct evo_place {
    i64 share, chunks, kgroups, chunk, gk, b, plane_in, plane_out, first;   // first: the group's first channel plane
};
template <int CH>
static EVO_FN evo_place evo_locate(const evo_sizes& z, const int kind, const i64 idx, i64* v) {
    evo_place w;
    i64 rest = idx;
    evo_unflatten(z, kind, rest, v);
    w.share = evo_share(z);
    w.chunks = evo_div(w.share, CH);
    w.kgroups = evo_div(evo_groups(z), w.share);
    w.chunk = evo_rem(rest, w.chunks);
    rest = evo_div(rest, w.chunks);
    w.gk = evo_rem(rest, w.kgroups);
    w.b = evo_div(rest, w.kgroups);
    w.plane_in = evo_plane_in(z);
    w.plane_out = evo_plane_out(z);
    w.first = w.b * evo_groups(z) + w.gk * w.share;
    return w;
}

// for A ≤ a < EVO_DIMS, nested in axis order: u[a] over every tap, q[a] = q(p[a], u[a]); then body(in), in:
// whether the tap lies inside the input on every axis
template <int A, typename F>
EVO_LOOP void evo_window_loops(const evo_sizes& z, const i64* p, i64* u, i64* q, const bool in, F& body) {
    if constexpr (A >= EVO_DIMS) {
        body(in);
    } else {
        for (u[A] = 0; u[A] < evo_axis<A>::taps(z); ++u[A]) {
            q[A] = evo_axis<A>::q(z, p[A], u[A]);
            evo_window_loops<A + 1>(z, p, u, q, in && q[A] >= 0 && q[A] < evo_axis<A>::len_in(z), body);
        }
    }
}

// ---- fused attention ------------------------------------------------------------------
// l[b, gk, u, p] = sum_{e < share} a[b, gk*share + e, p] * k~[b, gk*share + e, q(p, u)] (+ beta[b', gk, u, p])
//                  (k~ = 0 outside the input: such a tap has logit beta, or 0, and stays in the softmax, as in the
//                  proved form)
// y[b, c, p]     = sum_u softmax_u(l)[b, c / share, u, p] * v~[b, c, q(p, u)]
// lse[b, gk, p]  = log sum_u exp(l[b, gk, u, p]), saved for the backward passes.
// One thread per (b, gk, chunk of CH channels, p). An online softmax: a running maximum m, the running
// sum s of exp(l - m) and CH running outputs, rescaled when m grows; the logits are never stored.
template <int CH, typename T>
__global__ void evo_attention_forward(const T* __restrict__ a, const T* __restrict__ kk,
                                            const T* __restrict__ v, const T* __restrict__ bias,
                                            T* __restrict__ y, T* __restrict__ lse, const evo_sizes z,
                                            const i64 bstride, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS];
    const evo_place w = evo_locate<CH>(z, EVO_OUT, idx, p);
    const i64 share = w.share, plane_in = w.plane_in, plane_out = w.plane_out, first = w.first, chunk = w.chunk;
    const i64 pflat = evo_flat_out(z, p, EVO_DIMS);
    const T* ap = a + first * plane_out + pflat;            // a[b, gk*share + e, p] = ap[e * plane_out]
    const T* bp = bias ? bias + w.b * bstride + w.gk * evo_taps_all(z) * plane_out + pflat : 0;   // beta[.., u, p] = bp[u * plane_out]
    const T* kg = kk + first * plane_in;
    const T* vc = v + (first + chunk * CH) * plane_in;
    T m = -INFINITY, s = 0, acc[CH];
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) acc[r] = 0;
    auto tap = [&](const bool in) {
        const i64 off = in ? evo_flat_in(z, q, EVO_DIMS) : 0;
        T logit = 0;
        if (in)
            for (i64 e = 0; e < share; ++e) logit += ap[e * plane_out] * kg[e * plane_in + off];
        if (bp) logit += bp[evo_flat_taps(z, u, EVO_DIMS) * plane_out];
        if (logit > m) {                      // a new maximum: rescale what was summed so far
            const T scale = evo_exp(m - logit);
            s *= scale;
            EVO_UNROLL
            for (int r = 0; r < CH; ++r) acc[r] *= scale;
            m = logit;
        }
        const T wt = evo_exp(logit - m);
        s += wt;
        if (in) {
            EVO_UNROLL
            for (int r = 0; r < CH; ++r) acc[r] += wt * vc[r * plane_in + off];
        }
    };
    evo_window_loops<0>(z, p, u, q, true, tap);
    T* yp = y + (first + chunk * CH) * plane_out + pflat;
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) yp[r * plane_out] = acc[r] / s;
    if (chunk == 0) lse[(w.b * w.kgroups + w.gk) * plane_out + pflat] = m + evo_log(s);
}

// da[b, c, p] = sum_u ds[u] * k~[b, c, q(p, u)] with ds[u] = A[u] * (dA[u] - D[b, gk, p]), A[u] = exp(l[u] - lse),
// dA[u] = sum_{e < share} dy[b, gk*share + e, p] * v~[b, gk*share + e, q(p, u)], D = sum_{c in gk} dy * y.
// Taps outside the input add nothing here (k~ = 0 there), so the tap range is clamped to the input.
// One thread per (b, gk, chunk of CH channels, p); the logits are recomputed.
template <int CH, typename T>
__global__ void evo_attention_backward_query(const T* __restrict__ a, const T* __restrict__ kk,
                                                   const T* __restrict__ v, const T* __restrict__ bias,
                                                   const T* __restrict__ dy, const T* __restrict__ lse,
                                                   const T* __restrict__ delta, T* __restrict__ da,
                                                   const evo_sizes z, const i64 bstride, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], lo[EVO_DIMS], hi[EVO_DIMS];
    const evo_place w = evo_locate<CH>(z, EVO_OUT, idx, p);
    const i64 share = w.share, plane_in = w.plane_in, plane_out = w.plane_out, first = w.first;
    const i64 pflat = evo_flat_out(z, p, EVO_DIMS), at = (w.b * w.kgroups + w.gk) * plane_out + pflat;
    const T lse_p = lse[at], d_p = delta[at];
    const T* ap = a + first * plane_out + pflat;
    const T* bp = bias ? bias + w.b * bstride + w.gk * evo_taps_all(z) * plane_out + pflat : 0;
    const T* dyp = dy + first * plane_out + pflat;
    const T* kg = kk + first * plane_in;
    const T* vg = v + first * plane_in;
    const T* kc = kg + w.chunk * CH * plane_in;
    evo_tap_range(z, p, lo, hi);
    T acc[CH];
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) acc[r] = 0;
    auto tap = [&]() {
        const i64 off = evo_flat_in(z, q, EVO_DIMS);
        T logit = 0, dA = 0;
        for (i64 e = 0; e < share; ++e) {
            logit += ap[e * plane_out] * kg[e * plane_in + off];
            dA += dyp[e * plane_out] * vg[e * plane_in + off];
        }
        if (bp) logit += bp[evo_flat_taps(z, u, EVO_DIMS) * plane_out];
        const T ds = evo_exp(logit - lse_p) * (dA - d_p);
        EVO_UNROLL
        for (int r = 0; r < CH; ++r) acc[r] += ds * kc[r * plane_in + off];
    };
    evo_tap_loops<0, EVO_DIMS>(z, p, lo, hi, u, q, tap);
    T* dap = da + (first + w.chunk * CH) * plane_out + pflat;
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) dap[r * plane_out] = acc[r];
}

// dk[b, c, q] = sum_{(p, u): q(p, u) = q} ds[b, gk, u, p] * a[b, c, p] and dv[b, c, q] = sum_{(p, u)} A[b, gk, u, p] * dy[b, c, p]:
// one thread per (b, gk, chunk of CH channels, q), over the (p, u) whose tap reads q (the input gradient's inverse map).
template <int CH, typename T>
__global__ void evo_attention_backward_kv(const T* __restrict__ a, const T* __restrict__ kk,
                                                const T* __restrict__ v, const T* __restrict__ bias,
                                                const T* __restrict__ dy, const T* __restrict__ lse,
                                                const T* __restrict__ delta, T* __restrict__ dk,
                                                T* __restrict__ dv, const evo_sizes z, const i64 bstride,
                                                const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS], blo[EVO_DIMS], bhi[EVO_DIMS];
    const evo_place w = evo_locate<CH>(z, EVO_IN, idx, q);
    const i64 share = w.share, plane_in = w.plane_in, plane_out = w.plane_out, first = w.first, chunk = w.chunk;
    const i64 qflat = evo_flat_in(z, q, EVO_DIMS);
    const T* ag = a + first * plane_out;
    const T* dyg = dy + first * plane_out;
    const T* kq = kk + first * plane_in + qflat;
    const T* vq = v + first * plane_in + qflat;
    const T* lg = lse + (w.b * w.kgroups + w.gk) * plane_out;
    const T* dg = delta + (w.b * w.kgroups + w.gk) * plane_out;
    const T* bg = bias ? bias + w.b * bstride + w.gk * evo_taps_all(z) * plane_out : 0;
    evo_back_range<0>(z, q, blo, bhi);
    T gkey[CH], gval[CH];
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) gkey[r] = gval[r] = 0;
    auto tap = [&]() {
        const i64 pf = evo_flat_out(z, p, EVO_DIMS);
        T logit = 0, dA = 0;
        for (i64 e = 0; e < share; ++e) {
            logit += ag[e * plane_out + pf] * kq[e * plane_in];
            dA += dyg[e * plane_out + pf] * vq[e * plane_in];
        }
        if (bg) logit += bg[evo_flat_taps(z, u, EVO_DIMS) * plane_out + pf];
        const T wt = evo_exp(logit - lg[pf]), ds = wt * (dA - dg[pf]);
        EVO_UNROLL
        for (int r = 0; r < CH; ++r) {
            gkey[r] += ds * ag[(chunk * CH + r) * plane_out + pf];
            gval[r] += wt * dyg[(chunk * CH + r) * plane_out + pf];
        }
    };
    evo_inverse_loops<0>(z, q, blo, bhi, p, u, tap);
    EVO_UNROLL
    for (int r = 0; r < CH; ++r) {
        dk[(first + chunk * CH + r) * plane_in + qflat] = gkey[r];
        dv[(first + chunk * CH + r) * plane_in + qflat] = gval[r];
    }
}

// dbeta[b', gk, u, p] = sum over the samples b that read it (all of them when beta is broadcast, mode 1; b = b'
// otherwise) of ds[b, gk, u, p] = A * (dA - D), every tap included (outside the input: logit beta, dA = 0).
// One thread per entry of dbeta; the logits are recomputed.
template <typename T>
__global__ void evo_attention_backward_bias(const T* __restrict__ a, const T* __restrict__ kk,
                                                  const T* __restrict__ v, const T* __restrict__ bias,
                                                  const T* __restrict__ dy, const T* __restrict__ lse,
                                                  const T* __restrict__ delta, T* __restrict__ dbias,
                                                  const evo_sizes z, const i64 bstride, const i64 total) {
    const i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    i64 rest = idx, p[EVO_DIMS], u[EVO_DIMS], q[EVO_DIMS];
    evo_unflatten(z, EVO_OUT, rest, p);
    evo_unflatten(z, EVO_TAPS, rest, u);
    const i64 share = evo_share(z), kgroups = evo_div(evo_groups(z), share);
    const i64 gk = evo_rem(rest, kgroups), bb = evo_div(rest, kgroups);
    const i64 plane_in = evo_plane_in(z), plane_out = evo_plane_out(z), pflat = evo_flat_out(z, p, EVO_DIMS);
    const bool in = evo_offsets(z, p, u, q);
    const i64 off = in ? evo_flat_in(z, q, EVO_DIMS) : 0;
    const T beta = bias[idx];
    T acc = 0;
    for (i64 b = bstride ? bb : 0; b < (bstride ? bb + 1 : evo_batch(z)); ++b) {
        const i64 first = b * evo_groups(z) + gk * share, at = (b * kgroups + gk) * plane_out + pflat;
        T logit = beta, dA = 0;
        if (in)
            for (i64 e = 0; e < share; ++e) {
                logit += a[(first + e) * plane_out + pflat] * kk[(first + e) * plane_in + off];
                dA += dy[(first + e) * plane_out + pflat] * v[(first + e) * plane_in + off];
            }
        acc += evo_exp(logit - lse[at]) * (dA - delta[at]);
    }
    dbias[idx] = acc;
}

// the fused attention's launchers: CH as in evo_chunk; refused unless O_g = C_g = 1 (code 1002), the window
// fits the input (1003) and the options name beta's layout (1004)
template <typename T>
static int evo_run_attention_forward(const T* a, const T* kk, const T* v, const T* bias, T* y, T* lse, const i64* zv,
                                     const i64* opts, void* stream) {
    evo_sizes z;
    evo_unpack_sizes(zv, &z);
    if (!evo_window_fits(z)) return 1003;
    const int ch = evo_chunk(z);
    if (ch == 0) return 1002;
    const i64 bstride = evo_bias_stride(z, opts[0], bias);
    if (bstride < 0) return 1004;
    const i64 total = evo_batch(z) * evo_groups(z) * evo_plane_out(z) / ch;
    unsigned blocks = 0;
    const int rc = evo_blocks(total, &blocks);
    if (rc) return rc < 0 ? 0 : rc;
    EVO_DISPATCH(ch, evo_attention_forward, evo_attention_forward<1>, blocks, EVO_THREADS, stream, a, kk, v, bias, y,
                 lse, z, bstride, total);
    return EVO_LAST_ERROR();
}

template <typename T>
static int evo_run_attention_backward(const T* a, const T* kk, const T* v, const T* bias, const T* dy, const T* lse,
                                      const T* delta, T* dbias, T* da, T* dk, T* dv, const i64* zv, const i64* opts,
                                      void* stream) {
    evo_sizes z;
    evo_unpack_sizes(zv, &z);
    if (!evo_window_fits(z)) return 1003;
    const int ch = evo_chunk(z);
    if (ch == 0) return 1002;
    const i64 bstride = evo_bias_stride(z, opts[0], bias);
    if (bstride < 0 || (dbias && !bias)) return 1004;
    const i64 total_q = evo_batch(z) * evo_groups(z) * evo_plane_out(z) / ch;
    const i64 total_kv = evo_batch(z) * evo_groups(z) * evo_plane_in(z) / ch;
    unsigned blocks = 0;
    int rc = evo_blocks(total_q, &blocks);
    if (rc > 0) return rc;
    if (rc == 0) {
        EVO_DISPATCH(ch, evo_attention_backward_query, evo_attention_backward_query<1>, blocks, EVO_THREADS, stream,
                     a, kk, v, bias, dy, lse, delta, da, z, bstride, total_q);
        rc = EVO_LAST_ERROR();
        if (rc) return rc;
    }
    rc = evo_blocks(total_kv, &blocks);
    if (rc > 0) return rc;
    if (rc == 0) {
        EVO_DISPATCH(ch, evo_attention_backward_kv, evo_attention_backward_kv<1>, blocks, EVO_THREADS, stream,
                     a, kk, v, bias, dy, lse, delta, dk, dv, z, bstride, total_kv);
        rc = EVO_LAST_ERROR();
        if (rc) return rc;
    }
    if (!dbias) return 0;
    const i64 total_bias = (bstride ? evo_batch(z) : 1) * evo_div(evo_groups(z), evo_share(z)) * evo_taps_all(z)
                           * evo_plane_out(z);
    rc = evo_blocks(total_bias, &blocks);
    if (rc) return rc < 0 ? 0 : rc;
    EVO_LAUNCH(evo_attention_backward_bias, blocks, EVO_THREADS, stream, a, kk, v, bias, dy, lse, delta, dbias, z,
               bstride, total_bias);
    return EVO_LAST_ERROR();
}

#endif
