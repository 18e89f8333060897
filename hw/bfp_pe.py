"""``bfp_pe``: FlexBlock's multi-mode BFP processing element (docs/blocks.md "FlexBlock").

The interface, the arithmetic and the throughput rule are in :mod:`golden.bfp_pe` (its module
docstring is the contract). The hardware::

    sub-multipliers  ->  product formation  ->  integer accumulators  ==>  conversion unit
    (w x w, all pairs)   (per mode pair)        (one per product slot,     (one, shared,
                                                 double-buffered)           pipelined: a slot
                                                                            issued per cycle)

1. **One array of sub-multipliers.** With w = gcd(modes) (4 for modes 16/8/4) each lane word is
   ``lane_bits / w`` digits of w bits, and the array forms every digit product
   ``a_p * b_q`` (16 4x4 multipliers for 16-bit lanes). Every mode pair uses all of them: the
   cross products of the two sides' sub-words cover every digit pair exactly once.
2. **Product formation.** A product of an m_a-bit by an m_b-bit sub-word is the shifted sum of
   its digit products. The products of every granularity are built hierarchically, each from the
   next finer mode by one two-term shift-add (8x4 from 4x4, 16x4 from 8x4, 8x8 from 4x8, ...),
   so a 16x16 product reuses the 8x16 ones and so on; then each product slot picks its value and
   sign (s_a XOR s_b) for the current mode pair (one parallel mux per slot).
3. **Integer accumulators**, one per slot (slot s = i * n_b + j), each as wide as the widest
   product it ever receives plus log2(``max_beats``) plus a sign: the sum is exact. A beat with
   ``last`` copies the final sums into a shadow bank and restarts the accumulators, so the next
   group accumulates while this one is converted.
4. **One conversion unit** (:func:`hw.lib.accumulate.fp32_accumulate`, the same fused step as
   ``mx_dot`` and ``bfp_dot``) walks the shadow bank, issuing one slot per cycle:
   ``acc_s <- RNE_fp32(c + S_s * 2**(exp_a + exp_b - 254 - (m_a - 1) - (m_b - 1)))`` into a
   register file of FP32 accumulators, and each result leaves as an output beat.

The conversion pipeline. Issuing slot s reads S_s from the shadow bank and c = facc[s] from the
FP32 register file; the step then runs through its own cut points (``STEP_CUTS``: after the
alignment shift, the add and the normalization, where ``stages`` places registers), and in the
cycle its result enters the output register it is also written back to facc[s]. Slot s, its
(row, col) and ``last`` travel with it through the registers. All of these registers and the
output register advance together, when the output register is empty or being read (a
:class:`hw.lib.pipeline.StreamPipeline` from the issue to ``o``), so back-pressure holds the
whole conversion pipeline. Its depth ``conv_depth`` = d = 1 + the conversion registers is the
number of cycles from reading facc[s] to writing it back.

The hazard and the interlock. A slot's FP32 accumulator is a chain of roundings, each group's
result the next group's c, so a conversion of slot s must read the previous one's result: it
cannot be forwarded (the result appears at the end of the very step that needs it at its start,
and merging two groups' sums before rounding would round once instead of twice). Slot s of the
next group is issued at least max(n_a * n_b, L) cycles after slot s of this one (L the next
group's beats: the conversions issue in slot order from slot 0, and a group's conversion starts
after its last beat), so the hazard exists only when that is less than d: short groups with few
slots (a 1-beat group in 16 x 16 mode converts slot 0 every cycle). The issue therefore waits
while a conversion register holds a valid conversion of the slot it is about to issue (one slot
comparison per register); the pipeline keeps advancing (with a bubble) until that one is written
back. Without the hazard (every group at least max(n_a * n_b, d) beats) nothing waits and the
conversion unit issues one slot per cycle; the input stalls only when a group ends before the
previous group's conversions are all issued (the shadow bank is still being read) or the output
is back-pressured long enough, the rule of :mod:`golden.bfp_pe`.

Register cuts (``CUTS``, in the order ``stages`` takes them, by measured need: OSU 0.18 um,
``mxforge synth bfp_pe``). Unpipelined, the conversion step is the critical path (23.1 ns:
facc read 1.3, align 5.8, add 6.7, normalize 2.5, round 6.0); ``align`` (after the add) leaves
14.2 ns (read + align + add), ``shift`` (after the alignment shift) 9.4 ns (normalize + round +
write-back), which meets 10 ns: ``DEFAULT_STAGES`` = 2, for the single-mode PEs too (9.0, 9.1,
9.3 ns). Then ``norm`` (8.4 ns, the input side: sub-multipliers, product formation and the
accumulator add), ``mul`` after the sub-multipliers (7.7 ns, the add) and ``form`` after product
formation. Every register adds one cycle of latency; the conversion registers also deepen the
conversion pipeline (d = 3 at the default, 4 with ``norm``).

Single-mode PEs are the same generator with one mode: ``modes=(16,)`` is a plain 16 x 16
multiplier with one accumulator (FlexBlock's 16-bit baseline), ``modes=(8,)`` four 8 x 8,
``modes=(4,)`` sixteen 4 x 4.
"""
from __future__ import annotations

