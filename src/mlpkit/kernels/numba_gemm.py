"""Register-tiled matrix product for dense layers: ``z = x @ W + b`` with W packed in panels.

Why not BLAS: for the skinny products of small MLPs (784x50, 50x100, 100x10) OpenBLAS packs
the whole input matrix on every call and pads N to its own kernel width; ONNX Runtime's MLAS
instead packs the constant weights once and streams the input. This module does the same: the
weights are packed once (:func:`pack_panels`) and a micro-kernel keeps a tile_rows x panel block
of the result in vector registers while it runs over the inputs.

Numba cannot express "keep these 24 vectors in registers": written as scalar loops LLVM
vectorises the k reduction instead and spills (measured 3 GFLOP/s). The micro-kernel is therefore
emitted as LLVM IR through ``numba.extending.intrinsic``: vectors of the variant's width
(:mod:`mlpkit.kernels.numba_isa`: 16, 32 or 64 bytes), ``llvm.fmuladd`` (an FMA where the CPU has
one), accumulators in allocas that LLVM promotes to registers. The variant (tile rows, vector
width, vectors per panel) is an argument whose Numba type carries the numbers, so they are
constants in the IR. The whole layer is IR too (:data:`dense_layer`: the loops over tiles,
panels and dot columns), so a forward kernel compiles it once: as a compiled function of its
own it was optimised and turned into machine code again inside every caller. The panels
buffer starts on a cache line (:func:`concatenate_aligned`). Measured on a Zen 3 core (AVX2 variant), float32, batch 4096, against
OpenBLAS 0.3.31 sgemm on the same operands (useful FLOPs only): 784x50 67 vs 48 GFLOP/s,
50x100 63 vs 54, 100x10 48 vs 35, 784x512 86 vs 82. On an Intel Xeon (AVX-512 variant, 8 x 3
tile), 4080 rows: 784x48 182 GFLOP/s, 784x512 158, 512x512 160; OpenBLAS SkylakeX sgemm 172 on
4092x784 @ 784x512, 109 on 784x50.

Column plan (:func:`panel_plan`): a layer's n_out columns go into full panels of
``panel_width`` columns (isa.panel_vectors vectors: AVX-512 48 float32, AVX2 16), then at most one
panel of fewer whole vectors, then the few columns left over as dot products
(:func:`_emit_dots`) where those cost less than one more, mostly empty, vector
(:func:`_dots_pay`: long inputs). Vector lanes past n_out are wasted work: M1's 784 -> 50 on
AVX-512 is one 48-wide panel and 2 dot columns (784 FMAs a row on 2 useful lanes of 16 would
cost 4x the dots); its 50 -> 100 is two 48-wide panels and one 16-wide vector, since four dot
products over only 50 inputs cost twice that vector (sums across lanes, scalar tails).

Buffer layout (1-D, model dtype), per layer: each panel as ``(n_in + 1, width)`` row-major, its
slice of the bias first and then its slice of every row of W (columns past n_out are zero); then
the dot columns as ``(n_dot, n_in + 1)``: each column's bias followed by that column of W.
Panels are written in whole vectors, so the output buffer needs :func:`z_width` columns.
"""

from __future__ import annotations

import contextlib
import functools

import llvmlite.ir as ir
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .numba_isa import Isa, IsaType


def lanes(dtype, isa: Isa) -> int:
    """Elements per vector register: AVX-512 16 float32 / 8 float64, AVX2 8 / 4, portable 4 / 2."""
    return isa.vector_bytes // np.dtype(dtype).itemsize


def panel_width(dtype, isa: Isa) -> int:
    """Columns per full panel: AVX-512 48 float32 / 24 float64, AVX2 16 / 8, portable 8 / 4."""
    return isa.panel_width(np.dtype(dtype).itemsize)


#: What one dot column costs beyond its n_in / lanes vector FMAs per row, in vector FMAs: the
#: sum across lanes, the scalar tail, the store. Measured on an Intel Xeon (AVX-512, float32,
#: 12-row tiles): two dot columns of a 784-input layer cost 41 ns a row, a one-vector panel
#: 210 ns; four of a 50-input layer 28 ns, a one-vector panel 13 ns.
DOT_OVERHEAD = 24


def _dots_pay(columns: int, n_in: int, n_lanes: int) -> bool:
    """Whether ``columns`` leftover columns cost less as dot products than as one more panel
    vector (n_in vector FMAs a row, however few of its lanes are used)."""
    return columns <= n_lanes // 2 and columns * (n_in / n_lanes + DOT_OVERHEAD) < n_in


