"""Vectorisable ``exp`` and ``sigmoid`` for Numba kernels, one scalar at a time.

Numba's ``math.exp`` is a scalar libm call (~4.5 ns per element) that keeps any loop around it
scalar. :func:`fast_exp` and :func:`fast_sigmoid` are inlined into the caller's loop, which LLVM
then vectorises (8 float32 or 4 float64 lanes on AVX2).

exp(x) = 2**f * exp(r), f = round(x / ln 2), r = x - f ln 2 (Cody-Waite: ln 2 in two parts), exp(r)
by a polynomial on |r| <= ln2/2. Adding ROUND rounds x / ln 2 to an integer and leaves it in the
low mantissa bits, so 2**f is assembled from those bits with integer operations, through the
bit-cast intrinsics below (AVX2 has no packed float -> int64 conversion, which would keep
``int(f)`` scalar). Below the underflow bound the result is 0; above the overflow bound x is
clamped (the callers only exponentiate values <= 0).

Accuracy (measured against float64 NumPy): float64 relative error < 4e-16 (degree-12 Taylor
polynomial); float32 < 8e-8 (degree 7, in float32 arithmetic). ``fast_sigmoid`` in float32
divides in float32: relative error < 2e-7 (1.5 ulp), at 0.6 ns per element instead of 1.0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

from .numba_jit import JIT_OPTIONS as _JIT

_inline = njit(inline="always", **_JIT)  # inlined into the caller's loop at Numba-IR level


def _bitcast(src, dst):
    @intrinsic
    def cast(typingctx, x):
        if x != src:
            return None
        sig = dst(src)

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return sig, codegen

    return cast


_f32_bits, _bits_f32 = _bitcast(types.float32, types.int32), _bitcast(types.int32, types.float32)
_f64_bits, _bits_f64 = _bitcast(types.float64, types.int64), _bitcast(types.int64, types.float64)

_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 0.693145751953125, 1.42860682030941723212e-6
_ROUND = 6755399441055744.0  # 1.5 * 2**52
_ROUND_BITS = int(np.float64(_ROUND).view(np.int64))
_EXP_MIN, _EXP_MAX = -708.0, 709.0
_P64 = (1.0, 1.0, 0.5, 1.6666666666666666e-01, 4.1666666666666664e-02, 8.3333333333333332e-03,
        1.3888888888888889e-03, 1.9841269841269841e-04, 2.4801587301587302e-05, 2.7557319223985893e-06,
        2.7557319223985888e-07, 2.5052108385441720e-08, 2.0876756987868100e-09)

_F = np.float32
_LOG2E_F, _LN2_HI_F, _LN2_LO_F = _F(_LOG2E), _F(0.693359375), _F(-2.12194440e-4)
_ROUND_F = _F(12582912.0)  # 1.5 * 2**23
_ROUND_BITS_F = int(_ROUND_F.view(np.int32))
_EXP_MIN_F, _EXP_MAX_F = _F(-87.33654), _F(88.37626)
_ONE_F, _ZERO_F = _F(1.0), _F(0.0)
_C2, _C3, _C4, _C5, _C6, _C7 = (_F(1.0 / math.factorial(k)) for k in range(2, 8))


@_inline
def _exp64(x0):
    x = x0 if x0 > _EXP_MIN else _EXP_MIN
    x = x if x < _EXP_MAX else _EXP_MAX
    m = x * _LOG2E + _ROUND
    f = m - _ROUND
    r = (x - f * _LN2_HI) - f * _LN2_LO
    p = _P64[12]
    for i in range(11, -1, -1):  # Horner; LLVM unrolls it
        p = _P64[i] + r * p
    scale = _bits_f64((_f64_bits(m) - (_ROUND_BITS - 1023)) << 52)
    return p * scale if x0 > _EXP_MIN else 0.0


@_inline
def _exp32(x0):
    x = x0 if x0 > _EXP_MIN_F else _EXP_MIN_F
    x = x if x < _EXP_MAX_F else _EXP_MAX_F
    m = x * _LOG2E_F + _ROUND_F
    f = m - _ROUND_F
    r = (x - f * _LN2_HI_F) - f * _LN2_LO_F
    p = _ONE_F + r * (_ONE_F + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * _C7))))))
    scale = _bits_f32(np.int32((_f32_bits(m) - (_ROUND_BITS_F - 127)) << 23))
    return p * scale if x0 > _EXP_MIN_F else _ZERO_F


@_inline
def _sigmoid64(x):
    e = _exp64(-abs(x))  # in (0, 1]: never overflows
    return (1.0 if x >= 0 else e) / (1.0 + e)


@_inline
def _sigmoid32(x):
    e = _exp32(-abs(x))
    return (_ONE_F if x >= 0 else e) / (_ONE_F + e)


def fast_exp(x):
    """exp(x) of a float32 or float64 scalar, in its precision (Numba-compiled code only)."""
    raise NotImplementedError("fast_exp is only callable from Numba-compiled code")


def fast_sigmoid(x):
    """1 / (1 + exp(-x)) of a float32 or float64 scalar, without overflow (Numba code only)."""
    raise NotImplementedError("fast_sigmoid is only callable from Numba-compiled code")


@overload(fast_exp, inline="always", jit_options=_JIT)
def _fast_exp_for(x):
    if x == types.float32:
        return lambda x: _exp32(x)
    if x == types.float64:
        return lambda x: _exp64(x)
    return None


@overload(fast_sigmoid, inline="always", jit_options=_JIT)
def _fast_sigmoid_for(x):
    if x == types.float32:
        return lambda x: _sigmoid32(x)
    if x == types.float64:
        return lambda x: _sigmoid64(x)
    return None
