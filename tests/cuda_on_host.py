"""Test helpers for the CuPy backend without a GPU. NOT GPU coverage.

- :func:`build_host_library`: the CUDA sources of :mod:`mlpkit.kernels.cupy_gpu` compiled by the
  host C++ compiler with ``cuda_host_emulation.h``; ElementwiseKernel bodies run inside loops
  written here that play CuPy's generated wrappers.
- :func:`emulated_kernels`: those host functions behind CuPy's calling conventions, so
  ``CupyOps(kernels=...)`` runs its fused paths with them.
- :func:`stand_in`: NumPy standing in for the ``cupy`` module, recording streams, events,
  pinned allocations and copies in ``xp.calls``.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import subprocess
import threading
import types
from pathlib import Path

import numpy as np

from mlpkit.backends.cupy_backend import CupyOps
from mlpkit.kernels import cupy_gpu

HERE = Path(__file__).resolve().parent
C_TYPES = {"T": "T", "int32": "int", "float64": "double", "bool": "bool"}
ELEMENTWISE = {"bias_activate": cupy_gpu.BIAS_ACTIVATE, "activation_grad": cupy_gpu.ACTIVATION_GRAD, "adam": cupy_gpu.ADAM}
SUFFIXES = (("float", "float32"), ("double", "float64"))


def _params(spec: str):
    """'T z, raw T b, int32 k' -> [(raw, C type, name)]."""
    out = []
    for item in spec.split(","):
        words = item.split()
        out.append((words[0] == "raw", C_TYPES[words[-2]], words[-1]))
    return out


def elementwise_loop(name: str, spec, device: bool) -> str:
    """C++ that plays CuPy's ElementwiseKernel wrapper around the operation in ``spec``: array
    parameters are pointers (inputs loaded, outputs bound by reference), ``i`` the index. On the
    host, a loop and ``extern "C"`` entry points ``emu_<name>_<dtype>``; on the device, a kernel."""
    in_params, out_params, body, _ = spec
    args, loads = [], []
    for raw, ctype, pname in _params(in_params):
        if raw:
            args.append(f"const {ctype}* {pname}")
        elif ctype == "T":
            args.append(f"const T* {pname}_")
            loads.append(f"const T {pname} = {pname}_[i];")
        else:
            args.append(f"{ctype} {pname}")
    for _, ctype, pname in _params(out_params):
        args.append(f"{ctype}* {pname}_")
        loads.append(f"{ctype}& {pname} = {pname}_[i];")
    args.append("long n")
    signature = ", ".join(args)
    inner = " ".join(loads) + "\n" + body
    if device:
        loop = f"long i = blockIdx.x * (long)blockDim.x + threadIdx.x; if (i < n) {{ {inner} }}"
        text = f"template <typename T> __global__ void emu_{name}({signature}) {{ {loop} }}\n"
        return text + "".join(f"template __global__ void emu_{name}<{t}>({signature.replace('T', t)});\n" for t, _ in SUFFIXES)
    text = f"template <typename T> void emu_{name}({signature}) {{ for (long i = 0; i < n; ++i) {{ {inner} }} }}\n"
    names = ", ".join(a.split()[-1] for a in args)
    for t, suffix in SUFFIXES:
        text += f'extern "C" void emu_{name}_{suffix}({signature.replace("T", t)}) {{ emu_{name}<{t}>({names}); }}\n'
    return text


def all_finite_loop() -> str:
    """The ALL_FINITE reduction as a host loop (map, reduce over a and b, post-map)."""
    in_params, out_params, map_expr, reduce_expr, post_map, identity, _ = cupy_gpu.ALL_FINITE
    (_, _, x), (_, _, y) = _params(in_params)[0], _params(out_params)[0]
    text = (f"template <typename T> int emu_all_finite(const T* {x}_, long n) {{ bool a = {identity};"
            f" for (long i = 0; i < n; ++i) {{ const T {x} = {x}_[i]; bool b = ({map_expr}); a = ({reduce_expr}); }}"
            f" bool {y}; {post_map}; return {y}; }}\n")
    for t, suffix in SUFFIXES:
        text += f'extern "C" int emu_all_finite_{suffix}(const {t}* x, long n) {{ return emu_all_finite<{t}>(x, n); }}\n'
    return text


FORWARD_LAUNCHERS = "".join(
    f'extern "C" void emu_forward_rows_{suffix}(unsigned grid, unsigned block, const {t}* x, const {t}* buf,'
    f" const long long* meta, int n_layers, int cap, {t}* out) {{"
    f" emu_launch(grid, block, [=] {{ mlpkit_forward_rows_{suffix}(x, buf, meta, n_layers, cap, out); }}); }}\n"
    f'extern "C" void emu_bias_softmax_rows_{suffix}(unsigned grid, unsigned block, {t}* z, const {t}* b, long long n, int k) {{'
    f" emu_launch(grid, block, [=] {{ mlpkit_bias_softmax_rows_{suffix}(z, b, n, k); }}); }}\n"
    for t, suffix in SUFFIXES
)


def host_compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


def build_host_library(folder: Path) -> ctypes.CDLL:
    """Compile every kernel source for the host into ``folder`` and load it."""
    source = folder / "kernels.cpp"
    parts = ['#include "cuda_host_emulation.h"', cupy_gpu.FORWARD_ROWS, FORWARD_LAUNCHERS, all_finite_loop()]
    parts += [elementwise_loop(name, spec, device=False) for name, spec in ELEMENTWISE.items()]
    source.write_text("\n".join(parts))
    lib = folder / "kernels.so"
    done = subprocess.run([host_compiler(), "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", f"-I{HERE}", str(source), "-o", str(lib)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"the CUDA sources did not compile on the host:\n{done.stderr[-4000:]}"
    return ctypes.CDLL(str(lib))


def ptr(a: np.ndarray):
    assert a.flags.c_contiguous
    return a.ctypes.data_as(ctypes.c_void_p)


def emulated_kernels(lib: ctypes.CDLL, launches: list | None = None) -> dict:
    """The host-compiled kernels behind the calls CupyOps makes on CuPy's kernel objects;
    ``launches`` (if given) receives (kernel name, grid, block, shared_mem) per fused forward."""

    def fn(name, a):
        return getattr(lib, f"emu_{name}_{a.dtype.name}")

    def bias_activate(z, b, k, code, y):
        fn("bias_activate", z)(ptr(z), ptr(b), ctypes.c_int(k), ctypes.c_int(code), ptr(y), ctypes.c_long(y.size))
        return y

    def activation_grad(a, g, code):
        d = np.empty_like(a)
        fn("activation_grad", a)(ptr(a), ptr(g), ctypes.c_int(code), ptr(d), ctypes.c_long(d.size))
        return d

    def adam(g, lr_t, beta1, beta2, eps, p, m, v):
        scalars = (ctypes.c_double(s) for s in (lr_t, beta1, beta2, eps))
        fn("adam", g)(ptr(g), *scalars, ptr(p), ptr(m), ptr(v), ctypes.c_long(p.size))

    def all_finite(x):
        return np.bool_(fn("all_finite", x)(ptr(x), ctypes.c_long(x.size)))

    def forward_rows(dtype):
        def launch(grid, block, args, shared_mem=0):
            x, buf, meta, n_layers, cap, out = args
            assert isinstance(n_layers, np.int32) and isinstance(cap, np.int32)
            assert shared_mem == 2 * int(cap) * out.itemsize and block[0] % 32 == 0
            if launches is not None:
                launches.append((f"forward_rows_{dtype}", grid, block, shared_mem))
            getattr(lib, f"emu_forward_rows_{dtype}")(ctypes.c_uint(grid[0]), ctypes.c_uint(block[0]), ptr(x), ptr(buf), ptr(meta),
                                                      ctypes.c_int(n_layers), ctypes.c_int(cap), ptr(out))
        return launch

    def bias_softmax_rows(dtype):
        def launch(grid, block, args, shared_mem=0):
            z, b, n, k = args
            assert isinstance(n, np.int64) and isinstance(k, np.int32) and shared_mem == 0 and block[0] % 32 == 0
            if launches is not None:
                launches.append((f"bias_softmax_rows_{dtype}", grid, block, shared_mem))
            getattr(lib, f"emu_bias_softmax_rows_{dtype}")(ctypes.c_uint(grid[0]), ctypes.c_uint(block[0]), ptr(z), ptr(b),
                                                           ctypes.c_longlong(n), ctypes.c_int(k))
        return launch

    kernels = {"bias_activate": bias_activate, "activation_grad": activation_grad, "adam": adam, "all_finite": all_finite}
    kernels.update({f"forward_rows_{d}": forward_rows(d) for _, d in SUFFIXES})
    kernels.update({f"bias_softmax_rows_{d}": bias_softmax_rows(d) for _, d in SUFFIXES})
    return {name: on_device(fn) for name, fn in kernels.items()}  # they play device code: NumPy may touch DeviceArrays


# -- NumPy standing in for the cupy module -------------------------------------------------------
class PinnedBytes(bytearray):
    """Host memory from the stand-in's alloc_pinned_memory."""