def panel_plan(n_in: int, n_out: int, dtype, isa: Isa) -> tuple[int, int, int]:
    """(full panels, vectors of the last panel (0 .. panel_vectors - 1), dot-product columns)
    covering n_out columns of a layer with n_in inputs."""
    n_lanes = lanes(dtype, isa)
    n_full, rest = divmod(n_out, isa.panel_vectors * n_lanes)
    vectors, left = divmod(rest, n_lanes)
    if left and not _dots_pay(left, n_in, n_lanes):
        vectors, left = vectors + 1, 0
    if vectors == isa.panel_vectors:
        return n_full + 1, 0, 0
    return n_full, vectors, left


def z_width(n_in: int, n_out: int, dtype, isa: Isa) -> int:
    """Columns the kernels write for a layer (n_out plus the last panel's padding)."""
    n_full, vectors, n_dot = panel_plan(n_in, n_out, dtype, isa)
    return n_full * panel_width(dtype, isa) + vectors * lanes(dtype, isa) + n_dot


def pack_panels(W: np.ndarray, b: np.ndarray, isa: Isa) -> np.ndarray:
    """W (n_in, n_out), b (n_out,) -> 1-D buffer of W's dtype for variant ``isa`` (layout in the module doc)."""
    n_in, n_out = W.shape
    n_full, vectors, n_dot = panel_plan(n_in, n_out, W.dtype, isa)
    full = panel_width(W.dtype, isa)
    width = n_full * full + vectors * lanes(W.dtype, isa)  # columns in panels
    wb = np.zeros((n_in + 1, max(width, n_out)), dtype=W.dtype)
    wb[0, :n_out] = b
    wb[1:, :n_out] = W
    parts = [np.ravel(wb[:, c0 : min(c0 + full, width)]) for c0 in range(0, width, full)]
    parts.append(np.ravel(wb[:, width : width + n_dot].T))  # (n_dot, n_in + 1)
    return np.concatenate(parts)


#: panel buffers start on a cache line: a 64-byte vector load that straddles two lines costs
#: two (one-sample M1 on an Intel Xeon: 2.3 or 2.8 us by where NumPy happened to put the buffer)
CACHE_LINE = 64


