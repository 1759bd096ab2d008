"""The Numba backend's panel kernel (register-tiled products, all layers per block of rows):
widths around the panel and tile edges, hidden softmax, thread splitting, for every
instruction-set variant (each runs correctly on any CPU; LLVM splits vectors wider than the
hardware's). Its finite probe is tested with every backend's in test_errors.py."""

import numpy as np
import pytest

import mlpkit
import reference as ref
from conftest import backend_or_skip

# panel widths (float32; float64 half): avx512 48 (3 vectors), avx2 16, portable 8 (2 vectors),
# a last panel of fewer vectors and leftover columns as dot products where they pay; tiles of
# 8 / 6 / 4 rows, blocks of 96 / 48 / 48 rows. Every plan shape occurs in both dtypes for
# every variant.
WIDTHS = [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 20, 21, 24, 33, 40, 50, 66, 98, 100]
ROWS = [3, 5, 6, 7, 11, 12, 13, 47, 48, 49, 97]
ISAS = ["avx512", "avx2", "portable"]


@pytest.fixture(autouse=True)
def numba_ops():
    return backend_or_skip("numba")


@pytest.fixture(params=ISAS)
def isa(request, monkeypatch):
    """The micro-kernel variant forced for models built in the test (read when a net is packed)."""
    monkeypatch.setenv("MLPKIT_NUMBA_ISA", request.param)
    from mlpkit.kernels.numba_isa import VARIANTS

    return VARIANTS[request.param]


@pytest.mark.parametrize("n_out", WIDTHS)
@pytest.mark.parametrize("n_in", [17, 40, 300])  # 40, 300: whole vectors plus a tail in the dot columns; 300: inputs long enough for dots
def test_panel_widths_match_reference(n_out, n_in, isa, dtype, rng):
    sizes = (n_in, n_out, 5, n_out)
    acts = ["sigmoid", "relu", "softmax"]
    Ws = [rng.normal(scale=1 / np.sqrt(i), size=(i, o)) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(scale=0.5, size=o) for o in sizes[1:]]
    model = mlpkit.MLP.from_arrays(Ws, bs, acts, backend="numba", dtype=dtype)
    assert model._net.isa == isa
    cast = [[a.astype(dtype) for a in group] for group in (Ws, bs)]
    for n in ROWS:
        x = rng.normal(size=(n, n_in)).astype(dtype)
        ref.assert_close(model.predict(x), ref.forward(x, *cast, acts), dtype, scale=1.0)


@pytest.mark.parametrize("hidden", ["softmax", "identity", "tanh", "leaky_relu", "step"])
def test_hidden_activations_ignore_padding_columns(hidden, isa, dtype, rng):
    """Padding columns hold act(0); a hidden softmax must normalise over the real columns only."""
    sizes, acts = (9, 10, 6, 3), [hidden, hidden, "identity"]
    Ws = [rng.normal(size=(i, o)) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) for o in sizes[1:]]
    x = rng.normal(size=(50, 9)).astype(dtype)
    got = mlpkit.MLP.from_arrays(Ws, bs, acts, backend="numba", dtype=dtype).predict(x)
    expect = ref.forward(x, [W.astype(dtype) for W in Ws], [b.astype(dtype) for b in bs], acts)
    if hidden == "step":  # discontinuous at 0: compare where the reference is far from a flip
        np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4)
    else:
        ref.assert_close(got, expect, dtype, scale=1.0 + np.abs(expect))


def test_rows_split_across_threads_give_identical_results(isa, dtype, rng):
    from mlpkit.backends import row_scheduler

    model = mlpkit.MLP([784, 50, 100, 10], activation="sigmoid", seed=0, backend="numba", dtype=dtype)
    x = rng.random((2000, 784))
    with mlpkit.num_threads(1):
        one = model.predict(x, batch_size=2000)
    with mlpkit.num_threads(2):
        assert len(row_scheduler.row_parts(2000, model._net.flops_per_row)) == 4  # the split this test is about happens
        two = model.predict(x, batch_size=2000)
    np.testing.assert_array_equal(one, two)


