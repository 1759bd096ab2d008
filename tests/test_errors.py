"""Bad input gets an error that names what was expected and what was received."""

import numpy as np
import pytest

import mlpkit


@pytest.fixture
def model(backend, dtype):
    return mlpkit.MLP([5, 4, 3], activation="tanh", seed=0, backend=backend, dtype=dtype)


@pytest.mark.parametrize(
    "x, match",
    [
        (np.ones(4), r"input has 4 features but the model expects 5.*received shape \(4,\)"),
        (np.ones((2, 6)), r"expects 5: expected shape \(5,\) or \(batch, 5\); received shape \(2, 6\)"),
        (np.ones((2, 1, 5)), r"must be 1-D \(5,\) or 2-D \(batch, 5\); received 3-D shape \(2, 1, 5\)"),
        (np.float32(1.0), r"received 0-D shape \(\)"),
        (np.ones((0, 5)), r"empty batch.*received shape \(0, 5\)"),
    ],
)
def test_bad_shapes(model, x, match):
    with pytest.raises(ValueError, match=match):
        model.predict(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises(model, bad):
    x = np.ones((3, 5))
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"NaN or Inf \(first at index \(1, 2\)\)"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"NaN or Inf \(first at index \(2,\)\)"):
        model.predict(x[1])


def test_non_finite_check_can_be_skipped(model):
    x = np.ones(5)
    x[0] = np.nan
    assert model.predict(x, check_finite=False).shape == (3,)  # values unspecified, but no error


@pytest.mark.parametrize("x", [np.ones(5, dtype=complex), np.array(["a"] * 5), np.ones(5, dtype=bool), [None] * 5])
def test_non_numeric_input(model, x):
    with pytest.raises(TypeError, match="real numeric array"):
        model.predict(x)


def test_accepts_lists_ints_uint8_and_strided_views(model, dtype):
    ref = model.predict(np.arange(10, dtype=np.float64).reshape(2, 5))
    for x in (
        [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]],
        np.arange(10, dtype=np.uint8).reshape(2, 5),
        np.arange(10, dtype=np.int64).reshape(2, 5),
        np.arange(20, dtype=np.float32).reshape(2, 10)[:, ::2] // 2,  # non-contiguous
        np.asfortranarray(np.arange(10.0).reshape(2, 5)),
    ):
        got = model.predict(x)
        assert isinstance(got, np.ndarray) and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer_sizes": [784]}, ValueError, r"at least two positive integers.*received \[784\]"),
        ({"layer_sizes": [784, 0, 10]}, ValueError, "positive integers"),
        ({"layer_sizes": [784, 2.5]}, ValueError, "positive integers"),
        ({"layer_sizes": "784"}, ValueError, "positive integers"),
        ({"layer_sizes": [4, 2], "activation": "rleu"}, ValueError, r"activation must be one of \[.*'relu'.*\]; received 'rleu'"),
        ({"layer_sizes": [4, 2], "output": "softplus"}, ValueError, "received 'softplus'"),
        ({"layer_sizes": [4, 2], "dtype": "float16"}, ValueError, r"dtype must be one of \['float32', 'float64'\]; received 'float16'"),
        ({"layer_sizes": [4, 2], "backend": "torch"}, ValueError, r"backend must be one of \['numpy', 'numba', 'cupy', 'auto'\]; received 'torch'"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        mlpkit.MLP(**kwargs)


def test_activation_aliases():
    model = mlpkit.MLP([3, 4, 2], activation=" Logistic ", output="LINEAR", backend="numpy")
    assert model.activations == ("sigmoid", "identity")


W1, b1, W2, b2 = np.ones((4, 3)), np.zeros(3), np.ones((3, 2)), np.zeros(2)


@pytest.mark.parametrize(
    "args, error, match",
    [
        (([W1, np.ones((4, 2))], [b1, b2], ["relu", "relu"]), ValueError, r"weights\[1\] must have 3 rows.*received shape \(4, 2\)"),
        (([W1, W2], [b1, np.zeros(3)], ["relu", "relu"]), ValueError, r"biases\[1\] must have shape \(2,\).*received shape \(3,\)"),
        (([W1, W2], [b1], ["relu", "relu"]), ValueError, "equal length"),
        (([W1, W2], [b1, b2], ["relu"]), ValueError, "equal length"),
        (([W1, W2], [b1, b2], "relu"), TypeError, "one name per layer"),
        (([W1, W2], [b1, b2], ["relu", "softmaxx"]), ValueError, "received 'softmaxx'"),
        (([np.ones(4), W2], [b1, b2], ["relu", "relu"]), ValueError, r"weights\[0\] must be a non-empty 2-D array"),
        (([W1 * np.nan, W2], [b1, b2], ["relu", "relu"]), ValueError, r"weights\[0\] contains NaN or Inf"),
        (([W1.astype(int), W2.astype(int)], [b1.astype(int), b2.astype(int)], ["relu", "relu"]), ValueError, "cannot infer the model dtype"),
        (([W1.astype(complex), W2], [b1, b2], ["relu", "relu"]), TypeError, r"weights\[0\] must be a real numeric array"),
        (([], [], []), ValueError, "non-empty"),
    ],
)
def test_bad_from_arrays(args, error, match):
    with pytest.raises(error, match=match):
        mlpkit.MLP.from_arrays(*args, backend="numpy")


def test_weights_cast_when_dtype_given():
    model = mlpkit.MLP.from_arrays([W1.astype(int)], [b1.astype(int)], ["relu"], backend="numpy", dtype="float64")
    assert model.params["W1"].dtype == np.float64


def test_non_finite_index_is_global_across_chunks(model):
    x = np.ones((25, 5))
    x[17, 3] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(17, 3\)"):
        model.predict(x, batch_size=4)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "8", True])
