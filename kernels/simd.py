"""A 32-byte SIMD register for the looped matrix products (``kernels.matmul``).

Numba leaves LLVM's SLP vectorizer off (``NUMBA_SLP_VECTORIZE=0``), so a
block of the output held in scalar accumulators stays scalar, and its loop
vectorizer only vectorizes an innermost loop of run-time length, four
vectors at a time: a row of 10 outputs never reaches its vector body. The
best of eight loop orders measured here took 1.0-1.9x OpenBLAS's time on the
toy's five products (``X W1``, 200 x 4 @ 4 x 10: 1.30 us against 0.88). So the
register block is written out: a :class:`Vector` is an LLVM vector of
``lanes`` values (4 float64, 8 float32), living in a register, and these
intrinsics make, load, multiply-add and store it:

    lanes(a)              values in a Vector of a's dtype (a constant)
    zeros(a)              a Vector of zeros
    load(a, i, j, c)      a[i, j:j + c] in the first c lanes, zeros after (c <= lanes)
    fma(x, v, acc)        acc + x * v, x a scalar (one fused multiply-add a lane)
    store(a, i, j, v, c)  a[i, j:j + c] = the first c lanes of v
    transpose(a, i, j, r, c, b, k, l)
                          b[k:k + c, l:l + r] = a[i:i + r, j:j + c].T (r, c <= lanes)
    scratch(a, r, c)      an (r, c) C array of a's dtype on the stack (r c <= SCRATCH)
    array_at(p, r, c, s0, s1)
                          the (r, c) array at pointer p, strides s0, s1 bytes

Loads, stores and transposes take C-contiguous arrays only (a TypingError
otherwise): each load or store is one masked vector instruction that touches
no memory past ``c`` values. ``array_at`` gives the loops' C entry point
(``kernels.matmul``) its operands as arrays of any layout. 32 bytes is the
width every x86-64 with AVX2 executes in one instruction (AVX-512 machines
run 512-bit ones as two halves, or slower), and a block of 12 accumulators,
3 operands and a broadcast fills AVX2's 16 registers. Elsewhere LLVM splits
or scalarises the same instructions.

With ``NUMBA_DISABLE_JIT=1`` the kernels run as Python and a Vector is a
NumPy array of ``lanes`` values; these functions then do the same with NumPy.
"""
import numpy as np
from llvmlite import ir
from numba import config as numba_config, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

#: Bytes of a Vector.
BYTES = 32
#: Bytes of the stack array ``scratch`` gives (one per compiled function
#: that calls it): 2048 float64 or 4096 float32.
SCRATCH = 16384

_i32, _i64 = ir.IntType(32), ir.IntType(64)


class Vector(types.Type):
    """``lanes`` values of ``dtype`` (float32 or float64) in one register;
    made only inside compiled code, by the functions of this module."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = BYTES * 8 // dtype.bitwidth
        super().__init__(name=f"Vector({dtype} x {self.lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))


def _vector_of(array):
    """The Vector type of a 2-d float array's dtype, or None (a TypingError)."""
    if isinstance(array, types.Array) and array.ndim == 2 and array.dtype in (types.float32,
                                                                               types.float64):
        return Vector(array.dtype)
    return None


def _splat(builder, value, n):
    """A vector of n copies of the scalar ``value``."""
    vt = ir.VectorType(value.type, n)
    one = builder.insert_element(ir.Constant(vt, ir.Undefined), value, _i32(0))
    return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(_i32, n), [0] * n))


def _lane_mask(context, builder, count, count_type, n):
    """``<n x i1>``: lane l is on when l < count."""
    count = context.cast(builder, count, count_type, types.int64)
    return builder.icmp_signed("<", ir.Constant(ir.VectorType(_i64, n), list(range(n))),
                               _splat(builder, count, n))


def _element(context, builder, array_type, array, i, i_type, j, j_type):
    """Pointer to ``array[i, j]`` (no wraparound, no bounds check)."""
    ary = context.make_array(array_type)(context, builder, array)
    shape = cgutils.unpack_tuple(builder, ary.shape, 2)
    strides = cgutils.unpack_tuple(builder, ary.strides, 2)
    i = context.cast(builder, i, i_type, types.intp)
    j = context.cast(builder, j, j_type, types.intp)
    return cgutils.get_item_pointer2(context, builder, ary.data, shape, strides,
                                     array_type.layout, [i, j])


