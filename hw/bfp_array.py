"""``bfp_array``: an R x C array of FlexBlock multi-mode PEs; ``units`` conversion units and
FP32 accumulation buffers per PE column, none in the PEs.

The interface, the arithmetic and the throughput rule are in :mod:`golden.bfp_array` (its module
docstring is the contract). The hardware::

    input --[in]--> broadcast: a[r] to row r, b[c] to column c
    PE (r, c): sub-multipliers -> product formation -> integer accumulators (+ shadow bank)
    column c, unit k: shadow banks of rows k, k + u, ... --(entry q)--> conversion <-> buffer
    output:    units x C results side by side, one (row, i, j) tag

**PEs.** Each PE is ``bfp_pe``'s input side, built by ``bfp_pe``'s own pieces
(``digit_products``: one w x w sub-multiplier per digit pair; ``mode_products``: hierarchical
product formation; ``select_products``: a parallel mux per slot; ``accumulate_step``): integer
accumulators, one per slot, sized for ``max_beats``, copied into a shadow bank by the group's
last beat. A PE holds no FP32 state. Under :class:`hw.lib.export.Export` (Verilog export) the
PE is one module instantiated R * C times; Amaranth's simulator elaborates every copy.

**Conversion.** One counter walks entry ``q = step * P + s`` of the finished group (row step,
slot and (i, j) counters beside it); unit k of every column reads the shadow entry s of its PE
in row ``step * u + k`` and its buffer entry q (a memory with a combinational read port), and
runs :func:`hw.lib.accumulate.fp32_accumulate` with its own exponent sum
``exp_a[r] + exp_b[c]``. Units and columns share the issue logic, the conversion pipeline's
valid bits and tags, and the output register; only the datapath is per unit. The interlock is
``bfp_pe``'s: entry q waits while a conversion register holds a conversion of q (the write-back
is in the cycle the result enters the output register) unless the group clears, so the
conversion depth is d = 1 + the conversion registers.

Register cuts (``CUTS``, the order ``stages`` takes them): the conversion step's ``align`` and
``shift`` (``bfp_pe``'s measured choice, ``DEFAULT_STAGES`` = 2), its ``norm``, then ``in``, one
register on the broadcast operands before the PEs (an array's long wires). ``latency`` =
``stages + 2``.
"""
from __future__ import annotations

import math
from functools import reduce
from types import SimpleNamespace

from amaranth.hdl import Const, Elaboratable, Module, Mux, Signal, Value, signed
from amaranth.lib import data
from amaranth.lib.memory import Memory

from golden import bfp_array as spec
from golden.bfp import EXP_NAN

from .bfp_pe import (_pick, _table, accumulate_step, digit_products, mode_products,
                     select_products, slot_product_bits)
from .lib.accumulate import STEP_CUTS, fp32_accumulate
from .lib.block import StreamBlock
from .lib.export import Export
from .lib.pipeline import Cuts, StreamPipeline

__all__ = ["BfpArray", "CUTS", "MAX_STAGES", "DEFAULT_STAGES"]

#: register cuts in the order ``stages`` takes them (module docstring)
CUTS = ("align", "shift", "norm", "in")
MAX_STAGES = len(CUTS)
DEFAULT_STAGES = 2
_EXP_BITS = 8
_E_BITS = 11  # signed: exp_a + exp_b - 254 - (m_a - 1) - (m_b - 1)


class _Pe(Elaboratable):
    """One PE's input side, ``bfp_pe``'s pieces: products of the current beat into integer
    accumulators (``step``), copied into the shadow bank by the group's last beat (``load``)."""

    def __init__(self, lane_bits, modes, prod_bits, acc_bits):
        self._lane, self._modes = lane_bits, modes
        self._prod_bits, self._acc_bits = prod_bits, acc_bits
        ns = spec.sign_bits(lane_bits, modes)
        mbits = spec.mode_bits(modes)
        self.a, self.b = Signal(lane_bits, name="a"), Signal(lane_bits, name="b")
        self.sa, self.sb = Signal(ns, name="sa"), Signal(ns, name="sb")
        self.mode_a, self.mode_b = Signal(mbits, name="mode_a"), Signal(mbits, name="mode_b")
        self.step = Signal(name="step")
        self.load = Signal(name="load")
        self.fresh = Signal(name="fresh")
        self.shadow = [Signal(signed(w), name=f"shadow{s}") for s, w in enumerate(acc_bits)]
        for s, sig in enumerate(self.shadow):       # the port names of hw.lib.export.Export
            setattr(self, f"shadow{s}", sig)

    def elaborate(self, platform):
        m = Module()
        lane, modes = self._lane, self._modes
        digits = digit_products(self.a, self.b, lane, reduce(math.gcd, modes))
        mags, negs = select_products(m, mode_products(digits, lane, modes), self.sa, self.sb,
                                     self.mode_a, self.mode_b, lane, modes, self._prod_bits)
        acc = [Signal(signed(w), name=f"acc{s}") for s, w in enumerate(self._acc_bits)]
        nxt = [accumulate_step(acc[s], self.fresh, mags[s], negs[s]) for s in range(len(acc))]
        with m.If(self.step):
            m.d.sync += [a.eq(x) for a, x in zip(acc, nxt)]
        with m.If(self.load):
            m.d.sync += [sh.eq(x) for sh, x in zip(self.shadow, nxt)]
        return m


