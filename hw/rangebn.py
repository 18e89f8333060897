"""LightNorm's batch-norm units: ``rangebn_fwd``, ``rangebn_bwd`` and the conventional ``bn_fwd``
baseline (docs/blocks.md "LightNorm"). The arithmetic, operation by operation, and the beat streams
are in :mod:`golden.rangebn` (its module docstring is the contract).

All three share one two-pass structure (:class:`_TwoPassUnit`)::

    pass 1 beats --> per-beat partials --reg--> running accumulators (+ chunk max/min)
                                                        |
                                       scalar unit (hw.lib.scalar: one adder, one multiplier,
                                       an iterative divider / square root, once per channel)
                                                        |
    pass 2 beats --> per-lane chain (sub/mul/add, ``stages`` register cuts) --> output beats

- **Pass 1** accepts a beat every cycle (it never waits for the output). Each beat's lanes are
  summed by a pairwise tree of rounded adders (``hw.lib.trees.reduce_tree`` order), registered, and
  added to the running accumulators the next cycle; ``rangebn_fwd`` also tracks each chunk's
  largest and smallest value and their indices (ties: the first).
- **Between the passes** the input stalls while the scalar unit runs (a few cycles plus the
  iterative divider's, and the square root's for ``bn_fwd``). It starts only after the previous
  channel's output beats have left, so the per-channel registers the normalize pipeline reads
  never change under it.
- **Pass 2** feeds a per-lane chain of rounded operations, one output beat per input beat; the
  per-channel outputs (``mu``, ``s``, chunk indices, ``dgamma``, ``dbeta``) are registers that
  hold for the channel's output beats. Back-pressure stalls pass 2 only.

Per-channel inputs (gamma, beta; in ``rangebn_bwd`` also mu, s and the chunk indices) are read on
the channel's first beat into holding registers, because pass 1 of the next channel runs while
this channel's last outputs drain.
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
from .lib.units import named, unit
from .lib.pipeline import Cuts, StreamPipeline
from .lib.scalar import ScalarProgram
from .lib.trees import reduce_tree

__all__ = ["RangeBnFwd", "RangeBnBwd", "BnFwd", "MAX_STAGES", "DEFAULT_STAGES"]

#: register cuts in the pass-2 chain: after each of its three rounded operations
MAX_STAGES = 3
DEFAULT_STAGES = 3


def _index_bits(n):
    return max(1, (n - 1).bit_length())


class _TwoPassUnit(StreamBlock):
    """The shared control of the two-pass units; subclasses supply the datapaths (hooks below).

    Subclass hooks: ``_layouts()``, ``_latch(m, pay)`` (sync statements on a channel's first
    beat), ``_partials(m, pay, beat)`` (dict of per-beat Values to register),
    ``_accumulate(m, r, first, beat)`` (sync updates when a registered beat is valid),
    ``_program(m)`` (a ScalarProgram), ``_on_program_start()`` (sync statements),
    ``_chain(m, pay, beat, stage)`` (per-lane pass-2 fields; ``stage(point, values)`` is the cut
    point ``point`` of ``CUT_POINTS`` for a dict of values) and ``_channel_outputs()`` (dict of
    per-channel output Values).
    """

    #: the pass-2 chain's cut points (after each rounded operation), in the order ``stages``
    #: fills them: datapath order
    CUT_POINTS = ("sub", "mul", "add")

    def __init__(self, n, lanes, rounding, stages, chunks):
        check_int("lanes", lanes, 1, spec.MAX_LANES)
        spec.check_params(n, lanes, chunks)
        check_choice("rounding", rounding, self.ROUNDINGS)
        self._cuts = Cuts(self.CUT_POINTS, stages)
        self._n, self._lanes, self._rounding = n, lanes, rounding
        self._stages, self._chunks = stages, chunks
        self._per = n // lanes
        super().__init__(*self._layouts())

    n = property(lambda self: self._n)
    lanes = property(lambda self: self._lanes)
    rounding = property(lambda self: self._rounding)
    stages = property(lambda self: self._stages)

    @property
    def latency(self):
        """Cycles from a pass-2 beat to its output beat (the pass-2 chain's register cuts)."""
        return self._stages

    def elaborate(self, platform):
        m = Module()
        per, pay = self._per, self.i.payload
        STATS, SETTLE, PROG, NORM = range(4)
        phase = Signal(2, init=STATS)
        beat = Signal(range(per))
        first = beat == 0

        # ---- pass 1: partials, one register, accumulate
        take = Signal()
        m.d.comb += take.eq(self.i.valid & (phase == STATS))
        with m.If(take & first):
            m.d.sync += self._latch(m, pay)
        partials = self._partials(m, pay, beat)
        r = {k: Signal.like(v, name=f"p1_{k}") for k, v in partials.items()}
        rvalid, rfirst = Signal(), Signal()
        rbeat = Signal(range(per))
        m.d.sync += rvalid.eq(take)
        with m.If(take):
            m.d.sync += [r[k].eq(v) for k, v in partials.items()]
            m.d.sync += [rfirst.eq(first), rbeat.eq(beat)]
        with m.If(rvalid):
            m.d.sync += self._accumulate(m, r, rfirst, rbeat)
        prog = self._program(m)
        start_stmts = self._on_program_start()

        # ---- pass 2 pipeline (a proxy input: valid only in the normalize phase)
        proxy = SimpleNamespace(valid=Signal(), ready=Signal())
        m.d.comb += proxy.valid.eq(self.i.valid & (phase == NORM))
        pipe = StreamPipeline(m, proxy, self.o, self._cuts)
        fire = proxy.valid & pipe.en
        m.d.comb += self.i.ready.eq(Mux(phase == STATS, 1, (phase == NORM) & pipe.en))
        inflight = Signal(range(self._stages + 3))
        m.d.sync += inflight.eq(inflight + fire - (self.o.valid & self.o.ready))

        carry = {"last": beat == per - 1}

        def stage(point, values):
            """The cut point ``point`` for the dict ``values`` and the carried ``last``."""
            keys = list(values)
            regs = pipe.cut(point, *values.values(), carry["last"])
            carry["last"] = regs[-1]
            return dict(zip(keys, regs[:-1]))

        fields = self._chain(m, pay, beat, stage)
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
            # the last beat has been accumulated and the previous channel has left
            with m.If(~rvalid & (inflight == 0)):
                m.d.comb += prog.start.eq(1)
                m.d.sync += start_stmts
                m.d.sync += phase.eq(PROG)
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

    def _mul(self, m, fmt, a, b, name, fmt_b=None):
        """A rounded FP multiplier in its own submodule."""
        kw = dict(rounding=self._rounding, overflow=self.OVERFLOW, name="mul")
        return unit(m, name, lambda sub, x, y: fp_arith.mul(sub, fmt, x, fmt_b or fmt,
                                                                     y, fmt, **kw),
                             (a, b), fmt.width)

    def _normalize(self, m, v, stage):
        """The pass-2 chain of the forward units: ((x - mu) * a) + beta per lane, one rounded
        operation between cut points ``sub``, ``mul``, ``add`` (``v``: lane name -> value; the
        program's registers exist once ``_program`` ran)."""
        A, regs = self.A, self._prog.regs
        v = stage("sub", {k: self._add(m, A, x, negate(regs["mu"]), f"sub{k[1:]}")
                          for k, x in v.items()})
        v = stage("mul", {k: self._mul(m, A, x, regs["a"], f"mul{k[1:]}")
                          for k, x in v.items()})
        return stage("add", {k: self._add(m, A, x, self._beta_n, f"add{k[1:]}")
                             for k, x in v.items()})

    def _narrow(self, m, src, dst, code, name, overflow="saturate"):
        """A rounding format conversion in its own submodule."""
        return unit(m, name, lambda sub, x: convert(sub, src, dst, x,
                                                              rounding=self._rounding,
                                                              overflow=overflow, name="cvt"),
                             (code,), dst.width)

    def _beat_sum(self, m, fmt, values, name):
        """Pairwise sum of the lane values (the tree order, ``golden.accumulate.pairwise``)."""
        count = [0]

        def op(a, b):
            count[0] += 1
            return self._add(m, fmt, a, b, f"{name}{count[0]}")
        return reduce_tree(values, op)

    def _consts(self, fmt):
        return spec.constants(self._n, self._chunks, fmt)

    def _scalar_program(self, m, steps, inputs):
        """The scalar unit running ``steps`` in the accumulator format (``hw.lib.scalar``)."""
        self._prog = ScalarProgram(m, self.A, steps, inputs=inputs, consts=self._consts(self.A),
                                   rounding=self._rounding, overflow=self.OVERFLOW, name="scalar")
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
    stages : int
        Register cuts in the normalize chain, 0..3 (after sub, mul, add): the output latency.
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
                 stages=DEFAULT_STAGES, chunks=spec.CHUNKS, bfp=False):
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

    def _partials(self, m, pay, beat):
        L, A = self._lanes, self.A
        xs = [self._widen(pay.x[j]) for j in range(L)]
        out = {"t": self._beat_sum(m, A, xs, "bsum")}
        lanes = [(self._key(pay.x[j]), pay.x[j], Const(j, max(1, (L - 1).bit_length())))
                 for j in range(L)]

        def pick(better):
            def op(a, b):
                take_b = better(b[0], a[0])
                return tuple(Mux(take_b, vb, va) for va, vb in zip(a, b))
            return op
        mx = reduce_tree(lanes, pick(lambda b, a: b > a))
        mn = reduce_tree(lanes, pick(lambda b, a: b < a))
        out.update(maxc=mx[1], maxl=mx[2], minc=mn[1], minl=mn[2])
        return out

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
        pos = lambda lane: (Cat(lane, beat) if L > 1 and (L & (L - 1)) == 0
                            else beat * L + lane)[:ib]
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
    :class:`RangeBnFwd` (``stages`` cuts after the mul and the two adds).
    """

    ROUNDINGS = spec.ROUNDINGS
    OVERFLOW = "saturate"
    CUT_POINTS = ("mul", "addc", "adde")
    X, XACC = spec.FWD_VALUE, spec.FWD_ACC
    V, A = spec.BWD_VALUE, spec.BWD_ACC

    def __init__(self, n=spec.DEFAULT_N, lanes=spec.DEFAULT_LANES, rounding="rtz",
                 stages=DEFAULT_STAGES, chunks=spec.CHUNKS):
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

    def _partials(self, m, pay, beat):
        A, L = self.A, self._lanes
        # mu is read on the channel's first beat: that beat uses the payload's directly
        mu_code = Mux(beat == 0, pay.mu, self._mu_in)
        mu = self._narrow(m, self.XACC, A, mu_code, "mu_cvt")
        gs = [named(m, convert(None, self.V, A, pay.g[j]), f"g{j}") for j in range(L)]
        ps = []
        for j in range(L):
            d = self._add(m, A, convert(None, self.X, A, pay.x[j]), negate(mu), f"p1sub{j}")
            ps.append(self._mul(m, A, gs[j], d, f"p1mul{j}"))
        return {"ta": self._beat_sum(m, A, gs, "suma"), "tb": self._beat_sum(m, A, ps, "sumb")}

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
    ``lanes``; no chunks).
    """

    ROUNDINGS = ("rne",)
    OVERFLOW = "nonsat"
    V, A = spec.FP16, spec.FP32

    def __init__(self, n=spec.DEFAULT_N, lanes=spec.DEFAULT_LANES, stages=DEFAULT_STAGES):
        super().__init__(n, lanes, "rne", stages, 1)

    def _consts(self, fmt):
        import numpy as np
        f32 = np.float32
        bits = lambda v: int(np.asarray(f32(v)).view(np.uint32))
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

    def _partials(self, m, pay, beat):
        A, V, L = self.A, self.V, self._lanes
        xs = [self._widen(m, pay.x[j], f"x{j}") for j in range(L)]
        sq = [unit(m, f"sq{j}", lambda sub, x: fp_arith.mul(
                  sub, V, x, V, x, A, rounding="rne", overflow="nonsat", name="mul"),
                  (pay.x[j],), A.width) for j in range(L)]
        return {"t1": self._beat_sum(m, A, xs, "sum1"), "t2": self._beat_sum(m, A, sq, "sum2")}

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
