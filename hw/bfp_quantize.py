"""``bfp_quantize``: a group of G FP32 values -> shared exponent + G signs and m-bit magnitudes +
the zero-setting-error count (docs/numerics.md §5, docs/blocks.md "FlexBlock")."""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data

from golden.bfp import DEFAULT_G, DEFAULT_M, DEFAULT_RBITS, EXP_NAN, ROUNDINGS, check_m

from .lib.block import StreamBlock, check_choice, check_int
from .lib.fp import unpack_fp32
from .lib.pipeline import Cuts, StreamPipeline
from .lib.trees import maximum, named_tree, plus, reduce_tree

__all__ = ["BfpQuantize", "ROUNDINGS", "CUTS", "MAX_STAGES", "DEFAULT_STAGES",
           "MAX_G", "MAX_RBITS"]

MAX_G = 256
MAX_RBITS = 32

#: the cut points in the order ``stages`` fills them (the class docstring says why): after the
#: max-exponent tree, after the per-lane shift + round + saturate, and after the
#: zero-setting-error count (an output register)
CUTS = ("tree", "round", "count")
MAX_STAGES = len(CUTS)
DEFAULT_STAGES = 2

_SIG = 24   # FP32 significand bits, hidden bit included
_SHIFT_OFF = 255   # a shift amount that clears every lane's window (flushed or NaN-group lanes)


