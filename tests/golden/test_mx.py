"""golden.mx block quantization (docs/numerics.md §4) against gfloat, an exact Fraction reference
written
here from the spec, and its own algebraic properties (round trip, axis, tails, flush, ceil)."""
from __future__ import annotations

import bisect
import functools
import math
from fractions import Fraction

import gfloat
import numpy as np
import pytest
from gfloat.block import compute_scale_amax
from gfloat.formats import (format_info_mxfp4_e2m1, format_info_mxfp6_e2m3,
                            format_info_mxfp6_e3m2, format_info_mxfp8_e4m3,
                            format_info_mxfp8_e5m2, format_info_mxint8)
from hypothesis import given, settings, strategies as st

from golden import mx
from golden.formats import MX_ELEMENTS, decode

GF_BLOCK = {
    "e5m2": format_info_mxfp8_e5m2, "e4m3": format_info_mxfp8_e4m3,
    "e3m2": format_info_mxfp6_e3m2, "e2m3": format_info_mxfp6_e2m3,
    "e2m1": format_info_mxfp4_e2m1, "mxint8": format_info_mxint8,
}
GF_ROUND = {"rne": gfloat.RoundMode.TiesToEven, "rna": gfloat.RoundMode.TiesToAway,
            "rtz": gfloat.RoundMode.TowardZero}
MODES = ("rne", "rna", "rtz")

# ---------------------------------------------------------------------------------------------
# The element formats restated from docs/numerics.md §1/§6 (independent of golden.formats).
# ---------------------------------------------------------------------------------------------

SPEC = {  # name: (width, code -> exact value or None for NaN/Inf/never-produced codes)
    "e5m2": ("float", 5, 2, 15, "ieee"), "e4m3": ("float", 4, 3, 7, "fn"),
    "e3m2": ("float", 3, 2, 3, "none"), "e2m3": ("float", 2, 3, 1, "none"),
    "e2m1": ("float", 2, 1, 1, "none"), "mxint8": ("int",), "mxsf": ("mxsf", 8),
    "e2m5": ("float", 2, 5, 1, "none"),
    # MXSF variants (sub_bias): overlap and gap
    "mxsf_b6": ("mxsf", 6), "mxsf_b10": ("mxsf", 10),
}


def spec_value(name, code):
    """Exact value of a code per docs/numerics.md §1/§6; None for NaN/Inf and mxint8's -128."""
    s = SPEC[name]
    if s[0] == "int":
        if code == 0x80:
            return None
        q = code - 256 if code >= 128 else code
        return Fraction(q, 64)
    sign = -1 if code >> 7 & 1 and s[0] == "mxsf" else 1
    if s[0] == "mxsf":
        e2, m5 = (code >> 5) & 3, code & 31
        if e2:
            mag = (1 + Fraction(m5, 32)) * Fraction(2) ** (e2 - 1)
        else:
            e3, m2 = m5 >> 2, m5 & 3
            mag = ((1 + Fraction(m2, 4)) * Fraction(2) ** (e3 - s[1]) if e3
                   else Fraction(m2, 4) * Fraction(2) ** (1 - s[1]))
        return sign * mag
    _, eb, mb, bias, specials = s
    width = 1 + eb + mb
    sign = -1 if code >> (width - 1) else 1
    e, m = (code >> mb) & ((1 << eb) - 1), code & ((1 << mb) - 1)
    if specials == "ieee" and e == (1 << eb) - 1:
        return None
    if specials == "fn" and e == (1 << eb) - 1 and m == (1 << mb) - 1:
        return None
    mag = (Fraction(m, 1 << mb) * Fraction(2) ** (1 - bias) if e == 0
           else (1 + Fraction(m, 1 << mb)) * Fraction(2) ** (e - bias))
    return sign * mag


def spec_width(name):
    s = SPEC[name]
    return 8 if s[0] != "float" else 1 + s[1] + s[2]


@functools.cache
def spec_grid(name):
    """Sorted distinct non-negative magnitudes with their sign-0 codes, and emax_elem."""
    grid = {}
    for c in range(1 << (spec_width(name) - 1)):
        v = spec_value(name, c)
        # a value both MXSF modes hold (overlap) is coded in the E2M5 mode (code >= 32)
        if v is not None and v >= 0 and (v not in grid or SPEC[name][0] == "mxsf"):
            grid[v] = c
    mags = sorted(grid)
    emax = math.floor(math.log2(mags[-1]))
    while Fraction(2) ** (emax + 1) <= mags[-1]:
        emax += 1
    while Fraction(2) ** emax > mags[-1]:
        emax -= 1
    return mags, [grid[v] for v in mags], emax


