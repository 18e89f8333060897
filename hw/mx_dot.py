"""``mx_dot``: fused MX block dot product with FP32 accumulate (docs/numerics.md §4,
docs/blocks.md).

Datapath, one block pair and one accumulator ``c`` per beat::

    decode + multiply  ->  adder tree  ->  align with c + add  ->  normalize + round (FP32 RNE)

1. Products, exact fixed point. Element i is (-1)**s * sig * 2**exp (``decode_element``). The
   product sig_a * sig_b is shifted left by (exp_a - emin_a) + (exp_b - emin_b) into a word of
   ``prod_bits`` bits, so every product is an integer at the common exponent
   e0 = emin_a + emin_b (the smallest product exponent); then it is negated when s_a != s_b.
2. A balanced signed adder tree; widths grow one bit per level, so it never overflows. The sum
   is truncated to ``sum_bits`` + sign, which holds k * max|product| exactly. The block sum is
   S * 2**e_S with e_S = X_A + X_B - 254 + e0.
3. + 4. The fused FP32 accumulate step, shared with ``bfp_dot`` (``hw.lib.accumulate``, where the
   window width ``GUARD`` = 25 is proved): S is aligned with c in a window of sum_bits + 25
   bits, added with a sticky bit (and the subtraction borrow), then normalized once and rounded
   to FP32 RNE by ``hw.lib.fp.encode`` (overflow -> ±Inf, gradual underflow). An exactly zero result
   is +0. The step has cut points of its own (after the alignment shift, the add and the
   normalization), so every segment of the datapath can be registered.

Specials (docs/numerics.md §4): NaN if a scale is 0xFF, an element or c is NaN, an Inf element meets
a zero, or +Inf and -Inf meet among the products and c (canonical NaN 0x7FC00000); otherwise an Inf
operand gives Inf of its sign.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data

from golden.formats import E8M0, FP32, MX_ELEMENTS, check_element, fields

from .lib.accumulate import GUARD, cut_points, fp32_accumulate, window_bits
from .lib.block import StreamBlock, check_int
from .lib.fp import decode_element
from .lib.pipeline import Cuts, StreamPipeline
from .lib.trees import plus, reduce_tree
from .lib.units import unit

__all__ = ["MxDot", "ELEMENTS", "K_MAX", "GUARD", "DEFAULT_STAGES", "cut_points"]

ELEMENTS = MX_ELEMENTS
K_MAX = 128
#: sum | mul | align | shift: products, tree, alignment, add, normalization + rounding one segment
#: each, the fewest cuts with which e4m3 x e4m3 at k = 32 meets 10 ns in OSU 0.18 um (8.6 ns by
#: ``mxforge synth mx_dot_e4m3_e4m3 --clock-ns 10``; 3 cuts: 12.5 ns). The wider windows of e5m2
#: operands need all but the innermost tree cut (7; the catalogue's configurations say so)
DEFAULT_STAGES = 4


def _elem_bounds(fmt):
    """(emin, emax, max significand) over the finite codes of an element format."""
    f = fields(range(1 << fmt.width), fmt)
    live = f["sig"] != 0
    return int(f["exp"][live].min()), int(f["exp"][live].max()), int(f["sig"].max())


class MxDot(StreamBlock):
    """MX block dot product with FP32 accumulate, fused and rounded once (docs/numerics.md §4).

    ``result = RNE_fp32(acc + 2**(scale_a - 127) * 2**(scale_b - 127) * sum_i a_i * b_i)``.

    Parameters
    ----------
    elem_a, elem_b : str
        Element formats of the two operands, each one of ``ELEMENTS`` (they may differ).
    k : int
        Block size, 1..128.
    stages : int
        Pipeline registers, 0..``len(cut_points(k))``; they go to ``cut_points(k)[:stages]``.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"scale_a": 8, "codes_a": ArrayLayout(width_a, k),
        "scale_b": 8, "codes_b": ArrayLayout(width_b, k), "acc": 32})))
    o : Out(stream.Signature(StructLayout({"result": 32})))
    latency : int
        Equal to ``stages``.
    prod_bits, sum_bits, window_bits : int
        Widths of one aligned product, of the block-sum magnitude and of the alignment window.

    Raises
    ------
    ValueError
        ``elem_a``/``elem_b`` not an MX element format, ``k`` outside 1..128, ``stages`` outside
        its range.
    TypeError
        ``k`` or ``stages`` not an integer.
    """

    def __init__(self, elem_a="e4m3", elem_b="e4m3", k=32, stages=DEFAULT_STAGES):
        fa = check_element("elem_a", elem_a, ELEMENTS)
        fb = check_element("elem_b", elem_b, ELEMENTS)
        check_int("k", k, 1, K_MAX)
        self._cuts = Cuts(cut_points(k), stages, f"k={k}")
        self._fa, self._fb = fa, fb
        self._k, self._stages = k, stages

        lo_a, hi_a, sig_a = _elem_bounds(self._fa)
        lo_b, hi_b, sig_b = _elem_bounds(self._fb)
        self._emin = (lo_a, lo_b)
        self._sh_max = (hi_a - lo_a, hi_b - lo_b)
        max_prod = (sig_a * sig_b) << (hi_a - lo_a + hi_b - lo_b)
        self._prod_bits = max_prod.bit_length()
        self._sum_bits = (k * max_prod).bit_length()
        self._window = window_bits(self._sum_bits)

        super().__init__(
            data.StructLayout({
                "scale_a": E8M0.width,
                "codes_a": data.ArrayLayout(self._fa.width, k),
                "scale_b": E8M0.width,
                "codes_b": data.ArrayLayout(self._fb.width, k),
                "acc": FP32.width,
            }),
            data.StructLayout({"result": FP32.width}))

    @property
    def elem_a(self):
        return self._fa.name

    @property
    def elem_b(self):
        return self._fb.name

    @property
    def k(self):
        return self._k

    @property
    def stages(self):
        return self._stages

    @property
    def latency(self) -> int:
        return self._stages

    @property
    def prod_bits(self):
        return self._prod_bits

    @property
    def sum_bits(self):
        return self._sum_bits

    @property
    def window_bits(self):
        return self._window

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o, self._cuts)
        pay = self.i.payload
        k, WS = self._k, self._sum_bits
        # Each lane (decode, multiply, sign, specials) is a submodule of its own
        # (``hw.lib.units.unit``): Amaranth's simulator reruns one lane when its codes change,
        # the synthesis flow maps the k identical lanes once, and the area breakdown
        # (docs/cost.md) sees them as "products". The tree stays plain expressions up to
        # ``block_sum``.

        # 1. decode, exact products in fixed point, specials per lane
        P = self._prod_bits
        sh_bits = (self._sh_max[0] + self._sh_max[1]).bit_length()

        def lane(sub, code_a, code_b):
            sa, ga, ea, ia, na = decode_element(code_a, self._fa)
            sb, gb, eb, ib, nb = decode_element(code_b, self._fb)
            ia, na, ib, nb = (Const(v, 1) if isinstance(v, int) else v
                              for v in (ia, na, ib, nb))
            ga = Mux(ia | na, 0, ga)
            gb = Mux(ib | nb, 0, gb)
            zero_a = (ga == 0) & ~ia & ~na
            zero_b = (gb == 0) & ~ib & ~nb
            neg = sa ^ sb
            sh = (ea - self._emin[0]) + (eb - self._emin[1])
            if not isinstance(sh, int):
                # nonnegative; a NaN/Inf code may carry a larger exponent (and wrap here), but
                # its significand is 0 by then
                sh = sh.as_unsigned()[: sh_bits]
            prod = ((ga * gb) << sh)[:P]
            term = Signal(signed(P + 1), name="term")
            sub.d.comb += term.eq(Mux(neg, -prod, prod))
            return Cat(term, na | nb | (ia & zero_b) | (zero_a & ib), (ia | ib) & ~neg,
                       (ia | ib) & neg)

        terms, lane_nan, lane_pinf, lane_ninf = [], [], [], []
        for i in range(k):
            packed = unit(m, f"lane{i}", lane, (pay.codes_a[i], pay.codes_b[i]), P + 4)
            terms.append(packed[: P + 1].as_signed())
            lane_nan.append(packed[P + 1])
            lane_pinf.append(packed[P + 2])
            lane_ninf.append(packed[P + 3])
        nan = Signal(name="nan_prod")
        pinf = Signal(name="pinf_prod")
        ninf = Signal(name="ninf_prod")
        scales = Signal(E8M0.width + 1, name="scale_sum")
        m.d.comb += [
            nan.eq(Cat(*lane_nan).any() | (pay.scale_a == E8M0.nan_code)
                   | (pay.scale_b == E8M0.nan_code)),
            pinf.eq(Cat(*lane_pinf).any()),
            ninf.eq(Cat(*lane_ninf).any()),
            scales.eq(pay.scale_a + pay.scale_b),
        ]
        acc = pay.acc
        *terms, scales, acc, nan, pinf, ninf = p.cut("mul", *terms, scales, acc, nan, pinf, ninf)

        # 2. signed adder tree, exact (each level one bit wider)
        tree, (scales, acc, nan, pinf, ninf) = reduce_tree(
            terms, plus, cut=p.level_cut("tree"), carry=(scales, acc, nan, pinf, ninf))
        total = Signal(signed(WS + 1), name="block_sum")
        m.d.comb += total.eq(tree)
        if "sum" in self._cuts.points:  # a tree (k > 1): a cut point after it
            total, scales, acc, nan, pinf, ninf = p.cut("sum", total, scales, acc, nan, pinf,
                                                        ninf)

        # 3. + 4. align with the accumulator, add, sticky | one normalization + RNE
        e_s = scales - 2 * E8M0.bias + (self._emin[0] + self._emin[1])
        out = Signal(self.out_layout, name="out")
        m.d.comb += out.result.eq(fp32_accumulate(
            m, total, WS, e_s, acc, nan=nan, pinf=pinf, ninf=ninf,
            cut=p.cut))
        out = p.cut("out", out)
        p.finish(out)
        return m
