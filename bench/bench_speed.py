"""Training and sampling speed of the charnn engine next to its anchors.

Runs, side by side on one thread, a plain NumPy min-char-rnn loop, PyTorch
nn.RNN, the charnn reference and the engine (float64 and float32) at
K = 72, m = 100, T = 25, AdaGrad lr 0.1, clip 5, on random ids, and writes
bench/results.md. Rates are medians over interleaved rounds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numba  # noqa: E402

import ceiling  # noqa: E402
import minchar  # noqa: E402
import speed_report  # noqa: E402
import whole_run  # noqa: E402
from charnn import engine  # noqa: E402
from charnn.nn import rnn, sampling, step  # noqa: E402
from charnn.nn.optim import OptimConfig  # noqa: E402

K, M, T, LR, CLIP = 72, 100, 25, 0.1, 5.0
CFG = OptimConfig(name="adagrad", lr=LR)


def timed(fn, count: int) -> float:
    t0 = time.perf_counter()
    fn(count)
    return time.perf_counter() - t0


def plain_runner(rng):
    net = minchar.PlainRNN(K, M, rng, LR, CLIP)
    text = rng.integers(0, K, 200 * T + 1)

    def run(count):
        for i in range(count):
            p = (i * T) % (len(text) - T - 1)
            net.update(text[p : p + T], text[p + 1 : p + T + 1])

    return run


def reference_runner(rng, B):
    state = step.TrainState.fresh(rnn.init_params(K, M, rng), B)
    data = rng.integers(0, K, (B, 200 * T + 1))

    def run(count):
        state.pointer = 0
        step.reference_chunk(state, data, count, T, CLIP, CFG)

    return run


def engine_runner(rng, B, dtype, max_count):
    params = {k: v.astype(dtype) for k, v in rnn.init_params(K, M, rng).items()}
    state = step.TrainState.fresh(params, B)
    data = rng.integers(0, K, (B, max_count * T + 1)).astype(np.uint8)

    def run(count):
        state.pointer = 0
        engine.train_chunk(state, data, count, T, CLIP, CFG)

    return run


def torch_runner(B, dtype="float32", compile=False):
    """PyTorch's update, or None when torch (or torch.compile here) fails."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    import torch_rnn

    net = torch_rnn.TorchRNN(K, M, B, lr=LR, clip=CLIP, dtype=dtype, compile=compile)
    data = np.random.default_rng(1).integers(0, K, (B, 100 * T + 1))

    def run(count):
        for i in range(count):
            p = (i * T) % (data.shape[1] - T - 1)
            net.update(data[:, p : p + T], data[:, p + 1 : p + T + 1])

    if compile:
        try:
            run(3)  # compiles here; a failure skips the row
        except Exception as e:  # noqa: BLE001  (torch.compile raises many kinds)
            NOTES.append(f"torch.compile skipped at B = {B}: {type(e).__name__}: {str(e)[:120]}")
            return None
    return run


NOTES: list[str] = []


def contenders(quick: bool, batches):
    """(name, B, run, updates per measurement), the anchors first."""
    rng = np.random.default_rng(0)
    s = 0.3 if quick else 1.0
    out = [
        ("plain NumPy loop", 1, plain_runner(rng), int(150 * s)),
        ("charnn reference", 1, reference_runner(rng, 1), int(60 * s)),
    ]
    for B in batches:
        m = max(10, int(s * 6000 / (B + 20)))
        for label, dt, comp in TORCH:
            if comp and B not in (1, max(batches)):
                continue  # compiling is slow: the two ends suffice
            run = torch_runner(B, dt, comp)
            if run is not None:
                out.append((label, B, run, m))
        for dtype in (np.float64, np.float32):
            n = max(20, int(s * 200_000 / (B * T + 10)))
            out.append((f"engine {np.dtype(dtype).name}", B, engine_runner(rng, B, dtype, n), n))
    return out


TORCH = (
    ("PyTorch nn.RNN float32", "float32", False),
    ("PyTorch nn.RNN float64", "float64", False),
    ("PyTorch torch.compile float32", "float32", True),
)


def measure(items, rounds: int) -> dict:
    rates = {(name, B): [] for name, B, _, _ in items}
    for _, _, run, _ in items:
        run(2)  # first-call costs (compilation, allocation) are not measured
    for _ in range(rounds):
        for name, B, run, count in items:
            rates[(name, B)].append(count / timed(run, count))
    return {key: statistics.median(v) for key, v in rates.items()}


