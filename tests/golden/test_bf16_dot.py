"""golden.bf16_dot against an independent exact reference: BF16/FP32 values decoded from their
fields here, every product and every addition of the tree computed in ``fractions.Fraction`` and
rounded to FP32 by an integer rounding routine written here (itself checked against NumPy's
float64 -> float32 cast), with IEEE signed zeros, Inf and NaN handled per operation."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden import bf16_dot as g

FP32_NAN = 0x7FC00000
FP32_MAX = Fraction(2**24 - 1, 2**23) * 2**127
HALF = Fraction(1, 2)

# -- independent reference: values are (kind, sign, magnitude), kind in {"fin", "inf", "nan"} --

NAN = ("nan", 0, None)


def _decode(code, ebits, mbits):
    sign = code >> (ebits + mbits)
    e = (code >> mbits) & ((1 << ebits) - 1)
    m = code & ((1 << mbits) - 1)
    if e == (1 << ebits) - 1:
        return ("inf", sign, None) if m == 0 else NAN
    bias = (1 << (ebits - 1)) - 1
    sig = m if e == 0 else (1 << mbits) + m
    return ("fin", sign, Fraction(sig) * Fraction(2) ** (max(e, 1) - bias - mbits))


def bf16(code):
    return _decode(code, 8, 7)


def fp32(bits):
    return _decode(bits, 8, 23)


def _floor_log2(x: Fraction) -> int:
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e - 1 if Fraction(2) ** e > x else e


class Stats:
    ties = 0        # additions whose exact sum lay exactly halfway between two FP32 numbers
    underflows = 0  # nonzero exact results below 2**-126
    overflows = 0   # finite operands, result rounded to Inf


def round_fp32(sign, mag: Fraction):
    """RNE of an exact magnitude to FP32: gradual underflow, overflow to Inf, sign kept."""
    if mag == 0:
        return ("fin", sign, Fraction(0))
    e = _floor_log2(mag)
    q = max(e, -126) - 23
    scaled = mag / Fraction(2) ** q
    n = round(scaled)  # Fraction.__round__ rounds half to even
    if scaled - int(scaled) == HALF:
        Stats.ties += 1
    if e < -126:
        Stats.underflows += 1
    val = n * Fraction(2) ** q
    if val > FP32_MAX:
        Stats.overflows += 1
        return ("inf", sign, None)
    return ("fin", sign, val)


def to_bits(v) -> int:
    kind, sign, mag = v
    if kind == "nan":
        return FP32_NAN
    if kind == "inf":
        return sign << 31 | 0x7F800000
    if mag == 0:
        return sign << 31
    e = _floor_log2(mag)
    if e < -126:
        body = mag * 2**149
    else:
        body = (e + 127) * 2**23 + (mag * Fraction(2) ** (23 - e) - 2**23)
    assert Fraction(body).denominator == 1  # an FP32 value
    return sign << 31 | int(body)


def vmul(x, y):
    if x[0] == "nan" or y[0] == "nan":
        return NAN
    sign = x[1] ^ y[1]
    if x[0] == "inf" or y[0] == "inf":
        other = y if x[0] == "inf" else x
        if other[0] == "fin" and other[2] == 0:
            return NAN  # 0 * Inf
        return ("inf", sign, None)
    return round_fp32(sign, x[2] * y[2])


def vadd(x, y):
    if x[0] == "nan" or y[0] == "nan":
        return NAN
    if x[0] == "inf" and y[0] == "inf":
        return x if x[1] == y[1] else NAN
    if x[0] == "inf" or y[0] == "inf":
        return x if x[0] == "inf" else y
    s = (-x[2] if x[1] else x[2]) + (-y[2] if y[1] else y[2])
    if s == 0:  # exact zero: -0 only for -0 + -0 (IEEE 754 §6.3, round to nearest)
        return ("fin", x[1] & y[1], Fraction(0))
    return round_fp32(int(s < 0), abs(s))


def reference_dot(a, b, acc) -> int:
    level = [vmul(bf16(x), bf16(y)) for x, y in zip(a, b)]
    while len(level) > 1:
        nxt = [vadd(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return to_bits(vadd(fp32(acc), level[0]))


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


# -- the reference's own rounding --------------------------------------------------------------

def test_reference_rounding_matches_numpy_cast():
    rng = np.random.default_rng(0)
    x = np.ldexp(rng.uniform(1, 2, 4000), rng.integers(-160, 130, 4000))
    f = np.ldexp(rng.uniform(1, 2, 500), rng.integers(-149, 128, 500)).astype(np.float32)
    up = np.nextafter(f, np.float32(np.inf))
    mid = (f.astype(np.float64) + up.astype(np.float64)) / 2  # float32 midpoints, exact
    x = np.concatenate([x, mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf),
                        [2.0**-149, 2.0**-150, 3 * 2.0**-151, 2.0**-151, 2.0**128,
                         float(FP32_MAX) * (1 + 2.0**-25), float(FP32_MAX) * (1 + 2.0**-24)]])
    with np.errstate(over="ignore"):
        want = np.abs(x).astype(np.float32).view(np.uint32)
    for xi, w in zip(np.abs(x).tolist(), want.tolist()):
        assert to_bits(round_fp32(0, Fraction(xi))) == w, xi


def test_reference_decodes_like_numpy():
    codes = np.arange(1 << 16)
    with np.errstate(invalid="ignore"):
        vals = (codes << 16).astype(np.uint32).view(np.float32).astype(np.float64)
    for c, v in zip(codes.tolist(), vals.tolist()):
        kind, sign, mag = bf16(c)
        if kind == "nan":
            assert np.isnan(v)
        elif kind == "inf":
            assert v == (-np.inf if sign else np.inf)
        else:
            assert Fraction(v) == (-mag if sign else mag) and np.signbit(v) == bool(sign)


# -- the golden model ----------------------------------------------------------------------------

@pytest.mark.parametrize("k, n", [(32, 2500), (4, 2500), (1, 1500), (2, 1500), (3, 1500),
                                  (5, 1500), (7, 800), (128, 300)])
def test_golden_matches_fraction_reference(k, n):
    Stats.ties = Stats.underflows = Stats.overflows = 0
    v = g.dot_stimulus(np.random.default_rng(k), n, k=k)
    got = g.dot_block(v, k=k)["result"]
    assert_same(got, reference(v), v)
    # the stimulus does reach what it is for
    assert Stats.underflows > 0 and Stats.overflows > 0
    if k > 1:
        assert Stats.ties >= 20, Stats.ties


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
