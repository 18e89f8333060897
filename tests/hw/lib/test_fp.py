"""hw.lib.fp: the shared encoder, FP32 unpack and leading-zero count against the golden model.

The encoder is wrapped in a test-only stream component and simulated with the project harness
(amaranth backend) against ``golden.formats.encode`` on the exact value (mag + delta) * 2**exp.
"""
import numpy as np
import pytest
from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.sim import Simulator
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import opal
from golden.formats import BF16, FP32, MX_ELEMENTS, encode, get_format, magnitudes
from hw.lib.fp import encode as hw_encode
from hw.lib.fp import convert, leading_zeros, unpack_fp32
from hw.lib.pipeline import StreamPipeline
from hw.lib.block import Block
from sim.harness import check

MAG_BITS, EXP_BITS = 10, 9


class EncodeUnit(wiring.Component):
    """Test wrapper: one encode() per beat."""

    def __init__(self, fmt="e4m3", rounding="rne", overflow="saturate", rbits=0):
        self.fmt, self.rounding, self.overflow, self.rbits = get_format(fmt), rounding, overflow, rbits
        fields = {"sign": 1, "mag": MAG_BITS, "exp": signed(EXP_BITS), "sticky": 1, "inf": 1,
                  "nan": 1, "rand": max(rbits, 1)}
        super().__init__({
            "i": In(stream.Signature(data.StructLayout(fields))),
            "o": Out(stream.Signature(data.StructLayout({"code": self.fmt.width}))),
        })

    latency = 0

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o)
        i = self.i.payload
        code = hw_encode(m, self.fmt, i.sign, i.mag, i.exp, rounding=self.rounding,
                         overflow=self.overflow, sticky=i.sticky, inf=i.inf,
                         nan=i.nan if self.fmt.has_nan else 0,
                         rand=i.rand[: self.rbits] if self.rbits else None)
        p.finish({"code": code})
        return m


def _value(inputs, delta):
    mag = inputs["mag"].astype(np.float64) + np.where(inputs["sticky"] == 1, delta, 0.0)
    x = np.ldexp(mag, inputs["exp"].astype(np.int64))
    x = np.where(inputs["inf"] == 1, np.inf, x)
    x = np.where(inputs["sign"] == 1, -x, x)
    return np.where(inputs["nan"] == 1, np.nan, x)


LOW, HIGH = 2.0**-20, 1 - 2.0**-20  # sticky: delta anywhere in (0, 1)


def _golden(inputs, fmt, rounding, overflow, rbits, delta=LOW):
    kw = {"rbits": rbits, "rand": inputs["rand"]} if rounding == "stochastic" else {}
    return {"code": encode(_value(inputs, delta), fmt, rounding, overflow, **kw)}


