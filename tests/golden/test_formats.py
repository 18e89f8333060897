"""Tests of golden.formats: decode/encode/arithmetic against ml_dtypes, gfloat and an exact
Fraction reference written here from numerics.md (not from the module under test)."""
from __future__ import annotations

import bisect
import functools
import math
from fractions import Fraction

import gfloat
from gfloat.formats import format_info_ocp_int8
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden import formats as F
from golden.formats import MxsfFormat, add, decode, div, encode, get_format, magnitudes, mul

# ---------------------------------------------------------------------------------------------
# The formats restated from docs/numerics.md §1/§6, for the independent reference.
# ---------------------------------------------------------------------------------------------

SPEC = {
    # name: ("float", ebits, mbits, bias, specials, subnormals)
    "fp16": ("float", 5, 10, 15, "ieee", True),
    "bf16": ("float", 8, 7, 127, "ieee", True),
    "e5m2": ("float", 5, 2, 15, "ieee", True),
    "e4m3": ("float", 4, 3, 7, "fn", True),
    "e3m2": ("float", 3, 2, 3, "none", True),
    "e2m3": ("float", 2, 3, 1, "none", True),
    "e2m1": ("float", 2, 1, 1, "none", True),
    "e2m5": ("float", 2, 5, 1, "none", True),
    "fp10_e5m4": ("float", 5, 4, 15, "none", False),
    "fp10_e6m3": ("float", 6, 3, 31, "none", False),
    "fp18_e5m12": ("float", 5, 12, 15, "none", False),
    "fp17_e6m11": ("float", 6, 11, 31, "none", False),
    "mxint8": ("int", 8, 6),
    "mxsf": ("mxsf", 3, 2, 8),
    # MXSF variants (sub_ebits, sub_mbits, sub_bias): overlap, gap, another split
    "mxsf_b6": ("mxsf", 3, 2, 6),
    "mxsf_b10": ("mxsf", 3, 2, 10),
    "mxsf_e2m3_b4": ("mxsf", 2, 3, 4),
}
GAP = ("mxsf_b10",)  # no sub value in [0.5, 1): stochastic rounding is refused

ML = {
    "e5m2": ml_dtypes.float8_e5m2,
    "e4m3": ml_dtypes.float8_e4m3fn,
    "e3m2": ml_dtypes.float6_e3m2fn,
    "e2m3": ml_dtypes.float6_e2m3fn,
    "e2m1": ml_dtypes.float4_e2m1fn,
    "bf16": ml_dtypes.bfloat16,
    "fp16": np.float16,
}
NO_NAN = ("e3m2", "e2m3", "e2m1")  # FP6/FP4: ml_dtypes' NaN/overflow behaviour differs
MODES = ("rne", "rna", "rtz")


def width(name):
    s = SPEC[name]
    return 8 if s[0] in ("int", "mxsf") else 1 + s[1] + s[2]


def ref_value(code, name):
    """(magnitude, negative, kind) of one code from the bit fields; kind in finite/inf/nan."""
    s = SPEC[name]
    if s[0] == "int":
        q = code - 256 if code >= 128 else code
        return Fraction(abs(q), 2 ** s[2]), q < 0, "finite"
    w = width(name)
    neg = bool(code >> (w - 1))
    c = code & ((1 << (w - 1)) - 1)
    if s[0] == "mxsf":
        e2, m5 = c >> 5, c & 31
        if e2:
            return (1 + Fraction(m5, 32)) * Fraction(2) ** (e2 - 1), neg, "finite"
        _, se, sm, sb = s
        e3, m2 = m5 >> sm, m5 & ((1 << sm) - 1)
        if e3:
            return (1 + Fraction(m2, 1 << sm)) * Fraction(2) ** (e3 - sb), neg, "finite"
        return Fraction(m2, 1 << sm) * Fraction(2) ** (1 - sb), neg, "finite"
    _, eb, mb, bias, specials, subn = s
    e, m = c >> mb, c & ((1 << mb) - 1)
    top = (1 << eb) - 1
    if specials == "ieee" and e == top:
        return None, neg, ("inf" if m == 0 else "nan")
    if specials == "fn" and e == top and m == (1 << mb) - 1:
        return None, neg, "nan"
    if e == 0:
        if not subn:
            return Fraction(0), neg, "finite"
        return Fraction(m, 1 << mb) * Fraction(2) ** (1 - bias), neg, "finite"
    return (1 + Fraction(m, 1 << mb)) * Fraction(2) ** (e - bias), neg, "finite"


@functools.lru_cache(maxsize=None)
def ref_list(name):
    """Sorted (magnitudes, codes) of sign-0 finite codes, flushed subnormal codes left out."""
    n = 128 if SPEC[name][0] == "int" else 1 << (width(name) - 1)
    pairs = {}
    for c in range(n):
        v, _, kind = ref_value(c, name)
        # MXSF's mode rule: a value both modes hold (overlap) is coded in the E2M5 mode
        if kind == "finite" and (v != 0 or c == 0) and (v not in pairs or c >> 5):
            pairs[v] = c
    pairs = sorted(pairs.items())
    mags = [p[0] for p in pairs]
    codes = [p[1] for p in pairs]
    assert codes == sorted(codes), "codes must be monotonic in magnitude"
    return mags, codes


