"""The CuPy backend's CUDA C++ sources, checked without a GPU. NOT GPU coverage.

- ``test_cuda_source_on_host_*``: the kernel sources of :mod:`mlpkit.kernels.cupy_gpu` compiled by
  the host C++ compiler with ``cuda_host_emulation.h`` (blocks in turn, a block's threads as real
  threads, barriers for ``__syncthreads``, per-warp slots for shuffles) and run against the
  float64 reference. This checks their arithmetic and indexing; the ElementwiseKernel bodies run
  inside a loop written here that plays CuPy's generated wrapper.
- ``test_cuda_source_compiles_with_nvcc``: the same sources compiled to sm_80 machine code by nvcc.

What only a GPU can confirm (``pytest -m gpu``, ``mlpkit selftest --backend cupy``): that CuPy
compiles and launches them as intended, and their results and speed on a device.
"""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

import cuda_on_host
import reference as ref
from cuda_on_host import ELEMENTWISE, elementwise_loop
from mlpkit.kernels import cupy_gpu
from mlpkit.kernels.constants import ACTIVATION_CODES
from mlpkit.kernels.packed_rows import pack_rows

def _ptr(a):
    return cuda_on_host.ptr(np.ascontiguousarray(a))


def _network(rng, sizes, activations, dtype):
    weights = [rng.normal(0, 1 / np.sqrt(i), size=(i, o)).astype(dtype) for i, o in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.5, size=o).astype(dtype) for o in sizes[1:]]
    return weights, biases, activations


def _reference_forward(x, weights, biases, activations):
    a = ref.f64(x)
    for W, b, act in zip(weights, biases, activations):
        a = ref.ACTIVATIONS[act](a @ ref.f64(W) + ref.f64(b))
    return a


def _run_forward(cuda_host_lib, x, weights, biases, activations, block):
    buf, meta = pack_rows(weights, biases, [ACTIVATION_CODES[a] for a in activations])
    dtype = np.dtype(weights[0].dtype).name
    out = np.full((len(x), weights[-1].shape[1]), np.nan, dtype=dtype)
    getattr(cuda_host_lib, f"emu_forward_rows_{dtype}")(
        ctypes.c_uint(len(x)), ctypes.c_uint(block), _ptr(np.ascontiguousarray(x, dtype)), _ptr(buf), _ptr(meta),
        ctypes.c_int(len(meta)), ctypes.c_int(cupy_gpu.forward_rows_cap(meta)), _ptr(out))
    return out


TOL = {"float32": 2e-5, "float64": 1e-12}  # relative to 1 + |reference|


def _assert_close(got, expect, dtype):
    err = np.max(np.abs(ref.f64(got) - expect) / (TOL[dtype] * (1 + np.abs(expect))))
    assert err <= 1, f"max error {err:.2f} x tolerance"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("block", [32, 96, cupy_gpu.BLOCK_THREADS])
