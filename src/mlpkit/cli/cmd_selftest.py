"""``mlpkit selftest``: a backend against the float64 reference here, then timed beside the CPU backends."""

from __future__ import annotations

import argparse

from ..backends.registry import normalize
from .options import add_backend, add_data_dir

NAME = "selftest"
SUMMARY = "check a backend against a float64 reference here, then time it beside the CPU backends"
EPILOG = "example (on a GPU machine, after pip install '.[cuda12]'):\n  mlpkit selftest --backend cupy"
COMPILES = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_backend(p, required=True)
    add_data_dir(p, downloads=False)
    p.add_argument("--quick", action="store_true", help="fewer and shorter timings")


def run(args: argparse.Namespace) -> int:
    from .. import selftest

    return selftest.run(normalize(args.backend), args.data_dir, args.quick)
