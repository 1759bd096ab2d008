"""The ``mlpkit`` command line (also ``python -m mlpkit``): one module per command.

Each ``cmd_*.py`` module holds ``NAME``, a one-line ``SUMMARY`` (what ``mlpkit --help`` lists),
an example ``EPILOG``, ``COMPILES`` (whether it may compile Numba kernels: then it says so once
on stderr), ``add_arguments(parser)`` and ``run(args) -> exit code``. Options several commands
share are defined once in :mod:`.options`. Adding a command: a new module and its name in
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
from typing import Sequence

from .. import __version__

#: the commands, in the order ``mlpkit --help`` lists them
COMMANDS = ("bench", "train", "reproduce", "convert", "predict", "eval", "data", "selftest", "warmup", "info")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks and shows every option's default: appended as
    "(default: X)" unless the help already says what the default is (None and False defaults -
    unset options and flags - are not shown)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" not in text and action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
            value = ",".join(map(str, action.default)) if isinstance(action.default, list) else action.default
            text += f" (default: {value})"
        return text


def _modules():
    return [importlib.import_module(f".cmd_{name}", __name__) for name in COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlpkit", formatter_class=_HelpFormatter,
        description="mlpkit: multi-layer perceptrons on interchangeable numerical backends (NumPy, Numba, CuPy).",
        epilog="'mlpkit COMMAND --help' shows a command's options and an example.")
    parser.add_argument("--version", action="version", version=f"mlpkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for module in _modules():
        p = sub.add_parser(module.NAME, help=module.SUMMARY, description=getattr(module, "DESCRIPTION", module.SUMMARY),
                           epilog=module.EPILOG, formatter_class=_HelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.run, compiles=module.COMPILES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.compiles:
        from ..backends import available_backends

        if available_backends().get("numba") is None:
            from ..backends.numba_backend import announce_compiles

            announce_compiles()
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, ImportError, pickle.UnpicklingError, EOFError, MemoryError, RecursionError) as exc:
        # every loader raises its documented error (a ValueError or OSError subclass); the rest is a safety net
        print(f"mlpkit: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
