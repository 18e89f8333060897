"""golden.bfp_pe against a beat-by-beat reference written here: Python integers per product,
``Fraction`` for the FP32 accumulate (tests.reference), no golden.bfp; and the stream contract
(every mode pair in the stimulus, contract violations rejected)."""
from fractions import Fraction

import numpy as np
import pytest

from golden import bfp_pe as g
from tests.reference import f32_value, fraction_to_fp32

FP32_NAN = 0x7FC00000


def reference(inputs, lane_bits=16, modes=(16, 8, 4)):
    """Output beats of the PE, beat by beat."""
    n_max = lane_bits // min(modes)
    facc = [0] * (n_max * n_max)
    ints = {}
    out = []
    for t in range(len(inputs["last"])):
        ma, mb = modes[inputs["mode_a"][t]], modes[inputs["mode_b"][t]]
        na, nb = lane_bits // ma, lane_bits // mb
        for i in range(na):
            qa = (int(inputs["a"][t]) >> (i * ma)) & ((1 << ma) - 1)
            for j in range(nb):
                qb = (int(inputs["b"][t]) >> (j * mb)) & ((1 << mb) - 1)
                sign = int(inputs["sa"][t][i]) ^ int(inputs["sb"][t][j])
                ints[i, j] = ints.get((i, j), 0) + (-1) ** sign * qa * qb
        if not inputs["last"][t]:
            continue
        ea, eb = int(inputs["exp_a"][t]), int(inputs["exp_b"][t])
        for s in range(na * nb):
            i, j = divmod(s, nb)
            c = 0 if inputs["clear"][t] else facc[s]
            if ea == 255 or eb == 255 or ((c >> 23) & 0xFF == 0xFF and c & 0x7FFFFF):
                r = FP32_NAN
            elif (c >> 23) & 0xFF == 0xFF:
                r = c
            else:
                scale = Fraction(2) ** (ea - 127 - (ma - 1) + eb - 127 - (mb - 1))
                r = fraction_to_fp32(Fraction(f32_value(c)) + ints.get((i, j), 0) * scale)
            facc[s] = r
            out.append((r, i, j, int(s == na * nb - 1)))
        ints = {}
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_golden_matches_beat_by_beat_reference(seed):
    v = g.pe_stimulus(np.random.default_rng(seed), 1500)
    got = g.pe_block(v)
    want = reference(v)
    assert len(got["result"]) == len(want)
    assert list(zip(got["result"].tolist(), got["row"].tolist(), got["col"].tolist(),
                    got["last"].tolist())) == want


def test_golden_matches_reference_for_other_lanes():
    for lane, modes in ((24, (24, 12, 8, 6)), (8, (8, 4, 2)), (16, (8,))):
        v = g.pe_stimulus(np.random.default_rng(5), 400, lane_bits=lane, modes=modes)
        got = g.pe_block(v, lane_bits=lane, modes=modes)
        assert list(zip(got["result"].tolist(), got["row"].tolist(), got["col"].tolist(),
                        got["last"].tolist())) == reference(v, lane, modes)


def test_stimulus_covers_the_contract():
    """Every mode pair, mode switches between groups, short groups (fewer beats than
    products), clear and carried groups, NaN groups, overflow to Inf."""
    v = g.pe_stimulus(np.random.default_rng(1), 3000)
    last = v["last"] == 1
    pairs = set(zip(v["mode_a"][last].tolist(), v["mode_b"][last].tolist()))
    assert pairs == {(a, b) for a in range(3) for b in range(3)}
    assert (np.diff(v["mode_a"][last]) != 0).sum() > 50
    ends = np.flatnonzero(last)
    lengths = np.diff(np.concatenate([[-1], ends]))
    products = [(16 // (16, 8, 4)[a]) * (16 // (16, 8, 4)[b])
                for a, b in zip(v["mode_a"][last], v["mode_b"][last])]
    assert (lengths < products).sum() > 10 and (lengths == 54).sum() > 10
    assert 0.2 < v["clear"][last].mean() < 0.8
    out = g.pe_block(v)["result"]
    assert (out == FP32_NAN).sum() >= 4 and ((out & 0x7FFFFFFF) == 0x7F800000).sum() >= 1


def stream(groups, lane_bits=16, ns=4):
    """Beats from [(mode_a, mode_b, length, last-beat overrides)]."""
    rows = []
    for ma, mb, length in groups:
        for t in range(length):
            rows.append(dict(a=0x1234, sa=[0] * ns, mode_a=ma, exp_a=127, b=0x4321, sb=[1] * ns,
                             mode_b=mb, exp_b=127, last=int(t == length - 1), clear=1))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def test_contract_violations_are_rejected():
    v = stream([(0, 0, 3)])
    v["mode_a"][1] = 1
    with pytest.raises(ValueError, match="mode_a changes inside the group of beats 0..2"):
        g.pe_block(v)
    with pytest.raises(ValueError, match="a group of 5 beats is longer than max_beats=4"):
        g.pe_block(stream([(0, 0, 5)]), max_beats=4)
    with pytest.raises(ValueError, match=r"mode_b = 3 is not an index into modes=\(16, 8, 4\)"):
        g.pe_block(stream([(0, 3, 2)]))
    # beats after the last group end are never converted
    v = stream([(0, 0, 2), (0, 0, 2)])
    v["last"][-1] = 0
    assert len(g.pe_block(v)["result"]) == 1


@pytest.mark.parametrize("lane_bits, modes, message", [
    (16, (16, 7), "modes must be magnitude widths that divide lane_bits=16 (one of 2, 4, 8, 16), "
                  "not 7 in (16, 7)"),
    (16, (16, 1), "modes must be magnitude widths that divide lane_bits=16 (one of 2, 4, 8, 16), "
                  "not 1 in (16, 1)"),
    (16, (), "modes must be a non-empty tuple of magnitude widths that divide lane_bits=16, "
             "not ()"),
    (16, (8, 8), "modes must not repeat a width, not (8, 8)"),
    (48, (48,), "modes must be magnitude widths that divide lane_bits=48 (one of 2, 3, 4, 6, 8, "
                "12, 16, 24), not 48 in (48,)"),
    (1, (16,), "lane_bits must be an integer in 2..64, not 1"),
])
def test_bad_modes(lane_bits, modes, message):
    with pytest.raises(ValueError) as info:
        g.check_modes(lane_bits, modes)
    assert str(info.value) == message


def test_rates():
    assert g.product_counts(16, (16, 8, 4))[(8, 4)] == 8
    assert [g.data_rate(16, (16, 8, 4), d) for d in (16, 8, 4)] == [1, 4, 16]
    assert [g.data_rate(16, (16,), d) for d in (16, 8, 4)] == [1, 1, 1]
    assert [g.data_rate(16, (4,), d) for d in (16, 8, 4)] == [0, 0, 16]
