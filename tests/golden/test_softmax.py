"""Softmax golden models (golden.softmax): both units against independent scalar Python-int
implementations written from the definitions (docs/numerics.md §7 for the log2 unit,
golden.softmax's docstring for the exp unit), the documented widths against the extreme values, the
float64 references against the integer models at high precision, error bounds against the exact
softmax
over attention-score rows, the stream wrappers and the parameter checks."""
import math
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest

from golden import opal
from golden import softmax as S

# ---- independent scalar references (Python ints and Fractions, one vector at a time)


def _pow2(v, q, f):
    """floor((2**F + vf) * 2**(Q + vi - F)) with vi = floor(v / 2**F), from exact rationals."""
    vi = math.floor(Fraction(v, 1 << f))
    vf = v - vi * (1 << f)
    return math.floor(Fraction((1 << f) + vf) * Fraction(2) ** (q + vi - f))


def ref_log2(xs, F, P, O):
    """docs/numerics.md §7.4's six steps for one vector of signed ints."""
    m = max(xs)
    u = []
    for x in xs:
        z = x - m
        u.append(z + math.floor(Fraction(z, 2)) - math.floor(Fraction(z, 16)))
    e = [_pow2(v, P, F) for v in u]
    D = sum(e)
    L = len(bin(D)) - 3
    lg = (L - P) * (1 << F) + math.floor(Fraction((D - 2 ** L) * 2 ** F, 2 ** L))
    return [_pow2(v - lg, O, F) for v in u], D, lg


def _decimal_log2e():
    getcontext().prec = 60
    return 1 / Decimal(2).ln()


def ref_exp(xs, F, P, O, C, S_):
    """The exp unit's definition (golden.softmax docstring) for one vector, with log2 e and the
    knots 2**(P + k/S) from 60-digit decimals."""
    getcontext().prec = 60
    K = int((_decimal_log2e() * (1 << C)).to_integral_value(rounding="ROUND_HALF_UP"))
    A = [int((Decimal(2) ** (Decimal(P * S_ + k) / S_)).to_integral_value(
        rounding="ROUND_HALF_UP")) for k in range(S_ + 1)]
    s = S_.bit_length() - 1
    r = F - s
    m = max(xs)
    e = []
    for x in xs:
        t = math.floor(Fraction((x - m) * K + 2 ** (C - 1), 2 ** C))
        ti = math.floor(Fraction(t, 2 ** F))
        tf = t - ti * 2 ** F
        k, d = tf // 2 ** r, tf % 2 ** r
        mant = A[k] + math.floor(Fraction(d * (A[k + 1] - A[k]), 2 ** r))
        e.append(math.floor(Fraction(mant, 2 ** -ti)))
    D = sum(e)
    return [math.floor(Fraction(v * 2 ** O, D)) for v in e], D


# ---- vectors


def _vectors(rng, n, in_bits, frac_bits, count):
    """Random vectors (attention rows, uniform codes) then every corner vector."""
    st = S.log2_stimulus(rng, count * n, n=n, in_bits=in_bits, frac_bits=frac_bits)
    return st["x"].reshape(-1, n)


CONFIGS = [  # (n, in_bits, F, P, O)
    (64, 16, 8, 16, 8), (8, 12, 6, 10, 6), (2, 16, 8, 16, 8), (5, 8, 4, 6, 10),
    (3, 10, 0, 4, 4), (16, 16, 12, 8, 16), (7, 24, 16, 24, 24), (33, 6, 6, 3, 2),
]


@pytest.mark.parametrize("n, B, F, P, O", CONFIGS)
def test_log2_matches_scalar_definition(n, B, F, P, O):
    rng = np.random.default_rng(n * 1000 + B * 10 + F)
    x = _vectors(rng, n, B, F, 12)
    got = S.log2_terms(x, n=n, in_bits=B, frac_bits=F, exp_bits=P, out_bits=O)
    for row, y, D, lg in zip(x.tolist(), got["y"], got["D"], got["lg"]):
        ry, rD, rlg = ref_log2(row, F, P, O)
        assert (int(D), int(lg)) == (rD, rlg), row
        assert y.tolist() == ry, row


def test_log2_large_n():
    rng = np.random.default_rng(4096)
    for n in (4096, 1000):
        x = _vectors(rng, n, 16, 8, 1)[[0, 1, 3]]   # a random, an attention and a corner row
        y = S.log2_softmax(x)
        for row, yr in zip(x.tolist(), y):
            assert yr.tolist() == ref_log2(row, 8, 16, 8)[0]


