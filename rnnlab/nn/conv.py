"""Image layers as torch.nn: Conv2d, MaxPool2d and Flatten, NCHW, batched (N, C, H, W) or not (C, H, W).

Shapes: x (N, C, H, W); a kernel (kh, kw), stride (sh, sw), zero padding (ph, pw); the padded
input xp (N, C, Hp, Wp) with Hp = H + 2 ph, Wp = W + 2 pw; the output (N, O, Ho, Wo) with
Ho = (Hp - kh) // sh + 1 and Wo = (Wp - kw) // sw + 1; K = C kh kw numbers per window.

Conv2d through im2col: one column of `cols` per output position p = (n, i, j), one row per
(c, a, b) of the window, and the weight flattened to W_mat (O, K):
    cols[(c, a, b), p] = xp[n, c, i sh + a, j sw + b]      (1)   a strided view of xp, copied once
    Y = W_mat @ cols + bias[:, None]                       (2)   one GEMM, (O, N Ho Wo); y = Y as (N, O, Ho, Wo)

Backward, given dy (N, O, Ho, Wo), read as dY (O, N Ho Wo) by the column order of (2):
    dW_mat = dY @ cols^T                                   (2)   one GEMM, reshaped to (O, C, kh, kw)
    dbias[o] = sum_p dY[o, p]                              (2)
    dcols = W_mat^T @ dY                                   (2)   one GEMM, (K, N Ho Wo)
    dxp[n, c, i sh + a, j sw + b] += dcols[(c, a, b), p]   (1)   col2im: for each of the kh kw offsets
                                                                 (a, b), one strided slice of dxp
    dx = dxp without its padding                           (1)
Each xp element sits in every window that covers it, so (1) read backwards is a sum (a scatter-add),
not a copy: windows overlap whenever the stride is smaller than the kernel. Channel-major columns
(rather than one row per position) keep both the im2col copy and the col2im slices contiguous
along the image rows: about twice as fast on a 2-core CPU.

MaxPool2d, padding with -inf (a pad never wins), the same windows as (1):
    y[n, c, i, j] = max_{a, b} xp[n, c, i sh + a, j sw + b]                         (3)
    (a*, b*) = the first maximum in row-major window order (torch's choice on ties)  (3)
    dxp[n, c, i sh + a*, j sw + b*] += dy[n, c, i, j]; dx = dxp without its padding (3)

Flatten(start_dim=1, end_dim=-1), a reshape: y = x.reshape(x.shape[:s] + (-1,) + x.shape[e+1:]),
dx = dy.reshape(x.shape)                                   (4)
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .core import Module, check_dtype, check_shape, positive_int, uniform_init
from .layers import _float_input, _no_tape


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each >= minimum, as a tuple, or a ValueError naming `name`."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in items
    ):
        raise ValueError(f"{name} must be an integer >= {minimum} or a pair (h, w) of them, got {value!r}")
    return int(items[0]), int(items[1])


def _image_input(module: Module, x, dtype=None) -> tuple[np.ndarray, bool]:
    """x as a (N, C, H, W) float array and whether it came unbatched (C, H, W)."""
    x = _float_input("x", x, dtype, ndims=(3, 4))
    unbatched = x.ndim == 3
    x = x[None] if unbatched else x
    ph, pw = module.padding
    kh, kw = module.kernel_size
    if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
        raise ValueError(
            f"x has shape {x.shape[unbatched:]}: its padded size ({x.shape[2] + 2 * ph}, "
            f"{x.shape[3] + 2 * pw}) (H + 2*padding, W + 2*padding) is smaller than kernel_size {module.kernel_size}"
        )
    return x, unbatched


def _pad(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """The (N, C, Ho, Wo, kh, kw) view of every window of xp (no copy)."""
    return sliding_window_view(xp, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


def _offset_slice(a: int, b: int, stride: tuple[int, int], out_hw: tuple[int, int]) -> tuple[slice, ...]:
    """The xp positions (i sh + a, j sw + b) for all output positions (i, j), as a slice."""
    (sh, sw), (Ho, Wo) = stride, out_hw
    return (slice(None), slice(None), slice(a, a + sh * (Ho - 1) + 1, sh), slice(b, b + sw * (Wo - 1) + 1, sw))


def _crop(dxp: np.ndarray, padding: tuple[int, int], unbatched: bool) -> np.ndarray:
    ph, pw = padding
    dx = np.ascontiguousarray(dxp[:, :, ph : dxp.shape[2] - ph, pw : dxp.shape[3] - pw])
    return dx[0] if unbatched else dx


def _dout(module: Module, dout, dtype, shape: tuple[int, ...], unbatched: bool) -> np.ndarray:
    """dout checked against the output shape, as (N, C, Ho, Wo)."""
    dout = _float_input("dout", dout, dtype, ndims=(len(shape) - unbatched,))
    check_shape("dout", dout, shape[unbatched:], "the shape of the output")
    return dout[None] if unbatched else dout


class Conv2d(Module):
    """2-D convolution (cross-correlation) as torch.nn.Conv2d: weight (out_channels, in_channels,
    kh, kw) and bias (out_channels,), both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    fan_in = in_channels kh kw (torch's kaiming_uniform(a=sqrt(5)) default). Zero padding, no
    dilation or groups. x (N, C, H, W) or (C, H, W) -> (N, O, Ho, Wo) or (O, Ho, Wo).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        *,
        bias: bool = True,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ):
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.dtype = check_dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        bound = 1.0 / np.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        self.weight = self.add_param("weight", uniform_init(self.rng, shape, bound, self.dtype))
        self.bias = (
            self.add_param("bias", uniform_init(self.rng, (self.out_channels,), bound, self.dtype)) if bias else None
        )
        self.tape = None

    def __repr__(self) -> str:
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}, dtype={self.dtype})"
        )

    def forward(self, x) -> np.ndarray:
        """x (N, C, H, W) or (C, H, W) -> y (N, O, Ho, Wo) or (O, Ho, Wo)."""
        x, unbatched = _image_input(self, x, self.dtype)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x has shape {x.shape[unbatched:]}, expected {'(' if unbatched else '(N, '}"
                f"in_channels={self.in_channels}, H, W)"
            )
        xp = _pad(x, self.padding)
        win = _windows(xp, self.kernel_size, self.stride)  # (N, C, Ho, Wo, kh, kw)
        N, _, Ho, Wo = win.shape[:4]
        O, K = self.out_channels, self.weight.data[0].size
        cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(K, N * Ho * Wo)  # (1) the one copy
        Y = self.weight.data.reshape(O, K) @ cols  # (2)
        if self.bias is not None:
            Y += self.bias.data[:, None]  # (2)
        self.tape = (cols, xp.shape, (N, O, Ho, Wo), unbatched)
        y = np.ascontiguousarray(Y.reshape(O, N, Ho, Wo).transpose(1, 0, 2, 3))
        return y[0] if unbatched else y

    def backward(self, dout) -> np.ndarray:
        """dout (the shape of y) -> dx (the shape of x); adds dweight, dbias."""
        cols, xp_shape, y_shape, unbatched = _no_tape(self)
        dout = _dout(self, dout, self.dtype, y_shape, unbatched)
        N, O, Ho, Wo = y_shape
        C, (kh, kw) = self.in_channels, self.kernel_size
        dY = dout.transpose(1, 0, 2, 3).reshape(O, N * Ho * Wo)
        self.weight.grad += (dY @ cols.T).reshape(self.weight.data.shape)  # (2)
        if self.bias is not None:
            self.bias.grad += dY.sum(axis=1)  # (2)
        dcols = (self.weight.data.reshape(O, -1).T @ dY).reshape(C, kh, kw, N, Ho, Wo)  # (2)
        dxp = np.zeros((C, N) + xp_shape[2:], self.dtype)  # channel-major, as dcols
        for a in range(kh):  # (1) col2im
            for b in range(kw):
                dxp[_offset_slice(a, b, self.stride, (Ho, Wo))] += dcols[:, a, b]
        dxp = dxp.transpose(1, 0, 2, 3)
        return _crop(dxp, self.padding, unbatched)  # (1)


