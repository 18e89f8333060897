"""mxsf_tile_buffer: parameters, interface, the RTL against the golden model on every backend
with random stalls, the "write every tile of X, read both orientations" scenario against
``quantize_tiled`` through the RTL, full throughput, the ordering rules under back-pressure
(a read-first variant must fail), reset, determinism and lint.

The block is not in the catalogue yet, so an ad-hoc ``Block`` drives the harness."""
import numpy as np
import pytest
from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import data
from amaranth.lib.memory import Memory

from golden import mxsf_tile as gt
from hw.lib.export import to_verilog
from hw.mxsf_tile_buffer import MxsfTileBuffer
from hw.lib.pipeline import StreamPipeline
from mxforge.catalogue import BLOCKS
from sim.harness import check, run
from sim.tools import require
from tests.golden.test_mxsf_tile import scenario

BLOCK = BLOCKS["mxsf_tile_buffer"]
DEFAULTS = BLOCK.defaults


# ---------------------------------------------------------------------------------------------
# parameters and interface


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"rows": 0}, ValueError, "rows must be an integer in 1..32, not 0"),
    ({"rows": 33}, ValueError, "rows must be an integer in 1..32, not 33"),
    ({"rows": 8.0}, TypeError, "rows must be an integer in 1..32, not 8.0"),
    ({"cols": -4}, ValueError, "cols must be an integer in 1..32, not -4"),
    ({"cols": True}, TypeError, "cols must be an integer in 1..32, not True"),
    ({"depth": 12}, ValueError,
     "depth must be a power of two in 2..256 (so every addr value names a tile; one tile "
     "needs no address), not 12"),
    ({"depth": 512}, ValueError, "depth must be a power of two in 2..256 (so every addr value "
     "names a tile; one tile needs no address), not 512"),
    ({"depth": 1}, ValueError, "depth must be a power of two in 2..256"),
    ({"depth": "8"}, TypeError, "depth must be a power of two in 2..256"),
    ({"k": 0}, ValueError, "k must be an integer in 1..64, not 0"),
    ({"rows": 4, "cols": 4}, ValueError,
     "rows * cols must be k times a power of two (k=32: 32, 64, 128, 256, 512, 1024), so every "
     "operand is a full k-element block and every part value names one, not 4 * 4 = 16"),
    ({"rows": 8, "cols": 12}, ValueError,
     "rows * cols must be k times a power of two (k=32: 32, 64, 128, 256, 512, 1024), so every "
     "operand is a full k-element block and every part value names one, not 8 * 12 = 96"),
    ({"rows": 3, "cols": 4, "k": 9}, ValueError,
     "rows * cols must be k times a power of two (k=9: 9, 18, 36, 72, 144, 288, 576), so"),
    ({"elem": "fp8"}, ValueError, "elem must be one of e5m2, e4m3, e3m2, e2m3, e2m1, mxint8, "
     "mxsf, e2m5 (or an MXSF variant mxsf_b<bias> or mxsf_e<E>m<M>_b<bias>), not 'fp8'"),
    ({"stages": 3}, ValueError, "stages must be an integer in 0..2, not 3"),
    ({"stages": None}, TypeError, "stages must be an integer in 0..2, not None"),
])
def test_bad_parameters_name_parameter_value_and_allowed(kwargs, exc, message):
    with pytest.raises(exc) as info:
        MxsfTileBuffer(**kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_golden_model_rejects_the_same_parameters():
    with pytest.raises(ValueError, match="depth must be a power of two in 2..256"):
        gt.tile_buffer(gt.tile_stimulus(np.random.default_rng(0), 5), depth=6)


@pytest.mark.parametrize("kwargs, fields, parts, width", [
    ({}, {"write": 1, "addr": 3, "transpose": 1, "scale": 8, "codes": (8, 32)}, 1, 8),
    ({"rows": 16, "cols": 8, "depth": 16},
     {"write": 1, "addr": 4, "transpose": 1, "part": 2, "scale": 8, "codes": (8, 128)}, 4, 8),
    ({"rows": 4, "cols": 4, "k": 16, "elem": "e2m1", "depth": 2, "stages": 2},
     {"write": 1, "addr": 1, "transpose": 1, "scale": 8, "codes": (4, 16)}, 1, 4),
    ({"rows": 8, "cols": 8, "k": 16, "elem": "e3m2", "stages": 0},
     {"write": 1, "addr": 3, "transpose": 1, "part": 2, "scale": 8, "codes": (6, 64)}, 4, 6),
])
def test_interface(kwargs, fields, parts, width):
    b = MxsfTileBuffer(**kwargs)
    p = {**DEFAULTS, **kwargs}
    expect = {n: data.ArrayLayout(*v) if isinstance(v, tuple) else v for n, v in fields.items()}
    assert b.in_layout == data.StructLayout(expect)
    assert b.out_layout == data.StructLayout({"scale": 8,
                                              "codes": data.ArrayLayout(width, p["k"])})
    assert (b.rows, b.cols, b.depth, b.k, b.elem, b.stages) == tuple(
        p[n] for n in ("rows", "cols", "depth", "k", "elem", "stages"))
    assert b.latency == p["stages"] and b.parts == parts and b.width == width
    with pytest.raises(AttributeError):
        b.depth = 4                                           # read-only


def test_defaults_are_the_golden_defaults():
    b = MxsfTileBuffer()
    assert (b.rows, b.cols, b.depth, b.k, b.elem, b.latency) == (8, 4, 8, 32, "mxsf", 1)


def test_mxsf_variants_are_accepted():
    assert MxsfTileBuffer(elem="mxsf_b6").elem == "mxsf_b6"


# ---------------------------------------------------------------------------------------------
# against the golden model


#: shapes beyond the catalogue's configurations (which tests/sim/test_harness.py runs on every
#: backend with stalls, and tests/sim/test_lint.py lints)
CONFIGS = [
    {"rows": 8, "cols": 8, "k": 16, "elem": "e3m2", "depth": 2, "stages": 0},
    {"rows": 1, "cols": 32, "depth": 32, "stages": 2},         # a vector tile
    {"rows": 32, "cols": 2, "k": 64, "elem": "mxint8"},
]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda o: BLOCK.config_name(**o))
def test_matches_golden_with_stalls(overrides):
    params = BLOCK.params(**overrides)
    vectors = BLOCK.vectors(seed=3, n=3000, **params)
    result = check(BLOCK, params, vectors, backend="amaranth", stalls=True, seed=5)
    assert result.stats["backpressure"] > 200 and result.stats["in_idle"] > 200


