"""The engine's own exp, tanh and 1/sqrt, stream groups on threads, and the
forward-only kernels (text loss, priming), each against the float64
reference."""

import copy
import decimal
import math

import numba
import numpy as np
import pytest

from charnn import engine
from charnn.engine import rnn as kernels
from charnn.engine import threads
from charnn.nn import rnn, sampling, step
from charnn.nn.optim import OptimConfig


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def probe_values(dtype):
    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, 1e-300, 1e-8, 0.0299999, 0.03, 0.0300001, 0.5, 1.0, 19.0, 30.0, 400.0]
    x = np.concatenate([edges, rng.standard_normal(2000) * 3, rng.uniform(-25, 25, 2000)])
    return np.concatenate([x, -x]).astype(dtype)


# The constants are made inside compiled code, as the kernels make them: a
# tuple of float32 returned to Python comes back as Python floats (float64),
# and a float32 row would then be computed in float64.
@numba.njit
def tanh_as_kernels(row):
    kernels._tanh_flat(row, kernels.tanh_coefs(row))


@numba.njit
def exp_as_kernels(row):
    return kernels._exp_sum(row, row.dtype.type(0.0), kernels.tanh_coefs(row), True)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-15), (np.float32, 5e-7)])  # a few ulp
def test_tanh_matches_numpy(dtype, tol):
    x = probe_values(dtype)
    row = x.copy()
    tanh_as_kernels(row)
    ref = np.tanh(x.astype(np.float64))
    assert rel(row, ref).max() <= tol
    assert np.all(np.abs(row) <= 1)
    assert np.array_equal(np.signbit(row), np.signbit(ref))  # odd, -0.0 included


@pytest.mark.parametrize("dtype,tol", [(np.float64, 4e-16), (np.float32, 3e-7)])
def test_exp_of_nonpositive_matches_numpy(dtype, tol):
    lowest = -708.0 if dtype == np.float64 else -87.0  # exp(lowest) is still a normal number
    x = np.concatenate([-np.abs(probe_values(dtype)), np.array([lowest + 1, lowest], dtype)])
    row = x.copy()
    total = exp_as_kernels(row)
    ref = np.exp(x.astype(np.float64))
    inside = x >= lowest
    assert rel(row[inside], ref[inside]).max() <= tol
    assert np.all(row[~inside] == row[-1])  # below the range: exp(lowest), negligible in a sum
    assert abs(total - ref.sum()) <= 1e-6 * ref.sum()


def test_non_finite_values_stay_non_finite():
    cf = kernels.tanh_coefs(np.zeros(1))
    row = np.array([np.nan, -np.inf, 0.0])
    kernels._tanh_flat(row, cf)
    assert np.isnan(row[0]) and row[1] == -1.0 and row[2] == 0.0
    assert np.isnan(kernels._exp_sum(np.array([np.nan, 0.0]), 0.0, cf, False))


def random_params(K, m, rng, sig=0.3):
    params = rnn.init_params(K, m, rng, sig=sig)
    params["b"] = 0.2 * rng.standard_normal(m)
    params["c"] = 0.2 * rng.standard_normal(K)
    return params


@pytest.mark.parametrize("B", [32, 37])
def test_stream_groups_match_reference_for_any_thread_count(B):
    """B >= 32 runs groups of 16 streams (the last takes the rest) on threads."""
    assert kernels.group_starts(B).tolist() == ([0, 16, 32] if B == 32 else [0, 16, 37])
    rng = np.random.default_rng(B)
    K, m, T, n = 11, 8, 4, 6
    ref = step.TrainState.fresh(random_params(K, m, rng), B)
    data = rng.integers(0, K, (B, n * T + 1)).astype(np.uint8)
    cfg = OptimConfig(name="adagrad", lr=0.05)
    results = []
    for nthreads in sorted({1, min(2, threads.available())}):
        state = copy.deepcopy(ref)
        numba.set_num_threads(nthreads)
        try:
            losses = engine.train_chunk(state, data, n, T, 0.5, cfg)
        finally:
            numba.set_num_threads(threads.available())
        results.append((losses, state))
    ref_losses = step.reference_chunk(ref, data, n, T, 0.5, cfg)
    for losses, state in results:
        assert rel(losses, ref_losses).max() < 1e-12
        for k in rnn.PARAM_NAMES:
            assert rel(state.params[k], ref.params[k]).max() < 1e-10, k
        assert rel(state.h, ref.h).max() < 1e-10
    (l1, s1), (l2, s2) = results[0], results[-1]
    np.testing.assert_array_equal(l1, l2)  # bit for bit, whatever the thread count
    for k in rnn.PARAM_NAMES:
        np.testing.assert_array_equal(s1.params[k], s2.params[k])


