"""bfp_array beyond the catalogue's plan (which runs its four 2 x 2 configurations on Amaranth,
Verilator and Icarus): ports, parameter errors, bit-exact against golden.bfp_array with random
back-pressure on Amaranth at other shapes (1 x 1, 2 x 1 with two units per column, 4 x 4 with
two), every stage count, and the cycle count of a stall-free run equal to
golden.bfp_array.array_cycles (tests/test_array_mapping.py checks the RTL's cycles on the
compiled simulators)."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import bfp_array as g
from hw.bfp_array import CUTS, MAX_STAGES, BfpArray
from mxforge.catalogue import get_block
from sim.harness import check

BLOCK = get_block("bfp_array")
PAIRS = [(a, b) for a in range(3) for b in range(3)]


def test_ports_and_sizes():
    dut = BfpArray(R=2, C=3)
    assert dut.in_layout == data.StructLayout({
        "a": data.ArrayLayout(16, 2), "sa": data.ArrayLayout(data.ArrayLayout(1, 4), 2),
        "mode_a": 2, "exp_a": data.ArrayLayout(8, 2),
        "b": data.ArrayLayout(16, 3), "sb": data.ArrayLayout(data.ArrayLayout(1, 4), 3),
        "mode_b": 2, "exp_b": data.ArrayLayout(8, 3), "last": 1, "clear": 1})
    assert dut.out_layout == data.StructLayout({
        "result": data.ArrayLayout(data.ArrayLayout(32, 3), 1), "row": 1, "i": 2, "j": 2,
        "last": 1})
    assert dut.entries == 32 and dut.latency == 4 and dut.conv_depth == 3
    assert dut.acc_bits[0] == 39 and dut.acc_bits[15] == 15
    assert [BfpArray(stages=s).conv_depth for s in range(MAX_STAGES + 1)] == \
        [g.conv_depth(s) for s in range(MAX_STAGES + 1)] == [1, 2, 3, 4, 4]
    assert CUTS[:3] == ("align", "shift", "norm") and MAX_STAGES == g.MAX_STAGES
    assert BfpArray(R=4, C=1, modes=(16,)).entries == 4
    assert BfpArray(R=4, C=1, units=2).entries == 32


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"R": 0}, ValueError, "R must be an integer in 1..64, not 0"),
    ({"C": 0}, ValueError, "C must be an integer in 1..64, not 0"),
    ({"C": 2.0}, TypeError, "C must be an integer in 1..64, not 2.0"),
    ({"modes": (16, 6)}, ValueError,
     "modes must be magnitude widths that divide lane_bits=16 (one of 2, 4, 8, 16), "
     "not 6 in (16, 6)"),
    ({"modes": (12,)}, ValueError,
     "modes must be magnitude widths that divide lane_bits=16 (one of 2, 4, 8, 16), "
     "not 12 in (12,)"),
    ({"max_beats": 0}, ValueError, "max_beats must be an integer in 1..65536, not 0"),
    ({"R": 4, "units": 3}, ValueError, "units must divide R=4 (one of 1, 2, 4), not 3"),
    ({"R": 2, "units": 4}, ValueError, "units must be an integer in 1..2, not 4"),
    ({"max_beats": 1 << 17}, ValueError,
     "max_beats must be an integer in 1..65536, not 131072"),
    ({"stages": 5}, ValueError,
     "stages must be an integer in 0..4 (cut points align, shift, norm, in), not 5"),
])
def test_bad_parameters(kwargs, exc, message):
    with pytest.raises(exc) as info:
        BfpArray(**kwargs)
    assert str(info.value) == message


def small(R, C, seed, n=60, **params):
    """The stimulus with short groups (max_beats 12: fast on Amaranth, every corner kept)."""
    p = {"R": R, "C": C, "max_beats": 12, **params}
    return p, BLOCK.vectors(seed=seed, n=n, **p)


@pytest.mark.parametrize("R, C, units", [(1, 1, 1), (2, 1, 2), (4, 4, 2)])
def test_amaranth_back_pressure(R, C, units):
    p, v = small(R, C, seed=R, units=units, n=60 if R < 4 else 30)
    check(BLOCK, p, v, backend="amaranth", stalls=(0.3, 0.4), seed=R)


@pytest.mark.parametrize("modes", [(16,), (8,), (4,)])
def test_single_mode_baselines(modes):
    p, v = small(2, 2, seed=len(modes) + modes[0], modes=modes)
    check(BLOCK, p, v, backend="amaranth", stalls=(0.2, 0.3), seed=modes[0])


@pytest.mark.parametrize("stages", [0, 3, MAX_STAGES])
def test_no_stall_cycles_equal_the_golden_cycle_function(stages):
    """No stalls on either side: the measured cycles and input stalls are array_cycles' (the
    stimulus has short groups, one-beat groups and mode switches); then the same under
    back-pressure. Stages 0 (no conversion register), 3 (all three) and 4 (the input register as
    well); the default, 2, is measured on Verilator by tests/test_array_mapping.py."""
    p, v = small(2, 1, seed=10 + stages, n=40, stages=stages)
    r = check(BLOCK, p, v, backend="amaranth", stalls=False)
    want = g.array_cycles(v, **BLOCK.params(**p))
    assert {k: r.stats[k] for k in ("cycles", "in_stall", "outputs")} == want
    assert want["in_stall"] > 0
    check(BLOCK, p, v, backend="amaranth", stalls=(0.3, 0.5), seed=stages)


def groups(rng, pairs, lengths, R, C, ns=4):
    """Random beats, one group per mode pair of ``pairs`` with the given lengths; no clear."""
    rows = {k: [] for k in ("a", "sa", "mode_a", "exp_a", "b", "sb", "mode_b", "exp_b",
                            "last", "clear")}
    for (ia, ib), n in zip(pairs, lengths):
        rows["a"].append(rng.integers(0, 1 << 16, (n, R)))
        rows["b"].append(rng.integers(0, 1 << 16, (n, C)))
        rows["sa"].append(rng.integers(0, 2, (n, R, ns)))
        rows["sb"].append(rng.integers(0, 2, (n, C, ns)))
        rows["mode_a"].append(np.full(n, ia))
        rows["mode_b"].append(np.full(n, ib))
        rows["exp_a"].append(rng.integers(110, 140, (n, R)))
        rows["exp_b"].append(rng.integers(110, 140, (n, C)))
        rows["last"].append(np.arange(n) == n - 1)
        rows["clear"].append(np.zeros(n, dtype=np.int64))
    return {k: np.concatenate(x).astype(np.int64) for k, x in rows.items()}


def test_steady_state_takes_a_beat_every_cycle():
    """Groups in every mode pair, each at least d beats and as long as its own and its
    predecessor's R * n_a * n_b conversions: no input stall, and the last output leaves
    p + K + d cycles after the last beat."""
    R, C = 2, 2
    rng = np.random.default_rng(3)
    pairs = [pair for pair in PAIRS for _ in range(2)]
    K = [R * (16 // g.MODES[a]) * (16 // g.MODES[b]) for a, b in pairs]
    lengths = [max(k, K[t - 1] if t else 0, 3) for t, k in enumerate(K)]
    v = groups(rng, pairs, lengths, R, C)
    r = check(BLOCK, {"R": R, "C": C}, v, backend="amaranth", stalls=False)
    assert r.stats["in_stall"] == 0 and r.stats["cycles"] == sum(lengths) + K[-1] + 3


def test_short_groups_stall_and_stay_exact():
    """4-beat groups of 32 conversions (2 x 2 array, 4 x 4 mode): each waits 28 cycles for the
    previous group's conversions; with the output back-pressured as well the results stay
    exact."""
    rng = np.random.default_rng(8)
    v = groups(rng, [(2, 2)] * 5, [4] * 5, 2, 2)
    r = check(BLOCK, {}, v, backend="amaranth", stalls=False)
    assert r.stats["in_stall"] == 4 * 28
    check(BLOCK, {}, v, backend="amaranth", stalls=(0.0, 0.5), seed=1)
