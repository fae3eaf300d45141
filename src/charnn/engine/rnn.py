"""Compiled numba kernels of the fast engine (float32 or float64 throughout).

Shapes: K = vocabulary size, m = hidden size, T = seq_length, B = batch.
Hidden states of a whole sequence live in ``Hs ((T+1)*S, m)``: rows
``t*S .. t*S+S-1`` hold h_t of the S streams of a group (t = 0 is the
carried state), so the output layer and the weight gradients are single
GEMMs over all T*S rows, and only the recurrence itself is stepped
through time.

``reset`` is the end-of-document id of nn.rnn (-1: plain text): a stream
whose input x_t is that id steps from a zero state, and no gradient flows
back through that step into h_{t-1}.

The B streams are processed in groups of GROUP streams when B >= 2*GROUP
(one group otherwise); the groups run in parallel (numba threads) and
their gradients are summed in group order. The grouping depends on B
only, so the results do not depend on the number of threads.

exp and tanh are computed here (`_expneg`, `_tanh`) rather than by libm so
that the loops over a row vectorize: Cody-Waite range reduction, a Taylor
polynomial and the power of two built from its bits; a few ulp.

Where numba compiles for a CPU with AVX-512F, a few float64 loops are
explicit 512-bit vectors written as LLVM IR (the intrinsics named
`_..._avx512`, and `_transpose_tiles`): the optimizer step (its 1/sqrt from
the hardware's estimate), one stream's forward step (eight rows' sums,
then their tanh while the next rows stream in) and backward step (sums
of column chunks held in registers), the softmax rows' max
and exponentials; the last n % 8 values of a row go through masked loads
and stores, not a scalar loop. Each returns False (or is skipped) on
other CPUs and in float32, where the loops LLVM vectorizes run instead.

`train` and `text_loss` release the GIL, so other Python threads (the CLI
imports the plotting library meanwhile) run beside them.

All compiled code sits in this one file on purpose: numba's on-disk cache
checks only the timestamp of the file that defines a function, so a
cached kernel calling a helper from another file could keep stale code.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

# Reassociation lets LLVM vectorize the dot-product loops; no 'nnan'/'ninf',
# so a non-finite loss is still seen as such. Functions that others inline
# (`_expneg`, `_tanh`) carry no flags: contraction across an inlined call
# would make the bits depend on inlining, which differs between a process
# that compiles the kernels and one that loads them from the cache. error_model="numpy" drops the
# ZeroDivisionError check that keeps every loop with a division scalar.
_FAST = {"reassoc", "contract", "nsz"}
GROUP = 16  # streams per group when B >= 2 * GROUP


@intrinsic
def _pow2(typingctx, k):
    """2**k for an integer-valued float k in the normal exponent range,
    assembled from its bits (vectorizes, unlike ldexp)."""
    if not isinstance(k, types.Float):
        return None

    def codegen(context, builder, sig, args):
        wide = k.bitwidth == 64
        it = ir.IntType(64 if wide else 32)
        bias, shift = (1023, 52) if wide else (127, 23)
        i = builder.add(builder.fptosi(args[0], it), ir.Constant(it, bias))
        i = builder.shl(i, ir.Constant(it, shift))
        return builder.bitcast(i, ir.DoubleType() if wide else ir.FloatType())

    return k(k), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma): the same bits whether or not
    the code around it is inlined, unlike contraction by fastmath flags."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        t = args[0].type
        fn = builder.module.declare_intrinsic("llvm.fma", [t], ir.FunctionType(t, [t, t, t]))
        return builder.call(fn, args)

    return a(a, b, c), codegen


@intrinsic
def _rsqrt_seed(typingctx, x):
    """1/sqrt(x) within 3.5% for a normal float64 x > 0, from its bits:
    half its exponent negated and a correction to its mantissa in one
    integer subtraction (0x5FE6EB50C7B537A9 - bits / 2)."""
    if not (isinstance(x, types.Float) and x.bitwidth == 64):
        return None

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        i = builder.lshr(builder.bitcast(args[0], i64), ir.Constant(i64, 1))
        i = builder.sub(ir.Constant(i64, 0x5FE6EB50C7B537A9), i)
        return builder.bitcast(i, ir.DoubleType())

    return x(x), codegen


@intrinsic
def _is_float64(typingctx, x):
    """Whether the float x is a float64: a constant that the compiler folds,
    so a branch on it costs nothing at run time."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        return ir.Constant(ir.IntType(1), int(x.bitwidth == 64))

    return types.boolean(x), codegen


@njit(cache=True, error_model="numpy")
def tanh_coefs(dtype_like):
    """The constants of `_expneg` and `_tanh` (exp and tanh) in the dtype of dtype_like, as a tuple:
    0-13 exp Taylor 1/i!, 14-15 ln 2 split high/low, 16 lowest argument,
    17 log2 e, 18 one half, 19 one, 20 two."""
    a = np.empty(21, dtype_like.dtype)
    f = 1.0
    for i in range(14):
        a[i] = 1.0 / f
        f *= i + 1
    if dtype_like.itemsize == 8:  # the high part times k stays exact
        a[14], a[15], a[16] = 6.93147180369123816490e-01, 1.90821492927058770002e-10, -708.0
    else:
        a[14], a[15], a[16] = 0.693359375, -2.12194440e-4, -87.0
    a[17], a[18], a[19], a[20] = 1.4426950408889634, 0.5, 1.0, 2.0
    return (a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12],
            a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20])  # fmt: skip


@njit(cache=True, error_model="numpy")
def _reduced(x, cf):
    """(k, p, r) with x = k ln 2 + r, |r| <= ln(2)/2, and p the Taylor
    polynomial of (exp(r) - 1) / r: 1 + r/2! + ... up to r**12/13! in
    float64 and r**6/7! in float32 (the next term of exp is below half an
    ulp there). x is clamped to the lowest argument from below; NaN passes."""
    x = cf[16] if x < cf[16] else x
    k = np.floor(x * cf[17] + cf[18])
    r = _fma(-k, cf[15], _fma(-k, cf[14], x))
    if _is_float64(r):
        p = _fma(cf[13], r, cf[12])
        p = _fma(p, r, cf[11])
        p = _fma(p, r, cf[10])
        p = _fma(p, r, cf[9])
        p = _fma(p, r, cf[8])
        p = _fma(p, r, cf[7])
    else:
        p = cf[7]
    p = _fma(p, r, cf[6])
    p = _fma(p, r, cf[5])
    p = _fma(p, r, cf[4])
    p = _fma(p, r, cf[3])
    p = _fma(p, r, cf[2])
    p = _fma(p, r, cf[1])
    return k, p, r


@njit(cache=True, error_model="numpy")
def _expneg(x, cf):
    """exp(x) for x <= 0 (a few ulp; below the lowest argument, exp of it):
    2**k (1 + p r) from `_reduced`."""
    k, p, r = _reduced(x, cf)
    return _fma(p, r, cf[0]) * _pow2(k)


@njit(cache=True, error_model="numpy")
def _tanh(x, cf):
    """tanh(x) = -e / (2 + e) for x >= 0, e = expm1(-2x) = 2**k (p r) + (2**k - 1)
    from `_reduced`; odd. expm1 keeps its relative accuracy near 0, so no
    series of its own is needed there (3 ulp at most measured in float64,
    against 10 for 1 - exp). Branch-free, so that it vectorizes; +-0 and NaN
    are returned as they are."""
    k, p, r = _reduced(-cf[20] * abs(x), cf)
    s = _pow2(k)
    e = _fma(s, p * r, s - cf[19])
    t = -e / (cf[20] + e)
    return -t if x < 0 else (t if x > 0 else x)


# Explicit AVX-512 vectors. The functions below emit LLVM IR for numba
# intrinsics (`_..._avx512`, `_transpose_tiles`): <8 x double> operations
# that numba's loops cannot express, a row's last n % 8 values through
# masked loads and stores. They live in this file for the cache's sake
# (see the module's text): a change here must recompile the kernels.


def _has_avx512(context) -> bool:
    """Whether numba compiles for a CPU with AVX-512F (its target's features;
    numba's cache keeps code per CPU, so a cached kernel never runs elsewhere)."""
    features = getattr(context.codegen(), "_tm_features", "") or ""
    return "+avx512f" in features.split(",")


_V8 = ir.VectorType(ir.DoubleType(), 8)


