"""The machine's own limits, measured in the run that compares against them:
the FMA peak of one core (a small loop of independent vector FMAs compiled
here by LLVM for this CPU), the one-thread GEMM rate of the BLAS the engine
calls, the CPU's name and vector extensions, and which vector registers the
engine's compiled loops use.

    peak = fma_peak(np.float64)       # FMA lanes per second, one thread
    gemm = gemm_rate(np.float32)      # FLOP/s of a 1024^3 GEMM, one thread
    l2 = stream_rate(np.float64, 80_000)  # FMA lanes per second, one operand read
                                          # from an 80 kB array (W of m = 100)
    rule = rule_rate(np.float64)      # AdaGrad's step as the engine takes it, elements/s

The last two bound the B = 1 kernel where the FMA peak cannot be reached:
its recurrence reads all of W at every step (80 kB in float64, larger than
an L1 data cache of 32-48 kB), and its optimizer step is element-wise: in
float32 a square root and a division per parameter (one unit does both),
in float64 a first guess and Newton steps of 1/sqrt on the FMA units (the
hardware's 14-bit estimate and one step where numba compiles for AVX-512,
else a guess from the bits and three: engine.rnn._rule_avx512, _rsqrt).
"""

from __future__ import annotations

import ctypes
import re
import time
from pathlib import Path

import numpy as np

