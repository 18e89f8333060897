"""golden.opal's quantizer against an independent per-block Python implementation (exact
rationals, ml_dtypes' bfloat16), its documented NaN/Inf behaviour, error bounds against the
float64 values, the lane's error against float64, and the parameter errors."""
import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from golden import opal
from mxforge.catalogue import BLOCKS

F32_MAG = 0x7FFFFFFF


def _value(bits):
    return Fraction(float(np.array([bits], np.uint32).view(np.float32)[0]))


def _round(q, rounding):
    """Fraction -> integer: rne (Python's round), rna (half away from zero), rtz."""
    if rounding == "rne":
        return round(q)
    if rounding == "rtz":
        return math.trunc(q)
    a = abs(q)
    r = math.floor(a + Fraction(1, 2))
    return r if q >= 0 else -r


def reference_block(bits_list, k, b, rounding):
    """One block, written from docs/numerics.md §7 without golden's code: (scale, codes, outliers,
    idx)."""
    n = len(bits_list)
    mag = [x & F32_MAG for x in bits_list]
    idx = sorted(range(n), key=lambda i: (-mag[i], i))[:k]
    outl = []
    for i in idx:
        x = bits_list[i]
        if mag[i] > 0x7F800000:
            outl.append(0x7FC0)
        else:
            outl.append(int(np.array([x], np.uint32).view(np.float32)
                            .astype(ml_dtypes.bfloat16).view(np.uint16)[0]))
    inl = [0 if i in idx else bits_list[i] for i in range(n)]
    if any((x & F32_MAG) >= 0x7F800000 for x in inl):
        return 255, [0] * n, outl, idx
    amax = max(abs(_value(x)) for x in inl)
    if amax == 0:
        return 0, [0] * n, outl, idx
    e = amax.numerator.bit_length() - amax.denominator.bit_length()
    if Fraction(2) ** e > amax:
        e -= 1
    e = min(max(e, -127), 127)
    qmax = (1 << (b - 1)) - 1
    codes = []
    for x in inl:
        q = _round(_value(x) / Fraction(2) ** (e - (b - 2)), rounding)
        codes.append(max(-qmax, min(qmax, q)) & ((1 << b) - 1))
    return e + 127, codes, outl, idx


@pytest.mark.parametrize("n, k, b, rounding", [
    (128, 4, 3, "rne"), (128, 4, 5, "rne"), (16, 1, 8, "rtz"), (32, 7, 2, "rna"),
    (64, 4, 4, "rtz")])
def test_quantize_matches_independent_reference(n, k, b, rounding):
    rng = np.random.default_rng(n + k + b)
    x = opal.quantize_stimulus(rng, 40 * n, n=n, k=k, bits=b, lanes=min(16, n))["x"]
    blocks = x.reshape(-1, n)
    q = opal.quantize(blocks.reshape(-1), n, k, b, rounding)
    for r, blk in enumerate(blocks):
        scale, codes, outl, idx = reference_block([int(v) for v in blk], k, b, rounding)
        got = (int(q["scale"][r]), q["codes"][r].tolist(), q["outliers"][r].tolist(),
               q["idx"][r].tolist())
        assert got == (scale, codes, outl, idx), (r, blk)


def _blocks(*rows):
    return np.asarray(rows, dtype=np.float32).view(np.uint32).astype(np.int64)


def test_ties_go_to_the_lower_index_and_rank_order():
    x = np.zeros(16, np.float32)
    x[[3, 7, 9, 12]] = [-5.0, 5.0, -5.0, 5.0]
    x[1] = 2.0
    q = opal.quantize(x, 16, 3, 5)
    assert q["idx"][0].tolist() == [3, 7, 9]            # four-way tie: the three lowest
    x[14] = 6.0
    q = opal.quantize(x, 16, 3, 5)
    assert q["idx"][0].tolist() == [14, 3, 7]           # rank order: the largest first
    # the fourth of the tie (index 9) is an inlier and sets the scale: E = 2, step 2**(2-3)
    assert q["scale"][0] == 129 and (q["codes"][0][9] - 32) * 0.5 == -5.0


