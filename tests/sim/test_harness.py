"""sim.harness: every mx_decode configuration, exhaustively, on every backend; and proofs that the
checker fails when it should (wrong golden, lost or duplicated beats, X/Z outputs)."""
import dataclasses
import os

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from mxforge.catalogue import BLOCKS, Block, all_configurations
from sim import harness
from sim.harness import BACKENDS, SimulationError, check, require, run

MX_DECODE = BLOCKS["mx_decode"]


EXHAUSTIVE_LIMIT = 1 << 20  # SPEC: input spaces up to 2^20 are tested exhaustively
ALL_CONFIGS = all_configurations()
INTERPRETED = ("amaranth", "icarus")
#: `make sweep` sets this: every backend runs every vector (the interpreted simulators too)
FULL = os.environ.get("MXFORGE_SWEEP") == "full"


def _capped(block, params, backend):
    """Whether the interpreted-simulator cap applies to this configuration on this backend."""
    if backend not in INTERPRETED or not block.interp_vectors or FULL:
        return False
    return not (backend == "amaranth" and block.config_name(**params) in block.amaranth_full)


def test_backend_subsets_name_real_configurations():
    for block in BLOCKS.values():
        assert set(block.backend_configs) <= {"verilator", "icarus"}, block.name
        for backend, subset in block.backend_configs.items():
            assert set(subset) <= set(block.configurations()), (block.name, backend)
        assert block.config_name() in block.backend_configs.get(
            "verilator", (block.config_name(),)), block.name  # the default runs on Verilator
        # every configuration runs on at least one compiled simulator in make test
        covered = set(block.sweep_only)
        assert covered <= set(block.configurations()), block.name
        for backend in ("verilator", "icarus"):
            covered |= set(block.backend_configs.get(backend, block.configurations()))
        assert covered == set(block.configurations()), block.name


def sweep_vectors(block, params, backend):
    """The vectors a configuration gets on a backend in the test suite.

    Exhaustive where the input space is at most 2^20; else ``random_vectors`` random vectors plus
    the stimulus' corner vectors (which follow the random ones). On the interpreted simulators a
    block may cap the random part (``interp_vectors``: an evenly spaced subset; every corner
    vector stays) to keep ``make test`` within its time budget, except for its
    ``amaranth_full`` configurations on Amaranth; ``make sweep`` lifts the cap.
    """
    size = block.exhaustive_size(**params)
    exhaustive = size is not None and size <= EXHAUSTIVE_LIMIT
    n = block.random_vectors
    vectors = block.vectors(seed=1, n=n, exhaustive=exhaustive, params=params)
    count = len(next(iter(vectors.values())))
    cap = block.interp_vectors
    if _capped(block, params, backend) and block.record_beats is not None:
        rb = block.record_beats(**params)
        records = count // rb
        keep = max(1, cap // rb)
        if keep < records:
            pick = np.unique(np.linspace(0, records - 1, keep).round().astype(np.int64))
            idx = (pick[:, None] * rb + np.arange(rb)).reshape(-1)
            vectors = {k: v[idx] for k, v in vectors.items()}
    elif _capped(block, params, backend) and not exhaustive and n > cap:
        idx = np.concatenate([np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64)),
                              np.arange(n, count)])
        vectors = {k: v[idx] for k, v in vectors.items()}
    return vectors, exhaustive, size


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config", list(ALL_CONFIGS))
def test_catalogue_matches_golden(config, backend):
    """Every catalogued configuration on every backend, with random valid/ready stalls (on a
    compiled simulator the block's ``backend_configs`` subset unless ``make sweep``)."""
    require(backend)
    block, params = ALL_CONFIGS[config]
    if not FULL and config in block.sweep_only:
        pytest.skip(f"{config} is a synthesis baseline too large for make test's simulation "
                    f"budget: make sweep runs it; make test checks a few vectors on amaranth "
                    f"(test_sweep_only_configurations_on_amaranth)")
    subset = block.backend_configs.get(backend)
    if not FULL and subset is not None and config not in subset:
        others = [b for b in ("verilator", "icarus") if b != backend
                  and config in block.backend_configs.get(b, (config,))]
        pytest.skip(f"{backend} runs {len(subset)} of {block.name}'s configurations in make "
                    f"test (all in make sweep); this one runs on amaranth and "
                    f"{' and '.join(others)}")
    vectors, exhaustive, size = sweep_vectors(block, params, backend)
    result = check(block, params, vectors, backend=backend, stalls=True, seed=1)
    if exhaustive:
        assert result.stats["vectors"] == size
    elif _capped(block, params, backend) and block.record_beats is not None:
        assert result.stats["vectors"] >= min(block.interp_vectors // 2, block.random_vectors)
    elif _capped(block, params, backend):
        assert result.stats["vectors"] > block.interp_vectors  # the capped random part + corners
    else:
        assert result.stats["vectors"] >= block.random_vectors


SWEEP_ONLY = [n for n, (b, _) in ALL_CONFIGS.items() if n in b.sweep_only]


@pytest.mark.slow
@pytest.mark.parametrize("config", SWEEP_ONLY)
def test_sweep_only_configurations_on_amaranth(config):
    """The catalogue's ``sweep_only`` configurations (128-element synthesis baselines) in
    ``make test``: 12 random vectors and an evenly spaced 24 of the corner vectors on Amaranth
    with stalls (the same generators run in full at their smaller configurations)."""
    block, params = ALL_CONFIGS[config]
    vectors = block.vectors(seed=1, n=12, params=params)
    count = len(next(iter(vectors.values())))
    idx = np.concatenate([np.arange(12),
                          np.unique(np.linspace(12, count - 1, 24).round().astype(np.int64))])
    vectors = {k: v[idx] for k, v in vectors.items()}
    result = check(block, params, vectors, backend="amaranth", stalls=True, seed=1)
    assert result.stats["vectors"] == len(idx)


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
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)
    ok, reason = harness.available("icarus")
    assert not ok and "iverilog" in reason
    ok, reason = harness.available("verilator")
    assert not ok and "g++" in reason
    with pytest.raises(pytest.skip.Exception, match="icarus backend unavailable: .*iverilog"):
        require("icarus")
    with pytest.raises(ValueError, match="backend must be one of amaranth, verilator, icarus"):
        harness.available("vcs")
