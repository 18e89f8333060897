"""hw.lib.trees.reduce_tree, the one tree of the hardware, against golden.accumulate.pairwise,
the one order of the golden models: the same association for every size."""
import numpy as np
import pytest
from amaranth.hdl import Signal, signed

from golden.accumulate import pairwise
from hw.lib.trees import maximum, named_tree, plus, reduce_tree


class Sym:
    """A symbolic operand: records the association of the tree it is built into."""

    def __init__(self, s):
        self.s = s

    def __repr__(self):
        return self.s


def _assoc(n):
    return repr(reduce_tree([Sym(f"v{j}") for j in range(n)], lambda a, b: Sym(f"({a}+{b})")))


def _golden_assoc(n):
    cat = np.frompyfunc(lambda a, b: f"({a}+{b})", 2, 1)
    return pairwise(np.array([f"v{j}" for j in range(n)], dtype=object), cat)


@pytest.mark.parametrize("n", list(range(1, 20)) + [32, 33, 127, 128])
def test_hardware_and_golden_trees_associate_alike(n):
    assert _assoc(n) == _golden_assoc(n)


def test_tree_order_spelled_out():
    assert _assoc(5) == "(((v0+v1)+(v2+v3))+v4)"
    assert _assoc(6) == "(((v0+v1)+(v2+v3))+(v4+v5))"


def test_node_names_by_position_and_cut_sees_every_level():
    names, seen = [], []

    def node(level, index, a, b):
        names.append((level, index))
        return a + b

    def cut(level, *values):
        seen.append((level, len(values)))
        return values

    terms = [Signal(signed(4)) for _ in range(5)]
    carry = (Signal(8), Signal(1))
    total, out = reduce_tree(terms, node=node, cut=cut, carry=carry)
    assert names == [(1, 0), (1, 1), (2, 0), (3, 0)]
    assert seen == [(1, 3 + 2), (2, 2 + 2), (3, 1 + 2)]
    assert out == carry
    assert len(total) == 4 + 3  # an exact integer tree: one bit per level
    assert len(reduce_tree(terms, plus)) == 7


def test_cut_may_change_the_carry():
    terms = [Signal(4) for _ in range(4)]
    extra = Signal(3)

    def cut(level, *values):
        return (*values, extra) if level == 2 else values

    _, out = reduce_tree(terms, plus, cut=cut, carry=())
    assert out == (extra,)


def test_two_part_nodes_keep_the_order_and_see_a_mid_cut():
    """``finish``/``mid_cut``: an operator in two parts (an FP adder with a register inside);
    the association is the same tree, and ``mid_cut`` sees each level's first parts, the value
    passing the level and the carry, then ``cut`` the finished level."""
    seen = []

    def front(level, index, a, b):
        return Sym(f"[{a}+{b}")

    def finish(level, index, part):
        return Sym(f"{part}]")

    def mid_cut(level, *values):
        seen.append(("mid", level, [repr(v) for v in values]))
        return values

    def cut(level, *values):
        seen.append(("cut", level, len(values)))
        return values

    carry = (Sym("c"),)
    total, out = reduce_tree([Sym(f"v{j}") for j in range(5)], node=front, finish=finish,
                             mid_cut=mid_cut, cut=cut, carry=carry)
    assert repr(total) == "[[[v0+v1]+[v2+v3]]+v4]"
    assert out == carry
    assert seen == [("mid", 1, ["[v0+v1", "[v2+v3", "v4", "c"]), ("cut", 1, 3 + 1),
                    ("mid", 2, ["[[v0+v1]+[v2+v3]", "v4", "c"]), ("cut", 2, 2 + 1),
                    ("mid", 3, ["[[[v0+v1]+[v2+v3]]+v4", "c"]), ("cut", 3, 1 + 1)]
    with pytest.raises(ValueError, match="mid_cut needs finish"):
        reduce_tree([Sym("a"), Sym("b")], node=front, mid_cut=mid_cut)


def test_errors():
    with pytest.raises(ValueError, match="at least one value"):
        reduce_tree([], plus)
    with pytest.raises(ValueError, match="exactly one of op and node"):
        reduce_tree([Signal(2)])
    with pytest.raises(ValueError, match="exactly one of op and node"):
        reduce_tree([Signal(2)], plus, node=lambda *a: a[2])
    with pytest.raises(ValueError, match="at least one value"):
        pairwise(np.zeros((3, 0)), np.add)


def test_named_tree_is_the_same_tree():
    from amaranth.hdl import Module
    m = Module()
    values = [Signal(8, name=f"v{j}") for j in range(11)]
    assert repr(named_tree(m, [Sym(f"v{j}") for j in range(11)],
                           lambda a, b: Sym(f"({a}+{b})"), "x", span=40)) == _assoc(11)
    assert len(named_tree(m, values, maximum, "mx")) == 8
