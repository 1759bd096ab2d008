"""The one activation table (kernels/activations.py): every list is derived from it, and every
implementation covers every record (numerical agreement per backend is in test_ops.py, which
runs over the same names)."""

import numpy as np
import pytest

import mlpkit
import reference as ref
from mlpkit.kernels import activations as table


def test_every_vocabulary_is_derived_from_the_table():
    from mlpkit.io import onnx as mlpkit_onnx
    from mlpkit.backends import ACTIVATION_ALIASES, ACTIVATIONS
    from mlpkit.io import sklearn as from_sklearn
    from mlpkit.io import torch as from_torch
    from mlpkit.kernels.constants import ACTIVATION_CODES
    from mlpkit.mlp.init import HE_ACTIVATIONS

    assert ACTIVATIONS == tuple(a.name for a in table.TABLE) == mlpkit.ACTIVATIONS
    assert ACTIVATION_ALIASES == {alias: a.name for a in table.TABLE for alias in a.aliases}
    assert ACTIVATION_CODES == {a.name: a.code for a in table.TABLE}
    assert len(set(ACTIVATION_CODES.values())) == len(table.TABLE)  # codes are distinct
    assert set(HE_ACTIVATIONS) == {a.name for a in table.TABLE if a.init == "he"}
    assert mlpkit_onnx._ACTIVATION_OPS == {a.onnx: a.name for a in table.TABLE if a.onnx}
    assert from_torch._MODULES == {a.torch: a.name for a in table.TABLE if a.torch and a.torch != "Identity"}
    assert from_sklearn._ACTIVATIONS == {a.sklearn: a.name for a in table.TABLE if a.sklearn}
    for a in table.TABLE:
        assert a.init in ("he", "glorot") and all(mlpkit.backends.activation_name(x) == a.name for x in (a.name, *a.aliases))


def test_every_implementation_covers_every_record():
    from mlpkit.backends import array_ops
    from mlpkit.kernels import cupy_gpu

    names = set(table.NAMES)
    assert set(ref.ACTIVATIONS) == names, "tests/reference.py"
    for name in names:  # the reference derivative knows every name
        ref.activation_grad(name, np.zeros((1, 3)), np.ones((1, 3)))
    assert set(array_ops.ACTIVATIONS) == names and set(array_ops.ACTIVATION_GRADS) == names
    source = cupy_gpu.DEVICE_FUNCTIONS  # mlpkit_activate and mlpkit_activation_grad
    for a in table.TABLE:
        if a.rowwise or a.name == "identity":
            continue  # softmax has its own row kernels on the GPU; identity is the default case
        assert source.count(f"case {a.code}:") == 2, f"CUDA mlpkit_activate/_grad lack {a.name} (code {a.code})"
    assert source.count("default: return v;") == 1 and source.count("default: return g;") == 1


@pytest.mark.parametrize("record", table.TABLE, ids=lambda a: a.name)
def test_each_record_builds_exports_and_initialises(record, rng):
    """A model with the activation builds on NumPy with the table's initialisation family."""
    model = mlpkit.MLP([30, 20, 4], activation=record.name, output="identity", backend="numpy", dtype="float64", seed=0)
    W = model.params["W1"]
    if record.init == "he":
        assert abs(W.std() - np.sqrt(2 / 30)) < 0.05
    else:
        assert np.abs(W).max() <= np.sqrt(6 / 50)
    out = model.predict(rng.normal(size=(5, 30)))
    assert out.shape == (5, 4) and np.isfinite(out).all()