def floor_log2(q: Fraction) -> int:
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if Fraction(2) ** e > q:
        e -= 1
    return e


def ref_block(vals32, name, rounding, scale_rounding):
    """Exact reference of docs/numerics.md §4 for one block of float32 values: (scale code,
    codes)."""
    k = len(vals32)
    if any(not math.isfinite(float(v)) for v in vals32):
        return 255, [0] * k
    V = [Fraction(float(v)) for v in vals32]
    mags, codes, emax = spec_grid(name)
    amax = max(abs(v) for v in V)
    if amax == 0:
        E = -127
    elif scale_rounding == "floor":
        E = floor_log2(amax) - emax
    else:
        E = floor_log2(amax) - emax - 2
        while amax / Fraction(2) ** E > mags[-1]:
            E += 1
    E = min(max(E, -127), 127)
    out = []
    width = spec_width(name)
    for v, f in zip(V, vals32):
        y = abs(v) / Fraction(2) ** E
        if y >= mags[-1]:
            j = len(mags) - 1
        else:
            j = bisect.bisect_right(mags, y) - 1      # mags[j] <= y < mags[j + 1]
            lo, hi = mags[j], mags[j + 1]
            if rounding != "rtz" and (2 * y > lo + hi or (2 * y == lo + hi and (
                    rounding == "rna" or codes[j] & 1))):
                j += 1
        c = codes[j]
        neg = math.copysign(1.0, float(f)) < 0
        if SPEC[name][0] == "int":
            c = (-c) & 0xFF if neg else c
        elif neg:
            c |= 1 << (width - 1)
        out.append(c)
    return E + 127, out


def blocks(elem, k=32, n=400, seed=0, scale_rounding="floor"):
    rng = np.random.default_rng(seed)
    return mx.quantize_stimulus(rng, n, elem=elem, k=k, scale_rounding=scale_rounding)["x"]


def as_f32(bits):
    return np.asarray(bits, dtype=np.int64).astype(np.uint32).view(np.float32)


# ---------------------------------------------------------------------------------------------
# Exact reference
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("elem", MX_ELEMENTS + ("mxsf_b6", "mxsf_b10"))
@pytest.mark.parametrize("scale_rounding", mx.SCALE_ROUNDINGS)
def test_matches_fraction_reference(elem, scale_rounding):
    """Random blocks (a few hundred) and every corner block, every rounding mode."""
    x = blocks(elem, k=16, n=250, seed=11, scale_rounding=scale_rounding)
    xf = as_f32(x)
    for rounding in MODES:
        s, c = mx.quantize(xf, elem, 16, rounding=rounding, scale_rounding=scale_rounding)
        for row in range(len(x)):
            es, ec = ref_block(xf[row], elem, rounding, scale_rounding)
            assert (int(s[row, 0]), c[row].tolist()) == (es, ec), (rounding, row, x[row])


def test_spec_grid_is_the_format():
    """The test's own restatement agrees with docs/numerics.md §1's emax_elem table."""
    emax = {"e5m2": 15, "e4m3": 8, "e3m2": 4, "e2m3": 2, "e2m1": 2, "mxint8": 0, "mxsf": 2,
            "e2m5": 2, "mxsf_b6": 2, "mxsf_b10": 2}
    assert {n: spec_grid(n)[2] for n in SPEC} == emax
    assert float(spec_grid("e4m3")[0][-1]) == 448 and float(spec_grid("mxint8")[0][-1]) == 127 / 64


# ---------------------------------------------------------------------------------------------
# gfloat
# ---------------------------------------------------------------------------------------------

def gfloat_values(elem, xf, rounding):
    """gfloat's MX quantization of each row (its own scale rule, vectorized element rounding)."""
    fi = GF_BLOCK[elem]
    x64 = xf.astype(np.float64)
    scale = np.array([compute_scale_amax(fi.etype.emax, row) for row in x64])
    scaled = x64 / scale[:, None]
    q = gfloat.round_ndarray(fi.etype, scaled, GF_ROUND[rounding], sat=True)
    return q * scale[:, None], scale


