"""Scratch arrays on the stack of compiled code: no heap allocation, nothing for NRT to free.

``np.empty`` inside a Numba kernel allocates through NRT (malloc, a MemInfo, its release at the
end): about 50 ns of a single-sample forward that takes 2.8 us in all (M1 float32, AMD EPYC
Zen 2). The one-row forward needs only a few KB of scratch (two rows of the widest layer), so
it takes them from its own stack frame instead when they fit :data:`STACK_SCRATCH_BYTES`.
"""

from __future__ import annotations

import llvmlite.ir as ir
from numba import types
from numba.extending import intrinsic

#: the most scratch taken from the stack, in bytes: far below the smallest thread stack a
#: caller may run on (macOS secondary threads: 512 KiB); more goes to the heap
STACK_SCRATCH_BYTES = 16 * 1024


@intrinsic
def stack_empty(typingctx, n, like):
    """``stack_empty(n, like)``: an uninitialised 1-D C-contiguous array of ``n`` elements of
    ``like``'s dtype in the calling function's stack frame, 64-byte aligned, valid until that
    function returns. Call it outside loops (each call grows the frame) and only for small
    ``n`` (see :data:`STACK_SCRATCH_BYTES`); it must not escape the function."""
    if not isinstance(n, types.Integer) or not isinstance(like, types.Array):
        return None
    arrty = types.Array(like.dtype, 1, "C")

    def codegen(context, builder, sig, args):
        count = context.cast(builder, args[0], sig.args[0], types.intp)
        fty = context.get_value_type(like.dtype)
        data = builder.alloca(fty, size=count)
        data.align = 64
        itemsize = context.get_abi_sizeof(fty)
        array = context.make_array(arrty)(context, builder)
        intp = context.get_value_type(types.intp)
        context.populate_array(array, data=data, shape=[count], strides=[ir.Constant(intp, itemsize)],
                               itemsize=ir.Constant(intp, itemsize), meminfo=None)
        return array._getvalue()

    return arrty(n, like), codegen