def _stimulus(rng, n, exhaustive=False, fmt="e4m3", rounding="rne", overflow="saturate", rbits=0):
    f = get_format(fmt)
    emin = {"float": lambda: f.emin, "int": lambda: -f.frac_bits,
            "mxsf": lambda: 1 - f.sub_bias}[f.kind]()
    emax = f.emax_elem
    lo, hi = emin - 20 - MAG_BITS, emax + 3
    cols = {
        "sign": rng.integers(0, 2, n), "mag": rng.integers(0, 1 << MAG_BITS, n),
        "exp": rng.integers(lo, hi, n), "sticky": rng.integers(0, 2, n),
        "inf": (rng.random(n) < 0.02).astype(np.int64),
        "nan": (rng.random(n) < 0.02).astype(np.int64) if f.has_nan else np.zeros(n, np.int64),
        "rand": rng.integers(0, 1 << max(rbits, 1), n),
    }
    # small magnitudes and powers of two exercise the normalizer's edges
    cols["mag"][: n // 8] = 1 << rng.integers(0, MAG_BITS, n // 8)
    cols["mag"][n // 8: n // 6] = rng.integers(0, 4, n // 6 - n // 8)
    # every representable magnitude, every midpoint and their neighbours at a fine exponent
    if f.width <= 10:
        vals, _ = magnitudes(f)
        vals = vals[vals > 0]
        top = vals[-1] + (vals[-1] - vals[-2]) / 2  # the overflow midpoint
        x = np.concatenate([vals, (vals[:-1] + vals[1:]) / 2,
                            [top, 2 * vals[-1], vals[0] / 2, vals[0] / 4]])
        e = np.floor(np.log2(x)).astype(np.int64) - (MAG_BITS - 2)
        base = np.ldexp(x, -e).astype(np.int64)  # exact: x has few significant bits
        mags = (base[:, None] + np.array([-1, 0, 1])).ravel()
        exps = np.repeat(e, 3)
        k = len(mags)
        corner = {"sign": np.repeat([0, 1], k), "mag": np.tile(mags, 2), "exp": np.tile(exps, 2),
                  "sticky": np.concatenate([np.zeros(k, np.int64), np.arange(k) % 2]),
                  "inf": np.zeros(2 * k, np.int64), "nan": np.zeros(2 * k, np.int64),
                  "rand": np.arange(2 * k) % (1 << max(rbits, 1))}
        cols = {c: np.concatenate([cols[c], corner[c]]) for c in cols}
    keep = (cols["mag"] >= 0) & (cols["mag"] < 1 << MAG_BITS)
    cols = {k: v[keep].astype(np.int64) for k, v in cols.items()}
    # sticky is specified as "strictly between": keep only vectors whose result does not depend on
    # where between (the encoder's contract: mag has a bit below the rounding position). Rounding
    # is monotonic, so equal results at both ends of (0, 1) mean equal results for every delta.
    stable = (_golden(cols, f, rounding, overflow, rbits, LOW)["code"]
              == _golden(cols, f, rounding, overflow, rbits, HIGH)["code"])
    return {k: v[stable] for k, v in cols.items()}


ENCODE = Block(
    name="fp_encode", generator=EncodeUnit,
    golden=lambda inputs, **p: _golden(inputs, p["fmt"], p["rounding"], p["overflow"], p["rbits"]),
    stimulus=_stimulus, exhaustive_size=lambda **p: None,
    defaults={"fmt": "e4m3", "rounding": "rne", "overflow": "saturate", "rbits": 0},
    name_params=("fmt", "rounding", "overflow"))

#: MXSF variants: overlap (b5, b6), gap (b10, b16) and another sub-mode split
MXSF_VARIANTS = ("mxsf_b5", "mxsf_b6", "mxsf_b10", "mxsf_b16", "mxsf_e2m3_b4", "mxsf_e4m1_b20")
FORMATS = MX_ELEMENTS + MXSF_VARIANTS + ("bf16", "fp16", "fp10_e5m4", "fp32")
CASES = ([(f, r, "saturate", 0) for f in FORMATS for r in ("rne", "rna", "rtz")]
         + [(f, r, "nonsat", 0) for f in FORMATS for r in ("rne", "rtz")]
         + [(f, "stochastic", "saturate", 3)
            for f in ("e4m3", "mxint8", "mxsf", "mxsf_b6", "mxsf_e2m3_b4", "e2m1")])


@pytest.mark.parametrize("fmt, rounding, overflow, rbits", CASES)
def test_encode_matches_golden(fmt, rounding, overflow, rbits):
    params = ENCODE.params(fmt=fmt, rounding=rounding, overflow=overflow, rbits=rbits)
    inputs = ENCODE.vectors(seed=7, n=3000, **params)
    assert len(inputs["mag"]) > 1500  # the sticky filter keeps most vectors
    check(ENCODE, params, inputs, backend="amaranth", stalls=False)


def test_encode_sticky_contract_filter_is_not_vacuous():
    """With sticky set and a round bit below mag's LSB, the result depends on delta."""
    cols = {"sign": np.array([0]), "mag": np.array([9]), "exp": np.array([-3]),
            "sticky": np.array([1]), "inf": np.array([0]), "nan": np.array([0]),
            "rand": np.array([0])}
    # 9/8 + delta/8 in e4m3 (step 1/8 at 1.x): rounds to 9/8 or 10/8 depending on delta
    a = _golden(cols, "e4m3", "rne", "saturate", 0, LOW)["code"]
    b = _golden(cols, "e4m3", "rne", "saturate", 0, HIGH)["code"]
    assert a[0] != b[0]


def test_encode_rejects_bad_parameters():
    from amaranth.hdl import Signal
    s, mg, e = Signal(), Signal(8), Signal(signed(6))
    with pytest.raises(ValueError, match="rounding must be one of rne, rna, rtz, stochastic"):
        hw_encode(Module(), "e4m3", s, mg, e, rounding="nearest")
    with pytest.raises(ValueError, match="overflow must be one of saturate, nonsat"):
        hw_encode(Module(), "e4m3", s, mg, e, overflow="wrap")
    with pytest.raises(ValueError, match="format e2m1 has no NaN"):
        hw_encode(Module(), "e2m1", s, mg, e, nan=Signal())
    with pytest.raises(ValueError, match="stochastic rounding needs rand"):
        hw_encode(Module(), "e4m3", s, mg, e, rounding="stochastic")


class Probe(wiring.Component):
    """Test wrapper around unpack_fp32 and leading_zeros of a 32-bit word."""

    i: In(stream.Signature(data.StructLayout({"x": 32})))
    o: Out(stream.Signature(data.StructLayout({
        "sign": 1, "sig": 24, "exp": signed(10), "zero": 1, "inf": 1, "nan": 1, "lz": 6,
        "lz5": 3})))
    latency = 0

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o)
        f = unpack_fp32(self.i.payload.x)
        p.finish({"sign": f.sign, "sig": f.sig, "exp": f.exp, "zero": f.zero, "inf": f.inf,
                  "nan": f.nan, "lz": leading_zeros(self.i.payload.x),
                  "lz5": leading_zeros(self.i.payload.x[:5])})
        return m


def _probe_golden(inputs):
    x = inputs["x"].astype(np.uint32)
    with np.errstate(invalid="ignore"):
        v = x.view(np.float32).astype(np.float64)
    fin = np.isfinite(v)
    m, e = np.frexp(np.where(fin, np.abs(v), 1.0))
    sub = (x >> 23) & 0xFF == 0
    exp = np.where(sub, -149, e - 24)
    sig = np.where(fin, np.abs(v) / np.exp2(exp), 0).astype(np.int64)
    special = ~fin
    lz = np.array([32 - int(w).bit_length() for w in x])
    lz5 = np.array([5 - (int(w) & 31).bit_length() for w in x])
    frac = x & 0x7FFFFF
    return {"sign": (x >> 31).astype(np.int64), "sig": np.where(special, frac | (1 << 23), sig),
            "exp": np.where(special, 105, exp), "zero": (v == 0).astype(np.int64),
            "inf": np.isinf(v).astype(np.int64), "nan": np.isnan(v).astype(np.int64),
            "lz": lz, "lz5": lz5}


def test_unpack_fp32_and_leading_zeros():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 1 << 32, 4000, dtype=np.int64)
    x[:32] = 1 << np.arange(32)  # every leading-one position
    special = [0, 0x80000000, 0x1, 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0x7F800000, 0xFF800000,
               0x7FC00000, 0x7F800001]
    x = np.concatenate([x, special]).astype(np.int64)
    block = Block(name="fp_probe", generator=Probe, golden=lambda inputs: _probe_golden(inputs),
                  stimulus=None, exhaustive_size=lambda: None, defaults={})
    check(block, {}, {"x": x}, backend="amaranth", stalls=False)