def concatenate_aligned(parts: list[np.ndarray]) -> np.ndarray:
    """The 1-D ``parts`` end to end in one new buffer whose first element starts a cache line."""
    dtype = np.result_type(*parts)
    size = sum(part.size for part in parts)
    raw = np.empty(size + CACHE_LINE // dtype.itemsize, dtype=dtype)
    start = (-raw.ctypes.data % CACHE_LINE) // dtype.itemsize
    return np.concatenate(parts, out=raw[start : start + size])


class _LoopID(ir.values.MDValue):
    """A self-referential ``!{!self, ...}`` loop-metadata node (llvmlite has no constructor for one)."""

    def __init__(self, module: ir.Module, hints: list[str]) -> None:
        super().__init__(module, (), name=str(len(module.metadata)))
        self.operands = (self, *(module.add_metadata([ir.MetaDataString(module, h)]) for h in hints))

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


@contextlib.contextmanager
def _counted_loop(builder: ir.IRBuilder, count: ir.Value):
    """``for k in range(count)`` (i64) whose back edge tells LLVM not to unroll it.

    Unrolled by 2, the k loop of a 12 x 2 AVX-512 tile needs 24 accumulators, 4 weight vectors and
    the hoisted broadcasts of two steps at once - more than 32 registers - and LLVM spills
    accumulators to the stack on every step (seen in the assembly; 784x512: 82 GFLOP/s)."""
    i64 = ir.IntType(64)
    pre = builder.basic_block
    body = builder.append_basic_block("tile.k")
    done = builder.append_basic_block("tile.k.end")
    builder.cbranch(builder.icmp_signed(">", count, i64(0)), body, done)
    builder.position_at_end(body)
    k = builder.phi(i64, name="k")
    k.add_incoming(i64(0), pre)
    yield k
    k_next = builder.add(k, i64(1))
    k.add_incoming(k_next, builder.basic_block)
    back = builder.cbranch(builder.icmp_signed("<", k_next, count), body, done)
    back.set_metadata("llvm.loop", _LoopID(builder.module, ["llvm.loop.unroll.disable"]))
    builder.position_at_end(done)


I64 = ir.IntType(64)
#: one-row kernels test x for zeros in chunks of this many bytes (8 float32), whatever the
#: vector width: on MNIST images 38% of 8-pixel chunks hold a non-zero, 58% of 16-pixel ones
SKIP_CHUNK_BYTES = 32


class _Emitter:
    """IR helpers shared by the micro-kernels: pointers through row strides, vector loads, FMA."""

    def __init__(self, context, builder, dtype, isa: Isa) -> None:
        self.context, self.builder, self.isa = context, builder, isa
        self.fty = context.get_value_type(dtype)
        self.align = context.get_abi_sizeof(self.fty)
        self.lanes = isa.vector_bytes // self.align
        self.vty = ir.VectorType(self.fty, self.lanes)
        self.skip_lanes = min(self.lanes, SKIP_CHUNK_BYTES // self.align)
        self.fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(self.vty, [self.vty] * 3), f"llvm.fmuladd.v{self.lanes}{self.fty.intrinsic_name}"
        )

    def i64(self, v):
        return self.builder.sext(v, I64) if v.type.width < 64 else v

    def array(self, typ, value):
        return self.context.make_array(typ)(self.context, self.builder, value)

    def row_ptr(self, arr, row):
        """&arr[row, 0] of a 2-D array, through its row stride in bytes."""
        b = self.builder
        stride = b.extract_value(arr.strides, 0)
        raw = b.gep(b.bitcast(arr.data, ir.IntType(8).as_pointer()), [b.mul(row, stride)])
        return b.bitcast(raw, self.fty.as_pointer())

    def load_vec(self, ptr, index, n=None):
        """The vector at ptr[index]: one of the variant's width, or of ``n`` elements."""
        vty = self.vty if n is None else ir.VectorType(self.fty, n)
        vp = self.builder.bitcast(self.builder.gep(ptr, [index]), vty.as_pointer())
        return self.builder.load(vp, align=self.align)

    def store_vec(self, value, ptr, index):
        vp = self.builder.bitcast(self.builder.gep(ptr, [index]), self.vty.as_pointer())
        self.builder.store(value, vp, align=self.align)

    def prefetch(self, ptr, index, vectors):
        """Ask for the cache lines of ``vectors`` vectors at ptr[index] (read, into L1)."""
        b = self.builder
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(b.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8")
        base = b.bitcast(b.gep(ptr, [index]), i8p)
        for line in range(0, vectors * self.lanes * self.align, CACHE_LINE):
            b.call(fn, [b.gep(base, [I64(line)]), i32(0), i32(3), i32(1)])  # read, keep in all levels, data

    def broadcast(self, ptr, index):
        """The scalar ptr[index] in every lane of a vector."""
        b = self.builder
        undef = ir.Constant(self.vty, ir.Undefined)
        splat = ir.Constant(ir.VectorType(ir.IntType(32), self.lanes), [0] * self.lanes)
        return b.shuffle_vector(b.insert_element(undef, b.load(b.gep(ptr, [index])), ir.IntType(32)(0)), undef, splat)

    def fma_into(self, acc, a, w):
        """acc (an alloca) <- a * w + acc, for vectors or, with scalars, through the scalar fmuladd."""
        b = self.builder
        fn = self.fmuladd
        if a.type == self.fty:
            fn = b.module.declare_intrinsic("llvm.fmuladd", [self.fty], ir.FunctionType(self.fty, [self.fty] * 3))
        b.store(b.call(fn, [a, w, b.load(acc)]), acc)

    def any_nonzero(self, ptr, index, n):
        """i1: whether any of the n elements at ptr[index] is not +-0 (NaN counts as non-zero)."""
        b = self.builder
        v = self.load_vec(ptr, index, n)
        ne = b.fcmp_unordered("!=", v, ir.Constant(v.type, [ir.Constant(self.fty, 0.0)] * n))
        return b.icmp_unsigned("!=", b.bitcast(ne, ir.IntType(n)), ir.Constant(ir.IntType(n), 0))

    def hsum(self, v):
        """Sum of a vector's lanes as a tree of halves (log2(lanes) shuffles and adds)."""
        b, n = self.builder, self.lanes
        while n > 1:
            n //= 2
            lo = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(n))))
            hi = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(n, 2 * n))))
            v = b.fadd(lo, hi)
        return b.extract_element(v, ir.IntType(32)(0))


