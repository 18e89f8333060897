"""golden.mx_dot against an independent exact reference: element values from ml_dtypes / the
spec's formulas, the dot product in ``fractions.Fraction``, rounded to FP32 by a rounding routine
written here (itself checked against NumPy's float64 -> float32 cast)."""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tests.reference import element_value, f32_bits, f32_value, fraction_to_fp32
from golden import mx_dot as g
from golden import formats as F
from golden.formats import FORMATS, MX_ELEMENTS, encode, get_format

FP32_NAN = 0x7FC00000
PAIRS = [("e4m3", "e4m3"), ("e5m2", "e5m2"), ("e2m1", "e2m1"), ("mxint8", "mxint8"),
         ("e3m2", "e3m2"), ("e2m3", "e2m3"), ("mxsf", "mxsf"), ("e4m3", "e5m2"),
         ("e5m2", "e4m3"), ("e2m1", "mxint8"), ("mxsf", "e4m3"), ("e3m2", "e2m3")]


# -- independent reference ---------------------------------------------------------------------



_TABLES = {}


def table(elem):
    if elem not in _TABLES:
        _TABLES[elem] = [element_value(elem, c) for c in range(1 << get_format(elem).width)]
    return _TABLES[elem]




def reference_dot(sa, ca, sb, cb, acc, elem_a, elem_b) -> int:
    if sa == 255 or sb == 255:
        return FP32_NAN
    ta, tb = table(elem_a), table(elem_b)
    c = f32_value(acc)
    prods = [ta[x] * tb[y] for x, y in zip(ca, cb)] + [c]  # float specials: inf*0 = nan
    if any(math.isnan(p) for p in prods):
        return FP32_NAN
    infs = {p > 0 for p in prods if math.isinf(p)}
    if len(infs) == 2:
        return FP32_NAN
    if infs:
        return 0x7F800000 if infs.pop() else 0xFF800000
    s = sum(Fraction(ta[x]) * Fraction(tb[y]) for x, y in zip(ca, cb))
    return fraction_to_fp32(Fraction(c) + s * Fraction(2) ** (sa + sb - 254))


def reference(inputs, elem_a, elem_b):
    return np.array([reference_dot(int(inputs["scale_a"][i]), inputs["codes_a"][i].tolist(),
                                   int(inputs["scale_b"][i]), inputs["codes_b"][i].tolist(),
                                   int(inputs["acc"][i]), elem_a, elem_b)
                     for i in range(len(inputs["acc"]))], dtype=np.int64)


def assert_same(got, want, inputs):
    got = np.asarray(got, dtype=np.int64)
    bad = np.flatnonzero(got != want)
    if len(bad):
        i = bad[0]
        raise AssertionError(
            f"{len(bad)} mismatches; first at {i}: scale_a {inputs['scale_a'][i]} codes_a "
            f"{inputs['codes_a'][i].tolist()} scale_b {inputs['scale_b'][i]} codes_b "
            f"{inputs['codes_b'][i].tolist()} acc {int(inputs['acc'][i]):#010x}: "
            f"got {int(got[i]):#010x} want {int(want[i]):#010x}")


# -- the reference rounding itself -------------------------------------------------------------

def test_fraction_rounding_matches_numpy_cast():
    rng = np.random.default_rng(0)
    x = np.ldexp(rng.uniform(1, 2, 4000), rng.integers(-160, 130, 4000))
    x = np.where(rng.random(4000) < 0.5, -x, x)
    # float32 midpoints and their float64 neighbours
    f = np.ldexp(rng.uniform(1, 2, 500), rng.integers(-149, 127, 500)).astype(np.float32)
    up = np.nextafter(f, np.float32(np.inf))
    mid = (f.astype(np.float64) + up.astype(np.float64)) / 2
    x = np.concatenate([x, mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf),
                        [2.0**-149, 2.0**-150, 3 * 2.0**-151, 2.0**-151, 0.0, 2.0**128,
                         float(np.finfo(np.float32).max) * (1 + 2.0**-25)]])
    with np.errstate(over="ignore"):
        want = x.astype(np.float32).view(np.uint32)
    for xi, w in zip(x.tolist(), want.tolist()):
        assert fraction_to_fp32(Fraction(xi)) == (w if xi != 0 else 0), xi


