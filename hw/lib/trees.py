"""The one balanced reduction tree of the hardware (sums, FP adder trees, max trees, OR trees,
popcounts), in the project's tree order (docs/numerics.md §3.3): pairs (v0, v1), (v2, v3), ...
level by level, an odd last value passing to the next level unchanged. Its golden twin is
:func:`golden.accumulate.pairwise`; for rounded additions that order is the bit-exactness
contract, so every tree in ``hw/`` is built by :func:`reduce_tree`.

Neither Amaranth's simulator nor its Verilog backend shares a subexpression that is used twice,
and ``Mux(a > b, a, b)`` uses both operands twice: an unnamed max tree of depth d is 2**d copies
of each leaf comparison in the Verilog and about 3**d leaf evaluations per simulator pass.
:func:`named_tree` holds every ``span``-th level in a named signal, which bounds that at a few
copies for one more simulator pass per named level. Measured on ``bfp_quantize`` (G = 216,
m = 4, rtz; Verilog size, Amaranth time per group under stalls): every level named 252 KB,
4.6 ms; every second level 274 KB, 3.6 ms; every fourth 413 KB, 4.3 ms; none 3.1 MB, 12 ms.
"""
from amaranth.hdl import Cat, Mux, Signal

__all__ = ["reduce_tree", "maximum", "plus", "named_tree", "SPAN"]

#: levels between named signals in :func:`named_tree`
SPAN = 2


def reduce_tree(values, op=None, *, node=None, cut=None, carry=None, finish=None,
                mid_cut=None):
    """Balanced reduction of ``values`` in the tree order (depth ceil(log2 n)).

    Parameters
    ----------
    values : list of Value
        At least one.
    op : callable, optional
        ``op(a, b)`` builds one node.
    node : callable, optional
        Instead of ``op``: ``node(level, index, a, b)`` builds the node ``index`` (0, 1, ...) of
        ``level`` (1, 2, ...), for blocks that name their operators by position.
    cut : callable, optional
        ``cut(level, *values, *carry)`` is called after every level with that level's results
        followed by ``carry``, and returns them, registered or not (a pipeline cut inside the
        tree; ``carry`` holds what travels beside it). It may return a different number of
        carried values than it was given (a block that starts a side computation beside a
        level): the first ``len(level results)`` returned are the level's results.
    carry : tuple of Value, optional
        With ``carry`` given (even empty), the result is ``(value, carry)`` as ``cut`` last
        returned it; without, just the value.
    finish : callable, optional
        A node in two parts (an operator with a register cut inside, e.g. an FP adder cut
        after its significand addition): ``node`` builds the first part and
        ``finish(level, index, part)`` the rest. Between them ``mid_cut(level, *parts, *odd,
        *carry)`` (``odd``: the value passing the level unchanged, if any) is called like
        ``cut`` and returns them, registered or not.

    Raises
    ------
    ValueError
        No values, or not exactly one of ``op`` and ``node``, or ``mid_cut`` without
        ``finish``.
    """
    values = list(values)
    if not values:
        raise ValueError("reduce_tree needs at least one value")
    if (op is None) == (node is None):
        raise ValueError("reduce_tree needs exactly one of op and node")
    if mid_cut is not None and finish is None:
        raise ValueError("reduce_tree: mid_cut needs finish (a node in two parts)")
    build = node if node is not None else (lambda level, index, a, b: op(a, b))
    extra = () if carry is None else tuple(carry)
    level = 0
    while len(values) > 1:
        level += 1
        nxt = [build(level, j // 2, values[j], values[j + 1])
               for j in range(0, len(values) - 1, 2)]
        odd = values[-1:] if len(values) % 2 else []
        if finish is not None:
            if mid_cut is not None:
                out = mid_cut(level, *nxt, *odd, *extra)
                out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
                nxt, odd, extra = (list(out[: len(nxt)]), list(out[len(nxt): len(nxt) + len(odd)]),
                                   out[len(nxt) + len(odd):])
            nxt = [finish(level, j, part) for j, part in enumerate(nxt)]
        values = nxt + odd
        if cut is not None:
            out = cut(level, *values, *extra)
            out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
            values, extra = list(out[: len(values)]), out[len(values):]
    return values[0] if carry is None else (values[0], extra)


def maximum(a, b):
    """The larger of two unsigned values."""
    return Mux(a > b, a, b)


def plus(a, b):
    """``a + b`` at full width (one bit wider than the wider operand: an exact integer tree)."""
    return a + b


def named_tree(m, values, op, name, span=SPAN):
    """:func:`reduce_tree` with the level every ``span`` levels held in a combinational signal
    ``<name>_l<level>`` of module ``m`` (see the module docstring for why)."""
    values = list(values)
    group = 1 << span
    level = 0
    while len(values) > group:
        level += span
        values = [reduce_tree(values[j: j + group], op) for j in range(0, len(values), group)]
        width = len(values[0])
        held = Signal(width * len(values), name=f"{name}_l{level}")
        m.d.comb += held.eq(Cat(*values))
        values = [held[width * j: width * (j + 1)] for j in range(len(values))]
    return reduce_tree(values, op)