@pytest.mark.parametrize("elem", sorted(GF_BLOCK))
@pytest.mark.parametrize("rounding", MODES)
def test_matches_gfloat(elem, rounding):
    """Finite blocks: same scale and same values as gfloat (floor scale, saturation).
    mxint8: gfloat also produces -2.0 (code 0x80, docs/numerics.md §1); the only difference."""
    x = blocks(elem, n=3000, seed=5)
    xf = as_f32(x)
    xf = xf[np.all(np.isfinite(xf), axis=1)]
    s, c = mx.quantize(xf, elem, 32, rounding=rounding)
    ours = mx.dequantize(s, c, elem, 32)
    ref, gscale = gfloat_values(elem, xf, rounding)
    np.testing.assert_array_equal(np.ldexp(1.0, s[:, 0].astype(int) - 127), gscale)
    same = (ours == ref) & (np.signbit(ours) == np.signbit(ref))
    if elem == "mxint8":
        same |= (ours == ref)        # one zero: gfloat's sign of zero is irrelevant
        diff = ~same
        scale = gscale[:, None] * np.ones_like(ref)
        assert np.all(ref[diff] == -2.0 * scale[diff])
        assert np.all(ours[diff] == -127 / 64 * scale[diff])
        assert np.all(c[diff] == 0x81)
        # and exactly where the scaled value rounds to -128 in gfloat's unclamped rounding
        y = xf.astype(np.float64) / scale
        assert np.array_equal(diff, y <= (-127.5 / 64 if rounding != "rtz" else -2.0))
        assert diff.any() == (rounding != "rtz")
    else:
        assert same.all(), xf[~same.all(axis=1)][:3]


def test_gfloat_quantize_block_api_agrees():
    """gfloat's own quantize_block (per block, slow) on a few blocks of every format."""
    for elem, fi in GF_BLOCK.items():
        xf = as_f32(blocks(elem, n=40, seed=9))
        xf = xf[np.all(np.isfinite(xf), axis=1)][:60]
        s, c = mx.quantize(xf, elem, 32)
        ours = mx.dequantize(s, c, elem, 32)
        for row, o in zip(xf, ours):
            g = gfloat.quantize_block(fi, row.astype(np.float64), compute_scale_amax)
            ok = (g == o) | ((elem == "mxint8") & (g == -2.0 * (o / (-127 / 64))))
            assert ok.all(), (elem, row)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

def canonical_codes(elem):
    """Codes quantize can produce from a finite block: not NaN/Inf, not mxint8's -128."""
    w = spec_width(elem)
    return [c for c in range(1 << w) if spec_value(elem, c) is not None]


def top_codes(elem):
    """Canonical codes in the top binade [2**emax, 2**(emax+1)): a block whose largest
    magnitude is one of these reproduces its scale."""
    _, _, emax = spec_grid(elem)
    return [c for c in canonical_codes(elem)
            if Fraction(2) ** emax <= abs(spec_value(elem, c)) < Fraction(2) ** (emax + 1)]


def max_scale(elem):
    """Largest scale code whose blocks stay finite in FP32: (top binade) * 2**(s - 127) < 2**128."""
    return 254 - spec_grid(elem)[2]


ROUND_TRIP = """Round trip: for a scale code s in 0..254 - emax_elem and canonical codes c (no NaN/Inf
code, no mxint8 -128) whose largest magnitude lies in the top binade [2**emax_elem,
2**(emax_elem+1)), quantize(dequantize(s, c)) == (s, c) for every rounding mode and both scale
roundings (the values are exact FP32 numbers; floor and ceil both give E = s - 127). Also the
all-zero block with s = 0 and the NaN block (s = 255, codes 0)."""


def _round_trip(elem, s, c, k):
    v = mx.dequantize(s, c, elem, k)
    v32 = v.astype(np.float32)
    assert np.array_equal(v32.astype(np.float64), v, equal_nan=True)   # exact FP32 numbers
    assert np.array_equal(np.signbit(v32), np.signbit(v))
    for rounding in MODES:
        for sr in mx.SCALE_ROUNDINGS:
            s2, c2 = mx.quantize(v32, elem, k, rounding=rounding, scale_rounding=sr)
            assert np.array_equal(s2, s) and np.array_equal(c2, c), (rounding, sr)


