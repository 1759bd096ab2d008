"""``mlpkit data``: where MNIST is read from; verify the four files there, or fetch what is missing."""

from __future__ import annotations

import argparse

from .options import add_data_dir

NAME = "data"
SUMMARY = "verify (or fetch) the four MNIST files and say where they are read from"
DESCRIPTION = ("MNIST is read from --data-dir, else $MLPKIT_DATA, else the cache folder; each file must match its\n"
               "SHA-256. Offline: copy the four original files below into one folder and pass it with --data-dir\n"
               "(every command that reads MNIST takes it) or set MLPKIT_DATA.")
EPILOG = "example:\n  mlpkit data\n  mlpkit data --data-dir ~/mnist --no-download"
COMPILES = False


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data_dir(p)
    p.add_argument("--no-download", action="store_true", help="only verify: a missing file is an error")


def run(args: argparse.Namespace) -> int:
    from .. import datasets

    root, named = datasets.data_dir(args.data_dir)
    print(f"MNIST folder: {root} ({'named' if named else 'the cache; --data-dir or MLPKIT_DATA to use another'})")
    files = datasets.mnist_files(args.data_dir, download=not args.no_download)
    for name, path in files.items():
        print(f"  {name:28} ok (sha256 {datasets.MNIST_FILES[name][:12]}..., {path.stat().st_size:,} bytes)")
    return 0
