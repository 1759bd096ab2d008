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
from numba import njit, types
from numba.extending import overload

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
from .numba_gemm import TILE_ROWS, VECTOR_BYTES, tile_full, tile_half

META_COLUMNS = 5  # w_offset, b_offset, n_in, n_out, activation_code
PANEL_META_COLUMNS = 5  # offset, n_in, n_out, activation_code, padded_width
BLOCK_ROWS = 8 * TILE_ROWS  # rows of a batch that go through all layers together (see forward_panels)


def _jit(fn=None, **options):
    """``njit(cache=True, nogil=True, error_model="numpy", **options)``.

    ``error_model="numpy"``: division follows IEEE (x/0 -> inf or nan) instead of raising
    ZeroDivisionError, and loops carry no zero checks. The on-disk cache is dropped where no
    cache directory is writable (a read-only install with no writable ``NUMBA_CACHE_DIR`` or
    home): Numba raises RuntimeError('no locator available') at decoration time there."""
    if fn is None:
        return lambda f: _jit(f, **options)
    options = dict(nogil=True, error_model="numpy", **options)
    try:
        return njit(cache=True, **options)(fn)
    except RuntimeError:
        return njit(**options)(fn)


#: Reductions only: reassociate and contract to FMA; no nnan/ninf, so NaN and Inf still propagate.
_jit_dot = _jit(fastmath={"reassoc", "contract"})

# exp(x) = 2**f * exp(r), f = round(x / ln 2), r = x - f ln 2 (Cody-Waite: ln 2 in two parts).
# Numba's math.exp is a scalar libm call (~4.5 ns/element); these loops vectorise. Adding ROUND
# rounds to an integer and leaves it in the low mantissa bits, so 2**f is assembled with integer
# ops only (AVX2 has no packed float -> int64 conversion, which would keep ``int(f)`` scalar).
WORK_ROWS = 3  # rows of the ``work`` scratch (the array's dtype) the activation kernels take
FLAT_CHUNK = 2048  # elementwise activations of a batch run over the flat array in chunks this long

_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 0.693145751953125, 1.42860682030941723212e-6
_ROUND = 6755399441055744.0  # 1.5 * 2**52
_ROUND_BITS = int(np.float64(_ROUND).view(np.int64))
_EXP_MIN, _EXP_MAX = -708.0, 709.0  # 0 below (underflow), clamped above

_F = np.float32
_LOG2E_F, _LN2_HI_F, _LN2_LO_F = _F(_LOG2E), _F(0.693359375), _F(-2.12194440e-4)
_ROUND_F = _F(12582912.0)  # 1.5 * 2**23
_ROUND_BITS_F = int(_ROUND_F.view(np.int32))
_EXP_MIN_F, _EXP_MAX_F = _F(-87.33654), _F(88.37626)
_ONE_F, _ZERO_F = _F(1.0), _F(0.0)
_C2, _C3, _C4, _C5, _C6, _C7 = (_F(1.0 / math.factorial(k)) for k in range(2, 8))


@_jit(fastmath={"contract"})
def _exp64(v, n, poly, scale):
    """float64: degree-12 Taylor polynomial on |r| <= ln2/2; relative error < 4e-16 (measured)."""
    for i in range(n):
        x0 = v[i]
        x = x0 if x0 > _EXP_MIN else _EXP_MIN
        x = x if x < _EXP_MAX else _EXP_MAX
        m = x * _LOG2E + _ROUND
        f = m - _ROUND
        r = (x - f * _LN2_HI) - f * _LN2_LO
        p = 1.0 + r * (1.0 + r * (0.5 + r * (1.6666666666666666e-01 + r * (4.1666666666666664e-02 + r * (
            8.3333333333333332e-03 + r * (1.3888888888888889e-03 + r * (1.9841269841269841e-04 + r * (
                2.4801587301587302e-05 + r * (2.7557319223985893e-06 + r * (2.7557319223985888e-07 + r * (
                    2.5052108385441720e-08 + r * 2.0876756987868100e-09)))))))))))
        poly[i] = p if x0 > _EXP_MIN else 0.0
        scale[i] = m
    bits = scale[:n].view(np.int64)
    for i in range(n):
        bits[i] = (bits[i] - (_ROUND_BITS - 1023)) << 52
    for i in range(n):
        v[i] = poly[i] * scale[i]