class BfpArray(StreamBlock):
    """R x C array of FlexBlock multi-mode BFP PEs, per-column conversion (interface:
    :mod:`golden.bfp_array`).

    Parameters
    ----------
    R, C : int
        PE rows and columns, 1..64.
    lane_bits : int
        Operand lane width per PE row / column (16).
    modes : tuple of int
        Magnitude widths each lane can be split into at run time, each dividing ``lane_bits``
        ((16, 8, 4); one mode gives a single-mode baseline).
    max_beats : int
        Longest group in beats, 1..65536 (sizes the integer accumulators).
    stages : int
        Pipeline registers, 0..4, at ``CUTS[:stages]``.
    units : int
        Conversion units per PE column, dividing ``R``.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"a": ArrayLayout(lane_bits, R), "sa":
        ArrayLayout(ArrayLayout(1, ns), R), "mode_a": mb, "exp_a": ArrayLayout(8, R), "b":
        ArrayLayout(lane_bits, C), "sb": ArrayLayout(ArrayLayout(1, ns), C), "mode_b": mb,
        "exp_b": ArrayLayout(8, C), "last": 1, "clear": 1})))
    o : Out(stream.Signature(StructLayout({"result": ArrayLayout(ArrayLayout(32, C), units),
        "row": rb, "i": ib, "j": ib, "last": 1})))
    latency : int
        Cycles from a group's last beat to its first output beat: ``stages + 2``.
    conv_depth : int
        d of the throughput rule: 1 + the conversion registers.
    entries : int
        FP32 buffer entries per conversion unit ((R / units) * slots).
    acc_bits : tuple of int
        Width of each PE slot's integer accumulator (sign included).

    Raises
    ------
    ValueError, TypeError
        A bad ``R``, ``C``, ``lane_bits``, ``modes``, ``max_beats``, ``stages`` or ``units``,
        named.
    """

    def __init__(self, R=1, C=1, lane_bits=spec.LANE_BITS, modes=spec.MODES,
                 max_beats=spec.MAX_BEATS, stages=DEFAULT_STAGES, units=1):
        modes = spec.check_params(R, C, lane_bits, modes, max_beats, None, units)
        self._cuts = Cuts(CUTS, stages)
        self._R, self._C, self._lane, self._modes = R, C, lane_bits, modes
        self._units = units
        self._max_beats, self._stages = max_beats, stages
        self._ns = spec.sign_bits(lane_bits, modes)
        self._slots = self._ns * self._ns
        self._prod_bits = slot_product_bits(lane_bits, modes)
        self._acc_bits = tuple((max_beats * ((1 << p) - 1)).bit_length() + 1
                               for p in self._prod_bits)
        mbits = spec.mode_bits(modes)
        sub = max(1, (self._ns - 1).bit_length())
        super().__init__(
            data.StructLayout({
                "a": data.ArrayLayout(lane_bits, R),
                "sa": data.ArrayLayout(data.ArrayLayout(1, self._ns), R),
                "mode_a": mbits, "exp_a": data.ArrayLayout(_EXP_BITS, R),
                "b": data.ArrayLayout(lane_bits, C),
                "sb": data.ArrayLayout(data.ArrayLayout(1, self._ns), C),
                "mode_b": mbits, "exp_b": data.ArrayLayout(_EXP_BITS, C),
                "last": 1, "clear": 1,
            }),
            data.StructLayout({"result": data.ArrayLayout(data.ArrayLayout(32, C), units),
                               "row": max(1, (R - 1).bit_length()), "i": sub, "j": sub,
                               "last": 1}))

    @property
    def R(self):
        return self._R

    @property
    def C(self):
        return self._C

    @property
    def modes(self):
        return self._modes

    @property
    def stages(self):
        return self._stages

    @property
    def latency(self):
        return self._stages + 2

    @property
    def conv_depth(self):
        return spec.conv_depth(self._stages)

    @property
    def units(self):
        return self._units

    @property
    def entries(self):
        return spec.entries(self._R, self._lane, self._modes, self._units)

    @property
    def acc_bits(self):
        return self._acc_bits

    def elaborate(self, platform):
        m = Module()
        R, C, lane, modes, slots = self._R, self._C, self._lane, self._modes, self._slots
        p = StreamPipeline(m, self.i, None, self._cuts)
        pay = self.i.payload
        fields = ([pay.a[r] for r in range(R)] + [pay.sa[r].as_value() for r in range(R)]
                  + [pay.exp_a[r] for r in range(R)]
                  + [pay.b[c] for c in range(C)] + [pay.sb[c].as_value() for c in range(C)]
                  + [pay.exp_b[c] for c in range(C)]
                  + [pay.mode_a, pay.mode_b, pay.last, pay.clear])
        regs = p.cut("in", *fields)
        regs = list(regs) if isinstance(regs, tuple) else [regs]
        a, sa, exp_a = regs[:R], regs[R:2 * R], regs[2 * R:3 * R]
        b, sb, exp_b = regs[3 * R:3 * R + C], regs[3 * R + C:3 * R + 2 * C], \
            regs[3 * R + 2 * C:3 * R + 3 * C]
        mode_a, mode_b, last, clear = regs[3 * R + 3 * C:]
        valid = p.valid

        # the PEs (operands broadcast along rows and columns)
        fresh = Signal(init=1)
        step = Signal()
        load = Signal()
        pes = {}

        def make_pe():
            return _Pe(lane, modes, self._prod_bits, self._acc_bits)

        for r in range(R):
            for c in range(C):
                ins = {"a": a[r], "sa": sa[r], "b": b[c], "sb": sb[c], "mode_a": mode_a,
                       "mode_b": mode_b, "step": step, "load": load, "fresh": fresh}
                if isinstance(platform, Export):
                    # one PE module, instantiated R * C times (hw.lib.export.Export)
                    shadows = [Signal(signed(w), name=f"pe_r{r}_c{c}_shadow{s}")
                               for s, w in enumerate(self._acc_bits)]
                    m.submodules[f"pe_r{r}_c{c}"] = platform.instance(
                        "pe", make_pe, ins, {f"shadow{s}": x for s, x in enumerate(shadows)})
                    pe = SimpleNamespace(shadow=shadows)
                else:
                    pe = make_pe()
                    m.submodules[f"pe_r{r}_c{c}"] = pe
                    m.d.comb += [getattr(pe, k).eq(v) for k, v in ins.items()]
                pes[r, c] = pe

        # group registers of the group being converted
        g_mode_a = Signal.like(mode_a, name="g_mode_a")
        g_mode_b = Signal.like(mode_b, name="g_mode_b")
        g_exp_a = [Signal(_EXP_BITS, name=f"g_exp_a{r}") for r in range(R)]
        g_exp_b = [Signal(_EXP_BITS, name=f"g_exp_b{c}") for c in range(C)]
        g_clear = Signal(name="g_clear")

        # issue: entry cnt = step * P + slot of every unit, slot = i * n_b + j; unit k converts
        # row step * u + k
        u = self._units
        steps = R // u
        busy = Signal()
        cnt = Signal(range(max(self.entries, 2)), name="conv_cnt")
        step_ = Signal(range(max(steps, 2)), name="conv_step")
        row = Signal(self.o.payload.row.shape(), name="conv_row")
        slot = Signal(range(max(slots, 2)), name="conv_slot")
        ci = Signal(self.o.payload.i.shape(), name="conv_i")
        cj = Signal(self.o.payload.j.shape(), name="conv_j")
        na_1 = _table(g_mode_a, [lane // mode - 1 for mode in modes], ci.shape())
        nb_1 = _table(g_mode_b, [lane // mode - 1 for mode in modes], cj.shape())
        row_end = (ci == na_1) & (cj == nb_1)
        final = row_end & (step_ == steps - 1)
        issue = Signal(name="conv_issue")
        en = Signal(name="conv_en")   # the conversion pipeline advances
        out_valid = Signal(name="out_valid")
        m.d.comb += en.eq(~out_valid | self.o.ready)
        fire = issue & en
        blocked = valid & last & busy & ~(fire & final)
        m.d.comb += [p.en.eq(~blocked), step.eq(p.en & valid), load.eq(p.en & valid & last)]
        with m.If(step):
            m.d.sync += fresh.eq(last)

        # the conversion pipeline: shared valid bits and tags, per-unit datapath registers
        chosen = [pt for pt in STEP_CUTS if pt in self._cuts]
        tags = [(issue, cnt, row, ci, cj, final)]
        for k, point in enumerate(chosen):
            prev = tags[-1]
            now = tuple(Signal.like(v, name=f"conv_{point}_{what}") for v, what in
                        zip(prev, ("valid", "cnt", "row", "i", "j", "last")))
            with m.If(en):
                m.d.sync += [dst.eq(src) for dst, src in zip(now, prev)]
            tags.append(now)
        # an entry is read again only after its write-back, unless the group clears
        hazard = Const(0, 1)
        for v, q, *_ in tags[1:]:
            hazard = hazard | (v & (q == cnt))
        m.d.comb += issue.eq(busy & (g_clear | ~hazard))
        t_valid, t_cnt, t_row, t_i, t_j, t_last = tags[-1]

        # per unit and column: read the shadow entry and the FP32 entry, convert, write back
        ulp_a = _table(g_mode_a, [mode - 1 for mode in modes], 5)
        ulp_b = _table(g_mode_b, [mode - 1 for mode in modes], 5)
        o = self.o.payload
        for k in range(u):
            rows = range(k, R, u)
            ea = _pick(step_, [g_exp_a[r] for r in rows])
            for c in range(C):
                name = f"conv{k}_{c}" if u > 1 else f"conv{c}"
                per_slot = [_pick(step_, [pes[r, c].shadow[s] for r in rows])
                            for s in range(slots)]
                total = Signal(signed(max(self._acc_bits)), name=f"{name}_sum")
                m.d.comb += total.eq(_pick(slot, per_slot))
                buf = Memory(shape=32, depth=self.entries, init=[])
                m.submodules[f"facc{k}_{c}" if u > 1 else f"facc{c}"] = buf
                rd, wr = buf.read_port(domain="comb"), buf.write_port()
                cc = Signal(32, name=f"{name}_c")
                m.d.comb += [rd.addr.eq(cnt), cc.eq(Mux(g_clear, 0, rd.data))]
                e_s = Signal(signed(_E_BITS), name=f"{name}_exp")
                m.d.comb += e_s.eq(ea + g_exp_b[c] - 254 - ulp_a - ulp_b)
                nan = (ea == EXP_NAN) | (g_exp_b[c] == EXP_NAN)

                def cut(point, *values, name=name):
                    if point not in self._cuts:
                        return values
                    regs = tuple(Signal.like(Value.cast(v), name=f"{name}_{point}")
                                 for v in values)
                    with m.If(en):
                        m.d.sync += [dst.eq(src) for dst, src in zip(regs, values)]
                    return regs

                result = fp32_accumulate(m, total, max(self._acc_bits) - 1, e_s, cc, nan=nan,
                                         pinf=Const(0, 1), ninf=Const(0, 1), cut=cut,
                                         name=name)
                # the write-back, in the cycle the result enters the output register
                m.d.comb += [wr.addr.eq(t_cnt), wr.data.eq(result), wr.en.eq(en & t_valid)]
                with m.If(en):
                    m.d.sync += o.result[k][c].eq(result)
        with m.If(en):
            m.d.sync += [out_valid.eq(t_valid), o.row.eq(t_row), o.i.eq(t_i), o.j.eq(t_j),
                         o.last.eq(t_last)]
        m.d.comb += self.o.valid.eq(out_valid)

        # the counters
        with m.If(fire):
            m.d.sync += cnt.eq(cnt + 1)
            with m.If(row_end):
                m.d.sync += [ci.eq(0), cj.eq(0), slot.eq(0), step_.eq(step_ + 1),
                             row.eq(row + u)]
            with m.Elif(cj == nb_1):
                m.d.sync += [cj.eq(0), ci.eq(ci + 1), slot.eq(slot + 1)]
            with m.Else():
                m.d.sync += [cj.eq(cj + 1), slot.eq(slot + 1)]
            with m.If(final):
                m.d.sync += busy.eq(0)
        with m.If(load):
            m.d.sync += [busy.eq(1), cnt.eq(0), step_.eq(0), row.eq(0), slot.eq(0), ci.eq(0),
                         cj.eq(0),
                         g_mode_a.eq(mode_a), g_mode_b.eq(mode_b), g_clear.eq(clear)]
            m.d.sync += [g.eq(e) for g, e in zip(g_exp_a, exp_a)]
            m.d.sync += [g.eq(e) for g, e in zip(g_exp_b, exp_b)]
        return m
