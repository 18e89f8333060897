"""hw.lib.fp_arith: the floating-point adder and multiplier, each wrapped in a test-only stream
component and simulated with the project harness (amaranth backend).

References: NumPy float32 arithmetic (IEEE RNE, gradual underflow) for FP32 addition and for
BF16 x BF16 -> FP32 products; ``golden.formats.add``/``mul``/``encode`` for the other formats,
rounding modes and overflow policies. NaN results compare as the canonical NaN."""
import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

import hw.lib.fp_arith
from golden import formats as F
from golden.formats import FloatFormat, get_format
from hw.lib.fp_arith import add, mul, mul_back, mul_front, mul_layout
from hw.lib.pipeline import StreamPipeline
from mxforge.catalogue import Block
from sim.harness import check

FP32_NAN = 0x7FC00000


class ArithUnit(wiring.Component):
    """Test wrapper: one ``add`` (fmt_b, out_fmt = fmt_a) or ``mul`` per beat; ``add_dual`` is
    ``add(..., structure="dual")``; ``mul_split`` is ``mul_back(mul_front(...))`` with a
    pipeline register between the two."""

    def __init__(self, op="add", fmt_a="fp32", fmt_b="fp32", out_fmt="fp32", rounding="rne",
                 overflow="nonsat"):
        self.op, self.rounding, self.overflow = op, rounding, overflow
        self.fa, self.fb, self.fo = (get_format(f) for f in (fmt_a, fmt_b, out_fmt))
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"a": self.fa.width, "b": self.fb.width}))),
            "o": Out(stream.Signature(data.StructLayout({"r": self.fo.width}))),
        })

    @property
    def latency(self):
        return int(self.op == "mul_split")

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o)
        a, b = self.i.payload.a, self.i.payload.b
        if self.op in ("add", "add_dual"):
            r = add(m, self.fa, a, b, rounding=self.rounding, overflow=self.overflow,
                    structure="dual" if self.op == "add_dual" else "single")
        elif self.op == "mul_split":
            mid = p.stage(mul_front(m, self.fa, a, self.fb, b, self.fo))
            r = mul_back(m, self.fa, self.fb, self.fo, mid, rounding=self.rounding,
                         overflow=self.overflow)
        else:
            r = mul(m, self.fa, a, self.fb, b, self.fo, rounding=self.rounding,
                    overflow=self.overflow)
        p.finish({"r": r})
        return m


def _golden(inputs, op, fmt_a, fmt_b, out_fmt, rounding, overflow):
    a, b = inputs["a"], inputs["b"]
    op = "add" if op == "add_dual" else op
    if op == "add" and fmt_a == "fp32" and rounding == "rne" and overflow == "nonsat":
        with np.errstate(all="ignore"):
            s = a.astype(np.uint32).view(np.float32) + b.astype(np.uint32).view(np.float32)
        r = np.where(np.isnan(s), FP32_NAN, s.view(np.uint32).astype(np.int64))
    elif op == "add":
        r = F.add(a, b, fmt_a, rounding, overflow)
    elif fmt_a == fmt_b == "fp32" and out_fmt == "fp32" and rounding == "rne" \
            and overflow == "nonsat":
        with np.errstate(all="ignore"):
            p = a.astype(np.uint32).view(np.float32) * b.astype(np.uint32).view(np.float32)
        r = np.where(np.isnan(p), FP32_NAN, p.view(np.uint32).astype(np.int64))
    elif fmt_a == fmt_b == "bf16" and out_fmt == "fp32" and rounding == "rne" \
            and overflow == "nonsat":
        with np.errstate(all="ignore"):
            p = (a << 16).astype(np.uint32).view(np.float32) * \
                (b << 16).astype(np.uint32).view(np.float32)
        r = np.where(np.isnan(p), FP32_NAN, p.view(np.uint32).astype(np.int64))
    else:
        # the product of two significands of <= 24 bits is exact in float64, and so are the
        # exponents of these formats
        with np.errstate(invalid="ignore"):
            x = F.decode(a, fmt_a) * F.decode(b, fmt_b)
        r = F.encode(x, out_fmt, rounding, overflow)
    return {"r": r.astype(np.int64)}


