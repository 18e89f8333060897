"""bfp_quantize: parameter validation, interface, stage table, the block against the golden model
through ``sim.harness.check`` (random valid/ready stalls) at every stage count and rounding, at
the extreme widths and group sizes, G = 216 on Verilator, and the stimulus' corner classes.

The block entry is built here (``BLOCK``), so these tests do not depend on the catalogue; the
catalogued configurations also run in tests/sim/test_harness.py and tests/sim/test_lint.py."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import bfp
from hw.bfp_quantize import (CUTS, DEFAULT_STAGES, MAX_G, MAX_RBITS, MAX_STAGES, ROUNDINGS,
                             BfpQuantize)
from hw.lib.export import to_verilog
from mxforge.catalogue import Block
from sim.harness import check, run
from sim.tools import require
from sim.lint import lint_verilator

BLOCK = Block(
    name="bfp_quantize",
    generator=BfpQuantize,
    golden=bfp.quantize_block,
    stimulus=bfp.quantize_stimulus,
    exhaustive_size=bfp.quantize_space,
    defaults={"G": bfp.DEFAULT_G, "m": bfp.DEFAULT_M, "rounding": "rtz",
              "rbits": bfp.DEFAULT_RBITS, "stages": DEFAULT_STAGES},
    choices={"rounding": ROUNDINGS, "stages": tuple(range(MAX_STAGES + 1))},
)


def _vectors(params, n, seed=7):
    return BLOCK.vectors(seed=seed, n=n, **BLOCK.params(**params))


# -- interface and parameters ------------------------------------------------------------------

@pytest.mark.parametrize("G, m, rounding, rbits", [
    (54, 16, "rtz", 8), (108, 8, "rne", 8), (216, 4, "stochastic", 8), (1, 2, "stochastic", 1),
    (MAX_G, 24, "rtz", MAX_RBITS), (3, 24, "stochastic", MAX_RBITS)])
def test_ports_follow_the_parameters(G, m, rounding, rbits):
    dut = BfpQuantize(G=G, m=m, rounding=rounding, rbits=rbits)
    fields = {"x": data.ArrayLayout(32, G)}
    if rounding == "stochastic":
        fields["rand"] = data.ArrayLayout(rbits, G)
    assert dut.in_layout == data.StructLayout(fields)
    assert dut.out_layout == data.StructLayout({
        "exp": 8, "signs": data.ArrayLayout(1, G), "mags": data.ArrayLayout(m, G),
        "zse": G.bit_length()})
    assert (dut.G, dut.m, dut.rounding, dut.rbits) == (G, m, rounding, rbits)
    assert dut.stages == dut.latency == DEFAULT_STAGES


def test_defaults_come_from_the_golden_model():
    dut = BfpQuantize()
    assert (dut.G, dut.m, dut.rounding, dut.rbits) == (
        bfp.DEFAULT_G, bfp.DEFAULT_M, "rtz", bfp.DEFAULT_RBITS)
    assert ROUNDINGS == bfp.ROUNDINGS


def test_cut_points():
    assert CUTS == ("tree", "round", "count") and MAX_STAGES == len(CUTS)
    for s in range(MAX_STAGES + 1):
        assert BfpQuantize(stages=s).latency == s


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"G": 0}, ValueError, "G must be an integer in 1..256, not 0"),
    ({"G": 257}, ValueError, "G must be an integer in 1..256, not 257"),
    ({"G": 54.0}, TypeError, "G must be an integer in 1..256, not 54.0"),
    ({"G": True}, TypeError, "G must be an integer in 1..256, not True"),
    ({"m": 1}, ValueError, "m must be an integer in 2..24, not 1"),
    ({"m": 25}, ValueError, "m must be an integer in 2..24, not 25"),
    ({"m": "16"}, TypeError, "m must be an integer in 2..24, not '16'"),
    ({"rounding": "rna"}, ValueError, "rounding must be one of rtz, rne, stochastic, not 'rna'"),
    ({"rounding": "RTZ"}, ValueError, "rounding must be one of rtz, rne, stochastic, not 'RTZ'"),
    ({"rounding": None}, ValueError, "rounding must be one of rtz, rne, stochastic, not None"),
    ({"rbits": 0}, ValueError, "rbits must be an integer in 1..32, not 0"),
    ({"rbits": 33}, ValueError, "rbits must be an integer in 1..32, not 33"),
    ({"rbits": 8.0, "rounding": "stochastic"}, TypeError,
     "rbits must be an integer in 1..32, not 8.0"),
    ({"stages": 4}, ValueError,
     "stages must be an integer in 0..3"
     " (cut points tree, round, count), not 4"),
    ({"stages": -1}, ValueError,
     "stages must be an integer in 0..3"
     " (cut points tree, round, count), not -1"),
    ({"stages": "2"}, TypeError,
     "stages must be an integer in 0..3"
     " (cut points tree, round, count), not '2'"),
])
def test_bad_parameters_name_parameter_value_and_allowed(kwargs, exc, message):
    with pytest.raises(exc) as info:
        BfpQuantize(**kwargs)
    assert str(info.value) == message


def test_verilog_is_compact():
    # linear in G (a shared subexpression is copied at each use, so the design keeps them few)
    small = len(to_verilog(BfpQuantize(G=16, m=8, rounding="rne", stages=0), "q"))
    large = len(to_verilog(BfpQuantize(G=64, m=8, rounding="rne", stages=0), "q"))
    assert large < 5 * small


@pytest.mark.parametrize("params", [
    {"G": 3, "m": 24, "rounding": "stochastic", "rbits": MAX_RBITS, "stages": 0},
    {"G": 1, "m": 2, "rounding": "rne", "stages": 1},
    {"G": 7, "m": 5, "rounding": "rtz", "stages": 3},
])
def test_uncatalogued_shapes_lint_clean(params, tmp_path):
    require("verilator")
    lint_verilator(to_verilog(BfpQuantize(**params), "bfpq"), "bfpq", tmp_path)


# -- against the golden model ------------------------------------------------------------------

@pytest.mark.parametrize("stages", range(MAX_STAGES + 1))
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_every_depth_and_rounding(stages, rounding):
    """Golden-exact under stalls, and one group per cycle without stalls."""
    params = BLOCK.params(G=6, m=7, rounding=rounding, stages=stages)
    inputs = _vectors(params, 150)
    check(BLOCK, params, inputs, stalls=True, seed=3)
    free = run(BLOCK, params, inputs, stalls=False)
    assert free.stats["cycles"] <= len(inputs["x"]) + stages + 1


@pytest.mark.parametrize("params", [
    {"G": 4, "m": 2, "rounding": "rtz"},
    {"G": 4, "m": 2, "rounding": "rne", "stages": 0},
    {"G": 4, "m": 2, "rounding": "stochastic", "rbits": 1},
    {"G": 4, "m": 24, "rounding": "rtz", "stages": 1},
    {"G": 4, "m": 24, "rounding": "rne"},
    {"G": 4, "m": 24, "rounding": "stochastic", "rbits": MAX_RBITS, "stages": 3},
    {"G": 4, "m": 20, "rounding": "stochastic", "rbits": 9},   # rbits > 24 - m: padded window
    {"G": 1, "m": 8, "rounding": "rtz"},
    {"G": 1, "m": 23, "rounding": "rne", "stages": 0},
    {"G": 1, "m": 3, "rounding": "stochastic", "rbits": 5},
])
def test_extreme_widths_and_group_sizes(params):
    params = BLOCK.params(**params)
    check(BLOCK, params, _vectors(params, 150, seed=11), stalls=True, seed=5)


def test_largest_group_on_amaranth():
    """G = 256, m = 16, rne: a short run (the catalogue's largest group is 216)."""
    params = BLOCK.params(G=MAX_G, m=16, rounding="rne", stages=3)
    inputs = _vectors(params, 20, seed=2)
    check(BLOCK, params, inputs, stalls=True, seed=6)


def test_flexblock_4bit_line_on_verilator():
    """G = 216, m = 4 (FlexBlock's 4-bit mode on an 864-bit line) through Verilator."""
    require("verilator")
    params = BLOCK.params(G=216, m=4)
    inputs = _vectors(params, 400, seed=4)
    result = check(BLOCK, params, inputs, backend="verilator", stalls=True, seed=8)
    assert result.stats["vectors"] == len(inputs["x"]) > 400


# -- the stimulus ------------------------------------------------------------------------------

def _exact_units(x, exp, m):
    """|x| / 2**(M - 127 - (m - 1)) in float64 (exact: a power-of-two scaling of an FP32)."""
    v = np.abs(np.asarray(x, dtype=np.int64).astype(np.uint32).view(np.float32).astype(np.float64))
    return np.ldexp(v, -bfp.ulp_exponent(exp, m)[:, None])


@pytest.mark.parametrize("G, m", [(54, 16), (108, 8), (216, 4), (16, 8), (5, 2), (2, 24),
                                  (1, 24), (1, 5)])
def test_stimulus_covers_the_corner_classes(G, m):
    inputs = bfp.quantize_stimulus(np.random.default_rng(1), 300, G=G, m=m, rounding="rne")
    x = inputs["x"]
    out = bfp.quantize_block(inputs, G=G, m=m, rounding="rne")
    exp, mags, zse = out["exp"], out["mags"], out["zse"]
    e = (x >> 23) & 0xFF
    finite = exp != bfp.EXP_NAN
    nonzero = (x & 0x7FFFFFFF) != 0
    normal = finite[:, None] & (e > 0)
    units = _exact_units(np.where(normal, x, 0), np.where(finite, exp, 0), m)
    assert (exp == bfp.EXP_NAN).sum() >= 5                       # NaN/Inf groups
    assert (exp == 0).sum() >= 3 and (exp == 254).sum() >= 3      # all-zero/subnormal, top
    assert ((e == 0) & nonzero).sum() >= 10                       # subnormal inputs
    kept = finite[:, None] & nonzero & (mags > 0)
    assert kept.sum() >= 10 * G                                   # kept elements ...
    if G > 1:                                                     # ... and zero-set ones
        assert (zse > 0).sum() >= 50
        assert ((zse > 0) & (zse < nonzero.sum(axis=1))).sum() >= 20   # both in one group
    else:                                                         # (only subnormals)
        assert (zse > 0).sum() >= 10
    top = (1 << m) - 1
    if m < 24:                      # (m = 24 keeps every bit of the largest exponent's lanes)
        assert (units >= top + 0.5).sum() >= 10                   # rne saturation
        assert (mags[units >= top + 0.5] == top).all()
    frac = units - np.floor(units)
    if G > 1 or m < 24:
        assert (frac == 0.5).sum() >= 10                          # exact ties ...
        assert ((frac == 0.5) & (np.floor(units) % 2 == 1)).sum() >= 5   # ... rounding up
    if G > 1:                       # (G = 1: d = 0 always)
        d = np.where(normal, exp[:, None] - e, -1)
        for dist in (m - 1, m, m + 1):
            assert (d == dist).sum() >= 3, dist
    names, corners = bfp.quantize_corners(np.random.default_rng(1), G, m)
    assert len(names) == len(set(names)) == len(corners) == len(x) - 300


def test_stochastic_stimulus_has_random_bits_and_their_extremes():
    G, m, rbits = 16, 8, 5
    inputs = bfp.quantize_stimulus(np.random.default_rng(2), 100, G=G, m=m,
                                   rounding="stochastic", rbits=rbits)
    rand = inputs["rand"]
    assert rand.shape == inputs["x"].shape and rand.min() == 0 and rand.max() == 31
    assert (rand == 0).all(axis=1).sum() >= 10 and (rand == 31).all(axis=1).sum() >= 10
    assert len(np.unique(rand[:100])) == 32
    out = bfp.quantize_block(inputs, G=G, m=m, rounding="stochastic", rbits=rbits)
    rtz = bfp.quantize_block({"x": inputs["x"]}, G=G, m=m)
    assert (out["mags"] != rtz["mags"]).sum() >= 100


def test_golden_block_interface_errors():
    with pytest.raises(ValueError, match=r"^x must have shape \(n, 4\), not \(2, 3\)$"):
        bfp.quantize_block({"x": np.zeros((2, 3), np.int64)}, G=4, m=8)
    with pytest.raises(ValueError, match="^bfp_quantize has no exhaustive input space"):
        bfp.quantize_stimulus(np.random.default_rng(0), 1, exhaustive=True)
    assert bfp.quantize_space(**BLOCK.defaults) is None
