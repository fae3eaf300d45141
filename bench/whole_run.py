"""Whole processes, one thread each: `charnn train` at the seed's settings
against a plain min-char-rnn script (bench/minchar.py's loop, reading the
same corpus, printing the loss and a 200-character sample every 10,000
updates) for the same number of updates, timed in the same sitting.

Both run as on a user's machine: one BLAS thread each, and Python's
bytecode cache on, as it is by default (PYTHONDONTWRITEBYTECODE, which
some sandboxes set, is dropped: it makes every process compile its
modules' source again, about 0.07 s of charnn's start-up).

`charnn train` is timed twice: as a user runs it, validating and writing
checkpoints beside the updates on a second core when there is one, and
held to one core (sched_setaffinity), where it does all of it in turn.

    python bench/whole_run.py [--updates 100000] [--corpus tragedies]
    python bench/whole_run.py --plain tragedies --updates N    # the anchor alone
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


def _env() -> dict:
    """The environment of the timed processes (see the module's text)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **ONE_THREAD}


def plain_main(corpus: str, updates: int, seq_length: int = 25, hidden: int = 100) -> None:
    """The anchor: min-char-rnn's loop on the corpus, float64, one thread."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import minchar
    from charnn.data import corpus as corpora

    text = corpora.load(corpus).text
    chars = sorted(set(text))
    index = {ch: i for i, ch in enumerate(chars)}
    ids = np.array([index[ch] for ch in text], dtype=np.int64)
    rng = np.random.default_rng(0)
    net = minchar.PlainRNN(len(chars), hidden, rng)
    p, smooth = 0, -np.log(1.0 / len(chars)) * seq_length
    for n in range(updates):
        if p + seq_length + 1 >= len(ids):
            p, net.h = 0, np.zeros_like(net.h)
        if n % 10_000 == 0:
            sample = net.sample(int(ids[p]), 200, rng)
            print("".join(chars[i] for i in sample))
        loss = net.update(ids[p : p + seq_length], ids[p + 1 : p + seq_length + 1])
        smooth = 0.999 * smooth + 0.001 * loss
        if n % 10_000 == 0:
            print(f"iter {n}, loss {smooth:.3f}")
        p += seq_length


def _timed(cmd: list[str], one_core: bool = False) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a whole process: on a shared machine the
    CPU seconds are the steadier figure. one_core: held to the first core
    this process may use."""
    env = _env()
    pin = None
    if one_core:
        core = min(os.sched_getaffinity(0))

        def pin():
            os.sched_setaffinity(0, {core})

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, preexec_fn=pin)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def compare(updates: int, corpus: str = "tragedies") -> dict:
    """Wall and CPU seconds of both whole processes, their ratios and charnn's
    time split (timing.json); charnn also on one core ("one_core")."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        train = [sys.executable, "-m", "charnn", "train", corpus, "--out", str(out)]
        train += ["--threads", "1", "--quiet"]
        subprocess.run(  # compile (or load) the kernels outside the timed process
            [*train, "--updates", "1", "--force"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=_env(),
        )
        charnn_s, charnn_cpu = _timed([*train, "--updates", str(updates), "--force"])
        split = json.loads((out / "timing.json").read_text())
        one_s, one_cpu = _timed([*train, "--updates", str(updates), "--force"], one_core=True)
        one_split = json.loads((out / "timing.json").read_text())
        plain = [sys.executable, __file__, "--plain", corpus, "--updates", str(updates)]
        plain_s, plain_cpu = _timed(plain)
    return {
        "updates": updates,
        "charnn_s": charnn_s,
        "plain_s": plain_s,
        "ratio": plain_s / charnn_s,
        "charnn_cpu_s": charnn_cpu,
        "plain_cpu_s": plain_cpu,
        "cpu_ratio": plain_cpu / charnn_cpu,
        "split": split,
        "one_core": {"charnn_s": one_s, "ratio": plain_s / one_s, "cpu_s": one_cpu},
        "one_core_split": one_split,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=100_000, help="updates of each process")
    ap.add_argument("--corpus", default="tragedies", help="corpus name or file")
    ap.add_argument("--plain", metavar="CORPUS", help="run the plain loop alone on CORPUS")
    args = ap.parse_args(argv)
    if args.plain:
        plain_main(args.plain, args.updates)
        return
    print(json.dumps(compare(args.updates, args.corpus), indent=2))


if __name__ == "__main__":
    main()
