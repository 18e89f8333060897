"""The parts the neuron-slice blocks share (``phase_neuron`` and its ANN baseline
``mac_neuron``; contracts in :mod:`golden.phase`): the weight memory their commands load and
read, and a register picked by an index."""
from amaranth.hdl import Cat, Const, Signal, unsigned
from amaranth.lib import memory

__all__ = ["weight_memory", "select"]


def weight_memory(m, n, fan_in, cmd, is_load):
    """The fan_in × n INT8 weight memory: word i holds the weights of input i to the n
    neurons. It is read combinationally at ``cmd.addr`` (the input index of a SPIKE/ACT); a LOAD
    (``is_load``) of address i·n + j < fan_in·n writes weight (i, j), the low 8 bits of
    ``cmd.data``, into one byte lane. Returns the n signed weights of the column read."""
    mem = memory.Memory(shape=unsigned(8 * n), depth=fan_in, init=[])
    m.submodules.weights = mem
    rd = mem.read_port(domain="comb")
    wr = mem.write_port(granularity=8)
    col_bits = max(1, (fan_in - 1).bit_length())
    m.d.comb += rd.addr.eq(cmd.addr[:col_bits])
    m.d.comb += wr.addr.eq((cmd.addr // n)[:col_bits])
    m.d.comb += wr.data.eq(Cat(*[cmd.data[:8]] * n))      # every lane; en picks one
    with m.If(is_load & (cmd.addr < fan_in * n)):
        m.d.comb += wr.en.eq(Const(1, n) << (cmd.addr % n))
    return [rd.data[8 * j:8 * j + 8].as_signed() for j in range(n)]


def select(m, index, values, shape):
    """``values[index]`` as a combinational signal of ``shape``, by comparisons (no indexed
    array: every case of the generated Verilog is covered)."""
    out = Signal(shape)
    m.d.comb += out.eq(values[0])
    for k in range(1, len(values)):
        with m.If(index == k):
            m.d.comb += out.eq(values[k])
    return out
