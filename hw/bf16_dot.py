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
``"acc"``. ``stages = s`` registers the outputs of the steps ``cut_points(k, s)``, spread evenly
(register j after step ceil(j * N / (s + 1))), so the s + 1 combinational segments hold
N / (s + 1) steps each, rounded; ``s = N`` registers every step, the output included.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import data

from golden.bf16_dot import DEFAULT_K, K_MAX
from golden.formats import FORMATS, FP32

from .lib.block import StreamBlock, check_int
from .lib.fp_arith import add, mul
from .lib.fp_arith import unit as fp_unit
from .lib.pipeline import StreamPipeline, spread_cuts

__all__ = ["Bf16Dot", "K_MAX", "DEFAULT_STAGES", "steps", "cut_points"]

BF16 = FORMATS["bf16"]
#: two registers: for k = 32 the segments are mul + 2 tree levels | 2 levels | 1 level + acc
DEFAULT_STAGES = 2


def _levels(k):
    return (k - 1).bit_length()


def steps(k):
    """The operation steps of a k-lane dot product, in datapath order."""
    return ("mul",) + tuple(f"tree{j}" for j in range(1, _levels(k) + 1)) + ("acc",)


def cut_points(k, stages):
    """Steps after which the ``stages`` registers sit (evenly spread, see the module docstring).

    Raises
    ------
    ValueError, TypeError
        ``stages`` outside 0..len(steps(k)).
    """
    return spread_cuts(steps(k), stages, f"k={k}")


class Bf16Dot(StreamBlock):
    """BF16 dot product of k elements, FP32 products, FP32 adder tree, FP32 accumulate.

    ``result = RNE(acc + tree(RNE(a_i * b_i)))``, IEEE 754 in every step (``golden.bf16_dot``).

    Parameters
    ----------
    k : int
        Block size, 1..128.
    stages : int
        Pipeline registers, 0..``len(steps(k))``; they follow the steps ``cut_points(k, stages)``.

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
        self._cuts = cut_points(k, stages)
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
    def cuts(self):
        """The steps followed by a register (``cut_points(k, stages)``)."""
        return self._cuts

    @property
    def latency(self) -> int:
        return self._stages

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o)
        pay = self.i.payload
        k = self._k

        def cut(step, values, acc):
            if step in self._cuts:
                *values, acc = p.stage(*values, acc)
            return list(values), acc

        # Each operator in its own submodule (hw.lib.fp_arith.unit): Amaranth's simulator then reruns
        # one operator, not the whole tree, when a signal changes.
        def product(name, a, b):
            return fp_unit(m, name, lambda sub, x, y: mul(sub, BF16, x, BF16, y, FP32, name="mul"),
                           (a, b), FP32.width)

        def total(name, a, b):
            return fp_unit(m, name, lambda sub, x, y: add(sub, FP32, x, y, name="add"), (a, b),
                           FP32.width)

        values = [product(f"mul{i}", pay.a[i], pay.b[i]) for i in range(k)]
        values, acc = cut("mul", values, pay.acc)
        level = 0
        while len(values) > 1:
            level += 1
            nxt = [total(f"add{level}_{j // 2}", values[j], values[j + 1])
                   for j in range(0, len(values) - 1, 2)]
            if len(values) % 2:
                nxt.append(values[-1])
            values, acc = cut(f"tree{level}", nxt, acc)
        out = Signal(self.out_layout, name="out")
        m.d.comb += out.result.eq(total("add_acc", acc, values[0]))
        if "acc" in self._cuts:
            out = p.stage(out)
        p.finish(out)
        return m
