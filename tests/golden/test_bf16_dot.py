"""golden.bf16_dot against an independent exact reference (``tests.reference``): BF16/FP32
values decoded from their fields, every product and every addition of the tree computed in
``fractions.Fraction`` and rounded once to FP32 (the reference's rounding is itself checked
against NumPy in tests/test_reference.py), with IEEE signed zeros, Inf and NaN per operation."""
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden import bf16_dot as g
from tests.reference import (FP32_NAN, fp32_add, fp32_mul, fp32_value, ieee_value, tree,
                             value_bits)

COUNTS = Counter()   # what the reference's roundings met (reset per test)


def bf16(code):
    return ieee_value(code, 8, 7)


def reference_dot(a, b, acc) -> int:
    products = [fp32_mul(bf16(x), bf16(y), COUNTS) for x, y in zip(a, b)]
    total = tree(products, lambda x, y: fp32_add(x, y, COUNTS))
    return value_bits(fp32_add(fp32_value(acc), total, COUNTS))


def reference(v):
    return np.array([reference_dot(a, b, c) for a, b, c in
                     zip(v["a"].tolist(), v["b"].tolist(), v["acc"].tolist())], dtype=np.int64)


def assert_same(got, want, v, names=None):
    bad = np.flatnonzero(np.asarray(got) != want)
    if len(bad):
        i = bad[0]
        what = f" ({names[i]})" if names is not None else ""
        raise AssertionError(
            f"{len(bad)} of {len(want)} mismatch; first at {i}{what}: a "
            f"{[hex(x) for x in v['a'][i].tolist()]} b {[hex(x) for x in v['b'][i].tolist()]} "
            f"acc {int(v['acc'][i]):#010x}: got {int(got[i]):#010x} want {int(want[i]):#010x}")


# -- the golden model ----------------------------------------------------------------------------

@pytest.mark.parametrize("k, n", [(32, 2500), (4, 2500), (1, 1500), (2, 1500), (3, 1500),
                                  (5, 1500), (7, 800), (128, 300)])
def test_golden_matches_fraction_reference(k, n):
    COUNTS.clear()
    v = g.dot_stimulus(np.random.default_rng(k), n, k=k)
    got = g.dot_block(v, k=k)["result"]
    assert_same(got, reference(v), v)
    # the stimulus does reach what it is for
    assert COUNTS["underflow"] > 0 and COUNTS["overflow"] > 0
    if k > 1:
        assert COUNTS["tie"] >= 20, COUNTS


@pytest.mark.parametrize("k", [1, 2, 3, 4, 32])
def test_corners_match_fraction_reference(k):
    names, v = g.dot_corners(np.random.default_rng(5), k=k)
    assert len(names) == len(v["acc"])
    assert_same(g.dot_block(v, k=k)["result"], reference(v), v, names)


def test_corners_cover_every_result_class():
    names, v = g.dot_corners(np.random.default_rng(5), k=32)
    r = g.dot_block(v, k=32)["result"]
    exp, mant = (r >> 23) & 0xFF, r & 0x7FFFFF
    assert np.any(r == 0) and np.any(r == 1 << 31)                        # ±0
    assert np.any(r == 0x7F800000) and np.any(r == 0xFF800000)              # ±Inf
    assert np.any(r == FP32_NAN)
    assert np.any((exp == 0) & (mant != 0))                                  # subnormals
    assert np.any(r == 0x7F7FFFFF) or np.any(r == 0xFF7FFFFF)               # ±max finite
    for word in ("zeros", "max*max", "min_sub", "underflow", "Inf", "NaN", "cancellation",
                 "tie", "all-equal", "one-hot", "mixed"):
        assert any(word in n for n in names), word


@settings(max_examples=400, deadline=None)
@given(data=st.data(), k=st.integers(1, 9))
def test_golden_matches_fraction_hypothesis(data, k):
    code = st.one_of(st.integers(0, 0xFFFF),
                     st.floats(width=16, allow_nan=False).map(lambda x: int(
                         np.array([x], np.float32).view(np.uint32)[0]) >> 16))
    a = data.draw(st.lists(code, min_size=k, max_size=k))
    b = data.draw(st.lists(code, min_size=k, max_size=k))
    acc = data.draw(st.one_of(st.integers(0, (1 << 32) - 1),
                              st.floats(width=32).map(
                                  lambda x: int(np.array([x], np.float32).view(np.uint32)[0]))))
    got = int(g.dot([a], [b], [acc])[0])
    assert got == reference_dot(a, b, acc), (a, b, hex(acc))


def _f32(x):
    return int(np.array([x], np.float32).view(np.uint32)[0])


def _bf(x):
    return _f32(x) >> 16


