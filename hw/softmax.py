"""Streaming softmax units: ``log2_softmax`` (OPAL, docs/numerics.md §7) and ``exp_softmax`` (the
conventional baseline). The arithmetic, step by step, and every intermediate width are in
:mod:`golden.softmax` (its module docstring is the contract); this module is how it is built.

Both units share one streaming skeleton (:class:`_SoftmaxUnit`): one score per input beat, n
beats a vector, one probability per output beat in input order::

    LOAD  x --> buffer[j] (amaranth.lib.memory, n words), running max
    SUM   buffer[j] --> read reg --> front datapath (e_j) --> split reg --> D += e_j
          (then the log2 unit's lg = log2(D) by a leading-one detector; nothing for exp)
    OUT   buffer[j] --> read reg --> front datapath --> split reg --> post (exp: divider) --> y_j

- **One buffer, LOAD of the next vector overlapped with OUT.** OUT reads index j, then LOAD may
  write index j (``wr_idx < rd_idx``): the next vector's scores stream in behind the outputs.
  SUM needs the complete vector, so it waits for LOAD, and LOAD for OUT: without stalls a vector
  takes about 2n + front + 5 cycles (OUT with LOAD behind it, then SUM; measured at n = 64:
  2n + 9 for log2, 2n + 12 for exp), an input beat about every 2 cycles. A second buffer would
  overlap SUM too, at twice the area of the buffer, which is already most of the unit's
  (n * in_bits flip-flops after synthesis: there are no SRAM macros here).
- **One datapath for SUM and OUT.** SUM and OUT reads go down the same register chain, tagged
  with ``kind`` (SUM 0 / OUT 1) and ``last``. At the split register a SUM item is added into D
  (it never reaches ``o``); an OUT item goes on to ``o``. The log2 unit even shares its pow2
  shifter between e_j (P fraction bits) and y_j (O), as a different right-shift offset.
- **Back-pressure.** Every register of the chain advances on one enable, ``~o.valid | o.ready``
  (``hw.lib.pipeline.StreamPipeline``), so a stalled output stalls everything behind it in order;
  nothing is lost or duplicated. LOAD is independent of it (``i.ready`` = a write is allowed).
- **Per-vector registers** change only when no item still needs the old value: ``m_vec``
  (used between the read register and the next) is loaded at the start of SUM once the read
  register holds no OUT item; lg (used before the split) once the last SUM item has been added,
  i.e. after every OUT item of the previous vector has passed the split (the chain is in
  order); the exp unit's divisor (used after the split) once, in addition, the divider holds no
  OUT item (the output register excepted, its quotient is final).

Widths: every register is sized from ``golden.softmax.log2_widths`` / ``exp_widths`` (the
extreme values of each intermediate for the parameters). At the defaults (n = 64, Q8.8 scores,
P = 16, O = 8): the buffer 64 x 16, z 17 bits, u and v 18, e 17, D 23, lg 11, y 9 (log2);
z 17, the partial products of z * K 23 and 22, t 18, the chord product 19, mant 17, e 17, D 23,
the divider's remainder 23 per row, y 9 (exp).

``latency``: clock edges from the handshake of a vector's last input beat to the handshake of its
first output beat, with ``o.ready`` high and nothing else in flight: n (SUM reads) + 2 * front
(the chain, once for SUM and once for OUT) + post + 3 (start of SUM, the finishing step, start
of OUT). The other outputs follow one per cycle.
"""
from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data
from amaranth.lib.memory import Memory

from golden import softmax as spec

from .lib.block import StreamBlock, check_int
from .lib.fp import leading_zeros
from .lib.pipeline import StreamPipeline

__all__ = ["Log2Softmax", "ExpSoftmax", "LOG2_HW_DEFAULTS", "EXP_HW_DEFAULTS", "HW_CHOICES"]

#: hardware-only parameters (beside golden.softmax's) for the catalogue
LOG2_HW_DEFAULTS = {}
#: ``div_rows``: divider rows between pipeline registers
EXP_HW_DEFAULTS = {"div_rows": 1}
HW_CHOICES = {}

