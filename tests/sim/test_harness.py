"""sim.harness: every mx_decode configuration, exhaustively, on every backend; and proofs that the
checker fails when it should (wrong golden, lost or duplicated beats, X/Z outputs)."""
import dataclasses

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.block import Block
from mxforge.catalogue import BLOCKS, all_configurations
from sim import harness, plan, tools
from sim.harness import SimulationError, check, run
from sim.tools import BACKENDS, COMPILED, require

MX_DECODE = BLOCKS["mx_decode"]
ALL_CONFIGS = all_configurations()
#: the verification plan (sim.plan): exactly what make test runs (make sweep: mxforge sim --sweep)
PLAN = plan.runs(BLOCKS.values())


def test_plan_covers_every_configuration():
    """The guarantees of docs/verification.md, derived from the catalogue: every configuration
    on Amaranth and on a compiled simulator with enough random vectors and every corner, every
    default on both compiled simulators."""
    assert plan.coverage_problems(BLOCKS.values()) == []
    planned = {(config, backend) for _, _, config, backend in PLAN}
    for config in ALL_CONFIGS:
        assert (config, "amaranth") in planned
        assert any((config, b) in planned for b in COMPILED), config


def test_coverage_check_can_fail():
    """A block whose subsets leave a configuration off every compiled simulator, or whose cap
    leaves too few random vectors there, is reported."""
    block = BLOCKS["bfp_dot"]
    off = dataclasses.replace(block, backend_configs={"verilator": ("bfp_dot",),
                                                      "icarus": ("bfp_dot",)})
    problems = plan.coverage_problems([off])
    assert "bfp_dot_G108_ma8_mb8 has no compiled-simulator run" in " ".join(problems)
    few = dataclasses.replace(block, random_vectors=150)
    assert any("at least 200 random vectors" in p for p in plan.coverage_problems([few]))
    bad = dataclasses.replace(block, large={"nope": 5})
    assert any("large names no configuration" in p for p in plan.coverage_problems([bad]))


@pytest.mark.slow
@pytest.mark.parametrize("config, backend", [(c, b) for _, _, c, b in PLAN],
                         ids=[f"{c}-{b}" for _, _, c, b in PLAN])
def test_catalogue_matches_golden(config, backend):
    """Every planned (configuration, backend) run, with random valid/ready stalls, against the
    golden model: exhaustive where the input space allows, else the plan's random vectors and
    every corner (sim.plan)."""
    require(backend)
    block, params = ALL_CONFIGS[config]
    vectors, run = plan.vectors(block, params, backend)
    result = check(block, params, vectors, backend=backend, stalls=True, seed=1)
    assert result.stats["vectors"] == run.total


def _wrong_golden(block, params, inputs, backend, index, field):
    """A golden model that agrees with the hardware except one bit of one vector."""
    actual = harness.simulate(block, params, inputs, backend=backend, stalls=False)

    def golden(inp, **p):
        out = {k: np.array(v, copy=True) for k, v in actual.items()}
        out[field][index] ^= 1
        return out
    return dataclasses.replace(block, golden=golden)