import math
from functools import reduce
from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data

from golden import bfp_pe as spec
from golden.bfp import EXP_NAN
from golden.checks import check_int

from .lib.accumulate import STEP_CUTS, fp32_accumulate
from .lib.block import StreamBlock
from .lib.pipeline import Cuts, StreamPipeline

__all__ = ["BfpPe", "CUTS", "MAX_STAGES", "DEFAULT_STAGES", "slot_product_bits",
           "digit_products", "mode_products", "select_products", "accumulate_step"]

#: register cuts in the order ``stages`` takes them (the module docstring says why): the
#: conversion step's own (``hw.lib.accumulate.STEP_CUTS``), then the input side's
CUTS = ("align", "shift", "norm", "mul", "form")
MAX_STAGES = len(CUTS)
#: the fewest cuts that meet 10 ns in OSU 0.18 um (``mxforge synth bfp_pe --clock-ns 10``)
DEFAULT_STAGES = 2
_EXP_BITS = 8
_E_BITS = 11  # signed: exp_a + exp_b - 254 - (m_a - 1) - (m_b - 1) in -300..256


def _table(index, values, shape):
    """``values[index]`` as a chain of multiplexers (an index past the end gives the last).

    Not ``Array(Const...)[index]``: Amaranth writes that as an ``always @*`` case statement
    whose only sensitivity is ``index``, and Icarus never runs it while ``index`` keeps its
    initial value (single-mode PEs: always), leaving X.
    """
    out = Const(values[-1], shape)
    for k in range(len(values) - 2, -1, -1):
        out = Mux(index == k, Const(values[k], shape), out)
    return out


