"""opal_dot: parameter validation, interface, cut points, stage counts from none to all on
Amaranth under heavy back-pressure (small blocks), full throughput, the corner rows explicitly,
and hand-built rows whose results are known facts. The catalogued configurations run on every
backend in tests/sim/test_harness.py and are linted in tests/sim/test_lint.py."""
import numpy as np
import pytest
from amaranth.lib import data

from hw.opal_dot import (DEFAULT_STAGES, HW_DEFAULTS, OpalDot, cut_points, default_stages,
                         steps)
from mxforge.catalogue import BLOCKS
from sim.harness import check, run

BLOCK = BLOCKS["opal_dot"]
HEAVY = (0.5, 0.6)  # stall probabilities: input idle, output not ready
NAN, PINF, NINF = 0x7FC00000, 0x7F800000, 0xFF800000
ONE_BF16 = 0x3F80


def vectors(params, n, seed, corners=True):
    """The block's stimulus: ``n`` random lanes, then (``corners``) the corner rows."""
    v = BLOCK.vectors(seed=seed, n=n, params=params)
    return v if corners else {f: x[:n] for f, x in v.items()}


# -- parameters and interface ------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, message", [
    ({"n": 16, "k": 16}, ValueError,
     "k must be an integer in 1..15 (fewer outliers than the block size n), not 16"),
    ({"k": 128}, ValueError,
     "k must be an integer in 1..127 (fewer outliers than the block size n), not 128"),
    ({"k": 0}, ValueError, "k must be an integer in 1..127"),
    ({"bits": 1}, ValueError, "bits must be an integer in 2..8 (inlier code width), not 1"),
    ({"bits": 9}, ValueError, "bits must be an integer in 2..8 (inlier code width), not 9"),
    ({"w": 1}, ValueError, "w must be an integer in 2..8 (weight code width), not 1"),
    ({"w": 16}, ValueError, "w must be an integer in 2..8 (weight code width), not 16"),
    ({"n": 96}, ValueError,
     ("n must be an integer in 2..1024 and a power of two (the outlier index has log2(n) bits), "
     "not 96")),
    ({"n": 2048}, ValueError, "n must be an integer in 2..1024 and a power of two"),
    ({"n": 1}, ValueError, "n must be an integer in 2..1024 and a power of two"),
    ({"stages": 11}, ValueError,
     "stages must be an integer in 0..10 for k=4 (cut points tree2_add, mul, sum_add, tree1_add, "
     "sum, sel, tree1, tree2, acc_add, acc), not 11"),
    ({"stages": -1}, ValueError,
     "stages must be an integer in 0..10 for k=4 (cut points tree2_add, mul, sum_add, tree1_add, "
     "sum, sel, tree1, tree2, acc_add, acc), not -1"),
    ({"k": 1, "stages": 7}, ValueError,
     "stages must be an integer in 0..6 for k=1 (cut points sum_add, sel, sum, mul, acc_add, "
     "acc), not 7"),
    ({"n": 128.0}, TypeError, "n must be an integer in 2..1024"),
    ({"bits": "3"}, TypeError, "bits must be an integer in 2..8 (inlier code width), not '3'"),
    ({"stages": True}, TypeError, "stages must be an integer in 0..10 for k=4"),
    ({"stages": 1.0}, TypeError, "stages must be an integer in 0..10 for k=4"),
])
def test_bad_parameters_name_the_parameter(kwargs, exc, message):
    with pytest.raises(exc) as info:
        OpalDot(**kwargs)
    assert message in str(info.value)


def test_catalogue_entry():
    # every step registered but the output: the fewest cuts that meet 10 ns
    assert BLOCK.defaults["stages"] == DEFAULT_STAGES == default_stages(4) == len(steps(4)) - 1
    assert HW_DEFAULTS == {"stages": DEFAULT_STAGES}
    with pytest.raises(ValueError, match="k must be an integer in 1..15"):
        BLOCK.checked_build(n=16, k=20)
    with pytest.raises(ValueError, match="stages must be an integer in 0..10 for k=4"):
        BLOCK.checked_build(stages=11)