UNIT = Block(
    name="fp_arith", generator=ArithUnit,
    golden=lambda inputs, **p: _golden(inputs, **p),
    stimulus=None, exhaustive_size=lambda **p: None,
    defaults={"op": "add", "fmt_a": "fp32", "fmt_b": "fp32", "out_fmt": "fp32",
              "rounding": "rne", "overflow": "nonsat"},
    name_params=("op", "fmt_a"))


# -- operand sets ----------------------------------------------------------------------------

def special_codes(fmt):
    """Zeros, subnormals (min, max, a middle one), min normal, one, max finite, Inf and NaN
    codes (several payloads), both signs."""
    f = get_format(fmt)
    m = f.mbits
    top = (1 << f.ebits) - 1
    mags = {0, 1, (1 << m) - 1, 1 << (m - 1), 1 << m, (1 << m) | 1, f.bias << m,
            (f.bias << m) | 1, ((f.bias + 1) << m) - 1}
    mags.add(((top - 1) << m) | ((1 << m) - 1) if f.specials == "ieee" else
             (top << m) | f.max_mantissa)
    mags.add(((top - 1) << m) | ((1 << m) - 2))
    if f.specials == "ieee":
        mags |= {top << m, (top << m) | 1, (top << m) | (1 << (m - 1)), (top << m) | ((1 << m) - 1)}
    elif f.specials == "fn":
        mags.add((top << m) | ((1 << m) - 1))
    mags = sorted(x for x in mags if 0 <= x < 1 << (f.width - 1))
    return np.array(mags + [x | 1 << (f.width - 1) for x in mags], dtype=np.int64)


def fp32_pairs(rng, n):
    """Random FP32 pairs weighted toward the adder's hard cases."""
    a = rng.integers(0, 1 << 32, n)
    b = rng.integers(0, 1 << 32, n)
    q = n // 8
    # close exponents, random signs: cancellation and alignment within the window
    for i, spread in enumerate((0, 1, 2, 3, 26, 30)):
        lo, hi = q * i, q * (i + 1)
        d = rng.integers(-spread, spread + 1, hi - lo)
        b[lo:hi] = ((a[lo:hi] & 0x7F800000) + (d << 23)) & 0x7F800000 \
            | rng.integers(0, 1 << 23, hi - lo) | (rng.integers(0, 2, hi - lo) << 31)
    # b = -a, -a ± a few ulps (exact cancellation, tiny results, -0 never)
    lo = 6 * q
    b[lo: lo + q] = (a[lo: lo + q] ^ (1 << 31)) + rng.integers(-2, 3, q)
    # subnormal and tiny operands
    lo = 7 * q
    a[lo: lo + q // 2] = rng.integers(0, 1 << 24, q // 2) | (rng.integers(0, 2, q // 2) << 31)
    b[lo: lo + q] = rng.integers(0, 1 << 25, q) | (rng.integers(0, 2, q) << 31)
    # keep b in range after the ± ulp offsets
    b &= 0xFFFFFFFF
    return a, b


def tie_pairs():
    """Exact ties and their neighbours: 1.x + 2**-24 * y at and around half an ulp, with the
    small operand far enough to set sticky, for even and odd significands, both signs."""
    rows = []
    for big in (0x3F800000, 0x3F800001, 0x3FFFFFFF, 0x3F7FFFFF, 0x00800000, 0x00800001,
                0x7F7FFFFF, 0x7F7FFFFE, 0x4B000001):
        e = (big >> 23) & 0xFF
        for de in range(22, 30):
            if e - de < 1:
                continue
            for mant in (0, 1, 0x400000, 0x7FFFFF, 0x3FFFFF):
                small = ((e - de) << 23) | mant
                for sb in (0, 1):
                    for sa in (0, 1):
                        rows.append((big | sa << 31, small | sb << 31))
    a, b = zip(*rows)
    return np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)


def both_orders(a, b):
    return {"a": np.concatenate([a, b]), "b": np.concatenate([b, a])}


# -- FP32 adder against NumPy ------------------------------------------------------------------

def _backend(op):
    """The dual-path adder's prefix adders are gates, which Amaranth's simulator evaluates one
    by one (~30x the single-path adder's time per vector): it runs compiled."""
    return "verilator" if op == "add_dual" else "amaranth"