@pytest.mark.parametrize("elem", MX_ELEMENTS)
def test_round_trip_exhaustive_pairs(elem):
    tops, canon = top_codes(elem), canonical_codes(elem)
    pairs = np.array([(t, c) for t in tops for c in canon], dtype=np.uint8)
    for s in (0, 1, 100, 127, 200, max_scale(elem)):
        sc = np.full((len(pairs), 1), s, dtype=np.uint8)
        _round_trip(elem, sc, pairs, 2)
        _round_trip(elem, sc, pairs[:, ::-1].copy(), 2)
    # single-element blocks
    t = np.array(tops, dtype=np.uint8)[:, None]
    _round_trip(elem, np.full_like(t, 77), t, 1)
    # zero block and NaN block
    zero_codes = [c for c in canonical_codes(elem) if spec_value(elem, c) == 0]
    z = np.resize(np.array(zero_codes, dtype=np.uint8), (1, 8))
    _round_trip(elem, np.zeros((1, 1), np.uint8), z, 8)
    _round_trip(elem, np.full((1, 1), 255, np.uint8), np.zeros((1, 8), np.uint8), 8)


@st.composite
def mx_blocks(draw):
    elem = draw(st.sampled_from(MX_ELEMENTS))
    k = draw(st.integers(1, 64))
    nb = draw(st.integers(1, 3))
    canon = canonical_codes(elem)
    s = draw(st.lists(st.integers(0, max_scale(elem)), min_size=nb, max_size=nb))
    codes = draw(st.lists(st.sampled_from(canon), min_size=nb * k, max_size=nb * k))
    tops = draw(st.lists(st.sampled_from(top_codes(elem)), min_size=nb, max_size=nb))
    where = draw(st.lists(st.integers(0, k - 1), min_size=nb, max_size=nb))
    c = np.array(codes, dtype=np.uint8).reshape(nb, k)
    c[np.arange(nb), where] = tops
    return elem, k, np.array(s, dtype=np.uint8)[:, None], c


@settings(max_examples=300, deadline=None)
@given(mx_blocks())
def test_round_trip_random_blocks(case):
    elem, k, s, c = case
    _round_trip(elem, s, c, k)


test_round_trip_random_blocks.__doc__ = ROUND_TRIP
test_round_trip_exhaustive_pairs.__doc__ = ROUND_TRIP


def test_round_trip_fails_outside_the_canonical_set():
    """The exclusions are needed: a block without a top-binade code gets a smaller scale."""
    c = np.array([[0x38, 0x30]], np.uint8)        # e4m3: 1.0 and 0.5 (max below 2**8)
    s2, c2 = mx.quantize(mx.dequantize(np.array([[127]]), c, "e4m3", 2).astype(np.float32),
                         "e4m3", 2)
    assert s2[0, 0] == 119 and c2.tolist() == [[0x78, 0x70]]


def test_tail_blocks_and_axis():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 70)) * 2.0 ** rng.integers(-20, 20, (5, 70))).astype(np.float32)
    for elem in MX_ELEMENTS:
        s, c = mx.quantize(x, elem, 32)
        assert s.shape == (5, 3) and c.shape == (5, 70) and s.dtype == c.dtype == np.uint8
        # the tail block (6 values) is quantized on its own
        st_, ct = mx.quantize(x[:, 64:], elem, 32)
        assert np.array_equal(s[:, 2:], st_) and np.array_equal(c[:, 64:], ct)
        for j in range(2):
            sj, cj = mx.quantize(x[:, 32 * j: 32 * (j + 1)], elem, 32)
            assert np.array_equal(s[:, j:j + 1], sj) and np.array_equal(c[:, 32 * j:32 * j + 32], cj)
        # axis=0 on the transpose equals axis=-1
        s0, c0 = mx.quantize(x.T, elem, 32, axis=0)
        assert np.array_equal(s0, s.T) and np.array_equal(c0, c.T)
        v = mx.dequantize(s, c, elem, 32)
        assert np.array_equal(mx.dequantize(s0, c0, elem, 32, axis=0), v.T)
        # 3-D, middle axis
        x3 = x.reshape(5, 7, 10).transpose(0, 2, 1)     # (5, 10, 7), blocks along axis 1 of 4
        s3, c3 = mx.quantize(x3, elem, 4, axis=1)
        assert s3.shape == (5, 3, 7)
        ref_s, ref_c = mx.quantize(np.moveaxis(x3, 1, -1), elem, 4)
        assert np.array_equal(np.moveaxis(s3, 1, -1), ref_s)
        assert np.array_equal(np.moveaxis(c3, 1, -1), ref_c)