def k_blocks(vectors: int) -> int:
    """Contiguous blocks the k range of a panel of ``vectors`` vectors (or of ``vectors`` dot
    columns) is summed in, the same for one row and for a tile (so a row alone and in a batch
    round alike): a one-row kernel runs the blocks side by side, ``k_blocks * vectors``
    independent FMA chains (4-8) in flight."""
    return max(1, min(4, 8 // vectors))


def _blocks_side_by_side(builder, acc, chunk, count, step):
    """One row's k range [0, count) in ``len(acc)`` contiguous blocks run in one loop: block q
    is [q chunk, (q + 1) chunk) through ``step(acc[q], k)``, the last one also to ``count``."""
    blocks = len(acc)
    with _counted_loop(builder, chunk) as j:
        for q in range(blocks):
            step(acc[q], builder.add(builder.mul(chunk, I64(q)), j))
    last = builder.mul(chunk, I64(blocks))
    with _counted_loop(builder, builder.sub(count, last)) as j:  # the rest of the last block
        step(acc[blocks - 1], builder.add(last, j))


def _skip_zero_chunks(e, xrow, start, cursor, n):
    """Move the chunk index held in the i64 alloca ``cursor`` on to the first chunk c >= it, c < n,
    whose inputs x[start + c w : start + (c + 1) w] (w = ``e.skip_lanes``) are not all zero (+0
    or -0; NaN is not zero), or to n if there is none."""
    builder = e.builder
    head = builder.append_basic_block("skip.head")
    test = builder.append_basic_block("skip.test")
    on = builder.append_basic_block("skip.on")
    done = builder.append_basic_block("skip.done")
    builder.branch(head)
    builder.position_at_end(head)
    c = builder.load(cursor)
    builder.cbranch(builder.icmp_signed("<", c, n), test, done)
    builder.position_at_end(test)
    w = e.skip_lanes
    builder.cbranch(e.any_nonzero(xrow, builder.add(start, builder.mul(c, I64(w))), w), done, on)
    builder.position_at_end(on)
    builder.store(builder.add(c, I64(1)), cursor)
    builder.branch(head)
    builder.position_at_end(done)


def _blocks_skipping_zero_chunks(e, xrow, acc, chunk, count, step):
    """One row's k range [0, count) in ``len(acc)`` contiguous blocks, as
    :func:`_blocks_side_by_side`, reading x[k] from ``xrow``, but each block in chunks of
    ``e.skip_lanes`` inputs from its start, and a chunk whose inputs are all zero skipped (its
    weight rows never read). The blocks run side by side, one chunk of each in one loop, while
    each has a non-zero chunk left; then each block's remaining chunks alone; then each block's
    inputs past its last whole chunk. So each block still sums its k in order, only without the
    zero terms. ``step(acc[q], k, ahead)`` adds input k; ``ahead`` is the input whose weight row
    a prefetch should ask for: the same place in the block's next non-zero chunk (a fixed
    distance ahead would fetch rows that are skipped).

    That is exact: weights are finite, so a skipped term is a zero that would not change the sum
    (only the sign of a zero sum could differ), and a row alone still equals the same row in a
    batch, which the tiles compute dense."""
    builder, w, blocks = e.builder, I64(e.skip_lanes), len(acc)
    starts = [builder.mul(chunk, I64(q)) for q in range(blocks)]
    ends = starts[1:] + [count]
    n_chunks = [builder.udiv(builder.sub(end, start), w) for start, end in zip(starts, ends)]
    cursors = [cgutils.alloca_once(builder, I64) for _ in range(blocks)]  # the chunk to run
    nexts = [cgutils.alloca_once_value(builder, I64(0)) for _ in range(blocks)]  # the one after it

    def advance(q):  # block q's next non-zero chunk becomes the one to run; find the one after it
        nxt = builder.load(nexts[q])
        builder.store(nxt, cursors[q])
        builder.store(builder.add(nxt, I64(1)), nexts[q])
        _skip_zero_chunks(e, xrow, starts[q], nexts[q], n_chunks[q])

    for q in range(blocks):
        _skip_zero_chunks(e, xrow, starts[q], nexts[q], n_chunks[q])
        advance(q)

    def chunks(qs):  # while every block in qs has a non-zero chunk left: one chunk of each
        head = builder.append_basic_block("chunks.head")
        body = builder.append_basic_block("chunks.body")
        done = builder.append_basic_block("chunks.done")
        builder.branch(head)
        builder.position_at_end(head)
        left = functools.reduce(builder.and_, [builder.icmp_signed("<", builder.load(cursors[q]), n_chunks[q]) for q in qs])
        builder.cbranch(left, body, done)
        builder.position_at_end(body)
        k0 = [builder.add(starts[q], builder.mul(builder.load(cursors[q]), w)) for q in qs]
        ahead0 = [builder.add(starts[q], builder.mul(builder.load(nexts[q]), w)) for q in qs]
        with _counted_loop(builder, w) as j:
            for q, k, ahead in zip(qs, k0, ahead0):
                step(acc[q], builder.add(k, j), builder.add(ahead, j))
        for q in qs:
            advance(q)
        builder.branch(head)
        builder.position_at_end(done)

    chunks(range(blocks))
    if blocks > 1:
        for q in range(blocks):
            chunks([q])
    for q in range(blocks):  # the inputs past the block's last whole chunk
        tail = builder.add(starts[q], builder.mul(n_chunks[q], w))
        with _counted_loop(builder, builder.sub(ends[q], tail)) as j:
            k = builder.add(tail, j)
            step(acc[q], k, builder.add(k, I64(e.isa.prefetch_rows)))


def _emit_tile(e, xa, pa, za, i0v, nkv, offv, c0v, vectors, blocks, skip_zeros=False):
    """IR for one panel tile of ``vectors`` vectors summed in ``blocks`` k blocks, straight-line
    (see :data:`dense_layer`); ``blocks`` is a number, or for a tile of several rows an i64
    value."""
    rows = e.isa.tile_rows
    builder, lanes, vty = e.builder, e.lanes, e.vty
    blocks_v = blocks if isinstance(blocks, ir.Value) else I64(blocks)
    width = vectors * lanes
    panel = builder.gep(pa.data, [offv])
    xrows = [e.row_ptr(xa, builder.add(i0v, I64(r))) for r in range(rows)]
    zrows = [e.row_ptr(za, builder.add(i0v, I64(r))) for r in range(rows)]
    bias = [e.load_vec(panel, I64(v * lanes)) for v in range(vectors)]  # row 0 of the panel
    zero = ir.Constant(vty, [ir.Constant(e.fty, 0.0)] * lanes)
    w_base = builder.gep(panel, [I64(width)])  # panel row 1: W's first row
    prefetch = e.isa.prefetch_rows if rows == 1 else 0  # see Isa.prefetch_rows
    chunk = builder.udiv(nkv, blocks_v)  # block q is [q chunk, (q + 1) chunk), the last to n_in

    def step(acc, k, ahead=None):  # acc[r][v] += x[r, k] * panel[1 + k, v]; prefetch row ``ahead``
        w_at = builder.mul(k, I64(width))
        if prefetch:
            e.prefetch(w_base, builder.mul(ahead, I64(width)), vectors)
        w = [e.load_vec(w_base, builder.add(w_at, I64(v * lanes))) for v in range(vectors)]
        for r in range(len(acc)):
            xb = e.broadcast(xrows[r], k)
            for v in range(vectors):
                e.fma_into(acc[r][v], xb, w[v])

    if rows == 1:
        # the blocks side by side: block 0 starts at the bias, the others at zero; summed in order
        acc = [[[cgutils.alloca_once_value(builder, bias[v] if q == 0 else zero) for v in range(vectors)]]
               for q in range(blocks)]
        if skip_zeros:
            _blocks_skipping_zero_chunks(e, xrows[0], acc, chunk, nkv, step)
        else:
            _blocks_side_by_side(builder, acc, chunk, nkv, lambda a, k: step(a, k, builder.add(k, I64(prefetch))))
        for v in range(vectors):
            total = functools.reduce(builder.fadd, [builder.load(acc[q][0][v]) for q in range(blocks)])
            e.store_vec(total, zrows[0], builder.add(c0v, I64(v * lanes)))
        return
    # a tile: the blocks one after the other through the same accumulators, each added to z
    acc = [[cgutils.alloca_once_value(builder, zero) for v in range(vectors)] for _ in range(rows)]
    with _counted_loop(builder, blocks_v) as q:
        first = builder.icmp_signed("==", q, I64(0))
        for r in range(rows):
            for v in range(vectors):
                builder.store(builder.select(first, bias[v], zero), acc[r][v])
        k0 = builder.mul(chunk, q)
        is_last = builder.icmp_signed("==", q, builder.sub(blocks_v, I64(1)))
        with _counted_loop(builder, builder.select(is_last, builder.sub(nkv, k0), chunk)) as j:
            step(acc, builder.add(k0, j))
        with builder.if_else(first) as (then, otherwise):
            for add in (False, True):  # block 0 is stored; a later one is added to z (blocks < q)
                with otherwise if add else then:
                    for r in range(rows):
                        for v in range(vectors):
                            at = builder.add(c0v, I64(v * lanes))
                            total = builder.load(acc[r][v])
                            if add:
                                total = builder.fadd(e.load_vec(zrows[r], at), total)
                            e.store_vec(total, zrows[r], at)


def _emit_row_group(e, xa, pa, za, i0v, nkv, offv, stride, c0v, vectors, group):
    """IR for row ``i0v`` through ``group`` consecutive full panels of ``vectors`` vectors (the
    first at element ``offv`` of the panels and column ``c0v`` of z, the next ``stride``
    elements and one panel width on) in one k loop: each x[k] is broadcast once for all of
    them, ``group * vectors`` accumulators start at the biases, and k is summed in one block,
    as the tiles sum these panels (see :attr:`~mlpkit.kernels.numba_isa.Isa.row_group`).

    k runs in chunks of 32 bytes of x, and a chunk whose inputs are all zero is skipped, its
    weight rows never read (:func:`_blocks_skipping_zero_chunks`, one block). The lone full
    panels outside a group skip alike, in their k blocks; the last panel of fewer vectors (a
    small share of a layer) runs dense: skipping there too, in its 4 blocks, doubled the
    one-row code and cost the first single-sample predict 0.5-1 s more compiling. Measured:
    - AMD EPYC Zen 2, avx2, float32, `predict(x)` of one sample, MNIST test images in turn
      (17.8% of pixels non-zero, 40% of 8-pixel chunks): M1 3.16-3.26 us against 3.98-4.05
      (-20%); M2 27.6-28.0 us against 37.4-37.8 (-26%). Dense random inputs: unchanged (entry
      point 2.81-2.90 us against 2.86-2.93).
    - AMD EPYC Zen 5, avx512 (M1's first layer: one lone 48-wide panel in 2 blocks), M1's first
      layer alone, one row: MNIST images 569-717 ns against 960-1201, dense unchanged (978-1178
      against 969-1198); `predict(x)` M1 1.81-1.87 us against 2.14-2.86, M2 20.4-20.8 us
      against 22.8-24.3. The prefetch follows the skips: prefetching a fixed 8 rows ahead, as
      dense rows do, fetched the rows of skipped chunks and gained only 15-22%; chunks of 64
      bytes instead of 32 skip less (759-898 ns).
    - A branch on every x[k] instead gained only 7-10% on those images (Zen 2), with mispredicted
      branches at each run of zeros, and cost dense inputs 3%."""
    builder, lanes = e.builder, e.lanes
    width = vectors * lanes
    panels = [builder.gep(pa.data, [builder.add(offv, builder.mul(stride, I64(g)))]) for g in range(group)]
    w_bases = [builder.gep(panel, [I64(width)]) for panel in panels]  # panel row 1: W's first row
    xrow, zrow = e.row_ptr(xa, i0v), e.row_ptr(za, i0v)
    prefetch = e.isa.prefetch_rows
    acc = [[cgutils.alloca_once_value(builder, e.load_vec(panel, I64(v * lanes))) for v in range(vectors)] for panel in panels]

    def step(acc, k, ahead):  # acc[g][v] += x[k] * panel g [1 + k, v]; prefetch row ``ahead``
        xb = e.broadcast(xrow, k)
        w_at = builder.mul(k, I64(width))
        for g, w_base in enumerate(w_bases):
            if prefetch:
                e.prefetch(w_base, builder.mul(ahead, I64(width)), vectors)
            for v in range(vectors):
                e.fma_into(acc[g][v], xb, e.load_vec(w_base, builder.add(w_at, I64(v * lanes))))

    _blocks_skipping_zero_chunks(e, xrow, [acc], nkv, nkv, step)  # one block; chunks of zeros skipped
    for g in range(group):
        for v in range(vectors):
            e.store_vec(builder.load(acc[g][v]), zrow, builder.add(c0v, I64(g * width + v * lanes)))


def _emit_dots(e, xa, pa, za, i0v, niv, offv, stv, c0v, columns):
    """IR for ``columns`` (1 or 2) dot columns of one tile: for r < tile rows, j < columns,

    z[i0 + r, c0 + j] = panels[off + j stride] + sum_{k < n_in} x[i0 + r, k] * panels[off + j stride + 1 + k]

    (the dot-column layout of the module doc: each column's bias, then its weights). The k loop
    runs over the whole vectors of x and of the column, with one vector accumulator per (row,
    column) - FMA-bound like the panel tile, instead of a reduction per dot product - and the
    last n_in % lanes inputs are then added one at a time. Two columns at once load each x
    vector once for both.

    As in the panel tiles, the whole vectors are summed in :func:`k_blocks` contiguous blocks,
    each from zero, and the block accumulators are added in order before the sum across lanes
    (bias + lanes of (block 0 + block 1 + ...)), so a row alone and in a tile round alike. A
    tile runs the blocks one after the other; one row runs them side by side, ``k_blocks *
    columns`` FMA chains instead of ``columns`` chains waiting on the FMA latency at every step
    (M1's 784-input dot columns, one row: 150 ns that way, AMD EPYC Zen 2)."""
    builder, rows = e.builder, e.isa.tile_rows
    nv = builder.udiv(niv, I64(e.lanes))
    blocks = k_blocks(columns)
    chunk = builder.udiv(nv, I64(blocks))  # block q is vectors [q chunk, (q + 1) chunk), the last to nv
    cols = [builder.gep(pa.data, [builder.add(offv, builder.mul(stv, I64(j)))]) for j in range(columns)]
    xrows = [e.row_ptr(xa, builder.add(i0v, I64(r))) for r in range(rows)]
    zcols = [[builder.gep(e.row_ptr(za, builder.add(i0v, I64(r))), [builder.add(c0v, I64(j))]) for j in range(columns)]
             for r in range(rows)]
    zero = ir.Constant(e.vty, [ir.Constant(e.fty, 0.0)] * e.lanes)

    def step(acc, k):  # acc[r][j] += x[r, k lanes ...] * column j [1 + k lanes ...]
        at = builder.mul(k, I64(e.lanes))
        w = [e.load_vec(c, builder.add(at, I64(1))) for c in cols]
        for r in range(len(acc)):
            xr = e.load_vec(xrows[r], at)
            for j in range(columns):
                e.fma_into(acc[r][j], xr, w[j])

    if rows == 1:
        acc = [[[cgutils.alloca_once_value(builder, zero) for _ in range(columns)]] for _ in range(blocks)]
        _blocks_side_by_side(builder, acc, chunk, nv, step)
        # block 0 + block 1 + ..., in order (the tile's order below)
        totals = [[functools.reduce(builder.fadd, [builder.load(acc[q][0][j]) for q in range(blocks)]) for j in range(columns)]]
    else:
        acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(columns)] for _ in range(rows)]
        block_sums = [[cgutils.alloca_once_value(builder, zero) for _ in range(columns)] for _ in range(rows)]
        with _counted_loop(builder, I64(blocks)) as q:
            for r in range(rows):
                for j in range(columns):
                    builder.store(zero, acc[r][j])
            k0 = builder.mul(chunk, q)
            is_last = builder.icmp_signed("==", q, I64(blocks - 1))
            with _counted_loop(builder, builder.select(is_last, builder.sub(nv, k0), chunk)) as i:
                step(acc, builder.add(k0, i))
            first = builder.icmp_signed("==", q, I64(0))
            for r in range(rows):
                for j in range(columns):
                    block = builder.load(acc[r][j])
                    builder.store(builder.select(first, block, builder.fadd(builder.load(block_sums[r][j]), block)), block_sums[r][j])
        totals = [[builder.load(block_sums[r][j]) for j in range(columns)] for r in range(rows)]
    k0 = builder.mul(nv, I64(e.lanes))
    sums = [[cgutils.alloca_once_value(builder, builder.fadd(builder.load(cols[j]), e.hsum(totals[r][j])))
             for j in range(columns)] for r in range(rows)]
    with _counted_loop(builder, builder.sub(niv, k0)) as t:  # the inputs past the last whole vector
        k = builder.add(k0, t)
        w = [builder.load(builder.gep(c, [builder.add(k, I64(1))])) for c in cols]
        for r in range(rows):
            xs = builder.load(builder.gep(xrows[r], [k]))
            for j in range(columns):
                e.fma_into(sums[r][j], xs, w[j])
    for r in range(rows):
        for j in range(columns):
            builder.store(builder.load(sums[r][j]), zcols[r][j])