def test_default_threads():
    assert threads.groups(1) == 1 and threads.groups(31) == 1 and threads.groups(64) == 4
    assert threads.default_threads(1) == 1
    assert threads.default_threads(64) == min(4, threads.available())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_text_loss_long_text_any_block_size(dtype):
    K, m = 17, 12
    rng = np.random.default_rng(5)
    params = {k: v.astype(dtype) for k, v in random_params(K, m, rng).items()}
    ids = rng.integers(0, K, 3001)
    ref_nats, ref_count = rnn.text_loss({k: v.astype(np.float64) for k, v in params.items()}, ids)
    for chunk in (1, 7, 64, 5000):
        nats, count = engine.text_loss(params, ids, chunk=chunk)
        assert count == ref_count == 3000
        assert abs(nats - ref_nats) <= 1e-12 * ref_nats, chunk


def test_prime_matches_reference():
    K, m = 9, 10
    rng = np.random.default_rng(6)
    params = random_params(K, m, rng)
    ids = rng.integers(0, K, 300)
    h0 = np.tanh(rng.standard_normal(m))
    for n in (1, 2, 300):
        h, x = engine.prime(params, h0, ids[:n])
        ref_h, ref_x = sampling.prime(params, h0, ids[:n])
        assert x == ref_x
        assert rel(h, ref_h).max() < 1e-12
    with pytest.raises(ValueError, match="at least one"):
        engine.prime(params, h0, ids[:0])


