"""bf16_dot: parameter validation, interface, pipeline cut points, and the block against the
golden model through ``sim.harness.check`` with random valid/ready stalls at stage counts the
catalogue does not name (tests/sim/test_harness.py sweeps the catalogued configurations on every
backend, tests/sim/test_lint.py lints them)."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import bf16_dot as g
from hw.bf16_dot import DEFAULT_STAGES, K_MAX, Bf16Dot, cut_points, default_stages, steps
from hw.lib.export import cached_verilog
from mxforge.catalogue import BLOCKS, all_configurations
from sim.harness import check

BLOCK = BLOCKS["bf16_dot"]
CONFIGS = BLOCK.configurations()


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"k": 0}, ValueError, "k must be an integer in 1..128, not 0"),
    ({"k": 129}, ValueError, "k must be an integer in 1..128, not 129"),
    ({"k": "32"}, TypeError, "k must be an integer in 1..128, not '32'"),
    ({"k": True}, TypeError, "k must be an integer in 1..128, not True"),
    ({"stages": 14}, ValueError,
     "stages must be an integer in 0..13 for k=32 (cut points tree3_add, tree4, tree1, tree5, "
     "mul, tree2_add, tree3, tree1_add, tree2, tree4_add, tree5_add, acc_add, acc), not 14"),
    ({"stages": -1}, ValueError, "stages must be an integer in 0..13 for k=32"),
    ({"k": 1, "stages": 4}, ValueError,
     "stages must be an integer in 0..3 for k=1 (cut points mul, acc_add, acc), not 4"),
    ({"stages": 1.0}, TypeError, "stages must be an integer in 0..13 for k=32"),
])
def test_bad_parameters_name_the_parameter(kwargs, exc, message):
    with pytest.raises(exc) as info:
        Bf16Dot(**kwargs)
    assert message in str(info.value)


def test_block_entry_reports_generator_errors():
    with pytest.raises(ValueError, match="k must be an integer in 1..128, not 200"):
        BLOCK.checked_build(k=200)
    assert list(CONFIGS) == ["bf16_dot", "bf16_dot_k4_stages0", "bf16_dot_k128_stages16"]


@pytest.mark.parametrize("k", [1, 5, 32, K_MAX])
def test_interface(k):
    d = Bf16Dot(k=k)
    assert d.in_layout == data.StructLayout({
        "a": data.ArrayLayout(16, k), "b": data.ArrayLayout(16, k), "acc": 32})
    assert d.out_layout == data.StructLayout({"result": 32})
    # the default registers every step but the output (the fewest cuts that meet 10 ns at
    # k = 32 and 128: mxforge synth bf16_dot --clock-ns 10)
    assert d.latency == d.stages == default_stages(k) == len(steps(k)) - 1
    assert d.k == k and d.cuts == cut_points(k)[:-1]
    assert "acc" not in d.cuts and DEFAULT_STAGES == default_stages(32) == 12


def test_steps_and_cut_points():
    assert steps(1) == ("mul", "acc_add", "acc")
    assert steps(2) == ("mul", "tree1_add", "tree1", "acc_add", "acc")
    assert steps(32) == ("mul", "tree1_add", "tree1", "tree2_add", "tree2", "tree3_add", "tree3",
                         "tree4_add", "tree4", "tree5_add", "tree5", "acc_add", "acc")
    assert len(steps(33)) == len(steps(64)) == 15 and len(steps(K_MAX)) == 17
    # every step is a cut point once; two registers at k = 32 leave runs of 6, 3 and 4 steps
    assert cut_points(32) == ("tree3_add", "tree4", "tree1", "tree5", "mul", "tree2_add",
                              "tree3", "tree1_add", "tree2", "tree4_add", "tree5_add", "acc_add",
                              "acc")
    assert cut_points(1) == ("mul", "acc_add", "acc")
    for k in range(1, K_MAX + 1):
        assert sorted(cut_points(k)) == sorted(steps(k))
        assert Bf16Dot(k=k, stages=len(steps(k))).cuts == cut_points(k)


def test_largest_block_has_every_operator():
    """The catalogue's k = 128 lane (its Verilog from the shared cache, under the catalogue's
    name, so the simulation tests' copy is reused): 128 multipliers, 127 tree adders and the
    accumulator's, each two modules (front and back, a cut point between them;
    hw.lib.units.unit)."""
    params = BLOCK.params(k=K_MAX, stages=default_stages(K_MAX))
    name = BLOCK.config_name(**params)
    assert name in all_configurations()
    text = cached_verilog(BLOCK, params, name)
    assert text.count("\nmodule ") == 1 + K_MAX + 2 * (K_MAX - 1) + 2
    assert Bf16Dot(k=K_MAX, stages=len(steps(K_MAX))).latency == len(steps(K_MAX)) == 17


# -- simulation ------------------------------------------------------------------------------

@pytest.mark.parametrize("k, stages", [(1, 0), (1, 3), (4, 1), (4, 4), (4, 7), (3, 1), (5, 3),
                                       (9, 5)])
def test_small_blocks_stage_counts(k, stages):
    """Odd k (pass-through lanes in the tree) and the extreme stage counts."""
    params = BLOCK.params(k=k, stages=stages)
    vectors = BLOCK.vectors(seed=10 * k + stages, n=300, **params)
    check(BLOCK, params, vectors, backend="amaranth", stalls=True, seed=stages)


@pytest.mark.parametrize("stages, n", [(13, 40)])
def test_k32_matches_golden(stages, n):
    """Every corner vector and a few random ones fully pipelined (the catalogue sweep runs the
    default stages on every backend, and k = 4 unpipelined)."""
    params = BLOCK.params(k=32, stages=stages)
    vectors = BLOCK.vectors(seed=stages, n=n, **params)
    check(BLOCK, params, vectors, backend="amaranth", stalls=True, seed=stages)


def test_signed_zeros_and_specials_through_the_block():
    """IEEE signed zeros end to end (unlike mx_dot's exact-zero-is-+0 rule), NaN canonical."""
    one, mone, nz = 0x3F80, 0xBF80, 0x8000
    v = {"a": np.array([[nz, nz], [nz, nz], [one, one], [0x7F80, one], [0x7F7F, 0x7F7F],
                        [0x7F7F, 0x7F7F]]),
         "b": np.array([[one, one], [one, one], [one, mone], [0, one], [0x7F7F, one],
                        [0x7F7F, 0xFF7F]]),
         "acc": np.array([1 << 31, 0, 1 << 31, 0, 0, 0])}
    params = BLOCK.params(k=2, stages=1)
    out = check(BLOCK, params, v, backend="amaranth", stalls=False).outputs["result"]
    assert list(out) == [1 << 31, 0, 0, g.FP32_NAN, 0x7F800000, g.FP32_NAN]
