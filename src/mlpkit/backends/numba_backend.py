"""Numba backend: the loop kernels of :mod:`mlpkit.kernels.numba_cpu` behind :class:`Ops`.

Arrays are plain NumPy arrays, so conversion and the losses are the shared array code of
:class:`~mlpkit.backends.array_ops.ArrayOps` with ``xp = numpy``; layers, activations and whole-network forwards run compiled loop kernels.

Inference: every network is packed as panels for the micro-kernel variant of this CPU
(:func:`select_isa`); up to :attr:`NumbaOps.fused_max_rows` rows (networks of at most
:attr:`NumbaOps.fused_max_bytes` of weights; one row for bigger ones) go through ``forward_rows``
(one-row micro-kernels, the finite check folded in), larger batches through the register-tiled
panel kernel (:mod:`mlpkit.kernels.numba_gemm`), all layers per block of rows, the rows split
across threads. Training's layer by layer ``dense`` multiplies with BLAS (``x @ W``) and finishes with
the fused bias+activation kernel. The crossovers were measured (see README, "Numba backend: how
batches run").
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from numba import typeof
from numba.core import event

from ..kernels import numba_cpu as K
from ..kernels import numba_gemm as G
from ..kernels.numba_isa import VARIANTS, Isa
from ..kernels.numba_jit import cache_dir
from . import row_scheduler, threads
from .array_ops import ArrayOps
from .base import Layer, Net


ISA_ENV_VAR = "MLPKIT_NUMBA_ISA"


@functools.lru_cache(maxsize=None)
def _entry_points(isa: Isa) -> tuple[Callable, Callable, Callable]:
    """The compiled entry points of one variant, made once per process (kernels.numba_cpu.entry_points)."""
    return K.entry_points(isa)


def cpu_features() -> set[str]:
    """The features Numba compiles for: NUMBA_CPU_FEATURES if set (``+avx2,+fma,...``), else the host's."""
    import llvmlite.binding as llvm
    from numba import config

    if config.CPU_FEATURES:
        return {f[1:] for f in config.CPU_FEATURES.split(",") if f.startswith("+")}
    return {name for name, on in llvm.get_host_cpu_features().items() if on}


def host_isa() -> Isa:
    """The micro-kernel variant for this CPU: AVX-512F -> avx512, AVX2 + FMA -> avx2, else portable."""
    features = cpu_features()
    if "avx512f" in features:
        return VARIANTS["avx512"]
    if {"avx2", "fma"} <= features:
        return VARIANTS["avx2"]
    return VARIANTS["portable"]


def select_isa() -> Isa:
    """``MLPKIT_NUMBA_ISA`` (avx512, avx2, portable; empty or ``auto``: :func:`host_isa`).

    Any variant runs correctly on any CPU (LLVM splits wide vectors), so a forced variant is
    always honoured; only its speed depends on the hardware."""
    raw = os.environ.get(ISA_ENV_VAR, "").strip().lower()
    if raw in ("", "auto"):
        return host_isa()
    if raw not in VARIANTS:
        raise ValueError(f"{ISA_ENV_VAR} must be one of {['auto', *VARIANTS]}; received {os.environ[ISA_ENV_VAR]!r}")
    return VARIANTS[raw]


def describe_isa() -> str:
    """One line for ``mlpkit info`` and the bench header: the variant new networks get, and why."""
    isa = select_isa()
    why = f"forced by {ISA_ENV_VAR}" if os.environ.get(ISA_ENV_VAR, "").strip().lower() not in ("", "auto") else "from the CPU features"
    return (f"micro-kernel {isa.name} ({isa.tile_rows} rows x {isa.panel_vectors} vectors of {isa.vector_bytes} bytes, "
            f"{why}; {ISA_ENV_VAR}=avx512|avx2|portable overrides)")


