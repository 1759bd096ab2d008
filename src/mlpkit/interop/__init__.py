"""Ways in from other software: scikit-learn and PyTorch models, classic pickled weights.
(ONNX lives in :mod:`mlpkit.onnx`; the native format in :mod:`mlpkit.mlp.io`.)"""
