"""CUDA kernels for the CuPy backend, as CUDA C++ sources.

:func:`build` compiles them for a given ``cupy`` module (CuPy compiles on first launch and
caches on disk); this module imports nothing from CuPy itself, so the sources can also be
compiled by ``nvcc`` or, with a small emulation header, by a host C++ compiler (the tests do both).

- :data:`DEVICE_FUNCTIONS`: the activation and its derivative as ``__device__`` templates, one
  definition shared by every kernel below (activation codes: :mod:`mlpkit.kernels.constants`).
- Elementwise kernels, one launch each where array code needs 2-8: bias + activation after a
  cuBLAS product, the activation derivatives, the Adam update; and one reduction for the finite check.
- :data:`FORWARD_ROWS`: the whole network for a small batch in **one launch**: one block per
  row, the row's activations in shared memory, every layer of the packed network
  (:mod:`mlpkit.kernels.packed_rows`) in turn. Each warp computes outputs j, j + warps, ...:
  its 32 lanes stride the contiguous row j of W.T and a shuffle reduction sums them, so the
  weight reads are coalesced. Softmax (any layer) is done by warp 0 with shuffle max and sum.
  Shared memory: 2 * ``cap`` elements, ``cap`` the widest layer input or output. The same
  module holds ``bias_softmax_rows``: bias + softmax after a cuBLAS product, a warp per row, one
  launch where array code needs 6 (bias, max, subtract, exp, sum, divide).
"""

from __future__ import annotations

from .constants import IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, SOFTMAX, STEP, TANH

WARP = 32
#: Threads per block of forward_rows and bias_softmax_rows: 8 warps, so a 50-output layer is
#: 7 outputs per warp, and bias_softmax_rows does 8 rows per block.
BLOCK_THREADS = 256
#: Default dynamic shared memory a block may use without opting in (every CUDA GPU since sm_20).
SHARED_BYTES_MAX = 48 * 1024

DEVICE_FUNCTIONS = f"""
// activation(v) for the elementwise codes; sigmoid only ever exponentiates -|v| (no overflow)
template <typename R>
__device__ __forceinline__ R mlpkit_activate(R v, int code) {{
  switch (code) {{
    case {STEP}: return v > (R)0 ? (R)1 : (R)0;
    case {SIGMOID}: {{ R e = exp(-fabs(v)); return (v >= (R)0 ? (R)1 : e) / ((R)1 + e); }}
    case {TANH}: return tanh(v);
    case {RELU}: return v > (R)0 ? v : (R)0;
    case {LEAKY_RELU}: return v > (R)0 ? v : v * (R){LEAKY_SLOPE!r};
    default: return v;
  }}
}}

// dL/dz from the output a and upstream g = dL/da (softmax excluded: it needs row sums)
template <typename R>
__device__ __forceinline__ R mlpkit_activation_grad(R a, R g, int code) {{
  switch (code) {{
    case {STEP}: return (R)0;
    case {SIGMOID}: return g * a * ((R)1 - a);
    case {TANH}: return g * ((R)1 - a * a);
    case {RELU}: return a > (R)0 ? g : (R)0;
    case {LEAKY_RELU}: return a > (R)0 ? g : g * (R){LEAKY_SLOPE!r};
    default: return g;
  }}
}}
"""

# ElementwiseKernel(in_params, out_params, operation, name) with DEVICE_FUNCTIONS as preamble
BIAS_ACTIVATE = ("T z, raw T b, int32 k, int32 code", "T y", "y = mlpkit_activate(z + b[i % k], code);", "mlpkit_bias_activate")
ACTIVATION_GRAD = ("T a, T g, int32 code", "T d", "d = mlpkit_activation_grad(a, g, code);", "mlpkit_activation_grad")
ADAM = (
    "T g, float64 lr_t, float64 beta1, float64 beta2, float64 eps",
    "T p, T m, T v",
    """
m = (T)(beta1 * m + (1.0 - beta1) * g);
v = (T)(beta2 * v + (1.0 - beta2) * g * g);
p -= (T)(lr_t * m / (sqrt((double)v) + eps));
""",
    "mlpkit_adam",
)
# ReductionKernel(in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name)
ALL_FINITE = ("T x", "bool y", "isfinite(x)", "a && b", "y = a", "true", "mlpkit_all_finite")

