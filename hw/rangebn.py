"""LightNorm's batch-norm units: ``rangebn_fwd``, ``rangebn_bwd`` and the conventional ``bn_fwd``
baseline (docs/blocks.md "LightNorm"). The arithmetic, operation by operation, and the beat streams
are in :mod:`golden.rangebn` (its module docstring is the contract).

All three share one two-pass structure (:class:`_TwoPassUnit`)::

    pass 1 beats --> per-beat partials (pass-1 cuts) --reg--> running accumulators (+ chunk max/min)
                                                        |
                                       scalar unit (hw.lib.scalar: one adder, one multiplier,
                                       an iterative divider / square root, once per channel)
                                                        |
    pass 2 beats --> per-lane chain (sub/mul/add, pass-2 cuts) --> output beats

- **Pass 1** accepts a beat every cycle (it never waits for the output). Each beat's partials
  (``rangebn_bwd``: p = g * (x - mu) per lane; ``bn_fwd``: x * x) are summed per beat by
  pairwise trees of rounded adders (``hw.lib.trees.reduce_tree`` order), pass a fixed register,
  and are added to the running accumulators; ``rangebn_fwd`` also tracks each chunk's largest
  and smallest value and their indices (ties: the first), whose per-beat trees travel beside the
  sums. Pass 1 is a pipeline that always advances; the scalar unit waits until the channel's
  last beat has been accumulated.
- **Between the passes** the input stalls while the scalar unit runs (a few cycles plus the
  iterative divider's, and the square root's for ``bn_fwd``; ``bn_fwd``'s FP32 adds and
  multiplies take two cycles each, a register inside each operator: ``SCALAR_CYCLES``). It
  starts only after the previous channel's output beats have left, so the per-channel registers
  the normalize pipeline reads never change under it.
- **Pass 2** feeds a per-lane chain of rounded operations, one output beat per input beat; the
  per-channel outputs (``mu``, ``s``, chunk indices, ``dgamma``, ``dbeta``) are registers that
  hold for the channel's output beats. Back-pressure stalls pass 2 only.

Per-channel inputs (gamma, beta; in ``rangebn_bwd`` also mu, s and the chunk indices) are read on
the channel's first beat into holding registers, because pass 1 of the next channel runs while
this channel's last outputs drain.

Register cuts (``stages``, one :class:`hw.lib.pipeline.Cuts`): first the pass-2 chain's three
points (after each rounded operation; ``stages`` 0..3 are the pass-2 registers, the output
latency), then pass 1's, in :func:`hw.lib.pipeline.bisection_order` of its steps (each unit's
``p1_steps``): ``p1_sub``/``p1_mul`` (``rangebn_bwd``: after x - mu and after g * (x - mu)),
``p1_sq`` (``bn_fwd``: after the square), ``p1_sumL`` after level L of the beat trees and, in
``bn_fwd`` only, ``p1_sumL_add`` inside each FP32 adder of level L (``fp_arith.add_front`` /
``add_back``: one FP32 adder is about 11 ns). The last pass-1 step is followed by the register
every configuration has, so it is no cut point. Pass-1 cuts add no output latency and cost no
throughput: they only delay the start of the scalar unit by one cycle each. Measured in OSU
0.18 µm (``mxforge synth NAME --clock-ns 10``, 4 lanes): one fp18_e5m12 / fp17_e6m11 adder or
multiplier is 6-7.5 ns, two in a row 12-14 ns, so every step needs its register and the default
(:meth:`_TwoPassUnit.default_stages`) is every cut point: ``rangebn_fwd`` 9.53 ns with 4 of 4
(3 of 4: 13.1 ns), ``rangebn_bwd`` 9.44 ns with 6 of 6 (5 of 6: 13.8 ns).

``bn_fwd`` (FP32) also cuts inside pass 2's operators, after every other cut point
(``P2_SPLIT``: ``mul_mid``, ``sub_mid``, ``add_mid``, between ``fp_arith``'s front and back
halves; each adds a cycle of output latency): one FP32 operator is 11.7 ns (adder) or 12.9 ns
(multiplier) between registers, and the FP16 widening before ``sub`` and the FP16 rounding
after ``add`` make those longer still (with ``mul_mid`` alone, 8 of 10 cuts: 15.1 ns, the
widening and the subtraction). Its default is every cut point: 13.1 ns.

The accumulators cannot be cut: each is one loop-carried rounded add per beat, and a register
inside it would need two beats in flight, a different summation order than the golden model's
``(..((+0 + T_0) + T_1) ..)``. In fp18 / fp17 one such add fits a cycle (the ``acc_max`` path,
key compare + merge + add, limits ``rangebn_fwd`` at 9.53 ns). In FP32 it does not: the
``acc2`` loop, the first-beat multiplexer and one FP32 adder, is the floor of ``bn_fwd`` under
its contract and its critical path with every cut (13.1 ns register to register in OSU 0.18 um).
``fp_arith.add(..., structure="dual")``, the near/far dual-path adder with prefix adders, gives
the same bits in 9.8 ns alone (single path: 11.1 ns) and brought the loop to 10.7 ns, but its
gate-level prefix adders made Amaranth's and Icarus' simulation of this unit several times
slower than the test budget allows, for a unit that misses 10 ns either way; it is not used here.
"""
from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data

from golden import rangebn as spec
from golden.checks import check_bool, check_choice, check_int

