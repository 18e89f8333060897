"""``bfp_dot``: fused BFP group dot product with FP32 accumulate (docs/numerics.md §5,
docs/blocks.md FlexBlock).

Datapath, one pair of BFP groups (shared exponents M_a, M_b; G signs and G magnitudes each) and
one accumulator ``c`` per beat::

    G unsigned ma x mb multipliers  ->  adder tree  ->  align with c + add  ->  normalize + round

1. Products, exact integers: q_a,i * q_b,i (ma + mb bits), negated when s_a,i != s_b,i. Every
   product has the same exponent, so unlike ``mx_dot`` nothing is shifted.
2. A balanced signed adder tree (``hw.lib.trees.reduce_tree``), exact; the sum S holds
   G * (2**ma - 1) * (2**mb - 1) in ``sum_bits`` + sign bits. Its unit is
   2**e_S, e_S = M_a + M_b - 254 - (ma - 1) - (mb - 1).
3. + 4. The fused FP32 accumulate step shared with ``mx_dot``
(``hw.lib.accumulate.fp32_accumulate``:
   alignment window of sum_bits + 25 bits with sticky, one normalization, RNE to FP32, overflow
   to ±Inf, gradual underflow). An exactly zero result is +0.

Specials: NaN (canonical 0x7FC00000) if either shared exponent is 255 (a NaN group) or c is NaN;
an Inf c gives Inf of its sign (a BFP group has no Inf).

Pipelining: ``stages`` registers go to ``cut_points(G)[:stages]``: after the tree, after the
products, after the add, after the alignment shift, after the normalization, after rounding,
then inside the tree every two levels.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data

from golden.bfp import DEFAULT_G, DEFAULT_M, EXP_NAN, check_m
from golden.formats import FP32

from .lib.accumulate import cut_points, fp32_accumulate, window_bits
from .lib.block import StreamBlock, check_int
from .lib.pipeline import Cuts, StreamPipeline
from .lib.trees import plus, reduce_tree
from .lib.units import unit

__all__ = ["BfpDot", "DEFAULT_STAGES", "G_MAX", "cut_points"]

#: largest group size (FlexBlock's largest is 216)
G_MAX = 256
#: sum | mul | align | shift: products, tree, alignment, add, normalization + rounding one segment
#: each, the fewest cuts with which G = 54, m = 16 meets 10 ns in OSU 0.18 um (8.6 ns by
#: ``mxforge synth bfp_dot --clock-ns 10``; 3 cuts: 12.5 ns, the alignment shift + add)
DEFAULT_STAGES = 4


class BfpDot(StreamBlock):
    """BFP group dot product with FP32 accumulate, fused and rounded once (docs/numerics.md §5).

    ``result = RNE_fp32(acc + 2**(exp_a + exp_b - 254 - (ma - 1) - (mb - 1))
    * sum_i (-1)**(signs_a[i] ^ signs_b[i]) * mags_a[i] * mags_b[i])``.

    Parameters
    ----------
    G : int
        Group size, 1..256.
    ma, mb : int
        Magnitude bits of the two operands (hidden bit counted), 2..24 each; they may differ.
    stages : int
        Pipeline registers, 0..``len(cut_points(G))``; they go to ``cut_points(G)[:stages]``.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"exp_a": 8, "signs_a": ArrayLayout(1, G),
        "mags_a": ArrayLayout(ma, G), "exp_b": 8, "signs_b": ArrayLayout(1, G),
        "mags_b": ArrayLayout(mb, G), "acc": 32})))
    o : Out(stream.Signature(StructLayout({"result": 32})))
    latency : int
        Equal to ``stages``.
    sum_bits, window_bits : int
        Widths of the group-sum magnitude and of the alignment window.

    Raises
    ------
    ValueError
        ``G``, ``ma``, ``mb`` or ``stages`` outside its range.
    TypeError
        One of them not an integer.
    """

    def __init__(self, G=DEFAULT_G, ma=DEFAULT_M, mb=DEFAULT_M, stages=DEFAULT_STAGES):
        check_int("G", G, 1, G_MAX)
        check_m("ma", ma)
        check_m("mb", mb)
        self._cuts = Cuts(cut_points(G), stages, f"G={G}")
        self._G, self._ma, self._mb, self._stages = G, ma, mb, stages
        self._sum_bits = (G * ((1 << ma) - 1) * ((1 << mb) - 1)).bit_length()
        super().__init__(
            data.StructLayout({
                "exp_a": FP32.ebits,
                "signs_a": data.ArrayLayout(1, G),
                "mags_a": data.ArrayLayout(ma, G),
                "exp_b": FP32.ebits,
                "signs_b": data.ArrayLayout(1, G),
                "mags_b": data.ArrayLayout(mb, G),
                "acc": FP32.width,
            }),
            data.StructLayout({"result": FP32.width}))

    @property
    def G(self):
        return self._G

    @property
    def ma(self):
        return self._ma

    @property
    def mb(self):
        return self._mb

    @property
    def stages(self):
        return self._stages

    @property
    def latency(self) -> int:
        return self._stages

    @property
    def sum_bits(self):
        return self._sum_bits

    @property
    def window_bits(self):
        return window_bits(self._sum_bits)

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o, self._cuts)
        pay = self.i.payload
        WS = self._sum_bits
        # Each lane is a submodule of its own, the tree plain expressions up to ``group_sum``
        # (see hw/mx_dot.py).

        # 1. exact sign-magnitude products
        P = self._ma + self._mb

        def lane(sub, mag_a, mag_b, neg):
            term = Signal(signed(P + 1), name="term")
            sub.d.comb += term.eq(Mux(neg, -(mag_a * mag_b), mag_a * mag_b))
            return term

        terms = [unit(m, f"lane{i}", lane,
                      (pay.mags_a[i], pay.mags_b[i], pay.signs_a[i] ^ pay.signs_b[i]),
                      P + 1).as_signed()
                 for i in range(self._G)]
        nan = Signal(name="nan_group")
        exps = Signal(FP32.ebits + 1, name="exp_sum")
        m.d.comb += [
            nan.eq((pay.exp_a == EXP_NAN) | (pay.exp_b == EXP_NAN)),
            exps.eq(pay.exp_a + pay.exp_b),
        ]
        acc = pay.acc
        *terms, exps, acc, nan = p.cut("mul", *terms, exps, acc, nan)

        # 2. signed adder tree, exact
        tree, (exps, acc, nan) = reduce_tree(terms, plus, cut=p.level_cut("tree"),
                                             carry=(exps, acc, nan))
        total = Signal(signed(WS + 1), name="group_sum")
        m.d.comb += total.eq(tree)
        if "sum" in self._cuts.points:  # a tree (G > 1): a cut point after it
            total, exps, acc, nan = p.cut("sum", total, exps, acc, nan)

        # 3. + 4. align with the accumulator, add, sticky | one normalization + RNE
        e_s = exps - (2 * FP32.bias + (self._ma - 1) + (self._mb - 1))
        out = Signal(self.out_layout, name="out")
        m.d.comb += out.result.eq(fp32_accumulate(
            m, total, WS, e_s, acc, nan=nan, pinf=0, ninf=0,
            cut=p.cut))
        out = p.cut("out", out)
        p.finish(out)
        return m