@pytest.mark.parametrize("backend", ["amaranth", "verilator", "icarus"])
@pytest.mark.parametrize("shape, tile, k, elem", [
    ((16, 16), (8, 4), 32, "mxsf"),
    ((13, 30), (4, 8), 32, "mxsf"),           # ragged edges, 16 tiles
    ((32, 16), (16, 8), 32, "mxsf"),          # 4 operands per tile
])
def test_rtl_reads_are_the_tiles_of_quantize_tiled(backend, shape, tile, k, elem):
    """Write every tile of quantize_tiled(X), read each back in both orientations: plain reads
    are the tiles of quantize_tiled(X, (r, c)), transposed ones those of
    quantize_tiled(X.T, (c, r)); through the RTL, with stalls."""
    require(backend)
    rng = np.random.default_rng(sum(shape))
    x = gt.random_tensor(rng, shape, tile)
    x[0, 0] = np.nan
    params, inputs, expected = scenario(x, tile, k, elem)
    params = BLOCK.params(**params)
    got = run(BLOCK, params, inputs, backend=backend, stalls=True, seed=3).outputs
    np.testing.assert_array_equal(got["scale"], expected["scale"])
    np.testing.assert_array_equal(got["codes"], expected["codes"])


@pytest.mark.parametrize("stages", [0, 1, 2])
def test_full_throughput_without_stalls(stages):
    """One request per cycle, reads and writes in any mix, read-after-write included."""
    params = BLOCK.params(stages=stages)
    vectors = BLOCK.vectors(seed=8, n=2000, **params)
    r = check(BLOCK, params, vectors, backend="amaranth", stalls=False)
    assert r.stats["cycles"] <= r.stats["vectors"] + stages + 1