@pytest.mark.parametrize(
    "r, k, c",
    [
        (32, 128, 384),  # blocks of 20 rows and a rest of 12
        (16, 100, 100),  # fits one small product
        (4, 256, 1024),  # blocks of 3 rows and 1
        (16, 256, 1024),  # blocks of 3 rows would cover 16: one product
        (5, 500, 1500),  # blocks of 1 row
        (5, 600, 1800),  # a single row exceeds the bound: one product
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_dot_is_the_product_whatever_its_blocks(r, k, c, dtype):
    rng = np.random.default_rng(r + k)
    A = rng.standard_normal((r, k)).astype(dtype)
    B = rng.standard_normal((k, c)).astype(dtype)
    out = np.full((r, c), np.nan, dtype)
    kernels.rows_dot(A, B, out)
    want = A.astype(np.float64) @ B.astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    assert np.all(np.abs(out - want) <= tol * np.sqrt(k) * (np.abs(A) @ np.abs(B)))


def test_rows_dot_takes_a_transposed_view_whole():
    rng = np.random.default_rng(1)
    A, V = rng.standard_normal((400, 100)), rng.standard_normal((72, 100))
    out = np.full((400, 72), np.nan)
    kernels.rows_dot(A, V.T, out)  # 138-row blocks if it were contiguous
    np.testing.assert_allclose(out, A @ V.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "r,c", [(72, 100), (100, 100), (100, 72), (8, 8), (16, 24), (13, 8), (9, 17), (3, 5), (0, 5)]
)
def test_transpose_in_tiles_and_edges(dtype, r, c):
    """V^T (and W^T with several streams) after each update: float64 in
    8 x 8 tiles transposed in registers, the edges and float32 by a loop."""
    A = np.random.default_rng(r * 31 + c).standard_normal((r, c)).astype(dtype)
    out = np.full((c, r), np.nan, dtype)
    kernels._transpose(A, out)
    assert np.array_equal(out, A.T)


_CF = kernels.tanh_coefs(np.zeros(1))


@numba.njit
def add_tanh_as_kernels(row, u, b):
    kernels._add_tanh(row, u, b, _CF)


@numba.njit
def tanh_flat_as_kernels(a):
    kernels._tanh_flat(a, _CF)


@numba.njit
def add_max_as_kernels(row, c):
    return kernels._add_max(row, c)


@numba.njit
def exp_sum_as_kernels(row, mx, keep):
    return kernels._exp_sum(row, mx, _CF, keep)


@numba.njit
def expneg_as_kernels(x, out):
    for i in range(x.size):
        out[i] = kernels._expneg(x[i], _CF)


ROW_SIZES = [*range(1, 20), 72, 100, 129]


@pytest.mark.parametrize("n", ROW_SIZES)
def test_a_steps_tanh_gives_each_value_tanhs_bits(n):
    """One stream's step (row = tanh(row + u + b)): explicit vectors with a
    masked remainder where numba compiles for AVX-512, the loop elsewhere;
    either way each value gets `_tanh`'s bits, signed zeros and NaN included."""
    rng = np.random.default_rng(n)
    for scale in (0.01, 1.0, 30.0, 1000.0):
        row, u, b = rng.standard_normal(n) * scale, rng.standard_normal(n), rng.standard_normal(n)
        if n > 5:
            row[1:5], u[4], b[4] = [np.nan, np.inf, -np.inf, -0.0], -0.0, -0.0
        want = row + u + b
        tanh_flat_as_kernels(want)
        add_tanh_as_kernels(row, u, b)
        assert np.array_equal(row, want, equal_nan=True)
        assert np.array_equal(np.signbit(row), np.signbit(want))


@pytest.mark.parametrize("n", ROW_SIZES)
def test_softmax_rows_max_and_exponentials(n):
    """row += c and its max (NaN only if row[0] is: a NaN elsewhere is
    skipped, and shows in the loss through its exp); then exp(row - max)
    term by term with `_expneg`'s bits, summed to within rounding."""
    rng = np.random.default_rng(100 + n)
    for case in range(12):
        row, c = rng.standard_normal(n) * 5, rng.standard_normal(n)
        if case == 1 and n > 3:
            row[2] = np.nan
        if case == 2:
            row[0] = np.nan
        if case == 3 and n > 4:
            row[3], row[1] = np.inf, -np.inf
        want = row + c
        mx = add_max_as_kernels(row, c)
        assert np.array_equal(row, want, equal_nan=True)
        if np.isnan(want[0]):
            assert np.isnan(mx)
            continue
        assert mx == np.nanmax(want)
        if not np.isfinite(mx):
            continue
        terms = np.empty(n)
        expneg_as_kernels(want - mx, terms)
        total = exp_sum_as_kernels(row.copy(), mx, False)
        assert exp_sum_as_kernels(row, mx, True) == total or np.isnan(total)
        assert np.array_equal(row, terms, equal_nan=True)
        if np.all(np.isfinite(terms)):
            assert abs(total - math.fsum(terms)) <= 4e-16 * n * total


@numba.njit
def rsqrt_as_kernels(x, out):
    for i in range(x.size):
        out[i] = kernels._rsqrt(x[i])


def test_rsqrt_is_within_two_ulp_over_the_whole_range():
    """AdaGrad's and RMSProp's 1/sqrt, against a 40-digit decimal square root:
    arguments from the smallest allowed to the largest finite, the ends of
    the seed's mantissa correction (powers of two and their neighbours)."""
    rng = np.random.default_rng(3)
    x = np.exp(rng.uniform(math.log(kernels.RSQRT_MIN_EPS), math.log(1.7e308), 4000))
    p2 = 2.0 ** np.arange(-996, 1023, 7, dtype=np.float64)
    x = np.concatenate([x, p2, np.nextafter(p2, 0), np.nextafter(p2, np.inf), [1.0, 4.0]])
    x = np.concatenate([x, [kernels.RSQRT_MIN_EPS, np.finfo(np.float64).max]])
    y = np.empty_like(x)
    rsqrt_as_kernels(x, y)
    D = decimal.Decimal
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        exact = [1 / D(float(v)).sqrt() for v in x]
        ulps = [abs(D(float(a)) - e) / D(math.ulp(float(e))) for a, e in zip(y, exact)]
    assert max(ulps) < 2, max(ulps)
    assert sum(u <= D("0.5") for u in ulps) > 0.7 * len(ulps)  # mostly the rounded value


def test_rsqrt_of_infinity_and_nan():
    """v + eps overflowing to inf takes the reference's step, g / inf = 0; NaN stays NaN."""
    y = np.empty(2)
    rsqrt_as_kernels(np.array([np.inf, np.nan]), y)
    assert y[0] == 0.0 and np.isnan(y[1])


def rule_rsqrt(x):
    """The 1/sqrt(x + eps) of `_apply`'s AdaGrad step (AVX-512's vector rule
    where numba compiles for it, `_rsqrt` elsewhere), read off the step: for
    x in [2^E, 2^(E+40)), g = 2^((E-2)/2), lr = 1/g and v = x - g^2 (all
    exact), theta = 0 becomes -(lr g) y = -y, y = 1/sqrt(fl(x + eps)).
    Returns (y, fl(x + eps))."""
    eps = kernels.RSQRT_MIN_EPS
    y = np.empty_like(x)
    E = np.frexp(x)[1] - 1
    for lo in range(-1000, 1024, 40):
        sel = np.flatnonzero((E >= lo) & (E < lo + 40))
        if sel.size == 0:
            continue
        g = 2.0 ** ((lo - 2) // 2)
        th, ve = np.zeros(sel.size), x[sel] - g * g
        assert np.array_equal(ve + g * g, x[sel])  # exact, as the docstring says
        grad, hyper = np.full(sel.size, g), (1 / g, eps, 0.9, 0.9, 0.999)
        kernels._apply(th, grad, np.zeros(sel.size), ve, 1, 0.0, 0, hyper, 1)
        y[sel] = -th
    return y, x + eps


def _ulps(y, x):
    D = decimal.Decimal
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        exact = [1 / D(float(v)).sqrt() for v in x]
        return [abs(D(float(a)) - e) / D(math.ulp(float(e))) for a, e in zip(y, exact)]


def test_the_rules_rsqrt_is_within_two_ulp_over_the_whole_range():
    """As `_rsqrt` above, through the optimizer step that runs in training,
    in arrays whose sizes leave the vector loop a remainder."""
    rng = np.random.default_rng(5)
    x = np.exp(rng.uniform(math.log(2.0**-1000), math.log(1.7e308), 3001))
    p2 = 2.0 ** np.arange(-996, 1020, 7, dtype=np.float64)
    x = np.concatenate([x, p2, np.nextafter(p2, 0), np.nextafter(p2, np.inf), [1.0, 4.0]])
    y, xe = rule_rsqrt(x)
    ulps = _ulps(y, xe)
    assert max(ulps) < 2, max(ulps)
    assert sum(u <= decimal.Decimal("0.5") for u in ulps) > 0.7 * len(ulps)
    # the vector rule where numba compiles for AVX-512, the scalar `_rsqrt` elsewhere
    scalar = np.empty_like(xe)
    rsqrt_as_kernels(xe, scalar)
    vector = kernels._has_avx512(numba.core.registry.cpu_target.target_context)
    assert np.array_equal(y, scalar) != vector


def test_the_rule_gives_a_value_the_same_bits_wherever_it_lies():
    """Values in the vector loop's body and in its remainder take the same
    instructions: the same inputs give the same outputs at every position."""
    rng = np.random.default_rng(6)
    base = [rng.standard_normal(7), rng.standard_normal(7) * 3, rng.uniform(0, 5, 7)]
    th, g, ve = (np.tile(a, 3) for a in base)  # 21 values: 16 in the body, 5 after
    kernels._apply(th, g, np.zeros(21), ve, 1, 5.0, 0, (0.1, 1e-8, 0.9, 0.9, 0.999), 1)
    for out in (th, ve):
        assert np.array_equal(out[:7], out[7:14]) and np.array_equal(out[:7], out[14:])


@pytest.mark.parametrize("code", [0, 1])
@pytest.mark.parametrize("eps", [1e-8, 1e-310])
def test_adagrad_and_rmsprop_steps_against_the_formula(code, eps):
    """From eps = RSQRT_MIN_EPS on, the step multiplies by `_rsqrt` (a few ulp
    from the reference's division); below it, v + eps may be subnormal, and
    the step divides by the square root as the reference does, bit for bit."""
    rng = np.random.default_rng(code)
    n = 1003  # a remainder after the vector loop's eights
    theta, g = rng.standard_normal(n), rng.standard_normal(n) * 3
    vel = rng.uniform(0, 5, n)
    vel[:10] = 0.0
    g[:5] = 0.0  # v + eps = eps: the smallest denominator
    lr, rho, clip = 0.1, 0.9, 5.0
    gc = np.clip(g, -clip, clip)
    v = vel + gc * gc if code == 0 else rho * vel + (1 - rho) * (gc * gc)
    want = theta - lr * gc / np.sqrt(v + eps)
    th, ve = theta.copy(), vel.copy()
    kernels._apply(th, g.copy(), np.zeros(n), ve, 1, clip, code, (lr, eps, rho, 0.9, 0.999), 1)
    np.testing.assert_array_equal(ve, v)
    if eps < kernels.RSQRT_MIN_EPS:
        np.testing.assert_array_equal(th, want)
    else:
        # a step a few ulp off, and theta - step rounded either way
        slack = 4 * np.spacing(np.abs(lr * gc / np.sqrt(v + eps))) + np.spacing(np.abs(want))
        assert np.all(np.abs(th - want) <= slack)
        assert not np.array_equal(th, want)  # the fast path was taken


@numba.njit
def matvec_as_kernels(A, x, out):
    kernels._matvec(A, x, out, False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("r,c", [(100, 100), (72, 100), (13, 13), (16, 16), (5, 33)])
def test_padded_rows_give_the_same_bits(dtype, r, c):
    """text_loss, prime and synthesize step through a copy of W whose rows
    are whole cache lines: the same products over the same columns."""
    rng = np.random.default_rng(r * c)
    A = rng.standard_normal((r, c)).astype(dtype)
    x = rng.standard_normal(c).astype(dtype)
    P = kernels._padded(A)
    per = 64 // P.itemsize  # values in a cache line
    assert P.shape[0] == r and P.shape[1] % per == 0 and c <= P.shape[1] < c + per
    assert P.ctypes.data % 64 == 0 and not P[:, c:].any()
    np.testing.assert_array_equal(P[:, :c], A)
    a, b = np.empty(r, dtype), np.empty(r, dtype)
    matvec_as_kernels(np.ascontiguousarray(A), x, a)
    matvec_as_kernels(P, x, b)
    np.testing.assert_array_equal(a, b)


@numba.njit
def add_then_tanh(row, u, b, fused):
    cf = kernels.tanh_coefs(row)
    if fused:
        kernels._add_tanh(row, u, b, cf)
    else:
        kernels._add_input(row, u, b)
        kernels._tanh_flat(row, cf)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_pass_of_input_bias_and_tanh_gives_the_same_bits(dtype):
    """One stream's step adds the input and the bias and takes the tanh in
    one pass; several streams' steps in two: the same state either way."""
    rng = np.random.default_rng(5)
    row, u, b = (rng.standard_normal(103).astype(dtype) * 3 for _ in range(3))
    one, two = row.copy(), row.copy()
    add_then_tanh(one, u, b, True)
    add_then_tanh(two, u, b, False)
    np.testing.assert_array_equal(one, two)


@numba.njit
def step_as_forward(A, x, out, rev, u, b):
    """One stream's step as `forward` takes it; True where it was one pass."""
    cf = kernels.tanh_coefs(out)
    if kernels._matvec_tanh_avx512(A, x, out, rev, u, b, cf):
        return True
    kernels._matvec(A, x, out, rev)
    kernels._add_tanh(out, u, b, cf)
    return False


@numba.njit
def step_in_two_passes(A, x, out, u, b):
    kernels._matvec(A, x, out, False)
    kernels._add_tanh(out, u, b, kernels.tanh_coefs(out))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "r,c", [(100, 100), (72, 100), (100, 72), (1, 1), (7, 3), (8, 8), (9, 17), (13, 13), (17, 5)]
)
def test_one_streams_step_in_blocks_of_eight_rows(dtype, r, c):
    """Where numba compiles for AVX-512, a float64 step is one pass: eight
    rows' sums at a time, then their tanh. Its values are the two-pass
    step's within rounding (the sums are added in another order), the same
    bits in both orders of the blocks and through padded rows, and nothing
    past the last row or column is read or written."""
    vector = dtype == np.float64 and kernels._has_avx512(
        numba.core.registry.cpu_target.target_context
    )
    rng = np.random.default_rng(r * 100 + c)
    A = (rng.standard_normal((r, c)) * 2 / np.sqrt(c)).astype(dtype)
    u, b = (rng.standard_normal(r).astype(dtype) for _ in range(2))
    xs = np.full(c + 9, np.nan, dtype)  # NaN past x: a product of one would show
    x = xs[:c]
    x[:] = rng.standard_normal(c)
    want = np.empty(r, dtype)
    step_in_two_passes(A, x, want, u, b)
    outs = np.full(r + 9, np.nan, dtype)
    assert step_as_forward(kernels._padded(A), x, outs[:r], False, u, b) == vector
    assert np.isnan(outs[r:]).all()
    got = outs[:r]
    if vector:
        assert np.abs(got - want).max() <= 1e-14
    else:
        np.testing.assert_array_equal(got, want)
    for A_, rev in ((kernels._padded(A), True), (A, False), (A, True)):
        again = np.empty(r, dtype)
        step_as_forward(A_, x, again, rev, u, b)
        np.testing.assert_array_equal(again, got)


@numba.njit
def back_step_as_backward(x, A, dh, h, da, rev):
    """One stream's backward step as `backward` takes it; True where it was one pass."""
    if kernels._vecmat_dtanh_avx512(x, A, dh, h, da, rev):
        return True
    kernels._vecmat_add(x, A, dh)
    for i in range(da.size):
        da[i] = dh[i] * (1.0 - h[i] * h[i])
    return False


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("r", [1, 3, 100])
@pytest.mark.parametrize("c", [1, 5, 8, 9, 16, 17, 63, 64, 65, 72, 100, 129])
def test_one_streams_backward_step_in_column_chunks(dtype, r, c):
    """da = (dh + x A) (1 - h^2): where numba compiles for AVX-512, a
    float64 step is one pass over column chunks of one to eight vectors
    (c = 129: 17 vectors, chunks of 6, 6 and 5); within rounding of the
    float64 product, the same bits in either order of the chunks and through
    padded rows, and nothing past column c read or written."""
    vector = dtype == np.float64 and kernels._has_avx512(
        numba.core.registry.cpu_target.target_context
    )
    rng = np.random.default_rng(r * 1000 + c)
    A = (rng.standard_normal((r, c)) * 2 / np.sqrt(r)).astype(dtype)
    x = rng.standard_normal(r).astype(dtype)
    dh0, h = rng.standard_normal(c).astype(dtype), np.tanh(rng.standard_normal(c)).astype(dtype)
    x64, A64, h64 = x.astype(np.float64), A.astype(np.float64), h.astype(np.float64)
    want = (dh0.astype(np.float64) + x64 @ A64) * (1.0 - h64 * h64)
    buf = np.full(c + 9, np.nan, dtype)
    dh = dh0.copy()
    assert back_step_as_backward(x, kernels._padded(A), dh, h, buf[:c], False) == vector
    assert np.isnan(buf[c:]).all()
    got = buf[:c]
    if vector:
        np.testing.assert_array_equal(dh, dh0)  # read, not written
    scale = max(1.0, np.abs(want).max())
    assert np.abs(got - want).max() <= (1e-14 if dtype == np.float64 else 1e-5) * scale
    for A_, rev in ((kernels._padded(A), True), (A, False), (A, True)):
        again = np.empty(c, dtype)
        back_step_as_backward(x, A_, dh0.copy(), h, again, rev)
        np.testing.assert_array_equal(again, got)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("r,c", [(25, 100), (25, 72), (3, 5), (1, 1), (9, 17), (0, 5), (4, 0)])
def test_column_sums_add_the_rows_in_order(dtype, r, c):
    """db and dc: each column summed from zero in row order, the same bits
    as adding the rows one after another (in registers where numba compiles
    for AVX-512, float64), signed zeros and non-finite values included;
    nothing past the last column written."""
    rng = np.random.default_rng(r * 31 + c)
    A = (rng.standard_normal((r, c)) * 10.0 ** rng.integers(-8, 8, (r, c))).astype(dtype)
    if r > 2 and c > 3:
        A[:, 0], A[1, 1], A[2, 2], A[0, 3] = -0.0, np.inf, np.nan, np.finfo(dtype).max / 4
    want = np.zeros(c, dtype)
    for row in A:
        want = want + row
    buf = np.full(c + 9, 7.0, dtype)
    kernels._column_sums(A, buf[:c])
    assert np.array_equal(buf[:c], want, equal_nan=True)
    assert np.array_equal(np.signbit(buf[:c]), np.signbit(want))
    assert (buf[c:] == 7.0).all()
    other = np.empty(c, dtype)  # not C order (as the gated cells pass it): the loop
    kernels._column_sums(np.asfortranarray(A), other)
    assert np.array_equal(other, want, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("code", [0, 1, 2])
def test_a_step_over_a_range_can_clear_the_gradient_it_read(dtype, code):
    """U's rows: the step over values lo .. hi-1 with clear leaves the
    gradient there zero (backward adds into dU^T) and every other value as
    it was, and takes the same step as without it."""
    rng = np.random.default_rng(code)
    n, lo, hi = 45, 7, 30  # a range with a remainder of 7 after 16 in vectors
    th, g, ve = rng.standard_normal(n), rng.standard_normal(n) * 3, rng.uniform(0.1, 1, n)
    th, g, ve = (a.astype(dtype) for a in (th, g, ve))
    hyper = (0.1, 1e-8, 0.9, 0.9, 0.999)
    runs = []
    for clear in (False, True):
        a = [x.copy() for x in (th, g, np.zeros(n, dtype), ve)]
        kernels._apply_range(*a, lo, hi, 1, 5.0, code, hyper, 1, clear)
        runs.append(a)
    (th0, g0, mo0, ve0), (th1, g1, mo1, ve1) = runs
    for x, y in ((th0, th1), (mo0, mo1), (ve0, ve1)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(th0[lo:hi], th[lo:hi])  # a step was taken
    np.testing.assert_array_equal(g0, g)  # without clear, read only (B = 1)
    assert (g1[lo:hi] == 0).all()
    np.testing.assert_array_equal(g1[:lo], g[:lo])
    np.testing.assert_array_equal(g1[hi:], g[hi:])
