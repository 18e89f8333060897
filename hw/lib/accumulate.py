"""The fused FP32 accumulate step shared by the block-scaled dot products (``mx_dot``,
``bfp_dot``, ``bfp_pe``); the hardware twin of :func:`golden.accumulate.fp32_accumulate`. Their
exact integer sums are :func:`hw.lib.trees.reduce_tree` with :func:`hw.lib.trees.plus`.

``fp32_accumulate`` computes
``RNE_fp32(c + S * 2**e_S)`` for an exact integer ``S`` (|S| < 2**sum_bits) and an FP32
accumulator ``c``, rounded once::

    align S with c + add + sticky  ->  [stage]  ->  normalize + round (FP32 RNE, hw.lib.fp.encode)

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
difference can be negative (an unnormalized S below c's top bound), and then it is negated and
the sign flips.

Rounding. One normalization and RNE rounding to FP32 by the shared encoder (``hw.lib.fp.encode``,
overflow "nonsat" -> ±Inf, gradual underflow). An exactly zero result (magnitude 0, no sticky)
is +0, also for c = -0 plus a zero sum (docs/numerics.md §4; not IEEE 754's -0 + -0 = -0).

Specials. The caller passes its own NaN and ±Inf conditions (``nan``, ``pinf``, ``ninf``); c adds
its own: NaN if ``nan``, c is NaN, or +Inf meets -Inf (canonical NaN 0x7FC00000); otherwise an
Inf gives Inf of its sign.
"""
from amaranth.hdl import Cat, Const, Mux, Signal, Value, signed

from golden.formats import FP32

from .fp import encode, unpack_fp32
from .units import unit

__all__ = ["fp32_accumulate", "cut_points", "window_bits", "GUARD", "EXP_BITS"]

#: window bits beyond the sum's width (see the module docstring for why 25)
GUARD = 25
#: least width of the aligned exponent (wider when ``e_s``'s range needs it)
EXP_BITS = 12
_SIG_BITS = FP32.mbits + 1


def window_bits(sum_bits):
    """Width W of the alignment window (and of the magnitude handed to the encoder is W + 1)."""
    return sum_bits + GUARD


def cut_points(n_terms):
    """Register positions of a products -> tree -> accumulate datapath over ``n_terms`` lanes,
    in the order a ``stages`` parameter takes them (``stages = n`` uses the first n).

    ``"sum"`` after the adder tree, ``"mul"`` after the products, ``"align"`` after the
    alignment with the accumulator (``fp32_accumulate``'s ``stage``), ``"out"`` after rounding,
    then ``"tree2"``, ``"tree4"``, ... inside the tree (every two levels).
    """
    levels = (n_terms - 1).bit_length()
    cuts = (["sum"] if levels else []) + ["mul", "align", "out"]
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


