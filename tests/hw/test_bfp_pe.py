"""bfp_pe: interface, parameter errors, no bubbles in steady state for every mode pair, stalls
only where the contract says (short groups, and the conversion interlock), the latency, every
stage count under back-pressure, and the per-group results against the bfp_dot block on the same
data. The catalogue's random + corner streams run in tests/sim/test_harness.py."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import bfp_pe as g
from hw.bfp_pe import CUTS, DEFAULT_STAGES, MAX_STAGES, BfpPe
from hw.lib.accumulate import STEP_CUTS
from mxforge.catalogue import BLOCKS
from sim.harness import check

BLOCK = BLOCKS["bfp_pe"]
MODES = (16, 8, 4)
PAIRS = [(a, b) for a in range(3) for b in range(3)]


def test_ports_and_sizes():
    dut = BfpPe()
    assert dut.in_layout == data.StructLayout({
        "a": 16, "sa": data.ArrayLayout(1, 4), "mode_a": 2, "exp_a": 8,
        "b": 16, "sb": data.ArrayLayout(1, 4), "mode_b": 2, "exp_b": 8, "last": 1, "clear": 1})
    assert dut.out_layout == data.StructLayout({"result": 32, "row": 2, "col": 2, "last": 1})
    assert dut.slots == 16 and dut.latency == 4 and dut.conv_depth == 3
    # slot 0 takes a 16x16 product: 32 bits + log2(64) beats + sign
    assert dut.acc_bits[0] == 39 and dut.acc_bits[15] == 8 + 6 + 1
    assert dut.peak_macs[16, 16] == 1 and dut.peak_macs[8, 8] == 4 and dut.peak_macs[4, 4] == 16
    single = BfpPe(modes=(16,))
    assert single.slots == 1 and single.in_layout.size == 2 * (16 + 1 + 1 + 8) + 2
    assert [BfpPe(stages=s).latency for s in range(MAX_STAGES + 1)] == [2, 3, 4, 5, 6, 7]
    assert [BfpPe(stages=s).conv_depth for s in range(MAX_STAGES + 1)] == [1, 2, 3, 4, 4, 4]
    assert set(CUTS) == set(STEP_CUTS) | {"mul", "form"} and len(CUTS) == MAX_STAGES
    assert dut.cuts == ("align", "shift") and dut.stages == DEFAULT_STAGES


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"modes": (16, 6)}, ValueError,
     "modes must be magnitude widths that divide lane_bits=16 (one of 2, 4, 8, 16), "
     "not 6 in (16, 6)"),
    ({"modes": 16}, ValueError,
     "modes must be a non-empty tuple of magnitude widths that divide lane_bits=16, not 16"),
    ({"lane_bits": 0}, ValueError, "lane_bits must be an integer in 2..64, not 0"),
    ({"max_beats": 0}, ValueError, "max_beats must be an integer in 1..65536, not 0"),
    ({"stages": 6}, ValueError,
     "stages must be an integer in 0..5 (cut points align, shift, norm, mul, form), not 6"),
    ({"stages": "1"}, TypeError,
     "stages must be an integer in 0..5"
     " (cut points align, shift, norm, mul, form), not '1'"),
])
def test_bad_parameters(kwargs, exc, message):
    with pytest.raises(exc) as info:
        BfpPe(**kwargs)
    assert str(info.value) == message


def groups(rng, pairs, length, lane_bits=16, modes=MODES, clear_first=True):
    """A beat stream of one group per (mode_a, mode_b) in ``pairs``, ``length`` beats each
    (an int, a callable of the pair's product count, or a sequence with one per group), random
    data."""
    ns = lane_bits // min(modes)
    rows = {k: [] for k in ("a", "sa", "mode_a", "exp_a", "b", "sb", "mode_b", "exp_b", "last",
                            "clear")}
    for k, (ia, ib) in enumerate(pairs):
        P = (lane_bits // modes[ia]) * (lane_bits // modes[ib])
        n = length(P) if callable(length) else length[k] if np.iterable(length) else length
        rows["a"].append(rng.integers(0, 1 << lane_bits, n))
        rows["b"].append(rng.integers(0, 1 << lane_bits, n))
        rows["sa"].append(rng.integers(0, 2, (n, ns)))
        rows["sb"].append(rng.integers(0, 2, (n, ns)))
        rows["mode_a"].append(np.full(n, ia))
        rows["mode_b"].append(np.full(n, ib))
        rows["exp_a"].append(rng.integers(100, 150, n))
        rows["exp_b"].append(rng.integers(100, 150, n))
        rows["last"].append(np.arange(n) == n - 1)
        rows["clear"].append(np.full(n, int(k == 0 and clear_first)))
    return {k: np.concatenate(v).astype(np.int64) for k, v in rows.items()}


@pytest.mark.parametrize("ia, ib", PAIRS)
def test_no_bubbles_in_steady_state(ia, ib):
    """FlexBlock's 54-beat groups, and groups exactly as long as the products per beat or the
    conversion depth, whichever is more: with the output always ready, the PE takes a beat
    every cycle (no input stall at all)."""
    rng = np.random.default_rng(ia * 3 + ib)
    depth = BfpPe().conv_depth
    for length in (54, lambda P: max(P, depth)):
        v = groups(rng, [(ia, ib)] * 6, length)
        r = check(BLOCK, {}, v, backend="amaranth", stalls=False)
        assert r.stats["in_stall"] == 0 and r.stats["in_idle"] == 0
        assert r.stats["outputs"] == 6 * g.product_counts(16, MODES)[MODES[ia], MODES[ib]]


def test_mode_switch_every_group_without_bubbles():
    rng = np.random.default_rng(7)
    order = PAIRS + PAIRS[::-1]
    v = groups(rng, order, 16)
    r = check(BLOCK, {}, v, backend="amaranth", stalls=False)
    assert r.stats["in_stall"] == 0


def test_short_groups_stall_and_stay_exact():
    """A group shorter than its product count cannot be converted in time: the PE holds its
    input back (and stays bit-exact), by the number of missing cycles."""
    rng = np.random.default_rng(8)
    v = groups(rng, [(2, 2)] * 5, 4)  # 16 products, 4 beats: 12 cycles short per group
    r = check(BLOCK, {}, v, backend="amaranth", stalls=False)
    # groups 2..5 each wait 12 cycles with their last beat held at the input (the default
    # stages put no register before the accumulators)
    assert BfpPe().cuts == ("align", "shift") and r.stats["in_stall"] == 4 * 12


def test_latency_is_measured():
    """One group alone (2 beats, 8 x 8 mode: 4 results): the first result leaves ``latency``
    cycles after the group's last beat, the others one per cycle, at every stage count."""
    rng = np.random.default_rng(5)
    v = groups(rng, [(1, 1)], 2)
    for stages in range(MAX_STAGES + 1):
        r = check(BLOCK, {"stages": stages}, v, backend="amaranth", stalls=False)
        assert r.stats["cycles"] == 2 + BfpPe(stages=stages).latency + 3


@pytest.mark.parametrize("stages", [0, DEFAULT_STAGES, MAX_STAGES])
def test_one_beat_groups_wait_for_the_conversion(stages):
    """The interlock's cost, counted: one-beat groups in 16 x 16 mode (one slot) convert slot 0
    back to back, so each group but the first two waits ``conv_depth - 1`` cycles for the
    previous conversion's write-back (at the input, but for the last groups, which wait in the
    registers before the accumulators); groups of ``conv_depth`` beats never wait."""
    dut = BfpPe(stages=stages)
    depth, inside = dut.conv_depth, len(set(dut.cuts) - set(STEP_CUTS))
    rng = np.random.default_rng(stages)
    v = groups(rng, [(0, 0)] * 8, 1, clear_first=False)
    assert check(BLOCK, {"stages": stages}, v, backend="amaranth",
                 stalls=False).stats["in_stall"] == (6 - inside) * (depth - 1)
    v = groups(rng, [(0, 0)] * 8, depth, clear_first=False)
    assert check(BLOCK, {"stages": stages}, v, backend="amaranth",
                 stalls=False).stats["in_stall"] == 0


@pytest.mark.parametrize("stages", [1, DEFAULT_STAGES, MAX_STAGES])
def test_back_to_back_short_groups_in_every_mode_pair(stages):
    """Groups of 1 to conv_depth beats, back to back in every mode pair and across mode
    switches, adding to the same FP32 accumulators (no clear): every conversion reads the
    previous one's result, with the output always ready and with heavy back-pressure (the input
    never idles, so the groups stay back to back)."""
    depth = BfpPe(stages=stages).conv_depth
    rng = np.random.default_rng(30 + stages)
    pairs = [pair for pair in PAIRS for _ in range(depth)]
    lengths = [1 + k % depth for k in range(len(pairs))]
    v = groups(rng, pairs, lengths, clear_first=False)
    for stalls in (False, (0.0, 0.5)):
        check(BLOCK, {"stages": stages}, v, backend="amaranth", stalls=stalls, seed=stages)


@pytest.mark.parametrize("stages", range(MAX_STAGES + 1))
def test_stage_counts_under_back_pressure(stages):
    v = BLOCK.vectors(seed=stages, n=400, stages=stages)
    check(BLOCK, {"stages": stages}, v, backend="amaranth", stalls=(0.3, 0.5), seed=stages)


@pytest.mark.parametrize("lane_bits, modes", [(24, (24, 12, 8, 6)), (8, (8, 2)), (16, (16, 4))])
def test_other_lanes_and_mode_sets(lane_bits, modes):
    params = {"lane_bits": lane_bits, "modes": modes, "max_beats": 20}
    v = BLOCK.vectors(seed=3, n=300, **params)
    check(BLOCK, params, v, backend="amaranth", stalls=True)


def test_long_groups():
    """Groups up to 200 beats (wider integer accumulators than the catalogue's 64)."""
    v = BLOCK.vectors(seed=9, n=1500, max_beats=200)
    r = check(BLOCK, {"max_beats": 200}, v, backend="amaranth", stalls=True, seed=9)
    assert r.stats["outputs"] > 100


@pytest.mark.parametrize("ia, ib", PAIRS)
def test_per_group_results_equal_the_bfp_dot_block(ia, ib):
    """The PE's per-group FP32 results equal the ``bfp_dot`` RTL on the same data: each
    (group, row, col) becomes one bfp_dot vector (sub-word stream i of a, j of b, the group's
    exponents, and as accumulator the PE's previous result for that slot, or +0 after clear)."""
    from sim.harness import simulate
    L = 8
    rng = np.random.default_rng(20 + ia * 3 + ib)
    v = groups(rng, [(ia, ib)] * 4, L)
    v["clear"][2 * L:3 * L] = 1  # the third group restarts from +0
    pe = simulate(BLOCK, {}, v, backend="amaranth", stalls=True, n_out=4 * (
        g.product_counts(16, MODES)[MODES[ia], MODES[ib]]))
    ma, mb = MODES[ia], MODES[ib]
    na, nb = 16 // ma, 16 // mb
    rows = {k: [] for k in ("exp_a", "signs_a", "mags_a", "exp_b", "signs_b", "mags_b", "acc")}
    prev = {}
    k = 0
    for grp in range(4):
        sl = slice(grp * L, (grp + 1) * L)
        for s in range(na * nb):
            i, j = divmod(s, nb)
            rows["exp_a"].append(v["exp_a"][sl][-1])
            rows["exp_b"].append(v["exp_b"][sl][-1])
            rows["signs_a"].append(v["sa"][sl][:, i])
            rows["signs_b"].append(v["sb"][sl][:, j])
            rows["mags_a"].append((v["a"][sl] >> (i * ma)) & ((1 << ma) - 1))
            rows["mags_b"].append((v["b"][sl] >> (j * mb)) & ((1 << mb) - 1))
            rows["acc"].append(0 if v["clear"][sl][-1] else prev.get(s, 0))
            assert (pe["row"][k], pe["col"][k]) == (i, j)
            prev[s] = int(pe["result"][k])
            k += 1
    dot = simulate(BLOCKS["bfp_dot"], {"G": L, "ma": ma, "mb": mb},
                   {key: np.array(val) for key, val in rows.items()}, backend="amaranth")
    assert dot["result"].tolist() == pe["result"].tolist()
