"""read_idx allocates only what a gzipped IDX file can hold, opens only regular files, and
reports every defect as DatasetError (an OSError whose message says what is wrong)."""

import gzip
import os
import tracemalloc

import numpy as np
import pytest

from mlpkit.datasets import DatasetError, read_idx


def _idx(path, dims, body):
    header = (0x0803 if len(dims) == 3 else 0x0801).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    with gzip.open(path, "wb") as f:
        f.write(header + body)
    return path


def test_a_real_file_round_trips(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(_idx(tmp_path / "ok.gz", (2, 3, 4), images.tobytes())), images)


def test_a_header_declaring_more_than_the_file_can_hold_is_refused_before_allocating(tmp_path):
    path = _idx(tmp_path / "bomb.gz", (60000, 28000, 28), bytes(1000))  # declares 47 GB
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=r"more than a \d+-byte gzip file can hold"):
            read_idx(path)
        assert tracemalloc.get_traced_memory()[1] < 10 * 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("extra, match", [(-1, "holds fewer values"), (1, "holds more values")])
def test_a_body_of_the_wrong_length_is_refused(tmp_path, extra, match):
    with pytest.raises(DatasetError, match=match):
        read_idx(_idx(tmp_path / "n.gz", (10, 2, 2), bytes(40 + extra)))


def test_not_gzip_and_truncated_files(tmp_path):
    (tmp_path / "plain.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="cannot be read as a gzipped IDX file"):
        read_idx(tmp_path / "plain.gz")
    full = _idx(tmp_path / "full.gz", (10, 2, 2), bytes(40)).read_bytes()
    (tmp_path / "cut.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(DatasetError):
        read_idx(tmp_path / "cut.gz")


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="needs POSIX FIFOs and /dev/zero")
def test_fifos_devices_and_missing_paths_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.gz"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", tmp_path / "missing.gz", tmp_path):
        with pytest.raises(DatasetError, match="is not a regular file"):
            read_idx(path)
