"""The progress display of training: a bar on a terminal, log lines otherwise.

Standard output may fail under a running training (a closed pipe, a full
disk): the printer then stops printing and records the error, and training
stops at the next chunk with its checkpoint saved (see train.train).

Every figure is shown in bits per character (training: the loss of an update
over its T characters; validation: over the held-out text), with the seed's
smoothed loss in nats per sequence alongside where it is named. Update
numbers count updates done; epochs are fractional (updates / updates per
epoch). Log lines come at multiples of --log-every and at the end.
"""

from __future__ import annotations

import math
import sys

from ..report.summary import fmt_down
from ..run.evaluation import per_char_bpc, uniform_bpc, uniform_warning, validation_cause
from ..run.loop import Run
from ..run.schedule import NO_LIMIT, stop_update
from .output import StdoutError, silence_stdout

BAR = "{percentage:3.0f}%|{bar:10}| {n_fmt}/{total_fmt} {postfix} [{elapsed}<{remaining}]"
BAR_OPEN = "{n_fmt} updates {postfix} [{elapsed}]"


def nats(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.2f}"


class Printer:
    """Turns training events into a progress bar (terminal) or log lines."""

    def __init__(self, run: Run, quiet: bool):
        self.run, self.quiet = run, quiet
        self.bar = None
        total = stop_update(run.cfg, run.per_epoch)
        self.total = None if total >= NO_LIMIT else total  # only --max-time limits the run
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total,
                initial=run.state.update,
                bar_format=BAR if self.total else BAR_OPEN,
                ncols=80,
                file=sys.stderr,
            )
        self.failed: OSError | None = None  # the error that ended printing to stdout

    def bpc(self, loss: float) -> float:
        return per_char_bpc(loss, self.run.cfg.seq_length)

    def epochs(self, update: int) -> str:
        return fmt_down(update / max(self.run.per_epoch, 1))

    def write(self, text: str) -> None:
        if self.failed is not None:
            return
        try:
            if self.bar is not None:
                self.bar.write(text)
            else:
                print(text, flush=True)
        except (OSError, StdoutError) as e:
            self.failed = e.error if isinstance(e, StdoutError) else e
            silence_stdout()

    def warn(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def __call__(self, ev) -> None:
        if self.quiet:
            return
        if ev.kind == "sample":
            smooth = (
                "before the first update"
                if math.isnan(ev.smooth)
                else f"smoothed loss {self.bpc(ev.smooth):.3f} bits/char"
            )
            self.write(f"--- sample after {ev.update:,} updates ({smooth}) ---\n{ev.text}\n")
        elif ev.kind == "eval":
            self.eval_line(ev)
        elif ev.kind == "best":
            self.write(
                f"--- the best model (parameters after {ev.update:,} updates; smoothed loss "
                f"{self.bpc(ev.smooth):.3f} bits/char), {len(ev.text):,} characters ---\n"
                f"{ev.text}\n"
            )
        elif ev.kind == "progress":
            self.progress(ev)

    def eval_line(self, ev) -> None:
        train = "" if math.isnan(ev.smooth) else f", training {self.bpc(ev.smooth):.4f} (smoothed)"
        self.write(
            f"update {ev.update:,} (epoch {self.epochs(ev.update)}): bits/char validation "
            f"{ev.val_bpc:.4f}{train}"
        )
        K = self.run.data.vocab.size
        if ev.update == 0:  # the untrained network guesses about uniformly: no warning
            self.write(f"  (untrained; uniform guessing: {uniform_bpc(K):.4f} bits/char)")
            return
        warning = uniform_warning(ev.val_bpc, K, validation_cause(self.run.cfg))
        if warning:
            self.warn(warning)

    def progress(self, ev) -> None:
        if self.bar is not None:
            self.bar.n = ev.update
            self.bar.set_postfix_str(
                f"{self.bpc(ev.smooth):.3f} bpc, epoch {self.epochs(ev.update)}", refresh=False
            )
            self.bar.refresh()
        elif ev.update % self.run.cfg.log_every == 0 or ev.update == self.total:
            of = "" if self.total is None else f"/{self.total:,}"
            print(
                f"update {ev.update:,}{of} epoch {self.epochs(ev.update)} bits/char: loss "
                f"{self.bpc(ev.loss):.3f}, smoothed {self.bpc(ev.smooth):.3f} "
                f"(smoothed {nats(ev.smooth)} nats/sequence); {ev.rate:,.0f} updates/s",
                file=sys.stderr,
                flush=True,
            )

    def close(self):
        if self.bar is not None:
            self.bar.close()