_IDLE, _SUM, _FIN, _OUT = range(4)


class _Front:
    """The register chain before the split: every ``stage`` also registers the item's tags
    (``kind``: 1 = OUT, ``last``: the vector's last read) under the common enable."""

    def __init__(self, m, valid, en, kind, last):
        self._pipe = StreamPipeline(m, SimpleNamespace(valid=valid, ready=Signal()), None)
        m.d.comb += self._pipe.en.eq(en)
        self.kind, self.last = kind, last
        self.stages = 0

    @property
    def valid(self):
        return self._pipe.valid

    def stage(self, *values):
        regs = self._pipe.stage(*values, self.kind, self.last)
        regs = regs if isinstance(regs, tuple) else (regs,)
        self.kind, self.last = regs[-2], regs[-1]
        self.stages += 1
        out = regs[:-2]
        return out[0] if len(out) == 1 else out


class _Post:
    """The OUT-only register chain after the split, ending at ``o``; keeps its stage valids."""

    def __init__(self, m, valid, o):
        self._pipe = StreamPipeline(m, SimpleNamespace(valid=valid, ready=Signal()), o)
        self.en = self._pipe.en
        self.valids = []

    def stage(self, *values):
        out = self._pipe.stage(*values)
        self.valids.append(self._pipe.valid)
        return out

    def finish(self, payload):
        self._pipe.finish(payload)


class _SoftmaxUnit(StreamBlock):
    """The shared streaming skeleton (module docstring). Subclasses give the datapath:
    ``_front(m, front, x)`` (the chain from the read score to the split value, calling
    ``front.stage``; returns (e, out) Values read at the split), ``_post(m, post, out)``
    (OUT-only stages to y; returns y), ``_finish()`` (sync statements run once the sum is
    complete) and ``FRONT`` / ``_post_stages()`` (their register counts)."""

    def __init__(self, params):
        self._n, self._in_bits = params["n"], params["in_bits"]
        self._frac_bits, self._exp_bits = params["frac_bits"], params["exp_bits"]
        self._out_bits = params["out_bits"]
        super().__init__(data.StructLayout({"x": signed(self._in_bits)}),
                         data.StructLayout({"y": self._out_bits + 1}))

    n = property(lambda self: self._n)
    in_bits = property(lambda self: self._in_bits)
    frac_bits = property(lambda self: self._frac_bits)
    exp_bits = property(lambda self: self._exp_bits)
    out_bits = property(lambda self: self._out_bits)

    @property
    def widths(self):
        """Intermediate widths (``golden.softmax.*_widths``), a copy."""
        return dict(self._widths)

    @property
    def latency(self):
        """Edges from a vector's last input handshake to its first output handshake (no
        stalls, nothing else in flight): n + 2 * front + post + 3 (module docstring)."""
        return self._n + 2 * self.FRONT + self._post_stages() + 3

    def elaborate(self, platform):
        m = Module()
        n, B = self._n, self._in_bits
        x_in = self.i.payload.x

        state = Signal(2, init=_IDLE)
        wr_idx = Signal(range(n))
        rd_idx = Signal(range(n))
        full = Signal()          # a complete vector waits in the buffer for SUM
        done = Signal()          # the last SUM item has been added into D
        m_run = Signal(signed(B))
        self._m_vec = m_vec = Signal(signed(B))
        self._D = D = Signal(self._widths["D"])
        en = Signal()

        # ---- LOAD: index j may be written once OUT has read it (or nothing is being read)
        m.submodules.buf = buf = Memory(shape=signed(B), depth=n, init=[])
        wp = buf.write_port()
        rp = buf.read_port(transparent_for=())
        load_ok = Signal()
        m.d.comb += load_ok.eq(~full & ((state == _IDLE) | ((state == _OUT) & (wr_idx < rd_idx))))
        take = self.i.valid & load_ok
        m.d.comb += [self.i.ready.eq(load_ok), wp.addr.eq(wr_idx), wp.data.eq(x_in),
                     wp.en.eq(take)]
        with m.If(take):
            m.d.sync += [m_run.eq(Mux((wr_idx == 0) | (x_in > m_run), x_in, m_run)),
                         wr_idx.eq(Mux(wr_idx == n - 1, 0, wr_idx + 1))]
            with m.If(wr_idx == n - 1):
                m.d.sync += full.eq(1)

        # ---- the chain: read register, front datapath, split, post (OUT only)
        reading = (state == _SUM) | (state == _OUT)
        m.d.comb += [rp.addr.eq(rd_idx), rp.en.eq(en)]
        front = _Front(m, reading, en, state == _OUT, rd_idx == n - 1)
        front.stage()                       # the buffer's read register holds the score
        read_busy = front.valid             # an item (only ever OUT here) in the read register
        e, out = self._front(m, front, rp.data)
        assert front.stages == self.FRONT
        post = _Post(m, front.valid & front.kind, self.o)
        m.d.comb += en.eq(post.en)
        y = self._post(m, post, out)
        assert len(post.valids) == self._post_stages()
        post.finish({"y": y})
        post_busy = Cat(*post.valids[:-1]).any() if len(post.valids) > 1 else Const(0)

        with m.If(front.valid & ~front.kind & en):
            m.d.sync += D.eq(D + e)
            with m.If(front.last):
                m.d.sync += done.eq(1)

        # ---- control (if/elif, not m.Switch: Verilator's CASEINCOMPLETE)
        step = rd_idx.eq(Mux(rd_idx == n - 1, 0, rd_idx + 1))
        with m.If(state == _IDLE):
            with m.If(full & ~read_busy):
                m.d.sync += [state.eq(_SUM), m_vec.eq(m_run), full.eq(0), D.eq(0),
                             done.eq(0)]
        with m.Elif(state == _SUM):
            with m.If(en):
                m.d.sync += step
                with m.If(rd_idx == n - 1):
                    m.d.sync += state.eq(_FIN)
        with m.Elif(state == _FIN):
            with m.If(done & ~post_busy):
                m.d.sync += self._finish()
                m.d.sync += state.eq(_OUT)
        with m.Elif(state == _OUT):
            with m.If(en):
                m.d.sync += step
                with m.If(rd_idx == n - 1):
                    m.d.sync += state.eq(_IDLE)
        return m


