"""A per-channel scalar unit: a fixed sequence of rounded floating-point operations on named
registers, run once per channel with one shared adder, one shared multiplier and, when the
sequence needs them, one iterative divider and one iterative square root (``hw.lib.fp_iter``).

The batch-norm units (``hw/rangebn.py``) compute a handful of per-channel scalars (the mean,
the range or the variance, a reciprocal, the folded scale) between their two passes. Those steps
are rare (once per n values) and strictly sequential, so one operator of each kind is time-shared
by a small step counter: every step reads its two operands from registers or constants through a
multiplexer, and its result is written to its destination register at the end of the step
(``cycles`` cycles for add, mul and ``max0``, see :class:`ScalarProgram`; the iterative unit's
cycle count for div and sqrt, one more with the operand register of ``cycles = 3``).

A step is ``(op, dst, a, b)``: ``op`` in :data:`OPS`; ``dst`` a register name (created on first
use); ``a``, ``b`` names of registers, of the caller's ``inputs`` or of ``consts``; a leading
``-`` negates the operand (an exact sign flip). ``sqrt`` and ``max0`` take only ``a`` (``b`` is
None). ``max0`` is +0 for a negative non-NaN operand and the operand otherwise (a variance clamp).
The golden models write the same sequence with ``golden.formats`` operations.
"""
from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal

from golden.checks import check_int
from golden.formats import get_format

from . import fp_arith
from .fp import negate
from .units import unit

__all__ = ["ScalarProgram", "OPS"]

OPS = ("add", "mul", "div", "sqrt", "max0")
_ITERATIVE = ("div", "sqrt")


