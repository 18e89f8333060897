"""Bare arithmetic: the least datapath a block's operation needs, for the "closeness to the
limit" figure of docs/cost.md (a block's area over its bare arithmetic's, same flow).

- :class:`BareDot`: k unsigned multipliers of the operands' significands and the exact adder
  tree of their products. Everything a real dot product adds (decoding, signs, alignment,
  specials, accumulation, rounding, pipeline registers) is what the ratio measures.
- :class:`BareQuantize`: the maximum of k exponents, then per lane a right shift of the 24-bit
  significand by its distance to that maximum and an increment of the kept ``bits`` (the
  rounding add). What a real quantizer adds (unpacking, specials, the scale code, rounding
  decisions, saturation, registers) is what the ratio measures.

Both are combinational, their lanes submodules (identical lanes are mapped once, as in the
blocks).
"""
from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .trees import maximum, plus, reduce_tree
from .units import unit

__all__ = ["BareDot", "BareQuantize"]


class BareDot(wiring.Component):
    """``sum_i a_i * b_i`` of k unsigned ``wa``- and ``wb``-bit operands, exact."""

    def __init__(self, k, wa, wb):
        self._k, self._wa, self._wb = k, wa, wb
        self._out = wa + wb + max(0, (k - 1).bit_length())
        super().__init__({"a": In(wa * k), "b": In(wb * k), "sum": Out(self._out)})

    def elaborate(self, platform):
        m = Module()
        k, wa, wb = self._k, self._wa, self._wb
        products = [unit(m, f"mul{i}", lambda sub, x, y: x * y,
                         (self.a[wa * i: wa * (i + 1)], self.b[wb * i: wb * (i + 1)]), wa + wb)
                    for i in range(k)]
        m.d.comb += self.sum.eq(reduce_tree(products, plus))
        return m


class BareQuantize(wiring.Component):
    """Maximum of k 8-bit exponents; per lane the 24-bit significand shifted right by its
    distance to the maximum and its top ``bits`` rounded up by an increment."""

    def __init__(self, k, bits):
        self._k, self._bits = k, bits
        super().__init__({"exp": In(8 * k), "sig": In(24 * k), "max": Out(8),
                          "codes": Out((bits + 1) * k)})

    def elaborate(self, platform):
        m = Module()
        k, bits = self._k, self._bits
        exps = [self.exp[8 * i: 8 * (i + 1)] for i in range(k)]
        top = reduce_tree(exps, maximum)
        m.d.comb += self.max.eq(top)

        def lane(sub, sig, e, top):
            dist = top - e
            shifted = sig >> Mux(dist > 24, 24, dist)[:5]
            return shifted[24 - bits:] + shifted[23 - bits]

        for i in range(k):
            code = unit(m, f"lane{i}", lane, (self.sig[24 * i: 24 * (i + 1)], exps[i], self.max),
                        bits + 1)
            m.d.comb += self.codes[(bits + 1) * i: (bits + 1) * (i + 1)].eq(code)
        return m