FORWARD_ROWS = DEVICE_FUNCTIONS + f"""
#define MLPKIT_WARP {WARP}

template <typename R>
__device__ __forceinline__ R mlpkit_warp_sum(R s) {{
  for (int offset = MLPKIT_WARP / 2; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
  return s;
}}

template <typename R>
__device__ __forceinline__ R mlpkit_warp_max(R s) {{
  for (int offset = MLPKIT_WARP / 2; offset > 0; offset /= 2) s = fmax(s, __shfl_xor_sync(0xffffffffu, s, offset));
  return s;
}}

// Row-wise softmax of v[0..n) in place, by the 32 lanes of one warp.
template <typename R>
__device__ void mlpkit_softmax_warp(R* v, int n, int lane) {{
  R m = v[0];
  for (int j = lane; j < n; j += MLPKIT_WARP) m = fmax(m, v[j]);
  m = mlpkit_warp_max(m);
  R s = (R)0;
  for (int j = lane; j < n; j += MLPKIT_WARP) {{ R e = exp(v[j] - m); v[j] = e; s += e; }}
  s = mlpkit_warp_sum(s);
  for (int j = lane; j < n; j += MLPKIT_WARP) v[j] = v[j] / s;
}}

// out (n, n_out) = the network (buf, meta: mlpkit.kernels.packed_rows) applied to x (n, n_in);
// grid (n,), block (a multiple of 32,), dynamic shared memory 2 * cap * sizeof(R).
template <typename R>
__device__ void mlpkit_forward_rows(const R* __restrict__ x, const R* __restrict__ buf,
                                    const long long* __restrict__ meta, int n_layers, int cap,
                                    R* __restrict__ out) {{
  extern __shared__ __align__(16) unsigned char mlpkit_smem[];
  R* src = reinterpret_cast<R*>(mlpkit_smem);
  R* dst = src + cap;
  const long long row = blockIdx.x;
  const int tid = threadIdx.x, nthreads = blockDim.x;
  const int lane = tid % MLPKIT_WARP, warp = tid / MLPKIT_WARP, nwarps = nthreads / MLPKIT_WARP;
  int n_out = (int)meta[2];  // the width of src: the input's, then each layer's output
  for (int k = tid; k < n_out; k += nthreads) src[k] = x[row * n_out + k];
  __syncthreads();
  for (int l = 0; l < n_layers; ++l) {{
    const long long* m = meta + 5 * l;
    const R* Wt = buf + m[0];
    const R* b = buf + m[1];
    const int n_in = (int)m[2], code = (int)m[4];
    n_out = (int)m[3];
    for (int j = warp; j < n_out; j += nwarps) {{
      const R* w = Wt + (long long)j * n_in;
      R s = (R)0;
      for (int k = lane; k < n_in; k += MLPKIT_WARP) s = fma(w[k], src[k], s);
      s = mlpkit_warp_sum(s) + b[j];
      if (lane == 0) dst[j] = code == {SOFTMAX} ? s : mlpkit_activate(s, code);
    }}
    __syncthreads();
    if (code == {SOFTMAX}) {{
      if (warp == 0) mlpkit_softmax_warp(dst, n_out, lane);
      __syncthreads();
    }}
    R* t = src; src = dst; dst = t;
  }}
  for (int j = tid; j < n_out; j += nthreads) out[row * n_out + j] = src[j];
}}

// z (n, k) <- softmax(z + b) row by row, in place: one warp per row, blockDim / 32 rows per block.
template <typename R>
__device__ void mlpkit_bias_softmax_rows(R* __restrict__ z, const R* __restrict__ b, long long n, int k) {{
  const int lane = threadIdx.x % MLPKIT_WARP;
  const long long row = (long long)blockIdx.x * (blockDim.x / MLPKIT_WARP) + threadIdx.x / MLPKIT_WARP;
  if (row >= n) return;  // the whole warp
  R* v = z + row * k;
  for (int j = lane; j < k; j += MLPKIT_WARP) v[j] += b[j];
  __syncwarp();  // every lane reads v[0] next
  mlpkit_softmax_warp(v, k, lane);
}}

extern "C" __global__ void mlpkit_bias_softmax_rows_float32(float* z, const float* b, long long n, int k) {{
  mlpkit_bias_softmax_rows<float>(z, b, n, k);
}}

extern "C" __global__ void mlpkit_bias_softmax_rows_float64(double* z, const double* b, long long n, int k) {{
  mlpkit_bias_softmax_rows<double>(z, b, n, k);
}}

extern "C" __global__ void mlpkit_forward_rows_float32(const float* x, const float* buf, const long long* meta,
                                                       int n_layers, int cap, float* out) {{
  mlpkit_forward_rows<float>(x, buf, meta, n_layers, cap, out);
}}

extern "C" __global__ void mlpkit_forward_rows_float64(const double* x, const double* buf, const long long* meta,
                                                       int n_layers, int cap, double* out) {{
  mlpkit_forward_rows<double>(x, buf, meta, n_layers, cap, out);
}}
"""

assert IDENTITY == 0  # the switches above rely on identity being the default case


def forward_rows_cap(meta) -> int:
    """Elements of one of the fused forward's two shared-memory buffers: the widest layer input or
    output of ``meta`` (n_layers, 5); the launch needs ``2 * cap * itemsize`` bytes of shared memory."""
    return int(max(meta[:, 2].max(), meta[:, 3].max()))


def build(cupy) -> dict:
    """The kernels, compiled for ``cupy``: ElementwiseKernel / ReductionKernel / RawKernel objects by name."""
    kernels = {
        name: cupy.ElementwiseKernel(*source, preamble=DEVICE_FUNCTIONS)
        for name, source in (("bias_activate", BIAS_ACTIVATE), ("activation_grad", ACTIVATION_GRAD))
    }
    kernels["adam"] = cupy.ElementwiseKernel(*ADAM)
    kernels["all_finite"] = cupy.ReductionKernel(*ALL_FINITE)
    module = cupy.RawModule(code=FORWARD_ROWS)
    for dtype in ("float32", "float64"):
        for name in ("forward_rows", "bias_softmax_rows"):
            kernels[f"{name}_{dtype}"] = module.get_function(f"mlpkit_{name}_{dtype}")
    return kernels