def test_bad_batch_size(model, bad):
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer or None; received {bad!r}"):
        model.predict(np.ones((3, 5)), batch_size=bad)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0), (48, 783), (100, 400), (101, 1)])
def test_non_finite_input_in_a_large_batch(backend, bad, where, dtype, rng):
    """Batches past the fused row kernel: backends may find it in the first layer's pre-activations."""
    model = mlpkit.MLP([784, 50, 100, 10], activation="sigmoid", seed=0, backend=backend.name, dtype=dtype)
    x = rng.random((102, 784))
    x[where] = bad
    with pytest.raises(ValueError, match=rf"NaN or Inf \(first at index \({where[0]}, {where[1]}\)\)"):
        model.predict(x)


def test_inf_input_against_zero_weights_is_still_found(backend, dtype):
    """inf * 0 is NaN: an input whose weights are all zero still poisons its row."""
    W1 = np.ones((4, 3))
    W1[2] = 0.0
    model = mlpkit.MLP.from_arrays([W1, np.ones((3, 2))], [np.zeros(3), np.zeros(2)], ["relu", "identity"],
                                   backend=backend.name, dtype=dtype)
    x = np.ones((20, 4))
    x[7, 2] = np.inf
    with pytest.raises(ValueError, match=r"first at index \(7, 2\)"):
        model.predict(x)


def test_finite_inputs_that_overflow_are_not_reported(backend, dtype):
    """Pre-activations that overflow from finite inputs are the model's result, not an input error."""
    big = np.finfo(dtype).max / 4
    model = mlpkit.MLP.from_arrays([np.full((3, 2), 8.0)], [np.zeros(2)], ["identity"], backend=backend.name, dtype=dtype)
    x = np.full((10, 3), big, dtype=dtype)
    y = model.predict(x)
    assert np.isinf(y).all()
    np.testing.assert_array_equal(y, model.predict(x, check_finite=False))


@pytest.mark.parametrize("rows", [1, 2, 3])  # a single sample and the small batches of the row kernel
def test_finite_inputs_that_overflow_are_not_reported_for_one_sample(backend, dtype, rows):
    """The single-sample path decides from the first layer in its kernel, as batches do."""
    big = np.finfo(dtype).max / 4
    model = mlpkit.MLP.from_arrays([np.full((3, 2), 8.0)], [np.zeros(2)], ["identity"], backend=backend.name, dtype=dtype)
    x = np.full((rows, 3), big, dtype=dtype)
    one = model.predict(x[0])
    assert np.isinf(one).all()
    np.testing.assert_array_equal(one, model.predict(x[0], check_finite=False))
    np.testing.assert_array_equal(model.predict(x), model.predict(x, check_finite=False))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("col", [0, 2, 783])
def test_non_finite_single_sample_names_its_index(backend, bad, col, dtype, rng):
    W1 = np.ones((784, 3))
    W1[2] = 0.0  # inf * 0 is NaN: still found
    model = mlpkit.MLP.from_arrays([W1, np.ones((3, 2))], [np.zeros(3), np.zeros(2)], ["sigmoid", "softmax"],
                                   backend=backend.name, dtype=dtype)
    x = rng.random(784)
    x[col] = bad
    with pytest.raises(ValueError, match=rf"NaN or Inf \(first at index \({col},\)\)"):
        model.predict(x)


def test_a_finite_value_that_overflows_the_cast_says_so(backend):
    model = mlpkit.MLP([3, 2], seed=0, backend=backend.name, dtype="float32")
    x = np.ones((5, 3))
    x[3, 1] = 1e300
    with pytest.raises(ValueError, match=r"input value 1e\+300 at index \(3, 1\) overflows float32 .*dtype='float64'"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"input value 1e\+300 at index \(1,\) overflows float32"):
        model.predict(np.array([1.0, 1e300, 2.0]))


def test_masked_arrays_with_masked_values_are_refused():
    model = mlpkit.MLP([3, 2], seed=0, backend="numpy")
    masked = np.ma.masked_array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"masked array with masked values.*x.filled"):
        model.predict(masked)
    np.testing.assert_array_equal(model.predict(np.ma.masked_array(np.ones((2, 3)))), model.predict(np.ones((2, 3))))


def test_pandas_nullable_missing_values_are_refused_not_predicted_as_nan():
    pd = pytest.importorskip("pandas", reason="needs pandas")
    model = mlpkit.MLP([3, 2], seed=0, backend="numpy")
    frame = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1, 2], "c": [3, 4]})
    with pytest.raises(TypeError, match="missing values"):
        model.predict(frame)
    assert np.isfinite(model.predict(frame.fillna(0).astype("float64"))).all()


def test_array_likes_with_a_foreign_dtype_go_through_numpy():
    class TensorLike:  # a .dtype that is not a NumPy dtype, as torch tensors have
        dtype, shape = "torch.float32", (2, 3)

        def __array__(self, dtype=None, copy=None):
            return np.ones((2, 3), dtype=dtype or np.float32)

    model = mlpkit.MLP([3, 2], seed=0, backend="numpy")
    np.testing.assert_array_equal(model.predict(TensorLike()), model.predict(np.ones((2, 3), np.float32)))
