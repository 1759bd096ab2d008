"""One thread's CUDA stream and page-locked staging buffers, for the CuPy backend.

Why (numbers to be confirmed by ``mlpkit selftest --backend cupy`` on a GPU):

- A copy from pageable host memory is synchronous: the driver stages it through its own pinned
  buffer. From page-locked memory ``cudaMemcpyAsync`` returns at once, so a small predict queues
  upload, kernel and download without waiting, and waits once, at the end. Small copies therefore
  go through two reusable pinned buffers (input, output); the cast to the model dtype is the
  copy into the input buffer, so it costs no extra pass.
- Large copies stay pageable: copying megabytes into a pinned buffer first costs about what the
  driver's pipelined pageable copy costs, so it would not pay without overlapping chunks.
- The stream is the backend's own, **blocking** one (not ``non_blocking``): work on CuPy's legacy
  default stream (training, or arrays the caller made there) is ordered with it by CUDA itself.
  When the caller works on another stream, :meth:`Staging.scope` orders the two with events, both
  ways, without waiting on the host: device input is read after the caller's queued work, and
  the caller's later work sees the result.

Each thread gets its own :class:`Staging` (the buffers are reused, so threads must not share them).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

MIN_BUFFER_BYTES = 4096


class Staging:
    """A stream and two growable page-locked buffers ("in", "out") for one thread."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self.stream = xp.cuda.Stream(non_blocking=False)
        self._buffers: dict[str, np.ndarray] = {}
        self._upload_done = None  # event recorded after the last copy out of the "in" buffer

    def _buffer(self, kind: str, nbytes: int) -> np.ndarray:
        """At least ``nbytes`` of pinned memory as a uint8 array; grows by doubling, never shrinks."""
        buf = self._buffers.get(kind)
        if buf is None or buf.nbytes < nbytes:
            size = max(nbytes, MIN_BUFFER_BYTES, 2 * (0 if buf is None else buf.nbytes))
            buf = np.ndarray((size,), np.uint8, buffer=self.xp.cuda.alloc_pinned_memory(size))
            self._buffers[kind] = buf
        return buf

    def upload(self, x: np.ndarray, dtype: str) -> Any:
        """x cast to ``dtype`` -> a new C-contiguous device array, copied asynchronously on the stream."""
        shape, dtype = x.shape, np.dtype(dtype)
        nbytes = x.size * dtype.itemsize
        if self._upload_done is not None:
            self._upload_done.synchronize()  # the previous upload has left the buffer
        host = self._buffer("in", nbytes)[:nbytes].view(dtype).reshape(shape)
        np.copyto(host, x, casting="unsafe")
        dev = self.xp.empty(shape, dtype)
        dev.set(host, stream=self.stream)
        self._upload_done = self.stream.record()
        return dev

    def download(self, y: Any) -> np.ndarray:
        """C-contiguous device array -> a new NumPy array; one wait for the whole stream."""
        host = self._buffer("out", y.nbytes)[: y.nbytes].view(y.dtype).reshape(y.shape)
        y.get(stream=self.stream, out=host, blocking=False)
        self.stream.synchronize()
        return host.copy()

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Issue the enclosed work on this stream, ordered after and before the caller's stream."""
        caller = self.xp.cuda.get_current_stream()
        if caller.ptr == self.stream.ptr:  # nested (fit -> evaluate -> predict)
            yield
            return
        handshake = caller.ptr != 0  # 0: the legacy default stream, already ordered with ours
        if handshake:
            self.stream.wait_event(caller.record())
        try:
            with self.stream:
                yield
        finally:
            if handshake:
                caller.wait_event(self.stream.record())