@_jit(fastmath={"contract"})
def _exp32(v, n, poly, scale):
    """float32 in float32 arithmetic (8 lanes on AVX2): degree-7 polynomial; relative error
    < 8e-8 (measured), 0.5 ns/element vs 2.5 for the float64 path."""
    for i in range(n):
        x0 = v[i]
        x = x0 if x0 > _EXP_MIN_F else _EXP_MIN_F
        x = x if x < _EXP_MAX_F else _EXP_MAX_F
        m = x * _LOG2E_F + _ROUND_F
        f = m - _ROUND_F
        r = (x - f * _LN2_HI_F) - f * _LN2_LO_F
        p = _ONE_F + r * (_ONE_F + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * _C7))))))
        poly[i] = p if x0 > _EXP_MIN_F else _ZERO_F
        scale[i] = m
    bits = scale[:n].view(np.int32)
    for i in range(n):
        bits[i] = (bits[i] - (_ROUND_BITS_F - 127)) << 23
    for i in range(n):
        v[i] = poly[i] * scale[i]


def exp_inplace(v, n, poly, scale):
    """v[:n] <- exp(v[:n]); poly, scale: scratch of v's dtype, length >= n (Numba-only)."""
    raise NotImplementedError("exp_inplace is only callable from Numba-compiled code")


@overload(exp_inplace, jit_options={"nogil": True, "error_model": "numpy"})
def _exp_inplace_for(v, n, poly, scale):
    if v.dtype == types.float32:
        return lambda v, n, poly, scale: _exp32(v, n, poly, scale)
    return lambda v, n, poly, scale: _exp64(v, n, poly, scale)


# -- one row -------------------------------------------------------------------------------
@_jit
def activate_row(h, n, code, work):
    """Apply activation ``code`` in place to h[:n] (softmax over those n entries).
    ``work``: scratch of h's dtype, shape (WORK_ROWS, >= n)."""
    if code == IDENTITY:
        return
    if code == SOFTMAX:
        m = h[0]
        for k in range(1, n):
            if h[k] > m:
                m = h[k]
        for k in range(n):
            h[k] = h[k] - m
        exp_inplace(h, n, work[0], work[1])
        s = 0.0
        for k in range(n):
            s += h[k]
        inv = 1.0 / s
        for k in range(n):
            h[k] = h[k] * inv
    elif code == SIGMOID:
        e = work[2]
        for k in range(n):
            e[k] = -abs(h[k])
        exp_inplace(e, n, work[0], work[1])  # e = exp(-|h|) in (0, 1]: never overflows
        for k in range(n):
            h[k] = (1.0 if h[k] >= 0 else e[k]) / (1.0 + e[k])
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
def _forward_row(x, buf, meta, h0, h1, out, work):
    """Whole-network forward of one sample x (in,) into out (n_out_last,); h0, h1, work scratch."""
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
        activate_row(dst, n_out, code, work)
        cur = dst


# -- whole network ----------------------------------------------------------------------------
@_jit
def forward_packed_one(x, buf, meta, width):
    """Fused whole-network forward of one sample: x (in,) -> (n_out_last,), all layers in one call.
    ``width`` is the widest hidden layer (scratch size)."""
    out = np.empty(meta[meta.shape[0] - 1, 3], dtype=buf.dtype)
    h0 = np.empty(width, dtype=buf.dtype)
    h1 = np.empty(width, dtype=buf.dtype)
    _forward_row(x, buf, meta, h0, h1, out, np.empty((WORK_ROWS, width), dtype=buf.dtype))
    return out