# ---------------------------------------------------------------------------------------------
# hw.lib.fp.convert: format conversions (LightNorm's widenings and roundings)

_CONVERSIONS = [
    # (src, dst, rounding, overflow): exact widenings (wiring), then roundings (encode)
    ("fp10_e5m4", "fp18_e5m12", "rtz", "saturate"),
    ("fp10_e5m4", "fp17_e6m11", "rtz", "saturate"),
    ("fp10_e6m3", "fp17_e6m11", "rne", "saturate"),
    ("fp16", "fp32", "rne", "nonsat"),
    ("fp18_e5m12", "fp17_e6m11", "rtz", "saturate"),
    ("fp18_e5m12", "fp17_e6m11", "rne", "saturate"),
    ("fp18_e5m12", "fp10_e5m4", "rtz", "saturate"),
    ("fp18_e5m12", "fp10_e5m4", "rne", "saturate"),
    ("fp17_e6m11", "fp10_e6m3", "rne", "saturate"),
    ("fp32", "fp16", "rne", "nonsat"),
    ("fp32", "bf16", "rne", "nonsat"),     # the bit-pattern path
    ("fp32", "bf16", "rne", "saturate"),   # the general path
    ("fp32", "bf16", "rtz", "nonsat"),
]


@pytest.mark.parametrize("src, dst, rounding, overflow", _CONVERSIONS)
def test_convert_matches_encode_of_decode(src, dst, rounding, overflow):
    """Every code of a source of at most 16 bits (a seeded sample of 4,096 plus the extremes
    beyond), against golden.formats.encode(decode(code)) with the same rounding."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from golden.formats import decode, encode, get_format
    from hw.lib.fp import convert
    S, D = get_format(src), get_format(dst)
    if S.width <= 16:
        codes = np.arange(1 << S.width)
    else:
        top = (1 << S.width) - 1
        codes = np.unique(np.concatenate([
            np.random.default_rng(S.width).integers(0, 1 << S.width, 4096),
            [0, 1, top, top >> 1, (top >> 1) + 1, (top >> 1) - 1]]))
    m = Module()
    a, o = Signal(S.width), Signal(D.width)
    m.d.comb += o.eq(convert(m, S, D, a, rounding=rounding, overflow=overflow))
    got = []

    async def bench(ctx):
        for c in codes:
            ctx.set(a, int(c))
            got.append(ctx.get(o))
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    with np.errstate(invalid="ignore"):
        want = encode(decode(codes, S), D, rounding, overflow)
    np.testing.assert_array_equal(np.array(got), want)


def _bf16_patterns():
    """Every sign and exponent field with fractions around BF16's rounding point: the kept LSB
    (bit 16) 0 and 1, the dropped half (bits 0..15) below, at and above the tie, and carries
    that ripple through the kept fraction into the exponent (and past the largest finite)."""
    hi = np.array([0, 1, 2, 0x3F, 0x40, 0x41, 0x55, 0x7E, 0x7F])
    lo = np.array([0, 1, 0x4000, 0x7FFF, 0x8000, 0x8001, 0xC000, 0xFFFF])
    frac = (hi[:, None] << 16 | lo[None, :]).reshape(-1)
    exp = np.arange(256)
    pats = (exp[:, None] << 23 | frac[None, :]).reshape(-1)
    return np.concatenate([pats, pats | 1 << 31]).astype(np.int64)


def _simulate_bf16(patterns, width=512):
    xs, ys = Signal(32 * width), Signal(16 * width)
    m = Module()
    m.d.comb += ys.eq(Cat(*(convert(m, FP32, BF16, xs[32 * j: 32 * (j + 1)], rounding="rne",
                                    overflow="nonsat") for j in range(width))))
    padded = np.concatenate([patterns, np.zeros(-len(patterns) % width, dtype=np.int64)])
    got = []

    async def bench(ctx):
        for chunk in padded.reshape(-1, width):
            ctx.set(xs, sum(int(v) << (32 * j) for j, v in enumerate(chunk)))
            y = ctx.get(ys)
            got.extend((y >> (16 * j)) & 0xFFFF for j in range(width))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got[: len(patterns)], dtype=np.int64)


def test_fp32_to_bf16_over_structured_patterns():
    """convert's bit-pattern path (FP32 -> BF16, RNE, nonsat; OPAL's outliers) against the
    golden to_bf16 and, independently, ml_dtypes' cast."""
    pats = _bf16_patterns()
    got = _simulate_bf16(pats)
    expected = opal.to_bf16(pats)
    bad = np.flatnonzero(got != expected)
    assert not bad.size, [(hex(pats[i]), hex(got[i]), hex(expected[i])) for i in bad[:5]]
    # independent reference for every non-NaN pattern: ml_dtypes' RNE cast
    import ml_dtypes
    x = pats.astype(np.uint32).view(np.float32)
    fin = ~np.isnan(x)
    ref = x[fin].astype(ml_dtypes.bfloat16).view(np.uint16).astype(np.int64)
    assert np.array_equal(got[fin], ref)
    # the cases the patterns were built for are there: overflow to Inf, NaN canonicalized
    assert (got[pats == 0x7F7FFFFF] == 0x7F80).all() and (got[pats == 0xFFFFFFFF] == 0x7FC0).all()