from .lib import fp_arith
from .bfp_quantize import BfpQuantize
from .lib.block import StreamBlock
from .lib.fp import convert, negate
from .lib.units import unit
from .lib.pipeline import Cuts, StreamPipeline, bisection_order
from .lib.scalar import ScalarProgram
from .lib.trees import reduce_tree

__all__ = ["RangeBnFwd", "RangeBnBwd", "BnFwd"]


def _index_bits(n):
    return max(1, (n - 1).bit_length())


def _sum_steps(lanes, split=False):
    """The pass-1 steps of a beat's adder trees: ``p1_sumL`` after level L, and with ``split``
    ``p1_sumL_add`` inside its adders before it (:meth:`_TwoPassUnit._beat_sums`)."""
    return tuple(p for level in range(1, (lanes - 1).bit_length() + 1)
                 for p in ((f"p1_sum{level}_add",) if split else ()) + (f"p1_sum{level}",))


class _TwoPassUnit(StreamBlock):
    """The shared control of the two-pass units; subclasses supply the datapaths (hooks below).

    Register cuts: one :class:`hw.lib.pipeline.Cuts` over the pass-2 chain's points
    (``P2_POINTS``, datapath order) followed by the pass-1 points of :meth:`p1_steps` in
    :func:`hw.lib.pipeline.bisection_order` (:meth:`cut_order`); ``stages = s`` registers the
    first s. Pass 2 comes first because its chain of three rounded operations is the longest
    segment with no cut at all, and so that ``stages`` 0..3 keep meaning the pass-2 registers.

    Subclass hooks: ``p1_steps(lanes)`` (classmethod: the pass-1 steps in datapath order; the
    last step's output goes into the register every configuration has, so it is no cut point),
    ``_layouts()``, ``_latch(m, pay)`` (sync statements on a channel's first beat),
    ``_partials(m, pay, beat, stage)`` (dict of per-beat Values, built through ``stage(point,
    values)`` at every pass-1 step), ``_accumulate(m, r, first, beat)`` (sync updates when a
    partial reaches the accumulators), ``_program(m)`` (a ScalarProgram),
    ``_on_program_start()`` (sync statements), ``_chain(m, pay, beat, stage)`` (per-lane pass-2
    fields through ``stage`` at every point of ``P2_POINTS``) and ``_channel_outputs()`` (dict
    of per-channel output Values). ``stage(point, values)`` takes and returns a dict of values:
    the cut point ``point`` registers them (and what travels beside them) or passes them.
    """

    #: the pass-2 chain's cut points (after each rounded operation), in the order ``stages``
    #: fills them: datapath order
    P2_POINTS = ("sub", "mul", "add")
    #: cut points inside the pass-2 chain's operators (``<op>_mid``: between ``fp_arith``'s
    #: front and back halves), after every other cut point, in the order ``stages`` fills them
    P2_SPLIT = ()
    #: ``hw.lib.scalar.ScalarProgram``'s ``cycles`` per add / mul step
    SCALAR_CYCLES = 1

    def __init__(self, n, lanes, rounding, stages, chunks):
        check_int("lanes", lanes, 1, spec.MAX_LANES)
        spec.check_params(n, lanes, chunks)
        check_choice("rounding", rounding, self.ROUNDINGS)
        if stages is None:
            stages = self.default_stages(lanes)
        self._cuts = Cuts(self.cut_order(lanes), stages, f"lanes={lanes}")
        self._n, self._lanes, self._rounding = n, lanes, rounding
        self._stages, self._chunks = stages, chunks
        self._per = n // lanes
        super().__init__(*self._layouts())

    n = property(lambda self: self._n)
    lanes = property(lambda self: self._lanes)
    rounding = property(lambda self: self._rounding)
    stages = property(lambda self: self._stages)

    @classmethod
    def cut_order(cls, lanes):
        """Every cut point at ``lanes``, in the order ``stages`` fills them (class docstring)."""
        return cls.P2_POINTS + bisection_order(cls.p1_steps(lanes))[:-1] + cls.P2_SPLIT

    @classmethod
    def default_stages(cls, lanes):
        """Every cut point: each step of either pass is one rounded operation (or half an FP32
        adder), and no two of them fit one 10 ns cycle in OSU 0.18 µm (the module docstring)."""
        return len(cls.cut_order(lanes))

    @property
    def latency(self):
        """Cycles from a pass-2 beat to its output beat (the pass-2 chain's register cuts)."""
        return sum(p in self._cuts for p in self.P2_POINTS + self.P2_SPLIT)

    def _stager(self, pipe, carry, last=None):
        """The ``stage(point, values)`` of a pass: the cut point ``point`` of ``pipe`` for the
        dict ``values`` and the dict ``carry`` (what travels beside them, updated in place);
        ``last``, the pass's final step, passes through (the register after it is not a cut)."""
        def stage(point, values):
            if point == last:
                return dict(values)
            keys = list(values)
            regs = pipe.cut(point, *values.values(), *carry.values())
            regs = regs if isinstance(regs, tuple) else (regs,)
            carry.update(zip(list(carry), regs[len(keys):]))
            return dict(zip(keys, regs[: len(keys)]))
        return stage

    def elaborate(self, platform):
        m = Module()
        per, pay = self._per, self.i.payload
        STATS, SETTLE, PROG, NORM = range(4)
        phase = Signal(2, init=STATS)
        beat = Signal(range(per))
        first = beat == 0

        # ---- pass 1: partials through the pass-1 cuts, one register, accumulate. It never
        # stalls (the input is ready in STATS), so its pipeline always advances.
        take = Signal()
        m.d.comb += take.eq(self.i.valid & (phase == STATS))
        with m.If(take & first):
            m.d.sync += self._latch(m, pay)
        p1 = StreamPipeline(m, SimpleNamespace(valid=take, ready=Signal()), None, self._cuts)
        m.d.comb += p1.en.eq(1)
        steps = self.p1_steps(self._lanes)
        side = {"first": first, "beat": beat}
        last = steps[-1] if steps else None
        partials = self._partials(m, pay, beat, self._stager(p1, side, last))
        regs = p1.stage(*partials.values(), *side.values())
        r = dict(zip(partials, regs))
        rfirst, rbeat = regs[len(partials):]
        # set when the channel's last beat is accumulated (the accumulators are final after it)
        stats_done = Signal()
        with m.If(p1.valid):
            m.d.sync += self._accumulate(m, r, rfirst, rbeat)
            with m.If(rbeat == per - 1):
                m.d.sync += stats_done.eq(1)
        prog = self._program(m)
        start_stmts = self._on_program_start()

        # ---- pass 2 pipeline (a proxy input: valid only in the normalize phase)
        proxy = SimpleNamespace(valid=Signal(), ready=Signal())
        m.d.comb += proxy.valid.eq(self.i.valid & (phase == NORM))
        pipe = StreamPipeline(m, proxy, self.o, self._cuts)
        fire = proxy.valid & pipe.en
        m.d.comb += self.i.ready.eq(Mux(phase == STATS, 1, (phase == NORM) & pipe.en))
        inflight = Signal(range(self.latency + 3))
        m.d.sync += inflight.eq(inflight + fire - (self.o.valid & self.o.ready))

        carry = {"last": beat == per - 1}
        fields = self._chain(m, pay, beat, self._stager(pipe, carry))
        fields.update(self._channel_outputs())
        fields["last"] = carry["last"]
        pipe.finish(fields)

        # ---- control
        # if/elif, not m.Switch (see hw.lib.scalar: Verilator's CASEINCOMPLETE on pruned cases)
        with m.If(phase == STATS):
            with m.If(take):
                m.d.sync += beat.eq(Mux(beat == per - 1, 0, beat + 1))
                with m.If(beat == per - 1):
                    m.d.sync += phase.eq(SETTLE)
        with m.Elif(phase == SETTLE):
            # every pass-1 beat has been accumulated and the previous channel has left
            with m.If(stats_done & (inflight == 0)):
                m.d.comb += prog.start.eq(1)
                m.d.sync += start_stmts
                m.d.sync += [phase.eq(PROG), stats_done.eq(0)]
        with m.Elif(phase == PROG):
            with m.If(prog.done):
                m.d.sync += phase.eq(NORM)
        with m.Elif(phase == NORM):
            with m.If(fire):
                m.d.sync += beat.eq(Mux(beat == per - 1, 0, beat + 1))
                with m.If(beat == per - 1):
                    m.d.sync += phase.eq(STATS)
        return m

    # helpers for the subclasses

    def _add(self, m, fmt, a, b, name):
        """A rounded FP adder in its own submodule (``hw.lib.units.unit``)."""
        kw = dict(rounding=self._rounding, overflow=self.OVERFLOW, name="add")
        return unit(m, name, lambda sub, x, y: fp_arith.add(sub, fmt, x, y, **kw),
                             (a, b), fmt.width)

    def _add_front(self, m, fmt, a, b, name):
        """The first half of :meth:`_add` (order, align, add the significands): a Value of
        ``fp_arith.add_layout(fmt)``, what a cut inside the adder registers."""
        return unit(m, name, lambda sub, x, y: fp_arith.add_front(sub, fmt, x, y, name="add"),
                    (a, b), fp_arith.add_layout(fmt).size)

    def _add_back(self, m, fmt, mid, name):
        """The second half of :meth:`_add` (normalize, round) on :meth:`_add_front`'s value."""
        kw = dict(rounding=self._rounding, overflow=self.OVERFLOW, name="add")
        return unit(m, name, lambda sub, x: fp_arith.add_back(sub, fmt, x, **kw), (mid,),
                    fmt.width)

    def _mul(self, m, fmt, a, b, name, fmt_b=None):
        """A rounded FP multiplier in its own submodule."""
        kw = dict(rounding=self._rounding, overflow=self.OVERFLOW, name="mul")
        return unit(m, name, lambda sub, x, y: fp_arith.mul(sub, fmt, x, fmt_b or fmt,
                                                                     y, fmt, **kw),
                             (a, b), fmt.width)

    def _normalize(self, m, v, stage):
        """The pass-2 chain of the forward units: ((x - mu) * a) + beta per lane, one rounded
        operation between cut points ``sub``, ``mul``, ``add``, and with ``P2_SPLIT`` the cut
        point ``<op>_mid`` inside each (``v``: lane name -> value; the program's registers exist
        once ``_program`` ran)."""
        A, regs = self.A, self._prog.regs

        def add(point, v, b):
            if f"{point}_mid" not in self.P2_SPLIT:
                return {k: self._add(m, A, x, b, f"{point}{k[1:]}") for k, x in v.items()}
            mid = stage(f"{point}_mid", {k: self._add_front(m, A, x, b, f"{point}{k[1:]}")
                                         for k, x in v.items()})
            return {k: self._add_back(m, A, x, f"{point}{k[1:]}_norm") for k, x in mid.items()}

        def mul(v, b):
            if "mul_mid" not in self.P2_SPLIT:
                return {k: self._mul(m, A, x, b, f"mul{k[1:]}") for k, x in v.items()}
            mid = stage("mul_mid", {k: self._mul_front(m, A, x, b, f"mul{k[1:]}")
                                    for k, x in v.items()})
            return {k: self._mul_back(m, A, x, f"mul{k[1:]}_norm") for k, x in mid.items()}

        v = stage("sub", add("sub", v, negate(regs["mu"])))
        v = stage("mul", mul(v, regs["a"]))
        return stage("add", add("add", v, self._beta_n))

    def _mul_front(self, m, fmt, a, b, name):
        """The first half of :meth:`_mul` (``fmt`` x ``fmt``: the significand product): a
        Value of ``fp_arith.mul_layout``, what a cut inside the multiplier registers."""
        return unit(m, name, lambda sub, x, y: fp_arith.mul_front(sub, fmt, x, fmt, y, fmt,
                                                                  name="mul"),
                    (a, b), fp_arith.mul_layout(fmt, fmt, fmt).size)

    def _mul_back(self, m, fmt, mid, name):
        """The second half of :meth:`_mul` (normalize, round) on :meth:`_mul_front`'s value."""
        kw = dict(rounding=self._rounding, overflow=self.OVERFLOW, name="mul")
        return unit(m, name, lambda sub, x: fp_arith.mul_back(sub, fmt, fmt, fmt, x, **kw),
                    (mid,), fmt.width)

    def _narrow(self, m, src, dst, code, name, overflow="saturate"):
        """A rounding format conversion in its own submodule."""
        return unit(m, name, lambda sub, x: convert(sub, src, dst, x,
                                                              rounding=self._rounding,
                                                              overflow=overflow, name="cvt"),
                             (code,), dst.width)

    def _beat_sums(self, m, fmt, trees, stage, side=None, split=False):
        """Each beat's pairwise lane sums (``hw.lib.trees.reduce_tree``, the order of
        ``golden.accumulate.pairwise``) of every tree of ``trees`` (name -> lane values), the
        trees level by level in step: after level L the pass-1 cut point ``p1_sumL`` takes every
        tree's values and the dict ``side`` (values travelling beside them). With ``split`` each
        adder is its two halves (``fp_arith.add_front``/``add_back``) with the cut point
        ``p1_sumL_add`` between them. Returns the dict of the sums and ``side``'s values."""
        names, side = list(trees), dict(side or {})
        lanes = [tuple(trees[k][j] for k in names) for j in range(len(trees[names[0]]))]

        def level_cut(point):
            def cut(level, *items):
                """Items: a tuple (one value per tree) per tree node, then ``side``'s values."""
                flat = {(i, j): v for i, it in enumerate(items)
                        for j, v in enumerate(it if isinstance(it, tuple) else (it,))}
                out = stage(point.format(level), flat)
                return tuple(tuple(out[i, j] for j in range(len(it))) if isinstance(it, tuple)
                             else out[i, 0] for i, it in enumerate(items))
            return cut

        def node(level, j, a, b):
            part = self._add_front if split else self._add
            return tuple(part(m, fmt, x, y, f"{k}_l{level}_{j}") for k, x, y in zip(names, a, b))

        def finish(level, j, mids):
            return tuple(self._add_back(m, fmt, mid, f"{k}_l{level}_{j}_norm")
                         for k, mid in zip(names, mids))

        sums, extra = reduce_tree(lanes, node=node, cut=level_cut("p1_sum{}"),
                                  carry=tuple(side.values()),
                                  finish=finish if split else None,
                                  mid_cut=level_cut("p1_sum{}_add") if split else None)
        return {**dict(zip(names, sums)), **dict(zip(side, extra))}

    def _consts(self, fmt):
        return spec.constants(self._n, self._chunks, fmt)

    def _scalar_program(self, m, steps, inputs):
        """The scalar unit running ``steps`` in the accumulator format (``hw.lib.scalar``)."""
        self._prog = ScalarProgram(m, self.A, steps, inputs=inputs, consts=self._consts(self.A),
                                   rounding=self._rounding, overflow=self.OVERFLOW,
                                   cycles=self.SCALAR_CYCLES, name="scalar")
        return self._prog

    def _hold_chunk_indices(self):
        """Pass 2's copies of the chunk indices (``_amax_in``/``_amin_in``), taken when the
        scalar unit starts: the next channel's pass 1 overwrites the originals meanwhile."""
        ib = _index_bits(self._n)
        self._amax_n = [Signal(ib, name=f"amax{k}") for k in range(self._chunks)]
        self._amin_n = [Signal(ib, name=f"amin{k}") for k in range(self._chunks)]
        return ([a.eq(b) for a, b in zip(self._amax_n, self._amax_in)]
                + [a.eq(b) for a, b in zip(self._amin_n, self._amin_in)])


