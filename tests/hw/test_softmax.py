"""The softmax units (hw.softmax) beyond the catalogue sweep: parameter edges on Amaranth under
heavy random back-pressure, the corner vectors, the documented latency and throughput measured
in simulation, the ports, and one clear error per bad parameter."""
import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.sim import Simulator

from golden import softmax as spec
from hw.softmax import ExpSoftmax, Log2Softmax
from mxforge.catalogue import BLOCKS
from sim.harness import check, run

LOG2, EXP = BLOCKS["log2_softmax"], BLOCKS["exp_softmax"]
HEAVY = (0.5, 0.7)    # input idle / output not-ready probability per cycle


@pytest.mark.parametrize("block, params", [
    (LOG2, {"n": 2}),
    (LOG2, {"n": 3, "in_bits": 8, "frac_bits": 0, "exp_bits": 4, "out_bits": 10}),  # F = 0
    (LOG2, {"n": 5, "in_bits": 6, "frac_bits": 6, "exp_bits": 3, "out_bits": 2}),   # F = B > P
    (LOG2, {"n": 7, "in_bits": 16, "frac_bits": 12, "exp_bits": 8, "out_bits": 16}),  # O > P
    (LOG2, {"n": 16, "in_bits": 24, "frac_bits": 16, "exp_bits": 24, "out_bits": 24}),
    (EXP, {"n": 2}),
    (EXP, {"n": 3, "in_bits": 10, "frac_bits": 0, "exp_bits": 4, "out_bits": 4,
           "log2e_bits": 1, "segments": 1, "div_rows": 5}),      # F = 0, one chord, one stage
    (EXP, {"n": 5, "in_bits": 8, "frac_bits": 4, "exp_bits": 6, "out_bits": 10,
           "log2e_bits": 4, "segments": 16, "div_rows": 2}),     # a table entry per code
    (EXP, {"n": 9, "in_bits": 8, "frac_bits": 2, "exp_bits": 12, "out_bits": 3,
           "log2e_bits": 8, "segments": 4, "div_rows": 3}),
    (EXP, {"n": 16, "in_bits": 24, "frac_bits": 16, "exp_bits": 24, "out_bits": 24,
           "log2e_bits": 24, "segments": 64, "div_rows": 4}),
])
def test_parameter_edges_under_back_pressure(block, params):
    p = block.params(**params)
    seed = sum(map(ord, block.config_name(**p)))
    inputs = block.vectors(seed=seed, n=6 * p["n"], params=p)   # 6 random vectors + corners
    result = check(block, p, inputs, backend="amaranth", stalls=HEAVY, seed=seed)
    assert result.stats["backpressure"] > 0 and result.stats["in_idle"] > 0


@pytest.mark.parametrize("block", [LOG2, EXP])
def test_corner_vectors_long_stalls(block):
    """Every corner vector at n = 8, the output refusing 90 % of the cycles (beats wait in every
    register of the chain while the next vector loads)."""
    p = block.params(n=8)
    x = np.concatenate(list(spec.corner_vectors(**p).values()))
    check(block, p, {"x": x}, backend="amaranth", stalls=(0.1, 0.9), seed=3)


def _first_output_delay(dut, x):
    """Edges from the last input handshake to the first output handshake, and the edges
    between consecutive output handshakes, for one vector with no stalls."""
    edges = {"in": [], "out": []}

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        k, cycle = 0, 0
        while len(edges["out"]) < len(x):
            if k < len(x):
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload.x, int(x[k]))
            else:
                ctx.set(dut.i.valid, 0)
            _, _, ir, ov = await ctx.tick().sample(dut.i.ready, dut.o.valid)
            cycle += 1
            if k < len(x) and ir:
                edges["in"].append(cycle)
                k += 1
            if ov:
                edges["out"].append(cycle)
            assert cycle < 10 * len(x) + 200

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return edges["out"][0] - edges["in"][-1], np.diff(edges["out"])


