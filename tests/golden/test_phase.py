"""golden/phase.py against independent references: 60-digit decimals for the code's thresholds
and table, exact Fractions for the fixed-point products, a plain loop for the saturating
membrane, and the closed-form error bounds of the floor and nearest codes."""
import math
from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pytest

from golden import phase as ph

getcontext().prec = 60


def _pow2(x: Fraction) -> Decimal:
    """2^x to 60 digits."""
    return Decimal(2) ** (Decimal(x.numerator) / Decimal(x.denominator))


@pytest.mark.parametrize("m", ph.BASES_M)
@pytest.mark.parametrize("F", [1, 4, 8, 12, 16, 24])
def test_table_is_the_rounded_power(m, F):
    for r, got in enumerate(ph.table(m, F)):
        want = _pow2(Fraction(F * m - r, m))
        assert abs(Decimal(got) - want) <= Decimal("0.5"), (m, F, r)
        assert abs(Decimal(got) - want) < abs(Decimal(got + 1) - want)
        assert abs(Decimal(got) - want) < abs(Decimal(got - 1) - want)


def test_int_root_round_exhaustive_small():
    for m in range(1, 9):
        for n in range(0, 1500):
            got = ph.int_root_round(n, m)
            want = Decimal(n) ** (Decimal(1) / Decimal(m)) if n else Decimal(0)
            assert abs(Decimal(got) - want) <= Decimal("0.5") + Decimal("1e-40"), (n, m)


def _phase_ref(a: float, theta: float, code: ph.PhaseCode) -> int:
    """First t with a >= S_t, thresholds in 60-digit decimals."""
    a, theta = Decimal(a), Decimal(theta)
    sigma = (1 + _pow2(Fraction(-1, code.m))) / 2
    for t in range(code.T):
        lv = theta * _pow2(Fraction(-t, code.m))
        if code.shift:
            s = lv / 2 if t == code.T - 1 else lv * sigma
        else:
            s = lv
        if a >= s:
            return t
    return ph.NO_SPIKE


@pytest.mark.parametrize("m", ph.BASES_M)
@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("T", [1, 3, 8, 16])
def test_encode_matches_decimal_reference(m, shift, T):
    code = ph.PhaseCode(m, T, shift)
    rng = np.random.default_rng(m * 100 + T + shift)
    theta = 1.7
    a = np.concatenate([theta * 2.0 ** rng.uniform(-T / m - 2, 1, 300), [0.0, theta, 2 * theta],
                        code.thresholds(theta) * (1 + 1e-9), code.thresholds(theta) * (1 - 1e-9)])
    got = code.encode(a, theta)
    want = [_phase_ref(float(v), theta, code) for v in a]
    # the value view is float64: within an ulp or two of a threshold (irrational for m > 1) it
    # may fall on either side; the draws and the ±1e-9 neighbours stay clear of that
    assert got.tolist() == want


@pytest.mark.parametrize("m", ph.BASES_M)
@pytest.mark.parametrize("T", [1, 4, 12])
def test_error_bounds(m, T):
    """Floor code: â <= a < â·B on [L_{T-1}, θ], a < L_{T-1} below it. Nearest code (shift):
    |a − â| <= â(B − 1)/2 on [L_{T-1}, θ], <= L_{T-1}/2 below. Both: a > θ decodes to θ."""
    theta = 3.0
    rng = np.random.default_rng(T * 10 + m)
    a = theta * 2.0 ** rng.uniform(-T / m - 3, 0.5, 20000)
    B = 2.0 ** (1 / m)
    low = theta * B ** -(T - 1)
    for shift in (False, True):
        code = ph.PhaseCode(m, T, shift)
        q = code.quantize(a, theta)
        inside = (a >= low) & (a <= theta)
        below, above = a < low, a > theta
        assert (q[above] == theta).all()
        if not shift:
            assert (q[inside] <= a[inside]).all() and (a[inside] < q[inside] * B).all()
            assert (q[below] == 0).all()
        else:
            err = np.abs(a - q)
            assert (err[inside] <= q[inside] * (B - 1) / 2 * (1 + 1e-12)).all()
            assert (err[below] <= low / 2 * (1 + 1e-12)).all()
            # and it is the nearest level of {0, L_0..L_{T-1}}
            levels = np.concatenate([[0.0], code.levels(theta)])
            best = np.abs(a[~above, None] - levels).min(-1)
            assert np.allclose(err[~above], best, rtol=1e-12, atol=0)


