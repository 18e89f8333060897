"""The shared independent references (tests/reference.py) checked once against NumPy's IEEE
float32 arithmetic, so every test that relies on them relies on something checked."""
from collections import Counter
from fractions import Fraction

import numpy as np

from tests.reference import (FP32_MAX, FP32_NAN, fp32_add, fp32_mul, fp32_value, fraction_to_fp32,
                             ieee_value, round_fp32, tree, value_bits)


def test_rounding_matches_numpy_cast():
    rng = np.random.default_rng(0)
    x = np.ldexp(rng.uniform(1, 2, 4000), rng.integers(-160, 130, 4000))
    f = np.ldexp(rng.uniform(1, 2, 500), rng.integers(-149, 128, 500)).astype(np.float32)
    up = np.nextafter(f, np.float32(np.inf))
    mid = (f.astype(np.float64) + up.astype(np.float64)) / 2  # float32 midpoints, exact
    x = np.concatenate([x, mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf),
                        [2.0**-149, 2.0**-150, 3 * 2.0**-151, 2.0**-151, 2.0**128,
                         float(FP32_MAX) * (1 + 2.0**-25), float(FP32_MAX) * (1 + 2.0**-24)]])
    x = np.concatenate([x, -x])
    with np.errstate(over="ignore"):
        want = x.astype(np.float32).view(np.uint32)
    counts = Counter()
    for xi, w in zip(x.tolist(), want.tolist()):
        assert value_bits(round_fp32(int(xi < 0), abs(Fraction(xi)), counts)) == w, xi
        assert fraction_to_fp32(Fraction(xi)) == w, xi
    assert counts["tie"] and counts["underflow"] and counts["overflow"]
    assert fraction_to_fp32(Fraction(0)) == 0


def test_decoding_matches_numpy():
    codes = np.arange(1 << 16)
    with np.errstate(invalid="ignore"):
        bf16 = (codes << 16).astype(np.uint32).view(np.float32).astype(np.float64)
        f16 = codes.astype(np.uint16).view(np.float16).astype(np.float64)
    for c, b, h in zip(codes.tolist(), bf16.tolist(), f16.tolist()):
        for (kind, sign, mag), val in ((ieee_value(c, 8, 7), b), (ieee_value(c, 5, 10), h)):
            if kind == "nan":
                assert np.isnan(val)
            elif kind == "inf":
                assert val == (-np.inf if sign else np.inf)
            else:
                assert Fraction(val) == (-mag if sign else mag) and np.signbit(val) == bool(sign)


def _operands(seed, n=3000):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 32, n)
    b = np.where(rng.random(n) < 0.3, a ^ (1 << 31), rng.integers(0, 1 << 32, n))
    b = np.where(rng.random(n) < 0.3, (a & ~0x3FF) ^ (1 << 31), b)  # near cancellation
    specials = np.array([0, 1 << 31, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F7FFFFF, 1,
                         0x00800000, 0x3F800000])
    return (np.concatenate([a, np.repeat(specials, len(specials))]),
            np.concatenate([b, np.tile(specials, len(specials))]))


def _numpy(a, b, op):
    with np.errstate(all="ignore"):
        r = op(a.astype(np.uint32).view(np.float32), b.astype(np.uint32).view(np.float32))
    return np.where(np.isnan(r), FP32_NAN, r.view(np.uint32).astype(np.int64)).tolist()


def test_addition_matches_numpy():
    a, b = _operands(1)
    got = [value_bits(fp32_add(fp32_value(x), fp32_value(y)))
           for x, y in zip(a.tolist(), b.tolist())]
    assert got == _numpy(a, b, np.add)


def test_multiplication_matches_numpy():
    a, b = _operands(2)
    got = [value_bits(fp32_mul(fp32_value(x), fp32_value(y)))
           for x, y in zip(a.tolist(), b.tolist())]
    assert got == _numpy(a, b, np.multiply)


def test_tree_order():
    assert tree(list("abcde"), lambda x, y: f"({x}{y})") == "(((ab)(cd))e)"
    assert tree(["a"], lambda x, y: x + y) == "a"
