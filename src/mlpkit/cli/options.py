"""What several commands share: argument types, the options defined once (one name each), and
the progress bar."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile

from ..backends.registry import CHOICES, normalize

DTYPES = ["float32", "float64"]


def backend_list(text: str) -> list[str]:
    """'numpy,numba' -> canonical backend names ('auto' refused: a list names backends)."""
    try:
        names = [normalize(part) for part in text.split(",") if part.strip()]
    except ValueError:
        names = None
    if not names or "auto" in names:
        valid = [c for c in CHOICES if c != "auto"]
        raise argparse.ArgumentTypeError(f"expected comma-separated backend names from {valid}; received {text!r}")
    return names


def name_list(text: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c'] (names are checked where they are used)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def int_list(text: str) -> list[int]:
    """'32,256' -> [32, 256]; positive integers only."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers; received {text!r}")
    return values


def add_data_dir(p: argparse.ArgumentParser, downloads: bool = True) -> None:
    """``--data-dir`` (old name ``--mnist``): the folder of the four MNIST .gz files."""
    where = "$MLPKIT_DATA, else download to the cache" if downloads else "$MLPKIT_DATA or the cache; never downloads"
    p.add_argument("--data-dir", "--mnist", dest="data_dir", default=None,
                   help=f"directory of the MNIST .gz files (default: {where}); --mnist is the old name")


def add_backend(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``--backend``: one backend by name."""
    p.add_argument("--backend", required=required,
                   help="numpy, numba or cupy" + ("" if required else " (default: MLPKIT_BACKEND or auto)"))


def add_backends(p: argparse.ArgumentParser) -> None:
    """``--backends``: a comma-separated list of backends."""
    p.add_argument("--backends", type=backend_list, help="comma-separated (default: every available one)")


def add_model_file(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """Options of every command that reads a model file (see :func:`mlpkit.mlp.files.load_any`)."""
    p.add_argument("--activations", type=name_list,
                   help="one per layer, for bare weight files (.pkl, or .npz of W1, b1, ...)")
    if backend:
        add_backend(p)


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bars (errors and results are still printed)."""
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def progress_bar(total: int, unit: str, desc: str, quiet: bool = False, scale: bool = False):
    """A tqdm bar on stderr (``tqdm.auto``: a widget in notebooks, a line every 10 s in a log);
    ``scale``: counts shown as 12.3k. A terminal's bar is cleared when it closes; a log keeps the
    last state of one it showed, with its line ended, so what the command prints next (the
    bench's table) starts a line of its own."""
    from tqdm.auto import tqdm

    terminal = sys.stderr.isatty()
    interval = 0.1 if terminal else 10.0  # a log gets a line every 10 s, none for a short task
    return tqdm(total=total, unit=unit, unit_scale=scale, desc=desc, file=sys.stderr, disable=quiet, leave=not terminal,
                mininterval=interval, delay=0 if interval < 1 else interval, dynamic_ncols=True)


@contextlib.contextmanager
def replaced_on_success(path: str):
    """Yield a temporary name beside ``path`` to write the output to; when the block ends without
    an exception it replaces ``path`` (a file or a folder such as a .zarr), else it is removed: a
    failure half-way (a NaN row, Ctrl-C, a full disk) leaves no partial output and keeps an old one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    os.close(fd)
    os.unlink(tmp)  # the writer creates it: a file (.npy, .csv) or a folder (.zarr)
    try:
        yield tmp
        if os.path.isdir(path) and os.path.isdir(tmp):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        elif os.path.exists(tmp):
            os.unlink(tmp)