def test_tree_order_and_odd_pass_through():
    t = 2.0**-24  # half an ulp of 1.0 in FP32
    # level 1: (t + t) = 2t, 1 passes through; level 2: 2t + 1 = 1 + 2**-23 (exact)
    assert int(g.dot([[_bf(t), _bf(t), _bf(1.0)]], [[_bf(1.0)] * 3], [0])[0]) == _f32(1 + 2 * t)
    # (1 + t) ties to 1, then + t ties to 1 again: a sequential or reordered sum would differ
    assert int(g.dot([[_bf(1.0), _bf(t), _bf(t)]], [[_bf(1.0)] * 3], [0])[0]) == _f32(1.0)
    # k = 5: ((p0 + p1) + (p2 + p3)) + p4, then acc
    a = [_bf(1.0), _bf(t), _bf(t), _bf(t), _bf(-1.0)]
    assert int(g.dot([a], [[_bf(1.0)] * 5], [0])[0]) == _f32(2 * t)
    # acc is added last, once: 1 + (t + t) = 1 + 2t, whereas (1 + t) + t would give 1
    assert int(g.dot([[_bf(t), _bf(t)]], [[_bf(1.0)] * 2], [_f32(1.0)])[0]) == _f32(1 + 2 * t)


def test_signed_zeros_and_specials():
    pz, nz, one, inf = 0x0000, 0x8000, _bf(1.0), 0x7F80

    def d(a, b, acc):
        return int(g.dot([a], [b], [acc])[0])
    assert d([nz, nz], [one, one], 1 << 31) == 1 << 31      # -0 + -0 + -0 = -0
    assert d([nz, nz], [one, one], 0) == 0                  # ... + +0 = +0
    assert d([nz, pz], [one, one], 1 << 31) == 0            # -0 + +0 = +0
    assert d([nz, nz], [_bf(-1.0)] * 2, 1 << 31) == 0       # -0 * -1 = +0
    assert d([one, one], [one, _bf(-1.0)], 1 << 31) == 0    # x + (-x) = +0, then -0 + +0
    assert d([inf, one], [pz, one], 0) == FP32_NAN          # 0 * Inf
    assert d([inf, inf], [one, _bf(-1.0)], 0) == FP32_NAN   # Inf - Inf
    assert d([inf, one], [one, one], 0xFF800000) == FP32_NAN
    assert d([inf, one], [_bf(-1.0), one], 0xFF800000) == 0xFF800000
    assert d([0x7F81, one], [one, one], 0) == FP32_NAN      # a NaN payload is canonical
    assert d([one], [one], 0xFFFFFFFF) == FP32_NAN
    assert d([0x7F7F, 0x7F7F], [one, one], 0) == 0x7F800000  # tree overflow -> Inf
    # 2**-75 * 2**-75 = 2**-150: a tie between 0 and 2**-149, to the even 0 (sign kept)
    assert d([_bf(2.0**-75)], [_bf(-2.0**-75)], 1 << 31) == 1 << 31
    assert d([_bf(1.5 * 2.0**-75)], [_bf(2.0**-75)], 0) == 1


def test_stimulus_is_reproducible_and_shaped():
    v1 = g.dot_stimulus(np.random.default_rng(3), 50, k=6)
    v2 = g.dot_stimulus(np.random.default_rng(3), 50, k=6)
    for f in ("a", "b", "acc"):
        np.testing.assert_array_equal(v1[f], v2[f])
    names, corners = g.dot_corners(np.random.default_rng(0), k=6)
    assert v1["a"].shape == (50 + len(names), 6) and v1["acc"].shape == (50 + len(names),)
    assert v1["a"].max() < 1 << 16 and v1["acc"].max() < 1 << 32 and v1["acc"].min() >= 0
    assert g.dot_space(k=32) is None


@pytest.mark.parametrize("call, exc, message", [
    (lambda: g.dot_block({"a": np.zeros((1, 4)), "b": np.zeros((1, 4)), "acc": [0]}, k=0),
     ValueError, "k must be an integer in 1..128, not 0"),
    (lambda: g.dot_block({"a": np.zeros((1, 4), int), "b": np.zeros((1, 4), int), "acc": [0]},
                         k=129), ValueError, "k must be an integer in 1..128, not 129"),
    (lambda: g.dot_block({"a": np.zeros((1, 4), int), "b": np.zeros((1, 4), int), "acc": [0]},
                         k="4"), TypeError, "k must be an integer in 1..128, not '4'"),
    (lambda: g.dot_block({"a": np.zeros((1, 4), int), "b": np.zeros((1, 4), int), "acc": [0]},
                         k=8), ValueError, r"a must have shape \(n, 8\) for k=8, not \(1, 4\)"),
    (lambda: g.dot([[0x10000]], [[0]], [0]), ValueError, "a must hold unsigned 16-bit codes"),
    (lambda: g.dot([[0]], [[0]], [1 << 32]), ValueError, "acc must hold unsigned 32-bit codes"),
    (lambda: g.dot([[0, 0]], [[0]], [0]), ValueError, r"b must have shape \(n, 2\)"),
    (lambda: g.dot([[0]], [[0]], [0, 0]), ValueError, "the same number of vectors"),
    (lambda: g.dot([[0.5]], [[0]], [0]), ValueError, "a must be an integer array"),
    (lambda: g.dot(np.zeros((1, 129), int), np.zeros((1, 129), int), [0]), ValueError,
     "k must be an integer in 1..128, not 129"),
    (lambda: g.dot_stimulus(np.random.default_rng(0), 5, exhaustive=True), ValueError,
     "bf16_dot has no exhaustive mode"),
    (lambda: g.dot_stimulus(np.random.default_rng(0), 5, k=0), ValueError,
     "k must be an integer in 1..128, not 0"),
])
def test_bad_arguments_name_the_parameter(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
