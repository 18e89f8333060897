"""hw.lib.fp_iter: the sequential divider and square root against ``golden.formats.div``/``sqrt``.

Each test runs one Amaranth simulation that drives a sequence of operations (a new start in the
cycle ``done`` rises), with several units of one format side by side (one per rounding mode and
overflow policy) fed the same operands. Operands: named corner cases (zeros of both signs,
subnormals, min/max normal, Inf/NaN), 1/x and x/2**k for powers of two (overflow, underflow and
the ties of subnormal results), exact squares, and seeded random codes."""
import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from golden import formats as F
from golden.formats import FloatFormat, get_format
from hw.lib.export import to_verilog
from hw.lib.fp_iter import FpDivider, FpSqrt
from sim.tools import available, require
from sim.lint import lint_icarus, lint_verilator


def simulate(cls, fmt, configs, ops):
    """Results of ``ops`` (tuples of operand codes) on one ``cls(fmt, rounding, overflow)`` per
    config, as an array (len(configs), len(ops)); checks busy/done on the way."""
    duts = [cls(fmt, r, o) for r, o in configs]
    top = Module()
    for i, d in enumerate(duts):
        top.submodules[f"u{i}"] = d
    names = ("a", "b") if cls is FpDivider else ("a",)
    cycles = duts[0].cycles
    out = []

    async def bench(ctx):
        for op in ops:
            for d in duts:
                for name, v in zip(names, op):
                    ctx.set(getattr(d, name), int(v))
                ctx.set(d.start, 1)
            await ctx.tick()
            for d in duts:
                ctx.set(d.start, 0)
            assert ctx.get(duts[0].busy) == 1
            await ctx.tick().repeat(cycles - 2)
            assert ctx.get(duts[0].done) == 0
            await ctx.tick()
            assert [ctx.get(d.done) for d in duts] == [1] * len(duts)
            out.append([ctx.get(d.result) for d in duts])

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(out, dtype=np.int64).T.reshape(len(configs), len(ops))


def check(cls, fmt, configs, ops):
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    ops = np.asarray(ops, dtype=np.int64).reshape(len(ops), -1)
    got = simulate(cls, f, configs, ops)
    golden = F.div if cls is FpDivider else F.sqrt
    for (rounding, overflow), row in zip(configs, got):
        expected = golden(*ops.T, f, rounding, overflow)
        bad = np.nonzero(row != expected)[0]
        assert len(bad) == 0, (
            f"{cls.__name__} {f.name} {rounding}/{overflow}: {len(bad)} of {len(ops)} differ, "
            f"first operands {[hex(x) for x in ops[bad[0]]]}: {row[bad[0]]:#x} "
            f"instead of {expected[bad[0]]:#x}")


# -- operand sets ----------------------------------------------------------------------------

def code(x, f):
    return int(F.encode([x], f)[0])


def corner_codes(f):
    """Zeros, subnormals (or flushed subnormal codes), min normal, one and its neighbours, two,
    max finite and its neighbour, Inf/NaN codes; both signs."""
    m, top = f.mbits, (1 << f.ebits) - 1
    mx = code(f.max_finite, f)
    one = code(1.0, f)
    mags = {0, 1, (1 << m) - 1, 1 << m, (1 << m) | 1, one, one + 1, one - 1, code(2.0, f),
            code(3.0, f), mx, mx - 1}
    if f.specials == "ieee":
        mags |= {top << m, (top << m) | 1, F.canonical_nan(f)}
    elif f.specials == "fn":
        mags.add(F.canonical_nan(f))
    mags = sorted(x for x in mags if 0 <= x < 1 << (f.width - 1))
    return mags + [x | 1 << (f.width - 1) for x in mags]


def pow2_codes(f, rng=None, n=32):
    """Codes of the powers of two: all of them, or with ``rng`` at most ``n`` (the eight at
    either end of the range and random ones between)."""
    lo = f.emin - (f.mbits if f.subnormals else 0)
    ks = np.arange(lo, f.emax + 1)
    if rng is not None and len(ks) > n:
        ks = np.concatenate([ks[:8], ks[-8:], rng.choice(ks[8:-8], n - 16, replace=False)])
    return [code(2.0 ** int(k), f) for k in ks]