@functools.lru_cache(maxsize=None)
def ref_list_extended(name):
    """ref_list with the grid continued above max finite by two steps of the top binade."""
    mags, codes = ref_list(name)
    step = mags[-1] - mags[-2]
    ext = mags[-1] + step
    return mags + [ext, ext + step], codes + [codes[-1] + 1, codes[-1] + 2]


def ref_round(mag, neg, name, rounding, overflow, r=None, R=None):
    """Reference: round an exact non-negative Fraction magnitude with sign ``neg``."""
    mags, codes = ref_list(name)
    s = SPEC[name]
    allm, allc = ref_list_extended(name)
    i = bisect.bisect_right(allm, mag) - 1
    if i >= len(allm) - 1:
        i = len(allm) - 2
        frac = Fraction(0)
    else:
        frac = (mag - allm[i]) / (allm[i + 1] - allm[i])
    if rounding == "rtz":
        up = False
    elif rounding == "rne":
        up = frac > Fraction(1, 2) or (frac == Fraction(1, 2) and allc[i] % 2 == 1)
    elif rounding == "rna":
        up = frac >= Fraction(1, 2)
    else:
        up = frac * 2**R + r >= 2**R
    j = i + 1 if up else i
    if j >= len(mags):  # overflow
        if rounding == "rtz" or overflow == "saturate":
            c = codes[-1]
        elif s[0] == "float" and s[4] == "ieee":
            c = ((1 << s[1]) - 1) << s[2]
        elif s[0] == "float" and s[4] == "fn":
            c = (1 << (s[1] + s[2])) - 1
        else:
            c = codes[-1]
    else:
        c = allc[j]
    if s[0] == "int":
        return (-c) & 0xFF if neg else c
    return c | (1 << (width(name) - 1)) if neg else c


def ref_encode(x, name, rounding, overflow, r=None, R=None):
    return ref_round(Fraction(abs(float(x))), bool(np.signbit(x)), name, rounding, overflow, r, R)


def adversarial_points(name, rng, n_random=150, n_grid=80):
    """Float64 points: grid points, midpoints and their float64 neighbours, beyond max, tiny."""
    mags, _ = ref_list(name)
    fm = np.array([float(m) for m in mags])
    idx = rng.choice(len(fm) - 1, size=min(n_grid, len(fm) - 1), replace=False)
    idx = np.union1d(idx, [0, 1, len(fm) - 2])
    mid = (fm[idx] + fm[idx + 1]) / 2
    base = np.concatenate([fm[idx], fm[idx + 1], mid])
    step = fm[-1] - fm[-2]
    over = fm[-1] + step * np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
    tiny = fm[1] * np.array([0.25, 0.5, 0.75, 1.5])
    pts = np.concatenate([base, over, tiny, [fm[-1] * 64, 1e30, 0.0]])
    pts = np.concatenate([pts, np.nextafter(pts, np.inf), np.nextafter(pts, -np.inf)])
    pts = pts[pts >= 0]
    lo, hi = np.log2(fm[1]) - 3, np.log2(fm[-1]) + 2
    rand = 2.0 ** rng.uniform(lo, hi, n_random)
    pts = np.concatenate([pts, rand])
    return np.concatenate([pts, -pts])


# ---------------------------------------------------------------------------------------------
# §1 derived properties
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("e5m2", 57344), ("e4m3", 448), ("e3m2", 28), ("e2m3", 7.5), ("e2m1", 6),
    ("mxint8", 127 / 64), ("e2m5", 7.875), ("mxsf", 7.875)])
def test_max_finite(name, expected):
    assert get_format(name).max_finite == expected
    mags, _ = magnitudes(name)
    assert mags[-1] == expected


@pytest.mark.parametrize("name, expected", [
    ("e5m2", 15), ("e4m3", 8), ("e3m2", 4), ("e2m3", 2), ("e2m1", 2), ("e2m5", 2),
    ("mxint8", 0), ("mxsf", 2)])
def test_emax_elem(name, expected):
    assert get_format(name).emax_elem == expected


@pytest.mark.parametrize("name", sorted(SPEC))
def test_magnitudes_match_bit_field_reference(name):
    mags, codes = magnitudes(name)
    rm, rc = ref_list(name)
    assert list(codes) == rc
    assert [Fraction(float(m)) for m in mags] == rm


# ---------------------------------------------------------------------------------------------
# decode
# ---------------------------------------------------------------------------------------------

