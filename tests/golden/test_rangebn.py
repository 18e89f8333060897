"""LightNorm golden models (golden.rangebn): the rounded operation sequence against an
independent exact-rational implementation, the float64 references against numerical
differentiation, the low-precision results against the float64 references (documented bounds),
the conventional BN baseline, the stream wrappers and the parameter checks."""
import math
from fractions import Fraction

import numpy as np
import pytest

from golden import rangebn as R
from golden.formats import decode, encode
from tests.reference import round_fraction

FWD = {"V": (5, 4, 15), "A": (5, 12, 15)}
BWD = {"V": (6, 3, 31), "A": (6, 11, 31)}


def _activations(rng, C, n, kind):
    x = np.stack([R._distribution(rng, n, kind) for _ in range(C)])
    return encode(x, R.FWD_VALUE, "rne")


def _frac_forward(x, gamma, beta, lanes, chunks, rounding):
    """Range BN forward on exact rationals, rounded to the formats by tests.reference
    (independent of golden.formats' arithmetic)."""
    rA = lambda q: round_fraction(q, *FWD["A"], rounding)
    n = len(x)
    xs = [Fraction(float(v)) for v in decode(np.array(x), R.FWD_VALUE)]
    S = Fraction(0)
    for b in range(n // lanes):
        t = xs[b * lanes:(b + 1) * lanes]
        while len(t) > 1:
            t = [rA(t[j] + t[j + 1]) for j in range(0, len(t) - 1, 2)] + \
                ([t[-1]] if len(t) % 2 else [])
        S = rA(S + t[0])
    m = n // chunks
    smax = smin = Fraction(0)
    for k in range(chunks):
        c = xs[k * m:(k + 1) * m]
        smax, smin = rA(smax + max(c)), rA(smin + min(c))
    const = lambda v: round_fraction(Fraction(v), *FWD["A"], "rne")
    mu = rA(S * const(1 / n))
    d = rA(rA(smax * const(1 / chunks)) - rA(smin * const(1 / chunks)))
    r = rA(rA(d * const(1 / math.sqrt(2 * math.log(m)))) + Fraction(2) ** -14)
    s = rA(1 / r)
    g, bt = (Fraction(float(decode(np.array(v), R.FWD_VALUE))) for v in (gamma, beta))
    a = rA(s * g)
    y = [round_fraction(rA(rA(rA(v - mu) * a) + bt), *FWD["V"], rounding) for v in xs]
    return y, mu, s


@pytest.mark.parametrize("rounding", ["rtz", "rne"])
def test_forward_matches_exact_rational_sequence(rounding):
    rng = np.random.default_rng(5)
    n, lanes = 64, 8
    for c, kind in enumerate(R.KINDS + ("normal",)):
        x = _activations(rng, 1, n, kind)
        gamma = encode(np.array([rng.uniform(-3, 3)]), R.FWD_VALUE, "rne")
        beta = encode(np.array([rng.normal()]), R.FWD_VALUE, "rne")
        got = R.forward(x, gamma, beta, lanes=lanes, rounding=rounding)
        y, mu, s = _frac_forward(x[0], gamma[0], beta[0], lanes, R.CHUNKS, rounding)
        assert decode(got["mu"], R.FWD_ACC)[0] == float(mu)
        assert decode(got["s"], R.FWD_ACC)[0] == float(s)
        assert list(decode(got["y"][0], R.FWD_VALUE)) == [float(v) for v in y], kind


def test_forward_chunk_indices_first_on_ties():
    x = encode(np.tile([1.0, 3.0, 3.0, -2.0, -2.0, 0.0, 3.0, -2.0], 8)[None], R.FWD_VALUE)
    f = R.forward(x, encode(np.ones(1), R.FWD_VALUE), encode(np.zeros(1), R.FWD_VALUE))
    assert list(f["amax"][0]) == [8 * k + 1 for k in range(8)]
    assert list(f["amin"][0]) == [8 * k + 3 for k in range(8)]


def test_constant_channel_is_defined():
    """Range 0: r = eps, s = 2**14 and y = beta exactly (mu is exact here), no division by 0."""
    n = 1024
    for v in (1.5, -100.0, 0.0):
        x = encode(np.full((1, n), v), R.FWD_VALUE)
        beta = encode(np.array([0.75]), R.FWD_VALUE)
        with np.errstate(all="raise"):
            f = R.forward(x, encode(np.array([2.0]), R.FWD_VALUE), beta)
        assert decode(f["s"], R.FWD_ACC)[0] == 2.0 ** 14
        assert np.all(decode(f["y"], R.FWD_VALUE) == 0.75)


def _err(got, ref):
    """Largest error relative to the channel's output scale (its largest |value|)."""
    scale = np.maximum(np.abs(ref).max(axis=1, keepdims=True), 1e-30)
    return float((np.abs(got - ref) / scale).max())


#: documented accuracy of range BN's FP10 forward against float64 range BN of the same FP10
#: inputs (max over realistic channels, relative to the channel's output scale), n = 1024,
#: 4 lanes. Measured: rne 0.042; rtz 0.08 except where the mean dwarfs the range. There
#: truncating each of the 256 FP18 accumulations biases the mean toward zero: on uniform data
#: around +-4 the mean is off by 0.8 of the normalized unit and the output by 0.44 of its scale
#: (0.19 with 8 lanes, half the accumulations). docs/lightnorm.md reports this drift.
FWD_BOUND = {"rtz": 0.125, "rne": 0.0625}


@pytest.mark.parametrize("rounding", ["rtz", "rne"])
def test_forward_error_bound_against_float64(rounding):
    rng = np.random.default_rng(11)
    worst = {}
    for kind in R.KINDS:
        x = _activations(rng, 4, 1024, kind)
        gamma = encode(rng.uniform(0.5, 2, 4), R.FWD_VALUE, "rne")
        beta = encode(rng.normal(0, 0.5, 4), R.FWD_VALUE, "rne")
        f = R.forward(x, gamma, beta, rounding=rounding)
        ref = R.forward_reference(decode(x, R.FWD_VALUE), decode(gamma, R.FWD_VALUE),
                                  decode(beta, R.FWD_VALUE))
        worst[kind] = _err(decode(f["y"], R.FWD_VALUE), ref["y"])
        np.testing.assert_array_equal(f["amax"], ref["amax"])
        np.testing.assert_array_equal(f["amin"], ref["amin"])
        np.testing.assert_allclose(decode(f["s"], R.FWD_ACC), ref["s"], rtol=2 ** -7)
    drift = worst.pop("uniform") if rounding == "rtz" else 0.0
    assert max(worst.values()) <= FWD_BOUND[rounding], worst
    if rounding == "rtz":  # the mean's truncation drift shows (and stays below 1/2)
        assert FWD_BOUND["rtz"] < drift < 0.5


def test_backward_reference_is_the_gradient():
    """backward_reference against central differences of forward_reference (L = Σ g·y)."""
    rng = np.random.default_rng(3)
    C, n = 2, 64
    x = rng.normal(0.3, 1.5, (C, n))
    g = rng.normal(0, 1, (C, n))
    gamma, beta = rng.uniform(0.5, 2, C), rng.normal(0, 1, C)
    ref = R.backward_reference(x, g, gamma)
    loss = lambda xx, gg=gamma, bb=beta: (g * R.forward_reference(xx, gg, bb)["y"]).sum()
    h = 1e-6
    dx = np.zeros_like(x)
    for c in range(C):
        for i in range(n):
            e = np.zeros_like(x)
            e[c, i] = h
            dx[c, i] = (loss(x + e) - loss(x - e)) / (2 * h)
    np.testing.assert_allclose(ref["dx"], dx, atol=1e-6, rtol=1e-5)
    for c in range(C):
        e = np.zeros(C)
        e[c] = h
        dg = (loss(x, gamma + e) - loss(x, gamma - e)) / (2 * h)
        db = (loss(x, gamma, beta + e) - loss(x, gamma, beta - e)) / (2 * h)
        assert ref["dgamma"][c] == pytest.approx(dg, rel=1e-6, abs=1e-8)
        assert ref["dbeta"][c] == pytest.approx(db, rel=1e-6, abs=1e-8)


#: documented accuracy of the FP10 (1-6-3) backward against the float64 gradient of the same
#: inputs (relative to each channel's largest |dx|), n = 1024: measured 0.088 (rtz) and 0.046
#: (rne); dx has 4 significant bits
BWD_BOUND = {"rtz": 0.125, "rne": 0.0625}


@pytest.mark.parametrize("rounding", ["rtz", "rne"])
def test_backward_error_bound_against_float64(rounding):
    rng = np.random.default_rng(12)
    worst = 0.0
    for kind in R.KINDS:
        x = _activations(rng, 3, 1024, kind)
        gamma = encode(rng.uniform(0.5, 2, 3), R.FWD_VALUE, "rne")
        g = encode(rng.normal(0, 1, (3, 1024)) * 0.01, R.BWD_VALUE, "rne")
        f = R.forward(x, gamma, encode(np.zeros(3), R.FWD_VALUE), rounding=rounding)
        b = R.backward(x, g, gamma, f["mu"], f["s"], f["amax"], f["amin"], rounding=rounding)
        ref = R.backward_reference(decode(x, R.FWD_VALUE), decode(g, R.BWD_VALUE),
                                   decode(gamma, R.FWD_VALUE))
        worst = max(worst, _err(decode(b["dx"], R.BWD_VALUE), ref["dx"]))
        np.testing.assert_allclose(decode(b["dbeta"], R.BWD_ACC), ref["dbeta"],
                                   rtol=2 ** -5, atol=1e-3)
    assert worst <= BWD_BOUND[rounding]


def test_bn_forward_against_float64():
    rng = np.random.default_rng(4)
    for kind in R.KINDS:
        xv = np.stack([R._distribution(rng, 1024, kind) for _ in range(4)])
        x = encode(xv, R.FP16, "rne")
        gamma = encode(rng.uniform(0.5, 2, 4), R.FP16, "rne")
        beta = encode(rng.normal(0, 0.5, 4), R.FP16, "rne")
        f = R.bn_forward(x, gamma, beta)
        ref = R.bn_reference(decode(x, R.FP16), decode(gamma, R.FP16), decode(beta, R.FP16))
        # FP16 output (11 bits) after FP32 steps: within 2**-9 of the output scale
        assert _err(decode(f["y"], R.FP16), ref["y"]) <= 2 ** -9, kind


def test_bn_specials_propagate():
    x = encode(np.ones((2, 64)), R.FP16)
    x[0, 3] = 0x7C00  # +Inf
    x[1, 9] = 0x7E00  # NaN
    f = R.bn_forward(x, encode(np.ones(2), R.FP16), encode(np.zeros(2), R.FP16))
    assert np.all(np.isnan(decode(f["y"], R.FP16)))
    assert list(f["mu"]) == [0x7F800000, 0x7FC00000]  # +Inf's mean is +Inf; NaN canonical


def test_stream_wrappers():
    """The block goldens read the statistics from pass 1, the outputs from pass 2, and the
    per-channel scalars on the channel's first beat only."""
    rng = np.random.default_rng(9)
    n, lanes = 64, 8
    inp = R.fwd_stimulus(rng, 40, n=n, lanes=lanes)
    C = len(inp["x"]) // (2 * n // lanes)
    x = inp["x"].reshape(C, 2, n)
    inp2 = dict(inp, x=np.concatenate([x[:, :1], x[:, :1][..., ::-1]], axis=1).reshape(-1, lanes))
    out = R.fwd_block(inp2, n=n, lanes=lanes)
    gamma = inp["gamma"].reshape(C, -1)[:, 0]
    beta = inp["beta"].reshape(C, -1)[:, 0]
    st = R.forward_statistics(x[:, 0], lanes)
    y = R.forward_normalize(x[:, 0][..., ::-1], st, gamma, beta)
    np.testing.assert_array_equal(out["y"], y.reshape(-1, lanes))
    assert out["last"].sum() == C and out["last"][n // lanes - 1] == 1


def test_running_update():
    mu = encode(np.array([2.0]), R.FWD_ACC)
    s = encode(np.array([0.5]), R.FWD_ACC)
    rm, rs = R.running_update(np.float32([0.0]), np.float32([1.0]), mu, s, momentum=0.25)
    assert rm[0] == np.float32(0.5) and rs[0] == np.float32(0.875)


@pytest.mark.parametrize("kw, what", [
    ({"n": 100}, "n must be a multiple"), ({"n": 8}, "n must be an integer"),
    ({"lanes": 0}, "lanes must be"), ({"lanes": 64}, "lanes must be")])
def test_bad_parameters(kw, what):
    p = {"n": 64, "lanes": 8, **kw}
    with pytest.raises(ValueError, match=what):
        R.check_params(p["n"], p["lanes"])


def test_bad_rounding():
    x = encode(np.ones((1, 64)), R.FWD_VALUE)
    with pytest.raises(ValueError, match="rounding"):
        R.forward(x, x[:, 0], x[:, 0], rounding="rna")


def test_bfp_output_keeps_the_group_maximum_exactly():
    """m = 5 is fp10_e5m4's whole significand: the values with the group's largest exponent
    come back exactly; the others are truncated to the group's grid (never grow)."""
    from golden import bfp
    rng = np.random.default_rng(2)
    y = encode(rng.normal(0, 4, (50, 8)), R.FWD_VALUE, "rne")
    out = R.bfp_output(y, 8)
    back = bfp.dequantize(out["exp"][:, None], out["signs"], out["mags"], R.BFP_M, 8)
    v = decode(y, R.FWD_VALUE)
    top = np.floor(np.log2(np.abs(v).max(axis=1, keepdims=True)))
    exact = np.floor(np.log2(np.where(v == 0, 1e-30, np.abs(v)))) == top
    np.testing.assert_array_equal(back[exact], v[exact])
    assert np.all(np.abs(back) <= np.abs(v)) and np.all(np.abs(v - back) < 2.0 ** (top - 4))