class _CompileNotice(event.Listener):
    """Writes one line when the first mlpkit kernel starts compiling (not on cache loads)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.said = False

    def on_start(self, ev) -> None:
        if not self.said and ev.data["dispatcher"].py_func.__module__.startswith("mlpkit.kernels"):
            self.said = True
            self.write(f"mlpkit: compiling the Numba kernels for this CPU ({select_isa().name}); once per "
                       f"kernel, cached in {cache_dir()} ('mlpkit warmup' compiles them ahead)")

    def on_end(self, ev) -> None:
        pass


_notice: _CompileNotice | None = None


def announce_compiles(write: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> None:
    """Say once per process, through ``write``, when mlpkit's kernels are being compiled (the CLI
    calls this; a library import stays silent)."""
    global _notice
    if _notice is None:
        _notice = _CompileNotice(write)
        event.register("numba:compile", _notice)


def warmup(dtypes: Sequence[str] = ("float32", "float64"), isa: Isa | None = None) -> list[tuple[str, float]]:
    """Compile (or load from the cache) every inference kernel for ``dtypes`` and the variant
    ``isa`` (default :func:`select_isa`): single sample, small batch, batch. Returns
    (what, seconds) per kernel."""
    isa = isa or select_isa()
    panels_kernel, rows_kernel, one_kernel = _entry_points(isa)
    timings = []
    for dtype in dtypes:
        rng = np.random.default_rng(0)
        layers = [Layer(rng.random((4, 3)).astype(dtype), np.zeros(3, dtype), "sigmoid"),
                  Layer(rng.random((3, 2)).astype(dtype), np.zeros(2, dtype), "softmax")]
        net = pack(layers, isa)
        x = rng.random((isa.tile_rows + 1, 4)).astype(dtype)
        out = np.empty((len(x), 2), dtype)
        for what, kernel, xs, o in [("single sample", one_kernel, x[0], out[0]), ("small batch", rows_kernel, x[:2], out[:2]),
                                    ("batch", panels_kernel, x, out)]:
            start = time.perf_counter()
            kernel(xs, net.panels, net.panel_meta, o)
            timings.append((f"{dtype} {what}", time.perf_counter() - start))
    return timings


def kernel_peak_gflops(dtype: str = "float32", repeats: int = 5) -> tuple[float, str]:
    """GFLOP/s of the panel micro-kernel on operands that stay in cache (40 tiles of rows x 256 @
    256 x 512), one thread, best of ``repeats``: what the FMA units sustain here. The variant is
    this CPU's own (:func:`host_isa`), not a forced one: a peak is the machine's. Returns
    (GFLOP/s, a description)."""
    isa = host_isa()
    rng = np.random.default_rng(0)
    n_rows, n_in, n_out = 40 * isa.tile_rows, 256, 512
    x = rng.random((n_rows, n_in)).astype(dtype)
    net = pack([Layer(rng.random((n_in, n_out)).astype(dtype), np.zeros(n_out, dtype), "identity")], isa)
    z = np.empty((n_rows, int(net.panel_meta[0, 4])), dtype)
    K.dense_panels(x, n_rows, net.panels, net.panel_meta[0], z, isa)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(20):
            K.dense_panels(x, n_rows, net.panels, net.panel_meta[0], z, isa)
        best = min(best, (time.perf_counter() - start) / 20)
    return 2 * n_rows * n_in * n_out / best / 1e9, f"mlpkit's {isa.name} micro-kernel, {n_rows}x{n_in} @ {n_in}x{n_out} {dtype} in cache"


class _Alias:
    """Exposes an array's memory through ``__array_interface__`` with the read-only flag off,
    and keeps the array alive while the alias exists."""

    def __init__(self, array: np.ndarray) -> None:
        iface = dict(array.__array_interface__)
        iface["data"] = (iface["data"][0], False)
        self.__array_interface__ = iface
        self.base = array


def _writable_alias(array: np.ndarray) -> np.ndarray:
    """A writable view of a read-only C-contiguous array's memory, for kernels that only read it."""
    return np.asarray(_Alias(array))


@dataclass(frozen=True)
class PackedNet(Net):
    """A network laid out for the panel kernels (see :mod:`mlpkit.kernels.numba_gemm`)."""

    panels: np.ndarray  # every layer as panels (numba_gemm.pack_panels), end to end
    panel_meta: np.ndarray  # (n_layers, 8) int64: the columns of numba_gemm.META_COLUMNS
    n_out: int  # outputs of the last layer
    isa: Isa  # the micro-kernel variant the panels are laid out for
    batch_kernel: Callable  # forward_panels for that variant: (x, panels, meta, out) -> finite
    rows_kernel: Callable  # forward_rows for that variant, same arguments
    one_kernel: Callable  # forward_rows of one sample: x (in,), out (n_out,)