def same_values(a, b):
    """Equal as float64 including NaN == NaN and the sign of zero."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    return both_nan | ((a == b) & (np.signbit(a) == np.signbit(b)))


@pytest.mark.parametrize("name", sorted(ML))
def test_decode_every_code_matches_ml_dtypes(name):
    w = width(name)
    codes = np.arange(1 << w)
    utype = np.uint8 if w <= 8 else np.uint16
    with np.errstate(invalid="ignore"):
        expected = codes.astype(utype).view(ML[name]).astype(np.float64)
    got = decode(codes, name)
    assert got.dtype == np.float64
    assert np.all(same_values(got, expected))


@pytest.mark.parametrize("name", sorted(SPEC))
def test_decode_every_code_matches_bit_field_reference(name):
    n = 1 << width(name)
    codes = np.arange(n) if n <= 4096 else np.random.default_rng(1).integers(0, n, 4096)
    got = decode(codes, name)
    for c, g in zip(codes.tolist(), got.tolist()):
        v, neg, kind = ref_value(c, name)
        if kind == "nan":
            assert math.isnan(g)
        elif kind == "inf":
            assert g == (-math.inf if neg else math.inf)
        else:
            assert Fraction(g) == v * (-1 if neg else 1) and math.copysign(1, g) == (-1 if neg else 1) \
                or (SPEC[name][0] == "int" and v == 0 and g == 0)


def test_decode_special_codes():
    assert decode(0x80, "mxint8") == -2.0
    z = decode([0x200, 0x001, 0x201, 0x00F], "fp10_e5m4")  # sign-only and flushed subnormals
    assert np.all(z == 0) and list(np.signbit(z)) == [True, False, True, False]
    assert np.signbit(decode(0x80, "mxsf")) and decode(0x80, "mxsf") == 0


def test_decode_fp32_matches_bits():
    rng = np.random.default_rng(2)
    codes = np.concatenate([rng.integers(0, 2**32, 200_000, dtype=np.int64),
                            [0, 1, 0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x80000000, 0x007FFFFF]])
    with np.errstate(invalid="ignore"):
        expected = codes.astype(np.uint32).view(np.float32).astype(np.float64)
    assert np.all(same_values(decode(codes, "fp32"), expected))


def test_decode_shape_and_range():
    assert decode(np.zeros((2, 3), np.int64), "e4m3").shape == (2, 3)
    with pytest.raises(ValueError, match="8-bit"):
        decode([256], "e4m3")


# ---------------------------------------------------------------------------------------------
# encode vs ml_dtypes (RNE, non-saturating, from float32)
# ---------------------------------------------------------------------------------------------

def ml_grid(name, rng):
    """Dense float32 grid: every representable value and midpoint (both signs) with their
    float32 neighbours, the overflow region, tiny values, zeros, infinities, random floats."""
    w = width(name)
    utype = np.uint8 if w <= 8 else np.uint16
    with np.errstate(invalid="ignore"):
        vals = np.arange(1 << (w - 1)).astype(utype).view(ML[name]).astype(np.float64)
    vals = np.unique(vals[np.isfinite(vals)])
    mid = (vals[:-1] + vals[1:]) / 2
    step = vals[-1] - vals[-2]
    over = vals[-1] + step * np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0])
    tiny = vals[1] * np.array([0.25, 0.5, 0.75])
    base = np.concatenate([vals, mid, over, tiny, [1e30, 3.0e38]])
    base = base[base <= np.finfo(np.float32).max].astype(np.float32)
    base = np.concatenate([base, np.nextafter(base, np.float32(np.inf)),
                           np.nextafter(base, np.float32(-np.inf))])
    lo, hi = np.log10(vals[1]) - 2, min(np.log10(vals[-1]) + 2, 38)
    logs = np.logspace(lo, hi, 20000).astype(np.float32)
    bits = rng.integers(0, 2**32, 50000, dtype=np.int64).astype(np.uint32).view(np.float32)
    bits = bits[np.isfinite(bits)]
    x = np.concatenate([base, logs, bits, [np.inf, np.float32(np.finfo(np.float32).smallest_subnormal)]])
    return np.concatenate([x, -x]).astype(np.float32)


def ml_codes(x32, name):
    y = x32.astype(ML[name])
    return y.view(np.uint8 if y.itemsize == 1 else np.uint16).astype(np.int64)


@pytest.mark.parametrize("name", sorted(ML))
def test_encode_rne_nonsat_matches_ml_dtypes(name):
    x = ml_grid(name, np.random.default_rng(3))
    with np.errstate(over="ignore"):
        expected = ml_codes(x, name)
    got = encode(x.astype(np.float64), name, "rne", "nonsat")
    fmt = get_format(name)
    if name in NO_NAN:
        # the project saturates where the grid continued above max rounds past max finite
        maxc = ref_list(name)[1][-1]
        boundary = fmt.max_finite + (ref_list(name)[0][-1] - ref_list(name)[0][-2]) / 2
        over = np.abs(x) >= boundary  # the tie rounds to the even (overflowing) next code
        sat = np.where(np.signbit(x), maxc | (1 << (width(name) - 1)), maxc)
        assert np.all(got[over] == sat[over])
        assert over.sum() > 10
        # ml_dtypes 0.6 saturates FP6/FP4 too (spec text says NaN); where it gives a value it
        # must be ours
        assert np.all(got[over] == expected[over])
        assert np.array_equal(got[~over], expected[~over])
    else:
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("name", ["e5m2", "e4m3", "bf16", "fp16"])
def test_encode_nan_matches_ml_dtypes(name):
    got = encode([np.nan], name)
    assert got[0] == ml_codes(np.array([np.nan], np.float32), name)[0]
    assert got[0] == F.canonical_nan(name)


@pytest.mark.parametrize("name, value, code", [
    ("e4m3", 464.0, 0x7E), ("e4m3", 464.00001, 0x7F), ("e4m3", 480.0, 0x7F),
    ("e4m3", -480.0, 0xFF), ("e4m3", np.inf, 0x7F), ("e5m2", 61439.0, 0x7B),
    ("e5m2", 61440.0, 0x7C), ("e5m2", -np.inf, 0xFC), ("e2m1", np.inf, 0x07),
    ("e2m1", -7.0, 0x0F)])
def test_overflow_after_rounding(name, value, code):
    assert encode([value], name, "rne", "nonsat")[0] == code


@pytest.mark.parametrize("name", sorted(ML) + ["mxint8", "mxsf", "e2m5", "fp10_e5m4"])
def test_saturate_is_clamped_nonsat(name):
    rng = np.random.default_rng(4)
    x = adversarial_points(name, rng)
    maxc = ref_list(name)[1][-1]
    for rounding in MODES:
        non = encode(x, name, rounding, "nonsat")
        sat = encode(x, name, rounding, "saturate")
        special = ~np.isfinite(decode(non, name))
        if SPEC[name][0] == "int":
            clamp = np.where(x < 0, (-maxc) & 0xFF, maxc)
        else:
            clamp = np.where(np.signbit(x), maxc | (1 << (width(name) - 1)), maxc)
        assert np.array_equal(sat, np.where(special, clamp, non))
        if SPEC[name][0] == "float" and SPEC[name][4] != "none" and rounding != "rtz":
            assert special.any()


def test_encode_fp32_matches_numpy_cast():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(50000) * 10.0 ** rng.integers(-45, 39, 50000),
                        [3.4028235677973366e38, 3.4028235677973366e38 * (1 + 2**-25),
                         2.0**-150, 2.0**-150 * (1 + 2**-30), 2.0**-149 * 1.5, 1e-300, 1e300]])
    x = np.concatenate([x, -x])
    with np.errstate(over="ignore"):
        expected = x.astype(np.float32).view(np.uint32).astype(np.int64)
    assert np.array_equal(encode(x, "fp32", "rne", "nonsat"), expected)


# ---------------------------------------------------------------------------------------------
# gfloat cross-checks
# ---------------------------------------------------------------------------------------------

GF_E2M5 = gfloat.FormatInfo(
    name="e2m5", k=8, precision=6, bias=1, is_signed=True, domain=gfloat.Domain.Finite,
    has_nz=True, num_high_nans=0, has_subnormals=True, is_twos_complement=False)


def test_gfloat_e2m5_decode():
    codes = np.arange(256)
    expected = np.array([gfloat.decode_float(GF_E2M5, int(c)).fval for c in codes])
    assert np.all(same_values(decode(codes, "e2m5"), expected))


@pytest.mark.parametrize("rounding, rmode", [
    ("rne", gfloat.RoundMode.TiesToEven), ("rna", gfloat.RoundMode.TiesToAway),
    ("rtz", gfloat.RoundMode.TowardZero)])
def test_gfloat_e2m5_encode(rounding, rmode):
    rng = np.random.default_rng(6)
    vals = np.array([gfloat.decode_float(GF_E2M5, c).fval for c in range(128)])
    mid = (vals[:-1] + vals[1:]) / 2
    x = np.concatenate([vals, mid, np.linspace(0, 9, 5001), 2.0 ** rng.uniform(-10, 4, 3000),
                        [7.9375, 8.0, 100.0]])
    x = np.concatenate([x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)])
    x = np.concatenate([x, -x])
    expected = np.array([gfloat.round_float(GF_E2M5, float(v), rmode, sat=True) for v in x])
    codes = encode(x, "e2m5", rounding, "saturate")
    differ = ~same_values(decode(codes, "e2m5"), expected)
    if rounding == "rna":
        # gfloat 0.5.2 computes ``delta + 0.5 >= 1.0`` in float64, so the float64 just below a
        # midpoint (here 2**-6 - 2**-59, between 0 and 2**-5) rounds away; the exact reference
        # agrees with us there
        assert 0 < differ.sum() <= 4
        assert np.all(np.abs(x[differ]) == np.nextafter(2.0**-6, 0))
        assert all(c == ref_encode(v, "e2m5", "rna", "saturate")
                   for c, v in zip(codes[differ], x[differ]))
    else:
        assert not differ.any()


def test_gfloat_mxint8_differs_only_at_minus_two():
    fi = format_info_ocp_int8
    codes = np.arange(256)
    gdec = np.array([gfloat.decode_float(fi, int(c)).fval for c in codes])  # q * 2**-6
    assert np.array_equal(decode(codes, "mxint8"), gdec)
    x = np.linspace(-2.2, 2.2, 4001)
    g = np.array([gfloat.round_float(fi, float(v), gfloat.RoundMode.TiesToEven, sat=True)
                  for v in x])
    got = decode(encode(x, "mxint8"), "mxint8")
    differ = got != g
    assert np.all(g[differ] == -2.0) and np.all(got[differ] == -127 / 64)
    assert np.array_equal(differ, x <= -127.5 / 64)


# ---------------------------------------------------------------------------------------------
# Fraction reference: every mode, every format
# ---------------------------------------------------------------------------------------------

REF_FORMATS = ["e5m2", "e4m3", "e3m2", "e2m3", "e2m1", "mxint8", "e2m5", "mxsf",
               "mxsf_b6", "mxsf_b10", "mxsf_e2m3_b4",
               "fp10_e5m4", "fp10_e6m3", "bf16", "fp16", "fp17_e6m11"]


@pytest.mark.parametrize("name", REF_FORMATS)
@pytest.mark.parametrize("overflow", ["saturate", "nonsat"])
def test_encode_matches_reference(name, overflow):
    rng = np.random.default_rng(7)
    x = adversarial_points(name, rng)
    for rounding in MODES:
        got = encode(x, name, rounding, overflow)
        expected = [ref_encode(v, name, rounding, overflow) for v in x]
        assert got.tolist() == expected, rounding


@pytest.mark.parametrize("name", [f for f in REF_FORMATS if f not in GAP])
def test_stochastic_matches_reference(name):
    rng = np.random.default_rng(8)
    mags, _ = ref_list(name)
    for R in (1, 3, 8, 20):
        x = adversarial_points(name, rng, n_random=60, n_grid=30)
        r = rng.integers(0, 2**R, x.size)
        got = encode(x, name, "stochastic", "saturate", rbits=R, rand=r)
        expected = [ref_encode(v, name, "stochastic", "saturate", int(ri), R)
                    for v, ri in zip(x, r)]
        assert got.tolist() == expected
        # exact boundary frac * 2**R + r == 2**R (rounds up) and one below (rounds down)
        i = rng.integers(0, len(mags) - 1, 40)
        k = rng.integers(1, 2**R, 40)
        lo = np.array([float(mags[j]) for j in i])
        hi = np.array([float(mags[j + 1]) for j in i])
        xb = lo + (hi - lo) * k / 2**R
        assert all(Fraction(v) == mags[j] + (mags[j + 1] - mags[j]) * int(kk) / 2**R
                   for v, j, kk in zip(xb, i, k))
        up = encode(xb, name, "stochastic", rbits=R, rand=2**R - k)
        down = encode(xb, name, "stochastic", rbits=R, rand=2**R - k - 1)
        assert up.tolist() == [ref_encode(v, name, "stochastic", "saturate", int(2**R - kk), R)
                               for v, kk in zip(xb, k)]
        assert down.tolist() == [ref_encode(v, name, "stochastic", "saturate", int(2**R - kk - 1), R)
                                 for v, kk in zip(xb, k)]
        assert np.all(decode(up, name) == hi) and np.all(decode(down, name) == lo)


@settings(deadline=None, max_examples=150)
@given(x=st.floats(allow_nan=False, allow_infinity=False, width=64),
       name=st.sampled_from(["e4m3", "mxsf", "mxint8", "fp10_e5m4", "e2m1"]),
       rounding=st.sampled_from(MODES), overflow=st.sampled_from(["saturate", "nonsat"]))
def test_encode_matches_reference_hypothesis(x, name, rounding, overflow):
    assert encode([x], name, rounding, overflow)[0] == ref_encode(x, name, rounding, overflow)


def test_no_subnormal_format():
    mn = 2.0**-14  # fp10_e5m4 min normal
    x = np.array([mn / 2, mn / 2 * (1 + 2**-40), mn * 0.25, mn * 0.75, -mn * 0.75, -mn * 0.1])
    assert encode(x, "fp10_e5m4").tolist() == [0, 16, 0, 16, 16 | 512, 512]
    assert encode([mn * 0.99], "fp10_e5m4", "rtz").tolist() == [0]
    assert encode([mn * 0.5], "fp10_e5m4", "stochastic", rbits=1, rand=[1]).tolist() == [16]


def test_signed_zero():
    assert encode([-0.0, 0.0], "e4m3").tolist() == [0x80, 0]
    assert encode([-1e-30], "e2m1").tolist() == [0x8]
    assert encode([-0.0, -1e-30], "mxint8").tolist() == [0, 0]
    assert encode([-0.0], "mxsf").tolist() == [0x80]


def test_symmetric_int_never_most_negative():
    x = np.linspace(-3, 3, 10001)
    for rounding in MODES:
        for overflow in ("saturate", "nonsat"):
            assert not np.any(encode(x, "mxint8", rounding, overflow) == 0x80)


def test_encode_broadcast_and_float32():
    x = np.array([[1.0, 2.5], [3.5, -0.25]], np.float32)
    got = encode(x, "e2m1")
    assert got.shape == (2, 2) and got.dtype == np.int64
    assert got.tolist() == [[0x2, 0x4], [0x6, 0x8]]  # -0.25: tie 0 (even) / 0.5
    assert encode(np.full((3, 1), 0.75), "e2m1", "stochastic", rbits=2,
                  rand=np.array([0, 1, 2])).shape == (3, 3)


# ---------------------------------------------------------------------------------------------
# MXSF
# ---------------------------------------------------------------------------------------------

def test_mxsf_roundtrip_every_code():
    codes = np.arange(256)
    for rounding in MODES:
        assert np.array_equal(encode(decode(codes, "mxsf"), "mxsf", rounding), codes)


MXSF_VARIANTS = ("mxsf", "mxsf_b6", "mxsf_b10", "mxsf_e2m3_b4")


@pytest.mark.parametrize("name", MXSF_VARIANTS)
def test_mxsf_variant_decode_and_canonical_codes(name):
    """Every code decodes per docs/numerics.md §6 with the variant's sub mode; canonical codes (all
    but the overlap's aliases) round-trip; an alias encodes to the E2M5 code of its value."""
    fmt = get_format(name)
    codes = np.arange(256)
    ref = [ref_value(int(c), name) for c in codes]
    assert decode(codes, fmt).tolist() == [float(-v if neg else v) for v, neg, _ in ref]
    canon = fmt.canonical(codes)
    for rounding in MODES:
        back = encode(decode(codes, fmt), fmt, rounding)
        assert np.array_equal(back[canon], codes[canon])
        assert np.array_equal(decode(back, fmt), decode(codes, fmt))
        assert np.all(((back[~canon] >> 5) & 3) != 0)
    aliases = int(np.sum(~canon))
    # an overlap leaves (2**(emax_sub + 1) - 1) sub binades' worth of codes above 1.0 unused
    assert aliases == {"mxsf": 0, "mxsf_b6": 16, "mxsf_b10": 0, "mxsf_e2m3_b4": 0}[name]
    assert get_format(fmt.name) == fmt


