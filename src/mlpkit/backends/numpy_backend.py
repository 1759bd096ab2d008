"""NumPy backend: the shared array code of :class:`~mlpkit.backends.array_ops.ArrayOps` with
``xp = numpy``, BLAS for the matrix products, plus what is NumPy's own: a faster finite
check, the finite probe on the first layer's pre-activations, and a large batch's forward in
row parts on mlpkit's pool with BLAS held at one thread.

Why the parts: OpenBLAS splits each product statically over its threads, and on the thin
products of an MLP (M1: 4096 x 784 @ 784 x 50) its 2 threads ran a 4096-row predict 1.22x its
1-thread speed, and 0.54x with one of the 2 cores busy with another process (AMD EPYC Zen 2).
Whole-network parts of 1024 rows on 2 workers, taken as they finish, ran it 1.76x when idle and
1.0x under that load. The parts' bounds depend on the batch alone
(:func:`~mlpkit.backends.row_scheduler.fixed_row_parts`), and a batch under two grains is one
part, still with BLAS held at one thread: a row's result does not change with the thread
count or with what other threads do. That gives up OpenBLAS's own 2 threads on batches of
128-512 M1 rows (they ran 0.71-0.75x as fast held, when idle); with one core busy those fell
to 0.53-0.64x the 1-thread speed, held ones run 0.93-0.99x.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from . import blas_pools, row_scheduler, threads
from .array_ops import ArrayOps, LayerNet


class NumpyOps(ArrayOps):
    """Reference backend: plain vectorised NumPy, BLAS for the matrix products."""

    name = "numpy"
    xp = np
    #: predict's chunk: one hold of BLAS and one hand-out of parts per 4096 rows
    chunk_rows = 4096
    #: rows per part: 1024 ran M1 8% faster than one 4096-row pass (activations stay in cache)
    part_rows = 1024

    def all_finite(self, x: Any) -> bool:
        # v.v is finite iff every v_i is, unless large finite values overflow: then check exactly.
        # One BLAS dot and math.isfinite: 0.8 us for 784 floats vs 2.1 us for isfinite(x).all().
        # (x . 0 would never overflow, but Inf * 0 raises NumPy's "invalid value" warning.)
        v = x if x.ndim == 1 else x.reshape(-1)
        return math.isfinite(v.dot(v)) or bool(np.isfinite(v).all())

    forward_one = ArrayOps.forward  # NumPy's ufuncs handle (in,) as they do (n, in)

    def forward(self, x: Any, net: LayerNet) -> np.ndarray:
        return self._in_parts(x, net, lambda rows: (ArrayOps.forward(self, rows, net), True))[0]

    def forward_finite(self, x: Any, net: LayerNet) -> tuple[np.ndarray, bool]:
        return self._in_parts(x, net, lambda rows: self._rows_finite(rows, net))

    def _rows_finite(self, x: Any, net: LayerNet) -> tuple[np.ndarray, bool]:
        """The probe scans the first layer's pre-activations: n_out instead of n_in values per row.
        No RuntimeWarning on the way: non-finite values are reported by the probe instead."""
        (W, b, act), rest = net.steps[0], net.steps[1:]
        with np.errstate(over="ignore", invalid="ignore"):
            z = self.affine(x, W, b)
            finite = self.all_finite(z)
            return self.through(act(np, z), rest), finite  # under this errstate: no second one (~0.9 us)

    def _in_parts(self, x: Any, net: LayerNet, rows: Callable[[Any], tuple[np.ndarray, bool]]) -> tuple[np.ndarray, bool]:
        """``rows`` (x (m, in) -> (y (m, out), finite)) over the row parts of x (n, in) with BLAS
        held at one thread, on as many workers as mlpkit's limit and the BLAS count allow: a
        batch gets the same bits at any thread count and while another thread holds BLAS (a
        small batch too: OpenBLAS's 2-thread sgemm rounds unlike its 1-thread one from 32 rows
        up). Where the hold cannot cover other threads (no threadpoolctl, a per-thread OpenMP
        BLAS) the parts run one after another on the calling thread."""
        n = len(x)
        if n * net.flops_per_row < 2 * row_scheduler.GRAIN_FLOPS:  # one part
            if threads.process_limit() == 1:  # mlpkit set BLAS to one thread: nothing to hold (~6 us)
                return rows(x)
            with blas_pools.single_thread_blas():
                return rows(x)
        parts = row_scheduler.fixed_row_parts(n, net.flops_per_row, self.part_rows)
        run = lambda a, b: rows(x[a:b])  # noqa: E731
        with blas_pools.single_thread_blas() as hold:
            done = row_scheduler.run_parts(parts, run, min(threads.compute_threads(), hold.threads))
        return np.concatenate([y for y, _ in done]), all(finite for _, finite in done)
