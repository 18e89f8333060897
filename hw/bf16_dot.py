"""``bf16_dot``: BF16 dot product with FP32 accumulation and an FP32 adder tree (the baseline of
the MX-SAFE and OPAL comparisons; numerics contract in ``golden.bf16_dot``).

Datapath, one pair of k-element BF16 blocks and one FP32 accumulator per beat::

    k BF16 x BF16 -> FP32 multipliers  ->  ceil(log2 k) levels of FP32 adders  ->  + acc

Every operation is a separate IEEE unit of ``hw.lib.fp_arith`` rounding to FP32 (RNE, gradual
underflow, overflow to ±Inf), in exactly the golden model's order: level by level (p0 + p1),
(p2 + p3), ..., an odd last element passing to the next level unchanged, then acc + tree sum.
Between operations the values are plain FP32 codes, so a pipeline register anywhere is 32 bits
per live value.

Pipelining. The operations form N = levels + 2 steps: ``"mul"``, ``"tree1"`` ... ``"treeL"``,
``"acc"``, each a cut point (a register after that step). Similar steps: ``cut_points(k)``
orders them by :func:`hw.lib.pipeline.bisection_order`, and ``stages = s`` registers the first
s (k = 32: ``tree2``, ``tree4``, ``mul``, ...; two registers leave runs of 3, 2 and 2 steps);
``s = N`` registers every step, the output included.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import data

from golden.bf16_dot import DEFAULT_K, K_MAX
from golden.formats import BF16, FP32

from .lib.block import StreamBlock, check_int
from .lib.fp_arith import add, mul
from .lib.pipeline import Cuts, StreamPipeline, bisection_order
from .lib.trees import reduce_tree
from .lib.units import unit as fp_unit

__all__ = ["Bf16Dot", "K_MAX", "DEFAULT_STAGES", "steps", "cut_points"]


#: two registers: for k = 32 the segments are mul + 2 tree levels | 2 levels | 1 level + acc
DEFAULT_STAGES = 2


def _levels(k):
    return (k - 1).bit_length()


def steps(k):
    """The operation steps of a k-lane dot product, in datapath order."""
    return ("mul",) + tuple(f"tree{j}" for j in range(1, _levels(k) + 1)) + ("acc",)


def cut_points(k):
    """The cut points in the order ``stages`` fills them (the module docstring)."""
    return bisection_order(steps(k))


class Bf16Dot(StreamBlock):
    """BF16 dot product of k elements, FP32 products, FP32 adder tree, FP32 accumulate.

    ``result = RNE(acc + tree(RNE(a_i * b_i)))``, IEEE 754 in every step (``golden.bf16_dot``).

    Parameters
    ----------
    k : int
        Block size, 1..128.
    stages : int
        Pipeline registers, 0..``len(steps(k))``, at ``cut_points(k)[:stages]``.

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

    def __init__(self, k=DEFAULT_K, stages=DEFAULT_STAGES):
        check_int("k", k, 1, K_MAX)
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

        def total(name, a, b):
            return fp_unit(m, name, lambda sub, x, y: add(sub, FP32, x, y, name="add"), (a, b),
                           FP32.width)

        values = [product(f"mul{i}", pay.a[i], pay.b[i]) for i in range(k)]
        *values, acc = p.cut("mul", *values, pay.acc)
        tree, (acc,) = reduce_tree(
            values, node=lambda level, j, a, b: total(f"add{level}_{j}", a, b),
            cut=p.level_cut("tree"), carry=(acc,))
        out = Signal(self.out_layout, name="out")
        m.d.comb += out.result.eq(total("add_acc", acc, tree))
        out = p.cut("acc", out)
        p.finish(out)
        return m
