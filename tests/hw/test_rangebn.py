"""The batch-norm units (hw.rangebn) beyond the catalogue sweep: register cuts under heavy
random back-pressure (none; every cut with an odd lane passing beside each tree level and, in
bn_fwd, inside its split FP32 adders and the pass-2 operators; a prefix that leaves some pass-1
steps uncut; one that cuts inside pass 2's multiplier only; the scalar unit's operand register),
on Amaranth; and one clear error per bad parameter. The catalogue's defaults (lanes = 4) run in
its sweep."""
import pytest

from hw import rangebn
from mxforge.catalogue import BLOCKS
from sim.harness import check

ALL_FWD3 = rangebn.RangeBnFwd.default_stages(3)
ALL_BWD4 = rangebn.RangeBnBwd.default_stages(4)
ALL_BN3 = rangebn.BnFwd.default_stages(3)


@pytest.mark.parametrize("name, params", [
    ("rangebn_fwd", {"stages": 0}),
    ("rangebn_fwd", {"n": 48, "lanes": 3, "stages": ALL_FWD3, "rounding": "rne"}),
    ("rangebn_bwd", {"stages": 0, "rounding": "rne"}),
    ("rangebn_bwd", {"lanes": 4, "stages": ALL_BWD4}),
    ("rangebn_bwd", {"lanes": 4, "stages": ALL_BWD4 - 1}),
    ("bn_fwd", {"stages": 0}),
    ("bn_fwd", {"n": 48, "lanes": 3, "stages": ALL_BN3}),
    ("bn_fwd", {"lanes": 4, "stages": 5}),
    ("bn_fwd", {"n": 32, "stages": rangebn.BnFwd.default_stages(2) - 2, "scalar_cycles": 3}),
])
def test_every_register_cut(name, params, monkeypatch):
    """Bit-exact against the golden model; ``scalar_cycles`` overrides the block's
    ``SCALAR_CYCLES`` (hw.lib.scalar's ``cycles``)."""
    params = dict(params)
    if "scalar_cycles" in params:
        monkeypatch.setattr(rangebn.BnFwd, "SCALAR_CYCLES", params.pop("scalar_cycles"))
    block = BLOCKS[name]
    p = block.params(**{"n": 64, "lanes": 2, **params})
    inputs = block.vectors(seed=sum(map(ord, name)) + p["stages"], n=200, params=p)
    result = check(block, p, inputs, backend="amaranth", stalls=True, seed=p["stages"])
    assert result.stats["outputs"] == len(inputs["x"]) // 2


@pytest.mark.parametrize("name, params, exc, words", [
    ("rangebn_fwd", {"n": 100}, ValueError, "n must be a multiple of chunks * lanes = 32"),
    ("rangebn_fwd", {"n": 16}, ValueError, "n must be an integer in 32..65536"),
    ("rangebn_fwd", {"lanes": 0}, ValueError, "lanes must be an integer in 1..32"),
    ("rangebn_fwd", {"rounding": "rna"}, ValueError, "rounding must be one of rtz, rne"),
    ("rangebn_fwd", {"stages": 5}, ValueError, "stages must be an integer in 0..4 for lanes=4"),
    ("rangebn_fwd", {"bfp": 1}, TypeError, "bfp must be a bool"),
    ("rangebn_bwd", {"chunks": 0}, ValueError, "chunks must be an integer in 1..64"),
    ("bn_fwd", {"n": 63}, ValueError, "n must be a multiple"),
])
def test_bad_parameters_name_the_parameter(name, params, exc, words):
    with pytest.raises(exc, match=words.replace("*", r"\*").replace(".", r"\.")):
        BLOCKS[name].build(**params)