class _ChunkIndex:
    """Per-channel chunk bookkeeping on beat indices: chunk k spans beats [k*bpc, (k+1)*bpc)."""

    def __init__(self, n, lanes, chunks):
        self.bpc = n // chunks // lanes

    def chunk(self, beat):
        return beat // self.bpc if self.bpc > 1 else beat

    def starts(self, beat):
        return (beat % self.bpc) == 0 if self.bpc > 1 else Const(1, 1)

    def ends(self, beat):
        return (beat % self.bpc) == self.bpc - 1 if self.bpc > 1 else Const(1, 1)


def _select(m, index, values, name):
    """values[index] as a mux tree (no Array: Verilator CASEINCOMPLETE, Icarus X)."""
    out = Signal(len(values[0]), name=name)
    acc = values[0]
    for k in range(1, len(values)):
        acc = Mux(index == k, values[k], acc)
    m.d.comb += out.eq(acc)
    return out


class RangeBnFwd(_TwoPassUnit):
    """``rangebn_fwd``: range BN forward (``golden.rangebn.forward``), fp10_e5m4 values,
    fp18_e5m12 accumulators and scalars.

    Parameters
    ----------
    n : int
        Values per channel (a multiple of ``chunks * lanes``).
    lanes : int
        Values per beat (1..32).
    rounding : {"rtz", "rne"}
        Every rounded operation's mode (the lab's bit masking is "rtz").
    stages : int or None
        Register cuts: the first ``stages`` of :meth:`cut_order` (``lanes``), the normalize
        chain's ``sub``, ``mul``, ``add`` (the output latency is how many of those three), then
        pass 1's ``p1_sumL`` after each level of the beat's adder tree but the last. None:
        every cut (:meth:`default_stages`, which meets 10 ns).
    chunks : int
        K, the number of chunks of a channel (8).
    bfp : bool
        Output each beat's values as one BFP group (``golden.rangebn.bfp_output``: shared
        exponent, signs, 5-bit magnitudes) through FlexBlock's converter ``hw.bfp_quantize``.
    """

    ROUNDINGS = spec.ROUNDINGS
    OVERFLOW = "saturate"
    V, A = spec.FWD_VALUE, spec.FWD_ACC

    def __init__(self, n=spec.DEFAULT_N, lanes=spec.DEFAULT_LANES, rounding="rtz",
                 stages=None, chunks=spec.CHUNKS, bfp=False):
        check_bool("bfp", bfp)
        self._bfp = bfp
        super().__init__(n, lanes, rounding, stages, chunks)

    bfp = property(lambda self: self._bfp)

    def _layouts(self):
        L, V, A, K, ib = self._lanes, self.V, self.A, self._chunks, _index_bits(self._n)
        out = ({"exp": 8, "signs": data.ArrayLayout(1, L),
                "mags": data.ArrayLayout(spec.BFP_M, L)} if self._bfp
               else {"y": data.ArrayLayout(V.width, L)})
        return (data.StructLayout({"x": data.ArrayLayout(V.width, L), "gamma": V.width,
                                   "beta": V.width}),
                data.StructLayout({**out, "mu": A.width, "s": A.width,
                                   "amax": data.ArrayLayout(ib, K),
                                   "amin": data.ArrayLayout(ib, K), "last": 1}))

    def _widen(self, code):
        return convert(None, self.V, self.A, code)

    def _key(self, code):
        """Signed integer in the order of the values (a zero exponent field is zero)."""
        V = self.V
        mag = Cat(Mux(code[V.mbits: V.mbits + V.ebits] == 0, 0, code[:-1]), Const(0, 1))
        return Mux(code[-1], -mag.as_signed(), mag.as_signed())

    def _latch(self, m, pay):
        V = self.V
        self._gamma_in = Signal(V.width, name="gamma_in")
        self._beta_in = Signal(V.width, name="beta_in")
        return [self._gamma_in.eq(pay.gamma), self._beta_in.eq(pay.beta)]

    @classmethod
    def p1_steps(cls, lanes):
        return _sum_steps(lanes)

    def _partials(self, m, pay, beat, stage):
        L, A = self._lanes, self.A
        lanes = [(self._key(pay.x[j]), pay.x[j], Const(j, max(1, (L - 1).bit_length())))
                 for j in range(L)]

        def pick(better):
            def op(a, b):
                take_b = better(b[0], a[0])
                return tuple(Mux(take_b, vb, va) for va, vb in zip(a, b))
            return op
        mx = reduce_tree(lanes, pick(lambda b, a: b > a))
        mn = reduce_tree(lanes, pick(lambda b, a: b < a))
        # the beat's extremes (a few ns) travel beside its sum through the tree's cuts
        return self._beat_sums(m, A, {"t": [self._widen(pay.x[j]) for j in range(L)]}, stage,
                               side=dict(maxc=mx[1], maxl=mx[2], minc=mn[1], minl=mn[2]))

    def _accumulate(self, m, r, first, beat):
        A, V, L, K = self.A, self.V, self._lanes, self._chunks
        ib = _index_bits(self._n)
        ci = _ChunkIndex(self._n, L, K)
        S = Signal(A.width, name="acc_s")
        smax = Signal(A.width, name="acc_smax")
        smin = Signal(A.width, name="acc_smin")
        cmax_c, cmin_c = Signal(V.width, name="chunk_max"), Signal(V.width, name="chunk_min")
        cmax_i, cmin_i = Signal(ib, name="chunk_amax"), Signal(ib, name="chunk_amin")
        self._S, self._smax, self._smin = S, smax, smin
        self._amax_in = [Signal(ib, name=f"amax_in{k}") for k in range(K)]
        self._amin_in = [Signal(ib, name=f"amin_in{k}") for k in range(K)]

        def pos(lane):
            return (Cat(lane, beat) if L > 1 and (L & (L - 1)) == 0 else beat * L + lane)[:ib]
        start = ci.starts(beat)
        new_max = Signal(V.width, name="merged_max")
        new_min = Signal(V.width, name="merged_min")
        new_amax, new_amin = Signal(ib, name="merged_amax"), Signal(ib, name="merged_amin")
        up_max = start | (self._key(r["maxc"]) > self._key(cmax_c))
        up_min = start | (self._key(r["minc"]) < self._key(cmin_c))
        m.d.comb += [new_max.eq(Mux(up_max, r["maxc"], cmax_c)),
                     new_amax.eq(Mux(up_max, pos(r["maxl"]), cmax_i)),
                     new_min.eq(Mux(up_min, r["minc"], cmin_c)),
                     new_amin.eq(Mux(up_min, pos(r["minl"]), cmin_i))]
        k = ci.chunk(beat)
        first_chunk = k == 0
        add_max = self._add(m, A, Mux(first_chunk, 0, smax), self._widen(new_max), "acc_max")
        add_min = self._add(m, A, Mux(first_chunk, 0, smin), self._widen(new_min), "acc_min")
        stmts = [S.eq(self._add(m, A, Mux(first, 0, S), r["t"], "acc")),
                 cmax_c.eq(new_max), cmin_c.eq(new_min), cmax_i.eq(new_amax),
                 cmin_i.eq(new_amin)]
        # a chunk's last beat: its extremes join the chunk sums and the index registers
        ends = Signal(name="chunk_end")
        m.d.comb += ends.eq(ci.ends(beat))
        stmts += [smax.eq(Mux(ends, add_max, smax)), smin.eq(Mux(ends, add_min, smin))]
        for j in range(K):
            hit = ends & (k == j)
            stmts += [self._amax_in[j].eq(Mux(hit, new_amax, self._amax_in[j])),
                      self._amin_in[j].eq(Mux(hit, new_amin, self._amin_in[j]))]
        return stmts

    def _program(self, m):
        steps = [("mul", "mu", "S", "inv_n"),
                 ("mul", "t1", "Smax", "inv_k"),
                 ("mul", "t2", "Smin", "inv_k"),
                 ("add", "d", "t1", "-t2"),
                 ("mul", "t3", "d", "cn"),
                 ("add", "r", "t3", "eps"),
                 ("div", "s", "one", "r"),
                 ("mul", "a", "s", "gam")]
        return self._scalar_program(m, steps, {"S": self._S, "Smax": self._smax,
                                               "Smin": self._smin,
                                               "gam": self._widen(self._gamma_in)})

    def _on_program_start(self):
        self._beta_n = Signal(self.A.width, name="beta_n")
        return self._hold_chunk_indices() + [self._beta_n.eq(self._widen(self._beta_in))]

    def _chain(self, m, pay, beat, stage):
        A, V, L = self.A, self.V, self._lanes
        v = {f"x{j}": self._widen(pay.x[j]) for j in range(L)}
        v = self._normalize(m, v, stage)
        ys = [self._narrow(m, A, V, v[f"x{j}"], f"out{j}") for j in range(L)]
        if not self._bfp:
            return {"y": Cat(*ys)}
        # the optional BFP output: FlexBlock's converter (hw.bfp_quantize, unpipelined) on the
        # beat's values as FP32 words (an exact widening: wiring)
        conv = BfpQuantize(G=L, m=spec.BFP_M, rounding="rtz", stages=0)
        m.submodules.bfp = conv
        m.d.comb += [conv.i.valid.eq(1), conv.o.ready.eq(1),
                     conv.i.payload.x.eq(Cat(*(convert(None, V, spec.FP32, y) for y in ys)))]
        return {k: conv.o.payload[k] for k in ("exp", "signs", "mags")}

    def _channel_outputs(self):
        regs = self._prog.regs
        return {"mu": regs["mu"], "s": regs["s"], "amax": Cat(*self._amax_n),
                "amin": Cat(*self._amin_n)}


