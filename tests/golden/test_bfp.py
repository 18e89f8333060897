"""golden.bfp against independent references: FlexBlock's simulator kernel (FP32 bit masking,
written here from the lab code's description in the paper notes), exact ``Fraction`` arithmetic
for every rounding, and the dot product in ``Fraction`` rounded by tests.reference."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden import bfp
from tests.reference import f32_value, fraction_to_fp32

FP32_NAN = 0x7FC00000
CORNERS = np.array([
    0x3F800000, 0xBF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x80800000, 0x3FFFFFFF,
    0x3F7FFFFF, 0x40000000, 0x3FC00000, 0x00FFFFFF, 0x7F000000, 0x4B7FFFFF, 0x34000001,
    0x3F800001, 0x3E800000, 0x42F60000, 0xC2F60001], dtype=np.int64)


# -- independent references ---------------------------------------------------------------------


def flexblock_kernel(bits, gm):
    """FlexBlock's simulator (``bfp/internal.py``) on one group of FP32 words: M = the largest
    exponent field; if M == 0 the group is left alone; else each word keeps its sign, exponent
    and top k = gm - (M - e) - 1 fraction bits, or becomes 0 when k < 0."""
    bits = [int(b) & 0xFFFFFFFF for b in bits]
    M = max((b >> 23) & 0xFF for b in bits)
    if M == 0:
        return bits
    out = []
    for b in bits:
        k = gm - (M - ((b >> 23) & 0xFF)) - 1
        out.append(b & ((0xFFFFFFFF << (23 - k)) & 0xFFFFFFFF) if k >= 0 else 0)
    return out


def exact_quantize(bits, m, rounding, rbits=None, rand=None):
    """One group by exact rational arithmetic: (M, q list)."""
    bits = [int(b) & 0xFFFFFFFF for b in bits]
    fields = [(b >> 23) & 0xFF for b in bits]
    if 0xFF in fields:
        return 255, [0] * len(bits)
    M = max(fields)
    ulp = Fraction(2) ** (M - 127 - (m - 1))
    qs = []
    for j, (b, e) in enumerate(zip(bits, fields)):
        if e == 0:  # zero or subnormal: flushed
            qs.append(0)
            continue
        x = abs(Fraction(f32_value(b))) / ulp
        n = x.numerator // x.denominator
        frac = x - n
        if rounding == "rne":
            n = round(x)
        elif rounding == "stochastic":
            n += int((frac * 2 ** rbits).__floor__() + rand[j] >= 2 ** rbits)
        qs.append(min(n, 2 ** m - 1))
    return M, qs


def normal_fp32():
    """Normal FP32 words (both signs)."""
    return st.tuples(st.integers(0, 1), st.integers(1, 254), st.integers(0, (1 << 23) - 1)).map(
        lambda t: (t[0] << 31) | (t[1] << 23) | t[2])


def assert_same_values(got, want):
    """Equal FP32 words, except that the kernel writes +0 for a flushed element where BFP keeps
    the input's sign bit (-0: the same value)."""
    got = np.asarray(got, dtype=np.int64)
    assert np.array_equal(np.where(want == 0, got & 0x7FFFFFFF, got), want)


# -- the lab kernel ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from([2, 3, 4, 8, 12, 16, 23, 24]), st.integers(1, 9))
def test_rtz_equals_flexblock_kernel(data, m, G):
    """rtz dequantized == the lab simulator's masking kernel, on normal FP32 inputs of random
    exponent spread, with tail groups and both axes of a 2-D tensor."""
    rows = data.draw(st.integers(1, 3))
    cols = data.draw(st.integers(1, 12))
    words = data.draw(st.lists(normal_fp32(), min_size=rows * cols, max_size=rows * cols))
    x = np.array(words, dtype=np.int64).reshape(rows, cols)
    axis = data.draw(st.sampled_from([0, 1, -1]))
    e, s, q, z = bfp.quantize(x, m, G, axis=axis)
    got = bfp.dequantize(e, s, q, m, G, axis=axis).view(np.uint32).astype(np.int64)
    xa = np.moveaxis(x, axis, -1)
    want = np.empty_like(xa)
    for r in np.ndindex(xa.shape[:-1]):
        for g0 in range(0, xa.shape[-1], G):
            want[r][g0:g0 + G] = flexblock_kernel(xa[r][g0:g0 + G], m)
    assert_same_values(got, np.moveaxis(want, -1, axis))