def test_shift_lowers_the_mse():
    a = np.random.default_rng(1).exponential(0.2, 50000)
    for m in ph.BASES_M:
        plain = np.mean((ph.PhaseCode(m, 8, False).quantize(a, 1.0) - a) ** 2)
        shifted = np.mean((ph.PhaseCode(m, 8, True).quantize(a, 1.0) - a) ** 2)
        assert shifted < plain


@pytest.mark.parametrize("m", ph.BASES_M)
@pytest.mark.parametrize("rounding", ph.ROUNDINGS)
def test_scale_product_exhaustive_against_fractions(m, rounding):
    nrn = ph.Neuron(m=m, T=32, F=8, rounding=rounding)
    tab = ph.table(m, 8)
    w = np.arange(-128, 128)
    for t in range(nrn.T):
        got = ph.scale_product(w, np.full(w.shape, t), nrn)
        exact = [Fraction(int(x) * tab[t % m], 1 << (t // m)) for x in w]
        if rounding == "floor":
            want = [math.floor(x) for x in exact]
        else:
            want = [math.floor(x + Fraction(1, 2)) for x in exact]
        assert got.tolist() == want, (m, t)


def _membrane_ref(spikes, weights, bias, nrn):
    lo, hi = nrn.vmin, nrn.vmax
    out = []
    for j in range(len(bias)):
        v = min(max(int(bias[j]), lo), hi)
        for i, t in spikes:
            p = int(weights[j][i]) * nrn.tab[t % nrn.m]
            s = t // nrn.m
            if nrn.rounding == "nearest" and s:
                p += 1 << (s - 1)
            v = min(max(v + (p >> s), lo), hi)
        out.append(v)
    return out


@pytest.mark.parametrize("rounding", ph.ROUNDINGS)
def test_layer_membrane_saturates_in_stream_order(rounding):
    rng = np.random.default_rng(5)
    nrn = ph.Neuron(m=4, T=16, F=8, W=16, rounding=rounding)
    for _ in range(50):
        w = rng.integers(-128, 128, (6, 20))
        b = rng.integers(-3000, 3000, 6)
        spikes = [(int(i), int(t)) for i, t in zip(rng.integers(0, 20, 40),
                                                    rng.integers(0, 16, 40))]
        got = ph.layer_membrane(spikes, w, b, nrn)
        assert got.tolist() == _membrane_ref(spikes, w, b, nrn)
    # it does saturate in these draws
    v = ph.layer_membrane([(0, 0)] * 300, np.full((1, 1), 127), [0], nrn)
    assert v[0] == nrn.vmax


def test_fire_is_the_first_threshold_met_and_at_most_once():
    s = np.array([100, 60, 30, 10, 1])
    v = np.array([-5, 0, 1, 9, 10, 29, 30, 59, 60, 99, 100, 10 ** 6])
    assert ph.fire(v, s).tolist() == [-1, -1, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0]


@pytest.mark.parametrize("call, message", [
    (lambda: ph.PhaseCode(m=3), "m must be one of 1, 2, 4, 8"),
    (lambda: ph.PhaseCode(T=0), "T .phases. must be an integer in 1..64"),
    (lambda: ph.PhaseCode().levels(0.0), "theta .threshold. must be > 0"),
    (lambda: ph.PhaseCode(T=4).decode([4]), "phase must be in 0..3"),
    (lambda: ph.fire([1], [3, 0]), "threshold must be >= 1"),
    (lambda: ph.Neuron(rounding="up"), "rounding must be one of floor, nearest"),
    (lambda: ph.Neuron(W=4), "W .membrane bits. must be an integer in 8..48"),
    (lambda: ph.table(2, 0), "F .table fraction bits."),
    (lambda: ph.scale_product([1], [8], ph.Neuron(T=8)), "phase must be in 0..7"),
    (lambda: ph.layer_membrane([(3, 0)], np.ones((1, 3)), [0], ph.Neuron()),
     "input index must be in 0..2"),
])
def test_bad_parameters(call, message):
    with pytest.raises(ph.PhaseError, match=message):
        call()
