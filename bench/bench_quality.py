"""Quality per CPU-second: held-out nats/char after a fixed wall-clock budget
of training on one core, charnn recipes beside a PyTorch 2-layer LSTM.

Each contender runs in its own process, limited to one thread and pinned to
its own core where the machine has enough, all at the same time, so they
share the machine's conditions. The corpus is split as charnn splits it
(the last --val-fraction of the text held out, the vocabulary from the whole
text), and every contender is scored the same way: the mean negative
log-likelihood per character of the held-out text, read as one stream from
a zero state. Evaluation time is not counted in the budget.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python bench/bench_quality.py --seconds 300 [--corpus tragedies] \\
        [--recipe NAME=FLAGS ...] [--out bench/quality.md]

The PyTorch anchor follows char-rnn's recipe: one-hot inputs, LSTM of two
layers of 128, a linear output, Adam 2e-3, sequences of 50, 50 streams
carried from batch to batch, gradients clipped to 5.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ONE_THREAD = {
    v: "1"
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
}
RECIPES = {
    "rnn-seed": "--updates 0 --hidden 100",
}


def cpu_name() -> str:
    """The CPU model and its widest vector extension, for the table's heading."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    vec = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model} ({vec}, {os.cpu_count()} logical CPUs)"


def split(corpus: str, val_fraction: float):
    """(vocab, train ids, held-out ids) exactly as charnn splits a corpus."""
    from charnn.data.idcache import load_ids

    c = load_ids(corpus)
    n_val = int(c.chars * val_fraction)
    return c.vocab, c.ids[: c.chars - n_val], c.ids[c.chars - n_val :]


# -- the PyTorch anchor ------------------------------------------------------
def torch_lstm(args) -> dict:
    """Train the char-rnn LSTM for args.seconds; held-out nats/char over time."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    vocab, train, val = split(args.corpus, args.val_fraction)
    K, m, B, T = vocab.size, 128, 50, 50
    lstm, out = torch.nn.LSTM(K, m, num_layers=2, batch_first=True), torch.nn.Linear(m, K)
    params = list(lstm.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    L = len(train) // B
    data = torch.from_numpy(np.asarray(train[: L * B], dtype=np.int64).reshape(B, L))
    eye, state, p, trained, curve, updates = torch.eye(K), None, 0, 0.0, [], 0
    next_eval = args.seconds / 10
    while trained < args.seconds:
        t0 = time.perf_counter()
        if p + T + 1 > L:
            p, state = 0, None
        x, y = eye[data[:, p : p + T]], data[:, p + 1 : p + T + 1]
        H, state = lstm(x, state)
        loss = torch.nn.functional.cross_entropy(out(H).reshape(-1, K), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, 5.0)
        opt.step()
        state = tuple(s.detach() for s in state)
        p, updates = p + T, updates + 1
        trained += time.perf_counter() - t0
        if trained >= next_eval or trained >= args.seconds:
            curve.append((round(trained, 1), torch_nats(lstm, out, val, eye)))
            next_eval += args.seconds / 10
    name = "PyTorch LSTM 2x128 (char-rnn recipe)"
    return result(name, curve, trained, updates * B * T)


def result(name: str, curve: list, seconds: float, chars: int) -> dict:
    """A contender's outcome: its final held-out nats and how much it read."""
    return {"name": name, "nats": curve[-1][1], "curve": curve, "s": seconds, "chars": chars}


def torch_nats(lstm, out, ids, eye) -> float:
    """Mean -log p per character of ids read as one stream from a zero state."""
    import numpy as np
    import torch

    with torch.no_grad():
        x = eye[torch.from_numpy(np.asarray(ids[:-1], dtype=np.int64))][None]
        y = torch.from_numpy(np.asarray(ids[1:], dtype=np.int64))
        H, _ = lstm(x)
        return float(torch.nn.functional.cross_entropy(out(H[0]), y))


