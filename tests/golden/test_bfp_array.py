"""golden.bfp_array against two references: a beat-by-beat reference written here (Python
integers per PE and product slot, ``Fraction`` and tests.reference's own FP32 rounding for the
accumulate, per-column buffers; no golden.bfp), and golden.bfp_pe run once per PE on its own row
and column operands (independent of the array's broadcast, ordering and buffer indexing, not of
golden.bfp.dot). Then the cycle function on hand-counted streams, the stream contract and the
parameter errors."""
from fractions import Fraction

import numpy as np
import pytest

from golden import bfp_array as g
from golden import bfp_pe
from tests.reference import f32_value, fraction_to_fp32

FP32_NAN = 0x7FC00000


def reference(v, R, C, lane_bits=16, modes=(16, 8, 4), units=1):
    """Output beats (results tuple, row, i, j, last), beat by beat; with ``units`` u, the
    results of rows row..row + u - 1 in one beat (unit k: rows k, k + u, ...; its own entries,
    step * P + slot)."""
    facc = {}
    ints = {}
    out = []
    for t in range(len(v["last"])):
        ma, mb = modes[v["mode_a"][t]], modes[v["mode_b"][t]]
        na, nb = lane_bits // ma, lane_bits // mb
        for r in range(R):
            for c in range(C):
                for i in range(na):
                    qa = (int(v["a"][t][r]) >> (i * ma)) & ((1 << ma) - 1)
                    for j in range(nb):
                        qb = (int(v["b"][t][c]) >> (j * mb)) & ((1 << mb) - 1)
                        neg = int(v["sa"][t][r][i]) ^ int(v["sb"][t][c][j])
                        ints[r, c, i, j] = ints.get((r, c, i, j), 0) + (-1) ** neg * qa * qb
        if not v["last"][t]:
            continue
        P = na * nb
        group = {}
        for r, s in ((r, s) for r in range(R) for s in range(P)):
            i, j = divmod(s, nb)
            addr = (r % units, (r // units) * P + s)     # unit, entry
            res = []
            for c in range(C):
                ea, eb = int(v["exp_a"][t][r]), int(v["exp_b"][t][c])
                cc = 0 if v["clear"][t] else facc.get((c,) + addr, 0)
                if ea == 255 or eb == 255 or ((cc >> 23) & 0xFF == 0xFF and cc & 0x7FFFFF):
                    x = FP32_NAN
                elif (cc >> 23) & 0xFF == 0xFF:
                    x = cc
                else:
                    scale = Fraction(2) ** (ea - 127 - (ma - 1) + eb - 127 - (mb - 1))
                    x = fraction_to_fp32(Fraction(f32_value(cc))
                                         + ints.get((r, c, i, j), 0) * scale)
                facc[(c,) + addr] = x
                res.append(x)
            group[r, s] = res
        K = R // units * P
        for q in range(K):
            step, s = divmod(q, P)
            out.append((tuple(x for k in range(units) for x in group[step * units + k, s]),
                        step * units, s // nb, s % nb, int(q == K - 1)))
        ints = {}
    return out


def beats(out):
    return list(zip((tuple(np.ravel(x).tolist()) for x in out["result"]), out["row"].tolist(),
                    out["i"].tolist(), out["j"].tolist(), out["last"].tolist()))


@pytest.mark.parametrize("R, C, modes", [(2, 3, (16, 8, 4)), (1, 1, (16, 8, 4)),
                                         (3, 2, (16, 8, 4)), (2, 2, (16,)), (2, 2, (4,))])
def test_golden_matches_beat_by_beat_reference(R, C, modes):
    v = g.array_stimulus(np.random.default_rng(R * 10 + C), 250, R=R, C=C, modes=modes,
                         max_beats=10)
    assert beats(g.array_block(v, R=R, C=C, modes=modes, max_beats=10)) == \
        reference(v, R, C, modes=modes)


@pytest.mark.parametrize("R, units", [(4, 2), (4, 4), (3, 3)])
def test_units_per_column(R, units):
    """u conversion units per column: unit k converts rows k, k + u, ... from its own
    entries, u results per beat."""
    v = g.array_stimulus(np.random.default_rng(R * 7 + units), 250, R=R, C=2, max_beats=10,
                         units=units)
    got = g.array_block(v, R=R, C=2, max_beats=10, units=units)
    assert got["result"].shape[1:] == (units, 2)
    assert beats(got) == reference(v, R, 2, units=units)


def test_other_lane_width():
    v = g.array_stimulus(np.random.default_rng(4), 150, R=2, C=2, lane_bits=24,
                         modes=(24, 12, 8, 6), max_beats=6)
    got = g.array_block(v, R=2, C=2, lane_bits=24, modes=(24, 12, 8, 6), max_beats=6)
    assert beats(got) == reference(v, 2, 2, 24, (24, 12, 8, 6))


@pytest.mark.parametrize("ia, ib", [(0, 0), (1, 2), (2, 2)])
def test_each_pe_equals_the_pe_golden(ia, ib):
    """Constant mode pair: PE (r, c)'s outputs are bfp_pe's on a[r], b[c] (its slots keep
    their own FP32 accumulators there, entry q = r * P + s of column c here)."""
    R, C = 2, 3
    rng = np.random.default_rng(ia * 3 + ib)
    v = g.array_stimulus(rng, 200, R=R, C=C, max_beats=20)
    last = np.flatnonzero(v["last"])
    v = {k: x[:last[9] + 1] for k, x in v.items()}   # the first 10 groups (random ones)
    v["mode_a"][:], v["mode_b"][:] = ia, ib
    got = g.array_block(v, R=R, C=C, max_beats=20)
    P = (16 // (16, 8, 4)[ia]) * (16 // (16, 8, 4)[ib])
    for r in range(R):
        for c in range(C):
            pe = bfp_pe.pe_block({"a": v["a"][:, r], "sa": v["sa"][:, r], "mode_a": v["mode_a"],
                                  "exp_a": v["exp_a"][:, r], "b": v["b"][:, c],
                                  "sb": v["sb"][:, c], "mode_b": v["mode_b"],
                                  "exp_b": v["exp_b"][:, c], "last": v["last"],
                                  "clear": v["clear"]}, max_beats=20)
            mine = got["row"] == r
            assert got["result"][mine, 0, c].tolist() == pe["result"].tolist()
            assert got["i"][mine].tolist() == pe["row"].tolist()
            assert got["j"][mine].tolist() == pe["col"].tolist()
    assert len(got["row"]) == 10 * R * P


def test_stimulus_covers_the_contract():
    R, C = 2, 2
    v = g.array_stimulus(np.random.default_rng(1), 1500, R=R, C=C)
    last = v["last"] == 1
    assert set(zip(v["mode_a"][last].tolist(), v["mode_b"][last].tolist())) == \
        {(a, b) for a in range(3) for b in range(3)}
    ends = np.flatnonzero(last)
    lengths = np.diff(np.concatenate([[-1], ends]))
    K = [R * (16 // (16, 8, 4)[a]) * (16 // (16, 8, 4)[b])
         for a, b in zip(v["mode_a"][last], v["mode_b"][last])]
    assert (lengths < np.array(K)).sum() > 10 and (lengths == 54).sum() > 5
    assert 0.2 < v["clear"][last].mean() < 0.8
    out = g.array_block(v, R=R, C=C)["result"]
    assert (out == FP32_NAN).sum() >= 4 and ((out & 0x7FFFFFFF) == 0x7F800000).sum() >= 1
    assert (out[:, 0, 0] != out[:, 0, 1]).mean() > 0.5   # the columns see different data


def stream(groups, R=1, C=1, ns=4, clear=1):
    """Beats from [(mode_a, mode_b, length)]: fixed data, ``clear`` on every group but the
    first, which clears."""
    rows = []
    for n, (ma, mb, length) in enumerate(groups):
        for t in range(length):
            rows.append(dict(a=[0x1234] * R, sa=[[0] * ns] * R, mode_a=ma, exp_a=[127] * R,
                             b=[0x4321] * C, sb=[[1] * ns] * C, mode_b=mb, exp_b=[127] * C,
                             last=int(t == length - 1), clear=int(clear or n == 0)))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


@pytest.mark.parametrize("stages", range(g.MAX_STAGES + 1))
def test_cycles_in_steady_state(stages):
    """Groups of max(K, d) beats or more: no stall, and the last output d cycles after the last
    group's final issue: N beats, the p input registers, K conversions, depth d."""
    d, p = g.conv_depth(stages), g.input_registers(stages)
    for R, (ia, ib) in ((1, (0, 0)), (2, (1, 2)), (3, (2, 2))):
        K = R * (16 // (16, 8, 4)[ia]) * (16 // (16, 8, 4)[ib])
        L = max(K, d)
        v = stream([(ia, ib, L)] * 5 + [(ia, ib, L + 3)], R=R)
        N = 6 * L + 3
        assert g.array_cycles(v, R=R, stages=stages) == \
            {"cycles": N + p + K + d, "in_stall": 0, "outputs": 6 * K}


def test_cycles_of_short_groups():
    """A group shorter than the previous group's K conversions waits for them: 4-beat groups
    of 2 x 16 conversions (R = 2, 4 x 4 mode) wait 28 cycles each after the first."""
    v = stream([(2, 2, 4)] * 5, R=2)
    got = g.array_cycles(v, R=2)
    assert got["in_stall"] == 4 * 28
    # the last group's last beat at 4 + 4 * 32, then 32 conversions and d = 3
    assert got["cycles"] == 4 + 4 * 32 + 32 + 3


@pytest.mark.parametrize("stages", [0, 2, 4])
def test_cycles_of_the_conversion_interlock(stages):
    """One-beat groups of one entry (R = 1, 16 x 16): entry 0 is converted every d cycles, so
    every group after the second waits d - 1 cycles (at the input, except the last p groups,
    which wait in the input registers); with R = 2 two entries alternate: a group every
    max(2, d) cycles."""
    d, p = g.conv_depth(stages), g.input_registers(stages)
    got = g.array_cycles(stream([(0, 0, 1)] * 8, clear=0), stages=stages)
    assert got["in_stall"] == (6 - p) * (d - 1)
    assert got["cycles"] == 1 + p + 1 + 7 * d + d
    got = g.array_cycles(stream([(0, 0, 1)] * 8, R=2, clear=0), R=2, stages=stages)
    gap = max(2, d)
    assert got["cycles"] == 1 + p + 1 + 7 * gap + 1 + d
    # groups that clear read no accumulator: no interlock, a group every cycle
    got = g.array_cycles(stream([(0, 0, 1)] * 8), stages=stages)
    assert got == {"cycles": 8 + p + 1 + d, "in_stall": 0, "outputs": 8}


def test_contract_violations_are_rejected():
    v = stream([(0, 0, 3)], R=2, C=2)
    v["mode_b"][0] = 1
    with pytest.raises(ValueError, match="mode_b changes inside the group of beats 0..2"):
        g.array_block(v, R=2, C=2)
    with pytest.raises(ValueError, match="a group of 5 beats is longer than max_beats=4"):
        g.array_block(stream([(0, 0, 5)]), max_beats=4)
    with pytest.raises(ValueError, match=r"mode_a = 3 is not an index into modes=\(16, 8, 4\)"):
        g.array_cycles(stream([(3, 0, 2)]))
    v = stream([(0, 0, 2), (0, 0, 2)])
    v["last"][-1] = 0
    assert len(g.array_block(v)["result"]) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"R": 0}, "R must be an integer in 1..64, not 0"),
    ({"C": 65}, "C must be an integer in 1..64, not 65"),
    ({"modes": (16, 6)}, "modes must be magnitude widths that divide lane_bits=16 (one of 2, 4, "
                         "8, 16), not 6 in (16, 6)"),
    ({"max_beats": 0}, "max_beats must be an integer in 1..65536, not 0"),
    ({"stages": 5}, "stages must be an integer in 0..4, not 5"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError) as info:
        g.array_block(stream([(0, 0, 1)]), **kwargs)
    assert str(info.value) == message
