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
    eye, state, p, trained, curve = torch.eye(K), None, 0, 0.0, []
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
        p += T
        trained += time.perf_counter() - t0
        if trained >= next_eval or trained >= args.seconds:
            curve.append((round(trained, 1), torch_nats(lstm, out, val, eye)))
            next_eval += args.seconds / 10
    return {"name": "PyTorch LSTM 2x128 (char-rnn recipe)", "nats": curve[-1][1], "curve": curve}


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
    curve = []
    with open(folder / "run" / "metrics.csv", encoding="utf-8") as f:
        head = f.readline().strip().split(",")
        for line in f:
            row = dict(zip(head, line.strip().split(",")))
            if row.get("val_bpc"):
                curve.append((float(row["elapsed_s"]), float(row["val_bpc"]) * math.log(2)))
    return {"name": f"charnn {name}: {flags}", "nats": curve[-1][1], "curve": curve}


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
    rows = [
        f"Held-out nats/char after {args.seconds:.0f} s of training on one core each, run side by "
        f"side on {cpu_name()}, corpus {args.corpus}.",
        "",
        "| contender | held-out nats/char | bits/char |",
        "|---|---:|---:|",
    ]
    rows += [f"| {r['name']} | {r['nats']:.3f} | {r['nats'] / math.log(2):.3f} |" for r in results]
    args.out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print("\n".join(rows))
    for r in results:
        print(f"{r['name']}: " + ", ".join(f"{t:.0f}s {n:.3f}" for t, n in r["curve"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