def _splat(builder, x):
    """<8 x double> holding the double x in every lane."""
    v = builder.insert_element(ir.Constant(_V8, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8)
    return builder.shuffle_vector(v, ir.Constant(_V8, ir.Undefined), mask)


def _shuffle(builder, a, b, idx):
    mask = ir.Constant(ir.VectorType(ir.IntType(32), 8), idx)
    return builder.shuffle_vector(a, b, mask)


def _masked_load(builder, ptr, mask):
    """<8 x double> from ptr, the lanes off in mask (<8 x i1>) read as 0
    and never touched in memory."""
    v8p, i1x8 = _V8.as_pointer(), ir.VectorType(ir.IntType(1), 8)
    fnty = ir.FunctionType(_V8, [v8p, ir.IntType(32), i1x8, _V8])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.masked.load.v8f64.p0")
    zero = ir.Constant(_V8, [0.0] * 8)
    return builder.call(fn, [builder.bitcast(ptr, v8p), ir.Constant(ir.IntType(32), 8), mask, zero])


def _masked_store(builder, value, ptr, mask):
    """Stores the lanes of value on in mask (<8 x i1>) at ptr, and no others."""
    v8p, i1x8 = _V8.as_pointer(), ir.VectorType(ir.IntType(1), 8)
    fnty = ir.FunctionType(ir.VoidType(), [_V8, v8p, ir.IntType(32), i1x8])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.masked.store.v8f64.p0")
    builder.call(fn, [value, builder.bitcast(ptr, v8p), ir.Constant(ir.IntType(32), 8), mask])


def _tail_mask(builder, context, rest):
    """<8 x i1>: lane k on for k < rest (0 <= rest <= 8)."""
    intp = context.get_value_type(types.intp)
    vt = ir.VectorType(intp, 8)
    v = builder.insert_element(ir.Constant(vt, ir.Undefined), rest, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8)
    v = builder.shuffle_vector(v, ir.Constant(vt, ir.Undefined), zeros)
    return builder.icmp_signed("<", ir.Constant(vt, list(range(8))), v)


def _f64_vectors(context, sig) -> bool:
    """Whether an intrinsic's array arguments are float64 and numba compiles
    for AVX-512F: where its explicit vectors apply."""
    arrays = [a for a in sig.args if isinstance(a, types.Array)]
    return _has_avx512(context) and all(a.dtype == types.float64 for a in arrays)


def _matrix_and_rows(A, rows) -> bool:
    """Whether the types are those of a one-stream step's intrinsic: A a
    2-D array, each of rows a 1-D array in C order."""
    if not (isinstance(A, types.Array) and A.ndim == 2 and A.layout in "CA"):
        return False
    return all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in rows)


def _intp_consts(context):
    """The IR type of intp, and a function making constants of it."""
    intp = context.get_value_type(types.intp)
    return intp, lambda v: ir.Constant(intp, v)


def _vector_fn(builder, name, n_args):
    return cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(_V8, [_V8] * n_args), f"{name}.v8f64"
    )


def _emit_reduced(builder, x, cf):
    """`_reduced` on <8 x double> x, cf the 21 constants splatted: the same
    operations in the same order (explicit fmas, nothing contracted)."""
    fma = _vector_fn(builder, "llvm.fma", 3)
    x = builder.select(builder.fcmp_ordered("<", x, cf[16]), cf[16], x)
    k = builder.call(
        _vector_fn(builder, "llvm.floor", 1), [builder.fadd(builder.fmul(x, cf[17]), cf[18])]
    )
    nk = builder.fneg(k)
    r = builder.call(fma, [nk, cf[15], builder.call(fma, [nk, cf[14], x])])
    p = builder.call(fma, [cf[13], r, cf[12]])
    for i in range(11, 0, -1):
        p = builder.call(fma, [p, r, cf[i]])
    return k, p, r


def _emit_pow2(builder, k):
    """`_pow2` on <8 x double> k."""
    i64x8 = ir.VectorType(ir.IntType(64), 8)
    i = builder.add(builder.fptosi(k, i64x8), ir.Constant(i64x8, [1023] * 8))
    return builder.bitcast(builder.shl(i, ir.Constant(i64x8, [52] * 8)), _V8)


def _emit_tanh(builder, x, cf):
    """`_tanh` on <8 x double> x: the same operations, the same bits."""
    fabs = _vector_fn(builder, "llvm.fabs", 1)
    k, p, r = _emit_reduced(
        builder, builder.fmul(builder.fneg(cf[20]), builder.call(fabs, [x])), cf
    )
    s = _emit_pow2(builder, k)
    e = builder.call(
        _vector_fn(builder, "llvm.fma", 3), [s, builder.fmul(p, r), builder.fsub(s, cf[19])]
    )
    t = builder.fdiv(builder.fneg(e), builder.fadd(cf[20], e))
    zero = ir.Constant(_V8, [0.0] * 8)
    inner = builder.select(builder.fcmp_ordered(">", x, zero), t, x)
    return builder.select(builder.fcmp_ordered("<", x, zero), builder.fneg(t), inner)


@intrinsic
def _avx512_f64(typingctx, a):
    """Whether a is a float64 array and numba compiles for AVX-512F: a
    constant, so a branch on it costs nothing."""
    if not isinstance(a, types.Array):
        return None

    def codegen(context, builder, sig, args):
        return ir.Constant(ir.IntType(1), int(_f64_vectors(context, sig)))

    return types.boolean(a), codegen


def _row_loop(context, builder, n, body):
    """body(i, mask) over a row of n values, eight at a time (mask None),
    then the last n % 8 once with their lanes' mask (<8 x i1>)."""
    intp = context.get_value_type(types.intp)
    n8 = builder.and_(n, ir.Constant(intp, -8))
    with cgutils.for_range_slice(builder, ir.Constant(intp, 0), n8, ir.Constant(intp, 8)) as (
        i,
        _,
    ):
        body(i, None)
    rest = builder.sub(n, n8)
    with builder.if_then(builder.icmp_signed(">", rest, ir.Constant(intp, 0))):
        body(n8, _tail_mask(builder, context, rest))


def _load8(builder, ptr, mask):
    if mask is None:
        return builder.load(builder.bitcast(ptr, _V8.as_pointer()), align=8)
    return _masked_load(builder, ptr, mask)


def _store8(builder, value, ptr, mask):
    if mask is None:
        builder.store(value, builder.bitcast(ptr, _V8.as_pointer()), align=8)
    else:
        _masked_store(builder, value, ptr, mask)


def _hsum(builder, v):
    """The 8 lanes of v summed in a fixed tree: halves, then quarters, then pairs."""
    h = builder.fadd(
        _shuffle(builder, v, v, [0, 1, 2, 3, 0, 1, 2, 3]),
        _shuffle(builder, v, v, [4, 5, 6, 7, 4, 5, 6, 7]),
    )
    q = builder.fadd(
        _shuffle(builder, h, h, [0, 1, 0, 1, 0, 1, 0, 1]),
        _shuffle(builder, h, h, [2, 3, 2, 3, 2, 3, 2, 3]),
    )
    i32 = ir.IntType(32)
    return builder.fadd(
        builder.extract_element(q, ir.Constant(i32, 0)),
        builder.extract_element(q, ir.Constant(i32, 1)),
    )


def _lane_sums(builder, accs):
    """<8 x double> whose lane k is the sum of the 8 lanes of accs[k], in a
    fixed tree (neighbours, then pairs, then fours): three rounds of
    two-source shuffles and adds instead of eight horizontal sums."""
    rounds = [
        ([0, 8, 2, 10, 4, 12, 6, 14], [1, 9, 3, 11, 5, 13, 7, 15]),
        ([0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]),
        ([0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]),
    ]
    for lo, hi in rounds:
        accs = [
            builder.fadd(
                _shuffle(builder, accs[i], accs[i + 1], lo),
                _shuffle(builder, accs[i], accs[i + 1], hi),
            )
            for i in range(0, len(accs), 2)
        ]
    return accs[0]


def _max_lanes(builder, v):
    """max over the lanes of v in order, lane 0 first, as `_add_max` takes it."""
    i32 = ir.IntType(32)
    m = builder.extract_element(v, ir.Constant(i32, 0))
    for k in range(1, 8):
        e = builder.extract_element(v, ir.Constant(i32, k))
        m = builder.select(builder.fcmp_ordered(">", e, m), e, m)
    return m


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _matvec(A, x, out, rev):
    """out = A[:, :c] x for A (r, >= c), x (c,); a loop beats a BLAS call at
    m ~ 100. Four rows at a time, so each x[j] loaded serves four products;
    with rev the blocks of rows go last to first. Every row is summed alike
    in both orders (the same bits), but the rows read last stay in the L1
    cache: steps that alternate the order read the start of A from there
    when A does not fit whole (m = 100: a T = 25 forward pass 7% faster).
    Columns of A past c are padding (see `_padded`), never read."""
    zero = out.dtype.type(0.0)
    r, c = A.shape[0], x.size
    nblk = r // 4
    for k in range(nblk):
        i = 4 * (nblk - 1 - k if rev else k)
        s0 = s1 = s2 = s3 = zero
        for j in range(c):
            xj = x[j]
            s0 += A[i, j] * xj
            s1 += A[i + 1, j] * xj
            s2 += A[i + 2, j] * xj
            s3 += A[i + 3, j] * xj
        out[i], out[i + 1], out[i + 2], out[i + 3] = s0, s1, s2, s3
    for i in range(r - r % 4, r):
        s = zero
        for j in range(c):
            s += A[i, j] * x[j]
        out[i] = s


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _vecmat_add(x, A, out):
    """out += x A[:, :c] for x (r,), A (r, >= c), out (c,): four rows of A
    per pass over out, so out is read and written r/4 times rather than r.
    Columns of A past c are padding (see `_padded`), never read."""
    r, c = A.shape[0], out.size
    for blk in range(r // 4):
        i = 4 * blk
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        for j in range(c):
            out[j] += (x0 * A[i, j] + x1 * A[i + 1, j]) + (x2 * A[i + 2, j] + x3 * A[i + 3, j])
    for i in range(r - r % 4, r):
        xi = x[i]
        for j in range(c):
            out[j] += xi * A[i, j]


@njit(cache=True, error_model="numpy")
def _add_input(row, u, b):
    """row = row + u + b, in place (u = U[:, x_t], a row of U^T)."""
    for i in range(row.size):
        row[i] = row[i] + u[i] + b[i]


@njit(cache=True, error_model="numpy")
def _add_tanh(row, u, b, cf):
    """row = tanh(row + u + b), in place: `_add_input` and `_tanh_flat` of
    one stream in one pass (the same bits); float64 with AVX-512:
    `_add_tanh_avx512`, the same bits too."""
    if _add_tanh_avx512(row, u, b, cf):
        return
    for i in range(row.size):
        row[i] = _tanh(row[i] + u[i] + b[i], cf)


@intrinsic
def _add_tanh_avx512(typingctx, row, u, b, cf):
    """`_add_tanh` in explicit AVX-512 vectors (float64): row = tanh(row +
    u + b) eight values at a time by `_emit_tanh`, the last n % 8 through
    masked loads and stores, so that no value takes a scalar tanh (4 of
    m = 100 per step did). The same bits as `_tanh` value by value. Returns
    False, having done nothing, for float32 or without AVX-512F."""
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in (row, u, b)):
        return None

    def codegen(context, builder, sig, args):
        if not _f64_vectors(context, sig):
            return ir.Constant(ir.IntType(1), 0)
        arrs = [context.make_array(t)(context, builder, v) for t, v in zip(sig.args[:3], args[:3])]
        cf = [_splat(builder, builder.extract_value(args[3], i)) for i in range(21)]

        def body(i, mask):
            row, u, b = (builder.gep(a.data, [i]) for a in arrs)
            x = builder.fadd(
                builder.fadd(_load8(builder, row, mask), _load8(builder, u, mask)),
                _load8(builder, b, mask),
            )
            _store8(builder, _emit_tanh(builder, x, cf), row, mask)

        _row_loop(context, builder, arrs[0].nitems, body)
        return ir.Constant(ir.IntType(1), 1)

    return types.boolean(row, u, b, cf), codegen