def test_outlier_slots_hold_zero_and_the_scale_ignores_outliers():
    rng = np.random.default_rng(1)
    x = opal.activations(rng, 200, 128, outlier_channels=4, gain=50.0)
    q = opal.quantize(x, 128, 4, 3)
    slots = np.take_along_axis(q["codes"], q["idx"], axis=-1)
    assert np.all(slots == 0)
    assert np.all(np.sort(q["idx"], axis=-1)[:, 1:] != np.sort(q["idx"], axis=-1)[:, :-1])
    # the scale comes from the largest inlier: it is at most the 5th largest |x|
    mags = np.sort(np.abs(x.reshape(-1, 128)), axis=-1)[:, ::-1]
    e = q["scale"][:, 0].astype(np.int64) - 127
    assert np.all(2.0 ** e <= mags[:, 4]) and np.all(mags[:, 4] < 2.0 ** (e + 1))


def test_nan_inf_behaviour():
    # up to k specials: they are the outliers (BF16 Inf / canonical NaN), inliers unaffected
    x = np.ones(16, np.float32)
    x[[2, 5]] = [np.inf, np.nan]
    q = opal.quantize(x, 16, 2, 5)
    assert q["idx"][0].tolist() == [5, 2]              # NaN ranks above Inf
    assert q["outliers"][0].tolist() == [0x7FC0, 0x7F80]
    assert q["scale"][0] == 127 and set(q["codes"][0][[0, 1, 3]]) == {8}   # 1.0 = 8 * 2**-3
    # more than k specials: an inlier is special -> MX rule: scale NaN, every code 0
    x[7] = -np.inf
    q = opal.quantize(x, 16, 2, 5)
    assert q["scale"][0] == 255 and not q["codes"][0].any()
    assert q["idx"][0].tolist() == [5, 2] and q["outliers"][0].tolist() == [0x7FC0, 0x7F80]
    # FP32 max rounds to BF16 Inf (IEEE RNE); -0 and +0 tie (lower index wins)
    y = _blocks([3.4028235e38, -0.0, 0.0, 1.0])[0]
    q = opal.quantize(y, 4, 2, 3)
    assert q["outliers"][0].tolist() == [0x7F80, 0x3F80] and q["idx"][0].tolist() == [0, 3]
    assert q["scale"][0] == 0 and not q["codes"][0].any()   # every inlier zero


def test_fewer_than_k_nonzero_and_all_equal():
    x = np.zeros(32, np.float32)
    x[[4, 20]] = [3.0, -1.0]
    q = opal.quantize(x, 32, 4, 3)
    assert q["idx"][0].tolist() == [4, 20, 0, 1]        # then the zeros by index
    assert q["scale"][0] == 0 and not q["codes"][0].any()
    q = opal.quantize(np.full(32, -1.5, np.float32), 32, 4, 3)
    assert q["idx"][0].tolist() == [0, 1, 2, 3]
    # inliers -1.5 with E = 0, step 2**-1: -3 (b = 3 saturates at +-3 exactly)
    assert q["scale"][0] == 127 and set(q["codes"][0][4:]) == {(-3) & 7}


@pytest.mark.parametrize("b", [3, 5, 8])
def test_inlier_error_is_half_a_step_unless_saturated(b):
    rng = np.random.default_rng(b)
    x = opal.activations(rng, 500, 128)
    q = opal.quantize(x.reshape(-1), 128, 4, b)
    deq = opal.dequantize(q, b).reshape(-1, 128)
    x = x.reshape(-1, 128).astype(np.float64)
    step = np.exp2(q["scale"].astype(np.float64) - 127 - (b - 2))[:, None]
    err = np.abs(deq - x)
    qmax = (1 << (b - 1)) - 1
    sat = np.abs(x) > (qmax + 0.5) * step           # only the top binade can saturate
    assert np.all(err[~sat] <= step.repeat(128, 1)[~sat] / 2)
    assert np.all(err[sat] <= np.abs(x[sat]) - qmax * step.repeat(128, 1)[sat] + 1e-300)
    # outliers: BF16 (8 significant bits) RNE, relative error <= 2**-8
    o = np.take_along_axis(x, q["idx"], axis=-1)
    od = np.take_along_axis(deq, q["idx"], axis=-1)
    assert np.all(np.abs(od - o) <= np.abs(o) * 2.0 ** -8)