def is_pinned(a: np.ndarray) -> bool:
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a, PinnedBytes)


_namespace_depth = threading.local()


@contextlib.contextmanager
def _inside_namespace():
    _namespace_depth.n = getattr(_namespace_depth, "n", 0) + 1
    try:
        yield
    finally:
        _namespace_depth.n -= 1


class DeviceArray(np.ndarray):
    """Marks arrays that would live on the GPU; set/get play cupy.ndarray's copies. A NumPy
    function (``np.where``, ``np.concatenate``, ...) given one outside the stand-in namespace
    raises TypeError, as a call that only NumPy could serve: the backend must call ``xp``."""

    log: list = []

    def __array_function__(self, func, types, args, kwargs):
        if not getattr(_namespace_depth, "n", 0):
            raise TypeError(f"numpy.{func.__name__} called on a device array; device code must call xp.{func.__name__}")
        return super().__array_function__(func, types, args, kwargs)

    def set(self, arr, stream=None):
        DeviceArray.log.append(("h2d", "pinned" if is_pinned(arr) else "pageable", stream.name))
        self.view(np.ndarray)[...] = arr

    def get(self, stream=None, out=None, blocking=True):
        DeviceArray.log.append(("d2h", "pinned" if is_pinned(out) else "pageable", stream.name))
        out[...] = self.view(np.ndarray)
        return out