@pytest.mark.parametrize("cls, params", [
    (Log2Softmax, {"n": 8}), (Log2Softmax, {"n": 2}),
    (ExpSoftmax, {"n": 8}), (ExpSoftmax, {"n": 5, "div_rows": 4}),
])
def test_latency_is_measured(cls, params):
    dut = cls(**params)
    x = np.arange(dut.n) * 37 - 100
    delay, gaps = _first_output_delay(dut, x)
    assert delay == dut.latency
    assert (gaps == 1).all()     # then one output per cycle
    # the documented formula: SUM reads, the chain twice, the post chain, three control steps
    post = 0 if cls is Log2Softmax else -(-(dut.out_bits + 1) // dut.div_rows)
    assert dut.latency == dut.n + 2 * cls.FRONT + post + 3


@pytest.mark.parametrize("block", [LOG2, EXP])
def test_load_overlaps_out(block):
    """Without stalls a vector costs about 2n cycles (LOAD hidden behind OUT, then SUM), not
    the 3n of three separate phases."""
    p = block.params(n=32)
    inputs = block.vectors(seed=5, n=20 * 32, params=p)
    vectors = len(inputs["x"]) // 32
    cycles = run(block, p, inputs, backend="amaranth", stalls=False).stats["cycles"]
    assert cycles / vectors < 2 * 32 + 16


def test_ports_and_properties():
    dut = Log2Softmax(n=8, in_bits=12, frac_bits=6, exp_bits=10, out_bits=6)
    assert dut.in_layout == data.StructLayout({"x": signed(12)})
    assert dut.out_layout == data.StructLayout({"y": 7})
    assert (dut.n, dut.in_bits, dut.frac_bits, dut.exp_bits, dut.out_bits) == (8, 12, 6, 10, 6)
    assert dut.widths == spec.log2_widths(n=8, in_bits=12, frac_bits=6, exp_bits=10,
                                          out_bits=6)
    e = ExpSoftmax(segments=4, log2e_bits=10, div_rows=3)
    assert (e.segments, e.log2e_bits, e.div_rows) == (4, 10, 3)
    assert e.out_layout == data.StructLayout({"y": 9})
    assert LOG2.defaults == {**spec.LOG2_DEFAULTS} and EXP.defaults["div_rows"] == 1


@pytest.mark.parametrize("cls, params, exc, message", [
    (Log2Softmax, {"n": 1}, ValueError, "n must be an integer in 2..4096, not 1"),
    (Log2Softmax, {"n": 64.0}, TypeError, "n must be an integer in 2..4096, not 64.0"),
    (Log2Softmax, {"in_bits": 40}, ValueError, "in_bits must be an integer in 2..24, not 40"),
    (Log2Softmax, {"frac_bits": 17}, ValueError,
     r"frac_bits must be an integer in 0..16 \(at most in_bits\), not 17"),
    (Log2Softmax, {"exp_bits": 0}, ValueError, "exp_bits must be an integer in 1..24, not 0"),
    (Log2Softmax, {"out_bits": "8"}, TypeError, "out_bits must be an integer in 1..24, not '8'"),
    (ExpSoftmax, {"log2e_bits": 25}, ValueError,
     "log2e_bits must be an integer in 1..24, not 25"),
    (ExpSoftmax, {"segments": 3}, ValueError,
     (r"segments must be an integer in 1..64 and a power of two \(at most 2\*\*frac_bits = "
      r"256\), not 3")),
    (ExpSoftmax, {"div_rows": 0}, ValueError,
     r"div_rows must be an integer in 1..9 \(at most out_bits \+ 1\), not 0"),
    (ExpSoftmax, {"div_rows": 2.5}, TypeError, r"div_rows must be an integer in 1..9"),
])
def test_bad_parameters_name_the_parameter(cls, params, exc, message):
    with pytest.raises(exc, match=f"^{message}"):
        cls(**params)


def test_catalogue_rejects_unknown_parameter():
    with pytest.raises(ValueError, match="log2_softmax has no parameter 'segments'"):
        LOG2.build(segments=8)
