"""Numerical constants shared by every backend's kernels (one definition each)."""

#: Negative-side slope of ``leaky_relu`` (the PyTorch and ONNX default).
LEAKY_SLOPE = 0.01
#: The from-scratch cross-entropy adds this to probabilities before taking the log.
CROSS_ENTROPY_EPS = 1e-7

#: Integer codes the compiled kernels (Numba, CUDA) use for the activations.
IDENTITY, STEP, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = range(7)
ACTIVATION_CODES = {
    "identity": IDENTITY,
    "step": STEP,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "softmax": SOFTMAX,
}
