"""Choosing the Numba micro-kernel variant: from the CPU features, or forced by MLPKIT_NUMBA_ISA."""

import numpy as np
import pytest

import mlpkit
import reference as ref
from conftest import backend_or_skip


@pytest.fixture(autouse=True)
def numba_ops():
    return backend_or_skip("numba")


def test_host_choice_follows_the_features(monkeypatch):
    from mlpkit.backends import numba_backend as NB

    for features, expected in [({"avx512f", "avx2", "fma"}, "avx512"), ({"avx2", "fma"}, "avx2"),
                               ({"avx2"}, "portable"), ({"neon", "sve"}, "portable"), (set(), "portable")]:
        monkeypatch.setattr(NB, "cpu_features", lambda f=features: f)
        assert NB.host_isa().name == expected


def test_numba_cpu_features_setting_is_what_counts(monkeypatch):
    """Numba compiles for NUMBA_CPU_FEATURES when it is set; the choice follows what it compiles for."""
    from numba import config

    from mlpkit.backends import numba_backend as NB

    monkeypatch.setattr(config, "CPU_FEATURES", "+sse4.2,+avx2,+fma,-avx512f")
    assert NB.cpu_features() == {"sse4.2", "avx2", "fma"}
    assert NB.host_isa().name == "avx2"


@pytest.mark.parametrize("raw, expected", [(" AVX2 ", "avx2"), ("portable", "portable"), ("avx512", "avx512")])
def test_env_var_forces_a_variant(monkeypatch, raw, expected):
    from mlpkit.backends import numba_backend as NB

    monkeypatch.setenv("MLPKIT_NUMBA_ISA", raw)
    assert NB.select_isa().name == expected
    model = mlpkit.MLP([20, 7, 3], backend="numba", seed=0)
    assert model._net.isa.name == expected
    assert "forced by MLPKIT_NUMBA_ISA" in NB.describe_isa()


@pytest.mark.parametrize("raw", ["", "  ", "auto", "AUTO"])
def test_empty_or_auto_means_the_host_choice(monkeypatch, raw):
    from mlpkit.backends import numba_backend as NB

    monkeypatch.setenv("MLPKIT_NUMBA_ISA", raw)
    assert NB.select_isa() == NB.host_isa()
    assert "from the CPU features" in NB.describe_isa()


def test_unknown_variant_is_refused_with_the_choices(monkeypatch):
    from mlpkit.backends import numba_backend as NB

    monkeypatch.setenv("MLPKIT_NUMBA_ISA", "avx3")
    with pytest.raises(ValueError, match=r"MLPKIT_NUMBA_ISA must be one of \['auto', 'avx512', 'avx2', 'portable'\]; received 'avx3'"):
        NB.select_isa()


@pytest.mark.parametrize("name", ["avx512", "avx2", "portable"])
def test_every_variant_runs_m1_like_the_reference(monkeypatch, name, dtype, rng):
    """The classic network through each variant, batch and single sample, against float64."""
    monkeypatch.setenv("MLPKIT_NUMBA_ISA", name)
    sizes, acts = (784, 50, 100, 10), ["sigmoid", "sigmoid", "softmax"]
    Ws = [rng.normal(scale=1 / np.sqrt(i), size=(i, o)) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(scale=0.1, size=o) for o in sizes[1:]]
    model = mlpkit.MLP.from_arrays(Ws, bs, acts, backend="numba", dtype=dtype)
    x = rng.random((301, 784)).astype(dtype)
    expect = ref.forward(x, [W.astype(dtype) for W in Ws], [b.astype(dtype) for b in bs], acts)
    ref.assert_close(model.predict(x), expect, dtype, scale=1.0)
    np.testing.assert_array_equal(model.predict(x[7]), model.predict(x[7:8])[0])


@pytest.mark.parametrize("name", ["avx512", "avx2", "portable"])
def test_a_row_alone_equals_the_same_row_in_a_batch_bit_for_bit(monkeypatch, name, dtype, rng):
    """The one-row kernels and the tiles sum k in the same blocks (numba_gemm.k_blocks), so
    predict(x[i]) == predict(x)[i] exactly, whatever the batch size or the row's place in it
    (full panels, a last panel of 1-2 vectors, dot columns, a padded last tile), sparse rows too."""
    monkeypatch.setenv("MLPKIT_NUMBA_ISA", name)
    for sizes, act in [((784, 50, 100, 10), "sigmoid"), ((17, 40, 300, 7), "relu"), ((64, 33, 65, 4), "tanh")]:
        model = mlpkit.MLP(sizes, act, backend="numba", dtype=dtype, seed=1)
        x = rng.standard_normal((301, sizes[0])).astype(dtype)
        x[:10][rng.random((10, sizes[0])) < 0.8] = 0.0  # sparse rows: the one-row kernels skip zero chunks
        alone = np.stack([model.predict(row) for row in x[:20]])
        for n in (3, 9, 20, 301):
            np.testing.assert_array_equal(model.predict(x[:n])[:20], alone[:n], err_msg=f"{sizes}, batch of {n}")


def test_read_only_inputs_reuse_the_compiled_kernels(tmp_path, rng):
    """Numba types read-only arrays apart: without the alias each kernel compiled twice."""
    from numba.core import event

    model = mlpkit.MLP([20, 7, 3], backend="numba", seed=0)
    x = rng.random((40, 20)).astype("float32")
    expect = model.predict(x), model.predict(x[3]), model.predict(x[:2])
    np.save(tmp_path / "x.npy", x)
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert not ro.flags.writeable
    compiled = []

    class Count(event.Listener):
        def on_start(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__qualname__)

        def on_end(self, ev):
            pass

    listener = Count()
    event.register("numba:compile", listener)
    try:
        got = model.predict(ro), model.predict(ro[3]), model.predict(ro[:2])
    finally:
        event.unregister("numba:compile", listener)
    for g, e in zip(got, expect):
        np.testing.assert_array_equal(g, e)
    assert compiled == []
    assert not ro.flags.writeable  # the caller's array is untouched
