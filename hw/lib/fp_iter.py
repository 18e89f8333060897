"""Sequential floating-point divider and square root: restoring digit recurrence, one result bit
per cycle, rounded once at the end.

Both units take any ``FloatFormat`` ("ieee", "fn" or "none" specials, with or without
subnormals), an elaboration-time rounding mode ("rne", "rna", "rtz") and overflow policy
("saturate", "nonsat"), and are bit-exact to ``golden.formats.div`` / ``golden.formats.sqrt``.
They trade latency for area: the datapath is one subtractor of about P + 3 bits (P =
``fmt.sig_bits``), three shift registers of about P bits, a small counter, and the rounding step
of the combinational units (:func:`hw.lib.fp.round_normalized`, reused, not restated).

Handshake. The operands are sampled in the cycle ``start`` is 1; ``busy`` is 1 while the
recurrence runs; ``done`` is 1 for exactly one cycle, ``cycles`` cycles after the start cycle,
and ``result`` is valid from then through the cycle of the next start (it is the combinational
rounding of registers that stop changing when the recurrence ends). A start while busy abandons the
running operation and begins the new one. ``cycles`` is P + 3 for the divider (P + 2 recurrence
steps) and P + 2 for the square root (P + 1 steps); e.g. 27 and 26 for FP32, 7 and 6 for E4M3.

Operands. A code is decoded (``hw.lib.fp.decode_element``) to an integer significand and the biased
exponent max(E, 1); in a format with subnormals a subnormal significand is normalized first (a
leading-zero count and a shift of P bits, its exponent lowered by the count), so the recurrence
always starts from m in [2**(P-1), 2**P) (or 0).

Division. With m_a, m_b normalized, the quotient m_a / m_b lies in (1/2, 2). The restoring
recurrence R_0 = m_a, q_j = [R_j >= m_b], R_{j+1} = 2 (R_j - q_j m_b) keeps 0 <= R_j < 2 m_b
(P + 1 bits; the subtractor is P + 2 bits wide with its borrow) and produces the quotient's bits
q_0 q_1 q_2 ... (q_0 of weight 1) MSB first into a shift register. After the step that records
bit q_j, m_a / m_b = q_0.q_1...q_j + R_{j+1} 2**-(j+1) / m_b exactly, so ``R != 0`` is the exact
sticky bit of the bits kept. The register ``n`` of P + 1 bits must end with the result's hidden
bit at n[P] and its round bit at n[0] (the input of ``round_normalized``); bit q_j has the biased
exponent e0 - j with e0 = E_a - E_b + bias, so the register must stop after recording N bits:

- q_0 = 1 (normal quotient of exponent e0): N = P + 1;
- q_0 = 0 (exponent e0 - 1; the leading 0 falls off the top of n): N = P + 2;
- a result below 2**emin (biased exponent e_r < 1): its n[P] has the exponent emin (biased 1), so
  it stops k = 1 - e_r bits earlier, N = P + e0. This is the right shift into a subnormal
  (or, without subnormals, onto the grid 0 / min normal) done for free: the bits not recorded
  stay in the remainder, which is frozen and becomes sticky.

So a step records iff j < clamp(P + e0, 0, P + 2) and not (j = P + 1 and n[P] = 1): P + 2
steps, the unused ones idle (register enables, not muxes), a fixed latency.

Square root. With the normalized exponent E = E_a - bias made even (the significand doubled when
E is odd), the radicand x = X / 2**(P-1) lies in [1, 4) and the root in [1, 2): its integer bit
is always 1, no normalization step. The restoring integer square root of M = X * 2**(P+1)
(2P + 2 bits, two brought down per step from a shift register that shifts in zeros) gives
r = floor(sqrt(M)) = floor(sqrt(x) * 2**P), P + 1 bits: the hidden bit, P - 1 mantissa bits and
the round bit. Each step forms t = 4 rem + (next two bits), compares it with 4 r + 1 (one
subtractor of P + 3 bits, P + 4 with the sign; rem <= 2 r < 2**(P+2) throughout), and records
r <- 2 r + [t >= 4 r + 1], rem <- t or t - (4 r + 1). After the steps that record N bits,
sqrt(M) / 2**(P+1-N) is exactly r unless rem or the radicand bits not yet brought down are
nonzero: that is the sticky bit. The result's biased exponent is e_r = floor(E / 2) + bias; a
root below 2**emin (possible only in formats with a bias near 0) stops after N = P + e_r bits as
in the divider, P + 1 steps in all.

Exactness. In both units the recorded bits are the exact truncation of the exact result to the
position of the result's round bit (n[0]), aligned as ``round_normalized`` expects (hidden bit at
n[P] with biased exponent e >= 1, or n[P] of weight 2**emin for a result below it), and sticky
is exactly "the discarded value is nonzero". Round bit + sticky determine every rounding mode
here, so the single rounding in ``round_normalized`` (the rules of docs/numerics.md §2: 0/1
increment of the truncated code, overflow judged after rounding) gives the correctly rounded code.
Overflow (e >= the format's top exponent) needs no special path: ``round_normalized`` takes an
exponent wider than the format's field.

Specials, as ``golden.formats.div``/``sqrt``: NaN operands, 0/0, Inf/Inf and the square root of
a negative nonzero value (-Inf included) give the canonical NaN; x/0 (x != 0) and Inf/x are Inf
of sign s_a ^ s_b, which follows the overflow rules in formats without Inf (±max finite with
"saturate", the sign-keeping NaN of "fn" formats with "nonsat"); 0/x and x/Inf are zeros of
sign s_a ^ s_b; sqrt(±0) = ±0 (a flushed subnormal is a zero), sqrt(+Inf) = +Inf. Where the
golden model raises because the format has no NaN code, the hardware gives: 0/0 -> ±max finite
(the x/0 rule), sqrt(-x) -> -sqrt(x).
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.checks import check_choice
from golden.formats import FORMATS, OVERFLOWS, PLAIN_ROUNDINGS, FloatFormat

from .fp import biased_exponent, decode_element, leading_zeros, round_normalized
from .units import named

__all__ = ["FpDivider", "FpSqrt"]

_FLOAT_NAMES = tuple(name for name, f in FORMATS.items() if f.kind == "float")


def _check_params(fmt, rounding, overflow):
    if not isinstance(fmt, FloatFormat):
        if not isinstance(fmt, str) or fmt not in _FLOAT_NAMES:
            raise ValueError(f"fmt must be a FloatFormat or one of {', '.join(_FLOAT_NAMES)}, "
                             f"not {fmt!r}")
        fmt = FORMATS[fmt]
    check_choice("rounding", rounding, PLAIN_ROUNDINGS)
    check_choice("overflow", overflow, OVERFLOWS)
    return fmt


def _signed(v):
    """An unsigned Value as a signed one of the same value (one bit wider)."""
    return Cat(v, Const(0, 1)).as_signed()


def _exp_range(f):
    """Range of the biased exponent of a normalized operand (Inf/NaN codes included)."""
    return (2 - f.sig_bits if f.subnormals else 1), (1 << f.ebits) - 1


def _operand(m, f, code, name):
    """Decoded operand: sign, significand normalized to [2**(P-1), 2**P) or 0, its signed biased
    exponent, and the zero / Inf / NaN flags (Inf and NaN as 1-bit Values)."""
    sign, sig, _, inf, nan = decode_element(code, f)
    inf, nan = (Const(v, 1) if isinstance(v, int) else named(m, v, f"{name}_{what}")
                for v, what in ((inf, "inf"), (nan, "nan")))
    zero = named(m, sig == 0, f"{name}_zero")
    exp = _signed(biased_exponent(f, code))
    if f.subnormals:
        lz = named(m, leading_zeros(sig), f"{name}_lz")
        sig = (sig << lz)[: f.sig_bits]
        exp = exp - lz
    return sign, named(m, sig, f"{name}_norm"), named(m, exp, f"{name}_exp"), zero, inf, nan


def _clamp(m, v, hi, name):
    """``v`` (signed) clamped to 0..hi, as a small unsigned register input."""
    return named(m, Mux(v < 0, 0, Mux(v > hi, hi, v))[: hi.bit_length()], name)


class _Iterative(wiring.Component):
    """Parameters, ports and the start / busy / done control shared by both units."""

    #: recurrence steps beyond ``fmt.sig_bits`` (P + _EXTRA steps)
    _EXTRA = 0

    def __init__(self, fmt, rounding="rne", overflow="saturate", operands=("a",)):
        self._fmt = _check_params(fmt, rounding, overflow)
        self._rounding, self._overflow = rounding, overflow
        w = self._fmt.width
        ports = {name: In(w) for name in operands}
        ports.update({"start": In(1), "result": Out(w), "busy": Out(1), "done": Out(1)})
        super().__init__(ports)

    @property
    def fmt(self):
        return self._fmt

    @property
    def rounding(self):
        return self._rounding

    @property
    def overflow(self):
        return self._overflow

    @property
    def steps(self):
        """Recurrence steps (one result bit each)."""
        return self._fmt.sig_bits + self._EXTRA

    @property
    def cycles(self):
        """Cycles from the start cycle to the cycle ``done`` is 1 (steps + 1)."""
        return self.steps + 1

    def _control(self, m):
        """Step counter and the busy/done registers; returns (step, running)."""
        n = self.steps
        step = Signal(range(n), name="step")
        busy = Signal(name="running")
        done = Signal(name="finished")
        m.d.comb += [self.busy.eq(busy), self.done.eq(done)]
        m.d.sync += done.eq(busy & (step == n - 1) & ~self.start)
        with m.If(self.start):
            m.d.sync += [step.eq(0), busy.eq(1)]
        with m.Elif(busy):
            m.d.sync += step.eq(step + 1)
            with m.If(step == n - 1):
                m.d.sync += busy.eq(0)
        return step, busy

    def _finish(self, m, sign, n, e_res, sticky, inf, nan):
        m.d.comb += self.result.eq(round_normalized(
            m, self._fmt, sign, n, e_res.as_unsigned(), sticky, rounding=self._rounding,
            overflow=self._overflow, inf=inf, nan=nan, name="round"))


class FpDivider(_Iterative):
    """Sequential divider: ``result = round(a / b)`` after ``cycles`` = P + 3 cycles.

    Parameters
    ----------
    fmt : FloatFormat or str
        Format of ``a``, ``b`` and ``result``.
    rounding : {"rne", "rna", "rtz"}
    overflow : {"saturate", "nonsat"}

    Attributes
    ----------
    a, b : In(fmt.width)
        Operand codes, sampled in the cycle ``start`` is 1.
    start : In(1)
    result : Out(fmt.width)
        Valid from the cycle ``done`` is 1 through the cycle of the next start.
    busy, done : Out(1)
    cycles : int
        ``fmt.sig_bits + 3``.

    Raises
    ------
    ValueError
        ``fmt`` not a float format, or a bad ``rounding``/``overflow``.
    """

    _EXTRA = 2

    def __init__(self, fmt, rounding="rne", overflow="saturate"):
        super().__init__(fmt, rounding, overflow, operands=("a", "b"))

    def elaborate(self, platform):
        m = Module()
        f = self._fmt
        P = f.sig_bits
        sa, ma, ea, za, ia, na = _operand(m, f, self.a, "a")
        sb, mb, eb, zb, ib, nb = _operand(m, f, self.b, "b")
        lo, hi = _exp_range(f)
        e0 = named(m, ea - eb + f.bias, "e0")  # biased exponent of quotient bit q_0

        rem = Signal(P + 1)                     # partial remainder R_j < 2 m_b
        div = Signal(P)                         # m_b
        quo = Signal(P + 1)                     # recorded quotient bits: n
        em1 = Signal(range(lo - hi + f.bias - 1, hi - lo + f.bias))   # e0 - 1
        q0 = Signal()
        lim = Signal(range(P + 3))              # steps that may record
        sign, inf, nan = Signal(), Signal(), Signal()
        step, running = self._control(m)

        lim_0 = _clamp(m, e0 + P, P + 2, "lim_0")
        diff = named(m, rem - div, "diff")     # P + 2 bits; diff[P + 1] is the borrow
        qbit = ~diff[P + 1]
        # a normal quotient with q_0 = 1 is complete after P + 1 bits
        record = (step < lim) & ~((step == P + 1) & quo[P])

        with m.If(self.start):
            m.d.sync += [
                rem.eq(Mux(za | ib, 0, ma)),    # 0/x and x/Inf: a zero quotient
                div.eq(mb), quo.eq(0), em1.eq(e0 - 1), q0.eq(0), lim.eq(lim_0),
                sign.eq(sa ^ sb), inf.eq(ia | zb),
                nan.eq(na | nb | (za & zb) | (ia & ib) if f.has_nan else 0),
            ]
        with m.Elif(running & record):
            m.d.sync += [
                rem.eq(Cat(Const(0, 1), Mux(qbit, diff[:P], rem[:P]))),
                quo.eq(Cat(qbit, quo[:P])),
            ]
            with m.If(step == 0):
                m.d.sync += q0.eq(qbit)
        self._finish(m, sign, quo, em1 + q0, rem != 0, inf, nan)
        return m


class FpSqrt(_Iterative):
    """Sequential square root: ``result = round(sqrt(a))`` after ``cycles`` = P + 2 cycles.

    Parameters
    ----------
    fmt : FloatFormat or str
        Format of ``a`` and ``result``.
    rounding : {"rne", "rna", "rtz"}
    overflow : {"saturate", "nonsat"}

    Attributes
    ----------
    a : In(fmt.width)
        Operand code, sampled in the cycle ``start`` is 1.
    start : In(1)
    result : Out(fmt.width)
        Valid from the cycle ``done`` is 1 through the cycle of the next start.
    busy, done : Out(1)
    cycles : int
        ``fmt.sig_bits + 2``.

    Raises
    ------
    ValueError
        ``fmt`` not a float format, or a bad ``rounding``/``overflow``.
    """

    _EXTRA = 1

    def __init__(self, fmt, rounding="rne", overflow="saturate"):
        super().__init__(fmt, rounding, overflow, operands=("a",))

    def elaborate(self, platform):
        m = Module()
        f = self._fmt
        P = f.sig_bits
        sa, ma, ea, za, ia, na = _operand(m, f, self.a, "a")
        lo, hi = _exp_range(f)
        e = named(m, ea - f.bias, "e")         # unbiased exponent of the leading bit
        e_r = named(m, (e >> 1) + f.bias, "e_r")  # floor(e / 2): the root's biased exponent
        odd = e[0]

        rad = Signal(P + 1)                     # radicand bits not yet brought down
        rem = Signal(P + 2)                     # M_j - r_j**2 <= 2 r_j
        root = Signal(P + 1)                    # recorded root bits: n
        exp = Signal(range(((lo - f.bias) >> 1) + f.bias, ((hi - f.bias) >> 1) + f.bias + 1))
        lim = Signal(range(P + 2))
        sign, inf, nan = Signal(), Signal(), Signal()
        step, running = self._control(m)

        lim_0 = _clamp(m, e_r + P, P + 1, "lim_0")
        t = Cat(rad[P - 1: P + 1], rem[: P + 1])              # 4 rem + next two bits
        diff = named(m, t - Cat(Const(1, 2), root[:P]), "diff")  # - (4 r + 1), P + 4 bits
        bit = ~diff[P + 3]

        with m.If(self.start):
            m.d.sync += [
                rad.eq(Mux(odd, Cat(Const(0, 1), ma), ma)),   # X = m or 2m: x in [1, 4)
                rem.eq(0), root.eq(0), exp.eq(e_r), lim.eq(lim_0),
                sign.eq(sa), inf.eq(ia),
                nan.eq(na | (sa & ~za) if f.has_nan else 0),
            ]
        with m.Elif(running & (step < lim)):
            m.d.sync += [
                rem.eq(Mux(bit, diff, t)[: P + 2]),
                root.eq(Cat(bit, root[:P])),
                rad.eq(Cat(Const(0, 2), rad[: P - 1])),
            ]
        self._finish(m, sign, root, exp, (rem != 0) | (rad != 0), inf, nan)
        return m