def test_fp32_adder_specials_cross_product(op="add"):
    s = special_codes("fp32")
    a, b = np.meshgrid(s, s)
    params = UNIT.params(op=op)
    check(UNIT, params, {"a": a.ravel(), "b": b.ravel()}, backend=_backend(op), stalls=False)


def test_fp32_adder_ties(op="add"):
    params = UNIT.params(op=op)
    check(UNIT, params, both_orders(*tie_pairs()), backend=_backend(op), stalls=False)


def test_fp32_dual_adder():
    """The dual-path adder in one compiled build: random pairs, the ties, every pair of special
    codes and the signed zeros, against NumPy with back-pressure."""
    a, b = fp32_pairs(np.random.default_rng(12), 3000)
    ta, tb = tie_pairs()
    sa, sb = np.meshgrid(special_codes("fp32"), special_codes("fp32"))
    za = np.array([0, 1 << 31, 0, 1 << 31, 0x3F800000, 1])
    zb = np.array([0, 1 << 31, 1 << 31, 0, 0xBF800000, 0x80000001])
    v = both_orders(np.concatenate([a, ta, sa.ravel(), za]),
                    np.concatenate([b, tb, sb.ravel(), zb]))
    check(UNIT, UNIT.params(op="add_dual"), v, backend="verilator", stalls=True)


@pytest.mark.parametrize("op, n", [("add", 10000)])
def test_fp32_adder_random(op, n):
    a, b = fp32_pairs(np.random.default_rng(11), n)
    check(UNIT, UNIT.params(op=op), both_orders(a, b), backend=_backend(op), stalls=True)


def test_fp32_adder_signed_zeros(op="add"):
    one, mone = 0x3F800000, 0xBF800000
    v = {"a": np.array([0, 1 << 31, 0, 1 << 31, one, mone, 1, 0x80000001]),
         "b": np.array([0, 1 << 31, 1 << 31, 0, mone, one, 0x80000001, 1])}
    out = check(UNIT, UNIT.params(op=op), v, backend=_backend(op), stalls=False)
    assert list(out.outputs["r"]) == [0, 1 << 31, 0, 0, 0, 0, 0, 0]


def test_guard_bits_are_needed(monkeypatch):
    """With one guard bit the adder rounds 1.0 - tiny down (the bound in add's docstring)."""
    monkeypatch.setattr(hw.lib.fp_arith, "GUARD", 1)
    v = {"a": np.array([0x3F800000]), "b": np.array([0xB2800000])}  # 1 - 2**-26 -> 1.0
    with pytest.raises(AssertionError, match="1 of 1 vectors mismatch"):
        check(UNIT, UNIT.params(op="add"), v, backend="amaranth", stalls=False)
    monkeypatch.setattr(hw.lib.fp_arith, "GUARD", 2)
    check(UNIT, UNIT.params(op="add"), v, backend="amaranth", stalls=False)


# -- other formats, rounding modes and overflow policies against golden.formats.add ---------------

@pytest.mark.parametrize("op, fmt, rounding, overflow", [
    ("add", "e5m2", "rne", "nonsat"), ("add", "e4m3", "rne", "saturate"),
    ("add", "e3m2", "rne", "saturate"), ("add", "e3m2", "rna", "saturate"),
    ("add", "e2m3", "rtz", "saturate"), ("add", "e2m3", "rne", "nonsat"),
    ("add", "e2m1", "rne", "saturate"), ("add", "e2m1", "rna", "nonsat"),
    ("add_dual", "e5m2", "rna", "nonsat")])
def test_small_format_adder_exhaustive(op, fmt, rounding, overflow):
    n = 1 << get_format(fmt).width
    a, b = np.meshgrid(np.arange(n), np.arange(n))
    params = UNIT.params(op=op, fmt_a=fmt, fmt_b=fmt, out_fmt=fmt, rounding=rounding,
                         overflow=overflow)
    check(UNIT, params, {"a": a.ravel(), "b": b.ravel()}, backend=_backend(op), stalls=False)