# -- encode_exact ------------------------------------------------------------------------------

def test_encode_exact_matches_fraction_on_wide_integers():
    rng = np.random.default_rng(1)
    n = 3000
    bits = rng.integers(1, 200, n)
    mag = [int(rng.integers(1, 1 << 62)) << int(b) | int(rng.integers(0, 1 << 30))
           for b in bits]
    mag[:40] = [1 << int(b) for b in bits[:40]]          # powers of two
    mag[40:80] = [(2 * int(rng.integers(1 << 23, 1 << 24)) + 1) << int(b) for b in bits[40:80]]
    exp = rng.integers(-420, 140, n) - bits
    sign = rng.integers(0, 2, n)
    got = F.encode_exact(sign, np.array(mag, dtype=object), exp, "fp32")
    for s, m, e, c in zip(sign.tolist(), mag, exp.tolist(), got.tolist()):
        want = fraction_to_fp32(Fraction(m) * Fraction(2) ** e)
        if s:
            want |= 1 << 31
        assert c == want, (s, m, e)


@pytest.mark.parametrize("fmt", ["fp32", "bf16", "e5m2", "e4m3", "e3m2", "e2m1",
                                 "fp10_e5m4"])
@pytest.mark.parametrize("rounding", ["rne", "rna", "rtz"])
@pytest.mark.parametrize("overflow", ["saturate", "nonsat"])
def test_encode_exact_matches_formats_encode(fmt, rounding, overflow):
    """On values float64 holds exactly, the same codes as golden.formats.encode."""
    rng = np.random.default_rng(2)
    f = FORMATS[fmt]
    n = 4000
    mag = rng.integers(0, 1 << 40, n) >> rng.integers(0, 40, n)
    lo = f.emin - f.mbits - 45
    exp = rng.integers(lo, f.emax + 3, n)
    sign = rng.integers(0, 2, n)
    x = np.ldexp(mag.astype(np.float64), exp)
    x = np.where(sign == 1, -x, x)
    want = encode(x, f, rounding, overflow)
    got = F.encode_exact(sign, mag, exp, f, rounding, overflow)
    np.testing.assert_array_equal(got, want)


def test_encode_exact_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rounding must be one of rne, rna, rtz"):
        F.encode_exact(0, 1, 0, "fp32", rounding="stochastic")
    with pytest.raises(ValueError, match="overflow must be"):
        F.encode_exact(0, 1, 0, "fp32", overflow="wrap")
    with pytest.raises(ValueError, match="float formats"):
        F.encode_exact(0, 1, 0, "mxint8")


# -- the dot product ---------------------------------------------------------------------------

@pytest.mark.parametrize("elem_a, elem_b", PAIRS)
def test_dot_matches_fraction_on_random_and_corner_blocks(elem_a, elem_b):
    k = 32
    v = g.dot_stimulus(np.random.default_rng(7), 400, elem_a=elem_a, elem_b=elem_b, k=k)
    got = g.dot_block(v, elem_a, elem_b, k)["result"]
    assert_same(got, reference(v, elem_a, elem_b), v)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 64])
def test_dot_matches_fraction_for_other_block_sizes(k):
    for elem_a, elem_b in (("e5m2", "e5m2"), ("e4m3", "e2m1")):
        v = g.dot_stimulus(np.random.default_rng(k), 100, elem_a=elem_a, elem_b=elem_b, k=k)
        got = g.dot(v["scale_a"], v["codes_a"], v["scale_b"], v["codes_b"], v["acc"],
                    elem_a, elem_b)
        assert_same(got, reference(v, elem_a, elem_b), v)


def codes(elem, k):
    return st.lists(st.integers(0, (1 << get_format(elem).width) - 1), min_size=k, max_size=k)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), pair=st.sampled_from(PAIRS), k=st.integers(1, 8))
def test_dot_matches_fraction_hypothesis(data, pair, k):
    elem_a, elem_b = pair
    sa = data.draw(st.integers(0, 255))
    sb = data.draw(st.integers(0, 255))
    ca = data.draw(codes(elem_a, k))
    cb = data.draw(codes(elem_b, k))
    acc = data.draw(st.one_of(st.integers(0, (1 << 32) - 1),
                              st.floats(width=32, allow_nan=False).map(f32_bits)))
    got = int(g.dot([sa], [ca], [sb], [cb], [acc], elem_a, elem_b)[0])
    assert got == reference_dot(sa, ca, sb, cb, acc, elem_a, elem_b)


