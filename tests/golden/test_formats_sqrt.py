"""golden.formats.sqrt against an exact reference (the Fraction grid of tests/golden/test_formats,
compared through squares, so no irrational number is ever rounded) for every code of small
formats, and against NumPy's float32 ``np.sqrt`` (IEEE, correctly rounded) for FP32."""
from __future__ import annotations

import bisect
import math

import numpy as np
import pytest

from golden import formats as F
from golden.formats import FORMATS, FloatFormat, decode, get_format, sqrt
from tests.golden.test_formats import (MODES, SPEC, ref_list_extended, ref_round, ref_value,
                                       same_values, width)

# custom formats whose roots leave the range: bias 0 puts min normal at 2 (sqrt(0.5) is a
# subnormal result), bias 9 puts max finite at 0.4375 (sqrt(max) overflows), bias -5 puts the
# subnormal step at 16 (roots of 16 .. 256 round to 0 or 16)
CUSTOM = {
    "e3m2_b0": FloatFormat("e3m2_b0", 3, 2, 0, "none"),
    "e3m2_b9": FloatFormat("e3m2_b9", 3, 2, 9, "none"),
    "e3m2_bm5": FloatFormat("e3m2_bm5", 3, 2, -5, "none"),
    "e3m2_b0_ieee_flush": FloatFormat("e3m2_b0_ieee_flush", 3, 2, 0, "ieee", subnormals=False),
}


@pytest.fixture
def custom_spec(monkeypatch):
    for name, f in CUSTOM.items():
        monkeypatch.setitem(SPEC, name, ("float", f.ebits, f.mbits, f.bias, f.specials,
                                         f.subnormals))


def ref_sqrt(code, name, rounding, overflow):
    """Reference code of sqrt(code): the root is located on the exact grid by comparing the
    operand with squares of grid points and midpoints, then a rational stand-in with the same
    position (below, at or above the midpoint; exact at a grid point) is rounded by ref_round."""
    v, neg, kind = ref_value(code, name)
    fmt = get_format(CUSTOM.get(name, name))
    w = width(name)
    if kind == "nan" or (neg and (kind == "inf" or v != 0)):
        return F.canonical_nan(fmt)
    if kind == "inf":
        return ((1 << fmt.ebits) - 1) << fmt.mbits
    if v == 0:
        return int(neg) << (w - 1)
    allm, _ = ref_list_extended(name)
    sq = [m * m for m in allm]
    i = bisect.bisect_right(sq, v) - 1
    if sq[i] == v or i == len(allm) - 1:
        proxy = allm[i]
    else:
        lo, hi = allm[i], allm[i + 1]
        mid = (lo + hi) / 2
        if v < mid * mid:
            proxy = (lo + mid) / 2
        elif v == mid * mid:
            proxy = mid
        else:
            proxy = (mid + hi) / 2
    return ref_round(proxy, False, name, rounding, overflow)


def codes_with_roots(name):
    """Every code whose root the format can hold: all of them with NaN, else the non-negative
    ones and the negative zeros."""
    fmt = get_format(CUSTOM.get(name, name))
    codes = np.arange(1 << fmt.width)
    if fmt.has_nan:
        return codes
    keep = [c for c in codes if not ref_value(int(c), name)[1] or ref_value(int(c), name)[0] == 0]
    return np.array(keep)


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "fp10_e5m4", "e2m1", "e3m2"])
@pytest.mark.parametrize("rounding", MODES)
def test_sqrt_every_code_matches_reference(name, rounding):
    codes = codes_with_roots(name)
    for overflow in ("saturate", "nonsat"):
        got = sqrt(codes, name, rounding, overflow)
        expected = [ref_sqrt(int(c), name, rounding, overflow) for c in codes]
        assert got.tolist() == expected, (rounding, overflow)


@pytest.mark.parametrize("name", sorted(CUSTOM))
@pytest.mark.parametrize("rounding", MODES)
def test_sqrt_out_of_range_roots(name, rounding, custom_spec):
    fmt = CUSTOM[name]
    codes = codes_with_roots(name)
    for overflow in ("saturate", "nonsat"):
        got = sqrt(codes, fmt, rounding, overflow)
        expected = [ref_sqrt(int(c), name, rounding, overflow) for c in codes]
        assert got.tolist() == expected, (rounding, overflow)


