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
significand, FP32 x FP32) are two parts, :func:`mul_front` (the significand product, and beside
it the shift amounts and sticky from the operands' leading and trailing zero counts) and
:func:`mul_back` (one normalizing shift, :func:`hw.lib.fp.round_normalized`), with
:func:`mul_layout` the register a cut between them holds, as the adder's
:func:`add_front`/:func:`add_back`. FP32 in OSU 0.18 between registers: 12.9 ns whole (15.6 ns
when the product went to ``encode``), 7.5 ns front (the 24 x 24 product alone: 6.8 ns), 5.8 ns
back. The rules are docs/numerics.md §2, and ``tests/hw/test_fp_arith`` checks both units
against NumPy float32 arithmetic and ``golden.formats.add``/``mul``, exhaustively for 8-bit
formats of every kind of specials and subnormal handling.

Semantics (IEEE 754 where the format has the codes): the exact result rounded once; NaN if an
operand is NaN, for 0 x Inf and for Inf - Inf (the canonical NaN of the output format); Inf of
its sign if an operand is Inf; an exactly zero sum is +0 unless both operands are -0 (IEEE 754
§6.3 for every rounding mode here), a zero product has the sign sa ^ sb.
"""
from amaranth.hdl import Cat, Const, Mux, Signal, Value
from amaranth.lib import data

from golden.checks import check_choice
from golden.formats import OVERFLOWS, PLAIN_ROUNDINGS, get_format

from .fp import (biased_exponent, decode_element, leading_zeros, round_normalized)
from .units import named

__all__ = ["mul", "mul_front", "mul_back", "mul_layout", "add", "add_front", "add_back",
           "add_layout", "trailing_zeros", "GUARD"]

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
    judged there too. Otherwise the result is ``mul_back(mul_front(...))`` (see
    :func:`mul_front`), a datapath that also serves the formats above when split by a register.

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
    if not fast:
        return mul_back(m, fa, fb, fo, mul_front(m, fa, a, fb, b, fo, name=name),
                        rounding=rounding, overflow=overflow, name=name)
    sa, ga, ea, ia, na = _operand(m, fa, a, f"{name}_a", zero_special=False)
    sb, gb, eb, ib, nb = _operand(m, fb, b, f"{name}_b", zero_special=False)
    nan = _mul_nan(fa, fb, fo, ga, ia, na, gb, ib, nb)

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


def _mul_nan(fa, fb, fo, ga, ia, na, gb, ib, nb):
    """The multiplier's NaN flag (a NaN operand, 0 x Inf); checks that ``fo`` has a NaN."""
    if fa.specials == "none" and fb.specials == "none":
        return 0
    if not fo.has_nan:
        raise ValueError(f"out_fmt {fo.name} has no NaN for the NaN and 0 x Inf results of "
                         f"{fa.name} x {fb.name}")
    zero_a = (ga == 0) & ~ia & ~na
    zero_b = (gb == 0) & ~ib & ~nb
    return na | nb | (ia & zero_b) | (zero_a & ib)


def trailing_zeros(value):
    """Count of trailing zero bits of ``value`` (``len(value)`` when it is zero)."""
    value = Value.cast(value)
    return leading_zeros(Cat(*(value[i] for i in reversed(range(len(value))))))


def _mul_widths(fa, fb, fo):
    """n (product bits), w (window bits: the product, zero-padded below to at least P + 1),
    the exponent field's width and the constant C of E' = Ea + Eb + C (:func:`mul_front`)."""
    n = fa.sig_bits + fb.sig_bits
    P = fo.sig_bits
    c = 1 + fo.bias - fa.bias - fb.bias
    e_max = max((1 << fa.ebits) - 1 + (1 << fb.ebits) - 1 + c, 1)
    return n, max(n, P + 1), e_max.bit_length(), c


def mul_layout(fmt_a, fmt_b, out_fmt):
    """The multiplier's state between its two parts (:func:`mul_front`, :func:`mul_back`): what
    a register cut inside it holds, after the significand product and before its normalizing
    shift and rounding. ``mag``: the exact product of the integer significands
    (``sig_bits_a + sig_bits_b`` bits, not normalized); ``tiny``: the result lies below
    2**emin (a right shift); ``shift``: the shift amount; ``e_top``: the output's biased
    exponent of the window's top bit after that shift (>= 1 unless ``tiny``); ``may_norm``: a
    one-bit left fix-up shift is allowed (``e_top`` > 1, not ``tiny``); ``sticky0``/``sticky1``:
    sticky without / with that fix-up; ``sign``, ``inf``, ``nan``. 70 bits for FP32."""
    fa, fb = _float_format("fmt_a", fmt_a), _float_format("fmt_b", fmt_b)
    fo = _float_format("out_fmt", out_fmt)
    n, w, ew, _ = _mul_widths(fa, fb, fo)
    return data.StructLayout({
        "mag": n, "tiny": 1, "shift": max(n, fo.sig_bits + 1).bit_length(), "e_top": ew,
        "may_norm": 1, "sticky0": 1, "sticky1": 1, "sign": 1, "inf": 1, "nan": 1})


def mul_front(m, fmt_a, a, fmt_b, b, out_fmt, *, name="mul"):
    """The first part of the multiplier (:func:`mul`'s datapath for a product wider than the
    output significand; any float formats): the significand product, and beside it everything
    the normalization needs, so that :func:`mul_back` is a shift and the rounding. A Value of
    :func:`mul_layout`.

    With E the operands' biased exponents (max(field, 1)) and lz their significands' leading
    zero counts, the product ``mag`` = ga * gb has its leading one at bit n - 1 - lz or one
    below (lz = lz_a + lz_b), and E' = E_a + E_b + 1 + bias_out - bias_a - bias_b is the
    output's biased exponent of its bit n - 1. For E' >= 1 it shifts left by k = min(lz,
    E' - 1): the leading one reaches bit n - 1 (or n - 2, which the back's one-bit fix-up
    shifts when the exponent allows), or the shift stops at the exponent E = 1, a subnormal
    result. For E' <= 0 it lies below 2**emin and shifts right by 1 - E' (clamped at P + 1:
    beyond, every bit is below the round bit). The bits below the round bit make sticky; as
    trailing zeros of a product are those of its factors, sticky is formed here from
    tz_a + tz_b and the shift, for both outcomes of the fix-up, instead of ORing the shifted
    value's low bits in the back."""
    fa, fb = _float_format("fmt_a", fmt_a), _float_format("fmt_b", fmt_b)
    fo = _float_format("out_fmt", out_fmt)
    a, b = Value.cast(a), Value.cast(b)
    P = fo.sig_bits
    n, w, ew, c = _mul_widths(fa, fb, fo)
    sa, ga, _, ia, na = _operand(m, fa, a, f"{name}_a")
    sb, gb, _, ib, nb = _operand(m, fb, b, f"{name}_b")
    nan = _mul_nan(fa, fb, fo, ga, ia, na, gb, ib, nb)
    mag = named(m, ga * gb, f"{name}_mag")
    lz = named(m, leading_zeros(ga) + leading_zeros(gb), f"{name}_lz")
    tz = named(m, trailing_zeros(ga) + trailing_zeros(gb), f"{name}_tz")
    esum = biased_exponent(fa, a) + biased_exponent(fb, b)
    e1 = named(m, Cat(esum, Const(0, 1)).as_signed() + c, f"{name}_e")  # E', signed
    tiny = e1 < 1
    k = Mux(lz < e1 - 1, lz, e1 - 1)
    r = Mux(e1 < -P, P + 1, 1 - e1)
    # sticky: a set bit of mag below n - 1 - P - K after a total left shift K (signed)
    thr = named(m, (n - 1 - P) - Mux(tiny, -r, k), f"{name}_thr")
    nonzero = (ga != 0) & (gb != 0)
    e_top = e1 - k
    mid = Signal(mul_layout(fa, fb, fo), name=f"{name}_mid")
    m.d.comb += [mid.mag.eq(mag), mid.tiny.eq(tiny), mid.shift.eq(Mux(tiny, r, k)),
                 mid.e_top.eq(e_top), mid.may_norm.eq(~tiny & (e_top > 1)),
                 mid.sticky0.eq(nonzero & (tz < thr)), mid.sticky1.eq(nonzero & (tz + 1 < thr)),
                 mid.sign.eq(sa ^ sb), mid.inf.eq(ia | ib), mid.nan.eq(nan)]
    return mid.as_value()


def mul_back(m, fmt_a, fmt_b, out_fmt, mid, *, rounding="rne", overflow="nonsat", name="mul"):
    """The second part of the multiplier on ``mid``, a Value of :func:`mul_layout` (its
    formats): the normalizing shift, the one-bit fix-up and :func:`hw.lib.fp.round_normalized`.
    Returns the result code."""
    fa, fb = _float_format("fmt_a", fmt_a), _float_format("fmt_b", fmt_b)
    fo = _float_format("out_fmt", out_fmt)
    _check_modes(rounding, overflow)
    P = fo.sig_bits
    n, w, ew, _ = _mul_widths(fa, fb, fo)
    mid = data.View(mul_layout(fa, fb, fo), Value.cast(mid))
    win = Cat(Const(0, w - n), mid.mag)
    x = named(m, Mux(mid.tiny, win >> mid.shift, (win << mid.shift)[:w]), f"{name}_shifted")
    s1 = ~x[w - 1] & mid.may_norm
    norm = named(m, Mux(s1, x << 1, x)[w - 1 - P: w], f"{name}_norm")
    e_res = Mux(s1, mid.e_top - 1, mid.e_top)[:ew]
    sticky = Mux(s1, mid.sticky1, mid.sticky0)
    return round_normalized(m, fo, mid.sign, norm, e_res, sticky, rounding=rounding,
                            overflow=overflow, inf=mid.inf, nan=mid.nan, name=f"{name}_round")


def add(m, fmt, a, b, *, rounding="rne", overflow="nonsat", structure="single", name="add"):
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
    structure : {"single", "dual"}
        The datapath; both give the same bits for every input. "single" (the default): the
        single-path adder below, also available as two parts (:func:`add_front`,
        :func:`add_back`) for a register cut inside it. "dual": the near/far dual-path adder
        (:func:`_add_dual`), shorter but larger, for a loop-carried add that cannot be cut
        (a running accumulator): FP32 9.8 ns alone against 11.1 in OSU 0.18 um. No catalogue
        block uses it yet: its gate-level prefix adders simulate slowly in Amaranth and Icarus
        (hw/rangebn.py says why bn_fwd keeps the single path).
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
    check_choice("structure", structure, ("single", "dual"))
    if structure == "dual":
        return _add_dual(m, fmt, a, b, rounding=rounding, overflow=overflow, name=name)
    return add_back(m, fmt, add_front(m, fmt, a, b, name=name), rounding=rounding,
                    overflow=overflow, name=name)


def _fast_add(m, x, y, cin=0, name="fast_add"):
    """``x + y + cin`` (unsigned, one bit wider than the wider operand) as a Kogge-Stone
    parallel-prefix adder written out in gates, so that the synthesis keeps its log depth (a
    ``+`` maps to a ripple-like carry chain). For :func:`_add_dual`'s paths and rounding.

    Each prefix level is held in combinational signals of ``m`` (``<name>_g<d>``,
    ``<name>_p<d>``): a level reads the previous one twice per bit, so without them the
    emitted expression of the last level repeats every earlier one (the FP32 dual-path
    adder's Verilog was 3.9 MB, its Verilator build over a minute)."""
    x, y = Value.cast(x), Value.cast(y)
    n = max(len(x), len(y))
    x, y = x.as_unsigned(), y.as_unsigned()
    xs = [x[i] if i < len(x) else Const(0, 1) for i in range(n)]
    ys = [y[i] if i < len(y) else Const(0, 1) for i in range(n)]
    p = named(m, Cat(*(xi ^ yi for xi, yi in zip(xs, ys))), f"{name}_p")
    # position 0 is the carry-in; positions 1..n the bits
    g = [Value.cast(cin)[0] if not isinstance(cin, int) else Const(cin, 1)] + \
        [xi & yi for xi, yi in zip(xs, ys)]
    q = [Const(0, 1)] + [p[i] for i in range(n)]
    d = 1
    while d < n + 1:
        gs = named(m, Cat(*(g[i] | (q[i] & g[i - d]) if i >= d else g[i]
                            for i in range(n + 1))), f"{name}_g{d}")
        qs = named(m, Cat(*(q[i] & q[i - d] if i >= d else q[i] for i in range(n + 1))),
                   f"{name}_q{d}")
        g, q = [gs[i] for i in range(n + 1)], [qs[i] for i in range(n + 1)]
        d *= 2
    # g[i]: carry out of bit i - 1 (into bit i)
    return Cat(*(p[i] ^ g[i] for i in range(n)), g[n])


def _add_dual(m, fmt, a, b, *, rounding, overflow, name):
    """``add(..., structure="dual")``: the classic near/far dual-path adder, bit-identical to
    the single path (same window of W = P + G bits, same normalized significand, exponent and
    sticky into :func:`hw.lib.fp.round_normalized`), with the single path's serial
    align -> add -> leading-zero count -> normalize split into two shorter paths computed side
    by side and selected before the rounding.

    - Far path (an effective addition, or an exponent difference d >= 2): the operands are
      ordered by their exponents alone (with equal exponents the sum is symmetric), small is
      aligned and the window sum formed as in :func:`add_front` (steps 2-3, sticky included).
      Its leading one is then at bit W, W - 1 or (a subtraction with d >= 2: the exact result
      exceeds 2**(W - 2) window LSBs, see :func:`add`) W - 2, or the larger operand is
      subnormal (E = 1, an addition): the normalizing shift min(lz, E_big) is 0, 1 or 2, read
      off the top two bits and E_big == 1, with no leading-zero count.
    - Near path (an effective subtraction with d <= 1): the difference is exact in P + 1 bits
      (LSB: the larger exponent's LSB - 1), so there is no alignment shifter (a one-bit shift
      chosen by the exponent comparison) and no sticky. Both X - Y and Y - X are formed, the
      one without borrow is the magnitude (its sign: the larger operand's; X == Y, an exact
      zero, is compared beside them), then the leading-zero count and the shift of
      :func:`add_back` step 4 (limited at E = 1 the same way).

    The far path's exponent differences and the near path's one-bit alignment both come from
    the two exponent subtractions, beside which the single path needed a full-width magnitude
    comparison before its shifter. Specials and the sign of zero are those of :func:`add`."""
    f = _float_format("fmt", fmt)
    a, b = Value.cast(a), Value.cast(b)
    P, G = f.sig_bits, GUARD
    W = P + G
    if G < 1:
        raise ValueError("the dual-path adder needs GUARD >= 1")
    sa, ga, _, ia, na = _operand(m, f, a, f"{name}_a")
    sb, gb, _, ib, nb = _operand(m, f, b, f"{name}_b")
    ea = named(m, biased_exponent(f, a), f"{name}_a_e")
    eb = named(m, biased_exponent(f, b), f"{name}_b_e")
    sub = sa ^ sb
    dab = named(m, ea - eb, f"{name}_dab")       # signed: ea - eb
    dba = named(m, eb - ea, f"{name}_dba")
    a_ge = ~dab[-1]                                # ea >= eb
    b_ge = ~dba[-1]
    e_big = named(m, Mux(a_ge, ea, eb), f"{name}_exp_big")
    d = named(m, Mux(a_ge, dab, dba)[: f.ebits], f"{name}_diff")   # |ea - eb|
    near = named(m, sub & (d <= 1), f"{name}_near")

    # far path: order by exponent, align, add (add_front steps 2-3)
    g_big = named(m, Mux(a_ge, ga, gb), f"{name}_far_big")
    g_small = named(m, Mux(a_ge, gb, ga), f"{name}_far_small")
    amt = named(m, Mux(d > W, W, d)[: W.bit_length()], f"{name}_shift")
    small_w = named(m, Cat(Const(0, G), g_small) >> amt, f"{name}_small_al")
    sticky = named(m, Cat(*(g_small[i] & (d > i + G) for i in range(P))) != 0,
                    f"{name}_sticky")
    sx = Cat(small_w, Const(0, 1)) ^ sub.replicate(W + 1)
    cin = sub & ~sticky
    mag_f = named(m, _fast_add(m, Cat(Const(0, G), g_big, Const(0, 1)), sx, cin,
                                   f"{name}_far_add")[: W + 1],
                  f"{name}_far_mag")
    # normalizing shift min(lz, E_big) in {0, 1, 2}
    one_f = mag_f[W - 1] | (e_big == 1)
    norm_f = named(m, Mux(mag_f[W], mag_f, Mux(one_f, mag_f << 1, mag_f << 2))[: W + 1],
                   f"{name}_far_norm")
    s_f = Mux(mag_f[W], 0, Mux(one_f, 1, 2))

    # near path: exact difference in P + 1 bits, LSB at the larger exponent's LSB - 1
    x = named(m, Mux(a_ge, Cat(Const(0, 1), ga), ga), f"{name}_near_x")
    y = named(m, Mux(b_ge, Cat(Const(0, 1), gb), gb), f"{name}_near_y")
    # x - y and y - x: P + 1 bits and the carry out (1: no borrow)
    xy = named(m, _fast_add(m, x, ~y, 1, f"{name}_near_xy_add"), f"{name}_near_xy")
    yx = named(m, _fast_add(m, y, ~x, 1, f"{name}_near_yx_add"), f"{name}_near_yx")
    x_lt = ~xy[P + 1]
    diff = named(m, Mux(x_lt, yx, xy)[: P + 1], f"{name}_near_diff")
    mag_n = Cat(Const(0, G - 1), diff, Const(0, 1))
    limit = Cat(*(e_big == W - j for j in range(W + 1)))
    s_n = named(m, leading_zeros(named(m, mag_n | limit, f"{name}_near_lz_in")),
                f"{name}_near_lz")
    norm_n = named(m, (mag_n << s_n)[: W + 1], f"{name}_near_norm")

    norm = named(m, Mux(near, norm_n, norm_f), f"{name}_norm")
    s = Mux(near, s_n, s_f)
    e_res = (e_big + 1 - s).as_unsigned()[: f.ebits + 1]
    zero = Mux(near, x == y, (ga == 0) & (gb == 0))
    s_big = Mux(near, Mux(x_lt, sb, sa), Mux(a_ge, sa, sb))
    inf = ia | ib
    nan = (na | nb | (ia & ib & (sa ^ sb))) if f.has_nan else 0
    sign = Mux(inf, Mux(ia, sa, sb), Mux(zero, sa & sb, s_big))
    st = (norm[:G] != 0) | (~near & sticky)
    return round_normalized(m, f, sign, norm[G:], e_res, st, rounding=rounding,
                            overflow=overflow, inf=inf, nan=nan, name=f"{name}_round",
                            increment=lambda trunc, up: _fast_add(m, trunc, 0, up,
                                                                f"{name}_inc"))


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