def one_block(elem_a, elem_b, vals_a, vals_b, sa=127, sb=127, acc=0.0):
    ca = [int(c) for c in encode(np.array(vals_a, float), elem_a)]
    cb = [int(c) for c in encode(np.array(vals_b, float), elem_b)]
    accb = acc if isinstance(acc, int) else f32_bits(acc)
    return int(g.dot([sa], [ca], [sb], [cb], [accb], elem_a, elem_b)[0])


def test_spec_rules_by_example():
    # exactly zero results are +0, even -0 + 0 and x - x
    assert one_block("e4m3", "e4m3", [0.0, -0.0], [1.0, 1.0], acc=-0.0) == 0
    assert one_block("e4m3", "e4m3", [1.0, 1.0], [2.0, -2.0], acc=-0.0) == 0
    assert one_block("e4m3", "e4m3", [1.0, 0.0], [2.0, 0.0], acc=-2.0) == 0
    # one rounding: 1 + 2**-24 is a tie (-> 1.0), a tiny extra product breaks it upwards
    assert one_block("e4m3", "e4m3", [1.0, 0.0], [1.0, 0.0], sa=127 - 24, acc=1.0) \
        == f32_bits(1.0)
    assert one_block("e4m3", "e4m3", [1.0, 2.0**-9], [1.0, 2.0**-9], sa=127 - 24,
                     acc=1.0) == f32_bits(1.0) + 1
    # overflow to Inf, FLT_MAX + half an ulp ties away to Inf (FLT_MAX's mantissa is odd)
    assert one_block("e4m3", "e4m3", [1.0], [1.0], sa=230, acc=0x7F7FFFFF) == 0x7F800000
    assert one_block("e4m3", "e4m3", [1.0, 2.0**-9], [1.0, -(2.0**-9)], sa=230,
                     acc=0x7F7FFFFF) == 0x7F7FFFFF
    assert one_block("e4m3", "e4m3", [448.0] * 4, [-448.0] * 4, sa=254, sb=254) == 0xFF800000
    # gradual underflow
    assert one_block("e4m3", "e4m3", [2.0**-9], [2.0**-9], sa=0, sb=0) == 0
    assert one_block("e4m3", "e4m3", [1.0], [1.0], sa=0, sb=254 - 149 - 127 + 127 - 0) \
        == fraction_to_fp32(Fraction(2) ** (0 + (254 - 149) - 254))
    # NaN rules, canonical NaN
    assert one_block("e4m3", "e4m3", [1.0], [1.0], sa=255) == FP32_NAN
    assert one_block("e4m3", "e4m3", [1.0], [1.0], sb=255, acc=0x7F800000) == FP32_NAN
    assert one_block("e4m3", "e4m3", [1.0], [1.0], acc=0xFFFFFFFF) == FP32_NAN
    assert g.dot([127], [[0x7F]], [127], [[0x38]], [0], "e4m3", "e4m3")[0] == FP32_NAN
    inf, ninf = 0x7C, 0xFC  # e5m2
    one = int(encode(1.0, "e5m2"))
    assert g.dot([127], [[inf]], [127], [[0]], [0], "e5m2", "e5m2")[0] == FP32_NAN
    assert g.dot([127], [[inf, one]], [127], [[one, 0]], [0], "e5m2", "e5m2")[0] == 0x7F800000
    assert g.dot([127], [[inf, ninf]], [127], [[one, one]], [0], "e5m2", "e5m2")[0] == FP32_NAN
    assert g.dot([127], [[ninf]], [127], [[ninf]], [0xFF800000], "e5m2", "e5m2")[0] \
        == FP32_NAN
    assert g.dot([127], [[ninf]], [127], [[one]], [0xFF800000], "e5m2", "e5m2")[0] \
        == 0xFF800000
    assert g.dot([0], [[0]], [0], [[0]], [0xFF800000], "e5m2", "e4m3")[0] == 0xFF800000