def test_flush_subnormals():
    rng = np.random.default_rng(4)
    bits = rng.integers(0, 1 << 23, (200, 16)) | (rng.integers(0, 2, (200, 16)) << 31)
    normal = rng.random((200, 16)) < 0.3
    bits = np.where(normal & (np.arange(200)[:, None] % 2 == 0),
                    bits | (rng.integers(1, 4, (200, 16)) << 23), bits)
    x = as_f32(bits)
    sub = (np.abs(x) < np.float32(2.0**-126)) & (x != 0)
    flushed = np.where(sub, np.copysign(np.float32(0), x), x).astype(np.float32)
    for elem in MX_ELEMENTS:
        a = mx.quantize(x, elem, 16, flush_subnormals=True)
        b = mx.quantize(flushed, elem, 16)
        assert all(np.array_equal(p, q) for p, q in zip(a, b))
        assert not np.array_equal(a[1], mx.quantize(x, elem, 16)[1])
    # an all-subnormal block flushes to scale 0 and signed zeros
    s, c = mx.quantize(as_f32([[0x00000001, 0x807FFFFF]]), "e4m3", 2, flush_subnormals=True)
    assert s.tolist() == [[0]] and c.tolist() == [[0x00, 0x80]]


@pytest.mark.parametrize("elem", MX_ELEMENTS)
def test_scale_rules(elem):
    """floor: amax / 2**E in [2**emax, 2**(emax+1)); ceil: amax / 2**E <= max finite and E is
    the smallest such (nothing saturates) -- except where E is clamped."""
    mags, _, emax = spec_grid(elem)
    xf = as_f32(blocks(elem, n=2000, seed=8))
    xf = xf[np.all(np.isfinite(xf), axis=1)]
    amax = np.abs(xf.astype(np.float64)).max(axis=1)
    for sr in mx.SCALE_ROUNDINGS:
        s, c = mx.quantize(xf, elem, 32, scale_rounding=sr)
        E = s[:, 0].astype(int) - 127
        y = np.ldexp(amax, -E)
        free = (E > -127) & (E < 127) & (amax > 0)
        if sr == "floor":
            assert np.all((y[free] >= 2.0**emax) & (y[free] < 2.0 ** (emax + 1)))
        else:
            assert np.all(y[E < 127] <= float(mags[-1]))
            assert np.all(2 * y[free] > float(mags[-1]))
            # no element saturates: |P| * 2**E == the rounding of |V| (rtz shows it directly)
            s2, c2 = mx.quantize(xf, elem, 32, rounding="rtz", scale_rounding="ceil")
            v = np.abs(mx.dequantize(s2, c2, elem, 32))
            assert np.all(v <= np.abs(xf))
        assert np.all(E[amax == 0] == -127)
    # floor saturates the maximum of a block at just below 2**(emax+1): ceil does not
    top = np.float32(np.nextafter(np.float32(2.0 ** (emax + 1)), np.float32(0)))
    s, c = mx.quantize(np.array([[top, 1.0]], np.float32), elem, 2)
    assert mx.dequantize(s, c, elem, 2)[0, 0] == float(mags[-1])
    s, c = mx.quantize(np.array([[top, 1.0]], np.float32), elem, 2, scale_rounding="ceil")
    assert s[0, 0] == 128


