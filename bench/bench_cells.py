"""Training speed of the compiled GRU and LSTM stacks next to PyTorch's own.

Side by side in one process on one thread: PyTorch nn.LSTM / nn.GRU +
nn.Linear (one-hot inputs, cross-entropy summed over T and averaged over B,
element-wise clamp, Adam) and charnn's engine (engine.cells.train_chunk,
same loss, clip and Adam), at m = 128, 2 layers, T = 50, K = 68, float32
and float64, B = 1 and 32, on random ids. Also the engine's forward-only
text_loss (validation, evaluate) against its own training at B = 1, with
1 and 2 layers. Rates are medians over interleaved rounds, per second of
wall time (on a machine shared with other work: --cpu-time, per CPU second
of this process); writes bench/cells.md.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_cells.py [--quick]
        [--forward-only] [--cpu-time]
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

from charnn.engine import cells  # noqa: E402
from charnn.nn import optim, step  # noqa: E402

K, M, LAYERS, T, LR, CLIP = 68, 128, 2, 50, 2e-3, 5.0
CFG = optim.OptimConfig(name="adam", lr=LR)


def init_params(cell: str, dtype, rng, layers: int = LAYERS) -> dict:
    G = 4 if cell == "lstm" else 3
    p = {}
    for l in range(layers):
        s = str(l) if l else ""
        p["W" + s] = rng.standard_normal((G * M, M)) / np.sqrt(M)
        p["U" + s] = rng.standard_normal((G * M, K if l == 0 else M)) / np.sqrt(M)
        p["b" + s] = np.zeros(G * M)
        if cell == "gru":
            p["bn" + s] = np.zeros(M)
    p["V"], p["c"] = rng.standard_normal((K, M)) / np.sqrt(M), np.zeros(K)
    return {k: v.astype(dtype) for k, v in p.items()}


def engine_runner(cell, B, dtype, max_count, layers=LAYERS):
    rng = np.random.default_rng(0)
    params = init_params(cell, dtype, rng, layers)
    S = cells.state_size(params)
    state = step.TrainState(
        params=params,
        opt=optim.init_state(params),
        h=np.zeros((B, S), dtype),
        best_params=dict(params),
        best_h=np.zeros(S, dtype),
    )
    state.best_params = {k: v.copy() for k, v in params.items()}
    data = rng.integers(0, K, (B, max_count * T + 1)).astype(np.uint8)

    def run(count):
        state.pointer = 0
        cells.train_chunk(state, data, count, T, CLIP, CFG)

    return run


def eval_runner(cell, dtype, layers=LAYERS):
    params = init_params(cell, dtype, np.random.default_rng(1), layers)
    ids = np.random.default_rng(2).integers(0, K, 100_000 + 1)

    def run(count):  # count: thousands of characters
        cells.text_loss(params, ids[: count * 1000 + 1], dtype=dtype)

    return run


def torch_runner(cell, B, dtype):
    import torch

    tdt = torch.float32 if dtype == np.float32 else torch.float64
    torch.manual_seed(0)
    rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(K, M, LAYERS).to(tdt)
    out = torch.nn.Linear(M, K).to(tdt)
    params = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    eye = torch.eye(K, dtype=tdt)
    data = torch.from_numpy(np.random.default_rng(1).integers(0, K, (100 * T + 1, B)))
    hidden = [None]

    def update(p):
        x = eye[data[p : p + T]]  # (T, B, K)
        H, h = rnn(x, hidden[0])
        o = out(H).reshape(-1, K)
        loss = (
            torch.nn.functional.cross_entropy(
                o, data[p + 1 : p + T + 1].reshape(-1), reduction="sum"
            )
            / B
        )
        opt.zero_grad(set_to_none=False)
        loss.backward()
        for q in params:
            q.grad.clamp_(-CLIP, CLIP)
        opt.step()
        hidden[0] = tuple(v.detach() for v in h) if isinstance(h, tuple) else h.detach()

    def run(count):
        for i in range(count):
            update((i * T) % (data.shape[0] - T - 1))

    return run


def contenders(quick: bool, forward_only: bool = False):
    """(cell, dtype name, B, layers, contender, run, count, characters per count);
    forward_only: only the forward-only table's (text_loss and B = 1 training)."""
    s = 0.4 if quick else 1.0
    out = []
    for cell in ("lstm", "gru"):
        for dtype in (np.float32, np.float64):
            dn = np.dtype(dtype).name
            for B in (1,) if forward_only else (1, 32):
                nt = max(2, int(s * (40 if B == 1 else 6) * (1 if dtype == np.float32 else 0.5)))
                key = (cell, dn, B, LAYERS)
                if not forward_only:
                    out.append((*key, "PyTorch", torch_runner(cell, B, dtype), nt, B * T))
                ne = max(3, int(s * (200 if B == 1 else 12)))
                out.append((*key, "charnn", engine_runner(cell, B, dtype, ne), ne, B * T))
            ne = max(3, int(s * 400))
            out.append((cell, dn, 1, 1, "charnn", engine_runner(cell, 1, dtype, ne, 1), ne, T))
            for layers in (1, LAYERS):
                nk = max(5, int(s * 30 * (3 if layers == 1 else 1)))
                run = eval_runner(cell, dtype, layers)
                out.append((cell, dn, 1, layers, "text_loss", run, nk, 1000))
    return out


