"""Numba ``@njit`` loop kernels for dense layers (CPU).

Every kernel is pure (arrays in, arrays out or written in place into an argument), serial and
``nogil``: none uses ``parallel=True``, so any number of Python threads may call them at once
(Numba's default ``workqueue`` threading layer aborts the process when two threads enter a parallel
region). The backend runs them on several threads itself, over disjoint rows.

Shapes: a batch ``x`` is (n, in), a weight ``W`` is (in, out) C-contiguous, a bias ``b`` is (out,).
Floating-point dtype follows the arrays (float32 or float64). exp and sigmoid are the vectorisable
ones of :mod:`mlpkit.kernels.numba_exp` (float32: within 2e-7 relative; float64: 5e-16); sums
of a softmax accumulate in float64.

A whole network is *packed* as panels (:mod:`mlpkit.kernels.numba_gemm`) for one
instruction-set variant (:mod:`mlpkit.kernels.numba_isa`); :func:`forward_panels` runs batches
through it, :func:`forward_rows` single samples and very small batches.
"""

from __future__ import annotations

import math

import numpy as np

from .constants import (  # noqa: F401  (ACTIVATION_CODES re-exported for the backend)
    ACTIVATION_CODES,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_SLOPE,
    RELU,
    SIGMOID,
    SOFTMAX,
    STEP,
    TANH,
)
from .numba_exp import fast_exp, fast_sigmoid
from .numba_gemm import dense_layer
from .numba_jit import jit
from .numba_stack import scratch_empty

_jit = jit  # njit with the shared options and mlpkit's kernel cache (see numba_jit)

#: Reductions only: reassociate and contract to FMA; no nnan/ninf, so NaN and Inf still propagate.
_DOT_MATH = {"reassoc", "contract"}
_jit_dot = _jit(fastmath=_DOT_MATH)
#: kernels that only compiled code calls: no CPython wrapper to generate (~0.05 s each of a cold start)
_jit_inner = _jit(no_cpython_wrapper=True)

FLAT_CHUNK = 2048  # bias_act_inplace adds the bias and activates blocks of about this many elements

# -- one row -------------------------------------------------------------------------------
@_jit_inner
def activate_row(h, n, code):
    """Apply activation ``code`` in place to h[:n] (softmax over those n entries)."""
    if code == IDENTITY:
        return
    if code == SOFTMAX:
        m = h[0]
        for k in range(1, n):
            if h[k] > m:
                m = h[k]
        for k in range(n):  # no sum in this loop: a float64 sum in order would keep it scalar
            h[k] = fast_exp(h[k] - m)
        s = 0.0
        for k in range(n):
            s += h[k]
        inv = 1.0 / s
        for k in range(n):
            h[k] = h[k] * inv
    elif code == SIGMOID:
        for k in range(n):
            h[k] = fast_sigmoid(h[k])
    elif code == RELU:
        # written as "keep v, else store 0" LLVM stores only the zeros, as masked vector stores
        # (vmaskmovps: microcoded on AMD Zen, 0.46 ns an element on Zen 2); "+ 0.0" changes
        # no v > 0 but makes every store a new value, so the loop stores whole vectors (0.14 ns)
        for k in range(n):
            v = h[k]
            h[k] = (v + 0.0) if v > 0 else 0.0
    elif code == TANH:
        for k in range(n):
            h[k] = math.tanh(h[k])
    elif code == LEAKY_RELU:
        for k in range(n):  # "+ 0.0": see RELU
            v = h[k]
            h[k] = (v + 0.0) if v > 0 else v * LEAKY_SLOPE
    elif code == STEP:
        for k in range(n):
            h[k] = 1.0 if h[k] > 0 else 0.0


#: what a refused :func:`~mlpkit.kernels.numba_gemm.dense_layer` call means
LAYER_REFUSED = ("dense layer: rows must be a multiple of the tile rows and fit x and z, x and z need unit "
                 "inner stride and the layer's columns, and the panels must hold the layer")


@_jit(inline="always")  # the forward kernels call it too: one copy of the refusal
def dense_panels(x, rows, panels, lm, z, isa):
    """z[:rows, :z_width] = x[:rows, :n_in] @ W + b for the layer described by the panel-meta row
    ``lm`` (offset, n_in, n_out, code, z_width, full panels, vectors of the last panel, dot
    columns; layout: :mod:`mlpkit.kernels.numba_gemm`), packed for the variant ``isa``
    (:mod:`mlpkit.kernels.numba_isa`). ``rows`` is a multiple of isa.tile_rows; x and z have
    unit inner stride and at least ``rows`` rows. Inlined where compiled code calls it: a
    compiled function of its own would be compiled again inside each caller."""
    if not dense_layer(x, rows, panels, lm, z, isa):
        raise ValueError(LAYER_REFUSED)