@pytest.mark.parametrize("m", [4, 8, 16])
def test_rtz_equals_kernel_on_fp32_corners(m):
    for G in (1, 3, len(CORNERS)):
        e, s, q, _ = bfp.quantize(CORNERS, m, G)
        got = bfp.dequantize(e, s, q, m, G).view(np.uint32)
        want = np.concatenate([flexblock_kernel(CORNERS[i:i + G], m)
                               for i in range(0, len(CORNERS), G)])
        assert_same_values(got.astype(np.int64), want)


# -- every rounding against exact arithmetic -----------------------------------------------------


def any_fp32():
    return st.one_of(normal_fp32(), st.sampled_from([0, 1 << 31, 1, 0x807FFFFF, 0x7F800000,
                                                      0xFF800000, 0x7FC00000, 0x7F800001]))


@settings(max_examples=400, deadline=None)
@given(st.data(), st.integers(2, 24), st.sampled_from(bfp.ROUNDINGS))
def test_quantize_matches_exact_reference(data, m, rounding):
    G = data.draw(st.integers(1, 8))
    words = data.draw(st.lists(any_fp32(), min_size=G, max_size=G))
    # a narrow exponent spread makes rounding decisions (and carries) frequent
    if data.draw(st.booleans()):
        base = data.draw(st.integers(1, 250))
        words = [(w & 0x807FFFFF) | ((base + (i % 4)) << 23) if (w >> 23) & 0xFF not in (0, 255)
                 else w for i, w in enumerate(words)]
    rbits = data.draw(st.integers(1, 32)) if rounding == "stochastic" else None
    rand = data.draw(st.lists(st.integers(0, (1 << rbits) - 1), min_size=G, max_size=G)) \
        if rbits else None
    e, s, q, z = bfp.quantize(np.array(words), m, G, rounding=rounding, rbits=rbits, rand=rand)
    M, qs = exact_quantize(words, m, rounding, rbits, rand)
    assert int(e[0]) == M and q.tolist() == qs
    assert s.tolist() == [w >> 31 for w in words]
    nonzero = [(w & 0x7FFFFFFF) != 0 for w in words]
    assert int(z[0]) == (0 if M == 255 else sum(nz and qq == 0 for nz, qq in zip(nonzero, qs)))


