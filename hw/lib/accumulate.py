"""The fused FP32 accumulate step shared by the block-scaled dot products (``mx_dot``,
``bfp_dot``, ``bfp_pe``); the hardware twin of :func:`golden.accumulate.fp32_accumulate`. Their
exact integer sums are :func:`hw.lib.trees.reduce_tree` with :func:`hw.lib.trees.plus`.

``fp32_accumulate`` computes
``RNE_fp32(c + S * 2**e_S)`` for an exact integer ``S`` (|S| < 2**sum_bits) and an FP32
accumulator ``c``, rounded once, as four units with a cut point between each two::

    align S with c + sticky  -[shift]->  add / subtract  -[align]->  normalize  -[norm]->  round
    (<name>_align)                       (<name>_add)                (<name>_norm)    (<name>_round)

A block places registers at the cut points it chooses (``cut``); the result is the same bits
with any choice. Two cut points inside the step matter because the step's delay is in two long
carry/shift chains of ~W bits: the alignment shift and the add, then the leading-zero count and
the normalizing shift; one register between them (``align``) left 10-18 ns on each side in
OSU 0.18 um for the MX and BFP dot products, and ``shift`` and ``norm`` halve both sides.

Alignment. Let c = (-1)**s_c * sig_c * 2**e_c (24-bit sig_c, ``hw.lib.fp.unpack_fp32``). S is not
normalized (it may have leading zeros), so each operand gets a *top bound*: t_S = e_S + sum_bits
(|S| < 2**t_S) and t_c = e_c + 24. The operand with the higher bound ("big"; a zero operand never
is) is placed at the top of a window of W = sum_bits + ``GUARD`` bits, i.e. the window holds
exponents [T - W, T) with T = max(t_S, t_c); the other ("small") is shifted right by the
difference of the bounds, and the bits it loses below the window are ORed into ``sticky``.

Why W suffices (GUARD = 25, the least that does; 24 fails tests/hw/test_mx_dot.py's alignment
sweep). Sticky is only set when the small operand reaches below the window, and the encoder's
sticky input is exact when the window's LSB is at most q - 1, q the result's quantum.
(a) Big = S: then |c| < 2**(T - W + 24) = 2**(T - sum_bits - 1) while S, a nonzero integer at
e_S = T - sum_bits, has |S| >= 2**(T - sum_bits). So the exact result exceeds
2**(T - sum_bits - 1), its quantum q >= T - sum_bits - 24 = T - W + 1. (b) Big = c, c normal:
|c| >= 2**(T - 1) and |S| < 2**(T - 26) (S lost bits, so it was shifted by more than
W - sum_bits = 25), the result exceeds 2**(T - 2) and q >= T - 25 >= T - W + 1. (c) Big = c
subnormal: T = -125, the window's LSB is <= -151 < -150 = q - 1. In every case the bits below
the window lie strictly below the result's half-ulp, so only "something nonzero is there"
matters: the exact value is (M + delta) * 2**(T - W) with delta in (0, 1), which is what the
encoder's ``sticky`` input means. When no bit is lost the sum is exact.

Subtraction borrow. For an effective subtraction with sticky set, the exact magnitude is
big - (small_window + f) with f in (0, 1) window LSBs, i.e. (big - small_window - 1) + (1 - f):
the window difference is decremented by one and sticky stays set (delta = 1 - f). With sticky
set, |big| > |small| by the bounds above, so this difference is >= 0; without sticky the
difference can be negative (an unnormalized S below c's top bound), and then the magnitude is
small - big and the sign flips. Both differences are formed side by side and the sign of the
first picks one (no negation after the subtraction on the path).

Normalization and rounding. ``<name>_norm`` shifts the W + 1 bit magnitude left by its
leading-zero count and keeps the top ``NORM_BITS`` = 26 bits (24 significand bits, the round
bit and one more), ORing the rest into sticky; that is exact for the encoder (it needs one bit
below the result's rounding position, and a subnormal result's position is higher still).
``<name>_round`` is the shared encoder (``hw.lib.fp.encode``, told the magnitude is normalized:
FP32 RNE, overflow "nonsat" -> ±Inf, gradual underflow). An exactly zero result (magnitude 0,
no sticky) is +0, also for c = -0 plus a zero sum (docs/numerics.md §4; not IEEE 754's
-0 + -0 = -0).

Specials. The caller passes its own NaN and ±Inf conditions (``nan``, ``pinf``, ``ninf``); c adds
its own: NaN if ``nan``, c is NaN, or +Inf meets -Inf (canonical NaN 0x7FC00000); otherwise an
Inf gives Inf of its sign.
"""
from amaranth.hdl import Cat, Const, Mux, Signal, Value, signed

from golden.formats import FP32

from .fp import encode, leading_zeros, unpack_fp32
from .units import unit

__all__ = ["fp32_accumulate", "cut_points", "window_bits", "GUARD", "EXP_BITS", "NORM_BITS",
           "STEP_CUTS"]