EXP_CONFIGS = [  # (n, in_bits, F, P, O, C, S)
    (64, 16, 8, 16, 8, 12, 8), (8, 12, 6, 10, 6, 12, 8), (2, 16, 8, 16, 8, 12, 8),
    (5, 8, 4, 6, 10, 4, 16), (3, 10, 0, 4, 4, 1, 1), (16, 16, 12, 8, 16, 24, 64),
    (7, 24, 16, 24, 24, 20, 2), (9, 8, 2, 12, 3, 8, 4),
]


@pytest.mark.parametrize("n, B, F, P, O, C, S_", EXP_CONFIGS)
def test_exp_matches_scalar_definition(n, B, F, P, O, C, S_):
    rng = np.random.default_rng(n * 1000 + C * 10 + S_)
    x = _vectors(rng, n, B, F, 12)
    p = dict(n=n, in_bits=B, frac_bits=F, exp_bits=P, out_bits=O, log2e_bits=C, segments=S_)
    got = S.exp_terms(x, **p)
    for row, y, D in zip(x.tolist(), got["y"], got["D"]):
        ry, rD = ref_exp(row, F, P, O, C, S_)
        assert int(D) == rD, row
        assert y.tolist() == ry, row


def test_exp_large_n():
    rng = np.random.default_rng(99)
    x = _vectors(rng, 4096, 16, 8, 1)[[0, 1, 3]]
    for row, yr in zip(x.tolist(), S.exp_softmax(x)):
        assert yr.tolist() == ref_exp(row, 8, 16, 8, 12, 8)[0]


def test_constants_from_independent_arithmetic():
    assert S.log2e_constant(12) == 5909               # 1.442695... * 4096 = 5909.27
    assert S.log2e_constant(1) == 3 and S.log2e_constant(24) == 24204406
    A, B = S.exp_table(16, 8)
    assert A[0] == 1 << 16 and A[8] == 1 << 17
    assert A[4] == 92682                              # 2**16 * sqrt(2) = 92681.9
    assert all(b == A[k + 1] - A[k] > 0 for k, b in enumerate(B))


# ---- corners with known answers (independent facts, not the model's own numbers)