def test_rules_by_example():
    one, x175, x1999 = 0x3F800000, 0x3FE00000, 0x3FFFFFFF
    # m = 4: ulp of the group is 2**-3 when M is 1.0's exponent
    e, s, q, z = bfp.quantize(np.array([x1999, one]), 4, 2, rounding="rne")
    assert e.tolist() == [127] and q.tolist() == [15, 8]       # 15.99.. -> 16 saturates to 15
    e, s, q, z = bfp.quantize(np.array([x1999, one]), 4, 2)
    assert q.tolist() == [15, 8]                                 # truncation
    # ties to even: 1.75 at m = 2 is 3.5 ulps -> 4 saturates to 3; 1.25 (2.5 ulps) -> 2
    e, s, q, z = bfp.quantize(np.array([x175, 0x3FA00000]), 2, 2, rounding="rne")
    assert q.tolist() == [3, 2]
    # zero-setting: 2**-10 next to 1.0 at m = 8 becomes 0 (counted), +-0 are not counted
    e, s, q, z = bfp.quantize(np.array([one, 0x3A800000, 0, 1 << 31]), 8, 4)
    assert q.tolist() == [128, 0, 0, 0] and z.tolist() == [1] and s.tolist() == [0, 0, 0, 1]
    # a subnormal flushes, counts as zero-set, and never raises M
    e, s, q, z = bfp.quantize(np.array([1, 0x00000100]), 8, 2)
    assert e.tolist() == [0] and q.tolist() == [0, 0] and z.tolist() == [2]
    # NaN / Inf make the group NaN with zero magnitudes and no ZSE
    for special in (0x7F800000, 0x7FC00000, 0xFF800000):
        e, s, q, z = bfp.quantize(np.array([one, special, 0x3A800000]), 8, 3)
        assert e.tolist() == [255] and q.tolist() == [0, 0, 0] and z.tolist() == [0]
        assert np.isnan(bfp.dequantize(e, s, q, 8, 3)).all()
    # tail group: 5 values in groups of 2 -> 3 groups, the last of one value with its own M
    x = np.array([1.0, 2.0, 4.0, 8.0, 0.5], dtype=np.float32)
    e, s, q, z = bfp.quantize(x, 4, 2)
    assert e.tolist() == [128, 130, 126]
    assert bfp.dequantize(e, s, q, 4, 2).tolist() == x.tolist()


def test_stochastic_rounding_is_unbiased_at_rbits_resolution():
    """Over every rand in [0, 2**R), the mean of q is the value truncated to R fraction bits."""
    R = 6
    x = np.array([1.0, 0.3, 0.0123, 0.7071], dtype=np.float32)  # one group, M = 1.0's
    m = 5
    rand = np.arange(1 << R)[:, None].repeat(4, axis=1)
    xs = np.broadcast_to(x, rand.shape)
    _, _, q, _ = bfp.quantize(xs, m, 4, rounding="stochastic", rbits=R, rand=rand)
    ulp = Fraction(2) ** (0 - (m - 1))
    for j, v in enumerate(x.tolist()):
        exact = Fraction(v) / ulp
        want = Fraction((exact * 2 ** R).__floor__(), 2 ** R)
        assert Fraction(int(q[:, j].sum()), 1 << R) == want


@settings(max_examples=200, deadline=None)
@given(st.lists(normal_fp32(), min_size=1, max_size=20), st.sampled_from([4, 8, 16]),
       st.integers(1, 7), st.sampled_from(["rtz", "rne"]))
def test_requantizing_a_bfp_tensor_changes_nothing(words, m, G, rounding):
    x = np.array(words, dtype=np.int64)
    e, s, q, _ = bfp.quantize(x, m, G, rounding=rounding)
    v = bfp.dequantize(e, s, q, m, G)
    e2, s2, q2, _ = bfp.quantize(v, m, G, rounding=rounding)
    # the element at M keeps its top bit, so M survives; -0 keeps its sign
    assert np.array_equal(e2, e) and np.array_equal(s2, s) and np.array_equal(q2, q)


def test_zse_rate():
    x = np.array([1.0, 2.0 ** -12, 0.0, 2.0 ** -3], dtype=np.float32)
    assert bfp.zse_rate(x, 8, 4) == pytest.approx(1 / 3)
    assert bfp.zse_rate(x, 16, 4) == 0.0
    assert bfp.zse_rate(np.zeros(3, np.float32), 4, 2) == 0.0


# -- the group dot product -------------------------------------------------------------------------


def reference_dot(ea, sa, qa, eb, sb, qb, acc, ma, mb):
    if ea == 255 or eb == 255:
        return FP32_NAN
    c = acc & 0xFFFFFFFF
    cexp = (c >> 23) & 0xFF
    if cexp == 0xFF:
        return FP32_NAN if c & 0x7FFFFF else c
    s = sum((-1) ** (x ^ y) * Fraction(p) * Fraction(r) for x, p, y, r in zip(sa, qa, sb, qb))
    total = Fraction(f32_value(c)) + s * Fraction(2) ** (ea - 127 - (ma - 1) + eb - 127 - (mb - 1))
    return fraction_to_fp32(total)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.integers(2, 24), st.integers(2, 24), st.integers(1, 12))
