"""MNIST loader: local files, checksums, download (from a loopback server) and offline errors."""

import functools
import gzip
import shutil
import threading
from http.server import HTTPServer, SimpleHTTPRequestHandler

import numpy as np
import pytest

from conftest import MNIST_DIR
from mlpkit import datasets
from mlpkit.datasets import DatasetError, load_mnist

pytestmark = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST files not found at {MNIST_DIR}")


def test_load_local_files():
    (x, t), (xt, tt) = load_mnist(MNIST_DIR)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
    assert t[:5].tolist() == [5, 0, 4, 1, 9] and tt[:5].tolist() == [7, 2, 1, 0, 4]


def test_load_options(monkeypatch):
    monkeypatch.setenv("MLPKIT_DATA", str(MNIST_DIR))
    (x, t), _ = load_mnist(normalize=False, flatten=False, one_hot=True)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8
    assert t.shape == (60000, 10) and t.dtype == np.float32 and t[0].argmax() == 5 and t.sum() == 60000


def copy_files(dest):
    for name in datasets.MNIST_FILES:
        shutil.copy(MNIST_DIR / name, dest / name)


def test_checksum_mismatch_is_an_error(tmp_path):
    copy_files(tmp_path)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + bytes(10))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.gz fails its checksum: expected sha256 f7ae60f9"):
        load_mnist(tmp_path)


def test_missing_file_without_download(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_mnist(tmp_path, download=False)


@pytest.fixture
def mirror(tmp_path):
    """A loopback HTTP server over a directory: (url, directory)."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    server.shutdown()


def test_download_verifies_and_skips_bad_mirrors(tmp_path, mirror, monkeypatch):
    url, root = mirror
    bad = root / "bad"
    bad.mkdir()
    copy_files(root)
    for name in datasets.MNIST_FILES:
        (bad / name).write_bytes(b"corrupt")
    monkeypatch.setattr(datasets, "MIRRORS", [url + "bad/", url])
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("MLPKIT_DATA", raising=False)
    (_, t), _ = load_mnist()
    assert t[:5].tolist() == [5, 0, 4, 1, 9]
    assert sorted(p.name for p in (cache / "mlpkit" / "mnist").iterdir()) == sorted(datasets.MNIST_FILES)


def test_offline_download_fails_clearly(tmp_path, mirror, monkeypatch):
    url, _ = mirror  # serves nothing: every file is a 404
    monkeypatch.setattr(datasets, "MIRRORS", [url, "http://127.0.0.1:9/"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"could not download .* \(offline\?\)\. To fix: put the four MNIST files .*"
                                           r"--data-dir DIR, or path=DIR\), or set MLPKIT_DATA=DIR") as info:
        load_mnist(tmp_path / "empty")
    assert "\n" not in str(info.value), "one line: the CLI shows the first line only"
    assert not list((tmp_path / "empty").glob("*")), "no partial file is left behind"


def test_a_named_folder_that_does_not_exist_is_an_error_and_is_not_created(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match=r"typo \(path\) is not a folder\. To fix: put the four MNIST files"):
        load_mnist(tmp_path / "typo")
    monkeypatch.setenv("MLPKIT_DATA", str(tmp_path / "typo2"))
    with pytest.raises(DatasetError, match=r"typo2 \(MLPKIT_DATA\) is not a folder"):
        load_mnist()
    assert not (tmp_path / "typo").exists() and not (tmp_path / "typo2").exists()


def test_one_split_reads_only_its_two_files(tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes((MNIST_DIR / name).read_bytes())
    x, t = datasets.load_mnist_split("test", tmp_path, download=False)
    assert x.shape == (10000, 784) and t[:3].tolist() == [7, 2, 1]
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz not found"):
        datasets.load_mnist_split("train", tmp_path, download=False)
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'test'\]"):
        datasets.load_mnist_split("t10k", tmp_path)
