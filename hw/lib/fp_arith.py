"""Floating-point arithmetic units: a multiplier and an adder.

Both are combinational and return the result code as an Amaranth Value; the caller decides where
pipeline registers go. The formats are ``golden.formats`` descriptors (any ``FloatFormat``:
"ieee", "fn" or "none" specials, with or without subnormals), so the same units serve FP32, BF16,
FP16 and the small formats.

Rounding. The adder, and the multiplier when the exact product fits the output significand
(BF16 x BF16 -> FP32), are textbook datapaths: they normalize their exact result themselves (the
adder with a leading-zero count over its P + 3 bit sum; the multiplier normalizes subnormal
operands, then the product by at most one bit, or right-shifts it into a subnormal) and round it
once in :func:`hw.lib.fp.round_normalized`, the rounding step of :func:`hw.lib.fp.encode` for a
significand that is already normalized: round bit, sticky, a 0/1 increment of the truncated code
(the mantissa carry ripples into the exponent), overflow judged after rounding, the special codes.
They do not call ``encode`` because its generality is its cost: it normalizes any magnitude again,
with a leading-zero count and a left shift in a window about three times the magnitude's width (78
bits for the adder's 27-bit sum). Measured on the FP32 adder alone (``synth.flow``, OSU 0.18):
11,996 transistors, depth 154, 12.3 ns with ``encode`` rounding the normalized sum; 10,556, 145,
11.7 ns with ``round_normalized``; the former adder, which left all normalization to ``encode``:
13,094, 193, 14.9 ns. The other multiplier combinations (a product wider than the output
significand) still hand the exact product to ``encode``. Either way the rules are docs/numerics.md
§2, and ``tests/hw/test_fp_arith`` checks both units against NumPy float32 arithmetic and
``golden.formats.add``/``mul``, exhaustively for 8-bit formats of every kind of specials and
subnormal handling.

Semantics (IEEE 754 where the format has the codes): the exact result rounded once; NaN if an
operand is NaN, for 0 x Inf and for Inf - Inf (the canonical NaN of the output format); Inf of
its sign if an operand is Inf; an exactly zero sum is +0 unless both operands are -0 (IEEE 754
§6.3 for every rounding mode here), a zero product has the sign sa ^ sb.
"""
from amaranth.hdl import Cat, Const, Mux, Signal, Value
from amaranth.lib import data

from golden.checks import check_choice
from golden.formats import OVERFLOWS, PLAIN_ROUNDINGS, get_format

from .fp import biased_exponent, decode_element, encode, leading_zeros, round_normalized
from .units import named

__all__ = ["mul", "add", "add_front", "add_back", "add_layout", "GUARD"]

#: bits the adder keeps below the larger operand's LSB (see :func:`add` for why 2 is the least)
GUARD = 2



def _float_format(name, fmt):
    f = get_format(fmt)
    if f.kind != "float":
        raise ValueError(f"{name} must be a float format, not {f.name}")
    return f




def _operand(m, fmt, code, name, zero_special=True):
    """``decode_element`` into named signals, with the Inf/NaN flags as 1-bit Values and, with
    ``zero_special``, the significand of an Inf/NaN code zeroed (its exponent field would read as
    a huge number; datapaths whose result the special code overrides anyway skip that)."""
    sign, sig, exp, inf, nan = decode_element(code, fmt)
    inf, nan = (Const(v, 1) if isinstance(v, int) else named(m, v, f"{name}_{what}")
                for v, what in ((inf, "inf"), (nan, "nan")))
    if fmt.specials != "none" and zero_special:
        sig = Mux(inf | nan, 0, sig)
    return sign, named(m, sig, f"{name}_sig"), named(m, exp, f"{name}_exp"), inf, nan


def _check_modes(rounding, overflow):
    check_choice("rounding", rounding, PLAIN_ROUNDINGS)
    check_choice("overflow", overflow, OVERFLOWS)


