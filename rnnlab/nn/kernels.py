"""Optional compiled kernels (numba) for the per-step gate arithmetic of the cells.

Why. A step of a cell is one recurrent GEMM (BLAS, already fast) and then a dozen element-wise
NumPy calls over (G*H, B) blocks: each call is a pass over memory plus ~1-2 us of Python and ufunc
overhead, which is most of a step at small H. The kernels here do the whole element-wise part of a
step in one pass, one call. The NumPy code in cells/*.py stays the readable reference: each kernel
computes the same numbered equations (the numbers refer to the cell's docstring) and the test suite
checks both paths against each other and against PyTorch.

Choosing the path. `compiled_available()` says whether numba imported; `use_compiled(flag)` turns
the compiled path on or off (it is on by default when numba is installed, `pip install rnnlab[fast]`);
`compiled_active()` is what a forward pass checks when it starts.

float32 tanh. numba calls libm's scalar tanhf (~20 ns per element here), far slower than NumPy's
SIMD tanh, and it blocks vectorisation. For float32 the kernels use the rational approximation of
Eigen and XLA (odd degree-13 over even degree-6 polynomial, clamped at +-7.905), which vectorises
and is within 2.6e-7 of the exact tanh (about 4 float32 ulp near +-1; tests/test_nn_kernels.py
measures it on [-30, 30]).
float64 (the gradient-check dtype) keeps libm's exact tanh. NaN goes through both unchanged.
sigmoid(x) = 0.5 + 0.5 * tanh(x / 2), as in functional.sigmoid_.
"""

from __future__ import annotations

import math

try:
    import numba
    from numba import types
    from numba.extending import overload
except ImportError:  # the reference NumPy path runs instead
    numba = None

_use = numba is not None


def compiled_available() -> bool:
    """True when numba is installed (the `fast` extra)."""
    return numba is not None


def use_compiled(flag: bool) -> None:
    """Turn the compiled kernels on or off for forward passes that start after this call."""
    global _use
    if flag and numba is None:
        raise ImportError("the compiled path needs numba: pip install rnnlab[fast]")
    _use = bool(flag)


def compiled_active() -> bool:
    return _use