#: rows of the panel-meta table: offset, n_in, n_out, activation code, z_width, full panels,
#: vectors of the last panel, dot columns (one row per layer, int64)
META_COLUMNS = 8


@intrinsic
def dense_layer(typingctx, x, rows, panels, meta_row, z, isa):
    """``dense_layer(x, rows, panels, meta_row, z, isa) -> ok``: z[:rows, :z_width] =
    x[:rows, :n_in] @ W + b for the layer that the panel-meta row ``meta_row`` (:data:`META_COLUMNS`
    int64 values) describes, packed for the variant ``isa``: its full panels, then the last panel
    of fewer vectors, then the dot columns two at a time, one tile of isa.tile_rows rows at a
    time. All of it is emitted here as LLVM IR, so a caller compiles it once (a compiled function
    of its own would be optimised and turned into machine code again inside every caller).

    Returns False, and touches nothing, unless ``rows`` is a multiple of the tile rows that x and
    z hold, x has n_in columns and z z_width, both with unit inner stride, and the panels hold the
    layer: the micro-kernels themselves check no bounds.

    Each panel tile: z[i0 + r, c0 : c0 + width] = bias + sum_{k < n_in} x[i0 + r, k] * panel[1 + k, :]
    for r < isa.tile_rows and a panel of ``vectors`` vectors (``width`` = vectors * lanes columns,
    lanes = isa.vector_bytes / itemsize) with its bias as row 0. One copy of the straight-line
    tile is emitted for the full panels and one per vector count behind a switch for the last.

    The k range is summed in :func:`k_blocks` contiguous blocks, each from zero (the first from
    the bias), and the block sums are added in order (the dot columns alike: :func:`_emit_dots`).
    The exception: the full panels in whole groups of ``isa.row_group`` (M1's three 16-wide
    panels on avx2) are summed in one block, since one row runs a group through one k loop
    (:func:`_emit_row_group`: ``row_group * vectors`` chains, one broadcast for the group).
    With one row (``Isa.one_row()``) the other blocks run side by side, so ``k_blocks * vectors``
    independent FMA chains are in flight instead of a chain of n_in dependent FMAs per vector
    waiting on the FMA latency (4 cycles) at every step; a tile runs them one after the other
    through its accumulators and adds each to z. Both round alike: a row predicted alone equals
    the same row predicted in a batch, bit for bit. One row also skips the chunks of zero inputs
    of its full panels (:func:`_emit_row_group`)."""
    if not isinstance(isa, IsaType):
        return None
    sig = types.boolean(x, rows, panels, meta_row, z, isa)
    variant = isa.isa

    def codegen(context, builder, sig, args):
        e = _Emitter(context, builder, sig.args[0].dtype, variant)
        xa, pa, ma, za = (e.array(sig.args[i], args[i]) for i in (0, 2, 3, 4))
        rows_v = e.i64(args[1])
        shape = lambda a, d: builder.extract_value(a.shape, d)  # noqa: E731
        stride = lambda a, d: builder.extract_value(a.strides, d)  # noqa: E731
        meta_ok = builder.icmp_signed(">=", shape(ma, 0), I64(META_COLUMNS))
        ok_block = builder.append_basic_block("dense.meta")
        done = builder.append_basic_block("dense.done")
        result = cgutils.alloca_once_value(builder, ir.Constant(ir.IntType(1), 0))
        builder.cbranch(meta_ok, ok_block, done)
        builder.position_at_end(ok_block)
        mp = builder.bitcast(ma.data, ir.IntType(8).as_pointer())
        field = lambda i: builder.load(builder.bitcast(builder.gep(mp, [builder.mul(stride(ma, 0), I64(i))]), I64.as_pointer()))  # noqa: E731
        off, n_in, width, n_full, n_last, n_dot = (field(i) for i in (0, 1, 4, 5, 6, 7))
        lanes, vectors, tile = e.lanes, variant.panel_vectors, variant.tile_rows
        full = I64(vectors * lanes)
        rec = builder.add(n_in, I64(1))  # a panel row, a dot column record: n_in + 1 elements
        c_dot = builder.sub(width, n_dot)
        dot_off = builder.add(off, builder.mul(rec, c_dot))
        item = I64(e.align)
        checks = [
            builder.icmp_signed("==", builder.srem(rows_v, I64(tile)), I64(0)),
            builder.icmp_signed(">=", rows_v, I64(0)),
            builder.icmp_signed("<=", rows_v, shape(xa, 0)), builder.icmp_signed("<=", rows_v, shape(za, 0)),
            builder.icmp_signed("<=", n_in, shape(xa, 1)), builder.icmp_signed("<=", width, shape(za, 1)),
            builder.icmp_signed("==", stride(xa, 1), item), builder.icmp_signed("==", stride(za, 1), item),
            builder.icmp_signed("<=", builder.add(dot_off, builder.mul(rec, n_dot)), shape(pa, 0)),
        ]
        ok = checks[0]
        for c in checks[1:]:
            ok = builder.and_(ok, c)
        builder.store(ok, result)
        with builder.if_then(ok):
            with _counted_loop(builder, builder.sdiv(rows_v, I64(tile))) as t:
                i0 = builder.mul(t, I64(tile))
                # the first n_grouped full panels are summed in one k block (one row: row_group at
                # a time, sharing each broadcast), the others in k_blocks(vectors)
                group = variant.row_group
                n_grouped = builder.mul(builder.sdiv(n_full, I64(group)), I64(group))
                stride = builder.mul(rec, full)  # elements of one panel
                if tile == 1:
                    with _counted_loop(builder, builder.sdiv(n_full, I64(group))) as g:
                        p = builder.mul(g, I64(group))
                        _emit_row_group(e, xa, pa, za, i0, n_in, builder.add(off, builder.mul(stride, p)), stride,
                                        builder.mul(full, p), vectors, group)
                    with _counted_loop(builder, builder.sub(n_full, n_grouped)) as j:
                        p = builder.add(n_grouped, j)
                        _emit_tile(e, xa, pa, za, i0, n_in, builder.add(off, builder.mul(stride, p)), builder.mul(full, p),
                                   vectors, k_blocks(vectors), skip_zeros=True)
                else:
                    with _counted_loop(builder, n_full) as p:
                        blocks = builder.select(builder.icmp_signed("<", p, n_grouped), I64(1), I64(k_blocks(vectors)))
                        _emit_tile(e, xa, pa, za, i0, n_in, builder.add(off, builder.mul(stride, p)), builder.mul(full, p),
                                   vectors, blocks)
                last_off = builder.add(off, builder.mul(builder.mul(rec, full), n_full))
                last_c0 = builder.mul(full, n_full)
                after = builder.append_basic_block("dense.last.end")
                switch = builder.switch(n_last, after)
                for v in range(1, vectors):
                    case = builder.append_basic_block(f"dense.last.v{v}")
                    switch.add_case(I64(v), case)
                    builder.position_at_end(case)
                    _emit_tile(e, xa, pa, za, i0, n_in, last_off, last_c0, v, k_blocks(v))
                    builder.branch(after)
                builder.position_at_end(after)
                with _counted_loop(builder, builder.sdiv(n_dot, I64(2))) as q:
                    j = builder.mul(q, I64(2))
                    _emit_dots(e, xa, pa, za, i0, n_in, builder.add(dot_off, builder.mul(rec, j)), rec, builder.add(c_dot, j), 2)
                odd = builder.icmp_signed("==", builder.srem(n_dot, I64(2)), I64(1))
                with builder.if_then(odd):
                    j = builder.sub(n_dot, I64(1))
                    _emit_dots(e, xa, pa, za, i0, n_in, builder.add(dot_off, builder.mul(rec, j)), rec, builder.add(c_dot, j), 1)
        builder.branch(done)
        builder.position_at_end(done)
        return builder.load(result)  # i1: Numba's boolean value

    return sig, codegen
