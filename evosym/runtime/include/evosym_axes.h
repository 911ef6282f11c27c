// evosym_axes.h: the spatial axes of a generated kernel source, generically over their number. Included by
// the kernel headers (evosym_cpu_window.h, evosym_cuda_window.h); what it needs from the generated source:
//
//   EVO_DIMS                       the number of spatial axes (1 to 3)
//   struct evo_sizes               the operator's sizes; evo_unpack_sizes(zv, &z) fills it from the manifest's order
//   evo_batch, evo_groups, evo_og, evo_cg, evo_share (const evo_sizes&)   the channel map
//   template <int A> struct evo_axis   one specialisation per axis A < EVO_DIMS, printed by SymPy from the
//                                      proof: len_in, len_out, taps, q(p, u), stride, dilation, tap_lo(p),
//                                      tap_hi(p), and the inverse maps of its target (see the kernel header)
//
// The per-axis pieces are reached two ways: evo_axis<A>::f where A is a template argument (the nested loops
// below, unrolled by template recursion), and evo_len_in(z, a) etc. where a is a loop counter over
// 0..EVO_DIMS-1 (constant after unrolling; a chain of compile-time branches otherwise).
#ifndef EVOSYM_AXES_H
#define EVOSYM_AXES_H

#if !defined(EVO_DIMS) || EVO_DIMS < 1 || EVO_DIMS > 3
#error "evosym_axes.h: the generated source must define EVO_DIMS (1 to 3) before including a kernel header"
#endif

#define EVO_AXES (4 + 2 * EVO_DIMS)   // kt's axes: b, kernel group, o', c', u_0..u_{d-1}, p_0..p_{d-1}
#define EVO_AX(k) ((k) < EVO_DIMS ? (k) : 0)   // an axis that exists (the others' branches are dead)

// a helper that takes a loop body: inlined into its kernel (nvcc: device code only)
#if defined(__CUDACC__)
#define EVO_LOOP __device__ __forceinline__
#else
#define EVO_LOOP inline __attribute__((always_inline))
#endif

// kt's strides (0 where broadcast) and lengths per axis
struct evo_layout {
    i64 stride[EVO_AXES];
    i64 size[EVO_AXES];
};

#define EVO_PER_AXIS(name, ...)                                                                         \
    static EVO_FN i64 evo_##name(const evo_sizes& z, const int a) {                                     \
        return a == 0 ? evo_axis<0>::name(z) : a == 1 ? evo_axis<EVO_AX(1)>::name(z) : evo_axis<EVO_AX(2)>::name(z); \
    }
EVO_PER_AXIS(len_in)
EVO_PER_AXIS(len_out)
EVO_PER_AXIS(taps)
EVO_PER_AXIS(stride)
#undef EVO_PER_AXIS

static EVO_FN i64 evo_plane_in(const evo_sizes& z) {
    i64 n = 1;
    for (int a = 0; a < EVO_DIMS; ++a) n *= evo_len_in(z, a);
    return n;
}
static EVO_FN i64 evo_plane_out(const evo_sizes& z) {
    i64 n = 1;
    for (int a = 0; a < EVO_DIMS; ++a) n *= evo_len_out(z, a);
    return n;
}
static EVO_FN i64 evo_taps_all(const evo_sizes& z) {
    i64 n = 1;
    for (int a = 0; a < EVO_DIMS; ++a) n *= evo_taps(z, a);
    return n;
}
// row-major offsets of the first n axes' positions (input q, output p) or taps u, Horner form
static EVO_FN i64 evo_flat_in(const evo_sizes& z, const i64* q, const int n) {
    i64 f = q[0];
    for (int a = 1; a < n; ++a) f = f * evo_len_in(z, a) + q[a];
    return n > 0 ? f : 0;
}
static EVO_FN i64 evo_flat_out(const evo_sizes& z, const i64* p, const int n) {
    i64 f = p[0];
    for (int a = 1; a < n; ++a) f = f * evo_len_out(z, a) + p[a];
    return n > 0 ? f : 0;
}
static EVO_FN i64 evo_flat_taps(const evo_sizes& z, const i64* u, const int n) {
    i64 f = u[0];
    for (int a = 1; a < n; ++a) f = f * evo_taps(z, a) + u[a];
    return n > 0 ? f : 0;
}
// kt's full length on every axis (O_g, C_g as given)
static EVO_FN void evo_full_layout(const evo_sizes& z, const i64 og, const i64 cg, i64* full) {
    full[0] = evo_batch(z);
    full[1] = evo_groups(z) / evo_share(z);
    full[2] = og;
    full[3] = cg;
    for (int a = 0; a < EVO_DIMS; ++a) {
        full[4 + a] = evo_taps(z, a);
        full[4 + EVO_DIMS + a] = evo_len_out(z, a);
    }
}

