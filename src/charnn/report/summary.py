"""The numbers of a run, read back from its folder: formatting and summaries
shared by the single-run report and the comparison."""

from __future__ import annotations

import math
import os
import shlex
import stat
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..errors import CharnnError
from ..run import identity, rundir
from ..run.evaluation import per_char_bpc
from ..run.lock import LOCK
from ..words import counted

# Options that apply only to some optimizers.
OPTIMIZER_ONLY = {"rho": ("rmsprop",), "beta1": ("adam",), "beta2": ("adam",)}
NO_LIMIT = {"updates", "epochs", "max_time"}


def fmt(v, digits: int = 4) -> str:
    """A number as the report shows it: integers with thousands separators,
    floats to digits decimals; '' for a missing one."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def fmt_count(n, noun: str) -> str:
    """A count with its noun, singular for one ('1 update'); '' for none."""
    return "" if n is None else counted(int(n), noun)


def fmt_down(v: float, digits: int = 2) -> str:
    """A share of a whole (epochs done, seconds of a budget) rounded down to
    digits decimals, so that one short of the whole never reads as the whole
    (7,589 updates of 759 a epoch: 9.99 epochs, not 10.00)."""
    q = 10**digits
    return f"{math.floor(v * q + 1e-9 * abs(v * q)) / q:,.{digits}f}"


def option_value(key: str, value) -> str:
    """An option as the report shows it: 'no limit' for a zero limit, numbers
    with separators, a corpus file by its name alone (no paths of the machine)."""
    if key in NO_LIMIT and not value:
        return "no limit"
    if key == "corpus" and isinstance(value, str):
        return Path(value).name
    if isinstance(value, float) and value == int(value) and abs(value) >= 1000:
        return fmt(int(value))
    return fmt(value) if isinstance(value, int) else str(value)


def applicable(cfg: dict) -> list[tuple[str, str]]:
    """(option, shown value) for the options that apply to this run."""
    out = []
    for k, v in cfg.items():
        if k in OPTIMIZER_ONLY and cfg.get("optimizer") not in OPTIMIZER_ONLY[k]:
            continue
        out.append((k, option_value(k, v)))
    return out


def summarize(rows: list[dict], T: int | None = None) -> dict:
    """The numbers of a run from its metrics.csv rows.

    min_smooth/min_update: the lowest smoothed loss (nats per sequence) and
    the update (counted as updates done) whose row logged it; *_bpc: the same
    in bits per character when T is given; val_*: last and lowest validation
    bits per char; rate: updates per second over the whole run, median_rate:
    the median over updates of the rate of the chunk each was timed in;
    elapsed: wall seconds of training.
    """
    train = [r for r in rows if r["loss"] is not None]
    val = [r for r in rows if r["val_bpc"] is not None]
    out = {
        "updates": int(train[-1]["update"]) if train else 0,
        "epoch": int(rows[-1]["epoch"]) if rows else 0,
        "elapsed": max((r["elapsed_s"] or 0.0 for r in rows), default=0.0),
    }
    if train:
        best = min(train, key=lambda r: r["smooth_loss"])
        out["min_smooth"], out["min_update"] = best["smooth_loss"], int(best["update"])
        out["final_smooth"] = train[-1]["smooth_loss"]
        if T:
            out["min_smooth_bpc"] = per_char_bpc(out["min_smooth"], T)
            out["final_smooth_bpc"] = per_char_bpc(out["final_smooth"], T)
        t = train[-1]["elapsed_s"] or 0.0
        out["rate"] = out["updates"] / t if t > 0 else None
        rates = [r["updates_per_s"] for r in train if r["updates_per_s"]]
        out["median_rate"] = statistics.median(rates) if rates else None
    if val:
        best = min(val, key=lambda r: r["val_bpc"])
        out["val_final"], out["val_final_update"] = val[-1]["val_bpc"], int(val[-1]["update"])
        out["val_best"], out["val_best_update"] = best["val_bpc"], int(best["update"])
    return out


def file_counters(path: Path) -> dict:
    """The counters a model file records (best.npz: best_update, best_smooth;
    checkpoint.npz: update, ...); {} when it is absent or unreadable."""
    try:
        return identity.checkpoint_meta(path).get("counters") or {}
    except (CharnnError, ValueError):
        return {}


def updates_per_epoch(info: dict) -> int:
    """Updates in one pass over the training text, from config.json's corpus
    sizes (as the run counts them: each of the B streams reads its share);
    at least 1. info: as rundir.read_config checked it."""
    cfg, chars = info["config"], info.get("corpus", {}).get("train_chars", 0)
    return max(max(chars // cfg["batch_size"] - 1, 1) // cfg["seq_length"], 1)


@dataclass(frozen=True)
class RunState:
    """Where a run stands, from its folder: "complete" (its end written),
    "diverged" or "unfinished"; detail says how far it got, in words; pid:
    the live process training it now, if any."""

    kind: str
    detail: str = ""
    pid: int | None = None

    def status(self) -> str:
        """The status cell of the report's and compare's tables."""
        now = f"; pid {self.pid} is training it now" if self.pid else ""
        return self.kind if self.kind == "complete" else f"{self.kind} ({self.detail}{now})"

    def warning(self, who: str, folder: Path) -> str | None:
        """The warning a page shows beside the run's figures; who names the
        run ("this run", "b"); folder: the run's folder as the user gave it."""
        if self.kind == "complete":
            return None
        if self.kind == "diverged":
            return (
                f"WARNING: {who} diverged ({self.detail}): its figures are those of a run "
                "that failed; a resume would diverge again."
            )
        if self.pid:
            return (
                f"WARNING: {who} is being trained now (pid {self.pid}; {self.detail}): "
                "its figures are those logged so far."
            )
        return (
            f"WARNING: {who} has not finished ({self.detail}): its figures are those "
            f"logged up to where it stopped. charnn train --resume {shell_path(folder)} "
            "continues it and writes its end."
        )


