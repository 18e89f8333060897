"""mx_quantize: parameter validation, interface, pipeline depth and throughput, short simulations
of configurations the catalogue does not carry (every stage count, k = 64). The full
random + corner vectors of every catalogued configuration run in tests/sim/test_harness.py."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import mx
from golden.formats import MX_ELEMENTS, get_format
from hw.mx_quantize import CUTS, MAX_K, MAX_STAGES, MxQuantize
from mxforge.catalogue import BLOCKS
from sim.harness import check, run

BLOCK = BLOCKS["mx_quantize"]


@pytest.mark.parametrize("elem", MX_ELEMENTS)
def test_ports_follow_the_format(elem):
    dut = MxQuantize(elem, k=5)
    assert dut.in_layout == data.StructLayout({"x": data.ArrayLayout(32, 5)})
    assert dut.out_layout == data.StructLayout(
        {"scale": 8, "codes": data.ArrayLayout(get_format(elem).width, 5)})
    assert dut.elem == elem and dut.k == 5


def test_cut_points():
    assert MAX_STAGES == len(CUTS) == 4
    assert sorted(CUTS) == sorted(("unpack", "tree", "exponent", "encode"))
    for s in range(MAX_STAGES + 1):
        assert MxQuantize(stages=s).latency == s


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"k": 0}, ValueError, "k must be an integer in 1..64, not 0"),
    ({"k": 65}, ValueError, "k must be an integer in 1..64, not 65"),
    ({"k": 32.0}, TypeError, "k must be an integer in 1..64, not 32.0"),
    ({"k": "32"}, TypeError, "k must be an integer in 1..64, not '32'"),
    ({"k": True}, TypeError, "k must be an integer in 1..64, not True"),
    ({"rounding": "stochastic"}, ValueError,
     "rounding must be one of rne, rna, rtz, not 'stochastic'"),
    ({"rounding": "RNE"}, ValueError, "rounding must be one of rne, rna, rtz, not 'RNE'"),
    ({"scale_rounding": "round"}, ValueError,
     "scale_rounding must be one of floor, ceil, not 'round'"),
    ({"stages": 5}, ValueError,
     "stages must be an integer in 0..4"
     " (cut points exponent, encode, tree, unpack), not 5"),
    ({"stages": -1}, ValueError,
     "stages must be an integer in 0..4"
     " (cut points exponent, encode, tree, unpack), not -1"),
    ({"stages": "2"}, TypeError,
     "stages must be an integer in 0..4"
     " (cut points exponent, encode, tree, unpack), not '2'"),
    ({"elem": "bf16"}, ValueError,
     "elem must be one of e5m2, e4m3, e3m2, e2m3, e2m1, mxint8, mxsf, e2m5 (or an MXSF variant mxsf_b<bias> or mxsf_e<E>m<M>_b<bias>), not 'bf16'"),
    ({"elem": "fp7"}, ValueError, "elem must be one of .*, not 'fp7'"),
])
def test_bad_parameters_name_parameter_value_and_allowed(kwargs, exc, message):
    with pytest.raises(exc, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        MxQuantize(**kwargs)


def test_catalogue_entry():
    assert BLOCK.defaults["stages"] == 2 and BLOCK.random_vectors >= 20000
    names = BLOCK.configurations()
    # MXSF has its own block (mxsf_quantize, below)
    assert {p["elem"] for p in names.values()} == set(MX_ELEMENTS) - {"mxsf"}
    assert {p["stages"] for p in names.values()} >= {0, 2, MAX_STAGES}
    assert {p["rounding"] for p in names.values()} == {"rne", "rna", "rtz"}
    assert {p["scale_rounding"] for p in names.values()} == {"floor", "ceil"}
    assert any(p["k"] < 32 for p in names.values())
    assert BLOCK.exhaustive_size(**BLOCK.defaults) is None


@pytest.mark.parametrize("stages", range(MAX_STAGES + 1))
@pytest.mark.parametrize("scale_rounding", ["floor", "ceil"])
def test_every_depth_full_throughput(stages, scale_rounding):
    """Each stage count: golden-exact under stalls, and one block per cycle without stalls."""
    params = BLOCK.params(k=4, stages=stages, scale_rounding=scale_rounding, elem="mxint8")
    inputs = BLOCK.vectors(seed=7, n=300, **params)
    check(BLOCK, params, inputs, stalls=True, seed=3)
    free = run(BLOCK, params, inputs, stalls=False)
    n = len(inputs["x"])
    assert free.stats["cycles"] <= n + stages + 1


@pytest.mark.parametrize("elem, rounding", [("e5m2", "rtz"), ("mxsf", "rna")])
def test_largest_block(elem, rounding):
    params = BLOCK.params(k=MAX_K, elem=elem, rounding=rounding, stages=1)
    x = BLOCK.vectors(seed=2, n=60, **params)["x"]
    # the 60 random blocks and every 4th corner block (the corner list is long at k = 64)
    check(BLOCK, params, {"x": np.concatenate([x[:60], x[60::4]])}, stalls=True, seed=4)


def test_golden_corner_vectors_exercise_both_specials():
    """Sanity of the vectors the harness gets: NaN blocks and zero blocks at every k used."""
    for k in (1, 8, 32):
        x = mx.quantize_stimulus(np.random.default_rng(0), 10, elem="e4m3", k=k)["x"]
        out = mx.quantize_block({"x": x}, k=k)
        assert (out["scale"] == 255).sum() >= 3 * k and (out["scale"] == 0).any()


def test_mxsf_quantize_passes_the_sub_mode_through():
    from golden.formats import MxsfFormat
    from hw.mx_quantize import MxsfQuantize
    from mxforge.catalogue import BLOCKS

    q = MxsfQuantize(k=4, sub_bias=10)
    assert q.fmt == MxsfFormat(3, 2, 10) and q.elem == "mxsf_b10" and q.k == 4
    block = BLOCKS["mxsf_quantize"]
    biases = {p["sub_bias"] for p in block.configurations().values()}
    assert {6, 8, 10} <= biases  # overlap, seamless, gap
    assert "mxsf_quantize" in block.amaranth_full and block.random_vectors >= 20000
    with pytest.raises(ValueError, match=r"^sub_bias must be an integer in 5\.\.16"):
        MxsfQuantize(sub_bias=4)
    with pytest.raises(TypeError, match=r"^sub_bias must be an integer"):
        MxsfQuantize(sub_bias=8.0)