static void evo_unpack(const i64* zv, const i64* layout, evo_sizes* z, evo_layout* kl) {
    evo_unpack_sizes(zv, z);
    for (int a = 0; a < EVO_AXES; ++a) {
        kl->stride[a] = layout[a];
        kl->size[a] = layout[EVO_AXES + a];
    }
}

// for A ≤ a < END, nested in axis order: u[a] over [lo[a], hi[a]], q[a] = q(p[a], u[a]); then body()
template <int A, int END, typename F>
EVO_LOOP void evo_tap_loops(const evo_sizes& z, const i64* p, const i64* lo, const i64* hi, i64* u, i64* q, F& body) {
    if constexpr (A >= END) {
        body();
    } else {
        for (u[A] = lo[A]; u[A] <= hi[A]; ++u[A]) {
            q[A] = evo_axis<A>::q(z, p[A], u[A]);
            evo_tap_loops<A + 1, END>(z, p, lo, hi, u, q, body);
        }
    }
}

// the taps of p that read the input on each axis, [tap_lo(p), tap_hi(p)]
static EVO_FN void evo_tap_range(const evo_sizes& z, const i64* p, i64* lo, i64* hi) {
    lo[0] = evo_axis<0>::tap_lo(z, p[0]);
    hi[0] = evo_axis<0>::tap_hi(z, p[0]);
    if (EVO_DIMS > 1) {
        lo[EVO_AX(1)] = evo_axis<EVO_AX(1)>::tap_lo(z, p[EVO_AX(1)]);
        hi[EVO_AX(1)] = evo_axis<EVO_AX(1)>::tap_hi(z, p[EVO_AX(1)]);
    }
    if (EVO_DIMS > 2) {
        lo[EVO_AX(2)] = evo_axis<EVO_AX(2)>::tap_lo(z, p[EVO_AX(2)]);
        hi[EVO_AX(2)] = evo_axis<EVO_AX(2)>::tap_hi(z, p[EVO_AX(2)]);
    }
}

// q[a] = q(p[a], u[a]) on every axis; whether all lie inside the input
static EVO_FN bool evo_offsets(const evo_sizes& z, const i64* p, const i64* u, i64* q) {
    q[0] = evo_axis<0>::q(z, p[0], u[0]);
    if (EVO_DIMS > 1) q[EVO_AX(1)] = evo_axis<EVO_AX(1)>::q(z, p[EVO_AX(1)], u[EVO_AX(1)]);
    if (EVO_DIMS > 2) q[EVO_AX(2)] = evo_axis<EVO_AX(2)>::q(z, p[EVO_AX(2)], u[EVO_AX(2)]);
    bool in = true;
    for (int a = 0; a < EVO_DIMS; ++a) in = in && q[a] >= 0 && q[a] < evo_len_in(z, a);
    return in;
}

// The kernels' own lengths at the sizes zv (in the manifest's order): B, groups, O_g, C_g, share, then per
// axis the input lengths, the output lengths and the taps. The runtime checks the manifest against them.
static int evo_extents(const i64* zv, i64* out) {
    evo_sizes z;
    evo_unpack_sizes(zv, &z);
    out[0] = evo_batch(z);
    out[1] = evo_groups(z);
    out[2] = evo_og(z);
    out[3] = evo_cg(z);
    out[4] = evo_share(z);
    for (int a = 0; a < EVO_DIMS; ++a) {
        out[5 + a] = evo_len_in(z, a);
        out[5 + EVO_DIMS + a] = evo_len_out(z, a);
        out[5 + 2 * EVO_DIMS + a] = evo_taps(z, a);
    }
    return 0;
}

#endif