def test_mxsf_gap_rounds_at_its_midpoint():
    """sub_bias 10: the sub mode tops out at 7/32; values up to 1.0 round by the midpoint."""
    fmt = get_format("mxsf_b10")
    assert fmt.gap and fmt.sub_top == 7 / 32 and decode(0x1F, fmt) == 7 / 32
    mid = (7 / 32 + 1) / 2
    below, above = np.nextafter(mid, 0), np.nextafter(mid, 2)
    assert encode([below, mid, above, 0.5, 0.3], fmt).tolist() == [0x1F, 0x20, 0x20, 0x1F, 0x1F]
    assert encode([mid, 0.99], fmt, "rna").tolist() == [0x20, 0x20]
    assert encode([mid, 0.99], fmt, "rtz").tolist() == [0x1F, 0x1F]
    with pytest.raises(ValueError, match="stochastic rounding of mxsf_b10"):
        encode([0.5], fmt, "stochastic", rbits=3, rand=[1])


def test_mxsf_names_and_bad_parameters():
    assert get_format("mxsf_b6").sub_bias == 6
    assert get_format("mxsf_e2m3_b4") == MxsfFormat(2, 3, 4)
    assert MxsfFormat().name == "mxsf" and MxsfFormat(sub_bias=10).name == "mxsf_b10"
    with pytest.raises(ValueError, match=r"sub_bias must be an integer in 5\.\.16"):
        MxsfFormat(sub_bias=4)
    with pytest.raises(ValueError, match="sub_ebits \\+ sub_mbits must be 5"):
        MxsfFormat(3, 3, 8)
    with pytest.raises(ValueError, match="is spelled 'mxsf'"):
        get_format("mxsf_b8")
    with pytest.raises(ValueError, match="mxsf_b<bias>"):
        get_format("mxsf_x")


