"""CUDA kernels for the CuPy backend, as CuPy ``ElementwiseKernel`` sources.

:func:`build` compiles them for a given ``cupy`` module (CuPy compiles on first launch and
caches on disk); this module imports nothing from CuPy itself. Each kernel fuses what would
otherwise be several launches: bias + activation (one launch instead of 2-5), the activation
derivatives, and the whole Adam update (one launch instead of ~8). Activation codes are those of
:mod:`mlpkit.kernels.constants`; softmax is row-wise and done by the backend with reductions.
"""

from __future__ import annotations

from .constants import LEAKY_SLOPE

# v -> activation(v) for the elementwise codes; sigmoid only ever exponentiates -|v| (no overflow)
_ACTIVATE = f"""
switch (code) {{
  case 1: v = v > (T)0 ? (T)1 : (T)0; break;
  case 2: {{ T e = exp(-fabs(v)); v = (v >= (T)0 ? (T)1 : e) / ((T)1 + e); }} break;
  case 3: v = tanh(v); break;
  case 4: v = v > (T)0 ? v : (T)0; break;
  case 5: v = v > (T)0 ? v : v * (T){LEAKY_SLOPE!r}; break;
  default: break;
}}
"""

BIAS_ACTIVATE = ("T z, raw T b, int32 k, int32 code", "T y", "T v = z + b[i % k];" + _ACTIVATE + "y = v;", "mlpkit_bias_activate")

# dL/dz from the output a and upstream g (softmax excluded: it needs row sums)
ACTIVATION_GRAD = (
    "T a, T g, int32 code",
    "T d",
    f"""
switch (code) {{
  case 1: d = (T)0; break;
  case 2: d = g * a * ((T)1 - a); break;
  case 3: d = g * ((T)1 - a * a); break;
  case 4: d = a > (T)0 ? g : (T)0; break;
  case 5: d = a > (T)0 ? g : g * (T){LEAKY_SLOPE!r}; break;
  default: d = g; break;
}}
""",
    "mlpkit_activation_grad",
)

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


def build(cupy):
    """The kernels, compiled for ``cupy``: a dict of ElementwiseKernel objects."""
    return {
        name: cupy.ElementwiseKernel(*source)
        for name, source in (("bias_activate", BIAS_ACTIVATE), ("activation_grad", ACTIVATION_GRAD), ("adam", ADAM))
    }
