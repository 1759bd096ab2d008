"""Scratch arrays for compiled code, on the stack of the calling function when they are small.

``np.empty`` inside a Numba kernel allocates through NRT (malloc, a MemInfo, atomic reference
counts, the free at the end): about 0.1 us of a single-sample forward that takes 2.8 us in all
(M1 float32, AMD EPYC Zen 2). The one-row forward needs only a few KB of scratch (two rows of
the widest layer), so :func:`scratch_empty` takes it from the caller's stack frame up to
:data:`STACK_SCRATCH_BYTES` and from NRT past that. The choice is made in the IR, not in a
Numba-level branch between two arrays: that branch cost 0.1 s of a cold start to compile.
"""

from __future__ import annotations

import llvmlite.ir as ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: the most scratch taken from the stack, in bytes: M2's two float64 rows of 512 columns, far
#: below the thread stacks a caller runs on (macOS secondary threads: 512 KiB; Python's
#: ``threading.stack_size`` minimum: 32 KiB); more comes from the heap
STACK_SCRATCH_BYTES = 8 * 1024
ALIGN = 64  # a cache line: whole-vector loads of the scratch never straddle two


@intrinsic
def scratch_empty(typingctx, n, like):
    """``scratch_empty(n, like)``: an uninitialised 1-D C-contiguous array of ``n`` elements of
    ``like``'s dtype, 64-byte aligned: in the calling function's stack frame (valid until it
    returns, so it must not escape) when it takes at most :data:`STACK_SCRATCH_BYTES`, else
    allocated by NRT and freed with its last reference as ``np.empty``'s. Call it outside
    loops: each stack allocation grows the frame until the function returns."""
    if not isinstance(n, types.Integer) or not isinstance(like, types.Array):
        return None
    arrty = types.Array(like.dtype, 1, "C")

    def codegen(context, builder, sig, args):
        intp = context.get_value_type(types.intp)
        count = context.cast(builder, args[0], sig.args[0], types.intp)
        fty = context.get_value_type(like.dtype)
        itemsize = ir.Constant(intp, context.get_abi_sizeof(fty))
        nbytes = builder.mul(count, itemsize)
        data = cgutils.alloca_once(builder, fty.as_pointer())
        meminfo = cgutils.alloca_once_value(builder, cgutils.get_null_value(cgutils.voidptr_t))
        small = builder.icmp_unsigned("<=", nbytes, ir.Constant(intp, STACK_SCRATCH_BYTES))
        with builder.if_else(small) as (on_stack, on_heap):
            with on_stack:
                frame = builder.alloca(fty, size=count)
                frame.align = ALIGN
                builder.store(frame, data)
            with on_heap:
                mi = context.nrt.meminfo_alloc_aligned(builder, size=nbytes, align=ALIGN)
                builder.store(mi, meminfo)
                builder.store(builder.bitcast(context.nrt.meminfo_data(builder, mi), fty.as_pointer()), data)
        array = context.make_array(arrty)(context, builder)
        context.populate_array(array, data=builder.load(data), shape=[count], strides=[itemsize],
                               itemsize=itemsize, meminfo=builder.load(meminfo))
        return array._getvalue()

    return arrty(n, like), codegen