@_jit(fastmath=_DOT_MATH, no_cpython_wrapper=True)
def _nan_probe(z, rows, cols):
    """Sum of z - z over z[:rows, :cols]: 0 if all finite, NaN otherwise (vectorised, as all_finite)."""
    acc = 0.0
    for r in range(rows):
        for j in range(cols):
            acc += z[r, j] - z[r, j]
    return acc


@_jit_inner
def _copy_rows(src, dst, cols):
    """dst[r, :cols] = src[r, :cols] for every row of src, as loops: a slice assignment
    compiles Numba's shape-mismatch message formatting (~5 s of a cold start, measured)."""
    for r in range(src.shape[0]):
        for j in range(cols):
            dst[r, j] = src[r, j]


@_jit(inline="always")
def _widest(meta):
    """The widest z_width (column 4) of the panel-meta rows."""
    wmax = 0
    for layer in range(meta.shape[0]):
        if meta[layer, 4] > wmax:
            wmax = meta[layer, 4]
    return wmax


@_jit(inline="always")
def forward_panels(x, panels, meta, out, isa):
    """Whole-network forward of a batch x (n, in) C-contiguous into out (n, n_out_last), with the
    layers packed as panels for the variant ``isa`` (``meta`` rows as in :func:`dense_panels`).
    Returns whether the first layer's pre-activations are all finite, which they are iff x is,
    for finite weights (a NaN or Inf input makes its whole row NaN or Inf); False can also mean
    that finite inputs overflowed, so a caller re-checks x before blaming it.

    isa.block_rows rows at a time go through every layer, so the intermediate activations stay
    in cache; the last block's rows are padded up to a multiple of isa.tile_rows through a copy."""
    n = x.shape[0]
    n_layers = meta.shape[0]
    tile, block = isa.tile_rows, isa.block_rows
    n_h = 2 * block * _widest(meta)
    pad_rows = tile if n % tile else 0
    n_pad = pad_rows * x.shape[1]
    # one 1-D allocation for both buffers, and conditionals for min: each distinct np.empty,
    # np.zeros, min or max signature is one more function to compile in a cold start
    scratch = np.empty(n_h + n_pad, dtype=out.dtype)
    h = scratch[:n_h].reshape((2, n_h // 2))
    for i in range(n_h, n_h + n_pad):
        scratch[i] = 0.0
    xpad = scratch[n_h:].reshape((pad_rows, x.shape[1]))
    nan_probe = 0.0  # sum of z - z over the first layer: 0 if all finite, NaN otherwise
    for s in range(0, n, block):
        rows = block if n - s > block else n - s
        full_rows = rows - rows % tile
        src = x[s : s + rows]
        for layer in range(n_layers):
            n_out, code, padded = meta[layer, 2], meta[layer, 3], meta[layer, 4]
            rows_t = full_rows + (tile if rows > full_rows else 0)
            z = h[layer % 2, : rows_t * padded].reshape((rows_t, padded))
            # one call site: every inlined copy of the micro-kernels costs seconds of compilation
            for part in range(2 if layer == 0 and rows > full_rows else 1):
                if part == 0:  # a later layer's input (the previous z) already holds rows_t rows
                    a, n_a, za = src, full_rows if layer == 0 else rows_t, z
                else:  # the batch's last rows, padded with zero rows
                    _copy_rows(src[full_rows:rows], xpad, x.shape[1])
                    a, n_a, za = xpad, tile, z[full_rows:]
                dense_panels(a, n_a, panels, meta[layer], za, isa)
            if layer == 0:
                nan_probe += _nan_probe(z, rows, n_out)
            target = z  # hidden: softmax over the n_out real columns; padding columns may take any value
            if layer == n_layers - 1:
                target = out[s : s + rows]
                _copy_rows(z[:rows], target, n_out)
            # one call site for the activations too: each inlined copy costs compile time
            activate_block(target, n_out, code)
            src = z
    return nan_probe == 0.0


@_jit(inline="always")
def forward_rows(x, panels, meta, out, isa):
    """:func:`forward_panels` for a few rows (single samples): each row of x (n, in) goes through
    every layer alone, ``isa`` being a one-row variant (``Isa.one_row()``: no tile padding, no
    block copies, the k blocks of each panel side by side: see numba_gemm.dense_layer).
    Returns the same finite flag as :func:`forward_panels`.

    Its scratch is on the stack (:func:`~mlpkit.kernels.numba_stack.scratch_empty`) and it is
    inlined into its caller, so that frame grows by the scratch at every call until the caller
    returns: call it from a compiled function of its own (as :func:`entry_points` does), never
    inline in a loop (20,000 iterations in one function overflowed the stack and crashed)."""
    n_layers = meta.shape[0]
    wmax = _widest(meta)
    h = scratch_empty(2 * wmax, out).reshape((2, 1, wmax))  # on the stack unless wide (numba_stack)
    nan_probe = 0.0
    for r in range(x.shape[0]):
        src = x[r : r + 1]
        for layer in range(n_layers):
            n_out, code = meta[layer, 2], meta[layer, 3]
            z = h[layer % 2]
            dense_panels(src, 1, panels, meta[layer], z, isa)  # isa is a one-row variant
            if layer == 0:
                for k in range(n_out):
                    nan_probe += z[0, k] - z[0, k]
            target = z[0]
            if layer == n_layers - 1:
                target = out[r]
                for k in range(n_out):
                    target[k] = z[0, k]
            activate_row(target, n_out, code)  # one call site: each inlined copy costs compile time
            src = z
    return nan_probe == 0.0


#: what the one-sample entry point returns: x finite, x (or an overflow) not finite, x of the wrong length
ONE_FINITE, ONE_NOT_FINITE, ONE_WRONG_LENGTH = 1, 0, -1


def entry_points(isa):
    """(forward_panels, forward_rows, one sample) with the variant ``isa`` captured as a
    compile-time constant, each ``(x, panels, meta, out) -> finite`` (one sample: x (in,),
    out (n_out,) -> :data:`ONE_FINITE`, :data:`ONE_NOT_FINITE`, or :data:`ONE_WRONG_LENGTH`
    without touching out when x's length is not the first layer's inputs, so a caller need not
    check the shape first). Called with arrays only, they dispatch through Numba's fast C typing path;
    each compiles (or loads from the cache) when first called. Every call makes new
    dispatchers: the caller keeps them (the Numba backend keeps one set per variant)."""

    @_jit
    def panels_bound(x, panels, meta, out):
        return forward_panels(x, panels, meta, out, isa)

    row = isa.one_row()

    @_jit
    def rows_bound(x, panels, meta, out):
        return forward_rows(x, panels, meta, out, row)

    @_jit
    def one_bound(x, panels, meta, out):
        if x.shape[0] != meta[0, 1] or out.shape[0] != meta[meta.shape[0] - 1, 2]:
            return ONE_WRONG_LENGTH
        if forward_rows(x.reshape((1, x.shape[0])), panels, meta, out.reshape((1, out.shape[0])), row):
            return ONE_FINITE
        return ONE_NOT_FINITE

    return panels_bound, rows_bound, one_bound


# -- single layer ------------------------------------------------------------------------------
@_jit
def affine_act(x, W, b, code):
    """Fused dense layer: activation(x @ W + b) for x (n, in), W (in, out), b (out,) -> (n, out).

    Row by row in axpy form (W's rows are contiguous); zero inputs are skipped, which is exact for
    finite weights and pays for sparse images and ReLU outputs."""
    n_in, n_out = W.shape
    z = np.empty((x.shape[0], n_out), dtype=W.dtype)
    for r in range(x.shape[0]):
        for j in range(n_out):
            z[r, j] = b[j]
        for i in range(n_in):
            xi = x[r, i]
            if xi != 0:
                for j in range(n_out):
                    z[r, j] += xi * W[i, j]
        activate_row(z[r], n_out, code)
    return z


@_jit_inner
def activate_block(z, cols, code):
    """Apply activation ``code`` in place to z (n, k) C-contiguous; a softmax is taken over the
    first ``cols`` columns of each row (a hidden layer's real outputs; the padding columns are
    then left unspecified). Elementwise work runs over the flat array, so short rows pay no
    per-row overhead: softmax subtracts each row's max, exponentiates the flat block, then
    normalises each row (10-wide rows: 1.9 ns per element this way, 8.7 row by row)."""
    n, k = z.shape
    flat = z.reshape(n * k)
    if code != SOFTMAX:
        activate_row(flat, n * k, code)
        return
    for r in range(n):
        m = z[r, 0]
        for j in range(1, cols):
            if z[r, j] > m:
                m = z[r, j]
        for j in range(cols):
            z[r, j] -= m
    for i in range(n * k):
        flat[i] = fast_exp(flat[i])
    for r in range(n):
        s = 0.0
        for j in range(cols):
            s += z[r, j]
        inv = 1.0 / s
        for j in range(cols):
            z[r, j] = z[r, j] * inv


@_jit
def bias_act_inplace(z, b, code):
    """z (n, k) C-contiguous <- activation(z + b) in place; the epilogue after a BLAS product.

    Elementwise activations run over blocks of about FLAT_CHUNK elements (whole rows): the bias
    is added to a block and the block activated while it is still in cache - one pass over z
    instead of two (measured 1.93 -> 1.0 ms for relu on 4096x512 at 2 threads)."""
    n, k = z.shape
    if code == SOFTMAX:
        for r in range(n):
            for j in range(k):
                z[r, j] += b[j]
        activate_block(z, k, code)
        return
    rows = max(1, FLAT_CHUNK // k)
    flat = z.reshape(n * k)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        for r in range(r0, r1):
            for j in range(k):
                z[r, j] += b[j]
        activate_row(flat[r0 * k :], (r1 - r0) * k, code)


@_jit
def activation(z, code):
    """activation(z) for z (n, k) -> new C-contiguous (n, k) array."""
    a = np.ascontiguousarray(z).copy()
    activate_block(a, a.shape[1], code)
    return a


@_jit
def activation_grad(a, g, code):
    """dL/dz (n, k) from the output a = activation(z) and upstream g = dL/da (both (n, k))."""
    n, k = g.shape
    d = np.empty_like(g)
    for r in range(n):
        if code == SOFTMAX:
            s = 0.0
            for j in range(k):
                s += g[r, j] * a[r, j]
            for j in range(k):
                d[r, j] = a[r, j] * (g[r, j] - s)
        elif code == SIGMOID:
            for j in range(k):
                d[r, j] = g[r, j] * a[r, j] * (1 - a[r, j])
        elif code == TANH:
            for j in range(k):
                d[r, j] = g[r, j] * (1 - a[r, j] * a[r, j])
        elif code == RELU:
            for j in range(k):
                d[r, j] = g[r, j] if a[r, j] > 0 else 0.0
        elif code == LEAKY_RELU:
            for j in range(k):
                d[r, j] = g[r, j] if a[r, j] > 0 else g[r, j] * LEAKY_SLOPE
        elif code == STEP:
            for j in range(k):
                d[r, j] = 0.0
        else:  # identity
            for j in range(k):
                d[r, j] = g[r, j]
    return d


@_jit
def softmax_cross_entropy(z, t):
    """Classifier output from logits z (n, k) and targets t (n, k) in one pass: (mean loss
    sum_k t_k (logsumexp(z) - z_k) / n, delta = (softmax(z) sum(t) - t) / n, rows whose argmax
    of z equals the argmax of t)."""
    n, k = z.shape
    delta = np.empty_like(z)
    total = 0.0
    correct = 0
    for r in range(n):
        m, best, t_best = z[r, 0], 0, 0
        for j in range(1, k):
            if z[r, j] > m:
                m, best = z[r, j], j
            if t[r, j] > t[r, t_best]:
                t_best = j
        correct += best == t_best
        e = delta[r]
        for j in range(k):
            e[j] = fast_exp(z[r, j] - m)
        s = 0.0
        t_sum = 0.0
        tz = 0.0
        for j in range(k):
            s += e[j]
            t_sum += t[r, j]
            tz += t[r, j] * (z[r, j] - m)
        total += t_sum * math.log(s) - tz
        scale = t_sum / s
        for j in range(k):
            delta[r, j] = (e[j] * scale - t[r, j]) / n
    return total / n, delta, correct


# -- optimizer updates on flat arrays, in place (one pass instead of ~8 array operations) ------
@_jit
def adam_update(p, g, m, v, lr_t, beta1, beta2, eps):
    """Adam step: m, v moving averages of g, g^2; p -= lr_t m / (sqrt(v) + eps). 1-D arrays."""
    for i in range(p.shape[0]):
        gi = g[i]
        mi = beta1 * m[i] + (1.0 - beta1) * gi
        vi = beta2 * v[i] + (1.0 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= lr_t * mi / (math.sqrt(vi) + eps)


@_jit
def sgd_update(p, g, lr):
    """p -= lr g for 1-D arrays."""
    for i in range(p.shape[0]):
        p[i] -= lr * g[i]


@_jit_dot
def all_finite(x):
    """True if the 1-D array x holds no NaN or +-Inf. v - v is 0 for finite v and NaN otherwise;
    summing those vectorises (reassociation only: NaN still propagates) and exits per block."""
    block = 4096
    for start in range(0, x.shape[0], block):
        acc = 0.0
        for i in range(start, min(start + block, x.shape[0])):
            acc += x[i] - x[i]
        if acc != 0.0:
            return False
    return True