def random_codes(f, rng, n):
    return rng.integers(0, 1 << f.width, n)


def div_ops(f, rng, n_random):
    """Corner cross product, 1/x, x/2**k into the subnormals (ties), random pairs (half with
    nearby exponents, where the quotient's rounding rather than its range decides)."""
    c = corner_codes(f)
    a, b = (x.ravel() for x in np.meshgrid(c, c))
    p2 = pow2_codes(f, rng)
    ones = [code(1.0, f), code(-1.5, f), code(f.max_finite, f)]
    inv = np.array([(x, y) for x in ones for y in p2], dtype=np.int64).reshape(-1, 2)
    # small normals with random mantissas over 2**1, 2**2 and two of 2**1 .. 2**(P + 1):
    # subnormal results, their ties (an odd significand shifted by one) and, without
    # subnormals, the tie between 0 and min normal
    small = (rng.integers(1, 4, 24) << f.mbits) | rng.integers(0, 1 << f.mbits, 24)
    P = f.sig_bits
    dn = np.array([(x, code(2.0 ** int(k), f)) for x in small
                   for k in {1, 2, *rng.integers(1, P + 2, 2)} if k <= f.emax],
                  dtype=np.int64).reshape(-1, 2)
    ra, rb = random_codes(f, rng, n_random), random_codes(f, rng, n_random)
    h = n_random // 2
    mask = ((1 << f.ebits) - 1) << f.mbits
    near = (ra[:h] & mask) + (rng.integers(-2, 3, h) << f.mbits)
    rb[:h] = np.where((near >= 0) & (near < mask), near, ra[:h] & mask) \
        | (rb[:h] & ~mask)
    ops = np.concatenate([np.stack([a, b], 1), inv, dn, np.stack([ra, rb], 1)])
    if not f.has_nan:  # 0/0 has no code: the golden model raises (see test_no_nan_results)
        fa, fb = F.fields(ops[:, 0], f), F.fields(ops[:, 1], f)
        ops = ops[(fa["sig"] != 0) | (fb["sig"] != 0)]
    return ops