def test_known_vectors():
    hi = (1 << 15) - 1
    # all equal: D = n * 2**P, lg = log2(n) exactly, y = 2**(O - log2 n) for a power-of-two n
    for n in (2, 8, 64):
        t = S.log2_terms(np.full((1, n), 1234))
        assert t["D"][0] == n << 16 and t["lg"][0] == (n.bit_length() - 1) << 8
        assert (t["y"] == 256 // n).all()
        assert (S.exp_softmax(np.full((1, n), -77)) == 256 // n).all()
    # one dominant score: the others underflow to 0, the maximum gets y = 1.0
    x = np.full((1, 64), -(1 << 15))
    x[0, 17] = hi
    for f in (S.log2_softmax, S.exp_softmax):
        y = f(x)
        assert y[0, 17] == 256 and (np.delete(y[0], 17) == 0).all()
    # two equal maxima and the rest far below: each 1/2
    x[0, 3] = hi
    for f in (S.log2_softmax, S.exp_softmax):
        y = f(x)
        assert y[0, 3] == y[0, 17] == 128 and y.sum() == 256
    # n = 2, scores 0 and -1.0: u = -256 - 128 + 16 = -368 = -2 + 144/256, so
    # e = (256 + 144) * 2**(16 - 2 - 8) = 25600 (Mitchell: 1.5625 / 4 = 0.390625)
    t = S.log2_terms(np.array([[0, -256]]))
    assert t["u"].tolist() == [[0, -368]] and t["e"].tolist() == [[65536, 25600]]


def test_widths_hold_the_extremes():
    for n, B, F, P, O in CONFIGS:
        p = dict(n=n, in_bits=B, frac_bits=F, exp_bits=P, out_bits=O)
        w = S.log2_widths(**p)
        x = S.corner_vectors(n, B, F)
        x = np.stack([x["dominant_first"], x["all_max"]])
        t = S.log2_terms(x, **p)
        fits = lambda a, bits: -(1 << (bits - 1)) <= a.min() and a.max() < 1 << (bits - 1)
        assert t["u"].min() == w["u_min"] and fits(t["u"], w["u"]) and fits(t["z"], w["z"])
        assert fits(t["v"], w["v"]) and t["e"].max() < 1 << w["e"]
        assert t["D"].max() < 1 << w["D"] and t["lg"].max() <= w["lg_max"] < 1 << w["lg"]
        assert t["y"].max() < 1 << w["y"]
        # all-equal vectors reach the largest D and lg
        big = S.log2_terms(np.zeros((1, n), np.int64), **p)
        assert big["D"][0] == n << P and big["lg"][0] <= w["lg_max"]
    for n, B, F, P, O, C, S_ in EXP_CONFIGS:
        p = dict(n=n, in_bits=B, frac_bits=F, exp_bits=P, out_bits=O, log2e_bits=C,
                 segments=S_)
        w = S.exp_widths(**p)
        x = S.corner_vectors(n, B, F)
        t = S.exp_terms(np.stack([x["dominant_first"], x["ramp_code"]]), **p)
        assert t["t"].min() == w["t_min"] and t["mant"].max() < 1 << w["mant"]
        assert t["e"].max() == 1 << P and t["y"].max() <= 1 << O


# ---- the float64 references and the error study


def test_references_are_the_untruncated_chains():
    """At 16 fraction bits and 24-bit e, D and y the integer models approach their float64
    chains (measured: 8.7e-6 log2, 2.0e-6 exp); at the defaults they differ by about an
    output LSB (3.9e-3)."""
    rng = np.random.default_rng(7)
    s = np.concatenate([S.attention_scores(rng, 50, 64, scale=sc, peaks=pk)
                        for sc in (0.25, 1, 4, 8) for pk in (0, 2)])
    x = S.to_codes(s, 24, 16)
    wide = dict(in_bits=24, frac_bits=16, exp_bits=24, out_bits=24)
    y = S.log2_softmax(x, **wide) / 2.0 ** 24
    assert np.abs(y - S.log2_reference(x, frac_bits=16)).max() < 2e-5
    y = S.exp_softmax(x, log2e_bits=24, **wide) / 2.0 ** 24
    assert np.abs(y - S.exp_reference(x, frac_bits=16)).max() < 1e-5
    x = S.to_codes(s)
    assert np.abs(S.log2_softmax(x) / 256 - S.log2_reference(x)).max() < 5e-3
    assert np.abs(S.exp_softmax(x) / 256 - S.exp_reference(x)).max() < 5e-3
    p = S.exact_softmax(x)
    assert np.allclose(p.sum(-1), 1) and (p > 0).all()


def _kl(p, y, out_bits):
    """KL(p || q) with q the unit's outputs, zeros raised to half an LSB (a zero output would
    make KL infinite), renormalized to sum 1."""
    q = np.maximum(y / 2.0 ** out_bits, 2.0 ** -(out_bits + 1))
    q /= q.sum(-1, keepdims=True)
    return (p * np.log(p / q)).sum(-1)


def _attention_rows():
    """1800 rows of 64 Q8.8 scores: q.k/sqrt(64) at 1/T = 0.25..8, flat and peaked."""
    rng = np.random.default_rng(2024)
    s = [S.attention_scores(rng, 100, 64, scale=sc, peaks=pk)
         for sc in (0.25, 0.5, 1, 2, 4, 8) for pk in (0, 1, 3)]
    return S.to_codes(np.concatenate(s))


# Measured on _attention_rows() (n = 64, Q8.8 scores, P = 16), probabilities y / 2**O against
# the exact softmax of the same codes; KL as in _kl, mean and worst over the rows:
#
#   unit  O    max |err|  mean row-max |err|  KL mean   KL worst
#   log2  8    0.0833     0.0260              0.0669    0.116
#   exp   8    0.00414    0.00319             0.0698    0.116
#   log2  16   0.0843     0.0266              0.00018   0.00077
#   exp   16   0.00066    0.00020             0.00016   0.00073
#
# The log2 unit's error is Mitchell's (both 2**u and log2 D, up to ~6 % each way), the exp
# unit's the 8-chord table and the truncations; at O = 8 the KL of both is dominated by the
# output quantization (tail probabilities below 2**-8 become 0). The bounds below add ~20 %.
ERROR_BOUNDS = {  # (unit, O): (max |err|, mean row-max |err|, KL mean, KL worst)
    ("log2", 8): (0.10, 0.031, 0.080, 0.14),
    ("exp", 8): (0.005, 0.0039, 0.084, 0.14),
    ("log2", 16): (0.10, 0.032, 0.00022, 0.00093),
    ("exp", 16): (0.0008, 0.00024, 0.0002, 0.00088),
}


@pytest.mark.parametrize("unit, O", list(ERROR_BOUNDS))
def test_error_against_exact_softmax(unit, O):
    x = _attention_rows()
    p = S.exact_softmax(x)
    f = S.log2_softmax if unit == "log2" else S.exp_softmax
    y = f(x, out_bits=O)
    err = np.abs(y / 2.0 ** O - p)
    kl = _kl(p, y, O)
    got = (err.max(), err.max(-1).mean(), kl.mean(), kl.max())
    bound = ERROR_BOUNDS[unit, O]
    assert all(g <= b for g, b in zip(got, bound)), (got, bound)
    # the bounds are tight enough to tell the units apart
    if unit == "log2":
        assert err.max() > 5 * ERROR_BOUNDS["exp", O][0]


# ---- stream wrappers, stimulus, parameters


def test_block_and_stimulus():
    rng = np.random.default_rng(1)
    st = S.log2_stimulus(rng, 4000)
    x = st["x"]
    assert x.dtype == np.int64 and x.ndim == 1 and len(x) % 64 == 0
    assert len(x) >= 4000 and x.min() >= -(1 << 15) and x.max() < 1 << 15
    corners = S.corner_vectors()
    assert len(corners) >= 10
    tail = x[-64 * len(corners):].reshape(-1, 64)
    assert all((t == c).all() for t, c in zip(tail, corners.values()))
    again = S.log2_stimulus(np.random.default_rng(1), 4000)["x"]
    assert (again == x).all()
    out = S.log2_block({"x": x})
    assert out["y"].shape == x.shape
    assert (out["y"].reshape(-1, 64) == S.log2_softmax(x.reshape(-1, 64))).all()
    # unsigned two's complement codes mean the same scores
    assert (S.log2_block({"x": x & 0xFFFF})["y"] == out["y"]).all()
    e = S.exp_block({"x": x}, div_rows=3)            # hardware-only parameters are ignored
    assert (e["y"].reshape(-1, 64) == S.exp_softmax(x.reshape(-1, 64))).all()
    small = S.exp_stimulus(rng, 10, n=8, in_bits=12, frac_bits=6, exp_bits=10, out_bits=6)
    assert len(small["x"]) % 8 == 0 and small["x"].max() < 1 << 11
    assert opal.log2_softmax is S.log2_softmax   # golden.opal re-exports the one implementation
    assert S.vector_beats(n=8) == 8 and S.stream_space() is None


def test_stream_errors():
    with pytest.raises(ValueError, match="not a multiple of n = 64"):
        S.log2_block({"x": np.zeros(65, np.int64)})
    with pytest.raises(ValueError, match="score codes must lie in -32768..65535"):
        S.log2_softmax(np.full((1, 64), 1 << 16))
    with pytest.raises(ValueError, match="last axis must have n = 8 entries, not 64"):
        S.exp_softmax(np.zeros((1, 64), np.int64), n=8)


@pytest.mark.parametrize("params, exc, message", [
    ({"n": 1}, ValueError, "n must be an integer in 2..4096, not 1"),
    ({"n": 4097}, ValueError, "n must be an integer in 2..4096, not 4097"),
    ({"n": 8.0}, TypeError, "n must be an integer in 2..4096, not 8.0"),
    ({"in_bits": 25}, ValueError, "in_bits must be an integer in 2..24, not 25"),
    ({"frac_bits": 17}, ValueError,
     r"frac_bits must be an integer in 0..16 \(at most in_bits\), not 17"),
    ({"frac_bits": -1}, ValueError,
     r"frac_bits must be an integer in 0..16 \(at most in_bits\), not -1"),
    ({"exp_bits": 0}, ValueError, "exp_bits must be an integer in 1..24, not 0"),
    ({"out_bits": 25}, ValueError, "out_bits must be an integer in 1..24, not 25"),
    ({"out_bits": True}, TypeError, "out_bits must be an integer in 1..24, not True"),
])
def test_log2_parameter_errors(params, exc, message):
    with pytest.raises(exc, match=f"^{message}$"):
        S.check_log2_params(**{**S.LOG2_DEFAULTS, **params})


@pytest.mark.parametrize("params, exc, message", [
    ({"log2e_bits": 0}, ValueError, "log2e_bits must be an integer in 1..24, not 0"),
    ({"segments": 6}, ValueError, (r"segments must be an integer in 1..64 and a power of two "
                                   r"\(at most 2\*\*frac_bits = 256\), not 6")),
    ({"segments": 128}, ValueError, "segments must be an integer in 1..64"),
    ({"segments": 8, "frac_bits": 2}, ValueError,
     r"segments must be an integer in 1..4 and a power of two \(at most 2\*\*frac_bits = 4\)"),
    ({"segments": "8"}, TypeError, "segments must be an integer"),
])
def test_exp_parameter_errors(params, exc, message):
    with pytest.raises(exc, match=f"^{message}"):
        S.check_exp_params(**{**S.EXP_DEFAULTS, **params})