def test_dot_matches_fraction(data, ma, mb, G):
    def side(m):
        e = data.draw(st.one_of(st.integers(0, 254), st.integers(100, 150), st.just(255)))
        s = data.draw(st.lists(st.integers(0, 1), min_size=G, max_size=G))
        q = data.draw(st.lists(st.integers(0, 2 ** m - 1), min_size=G, max_size=G))
        return e, s, q
    ea, sa, qa = side(ma)
    eb, sb, qb = side(mb)
    acc = data.draw(st.one_of(any_fp32(), st.integers(0, (1 << 32) - 1)))
    got = bfp.dot([ea], [sa], [qa], [eb], [sb], [qb], [acc], ma, mb)
    assert int(got[0]) == reference_dot(ea, sa, qa, eb, sb, qb, acc, ma, mb)


def test_dot_of_quantized_vectors_and_groups():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 200)).astype(np.float32)
    y = rng.standard_normal((4, 200)).astype(np.float32)
    qx, qy = bfp.quantize(x, 8, 54), bfp.quantize(y, 4, 54)
    got = bfp.dot_groups(qx[0], qx[1], qx[2], qy[0], qy[1], qy[2], 8, 4, 54)
    vx, vy = bfp.dequantize(*qx[:3], 8, 54), bfp.dequantize(*qy[:3], 4, 54)
    for r in range(4):
        acc = 0
        for g0 in range(0, 200, 54):
            s = sum(Fraction(float(a)) * Fraction(float(b))
                    for a, b in zip(vx[r, g0:g0 + 54], vy[r, g0:g0 + 54]))
            acc = fraction_to_fp32(Fraction(f32_value(acc)) + s)
        assert int(got[r]) == acc


@pytest.mark.parametrize("call, exc, message", [
    (lambda: bfp.quantize(np.ones(4, np.float32), 1, 2), ValueError,
     "m must be an integer in 2..24, not 1"),
    (lambda: bfp.quantize(np.ones(4, np.float32), 25, 2), ValueError,
     "m must be an integer in 2..24, not 25"),
    (lambda: bfp.quantize(np.ones(4, np.float32), 8, 0), ValueError,
     "group must be an integer in 1..65536 (a positive group size), not 0"),
    (lambda: bfp.quantize(np.ones(4, np.float32), 8, 2.0), TypeError,
     "group must be an integer in 1..65536 (a positive group size), not 2.0"),
    (lambda: bfp.quantize(np.ones(4, np.float32), 8, 2, rounding="rna"), ValueError,
     "rounding must be one of rtz, rne, stochastic, not 'rna'"),
    (lambda: bfp.quantize(np.ones(4, np.float32), 8, 2, rounding="stochastic", rbits=4),
     ValueError, "rounding='stochastic' needs rand: random integers in [0, 2**rbits)"),
    (lambda: bfp.quantize(np.ones(4, np.float32), 8, 2, rounding="stochastic", rbits=4,
                          rand=16), ValueError, "rand must hold integers in [0, 2**rbits) = [0, 16)"),
    (lambda: bfp.quantize(np.ones(4, np.float32), 8, 2, rbits=4), ValueError,
     "rbits and rand are only used with rounding='stochastic'"),
    (lambda: bfp.quantize(np.array([0.1]), 8, 2), ValueError,
     "x must be FP32 values (float32, FP32 bit patterns, or floats that float32 holds exactly)"),
    (lambda: bfp.quantize(np.ones(4, np.float32), 8, 2, axis=1), ValueError,
     "axis must be an integer in -1..0, not 1"),
    (lambda: bfp.dot([0], [[0]], [[0]], [0], [[0]], [[0]], [0], 8, 30), ValueError,
     "mb must be an integer in 2..24, not 30"),
])
def test_bad_arguments(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value) == message