class BfpQuantize(StreamBlock):
    """Quantize one group of G FP32 values to block floating point per beat (docs/numerics.md §5;
    the rules are those of :mod:`golden.bfp`), fully pipelined.

    Datapath: (1) a balanced max tree over the G 8-bit exponent fields gives the shared
    exponent M (255 exactly when a lane holds NaN/Inf). (2) Per lane, the 24-bit significand
    1.frac is shifted right by sh = 24 - m + (M - e): the constant part 24 - m is a slice, only
    the distance d = M - e is a barrel shift, over a window holding the m magnitude bits and the
    F fraction bits the rounding reads (F = 0 for ``"rtz"``, the round bit for ``"rne"``,
    ``rbits`` for ``"stochastic"``, whose sum with ``rand`` carries out iff the element rounds
    up); for ``"rne"`` m zero bits below the round bit catch the bits a shift by d <= m pushes
    out, and they and the fraction bits that never reach the window form the sticky bit.
    Subnormal lanes and every lane of a NaN group get the shift amount 255, which clears the
    window (flush to zero, magnitude 0, no round-up), so the hidden bit is a constant 1. A
    round-up of q = 2**m - 1 is dropped (the saturation). (3) The zero-setting error is a
    balanced adder tree over the lanes' (nonzero input, magnitude 0) bits, 0 in a NaN group.
    Only the fields that can reach a window cross the tree's register: the top m - 1 + F
    fraction bits, the "rne" sticky of the rest, the exponent field, a nonzero bit and the
    sign (m = 4, rtz: 13 bits of 32).

    Cut points: ``stages`` registers go to the first ``stages`` cut points of ``CUTS`` and
    ``latency == stages``. Yosys ``ltp`` depth (generic gates): the max tree is
    the longest segment (about 12 levels per tree level), so one stage cuts after it; G = 54,
    m = 16, rtz: 140 unpipelined, 73 to 74 with 1 to 3 stages; G = 216, m = 4: 175, 99 (1
    stage), 95 (2); G = 16, m = 8, rne: 102, 56, 53, 50. Two stages add the register after
    the rounding (the per-lane logic and the count tree in separate cycles), three an output
    register.

    Parameters
    ----------
    G : int
        Group size, 1..256 (FlexBlock: 54, 108, 216).
    m : int
        Magnitude bits including the hidden bit, 2..24 (FlexBlock: 16, 8, 4).
    rounding : {"rtz", "rne", "stochastic"}
    rbits : int
        Random bits per element, 1..32; the width of the ``rand`` lanes with "stochastic"
        (no effect otherwise).
    stages : int
        Pipeline registers, 0..``MAX_STAGES``.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"x": ArrayLayout(32, G)[, "rand": ArrayLayout(rbits,
        G)]}))) -- ``rand`` only with "stochastic"
    o : Out(stream.Signature(StructLayout({"exp": 8, "signs": ArrayLayout(1, G),
        "mags": ArrayLayout(m, G), "zse": unsigned(G.bit_length())})))
    latency : int

    Raises
    ------
    ValueError
        A parameter outside its allowed values (the message names it and them).
    TypeError
        An integer parameter is not an integer.
    """

    def __init__(self, G=DEFAULT_G, m=DEFAULT_M, rounding="rtz", rbits=DEFAULT_RBITS,
                 stages=DEFAULT_STAGES):
        check_int("G", G, 1, MAX_G)
        check_m("m", m)
        check_choice("rounding", rounding, ROUNDINGS)
        check_int("rbits", rbits, 1, MAX_RBITS)
        self._cuts = Cuts(CUTS, stages)
        self._G, self._m, self._rounding = G, m, rounding
        self._rbits, self._stages = rbits, stages
        fields = {"x": data.ArrayLayout(32, G)}
        if rounding == "stochastic":
            fields["rand"] = data.ArrayLayout(rbits, G)
        super().__init__(
            data.StructLayout(fields),
            data.StructLayout({"exp": 8, "signs": data.ArrayLayout(1, G),
                               "mags": data.ArrayLayout(m, G),
                               "zse": unsigned(G.bit_length())}))

    @property
    def G(self):
        return self._G

    @property
    def m(self):
        return self._m

    @property
    def rounding(self):
        return self._rounding

    @property
    def rbits(self):
        return self._rbits

    @property
    def stages(self):
        return self._stages

    @property
    def latency(self) -> int:
        return self._stages

    def _fraction_bits(self):
        """Fraction bits below the m magnitude bits that the rounding reads (F)."""
        return {"rtz": 0, "rne": 1, "stochastic": self._rbits}[self._rounding]

    def _lane_fields(self, bits, f):
        """What a lane carries past the max tree, from its FP32 ``bits`` and their fields
        ``f`` (``hw.lib.fp.unpack_fp32``): the fraction bits
        that can reach the window (the top m - 1 + F; the lower ones are below every rounding
        position), for "rne" the OR of the rest (sticky), the exponent field, and whether the
        input is nonzero. m = 4, rtz: 12 bits instead of 31."""
        # the fraction field itself: f.sig would drag its hidden-bit logic into every slice,
        # and the hidden bit is a constant 1 here (see _align)
        frac = bits[:_SIG - 1]
        low = _SIG - self._m - self._fraction_bits()
        fields = {"head": frac[max(low, 0):]}
        if self._rounding == "rne" and low > 0:
            fields["sticky"] = frac[:low].any()
        # nonzero: any bit below the sign (a plain OR; ~f.zero is five gates in the Verilog)
        return {**fields, "exp": f.biased, "nonzero": bits[:31].any()}

    def _align(self, lane, M, special):
        """One lane's significand shifted by d = M - e into its window: the m magnitude bits on
        top and the F fraction bits below them; for "rne" also m zero bits below the round bit
        (a shift by d <= m keeps every shifted-out bit for the sticky, d > m leaves the round
        bit 0) and, at the bottom, the sticky of the bits that were never in the window."""
        m, F = self._m, self._fraction_bits()
        head, e = lane["head"], lane["exp"]
        pad = max(F + m - _SIG, 0)           # stochastic with m + rbits > 24; rne with m = 24
        top = Cat(Const(0, pad), head, Const(1, 1)) if pad else Cat(head, Const(1, 1))
        # d >= 0 (M is the maximum); subnormal (flushed) and NaN-group lanes shift everything
        # out, so the hidden bit can be a constant 1
        d = Mux((e == 0) | special, _SHIFT_OFF, (M - e)[:8])
        if self._rounding != "rne":
            return top >> d
        return Cat(lane.get("sticky", Const(0, 1)), Cat(Const(0, m), top) >> d)

    def _window_bits(self):
        """Width of one lane's aligned window (see :meth:`_align`)."""
        m, F = self._m, self._fraction_bits()
        return 2 * m + 2 if self._rounding == "rne" else m + F

    def _round(self, w, rand):
        """Magnitude (m bits, saturated) of one lane's window ``w`` and whether it is 0.

        The round-up is suppressed when q is all ones (it would carry out of m bits): the
        saturation, with ``up`` used once in the magnitude (every use is a copy in the
        Verilog)."""
        m, rounding = self._m, self._rounding
        if rounding == "rtz":
            return w, ~w.any()
        if rounding == "rne":
            q, rbit = w[m + 2:], w[m + 1]
            up = rbit & (w[:m + 1].any() | q[0])
        else:
            F = self._rbits
            q = w[F:]
            up = (w[:F] + rand)[F]
        return (q + (up & ~q.all()))[:m], ~(q.any() | up)

    def elaborate(self, platform):
        mod = Module()
        p = StreamPipeline(mod, self.i, self.o, self._cuts)
        G = self._G
        stochastic = self._rounding == "stochastic"
        x = self.i.payload.x.as_value()
        rand = self.i.payload.rand.as_value() if stochastic else None
        words = [x[32 * j: 32 * (j + 1)] for j in range(G)]
        fp = [unpack_fp32(w) for w in words]

        # (1) the shared exponent. Few named signals (see hw/mx_dot.py): each named level is one
        # more pass of Amaranth's simulator over every lane
        M = Signal(8, name="max_exp")
        mod.d.comb += M.eq(named_tree(mod, [f.biased for f in fp], maximum, "max_exp"))
        signs = Cat(f.sign for f in fp)
        lanes = [self._lane_fields(w, f) for w, f in zip(words, fp)]
        if "tree" in self._cuts:
            # the signs travel in a register of their own: register bits that drive output
            # ports directly are merged with them, and such bits of a wider register end up as
            # ``assign {...} = ...`` in Yosys' netlist, which OpenSTA rejects
            widths = {k: len(v) for k, v in lanes[0].items()}
            body = Cat(*(v for ln in lanes for v in ln.values()))
            if stochastic:
                body, signs, rand, M = p.cut("tree", body, signs, rand, M)
            else:
                body, signs, M = p.cut("tree", body, signs, M)
            lanes, pos = [], 0
            for _ in range(G):
                lanes.append({})
                for k, w in widths.items():
                    lanes[-1][k] = body[pos: pos + w]
                    pos += w

        # (2) per lane: align (the one named level: a window is read several times), round,
        # saturate; the zero-setting bits
        special = M == EXP_NAN
        W, F = self._window_bits(), self._rbits
        aligned = Signal(W * G, name="aligned")
        mod.d.comb += aligned.eq(Cat(self._align(ln, M, special) for ln in lanes))
        rounded = [self._round(aligned[W * j: W * (j + 1)],
                               rand[F * j: F * (j + 1)] if stochastic else None)
                   for j in range(G)]
        mags = Cat(mag for mag, _ in rounded)
        zbits = [ln["nonzero"] & zero for ln, (_, zero) in zip(lanes, rounded)]
        if "round" in self._cuts:
            signs, mags, zcat, M = p.cut("round", signs, mags, Cat(*zbits), M)
            zbits = list(zcat)

        # (3) zero-setting error: nonzero inputs that became 0 (none counted in a NaN group).
        # The tree takes the lanes' own bits: every slice of an unnamed Cat would copy all of
        # it into the Verilog
        zse = Mux(M == EXP_NAN, 0, reduce_tree(zbits, plus))[:G.bit_length()]
        # the payload fields straight from the expressions (a named ``out`` would be one more
        # simulator pass)
        M, signs, mags, zse = p.cut("count", M, signs, mags, zse)
        p.finish({"exp": M, "signs": signs, "mags": mags, "zse": zse})
        return mod