if numba is not None:
    # error_model="numpy": a division does not check for zero, so loops with one vectorise.
    # fastmath "contract" only (fused multiply-add); no "nnan", so NaNs keep propagating.
    # Constants come from an array's dtype (`one = x.dtype.type(1)`): a Python literal is a
    # float64 in numba and would silently promote float32 arithmetic to float64.
    _jit = numba.njit(cache=True, error_model="numpy", fastmath={"contract"})

    def _tanh(x):
        return math.tanh(x)

    def _tanh_f32(x):
        clamp = types.float32(7.90531110763549805)
        # comparisons are false for NaN, which then propagates
        v = clamp if x > clamp else (-clamp if x < -clamp else x)
        x2 = v * v
        p = x2 * types.float32(-2.76076847742355e-16) + types.float32(2.00018790482477e-13)
        p = x2 * p + types.float32(-8.60467152213735e-11)
        p = x2 * p + types.float32(5.12229709037114e-08)
        p = x2 * p + types.float32(1.48572235717979e-05)
        p = x2 * p + types.float32(6.37261928875436e-04)
        p = x2 * p + types.float32(4.89352455891786e-03)
        q = x2 * types.float32(1.19825839466702e-06) + types.float32(1.18534705686654e-04)
        q = x2 * q + types.float32(2.26843463243900e-03)
        q = x2 * q + types.float32(4.89352518554385e-03)
        return v * p / q

    @overload(_tanh)
    def _tanh_overload(x):
        if isinstance(x, types.Float) and x.bitwidth == 32:
            return _tanh_f32
        return lambda x: math.tanh(x)

    @numba.njit
    def _sigmoid(x, half):
        return half * _tanh(half * x) + half

    @_jit
    def tanh_(x):
        """x <- tanh(x) in place, for any C-contiguous float array (used by tests and sampling)."""
        flat = x.reshape(-1)
        for k in range(flat.size):
            flat[k] = _tanh(flat[k])

    # Loops run over units j, then over the batch b with 1-D row views: the inner loop is then
    # contiguous and vectorises (measured 1.4x faster than 3-D indexing in the inner loop). A GRU
    # step reads h_prev and writes h in the same store S; in one loop that stopped LLVM from
    # vectorising (4.5x slower), so the new state gets a loop of its own.

    # --- Elman RNN (cells/rnn.py) -------------------------------------------------------------
    @_jit
    def rnn_forward(z, Zx, S, t, cur, relu):
        """h = f(z + zx_t), z = W_hh h_prev already in z (1) (2)."""
        zero = z.dtype.type(0)
        for j in range(z.shape[0]):
            a, ax, h = z[j], Zx[j, t], S[j, cur]
            for b in range(a.shape[0]):
                v = a[b] + ax[b]
                h[b] = (v if v > zero else zero * v) if relu else _tanh(v)

    @_jit
    def rnn_backward(S, cur, dh, dZ, t, relu):
        """dz = dh * f'(z), from the output h (2)."""
        one, zero = S.dtype.type(1), S.dtype.type(0)
        for j in range(dh.shape[0]):
            h, d, dz = S[j, cur], dh[j], dZ[j, t]
            for b in range(h.shape[0]):
                dz[b] = (d[b] if h[b] > zero else zero * d[b]) if relu else d[b] * (one - h[b] * h[b])

    # --- LSTM (cells/lstm.py) -----------------------------------------------------------------
    @_jit
    def lstm_forward(G, Zx, C, TC, S, t, prev, cur, w_ci, w_cf, w_co, peephole):
        """Equations (2)-(5) of one step; G[t] holds W_hh h_prev on entry and the gates on exit."""
        half, zero = G.dtype.type(0.5), G.dtype.type(0)
        H = C.shape[1]
        for j in range(H):
            gi, gf, gg, go = G[t, j], G[t, H + j], G[t, 2 * H + j], G[t, 3 * H + j]
            xi, xf, xg, xo = Zx[j, t], Zx[H + j, t], Zx[2 * H + j, t], Zx[3 * H + j, t]
            c_prev, c_new, tanh_c, h = C[prev, j], C[cur, j], TC[t, j], S[j, cur]
            pi, pf, po = (w_ci[j], w_cf[j], w_co[j]) if peephole else (zero, zero, zero)
            for b in range(h.shape[0]):
                i = _sigmoid(gi[b] + xi[b] + pi * c_prev[b], half)  # (2)
                f = _sigmoid(gf[b] + xf[b] + pf * c_prev[b], half)  # (2)
                g = _tanh(gg[b] + xg[b])  # (2)
                c = f * c_prev[b] + i * g  # (3)
                o = _sigmoid(go[b] + xo[b] + po * c, half)  # (4)
                tc = _tanh(c)
                gi[b], gf[b], gg[b], go[b] = i, f, g, o
                c_new[b], tanh_c[b] = c, tc
                h[b] = o * tc  # (5)

    @_jit
    def lstm_backward(G, C, TC, prev, dh, dc, dZ, t, w_ci, w_cf, w_co, peephole):
        """dz of one step into dZ[:, t] and dc <- dc_prev; dh_prev = W_hh^T dz is the caller's."""
        one, zero = G.dtype.type(1), G.dtype.type(0)
        H = dh.shape[0]
        for j in range(H):
            gi, gf, gg, go = G[t, j], G[t, H + j], G[t, 2 * H + j], G[t, 3 * H + j]
            di, df, dg, do = dZ[j, t], dZ[H + j, t], dZ[2 * H + j, t], dZ[3 * H + j, t]
            c_prev, tanh_c, dhj, dcj = C[prev, j], TC[t, j], dh[j], dc[j]
            pi, pf, po = (w_ci[j], w_cf[j], w_co[j]) if peephole else (zero, zero, zero)
            for b in range(dhj.shape[0]):
                i, f, g, o, tc, d = gi[b], gf[b], gg[b], go[b], tanh_c[b], dhj[b]
                dz_o = d * tc * o * (one - o)  # (5) (4)
                dcv = dcj[b] + d * o * (one - tc * tc) + po * dz_o  # (5) (4)
                dz_i = dcv * g * i * (one - i)  # (3) (2)
                dz_f = dcv * c_prev[b] * f * (one - f)  # (3) (2)
                di[b], df[b], dg[b], do[b] = dz_i, dz_f, dcv * i * (one - g * g), dz_o  # (3) (2)
                dcj[b] = dcv * f + pi * dz_i + pf * dz_f  # (3) (2)

    # --- GRU (cells/gru.py) -------------------------------------------------------------------
    @_jit
    def gru_after_forward(G, Zx, S, t, prev, cur, b_hn):
        """reset="after", (2)-(4); G[t] rows r, z, hn hold W_hh h_prev on entry; rows r, z, hn, n
        hold the gates, W_hn h_prev + b_hn and n on exit."""
        half = G.dtype.type(0.5)
        H = b_hn.shape[0]
        for j in range(H):
            gr, gz, ghn, gn = G[t, j], G[t, H + j], G[t, 2 * H + j], G[t, 3 * H + j]
            xr, xz, xn = Zx[j, t], Zx[H + j, t], Zx[2 * H + j, t]
            h_prev, h, bj = S[j, prev], S[j, cur], b_hn[j]
            for b in range(h.shape[0]):
                r = _sigmoid(gr[b] + xr[b], half)  # (2)
                z = _sigmoid(gz[b] + xz[b], half)  # (2)
                hn = ghn[b] + bj  # (3)
                gr[b], gz[b], ghn[b], gn[b] = r, z, hn, _tanh(xn[b] + r * hn)  # (3)
            for b in range(h.shape[0]):
                h[b] = gn[b] + gz[b] * (h_prev[b] - gn[b])  # (4)

    @_jit
    def gru_after_backward(G, S, prev, dh, dZ, dZN, direct, t):
        """dz of one step into dZ[:, t] (rows dr_pre, dz_pre, dhn), dn_pre into dZN[:, t] and the
        direct part dh * z of dh_prev into `direct`; the caller adds W_hh^T dz."""
        one = G.dtype.type(1)
        H = dh.shape[0]
        for j in range(H):
            gr, gz, ghn, gn = G[t, j], G[t, H + j], G[t, 2 * H + j], G[t, 3 * H + j]
            dr, dzz, dhn, dn = dZ[j, t], dZ[H + j, t], dZ[2 * H + j, t], dZN[j, t]
            h_prev, dhj, dd = S[j, prev], dh[j], direct[j]
            for b in range(dhj.shape[0]):
                r, z, hn, n, d = gr[b], gz[b], ghn[b], gn[b], dhj[b]
                dn_pre = d * (one - z) * (one - n * n)  # (4) (3)
                dr[b] = dn_pre * hn * r * (one - r)  # dr_pre (3) (2)
                dzz[b] = d * (h_prev[b] - n) * z * (one - z)  # dz_pre (4) (2)
                dhn[b] = dn_pre * r  # (3)
                dn[b] = dn_pre
                dd[b] = d * z  # (4)

    @_jit
    def gru_before_gates(G, Zx, S, RH, t, prev):
        """reset="before", (2) and the r * h_prev of (3); G[t] rows r, z hold W_hr,hz h_prev."""
        half = G.dtype.type(0.5)
        H = RH.shape[0]
        for j in range(H):
            gr, gz, xr, xz = G[t, j], G[t, H + j], Zx[j, t], Zx[H + j, t]
            h_prev, rh = S[j, prev], RH[j, t]
            for b in range(rh.shape[0]):
                r = _sigmoid(gr[b] + xr[b], half)  # (2)
                gr[b] = r
                gz[b] = _sigmoid(gz[b] + xz[b], half)  # (2)
                rh[b] = r * h_prev[b]  # (3)

    @_jit
    def gru_before_output(G, Zx, S, t, prev, cur):
        """reset="before", the rest of (3) and (4); G[t] rows n hold W_hn (r * h_prev)."""
        H = S.shape[0]
        for j in range(H):
            gz, gn, xn = G[t, H + j], G[t, 2 * H + j], Zx[2 * H + j, t]
            h_prev, h = S[j, prev], S[j, cur]
            for b in range(h.shape[0]):
                gn[b] = _tanh(gn[b] + xn[b])  # (3)
            for b in range(h.shape[0]):
                h[b] = gn[b] + gz[b] * (h_prev[b] - gn[b])  # (4)

    @_jit
    def gru_before_backward_n(G, S, prev, dh, dZ, t):
        """dz_pre and dn_pre of one step into dZ[:, t] (rows z and n)."""
        one = G.dtype.type(1)
        H = dh.shape[0]
        for j in range(H):
            gz, gn, dzz, dn = G[t, H + j], G[t, 2 * H + j], dZ[H + j, t], dZ[2 * H + j, t]
            h_prev, dhj = S[j, prev], dh[j]
            for b in range(dhj.shape[0]):
                z, n, d = gz[b], gn[b], dhj[b]
                dzz[b] = d * (h_prev[b] - n) * z * (one - z)  # (4) (2)
                dn[b] = d * (one - z) * (one - n * n)  # (4) (3)

    @_jit
    def gru_before_backward_r(G, S, prev, dh, drh, dZ, direct, t):
        """dr_pre into dZ[:, t] from drh = W_hn^T dn_pre, and the direct part dh * z + drh * r
        of dh_prev into `direct`; the caller adds W_hr,hz^T [dr_pre; dz_pre]."""
        one = G.dtype.type(1)
        H = dh.shape[0]
        for j in range(H):
            gr, gz, dr = G[t, j], G[t, H + j], dZ[j, t]
            h_prev, dhj, drj, dd = S[j, prev], dh[j], drh[j], direct[j]
            for b in range(dhj.shape[0]):
                r = gr[b]
                dr[b] = drj[b] * h_prev[b] * r * (one - r)  # (3) (2)
                dd[b] = dhj[b] * gz[b] + drj[b] * r  # (4) (3)