#: window bits beyond the sum's width (see the module docstring for why 25)
GUARD = 25
#: least width of the aligned exponent (wider when ``e_s``'s range needs it)
EXP_BITS = 12
#: bits of the normalized magnitude handed to the encoder: 24 significand bits, round, one more
NORM_BITS = FP32.mbits + 3
#: the step's own cut points, in datapath order (see the module docstring)
STEP_CUTS = ("shift", "align", "norm")
_SIG_BITS = FP32.mbits + 1


def window_bits(sum_bits):
    """Width W of the alignment window (the magnitude after the add has W + 1 bits)."""
    return sum_bits + GUARD


def cut_points(n_terms):
    """Register positions of a products -> tree -> accumulate datapath over ``n_terms`` lanes,
    in the order a ``stages`` parameter takes them (``stages = n`` uses the first n).

    ``"sum"`` after the adder tree, ``"mul"`` after the products, then the accumulate step's
    own cuts (``fp32_accumulate``): ``"align"`` after the add, ``"shift"`` after the alignment
    shift, ``"norm"`` after the normalization; ``"out"`` after rounding, then ``"tree2"``,
    ``"tree4"``, ... inside the tree (every two levels). The order is the order of need: each
    cut halves the longest remaining segment of the MX and BFP dot products.
    """
    levels = (n_terms - 1).bit_length()
    cuts = (["sum"] if levels else []) + ["mul", "align", "shift", "norm", "out"]
    cuts += [f"tree{j}" for j in range(2, levels, 2)]
    return tuple(cuts)


def _signed_range(v):
    """(lo, hi) of the values ``v`` (a Value or int) can take, from its shape."""
    if isinstance(v, int):
        return v, v
    shape = Value.cast(v).shape()
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def _exp_bits(lo, hi):
    """Signed width holding lo..hi, at least EXP_BITS."""
    bits = EXP_BITS
    while not -(1 << (bits - 1)) <= lo <= hi < 1 << (bits - 1):
        bits += 1
    return bits


def _fields(packed, widths):
    """Split a unit's packed output into fields of the given widths."""
    out, pos = [], 0
    for w in widths:
        out.append(packed[pos: pos + w] if w > 1 else packed[pos])
        pos += w
    return out