@pytest.mark.parametrize("n, k, bits, w", [(128, 4, 3, 8), (16, 3, 8, 4), (2, 1, 2, 2)])
def test_interface(n, k, bits, w):
    d = OpalDot(n=n, k=k, bits=bits, w=w)
    assert d.in_layout == data.StructLayout({
        "scale": 8, "codes": data.ArrayLayout(bits, n), "outliers": data.ArrayLayout(16, k),
        "idx": data.ArrayLayout((n - 1).bit_length(), k), "w_scale": 8,
        "w": data.ArrayLayout(w, n), "acc": 32})
    assert d.out_layout == data.StructLayout({"result": 32})
    assert (d.n, d.k, d.bits, d.w) == (n, k, bits, w)
    assert d.latency == d.stages == default_stages(k) and d.cuts == cut_points(k)[:-1]
    # |I| <= n * 2**(b-1) * 2**(w-1): the sum's magnitude width, from the extreme codes
    assert d.sum_bits == (n * 2 ** (bits - 1) * 2 ** (w - 1)).bit_length()


def test_steps_and_cut_points():
    assert steps(1) == ("sel", "mul", "sum_add", "sum", "acc_add", "acc")
    assert steps(2) == ("sel", "mul", "tree1_add", "tree1", "sum_add", "sum", "acc_add", "acc")
    assert steps(4) == steps(3) == ("sel", "mul", "tree1_add", "tree1", "tree2_add", "tree2",
                                    "sum_add", "sum", "acc_add", "acc")
    assert len(steps(5)) == 12 and len(steps(1023)) == 26
    # bisection of the chain: the first register after the second level's significand sum
    assert cut_points(4) == ("tree2_add", "mul", "sum_add", "tree1_add", "sum", "sel", "tree1",
                             "tree2", "acc_add", "acc")
    assert cut_points(1) == ("sum_add", "sel", "sum", "mul", "acc_add", "acc")
    for k in list(range(1, 40)) + [127, 1023]:
        assert sorted(cut_points(k)) == sorted(steps(k))


# -- simulation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, k, bits, w, stages", [
    # k = 4 (two tree levels): none, the first few, every step
    *[(8, 4, 3, 8, s) for s in (0, 1, 2, 3, 6, len(steps(4)))],
    # k = 1 (no tree: I's conversion beside the products)
    *[(4, 1, 5, 8, s) for s in (0, 1, 2, 4, len(steps(1)))],
    # k = 5 (an odd term passing through two levels): none, every other step, every step
    *[(8, 5, 8, 2, s) for s in (0, 2, 3, len(steps(5)))],
    # the smallest block, and wide codes in a block of 32
    (2, 1, 2, 2, 1), (32, 3, 8, 8, 2),
])
def test_every_stage_count_under_backpressure(n, k, bits, w, stages):
    """Random lanes (40 % of them arbitrary fields: repeated indices, specials, any scale);
    the corner rows run in test_corner_rows."""
    params = BLOCK.params(n=n, k=k, bits=bits, w=w, stages=stages)
    v = vectors(params, 100, seed=n + k + stages, corners=False)
    check(BLOCK, params, v, backend="amaranth", stalls=HEAVY, seed=stages)


@pytest.mark.parametrize("stages", [0, 5])
def test_full_throughput(stages):
    """One block per cycle when nothing stalls: n blocks in n + latency cycles."""
    params = BLOCK.params(n=8, k=4, bits=3, w=8, stages=stages)
    v = vectors(params, 60, seed=1)
    r = run(BLOCK, params, v, stalls=False)
    assert r.stats["cycles"] <= len(v["acc"]) + stages + 1
    assert list(r.outputs["result"]) == list(BLOCK.golden(v, **params)["result"])


@pytest.mark.parametrize("overrides", [
    {}, {"n": 16, "k": 3, "bits": 8, "w": 4, "stages": 5}, {"n": 8, "k": 1, "stages": 3}])
def test_corner_rows(overrides):
    """golden.opal's corner rows (extreme codes and scales, Inf/NaN outliers against zero and
    nonzero weights, NaN scales, special accumulators, exact cancellation, every index
    position) under back-pressure."""
    params = BLOCK.params(**overrides)
    v = vectors(params, 0, seed=4)
    assert len(v["acc"]) >= 60
    check(BLOCK, params, v, backend="amaranth", stalls=HEAVY, seed=1)