def test_cuda_source_on_host_forward_rows_every_activation(cuda_host_lib, dtype, block):
    rng = np.random.default_rng(7)
    for hidden in ACTIVATION_CODES:
        w, b, acts = _network(rng, [33, 17, 40, 5], [hidden, hidden, "softmax"], dtype)
        x = rng.normal(size=(3, 33)).astype(dtype)
        expect = _reference_forward(x, w, b, acts)
        _assert_close(_run_forward(cuda_host_lib, x, w, b, acts, block), expect, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_source_on_host_forward_rows_widths_around_the_warp(cuda_host_lib, dtype):
    """Layer widths below, at and above 32 lanes and 2 warps; a hidden softmax wider than a warp;
    a single output; the classic 784-50-100-10 shape."""
    rng = np.random.default_rng(3)
    cases = [
        ([3, 1], ["sigmoid"]),
        ([31, 32, 33, 1], ["tanh", "relu", "identity"]),
        ([65, 70, 64, 7], ["softmax", "leaky_relu", "softmax"]),
        ([784, 50, 100, 10], ["sigmoid", "sigmoid", "softmax"]),
    ]
    for sizes, acts in cases:
        w, b, acts = _network(rng, sizes, acts, dtype)
        x = rng.normal(size=(4, sizes[0])).astype(dtype)
        _assert_close(_run_forward(cuda_host_lib, x, w, b, acts, 64), _reference_forward(x, w, b, acts), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_source_on_host_bias_softmax_rows(cuda_host_lib, dtype):
    """Rows not a multiple of the 8 per block; widths below, at and above the warp."""
    rng = np.random.default_rng(11)
    for n, k in ((1, 1), (9, 10), (17, 32), (5, 70)):
        z = rng.normal(0, 4, size=(n, k)).astype(dtype)
        b = rng.normal(size=k).astype(dtype)
        expect = ref.softmax(ref.f64(z) + ref.f64(b))
        grid = (n + 7) // 8
        getattr(cuda_host_lib, f"emu_bias_softmax_rows_{dtype}")(ctypes.c_uint(grid), ctypes.c_uint(cupy_gpu.BLOCK_THREADS), _ptr(z), _ptr(b),
                                                                 ctypes.c_longlong(n), ctypes.c_int(k))
        _assert_close(z, expect, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_source_on_host_elementwise_kernels(cuda_host_lib, dtype):
    rng = np.random.default_rng(5)
    z = rng.normal(0, 3, size=(6, 7)).astype(dtype)
    b = rng.normal(size=7).astype(dtype)
    z[0, :3] = [0.0, -0.0, 40.0]
    z[1, :2] = [-800.0, 800.0]  # sigmoid must not overflow
    for act, code in ACTIVATION_CODES.items():
        if act == "softmax":
            continue
        y = np.empty_like(z)
        getattr(cuda_host_lib, f"emu_bias_activate_{dtype}")(_ptr(z), _ptr(b), ctypes.c_int(7), ctypes.c_int(code), _ptr(y), ctypes.c_long(z.size))
        expect = ref.ACTIVATIONS[act](ref.f64(z) + ref.f64(b))
        _assert_close(y, expect, dtype)
        a = expect.astype(dtype)
        g = rng.normal(size=z.shape).astype(dtype)
        d = np.empty_like(z)
        getattr(cuda_host_lib, f"emu_activation_grad_{dtype}")(_ptr(a), _ptr(g), ctypes.c_int(code), _ptr(d), ctypes.c_long(z.size))
        zb = ref.f64(z) + ref.f64(b)
        mask = np.abs(zb) < 30  # from a saturated output the derivative is 0 in both, by a different road
        _assert_close(d[mask], ref.activation_grad(act, zb, g)[mask], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_source_on_host_adam_and_all_finite(cuda_host_lib, dtype):
    from mlpkit.backends.array_ops import ArrayOps

    rng = np.random.default_rng(9)
    p, g, m, v = (rng.normal(size=50).astype(dtype) for _ in range(4))
    v = np.abs(v)
    expect = [a.astype(np.float64) for a in (p, g, m, v)]
    ArrayOps.adam_update(None, expect[0], expect[1], expect[2], expect[3], 0.01, 0.9, 0.999, 1e-7)
    getattr(cuda_host_lib, f"emu_adam_{dtype}")(_ptr(g), ctypes.c_double(0.01), ctypes.c_double(0.9), ctypes.c_double(0.999), ctypes.c_double(1e-7),
                              _ptr(p), _ptr(m), _ptr(v), ctypes.c_long(p.size))
    for got, want in zip((p, m, v), (expect[0], expect[2], expect[3])):
        _assert_close(got, want, dtype)
    finite = getattr(cuda_host_lib, f"emu_all_finite_{dtype}")
    x = np.ones(100, dtype)
    assert finite(_ptr(x), ctypes.c_long(100)) == 1
    for bad in (np.nan, np.inf, -np.inf):
        x[57] = bad
        assert finite(_ptr(x), ctypes.c_long(100)) == 0
        x[57] = 1


def _device_sources() -> str:
    """Every kernel source as CUDA: the fused forward, the elementwise bodies in kernels that play
    CuPy's wrapper, and the finite check's map expression."""
    parts = [cupy_gpu.FORWARD_ROWS] + [elementwise_loop(name, spec, device=True) for name, spec in ELEMENTWISE.items()]
    map_expr = cupy_gpu.ALL_FINITE[2]
    parts.append(f"template <typename T> __global__ void emu_all_finite_map(const T* x_, bool* out) {{ const T x = x_[threadIdx.x]; out[threadIdx.x] = {map_expr}; }}\n"
                 "template __global__ void emu_all_finite_map<float>(const float*, bool*);\n"
                 "template __global__ void emu_all_finite_map<double>(const double*, bool*);\n")
    return "\n".join(parts)


def test_cuda_source_compiles_with_nvcc(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc (the CUDA toolkit) is not on PATH; the GPU run compiles these sources through CuPy instead")
    source = tmp_path / "kernels.cu"
    source.write_text(_device_sources())
    done = subprocess.run([nvcc, "-arch=sm_80", "-cubin", "-Werror", "all-warnings", str(source), "-o", str(tmp_path / "k.cubin")],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"nvcc rejected the CUDA sources:\n{done.stderr[-4000:]}"
    assert (tmp_path / "k.cubin").stat().st_size > 0


def test_cuda_source_compiles_with_nvrtc():
    """NVRTC is the compiler CuPy itself uses (no device needed); the options are CuPy's."""
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # CuPy not installed, or no libnvrtc
        pytest.skip(f"NVRTC through CuPy is not usable here ({type(exc).__name__}: {str(exc).splitlines()[0]})")
    prog = nvrtc.createProgram(_device_sources(), "kernels.cu", [], [])
    try:
        nvrtc.compileProgram(prog, ["-arch=compute_80", "--device-as-default-execution-space"])
    except Exception as exc:
        pytest.fail(f"NVRTC rejected the CUDA sources: {exc}\n{nvrtc.getProgramLog(prog)[-4000:]}")
    assert len(nvrtc.getPTX(prog)) > 0