@_jit
def forward_packed(x, buf, meta, width):
    """Fused whole-network forward of a batch, one row at a time: x (n, in) -> (n, n_out_last)."""
    out = np.empty((x.shape[0], meta[meta.shape[0] - 1, 3]), dtype=buf.dtype)
    h0 = np.empty(width, dtype=buf.dtype)
    h1 = np.empty(width, dtype=buf.dtype)
    work = np.empty((WORK_ROWS, width), dtype=buf.dtype)
    for r in range(x.shape[0]):
        _forward_row(x[r], buf, meta, h0, h1, out[r], work)
    return out


@_jit
def dense_panels(x, rows, n_in, panels, off, n_out, z):
    """z[:rows, :padded] = x[:rows, :n_in] @ W + b for the layer packed at ``panels[off:]``
    (layout: :mod:`mlpkit.kernels.numba_gemm`). ``rows`` is a multiple of TILE_ROWS; x and z have
    unit inner stride and at least ``rows`` rows; z has the layer's padded width."""
    full = 2 * VECTOR_BYTES // z.itemsize
    half = full // 2
    width = (n_out + half - 1) // half * half
    # the micro-kernel does no bounds checks: refuse what would read or write past the arrays
    if rows % TILE_ROWS or rows > x.shape[0] or rows > z.shape[0] or n_in > x.shape[1] or width > z.shape[1]:
        raise ValueError("dense_panels: rows must be a multiple of TILE_ROWS and fit x and z")
    if x.strides[1] != x.itemsize or z.strides[1] != z.itemsize or off + (n_in + 1) * width > panels.shape[0]:
        raise ValueError("dense_panels: x and z need unit inner stride; the panels must hold the layer")
    for i0 in range(0, rows, TILE_ROWS):
        p_off = off
        c0 = 0
        while c0 + full <= width:
            tile_full(x, i0, n_in, panels, p_off, z, c0)
            p_off += (n_in + 1) * full
            c0 += full
        if c0 < width:
            tile_half(x, i0, n_in, panels, p_off, z, c0)


@_jit_dot
def _nan_probe(z, rows, cols):
    """Sum of z - z over z[:rows, :cols]: 0 if all finite, NaN otherwise (vectorised, as all_finite)."""
    acc = 0.0
    for r in range(rows):
        for j in range(cols):
            acc += z[r, j] - z[r, j]
    return acc


@_jit
def forward_panels(x, panels, meta, out):
    """Whole-network forward of a batch x (n, in) C-contiguous into out (n, n_out_last), with the
    layers packed as panels (``meta`` rows: offset, n_in, n_out, activation_code, padded_width).
    Returns whether the first layer's pre-activations are all finite, which they are iff x is,
    for finite weights (a NaN or Inf input makes its whole row NaN or Inf); False can also mean
    that finite inputs overflowed, so a caller re-checks x before blaming it.

    BLOCK_ROWS rows at a time go through every layer, so the intermediate activations stay in
    cache; the last block's rows are padded up to a multiple of TILE_ROWS through a copy."""
    n = x.shape[0]
    n_layers = meta.shape[0]
    wmax = 0
    for layer in range(n_layers):
        wmax = max(wmax, meta[layer, 4])
    h = np.empty((2, BLOCK_ROWS * wmax), dtype=out.dtype)
    work = np.empty((WORK_ROWS, wmax), dtype=out.dtype)
    tail = n % TILE_ROWS
    xpad = np.zeros((TILE_ROWS if tail else 0, x.shape[1]), dtype=x.dtype)
    nan_probe = 0.0  # sum of z - z over the first layer: 0 if all finite, NaN otherwise
    for s in range(0, n, BLOCK_ROWS):
        rows = min(BLOCK_ROWS, n - s)
        full_rows = rows - rows % TILE_ROWS
        src = x[s : s + rows]
        for layer in range(n_layers):
            off, n_in, n_out, code, padded = meta[layer, 0], meta[layer, 1], meta[layer, 2], meta[layer, 3], meta[layer, 4]
            rows_t = full_rows + (TILE_ROWS if rows > full_rows else 0)
            z = h[layer % 2, : rows_t * padded].reshape((rows_t, padded))
            if layer == 0:
                dense_panels(src, full_rows, n_in, panels, off, n_out, z)
                if rows > full_rows:  # the batch's last rows, padded with zero rows
                    xpad[: rows - full_rows] = src[full_rows:rows]
                    dense_panels(xpad, TILE_ROWS, n_in, panels, off, n_out, z[full_rows:])
                nan_probe += _nan_probe(z, rows, n_out)
            else:  # z of the previous layer already holds rows_t rows
                dense_panels(src, rows_t, n_in, panels, off, n_out, z)
            if layer == n_layers - 1:
                dst = out[s : s + rows]
                dst[:, :] = z[:rows, :n_out]
                activate_block(dst, code)
            elif code == SOFTMAX:  # over the n_out real columns only
                for r in range(rows):
                    activate_row(z[r], n_out, code, work)
            else:  # elementwise: the padding columns (zero weights) may take any value
                activate_block(z, code)
            src = z
    return nan_probe == 0.0