def exact_squares(f, rng, n):
    """Codes of r**2 for random r of about P/2 bits at random even exponents (exact squares)."""
    h = max(1, f.sig_bits // 2)
    r = rng.integers(1 << (h - 1), 1 << h, n).astype(np.float64)
    x = np.ldexp(r * r, 2 * rng.integers(-(f.bias // 2) + h, f.emax // 2 - h + 1, n))
    c = F.encode(x, f, "rtz")
    return c[F.decode(c, f) == x]


def sqrt_ops(f, rng, n_random):
    c = corner_codes(f) + pow2_codes(f, rng, 48)
    ops = np.concatenate([c, exact_squares(f, rng, 60), random_codes(f, rng, n_random)])
    if not f.has_nan:  # the root of a negative number has no code: the golden model raises
        fa = F.fields(ops, f)
        ops = ops[(fa["sign"] == 0) | (fa["sig"] == 0)]
    return ops[:, None]


FORMATS = {
    # name: (configs, random operations for div, for sqrt)
    "fp10_e5m4": ([("rne", "saturate"), ("rtz", "saturate")], 400, 300),
    "fp18_e5m12": ([("rne", "saturate"), ("rtz", "nonsat")], 400, 400),
    "e4m3": ([("rne", "nonsat"), ("rtz", "saturate"), ("rna", "nonsat"), ("rne", "saturate")],
             400, 0),
    "fp32": ([("rne", "nonsat"), ("rtz", "nonsat")], 400, 400),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_divider(name):
    f = get_format(name)
    configs, n_div, _ = FORMATS[name]
    check(FpDivider, f, configs, div_ops(f, np.random.default_rng(5), n_div))


@pytest.mark.parametrize("name", list(FORMATS))
def test_sqrt(name):
    f = get_format(name)
    configs, _, n_sqrt = FORMATS[name]
    ops = sqrt_ops(f, np.random.default_rng(6), n_sqrt)
    if f.width <= 10:  # every code
        ops = np.arange(1 << f.width)[:, None]
        if not f.has_nan:
            fa = F.fields(ops[:, 0], f)
            ops = ops[(fa["sign"] == 0) | (fa["sig"] == 0)]
    check(FpSqrt, f, configs, ops)


# formats far from 1.0 (roots below min normal, roots above max finite; with bias -5 a root
# needs so few bits that the recurrence stops before the radicand is used up), no stored
# mantissa bits, and a flushing "ieee" format: the paths the catalogue formats never reach
CUSTOM = [
    FloatFormat("e3m2_b0", 3, 2, 0, "none"),
    FloatFormat("e3m2_b9", 3, 2, 9, "none"),
    FloatFormat("e3m2_bm5", 3, 2, -5, "none"),
    FloatFormat("e3m2_b0_flush", 3, 2, 0, "ieee", subnormals=False),
    FloatFormat("e3m0", 3, 0, 3, "none"),
]


@pytest.mark.parametrize("f", CUSTOM, ids=lambda f: f.name)
def test_custom_formats(f):
    configs = [("rne", "nonsat"), ("rna", "saturate"), ("rtz", "saturate")]
    ops = np.arange(1 << f.width)[:, None]
    if not f.has_nan:
        fa = F.fields(ops[:, 0], f)
        ops = ops[(fa["sign"] == 0) | (fa["sig"] == 0)]
    check(FpSqrt, f, configs, ops)
    check(FpDivider, f, configs, div_ops(f, np.random.default_rng(7), 150))


def test_out_of_range_roots_are_exercised():
    lo, hi, deep = CUSTOM[:3]
    assert 0 < F.decode(F.sqrt(1, lo), lo) < lo.min_normal
    assert F.sqrt(0x1F, hi) == 0x1F and F.decode(0x1F, hi) < 1
    # sqrt(80) = 8.94 on the grid 0, 16: one root bit (the round bit, 8) is recorded with
    # remainder 0, and only the radicand bits not yet brought down say it is above the tie
    assert F.decode(5, deep) == 80 and F.decode(F.sqrt(5, deep, "rne"), deep) == 16


def test_named_results():
    """A few results spelled out (FP32, RNE): specials, exact roots, 1/3, subnormal quotients."""
    fp32 = get_format("fp32")
    one, two, three, four = 0x3F800000, 0x40000000, 0x40400000, 0x40800000
    inf, nan, mx = 0x7F800000, 0x7FC00000, 0x7F7FFFFF
    div = [(one, three), (one, 0), (0x80000000, one), (0, 0), (inf, inf), (one, inf),
           (mx, 0x3F000000), (0x00800000, four), (0x00800003, two), (0x00800001, two)]
    r = simulate(FpDivider, fp32, [("rne", "nonsat"), ("rtz", "saturate")], div)
    assert r[0].tolist() == [0x3EAAAAAB, inf, 0x80000000, nan, nan, 0, inf, 0x00200000,
                             0x00400002, 0x00400000]   # ties to even: 0x400001.8, 0x400000.8
    assert r[1].tolist()[:8] == [0x3EAAAAAA, inf, 0x80000000, nan, nan, 0, mx, 0x00200000]
    sq = [(four,), (two,), (0xC0800000,), (0x80000000,), (inf,), (1,), (2,)]
    r = simulate(FpSqrt, fp32, [("rne", "nonsat")], sq)
    assert r[0].tolist() == [two, 0x3FB504F3, nan, 0x80000000, inf, 0x1A3504F3, 0x1A800000]


def test_no_nan_results():
    """Where the format has no NaN code (the golden model raises): 0/0 gives ±max finite (the x/0
    rule), the root of a negative number -sqrt(|x|)."""
    f = get_format("fp10_e5m4")
    mx, one, four = code(f.max_finite, f), code(1.0, f), code(4.0, f)
    r = simulate(FpDivider, f, [("rne", "saturate")], [(0, 0), (0x200, 0), (one, 0)])
    assert r[0].tolist() == [mx, mx | 0x200, mx]
    r = simulate(FpSqrt, f, [("rne", "saturate")], [(four | 0x200,)])
    assert r[0].tolist() == [code(-2.0, f)]


@pytest.mark.parametrize("cls", [FpDivider, FpSqrt])
def test_handshake(cls):
    """done is 1 for exactly one cycle, ``cycles`` after the start cycle; busy before it; the
    result holds until the next start; a start while busy restarts; a start in the done cycle
    runs back to back."""
    f = get_format("e4m3")
    dut = cls(f)
    names = ("a", "b") if cls is FpDivider else ("a",)
    ops = [(code(4.0, f), code(2.0, f)), (code(2.25, f), code(1.5, f)), (code(0.5, f), 1)]
    golden = F.div if cls is FpDivider else F.sqrt
    expected = [int(golden(*op[: len(names)], f)) for op in ops]
    trace = []

    async def bench(ctx):
        def load(op):
            for name, v in zip(names, op):
                ctx.set(getattr(dut, name), v)
            ctx.set(dut.start, 1)

        assert (ctx.get(dut.busy), ctx.get(dut.done)) == (0, 0)
        load(ops[0])
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.a, 0)              # operands are sampled at the start only
        for _ in range(dut.cycles + 4):
            trace.append((ctx.get(dut.busy), ctx.get(dut.done), ctx.get(dut.result)))
            await ctx.tick()
        # restart in the middle of an operation
        load(ops[2])
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().repeat(2)
        load(ops[1])
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().repeat(dut.cycles - 1)
        assert ctx.get(dut.done) == 1 and ctx.get(dut.result) == expected[1]
        load(ops[2])                   # back to back: start in the done cycle
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert (ctx.get(dut.busy), ctx.get(dut.done)) == (1, 0)
        await ctx.tick().repeat(dut.cycles - 1)
        assert ctx.get(dut.done) == 1 and ctx.get(dut.result) == expected[2]
        await ctx.tick()
        assert ctx.get(dut.done) == 0 and ctx.get(dut.result) == expected[2]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    n = dut.cycles
    # trace[i] is cycle i + 1 after the start cycle
    assert [t[0] for t in trace] == [1] * (n - 1) + [0] * 5
    assert [t[1] for t in trace] == [0] * (n - 1) + [1] + [0] * 4
    assert [t[2] for t in trace[n - 1:]] == [expected[0]] * 5


def test_cycles():
    for name, p in (("fp32", 24), ("e4m3", 4), ("fp18_e5m12", 13)):
        assert FpDivider(name).cycles == p + 3
        assert FpSqrt(name).cycles == p + 2


@pytest.mark.parametrize("cls", [FpDivider, FpSqrt])
def test_bad_parameters(cls):
    with pytest.raises(ValueError, match=r"^rounding must be one of rne, rna, rtz, not 'rnd'$"):
        cls("fp32", rounding="rnd")
    with pytest.raises(ValueError, match=r"^rounding must be one of rne, rna, rtz, not "
                                         r"'stochastic'$"):
        cls("fp32", rounding="stochastic")
    with pytest.raises(ValueError, match=r"^overflow must be one of saturate, nonsat, not "
                                         r"'wrap'$"):
        cls("fp32", overflow="wrap")
    with pytest.raises(ValueError, match=r"^fmt must be a FloatFormat or one of fp32, .*e4m3.*, "
                                         r"not 'mxint8'$"):
        cls("mxint8")
    with pytest.raises(ValueError, match=r"^fmt must be .* not 'fp7'$"):
        cls("fp7")


@pytest.mark.parametrize("cls", [FpDivider, FpSqrt])
def test_verilog_lint(cls, tmp_path):
    require("verilator")
    for name in ("fp32", "e4m3"):
        text = to_verilog(cls(name, "rne", "nonsat"), "fp_iter")
        assert "clk" in text and "start" in text and "result" in text
        lint_verilator(text, "fp_iter", tmp_path / name)
        if available("icarus")[0]:
            lint_icarus(text, "fp_iter", tmp_path / name)