class _Variant(MxsfTileBuffer):
    """Plausible but wrong designs, each the real datapath except one detail:

    ``read_first``: a synchronous read port with the register on the data side and no
    write-to-read bypass, so a write's echo shows the old tile.
    ``free_read``: the same with a write-first (transparent) port, but its enable is not the
    pipeline enable, so a response waiting under back-pressure is overwritten by the next
    request's tile.
    ``late_write`` (stages = 0): the write is registered and commits one cycle late (to cut
    the input path) without forwarding, so a read in the very next beat to the same address
    sees the old tile.
    """

    def __init__(self, bug="read_first", **params):
        self._bug = bug
        super().__init__(**params)

    def elaborate(self, platform):
        g = self._g
        m = Module()
        p = StreamPipeline(m, self.i, self.o)
        req = self.i.payload
        m.submodules.tiles = tiles = Memory(shape=self._tile, depth=g.depth, init=[])
        wr = tiles.write_port()
        accept = self.i.valid & p.en & req.write
        if self._bug == "late_write":
            rd = tiles.read_port(domain="comb")
            m.d.sync += [wr.addr.eq(req.addr), wr.data.scale.eq(req.scale),
                         wr.data.codes.eq(req.codes), wr.en.eq(accept)]
            m.d.comb += rd.addr.eq(req.addr)
            word = data.View(self._tile, Mux(req.write, Cat(req.scale, req.codes),
                                             rd.data.as_value()))
            transpose = req.transpose
        else:
            transparent = (wr,) if self._bug == "free_read" else ()
            rd = tiles.read_port(domain="sync", transparent_for=transparent)
            m.d.comb += [wr.addr.eq(req.addr), wr.data.scale.eq(req.scale),
                         wr.data.codes.eq(req.codes), wr.en.eq(accept), rd.addr.eq(req.addr),
                         rd.en.eq(1 if self._bug == "free_read" else p.en)]
            transpose = p.stage(req.transpose)
            word = rd.data
        p.finish({"scale": word.scale, "codes": self._operand(word, transpose, None)})
        return m


@pytest.mark.parametrize("bug, stages", [("read_first", 1), ("free_read", 1), ("late_write", 0)])
def test_the_stimulus_catches_ordering_bugs(bug, stages):
    """Each wrong design fails exactly where its bug bites: on write echoes; under
    back-pressure only (the harness sees a waiting response change); on reads right after a
    write to their address (and under back-pressure, where the late write changes a waiting
    combinational response)."""
    import dataclasses
    from sim.harness import SimulationError
    wrong = dataclasses.replace(BLOCK, generator=_Variant, defaults={**DEFAULTS, "bug": bug})
    params = wrong.params(stages=stages)
    vectors = BLOCK.vectors(seed=3, n=2000, **BLOCK.params(stages=stages))
    exp = gt.tile_buffer(vectors, **BLOCK.params(stages=stages))
    w, a = vectors["write"], vectors["addr"]
    raw = np.concatenate([[False], (w[:-1] == 1) & (w[1:] == 0) & (a[:-1] == a[1:])])

    def mismatches(stalls):
        got = run(wrong, params, vectors, backend="amaranth", stalls=stalls, seed=2).outputs
        return (got["scale"] != exp["scale"]) | (got["codes"] != exp["codes"]).any(axis=1)

    if bug == "read_first":
        bad = mismatches(True)
        assert bad.sum() > 0.9 * w.sum() and (w[bad] == 1).all()
        return
    with pytest.raises(SimulationError, match="changed while o.valid was high and o.ready low"):
        mismatches(True)
    bad = mismatches(False)
    if bug == "free_read":
        assert not bad.any()
    else:
        assert raw.sum() > 100 and not (bad & ~raw).any() and bad[raw].mean() > 0.95


def test_reset_clears_the_pipeline_not_the_tiles():
    """rst empties the pipeline; a tile written before it reads back after it (like an SRAM)."""
    from amaranth.hdl import ClockDomain
    from amaranth.sim import Simulator

    dut = MxsfTileBuffer()
    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.dut = dut
    codes = list(range(1, 33))
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.payload, {"write": 1, "addr": 5, "transpose": 0, "scale": 140,
                                "codes": codes})
        ctx.set(dut.i.valid, 1)
        await ctx.tick()
        ctx.set(dut.i.payload.write, 0)
        ctx.set(dut.i.payload.transpose, 1)
        await ctx.tick()                       # the read is in the pipeline ...
        ctx.set(dut.i.valid, 0)
        ctx.set(cd.rst, 1)
        await ctx.tick()
        seen.append(ctx.get(dut.o.valid))      # ... and reset dropped it
        ctx.set(cd.rst, 0)
        ctx.set(dut.i.valid, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        seen.append((ctx.get(dut.o.valid), ctx.get(dut.o.payload.scale),
                     [ctx.get(dut.o.payload.codes[j]) for j in range(32)]))

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    trans = np.arange(1, 33).reshape(8, 4).T.ravel().tolist()
    assert seen == [0, (1, 140, trans)]


# ---------------------------------------------------------------------------------------------
# Verilog


def test_verilog_is_flat():
    a = to_verilog(MxsfTileBuffer(rows=16, cols=8), "dut")
    assert a.count("module ") == 1                # the store is a reg array, no submodule
    assert "reg [1031:0] tiles [7:0];" in a      # one wide word per tile