def test_mxsf_tie_goes_to_one():
    assert encode([0.9375, -0.9375], "mxsf").tolist() == [0x20, 0xA0]
    assert encode([0.9375], "mxsf", "rtz").tolist() == [0x1F]
    assert decode(0x1F, "mxsf") == 0.875 and decode(0x20, "mxsf") == 1.0
    # smallest positive and range (docs/numerics.md §6: 2^-9 ... 0.875 below E2M5's 1.0)
    assert decode(1, "mxsf") == 2.0**-9


# ---------------------------------------------------------------------------------------------
# arithmetic
# ---------------------------------------------------------------------------------------------

def ref_arith(op, a, b, name, rounding, overflow):
    va, na, ka = ref_value(a, name)
    vb, nb, kb = ref_value(b, name)
    assert ka == kb == "finite"
    x = -va if na else va
    y = -vb if nb else vb
    if op == "add":
        z = x + y
        zneg = z < 0 or (z == 0 and na and nb and va == 0 and vb == 0)
    elif op == "mul":
        z = x * y
        zneg = z < 0 or (z == 0 and na != nb)
    else:
        z = x / y
        zneg = z < 0 or (z == 0 and na != nb)
    return ref_round(abs(z), zneg, name, rounding, overflow)


OPS = {"add": add, "mul": mul, "div": div}