def test_special_blocks():
    x = np.ones((4, 8), np.float32)
    x[0, 3], x[1, 7], x[2, 0] = np.nan, np.inf, -np.inf
    for elem in MX_ELEMENTS:
        s, c = mx.quantize(x, elem, 8)
        assert s[:, 0].tolist() == [255, 255, 255, mx.quantize(x[3:], elem, 8)[0][0, 0]]
        assert not c[:3].any()
        v = mx.dequantize(s, c, elem, 8)
        assert np.isnan(v[:3]).all() and np.isfinite(v[3]).all()
    # zeros keep their sign (float) / one zero (int)
    z = np.array([[0.0, -0.0, 0.0, -0.0]], np.float32)
    assert mx.quantize(z, "e4m3", 4)[1].tolist() == [[0, 0x80, 0, 0x80]]
    assert mx.quantize(z, "mxint8", 4)[1].tolist() == [[0, 0, 0, 0]]
    assert mx.quantize(z, "e2m1", 4)[0].tolist() == [[0]]
    # E clamps: tiny amax -> 0; FP32 max with mxint8 and ceil -> E = 127 (128 unclamped)
    fmax = np.finfo(np.float32).max
    assert mx.quantize(np.array([[2.0**-149]], np.float32), "e4m3", 1)[0].tolist() == [[0]]
    s, c = mx.quantize(np.array([[fmax, -fmax]], np.float32), "mxint8", 2, scale_rounding="ceil")
    assert s.tolist() == [[254]] and c.tolist() == [[0x7F, 0x81]]
    assert mx.shared_exponent([np.float32(fmax).view(np.uint32)], "mxint8", "ceil")[0] == 128


def test_stimulus_covers_the_corners():
    for elem in MX_ELEMENTS:
        for k in (1, 8, 32):
            x = mx.quantize_stimulus(np.random.default_rng(0), 100, elem=elem, k=k)["x"]
            assert x.shape[1] == k and x.shape[0] > 100 and x.min() >= 0 and x.max() < 1 << 32
            mag = x & 0x7FFFFFFF
            nan_lanes = np.unique(np.nonzero(mag > 0x7F800000)[1])
            inf_lanes = np.unique(np.nonzero(mag == 0x7F800000)[1])
            assert len(nan_lanes) == len(inf_lanes) == k
            assert np.any(np.all(x == 0, axis=1)) and np.any(np.all(x == 0x80000000, axis=1))
            assert np.any(mag == 0x7F7FFFFF) and np.any(mag == 1) and np.any(mag == 0x007FFFFF)
            out = mx.quantize_block({"x": x}, elem=elem, k=k)
            assert {0, 255} <= set(out["scale"].tolist())
    # reproducible
    a = mx.quantize_stimulus(np.random.default_rng(5), 50, elem="e2m1", k=4)["x"]
    b = mx.quantize_stimulus(np.random.default_rng(5), 50, elem="e2m1", k=4)["x"]
    assert np.array_equal(a, b)
    assert mx.quantize_space() is None


def test_quantize_block_interface():
    x = mx.quantize_stimulus(np.random.default_rng(1), 10, elem="e4m3", k=8)["x"]
    out = mx.quantize_block({"x": x}, elem="e4m3", k=8)
    assert out["scale"].shape == (len(x),) and out["codes"].shape == x.shape
    s, c = mx.quantize(as_f32(x), "e4m3", 8)
    assert np.array_equal(out["scale"], s[:, 0]) and np.array_equal(out["codes"], c)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 8\)"):
        mx.quantize_block({"x": x[:, :4]}, elem="e4m3", k=8)


def test_bad_arguments():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="format must be one of e5m2, .*mxsf.*, not 'bf16'"):
        mx.quantize(x, "bf16")
    with pytest.raises(ValueError, match="rounding must be one of rne, rna, rtz, not 'stochastic'"):
        mx.quantize(x, "e4m3", rounding="stochastic")
    with pytest.raises(ValueError, match="scale_rounding must be one of floor, ceil, not 'up'"):
        mx.quantize(x, "e4m3", scale_rounding="up")
    with pytest.raises(ValueError, match="block must be a positive integer, not 0"):
        mx.quantize(x, "e4m3", block=0)
    with pytest.raises(ValueError, match="axis must be an integer in -1..0, not 1"):
        mx.quantize(x, "e4m3", axis=1)
    with pytest.raises(ValueError, match="not FP32 numbers"):
        mx.quantize(np.array([0.1]), "e4m3")
    assert mx.quantize(np.array([0.5, 1.0]), "e4m3")[1].tolist() == [0x70, 0x78]
    with pytest.raises(ValueError, match=r"scale_codes must have shape \(2,\)"):
        mx.dequantize(np.zeros(1, np.uint8), np.zeros(40, np.uint8), "e4m3", 32)


def test_dequantize_is_exact_where_fp32_is_not():
    """e5m2 max times the largest scale exceeds FP32: float64 output keeps it exact."""
    v = mx.dequantize(np.array([254]), np.array([0x7B]), "e5m2", 1)
    assert v[0] == 57344 * 2.0**127 and decode(0x7B, "e5m2") == 57344
