"""The command line: `charnn train | sample | gradcheck | evaluate | plot | report | compare`.

The only module that prints for the user or exits. Every CharnnError
becomes one line on stderr and exit code 2; a diverged run exits 1; a run
stopped by Ctrl-C / SIGTERM saves its checkpoint and exits 130 / 143.
"""

from __future__ import annotations

import sys

from ..errors import CharnnError, DivergenceError
from .parser import build_parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a one-line usage error
        return e.code
    from . import commands

    try:
        return getattr(commands, args.command)(args)
    except DivergenceError as e:
        print(f"charnn {args.command}: {e}", file=sys.stderr)
        return 1
    except CharnnError as e:
        print(f"charnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a failed read or write outside the checked paths: disk full, ...
        where = f" ({e.filename})" if e.filename else ""
        print(f"charnn {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"charnn {args.command}: interrupted", file=sys.stderr)
        return 130
