"""Numba ``@njit`` loop kernels for dense layers (CPU).

Every kernel is pure (arrays in, arrays out or written in place into an argument), serial and
``nogil``: none uses ``parallel=True``, so any number of Python threads may call them at once
(Numba's default ``workqueue`` threading layer aborts the process when two threads enter a parallel
region). Batches large enough for threads to pay off go through BLAS in the backend instead.

Shapes: a batch ``x`` is (n, in), a weight ``W`` is (in, out) C-contiguous, a bias ``b`` is (out,).
Floating-point dtype follows the arrays (float32 or float64); scalar transcendental functions
are evaluated at the array's precision or higher and rounded once when stored.

A whole network is *packed* for the fused kernels: every layer's W transposed to (out, in),
row-major, and b laid end to end in one 1-D buffer, and an int64 ``meta`` array of shape (layers, 5) whose rows are
``(w_offset, b_offset, n_in, n_out, activation_code)``. Three arguments instead of 2 per layer keep
the dispatcher's per-call unboxing cost constant.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .constants import LEAKY_SLOPE

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
META_COLUMNS = 5  # w_offset, b_offset, n_in, n_out, activation_code


def _jit(fn=None, **options):
    """``njit(cache=True, nogil=True, **options)``; without the on-disk cache where no cache
    directory is writable (a read-only install with no writable ``NUMBA_CACHE_DIR`` or home):
    Numba raises RuntimeError('no locator available') at decoration time there."""
    if fn is None:
        return lambda f: _jit(f, **options)
    try:
        return njit(cache=True, nogil=True, **options)(fn)
    except RuntimeError:
        return njit(nogil=True, **options)(fn)


#: Reductions only: reassociate and contract to FMA; no nnan/ninf, so NaN and Inf still propagate.
_jit_dot = _jit(fastmath={"reassoc", "contract"})


# -- one row -------------------------------------------------------------------------------
@_jit
def activate_row(h, n, code):
    """Apply activation ``code`` in place to h[:n] (softmax over those n entries)."""
    if code == IDENTITY:
        return
    if code == SOFTMAX:
        m = h[0]
        for k in range(1, n):
            if h[k] > m:
                m = h[k]
        s = 0.0
        for k in range(n):
            e = math.exp(h[k] - m)
            h[k] = e
            s += e
        inv = 1.0 / s
        for k in range(n):
            h[k] = h[k] * inv
    elif code == SIGMOID:
        for k in range(n):
            v = h[k]
            if v >= 0:
                h[k] = 1.0 / (1.0 + math.exp(-v))
            else:
                e = math.exp(v)
                h[k] = e / (1.0 + e)
    elif code == RELU:
        for k in range(n):
            if not h[k] > 0:
                h[k] = 0.0
    elif code == TANH:
        for k in range(n):
            h[k] = math.tanh(h[k])
    elif code == LEAKY_RELU:
        for k in range(n):
            if not h[k] > 0:
                h[k] = h[k] * LEAKY_SLOPE
    elif code == STEP:
        for k in range(n):
            h[k] = 1.0 if h[k] > 0 else 0.0


@_jit_dot
def dense_row(x, Wt, b, h):
    """h[:n_out] = Wt @ x[:n_in] + b for Wt (n_out, n_in) C-contiguous: one dot product per output.

    The inner loop runs over contiguous x and Wt[j]; reassociation (and FMA contraction) is allowed
    here so LLVM vectorises the reduction. Indices are ``range`` variables over 2-D views: a
    computed 1-D offset (``buf[base + i]``) costs a wraparound check per element and does not
    vectorise (measured 2-6x slower)."""
    n_out, n_in = Wt.shape
    for j in range(n_out):
        s = b[j]
        for i in range(n_in):
            s += x[i] * Wt[j, i]
        h[j] = s


@_jit
def _forward_row(x, buf, meta, h0, h1, out):
    """Whole-network forward of one sample x (in,) into out (n_out_last,); h0, h1 scratch rows."""
    n_layers = meta.shape[0]
    cur = x
    for layer in range(n_layers):
        if layer == n_layers - 1:
            dst = out
        elif layer % 2 == 0:
            dst = h0
        else:
            dst = h1
        w_off, b_off, n_in, n_out, code = meta[layer, 0], meta[layer, 1], meta[layer, 2], meta[layer, 3], meta[layer, 4]
        Wt = buf[w_off : w_off + n_out * n_in].reshape((n_out, n_in))
        dense_row(cur, Wt, buf[b_off : b_off + n_out], dst)
        activate_row(dst, n_out, code)
        cur = dst


# -- whole network ----------------------------------------------------------------------------
@_jit
def forward_packed_one(x, buf, meta, width):
    """Fused whole-network forward of one sample: x (in,) -> (n_out_last,), all layers in one call.
    ``width`` is the widest hidden layer (scratch size)."""
    out = np.empty(meta[meta.shape[0] - 1, 3], dtype=buf.dtype)
    h0 = np.empty(width, dtype=buf.dtype)
    h1 = np.empty(width, dtype=buf.dtype)
    _forward_row(x, buf, meta, h0, h1, out)
    return out


@_jit
def forward_packed(x, buf, meta, width):
    """Fused whole-network forward of a batch, one row at a time: x (n, in) -> (n, n_out_last)."""
    out = np.empty((x.shape[0], meta[meta.shape[0] - 1, 3]), dtype=buf.dtype)
    h0 = np.empty(width, dtype=buf.dtype)
    h1 = np.empty(width, dtype=buf.dtype)
    for r in range(x.shape[0]):
        _forward_row(x[r], buf, meta, h0, h1, out[r])
    return out


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


@_jit
def bias_act_inplace(z, b, code):
    """z (n, k) <- activation(z + b) in place; the epilogue after a BLAS product."""
    k = z.shape[1]
    for r in range(z.shape[0]):
        row = z[r]
        for j in range(k):
            row[j] += b[j]
        activate_row(row, k, code)


@_jit
def activation(z, code):
    """activation(z) for z (n, k) -> new (n, k) array."""
    a = z.copy()
    for r in range(a.shape[0]):
        activate_row(a[r], a.shape[1], code)
    return a


@_jit
def activation_grad(z, a, g, code):
    """dL/dz (n, k) from pre-activation z, output a and upstream g = dL/da (all (n, k))."""
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
                d[r, j] = g[r, j] if z[r, j] > 0 else 0.0
        elif code == LEAKY_RELU:
            for j in range(k):
                d[r, j] = g[r, j] if z[r, j] > 0 else g[r, j] * LEAKY_SLOPE
        elif code == STEP:
            for j in range(k):
                d[r, j] = 0.0
        else:  # identity
            for j in range(k):
                d[r, j] = g[r, j]
    return d


@_jit
def all_finite(x):
    """True if the 1-D array x holds no NaN or +-Inf."""
    for i in range(x.shape[0]):
        if not math.isfinite(x[i]):
            return False
    return True
