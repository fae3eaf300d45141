"""Vectorizable math for the compiled gated cells: exp, sigmoid and tanh
over whole buffers, and the small matrix-vector products of B = 1.

LLVM vectorizes a loop only if every call in it has a vector form, and
libm's exp has none here, so `exp_` builds exp from + * floor and an
integer shift: exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2,
exp(r) by its Taylor polynomial of degree 13 (|r| <= ln(2)/2, truncation
below 1e-17), 2^k written straight into the exponent bits. All of it runs
in float64, so float32 cells get their gates correctly rounded (or one
ulp off) and float64 cells get them to a few ulp.

Given e = exp(-x) (sigmoid) or e = exp(-2|x|) (tanh):
    sigmoid(x) = 1 / (1 + e)
    tanh(x)    = sign(x) (1 - e) / (1 + e), or its Taylor series below |x| = 0.03
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# the RNN's kernels, shared: out += x A four rows of A per pass, aligned buffers
from .rnn import _aligned, rows_dot
from .rnn import _vecmat_add as vecmat_add

_FAST = {"reassoc", "contract", "nsz"}
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # 32 significant bits: k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def exp_(x, bits):
    """x[:n] = exp(x[:n]) in place, for float64 x and an int64 buffer bits
    of the same length (n = x.size). NaN stays NaN."""
    n = x.size
    for i in range(n):
        v = min(max(x[i], -708.0), 709.0)
        k = math.floor(v * _LOG2E + 0.5)
        r = (v - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        bits[i] = (k + 1023) << 52
        x[i] = p if x[i] == x[i] else x[i]
    scale = bits[:n].view(np.float64)
    for i in range(n):
        x[i] *= scale[i]


@njit(cache=True, error_model="numpy", inline="always")
def sig(e):
    """sigmoid(x) from e = exp(-x)."""
    return 1.0 / (1.0 + e)


@njit(cache=True, error_model="numpy", inline="always")
def tanh_e(x, e):
    """tanh(x) from x and e = exp(-2|x|)."""
    x2 = x * x
    small = x * (
        1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0 - x2 * (17.0 / 315.0 - x2 * (62.0 / 2835.0))))
    )
    t = (1.0 - e) / (1.0 + e)
    big = t if x >= 0 else -t
    return small if abs(x) < 0.03 else big


@njit(cache=True, error_model="numpy")
def sigmoid_(x, out, buf, bits):
    """out = sigmoid(x) for 1-d x, out (any float dtype) of size n; buf
    float64 and bits int64 work buffers of at least n."""
    n = x.size
    e = buf[:n]
    for i in range(n):
        e[i] = -x[i]
    exp_(e, bits)
    for i in range(n):
        out[i] = sig(e[i])


@njit(cache=True, error_model="numpy")
def tanh_(x, out, buf, bits):
    """out = tanh(x), as sigmoid_."""
    n = x.size
    e = buf[:n]
    for i in range(n):
        e[i] = -2.0 * abs(x[i])
    exp_(e, bits)
    for i in range(n):
        out[i] = tanh_e(np.float64(x[i]), e[i])


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def matvec(A, x, out):
    """out = A x for A (r, c), x (c,)."""
    out[:] = 0.0
    matvec_add(A, x, out)


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def matvec_add(A, x, out):
    """out += A x for A (r, c), x (c,): four rows at a time share the loads
    of x (B = 1 is bound by reading A)."""
    r, n = A.shape
    zero = out.dtype.type(0.0)
    r4 = r - r % 4
    for blk in range(r // 4):
        i = 4 * blk
        s0 = s1 = s2 = s3 = zero
        a0, a1, a2, a3 = A[i], A[i + 1], A[i + 2], A[i + 3]
        for j in range(n):
            xj = x[j]
            s0 += a0[j] * xj
            s1 += a1[j] * xj
            s2 += a2[j] * xj
            s3 += a3[j] * xj
        out[i] += s0
        out[i + 1] += s1
        out[i + 2] += s2
        out[i + 3] += s3
    for i in range(r4, r):
        s0 = zero
        for j in range(n):
            s0 += A[i, j] * x[j]
        out[i] += s0


@njit(cache=True, error_model="numpy")
def aligned(shape, dtype_like):
    """An empty C-contiguous array of shape (a tuple) in the dtype of
    dtype_like, starting on a 64-byte boundary (see rnn._aligned)."""
    n = 1
    for d in shape:
        n *= d
    return _aligned(n, dtype_like).reshape(shape)


@njit(cache=True, error_model="numpy")
def carry_back(dA, W, dH, lo, B, rs, tmp):
    """The gradient carried back one step: dH[lo : lo+B] += dA[lo+B : lo+2B] W,
    except for the streams whose input at the later step is a reset (no
    gradient crosses a reset). dA (rows, G m), W (G m, m), rs (rows,) flags,
    tmp (B, m) scratch for B > 1."""
    m = W.shape[1]
    if B == 1:
        if not rs[lo + 1]:
            vecmat_add(dA[lo + 1], W, dH[lo])
        return
    rows_dot(dA[lo + B : lo + 2 * B], W, tmp)
    for s in range(B):
        if not rs[lo + B + s]:
            for j in range(m):
                dH[lo + s, j] += tmp[s, j]