CHAINS = 16  # independent accumulators: enough to hide the FMA latency on any x86


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def vector_extensions() -> list[str]:
    """The SIMD extensions this CPU announces (from /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split())
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512_bf16", "amx_tile")
    return [f for f in wanted if f in flags]


def _ir(lanes: int, ty: str) -> str:
    vec = f"<{lanes} x {ty}>"
    body = []
    for v, c in (("a", "%ca"), ("b", "%cb")):
        body.append(f"  %{v}0 = insertelement {vec} undef, {ty} {c}, i32 0")
        body.append(
            f"  %{v} = shufflevector {vec} %{v}0, {vec} undef, <{lanes} x i32> zeroinitializer"
        )
    loop = ["  %i = phi i64 [0, %entry], [%i1, %loop]"]
    for k in range(CHAINS):
        loop.append(f"  %s{k} = phi {vec} [%b, %entry], [%t{k}, %loop]")
    fma = f"@llvm.fma.v{lanes}{'f64' if ty == 'double' else 'f32'}"
    for k in range(CHAINS):
        loop.append(f"  %t{k} = call {vec} {fma}({vec} %s{k}, {vec} %a, {vec} %b)")
    sums = [f"  %u0 = fadd {vec} %t0, %t1"]
    for k in range(2, CHAINS):
        sums.append(f"  %u{k - 1} = fadd {vec} %u{k - 2}, %t{k}")
    name = f"v{lanes}{'f64' if ty == 'double' else 'f32'}"
    return "\n".join(
        [
            f"declare {vec} @llvm.fma.{name}({vec}, {vec}, {vec})",
            f"define {ty} @fma_loop(i64 %n, {ty} %ca, {ty} %cb) {{",
            "entry:",
            *body,
            "  br label %loop",
            "loop:",
            *loop,
            "  %i1 = add i64 %i, 1",
            "  %more = icmp ult i64 %i1, %n",
            "  br i1 %more, label %loop, label %exit",
            "exit:",
            *sums,
            f"  %r = extractelement {vec} %u{CHAINS - 2}, i32 0",
            f"  ret {ty} %r",
            "}",
        ]
    )


def _compile(lanes: int, ty: str):
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    tm = target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3
    )
    mod = llvm.parse_assembly(_ir(lanes, ty))
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    ct = ctypes.c_double if ty == "double" else ctypes.c_float
    fn = ctypes.CFUNCTYPE(ct, ctypes.c_int64, ct, ct)(engine.get_function_address("fma_loop"))
    return fn, engine, tm.emit_assembly(mod)


def register_bits() -> int:
    """512 where the CPU has AVX-512, 256 with AVX2, else 128."""
    ext = vector_extensions()
    return 512 if "avx512f" in ext else 256 if "avx2" in ext else 128


def fma_peak(dtype, seconds: float = 0.3) -> float:
    """Fused multiply-adds per second (lanes counted) of one thread, best of 5."""
    ty = "double" if np.dtype(dtype) == np.float64 else "float"
    lanes = register_bits() // (64 if ty == "double" else 32)
    fn, _engine, _ = _compile(lanes, ty)
    fn(1000, 0.5, 0.5)
    n = 1_000_000
    while _call_time(fn, n, 0.5, 0.5) <= seconds / 5:
        n *= 4
    best = min(_call_time(fn, n, 0.5, 0.5) for _ in range(5))
    return n * CHAINS * lanes / best


def gemm_rate(dtype, n: int = 1024) -> float:
    """FLOP/s (2 per FMA) of an n x n x n GEMM through the BLAS the engine's
    kernels call (numba's np.dot), one thread (set by the caller), best of 5."""
    from numba import njit

    @njit
    def mm(a, b, c, reps):
        for _ in range(reps):
            np.dot(a, b, c)

    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    c = np.empty_like(a)
    mm(a, a, c, 1)
    reps = max(1, int(4e9 / (2 * n**3)))
    best = min(_call_time(mm, a, a, c, reps) for _ in range(5))
    return 2 * n**3 * reps / best


def stream_rate(dtype, nbytes: int, seconds: float = 0.2) -> float:
    """FMA lanes per second of one thread when every FMA takes one operand
    from an array of nbytes read front to back, over and over (from the L2
    cache once nbytes exceeds L1), best of 5. A dot loop LLVM vectorizes here."""
    from numba import njit

    @njit(fastmath={"reassoc", "contract", "nsz"})
    def stream(a, reps):
        s = a.dtype.type(0.0)
        c = (a.dtype.type(0.5), a.dtype.type(0.25))
        for r in range(reps):  # the factor alternates: no pass can be folded away
            for i in range(a.size):
                s += a[i] * c[r % 2]
        return s

    a = np.random.default_rng(0).random(nbytes // np.dtype(dtype).itemsize).astype(dtype)
    stream(a, 1)
    reps = max(1, int(seconds * 5e9 / a.size / 5))
    return a.size * reps / min(_call_time(stream, a, reps) for _ in range(5))


def rule_rate(dtype, n: int = 10_000, seconds: float = 0.2) -> float:
    """Elements per second of one thread applying AdaGrad's step, clipping
    included, with the engine's own kernel (engine.rnn._apply) to arrays of
    n values each (W's size at m = 100, the largest an update visits, held
    in the L2 cache as there), best of 5: in float32 the square root and
    the division share one unit, which sets the pace; in float64 Newton's
    1/sqrt keeps the FMA units busy instead (from AVX-512's 14-bit
    estimate where numba compiles for it)."""
    from numba import njit

    from charnn.engine.rnn import _apply

    @njit(error_model="numpy")
    def rule(th, g, v, reps):
        hyper = (0.1, 1e-8, 0.9, 0.9, 0.999)
        for _ in range(reps):
            _apply(th, g, v, v, 1, 5.0, 0, hyper, 1)

    rng = np.random.default_rng(0)
    th, g, v = (rng.random(n).astype(dtype) for _ in range(3))
    rule(th, g, v, 1)
    reps = max(1, int(seconds * 1e9 / n / 5))
    return n * reps / min(_call_time(rule, th, g, v, reps) for _ in range(5))


def _call_time(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def engine_registers() -> dict:
    """How many zmm/ymm/xmm register uses the engine's vector loops compile
    to here (fresh compiles of the matvec, vecmat, tanh and softmax loops)."""
    from numba import njit

    from charnn.engine import rnn

    counts = {"zmm": 0, "ymm": 0, "xmm": 0}
    m, K = 100, 72
    cf = rnn.tanh_coefs(np.zeros(1))
    probes = [
        (rnn._matvec, rnn._FAST, (np.zeros((m, m)), np.zeros(m), np.zeros(m), False)),
        (rnn._vecmat_add, rnn._FAST, (np.zeros(m), np.zeros((m, m)), np.zeros(m))),
        (rnn._tanh_flat, set(), (np.zeros(m), cf)),
        (rnn._exp_sum, rnn._FAST, (np.zeros(K), 0.0, cf, True)),
    ]
    for fn, flags, args in probes:
        fresh = njit(cache=False, error_model="numpy", fastmath=flags)(fn.py_func)
        fresh(*args)
        asm = fresh.inspect_asm(fresh.signatures[0])
        for reg in counts:
            counts[reg] += len(re.findall(rf"%{reg}\d+", asm))
    return counts