def _clamped(m, amount, limit, name):
    """``min(amount, limit)`` in a signal just wide enough for ``limit`` (a shifter with
    log2(limit) levels; a shift by ``limit`` already gives zero)."""
    out = Signal(range(limit + 1), name=name)
    m.d.comb += out.eq(Mux(amount >= limit, limit, amount))
    return out


class Log2Softmax(_SoftmaxUnit):
    """``log2_softmax``: OPAL's shift-and-subtract softmax (``golden.softmax.log2_softmax``).

    Front chain (4 registers): read | z = x - m | u = z + (z >> 1) - (z >> 4), v = u - lg (OUT)
    or u (SUM) | pow2 (one shifter: the Mitchell mantissa 1.vf shifted right by -floor(v) plus
    a per-phase offset, P or O fraction bits) = the split register, which is also the output
    register. After the sum, one cycle computes lg from D: a leading-zero count (``hw.lib.fp``),
    a normalizing shift, and the F bits below the leading one (no adder).

    Parameters
    ----------
    n : int
        Scores per vector, 2..4096.
    in_bits : int
        Score width (signed), 2..24.
    frac_bits : int
        F, fraction bits of x, z, u and lg, 0..in_bits.
    exp_bits : int
        P, fraction bits of e and D, 1..24.
    out_bits : int
        O, fraction bits of y (y has O + 1 bits), 1..24.

    Raises
    ------
    TypeError, ValueError
        A parameter of the wrong type or outside its range (the message names it).
    """

    FRONT = 4

    def __init__(self, n=spec.LOG2_DEFAULTS["n"], in_bits=spec.LOG2_DEFAULTS["in_bits"],
                 frac_bits=spec.LOG2_DEFAULTS["frac_bits"],
                 exp_bits=spec.LOG2_DEFAULTS["exp_bits"],
                 out_bits=spec.LOG2_DEFAULTS["out_bits"]):
        spec.check_log2_params(n, in_bits, frac_bits, exp_bits, out_bits)
        p = dict(n=n, in_bits=in_bits, frac_bits=frac_bits, exp_bits=exp_bits,
                 out_bits=out_bits)
        self._widths = spec.log2_widths(**p)
        super().__init__(p)

    def _post_stages(self):
        return 0

    def _front(self, m, front, x):
        W, F, P, O = self._widths, self._frac_bits, self._exp_bits, self._out_bits
        self._lg = lg = Signal(W["lg"], name="lg")
        z = front.stage((x - self._m_vec)[:W["z"]].as_signed())
        u = Signal(signed(W["u"]), name="u")
        v = Signal(signed(W["v"]), name="v")
        m.d.comb += [u.eq(z + (z >> 1) - (z >> 4)),
                     v.eq(u - Mux(front.kind, lg, 0))]
        v = front.stage(v)
        # pow2(v, Q) = ((2**F + vf) << lsh) >> (-vi + (Qm - Q) + rsh), Qm = max(P, O)
        Qm = max(P, O)
        lsh, rsh = max(Qm - F, 0), max(F - Qm, 0)
        wide = Cat(Const(0, lsh), v[:F], Const(1, 1))
        neg_vi = Signal(range(-(W["v_min"] >> F) + 1), name="neg_vi")
        m.d.comb += neg_vi.eq(-(v >> F))
        amount = neg_vi + Mux(front.kind, Qm - O + rsh, Qm - P + rsh)
        shifted = Signal(Qm + 1, name="pow2")
        m.d.comb += shifted.eq(wide >> _clamped(m, amount, len(wide), "pow2_shift"))
        p = front.stage(shifted)
        return p[:P + 1], p[:O + 1]

    def _post(self, m, post, out):
        return out

    def _finish(self):
        W, F, P = self._widths, self._frac_bits, self._exp_bits
        D, wd = self._D, self._widths["D"]
        lz = leading_zeros(D)                     # D >= 2**P: never zero here
        norm = Cat(Const(0, F), D) << lz          # the leading one at bit wd + F - 1
        frac = norm[wd - 1: wd - 1 + F]
        return [self._lg.eq(Cat(frac, (wd - 1 - P) - lz)[:W["lg"]])]