def test_dense_panels_refuses_what_would_overrun_the_arrays(isa):
    """The LLVM micro-kernels have no bounds checks; the layer intrinsic checks the shapes once per
    call and refuses (writing nothing) what would overrun an array."""
    from mlpkit.kernels import numba_cpu as K
    from mlpkit.kernels import numba_gemm as G

    W, b = np.ones((5, 9), np.float32), np.zeros(9, np.float32)
    panels = G.pack_panels(W, b, isa)
    width = G.z_width(5, 9, np.float32, isa)
    lm = np.array([0, 5, 9, 0, width, *G.panel_plan(5, 9, np.float32, isa)], dtype=np.int64)
    rows = 2 * isa.tile_rows
    z = np.empty((rows, width), np.float32)
    K.dense_panels(np.ones((rows, 5), np.float32), rows, panels, lm, z, isa)
    np.testing.assert_array_equal(z[:, :9], np.full((rows, 9), 5.0))
    z[:] = -1.0
    for x, n, zz in [(np.ones((rows, 5), np.float32), rows - 1, z),  # not a multiple of the tile
                     (np.ones((isa.tile_rows, 5), np.float32), rows, z),  # more rows than x holds
                     (np.ones((rows, 5), np.float32), rows, z[:, : width - 1]),  # z narrower than the panels
                     (np.ones((rows, 10), np.float32)[:, ::2], rows, z)]:  # strided columns
        with pytest.raises(ValueError, match="dense layer: rows must be a multiple of the tile rows"):
            K.dense_panels(x, n, panels, lm, zz, isa)
    x = np.ones((rows, 5), np.float32)
    for short_panels, short_meta in [(panels[:-1], lm), (panels, lm[:7])]:  # the layer past the buffer; a cut meta row
        with pytest.raises(ValueError, match="the panels must hold the layer"):
            K.dense_panels(x, rows, short_panels, short_meta, z, isa)
    np.testing.assert_array_equal(z, -1.0)  # a refused call writes nothing


