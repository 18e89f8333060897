"""The energy workloads (golden/workloads.py): every catalogued block with one gets beats its
interface accepts, in its formats, that its golden model computes on, and that look like a
network's data (finite results, not a constant stream)."""
import numpy as np
import pytest

from hw.lib.payload import pack
from mxforge.catalogue import all_configurations

CONFIGS = {n: bp for n, bp in all_configurations().items() if bp[0].workload is not None}


def _finite_fp32(bits):
    bits = np.asarray(bits, dtype=np.int64) & 0xFFFFFFFF
    return (bits & 0x7F800000) != 0x7F800000


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_workload_feeds_the_block_and_its_golden_model(name):
    block, params = CONFIGS[name]
    w = block.workload(np.random.default_rng(1), 64, **params)
    assert w.beats >= 64 and 0 <= w.warm < w.beats and w.ops > 0 and w.op
    words = pack(block.build(**params).in_layout, w.fields)     # fits the payload layout
    assert len(set(int(x) for x in words)) > 4                     # data, not a constant
    out = block.golden(w.fields, **params)
    if "result" in out:                                            # the dot products: FP32
        assert _finite_fp32(out["result"]).all()
        assert np.count_nonzero(np.asarray(out["result"]) & 0x7FFFFFFF) > len(out["result"]) // 2
    if "scale" in out:                                             # the quantizers: no NaN
        assert (np.asarray(out["scale"]) != 0xFF).all()


def test_seeds_give_different_data_of_the_same_kind():
    block, params = CONFIGS["mx_dot_e4m3_e4m3"]
    one, two = (block.workload(np.random.default_rng(s), 64, **params) for s in (1, 2))
    assert not np.array_equal(one.fields["codes_a"], two.fields["codes_a"])
    # the activations carry outlier channels: the shared scale sits above the typical element
    assert one.fields["scale_a"].mean() > one.fields["scale_b"].mean()


def test_accumulators_chain_the_previous_result():
    from golden import mx_dot
    block, params = CONFIGS["mx_dot_e4m3_e4m3"]
    f = block.workload(np.random.default_rng(3), 64, **params).fields
    r = mx_dot.dot(f["scale_a"], f["codes_a"], f["scale_b"], f["codes_b"], f["acc"])
    assert (f["acc"][0::8] == 0).all()                  # an output's first block starts at 0
    assert (f["acc"][1:8] == r[0:7]).all()              # then adds to the running sum