class MaxPool2d(Module):
    """Max pooling as torch.nn.MaxPool2d (floor mode, no dilation): kernel_size, stride
    (default kernel_size) and padding (at most half the kernel, padded with -inf) as an int or
    an (h, w) pair. x (N, C, H, W) or (C, H, W), float32 or float64, keeps its dtype.
    The gradient goes to the first maximum of each window in row-major order, as torch's CPU kernel.
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ):
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"padding must be at most half of kernel_size, got padding={self.padding} and "
                f"kernel_size={self.kernel_size}"
            )
        self.tape = None

    def __repr__(self) -> str:
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding})"

    def forward(self, x) -> np.ndarray:
        """x (N, C, H, W) or (C, H, W) -> y (N, C, Ho, Wo) or (C, Ho, Wo)."""
        x, unbatched = _image_input(self, x)
        xp = _pad(x, self.padding, -np.inf)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        out_hw = ((xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1)
        y = None
        for a in range(kh):  # (3) a running maximum over the kh kw window offsets, one strided slice each
            for b in range(kw):
                tile = xp[_offset_slice(a, b, self.stride, out_hw)]
                y = tile.copy() if y is None else np.maximum(y, tile, out=y)
        self.tape = (xp, y, unbatched)
        return y[0] if unbatched else y

    def backward(self, dout) -> np.ndarray:
        """dout (the shape of y) -> dx (the shape of x), nonzero only at each window's maximum."""
        xp, y, unbatched = _no_tape(self)
        dout = _dout(self, dout, y.dtype, y.shape, unbatched)
        kh, kw = self.kernel_size
        dxp = np.zeros(xp.shape, y.dtype)
        taken = np.zeros(y.shape, bool)  # windows whose maximum an earlier offset already held
        disjoint = self.stride[0] >= kh and self.stride[1] >= kw
        for a in range(kh):  # (3) offsets in row-major order: the first one equal to the maximum wins
            for b in range(kw):
                where = _offset_slice(a, b, self.stride, y.shape[2:])
                first = xp[where] == y
                first &= ~taken
                taken |= first
                if disjoint:  # each position lies in one window at most: write, no read-add
                    np.multiply(first, dout, out=dxp[where])
                else:
                    dxp[where] += np.where(first, dout, 0)
        return _crop(dxp, self.padding, unbatched)