def fp32_accumulate(m, total, sum_bits, e_s, acc, *, nan, pinf, ninf, cut=None, name="acc"):
    """``RNE_fp32(acc + total * 2**e_s)``, rounded once (rules in the module docstring).

    Parameters
    ----------
    m : Module
        The step is four submodules of ``m`` (``hw.lib.units.unit``): ``<name>_align`` (the
        alignment with c, sticky and the specials), ``<name>_add`` (the add or subtract),
        ``<name>_norm`` (the normalization) and ``<name>_round`` (the rounding). Their areas
        are rows of docs/cost.md's breakdown.
    total : Value
        Signed exact integer sum, |total| < 2**sum_bits.
    sum_bits : int
        Magnitude width of ``total`` (>= 1).
    e_s : Value or int
        Signed exponent of ``total``'s unit (an unsigned Value is taken as nonnegative).
    acc : Value
        32-bit FP32 bit pattern of the accumulator c.
    nan, pinf, ninf : Value or int
        1-bit special conditions of the sum's own operands (before c is considered).
    cut : callable, optional
        ``cut(point, *values)`` for each point of ``STEP_CUTS`` in datapath order returns the
        values registered or passed through (``hw.lib.pipeline.StreamPipeline.cut``). None: no
        register.
    name : str
        Prefix of the unit and signal names.

    Returns
    -------
    Value, 32 bits
        The FP32 result bits (canonical NaN 0x7FC00000; an exact zero is +0).
    """
    if isinstance(sum_bits, bool) or not isinstance(sum_bits, int) or sum_bits < 1:
        raise ValueError(f"sum_bits must be a positive integer, not {sum_bits!r}")
    WS = sum_bits
    W = window_bits(WS)
    N = NORM_BITS
    total = Value.cast(total)
    e_fixed = isinstance(e_s, int)
    e_signed = not e_fixed and Value.cast(e_s).shape().signed
    # the window's LSB exponent T - W over the range of e_s (c's exponent lies in -149..104)
    e_lo, e_hi = _signed_range(e_s)
    c_lo, c_hi = -149 + _SIG_BITS, 104 + _SIG_BITS
    exp_bits = _exp_bits(min(e_lo + WS, c_lo) - W, max(e_hi + WS, c_hi) - W)
    # after normalization the exponent of the N-bit magnitude's LSB is exp + (W + 1 - N) - lz
    norm_exp_bits = _exp_bits(min(e_lo + WS, c_lo) - W - W - 1, max(e_hi + WS, c_hi))

    def step_cut(point, *values):
        if cut is None:
            return values
        out = cut(point, *values)
        return out if isinstance(out, tuple) else (out,)

    def align(sub, total, acc, nan, pinf, ninf, *e_bits):
        """Alignment with c, sticky and the specials: the ``<name>_align`` unit."""
        total = total.as_signed()
        e = e_s if e_fixed else (e_bits[0].as_signed() if e_signed else e_bits[0])
        c = unpack_fp32(acc)
        pinf_all = pinf | (c.inf & ~c.sign)
        ninf_all = ninf | (c.inf & c.sign)
        s_neg = total < 0
        s_mag = Mux(s_neg, -total, total)[:WS]
        t_s = e + WS
        t_c = c.exp + _SIG_BITS
        s_big = (s_mag != 0) & (c.zero | (t_s >= t_c))
        s_al = Cat(Const(0, W - WS), s_mag)  # both W bits wide
        c_al = Cat(Const(0, W - _SIG_BITS), c.sig)
        sign_big = Mux(s_big, s_neg, c.sign)
        dist = Mux(s_big, t_s - t_c, t_c - t_s)
        amt = Mux(dist < 0, 0, Mux(dist > W, W, dist)).as_unsigned()[: W.bit_length()]
        wide = Cat(Const(0, W), Mux(s_big, c_al, s_al)) >> amt
        exp = Signal(signed(exp_bits), name=f"{name}_exp")
        sub.d.comb += exp.eq(Mux(s_big, t_s, t_c) - W)
        return Cat(Mux(s_big, s_al, c_al), wide[W:], wide[:W] != 0, sign_big,
                   sign_big ^ Mux(s_big, c.sign, s_neg), exp,
                   nan | c.nan | (pinf_all & ninf_all), pinf_all | ninf_all, ninf_all)

    operands = [total.as_unsigned(), acc, nan, pinf, ninf]
    if not e_fixed:
        operands.append(Value.cast(e_s).as_unsigned())
    widths = (W, W, 1, 1, 1, exp_bits, 1, 1, 1)
    big, small, sticky, sign_big, sub_, exp, *specials = step_cut("shift", *_fields(
        unit(m, f"{name}_align", align, operands, sum(widths)), widths))

    def add(sub, big, small, sticky, sign_big, sub_):
        """The add, or the subtraction with the sticky borrow: the ``<name>_add`` unit. Three
        two-operand adders side by side (two-operand, so each maps to one fast adder): the sum;
        the difference big - small - sticky, formed as (2 big - (2 small + sticky)) / 2 (sticky
        as a half-LSB of small, the floor division is the borrow); and small - big, the
        magnitude when that difference is negative (then sticky is 0)."""
        d2 = Signal(signed(W + 3), name=f"{name}_diff")
        sub.d.comb += d2.eq(Cat(Const(0, 1), big).as_signed() - Cat(sticky, small).as_signed())
        neg = sub_ & d2[-1]
        mag = Mux(sub_, Mux(d2[-1], (small - big)[:W + 1], d2[1:W + 2]), (big + small)[:W + 1])
        return Cat(mag, sign_big ^ neg)

    big, small = (Cat(v, Const(0, 1)) for v in (big, small))
    mag, sign = _fields(unit(m, f"{name}_add", add, (big, small, sticky, sign_big, sub_),
                             W + 2), (W + 1, 1))
    mag, sticky, sign, exp, *specials = step_cut("align", mag, sticky, sign, exp, *specials)

    def norm(sub, mag, sticky, exp):
        """Normalization to ``NORM_BITS`` bits + sticky: the ``<name>_norm`` unit."""
        lz = Signal(range(W + 2), name=f"{name}_lz")
        sub.d.comb += lz.eq(leading_zeros(mag))
        shifted = (mag << lz)[:W + 1]
        top = shifted[W + 1 - N:]
        n_exp = Signal(signed(norm_exp_bits), name=f"{name}_nexp")
        sub.d.comb += n_exp.eq(exp.as_signed() + (W + 1 - N) - lz)
        return Cat(top, sticky | (shifted[:W + 1 - N] != 0), n_exp)

    widths = (N, 1, norm_exp_bits)
    nmag, sticky, exp = _fields(unit(m, f"{name}_norm", norm,
                                     (mag, sticky, Value.cast(exp).as_unsigned()),
                                     sum(widths)), widths)
    nmag, sticky, sign, exp, *specials = step_cut("norm", nmag, sticky, sign, exp, *specials)

    def round_(sub, mag, sticky, sign, exp, nan_all, inf_all, inf_neg):
        """RNE rounding of the normalized magnitude: the ``<name>_round`` unit."""
        exact_zero = (mag == 0) & ~sticky
        out_sign = Mux(inf_all, inf_neg, sign & ~exact_zero)
        return encode(sub, FP32, out_sign, mag, exp.as_signed(), rounding="rne",
                      overflow="nonsat", sticky=sticky, inf=inf_all & ~nan_all, nan=nan_all,
                      normalized=True, name=f"{name}_round")

    return unit(m, f"{name}_round", round_,
                (nmag, sticky, sign, Value.cast(exp).as_unsigned(), *specials), FP32.width)
