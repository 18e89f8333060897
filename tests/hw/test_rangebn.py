"""The batch-norm units (hw.rangebn) beyond the catalogue sweep: every pass-2 register cut on
Amaranth under heavy random back-pressure, and one clear error per bad parameter."""
import pytest

from mxforge.catalogue import BLOCKS
from sim.harness import check


@pytest.mark.parametrize("name, params", [
    ("rangebn_fwd", {"stages": 0}), ("rangebn_fwd", {"stages": 2, "rounding": "rne"}),
    ("rangebn_bwd", {"stages": 0, "rounding": "rne"}), ("rangebn_bwd", {"stages": 2}),
    ("bn_fwd", {"stages": 0}), ("bn_fwd", {"stages": 2}),
])
def test_every_register_cut(name, params):
    block = BLOCKS[name]
    p = block.params(n=64, lanes=2, **params)
    inputs = block.vectors(seed=sum(map(ord, name)) + p["stages"], n=200, params=p)
    result = check(block, p, inputs, backend="amaranth", stalls=True, seed=p["stages"])
    assert result.stats["outputs"] == len(inputs["x"]) // 2


@pytest.mark.parametrize("name, params, exc, words", [
    ("rangebn_fwd", {"n": 100}, ValueError, "n must be a multiple of chunks * lanes = 32"),
    ("rangebn_fwd", {"n": 16}, ValueError, "n must be an integer in 32..65536"),
    ("rangebn_fwd", {"lanes": 0}, ValueError, "lanes must be an integer in 1..32"),
    ("rangebn_fwd", {"rounding": "rna"}, ValueError, "rounding must be one of rtz, rne"),
    ("rangebn_fwd", {"stages": 4}, ValueError, "stages must be an integer in 0..3"),
    ("rangebn_fwd", {"bfp": 1}, TypeError, "bfp must be a bool"),
    ("rangebn_bwd", {"chunks": 0}, ValueError, "chunks must be an integer in 1..64"),
    ("bn_fwd", {"n": 63}, ValueError, "n must be a multiple"),
])
def test_bad_parameters_name_the_parameter(name, params, exc, words):
    with pytest.raises(exc, match=words.replace("*", r"\*").replace(".", r"\.")):
        BLOCKS[name].build(**params)
