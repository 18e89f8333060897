"""``mac_neuron``: the ANN baseline of ``phase_neuron`` — n INT8 MAC neurons on the same weights
(contract and golden model: :func:`golden.phase.mac_block`).

An ACT beat reads the weight column of its input (the same memory of fan_in words of n INT8
weights) and adds w · a to all n accumulators at once (per lane an INT8 × UINT8 multiplier and a
W-bit saturating adder). A LOAD writes a weight or a bias (restarting that accumulator). A FIRE
stops the input and emits the n accumulators, one per cycle (``last`` on the final one), then
restarts them from their biases.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data

from golden import phase as spec

from .lib.block import StreamBlock
from .lib.neuron_slice import select, weight_memory

__all__ = ["MacNeuron"]


class MacNeuron(StreamBlock):
    """The MAC slice (module docstring).

    Parameters
    ----------
    n : int
        Neurons, 1..64.
    fan_in : int
        Inputs (weight columns), 1..1024.
    W : int
        Accumulator bits (two's complement, saturating), 8..48.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"op": 2, "addr": A, "data": W})))
    o : Out(stream.Signature(StructLayout({"index": X, "value": W, "last": 1})))
    """

    def __init__(self, n=8, fan_in=16, W=24):
        spec.mac_check(n, fan_in, W)
        self.p = dict(n=n, fan_in=fan_in, W=W)
        a, x = spec.mac_widths(n, fan_in)
        super().__init__(data.StructLayout({"op": 2, "addr": a, "data": W}),
                         data.StructLayout({"index": x, "value": W, "last": 1}))

    @property
    def latency(self) -> int:
        """Cycles of the output after a FIRE (one per neuron)."""
        return self.p["n"]

    def elaborate(self, platform):
        m = Module()
        n, fan_in, W = self.p["n"], self.p["fan_in"], self.p["W"]
        i, o = self.i, self.o
        cmd = i.payload
        vmax, vmin = (1 << (W - 1)) - 1, -(1 << (W - 1))

        bias = [Signal(signed(W), name=f"bias{j}") for j in range(n)]
        acc = [Signal(signed(W), name=f"acc{j}") for j in range(n)]

        base_b = fan_in * n
        accept = i.valid & i.ready
        is_act = accept & (cmd.op == spec.OP_SPIKE) & (cmd.addr < fan_in)
        is_load = accept & (cmd.op == spec.OP_LOAD)
        is_fire = accept & (cmd.op == spec.OP_FIRE)
        weights = weight_memory(m, n, fan_in, cmd, is_load)

        act = cmd.data[:8]
        for j in range(n):
            w = weights[j]
            tot = Signal(signed(W + 1), name=f"sum{j}")
            m.d.comb += tot.eq(acc[j] + w * act)
            with m.If(is_act):
                m.d.sync += acc[j].eq(Mux(tot > vmax, vmax, Mux(tot < vmin, vmin, tot)))

        for k in range(n):
            with m.If(is_load & (cmd.addr == base_b + k)):
                m.d.sync += [bias[k].eq(cmd.data.as_signed()), acc[k].eq(cmd.data.as_signed())]

        j = Signal(range(n))
        cur = select(m, j, acc, signed(W))
        draining = Signal()
        with m.If(~draining):
            m.d.comb += i.ready.eq(1)
            with m.If(is_fire):
                m.d.sync += [j.eq(0), draining.eq(1)]
        with m.Else():
            m.d.comb += [o.valid.eq(1), o.payload.index.eq(j), o.payload.value.eq(cur),
                         o.payload.last.eq(j == n - 1)]
            with m.If(o.ready):
                m.d.sync += j.eq(j + 1)
                with m.If(j == n - 1):
                    m.d.sync += [draining.eq(0), j.eq(0)]
                    m.d.sync += [acc[k].eq(bias[k]) for k in range(n)]
        return m