@intrinsic
def _matvec_tanh_avx512(typingctx, A, x, out, rev, u, b, cf):
    """One stream's whole step in explicit AVX-512 vectors (float64):
    out = tanh(A[:, :c] x + u + b) for A (r, >= c), x (c,). Eight rows at
    a time, one <8 x double> sum per row over the columns (the last c % 8
    masked), the eight sums' lanes added in one fixed tree (`_lane_sums`)
    into the block's eight values, plus the input and the bias; their
    `_emit_tanh` (`_tanh`'s bits for that argument) is taken after the
    next block's sums, so that its operations, whose inputs are then
    ready, do not hold the scheduler while that block's rows stream in
    (the forward pass 0.45 us faster than taking it at once, 1 us faster
    than a second pass over the row). The last r % 8 rows take a block
    whose spare rows repeat the last row, their lanes never stored. With
    rev the blocks go last to first, as in `_matvec` (every row summed
    alike in both orders).
    Returns False, having done nothing, for float32 or without AVX-512F."""
    if not _matrix_and_rows(A, (x, out, u, b)):
        return None

    def codegen(context, builder, sig, args):
        if not _f64_vectors(context, sig):
            return ir.Constant(ir.IntType(1), 0)
        intp, const = _intp_consts(context)
        a = context.make_array(sig.args[0])(context, builder, args[0])
        xa, oa, ua, ba = (
            context.make_array(sig.args[k])(context, builder, args[k]) for k in (1, 2, 4, 5)
        )
        cf = [_splat(builder, builder.extract_value(args[6], i)) for i in range(21)]
        r = cgutils.unpack_tuple(builder, a.shape, 2)[0]
        row_bytes = cgutils.unpack_tuple(builder, a.strides, 2)[0]
        base = builder.bitcast(a.data, ir.IntType(8).as_pointer())
        fma = _vector_fn(builder, "llvm.fma", 3)
        nb = builder.sdiv(builder.add(r, const(7)), const(8))
        # the last block's sums plus input and bias, and its first row
        held = cgutils.alloca_once_value(builder, ir.Constant(_V8, [0.0] * 8))
        held_i0 = cgutils.alloca_once_value(builder, const(0))

        def finish():
            """tanh of the held block, stored (its rows past r masked off)."""
            i0 = builder.load(held_i0)
            left, dst = builder.sub(r, i0), builder.gep(oa.data, [i0])
            h = _emit_tanh(builder, builder.load(held), cf)
            with builder.if_else(builder.icmp_signed(">=", left, const(8))) as (whole, part):
                with whole:
                    _store8(builder, h, dst, None)
                with part:
                    _store8(builder, h, dst, _tail_mask(builder, context, left))

        with cgutils.for_range(builder, nb) as loop:
            back = builder.sub(builder.sub(nb, const(1)), loop.index)
            blk = builder.select(args[3], back, loop.index)
            i0 = builder.mul(blk, const(8))
            rows = []
            for q in range(8):
                iq = builder.add(i0, const(q))
                iq = builder.select(builder.icmp_signed("<", iq, r), iq, builder.sub(r, const(1)))
                ptr = builder.gep(base, [builder.mul(iq, row_bytes)])
                rows.append(builder.bitcast(ptr, ir.DoubleType().as_pointer()))
            accs = [cgutils.alloca_once_value(builder, ir.Constant(_V8, [0.0] * 8)) for _ in rows]

            def columns(j, mask):
                xv = _load8(builder, builder.gep(xa.data, [j]), mask)
                for row, acc in zip(rows, accs):
                    av = _load8(builder, builder.gep(row, [j]), mask)
                    builder.store(builder.call(fma, [av, xv, builder.load(acc)]), acc)

            _row_loop(context, builder, xa.nitems, columns)
            left = builder.sub(r, i0)
            full = builder.icmp_signed(">=", left, const(8))
            mask = _tail_mask(builder, context, builder.select(full, const(8), left))
            v = _lane_sums(builder, [builder.load(acc) for acc in accs])
            v = builder.fadd(v, _load8(builder, builder.gep(ua.data, [i0]), mask))
            v = builder.fadd(v, _load8(builder, builder.gep(ba.data, [i0]), mask))
            with builder.if_then(builder.icmp_signed(">", loop.index, const(0))):
                finish()  # the block before, now that this one's rows are read
            builder.store(v, held)
            builder.store(i0, held_i0)
        with builder.if_then(builder.icmp_signed(">", nb, const(0))):
            finish()
        return ir.Constant(ir.IntType(1), 1)

    return types.boolean(A, x, out, rev, u, b, cf), codegen


@njit(cache=True, error_model="numpy")
def _tanh_flat(a, cf):
    """a = tanh(a), in place, for a contiguous 1-D a: the states of all the
    streams of a step in one loop, so that only its end is not a full vector."""
    for i in range(a.size):
        a[i] = _tanh(a[i], cf)


@njit(cache=True, error_model="numpy")
def forward(W, WT, UT, b, data, p, T, Hs, cf, reset):
    """h_t = tanh(W h_{t-1} + U[:, x_t] + b) for x_t = data[:, p+t], t < T,
    with h_{t-1} = 0 where x_t == reset.

    WT (m, m) is W transposed, read by the steps of several streams: OpenBLAS's
    AVX-512 kernels multiply a few rows by a contiguous matrix up to twice as
    fast as by a transposed view (its AVX2 kernels run both alike). One
    stream reads W alone (pass it for WT).
    UT (K, m) is U transposed, so that the column of an input is contiguous.
    data (S, L) ids; Hs ((T+1)*S, m) with h_0 already in its first S rows.
    """
    S, m = data.shape[0], Hs.shape[1]
    if S == 1:
        for t in range(T):
            x, cur, rev = data[0, p + t], Hs[t + 1], t % 2 == 1
            if x == reset:
                cur[:] = 0.0
            elif _matvec_tanh_avx512(W, Hs[t], cur, rev, UT[x], b, cf):
                continue
            else:
                _matvec(W, Hs[t], cur, rev)
            _add_tanh(cur, UT[x], b, cf)
        return
    for t in range(T):
        prev = Hs[t * S : (t + 1) * S]
        cur = Hs[(t + 1) * S : (t + 2) * S]
        rows_dot(prev, WT, cur)
        if reset >= 0:
            for s in range(S):
                if data[s, p + t] == reset:
                    cur[s, :] = 0.0
        for s in range(S):
            _add_input(cur[s], UT[data[s, p + t]], b)
        _tanh_flat(cur.reshape(S * m), cf)