@pytest.mark.parametrize("b", [3, 5])
def test_lane_error_against_float64(b):
    """The FP32 lane against the float64 dot of the same dequantized operands: four FP32
    roundings (I, the products, t's adds, the two final adds) each <= 2**-24 of the largest
    partial magnitude, so the error is below 8 * 2**-24 * (sum |terms| + |c|)."""
    rng = np.random.default_rng(7 + b)
    x = opal.activations(rng, 2000, 128)
    q = opal.quantize(x.reshape(-1), 128, 4, b)
    w = rng.integers(-127, 128, (2000, 128)) & 0xFF
    ws = rng.integers(110, 140, 2000)
    acc = (rng.standard_normal(2000).astype(np.float32) * 1e3).view(np.uint32).astype(np.int64)
    got = opal.dot(q["scale"], q["codes"], q["outliers"], q["idx"], ws, w, acc, b, 8)
    got = got.astype(np.uint32).view(np.float32).astype(np.float64)
    ref = opal.reference_dot(q, ws, w, acc, b, 8)
    a = np.abs(opal.dequantize(q, b).reshape(-1, 128))
    wv = np.abs(((w ^ 0x80) - 0x80) * np.exp2(ws - 127 - 6.0)[:, None])
    bound = 8 * 2.0 ** -24 * ((a * wv).sum(axis=1)
                              + np.abs(acc.astype(np.uint32).view(np.float32)))
    assert np.all(np.abs(got - ref) <= bound)
    assert np.median(np.abs(got - ref) / bound) < 0.25


def test_lane_nan_rules():
    n, k = 16, 2
    base = {"scale": np.array([127]), "codes": np.zeros((1, n), np.int64),
            "outliers": np.array([[0x3F80, 0x3F80]]), "idx": np.array([[0, 1]]),
            "w_scale": np.array([127]), "w": np.ones((1, n), np.int64), "acc": np.array([0])}
    out = lambda **o: int(opal.dot_block({**base, **o}, n=n, k=k, bits=4)["result"][0])  # noqa
    assert out() == 0x3D000000                    # 2 outliers * (1.0 * 1 * 2**-6) = 2**-5
    assert out(scale=np.array([255])) == 0x7FC00000
    assert out(w_scale=np.array([255])) == 0x7FC00000
    assert out(outliers=np.array([[0x7F80, 0x3F80]])) == 0x7F800000
    assert out(outliers=np.array([[0x7F80, 0xFF80]])) == 0x7FC00000     # +Inf + -Inf
    w0 = np.ones((1, n), np.int64)
    w0[0, 0] = 0
    assert out(outliers=np.array([[0x7F80, 0x3F80]]), w=w0) == 0x7FC00000  # Inf * 0


@pytest.mark.parametrize("params, exc, words", [
    ({"k": 128}, ValueError, "k must be an integer in 1..127"),
    ({"k": 0}, ValueError, "k must be an integer in 1..127"),
    ({"bits": 1}, ValueError, "bits must be an integer in 2..8"),
    ({"bits": 9}, ValueError, "bits must be an integer in 2..8"),
    ({"n": 96}, ValueError, "n must be an integer in 2..1024 and a power of two"),
    ({"n": 2048}, ValueError, "n must be an integer in 2..1024"),
    ({"lanes": 3}, ValueError, "lanes must be an integer in 1..128 and a power of two"),
    ({"lanes": 256}, ValueError, "lanes must be an integer in 1..128"),
    ({"rounding": "stochastic"}, ValueError, "rounding must be one of rne, rna, rtz"),
    ({"n": 8.0}, TypeError, "n must be an integer"),
])
def test_quantizer_parameter_errors(params, exc, words):
    with pytest.raises(exc, match=words.replace(".", r"\.")):
        BLOCKS["opal_quantize"].build(**params)
    if "rounding" not in params:
        with pytest.raises(exc, match=words.replace(".", r"\.")):
            opal.quantize_block({"x": np.zeros((8, 16), np.int64)},
                                **{"n": 128, "lanes": 16, **params})


@pytest.mark.parametrize("params, words", [
    ({"k": 128}, "k must be an integer in 1..127"),
    ({"bits": 9}, "bits must be an integer in 2..8"),
    ({"w": 1}, "w must be an integer in 2..8"),
    ({"n": 100}, "n must be an integer in 2..1024 and a power of two"),
])
def test_lane_parameter_errors(params, words):
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        BLOCKS["opal_dot"].build(**params)
