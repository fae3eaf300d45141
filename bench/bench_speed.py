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
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import minchar  # noqa: E402
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


def torch_runner(B):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    import torch_rnn

    net = torch_rnn.TorchRNN(K, M, B, lr=LR, clip=CLIP)
    data = np.random.default_rng(1).integers(0, K, (B, 100 * T + 1))

    def run(count):
        for i in range(count):
            p = (i * T) % (data.shape[1] - T - 1)
            net.update(data[:, p : p + T], data[:, p + 1 : p + T + 1])

    return run


def contenders(quick: bool, batches):
    """(name, B, run, updates per measurement), the anchors first."""
    rng = np.random.default_rng(0)
    s = 0.3 if quick else 1.0
    out = [
        ("plain NumPy loop", 1, plain_runner(rng), int(150 * s)),
        ("charnn reference", 1, reference_runner(rng, 1), int(60 * s)),
    ]
    for B in batches:
        run = torch_runner(B)
        if run is not None:
            out.append(("PyTorch nn.RNN", B, run, max(10, int(s * 6000 / (B + 20)))))
        for dtype in (np.float64, np.float32):
            n = max(20, int(s * 200_000 / (B * T + 10)))
            out.append((f"engine {np.dtype(dtype).name}", B, engine_runner(rng, B, dtype, n), n))
    return out


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


def long_run(updates_total: int) -> float:
    """Wall seconds of updates_total engine updates at B = 1, float64,
    in chunks of 1000 as a training loop would call it."""
    rng = np.random.default_rng(3)
    state = step.TrainState.fresh(rnn.init_params(K, M, rng), 1)
    data = rng.integers(0, K, (1, updates_total * T + 1)).astype(np.uint8)
    t0 = time.perf_counter()
    for _ in range(updates_total // 1000):
        engine.train_chunk(state, data, 1000, T, CLIP, CFG)
    return time.perf_counter() - t0


def blas_lines() -> list[str]:
    return [
        f"- {i['internal_api']} {i.get('version')} kernel `{i.get('architecture')}`, "
        f"{i['num_threads']} thread(s): `{os.path.basename(i['filepath'])}`"
        for i in threadpool_info()
    ]


def write_report(path, rates, samp, long_s, quick, elapsed):
    plain = rates[("plain NumPy loop", 1)]
    lines = [
        "# charnn speed",
        "",
        f"K = {K}, m = {M}, T = {T}, AdaGrad lr {LR}, clip {CLIP}, random ids; one thread; "
        f"medians over interleaved rounds{' (--quick)' if quick else ''}.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {_cpu_name()}; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, {_versions()}.",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}. BLAS in use:",
        *blas_lines(),
        "",
        "| contender | B | updates/s | chars/s | × plain loop | × PyTorch (same B) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (name, B), r in rates.items():
        torch_r = rates.get(("PyTorch nn.RNN", B))
        vs_torch = f"{r / torch_r:.1f}" if torch_r else "–"
        lines.append(
            f"| {name} | {B} | {r:,.0f} | {r * B * T:,.0f} | {r * B / plain:.1f} | {vs_torch} |"
        )
    fast, ref = samp
    e64 = rates[("engine float64", 1)]
    lines += [
        "",
        "× plain loop compares characters/s (the plain loop runs B = 1).",
        "",
        f"Sampling (engine.synthesize, m = {M}, K = {K}): {fast:,.0f} chars/s "
        f"(reference sampling.synthesize: {ref:,.0f} chars/s, {fast / ref:.0f}×).",
        "",
        f"100,000 updates at B = 1, float64: projected {100_000 / e64:.1f} s from the median rate"
        + (f"; measured {long_s:.1f} s." if long_s else " (not measured with --quick)."),
        "",
        f"Benchmark wall time: {elapsed:.0f} s.",
        "",
    ]
    Path(path).write_text("\n".join(lines))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _versions() -> str:
    import numba

    out = f"numba {numba.__version__}"
    try:
        import torch

        out += f", torch {torch.__version__}"
    except ImportError:
        out += ", torch not installed"
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (about a minute)")
    ap.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 2)"
    )
    ap.add_argument("--batches", default="1,8,32,64", help="comma-separated batch sizes")
    ap.add_argument(
        "--out",
        default=str(Path(__file__).with_name("results.md")),
        help="where to write the Markdown table",
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    import numba

    numba.set_num_threads(1)
    for dtype in (np.float64, np.float32):
        engine.warmup(dtype)
    try:  # load every BLAS/OpenMP runtime before limiting them all to one thread
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    with threadpool_limits(limits=1):
        items = contenders(args.quick, [int(b) for b in args.batches.split(",")])
        rates = measure(items, args.rounds or (2 if args.quick else 5))
        samp = sampling_rate(args.quick)
        long_s = None if args.quick else long_run(100_000)
        write_report(args.out, rates, samp, long_s, args.quick, time.perf_counter() - t0)
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