def test_out_of_range_roots_happen():
    """The custom formats do reach the subnormal and overflow paths."""
    lo, hi = CUSTOM["e3m2_b0"], CUSTOM["e3m2_b9"]
    assert 0 < decode(sqrt(1, lo, "rtz"), lo) < lo.min_normal       # sqrt(0.25) = 0.5
    assert decode(sqrt(0x1F, hi, "rne"), hi) == hi.max_finite        # saturated


def test_sqrt_fp32_matches_numpy():
    """Random FP32 bit patterns (both signs, subnormals, Inf/NaN patterns), RNE."""
    rng = np.random.default_rng(21)
    n = 40000
    codes = rng.integers(0, 2**32, n, dtype=np.int64)
    codes[:2000] = rng.integers(0, 1 << 23, 2000)                   # subnormals
    codes[2000:2100] = rng.integers(0, 64, 100)                     # the smallest ones
    codes[2100:2200] = 0x7F7FFFFF - rng.integers(0, 64, 100)        # the largest normals
    # exact squares and their neighbours
    roots = rng.integers(1 << 11, 1 << 12, 300).astype(np.float32)
    sq = (roots * roots).view(np.uint32).astype(np.int64)
    codes[2200:2500] = sq
    codes[2500:2800] = sq + 1
    codes[2800:3100] = sq - 1
    codes = np.concatenate([codes, [0, 1 << 31, 0x7F800000, 0xFF800000, 0x7FC00000, 0x3F800000,
                                    0xBF800000, 0x00000001, 0x80000001]])
    f = codes.astype(np.uint32).view(np.float32)
    with np.errstate(invalid="ignore"):
        expected = np.sqrt(f).astype(np.float64)
    got = decode(sqrt(codes, FORMATS["fp32"]), "fp32")
    assert np.all(same_values(got, expected) | (np.isnan(got) & np.isnan(expected)))
    nan = np.isnan(expected)
    assert np.all(sqrt(codes[nan], "fp32") == F.canonical_nan("fp32"))


def test_sqrt_specials_and_exact_squares():
    e4m3 = "e4m3"
    assert sqrt(0x00, e4m3) == 0x00 and sqrt(0x80, e4m3) == 0x80
    assert sqrt(0x7F, e4m3) == 0x7F and sqrt(0xB8, e4m3) == 0x7F     # NaN, sqrt(-1)
    assert sqrt([0x7C, 0xFC, 0x7D], "e5m2").tolist() == [0x7C, 0x7E, 0x7E]
    assert sqrt(0x205, "fp10_e5m4") == 0x200                          # flushed -subnormal: -0
    for x in (0.25, 1.0, 4.0, 2.25, 9.0, 16.0, 0.015625):
        c = F.encode([x], e4m3)
        assert decode(sqrt(c, e4m3, "rtz"), e4m3)[0] == math.sqrt(x)
    # sqrt(2) = 1.0110101...: rtz 1.375, rne/rna 1.375 (below the midpoint 1.4375)
    two = F.encode([2.0], e4m3)
    assert decode(sqrt(two, e4m3, "rtz"), e4m3)[0] == 1.375
    assert decode(sqrt(two, e4m3, "rna"), e4m3)[0] == 1.375


def test_sqrt_errors():
    with pytest.raises(ValueError, match="fp10_e5m4"):
        sqrt(0x3C0, "fp10_e5m4")                                      # negative, no NaN code
    with pytest.raises(ValueError, match="rounding must be one of rne, rna, rtz"):
        sqrt(0x38, "e4m3", "stochastic")
    with pytest.raises(ValueError, match="overflow must be one of saturate, nonsat"):
        sqrt(0x38, "e4m3", overflow="wrap")
    with pytest.raises(ValueError, match="at most 26 significand bits"):
        sqrt(0, FloatFormat("fp40", 8, 31, 127, "ieee"))


def test_sqrt_vectorized_shapes():
    c = np.arange(16).reshape(4, 4)
    assert sqrt(c, "e4m3").shape == (4, 4)
    assert sqrt(5, "e2m1").shape == ()