class RangeBnBwd(_TwoPassUnit):
    """``rangebn_bwd``: range BN backward (``golden.rangebn.backward``), fp10_e6m3 gradients,
    fp17_e6m11 accumulators and scalars; x and gamma are the forward's fp10_e5m4 codes, mu and s
    its fp18_e5m12 codes, amax/amin its chunk indices (all read on a channel's first beat).

    Pass 1 forms p = g * (x - mu) per lane and sums g and p; pass 2 is
    dx = V((sg * g + c0) + e) with e = -cc / +cc at the chunk's argmax / argmin. Parameters as
    :class:`RangeBnFwd`; ``stages`` cuts after pass 2's mul and two adds (``mul``, ``addc``,
    ``adde``), then pass 1's ``p1_sub``, ``p1_mul`` and ``p1_sumL`` in bisection order.
    """

    ROUNDINGS = spec.ROUNDINGS
    OVERFLOW = "saturate"
    P2_POINTS = ("mul", "addc", "adde")
    X, XACC = spec.FWD_VALUE, spec.FWD_ACC
    V, A = spec.BWD_VALUE, spec.BWD_ACC

    def __init__(self, n=spec.DEFAULT_N, lanes=spec.DEFAULT_LANES, rounding="rtz",
                 stages=None, chunks=spec.CHUNKS):
        super().__init__(n, lanes, rounding, stages, chunks)

    def _layouts(self):
        L, V, X, A, K, ib = (self._lanes, self.V, self.X, self.A, self._chunks,
                             _index_bits(self._n))
        return (data.StructLayout({"x": data.ArrayLayout(X.width, L),
                                   "g": data.ArrayLayout(V.width, L), "gamma": X.width,
                                   "mu": self.XACC.width, "s": self.XACC.width,
                                   "amax": data.ArrayLayout(ib, K),
                                   "amin": data.ArrayLayout(ib, K)}),
                data.StructLayout({"dx": data.ArrayLayout(V.width, L), "dgamma": A.width,
                                   "dbeta": A.width, "last": 1}))

    def _latch(self, m, pay):
        ib = _index_bits(self._n)
        self._gamma_in = Signal(self.X.width, name="gamma_in")
        self._mu_in = Signal(self.XACC.width, name="mu_in")
        self._s_in = Signal(self.XACC.width, name="s_in")
        self._amax_in = [Signal(ib, name=f"amax_in{k}") for k in range(self._chunks)]
        self._amin_in = [Signal(ib, name=f"amin_in{k}") for k in range(self._chunks)]
        return ([self._gamma_in.eq(pay.gamma), self._mu_in.eq(pay.mu), self._s_in.eq(pay.s)]
                + [a.eq(pay.amax[k]) for k, a in enumerate(self._amax_in)]
                + [a.eq(pay.amin[k]) for k, a in enumerate(self._amin_in)])

    @classmethod
    def p1_steps(cls, lanes):
        return ("p1_sub", "p1_mul") + _sum_steps(lanes)

    def _partials(self, m, pay, beat, stage):
        A, L = self.A, self._lanes
        # mu is read on the channel's first beat: that beat uses the payload's directly
        mu_code = Mux(beat == 0, pay.mu, self._mu_in)
        mu = self._narrow(m, self.XACC, A, mu_code, "mu_cvt")
        # g travels as its code: its widening to A is exact (wiring)
        def widened_g(v):
            return [convert(None, self.V, A, v[f"g{j}"]) for j in range(L)]

        v = stage("p1_sub", {**{f"d{j}": self._add(m, A, convert(None, self.X, A, pay.x[j]),
                                                     negate(mu), f"p1sub{j}") for j in range(L)},
                             **{f"g{j}": pay.g[j] for j in range(L)}})
        v = stage("p1_mul", {**{f"p{j}": self._mul(m, A, g, v[f"d{j}"], f"p1mul{j}")
                                for j, g in enumerate(widened_g(v))},
                             **{f"g{j}": v[f"g{j}"] for j in range(L)}})
        gs = widened_g(v)
        return self._beat_sums(m, A, {"ta": gs, "tb": [v[f"p{j}"] for j in range(L)]}, stage)

    def _accumulate(self, m, r, first, beat):
        A = self.A
        self._SA = Signal(A.width, name="acc_a")
        self._SB = Signal(A.width, name="acc_b")
        return [self._SA.eq(self._add(m, A, Mux(first, 0, self._SA), r["ta"], "acca")),
                self._SB.eq(self._add(m, A, Mux(first, 0, self._SB), r["tb"], "accb"))]

    def _program(self, m):
        A = self.A
        steps = [("mul", "dgamma", "sp", "SB"),
                 ("mul", "sg", "sp", "gam"),
                 ("mul", "t1", "-sg", "SA"),
                 ("mul", "c0", "t1", "inv_n"),
                 ("mul", "t2", "gam", "SB"),
                 ("mul", "t3", "sp", "sp"),
                 ("mul", "t4", "t2", "t3"),
                 ("mul", "t5", "t4", "cn"),
                 ("mul", "cc", "t5", "inv_k")]
        sp = self._narrow(m, self.XACC, A, self._s_in, "s_cvt")
        return self._scalar_program(m, steps, {"SA": self._SA, "SB": self._SB, "sp": sp,
                                               "gam": convert(None, self.X, A, self._gamma_in)})

    def _on_program_start(self):
        self._dbeta = Signal(self.A.width, name="dbeta")
        return self._hold_chunk_indices() + [self._dbeta.eq(self._SA)]

    def _chain(self, m, pay, beat, stage):
        A, V, L = self.A, self.V, self._lanes
        ib = _index_bits(self._n)
        regs = self._prog.regs
        ci = _ChunkIndex(self._n, L, self._chunks)
        k = ci.chunk(beat)
        amax = _select(m, k, self._amax_n, "amax_cur")
        amin = _select(m, k, self._amin_n, "amin_cur")
        cc, ncc = regs["cc"], negate(regs["cc"])
        v, e = {}, {}
        for j in range(L):
            pos = (beat * L + j)[:ib]
            is_max, is_min = amax == pos, amin == pos
            e[f"e{j}"] = Mux(is_max & ~is_min, ncc, Mux(is_min & ~is_max, cc, 0))
            v[f"x{j}"] = self._mul(m, A, regs["sg"], convert(None, V, A, pay.g[j]), f"mul{j}")
        v = stage("mul", {**v, **e})
        v = stage("addc", {**{f"x{j}": self._add(m, A, v[f"x{j}"], regs["c0"], f"addc{j}")
                              for j in range(L)}, **{k_: v[k_] for k_ in e}})
        v = stage("adde", {f"x{j}": self._add(m, A, v[f"x{j}"], v[f"e{j}"], f"adde{j}")
                           for j in range(L)})
        dx = [self._narrow(m, A, V, v[f"x{j}"], f"out{j}") for j in range(L)]
        return {"dx": Cat(*dx)}

    def _channel_outputs(self):
        return {"dgamma": self._prog.regs["dgamma"], "dbeta": self._dbeta}


