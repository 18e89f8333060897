"""The block-scale primitives of the MX-style quantizers (``mx_quantize``, ``mxsf_quantize``,
``opal_quantize``): the shared exponent from a block maximum given as FP32 fields, and one lane's
element encoder under that exponent (docs/numerics.md §4)."""
from amaranth.hdl import Cat, Mux, Signal, signed

from golden.formats import E8M0, FP32

from .fp import encode, leading_zeros, unpack_fp32
from .units import unit

__all__ = ["shared_exponent", "encode_lane"]

_EXP = signed(10)   # shared exponent and intermediate log2 values: [-166, 129] fit


def shared_exponent(m, fmt, top_b, top_f, scale_rounding="floor"):
    """The shared exponent of docs/numerics.md §4 rule 3 from a block maximum given as FP32 fields.

    E = clamp(floor(log2 amax) - emax_elem (+1 for "ceil" when amax / 2**E exceeds max finite),
    -127, 127): floor(log2 amax) is the exponent field minus the bias, or for a subnormal (or
    zero) amax the leading one of the fraction (zero gives -150, clamped to -127: scale code 0).
    An exponent field of 255 (NaN/Inf) is special: scale 0xFF. Shared by ``mx_quantize`` and
    ``opal_quantize`` (whose amax is the (k+1)-th ranked magnitude).

    Parameters
    ----------
    m : Module
        Receives the combinational signals ``lz``, ``log2``, ``e0``, ``e``, ``special``,
        ``scale`` (and ``norm`` for "ceil").
    fmt : element format descriptor
        Supplies ``emax_elem`` (and ``max_finite`` for "ceil").
    top_b : Value (8 bits)
        Exponent field of amax.
    top_f : Value (23 bits)
        Fraction field of amax; for "floor" any value with the leading one of amax's fraction
        (``MxQuantize`` passes the OR of the lanes' fractions when every exponent field is 0).
    scale_rounding : {"floor", "ceil"}

    Returns
    -------
    (e, special, scale) : signed(10) E, 1-bit NaN/Inf flag, 8-bit E8M0 scale code.
    """
    emax = fmt.emax_elem
    lz = Signal(range(24))
    log2 = Signal(_EXP)
    e0 = Signal(_EXP)
    e = Signal(_EXP)
    special = Signal()
    scale = Signal(8)
    m.d.comb += [
        lz.eq(leading_zeros(top_f)),
        log2.eq(Mux(top_b != 0, top_b - FP32.bias, -FP32.bias - lz)),
        special.eq(top_b == 0xFF),
    ]
    if scale_rounding == "floor":
        m.d.comb += e0.eq(log2 - emax)
    else:
        # amax / 2**(log2 - emax) = (normalized significand of amax) * 2**emax; compare the
        # 24-bit normalized significand with that of max finite (an exact integer)
        thr = fmt.max_finite * 2.0 ** (FP32.mbits - emax)
        assert thr == int(thr) and 1 << FP32.mbits <= thr < 1 << (FP32.mbits + 1)
        norm = Signal(24)
        # a subnormal amax matters only when E = log2 - emax + 1 can reach -127 (emax <= 1:
        # mxint8); otherwise it is clamped to -127 either way
        if -FP32.bias - emax + 1 >= E8M0.emin:
            m.d.comb += norm.eq(Mux(top_b != 0, Cat(top_f, 1), (top_f << (lz + 1))[:24]))
        else:
            m.d.comb += norm.eq(Cat(top_f, 1))
        m.d.comb += e0.eq(log2 - emax + (norm > int(thr)))
    m.d.comb += [
        e.eq(Mux(e0 < E8M0.emin, E8M0.emin, Mux(e0 > E8M0.emax, E8M0.emax, e0))),
        scale.eq(Mux(special, E8M0.nan_code, (e + E8M0.bias)[:8])),
    ]
    return e, special, scale


def encode_lane(m, name, fmt, word, e, rounding):
    """Element code of one FP32 word under the shared exponent ``e`` (signed):
    ``hw.lib.fp.encode(fmt, sign, sig, exp - e, rounding, overflow="saturate")``, built in its own
    submodule ``name`` of ``m`` (``hw.lib.units.unit``: Amaranth's simulator then reruns one
    lane, not every lane, when a lane's input changes; the logic is the same). The caller
    zeroes the code of a special block."""
    def lane_code(sub, word, shared):
        f = unpack_fp32(word)
        return encode(sub, fmt, f.sign, f.sig, f.exp - shared.as_signed(),
                      rounding=rounding, overflow="saturate", name="enc")

    return unit(m, name, lane_code, (word, e), fmt.width)