def pack(layers: Sequence[Layer], isa: Isa) -> PackedNet:
    """Copy every layer into the panel buffer for ``isa``, with its ``panel_meta``."""
    panel_parts, panel_rows, panel_offset = [], [], 0
    for layer in layers:
        n_in, n_out = layer.W.shape
        panel_parts.append(G.pack_panels(layer.W, layer.b, isa))
        dt = layer.W.dtype
        plan = G.panel_plan(n_in, n_out, dt, isa)
        code = K.ACTIVATION_CODES[layer.activation]
        panel_rows.append((panel_offset, n_in, n_out, code, G.z_width(n_in, n_out, dt, isa), *plan))
        panel_offset += panel_parts[-1].size
    batch_kernel, rows_kernel, one_kernel = _entry_points(isa)
    return PackedNet(
        layers=tuple(layers),
        panels=G.concatenate_aligned(panel_parts),
        panel_meta=np.array(panel_rows, dtype=np.int64).reshape(-1, G.META_COLUMNS),
        n_out=int(layers[-1].W.shape[1]),
        isa=isa,
        batch_kernel=batch_kernel,
        rows_kernel=rows_kernel,
        one_kernel=one_kernel,
    )


class NumbaOps(ArrayOps):
    """Compiled loop kernels (Numba ``@njit``), serial and ``nogil``; BLAS only for training's layer products."""

    name = "numba"
    xp = np
    #: The panel kernel blocks rows itself (48 at a time), so chunks only amortise the per-call
    #: and thread hand-off costs (M1, batch 4096, 2 threads: 866k samples/s in 1024-row chunks,
    #: 1030k in one). Activations are per block: memory does not grow with the chunk.
    chunk_rows = 4096
    #: Batches of at most this many rows (and single samples) run ``forward_rows`` (one-row
    #: micro-kernels), larger ones the panel kernel, whose cost is flat up to one tile of rows;
    #: for a network of more than :attr:`fused_max_bytes` of packed weights, only single rows.
    #: The one-row kernels read every weight once per row: from L2 for M1 (177 KiB), from L3
    #: for M2 (2.7 MB). Rows-kernel time / panel-kernel time, M1 / M2, 1 thread: AMD EPYC Zen 5
    #: (12 x 2 tile) 1 row 0.26 / 0.42, 2 rows 0.41 / 0.89, 3 rows 0.59 / 1.23; Intel Xeon
    #: (AVX-512, 8 x 3 tile) 1 row 0.35 / 0.82, 2 rows 0.61 / 1.64, 3 rows 0.89 / 2.43.
    fused_max_rows = 2
    fused_max_bytes = 1 << 20
    #: Single layers (``affine``/``dense``, training) of at most this many rows run the fused
    #: loop kernel ``affine_act``, larger ones BLAS (M1 4 rows: 26 vs 31 us; 8 rows: 50 vs 33).
    layer_max_rows = 4

    def __init__(self) -> None:
        threads.sync_numba()

    def asarray(self, x: Any, dtype: str) -> np.ndarray:
        """As NumPy's; a read-only result (a memory-mapped ``.npy`` opened read-only, a broadcast
        view) comes back as a writable alias of the same memory, which the kernels only read:
        Numba types read-only arrays apart, and would compile every kernel a second time for
        them (3-5 s per process where no cache is writable)."""
        out = super().asarray(x, dtype)
        return out if out.flags.writeable else _writable_alias(out)

    def all_finite(self, x: Any) -> bool:
        return bool(K.all_finite(x.reshape(-1)))

    def affine(self, x: Any, W: Any, b: Any) -> np.ndarray:
        if x.shape[0] <= self.layer_max_rows:
            return K.affine_act(x, W, b, K.IDENTITY)
        return super().affine(x, W, b)

    def activation(self, name: str, z: Any) -> np.ndarray:
        return K.activation(z, K.ACTIVATION_CODES[name])

    def activation_grad(self, name: str, a: Any, upstream: Any) -> np.ndarray:
        return K.activation_grad(a, upstream, K.ACTIVATION_CODES[name])

    def dense(self, x: Any, W: Any, b: Any, activation: str) -> np.ndarray:
        code = K.ACTIVATION_CODES[activation]
        if x.shape[0] <= self.layer_max_rows:
            return K.affine_act(x, W, b, code)
        z = x.dot(W)
        K.bias_act_inplace(z, b, code)
        return z

    def softmax_cross_entropy(self, z, t):
        loss, delta, correct = K.softmax_cross_entropy(z, t)
        return float(loss), delta, int(correct)

    def adam_update(self, p, g, m, v, lr_t, beta1, beta2, eps) -> None:
        K.adam_update(p, g, m, v, lr_t, beta1, beta2, eps)

    def sgd_update(self, p, g, lr) -> None:
        K.sgd_update(p, g, lr)

    def prepare(self, layers: Sequence[Layer]) -> PackedNet:
        return pack(layers, select_isa())

    def forward(self, x: Any, net: PackedNet) -> np.ndarray:
        return self.forward_finite(x, net)[0]

    def forward_finite(self, x: Any, net: PackedNet) -> tuple[np.ndarray, bool]:
        """Checks the first layer's pre-activations inside the kernel (no separate pass over x)."""
        out = np.empty((x.shape[0], net.n_out), dtype=net.panels.dtype)
        rows = x.shape[0]
        if rows <= self.fused_max_rows and (rows == 1 or net.panels.nbytes <= self.fused_max_bytes):
            return out, net.rows_kernel(x, net.panels, net.panel_meta, out)
        kernel = net.batch_kernel
        finite = row_scheduler.parallel_rows(
            x.shape[0], net.flops_per_row, lambda a, b: kernel(x[a:b], net.panels, net.panel_meta, out[a:b])
        )
        return out, all(finite)

    def forward_one(self, x: Any, net: PackedNet) -> np.ndarray:
        return self.forward_one_finite(x, net)[0]

    def forward_one_finite(self, x: Any, net: PackedNet) -> tuple[np.ndarray, bool]:
        out = np.empty(net.n_out, dtype=net.panels.dtype)
        status = net.one_kernel(x, net.panels, net.panel_meta, out)
        if status == K.ONE_WRONG_LENGTH:
            raise ValueError(f"one sample must have {net.panel_meta[0, 1]} features; received shape {x.shape}")
        return out, status == K.ONE_FINITE

    def one_sample_path(self, net: PackedNet) -> Callable[[Any, bool], np.ndarray | None]:
        """The one-sample kernel behind the checks it needs, for a 1-D NumPy vector of the model
        dtype, C-contiguous, aligned and writable (another type would make Numba compile the
        kernel again for it; a read-only one is typed apart); every other input takes predict's
        general path. The kernel checks the length itself.

        Once the kernel exists for these types, the shortcut calls its compiled entry point
        (:func:`_compiled_for`) instead of the dispatcher, which would only type the four arrays
        again: 0.20 us less a call (AMD EPYC Zen 2), safe because the checks above are exactly
        what the entry point assumes. Measured per call (M1, float32): about 1.5 us less than
        the general path on an Intel Xeon; these checks cost 0.25 us where comparing the shape
        and strides tuples took 0.43 us (AMD EPYC Zen 2)."""
        kernel, panels, meta, n_out = net.one_kernel, net.panels, net.panel_meta, net.n_out
        dtype, empty, ndarray = panels.dtype, np.empty, np.ndarray
        finite, not_finite = K.ONE_FINITE, K.ONE_NOT_FINITE
        vector = empty(n_out, dtype)  # the types the checks admit: x and out alike
        call = _compiled_for(kernel, (vector, panels, meta, vector)) or kernel

        def run(x: Any, check_finite: bool) -> np.ndarray | None:
            nonlocal call
            # x.flags.carray: C-contiguous, aligned and writeable (88 ns; the three apart 167)
            if type(x) is not ndarray or x.dtype is not dtype or x.ndim != 1 or not x.flags.carray:
                return None
            out = empty(n_out, dtype)
            status = call(x, panels, meta, out)
            if call is kernel:  # the first call compiled it (or loaded it from the cache)
                call = _compiled_for(kernel, (x, panels, meta, out)) or kernel
            return out if status == finite or (status == not_finite and not check_finite) else None

        return run


def _compiled_for(dispatcher: Any, args: tuple) -> Callable | None:
    """The compiled entry point of ``dispatcher`` for exactly the Numba types of ``args``, or
    None while it has not been compiled (or loaded) for them. It converts its arguments without
    checking their types: callers check them first."""
    compiled = dispatcher.overloads.get(tuple(typeof(a) for a in args))
    return getattr(compiled, "entry_point", None)
