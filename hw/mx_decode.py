"""``mx_decode``: MX element + E8M0 scale -> exact (sign, significand, exponent, inf, nan)."""
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data

from golden.formats import E8M0, MX_ELEMENTS, check_element

from .lib.block import StreamBlock, check_bool
from .lib.fp import decode_element
from .lib.pipeline import StreamPipeline

__all__ = ["MxDecode", "ELEMENTS", "EXP_BITS"]

ELEMENTS = MX_ELEMENTS
#: width of the signed output exponent (docs/blocks.md): covers scale + every element's range
EXP_BITS = 10


class MxDecode(StreamBlock):
    """Decode one MX element with its E8M0 block scale (docs/blocks.md ``mx_decode``).

    The value is (-1)**sign * sig * 2**exp exactly, scale included. Canonical forms: zero has
    sig = exp = 0 (sign kept); NaN (scale 0xFF or a NaN code) has nan = 1 and all else 0; Inf has
    inf = 1, sig = exp = 0 and its sign.

    Parameters
    ----------
    elem : str
        Element format, one of ``ELEMENTS``.
    pipeline : bool
        Register the output (latency 1); combinational (latency 0) otherwise.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"scale": 8, "code": width})))
    o : Out(stream.Signature(StructLayout({"sign", "sig", "exp", "inf", "nan"})))
    latency : int

    Raises
    ------
    ValueError
        ``elem`` is not an MX element format.
    TypeError
        ``pipeline`` is not a bool.
    """

    def __init__(self, elem="e4m3", pipeline=False):
        self._fmt = fmt = check_element("elem", elem, ELEMENTS)
        self._pipeline = check_bool("pipeline", pipeline)
        super().__init__(
            data.StructLayout({"scale": E8M0.width, "code": fmt.width}),
            data.StructLayout({"sign": 1, "sig": unsigned(fmt.sig_bits), "exp": signed(EXP_BITS),
                               "inf": 1, "nan": 1}))

    @property
    def elem(self):
        return self._fmt.name

    @property
    def fmt(self):
        return self._fmt

    @property
    def latency(self) -> int:
        return int(self._pipeline)

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o)
        scale, code = self.i.payload.scale, self.i.payload.code
        sign, sig, exp, inf, nan = decode_element(code, self._fmt)

        nan_any = Signal()
        special = Signal()
        out = Signal(self.out_layout)
        m.d.comb += [
            nan_any.eq((scale == E8M0.nan_code) | nan),
            special.eq(nan_any | inf | (sig == 0)),
            out.sign.eq(sign & ~nan_any),
            out.sig.eq(Mux(special, 0, sig)),
            out.exp.eq(Mux(special, 0, exp + scale - E8M0.bias)),
            out.inf.eq(inf & ~nan_any),
            out.nan.eq(nan_any),
        ]
        if self._pipeline:
            out = p.stage(out)
        p.finish(out)
        return m
