"""Compiled numba kernels of the fast engine (float32 or float64 throughout).

Shapes: K = vocabulary size, m = hidden size, T = seq_length, B = batch.
Hidden states of a whole sequence live in ``Hs ((T+1)*B, m)``: rows
``t*B .. t*B+B-1`` hold h_t of the B streams (t = 0 is the carried state),
so the output layer and the weight gradients are single GEMMs over all
T*B rows, and only the recurrence itself is stepped through time.

``reset`` is the end-of-document id of nn.rnn (-1: plain text): a stream
whose input x_t is that id steps from a zero state, and no gradient flows
back through that step into h_{t-1}.

All compiled code sits in this one file on purpose: numba's on-disk cache
checks only the timestamp of the file that defines a function, so a
cached kernel calling a helper from another file could keep stale code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorize the dot-product loops; no 'nnan'/'ninf',
# so a non-finite loss is still seen as such. error_model="numpy" drops the
# ZeroDivisionError check that keeps every loop with a division scalar.
_FAST = {"reassoc", "contract", "nsz"}


@njit(cache=True, error_model="numpy")
def tanh_coefs(dtype_like):
    """Constants of `_tanh` in the dtype of the array dtype_like."""
    c = np.array((1.0 / 3.0, 2.0 / 15.0, 17.0 / 315.0, 62.0 / 2835.0, 0.03, 1.0, 2.0))
    return c.astype(dtype_like.dtype)


@njit(cache=True, error_model="numpy")
def _tanh(x, cf):
    """tanh from one exp (libm tanh is ~5x slower); a Taylor series below
    |x| = 0.03 avoids the cancellation in 1 - e. Error is a few ulp."""
    ax = abs(x)
    if ax < cf[4]:
        x2 = x * x
        return x * (cf[5] - x2 * (cf[0] - x2 * (cf[1] - x2 * (cf[2] - x2 * cf[3]))))
    e = math.exp(-cf[6] * ax)
    t = (cf[5] - e) / (cf[5] + e)
    return t if x >= 0 else -t


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _matvec(A, x, out):
    """out = A x for A (r, c), x (c,); a loop beats a BLAS call at m ~ 100."""
    zero = out.dtype.type(0.0)
    for i in range(A.shape[0]):
        s = zero
        for j in range(A.shape[1]):
            s += A[i, j] * x[j]
        out[i] = s


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _vecmat_add(x, A, out):
    """out += x A for x (r,), A (r, c)."""
    for i in range(A.shape[0]):
        xi = x[i]
        for j in range(A.shape[1]):
            out[j] += xi * A[i, j]


@njit(cache=True, error_model="numpy")
def forward(W, U, b, data, p, T, Hs, cf, reset):
    """h_t = tanh(W h_{t-1} + U[:, x_t] + b) for x_t = data[:, p+t], t < T,
    with h_{t-1} = 0 where x_t == reset.

    data (B, L) ids; Hs ((T+1)*B, m) with h_0 already in its first B rows.
    """
    B, m = data.shape[0], W.shape[0]
    for t in range(T):
        prev = Hs[t * B : (t + 1) * B]
        cur = Hs[(t + 1) * B : (t + 2) * B]
        if B == 1:
            if data[0, p + t] == reset:
                cur[0, :] = 0.0
            else:
                _matvec(W, prev[0], cur[0])
        else:
            np.dot(prev, W.T, cur)
            if reset >= 0:
                for s in range(B):
                    if data[s, p + t] == reset:
                        cur[s, :] = 0.0
        for s in range(B):
            x = data[s, p + t]
            for i in range(m):
                cur[s, i] = _tanh(cur[s, i] + U[i, x] + b[i], cf)


@njit(cache=True, error_model="numpy")
def output_loss(V, c, Hs, Y, q, T, G):
    """Logits o_t = V h_t + c, the summed loss and g_t = p_t - onehot(y_t).

    Targets are y_t = Y[:, q+t]. G (T*B, K) receives g (unscaled).
    Returns the loss summed over t and the B streams, in float64.
    """
    B, K = Y.shape[0], V.shape[0]
    np.dot(Hs[B : (T + 1) * B], V.T, G)
    total = 0.0
    for r in range(T * B):
        t, s = r // B, r % B
        y = Y[s, q + t]
        row = G[r]
        mx = row[0] + c[0]
        for k in range(K):
            row[k] += c[k]
            if row[k] > mx:
                mx = row[k]
        oy = row[y] - mx
        ssum = 0.0
        for k in range(K):
            e = math.exp(row[k] - mx)
            row[k] = e
            ssum += e
        total += math.log(ssum) - oy
        for k in range(K):
            row[k] /= ssum
        row[y] -= 1.0
    return total


@njit(cache=True, error_model="numpy")
def backward(W, V, Hs, data, p, T, G, dH, dA, tmp, grads, reset):
    """Backpropagation through time from g in G (T*B, K).

    dh_t = V^T g_t + W^T da_{t+1};  da_t = dh_t (1 - h_t^2).
    dH, dA: (T*B, m) and tmp (B, m) work buffers; grads = (dW, dUT (K, m),
    dV, db, dc) are overwritten with the gradients of the summed loss
    (dU transposed so that its scatter-add by input id is contiguous).
    With reset >= 0 the rows of Hs holding a state that a reset replaced by
    zero are zeroed (the state those steps read) before dW is formed.
    """
    B, m = data.shape[0], W.shape[0]
    dW, dUT, dV, db, dc = grads
    np.dot(G, V, dH)
    for t in range(T - 1, -1, -1):
        lo, hi = t * B, (t + 1) * B
        if t < T - 1:
            if B == 1:
                if data[0, p + t + 1] != reset:
                    _vecmat_add(dA[hi], W, dH[lo])
            else:
                np.dot(dA[hi : hi + B], W, tmp)
                for s in range(B):
                    if data[s, p + t + 1] != reset:
                        for i in range(m):
                            dH[lo + s, i] += tmp[s, i]
        for r in range(lo, hi):
            for i in range(m):
                h = Hs[r + B, i]
                dA[r, i] = dH[r, i] * (1.0 - h * h)
    np.dot(G.T, Hs[B : (T + 1) * B], dV)
    if reset >= 0:
        for r in range(T * B):
            if data[r % B, p + r // B] == reset:
                Hs[r, :] = 0.0
    np.dot(dA.T, Hs[: T * B], dW)
    _column_sums(dA, db)
    _column_sums(G, dc)
    dUT[:] = 0.0
    for r in range(T * B):
        x = data[r % B, p + r // B]
        for i in range(m):
            dUT[x, i] += dA[r, i]


@njit(cache=True, error_model="numpy")
def _column_sums(A, out):
    out[:] = 0.0
    for r in range(A.shape[0]):
        for j in range(A.shape[1]):
            out[j] += A[r, j]


@njit(cache=True, error_model="numpy")
def work_buffers(B, T, K, m, dtype_like):
    """(Hs, G, dH, dA, tmp, grads) for one (B, T, K, m, dtype)."""
    dt = dtype_like.dtype
    grads = (
        np.empty((m, m), dt),
        np.empty((K, m), dt),
        np.empty((K, m), dt),
        np.empty(m, dt),
        np.empty(K, dt),
    )
    return (
        np.empty(((T + 1) * B, m), dt),
        np.empty((T * B, K), dt),
        np.empty((T * B, m), dt),
        np.empty((T * B, m), dt),
        np.empty((B, m), dt),
        grads,
    )


@njit(cache=True, error_model="numpy")
def loss_and_grads(W, U, V, b, c, X, Y, h, reset):
    """Mean loss over the B streams of inputs X (B, T) and targets Y (B, T),
    its gradients (dW, dU, dV, db, dc) and h_T (B, m), starting from h (B, m)."""
    (B, T), K, m = X.shape, V.shape[0], W.shape[0]
    Hs, G, dH, dA, tmp, grads = work_buffers(B, T, K, m, W)
    Hs[:B] = h
    cf = tanh_coefs(W)
    forward(W, U, b, X, 0, T, Hs, cf, reset)
    total = output_loss(V, c, Hs, Y, 0, T, G)
    backward(W, V, Hs, X, 0, T, G, dH, dA, tmp, grads, reset)
    dW, dUT, dV, db, dc = grads
    return (total / B, (dW / B, dUT.T / B, dV / B, db / B, dc / B), Hs[T * B :].copy())


@njit(cache=True, error_model="numpy")
def text_loss(W, U, V, b, c, ids, h, chunk, reset):
    """Summed loss of predicting ids[1:] from ids[:-1], from h (m,), in
    chunks of `chunk` steps (forward only), resetting at input `reset`."""
    K, m = V.shape[0], W.shape[0]
    data = ids.reshape((1, ids.size))
    Hs = np.empty((chunk + 1, m), W.dtype)
    G = np.empty((chunk, K), W.dtype)
    Hs[0] = h
    cf = tanh_coefs(W)
    total = 0.0
    for p in range(0, ids.size - 1, chunk):
        T = min(chunk, ids.size - 1 - p)
        forward(W, U, b, data, p, T, Hs, cf, reset)
        total += output_loss(V, c, Hs, data, p + 1, T, G[:T])
        Hs[0] = Hs[T]
    return total


@njit(cache=True, error_model="numpy")
def _apply(theta, g, mom, vel, B, clip, code, hyper, t):
    """Scale g by 1/B, clip it and take one optimizer step (see optim.py).

    One branch-free loop per rule, so that LLVM vectorizes sqrt and divide.
    """
    lr, eps, rho, beta1, beta2 = hyper
    lim = clip if clip > 0 else math.inf
    th, gg = theta.reshape(theta.size), g.reshape(g.size)
    mo, ve = mom.reshape(mom.size), vel.reshape(vel.size)
    nb = float(B)
    if code == 0:
        for i in range(th.size):
            gi = min(max(gg[i] / nb, -lim), lim)
            v = ve[i] + gi * gi
            ve[i] = v
            th[i] -= lr * gi / math.sqrt(v + eps)
    elif code == 1:
        for i in range(th.size):
            gi = min(max(gg[i] / nb, -lim), lim)
            v = rho * ve[i] + (1.0 - rho) * (gi * gi)
            ve[i] = v
            th[i] -= lr * gi / math.sqrt(v + eps)
    else:
        bias1, bias2 = 1.0 - beta1**t, 1.0 - beta2**t
        for i in range(th.size):
            gi = min(max(gg[i] / nb, -lim), lim)
            mi = beta1 * mo[i] + (1.0 - beta1) * gi
            v = beta2 * ve[i] + (1.0 - beta2) * (gi * gi)
            mo[i], ve[i] = mi, v
            th[i] -= lr * (mi / bias1) / (math.sqrt(v / bias2) + eps)


@njit(cache=True, error_model="numpy")
def train(
    params,
    moms,
    vels,
    best,
    h,
    best_h,
    data,
    n,
    T,
    clip,
    code,
    hyper,
    counters,
    floats,
    losses,
    reset,
):
    """Up to n updates of updates.reference_chunk on data (B, n*T + 1),
    resetting the state at input `reset` (-1: never).

    params, moms, vels, best: (W, U, V, b, c) tuples, updated in place;
    h (B, m) carried; counters = [t, update, best_x, best_update] and
    floats = [smooth, best_smooth] are read and written back.
    Returns the number of updates done (< n only at a non-finite loss).
    """
    W, U, V, b, c = params
    B, K, m = data.shape[0], V.shape[0], W.shape[0]
    Hs, G, dH, dA, tmp, grads = work_buffers(B, T, K, m, W)
    dUT = grads[1]
    dU = np.empty((m, K), W.dtype)
    cf = tanh_coefs(W)
    t, update, best_x, best_update = counters[0], counters[1], counters[2], counters[3]
    smooth, best_smooth = floats[0], floats[1]
    done = 0
    for it in range(n):
        p = it * T
        Hs[:B] = h
        forward(W, U, b, data, p, T, Hs, cf, reset)
        loss = output_loss(V, c, Hs, data, p + 1, T, G) / B
        if not math.isfinite(loss):
            break
        smooth = loss if update == 0 else 0.999 * smooth + 0.001 * loss
        if smooth < best_smooth:
            best_smooth = smooth
            best[0][...] = W
            best[1][...] = U
            best[2][...] = V
            best[3][...] = b
            best[4][...] = c
            best_h[:] = Hs[T * B]
            best_x = data[0, p + T]
            best_update = update
        backward(W, V, Hs, data, p, T, G, dH, dA, tmp, grads, reset)
        dU[:] = dUT.T
        t += 1
        _apply(W, grads[0], moms[0], vels[0], B, clip, code, hyper, t)
        _apply(U, dU, moms[1], vels[1], B, clip, code, hyper, t)
        _apply(V, grads[2], moms[2], vels[2], B, clip, code, hyper, t)
        _apply(b, grads[3], moms[3], vels[3], B, clip, code, hyper, t)
        _apply(c, grads[4], moms[4], vels[4], B, clip, code, hyper, t)
        h[:] = Hs[T * B :]
        update += 1
        losses[it] = loss
        done += 1
    counters[0], counters[1], counters[2], counters[3] = t, update, best_x, best_update
    floats[0], floats[1] = smooth, best_smooth
    return done


@njit(cache=True, error_model="numpy")
def _choose(o, u, temperature, top_k, top_p):
    """The id sampling.choose picks from logits o (K,) with uniform u."""
    K = o.size
    if temperature == 0:
        return np.argmax(o)
    s = o / temperature
    if not np.isfinite(s.max()):  # a tiny temperature: its limit, greedy
        return np.argmax(o)
    e = np.exp(s - s.max())
    q = e / e.sum()
    if top_k > 0 or top_p < 1.0:
        order = np.argsort(-q, kind="mergesort")
        keep = K if top_k <= 0 else min(top_k, K)
        if top_p < 1.0:
            cum = np.cumsum(q[order[:keep]])
            keep = min(keep, np.searchsorted(cum, top_p * cum[-1]) + 1)
        kept = np.zeros_like(q)
        kept[order[:keep]] = q[order[:keep]]
        q = kept
    cdf = np.cumsum(q)
    return min(np.searchsorted(cdf, u * cdf[-1], side="right"), K - 1)


@njit(cache=True, error_model="numpy")
def synthesize(W, U, V, b, c, h0, x0, u, temperature, top_k, top_p, stop):
    """Ids (n,) drawn one step at a time from h0 (m,), input x0, uniforms u (n,);
    fewer, ending with `stop`, when that id is drawn."""
    m, K = W.shape[0], V.shape[0]
    cf = tanh_coefs(W)
    h, a, o = h0.copy(), np.empty(m, W.dtype), np.empty(K, W.dtype)
    out = np.empty(u.size, np.int64)
    x = x0
    for i in range(u.size):
        _matvec(W, h, a)
        for j in range(m):
            h[j] = _tanh(a[j] + U[j, x] + b[j], cf)
        _matvec(V, h, o)
        o += c
        x = _choose(o, u[i], temperature, top_k, top_p)
        out[i] = x
        if x == stop:
            return out[: i + 1]
    return out