def _masked(builder, vt, name, ret, args):
    """Call ``llvm.masked.<name>`` for the vector type vt."""
    suffix = f"v{vt.count}f{64 if isinstance(vt.element, ir.DoubleType) else 32}.p0"
    fnty = ir.FunctionType(ret, [a.type for a in args])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.{name}.{suffix}")
    return builder.call(fn, args)


@intrinsic
def lanes(typingctx, a):
    vec = _vector_of(a)
    if vec is None:
        return None

    def codegen(context, builder, signature, args):
        return ir.Constant(_i64, vec.lanes)
    return types.intp(a), codegen


@intrinsic
def zeros(typingctx, a):
    vec = _vector_of(a)
    if vec is None:
        return None

    def codegen(context, builder, signature, args):
        return ir.Constant(context.get_value_type(vec), None)
    return vec(a), codegen


def _load(context, builder, a, arr, i, i_type, j, j_type, mask):
    """Codegen: the Vector of ``a[i, j + lane]`` (a C-contiguous) for the lanes
    on in ``mask``, zeros in the others (whose memory is not read)."""
    vt = context.get_value_type(Vector(a.dtype))
    ptr = _element(context, builder, a, arr, i, i_type, j, j_type)
    return _masked(builder, vt, "load", vt,
                   [ptr, _i32(a.dtype.bitwidth // 8), mask, ir.Constant(vt, None)])


def _store(context, builder, a, arr, i, i_type, j, j_type, v, mask):
    """Codegen: ``a[i, j + lane] = v[lane]`` (a C-contiguous) for the lanes on
    in ``mask``; the others' memory is not written."""
    ptr = _element(context, builder, a, arr, i, i_type, j, j_type)
    _masked(builder, v.type, "store", ir.VoidType(), [v, ptr, _i32(a.dtype.bitwidth // 8), mask])


@intrinsic
def load(typingctx, a, i, j, count):
    vec = _vector_of(a)
    if vec is None or a.layout != "C":
        return None

    def codegen(context, builder, signature, args):
        arr, ii, jj, cc = args
        mask = _lane_mask(context, builder, cc, count, vec.lanes)
        return _load(context, builder, a, arr, ii, i, jj, j, mask)
    return vec(a, i, j, count), codegen


@intrinsic
def fma(typingctx, x, v, acc):
    if not isinstance(v, Vector) or acc != v:
        return None

    def codegen(context, builder, signature, args):
        xx, vv, aa = args
        vt = context.get_value_type(v)
        suffix = f"v{v.lanes}f{v.dtype.bitwidth}"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt, vt]),
                                            f"llvm.fmuladd.{suffix}")
        return builder.call(fn, [_splat(builder, xx, v.lanes), vv, aa])
    # x is cast to the Vector's dtype (a float64 scalar in a float32 kernel too).
    return v(v.dtype, v, v), codegen


@intrinsic
def store(typingctx, a, i, j, v, count):
    if _vector_of(a) != v or a.layout != "C":
        return None

    def codegen(context, builder, signature, args):
        arr, ii, jj, vv, cc = args
        mask = _lane_mask(context, builder, cc, count, v.lanes)
        _store(context, builder, a, arr, ii, i, jj, j, vv, mask)
        return context.get_dummy_value()
    return types.none(a, i, j, v, count), codegen


@intrinsic
def transpose(typingctx, src, i, j, rows, cols, dst, di, dj):
    vec = _vector_of(src)
    if vec is None or _vector_of(dst) != vec or src.layout != "C" or dst.layout != "C":
        return None

    def codegen(context, builder, signature, args):
        s_arr, ii, jj, rr, cc, d_arr, dii, djj = args
        n = vec.lanes
        vt = context.get_value_type(vec)
        ii = context.cast(builder, ii, i, types.int64)
        dii = context.cast(builder, dii, di, types.int64)
        rr = context.cast(builder, rr, rows, types.int64)
        cc = context.cast(builder, cc, cols, types.int64)
        in_cols = _lane_mask(context, builder, cc, types.int64, n)
        in_rows = _lane_mask(context, builder, rr, types.int64, n)
        none = ir.Constant(ir.VectorType(ir.IntType(1), n), None)
        # A row or column past the tile is read and written nowhere: a valid
        # index and a mask with every lane off.
        tile = []
        for r in range(n):
            on = builder.icmp_signed("<", _i64(r), rr)
            row = builder.select(on, builder.add(ii, _i64(r)), ii)
            tile.append(_load(context, builder, src, s_arr, row, types.int64, jj, j,
                              builder.select(on, in_cols, none)))
        for c in range(n):
            column = ir.Constant(vt, None)
            for r in range(n):
                column = builder.insert_element(
                    column, builder.extract_element(tile[r], _i32(c)), _i32(r))
            on = builder.icmp_signed("<", _i64(c), cc)
            row = builder.select(on, builder.add(dii, _i64(c)), dii)
            _store(context, builder, dst, d_arr, row, types.int64, djj, dj, column,
                   builder.select(on, in_rows, none))
        return context.get_dummy_value()
    return types.none(src, i, j, rows, cols, dst, di, dj), codegen


@intrinsic
def scratch(typingctx, a, rows, cols):
    if _vector_of(a) is None:
        return None
    array_type = types.Array(a.dtype, 2, "C")

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import populate_array
        element = context.get_value_type(a.dtype)
        itemsize = a.dtype.bitwidth // 8
        # In the function's entry block: one buffer however often it is
        # called. Not zero-filled (cgutils.alloca_once would, 16 KB a call).
        with builder.goto_entry_block():
            buf = builder.alloca(ir.ArrayType(element, SCRATCH // itemsize))
        r = context.cast(builder, args[1], rows, types.intp)
        c = context.cast(builder, args[2], cols, types.intp)
        out = context.make_array(array_type)(context, builder)
        populate_array(out, data=builder.bitcast(buf, element.as_pointer()), shape=[r, c],
                       strides=[builder.mul(c, _i64(itemsize)), _i64(itemsize)],
                       itemsize=context.get_constant(types.intp, itemsize), meminfo=None)
        return out._getvalue()
    return array_type(a, rows, cols), codegen


@intrinsic
def array_at(typingctx, data, rows, cols, row_stride, col_stride):
    if not (isinstance(data, types.CPointer) and data.dtype in (types.float32, types.float64)):
        return None
    array_type = types.Array(data.dtype, 2, "A")

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import populate_array
        ptr, r, c, s0, s1 = (context.cast(builder, v, t, types.intp) if i else v
                             for i, (v, t) in enumerate(zip(args, signature.args)))
        out = context.make_array(array_type)(context, builder)
        populate_array(out, data=ptr, shape=[r, c], strides=[s0, s1],
                       itemsize=context.get_constant(types.intp, data.dtype.bitwidth // 8),
                       meminfo=None)
        return out._getvalue()
    return array_type(data, rows, cols, row_stride, col_stride), codegen


@intrinsic
def as_c(typingctx, a):
    """A 2-D array known C-contiguous (checked by the caller) typed as one:
    the same data, shape and strides, no check and no copy (Numba's
    ``np.ascontiguousarray`` compiles its copy path too, ~0.3 s of the
    product's compile)."""
    if not (isinstance(a, types.Array) and a.ndim == 2):
        return None
    array_type = a.copy(layout="C")

    def codegen(context, builder, signature, args):
        src = context.make_array(a)(context, builder, args[0])
        out = context.make_array(array_type)(context, builder)
        for field in ("meminfo", "parent", "nitems", "itemsize", "data", "shape", "strides"):
            setattr(out, field, getattr(src, field))
        return out._getvalue()
    return array_type(a), codegen


if numba_config.DISABLE_JIT:
    def as_c(a):
        return np.ascontiguousarray(a)

    def lanes(a):
        return BYTES // a.itemsize

    def zeros(a):
        return np.zeros(lanes(a), a.dtype)

    def load(a, i, j, count):
        out = zeros(a)
        count = max(0, min(count, len(out)))
        out[:count] = a[i, j:j + count]
        return out

    def fma(x, v, acc):
        return acc + v.dtype.type(x) * v

    def store(a, i, j, v, count):
        count = max(0, min(count, len(v)))
        a[i, j:j + count] = v[:count]

    def scratch(a, rows, cols):
        return np.empty((rows, cols), a.dtype)

    def transpose(a, i, j, rows, cols, b, k, l):
        b[k:k + cols, l:l + rows] = a[i:i + rows, j:j + cols].T