def run_state(folder: Path, info: dict, s: dict, out: dict) -> RunState:
    """Where the run in folder stands (see RunState), so that no figure of a
    run cut short passes for a finished run's. s: its `summarize`; out: its
    outcome.json (bestval.read_outcome)."""
    cfg, n = info["config"], s["updates"]
    pid = training_pid(folder)
    if out.get("updates") == n and n > 0 and not pid:
        lost = rundir.missing_ends(folder)
        if not lost:
            return RunState("complete")
        return RunState(
            "unfinished",
            f"trained to its end, {fmt_count(n, 'update')}, but {' and '.join(lost)} "
            f"{'is' if len(lost) == 1 else 'are'} missing",
        )
    diverged = rundir.read_diverged(folder)
    if diverged and not pid:
        return RunState("diverged", f"at update {fmt(diverged['update'])}")
    # the limits as rundir.read_config checked them: non-negative, 0 for none
    epochs = (cfg.get("epochs") or 0) * updates_per_epoch(info)
    limits = [math.ceil(u) for u in (cfg.get("updates") or 0, epochs) if u > 0]
    budget, used = cfg.get("max_time") or 0, float(s["elapsed"])
    if not pid and ((limits and n >= min(limits)) or (budget and used >= budget)):
        saved = file_counters(folder / rundir.CHECKPOINT).get("update")
        if isinstance(saved, int) and saved < n:  # killed after logging, before its checkpoint
            return RunState(
                "unfinished",
                f"logged to its end, {fmt_count(n, 'update')}, but its last checkpoint "
                f"is at update {fmt(saved)}: a resume trains again from there",
            )
        return RunState(
            "unfinished",
            f"trained to its end, {fmt_count(n, 'update')}, but that end is not written",
        )
    done = fmt_count(n, "update")
    parts = [f"{fmt(n)} of {fmt_count(min(limits), 'update')}" if limits else done]
    if budget:
        parts.append(f"{fmt_down(used, 1)} s of its {fmt(float(budget), 1)} s")
    return RunState("unfinished", ", ".join(parts), pid)


def training_pid(folder: Path) -> int | None:
    """The pid of the process holding the run folder's lock now, or None when
    the lock is free. Read from /proc/locks (Linux), without taking the lock,
    which could turn away a trainer starting at that moment; None also where
    the system does not list its locks."""
    try:
        table = Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    wheres = set()
    for path in (folder / LOCK, folder):  # the folder's own lock holds if .lock is deleted
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            wheres.add(f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}")
    for line in table.splitlines():
        f = line.split()  # "1: FLOCK ADVISORY WRITE pid maj:min:inode start end"
        if len(f) >= 6 and f[1] == "FLOCK" and f[5] in wheres and f[4].isdigit():
            pid = int(f[4])
            return None if pid == os.getpid() else pid
    return None


def shell_path(folder: Path) -> str:
    """folder as a shell word that no command takes for an option."""
    text = str(folder)
    return shlex.quote("./" + text if text.startswith("-") else text)