# -- single layer ------------------------------------------------------------------------------
@_jit
def affine_act(x, W, b, code):
    """Fused dense layer: activation(x @ W + b) for x (n, in), W (in, out), b (out,) -> (n, out).

    Row by row in axpy form (W's rows are contiguous); zero inputs are skipped, which is exact for
    finite weights and pays for sparse images and ReLU outputs."""
    n_in, n_out = W.shape
    z = np.empty((x.shape[0], n_out), dtype=W.dtype)
    work = np.empty((WORK_ROWS, n_out), dtype=W.dtype)
    for r in range(x.shape[0]):
        for j in range(n_out):
            z[r, j] = b[j]
        for i in range(n_in):
            xi = x[r, i]
            if xi != 0:
                for j in range(n_out):
                    z[r, j] += xi * W[i, j]
        activate_row(z[r], n_out, code, work)
    return z


@_jit
def activate_block(z, code):
    """Apply activation ``code`` in place to z (n, k) C-contiguous.

    The transcendental part runs over the flat array in FLAT_CHUNK pieces, so short rows do not
    pay a per-row overhead (bias+sigmoid on 4096x50: 8 ns/element row by row, ~3 flat). Softmax
    subtracts each row's max, exponentiates the flat block, then normalises each row."""
    n, k = z.shape
    flat = z.reshape(n * k)
    work = np.empty((WORK_ROWS, FLAT_CHUNK), dtype=z.dtype)
    if code == SOFTMAX:
        for r in range(n):
            m = z[r, 0]
            for j in range(1, k):
                if z[r, j] > m:
                    m = z[r, j]
            for j in range(k):
                z[r, j] -= m
        for start in range(0, n * k, FLAT_CHUNK):
            exp_inplace(flat[start:], min(FLAT_CHUNK, n * k - start), work[0], work[1])
        for r in range(n):
            s = 0.0
            for j in range(k):
                s += z[r, j]
            inv = 1.0 / s
            for j in range(k):
                z[r, j] = z[r, j] * inv
        return
    for start in range(0, n * k, FLAT_CHUNK):
        activate_row(flat[start:], min(FLAT_CHUNK, n * k - start), code, work)


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
        activate_block(z, code)
        return
    rows = max(1, FLAT_CHUNK // k)
    flat = z.reshape(n * k)
    work = np.empty((WORK_ROWS, rows * k), dtype=z.dtype)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        for r in range(r0, r1):
            for j in range(k):
                z[r, j] += b[j]
        activate_row(flat[r0 * k :], (r1 - r0) * k, code, work)


@_jit
def activation(z, code):
    """activation(z) for z (n, k) -> new C-contiguous (n, k) array."""
    a = np.ascontiguousarray(z).copy()
    activate_block(a, code)
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
    work = np.empty((WORK_ROWS, k), dtype=z.dtype)
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
            e[j] = z[r, j] - m
        exp_inplace(e, k, work[0], work[1])
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
