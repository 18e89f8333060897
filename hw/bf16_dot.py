"""``bf16_dot``: BF16 dot product with FP32 accumulation and an FP32 adder tree (the baseline of
the MX-SAFE and OPAL comparisons; numerics contract in ``golden.bf16_dot``).

Datapath, one pair of k-element BF16 blocks and one FP32 accumulator per beat::

    k BF16 x BF16 -> FP32 multipliers  ->  ceil(log2 k) levels of FP32 adders  ->  + acc

Every operation is a separate IEEE unit of ``hw.lib.fp_arith`` rounding to FP32 (RNE, gradual
underflow, overflow to ±Inf), in exactly the golden model's order: level by level (p0 + p1),
(p2 + p3), ..., an odd last element passing to the next level unchanged, then acc + tree sum.
Between operations the values are plain FP32 codes, so a pipeline register anywhere is 32 bits
per live value.

Pipelining. Each FP32 adder is two steps, its front (order, align, add the significands) and
its back (normalize, round): one FP32 adder alone is about 11 ns in OSU 0.18 µm, so a 10 ns
clock needs a register inside it (``hw.lib.fp_arith.add_front``/``add_back``; the register
holds the 41-bit ``add_layout``). The steps, in datapath order: ``"mul"``, then for every tree
level L ``"treeL_add"`` (inside the adders) and ``"treeL"`` (after them), then ``"acc_add"``
and ``"acc"``: N = 2 (levels + 1) + 1 steps, each a cut point (a register after that step).
Similar steps: ``cut_points(k)`` orders them by :func:`hw.lib.pipeline.bisection_order`, and
``stages = s`` registers the first s; ``s = N`` registers every step, the output included.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import data

from golden.bf16_dot import DEFAULT_K, K_MAX
from golden.formats import BF16, FP32

from .lib.block import StreamBlock, check_int
from .lib.fp_arith import add_back, add_front, add_layout, mul
from .lib.pipeline import Cuts, StreamPipeline, bisection_order
from .lib.trees import reduce_tree
from .lib.units import unit as fp_unit

__all__ = ["Bf16Dot", "K_MAX", "DEFAULT_STAGES", "default_stages", "steps", "cut_points"]


def default_stages(k):
    """Every step registered but the output: each segment one FP32 multiplier or one half of an
    FP32 adder. The fewest cuts with which the lane meets 10 ns in OSU 0.18 µm, found by
    ``mxforge synth bf16_dot --clock-ns 10`` at k = 32 (12 of 13) and k = 128 (16 of 17)."""
    return len(steps(k)) - 1




def _levels(k):
    return (k - 1).bit_length()


def steps(k):
    """The operation steps of a k-lane dot product, in datapath order."""
    return (("mul",) + tuple(p for j in range(1, _levels(k) + 1) for p in (f"tree{j}_add",
                                                                               f"tree{j}"))
            + ("acc_add", "acc"))


def cut_points(k):
    """The cut points in the order ``stages`` fills them (the module docstring)."""
    return bisection_order(steps(k))


#: the catalogue's default (k = 32)
DEFAULT_STAGES = default_stages(DEFAULT_K)


class Bf16Dot(StreamBlock):
    """BF16 dot product of k elements, FP32 products, FP32 adder tree, FP32 accumulate.

    ``result = RNE(acc + tree(RNE(a_i * b_i)))``, IEEE 754 in every step (``golden.bf16_dot``).

    Parameters
    ----------
    k : int
        Block size, 1..128.
    stages : int or None
        Pipeline registers, 0..``len(steps(k))``, at ``cut_points(k)[:stages]``; None:
        :func:`default_stages` (meets 10 ns).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"a": ArrayLayout(16, k), "b": ArrayLayout(16, k),
        "acc": 32})))
    o : Out(stream.Signature(StructLayout({"result": 32})))
    latency : int
        Equal to ``stages``.

    Raises
    ------
    ValueError
        ``k`` outside 1..128, ``stages`` outside its range for this k.
    TypeError
        ``k`` or ``stages`` not an integer.
    """

    def __init__(self, k=DEFAULT_K, stages=None):
        check_int("k", k, 1, K_MAX)
        if stages is None:
            stages = default_stages(k)
        self._cuts = Cuts(cut_points(k), stages, f"k={k}")
        self._k, self._stages = k, stages
        super().__init__(
            data.StructLayout({
                "a": data.ArrayLayout(BF16.width, k),
                "b": data.ArrayLayout(BF16.width, k),
                "acc": FP32.width,
            }),
            data.StructLayout({"result": FP32.width}))

    @property
    def k(self):
        return self._k

    @property
    def stages(self):
        return self._stages

    @property
    def latency(self) -> int:
        return self._stages

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o, self._cuts)
        pay = self.i.payload
        k = self._k

        # Each operator in its own submodule (hw.lib.units.unit): Amaranth's simulator then
        # reruns one operator, not the whole tree, when a signal changes.
        def product(name, a, b):
            return fp_unit(m, name, lambda sub, x, y: mul(sub, BF16, x, BF16, y, FP32, name="mul"),
                           (a, b), FP32.width)

        # an adder in two units, its front (align + add) and its back (normalize + round),
        # with a cut point between them
        def front(name, a, b):
            return fp_unit(m, name, lambda sub, x, y: add_front(sub, FP32, x, y, name="add"),
                           (a, b), add_layout(FP32).size)

        def back(name, mid):
            return fp_unit(m, name, lambda sub, x: add_back(sub, FP32, x, name="add"), (mid,),
                           FP32.width)

        def mid_cut(level, *values):
            return p.cut(f"tree{level}_add", *values)

        values = [product(f"mul{i}", pay.a[i], pay.b[i]) for i in range(k)]
        *values, acc = p.cut("mul", *values, pay.acc)
        tree, (acc,) = reduce_tree(
            values, node=lambda level, j, a, b: front(f"add{level}_{j}", a, b),
            finish=lambda level, j, mid: back(f"norm{level}_{j}", mid), mid_cut=mid_cut,
            cut=p.level_cut("tree"), carry=(acc,))
        mid = p.cut("acc_add", front("add_acc", acc, tree))
        out = Signal(self.out_layout, name="out")
        m.d.comb += out.result.eq(back("norm_acc", mid))
        out = p.cut("acc", out)
        p.finish(out)
        return m