def mul(m, fmt_a, a, fmt_b, b, out_fmt, *, rounding="rne", overflow="nonsat", name="mul"):
    """Code of ``round(a * b)`` in ``out_fmt``, for codes ``a`` of ``fmt_a`` and ``b`` of ``fmt_b``.

    Parameters
    ----------
    m : Module
        Receives the named intermediate signals ``<name>_...``.
    fmt_a, fmt_b, out_fmt : FloatFormat or name
    a, b : Value
        Operand codes.
    rounding : {"rne", "rna", "rtz"}
    overflow : {"saturate", "nonsat"}
        "nonsat" (the default, IEEE): a product above max finite becomes ±Inf.
    name : str

    Returns
    -------
    Value of ``out_fmt.width`` bits.

    Exactness: with a = (-1)**sa * ga * 2**ea and b likewise (``decode_element``: integer
    significands, hidden bit included, 0 for zeros), the product is exactly
    (-1)**(sa ^ sb) * (ga * gb) * 2**(ea + eb), and the integer product is formed at full width
    (``sig_bits_a + sig_bits_b`` bits, 16 for BF16 x BF16).

    Datapath when that product fits the output significand (``sig_bits_a + sig_bits_b <=
    out_fmt.sig_bits``; BF16 x BF16 -> FP32 and other small-into-wide cases): a subnormal operand
    is first normalized (its leading one shifted to the top, its exponent lowered by the count;
    an operand-wide count, e.g. 8 bits for BF16, instead of a product-wide one), so the product's
    leading one is at bit n - 1 or n - 2 (n = its width). With E_top the output's biased exponent
    of bit n - 1: for E_top >= 1 the result is exact, a one-bit left shift makes it normal (or,
    at E_top = 1, leaves a subnormal), and nothing rounds; for E_top <= 0 it lies below 2**emin
    and shifts right by 1 - E_top (clamped) into the output's subnormal significand, the bits
    shifted out forming sticky, and :func:`hw.lib.fp.round_normalized` rounds it (gradual underflow,
    or 0 / the smallest normal in a format without subnormals). Overflow (±Inf with "nonsat") is
    judged there too. Otherwise the exact product goes to :func:`hw.lib.fp.encode`, which rounds it
    once (no sticky needed).

    Raises
    ------
    ValueError
        A non-float format, a rounding other than rne/rna/rtz, a bad overflow, or NaN-capable
        inputs with an output format that has no NaN.
    """
    fa, fb = _float_format("fmt_a", fmt_a), _float_format("fmt_b", fmt_b)
    fo = _float_format("out_fmt", out_fmt)
    _check_modes(rounding, overflow)
    a, b = Value.cast(a), Value.cast(b)
    # the exact product fits the output significand (BF16 x BF16 -> FP32): see "Datapath"
    fast = fa.sig_bits + fb.sig_bits <= fo.sig_bits
    sa, ga, ea, ia, na = _operand(m, fa, a, f"{name}_a", zero_special=not fast)
    sb, gb, eb, ib, nb = _operand(m, fb, b, f"{name}_b", zero_special=not fast)
    zero_a = (ga == 0) & ~ia & ~na
    zero_b = (gb == 0) & ~ib & ~nb
    specials = fa.specials != "none" or fb.specials != "none"
    nan = (na | nb | (ia & zero_b) | (zero_a & ib)) if specials else 0
    if specials and not fo.has_nan:
        raise ValueError(f"out_fmt {fo.name} has no NaN for the NaN and 0 x Inf results of "
                         f"{fa.name} x {fb.name}")
    if not fast:
        mag = named(m, ga * gb, f"{name}_mag")
        exp = named(m, ea + eb, f"{name}_exp")
        return encode(m, fo, sa ^ sb, mag, exp, rounding=rounding, overflow=overflow,
                      inf=ia | ib, nan=nan, name=f"{name}_round")

    def normalized(f, code, g, what):
        """Significand shifted to put its leading one at the top, and its biased exponent."""
        lz = named(m, leading_zeros(g), f"{name}_{what}_lz")
        return (named(m, (g << lz)[: len(g)], f"{name}_{what}_norm"),
                biased_exponent(f, code) - lz)

    P = fo.sig_bits
    ga_n, ea_n = normalized(fa, a, ga, "a")
    gb_n, eb_n = normalized(fb, b, gb, "b")
    mag = named(m, ga_n * gb_n, f"{name}_mag")  # leading one at n - 1 or n - 2, or 0
    n = len(mag)
    # biased output exponent of mag's bit n - 1
    e_top = named(m, ea_n + eb_n + (1 + fo.bias - fa.bias - fb.bias), f"{name}_etop")
    # E_top >= 1: normal (a one-bit left shift when bit n - 1 is 0 and E_top >= 2), or
    # subnormal with E_top = 1; exact
    s1 = ~mag[n - 1] & (e_top > 1)
    left = Cat(Const(0, P + 1 - n), Mux(s1, mag << 1, mag)[:n])
    # E_top <= 0: below 2**emin, right shift by 1 - E_top (clamped), with sticky
    r = named(m, Mux(e_top < -P, P + 1, 1 - e_top).as_unsigned()[: (P + 1).bit_length()],
               f"{name}_rshift")
    right = Cat(Const(0, P + 1 - n), mag) >> r
    lost = Cat(*(mag[i] & (r > i + P + 1 - n) for i in range(n))) != 0
    tiny = e_top < 1
    norm = named(m, Mux(tiny, right, left), f"{name}_norm")
    return round_normalized(m, fo, sa ^ sb, norm, (e_top - s1).as_unsigned(), tiny & lost,
                       rounding=rounding, overflow=overflow, inf=ia | ib, nan=nan,
                       name=f"{name}_round")


