"""The seam between shared array code and fused kernels (backends/array_ops.py).

The shared code must reach array functions through ``self.xp`` only, so that it runs unchanged on
CuPy; the CuPy logic tests run it through a stand-in namespace that holds only what CuPy has and
whose device arrays refuse NumPy functions (tests/cuda_on_host.py). These tests keep both honest.
"""

import ast
import inspect

import numpy as np
import pytest

import mlpkit
from cuda_on_host import DeviceArray, stand_in
from mlpkit.backends import array_ops, base


def _numpy_attributes(module) -> set[str]:
    """Every ``np.NAME`` the module's code uses (annotations and docstrings included)."""
    tree = ast.parse(inspect.getsource(module))
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "np"}


def test_shared_array_code_calls_no_numpy_function():
    # dtype: the float32/float64 singletons CuPy shares; ndarray: annotations; asarray: to_numpy's host default
    assert _numpy_attributes(array_ops) <= {"dtype", "ndarray", "asarray"}


def test_backends_are_siblings_deriving_from_the_shared_array_code():
    from mlpkit.backends.cupy_backend import CupyOps
    from mlpkit.backends.numba_backend import NumbaOps
    from mlpkit.backends.numpy_backend import NumpyOps

    for cls in (NumpyOps, NumbaOps, CupyOps):
        assert cls.__bases__ == (array_ops.ArrayOps,), cls
    assert array_ops.ArrayOps.__bases__ == (base.Ops,)


@pytest.mark.parametrize("backend", ["numpy", "numba", "stand-in"])
def test_prepare_returns_a_typed_net(backend):
    ops = stand_in() if backend == "stand-in" else mlpkit.get_backend(backend)
    model = mlpkit.MLP([4, 3, 2], seed=0, backend=ops)
    net = model._store.net
    assert isinstance(net, base.Net) and len(net.layers) == 2
    assert all(a is b for a, b in zip(net.layers, model._store.layers))


def test_the_stand_in_refuses_numpy_functions_and_names_cupy_lacks():
    ops = stand_in()
    x = ops.xp.zeros((2, 3), "float32")
    assert isinstance(x, DeviceArray)
    with pytest.raises(TypeError, match="numpy.where called on a device array"):
        np.where(x > 0, x, 0)
    assert isinstance(ops.xp.where(x > 0, x, 0), DeviceArray)
    with pytest.raises(AttributeError):
        ops.xp.einsum  # not offered: code that needs it must be added to the stand-in deliberately


def test_every_loss_name_has_its_formula_and_gradient():
    from mlpkit.mlp.training import FIT_LOSSES

    assert set(array_ops.LOSSES) == set(array_ops.LOSS_GRADS) == set(base.LOSSES)
    assert set(FIT_LOSSES) <= set(base.LOSSES) and set(base.LOSS_ALIASES.values()) <= set(base.LOSSES)