@pytest.mark.parametrize("elem_a, elem_b", [("e4m3", "e4m3"), ("e5m2", "e2m1")])
def test_dot_blocks_chains_one_rounding_per_block(elem_a, elem_b):
    rng = np.random.default_rng(11)
    n, nb, k = 50, 6, 32
    v = g.dot_stimulus(rng, n * nb, elem_a=elem_a, elem_b=elem_b, k=k)
    sa, sb = v["scale_a"][: n * nb].reshape(n, nb), v["scale_b"][: n * nb].reshape(n, nb)
    ca = v["codes_a"][: n * nb].reshape(n, nb * k)
    cb = v["codes_b"][: n * nb].reshape(n, nb * k)
    acc0 = v["acc"][:n]
    got = g.dot_blocks(sa, ca, sb, cb, elem_a, elem_b, acc0=acc0)
    want = []
    for i in range(n):
        acc = int(acc0[i])
        for j in range(nb):
            acc = reference_dot(int(sa[i, j]), ca[i, j * k:(j + 1) * k].tolist(),
                                int(sb[i, j]), cb[i, j * k:(j + 1) * k].tolist(), acc,
                                elem_a, elem_b)
        want.append(acc)
    np.testing.assert_array_equal(got.astype(np.int64), want)
    # one vector, default acc0 = +0
    assert g.dot_blocks(sa[0], ca[0], sb[0], cb[0], elem_a, elem_b) \
        == g.dot_blocks(sa[:1], ca[:1], sb[:1], cb[:1], elem_a, elem_b, acc0=0)[0]


def test_dot_blocks_is_exact_when_no_block_rounds():
    """Small integers: every partial sum is exact in FP32, so chaining equals the exact sum."""
    rng = np.random.default_rng(3)
    vals = rng.integers(-6, 7, (20, 128)).astype(float) / 4
    ca = encode(vals, "e4m3")
    cb = encode(np.ones_like(vals), "e4m3")
    s = np.full((20, 4), 127)
    got = g.dot_blocks(s, ca, s, cb, "e4m3", "e4m3")
    np.testing.assert_array_equal(got.view(np.float32), vals.sum(axis=1).astype(np.float32))


def test_dot_blocks_rejects_bad_shapes():
    with pytest.raises(ValueError, match="multiple of the number of scales"):
        g.dot_blocks(np.zeros(3), np.zeros(10), np.zeros(3), np.zeros(10))


def test_stimulus_is_reproducible_and_covers_the_corners():
    for elem_a, elem_b in (("e4m3", "e4m3"), ("e5m2", "e5m2"), ("mxint8", "mxsf")):
        a = g.dot_stimulus(np.random.default_rng(5), 500, elem_a=elem_a, elem_b=elem_b)
        b = g.dot_stimulus(np.random.default_rng(5), 500, elem_a=elem_a, elem_b=elem_b)
        for f in a:
            np.testing.assert_array_equal(a[f], b[f])
        assert a["codes_a"].shape[1] == 32 and len(a["acc"]) > 500
        r = g.dot_block(a, elem_a, elem_b)["result"]
        mag = r & 0x7FFFFFFF
        assert (r == FP32_NAN).sum() >= 20
        assert ((mag == 0x7F800000) & (r >> 31 == 0)).sum() >= 5
        assert ((mag == 0x7F800000) & (r >> 31 == 1)).sum() >= 5
        assert ((mag != 0) & (mag < 0x00800000)).sum() >= 20       # subnormal results
        assert (r == 0).sum() >= 20  # exact zeros are +0; -0 only from a negative underflow
        zero_with_neg_acc = (r == 0) & (a["acc"] == 1 << 31)
        assert zero_with_neg_acc.sum() >= 3
        assert (a["scale_a"] == 255).any() and (a["scale_b"] == 255).any()
    with pytest.raises(ValueError, match="no exhaustive mode"):
        g.dot_stimulus(np.random.default_rng(0), 1, exhaustive=True)
    assert g.dot_space() is None


@pytest.mark.parametrize("elem", MX_ELEMENTS)
def test_elem_exp_range(elem):
    lo, hi = g.elem_exp_range(elem)
    vals = [abs(v) for v in table(elem) if v != 0 and math.isfinite(v)]
    assert min(vals) == 2.0 ** lo
    assert max(vals) % 2.0 ** hi == 0 and max(vals) < 2.0 ** (hi + get_format(elem).sig_bits)