def add(m, fmt, a, b, *, rounding="rne", overflow="nonsat", name="add"):
    """Code of ``round(a + b)`` for two codes ``a``, ``b`` of the float format ``fmt``.

    Parameters
    ----------
    m : Module
        Receives the named intermediate signals ``<name>_...``.
    fmt : FloatFormat or name
    a, b : Value
        Operand codes.
    rounding : {"rne", "rna", "rtz"}
    overflow : {"saturate", "nonsat"}
        "nonsat" (the default, IEEE): a sum above max finite becomes ±Inf.
    name : str

    Returns
    -------
    Value of ``fmt.width`` bits.

    Notes
    -----
    Datapath (single path, as a textbook FP adder). Decode both operands to integer
    significands g (P = ``fmt.sig_bits`` bits) and biased exponents E = max(field, 1).

    1. Order: "big" is the operand with the larger code magnitude (codes are monotonic in
       magnitude, so |big| >= |small| and d = E_big - E_small >= 0; the two exponent
       differences are formed beside the comparison). Ordering by the exponents alone shortens
       the path (with equal exponents nothing shifts, and the magnitude comparison need only
       pick the unshifted operand to subtract: depth 128 instead of 145 alone), but chained in
       the bf16_dot tree it made OpenSTA's propagated switching activity, and so its power
       figure, 2.4x that of this form on a three-level tree, which the depth does not repay.
    2. Align: small goes right by min(d, W) into a window of W = P + G bits whose LSB has the
       exponent of big's LSB minus G (G = ``GUARD``); its bits below the window are ORed into
       ``sticky`` (a mask from d, beside the shifter).
    3. Add big + small, or subtract big - small - sticky, in one (W + 1)-bit adder (~small and a
       carry-in).
    4. Normalize: shift left by s = min(lz, E_big) (lz counted over the W + 1 bits; a one ORed
       in at bit W - E_big makes the count stop there), which puts the leading one at bit W with
       biased exponent E_big + 1 - s, a carry out of the adder included (s = 0), or stops at
       E = 1 with the leading one lower: a subnormal result, or zero. No bit is shifted out:
       s >= 2 only when d <= 1 (below), where the window holds the exact difference.
    5. Round: the top P bits are the significand, the next one the round bit, the G bits below
       it and ``sticky`` make the sticky bit; :func:`hw.lib.fp.round_normalized` rounds and packs.

    Why this is exact. If no bit was lost (d <= G, or the lost bits are 0), the window holds the
    exact magnitude. Otherwise d > G and small < 2**(e_small + P) <= 2**(e_big + P - G - 1)
    (e: LSB exponents), and big is normal (a subnormal big has the smallest exponent, so d = 0),
    big >= 2**(e_big + P - 1):

    - Addition: the exact value is (mag + f) * 2**(e_big - G), f in (0, 1): what sticky means.
    - Subtraction (borrow): the exact magnitude is big - (small_window + f) =
      (big - small_window - 1) + (1 - f), so the window difference is decremented by one and
      sticky stays set (delta = 1 - f, again in (0, 1)). It is positive: big >= 2**(P - 1 + G)
      window LSBs, small_window < 2**(P - 1).

    Sticky is exact when the window has a bit below the result's rounding position q (its LSB
    exponent), i.e. the round bit is a window bit. In both cases the exact result exceeds
    big - small > 2**(e_big + P - 1) - 2**(e_big + P - G - 1) >= 2**(e_big + P - 2) for G >= 1,
    so its leading one is at e_big + P - 2 or above (s <= 2) and q >= e_big + P - 2 - (P - 1) =
    e_big - 1. The window's LSB e_big - G is below q iff G >= 2, hence ``GUARD = 2``. With G = 1
    the bound is tight: 1.0 - tiny leaves the window 2**P - 1 at exponent e_big - 1 = q, no
    round bit is left, and the result truncates to 1 - 2**-P instead of rounding to 1.0
    (``tests/hw/test_fp_arith`` shows G = 1 failing). mag is never 0 with sticky set (it exceeds
    2**(P + G - 2)), so the leading-one position is that of the exact value.

    Specials: NaN if an operand is NaN or +Inf meets -Inf, else Inf with the sign of the Inf
    operand. An exact zero sum (mag = 0, which implies sticky = 0) has sign sa & sb: +0 for
    x + (-x) and for +0 + -0, -0 only for -0 + -0 (IEEE 754 §6.3; the rounding modes here
    never round toward -Inf). A nonzero sum that underflows keeps its sign.

    Raises
    ------
    ValueError
        A non-float format, a rounding other than rne/rna/rtz, or a bad overflow.
    """
    _check_modes(rounding, overflow)
    return add_back(m, fmt, add_front(m, fmt, a, b, name=name), rounding=rounding,
                    overflow=overflow, name=name)