@intrinsic
def _add_max_avx512(typingctx, row, c):
    """`_add_max` in explicit AVX-512 vectors (float64, row.size >= 1):
    row += c and its max, eight lanes of running maxima started from
    row[0], the last n % 8 masked: NaN only if row[0] is, and exact, so the
    same value as `_add_max`. Returns 0.0 where `_avx512_f64` is False."""
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in (row, c)):
        return None

    def codegen(context, builder, sig, args):
        if not _f64_vectors(context, sig):
            return context.get_constant(sig.return_type, 0.0)
        r, cc = (context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args))
        first = builder.fadd(builder.load(r.data), builder.load(cc.data))
        acc = cgutils.alloca_once_value(builder, _splat(builder, first))

        def body(i, mask):
            pr = builder.gep(r.data, [i])
            v = builder.fadd(
                _load8(builder, pr, mask), _load8(builder, builder.gep(cc.data, [i]), mask)
            )
            _store8(builder, v, pr, mask)
            a = builder.load(acc)
            if mask is not None:
                v = builder.select(mask, v, a)
            builder.store(builder.select(builder.fcmp_ordered(">", v, a), v, a), acc)

        _row_loop(context, builder, r.nitems, body)
        return _max_lanes(builder, builder.load(acc))

    return row.dtype(row, c), codegen


@intrinsic
def _exp_sum_avx512(typingctx, row, mx, cf, keep):
    """`_exp_sum` in explicit AVX-512 vectors (float64): each exp(row[k] -
    mx) as `_expneg` gives it (the same bits), summed in eight lanes, the
    last n % 8 masked, the lanes added in a fixed tree (`_hsum`); the terms
    replace row when keep. Returns 0.0 where `_avx512_f64` is False."""
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        if not _f64_vectors(context, sig):
            return context.get_constant(sig.return_type, 0.0)
        r = context.make_array(sig.args[0])(context, builder, args[0])
        m = _splat(builder, args[1])
        cf = [_splat(builder, builder.extract_value(args[2], i)) for i in range(21)]
        zero = ir.Constant(_V8, [0.0] * 8)
        acc = cgutils.alloca_once_value(builder, zero)

        def body(i, mask):
            pr = builder.gep(r.data, [i])
            k, p, rr = _emit_reduced(builder, builder.fsub(_load8(builder, pr, mask), m), cf)
            fma = _vector_fn(builder, "llvm.fma", 3)
            e = builder.fmul(builder.call(fma, [p, rr, cf[0]]), _emit_pow2(builder, k))
            with builder.if_then(args[3]):
                _store8(builder, e, pr, mask)
            if mask is not None:
                e = builder.select(mask, e, zero)
            builder.store(builder.fadd(builder.load(acc), e), acc)

        _row_loop(context, builder, r.nitems, body)
        return _hsum(builder, builder.load(acc))

    return row.dtype(row, mx, cf, keep), codegen