class Stream:
    """Records what the backend asks of a CUDA stream; ``with`` makes it the current one."""

    _current: list = []
    _count = 0

    def __init__(self, non_blocking=False, ptr=None, name=None):
        assert non_blocking is False, "the backend's stream must be a blocking one (ordered with the legacy stream)"
        Stream._count += 1
        self.ptr = Stream._count * 16 if ptr is None else ptr
        self.name = name or f"stream{Stream._count}"

    def record(self):
        DeviceArray.log.append(("record", self.name))
        return types.SimpleNamespace(synchronize=lambda: DeviceArray.log.append(("event_sync", self.name)), stream=self.name)

    def wait_event(self, event):
        DeviceArray.log.append(("wait", self.name, event.stream))

    def synchronize(self):
        DeviceArray.log.append(("sync", self.name))

    def __enter__(self):
        Stream._current.append(self)
        return self

    def __exit__(self, *exc):
        Stream._current.pop()


LEGACY = Stream(ptr=0, name="legacy")

#: The array functions the stand-in namespace offers besides its copies and allocations: each is
#: in CuPy's API (cupy.<name>, same signature and ``out=``). Anything else the backend asks of
#: ``xp`` is an AttributeError, and a NumPy function called on a DeviceArray directly raises
#: (DeviceArray.__array_function__): the shared array code must go through ``xp``.
DEVICE_FUNCTIONS = ("exp", "log", "tanh", "negative", "reciprocal", "maximum", "where", "zeros_like", "isfinite")


def on_device(fn):
    """``fn`` run on the arrays inside DeviceArrays, its array result a DeviceArray again."""

    def call(*args, **kwargs):
        with _inside_namespace():
            out = fn(*args, **kwargs)
        return out.view(DeviceArray) if isinstance(out, np.ndarray) and not isinstance(out, DeviceArray) else out

    call.__name__ = fn.__name__
    return call


def stand_in(kernels: dict | None = None) -> CupyOps:
    """A CupyOps on NumPy; ``ops.xp.calls`` is the shared record of copies and stream calls."""
    DeviceArray.log = log = []

    def dev(a):
        return np.asarray(a).view(DeviceArray)

    def pageable_upload(x, dtype=None):
        if not isinstance(x, DeviceArray):
            log.append(("h2d", "pageable", get_current_stream().name))
        return np.array(x, dtype=dtype)

    def get_current_stream():
        return Stream._current[-1] if Stream._current else LEGACY

    def asnumpy(x):
        log.append(("d2h", "pageable", get_current_stream().name))
        return np.array(x.view(np.ndarray))

    cuda = types.SimpleNamespace(Stream=Stream, get_current_stream=get_current_stream,
                                 alloc_pinned_memory=lambda n: log.append(("alloc_pinned", n)) or PinnedBytes(n))
    xp = types.SimpleNamespace(
        ndarray=DeviceArray, cuda=cuda, calls=log, float64=np.float64,
        empty=on_device(np.empty), zeros=on_device(np.zeros), concatenate=on_device(np.concatenate),
        asarray=on_device(pageable_upload), ascontiguousarray=on_device(np.ascontiguousarray), asnumpy=asnumpy,
        **{name: on_device(getattr(np, name)) for name in DEVICE_FUNCTIONS},
    )
    return CupyOps(xp=xp, device_array=DeviceArray, kernels=kernels)
