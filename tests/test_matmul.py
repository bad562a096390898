"""``kernels.matmul``'s register-blocked loops against NumPy's ``@``, at the
edges of their blocking, for every form of product the kernels run."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusednet.kernels import config, simd
from fusednet.kernels import matmul as matmul_module
from fusednet.kernels.matmul import (DZ_WT, MAX_LOOP_K, MAX_TRANSPOSED_K, XT_DZ, XW, form,
                                      looped, matmul)

#: Agreement with the float64 product, relative to the largest entry of
#: |A| @ |B|: a sum of k products is rounded to within about k units in the
#: last place of the sum of their magnitudes, not of the (possibly
#: cancelled) result (a float32 1 x 44 @ 44 x 1 whose terms nearly cancel
#: was 2.6e-5 off relative to its result, 1e-7 relative to this).
TOL = {np.dtype(np.float64): 1e-13, np.dtype(np.float32): 1e-5}
LOOPS = (1 << 62,) * 3
BLAS = (0, 0, 0)
FORMS = ("plain", "A transposed", "B transposed", "strided")


def operands(rng, form_name, m, k, n, dtype):
    """A (m, k), B (k, n) laid out as the kernels pass them: X W (plain), X^T dZ
    (A a transposed view), dZ W^T (B a transposed view), or every other
    column of wider arrays (strided views, which BLAS cannot take)."""
    def draw(r, c):
        return rng.standard_normal((r, c)).astype(dtype)
    if form_name == "plain":
        return draw(m, k), draw(k, n)
    if form_name == "A transposed":
        return draw(k, m).T, draw(k, n)
    if form_name == "B transposed":
        return draw(m, k), draw(n, k).T
    return draw(m, 2 * k)[:, ::2], draw(k, 2 * n)[:, ::2]


def check(A, B, out):
    expected = A.astype(np.float64) @ B.astype(np.float64)
    magnitude = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64)
    scale = max(magnitude.max(initial=0.0), 1e-300)
    err = np.abs(out.astype(np.float64) - expected).max(initial=0.0) / scale
    assert err <= TOL[out.dtype], (A.shape, B.shape, err)


def edges(block):
    return sorted({1, block - 1, block, block + 1} - {0})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("form_name", FORMS)
def test_loops_match_numpy_at_the_edges_of_every_block(dtype, form_name):
    # Columns: a Vector (L lanes), panels of 2 and 3 Vectors (n = 1 too);
    # rows: blocks of 4, 6 and 8 (and, for a transposed A with fewer than L
    # columns, Vectors along the rows from 2 L rows); the inner dimension is
    # not blocked, but a transposed B is copied to the stack in L x L tiles,
    # a panel at a time, only while k * 3 L values fit.
    rng = np.random.default_rng(0)
    L = simd.BYTES // np.dtype(dtype).itemsize
    ns = sorted(set().union(*(edges(b) for b in (L, 2 * L, 3 * L))))
    ms = sorted(set().union(*(edges(b) for b in (4, 6, 8, L, 2 * L, 3 * L))))
    ks = sorted({1, 2, 3, *edges(L)})
    if form_name == "B transposed":
        assert MAX_TRANSPOSED_K == simd.SCRATCH // (3 * L * np.dtype(dtype).itemsize)
        ks += edges(MAX_TRANSPOSED_K)
    for m, n, k in itertools.product(ms, ns, ks):
        A, B = operands(rng, form_name, m, k, n, dtype)
        out = np.full((m, n), np.nan, dtype)
        matmul(A, B, out, LOOPS)
        check(A, B, out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_empty_products(dtype):
    for m, k, n in [(0, 3, 4), (3, 4, 0), (0, 0, 0)]:
        out = np.full((m, n), np.nan, dtype)
        matmul(np.ones((m, k), dtype), np.ones((k, n), dtype), out, LOOPS)
        assert out.shape == (m, n)
    out = np.full((3, 4), np.nan, dtype)
    matmul(np.empty((3, 0), dtype), np.empty((0, 4), dtype), out, LOOPS)
    assert (out == 0).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loops_write_a_strided_output_and_nothing_around_it(dtype):
    rng = np.random.default_rng(1)
    for form_name, (m, k, n) in itertools.product(FORMS, [(9, 5, 13), (1, 3, 1), (7, 2, 25)]):
        A, B = operands(rng, form_name, m, k, n, dtype)
        wide = np.full((m, 2 * n), 7.0, dtype)
        matmul(A, B, wide[:, ::2], LOOPS)
        check(A, B, wide[:, ::2])
        assert (wide[:, 1::2] == 7.0).all()


def test_the_form_of_each_product_the_kernels_run():
    X, W, dZ = np.ones((5, 4)), np.ones((4, 3)), np.ones((5, 3))
    assert form(X, W) == XW
    assert form(X.T, dZ) == XT_DZ
    assert form(dZ, W.T) == DZ_WT
    assert form(np.ones((10, 4))[:, 1:3].T, np.ones((10, 3))) == XT_DZ  # split's X[:, d0:d1]^T


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_each_forms_limit_on_either_side_of_the_size(dtype):
    # 37 x 61 x 29 through the loops at its form's limit and through BLAS one
    # below it (the other forms' limits out of the way): both NumPy's
    # product. (Which path ran does not show in the numbers: OpenBLAS too
    # forms each output as one FMA chain in the order of p at this size.)
    rng = np.random.default_rng(2)
    for slot, form_name in [(XW, "plain"), (XT_DZ, "A transposed"), (DZ_WT, "B transposed")]:
        A, B = operands(rng, form_name, 37, 61, 29, dtype)
        size = 37 * 61 * 29
        for limit in (size, size - 1):
            limits = [1 << 62] * 3
            limits[slot] = limit
            out = np.full((37, 29), np.nan, dtype)
            matmul(A, B, out, tuple(limits))
            check(A, B, out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_do_not_depend_on_the_other_rows(dtype):
    # Each output is one chain of FMAs in the order of p, whatever block its
    # row falls in: a block of rows (the split iteration's) gives the same
    # bits as the whole product.
    rng = np.random.default_rng(3)
    for form_name in FORMS:
        A, B = operands(rng, form_name, 23, 17, 30, dtype)
        whole = np.empty((23, 30), dtype)
        matmul(A, B, whole, LOOPS)
        for i0, i1 in [(0, 1), (0, 5), (3, 23), (7, 19)]:
            part = np.empty((i1 - i0, 30), dtype)
            matmul(A[i0:i1], B, part, LOOPS)
            np.testing.assert_array_equal(part, whole[i0:i1])


def test_a_long_inner_dimension_goes_to_blas_whatever_the_limit():
    # One float32 FMA chain of 3072 terms: 3.1e-5 of the result off where
    # BLAS's dot-product path was 2.6e-6 (a drawn affine_act_forward case).
    rng = np.random.default_rng(2355546)
    for k in (MAX_LOOP_K + 1, 3072):
        A = rng.standard_normal((1, k)).astype(np.float32)
        B = (rng.standard_normal((k, 1)) / np.sqrt(k)).astype(np.float32)
        assert not looped(XW, k) and looped(XW, MAX_LOOP_K)
        out = np.full((1, 1), np.nan, np.float32)
        matmul(A, B, out, LOOPS)
        blas = np.full((1, 1), np.nan, np.float32)
        matmul(A, B, blas, BLAS)
        np.testing.assert_array_equal(out, blas)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_narrow_weight_gradient_of_many_rows_along_the_rows_in_chunks(dtype):
    # X^T dZ with n < L output columns runs as (dZ^T X)^T, rows of out on the
    # stack a chunk (504) at a time: across the chunks' edges.
    rng = np.random.default_rng(4)
    for m, n in [(503, 3), (504, 1), (505, 2), (1100, 3)]:
        A, B = operands(rng, "A transposed", m, 17, n, dtype)
        out = np.full((m, n), np.nan, dtype)
        matmul(A, B, out, LOOPS)
        check(A, B, out)


@pytest.mark.skipif(matmul_module.numba_config.DISABLE_JIT, reason="compiled code only")
def test_the_loops_compile_once_a_dtype_whatever_the_layouts():
    # Every form and layout above runs through one C entry point a dtype,
    # which kernels call by name: no kernel compiles a copy of the loops.
    rng = np.random.default_rng(5)
    for dtype in (np.float64, np.float32):
        for form_name in FORMS:
            A, B = operands(rng, form_name, 9, 5, 13, dtype)
            matmul(A, B, np.empty((9, 13), dtype), LOOPS)
    assert set(matmul_module._compiled) == set(matmul_module.ENTRIES)
    # The blocks' function: at most one copy a dtype (none when the entry
    # points were loaded from the cache).
    dtypes = [sig[0].dtype for sig in matmul_module._panel.signatures]
    assert len(dtypes) == len(set(dtypes))


def test_the_limits_are_a_triple_per_dtype_read_at_the_call(monkeypatch):
    for dtype in (np.float64, np.float32):
        limits = config.loop_max(dtype)
        assert len(limits) == 3 and all(isinstance(v, int) and v >= 0 for v in limits)
    monkeypatch.setattr(config, "LOOP_MAX_XW", 123)
    assert config.loop_max(np.float64)[XW] == 123


dims = st.one_of(st.integers(1, 9), st.integers(1, 64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(seed=st.integers(0, 2**32 - 1), m=dims, k=dims, n=dims,
       form_name=st.sampled_from(FORMS), blas=st.booleans())
@settings(max_examples=60, deadline=None)
def test_drawn_shapes_match_numpy(dtype, seed, m, k, n, form_name, blas):
    A, B = operands(np.random.default_rng(seed), form_name, m, k, n, dtype)
    out = np.full((m, n), np.nan, dtype)
    matmul(A, B, out, BLAS if blas else LOOPS)
    check(A, B, out)