def add_layout(fmt):
    """The adder's state between its two parts (:func:`add_front`, :func:`add_back`): what a
    register cut inside the adder holds, after the significand addition (steps 1-3 of
    :func:`add`) and before normalization and rounding (4-5). ``mag``: the (W + 1)-bit sum or
    difference; ``e_big``: the larger operand's biased exponent; ``sticky``; ``s_big``: the
    larger operand's sign; ``zero_sign``: the sign of an exact zero (sa & sb); ``inf``,
    ``inf_sign``, ``nan``: the specials. 2 + P + G + ebits + 6 bits (41 for FP32)."""
    f = _float_format("fmt", fmt)
    return data.StructLayout({
        "mag": f.sig_bits + GUARD + 1, "e_big": f.ebits, "sticky": 1, "s_big": 1,
        "zero_sign": 1, "inf": 1, "inf_sign": 1, "nan": 1})


def add_front(m, fmt, a, b, *, name="add"):
    """Steps 1-3 of :func:`add` (order, align, add): a Value of :func:`add_layout`."""
    f = _float_format("fmt", fmt)
    a, b = Value.cast(a), Value.cast(b)
    P, G = f.sig_bits, GUARD
    W = P + G
    sa, ga, _, ia, na = _operand(m, f, a, f"{name}_a")
    sb, gb, _, ib, nb = _operand(m, f, b, f"{name}_b")
    ea = named(m, biased_exponent(f, a), f"{name}_a_e")
    eb = named(m, biased_exponent(f, b), f"{name}_b_e")

    # (1) order by magnitude: codes are monotonic in it, so |big| >= |small|
    a_big = named(m, a[:-1] >= b[:-1], f"{name}_a_big")
    s_big = Mux(a_big, sa, sb)
    g_big = named(m, Mux(a_big, ga, gb), f"{name}_sig_big")
    g_small = named(m, Mux(a_big, gb, ga), f"{name}_sig_small")
    e_big = named(m, Mux(a_big, ea, eb), f"{name}_exp_big")
    d = named(m, Mux(a_big, ea - eb, eb - ea)[: f.ebits], f"{name}_diff")  # >= 0
    # (2) align small to the window of W bits (LSB at big's LSB - G); sticky: its bits below
    amt = named(m, Mux(d > W, W, d)[: W.bit_length()], f"{name}_shift")
    small_w = named(m, Cat(Const(0, G), g_small) >> amt, f"{name}_small_al")
    sticky = named(m, Cat(*(g_small[i] & (d > i + G) for i in range(P))) != 0,
                    f"{name}_sticky")
    # (3) big + small, or big - small - sticky: one adder, ~small and a carry-in for "-"
    sub = sa ^ sb
    sx = Cat(small_w, Const(0, 1)) ^ sub.replicate(W + 1)
    cin = sub & ~sticky
    mag = named(m, (Cat(cin, Const(0, G), g_big, Const(0, 1)) + Cat(Const(1, 1), sx))[1: W + 2],
                 f"{name}_mag")
    nan = (na | nb | (ia & ib & (sa ^ sb))) if f.has_nan else 0
    mid = Signal(add_layout(f), name=f"{name}_mid")
    m.d.comb += [mid.mag.eq(mag), mid.e_big.eq(e_big), mid.sticky.eq(sticky),
                 mid.s_big.eq(s_big), mid.zero_sign.eq(sa & sb), mid.inf.eq(ia | ib),
                 mid.inf_sign.eq(Mux(ia, sa, sb)), mid.nan.eq(nan)]
    return mid.as_value()


