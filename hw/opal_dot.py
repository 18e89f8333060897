"""``opal_dot``: the OPAL mixed INT/FP dot-product lane (docs/numerics.md §7, ``golden.opal.dot``).

Datapath, one OPAL activation block, one MXINT-w weight block and one FP32 accumulator c per
beat::

    inliers:   n b-bit x w-bit INT multipliers -> exact adder tree -> I
                                                   -> I_f = RNE_fp32(I * 2**e_I) --+
    outliers:  w[idx_j] select, BF16 x INT-w product, RNE_fp32 -> p_j               |
               -> ceil(log2 k) levels of FP32 adders -> t --------------------------+-> I_f + t
                                                                                 -> c + (I_f + t)

1. Inliers. Every slot's signed product q_i * w_i is exact (b + w bits); a balanced signed tree
   (``hw.lib.trees.reduce_tree``, each level one bit wider) gives I exactly. One rounding,
   ``hw.lib.fp.encode``, turns I * 2**e_I with e_I = (scale - 127) - (b - 2) + (w_scale - 127) -
   (w - 2) into FP32: exact for |I| < 2**24 at a normal exponent, RNE on underflow (subnormal
   or zero, the sign of I kept), ±Inf on overflow. A NaN scale code (0xFF) on either side is
   the encoder's NaN input, so I_f is the canonical NaN and it propagates through both final
   additions: the lane needs no separate NaN flag or output multiplexer.
2. Outliers. w[idx_j] is read with ``word_select`` (a shifter over the flat weight vector; n is a
   power of two, so every idx is in range). The BF16 code and the weight are decoded with
   ``hw.lib.fp.decode_element`` (the weight as the MXINT-w element: sign, |w| and exponent
   -(w - 2)); their 8 x w-bit significand product is exact and ``hw.lib.fp.encode`` rounds it once
   to FP32 at exponent e_o + (w_scale - 127) - (w - 2) (gradual underflow, ±Inf on overflow).
   IEEE specials: a NaN outlier, or ±Inf against a zero weight, give NaN; ±Inf against a
   nonzero weight gives Inf of the product's sign; a zero product has the sign s_o ^ s_w.
3. + 4. FP32 additions of ``hw.lib.fp_arith.add`` (IEEE RNE, signed zeros, canonical NaN): the
   outlier tree level by level, (p0 + p1), (p2 + p3), ..., an odd last term passing through
   (``hw.lib.trees.reduce_tree``'s order, the golden ``tree_sum``), then I_f + t, then c + that.

Every FP operator (each outlier product, each adder, the integer-to-FP32 rounding) and the
integer dot product are submodules (``hw.lib.units.unit``): Amaranth's simulator then reruns
only the operator whose inputs changed, not the whole lane.

Pipelining. The lane is a sequence of N = ceil(log2 k) + 3 steps along its FP path: ``"mul"``
(the outlier products; beside them the integer products and the adder tree), ``"tree1"`` ...
``"treeL"`` (the FP32 outlier tree; beside the last level ``"treeL"`` the conversion of I, which
joins the ``"mul"`` step when k = 1: a register anywhere before ``"treeL"`` then separates the
integer tree from the conversion's normalizing shifter), ``"sum"`` (I_f + t) and ``"acc"``
(c + ...). Every step is a cut point; ``cut_points(k)`` orders them as a chain of similar steps
(:func:`hw.lib.pipeline.bisection_order`) and ``stages = s`` registers the first s (k = 4:
``tree1``, ``tree2``, ``mul``, ``sum``, ``acc``); ``s = N`` registers every step, the output
included. Latency = ``stages``; one block per cycle.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data

from golden.formats import BF16, E8M0, FP32, mxint
from golden.opal import DEFAULT_BITS, DEFAULT_K, DEFAULT_N, DEFAULT_W, check_params

from .lib.block import StreamBlock
from .lib.fp import decode_element, encode
from .lib.fp_arith import add
from .lib.pipeline import Cuts, StreamPipeline, bisection_order
from .lib.trees import plus, reduce_tree
from .lib.units import unit as fp_unit

__all__ = ["DEFAULT_STAGES", "HW_CHOICES", "HW_DEFAULTS", "OpalDot", "cut_points", "steps"]


#: two registers; for k = 4 after "tree1" and "tree2" (``cut_points``): the integer dot
#: (products + exact tree) beside the outlier products + one FP32 tree level | I's conversion
#: beside the last tree level, then I_f + t and c + (I_f + t). With the conversion beside the
#: first level instead, the integer tree and the normalizing shifter formed one cone that ABC
#: did not map in 33 min (flattened flow 2; its cost now: docs/cost.md).
DEFAULT_STAGES = 2

HW_DEFAULTS = {"stages": DEFAULT_STAGES}
HW_CHOICES = {}


def _levels(k):
    return (k - 1).bit_length()


def steps(k):
    """The operation steps of the lane with k outliers, in datapath order."""
    return ("mul",) + tuple(f"tree{j}" for j in range(1, _levels(k) + 1)) + ("sum", "acc")


def cut_points(k):
    """The cut points in the order ``stages`` fills them (the module docstring)."""
    return bisection_order(steps(k))


def _int_dot(m, codes, w, *, n, bits, w_bits):
    """Exact sum of the n signed products of the b-bit ``codes`` and the w-bit ``w`` (flat)."""
    # Sign-magnitude products (an unsigned b x w bit multiplier each: the most negative code's
    # magnitude 2**(b-1) needs b bits; negated by the sign XOR): the same integers as signed x
    # signed multiplication, but Yosys merges n signed $mul cells and the adder tree into one
    # $macc whose carry-save array ABC takes ~1000 s to map for n = 16 (8 s in this form;
    # n = 128 did not finish in an hour)
    terms = []
    for i in range(n):
        q, wv = codes.word_select(i, bits).as_signed(), w.word_select(i, w_bits).as_signed()
        mag = Signal(bits + w_bits, name=f"prod{i}")
        m.d.comb += mag.eq(Mux(q < 0, -q, q)[:bits] * Mux(wv < 0, -wv, wv)[:w_bits])
        terms.append(Mux((q < 0) ^ (wv < 0), -mag, mag))
    return reduce_tree(terms, plus)


def _outlier_product(m, code, idx, w, w_scale, *, w_bits):
    """FP32 code of RNE(bf16(code) * w[idx] * 2**(w_scale - 127)), with the weight an MXINT-w
    element (exponent -(w - 2)) and IEEE specials."""
    s_o, sig_o, e_o, inf_o, nan_o = decode_element(code, BF16)
    # named: the decode reads it three times, and each read would be its own shifter
    w_sel = Signal(w_bits, name="w_sel")
    m.d.comb += w_sel.eq(w.word_select(idx, w_bits))
    s_w, sig_w, e_w, _, _ = decode_element(w_sel, mxint(w_bits))
    w_zero = sig_w == 0
    # an Inf/NaN code's significand would read as a number; the flags decide those results
    mag = Mux(inf_o | nan_o, 0, sig_o) * sig_w
    exp = e_o + e_w + (w_scale - E8M0.bias)
    return encode(m, FP32, s_o ^ s_w, mag, exp, rounding="rne", overflow="nonsat",
                  inf=inf_o & ~w_zero, nan=nan_o | (inf_o & w_zero), name="round")


def _int_to_fp32(m, total, scales, nan, *, sum_bits, exp_offset):
    """FP32 code of RNE(total * 2**(scales + exp_offset)); canonical NaN when ``nan``."""
    neg = total < 0
    mag = Mux(neg, -total, total)[:sum_bits]
    return encode(m, FP32, neg, mag, scales + exp_offset, rounding="rne", overflow="nonsat",
                  nan=nan, name="round")


class OpalDot(StreamBlock):
    """OPAL dot-product lane: b-bit x w-bit integer inliers, k BF16 outliers, FP32 accumulate.

    ``result = RNE(c + RNE(I_f + t))`` with I_f the exact inlier dot product rounded once to
    FP32, t the FP32 tree sum of the outlier products (``golden.opal.dot``).

    Parameters
    ----------
    n : int
        Block size, a power of two in 2..1024.
    k : int
        Outliers per block, 1..n-1.
    bits : int
        Inlier code width b, 2..8.
    w : int
        Weight code width, 2..8.
    stages : int
        Pipeline registers, 0..``len(steps(k))``, at ``cut_points(k)[:stages]``.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"scale": 8, "codes": ArrayLayout(bits, n),
        "outliers": ArrayLayout(16, k), "idx": ArrayLayout(log2 n, k), "w_scale": 8,
        "w": ArrayLayout(w, n), "acc": 32})))
    o : Out(stream.Signature(StructLayout({"result": 32})))
    latency : int
        Equal to ``stages``.
    sum_bits : int
        Magnitude width of the exact inlier sum I.

    Raises
    ------
    ValueError
        ``n`` not a power of two in 2..1024, ``k`` outside 1..n-1, ``bits`` or ``w`` outside
        2..8, ``stages`` outside its range for this k.
    TypeError
        A parameter that is not an integer.
    """

    def __init__(self, n=DEFAULT_N, k=DEFAULT_K, bits=DEFAULT_BITS, w=DEFAULT_W,
                 stages=DEFAULT_STAGES):
        check_params(n, k, bits, w=w)
        self._cuts = Cuts(cut_points(k), stages, f"k={k}")
        self._n, self._k, self._bits, self._w, self._stages = n, k, bits, w, stages
        # |q_i * w_i| <= 2**(b-1) * 2**(w-1) (both most negative codes), so |I| <= n * that
        self._sum_bits = (n << (bits + w - 2)).bit_length()
        super().__init__(
            data.StructLayout({"scale": E8M0.width, "codes": data.ArrayLayout(bits, n),
                               "outliers": data.ArrayLayout(16, k),
                               "idx": data.ArrayLayout((n - 1).bit_length(), k),
                               "w_scale": E8M0.width, "w": data.ArrayLayout(w, n),
                               "acc": FP32.width}),
            data.StructLayout({"result": FP32.width}))

    @property
    def n(self):
        return self._n

    @property
    def k(self):
        return self._k

    @property
    def bits(self):
        return self._bits

    @property
    def w(self):
        return self._w

    @property
    def stages(self):
        return self._stages

    @property
    def sum_bits(self):
        return self._sum_bits

    @property
    def latency(self) -> int:
        return self._stages

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o, self._cuts)
        pay = self.i.payload
        n, k, b, wb = self._n, self._k, self._bits, self._w

        def total(name, x, y):
            return fp_unit(m, name, lambda sub, u, v: add(sub, FP32, u, v, name="add"), (x, y),
                           FP32.width)

        # step "mul": the outlier products; beside them the exact inlier sum I, the scale sum
        # and the NaN-scale flag (the inputs of I's conversion)
        prods = [fp_unit(m, f"omul{j}",
                         lambda sub, o, i, wv, ws: _outlier_product(sub, o, i, wv, ws, w_bits=wb),
                         (pay.outliers[j], pay.idx[j], pay.w, pay.w_scale), FP32.width)
                 for j in range(k)]
        int_bits = b + wb + (n - 1).bit_length()  # the tree's width: b + w, one bit per level
        big = fp_unit(m, "int_dot",
                      lambda sub, c, wv: _int_dot(sub, c, wv, n=n, bits=b, w_bits=wb),
                      (pay.codes, pay.w), int_bits).as_signed()
        scales = Signal(E8M0.width + 1, name="scale_sum")
        nan = Signal(name="nan_scale")
        m.d.comb += [scales.eq(pay.scale + pay.w_scale),
                     nan.eq((pay.scale == E8M0.nan_code) | (pay.w_scale == E8M0.nan_code))]
        # e_I = (scale - 127) - (b - 2) + (w_scale - 127) - (w - 2)
        exp_offset = -2 * E8M0.bias - (b - 2) - (wb - 2)

        def convert(big, scales, nan):
            return fp_unit(m, "int_cvt",
                           lambda sub, i, s, f: _int_to_fp32(sub, i.as_signed(), s, f,
                                                             sum_bits=self._sum_bits,
                                                             exp_offset=exp_offset),
                           (big, scales, nan), FP32.width)

        acc = pay.acc
        levels = _levels(k)
        if levels == 0:  # no outlier tree: the conversion joins the products' step
            i_f = convert(big, scales, nan)
            t, i_f, acc = p.cut("mul", *prods, i_f, acc)
        else:
            *prods, big, scales, nan, acc = p.cut("mul", *prods, big, scales, nan, acc)

            # steps "tree1" ... "treeL": the outlier tree; I's conversion beside the last level
            def level_cut(level, *values):
                if level < levels:
                    return p.cut(f"tree{level}", *values)
                last, big, scales, nan, acc = values
                return p.cut(f"tree{level}", last, convert(big, scales, nan), acc)
            t, (i_f, acc) = reduce_tree(
                prods, node=lambda level, j, x, y: total(f"add{level}_{j}", x, y),
                cut=level_cut, carry=(big, scales, nan, acc))

        # steps "sum" and "acc"
        s, acc = p.cut("sum", total("add_sum", i_f, t), acc)
        out = Signal(self.out_layout, name="out")
        m.d.comb += out.result.eq(total("add_acc", acc, s))
        out = p.cut("acc", out)
        p.finish(out)
        return m
