"""Two structural helpers every block uses: a value held in a named signal (:func:`named`), and
a combinational function built in a submodule of its own (:func:`unit`). Neither changes the
logic; both change what Amaranth's simulator and Verilog backend do with it (see each)."""
from amaranth.hdl import Elaboratable, Module, Signal, Value

__all__ = ["named", "unit"]


def named(m, value, name):
    """``value`` held in a combinational signal ``name`` of module ``m``: Amaranth shares
    nothing between two uses of one expression, so a subexpression read several times is built
    (and simulated) once only when it is named."""
    value = Value.cast(value)
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


class _Unit(Elaboratable):
    """A combinational function of a few operand signals as its own module (see :func:`unit`)."""

    def __init__(self, fn, widths, width):
        self._fn = fn
        self.operands = [Signal(w, name=f"in{k}") for k, w in enumerate(widths)]
        self.result = Signal(width, name="out")

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.result.eq(self._fn(m, *self.operands))
        return m


def unit(m, name, fn, operands, width):
    """``fn(sub, *operand_signals)`` (a combinational Value of ``width`` bits) built in a
    submodule ``name`` of ``m``; returns its result signal.

    Why: Amaranth's simulator reruns a module's whole combinational logic whenever one signal it
    reads changes, and an FP operator names several intermediate signals, so a datapath of many
    operators in one module is evaluated many times per cycle. As submodules, each operator
    reruns alone. The synthesis flow flattens the hierarchy; the logic is the same.
    """
    operands = [Value.cast(v) for v in operands]
    u = _Unit(fn, [len(v) for v in operands], width)
    m.submodules[name] = u
    m.d.comb += [s.eq(v) for s, v in zip(u.operands, operands)]
    return u.result