class BnFwd(_TwoPassUnit):
    """``bn_fwd``: conventional BN forward, the baseline (``golden.rangebn.bn_forward``): FP16
    values, FP32 statistics, scalars and normalize chain (IEEE RNE, overflow to Inf), the same
    two-pass structure as :class:`RangeBnFwd`: pass 1 sums x and x * x (the FP16 square is exact
    in FP32), the scalar unit computes mu, var, 1 / sqrt(var + eps) with an iterative square
    root and divider, pass 2 is y = FP16((x - mu) * a + beta).

    Parameters: ``n``, ``lanes``, ``stages`` as :class:`RangeBnFwd` (``n`` a multiple of
    ``lanes``; no chunks); pass 1's cut points are ``p1_sq`` and, per tree level, ``p1_sumL_add``
    (inside the FP32 adders) and ``p1_sumL``; after them come ``mul_mid``, ``sub_mid`` and
    ``add_mid`` inside pass 2's operators (output latency up to 6). The scalar unit's adds and
    multiplies take two cycles. Its default, every cut, does not meet 10 ns (13.1 ns): see the
    module docstring for the floor, the FP32 accumulator loop.
    """

    ROUNDINGS = ("rne",)
    OVERFLOW = "nonsat"
    V, A = spec.FP16, spec.FP32
    P2_SPLIT = ("mul_mid", "sub_mid", "add_mid")
    SCALAR_CYCLES = 2

    def __init__(self, n=spec.DEFAULT_N, lanes=spec.DEFAULT_LANES, stages=None):
        super().__init__(n, lanes, "rne", stages, 1)

    def _consts(self, fmt):
        import numpy as np

        def bits(v):
            return int(np.asarray(np.float32(v)).view(np.uint32))
        return {"inv_n": bits(1.0 / self._n), "eps": bits(spec.BN_EPS), "one": bits(1.0)}

    def _layouts(self):
        L, V, A = self._lanes, self.V, self.A
        return (data.StructLayout({"x": data.ArrayLayout(V.width, L), "gamma": V.width,
                                   "beta": V.width}),
                data.StructLayout({"y": data.ArrayLayout(V.width, L), "mu": A.width,
                                   "s": A.width, "last": 1}))

    def _latch(self, m, pay):
        self._gamma_in = Signal(self.V.width, name="gamma_in")
        self._beta_in = Signal(self.V.width, name="beta_in")
        return [self._gamma_in.eq(pay.gamma), self._beta_in.eq(pay.beta)]

    def _widen(self, m, code, name):
        return self._narrow(m, self.V, self.A, code, name)

    @classmethod
    def p1_steps(cls, lanes):
        return ("p1_sq",) + _sum_steps(lanes, split=True)

    def _partials(self, m, pay, beat, stage):
        A, V, L = self.A, self.V, self._lanes
        v = stage("p1_sq", {
            **{f"x{j}": self._widen(m, pay.x[j], f"x{j}") for j in range(L)},
            **{f"q{j}": unit(m, f"sq{j}", lambda sub, x: fp_arith.mul(
                  sub, V, x, V, x, A, rounding="rne", overflow="nonsat", name="mul"),
                  (pay.x[j],), A.width) for j in range(L)}})
        return self._beat_sums(m, A, {"t1": [v[f"x{j}"] for j in range(L)],
                                      "t2": [v[f"q{j}"] for j in range(L)]}, stage, split=True)

    def _accumulate(self, m, r, first, beat):
        A = self.A
        self._S1 = Signal(A.width, name="acc_1")
        self._S2 = Signal(A.width, name="acc_2")
        return [self._S1.eq(self._add(m, A, Mux(first, 0, self._S1), r["t1"], "acc1")),
                self._S2.eq(self._add(m, A, Mux(first, 0, self._S2), r["t2"], "acc2"))]

    def _program(self, m):
        steps = [("mul", "mu", "S1", "inv_n"),
                 ("mul", "m2", "S2", "inv_n"),
                 ("mul", "p", "mu", "mu"),
                 ("add", "var", "m2", "-p"),
                 ("max0", "var", "var", None),
                 ("add", "v", "var", "eps"),
                 ("sqrt", "sd", "v", None),
                 ("div", "s", "one", "sd"),
                 ("mul", "a", "s", "gam")]
        return self._scalar_program(m, steps, {"S1": self._S1, "S2": self._S2,
                                               "gam": self._widen(m, self._gamma_in, "gam")})

    def _on_program_start(self):
        self._beta_n = Signal(self.A.width, name="beta_n")
        self._beta_w = Signal(self.A.width, name="beta_w")
        return [self._beta_n.eq(self._beta_w)]

    def _chain(self, m, pay, beat, stage):
        A, V, L = self.A, self.V, self._lanes
        m.d.comb += self._beta_w.eq(self._narrow(m, V, A, self._beta_in, "beta_cvt"))
        v = {f"x{j}": self._widen(m, pay.x[j], f"n{j}") for j in range(L)}
        v = self._normalize(m, v, stage)
        ys = [self._narrow(m, A, V, v[f"x{j}"], f"out{j}", "nonsat") for j in range(L)]
        return {"y": Cat(*ys)}

    def _channel_outputs(self):
        regs = self._prog.regs
        return {"mu": regs["mu"], "s": regs["s"]}
