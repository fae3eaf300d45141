"""The progress display of training: a bar on a terminal, log lines otherwise.

Standard output may fail under a running training (a closed pipe, a full
disk): the printer then stops printing and records the error, and training
stops at the next chunk with its checkpoint saved (see commands.train).
"""

from __future__ import annotations

import sys

from ..run.loop import NO_LIMIT, Run, stop_update
from .output import StdoutError, silence_stdout


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
                unit="upd",
                dynamic_ncols=True,
                file=sys.stderr,
            )
        self.next_log = run.state.update
        self.failed: OSError | None = None  # the error that ended printing to stdout

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

    def __call__(self, ev) -> None:
        if self.quiet:
            return
        if ev.kind == "sample":
            smooth = "n/a" if ev.smooth != ev.smooth else f"{ev.smooth:.2f}"
            self.write(f"--- sample at update {ev.update} (smooth loss {smooth}) ---\n{ev.text}\n")
        elif ev.kind == "eval":
            self.write(f"update {ev.update}: validation {ev.val_bpc:.4f} bits/char")
        elif ev.kind == "best":
            self.write(
                f"--- best model (update {ev.update}, smooth loss {ev.smooth:.2f}), "
                f"{len(ev.text)} characters ---\n{ev.text}\n"
            )
        elif ev.kind == "progress":
            if self.bar is not None:
                self.bar.n = ev.update
                self.bar.set_postfix(
                    loss=f"{ev.loss:.2f}", smooth=f"{ev.smooth:.2f}", epoch=ev.epoch, refresh=False
                )
                self.bar.refresh()
            elif ev.update >= self.next_log or ev.update == self.total:
                self.next_log = ev.update + self.run.cfg.log_every
                of = "" if self.total is None else f"/{self.total}"
                print(
                    f"update {ev.update}{of} epoch {ev.epoch} loss {ev.loss:.2f} "
                    f"smooth {ev.smooth:.2f} ({ev.rate:.0f} updates/s)",
                    file=sys.stderr,
                )

    def close(self):
        if self.bar is not None:
            self.bar.close()