def fp32_accumulate(m, total, sum_bits, e_s, acc, *, nan, pinf, ninf, stage=None, name="acc"):
    """``RNE_fp32(acc + total * 2**e_s)``, rounded once (rules in the module docstring).

    Parameters
    ----------
    m : Module
        The step is two submodules of ``m`` (``hw.lib.units.unit``): ``<name>_align`` (the
        alignment with c, the add, sticky and the specials) and ``<name>_round`` (the one
        normalization and rounding); the pipeline cut ``stage`` lies between them. Their
        areas are the "align" and "round" rows of docs/cost.md's breakdown.
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
    stage : callable, optional
        ``stage(*values)`` returns registered copies: the pipeline cut between the alignment/add
        and the normalization + rounding (7 values: the W + 1 bit magnitude, sticky, sign, the
        exponent (at least EXP_BITS bits) and 3 special flags). None: no register.
    name : str
        Prefix of the signal names.

    Returns
    -------
    Value, 32 bits
        The FP32 result bits (canonical NaN 0x7FC00000; an exact zero is +0).
    """
    if isinstance(sum_bits, bool) or not isinstance(sum_bits, int) or sum_bits < 1:
        raise ValueError(f"sum_bits must be a positive integer, not {sum_bits!r}")
    WS = sum_bits
    W = window_bits(WS)
    total = Value.cast(total)
    e_fixed = isinstance(e_s, int)
    e_signed = not e_fixed and Value.cast(e_s).shape().signed
    # the window's LSB exponent T - W over the range of e_s (c's exponent lies in -149..104)
    e_lo, e_hi = _signed_range(e_s)
    c_lo, c_hi = -149 + _SIG_BITS, 104 + _SIG_BITS
    exp_bits = _exp_bits(min(e_lo + WS, c_lo) - W, max(e_hi + WS, c_hi) - W)

    def align(sub, total, acc, nan, pinf, ninf, *e_bits):
        """Alignment with c, add, sticky and the specials: the ``<name>_align`` unit."""
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
        s_al = s_mag << (W - WS)
        c_al = c.sig << (W - _SIG_BITS)
        big = Mux(s_big, s_al, c_al)
        small = Mux(s_big, c_al, s_al)
        sign_big = Mux(s_big, s_neg, c.sign)
        sign_small = Mux(s_big, c.sign, s_neg)
        dist = Mux(s_big, t_s - t_c, t_c - t_s)
        amt = Mux(dist < 0, 0, Mux(dist > W, W, dist)).as_unsigned()[: W.bit_length()]
        wide = Cat(Const(0, W), small) >> amt
        small_w = wide[W:]
        sub_ = sign_big ^ sign_small
        mag = Signal(W + 1, name=f"{name}_mag")
        sign = Signal(name=f"{name}_sign")
        sticky = Signal(name=f"{name}_sticky")
        exp = Signal(signed(exp_bits), name=f"{name}_exp")
        nan_all = Signal(name=f"{name}_nan")
        inf_all = Signal(name=f"{name}_inf")
        inf_neg = Signal(name=f"{name}_inf_neg")
        diff = (Cat(big, Const(0, 1)).as_signed() - Cat(small_w, Const(0, 1)).as_signed()
                - (wide[:W] != 0))
        sub.d.comb += [
            sticky.eq(wide[:W] != 0),
            mag.eq(Mux(sub_, Mux(diff < 0, -diff, diff), big + small_w)),
            sign.eq(sign_big ^ (sub_ & (diff < 0))),
            exp.eq(Mux(s_big, t_s, t_c) - W),
            nan_all.eq(nan | c.nan | (pinf_all & ninf_all)),
            inf_all.eq(pinf_all | ninf_all),
            inf_neg.eq(ninf_all),
        ]
        return Cat(mag, sticky, sign, exp, nan_all, inf_all, inf_neg)

    operands = [total.as_unsigned(), acc, nan, pinf, ninf]
    if not e_fixed:
        operands.append(Value.cast(e_s).as_unsigned())
    packed = unit(m, f"{name}_align", align, operands, W + 3 + exp_bits + 3)
    mag, sticky, sign = packed[: W + 1], packed[W + 1], packed[W + 2]
    exp = packed[W + 3: W + 3 + exp_bits]
    nan_all, inf_all, inf_neg = (packed[W + 3 + exp_bits + j] for j in range(3))
    if stage is not None:
        mag, sticky, sign, exp, nan_all, inf_all, inf_neg = stage(
            mag, sticky, sign, exp, nan_all, inf_all, inf_neg)

    def round_(sub, mag, sticky, sign, exp, nan_all, inf_all, inf_neg):
        """One normalization and RNE rounding: the ``<name>_round`` unit."""
        exact_zero = (mag == 0) & ~sticky
        out_sign = Mux(inf_all, inf_neg, sign & ~exact_zero)
        return encode(sub, FP32, out_sign, mag, exp.as_signed(), rounding="rne",
                      overflow="nonsat", sticky=sticky, inf=inf_all & ~nan_all, nan=nan_all,
                      name=f"{name}_round")

    return unit(m, f"{name}_round", round_,
                (mag, sticky, sign, Value.cast(exp).as_unsigned(), nan_all, inf_all, inf_neg),
                FP32.width)
