"""The command line: `charnn train | sample | gradcheck | evaluate | plot | report | compare`.

The only module that prints for the user or exits. Every CharnnError
becomes one line on stderr and exit code 2; a diverged run exits 1; a run
stopped by Ctrl-C / SIGTERM saves its checkpoint and exits 130 / 143.
Standard output that is closed ends a command quietly with 141 (a training
saves its checkpoint first); one that fails otherwise is one line, exit 2.
"""

from __future__ import annotations

import os
import signal
import sys

from ..errors import CharnnError, DivergenceError
from .output import GuardedStream, StdoutError, escape_unencodable, silence_stdout
from .parser import build_parser

# commands after which the process ends without the interpreter's teardown
# (sweep keeps it: Dask has exit handlers of its own)
QUICK_EXIT = ("train", "sample", "evaluate", "gradcheck", "plot", "report", "compare")


class Terminated(KeyboardInterrupt):
    """SIGTERM before a command handles it itself: stopped as Ctrl-C stops it
    (every path that survives a KeyboardInterrupt survives this), told apart."""


def _terminate(signum, frame):
    raise Terminated


def entry() -> None:
    """The `charnn` program (the console script, `python -m charnn`): main on
    the process's arguments, then its exit code. A SIGTERM before a command
    takes the signal over (train does, during training) is one line, exit 143."""
    argv = sys.argv[1:]
    if argv and argv[0] in QUICK_EXIT:
        signal.signal(signal.SIGTERM, _terminate)
    code = main(argv)
    if argv and argv[0] in QUICK_EXIT:
        quick_exit(code)
    raise SystemExit(code)


def one_line(message: str) -> str:
    """message with its line breaks (from a path, a corpus name) escaped."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def quick_exit(code) -> None:
    """End the process with code as SystemExit(code) would, but without the
    interpreter's teardown: unloading numba's compiled kernels and matplotlib
    takes about 0.3 s, and nothing is left to save (every file a command
    writes is written and closed when it returns). Output is flushed first."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: main has reported it
            pass
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    os._exit(code or 0)


def main(argv=None) -> int:
    escape_unencodable()
    stdout, sys.stdout = sys.stdout, GuardedStream(sys.stdout)
    command = "charnn"
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # bare `charnn`: the usage and the list of commands
        build_parser().print_help(sys.stderr)
        return 2
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # --help, --version, or a one-line usage error
            sys.stdout.flush()
            return e.code
        command = f"charnn {args.command}"
        return run(args)
    except StdoutError as e:
        silence_stdout()
        if isinstance(e.error, BrokenPipeError):  # `charnn sample | head`: done, quietly
            return 128 + signal.SIGPIPE
        reason = e.error.strerror or e.error
        print(f"{command}: error: cannot write to standard output ({reason})", file=sys.stderr)
        return 2
    finally:
        sys.stdout = stdout


def run(args) -> int:
    """The command of args, its errors turned into one line and an exit code."""
    try:
        from . import commands, validate  # inside: Ctrl-C while NumPy loads is one line too

        validate.check(args)
        code = getattr(commands, args.command)(args)
        sys.stdout.flush()  # here, where a failure is reported, not at exit
        return code
    except DivergenceError as e:
        print(f"charnn {args.command}: {e}", file=sys.stderr)
        return 1
    except CharnnError as e:  # one line, even where a path holds a line break
        print(f"charnn {args.command}: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # a failed read or write outside the checked paths: disk full, ...
        where = f" ({e.filename}; check its permissions, type and free space)" if e.filename else ""
        print(
            f"charnn {args.command}: error: {one_line(f'{e.strerror or e}{where}')}",
            file=sys.stderr,
        )
        return 2
    except MemoryError:  # past the budget's estimate: a lower limit (ulimit -v), or others' use
        print(
            f"charnn {args.command}: error: out of memory; use a smaller --hidden, --batch-size "
            "or --seq-length, or free memory (a run keeps its last checkpoint: --resume "
            "continues it)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as e:
        return _interrupted(args.command, e)
    except RuntimeError as e:  # Python wraps a Ctrl-C inside a class body's __set_name__
        stop = _interrupt_in(e)  # (matplotlib's import has such classes)
        if stop is None:
            raise
        return _interrupted(args.command, stop)


def _interrupted(command: str, e: KeyboardInterrupt) -> int:
    if isinstance(e, Terminated):
        print(f"charnn {command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    print(f"charnn {command}: interrupted", file=sys.stderr)
    return 130


def _interrupt_in(e: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (Ctrl-C, or SIGTERM as Terminated) among the
    causes of e, if any."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None