def finite_codes(name):
    n = 1 << width(name)
    return [c for c in range(n) if ref_value(c, name)[2] == "finite"]


@pytest.mark.parametrize("op", sorted(OPS))
def test_arith_e2m1_exhaustive(op):
    codes = np.arange(16)
    a, b = np.meshgrid(codes, codes)
    a, b = a.ravel(), b.ravel()
    if op == "div":
        keep = (b & 7) != 0
        a, b = a[keep], b[keep]
    for rounding in MODES:
        for overflow in ("saturate", "nonsat"):
            got = OPS[op](a, b, "e2m1", rounding, overflow)
            expected = [ref_arith(op, int(p), int(q), "e2m1", rounding, overflow)
                        for p, q in zip(a, b)]
            assert got.tolist() == expected, (rounding, overflow)


@pytest.mark.parametrize("name", ["e4m3", "fp10_e5m4", "bf16", "mxint8", "mxsf"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_arith_random_pairs(name, op):
    rng = np.random.default_rng(9)
    fc = np.array(finite_codes(name))
    a = rng.choice(fc, 600)
    b = rng.choice(fc, 600)
    # adversarial: operands of very different size (sticky bits) and near-cancellation
    big = fc[-(len(fc) // 8):]
    a = np.concatenate([a, rng.choice(big, 100), rng.choice(fc, 100)])
    b = np.concatenate([b, rng.choice(fc[:len(fc) // 8], 100), rng.choice(fc, 100)])
    if op == "add":
        a = np.concatenate([a, fc[:50]])
        b = np.concatenate([b, fc[:50] ^ (1 << (width(name) - 1))])
    if op == "div":
        keep = np.array([ref_value(int(c), name)[0] != 0 for c in b])
        a, b = a[keep], b[keep]
    for rounding in MODES:
        for overflow in ("saturate", "nonsat"):
            got = OPS[op](a, b, name, rounding, overflow)
            expected = [ref_arith(op, int(p), int(q), name, rounding, overflow)
                        for p, q in zip(a, b)]
            assert got.tolist() == expected, (rounding, overflow)


def test_arith_sticky_cases():
    # bf16: 1 - 2^-100 truncates below 1, rounds to 1 with rne
    one, tiny = encode([1.0, -(2.0**-100)], "bf16").tolist()
    assert decode(add(one, tiny, "bf16", "rtz"), "bf16") == 1 - 2.0**-8
    assert decode(add(one, tiny, "bf16", "rne"), "bf16") == 1.0
    # e4m3: 1/3 = 0.0101..b: rtz 0.3125, rne 0.34375; -1/3 keeps the sign
    a, b, c = encode([1.0, 3.0, -1.0], "e4m3").tolist()
    assert decode(div(a, b, "e4m3", "rtz"), "e4m3") == 0.3125
    assert decode(div(c, b, "e4m3", "rne"), "e4m3") == -0.34375
    # exact zero sums are +0 unless both are -0
    assert add(a, c, "e4m3").tolist() == 0 and add(0x80, 0x80, "e4m3").tolist() == 0x80


def test_arith_specials():
    assert add(0x7C, 0xFC, "e5m2") == F.canonical_nan("e5m2")  # inf - inf
    assert div(0x3C, 0x00, "e5m2") == 0x7C and div(0x3C, 0x80, "e5m2") == 0xFC
    assert div(0x2, 0x0, "e2m1") == 0x7 and div(0x2, 0x8, "e2m1", overflow="nonsat") == 0xF
    with pytest.raises(ValueError, match="e2m1"):
        div(0x0, 0x0, "e2m1")
    assert mul(0x7E, 0x7E, "e4m3", overflow="nonsat") == 0x7F
    assert mul(0x7E, 0xFE, "e4m3") == 0xFE
    with pytest.raises(ValueError, match="stochastic"):
        add(1, 1, "e4m3", "stochastic")


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------

def test_bad_rounding():
    with pytest.raises(ValueError, match=r"rounding must be one of rne, rna, rtz, stochastic"):
        encode([1.0], "e4m3", rounding="bogus")


def test_bad_overflow():
    with pytest.raises(ValueError, match=r"overflow must be one of saturate, nonsat"):
        encode([1.0], "e4m3", overflow="wrap")


@pytest.mark.parametrize("name", ["e3m2", "e2m3", "e2m1", "mxint8", "mxsf", "fp10_e5m4"])
def test_nan_into_no_nan_format(name):
    with pytest.raises(ValueError, match=name):
        encode([1.0, np.nan], name)


def test_bad_format():
    with pytest.raises(ValueError, match="e4m3") as e:
        get_format("fp7")
    assert "fp7" in str(e.value) and "mxsf" in str(e.value)


def test_bad_stochastic_arguments():
    with pytest.raises(ValueError, match="rbits"):
        encode([1.0], "e4m3", "stochastic", rand=[0])
    with pytest.raises(ValueError, match="rand"):
        encode([1.0], "e4m3", "stochastic", rbits=4)
    with pytest.raises(ValueError, match="rand"):
        encode([1.0], "e4m3", "stochastic", rbits=4, rand=[16])
    with pytest.raises(ValueError, match="stochastic"):
        encode([1.0], "e4m3", "rne", rbits=4)


def test_round_residual_contract():
    """The internal rounding of exact values just off a float64 (used by add/div): residual
    -1/+1 means the exact value lies an infinitesimal below/above x."""
    r = F._round
    mxsf, fp10, e4m3 = get_format("mxsf"), get_format("fp10_e5m4"), get_format("e4m3")
    for rounding in ("rne", "rna"):
        assert r(np.array([0.9375]), mxsf, rounding, "saturate", residual=np.array([-1])) == 0x1F
        assert r(np.array([0.9375]), mxsf, rounding, "saturate", residual=np.array([1])) == 0x20
        assert r(np.array([-0.9375]), mxsf, rounding, "saturate", residual=np.array([1])) == 0x9F
    # just below min_normal of a format without subnormals truncates to zero
    assert r(np.array([2.0**-14]), fp10, "rtz", "saturate", residual=np.array([-1])) == 0
    assert r(np.array([-(2.0**-14)]), fp10, "rtz", "saturate", residual=np.array([1])) == 0x200
    assert r(np.array([2.0**-14]), fp10, "rne", "saturate", residual=np.array([-1])) == 0x10
    # just below 480 (the grid continued above 448) is still an overflow except for rtz
    assert r(np.array([480.0]), e4m3, "rne", "nonsat", residual=np.array([-1])) == 0x7F
    assert r(np.array([480.0]), e4m3, "rtz", "nonsat", residual=np.array([-1])) == 0x7E


@pytest.mark.parametrize("op, npop", [("add", np.add), ("mul", np.multiply),
                                      ("div", np.divide)])
def test_arith_fp32_matches_numpy(op, npop):
    """FP32 add/mul/div with RNE and IEEE overflow equal NumPy's float32 operations."""
    rng = np.random.default_rng(10)
    n = 20000
    codes = rng.integers(0, 2**32, (2, n), dtype=np.int64)
    # half the pairs with nearby exponents so that rounding (not just overflow) is exercised
    codes[1, : n // 2] = (codes[0, : n // 2] & ~(0xF << 23)) ^ rng.integers(0, 2**23, n // 2)
    # boundary-heavy: smallest subnormals, largest normals
    codes[:, :100] = rng.integers(0, 64, (2, 100))
    codes[:, 100:200] = 0x7F7FFFFF - rng.integers(0, 64, (2, 100))
    f = codes.astype(np.uint32).view(np.float32)
    keep = np.isfinite(f).all(axis=0)
    a, b = codes[:, keep]
    with np.errstate(all="ignore"):
        expected = npop(f[0, keep], f[1, keep]).astype(np.float64)
    got = decode(OPS[op](a, b, "fp32", "rne", "nonsat"), "fp32")
    assert np.all(same_values(got, expected) | (np.isnan(got) & np.isnan(expected)))
    assert np.isfinite(expected).sum() > n // 4


def test_custom_descriptors():
    """Formats outside the catalogue: no stored mantissa bits, and an asymmetric integer."""
    e3m0 = F.FloatFormat("e3m0", 3, 0, 3, "none")  # magnitudes 0, 0.25, 0.5, ..., 16
    x = [0.125, 0.13, 0.375, 0.75, 3.0, 6.0, 23.9, 24.0, -0.375]
    # ties: 0/0.25 -> 0, 0.25/0.5 -> 0.5 (code 2), 0.5/1 -> 0.5, 2/4 -> 2, 4/8 -> 8, 16/32 -> 32
    # (odd code 7 -> even 8, an overflow that saturates)
    assert encode(x, e3m0).tolist() == [0, 1, 2, 2, 4, 6, 7, 7, 0x8 | 2]
    i4 = F.IntFormat("i4", 4, 1, symmetric=False)  # q / 2 for q in -8..7
    x = [-5.0, -3.75, -3.7, 3.75, -0.25, 0.75]
    assert decode(encode(x, i4), i4).tolist() == [-4.0, -4.0, -3.5, 3.5, 0.0, 1.0]