@njit(cache=True, error_model="numpy")
def _add_max(row, c):
    """row += c; returns max(row), a value of row (NaN only if row[0] is).
    Eight running maxima, so that the compare-and-select of one does not
    wait for the previous (the max is exact, so the order is free).
    float64 with AVX-512: `_add_max_avx512`, the same value."""
    if _avx512_f64(row) and row.size > 0:
        return _add_max_avx512(row, c)
    n = row.size
    for k in range(n):
        row[k] = row[k] + c[k]
    mx = row[0]
    n8 = n - n % 8
    if n8 >= 8:
        m0, m1, m2, m3 = row[0], row[1], row[2], row[3]
        m4, m5, m6, m7 = row[4], row[5], row[6], row[7]
        for blk in range(1, n8 // 8):
            k = 8 * blk
            m0 = row[k] if row[k] > m0 else m0
            m1 = row[k + 1] if row[k + 1] > m1 else m1
            m2 = row[k + 2] if row[k + 2] > m2 else m2
            m3 = row[k + 3] if row[k + 3] > m3 else m3
            m4 = row[k + 4] if row[k + 4] > m4 else m4
            m5 = row[k + 5] if row[k + 5] > m5 else m5
            m6 = row[k + 6] if row[k + 6] > m6 else m6
            m7 = row[k + 7] if row[k + 7] > m7 else m7
        for v in (m1, m2, m3, m4, m5, m6, m7):
            m0 = v if v > m0 else m0
        mx = m0
    for k in range(n8, n):
        mx = row[k] if row[k] > mx else mx
    return mx


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _exp_sum(row, mx, cf, keep):
    """sum_k exp(row[k] - mx); the terms replace row when keep. float64
    with AVX-512: `_exp_sum_avx512` (each term the same bits; their sum in
    its own order)."""
    if _avx512_f64(row):
        return _exp_sum_avx512(row, mx, cf, keep)
    s = row.dtype.type(0.0)
    if keep:
        for k in range(row.size):
            e = _expneg(row[k] - mx, cf)
            row[k] = e
            s += e
    else:
        for k in range(row.size):
            s += _expneg(row[k] - mx, cf)
    return s


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _scale(row, f):
    for k in range(row.size):
        row[k] *= f


@njit(cache=True, error_model="numpy")
def output_loss(V, c, Hs, Y, q, T, G):
    """Logits o_t = V h_t + c, the summed loss and g_t = p_t - onehot(y_t)
    in G (T*S, K), unscaled; targets y_t = Y[:, q+t]. The loss is float64."""
    return _output_loss(V.T, c, Hs, Y, q, T, G, tanh_coefs(V), True)


@njit(cache=True, error_model="numpy")
def _output_loss(VT, c, Hs, Y, q, T, G, cf, grad):
    """Logits o_t = V h_t + c, the summed loss and (when grad)
    g_t = p_t - onehot(y_t) in G (T*S, K), unscaled. Targets y_t = Y[:, q+t].
    Returns the loss summed over t and the S streams, in float64.
    VT (m, K) is V.T: the view, or a C-contiguous copy (see `rows_dot`).
    The rows go through each stage in turn (their maxima, then their
    exponentials, then the loss and the scaling), so that the work of
    neighbouring rows overlaps; row by row, each waited for its own max
    and sum. The same operations on each row as before, the same bits."""
    S = Y.shape[0]
    rows_dot(Hs[S : (T + 1) * S], VT, G)
    n = T * S
    mo = np.empty((n, 2), G.dtype)  # each row's max, then its sum of exps; o_y - max
    for r in range(n):
        mo[r, 0] = _add_max(G[r], c)
        mo[r, 1] = G[r, Y[r % S, q + r // S]] - mo[r, 0]
    for r in range(n):
        mo[r, 0] = _exp_sum(G[r], mo[r, 0], cf, grad)
    total = 0.0
    for r in range(n):
        total += math.log(mo[r, 0]) - mo[r, 1]
        if grad:
            _scale(G[r], 1.0 / mo[r, 0])
            G[r, Y[r % S, q + r // S]] -= 1.0
    return total


@intrinsic
def _vecmat_dtanh_avx512(typingctx, x, A, dh, h, da, rev):
    """One stream's backward step in explicit AVX-512 vectors (float64):
    da = (dh + x A[:, :c]) (1 - h^2) for x (r,), A (r, >= c), dh, h, da
    (c,). The columns go in chunks of at most eight vectors whose sums stay
    in registers over all r rows (one FMA per row and vector, rows in
    order), so that dh is read once and da written once; `_vecmat_add`
    read and wrote them four rows at a time, then a loop formed da. The
    c / 8 vectors are split into chunks of near-equal size (m = 100: 7 and
    6), the last vector of a chunk through a masked load. With rev the
    chunks go last to first: every column summed alike, the same bits, but
    steps that alternate the order read the last chunk's part of A from
    the L1 cache. Returns False, having done nothing, for float32 or
    without AVX-512F."""
    if not _matrix_and_rows(A, (x, dh, h, da)):
        return None

    def codegen(context, builder, sig, args):
        if not _f64_vectors(context, sig):
            return ir.Constant(ir.IntType(1), 0)
        intp, const = _intp_consts(context)
        xa, a, dha, ha, daa = (
            context.make_array(t)(context, builder, v) for t, v in zip(sig.args[:5], args[:5])
        )
        r = cgutils.unpack_tuple(builder, a.shape, 2)[0]
        row_bytes = cgutils.unpack_tuple(builder, a.strides, 2)[0]
        base = builder.bitcast(a.data, ir.IntType(8).as_pointer())
        fma = _vector_fn(builder, "llvm.fma", 3)
        c = daa.nitems
        nv = builder.sdiv(builder.add(c, const(7)), const(8))
        nch = builder.sdiv(builder.add(nv, const(7)), const(8))
        size0, extra = builder.sdiv(nv, nch), builder.srem(nv, nch)
        one = ir.Constant(_V8, [1.0] * 8)

        def chunk(n, j0, last):
            """n vectors from column j0, the last with the mask last."""
            zero = ir.Constant(_V8, [0.0] * 8)
            accs = [cgutils.alloca_once_value(builder, zero) for _ in range(n)]
            with cgutils.for_range(builder, r) as loop:
                i = loop.index
                xi = _splat(builder, builder.load(builder.gep(xa.data, [i])))
                ptr = builder.gep(base, [builder.mul(i, row_bytes)])
                row = builder.bitcast(ptr, ir.DoubleType().as_pointer())
                for v, acc in enumerate(accs):
                    av = _load8(builder, builder.gep(row, [builder.add(j0, const(8 * v))]),
                                last if v == n - 1 else None)  # fmt: skip
                    builder.store(builder.call(fma, [av, xi, builder.load(acc)]), acc)
            for v, acc in enumerate(accs):
                col, mask = builder.add(j0, const(8 * v)), last if v == n - 1 else None
                dhv = _load8(builder, builder.gep(dha.data, [col]), mask)
                hv = _load8(builder, builder.gep(ha.data, [col]), mask)
                d = builder.fadd(dhv, builder.load(acc))
                d = builder.fmul(d, builder.fsub(one, builder.fmul(hv, hv)))
                _store8(builder, d, builder.gep(daa.data, [col]), mask)

        with cgutils.for_range(builder, nch) as loop:
            back = builder.sub(builder.sub(nch, const(1)), loop.index)
            k = builder.select(args[5], back, loop.index)
            bigger = builder.icmp_signed("<", k, extra)  # the first `extra` chunks: one more
            n = builder.add(size0, builder.zext(bigger, intp))
            v0 = builder.add(builder.mul(k, size0), builder.select(bigger, k, extra))
            j0 = builder.mul(v0, const(8))
            left = builder.sub(c, builder.add(j0, builder.mul(builder.sub(n, const(1)), const(8))))
            last = _tail_mask(builder, context, left)  # left <= 8: all lanes but past c
            for size in range(1, 9):
                with builder.if_then(builder.icmp_signed("==", n, const(size))):
                    chunk(size, j0, last)
        return ir.Constant(ir.IntType(1), 1)

    return types.boolean(x, A, dh, h, da, rev), codegen


@njit(cache=True, error_model="numpy")
def backward(W, V, Hs, data, p, T, G, dH, dA, tmp, grads, reset, Hp):
    """Backpropagation through time from g in G (T*S, K).

    dh_t = V^T g_t + W^T da_{t+1};  da_t = dh_t (1 - h_t^2).
    One float64 stream steps through `_vecmat_dtanh_avx512` where numba
    compiles for AVX-512 (dH then holds V^T g_t only).
    dH, dA: (T*S, m) and tmp (S, m) work buffers; grads = (dW, dUT (K, m),
    dV, db, dc) get the gradients of the summed loss (dU transposed so that
    its scatter-add by input id is contiguous). dUT is added to, not
    overwritten: it must hold zeros, and its users leave it so (`_apply_rows`
    zeroes the rows it read, `batch_pass` the groups it summed), so that no
    update clears all K rows for the few that T inputs touch.
    With reset >= 0 the rows of Hs holding a state that a reset replaced by
    zero are zeroed (the state those steps read) before dW is formed.
    dW may have more columns than m, the padding of W's rows (see `train`):
    then dW = dA^T Hp, Hp (T*S, mp) the states copied into rows of that
    width, zero past m, so that the padding's gradient is zero.
    """
    S, m = data.shape[0], W.shape[0]
    dW, dUT, dV, db, dc = grads
    np.dot(G, V, dH)
    for t in range(T - 1, -1, -1):
        lo, hi = t * S, (t + 1) * S
        step = t < T - 1 and (S > 1 or data[0, p + t + 1] != reset)
        if S == 1 and step:
            if _vecmat_dtanh_avx512(dA[hi], W, dH[lo], Hs[hi], dA[lo], t % 2 == 1):
                continue
            _vecmat_add(dA[hi], W, dH[lo])
        elif step:
            rows_dot(dA[hi : hi + S], W, tmp)
            for s in range(S):
                if data[s, p + t + 1] != reset:
                    for i in range(m):
                        dH[lo + s, i] += tmp[s, i]
        for r in range(lo, hi):
            for i in range(m):
                h = Hs[r + S, i]
                dA[r, i] = dH[r, i] * (1.0 - h * h)
    np.dot(G.T, Hs[S : (T + 1) * S], dV)
    if reset >= 0:
        for r in range(T * S):
            if data[r % S, p + r // S] == reset:
                Hs[r, :] = 0.0
    if dW.shape[1] == m:
        np.dot(dA.T, Hs[: T * S], dW)
    else:
        _copy_rows(Hs[: T * S], Hp)
        np.dot(dA.T, Hp, dW)
    _column_sums(dA, db)
    _column_sums(G, dc)
    for r in range(T * S):
        x = data[r % S, p + r // S]
        for i in range(m):
            dUT[x, i] += dA[r, i]


def _transpose_tile(builder, rows):
    """The 8 columns of the 8 x 8 tile whose rows are the <8 x double>
    rows: three rounds of two-source shuffles (pairs, fours, halves)."""
    lo, hi = [0, 8, 2, 10, 4, 12, 6, 14], [1, 9, 3, 11, 5, 13, 7, 15]
    t = []
    for i in range(0, 8, 2):
        t += [
            _shuffle(builder, rows[i], rows[i + 1], lo),
            _shuffle(builder, rows[i], rows[i + 1], hi),
        ]
    pairs_lo, pairs_hi = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
    u = [None] * 8
    for base in (0, 4):  # rows 0-3, then 4-7
        a0, a1, b0, b1 = t[base], t[base + 1], t[base + 2], t[base + 3]
        u[base + 0] = _shuffle(builder, a0, b0, pairs_lo)  # columns 0, 4
        u[base + 1] = _shuffle(builder, a1, b1, pairs_lo)  # 1, 5
        u[base + 2] = _shuffle(builder, a0, b0, pairs_hi)  # 2, 6
        u[base + 3] = _shuffle(builder, a1, b1, pairs_hi)  # 3, 7
    first, second = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
    cols = [None] * 8
    for j in range(4):
        cols[j] = _shuffle(builder, u[j], u[j + 4], first)
        cols[j + 4] = _shuffle(builder, u[j], u[j + 4], second)
    return cols


@intrinsic
def _transpose_tiles(typingctx, A, out):
    """out[:c8, :r8] = A[:r8, :c8]^T for float64 A (r, c) and out (c, r),
    both C order, r8 and c8 the multiples of 8 below r and c: 8 x 8 tiles
    read as 8 vector rows, transposed in registers (`_transpose_tile`) and
    stored as 8 vector rows. Returns False, having done nothing, for float32
    (the caller's loop then does it all)."""
    if not all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" for a in (A, out)):
        return None

    def codegen(context, builder, sig, args):
        if not all(a.dtype == types.float64 for a in sig.args):
            return ir.Constant(ir.IntType(1), 0)
        a, o = (context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args))
        r, c = cgutils.unpack_tuple(builder, a.shape, 2)
        intp = context.get_value_type(types.intp)
        eight, zero, minus8 = (ir.Constant(intp, v) for v in (8, 0, -8))
        r8, c8 = builder.and_(r, minus8), builder.and_(c, minus8)
        with cgutils.for_range_slice(builder, zero, r8, eight) as (i0, _):
            with cgutils.for_range_slice(builder, zero, c8, eight) as (j0, _):
                rows = []
                for i in range(8):
                    at = builder.add(builder.mul(builder.add(i0, ir.Constant(intp, i)), c), j0)
                    rows.append(_load8(builder, builder.gep(a.data, [at]), None))
                for j, col in enumerate(_transpose_tile(builder, rows)):
                    at = builder.add(builder.mul(builder.add(j0, ir.Constant(intp, j)), r), i0)
                    _store8(builder, col, builder.gep(o.data, [at]), None)
        return ir.Constant(ir.IntType(1), 1)

    return types.boolean(A, out), codegen


@njit(cache=True, error_model="numpy")
def _transpose(A, out):
    """out (c, r) = A^T for A (r, c): in float64 whole 8 x 8 tiles in
    registers (`_transpose_tiles`; V^T at 72 x 100 in 0.6 us against 2.0),
    the rest (and all of float32) eight rows of A at a time, each row of
    out getting eight contiguous values per pass."""
    r, c = A.shape
    r8 = r - r % 8
    c0 = c - c % 8 if _transpose_tiles(A, out) else 0
    for i0 in range(0, r8, 8):
        for j in range(c0, c):
            for i in range(8):
                out[j, i0 + i] = A[i0 + i, j]
    for i in range(r8, r):
        for j in range(c):
            out[j, i] = A[i, j]


# The most multiply-adds OpenBLAS hands to its small-matrix GEMM kernels
# (SkylakeX and later AVX-512 kernels): M N K <= 100^3.
SMALL_GEMM = 1_000_000


@njit(cache=True, error_model="numpy")
def rows_dot(A, B, out):
    """out = A B for A (r, k), B (k, c): for a C-contiguous B, in blocks of rows
    of at most SMALL_GEMM multiply-adds each (one product when a row alone
    exceeds it, or blocks of fewer than 4 rows would have to cover more than
    8 rows). OpenBLAS's small-matrix kernels take such blocks without packing
    B: a step of 8-32 streams of a gated layer at m = 128 ran 1.7-3x as fast
    here as one product of W transposed (a BLAS without such kernels packs B
    once per block). A B that is a transposed view is one product: the small
    kernels are slow on it. The blocks depend on the shapes and layout only,
    so the bits do too."""
    r, k = A.shape
    rows = SMALL_GEMM // max(1, k * B.shape[1])
    # blocks of 1-3 rows lost to one product at 16 rows; no row fits: no block is small
    if not B.flags.c_contiguous or rows == 0 or rows >= r or (rows < 4 and r > 8):
        np.dot(A, B, out)
        return
    for i in range(0, r, rows):
        j = min(i + rows, r)
        np.dot(A[i:j], B, out[i:j])


@njit(cache=True, error_model="numpy")
def _copy_rows(src, dst):
    """dst[:, :c] = src for src (r, c), dst (r, >= c): numba's slice
    assignment between 2-D arrays walks a general index iterator (a row of
    100 values 35 ns, states into the padded Hp 0.73 us; this loop 7 ns and
    0.35 us)."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@intrinsic
def _column_sums_avx512(typingctx, A, out):
    """`_column_sums` in explicit AVX-512 vectors (float64 A (r, c) in C
    order): eight columns' sums held in a register over all r rows, added
    in row order from zero as the loop adds them (the same bits), the last
    c % 8 columns masked; the loop reads and writes out once per row.
    Returns False, having done nothing, for float32, without AVX-512F, or
    where A or out is not known to be in C order."""
    if not (isinstance(A, types.Array) and A.ndim == 2):
        return None
    if not (isinstance(out, types.Array) and out.ndim == 1):
        return None

    def codegen(context, builder, sig, args):
        if not _f64_vectors(context, sig) or A.layout != "C" or out.layout != "C":
            return ir.Constant(ir.IntType(1), 0)
        a, o = (context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args))
        r, c = cgutils.unpack_tuple(builder, a.shape, 2)

        def body(j, mask):
            acc = cgutils.alloca_once_value(builder, ir.Constant(_V8, [0.0] * 8))
            with cgutils.for_range(builder, r) as loop:
                at = builder.add(builder.mul(loop.index, c), j)
                v = _load8(builder, builder.gep(a.data, [at]), mask)
                builder.store(builder.fadd(builder.load(acc), v), acc)
            _store8(builder, builder.load(acc), builder.gep(o.data, [j]), mask)

        _row_loop(context, builder, c, body)
        return ir.Constant(ir.IntType(1), 1)

    return types.boolean(A, out), codegen


@njit(cache=True, error_model="numpy")
def _column_sums(A, out):
    """out = A summed over its rows, in row order."""
    if _column_sums_avx512(A, out):
        return
    out[:] = 0.0
    for r in range(A.shape[0]):
        for j in range(A.shape[1]):
            out[j] += A[r, j]


@njit(cache=True, error_model="numpy")
def _aligned(n, dtype_like):
    """n elements (1-D) starting on a 64-byte boundary. OpenBLAS's results
    depend, in the last bits, on where its operands start; buffers aligned
    alike give the same bits in every process."""
    item = dtype_like.itemsize
    raw = np.empty(n + 64 // item, dtype_like.dtype)
    off = ((64 - raw.ctypes.data % 64) % 64) // item
    return raw[off : off + n]


@njit(cache=True, error_model="numpy")
def _aligned_copy(A):
    """A C-contiguous copy of the array A in an aligned buffer."""
    out = _aligned(A.size, A).reshape(A.shape)
    out[...] = A
    return out


LINE = 64  # bytes in a cache line


@njit(cache=True, error_model="numpy")
def _padded(A):
    """A (r, c) in an aligned (r, c') buffer whose rows are a whole number of
    cache lines (c' >= c, zeros past c), for `_matvec`: with m = 100 in
    float64 every other row of A itself starts mid-line, so its vector loads
    straddle two lines; aligned rows made a T = 25 forward pass 9% faster
    and `text_loss` 4.5% (the same bits: the same loop over the same c
    columns). Just an aligned copy when c' = c. One float64 stream's
    training works on such a W, its gradient and optimizer state padded
    alike (see `train`): a padded copy refreshed after each update, or the
    optimizer stepping row by row, cost what the aligned rows saved."""
    r, c = A.shape
    per = LINE // A.itemsize
    cp = -(-c // per) * per
    out = _aligned(r * cp, A).reshape((r, cp))
    out[:, c:] = 0.0
    out[:, :c] = A
    return out


@njit(cache=True, error_model="numpy")
def group_starts(B):
    """First stream of each group and B, (G+1,): groups of GROUP streams
    (the last one takes the rest) when B >= 2*GROUP, else one group."""
    G = B // GROUP if B >= 2 * GROUP else 1
    starts = np.arange(G + 1) * GROUP
    starts[G] = B
    return starts


@njit(cache=True, error_model="numpy")
def work_buffers(G, S, T, K, m, dtype_like, mp):
    """(Hs, Gr, dH, dA, tmp, (dW, dUT, dV, db, dc), Hp) for G groups of at
    most S streams, each with a leading group axis, each aligned (see
    `_aligned`). mp >= m: the width of dW's rows; when mp > m, Hp (G, T*S, mp)
    holds zeros past m (see `backward`), else it is empty."""
    R = T * S
    rows = R if mp > m else 0
    Hp = _aligned(G * rows * mp, dtype_like).reshape((G, rows, mp))
    Hp[...] = 0.0
    grads = (
        _aligned(G * m * mp, dtype_like).reshape((G, m, mp)),
        _aligned(G * K * m, dtype_like).reshape((G, K, m)),
        _aligned(G * K * m, dtype_like).reshape((G, K, m)),
        _aligned(G * m, dtype_like).reshape((G, m)),
        _aligned(G * K, dtype_like).reshape((G, K)),
    )
    grads[1][...] = 0.0  # backward adds into dU^T
    return (
        _aligned(G * (R + S) * m, dtype_like).reshape((G, R + S, m)),
        _aligned(G * R * K, dtype_like).reshape((G, R, K)),
        _aligned(G * R * m, dtype_like).reshape((G, R, m)),
        _aligned(G * R * m, dtype_like).reshape((G, R, m)),
        _aligned(G * S * m, dtype_like).reshape((G, S, m)),
        grads,
        Hp,
    )


@njit(cache=True, error_model="numpy")
def _group_pass(W, WT, UT, V, VT, b, c, data, h, p, T, s0, s1, g, bufs, cf, reset):
    """Forward, loss and backward of streams s0 .. s1-1 from h, in the
    buffers of group g; returns their summed loss (float64). VT (m, K) is a
    C-contiguous copy of V transposed: OpenBLAS multiplies by it about 1.5x
    as fast as by the transposed view (25 x 100 by 100 x 67 here)."""
    Hs, Gr, dH, dA, tmp, grads, Hp = bufs
    S = s1 - s0
    d = data[s0:s1]
    hs = Hs[g, : (T + 1) * S]
    gr, dh, da = Gr[g, : T * S], dH[g, : T * S], dA[g, : T * S]
    _copy_rows(h[s0:s1], hs[:S])
    forward(W, WT, UT, b, d, p, T, hs, cf, reset)
    total = _output_loss(VT, c, hs, d, p + 1, T, gr, cf, True)
    mine = (grads[0][g], grads[1][g], grads[2][g], grads[3][g], grads[4][g])
    backward(W, V, hs, d, p, T, gr, dh, da, tmp[g, :S], mine, reset, Hp[g])
    return total


@njit(cache=True, error_model="numpy", parallel=True)
def _groups_parallel(
    W, WT, UT, V, VT, b, c, data, h, p, T, starts, Hs, Gr, dH, dA, tmp, grads, Hp, totals, reset
):
    # parallel regions take arrays, not tuples of them: unpacked here
    dW, dUT, dV, db, dc = grads
    for g in prange(starts.size - 1):
        bufs = (Hs, Gr, dH, dA, tmp, (dW, dUT, dV, db, dc), Hp)
        cf = tanh_coefs(W)
        s0, s1 = starts[g], starts[g + 1]
        totals[g] = _group_pass(W, WT, UT, V, VT, b, c, data, h, p, T, s0, s1, g, bufs, cf, reset)


@njit(cache=True, error_model="numpy")
def batch_pass(W, WT, UT, V, VT, b, c, data, h, p, T, starts, bufs, cf, totals, reset):
    """Forward and backward of every group; the gradients summed in group
    order end in the buffers of group 0. Returns the summed loss.
    WT (m, m), UT (K, m) and VT (m, K) are W, U and V transposed."""
    G = starts.size - 1
    if G == 1:
        return _group_pass(W, WT, UT, V, VT, b, c, data, h, p, T, 0, starts[1], 0, bufs, cf, reset)
    Hs, Gr, dH, dA, tmp, grads, Hp = bufs
    _groups_parallel(
        W, WT, UT, V, VT, b, c, data, h, p, T, starts, Hs, Gr, dH, dA, tmp, grads, Hp, totals, reset
    )
    total = 0.0
    for g in range(G):
        total += totals[g]
    dW, dUT, dV, db, dc = bufs[5]
    for g in range(1, G):
        dW[0] += dW[g]
        dUT[0] += dUT[g]
        dUT[g] = 0.0  # added to by the next update's backward
        dV[0] += dV[g]
        db[0] += db[g]
        dc[0] += dc[g]
    return total


@njit(cache=True, error_model="numpy")
def loss_and_grads(W, U, V, b, c, X, Y, h, reset):
    """Mean loss over the B streams of inputs X (B, T) and targets Y (B, T),
    its gradients (dW, dU, dV, db, dc) and h_T (B, m), starting from h (B, m)."""
    (B, T), K, m = X.shape, V.shape[0], W.shape[0]
    W, V = _aligned_copy(W), _aligned_copy(V)
    Hs, Gr, dH, dA, tmp, grads, Hp = work_buffers(1, B, T, K, m, W, m)
    cf = tanh_coefs(W)
    Hs[0, :B] = h
    forward(W, _aligned_copy(W.T), _aligned_copy(U.T), b, X, 0, T, Hs[0], cf, reset)
    total = _output_loss(_aligned_copy(V.T), c, Hs[0], Y, 0, T, Gr[0], cf, True)
    dW, dUT, dV, db, dc = grads[0][0], grads[1][0], grads[2][0], grads[3][0], grads[4][0]
    dWUV = (dW, dUT, dV, db, dc)
    backward(W, V, Hs[0], X, 0, T, Gr[0], dH[0], dA[0], tmp[0], dWUV, reset, Hp[0])
    return (total / B, (dW / B, dUT.T / B, dV / B, db / B, dc / B), Hs[0, T * B :].copy())


@njit(cache=True, error_model="numpy", nogil=True)
def text_loss(W, U, V, b, c, ids, h, chunk, reset):
    """Summed loss of predicting ids[1:] from ids[:-1], from h (m,), in
    blocks of `chunk` steps: the recurrence is stepped, then the output
    layer and the log-softmax of the whole block are one GEMM and a loop;
    the state restarts from zero at input `reset`."""
    K, m = V.shape[0], W.shape[0]
    data = ids.reshape((1, ids.size))
    W, VT, UT = _padded(W), _aligned_copy(V.T), _aligned_copy(U.T)
    Hs = _aligned((chunk + 1) * m, W).reshape((chunk + 1, m))
    O = _aligned(chunk * K, W).reshape((chunk, K))
    Hs[0] = h
    cf = tanh_coefs(W)
    total = 0.0
    for p in range(0, ids.size - 1, chunk):
        T = min(chunk, ids.size - 1 - p)
        forward(W, W, UT, b, data, p, T, Hs, cf, reset)
        total += _output_loss(VT, c, Hs, data, p + 1, T, O[:T], cf, False)
        Hs[0] = Hs[T]
    return total


@njit(cache=True, error_model="numpy")
def prime(W, U, b, ids, h):
    """The hidden state after reading ids (P,) from h (m,): the recurrence
    alone, stepped in blocks of 256 inputs."""
    chunk, m = 256, W.shape[0]
    data = ids.reshape((1, ids.size))
    W, UT = _padded(W), _aligned_copy(U.T)
    Hs = _aligned((chunk + 1) * m, W).reshape((chunk + 1, m))
    Hs[0] = h
    cf = tanh_coefs(W)
    for p in range(0, ids.size, chunk):
        T = min(chunk, ids.size - p)
        forward(W, W, UT, b, data, p, T, Hs, cf, -1)
        Hs[0] = Hs[T]
    return Hs[0].copy()


# Below this epsilon AdaGrad and RMSProp divide by the square root as the
# reference does (v + eps could then be a subnormal or zero, out of `_rsqrt`'s range).
RSQRT_MIN_EPS = 1e-300


@njit(cache=True, error_model="numpy")
def _rsqrt(x):
    """1/sqrt(x) for a float64 x >= RSQRT_MIN_EPS, or x = +inf (0) or NaN
    (NaN), within 2 ulp (1.25 x 2^-53 relative, measured): `_rsqrt_seed`,
    three Newton steps y (1.5 - x y^2 / 2), each doubling the correct
    digits, and a last one as y + y r / 2, r = 1 - x y^2, which rounds once
    more at most. Only multiplies and fmas, which leave the divider's square
    root and division: AdaGrad's update of W (m = 100) took 7.0 us against
    8.7 here, 3.3 us less per update at B = 1. Explicit fmas and no
    fastmath: the same bits inlined or not."""
    nh = -0.5 * x
    y = _rsqrt_seed(x)
    y = y * _fma(nh * y, y, 1.5)
    y = y * _fma(nh * y, y, 1.5)
    y = y * _fma(nh * y, y, 1.5)
    y = _fma(0.5 * y, _fma(-x * y, y, 1.0), y)
    return 0.0 if x == math.inf else y


def _emit_rule8(builder, pth, pg, pve, k, rms, mask, clear=False):
    """One step of AdaGrad (rms False) or RMSProp on 8 consecutive values at
    double pointers pth, pg, pve (only the lanes on in mask, unless None):
    the loop of `_apply` with `_rsqrt` replaced by AVX-512's 14-bit
    estimate (vrsqrt14pd), one Newton step and `_rsqrt`'s last one.
    k: the splatted (lr, eps, lim, rho, 1 - rho). The operations, their
    order and roundings are `_apply`'s; every fma is explicit. With clear
    the gradient's values are replaced by zeros once read."""
    lr, eps, lim, rho, rho1 = k
    fma = _vector_fn(builder, "llvm.fma", 3)
    est = cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(_V8, [_V8, _V8, ir.IntType(8)]),
        "llvm.x86.avx512.rsqrt14.pd.512",
    )
    one, half, three_halves = (ir.Constant(_V8, [c] * 8) for c in (1.0, 0.5, 1.5))
    neg_half, zero, inf = (ir.Constant(_V8, [c] * 8) for c in (-0.5, 0.0, math.inf))
    g = _load8(builder, pg, mask)
    if clear:
        _store8(builder, zero, pg, mask)
    neg_lim = builder.fneg(lim)
    g = builder.select(builder.fcmp_ordered(">", neg_lim, g), neg_lim, g)  # max(g, -lim)
    g = builder.select(builder.fcmp_ordered("<", lim, g), lim, g)  # min(., lim)
    gg = builder.fmul(g, g)
    ve = _load8(builder, pve, mask)
    if rms:
        v = builder.fadd(builder.fmul(rho, ve), builder.fmul(rho1, gg))
    else:
        v = builder.fadd(ve, gg)
    _store8(builder, v, pve, mask)
    x = builder.fadd(v, eps)
    nh = builder.fmul(neg_half, x)
    y = builder.call(est, [x, zero, ir.Constant(ir.IntType(8), -1)])
    y = builder.fmul(y, builder.call(fma, [builder.fmul(nh, y), y, three_halves]))
    r = builder.call(fma, [builder.fmul(builder.fneg(x), y), y, one])
    y = builder.call(fma, [builder.fmul(half, y), r, y])
    y = builder.select(builder.fcmp_ordered("==", x, inf), zero, y)
    th = builder.fsub(_load8(builder, pth, mask), builder.fmul(builder.fmul(lr, g), y))
    _store8(builder, th, pth, mask)


@intrinsic
def _rule_avx512(typingctx, th, g, ve, start, n, lr, eps, lim, rho, rms, clear):
    """AdaGrad's (rms False) or RMSProp's step on values start .. start+n-1
    of the float64 arrays th, g, ve (1-D, C order, one size; the caller
    checks the bounds), as `_apply`'s loop computes it, in explicit AVX-512
    vectors whose 1/sqrt starts from the hardware's 14-bit estimate
    (vrsqrt14pd) rather than `_rsqrt_seed`'s 5 bits: two Newton steps fewer.
    Within 2 ulp as `_rsqrt` (1.18 ulp at most over 300,000 arguments, the
    rounded value 86% of the time; the two differ in the last bit for 18%
    of them). Here AdaGrad's update of W (m = 100) took 5.0 us against 7.4,
    V's 3.5 against 5.3, and U's rows (the row loop called on flat arrays,
    without a view per row) 1.6 against 3.6: 6 us less per update at B = 1.
    The last n % 8 values go through masked loads and stores, the same
    instructions as the others. Returns False, having done nothing, where
    numba compiles for a CPU without AVX-512F, or for float32 arrays: the
    caller then runs its own loop (a constant, so the branch costs nothing)."""
    arrays = (th, g, ve)
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in arrays):
        return None
    if not all(isinstance(a.dtype, types.Float) for a in arrays):
        return None

    def codegen(context, builder, sig, args):
        if not _f64_vectors(context, sig):
            return ir.Constant(ir.IntType(1), 0)
        arrs = [context.make_array(t)(context, builder, a) for t, a in zip(sig.args[:3], args[:3])]
        start, count = args[3:5]
        base = [builder.gep(a.data, [start]) for a in arrs]
        lr_, eps_, lim_, rho_ = args[5:9]
        rho1 = builder.fsub(ir.Constant(ir.DoubleType(), 1.0), rho_)
        k = [_splat(builder, x) for x in (lr_, eps_, lim_, rho_, rho1)]

        def rule(rms, clear):
            _row_loop(
                context,
                builder,
                count,
                lambda i, mask: _emit_rule8(
                    builder, *(builder.gep(p, [i]) for p in base), k, rms, mask, clear
                ),
            )

        with builder.if_else(args[9]) as (then, otherwise):
            for rms, branch in ((True, then), (False, otherwise)):
                with branch:
                    with builder.if_else(args[10]) as (cleared, kept):
                        with cleared:
                            rule(rms, True)
                        with kept:
                            rule(rms, False)
        return ir.Constant(ir.IntType(1), 1)

    f64, intp, boolean = types.float64, types.intp, types.boolean
    return boolean(th, g, ve, intp, intp, f64, f64, f64, f64, boolean, boolean), codegen


@njit(cache=True, error_model="numpy")
def _apply(theta, g, mom, vel, B, clip, code, hyper, t):
    """Scale g by 1/B (in place), clip it and take one optimizer step (see
    optim.py): `_apply_range` over all of theta."""
    th, gg = theta.reshape(theta.size), g.reshape(g.size)
    mo, ve = mom.reshape(mom.size), vel.reshape(vel.size)
    _apply_range(th, gg, mo, ve, 0, th.size, B, clip, code, hyper, t, False)


@njit(cache=True, error_model="numpy")
def _apply_range(th, gg, mo, ve, lo, hi, B, clip, code, hyper, t, clear):
    """`_apply` to values lo .. hi-1 of flat (1-D) th, gg, mo, ve.

    One branch-free loop per rule, so that LLVM vectorizes sqrt and divide;
    AdaGrad and RMSProp in float64 go to `_rule_avx512` where numba compiles
    for AVX-512 (the same operations, their 1/sqrt from the hardware's estimate).
    With clear, gg[lo:hi] is left zero (the vector rule stores the zeros as
    it reads the values: a memset call per row of U cost more than the rule).
    """
    lr, eps, rho, beta1, beta2 = hyper
    lim = clip if clip > 0 else math.inf
    if B != 1:  # a division per element costs as much as the rule itself
        nb = float(B)
        for i in range(lo, hi):
            gg[i] /= nb
    rsqrt = _is_float64(th.dtype.type(0.0)) and eps >= RSQRT_MIN_EPS
    fast = code <= 1 and rsqrt
    if fast and _rule_avx512(th, gg, ve, lo, hi - lo, lr, eps, lim, rho, code == 1, clear):
        return
    if code == 0 and rsqrt:
        for i in range(lo, hi):
            gi = min(max(gg[i], -lim), lim)
            v = ve[i] + gi * gi
            ve[i] = v
            th[i] -= lr * gi * _rsqrt(v + eps)
    elif code == 0:
        for i in range(lo, hi):
            gi = min(max(gg[i], -lim), lim)
            v = ve[i] + gi * gi
            ve[i] = v
            th[i] -= lr * gi / math.sqrt(v + eps)
    elif code == 1 and rsqrt:
        for i in range(lo, hi):
            gi = min(max(gg[i], -lim), lim)
            v = rho * ve[i] + (1.0 - rho) * (gi * gi)
            ve[i] = v
            th[i] -= lr * gi * _rsqrt(v + eps)
    elif code == 1:
        for i in range(lo, hi):
            gi = min(max(gg[i], -lim), lim)
            v = rho * ve[i] + (1.0 - rho) * (gi * gi)
            ve[i] = v
            th[i] -= lr * gi / math.sqrt(v + eps)
    else:
        bias1, bias2 = 1.0 - beta1**t, 1.0 - beta2**t
        for i in range(lo, hi):
            gi = min(max(gg[i], -lim), lim)
            mi = beta1 * mo[i] + (1.0 - beta1) * gi
            v = beta2 * ve[i] + (1.0 - beta2) * (gi * gi)
            mo[i], ve[i] = mi, v
            th[i] -= lr * (mi / bias1) / (math.sqrt(v / bias2) + eps)
    if clear:
        for i in range(lo, hi):
            gg[i] = 0.0


@njit(cache=True, error_model="numpy")
def _apply_rows(UT, dUT, mom, vel, B, clip, code, hyper, t, data, p, T, seen):
    """`_apply` to U^T (K, m); with AdaGrad (code 0) only to the rows of the
    ids read at positions p .. p+T-1 of data: every other row has a zero
    gradient, which leaves AdaGrad's v and theta as they are. The rows are
    ranges of the flattened arrays: no views are made per row. Leaves dUT
    zero, as `backward` needs it."""
    th, gg = UT.reshape(UT.size), dUT.reshape(dUT.size)
    mo, ve = mom.reshape(mom.size), vel.reshape(vel.size)
    if code != 0:
        _apply_range(th, gg, mo, ve, 0, th.size, B, clip, code, hyper, t, True)
        return
    seen[:] = False
    for s in range(data.shape[0]):
        for q in range(p, p + T):
            seen[data[s, q]] = True
    m = UT.shape[1]
    for k in range(UT.shape[0]):
        if seen[k]:
            _apply_range(th, gg, mo, ve, k * m, (k + 1) * m, B, clip, code, hyper, t, True)


@njit(cache=True, error_model="numpy", nogil=True)
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

    params, moms, vels, best: (W, U, V, b, c) tuples, updated in place
    (W, U, V through aligned working copies, written back at the end; U and
    its optimizer state are worked on transposed, (K, m), so that the
    column of an input is a contiguous row; AdaGrad leaves the rows of the
    ids that no stream read untouched, as their zero gradient would);
    h (B, m) carried; counters = [t, update, best_x, best_update] and
    floats = [smooth, best_smooth] are read and written back.
    Returns the number of updates done (< n only at a non-finite loss).

    One float64 stream works on W, its gradient and its optimizer state in
    rows padded to whole cache lines (`_padded`): its matrix-vector steps
    read W's rows aligned, and the optimizer step runs over the padded
    arrays as one flat loop (the padding's gradient is zero; see `backward`).
    """
    B, K, m = data.shape[0], params[2].shape[0], params[0].shape[0]
    pad = B == 1 and _is_float64(params[0].dtype.type(0.0))
    W = _padded(params[0]) if pad else _aligned_copy(params[0])
    mW = _padded(moms[0]) if pad else moms[0]
    vW = _padded(vels[0]) if pad else vels[0]
    UT, V = _aligned_copy(params[1].T), _aligned_copy(params[2])
    WT = _aligned_copy(W.T) if B > 1 else W  # read by the steps of several streams only
    VT = _aligned_copy(V.T)  # read by the output layer (see _group_pass)
    mUT, vUT = _aligned_copy(moms[1].T), _aligned_copy(vels[1].T)
    b, c = params[3], params[4]
    starts = group_starts(B)
    G, S0 = starts.size - 1, starts[1]
    bufs = work_buffers(G, B - starts[G - 1], T, K, m, W, W.shape[1])
    Hs, grads, totals = bufs[0], bufs[5], np.empty(G)
    seen = np.zeros(K, np.bool_)
    cf = tanh_coefs(W)
    t, update, best_x, best_update = counters[0], counters[1], counters[2], counters[3]
    smooth, best_smooth = floats[0], floats[1]
    done = 0
    for it in range(n):
        p = it * T
        loss = batch_pass(W, WT, UT, V, VT, b, c, data, h, p, T, starts, bufs, cf, totals, reset)
        loss /= B
        if not math.isfinite(loss):
            break
        smooth = loss if update == 0 else 0.999 * smooth + 0.001 * loss
        if smooth < best_smooth:
            best_smooth = smooth
            best[0][...] = W[:, :m]
            best[1][...] = UT.T
            best[2][...] = V
            best[3][...] = b
            best[4][...] = c
            best_h[:] = Hs[0, T * S0]
            best_x = data[0, p + T]
            best_update = update
        t += 1
        _apply(W, grads[0][0], mW, vW, B, clip, code, hyper, t)
        if B > 1:
            _transpose(W, WT)
        _apply_rows(UT, grads[1][0], mUT, vUT, B, clip, code, hyper, t, data, p, T, seen)
        _apply(V, grads[2][0], moms[2], vels[2], B, clip, code, hyper, t)
        _transpose(V, VT)
        _apply(b, grads[3][0], moms[3], vels[3], B, clip, code, hyper, t)
        _apply(c, grads[4][0], moms[4], vels[4], B, clip, code, hyper, t)
        for g in range(G):
            S = starts[g + 1] - starts[g]
            _copy_rows(Hs[g, T * S : (T + 1) * S], h[starts[g] : starts[g + 1]])
        update += 1
        losses[it] = loss
        done += 1
    params[0][...] = W[:, :m]
    if pad:
        moms[0][...] = mW[:, :m]
        vels[0][...] = vW[:, :m]
    params[1][...] = UT.T
    moms[1][...] = mUT.T
    vels[1][...] = vUT.T
    params[2][...] = V
    counters[0], counters[1], counters[2], counters[3] = t, update, best_x, best_update
    floats[0], floats[1] = smooth, best_smooth
    return done


@njit(cache=True, error_model="numpy")
def _choose(o, u, temperature, top_k, top_p):
    """The id sampling.choose picks from logits o (K,) with uniform u
    (-1, sampling.NOT_FINITE, when o is not all finite)."""
    K = o.size
    mx = o.max()
    if not (np.isfinite(mx) and np.isfinite(o.min())):
        return -1
    if temperature == 0:
        return np.argmax(o)
    s = o / temperature
    smax = mx / temperature  # s.max(): dividing by t > 0 keeps the order, rounding too
    if not np.isfinite(smax):  # a tiny temperature: its limit, greedy
        return np.argmax(o)
    e = np.exp(s - smax)
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
    Wp, Vp = _padded(W), _padded(V)
    h, a, o = h0.copy(), np.empty(m, W.dtype), np.empty(K, W.dtype)
    out = np.empty(u.size, np.int64)
    x = x0
    for i in range(u.size):
        _matvec(Wp, h, a, False)
        for j in range(m):
            h[j] = _tanh(a[j] + U[j, x] + b[j], cf)
        _matvec(Vp, h, o, False)
        o += c
        x = _choose(o, u[i], temperature, top_k, top_p)
        out[i] = x
        if x == stop or x < 0:
            return out[: i + 1]
    return out
