"""bfp_dot: parameter validation, interface, the stimulus, and targeted simulations beyond the
catalogue's configurations (every ``stages`` value, ma != mb, G = 1, the widest products 24 x 24,
the largest FlexBlock group on Verilator). The catalogue's configurations run in
tests/sim/test_harness.py."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import bfp
from golden.accumulate import FP32_NAN
from hw.bfp_dot import DEFAULT_STAGES, G_MAX, BfpDot, cut_points
from mxforge.catalogue import Block
from sim.harness import check
from sim.tools import require

#: a local catalogue entry, so that any configuration can be simulated
BLOCK = Block(
    name="bfp_dot", generator=BfpDot, golden=bfp.dot_block, stimulus=bfp.dot_stimulus,
    exhaustive_size=bfp.dot_space,
    defaults={"G": bfp.DEFAULT_G, "ma": bfp.DEFAULT_M, "mb": bfp.DEFAULT_M,
              "stages": DEFAULT_STAGES})


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"G": 0}, ValueError, "G must be an integer in 1..256, not 0"),
    ({"G": 257}, ValueError, "G must be an integer in 1..256, not 257"),
    ({"G": "54"}, TypeError, "G must be an integer in 1..256, not '54'"),
    ({"G": True}, TypeError, "G must be an integer in 1..256, not True"),
    ({"ma": 1}, ValueError, "ma must be an integer in 2..24, not 1"),
    ({"ma": 25}, ValueError, "ma must be an integer in 2..24, not 25"),
    ({"mb": 0}, ValueError, "mb must be an integer in 2..24, not 0"),
    ({"mb": 8.0}, TypeError, "mb must be an integer in 2..24, not 8.0"),
    ({"G": 216, "stages": 10}, ValueError,
     "stages must be an integer in 0..9 for G=216 (cut points sum, mul, align, shift, norm, "
     "out, tree2, tree4, tree6), not 10"),
    ({"stages": -1}, ValueError, "stages must be an integer in 0..8 for G=54"),
    ({"G": 1, "stages": 6}, ValueError,
     "stages must be an integer in 0..5 for G=1 (cut points mul, align, shift, norm, out), "
     "not 6"),
    ({"stages": "3"}, TypeError, "stages must be an integer in 0..8 for G=54"),
])
def test_bad_parameters_name_the_parameter(kwargs, exc, message):
    with pytest.raises(exc) as info:
        BfpDot(**kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize("G, ma, mb", [(54, 16, 16), (216, 4, 4), (2, 24, 2), (7, 16, 8)])
def test_interface(G, ma, mb):
    d = BfpDot(G=G, ma=ma, mb=mb)
    assert d.in_layout == data.StructLayout({
        "exp_a": 8, "signs_a": data.ArrayLayout(1, G), "mags_a": data.ArrayLayout(ma, G),
        "exp_b": 8, "signs_b": data.ArrayLayout(1, G), "mags_b": data.ArrayLayout(mb, G),
        "acc": 32})
    assert d.out_layout == data.StructLayout({"result": 32})
    assert (d.G, d.ma, d.mb) == (G, ma, mb)
    assert d.latency == d.stages == DEFAULT_STAGES
    # the sum word holds G maximal products exactly, and no more
    big = G * ((1 << ma) - 1) * ((1 << mb) - 1)
    assert big < 1 << d.sum_bits <= 2 * big
    assert d.window_bits == d.sum_bits + 25


def test_defaults_are_flexblock_16_bit_mode():
    d = BfpDot()
    assert (d.G, d.ma, d.mb) == (bfp.DEFAULT_G, bfp.DEFAULT_M, bfp.DEFAULT_M) == (54, 16, 16)


def test_cut_points_and_latency():
    assert cut_points(G_MAX) == ("sum", "mul", "align", "shift", "norm", "out", "tree2", "tree4",
                                 "tree6")
    for G in (1, 2, 54, 216):
        n = len(cut_points(G))
        assert BfpDot(G=G, stages=n).latency == n


@pytest.mark.parametrize("G, ma, mb", [(54, 16, 16), (216, 4, 4), (1, 2, 2), (5, 24, 3)])
def test_stimulus_is_valid_and_reaches_every_result_class(G, ma, mb):
    v = bfp.dot_stimulus(np.random.default_rng(0), 300, G=G, ma=ma, mb=mb)
    n = len(v["acc"])
    assert v["mags_a"].shape == (n, G) and v["mags_b"].shape == (n, G)
    for side, m in (("a", ma), ("b", mb)):
        assert 0 <= v["mags_" + side].min() and v["mags_" + side].max() < 1 << m
        assert set(np.unique(v["signs_" + side])) <= {0, 1}
        assert 0 <= v["exp_" + side].min() and v["exp_" + side].max() <= 255
    assert 0 <= v["acc"].min() and v["acc"].max() < 1 << 32
    r = bfp.dot_block(v, G=G, ma=ma, mb=mb)["result"]
    e, f, s = (r >> 23) & 0xFF, r & 0x7FFFFF, r >> 31
    assert np.any(r == 0) and np.any(r == 1 << 31)                   # +0 and -0 (underflow)
    assert np.any((e == 0) & (f != 0) & (s == 0)) and np.any((e == 0) & (f != 0) & (s == 1))
    assert np.any(r == 0x7F800000) and np.any(r == 0xFF800000)       # overflow / Inf c
    assert np.any(r == FP32_NAN)
    # the random part cancels: results (zeros included) far below a normal accumulator
    acc_e = (v["acc"][:300] >> 23) & 0xFF
    assert np.sum((acc_e > 30) & (acc_e < 255) & (e[:300] < acc_e - 10)) >= 15
    names, _ = bfp.dot_corners(np.random.default_rng(0), G, ma, mb)
    assert any("overflow edge" in x for x in names)


@pytest.mark.parametrize("stages", range(len(cut_points(20)) + 1))
def test_every_stage_count_matches_golden(stages):
    params = BLOCK.params(G=20, ma=5, mb=3, stages=stages)
    check(BLOCK, params, BLOCK.vectors(seed=stages, n=150, **params), backend="amaranth",
          stalls=True, seed=stages)


@pytest.mark.parametrize("G, ma, mb, stages", [
    (1, 2, 2, 0), (1, 24, 24, 3), (3, 24, 24, 2), (7, 16, 8, 4), (12, 2, 24, 1), (17, 24, 24, 6)])
def test_configs_beyond_the_catalogue_match_golden(G, ma, mb, stages):
    params = BLOCK.params(G=G, ma=ma, mb=mb, stages=stages)
    check(BLOCK, params, BLOCK.vectors(seed=G, n=300, **params), backend="amaranth",
          stalls=True, seed=G)


def test_exact_zero_is_positive_and_tiny_negative_underflow_is_negative_zero():
    params = BLOCK.params(G=2, ma=4, mb=4, stages=0)
    vectors = {  # 64 - 64 + (-0) and 0 + (-0): +0; ±2**-260 + (±0) underflow: ±0
        "exp_a": np.array([127, 127, 0, 0]), "exp_b": np.array([127, 130, 0, 0]),
        "signs_a": np.array([[0, 0], [0, 1], [0, 0], [1, 0]]),
        "mags_a": np.array([[8, 8], [0, 0], [1, 0], [1, 0]]),
        "signs_b": np.array([[0, 1], [0, 0], [0, 0], [0, 0]]),
        "mags_b": np.array([[8, 8], [0, 0], [1, 0], [1, 0]]),
        "acc": np.array([1 << 31, 1 << 31, 0, 1 << 31]),
    }
    out = check(BLOCK, params, vectors, backend="amaranth", stalls=False).outputs["result"]
    assert list(out) == [0, 0, 0, 1 << 31]


def test_flexblock_4_bit_group_on_verilator():
    require("verilator")
    params = BLOCK.params(G=216, ma=4, mb=4, stages=len(cut_points(216)))
    check(BLOCK, params, BLOCK.vectors(seed=3, n=300, **params), backend="verilator",
          stalls=True, seed=3)
