"""hw.lib.pipeline: the one register-cut mechanism (``Cuts``, ``bisection_order``) and the
stream pipeline's ``cut``."""
import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import data

from hw.lib.block import Block, StreamBlock
from hw.lib.pipeline import Cuts, StreamPipeline, bisection_order
from sim.harness import check


def test_cuts_take_the_first_stages_points():
    c = Cuts(("b", "a", "c"), 2, "k=3")
    assert c.chosen == ("b", "a") and "a" in c and "b" in c and "c" not in c
    assert Cuts(("b", "a"), 0).chosen == ()


@pytest.mark.parametrize("stages, exc", [(4, ValueError), (-1, ValueError), (1.0, TypeError)])
def test_cuts_name_the_points_in_the_error(stages, exc):
    with pytest.raises(exc, match=r"^stages must be an integer in 0\.\.3 for k=3 "
                                  r"\(cut points x, y, z\), not "):
        Cuts(("x", "y", "z"), stages, "k=3")


def test_an_undeclared_cut_point_is_an_error():
    with pytest.raises(ValueError, match="'w' is not a declared cut point"):
        "w" in Cuts(("x",), 1)
    with pytest.raises(ValueError, match="distinct"):
        Cuts(("x", "x"), 1)


def _runs(steps, order, s):
    pos = sorted(steps.index(p) for p in order[:s])
    bounds = [-1] + pos + ([len(steps) - 1] if len(steps) - 1 not in pos else [])
    return [b - a for a, b in zip(bounds, bounds[1:])]


def test_bisection_order():
    steps = ("mul", "t1", "t2", "t3", "t4", "t5", "acc")
    assert bisection_order(steps) == ("t2", "t4", "mul", "t1", "t3", "t5", "acc")
    assert bisection_order(("a",)) == ("a",) and bisection_order(()) == ()
    for n in range(1, 40):
        steps = tuple(f"s{j}" for j in range(n))
        order = bisection_order(steps)
        assert sorted(order) == sorted(steps) and order[-1] == steps[-1]
        # 2**j - 1 registers: the runs between registers differ by at most one step
        for j in range(6):
            s = (1 << j) - 1
            if s < n:
                runs = _runs(steps, order, s)
                assert sum(runs) == n and max(runs) - min(runs) <= 1, (n, s, runs)


class _TwoCuts(StreamBlock):
    """x -> x + 1 -> (.) * 3 with cut points after each step, in the order ("times", "plus")."""

    def __init__(self, stages):
        self._cuts = Cuts(("times", "plus"), stages)
        super().__init__(data.StructLayout({"x": 8}), data.StructLayout({"y": 10}))

    @property
    def latency(self):
        return self._cuts.stages

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o, self._cuts)
        v = p.cut("plus", self.i.payload.x + 1)
        y = Signal(10)
        m.d.comb += y.eq(v * 3)
        p.finish({"y": p.cut("times", y)})
        return m


TWO = Block(name="test_two_cuts", generator=_TwoCuts,
            golden=lambda inputs, stages: {"y": (np.asarray(inputs["x"]) + 1) * 3},
            stimulus=lambda rng, n, exhaustive=False, stages=0: {"x": np.arange(256)},
            exhaustive_size=lambda stages: 256, defaults={"stages": 0})


@pytest.mark.parametrize("stages", [0, 1, 2])
def test_stream_pipeline_cut_registers_where_the_cuts_say(stages):
    dut = _TwoCuts(stages)
    assert dut._cuts.chosen == ("times", "plus")[:stages]
    result = check(TWO, {"stages": stages}, TWO.vectors(), backend="amaranth", stalls=True)
    assert result.stats["vectors"] == 256


def test_a_pipeline_without_cuts_refuses_cut():
    m = Module()
    dut = _TwoCuts(0)
    p = StreamPipeline(m, dut.i, dut.o)
    with pytest.raises(ValueError, match="without cuts"):
        p.cut("plus", dut.i.payload.x)