def add_back(m, fmt, mid, *, rounding="rne", overflow="nonsat", name="add"):
    """Steps 4-5 of :func:`add` (normalize, round) on ``mid``, a Value of :func:`add_layout`:
    the result code."""
    f = _float_format("fmt", fmt)
    _check_modes(rounding, overflow)
    W, G = f.sig_bits + GUARD, GUARD
    mid = data.View(add_layout(f), Value.cast(mid))
    mag, e_big = mid.mag, mid.e_big
    # (4) normalize: left by min(lz, e_big) puts the leading one at W (exponent e_big + 1 - s),
    # or stops at exponent emin (E = 1): a subnormal result. A one ORed in at W - e_big makes
    # the count stop there; no bit is lost (s >= 2 only when d <= 1, an exact difference).
    limit = Cat(*(e_big == W - j for j in range(W + 1)))
    s = named(m, leading_zeros(named(m, mag | limit, f"{name}_lz_in")), f"{name}_lz")
    norm = named(m, (mag << s)[: W + 1], f"{name}_norm")
    e_res = (e_big + 1 - s).as_unsigned()[: f.ebits + 1]
    sign = Mux(mid.inf, mid.inf_sign, Mux(mag == 0, mid.zero_sign, mid.s_big))
    # (5) round (guard bits below the round bit join sticky), pack, overflow, specials
    return round_normalized(m, f, sign, norm[G:], e_res, (norm[:G] != 0) | mid.sticky,
                            rounding=rounding, overflow=overflow, inf=mid.inf, nan=mid.nan,
                            name=f"{name}_round")