# 8-bit formats outside the catalogue, so that every kind of specials and subnormal handling gets
# an exhaustive adder test: IEEE Inf/NaN with subnormals and exponent differences beyond the
# adder's window (e4m3_ieee: up to 14 > P + GUARD = 6), a narrow exponent range (e3m4_ieee: most
# sums overflow or are subnormal), and no subnormals (e4m3_ftz: results below 2**emin round to
# 0 or the smallest normal)
E4M3_IEEE = FloatFormat("e4m3_ieee", 4, 3, 7, "ieee")
E3M4_IEEE = FloatFormat("e3m4_ieee", 3, 4, 3, "ieee")
E4M3_FTZ = FloatFormat("e4m3_ftz", 4, 3, 7, "none", subnormals=False)


@pytest.mark.parametrize("fmt, rounding, overflow, op", [
    (E4M3_IEEE, "rne", "nonsat", "add"), (E3M4_IEEE, "rtz", "saturate", "add"),
    (E4M3_FTZ, "rna", "nonsat", "add"), (E4M3_IEEE, "rne", "nonsat", "add_dual"),
    (E4M3_FTZ, "rna", "nonsat", "add_dual")],
    ids=["e4m3_ieee-rne-nonsat", "e3m4_ieee-rtz-saturate", "e4m3_ftz-rna-nonsat",
         "e4m3_ieee-rne-nonsat-dual", "e4m3_ftz-rna-nonsat-dual"])
def test_ieee_like_adder_exhaustive(fmt, rounding, overflow, op):
    """All 65,536 pairs against ``golden.formats.add``, both adder structures."""
    a, b = np.meshgrid(np.arange(256), np.arange(256))
    params = UNIT.params(op=op, fmt_a=fmt, fmt_b=fmt, out_fmt=fmt, rounding=rounding,
                         overflow=overflow)
    check(UNIT, params, {"a": a.ravel(), "b": b.ravel()}, backend=_backend(op), stalls=False)


