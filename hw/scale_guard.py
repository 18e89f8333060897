"""``scale_guard``: SECDED over a stored block scale, in front of the decoders (contract and code:
:mod:`golden.secded`).

One block per beat: the 8-bit scale, its 5-bit check word and the block's k element codes. The
syndrome is an XOR tree per check bit over the positions of the received bits, the overall parity
an XOR of all 13; a one-hot match of the syndrome against the data positions flips the data bit
to correct. On a detected (uncorrectable) error the policy applies: ``zero`` forces scale 0 and
every code 0, ``hold`` substitutes the last scale that was not detected (a register, 127 after
reset). ``pipeline`` registers the outputs (latency 1).
"""
from functools import reduce

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data

from golden import secded as spec

from .lib.block import StreamBlock, check_bool
from .lib.pipeline import StreamPipeline

__all__ = ["ScaleGuard"]


class ScaleGuard(StreamBlock):
    """SECDED-protected block scale with a policy on detected errors (module docstring).

    Parameters
    ----------
    k : int
        Element codes per block, 1..1024.
    w : int
        Bits per element code, 1..32.
    policy : str
        "zero" or "hold".
    pipeline : bool
        Register the outputs (latency 1).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"scale": 8, "check": 5, "codes": ArrayLayout(w, k)})))
    o : Out(stream.Signature(StructLayout({"scale": 8, "codes": ArrayLayout(w, k),
        "corrected": 1, "detected": 1})))
    """

    def __init__(self, k=32, w=8, policy="zero", pipeline=False):
        spec._check(k, w, policy)
        self._k, self._w, self._policy = k, w, policy
        self._pipeline = check_bool("pipeline", pipeline)
        d, r = spec.DATA_BITS, spec.check_bits()
        super().__init__(
            data.StructLayout({"scale": d, "check": r + 1, "codes": data.ArrayLayout(w, k)}),
            data.StructLayout({"scale": d, "codes": data.ArrayLayout(w, k), "corrected": 1,
                               "detected": 1}))

    @property
    def latency(self) -> int:
        return int(self._pipeline)

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o)
        d, r = spec.DATA_BITS, spec.check_bits()
        pos = [int(x) for x in spec.positions(d)]
        scale, check = self.i.payload.scale, self.i.payload.check

        syn = Signal(r, name="syndrome")
        m.d.comb += syn.eq(Cat(*[
            reduce(lambda a, b: a ^ b, [scale[i] for i in range(d) if pos[i] >> j & 1]
                   + [check[j]]) for j in range(r)]))
        odd = Signal(name="odd")
        m.d.comb += odd.eq(scale.xor() ^ check.xor())
        hit = Signal(d, name="hit")
        m.d.comb += hit.eq(Cat(*[syn == pos[i] for i in range(d)]))
        valid = Signal(name="valid_syndrome")
        powers = [syn == (1 << j) for j in range(r)]
        m.d.comb += valid.eq((syn == 0) | reduce(lambda a, b: a | b, powers) | hit.any())
        corrected = Signal(name="corrected")
        detected = Signal(name="detected")
        m.d.comb += [corrected.eq(odd & valid),
                     detected.eq((~odd & (syn != 0)) | (odd & ~valid))]
        fixed = Signal(d, name="fixed")
        m.d.comb += fixed.eq(Mux(corrected, scale ^ hit, scale))

        out = Signal(self.out_layout)
        m.d.comb += [out.corrected.eq(corrected), out.detected.eq(detected)]
        codes = self.i.payload.codes
        if self._policy == "zero":
            m.d.comb += [out.scale.eq(Mux(detected, 0, fixed)),
                         out.codes.eq(Mux(detected, Const(0, len(codes.as_value())),
                                          codes.as_value()))]
        else:
            held = Signal(d, init=spec.HOLD_RESET, name="held")
            with m.If(self.i.valid & self.i.ready & ~detected):
                m.d.sync += held.eq(fixed)
            m.d.comb += [out.scale.eq(Mux(detected, held, fixed)), out.codes.eq(codes)]
        if self._pipeline:
            out = p.stage(out)
        p.finish(out)
        return m