class ScalarProgram:
    """Build the scalar unit into module ``m``.

    Parameters
    ----------
    m : Module
    fmt : FloatFormat or name
        The format of every operand and result.
    steps : sequence of (op, dst, a, b)
    inputs : dict name -> Value
        Operands from outside (held stable by the caller while the program runs).
    consts : dict name -> int
        Constant operand codes.
    rounding, overflow
        As ``hw.lib.fp_arith`` (one mode for every step).
    cycles : {1, 2, 3}
        Cycles of an add, mul or ``max0`` step. 1: the operators are combinational between the
        operand multiplexer and the destination registers. 2: a register inside the adder and
        the multiplier (``fp_arith.add_front``/``add_back``, ``mul_front``/``mul_back``).
        3: also a register after the operand multiplexer (which the iterative units then read
        too: their steps take one cycle more). The registers are free-running (the operands
        are stable for the whole step), so they cost no control; each cycle lengthens only the
        program, the pause between a channel's passes.
    name : str
        Prefix of the generated signals.

    Attributes
    ----------
    start : Signal, in
        A one-cycle pulse starts the program (ignored while it runs).
    busy : Signal, out
    done : Signal, out
        One cycle, the cycle after the last result was written.
    regs : dict name -> Signal
        The destination registers (they keep their values until the next run writes them).
    """

    def __init__(self, m: Module, fmt, steps, *, inputs, consts, rounding, overflow, cycles=1,
                 name="prog"):
        from .fp_iter import FpDivider, FpSqrt
        check_int("cycles", cycles, 1, 3)
        fmt = get_format(fmt)
        steps = [tuple(s) for s in steps]
        w = fmt.width
        self.regs = {}
        for op, dst, a, b in steps:
            if op not in OPS:
                raise ValueError(f"scalar step op must be one of {', '.join(OPS)}, not {op!r}")
            if dst in inputs or dst in consts:
                raise ValueError(f"scalar step destination {dst!r} names an input or constant")
            self.regs.setdefault(dst, Signal(w, name=f"{name}_{dst}"))

        def operand(ref):
            if ref is None:
                return Const(0, w)
            neg = ref.startswith("-")
            key = ref[1:] if neg else ref
            if key in self.regs:
                v = self.regs[key]
            elif key in inputs:
                v = inputs[key]
            elif key in consts:
                v = Const(consts[key], w)
            else:
                raise ValueError(f"scalar step operand {ref!r} is not a register, input or "
                                 f"constant")
            return negate(v) if neg else v

        self.start = Signal(name=f"{name}_start")
        self.busy = Signal(name=f"{name}_busy")
        self.done = Signal(name=f"{name}_done")
        step = Signal(range(len(steps) + 1), init=len(steps), name=f"{name}_step")  # idle
        waiting = Signal(name=f"{name}_wait")
        opa = Signal(w, name=f"{name}_a")
        opb = Signal(w, name=f"{name}_b")
        # if/elif chains, not m.Switch: Yosys prunes a Switch per driven signal into incomplete
        # case statements, which Verilator's lint rejects (CASEINCOMPLETE)
        a_val, b_val = Const(0, w), Const(0, w)
        for k, (op, dst, a, b) in reversed(list(enumerate(steps))):
            a_val = Mux(step == k, operand(a), a_val)
            b_val = Mux(step == k, operand(b), b_val)
        m.d.comb += [opa.eq(a_val), opb.eq(b_val)]
        if cycles == 3:
            # the operand register (free-running: the multiplexer's inputs hold during a step)
            opa_r = Signal(w, name=f"{name}_a_r")
            opb_r = Signal(w, name=f"{name}_b_r")
            m.d.sync += [opa_r.eq(opa), opb_r.eq(opb)]
            opa, opb = opa_r, opb_r

        used = {op for op, *_ in steps}
        kw = dict(rounding=rounding, overflow=overflow)
        result = {}

        def split(op, front, back, layout):
            """A rounded operator as two units with a free-running register between them."""
            mid = unit(m, f"{name}_{op}", lambda sub, x, y: front(sub, x, y), (opa, opb),
                       layout.size)
            mid_r = Signal(layout.size, name=f"{name}_{op}_mid")
            m.d.sync += mid_r.eq(mid)
            return unit(m, f"{name}_{op}_back", lambda sub, x: back(sub, x), (mid_r,), w)

        if "add" in used and cycles == 1:
            result["add"] = unit(
                m, f"{name}_add", lambda sub, x, y: fp_arith.add(sub, fmt, x, y, name="add", **kw),
                (opa, opb), w)
        elif "add" in used:
            result["add"] = split(
                "add", lambda sub, x, y: fp_arith.add_front(sub, fmt, x, y, name="add"),
                lambda sub, x: fp_arith.add_back(sub, fmt, x, name="add", **kw),
                fp_arith.add_layout(fmt))
        if "mul" in used and cycles == 1:
            result["mul"] = unit(
                m, f"{name}_mul",
                lambda sub, x, y: fp_arith.mul(sub, fmt, x, fmt, y, fmt, name="mul", **kw),
                (opa, opb), w)
        elif "mul" in used:
            result["mul"] = split(
                "mul", lambda sub, x, y: fp_arith.mul_front(sub, fmt, x, fmt, y, fmt, name="mul"),
                lambda sub, x: fp_arith.mul_back(sub, fmt, fmt, fmt, x, name="mul", **kw),
                fp_arith.mul_layout(fmt, fmt, fmt))
        if "max0" in used:
            mag = opa[:-1]
            is_nan = Const(0, 1)
            if fmt.specials == "ieee":
                is_nan = mag > fmt.inf_code                 # above Inf: a NaN payload
            elif fmt.specials == "fn":
                is_nan = mag == fmt.nan_code                # the one NaN code
            result["max0"] = Mux(opa[-1] & (mag != 0) & ~is_nan, 0, opa)
        units = {}
        for op, cls in (("div", FpDivider), ("sqrt", FpSqrt)):
            if op in used:
                u = cls(fmt, **kw)
                m.submodules[f"{name}_{op}"] = u
                m.d.comb += u.a.eq(opa)
                if op == "div":
                    m.d.comb += u.b.eq(opb)
                units[op] = u
                result[op] = u.result

        m.d.comb += self.busy.eq(step != len(steps))
        m.d.sync += self.done.eq(0)
        # cycles of a step before its operator's result (or, iterative, its start) is due
        # (none with cycles = 1: a zero-width signal is a Verilator lint error)
        phase = Signal(range(cycles), name=f"{name}_phase") if cycles > 1 else None
        with m.If(~self.busy & self.start):
            m.d.sync += [step.eq(0), waiting.eq(0)]
            if phase is not None:
                m.d.sync += phase.eq(0)
        lead = {op: (1 if cycles == 3 else 0) if op in _ITERATIVE else cycles - 1 for op in OPS}
        for k, (op, dst, a, b) in enumerate(steps):
            with m.If(step == k):
                ready = phase == lead[op] if lead[op] else Const(1, 1)
                if lead[op]:
                    with m.If(~ready & ~waiting):
                        m.d.sync += phase.eq(phase + 1)
                if op in _ITERATIVE:
                    u = units[op]
                    with m.If(~waiting):
                        with m.If(ready):
                            m.d.comb += u.start.eq(1)
                            m.d.sync += waiting.eq(1)
                    with m.Elif(u.done):
                        m.d.sync += [self.regs[dst].eq(u.result), waiting.eq(0),
                                     step.eq(k + 1)]
                        if phase is not None:
                            m.d.sync += phase.eq(0)
                else:
                    with m.If(ready):
                        m.d.sync += [self.regs[dst].eq(result[op]), step.eq(k + 1)]
                        if lead[op]:
                            m.d.sync += phase.eq(0)
                if k == len(steps) - 1:
                    last = u.done & waiting if op in _ITERATIVE else ready
                    with m.If(last):
                        m.d.sync += self.done.eq(1)
