"""``mx_quantize``: a block of k FP32 values -> E8M0 scale + k MX element codes
(docs/numerics.md §4)."""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data

from golden.formats import E8M0, FP32, MX_ELEMENTS, MxsfFormat, check_element
from golden.mx import QUANT_ROUNDINGS, SCALE_ROUNDINGS

from .lib.block import StreamBlock, check_choice, check_int
from .lib.pipeline import Cuts, StreamPipeline
from .lib.scale import encode_lane, shared_exponent
from .lib.trees import maximum, named_tree, reduce_tree

__all__ = ["MxQuantize", "MxsfQuantize", "ELEMENTS",
           "ROUNDINGS", "SCALE_ROUNDINGS", "CUTS", "MAX_K", "MAX_STAGES"]

ELEMENTS = MX_ELEMENTS
ROUNDINGS = QUANT_ROUNDINGS
MAX_K = 64

#: the cut points in the order ``stages`` fills them (the class docstring says why): after the
#: shared exponent, after the per-element align + round + saturate (an output register), after
#: the max tree, after the FP32 unpack (the fields are slices of the input: an input register)
CUTS = ("exponent", "encode", "tree", "unpack")
MAX_STAGES = len(CUTS)
DEFAULT_STAGES = 2


class MxQuantize(StreamBlock):
    """Quantize one block of k FP32 values to an OCP MX block per beat (docs/blocks.md
    ``mx_quantize``, docs/numerics.md §4), fully pipelined.

    Datapath: (1) FP32 unpack of each lane (``hw.lib.fp.unpack_fp32``); (2) the block maximum;
    (3) the shared exponent E and the scale code; (4) per element
    ``hw.lib.fp.encode(elem, sign, sig, exp - E, rounding, overflow="saturate")``, zeroed for a
    block holding NaN/Inf (scale 0xFF). ``stages`` registers go to the first ``stages`` cut points
    of ``CUTS`` and ``latency == stages``.

    The block maximum. With ``scale_rounding="floor"`` only floor(log2 amax) is needed, and
    the largest exponent field gives it: a max tree over the 8-bit biased exponent fields,
    plus an OR over the 23-bit fraction fields, which is used only when that maximum is 0
    (every lane subnormal or zero): the OR of the fractions has the same leading one as their
    maximum, so floor(log2 amax) = -127 - lzc23(OR). This is exact and much smaller than a
    31-bit magnitude tree. NaN/Inf in any lane shows up as a maximum of 255. With
    ``"ceil"`` the mantissa of amax matters (E is one larger exactly when the normalized
    significand of amax exceeds that of max finite), so the tree compares the 31-bit FP32
    magnitudes (ordered like the values for finite FP32; NaN/Inf above every finite one).

    The shared exponent: E = clamp(floor(log2 amax) - emax_elem (+1 for "ceil" over max
    finite), -127, 127); amax = 0 gives -127 (scale code 0) and signed-zero elements, which the
    encoder produces by itself from a zero significand.

    Cut points. Every cut but the output one registers the k FP32 words beside the control (32k
    flip-flops), so the order of ``CUTS`` puts one such cut where it splits the path best: after
    the shared exponent (max tree + exponent on one side, the encoders on the other), then the
    output (k element codes), then after the max tree, then at the input. Two stages meet
    10 ns in OSU 0.18 um for every element format at k = 32 (e4m3 8.95 ns, the encoders with
    the exponent's fan-out to k lanes; ``mxforge synth mx_quantize_e4m3 --clock-ns 10``); with the
    tree cut first they did not (14.5 ns: max tree register -> exponent -> encoders).

    Parameters
    ----------
    elem : str
        Element format, one of ``ELEMENTS``.
    k : int
        Block size, 1..64.
    rounding : {"rne", "rna", "rtz"}
        Element rounding (elaboration time).
    scale_rounding : {"floor", "ceil"}
    stages : int
        Pipeline registers, 0..``MAX_STAGES``.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"x": ArrayLayout(32, k)})))
    o : Out(stream.Signature(StructLayout({"scale": 8, "codes": ArrayLayout(width, k)})))
    latency : int

    Raises
    ------
    ValueError
        A parameter outside its allowed values (the message names it and them).
    TypeError
        ``k`` or ``stages`` is not an integer.
    """

    def __init__(self, elem="e4m3", k=32, rounding="rne", scale_rounding="floor",
                 stages=DEFAULT_STAGES):
        fmt = check_element("elem", elem, ELEMENTS)
        check_choice("rounding", rounding, ROUNDINGS)
        check_choice("scale_rounding", scale_rounding, SCALE_ROUNDINGS)
        check_int("k", k, 1, MAX_K)
        self._cuts = Cuts(CUTS, stages)
        self._fmt = fmt
        self._k = k
        self._rounding = rounding
        self._scale_rounding = scale_rounding
        self._stages = stages
        super().__init__(
            data.StructLayout({"x": data.ArrayLayout(FP32.width, k)}),
            data.StructLayout({"scale": E8M0.width,
                               "codes": data.ArrayLayout(self._fmt.width, k)}))

    @property
    def elem(self):
        return self._fmt.name

    @property
    def fmt(self):
        return self._fmt

    @property
    def k(self):
        return self._k

    @property
    def rounding(self):
        return self._rounding

    @property
    def scale_rounding(self):
        return self._scale_rounding

    @property
    def stages(self):
        return self._stages

    @property
    def latency(self) -> int:
        return self._stages

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o, self._cuts)
        fmt, k = self._fmt, self._k
        cut = p.cut

        x = self.i.payload.x.as_value()
        x = cut("unpack", x)
        lanes = [x[32 * j: 32 * (j + 1)] for j in range(k)]

        # (2) the block maximum
        if self._scale_rounding == "floor":
            maxb = Signal(8)
            orf = Signal(23)
            m.d.comb += [
                maxb.eq(named_tree(m, [ln[23:31] for ln in lanes], maximum, "max_exp")),
                orf.eq(reduce_tree([ln[:23] for ln in lanes], lambda a, b: a | b)),
            ]
            x, maxb, orf = cut("tree", x, maxb, orf)
            top_b, top_f = maxb, orf
        else:
            amax = Signal(31)
            m.d.comb += amax.eq(named_tree(m, [ln[:31] for ln in lanes], maximum, "max_mag"))
            x, amax = cut("tree", x, amax)
            top_b, top_f = amax[23:], amax[:23]
        lanes = [x[32 * j: 32 * (j + 1)] for j in range(k)]

        # (3) shared exponent
        e, special, scale = shared_exponent(m, fmt, top_b, top_f, self._scale_rounding)
        x, e, special, scale = cut("exponent", x, e, special, scale)
        lanes = [x[32 * j: 32 * (j + 1)] for j in range(k)]

        # (4) per element: align + round + saturate with the shared encoder
        out = Signal(self.out_layout)
        m.d.comb += out.scale.eq(scale)
        for j, ln in enumerate(lanes):
            code = encode_lane(m, f"enc{j}", fmt, ln, e, self._rounding)
            m.d.comb += out.codes[j].eq(Mux(special, 0, code))
        out = cut("encode", out)
        p.finish(out)
        return m


class MxsfQuantize(MxQuantize):
    """``mxsf_quantize`` (docs/blocks.md "MX-SAFE"): :class:`MxQuantize` for the MXSF element
    with the sub-mode parameters passed through (``golden.formats.MxsfFormat``).

    Mode allocation happens on the fly in the shared encoder: E2M5 codes for magnitudes that
    round to >= 1 * 2**E, the sub mode below (docs/numerics.md §6). Same payload as
    ``mx_quantize``.

    Raises
    ------
    ValueError, TypeError
        A parameter outside its range (the message names it), e.g. ``sub_bias`` outside the
        range ``MxsfFormat.sub_bias_range(sub_ebits)``.
    """

    def __init__(self, k=32, rounding="rne", scale_rounding="floor", stages=DEFAULT_STAGES,
                 sub_ebits=3, sub_mbits=2, sub_bias=8):
        super().__init__(MxsfFormat(sub_ebits, sub_mbits, sub_bias), k, rounding,
                         scale_rounding, stages)
