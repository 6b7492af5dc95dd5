"""What the cells' compiled kernels share: numba's settings, a fast float32 tanh, the sigmoid, and
the work arrays of a fused generation step. Imported only by cells/*_compiled.py, so numba is
imported only when a compiled backend runs (backend.py).

Why kernels. A step of a cell is one recurrent GEMM (BLAS, already fast) and then a dozen
element-wise NumPy calls over (G*H, B) blocks: each call is a pass over memory plus Python and
ufunc overhead, which is most of a step at small H (docs/main_job.md, `bench/main_job.py`,
compares the two paths). A kernel does the whole element-wise part of a step in one pass, one
call. The NumPy code in cells/<kind>.py stays the readable reference: each kernel computes the
same numbered equations and the test suite checks both paths against each other and PyTorch.

float32 tanh. numba calls libm's scalar tanhf, far slower than NumPy's SIMD tanh, and it blocks
vectorisation. For float32 the kernels use the rational approximation of Eigen and XLA (odd
degree-13 over even degree-6 polynomial, clamped at +-7.905), which vectorises and is within
2.6e-7 of the exact tanh (about 4 float32 ulp near +-1; tests/test_nn_kernels.py measures it on
[-30, 30]). float64 (the gradient-check dtype) keeps libm's exact tanh. NaN goes through both
unchanged. sigmoid(x) = 0.5 + 0.5 * tanh(x / 2), as in functional.sigmoid_.

Loops run over units j, then over the batch b with 1-D row views: the inner loop is then
contiguous and vectorises. Constants come from an array's dtype (`one = x.dtype.type(1)`): a
Python literal is a float64 in numba and would silently promote float32 arithmetic to float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

# error_model="numpy": a division does not check for zero, so loops with one vectorise.
# fastmath "contract" only (fused multiply-add); no "nnan", so NaNs keep propagating.
jit = numba.njit(cache=True, error_model="numpy", fastmath={"contract"})


def tanh(x):
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


@overload(tanh)
def _tanh_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return _tanh_f32
    return lambda x: math.tanh(x)


@numba.njit
def sigmoid(x, half):
    return half * tanh(half * x) + half


@jit
def tanh_(x):
    """x <- tanh(x) in place, for any C-contiguous float array (the kernels' tanh, for tests)."""
    flat = x.reshape(-1)
    for k in range(flat.size):
        flat[k] = tanh(flat[k])


class FusedStep:
    """One layer's generation step on the compiled kernels: the weights laid out once, work arrays
    per batch size. A kind's subclass sets the row counts and defines `fuse` and `step`.

    The kernels index their stores as (units, slot, batch) and loop over units, then batch, and
    only the inner loop vectorises. For one row (B = 1) the stores are therefore laid out with a
    single "unit" and the H units as the batch axis, so the inner loop runs over H; the kernels
    compute the same, element-wise. Weights that differ per unit inside a kernel (peepholes)
    need the (units, batch) layout: such a subclass sets `flat_for_one_row = False`.
    """

    gate_rows = 1  # rows of G per unit
    input_rows = 1  # rows of Zx per unit
    flat_for_one_row = True

    def __init__(self, params: dict, options: dict, dtype):
        self.H, self.D = params["weight_hh"].data.shape[1], params["weight_ih"].data.shape[1]
        self.dtype = np.dtype(dtype)
        self.buffers: dict[int, dict] = {}
        self.fuse(params, options)

    def fuse(self, params: dict, options: dict) -> None:
        raise NotImplementedError

    def step(self, inp: np.ndarray, prev: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """inp (D, B) and the previous state(s) (H, B) -> the new state(s) (H, B), views into
        work arrays that the next call overwrites."""
        raise NotImplementedError

    def work(self, B: int) -> dict:
        """The work arrays for B rows (made once per B) and (rows, B) views of them."""
        if B in self.buffers:
            return self.buffers[B]
        H, D, dt = self.H, self.D, self.dtype
        ng, nx = self.gate_rows, self.input_rows
        w = {"stack": np.zeros((D + H + 1, B), dt), "xone": np.zeros((D + 1, B), dt), "hone": np.zeros((H + 1, B), dt)}
        for name in ("stack", "xone", "hone"):
            w[name][-1] = 1  # the bias column's input
        # the stores as the runs have them: G, TC and C step-major, Zx, S and RH unit-major
        if B == 1 and self.flat_for_one_row:
            w |= {"G": np.zeros((1, ng, H), dt), "Zx": np.zeros((nx, 1, H), dt), "S": np.zeros((1, 3, H), dt),
                  "C": np.zeros((3, 1, H), dt), "TC": np.zeros((1, 1, H), dt), "RH": np.zeros((1, 1, H), dt),
                  "no_bias": np.zeros(1, dt)}  # fmt: skip
            w |= {"z": w["G"][0].reshape(-1, 1), "zx": w["Zx"][:, 0].reshape(-1, 1),
                  "h_prev": w["S"][0, 0].reshape(H, 1), "h_new": w["S"][0, 1].reshape(H, 1),
                  "c_prev": w["C"][0, 0].reshape(H, 1), "c_new": w["C"][1, 0].reshape(H, 1),
                  "rh": w["RH"].reshape(H, 1)}  # fmt: skip
        else:
            w |= {"G": np.zeros((1, ng * H, B), dt), "Zx": np.zeros((nx * H, 1, B), dt), "S": np.zeros((H, 3, B), dt),
                  "C": np.zeros((3, H, B), dt), "TC": np.zeros((1, H, B), dt), "RH": np.zeros((H, 1, B), dt),
                  "no_bias": np.zeros(H, dt)}  # fmt: skip
            w |= {"z": w["G"][0], "zx": w["Zx"][:, 0], "h_prev": w["S"][:, 0], "h_new": w["S"][:, 1],
                  "c_prev": w["C"][0], "c_new": w["C"][1], "rh": w["RH"][:, 0]}  # fmt: skip
        self.buffers[B] = w
        return w