def _row(n, k, **fields):
    base = {"scale": 127, "codes": [0] * n, "outliers": [0] * k, "idx": list(range(k)),
            "w_scale": 127, "w": [0] * n, "acc": 0}
    base.update(fields)
    return base


def test_known_results():
    """Hand-built rows (n = 8, k = 2, b = 3, w = 8) whose results follow from IEEE 754 and the
    lane's definition alone (``check`` compares them with the golden model as well)."""
    n, k = 8, 2
    rows, want = [], []

    def add(expect, **fields):
        rows.append(_row(n, k, **fields))
        want.append(expect)

    def at(pairs):
        v = [0] * n
        for i, x in pairs:
            v[i] = x
        return v

    # scale 128 (E_a - (b-2) = 0) and w_scale 133 (E_w - (w-2) = 0): integers at unit weight
    add(0x40A00000, scale=128, w_scale=133, codes=at([(0, 1), (1, 2)]),
        w=at([(0, 1), (1, 2)]))                                           # 1*1 + 2*2 = 5.0
    add(0x40400000, w_scale=133, outliers=[ONE_BF16, ONE_BF16], idx=[3, 0],
        w=at([(3, 3)]))                                                   # 1.0*3 + 1.0*0
    # Inf outliers: against a zero weight NaN, against -1 -Inf; +Inf + -Inf in the tree NaN
    add(NAN, outliers=[0x7F80, ONE_BF16], idx=[1, 2], w=at([(2, 1)]))
    add(NINF, outliers=[0x7F80, 0], idx=[1, 2], w=at([(1, 0xFF)]))
    add(NAN, outliers=[0x7F80, 0xFF80], idx=[0, 0], w=[1] * n)
    # a NaN scale on either side: the canonical NaN whatever the rest is
    add(NAN, scale=255, codes=[1] * n, w=[1] * n, acc=0x3F800000)
    add(NAN, w_scale=255, acc=0xBF800000)
    # I_f = 2.0 cancels t = -2.0 exactly: +0
    add(0, scale=128, w_scale=133, codes=at([(2, 2)]), w=at([(2, 1)]), outliers=[0xC000, 0],
        idx=[2, 0])
    # signed zeros: -0 + (+0 + +0) = +0; -0 + (I_f = -0 from I = -1 far below the subnormals,
    # + t = -0 * 1 + -0 * 0 = -0) = -0
    add(0, acc=0x80000000)
    add(0x80000000, acc=0x80000000, scale=0, w_scale=0, codes=at([(0, 7)]), w=at([(0, 1)]),
        outliers=[0x8000, 0x8000], idx=[0, 1])
    # I_f overflow: 8 * 3 * 127 * 2**(126 + 121) > FP32 max: +Inf
    add(PINF, scale=254, w_scale=254, codes=[3] * n, w=[127] * n)
    # I_f at the subnormal bottom: I * 2**-149 with I = 1; I * 2**-150 with I = 1 (tie to
    # even: 0) and I = 3 (1.5 ulps: 2 ulps)
    add(0x00000001, scale=12, w_scale=100, codes=at([(0, 1)]), w=at([(0, 1)]))
    add(0x00000000, scale=11, w_scale=100, codes=at([(0, 1)]), w=at([(0, 1)]))
    add(0x00000002, scale=11, w_scale=100, codes=at([(0, 3)]), w=at([(0, 1)]))
    # outlier products: BF16 max * 127 * 2**-6 overflows: +Inf; the smallest BF16 subnormal
    # 2**-133 * 3 * 2**(116 - 133) = 1.5 * 2**-149 rounds to 2 * 2**-149
    add(PINF, outliers=[0x7F7F, 0], idx=[5, 0], w=at([(5, 127)]))
    add(0x00000002, w_scale=116, outliers=[0x0001, 0], idx=[4, 0], w=at([(4, 3)]))
    # the accumulator's own specials pass through: c = -Inf, c = NaN
    add(NINF, acc=NINF, codes=[1] * n, w=[1] * n)
    add(NAN, acc=0x7FC00001)
    v = {f: np.array([r[f] for r in rows], dtype=np.int64) for f in rows[0]}
    params = BLOCK.params(n=n, k=k, bits=3, w=8, stages=2)
    got = check(BLOCK, params, v, backend="amaranth", stalls=HEAVY, seed=5).outputs["result"]
    assert [int(x) for x in got] == want