def sampling_rate(quick: bool) -> tuple[float, float]:
    """chars/s of engine.synthesize and of sampling.synthesize."""
    params = rnn.init_params(K, M, np.random.default_rng(2), sig=0.1)
    h0 = np.zeros(M)
    n = 20_000 if quick else 200_000
    engine.synthesize(params, h0, 0, 10, np.random.default_rng(0))
    fast = [
        n / timed(lambda k, r=r: engine.synthesize(params, h0, 0, k, np.random.default_rng(r)), n)
        for r in range(3)
    ]
    ref = 2000 / timed(
        lambda k: sampling.synthesize(params, h0, 0, k, np.random.default_rng(0)), 2000
    )
    return statistics.median(fast), ref


def forward_rates(quick: bool) -> dict:
    """chars/s of the forward-only kernels (float64, one stream) on random ids."""
    params = rnn.init_params(K, M, np.random.default_rng(4), sig=0.1)
    ids = np.random.default_rng(5).integers(0, K, 20_000 if quick else 100_000)
    engine.text_loss(params, ids[:10])
    engine.prime(params, np.zeros(M), ids[:10])
    rounds = range(3 if quick else 5)
    return {
        "text_loss": max(
            ids.size / timed(lambda _: engine.text_loss(params, ids), 0) for _ in rounds
        ),
        "prime": max(
            ids.size / timed(lambda _: engine.prime(params, np.zeros(M), ids), 0) for _ in rounds
        ),
    }


def thread_scaling(quick: bool, B: int = 64) -> dict:
    """Updates/s at batch size B with 1 and 2 numba threads (BLAS on one), per dtype."""
    out = {}
    if numba.config.NUMBA_NUM_THREADS < 2:
        return out
    for dtype in (np.float32, np.float64):
        n = 30 if quick else 60
        run = engine_runner(np.random.default_rng(6), B, dtype, n)
        rates = {1: [], 2: []}
        for _ in range(3 if quick else 4):
            for threads in (1, 2):
                numba.set_num_threads(threads)
                run(2)
                rates[threads].append(n / timed(run, n))
        numba.set_num_threads(1)
        out[np.dtype(dtype).name] = {k: max(v) for k, v in rates.items()}
    return out


def limits() -> dict:
    """The machine's one-thread FMA peak, GEMM rates, FMA rate streaming W
    and the rate of AdaGrad's step as the engine takes it (see ceiling.py)."""
    return {
        "fma64": ceiling.fma_peak(np.float64),
        "fma32": ceiling.fma_peak(np.float32),
        "gemm64": ceiling.gemm_rate(np.float64),
        "gemm32": ceiling.gemm_rate(np.float32),
        "stream64": ceiling.stream_rate(np.float64, M * M * 8),
        "stream32": ceiling.stream_rate(np.float32, M * M * 4),
        "rule64": ceiling.rule_rate(np.float64),
        "rule32": ceiling.rule_rate(np.float32),
        "registers": ceiling.engine_registers(),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (about a minute)")
    ap.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 2)"
    )
    ap.add_argument("--batches", default="1,8,32,64", help="comma-separated batch sizes")
    ap.add_argument(
        "--whole-updates",
        type=int,
        default=None,
        help="updates of the whole-process comparison (default 100000, with --quick 0 = skip)",
    )
    ap.add_argument(
        "--out",
        default=str(Path(__file__).with_name("results.md")),
        help="where to write the Markdown table",
    )
    args = ap.parse_args(argv)
    t0, load0 = time.perf_counter(), os.getloadavg()
    numba.set_num_threads(1)
    for dtype in (np.float64, np.float32):
        engine.warmup(dtype)
    import scipy.linalg.cython_blas  # noqa: F401  (the kernels' BLAS: loaded before limiting)

    try:  # load every BLAS/OpenMP runtime before limiting them all to one thread
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    res = {"quick": args.quick, "notes": NOTES, "load": [load0]}
    with threadpool_limits(limits=1):
        res["limits"] = limits()
        items = contenders(args.quick, [int(b) for b in args.batches.split(",")])
        res["rates"] = measure(items, args.rounds or (2 if args.quick else 5))
        res["sampling"] = sampling_rate(args.quick)
        res["forward"] = forward_rates(args.quick)
        res["threads"] = thread_scaling(args.quick)
        res["blas"] = blas_lines()
    n = args.whole_updates if args.whole_updates is not None else 0 if args.quick else 100_000
    res["whole"] = whole_run.compare(n) if n else None
    res["load"].append(os.getloadavg())
    res["elapsed"] = time.perf_counter() - t0
    speed_report.write(args.out, res, (K, M, T, LR, CLIP))
    print(Path(args.out).read_text())


def blas_lines() -> list[str]:
    return [
        f"- {i['internal_api']} {i.get('version')} kernel `{i.get('architecture')}`, "
        f"{i['num_threads']} thread(s): `{os.path.basename(i['filepath'])}`"
        for i in threadpool_info()
    ]


if __name__ == "__main__":
    main()