@pytest.mark.parametrize("backend", BACKENDS)
def test_checker_names_the_failing_vector(backend):
    require(backend)
    params = MX_DECODE.params(elem="e4m3", pipeline=True)
    inputs = MX_DECODE.vectors(seed=3, n=300, **params)
    wrong = _wrong_golden(MX_DECODE, params, inputs, backend, index=137, field="sig")
    with pytest.raises(AssertionError) as info:
        check(wrong, params, inputs, backend=backend, stalls=True)
    msg = str(info.value)
    scale, code = int(inputs["scale"][137]), int(inputs["code"][137])
    assert f"mx_decode_e4m3_pipeline on {backend}: 1 of 300 vectors mismatch" in msg
    assert "vector 137:" in msg and f"'scale': {scale}, 'code': {code}" in msg
    assert "mismatching sig" in msg and "expected {" in msg and "actual   {" in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_stalls_keep_every_vector_once_in_order(backend):
    require(backend)
    params = MX_DECODE.params(elem="e4m3", pipeline=True)
    inputs = MX_DECODE.vectors(seed=5, n=3000, **params)
    free = run(MX_DECODE, params, inputs, backend=backend, stalls=False)
    stalled = run(MX_DECODE, params, inputs, backend=backend, stalls=(0.3, 0.4), seed=9)
    n = 3000
    assert free.stats["cycles"] <= n + 2            # one beat per cycle without stalls
    assert stalled.stats["cycles"] > 1.5 * n        # the stalls did happen ...
    assert stalled.stats["in_idle"] > 0.2 * n       # ... on the input
    assert stalled.stats["backpressure"] > 0.1 * n  # ... and as back-pressure on the output
    for k in free.outputs:                          # and changed nothing
        np.testing.assert_array_equal(stalled.outputs[k], free.outputs[k], err_msg=k)
    again = run(MX_DECODE, params, inputs, backend=backend, stalls=(0.3, 0.4), seed=9)
    assert again.stats["cycles"] == stalled.stats["cycles"]     # reproducible


class Broken(wiring.Component):
    """A one-stage stream register with a deliberate handshake bug.

    ``lose``: accepts a beat every cycle even while the output is stalled (overwrites it).
    ``dup``: never clears ``o.valid``, so the last beat repeats forever.
    """

    def __init__(self, mode="lose"):
        self._mode = mode
        layout = data.StructLayout({"x": 8})
        self.in_layout = self.out_layout = layout
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    latency = 1

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        if self._mode == "lose":
            m.d.comb += [en.eq(1), self.i.ready.eq(1)]
        else:
            m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        with m.If(en & self.i.valid):
            m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1)]
        if self._mode == "lose":
            with m.Elif(en):
                m.d.sync += self.o.valid.eq(0)
        return m


BROKEN = Block(
    name="test_broken", generator=Broken,
    golden=lambda inputs, mode: {"x": np.asarray(inputs["x"])},
    stimulus=lambda rng, n, exhaustive=False, mode="lose": {"x": rng.integers(0, 256, n)},
    exhaustive_size=lambda mode: 256, defaults={"mode": "lose"},
    choices={"mode": ("lose", "dup")}, name_params=("mode",))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode, message", [
    ("lose", "changed while o.valid was high and o.ready low|lost"),
    ("dup", "more output beats than (the [0-9]+ )?expected"),
])
def test_broken_handshake_is_caught(backend, mode, message, tmp_path):
    require(backend)
    inputs = BROKEN.vectors(seed=1, n=200, mode=mode)
    with pytest.raises(SimulationError, match=message):
        check(BROKEN, {"mode": mode}, inputs, backend=backend, stalls=True, workdir=tmp_path)


class Wide(wiring.Component):
    """A registered pass-through of a 117-bit payload with signed array and nested fields."""

    layout = data.StructLayout({
        "v": data.ArrayLayout(signed(9), 12),
        "t": data.StructLayout({"a": 1, "b": signed(8)}),
    })

    def __init__(self, pipeline=True):
        self._pipeline = pipeline
        super().__init__({"i": In(stream.Signature(self.layout)),
                          "o": Out(stream.Signature(self.layout))})

    @property
    def latency(self):
        return int(self._pipeline)

    def elaborate(self, platform):
        m = Module()
        en = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(en)
        if self._pipeline:
            with m.If(en):
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        else:
            m.d.comb += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        return m


def _wide_stimulus(rng, n, exhaustive=False, pipeline=True):
    return {"v": rng.integers(-256, 256, (n, 12)),
            "t": {"a": rng.integers(0, 2, n), "b": rng.integers(-128, 128, n)}}