class Flatten(Module):
    """Dims start_dim..end_dim merged into one, as torch.nn.Flatten: (N, C, H, W) -> (N, C H W) by
    default. Any float32/float64 array with more than start_dim dims; keeps its dtype."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self.tape = None

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"

    def forward(self, x) -> np.ndarray:
        """x -> x with dims start_dim..end_dim merged (a view when x is contiguous)."""
        x = _float_input("x", x, ndims=(np.ndim(x),))
        s = self.start_dim % x.ndim if -x.ndim <= self.start_dim < x.ndim else None
        e = self.end_dim % x.ndim if -x.ndim <= self.end_dim < x.ndim else None
        if s is None or e is None or s > e:
            raise ValueError(
                f"x has shape {x.shape}: cannot flatten dims start_dim={self.start_dim} to end_dim={self.end_dim}"
            )
        y_shape = x.shape[:s] + (int(np.prod(x.shape[s : e + 1])),) + x.shape[e + 1 :]
        self.tape = (x.shape, y_shape, x.dtype)
        return x.reshape(y_shape)  # (4)

    def backward(self, dout) -> np.ndarray:
        """dout (the shape of y) -> dx (the shape of x)."""
        x_shape, y_shape, dtype = _no_tape(self)
        dout = _float_input("dout", dout, dtype, ndims=(len(y_shape),))
        check_shape("dout", dout, y_shape, "the shape of the output")
        return dout.reshape(x_shape)  # (4)