# -- charnn recipes ----------------------------------------------------------
def charnn_recipe(args, name: str, flags: str) -> dict:
    """Train `charnn train` with flags for args.seconds; its final validation."""
    folder = Path(tempfile.mkdtemp(prefix=f"quality-{name}-"))
    cmd = [sys.executable, "-m", "charnn", "train", args.corpus, "--out", str(folder / "run")]
    cmd += flags.split() + ["--max-time", str(args.seconds), "--quiet"]
    cmd += ["--val-fraction", str(args.val_fraction)]
    subprocess.run(cmd, check=True, env={**os.environ, **ONE_THREAD})
    curve, update = [], 0
    with open(folder / "run" / "metrics.csv", encoding="utf-8") as f:
        head = f.readline().strip().split(",")
        for line in f:
            row = dict(zip(head, line.strip().split(",")))
            update = int(row["update"])
            if row.get("val_bpc"):
                curve.append((float(row["elapsed_s"]), float(row["val_bpc"]) * math.log(2)))
    cfg = json.loads((folder / "run" / "config.json").read_text(encoding="utf-8"))
    cfg = cfg.get("config", cfg)
    chars = update * cfg["batch_size"] * cfg["seq_length"]
    res = result(f"charnn {name}", curve, curve[-1][0], chars)
    return {**res, "flags": flags}


def child(args) -> None:
    """One contender in this process; its result as JSON on stdout."""
    if args.child == "torch":
        res = torch_lstm(args)
    else:
        name, _, flags = args.child.partition("=")
        res = charnn_recipe(args, name, flags)
    print("RESULT " + json.dumps(res))


def launch(args, what: str, core: int | None) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--child", what, "--seconds", str(args.seconds)]
    cmd += ["--corpus", args.corpus, "--val-fraction", str(args.val_fraction)]
    if core is not None and hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", str(core)] + cmd
    env = {**os.environ, **ONE_THREAD}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=300.0, help="training budget per contender")
    p.add_argument("--corpus", default="tragedies", help="corpus name or text file")
    p.add_argument("--val-fraction", type=float, default=0.05, help="held-out tail")
    p.add_argument("--recipe", action="append", default=[], help="NAME=FLAGS of charnn train")
    p.add_argument("--no-torch", action="store_true", help="leave the PyTorch anchor out")
    p.add_argument("--out", type=Path, default=HERE / "quality.md", help="Markdown table")
    p.add_argument("--plot", type=Path, help="also draw the held-out curves into this PNG")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    recipes = args.recipe or [f"{k}={v}" for k, v in RECIPES.items()]
    contenders = ([] if args.no_torch else ["torch"]) + recipes
    cores = os.cpu_count() or 1
    if len(contenders) > cores:
        print(f"note: {len(contenders)} contenders share {cores} cores", file=sys.stderr)
    load0 = os.getloadavg()
    procs = [
        launch(args, c, i if len(contenders) <= cores else None) for i, c in enumerate(contenders)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        line = [x for x in out.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            raise SystemExit(f"a contender failed (exit {proc.returncode})")
        results.append(json.loads(line[-1][len("RESULT ") :]))
    rows = table(args, results, load0, os.getloadavg())
    args.out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print("\n".join(rows))
    for r in results:
        print(f"{r['name']}: " + ", ".join(f"{t:.0f}s {n:.3f}" for t, n in r["curve"]))
    if args.plot:
        plot(results, args.plot)
    return 0


def table(args, results: list, load0: tuple, load1: tuple) -> list[str]:
    """The Markdown table of the results, the machine and its load named."""
    load = "/".join(f"{x:.1f}" for x in load0), "/".join(f"{x:.1f}" for x in load1)
    rows = [
        f"Held-out nats/char after {args.seconds:.0f} s of training on one core each, run side by "
        f"side on {cpu_name()}, corpus {args.corpus}. Load average (1/5/15 min) "
        f"{load[0]} before, {load[1]} after.",
        "",
        "| contender | trained s | chars/s | held-out nats/char | bits/char |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = r["chars"] / r["s"] if r["s"] else 0.0
        bits = r["nats"] / math.log(2)
        rows.append(f"| {r['name']} | {r['s']:.0f} | {rate:,.0f} | {r['nats']:.3f} | {bits:.3f} |")
    flags = [f"- {r['name']}: `{r['flags']}`" for r in results if r.get("flags")]
    return rows + ([""] + flags if flags else [])


def plot(results: list, path: Path) -> None:
    """Held-out nats/char against training seconds, one line per contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in results:
        t, n = zip(*r["curve"])
        ax.plot(t, n, marker="o", markersize=3, label=f"{r['name']} ({r['nats']:.3f})")
    ax.set_xlabel("training seconds (one core)")
    ax.set_ylabel("held-out nats/char")
    ax.set_ylim(top=min(3.0, ax.get_ylim()[1]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
