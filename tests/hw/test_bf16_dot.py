"""bf16_dot: parameter validation, interface, pipeline cut points, Verilog lint, and the block
against the golden model through ``sim.harness.check`` with random valid/ready stalls (amaranth and
verilator). ``BLOCK`` is the entry proposed for ``mxforge.catalogue`` (built here ad hoc until the
catalogue has it)."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import bf16_dot as g
from hw.bf16_dot import DEFAULT_STAGES, K_MAX, Bf16Dot, cut_points, steps
from hw.export import to_verilog
from mxforge.catalogue import Block
from sim.harness import check, require
from sim.lint import lint_icarus, lint_verilator

BLOCK = Block(
    name="bf16_dot",
    generator=Bf16Dot,
    golden=g.dot_block,
    stimulus=g.dot_stimulus,
    exhaustive_size=g.dot_space,
    defaults={"k": g.DEFAULT_K, "stages": DEFAULT_STAGES},
    configs=({}, {"k": 4, "stages": 0}),
    random_vectors=20000,
    interp_vectors=500,  # k = 32 on amaranth: ~40 ms a vector, 500 + 423 corners ~ 37 s
    summary="BF16 dot product, FP32 products + FP32 adder tree + FP32 accumulate (baseline)",
)
CONFIGS = BLOCK.configurations()


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"k": 0}, ValueError, "k must be an integer in 1..128, not 0"),
    ({"k": 129}, ValueError, "k must be an integer in 1..128, not 129"),
    ({"k": "32"}, TypeError, "k must be an integer in 1..128, not '32'"),
    ({"k": True}, TypeError, "k must be an integer in 1..128, not True"),
    ({"stages": 8}, ValueError,
     "stages must be an integer in 0..7 for k=32 (steps mul, tree1, tree2, tree3, tree4, tree5, "
     "acc), not 8"),
    ({"stages": -1}, ValueError, "stages must be an integer in 0..7 for k=32"),
    ({"k": 1, "stages": 3}, ValueError,
     "stages must be an integer in 0..2 for k=1 (steps mul, acc), not 3"),
    ({"stages": 1.0}, TypeError, "stages must be an integer in 0..7 for k=32"),
])
def test_bad_parameters_name_the_parameter(kwargs, exc, message):
    with pytest.raises(exc) as info:
        Bf16Dot(**kwargs)
    assert message in str(info.value)


def test_block_entry_reports_generator_errors():
    with pytest.raises(ValueError, match="k must be an integer in 1..128, not 200"):
        BLOCK.validate(k=200)
    assert list(CONFIGS) == ["bf16_dot", "bf16_dot_k4_stages0"]


@pytest.mark.parametrize("k", [1, 5, 32, K_MAX])
def test_interface(k):
    d = Bf16Dot(k=k)
    assert d.in_layout == data.StructLayout({
        "a": data.ArrayLayout(16, k), "b": data.ArrayLayout(16, k), "acc": 32})
    assert d.out_layout == data.StructLayout({"result": 32})
    assert d.latency == d.stages == DEFAULT_STAGES
    assert d.k == k and d.cuts == cut_points(k, DEFAULT_STAGES)


def test_steps_and_cut_points():
    assert steps(1) == ("mul", "acc")
    assert steps(2) == ("mul", "tree1", "acc")
    assert steps(32) == ("mul", "tree1", "tree2", "tree3", "tree4", "tree5", "acc")
    assert len(steps(33)) == len(steps(64)) == 8 and len(steps(K_MAX)) == 9
    assert cut_points(32, 0) == ()
    assert cut_points(32, DEFAULT_STAGES) == ("tree2", "tree4")
    assert cut_points(32, 3) == ("tree1", "tree3", "tree5")
    assert cut_points(32, 7) == steps(32)
    assert cut_points(1, 1) == ("mul",)
    # every (k, stages): distinct cuts in datapath order, segments of balanced length
    for k in range(1, K_MAX + 1):
        s = steps(k)
        n = len(s)
        for stages in range(n + 1):
            pos = [s.index(c) + 1 for c in cut_points(k, stages)]
            assert pos == sorted(set(pos)) and len(pos) == stages
            seg = np.diff([0] + pos + [n])
            assert seg.max() - seg.min() <= 1
            assert seg.max() == -(-n // (stages + 1))


def test_verilog_is_deterministic():
    assert to_verilog(Bf16Dot(k=3, stages=1), "dut") == to_verilog(Bf16Dot(k=3, stages=1), "dut")


def test_largest_block_elaborates():
    from amaranth.hdl import Fragment
    d = Bf16Dot(k=K_MAX, stages=len(steps(K_MAX)))
    assert Fragment.get(d, None) is not None and d.latency == 9


@pytest.mark.parametrize("config", list(CONFIGS))
def test_verilator_lint(config, tmp_path):
    require("verilator")
    lint_verilator(to_verilog(BLOCK.build(**CONFIGS[config]), config), config, tmp_path)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_icarus_parse(config, tmp_path):
    require("icarus")
    lint_icarus(to_verilog(BLOCK.build(**CONFIGS[config]), config), config, tmp_path)


# -- simulation ------------------------------------------------------------------------------

@pytest.mark.parametrize("k, stages", [(1, s) for s in range(3)] + [(4, s) for s in range(5)]
                         + [(3, 1), (5, 3), (6, 2), (7, 4), (9, 5)])
def test_small_blocks_every_stage_count(k, stages):
    params = BLOCK.params(k=k, stages=stages)
    vectors = BLOCK.vectors(seed=10 * k + stages, n=600, **params)
    check(BLOCK, params, vectors, backend="amaranth", stalls=True, seed=stages)


@pytest.mark.parametrize("stages, n", [(DEFAULT_STAGES, 300), (0, 40), (7, 40)])
def test_k32_matches_golden(stages, n):
    """Every corner vector and a few random ones (the catalogue sweep runs 500 on amaranth)."""
    params = BLOCK.params(k=32, stages=stages)
    vectors = BLOCK.vectors(seed=stages, n=n, **params)
    check(BLOCK, params, vectors, backend="amaranth", stalls=True, seed=stages)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_configurations_on_verilator(config):
    """The proposed catalogue configurations with the catalogue's full random vector count."""
    require("verilator")
    params = CONFIGS[config]
    vectors = BLOCK.vectors(seed=1, n=BLOCK.random_vectors, **params)
    result = check(BLOCK, params, vectors, backend="verilator", stalls=True, seed=1)
    assert result.stats["vectors"] >= BLOCK.random_vectors
    assert result.stats["backpressure"] > 0


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
