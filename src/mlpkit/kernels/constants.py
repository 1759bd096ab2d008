"""Numerical constants shared by every backend's kernels (one definition each)."""

from .activations import CODES, LEAKY_SLOPE  # noqa: F401  (LEAKY_SLOPE re-exported)

#: The from-scratch cross-entropy adds this to probabilities before taking the log.
CROSS_ENTROPY_EPS = 1e-7

#: Integer codes the compiled kernels (Numba, CUDA) switch on, from the activation table; module
#: constants so that compiled code reads them as compile-time constants.
ACTIVATION_CODES = dict(CODES)
IDENTITY, STEP, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = (
    CODES[name] for name in ("identity", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
)
