"""Batch inference on Dask (extra ``dask``: ``pip install 'mlpkit[dask]'``): out-of-core, on one
machine or a cluster.

``predict(model, X)``, ``predict_proba`` (the same: the network's outputs) and
``predict_classes`` take a 2-D Dask array chunked along rows (its columns are rechunked to one
block), or the path of a ``.npy`` file (memory-mapped) or of a Zarr array, and return a lazy
Dask array with declared dtype, meta and chunks; nothing runs until ``.compute()``, ``.store`` or
``da.to_zarr``. Blocks of 0 rows give 0 rows.

- The model enters the graph **once**, as one key every block task depends on: a distributed
  scheduler sends it to each worker once (and keeps it there), so the pickled graph stays about
  the size of the model whatever the number of chunks.
- Each block runs with ``threads`` compute threads (default 1: one per Dask thread, so
  ``threads_per_worker`` Dask threads never oversubscribe the cores). BLAS thread limits are
  process-wide: on the threaded scheduler, where blocks run side by side in one process, set
  ``mlpkit.set_num_threads(1)`` for the whole computation, or a block ending restores the limit
  under a block still running.
- :func:`warm_up_workers` registers a worker plugin that compiles (or loads from the on-disk
  cache) the Numba kernels when a worker starts, so the first task does not pay the compile;
  point ``NUMBA_CACHE_DIR`` at a shared folder on a cluster to compile once for all workers.

A block of 1 or 2 rows takes the Numba backend's single-sample kernels, which sum in another
order than its batch kernel (differences in the last bit), exactly as a local ``predict`` of
such a batch does; any larger block is bit-identical to a local ``predict`` of the same rows.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Sequence

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(f"mlpkit.dask needs dask[array] and distributed ({exc}); pip install 'mlpkit[dask]'") from exc

from .backends import num_threads
from .mlp import MLP

__all__ = ["predict", "predict_proba", "predict_classes", "as_dask_array", "warm_up_workers", "WarmUp"]

#: rows per chunk when X is a file or a plain array (8192 rows of 784 float32: 25 MB)
DEFAULT_CHUNK_ROWS = 8192


class NpyFile:
    """A ``.npy`` file as an array-like that pickles as its path: each worker process memory-maps
    the file once and every task reads its own rows from that map, without a copy (a memory map
    itself would pickle its whole contents into the graph)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._map = None
        array = self._open()
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def _open(self) -> np.ndarray:
        if self._map is None:  # once per process: the mapping and its page-table entries are reused
            self._map = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return self._map

    def __getitem__(self, index: Any) -> np.ndarray:
        return self._open()[index]  # a read-only view of the map: the kernels read it in place

    def __getstate__(self) -> dict:
        return {"path": self.path, "shape": self.shape, "dtype": self.dtype.str, "ndim": self.ndim}

    def __setstate__(self, state: dict) -> None:
        self.path, self.shape, self.dtype, self.ndim = state["path"], tuple(state["shape"]), np.dtype(state["dtype"]), state["ndim"]
        self._map = None


def as_dask_array(X: Any, chunk_rows: int | None = None) -> da.Array:
    """X as a 2-D Dask array with one column block: a Dask array (rechunked along the columns
    only), a ``.npy`` path (memory-mapped, read by the tasks), a Zarr array or its path, or any
    array (chunked by ``chunk_rows`` rows, default :data:`DEFAULT_CHUNK_ROWS`)."""
    rows = chunk_rows or DEFAULT_CHUNK_ROWS
    if isinstance(X, (str, os.PathLike)):
        path = os.fspath(X)
        if path.endswith(".npy"):
            X = da.from_array(NpyFile(path), chunks=(rows, -1), meta=np.empty((0, 0), NpyFile(path).dtype))
        else:
            X = da.from_zarr(path)
    elif not isinstance(X, da.Array):
        X = da.from_array(X, chunks=(rows, -1)) if hasattr(X, "shape") else da.from_array(np.asarray(X), chunks=(rows, -1))
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features); received {X.ndim}-D shape {X.shape}")
    if chunk_rows is not None:
        X = X.rechunk({0: chunk_rows})
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X


def _block(x: np.ndarray, model: MLP, classes: bool, threads: int | None) -> np.ndarray:
    """One block's outputs (or classes), computed with ``threads`` compute threads."""
    if len(x) == 0:
        n_out = model.layer_sizes[-1]
        return np.empty((0,), np.int64) if classes else np.empty((0, n_out), model.dtype)
    with num_threads(threads) if threads else contextlib.nullcontext():
        y = model.predict_classes(x) if classes else model.predict(x)
    return np.asarray(y, dtype=np.int64) if classes else y


def _map(model: MLP, X: Any, classes: bool, threads: int | None, chunk_rows: int | None) -> da.Array:
    if not isinstance(model, MLP):
        raise TypeError(f"model must be an mlpkit.MLP; received {type(model).__name__}")
    X = as_dask_array(X, chunk_rows)
    if X.shape[1] != model.layer_sizes[0]:
        raise ValueError(f"X has {X.shape[1]} features; the model takes {model.layer_sizes[0]}")
    if np.dtype(X.dtype).kind not in "fiu":
        raise TypeError(f"X must hold real numbers; received dtype {X.dtype}")
    key = dask.delayed(model, pure=True, traverse=False)  # one key in the graph: sent once per worker
    n_out = model.layer_sizes[-1]
    if classes:
        return da.map_blocks(_block, X, key, True, threads, drop_axis=1, dtype=np.int64, chunks=(X.chunks[0],),
                             meta=np.empty((0,), np.int64))
    return da.map_blocks(_block, X, key, False, threads, dtype=model.dtype, chunks=(X.chunks[0], (n_out,)),
                         meta=np.empty((0, n_out), model.dtype))


def predict(model: MLP, X: Any, *, threads: int | None = 1, chunk_rows: int | None = None) -> da.Array:
    """Lazy ``model.predict`` of every row of X: (n, n_out) in the model dtype, chunked like X's
    rows (``chunk_rows`` rechunks them). ``threads``: compute threads per block (None: the
    process default)."""
    return _map(model, X, False, threads, chunk_rows)


def predict_proba(model: MLP, X: Any, *, threads: int | None = 1, chunk_rows: int | None = None) -> da.Array:
    """The same as :func:`predict` (a softmax model's outputs are its class probabilities)."""
    return _map(model, X, False, threads, chunk_rows)


def predict_classes(model: MLP, X: Any, *, threads: int | None = 1, chunk_rows: int | None = None) -> da.Array:
    """Lazy ``model.predict_classes``: (n,) int64."""
    return _map(model, X, True, threads, chunk_rows)


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - dask without distributed: the local schedulers need no plugin
    WorkerPlugin = object


class WarmUp(WorkerPlugin):
    """A worker plugin: at worker start, compile (or load from the cache) the Numba inference
    kernels for ``dtypes``, so that the first task runs at full speed."""

    name = "mlpkit-warm-up"

    def __init__(self, dtypes: Sequence[str] = ("float32",)) -> None:
        self.dtypes = tuple(dtypes)

    def setup(self, worker: Any) -> None:
        from .backends import available_backends

        if available_backends().get("numba") is None:
            from .backends.numba_backend import warmup

            warmup(self.dtypes)


def warm_up_workers(client: Any, dtypes: Sequence[str] = ("float32",)) -> None:
    """Register :class:`WarmUp` on ``client``'s cluster: every worker, present and future, warms up
    once (returns when the present ones have)."""
    client.register_plugin(WarmUp(dtypes))