class ExpSoftmax(_SoftmaxUnit):
    """``exp_softmax``: the conventional softmax (``golden.softmax.exp_softmax``), OPAL's
    baseline: a constant multiplication by log2 e, a chord table for 2**frac, a shift, and an
    exact divider producing one quotient per cycle.

    Front chain (7 registers): read | z = x - m | z * K_hi, z * K_lo (the constant split in
    two halves) | t = round(z * K / 2**C) | d * B_k | mant = A_k + (d * B_k >> (F - s)) (the
    table as constant word selects) | e = mant >> -floor(t) = the split register. The cuts
    keep every stage near the D accumulator's adder, the log2 unit's longest path, so both
    units compare at about the same clock. Post chain: a restoring array divider
    y = floor(e * 2**O / D), O + 1 rows (each a subtractor as wide as D plus one bit and a 2:1
    mux), a register every ``div_rows`` rows; the last register is the output register. With
    a register after every row (the default) a row is the exp unit's longest path.

    Parameters
    ----------
    n, in_bits, frac_bits, exp_bits, out_bits : int
        As :class:`Log2Softmax`.
    log2e_bits : int
        C, fraction bits of the log2 e constant, 1..24.
    segments : int
        S, chords of the 2**f table, a power of two in 1..min(64, 2**frac_bits).
    div_rows : int
        Divider rows between pipeline registers, 1..out_bits + 1.

    Raises
    ------
    TypeError, ValueError
        A parameter of the wrong type or outside its range (the message names it).
    """

    FRONT = 7

    def __init__(self, n=spec.EXP_DEFAULTS["n"], in_bits=spec.EXP_DEFAULTS["in_bits"],
                 frac_bits=spec.EXP_DEFAULTS["frac_bits"],
                 exp_bits=spec.EXP_DEFAULTS["exp_bits"],
                 out_bits=spec.EXP_DEFAULTS["out_bits"],
                 log2e_bits=spec.EXP_DEFAULTS["log2e_bits"],
                 segments=spec.EXP_DEFAULTS["segments"],
                 div_rows=EXP_HW_DEFAULTS["div_rows"]):
        spec.check_exp_params(n, in_bits, frac_bits, exp_bits, out_bits, log2e_bits, segments)
        check_int("div_rows", div_rows, 1, out_bits + 1, " (at most out_bits + 1)")
        p = dict(n=n, in_bits=in_bits, frac_bits=frac_bits, exp_bits=exp_bits,
                 out_bits=out_bits, log2e_bits=log2e_bits, segments=segments)
        self._widths = spec.exp_widths(**p)
        self._log2e_bits, self._segments, self._div_rows = log2e_bits, segments, div_rows
        super().__init__(p)

    log2e_bits = property(lambda self: self._log2e_bits)
    segments = property(lambda self: self._segments)
    div_rows = property(lambda self: self._div_rows)

    def _post_stages(self):
        return -(-(self._out_bits + 1) // self._div_rows)

    def _front(self, m, front, x):
        W, F, P = self._widths, self._frac_bits, self._exp_bits
        C, S = self._log2e_bits, self._segments
        s = S.bit_length() - 1
        r = F - s
        z = front.stage((x - self._m_vec)[:W["z"]].as_signed())
        # z * K as two registered partial products (the constant multiplication is the
        # longest path otherwise): K = K_hi * 2**h + K_lo
        K = W["K"]
        h = (K.bit_length() + 1) // 2
        p_hi, p_lo = front.stage(z * (K >> h), z * (K & ((1 << h) - 1)))
        t = Signal(signed(W["t"]), name="t")
        m.d.comb += t.eq(((p_hi << h) + p_lo + (1 << (C - 1))) >> C)
        t = front.stage(t)
        A, Bk = spec.exp_table(P, S)

        def table(values, index, width):
            if S == 1:
                return Const(values[0], width)
            return Cat(*(Const(v, width) for v in values)).word_select(index, width)
        # the chord: the slope product, registered, then the knot added (the segment index
        # travels to the second stage; a product and an adder in one stage were the longest
        # path)
        k, d = t[r:F], t[:r]
        prod = Signal(r + W["slope"], name="chord")
        m.d.comb += prod.eq(d * table(Bk, k, W["slope"]))
        neg_ti = Signal(range(-(W["t_min"] >> F) + 1), name="neg_ti")
        m.d.comb += neg_ti.eq(-(t >> F))
        k, prod, neg_ti = front.stage(k, prod, neg_ti)
        mant = Signal(W["mant"], name="mant")
        m.d.comb += mant.eq(table(A[:S], k, W["mant"]) + (prod >> r))
        mant, neg_ti = front.stage(mant, neg_ti)
        e = Signal(P + 1, name="e")
        m.d.comb += e.eq(mant >> _clamped(m, neg_ti, len(mant), "exp_shift"))
        e = front.stage(e)
        return e, e

    def _post(self, m, post, e):
        # restoring division of N = e * 2**O by D, O + 1 quotient bits (q <= 2**O since
        # e <= D): the remainder starts at N >> (O + 1) = e >> 1 < D, and row i brings down
        # bit i of N (e[0] for i = O, then zeros)
        O, wd = self._out_bits, self._widths["D"]
        self._D_div = D = Signal(wd, name="divisor")
        rem, q = e[1:], Const(0, 0)
        for i in range(O, -1, -1):
            r2 = Cat(e[0] if i == O else Const(0, 1), rem)
            diff = Signal(signed(wd + 2), name=f"div_row{i}")
            m.d.comb += diff.eq(r2 - D)
            bit = ~diff[-1]
            rem = Mux(bit, diff[:wd], r2[:wd])
            q = Cat(bit, q)
            if (O - i + 1) % self._div_rows == 0 or i == 0:
                if i == 0:
                    q = post.stage(q)
                else:
                    rem, q = post.stage(rem, q)
        return q

    def _finish(self):
        return [self._D_div.eq(self._D)]
