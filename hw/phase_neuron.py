"""``phase_neuron``: a layer slice of n single-spike phase-coded integrate-and-fire neurons
(One-Spike; contract and golden model: :func:`golden.phase.slice_block`, docs/numerics.md §10).

One command per input beat. A SPIKE reads the weight column of its input (a memory of fan_in
words of n INT8 weights, combinational read) and adds ``round_s(w · TAB[t mod m], t >> log2 m)``
to all n membranes at once: per lane a small multiplier by the table entry (F + 1 bits, a
constant per phase residue), a barrel shift by the phase's power of two (with the half-LSB added
first for ``rounding = nearest``) and a W-bit saturating adder. A LOAD writes one weight (a byte
lane of the memory), a bias (and restarts that membrane) or a threshold. A FIRE stops the input
(``i.ready`` low) and scans the neurons, one per cycle: T comparators of the membrane against
the thresholds and a priority encoder give the first phase met; a neuron that fires is one
output beat (held until accepted), then a ``last`` beat closes the window and every membrane
restarts from its bias. Out-of-range phases and indices, loads outside the map and op 3 change
nothing (the contract).
"""
from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data

from golden import phase as spec

from .lib.block import StreamBlock
from .lib.neuron_slice import select, weight_memory

__all__ = ["PhaseNeuron"]


class PhaseNeuron(StreamBlock):
    """The layer slice (module docstring).

    Parameters
    ----------
    n : int
        Neurons, 1..64.
    fan_in : int
        Inputs (weight columns), 1..1024.
    m : int
        B = 2^(1/m), m in 1, 2, 4, 8.
    T : int
        Phases, 1..64.
    F : int
        Fraction bits of the table, 1..16.
    W : int
        Membrane bits (two's complement, saturating), 8..48.
    rounding : str
        "floor" or "nearest" (of each scaled product).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"op": 2, "addr": A, "phase": P, "data": W})))
    o : Out(stream.Signature(StructLayout({"index": X, "phase": P, "last": 1})))
    """

    def __init__(self, n=8, fan_in=16, m=2, T=8, F=8, W=24, rounding="floor"):
        spec.slice_check(n, fan_in, m, T, F, W, rounding)
        self.p = dict(n=n, fan_in=fan_in, m=m, T=T, F=F, W=W, rounding=rounding)
        a, ph, x = spec.slice_widths(n, fan_in, T, W)
        super().__init__(
            data.StructLayout({"op": 2, "addr": a, "phase": ph, "data": W}),
            data.StructLayout({"index": x, "phase": ph, "last": 1}))

    @property
    def latency(self) -> int:
        """Cycles of the scan after a FIRE (one per neuron, then the ``last`` beat)."""
        return self.p["n"] + 1

    def elaborate(self, platform):
        m = Module()
        n, fan_in, mm, T, F, W = (self.p[k] for k in ("n", "fan_in", "m", "T", "F", "W"))
        nearest = self.p["rounding"] == "nearest"
        i, o = self.i, self.o
        cmd = i.payload
        vmax, vmin = (1 << (W - 1)) - 1, -(1 << (W - 1))

        # registers addressed by comparisons (no indexed arrays: every case is covered)
        bias = [Signal(signed(W), name=f"bias{j}") for j in range(n)]
        thr = [Signal(signed(W), name=f"thr{t}") for t in range(T)]
        v = [Signal(signed(W), name=f"v{j}") for j in range(n)]

        base_b, base_t = fan_in * n, fan_in * n + n
        accept = i.valid & i.ready
        is_spike = accept & (cmd.op == spec.OP_SPIKE) & (cmd.addr < fan_in) & (cmd.phase < T)
        is_load = accept & (cmd.op == spec.OP_LOAD)
        is_fire = accept & (cmd.op == spec.OP_FIRE)
        weights = weight_memory(m, n, fan_in, cmd, is_load)

        # B^-t = TAB[t mod m] >> (t // m)
        log_m = (mm - 1).bit_length()
        tab = spec.table(mm, F)
        r = cmd.phase[:log_m] if log_m else Const(0, 1)     # t mod m
        s = cmd.phase[log_m:] if log_m < len(cmd.phase) else Const(0, 1)
        tabv = select(m, r, [Const(x, F + 1) for x in tab], unsigned(F + 1))
        half = Signal(unsigned(T))
        if nearest:
            m.d.comb += half.eq(Const(1, T + 1) << s >> 1)
        pw = max(8 + F + 2, T + 2)
        for j in range(n):
            w = weights[j]
            prod = Signal(signed(pw), name=f"prod{j}")
            sh = Signal(signed(pw), name=f"sh{j}")
            tot = Signal(signed(W + 1), name=f"sum{j}")
            m.d.comb += [prod.eq(w * tabv + half), sh.eq(prod >> s), tot.eq(v[j] + sh)]
            with m.If(is_spike):
                m.d.sync += v[j].eq(Mux(tot > vmax, vmax, Mux(tot < vmin, vmin, tot)))

        # loads
        word = cmd.data.as_signed()
        for k in range(n):
            with m.If(is_load & (cmd.addr == base_b + k)):
                m.d.sync += [bias[k].eq(word), v[k].eq(word)]
        for t in range(T):
            with m.If(is_load & (cmd.addr == base_t + t)):
                m.d.sync += thr[t].eq(word)

        # the scan
        j = Signal(range(n + 1))
        cur = select(m, j, v, signed(W))
        hits = [cur >= thr[t] for t in range(T)]
        fires = Signal()
        phase = Signal(len(o.payload.phase))
        m.d.comb += fires.eq(Const(0, 1))
        for t in reversed(range(T)):
            with m.If(hits[t]):
                m.d.comb += [fires.eq(1), phase.eq(t)]
        scanning = Signal()
        with m.If(~scanning):
            m.d.comb += i.ready.eq(1)
            with m.If(is_fire):
                m.d.sync += [j.eq(0), scanning.eq(1)]
        with m.Elif(j == n):
            m.d.comb += [o.valid.eq(1), o.payload.last.eq(1)]
            with m.If(o.ready):
                m.d.sync += [v[k].eq(bias[k]) for k in range(n)]
                m.d.sync += scanning.eq(0)
        with m.Else():
            m.d.comb += [o.payload.index.eq(j), o.payload.phase.eq(phase), o.valid.eq(fires)]
            with m.If(~fires | o.ready):
                m.d.sync += j.eq(j + 1)
        return m
