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

Pipelining. The lane is a sequence of steps along its FP path: ``"sel"`` (every outlier's
weight w[idx_j], a shifter over the n weights; beside it the integer products and the exact
tree), ``"mul"`` (the outlier products), then for every level L of the FP32 outlier tree
``"treeL_add"`` and ``"treeL"`` (beside the last level ``"treeL"`` the conversion of I, which
joins the ``"mul"`` step when k = 1), then ``"sum_add"``, ``"sum"`` (I_f + t) and ``"acc_add"``,
``"acc"`` (c + ...): N = 2 ceil(log2 k) + 6 steps. Each FP32 adder is two steps, its front
(order, align, add the significands) and its back (normalize, round;
``hw.lib.fp_arith.add_front``/``add_back``), because one FP32 adder alone is about 11 ns in OSU
0.18 µm, and the weight select is a step of its own because select + product + rounding in one
step is 10.3 ns (measured with every other cut in place). Every step is a cut point;
``cut_points(k)`` orders them as a chain of similar steps
(:func:`hw.lib.pipeline.bisection_order`) and ``stages = s`` registers the first s; ``s = N``
registers every step, the output included. Latency = ``stages``; one block per cycle.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data

from golden.formats import BF16, E8M0, FP32, mxint
from golden.opal import DEFAULT_BITS, DEFAULT_K, DEFAULT_N, DEFAULT_W, check_params

from .lib.block import StreamBlock
from .lib.fp import decode_element, encode
from .lib.fp_arith import add_back, add_front, add_layout
from .lib.pipeline import Cuts, StreamPipeline, bisection_order
from .lib.trees import plus, reduce_tree
from .lib.units import unit as fp_unit

__all__ = ["DEFAULT_STAGES", "HW_CHOICES", "HW_DEFAULTS", "OpalDot", "cut_points",
           "default_stages", "steps"]


def _levels(k):
    return (k - 1).bit_length()


def steps(k):
    """The operation steps of the lane with k outliers, in datapath order."""
    return (("sel", "mul") + tuple(p for j in range(1, _levels(k) + 1)
                                   for p in (f"tree{j}_add", f"tree{j}"))
            + ("sum_add", "sum", "acc_add", "acc"))


def cut_points(k):
    """The cut points in the order ``stages`` fills them (the module docstring)."""
    return bisection_order(steps(k))


def default_stages(k):
    """Every step registered but the output: the fewest cuts with which the lane meets 10 ns in
    OSU 0.18 µm (at n = 128, k = 4: 9 of 10, 9.98 ns, limited by the outlier product and its
    rounding; ``mxforge synth opal_dot --clock-ns 10``)."""
    return len(steps(k)) - 1


#: the catalogue's default (k = 4)
DEFAULT_STAGES = default_stages(DEFAULT_K)

HW_DEFAULTS = {"stages": DEFAULT_STAGES}
HW_CHOICES = {}


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


def _outlier_product(m, code, w_sel, w_scale, *, w_bits):
    """FP32 code of RNE(bf16(code) * w_sel * 2**(w_scale - 127)), with the selected weight
    ``w_sel`` = w[idx] an MXINT-w element (exponent -(w - 2)) and IEEE specials."""
    s_o, sig_o, e_o, inf_o, nan_o = decode_element(code, BF16)
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
    stages : int or None
        Pipeline registers, 0..``len(steps(k))``, at ``cut_points(k)[:stages]``; None:
        :func:`default_stages` (meets 10 ns).

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
                 stages=None):
        check_params(n, k, bits, w=w)
        if stages is None:
            stages = default_stages(k)
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

        # an FP32 adder in two units, front (align + add) and back (normalize + round), with a
        # cut point between them
        def front(name, x, y):
            return fp_unit(m, name, lambda sub, u, v: add_front(sub, FP32, u, v, name="add"),
                           (x, y), add_layout(FP32).size)

        def back(name, mid):
            return fp_unit(m, name, lambda sub, u: add_back(sub, FP32, u, name="add"), (mid,),
                           FP32.width)

        # step "sel": every outlier's weight w[idx_j] (a shifter over the n weights each);
        # beside them the exact inlier sum I, the scale sum and the NaN-scale flag (the inputs
        # of I's conversion)
        sels = [fp_unit(m, f"osel{j}", lambda sub, i, wv: wv.word_select(i, wb),
                        (pay.idx[j], pay.w), wb) for j in range(k)]
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
        *sels, outliers, w_scale, big, scales, nan, acc = p.cut(
            "sel", *sels, pay.outliers.as_value(), pay.w_scale, big, scales, nan, pay.acc)
        big = big.as_signed()
        outliers = data.View(data.ArrayLayout(16, k), outliers)
        # step "mul": the outlier products, BF16 x INT-w rounded to FP32
        prods = [fp_unit(m, f"omul{j}",
                         lambda sub, o, ws, wv: _outlier_product(sub, o, ws, wv, w_bits=wb),
                         (outliers[j], sels[j], w_scale), FP32.width)
                 for j in range(k)]

        def convert(big, scales, nan):
            return fp_unit(m, "int_cvt",
                           lambda sub, i, s, f: _int_to_fp32(sub, i.as_signed(), s, f,
                                                             sum_bits=self._sum_bits,
                                                             exp_offset=exp_offset),
                           (big, scales, nan), FP32.width)

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
                prods, node=lambda level, j, x, y: front(f"add{level}_{j}", x, y),
                finish=lambda level, j, mid: back(f"norm{level}_{j}", mid),
                mid_cut=lambda level, *values: p.cut(f"tree{level}_add", *values),
                cut=level_cut, carry=(big, scales, nan, acc))

        # steps "sum_add", "sum", "acc_add" and "acc"
        mid, acc = p.cut("sum_add", front("add_sum", i_f, t), acc)
        s, acc = p.cut("sum", back("norm_sum", mid), acc)
        mid = p.cut("acc_add", front("add_acc", acc, s))
        out = Signal(self.out_layout, name="out")
        m.d.comb += out.result.eq(back("norm_acc", mid))
        out = p.cut("acc", out)
        p.finish(out)
        return m