def _pick(index, values):
    """``values[index]`` as a balanced tree of 2:1 multiplexers on the index bits (an index
    past the end gives the last value). Not an ``Array`` read: that is a case statement, which
    Verilator's lint calls incomplete when the count is not a power of two."""
    bits = (len(values) - 1).bit_length()
    vals = list(values) + [values[-1]] * ((1 << bits) - len(values))
    for b in range(bits):
        vals = [Mux(index[b], vals[2 * j + 1], vals[2 * j]) for j in range(len(vals) // 2)]
    return vals[0]


# -- the PE's input-side datapath, shared with ``hw.bfp_array`` ------------------------------------

def slot_product_bits(lane_bits, modes):
    """Per product slot: the widest product it receives over the mode pairs (m_a + m_b)."""
    bits = [0] * (spec.sign_bits(lane_bits, modes) ** 2)
    for (ma, mb), count in spec.product_counts(lane_bits, modes).items():
        for s in range(count):
            bits[s] = max(bits[s], ma + mb)
    return tuple(bits)


def digit_products(a, b, lane_bits, w):
    """{(p, q): a_p * b_q} over the w-bit digits of the two lanes (the sub-multipliers)."""
    nd = lane_bits // w
    return {(p, q): (a[p * w:(p + 1) * w] * b[q * w:(q + 1) * w])
            for p in range(nd) for q in range(nd)}


def mode_products(digits, lane_bits, modes):
    """{(m_a, m_b): {(i, j): product}} for every pair of modes, built hierarchically from the
    digit products (each granularity from the next finer one by one two-term shift-add)."""
    w = reduce(math.gcd, modes)
    sizes = sorted(set(modes) | {w})
    memo = {(w, w): digits}

    def finer(g):
        return max(d for d in sizes if d < g and g % d == 0)

    def get(ga, gb):
        if (ga, gb) in memo:
            return memo[ga, gb]
        if ga > w:
            h = finer(ga)
            sub, k = get(h, gb), ga // h
            out = {(i, j): sum(sub[i * k + t, j] << (h * t) for t in range(k))[:ga + gb]
                   for i in range(lane_bits // ga) for j in range(lane_bits // gb)}
        else:
            h = finer(gb)
            sub, k = get(ga, h), gb // h
            out = {(i, j): sum(sub[i, j * k + t] << (h * t) for t in range(k))[:ga + gb]
                   for i in range(lane_bits // ga) for j in range(lane_bits // gb)}
        memo[ga, gb] = out
        return out

    return {(ma, mb): get(ma, mb) for ma in modes for mb in modes}


def select_products(m, products, sa, sb, mode_a, mode_b, lane_bits, modes, prod_bits):
    """Per slot: (magnitude, negate) of the current mode pair (a parallel mux per slot)."""
    slots = len(prod_bits)
    mags = [Signal(prod_bits[s], name=f"prod{s}") for s in range(slots)]
    negs = [Signal(name=f"neg{s}") for s in range(slots)]
    mb_bits = len(mode_a)
    with m.Switch(Cat(mode_b, mode_a)):
        for ia, ma in enumerate(modes):
            for ib, mb in enumerate(modes):
                nb = lane_bits // mb
                with m.Case(ib | (ia << mb_bits)):
                    for (i, j), v in products[ma, mb].items():
                        s = i * nb + j
                        m.d.comb += [mags[s].eq(v), negs[s].eq(sa[i] ^ sb[j])]
        with m.Default():  # a mode index past ``modes``: no products (contract violation)
            m.d.comb += [v.eq(0) for v in mags + negs]
    return mags, negs


def accumulate_step(acc, fresh, mag, neg):
    """The next integer accumulator value: ``(0 if fresh else acc) +- mag``, the negation as
    (mag XOR neg) + neg riding on the accumulator's adder."""
    return (Mux(fresh, 0, acc) + (Cat(mag, Const(0, 1)) ^ neg.replicate(len(mag) + 1)).as_signed()
            + neg)


class BfpPe(StreamBlock):
    """FlexBlock multi-mode BFP PE (interface: :mod:`golden.bfp_pe`).

    Parameters
    ----------
    lane_bits : int
        Operand lane width per side (16).
    modes : tuple of int
        Magnitude widths the lanes can be split into at run time; each divides ``lane_bits``
        (FlexBlock: (16, 8, 4); a single mode gives a single-mode PE).
    max_beats : int
        Longest group in beats (sizes the integer accumulators; FlexBlock's lines are 54).
    stages : int
        Pipeline registers, 0..5, at ``CUTS[:stages]``: in the conversion step after the add
        (``align``), after the alignment shift (``shift``) and after the normalization
        (``norm``), then before the accumulators after the sub-multipliers (``mul``) and after
        product formation (``form``).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"a": lane_bits, "sa": ArrayLayout(1, ns),
        "mode_a": mb, "exp_a": 8, "b": lane_bits, "sb": ArrayLayout(1, ns), "mode_b": mb,
        "exp_b": 8, "last": 1, "clear": 1})))
        ``ns = lane_bits / min(modes)`` sign bits, ``mb`` mode-index bits.
    o : Out(stream.Signature(StructLayout({"result": 32, "row": rb, "col": rb, "last": 1})))
    latency : int
        Cycles from a group's last beat to its first output beat (conversion unit free, output
        ready): ``stages + 2`` (every cut, the shadow bank, the output register).
    conv_depth : int
        Cycles from a conversion's read of its FP32 accumulator to its write-back: 1 + the
        conversion registers. A slot is not converted again sooner (the interlock), so groups
        shorter than this stall the input (:mod:`golden.bfp_pe`).
    slots : int
        Product slots (integer and FP32 accumulators): ``(lane_bits / min(modes))**2``.
    acc_bits : tuple of int
        Width of each slot's integer accumulator (sign included).
    peak_macs : dict
        {(m_a, m_b): products per cycle}.

    Raises
    ------
    ValueError, TypeError
        A bad ``lane_bits``, ``modes`` (a width that does not divide the lane, a repeat),
        ``max_beats`` or ``stages``, with the parameter named.
    """

    def __init__(self, lane_bits=spec.LANE_BITS, modes=spec.MODES, max_beats=spec.MAX_BEATS,
                 stages=DEFAULT_STAGES):
        modes = spec.check_modes(lane_bits, modes)
        check_int("max_beats", max_beats, 1, 1 << 16)
        self._cuts = Cuts(CUTS, stages)
        self._lane, self._modes, self._max_beats, self._stages = lane_bits, modes, max_beats, \
            stages
        self._w = reduce(math.gcd, modes)
        self._ns = spec.sign_bits(lane_bits, modes)
        self._slots = self._ns * self._ns
        self._peak = spec.product_counts(lane_bits, modes)
        # each slot: the widest product it receives over the mode pairs that use it
        self._prod_bits = slot_product_bits(lane_bits, modes)
        self._acc_bits = tuple((max_beats * ((1 << p) - 1)).bit_length() + 1
                               for p in self._prod_bits)
        mbits = spec.mode_bits(modes)
        rbits = max(1, (self._ns - 1).bit_length())
        super().__init__(
            data.StructLayout({
                "a": lane_bits, "sa": data.ArrayLayout(1, self._ns), "mode_a": mbits,
                "exp_a": _EXP_BITS,
                "b": lane_bits, "sb": data.ArrayLayout(1, self._ns), "mode_b": mbits,
                "exp_b": _EXP_BITS,
                "last": 1, "clear": 1,
            }),
            data.StructLayout({"result": 32, "row": rbits, "col": rbits, "last": 1}))

    @property
    def lane_bits(self):
        return self._lane

    @property
    def modes(self):
        return self._modes

    @property
    def max_beats(self):
        return self._max_beats

    @property
    def stages(self):
        return self._stages

    @property
    def latency(self):
        return self._stages + 2

    @property
    def conv_depth(self):
        return 1 + sum(point in self._cuts.chosen for point in STEP_CUTS)

    @property
    def slots(self):
        return self._slots

    @property
    def acc_bits(self):
        return self._acc_bits

    @property
    def peak_macs(self):
        return dict(self._peak)

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, None, self._cuts)
        pay = self.i.payload
        lane, modes, slots = self._lane, self._modes, self._slots
        ctrl = [pay.sa.as_value(), pay.sb.as_value(), pay.mode_a, pay.mode_b, pay.exp_a,
                pay.exp_b, pay.last, pay.clear]

        # 1. the sub-multiplier array
        digits = digit_products(pay.a, pay.b, lane, self._w)
        keys = list(digits)
        *vals, = p.cut("mul", *[digits[k] for k in keys], *ctrl)
        digits = dict(zip(keys, vals[:len(keys)]))
        ctrl = vals[len(keys):]
        sa, sb, mode_a, mode_b, exp_a, exp_b, last, clear = ctrl

        # 2. product formation and per-slot selection
        mags, negs = select_products(m, mode_products(digits, lane, modes), sa, sb, mode_a,
                                     mode_b, lane, modes, self._prod_bits)
        *vals, = p.cut("form", *mags, *negs, mode_a, mode_b, exp_a, exp_b, last, clear)
        mags, negs = vals[:slots], vals[slots:2 * slots]
        mode_a, mode_b, exp_a, exp_b, last, clear = vals[2 * slots:]
        valid = p.valid

        # 3. integer accumulators (double-buffered by the shadow bank)
        acc = [Signal(signed(wd), name=f"acc{s}") for s, wd in enumerate(self._acc_bits)]
        shadow = [Signal(signed(wd), name=f"shadow{s}") for s, wd in enumerate(self._acc_bits)]
        fresh = Signal(init=1)
        nxt = [accumulate_step(acc[s], fresh, mags[s], negs[s]) for s in range(slots)]

        # group registers of the group being converted
        g_mode_a = Signal.like(mode_a, name="g_mode_a")
        g_mode_b = Signal.like(mode_b, name="g_mode_b")
        g_exp_a = Signal(_EXP_BITS, name="g_exp_a")
        g_exp_b = Signal(_EXP_BITS, name="g_exp_b")
        g_clear = Signal(name="g_clear")

        # 4. the conversion unit: issue slot cnt -> [conversion cuts] -> output register
        busy = Signal()
        cnt = Signal(range(max(slots, 2)))
        row = Signal(self.o.payload.row.shape())
        col = Signal(self.o.payload.col.shape())
        na_1 = _table(g_mode_a, [lane // mode - 1 for mode in modes], row.shape())
        nb_1 = _table(g_mode_b, [lane // mode - 1 for mode in modes], col.shape())
        final = (row == na_1) & (col == nb_1)
        issue = Signal(name="conv_issue")  # slot cnt is ready to enter (busy, no hazard)
        # the conversion pipeline: a stream pipeline from the issue (its input's valid; its
        # input's ready is the pipeline's advance) to ``o``
        cp = StreamPipeline(m, SimpleNamespace(valid=issue, ready=Signal(name="conv_ready")),
                            self.o, self._cuts)
        fire = issue & cp.en  # slot cnt enters the conversion pipeline this cycle
        load = Signal()
        blocked = valid & last & busy & ~(fire & final)
        m.d.comb += [p.en.eq(~blocked), load.eq(p.en & valid & last)]

        with m.If(p.en & valid):
            m.d.sync += fresh.eq(last)
            m.d.sync += [acc[s].eq(nxt[s]) for s in range(slots)]

        # the conversion of slot cnt: its operands are read at issue ...
        total = Signal(signed(max(self._acc_bits)), name="conv_sum")
        m.d.comb += total.eq(_pick(cnt, shadow))
        facc = [Signal(32, name=f"facc{s}") for s in range(slots)]
        c = Signal(32, name="conv_c")
        m.d.comb += c.eq(Mux(g_clear, 0, _pick(cnt, facc)))
        ulp_a = _table(g_mode_a, [mode - 1 for mode in modes], 5)
        ulp_b = _table(g_mode_b, [mode - 1 for mode in modes], 5)
        e_s = Signal(signed(_E_BITS), name="conv_exp")
        m.d.comb += e_s.eq(g_exp_a + g_exp_b - 254 - ulp_a - ulp_b)
        nan = (g_exp_a == EXP_NAN) | (g_exp_b == EXP_NAN)

        # ... and the slot, its (row, col) and ``last`` travel with it through the cuts
        tag = (cnt, row, col, final)
        in_flight = []  # (valid, slot) of each conversion register

        def cut(point, *values):
            nonlocal tag
            if point not in self._cuts:
                return values
            *regs, = cp.stage(*values, *tag)
            tag = tuple(regs[len(values):])
            in_flight.append((cp.valid, tag[0]))
            return tuple(regs[:len(values)])

        result = fp32_accumulate(m, total, max(self._acc_bits) - 1, e_s, c, nan=nan,
                                 pinf=Const(0, 1), ninf=Const(0, 1), cut=cut, name="conv")
        # the interlock: slot cnt waits while an earlier conversion of it is in flight
        hazard = Const(0, 1)
        for v, s in in_flight:
            hazard = hazard | (v & (s == cnt))
        m.d.comb += issue.eq(busy & ~hazard)

        # the write-back, in the cycle the result enters the output register
        slot, o_row, o_col, o_last = tag
        with m.If(cp.en & cp.valid):
            for s in range(slots):
                with m.If(slot == s):
                    m.d.sync += facc[s].eq(result)
        out = cp.stage(result, o_row, o_col, o_last)
        cp.finish(dict(zip(("result", "row", "col", "last"), out)))

        with m.If(fire):
            m.d.sync += cnt.eq(cnt + 1)
            with m.If(col == nb_1):
                m.d.sync += [col.eq(0), row.eq(row + 1)]
            with m.Else():
                m.d.sync += col.eq(col + 1)
            with m.If(final):
                m.d.sync += busy.eq(0)
        with m.If(load):
            m.d.sync += [shadow[s].eq(nxt[s]) for s in range(slots)]
            m.d.sync += [busy.eq(1), cnt.eq(0), row.eq(0), col.eq(0),
                         g_mode_a.eq(mode_a), g_mode_b.eq(mode_b), g_exp_a.eq(exp_a),
                         g_exp_b.eq(exp_b), g_clear.eq(clear)]
        return m