WIDE = Block(
    name="test_wide", generator=Wide, golden=lambda inputs, pipeline: inputs,
    stimulus=_wide_stimulus, exhaustive_size=lambda pipeline: None,
    defaults={"pipeline": True})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pipeline", [True, False])
@pytest.mark.parametrize("n", [0, 1, 500])
def test_wide_payload_and_edge_counts(backend, pipeline, n):
    require(backend)
    inputs = WIDE.vectors(seed=2, n=n, pipeline=pipeline)
    result = check(WIDE, {"pipeline": pipeline}, inputs, backend=backend, stalls=True)
    assert result.stats["vectors"] == n


class Repeat(wiring.Component):
    """Each input beat x becomes ``times`` output beats x, x+1, ...; the input is held back
    (i.ready low) while the copies go out: a block whose output count differs from its input
    count, and that stalls its producer."""

    def __init__(self, times=3):
        self._times = times
        layout = data.StructLayout({"x": 8})
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    latency = 1

    def elaborate(self, platform):
        m = Module()
        left = Signal(range(self._times + 1))
        free = (left == 0) | ((left == 1) & self.o.ready)
        m.d.comb += self.i.ready.eq(free)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [self.o.payload.x.eq(self.o.payload.x + 1), left.eq(left - 1)]
        with m.If(self.i.valid & free):
            m.d.sync += [self.o.payload.x.eq(self.i.payload.x), left.eq(self._times)]
        m.d.comb += self.o.valid.eq(left != 0)
        return m


REPEAT = Block(
    name="test_repeat", generator=Repeat,
    golden=lambda inputs, times: {"x": (np.asarray(inputs["x"])[:, None]
                                        + np.arange(times)).reshape(-1) & 0xFF},
    stimulus=lambda rng, n, exhaustive=False, times=3: {"x": rng.integers(0, 256, n)},
    exhaustive_size=lambda times: None, defaults={"times": 3})


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_count_other_than_input_count_and_input_stalls(backend):
    """n inputs, 3n outputs: the harness waits for the golden model's count, and counts the
    cycles the block held its input back (``in_stall``); a short golden model is a failure."""
    require(backend)
    inputs = REPEAT.vectors(seed=3, n=100)
    result = check(REPEAT, {}, inputs, backend=backend, stalls=False)
    assert result.stats["vectors"] == 100 and result.stats["outputs"] == 300
    # every input after the first waits while the previous one's 2 extra copies go out
    assert result.stats["in_stall"] == 2 * 99
    short = dataclasses.replace(REPEAT, golden=lambda inputs, times: {
        "x": np.zeros(3 * len(inputs["x"]) - 1, dtype=np.int64)})
    with pytest.raises(SimulationError, match="more output beats than|output beats, 299 expected"):
        check(short, {}, inputs, backend=backend, stalls=True)


def test_x_in_output_is_a_failure():
    with pytest.raises(SimulationError, match="output beat 1 has X/Z bits: 0x"):
        harness._parse_hex(["00", "0x", "ff"], 8, "cfg on icarus")
    with pytest.raises(SimulationError, match="X/Z"):
        harness._parse_hex(["z1"], 8, "cfg on icarus")


def test_missing_tool_skips_with_reason(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    ok, reason = tools.available("icarus")
    assert not ok and "iverilog" in reason
    ok, reason = tools.available("verilator")
    assert not ok and "g++" in reason
    with pytest.raises(pytest.skip.Exception, match="icarus backend unavailable: .*iverilog"):
        require("icarus")
    with pytest.raises(ValueError, match="backend must be one of amaranth, verilator, icarus"):
        tools.available("vcs")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_missing_tool_fails_under_ci(monkeypatch, value):
    """CI=true: a simulator that cannot run fails the test instead of skipping it."""
    monkeypatch.setenv("CI", value)
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="verilator backend unavailable: .*CI=true: "
                                                   "a missing tool fails the run"):
        require("verilator")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require("verilator")
