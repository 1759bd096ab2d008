"""Instruction-set variants of the panel micro-kernel, as values the compiled kernels take.

A variant fixes what the register file dictates (the pattern of ONNX Runtime's MLAS, which keeps
one sgemm kernel per instruction set and picks one at load time):

- ``vector_bytes``: the width of one SIMD register (16 SSE/NEON, 32 AVX2, 64 AVX-512);
- ``tile_rows``: rows of the result kept in registers by one micro-kernel call;
- ``panel_vectors``: vectors per full panel (a panel is ``panel_vectors * lanes`` columns).

``tile_rows * panel_vectors`` accumulators plus ``panel_vectors`` weight vectors plus one
broadcast must fit the register file: AVX2 has 16 vector registers (6 x 2 = 12 + 2 + 1 = 15),
AVX-512 has 32 (8 x 3 = 24 + 3 + 1 = 28), the portable variant assumes SSE's 16 (4 x 2 = 8 + 2
+ 1 = 11). MLAS's AVX-512F sgemm kernel is 12 rows x 2 zmm (the same 24 accumulators); here 8 x
3 won on an Intel Xeon because a 48-wide panel covers M1's 50 columns with 2 dot products where
32 + 16 needed a one-vector panel, which is load-bound (one broadcast per FMA): M1 batch 4096,
1 thread, 1.47M vs 1.38M rows/s (M2 equal).

The variant also sets rows per block (``block_tiles``, the rows that go through all layers
together), how far ahead one-row kernels prefetch weights (``prefetch_rows``) and how many full
panels a one-row kernel runs together (``row_group``: ``row_group * panel_vectors`` = 6
accumulators, one broadcast of x[k] for all of them).

A variant reaches the kernels as an argument whose *Numba type* carries its numbers, so each
variant compiles (and is cached on disk) as its own specialisation, only when a call first uses
it, and the numbers are compile-time constants inside the micro-kernel. Typing an ``Isa`` passed
from Python goes through Numba's slow pure-Python ``typeof`` (~1-3 us a call), so the entry
points the backend calls per prediction capture the variant instead
(:func:`mlpkit.kernels.numba_cpu.entry_points`). Every variant is correct
on every LLVM target (LLVM splits vectors wider than the hardware's); only its speed depends on
the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from numba import types
from numba.core import cgutils
from numba.core.imputils import lower_constant, lower_getattr_generic
from numba.core.typing.templates import AttributeTemplate, infer_getattr
from numba.extending import NativeValue, box, models, register_model, typeof_impl, unbox


@dataclass(frozen=True)
class Isa:
    """One micro-kernel variant (see the module doc). Pass it to the panel kernels as is."""

    name: str
    vector_bytes: int
    tile_rows: int
    panel_vectors: int = 2
    #: rows of a batch that go through all layers together (a multiple of tile_rows), so the
    #: block's activations stay in L2 between layers
    block_tiles: int = 8
    #: one-row kernels (single samples) read every weight once, from L2, a panel row per k step;
    #: they prefetch the row this many steps ahead (0: leave it to the hardware). Measured on an
    #: Intel Xeon (AVX-512), M1 float32 one sample: avx512 (3 vectors, 3 cache lines a step)
    #: 2.93 -> 2.31 us with 8 rows ahead; avx2 (1 line a step) 2.62 -> 2.75 us, so not there.
    prefetch_rows: int = 0
    #: full panels a one-row kernel runs through one k loop, sharing each broadcast of x[k]:
    #: ``row_group * panel_vectors`` FMA chains (6), so those panels are summed in one k block
    #: (:func:`mlpkit.kernels.numba_gemm.k_blocks` covers the rest). Measured on an AMD EPYC Zen
    #: 2 (avx2), M1's 784 x 48 one row: 3 panels together 1440 ns, one at a time in 4 blocks 1568
    row_group: int = 3

    @property
    def block_rows(self) -> int:
        return self.block_tiles * self.tile_rows

    def panel_width(self, itemsize: int) -> int:
        """Columns per full panel for elements of ``itemsize`` bytes."""
        return self.panel_vectors * self.vector_bytes // itemsize

    def one_row(self) -> "Isa":
        """The same variant with tiles of one row (single samples): the same panel layout, so a
        network packed for this variant runs through both; the micro-kernels see tile_rows == 1
        and run the k blocks of a panel side by side instead (see numba_gemm.dense_layer)."""
        return replace(self, name=f"{self.name}-row", tile_rows=1, block_tiles=1)


AVX512 = Isa("avx512", vector_bytes=64, tile_rows=8, panel_vectors=3, block_tiles=12, prefetch_rows=8, row_group=2)
AVX2 = Isa("avx2", vector_bytes=32, tile_rows=6)
PORTABLE = Isa("portable", vector_bytes=16, tile_rows=4, block_tiles=12)
#: name -> variant, fastest family first
VARIANTS: dict[str, Isa] = {isa.name: isa for isa in (AVX512, AVX2, PORTABLE)}


class IsaType(types.Type):
    """Numba type of an :class:`Isa`: the variant's numbers are part of the type."""

    def __init__(self, isa: Isa) -> None:
        self.isa = isa
        super().__init__(name=f"Isa({isa.name}, {isa.vector_bytes}B, {isa.tile_rows}x{isa.panel_vectors}, {isa.block_tiles}, "
                              f"{isa.prefetch_rows}, {isa.row_group})")


@typeof_impl.register(Isa)
def _typeof_isa(val, c):
    return IsaType(val)


register_model(IsaType)(models.OpaqueModel)


@unbox(IsaType)
def _unbox_isa(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


@lower_constant(IsaType)
def _constant_isa(context, builder, typ, pyval):  # a variant captured by a compiled entry point
    return context.get_dummy_value()


@box(IsaType)
def _box_isa(typ, val, c):  # never needed by the kernels; refuse rather than invent an object
    c.pyapi.err_set_string("TypeError", "an Isa cannot be returned from compiled code")
    return cgutils.get_null_value(c.pyapi.pyobj)


#: attributes the kernels read; each is an int64 constant in the compiled code
CONSTANT_ATTRIBUTES = ("vector_bytes", "tile_rows", "panel_vectors", "block_rows")


@infer_getattr
class _IsaAttributes(AttributeTemplate):
    """Typing of ``isa.<attribute>``: int64. A template and a lowering of their own instead of
    ``overload_attribute``, which compiles a function per attribute (~0.03 s each in a cold start)."""

    key = IsaType

    def generic_resolve(self, typ, attr):
        return types.int64 if attr in CONSTANT_ATTRIBUTES else None


@lower_getattr_generic(IsaType)
def _isa_attribute(context, builder, typ, value, attr):
    return context.get_constant(types.int64, getattr(typ.isa, attr))