@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_fn_format_adder_nonsat(rounding):
    """e4m3 ("fn": overflow gives NaN with nonsat): every pair of the top two binades, both
    signs, plus random pairs."""
    top = np.arange(0x68, 0x80)
    top = np.concatenate([top, top | 0x80])
    a, b = np.meshgrid(top, top)
    rng = np.random.default_rng(3)
    v = {"a": np.concatenate([a.ravel(), rng.integers(0, 256, 3000)]),
         "b": np.concatenate([b.ravel(), rng.integers(0, 256, 3000)])}
    params = UNIT.params(op="add", fmt_a="e4m3", fmt_b="e4m3", out_fmt="e4m3",
                         rounding=rounding, overflow="nonsat")
    check(UNIT, params, v, backend="amaranth", stalls=False)


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp10_e5m4", "fp18_e5m12", "fp17_e6m11"])
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_wide_format_adder(fmt, rounding):
    n = 6000
    f = get_format(fmt)
    rng = np.random.default_rng(f.width)
    a = rng.integers(0, 1 << f.width, n)
    b = rng.integers(0, 1 << f.width, n)
    e = (a >> f.mbits) & ((1 << f.ebits) - 1)   # half the pairs with close exponents
    d = np.clip(e + rng.integers(-f.mbits - 3, f.mbits + 4, n), 0, (1 << f.ebits) - 1)
    b[: n // 2] = ((d << f.mbits) | (b & ((1 << f.mbits) - 1)) | (b >> (f.width - 1)
                                                                   << (f.width - 1)))[: n // 2]
    s = special_codes(fmt)
    sa, sb = np.meshgrid(s, s)
    v = {"a": np.concatenate([a, sa.ravel()]), "b": np.concatenate([b, sb.ravel()])}
    overflow = "nonsat" if f.specials == "ieee" else "saturate"
    params = UNIT.params(op="add", fmt_a=fmt, fmt_b=fmt, out_fmt=fmt, rounding=rounding,
                         overflow=overflow)
    check(UNIT, params, v, backend="amaranth", stalls=False)


# -- multiplier ------------------------------------------------------------------------------

def bf16_pairs(rng, n):
    a = rng.integers(0, 1 << 16, n)
    b = rng.integers(0, 1 << 16, n)
    # product exponents around FP32's underflow and overflow edges
    t = rng.choice([-150, -149, -140, -127, -126, -125, 126, 127, 128], n) + 254
    ea = np.clip(rng.integers(0, 255, n), np.maximum(t - 254, 0), np.minimum(t, 254))
    eb = np.clip(t - ea, 0, 254)
    edge = rng.random(n) < 0.5
    a = np.where(edge, (a & 0x807F) | (ea << 7), a)
    b = np.where(edge, (b & 0x807F) | (eb << 7), b)
    return a, b


def test_bf16_multiplier_against_numpy():
    rng = np.random.default_rng(5)
    a, b = bf16_pairs(rng, 20000)
    s = special_codes("bf16")
    sa, sb = np.meshgrid(s, s)
    v = {"a": np.concatenate([a, sa.ravel()]), "b": np.concatenate([b, sb.ravel()])}
    params = UNIT.params(op="mul", fmt_a="bf16", fmt_b="bf16", out_fmt="fp32")
    out = check(UNIT, params, v, backend="amaranth", stalls=True).outputs["r"]
    # the vectors reach subnormal, zero-by-underflow and overflow results
    finite_in = ((a >> 7) & 0xFF != 0xFF) & ((b >> 7) & 0xFF != 0xFF) & (a & 0x7FFF != 0) \
        & (b & 0x7FFF != 0)
    r = out[: len(a)]
    assert np.any(finite_in & (r & 0x7FFFFFFF == 0))
    assert np.any(finite_in & (r & 0x7F800000 == 0) & (r & 0x7FFFFF != 0))
    assert np.any(finite_in & (r & 0x7FFFFFFF == 0x7F800000))


@pytest.mark.parametrize("fmt_a, fmt_b, out_fmt, rounding, overflow", [
    ("e4m3", "e4m3", "e4m3", "rne", "saturate"),
    ("e2m1", "e3m2", "e2m3", "rtz", "saturate"),
    ("e4m3", "e5m2", "bf16", "rne", "nonsat"),
    ("e5m2", "e2m1", "fp32", "rna", "nonsat"),
    ("e3m2", "e2m3", "fp10_e5m4", "rtz", "saturate"),
    ("e2m1", "e2m1", "e2m1", "rne", "saturate"),
    # products that fit the output significand (the multiplier's normalize-and-round path):
    # "fn" output, and a flush-to-zero output both underflowed and overflowed
    ("e2m1", "e2m1", "e4m3", "rne", "nonsat"),
    ("e2m1", "e3m2", FloatFormat("e3m4_ftz", 3, 4, 3, "none", subnormals=False), "rne",
     "saturate"),
    ("e2m1", "e3m2", FloatFormat("e3m4_ftz", 3, 4, 3, "none", subnormals=False), "rna",
     "nonsat"),
], ids=lambda v: v.name if isinstance(v, FloatFormat) else None)
def test_small_format_multiplier_exhaustive(fmt_a, fmt_b, out_fmt, rounding, overflow):
    _every_pair("mul", fmt_a, fmt_b, out_fmt, rounding, overflow)


def _every_pair(op, fmt_a, fmt_b, out_fmt, rounding, overflow):
    """``op`` on every pair of codes of two small formats, against the golden model."""
    na, nb = (1 << get_format(f).width for f in (fmt_a, fmt_b))
    a, b = np.meshgrid(np.arange(na), np.arange(nb))
    params = UNIT.params(op=op, fmt_a=fmt_a, fmt_b=fmt_b, out_fmt=out_fmt,
                         rounding=rounding, overflow=overflow)
    check(UNIT, params, {"a": a.ravel(), "b": b.ravel()}, backend="amaranth", stalls=False)


def test_wide_output_multiplier_exhaustive():
    """e5m2 x e5m2 into a 12-bit IEEE format: the product (6 bits) fits its significand, and
    the products reach its subnormals, underflow to zero, Inf, NaN and every special input."""
    out = FloatFormat("e5m6_ieee", 5, 6, 15, "ieee")
    a, b = np.meshgrid(np.arange(256), np.arange(256))
    params = UNIT.params(op="mul", fmt_a="e5m2", fmt_b="e5m2", out_fmt=out, rounding="rna",
                         overflow="nonsat")
    check(UNIT, params, {"a": a.ravel(), "b": b.ravel()}, backend="amaranth", stalls=False)


def fp32_mul_pairs(rng, n):
    """Random FP32 pairs, half with product exponents around FP32's underflow and overflow
    edges (subnormal operands and results, gradual underflow's rounding, overflow)."""
    a = rng.integers(0, 1 << 32, n)
    b = rng.integers(0, 1 << 32, n)
    t = rng.choice([-170, -152, -150, -149, -148, -140, -127, -126, -125, 126, 127, 128], n) + 254
    ea = np.clip(rng.integers(0, 255, n), np.maximum(t - 254, 0), np.minimum(t, 254))
    eb = np.clip(t - ea, 0, 254)
    edge = rng.random(n) < 0.5
    a = np.where(edge, (a & 0x807FFFFF) | (ea << 23), a)
    b = np.where(edge, (b & 0x807FFFFF) | (eb << 23), b)
    sub = rng.random(n) < 0.1                       # a subnormal times a large normal
    a = np.where(sub, a & 0x807FFFFF, a)
    return a, b


@pytest.mark.parametrize("op", ["mul", "mul_split"])
def test_fp32_multiplier_against_numpy(op):
    """FP32 x FP32 (a product wider than the output significand: ``mul_front``/``mul_back``,
    as one unit and with the register between them) against NumPy, with back-pressure."""
    a, b = fp32_mul_pairs(np.random.default_rng(17), 6000)
    s = special_codes("fp32")
    sa, sb = np.meshgrid(s, s)
    v = both_orders(np.concatenate([a, sa.ravel()]), np.concatenate([b, sb.ravel()]))
    out = check(UNIT, UNIT.params(op=op, fmt_a="fp32"), v, backend="amaranth",
                stalls=True).outputs["r"]
    r, fin = out[: len(a)], ((a >> 23) & 0xFF != 0xFF) & ((b >> 23) & 0xFF != 0xFF)
    assert np.any(fin & (r & 0x7F800000 == 0) & (r & 0x7FFFFF != 0))      # subnormal results
    assert np.any(fin & (r & 0x7FFFFFFF == 0x7F800000))                   # overflow


@pytest.mark.parametrize("fmt_a, fmt_b, out_fmt, rounding, overflow", [
    ("e4m3", "e5m2", "e4m3", "rne", "nonsat"),
    ("e2m1", "e3m2", FloatFormat("e3m4_ftz", 3, 4, 3, "none", subnormals=False), "rna",
     "saturate"),
    (E4M3_IEEE, "e2m1", E3M4_IEEE, "rtz", "nonsat"),
], ids=lambda v: v.name if isinstance(v, FloatFormat) else None)
def test_split_multiplier_exhaustive(fmt_a, fmt_b, out_fmt, rounding, overflow):
    """``mul_front`` | register | ``mul_back`` for every pair, also where the product fits the
    output significand (``mul`` itself keeps its own datapath there)."""
    _every_pair("mul_split", fmt_a, fmt_b, out_fmt, rounding, overflow)


def test_mul_layout_width():
    assert mul_layout("fp32", "fp32", "fp32").size == 70


def test_bad_arguments():
    s16, s8 = Signal(16), Signal(8)
    with pytest.raises(ValueError, match="fmt must be a float format, not mxint8"):
        add(Module(), "mxint8", s8, s8)
    with pytest.raises(ValueError, match="out_fmt must be a float format, not mxsf"):
        mul(Module(), "bf16", s16, "bf16", s16, "mxsf")
    with pytest.raises(ValueError, match="rounding must be one of rne, rna, rtz, not 'stochastic'"):
        add(Module(), "fp32", Signal(32), Signal(32), rounding="stochastic")
    with pytest.raises(ValueError, match="overflow must be one of saturate, nonsat"):
        mul(Module(), "bf16", s16, "bf16", s16, "fp32", overflow="wrap")
    with pytest.raises(ValueError, match="out_fmt e2m1 has no NaN"):
        mul(Module(), "bf16", s16, "bf16", s16, "e2m1")
    with pytest.raises(ValueError, match="format must be one of"):
        add(Module(), "fp64", Signal(64), Signal(64))
    with pytest.raises(ValueError, match="structure must be one of single, dual"):
        add(Module(), "fp32", Signal(32), Signal(32), structure="near")
