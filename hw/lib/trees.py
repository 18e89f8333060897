"""Balanced reduction trees shared by the blocks (max trees, OR trees, popcounts).

Neither Amaranth's simulator nor its Verilog backend shares a subexpression that is used twice,
and ``Mux(a > b, a, b)`` uses both operands twice: an unnamed max tree of depth d is 2**d copies
of each leaf comparison in the Verilog and about 3**d leaf evaluations per simulator pass.
:func:`named_tree` holds every ``span``-th level in a named signal, which bounds that at a few
copies for one more simulator pass per named level. Measured on ``bfp_quantize`` (G = 216,
m = 4, rtz; Verilog size, Amaranth time per group under stalls): every level named 252 KB,
4.6 ms; every second level 274 KB, 3.6 ms; every fourth 413 KB, 4.3 ms; none 3.1 MB, 12 ms.
"""
from amaranth.hdl import Cat, Mux, Signal

__all__ = ["reduce_tree", "maximum", "named_tree", "SPAN"]

#: levels between named signals in :func:`named_tree`
SPAN = 2


def reduce_tree(values, op):
    """Balanced reduction of ``values`` with the binary ``op`` (depth ceil(log2 n)); pairs
    (v0, v1), (v2, v3), ...; an odd last value passes to the next level."""
    values = list(values)
    if not values:
        raise ValueError("reduce_tree needs at least one value")
    while len(values) > 1:
        nxt = [op(values[j], values[j + 1]) for j in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            nxt.append(values[-1])
        values = nxt
    return values[0]


def maximum(a, b):
    """The larger of two unsigned values."""
    return Mux(a > b, a, b)


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