def measure(items, rounds: int, clock=time.perf_counter) -> dict:
    rates = {item[:5]: [] for item in items}
    for item in items:
        item[5](2)  # first-call costs (compilation, allocation) are not measured
    for _ in range(rounds):
        for item in items:
            run, count, chars = item[5:]
            t0 = clock()
            run(count)
            rates[item[:5]].append(count * chars / (clock() - t0))
    return {key: statistics.median(v) for key, v in rates.items()}


def cpu_line() -> str:
    name, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    ext = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16") if f in flags]
    return f"{name} ({platform.machine()}; {' '.join(ext) or 'vector extensions unknown'})"


def forward_only_lines(rates) -> list[str]:
    """The forward-only table: text_loss against training, both at B = 1.
    Validation runs in float64 whatever the training dtype (as the spec),
    so float32 rows also give float64 text_loss against float32 training."""
    lines = [
        "",
        "Forward-only text_loss (validation, evaluate) against training, both at B = 1:",
        "",
        "| cell | layers | dtype | training chars/s | text_loss chars/s | × training "
        "| float64 text_loss × training |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for (cell, dn, _, layers, who), r in rates.items():
        if who == "text_loss":
            tr = rates[(cell, dn, 1, layers, "charnn")]
            wide = (
                rates[(cell, "float64", 1, layers, "text_loss")] / tr if dn == "float32" else r / tr
            )
            lines.append(
                f"| {cell} | {layers} | {dn} | {tr:,.0f} | {r:,.0f} | {r / tr:.2f} | {wide:.2f} |"
            )
    return lines


def write_report(path, rates, quick, elapsed, cpu_time=False):
    import numba
    import torch

    lines = [
        "# Gated cells: charnn engine next to PyTorch",
        "",
        f"m = {M}, {LAYERS} layers, T = {T}, K = {K}, Adam lr {LR}, clip {CLIP}, random ids; "
        f"one thread; medians over interleaved rounds{' (--quick)' if quick else ''}, "
        + ("per CPU second of the process (--cpu-time)." if cpu_time else "per second."),
        "",
        f"CPU: {cpu_line()}. Python {platform.python_version()}, NumPy {np.__version__}, "
        f"numba {numba.__version__}, torch {torch.__version__}.",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}. BLAS: "
        + "; ".join(
            f"{i['internal_api']} {i.get('version')} {i.get('architecture')}"
            for i in threadpool_info()
        ),
    ]
    if any(key[4] == "PyTorch" for key in rates):
        lines += [
            "",
            "| cell | dtype | B | PyTorch chars/s | charnn chars/s | × PyTorch |",
            "|---|---|---:|---:|---:|---:|",
        ]
    for (cell, dn, B, layers, who), r in rates.items():
        if who == "charnn" and layers == LAYERS and (cell, dn, B, layers, "PyTorch") in rates:
            tr = rates[(cell, dn, B, layers, "PyTorch")]
            lines.append(f"| {cell} | {dn} | {B} | {tr:,.0f} | {r:,.0f} | {r / tr:.2f} |")
    lines += forward_only_lines(rates)
    lines += ["", f"Benchmark wall time: {elapsed:.0f} s.", ""]
    Path(path).write_text("\n".join(lines))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run")
    ap.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 3)"
    )
    ap.add_argument(
        "--forward-only", action="store_true", help="only text_loss against B = 1 training"
    )
    ap.add_argument("--cpu-time", action="store_true", help="rates per CPU second of this process")
    ap.add_argument(
        "--out",
        default=str(Path(__file__).with_name("cells.md")),
        help="where to write the Markdown table",
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    import numba
    import torch

    from charnn import engine

    numba.set_num_threads(1)
    torch.set_num_threads(1)
    for dtype in (np.float32, np.float64):  # loads numba's BLAS before limiting all to one thread
        engine.warmup(dtype)
    with threadpool_limits(limits=1):
        clock = time.process_time if args.cpu_time else time.perf_counter
        items = contenders(args.quick, args.forward_only)
        rates = measure(items, args.rounds or (3 if args.quick else 5), clock)
        write_report(args.out, rates, args.quick, time.perf_counter() - t0, args.cpu_time)
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