def _identity_layer(n_in, n_out, dtype, isa, rng):
    """(W, b, panels, meta row) of one random identity layer packed for ``isa``."""
    from mlpkit.kernels import numba_gemm as G

    W = rng.standard_normal((n_in, n_out)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    width = G.z_width(n_in, n_out, dtype, isa)
    lm = np.array([0, n_in, n_out, 0, width, *G.panel_plan(n_in, n_out, dtype, isa)], dtype=np.int64)
    return W, b, G.pack_panels(W, b, isa), lm


@pytest.mark.parametrize("n_out", [48, 100, 300])  # avx2: 3, 6 and 18 full panels; avx512: 1, 2 and 6
def test_the_one_row_variant_on_several_rows_equals_the_tiles(isa, n_out, dtype, rng):
    """dense_panels with the one-row variant takes any number of rows (its tile is one row): each
    row, full panels in groups included, gets the tile variant's bits for that row."""
    from mlpkit.kernels import numba_cpu as K

    n_in, rows = 70, 2 * isa.tile_rows
    W, b, panels, lm = _identity_layer(n_in, n_out, dtype, isa, rng)
    width = int(lm[4])
    x = rng.standard_normal((rows, n_in)).astype(dtype)
    tiles, one_row = np.empty((rows, width), dtype), np.empty((rows, width), dtype)
    K.dense_panels(x, rows, panels, lm, tiles, isa)
    K.dense_panels(x, rows, panels, lm, one_row, isa.one_row())
    np.testing.assert_array_equal(one_row[:, :n_out], tiles[:, :n_out])
    ref.assert_close(one_row[:, :n_out], x.astype(np.float64) @ W + b, dtype, scale=float(n_in) ** 0.5)


def _sparse_rows(n_in, lanes, tile_rows, dtype, rng):
    """Rows that exercise the one-row kernels' skipping of zero chunks of x (32 bytes each,
    counted from the start of each k block: numba_gemm._blocks_skipping_zero_chunks): all zero;
    one non-zero at each place in turn (every chunk edge and block tail of any variant); -0.0 in
    a zero chunk; long runs of zeros as in an image. Padded with zero rows to a multiple of
    ``tile_rows``, for the tiles."""
    rows = [np.zeros(n_in)]
    rows += list(1.5 * np.eye(n_in))
    signed = np.zeros(n_in)
    signed[lanes : 2 * lanes] = -0.0
    signed[0] = 0.25
    rows.append(signed)
    for _ in range(4):
        row = rng.standard_normal(n_in)
        row[rng.random(n_in) < 0.8] = 0.0
        row[lanes // 2 : 3 * lanes] = 0.0
        rows.append(row)
    rows += [np.zeros(n_in)] * (-len(rows) % tile_rows)
    return np.array(rows).astype(dtype)


# full panels that one-row kernels run alone (k in blocks side by side) and in groups, and last
# panels (dense): avx512 16: a last panel of 1 vector, 48: one full panel, 100: a group of 2 and
# 1 vector; avx2 16: one full panel, 48: a group of 3, 100: 6 in groups and a last vector
@pytest.mark.parametrize("n_out", [16, 48, 100])
def test_the_one_row_variant_skips_zero_chunks_exactly(isa, n_out, dtype, rng):
    """The one-row kernels skip each chunk of x that holds only zeros, in every full panel
    (numba_gemm._blocks_skipping_zero_chunks): every row still gets the tiles' bits and the
    reference's values, a non-zero anywhere is used, and a NaN among zeros still reaches every
    output wherever it is."""
    from mlpkit.kernels import numba_cpu as K
    from mlpkit.kernels import numba_gemm as G

    n_in = 70  # not a multiple of any variant's vector: a tail after the last whole chunk
    W, b, panels, lm = _identity_layer(n_in, n_out, dtype, isa, rng)
    width = int(lm[4])
    x = _sparse_rows(n_in, G.lanes(dtype, isa), isa.tile_rows, dtype, rng)
    tiles, one_row = np.empty((len(x), width), dtype), np.empty((len(x), width), dtype)
    K.dense_panels(x, len(x), panels, lm, tiles, isa)
    K.dense_panels(x, len(x), panels, lm, one_row, isa.one_row())
    np.testing.assert_array_equal(one_row[:, :n_out], tiles[:, :n_out])
    ref.assert_close(one_row[:, :n_out], x.astype(np.float64) @ W + b, dtype, scale=float(n_in) ** 0.5)
    nan_rows = np.zeros((n_in, n_in), dtype)
    np.fill_diagonal(nan_rows, np.nan)
    z = np.empty((n_in, width), dtype)
    K.dense_panels(nan_rows, n_in, panels, lm, z, isa.one_row())
    assert np.isnan(z[:, :n_out]).all()


@pytest.mark.parametrize("dtype_", ["float32", "float64"])
@pytest.mark.parametrize("isa_name", ISAS)
def test_panel_plan_covers_every_column_once(dtype_, isa_name):
    from mlpkit.kernels import numba_gemm as G
    from mlpkit.kernels.numba_isa import VARIANTS

    isa = VARIANTS[isa_name]
    full, lanes = G.panel_width(dtype_, isa), G.lanes(dtype_, isa)
    for n_in in (5, 50, 784):
        for n_out in range(1, 120):
            n_full, vectors, n_dot = G.panel_plan(n_in, n_out, dtype_, isa)
            covered = n_full * full + vectors * lanes + n_dot
            assert covered == G.z_width(n_in, n_out, dtype_, isa) >= n_out
            assert covered - n_out < lanes and 0 <= vectors < isa.panel_vectors and n_dot <= lanes // 2
            if n_dot:
                assert covered == n_out  # dot columns leave no padding


def test_dot_columns_are_chosen_where_they_pay():
    """Leftover columns go to dot products for long inputs, to one more panel vector for short
    ones (M1 on AVX-512, float32: 784 -> 50 = 48 + 2 dots; 50 -> 100 = 2 x 48 + a 16-wide vector)."""
    from mlpkit.kernels import numba_gemm as G
    from mlpkit.kernels.numba_isa import VARIANTS

    avx512 = VARIANTS["avx512"]
    assert G.panel_plan(784, 50, np.float32, avx512) == (1, 0, 2)
    assert G.panel_plan(50, 100, np.float32, avx512) == (2, 1, 0)
    assert G.panel_plan(100, 10, np.float32, avx512) == (0, 1, 0)
    assert G.panel_plan(784, 512, np.float32, avx512) == (10, 2, 0)
    assert G.panel_plan(784, 96, np.float32, avx512) == (2, 0, 0)


def test_concurrent_callers_share_the_row_pool(rng):
    """Several Python threads predicting large batches at once, each split over the shared pool."""
    from concurrent.futures import ThreadPoolExecutor

    model = mlpkit.MLP([784, 50, 100, 10], activation="sigmoid", seed=0, backend="numba")
    inputs = [rng.random((n, 784)) for n in (700, 1500, 2000)]
    expected = [model.predict(x) for x in inputs]

    def worker(k):
        return sum(not np.array_equal(model.predict(inputs[(i + k) % 3]), expected[(i + k) % 3]) for i in range(15))

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(worker, range(4))) == [0] * 4
