"""MNIST from the four original IDX ``.gz`` files, checksum-verified; never pickles.

Where the files are looked for, in order: the ``path`` argument, the ``MLPKIT_DATA`` environment
variable, then the cache directory ``$XDG_CACHE_HOME/mlpkit/mnist`` (``~/.cache/mlpkit/mnist``).
Missing files are downloaded from :data:`MIRRORS` into that directory when ``download=True``;
every file, downloaded or local, must match its SHA-256 or loading fails.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

ENV_VAR = "MLPKIT_DATA"

#: file name -> SHA-256 of the original gzip file
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Public mirrors of the original files, tried in order.
MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

_IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1-D, images: 3-D (n, rows, cols)


class DatasetError(OSError):
    """A data file is missing, cannot be downloaded, fails its checksum or is malformed."""


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/mlpkit/mnist`` or ``~/.cache/mlpkit/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlpkit" / "mnist"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, expected: str) -> None:
    got = sha256(path)
    if got != expected:
        raise DatasetError(f"{path} fails its checksum: expected sha256 {expected}, received {got}")


def _download(name: str, dest: Path, timeout: float) -> None:
    """Fetch ``name`` from the first mirror that serves a file with the right checksum."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in MIRRORS:
        url = mirror + name
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
            _verify(Path(tmp), MNIST_FILES[name])
            os.replace(tmp, dest)
            return
        except (OSError, urllib.error.URLError) as exc:  # DatasetError is an OSError
            errors.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DatasetError(f"could not download {name} (offline?). {OFFLINE_FIX} Tried: " + "; ".join(errors))


#: What to do without a network, in one line (every message about a missing file ends with it).
OFFLINE_FIX = (f"To fix: put the four MNIST files ({', '.join(MNIST_FILES)}) in one folder and pass it "
               f"(--data-dir DIR, or path=DIR), or set {ENV_VAR}=DIR; 'mlpkit data --data-dir DIR' checks them.")


#: gzip's deflate cannot expand more than ~1032:1: an IDX header declaring more is refused unread
MAX_GZIP_RATIO = 1100


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes (magic 2049 labels or 2051 images) -> uint8 array.

    Reads the IDX header first and allocates only the size it declares, after checking that
    size against what the compressed file can hold (a 1.5 MB file declaring gigabytes is
    refused before anything is allocated); only regular files are opened (a FIFO or a device
    such as /dev/zero would block or never end)."""
    path = Path(path)
    try:
        if not path.is_file():
            raise DatasetError(f"{path} is not a regular file (missing, a directory, a FIFO or a device); expected an IDX .gz file")
        packed = path.stat().st_size
        with gzip.open(path, "rb") as f:
            head = f.read(4)
            magic = int.from_bytes(head, "big")
            ndim = _IDX_MAGIC.get(magic) if len(head) == 4 else None
            if ndim is None:
                raise DatasetError(f"{path} is not an IDX ubyte file: magic {magic:#010x}, expected 0x00000801 or 0x00000803")
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) != 4 * ndim:
                raise DatasetError(f"{path}: the IDX header ends early")
            dims = tuple(int.from_bytes(raw_dims[4 * k : 4 * k + 4], "big") for k in range(ndim))
            size = int(np.prod(dims, dtype=np.int64))
            if size > MAX_GZIP_RATIO * packed:
                raise DatasetError(f"{path}: header says shape {dims} ({size:,} bytes), more than a {packed:,}-byte gzip file can hold")
            body = np.empty(size, dtype=np.uint8)
            done, view = 0, memoryview(body)
            while done < size:
                got = f.readinto(view[done : done + (1 << 22)])
                if not got:
                    break
                done += got
            if done != size or f.read(1):
                raise DatasetError(f"{path}: header says shape {dims} but holds {'fewer' if done != size else 'more'} values")
    except DatasetError:
        raise
    except (OSError, EOFError, zlib.error) as exc:  # unreadable, not gzip, truncated
        raise DatasetError(f"{path}: cannot be read as a gzipped IDX file ({type(exc).__name__}: {exc})") from exc
    return body.reshape(dims)


SPLITS = {"train": "train", "test": "t10k"}  # split name -> file prefix


def data_dir(path: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """(the folder MNIST is read from, whether the user named it): ``path``, else ``MLPKIT_DATA``,
    else :func:`cache_dir`. A named folder must exist (a mistyped name is an error, never a new
    empty folder)."""
    explicit = path or os.environ.get(ENV_VAR) or None
    if not explicit:
        return cache_dir(), False
    root = Path(explicit).expanduser()
    if not root.is_dir():
        source = "path" if path else ENV_VAR
        raise DatasetError(f"{root} ({source}) is not a folder. {OFFLINE_FIX}")
    return root, True


def mnist_files(path: str | os.PathLike | None = None, download: bool = True, timeout: float = 60.0,
                splits: tuple[str, ...] = ("train", "test")) -> dict[str, Path]:
    """Locate (and if needed download) the MNIST files of ``splits`` ("train", "test"); each is
    checksum-verified. Files missing from the folder (:func:`data_dir`) are downloaded into it
    when ``download``."""
    root, _ = data_dir(path)
    found = {}
    wanted = tuple(SPLITS[s] for s in splits)
    for name, digest in MNIST_FILES.items():
        if not name.startswith(wanted):
            continue
        file = root / name
        if not file.exists():
            if not download:
                raise DatasetError(f"{file} not found (downloads are off). {OFFLINE_FIX}")
            _download(name, file, timeout)
        _verify(file, digest)
        found[name] = file
    return found


def load_mnist(
    path: str | os.PathLike | None = None,
    normalize: bool = True,
    flatten: bool = True,
    one_hot: bool = False,
    *,
    download: bool = True,
):
    """``((x_train, t_train), (x_test, t_test))`` as in the classic from-scratch ``load_mnist``.

    x: (n, 784) if ``flatten`` else (n, 1, 28, 28); float32 in [0, 1] if ``normalize`` else uint8.
    t: int64 labels (n,), or float32 one-hot (n, 10) if ``one_hot``. n = 60000 train, 10000 test.
    """
    files = mnist_files(path, download)
    return tuple(_split(files, split, normalize, flatten, one_hot) for split in ("train", "test"))


def load_mnist_split(split: str, path: str | os.PathLike | None = None, normalize: bool = True, flatten: bool = True,
                     one_hot: bool = False, *, download: bool = True):
    """``(x, t)`` of one split, "train" (60000 rows) or "test" (10000), reading only its two
    files; as :func:`load_mnist` otherwise."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}; received {split!r}")
    return _split(mnist_files(path, download, splits=(split,)), split, normalize, flatten, one_hot)


def _split(files: dict[str, Path], split: str, normalize: bool, flatten: bool, one_hot: bool):
    prefix = SPLITS[split]
    x = read_idx(files[f"{prefix}-images-idx3-ubyte.gz"])
    t = read_idx(files[f"{prefix}-labels-idx1-ubyte.gz"]).astype(np.int64)
    if len(x) != len(t):
        raise DatasetError(f"{prefix}: {len(x)} images but {len(t)} labels")
    x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, 28, 28)
    if normalize:
        x = x.astype(np.float32) / np.float32(255)
    if one_hot:
        t = np.eye(10, dtype=np.float32)[t]
    return x, t
