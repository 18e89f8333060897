"""Floating-point arithmetic units built on the shared encoder: a multiplier and an adder.

Both are combinational and return the result code as an Amaranth Value; the caller decides where
pipeline registers go. Each computes the exact result as an integer magnitude, an exponent and (for
the adder) a sticky bit, and hands it to :func:`hw.fp.encode` for the one rounding, so rounding,
gradual underflow, overflow and the special codes are the encoder's (numerics §2) and are never
restated here. The formats are ``golden.formats`` descriptors (any ``FloatFormat``: "ieee", "fn"
or "none" specials, with or without subnormals), so the same units serve FP32, BF16, FP16 and the
small formats.

Semantics (IEEE 754 where the format has the codes): the exact result rounded once; NaN if an
operand is NaN, for 0 x Inf and for Inf - Inf (the canonical NaN of the output format); Inf of
its sign if an operand is Inf; an exactly zero sum is +0 unless both operands are -0 (IEEE 754
§6.3 for every rounding mode here), a zero product has the sign sa ^ sb. ``tests/hw/test_fp_arith``
checks both units against NumPy float32 arithmetic and ``golden.formats.add``/``mul``.
"""
from amaranth.hdl import Cat, Const, Mux, Signal, Value

from golden.checks import check_choice
from golden.formats import OVERFLOWS, ROUNDINGS, get_format

from .fp import decode_element, encode

__all__ = ["mul", "add", "GUARD"]

#: bits the adder keeps below the larger operand's LSB (see :func:`add` for why 2 is the least)
GUARD = 2

_MODES = ROUNDINGS[:3]  # rne, rna, rtz: stochastic rounding needs random bits, not offered here


def _float_format(name, fmt):
    f = get_format(fmt)
    if f.kind != "float":
        raise ValueError(f"{name} must be a float format, not {f.name}")
    return f


def _named(m, value, name):
    """``value`` held in a named signal of ``m``: a value read in several places is otherwise
    emitted (and simulated) once per use."""
    value = Value.cast(value)
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def _operand(m, fmt, code, name):
    """``decode_element`` into named signals, with the Inf/NaN flags as 1-bit Values and the
    significand of an Inf/NaN code zeroed (its exponent field would read as a huge number)."""
    sign, sig, exp, inf, nan = decode_element(code, fmt)
    inf, nan = (Const(v, 1) if isinstance(v, int) else _named(m, v, f"{name}_{what}")
                for v, what in ((inf, "inf"), (nan, "nan")))
    if fmt.specials != "none":
        sig = Mux(inf | nan, 0, sig)
    return sign, _named(m, sig, f"{name}_sig"), _named(m, exp, f"{name}_exp"), inf, nan


def _check_modes(rounding, overflow):
    check_choice("rounding", rounding, _MODES)
    check_choice("overflow", overflow, OVERFLOWS)


def mul(m, fmt_a, a, fmt_b, b, out_fmt, *, rounding="rne", overflow="nonsat", name="mul"):
    """Code of ``round(a * b)`` in ``out_fmt``, for codes ``a`` of ``fmt_a`` and ``b`` of ``fmt_b``.

    Parameters
    ----------
    m : Module
        Receives the encoder's named intermediate signals ``<name>_...``.
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
    (-1)**(sa ^ sb) * (ga * gb) * 2**(ea + eb); the integer product ga * gb is formed at full
    width (``sig_bits_a + sig_bits_b`` bits, 16 for BF16 x BF16), so the encoder sees the exact
    value and rounds it once (no sticky needed). For BF16 x BF16 -> FP32 the 16-bit product fits
    FP32's 24-bit significand, so rounding only happens on FP32 underflow, and overflow gives ±Inf.

    Raises
    ------
    ValueError
        A non-float format, a rounding other than rne/rna/rtz, a bad overflow, or NaN-capable
        inputs with an output format that has no NaN.
    """
    fa, fb = _float_format("fmt_a", fmt_a), _float_format("fmt_b", fmt_b)
    fo = _float_format("out_fmt", out_fmt)
    _check_modes(rounding, overflow)
    sa, ga, ea, ia, na = _operand(m, fa, Value.cast(a), f"{name}_a")
    sb, gb, eb, ib, nb = _operand(m, fb, Value.cast(b), f"{name}_b")
    zero_a = (ga == 0) & ~ia & ~na
    zero_b = (gb == 0) & ~ib & ~nb
    specials = fa.specials != "none" or fb.specials != "none"
    nan = (na | nb | (ia & zero_b) | (zero_a & ib)) if specials else 0
    if specials and not fo.has_nan:
        raise ValueError(f"out_fmt {fo.name} has no NaN for the NaN and 0 x Inf results of "
                         f"{fa.name} x {fb.name}")
    mag = _named(m, ga * gb, f"{name}_mag")
    exp = _named(m, ea + eb, f"{name}_exp")
    return encode(m, fo, sa ^ sb, mag, exp, rounding=rounding, overflow=overflow,
                  inf=ia | ib, nan=nan, name=f"{name}_round")


def add(m, fmt, a, b, *, rounding="rne", overflow="nonsat", name="add"):
    """Code of ``round(a + b)`` for two codes ``a``, ``b`` of the float format ``fmt``.

    Parameters
    ----------
    m : Module
        Receives the named intermediate signals ``<name>_...`` (and the encoder's).
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
    Datapath. Decode both operands to integer significands g (P = ``fmt.sig_bits`` bits) and LSB
    exponents e. The operand with the larger code magnitude is "big" (codes are monotonic in
    magnitude, so |big| >= |small| and d = e_big - e_small >= 0). Both are placed in a window of
    W = P + G bits whose LSB has exponent e_big - G (G = ``GUARD``): big exactly, small shifted
    right by d, and every bit of small that falls below the window is ORed into ``sticky``.
    The window sum, or the difference ``big - small - sticky``, is the encoder's ``mag`` at
    exponent e_big - G, with ``sticky`` passed on.

    Why this is exact. If no bit was lost (d <= G, or the lost bits are 0), mag is the exact
    magnitude. Otherwise d > G and small < 2**(e_small + P) <= 2**(e_big + P - G - 1), and big is
    normal (a subnormal big has the smallest exponent, so d = 0), big >= 2**(e_big + P - 1):

    - Addition: the exact value is (mag + f) * 2**(e_big - G), f in (0, 1): what the encoder's
      sticky means.
    - Subtraction (borrow): the exact magnitude is big - (small_window + f) =
      (big - small_window - 1) + (1 - f), so the window difference is decremented by one and
      sticky stays set (delta = 1 - f, again in (0, 1)). It is positive: big >= 2**(P - 1 + G)
      window LSBs, small_window < 2**(P - 1).

    The encoder's sticky input is exact when the window has a bit below the result's rounding
    position q (its LSB exponent). In both cases the exact result exceeds big - small >
    2**(e_big + P - 1) - 2**(e_big + P - G - 1) >= 2**(e_big + P - 2) for G >= 1, so its
    leading one is at e_big + P - 2 or above and q >= e_big + P - 2 - (P - 1) = e_big - 1.
    The window's LSB e_big - G is below q iff G >= 2, hence ``GUARD = 2``. With G = 1 the bound
    is tight: 1.0 - tiny leaves the window 2**P - 1 at exponent e_big - 1 = q, no round bit is
    left for the encoder, and the result truncates to 1 - 2**-P instead of rounding to 1.0
    (``tests/hw/test_fp_arith`` shows G = 1 failing). mag is never 0 with sticky set
    (it exceeds 2**(P + G - 2)), so the encoder's leading-one position is that of the exact value.

    Specials: NaN if an operand is NaN or +Inf meets -Inf, else Inf with the sign of the Inf
    operand. An exact zero sum (mag = 0, which implies sticky = 0) has sign sa & sb: +0 for
    x + (-x) and for +0 + -0, -0 only for -0 + -0 (IEEE 754 §6.3; the rounding modes here
    never round toward -Inf). A nonzero sum that underflows keeps its sign (the encoder).

    Raises
    ------
    ValueError
        A non-float format, a rounding other than rne/rna/rtz, or a bad overflow.
    """
    f = _float_format("fmt", fmt)
    _check_modes(rounding, overflow)
    a, b = Value.cast(a), Value.cast(b)
    P, G = f.sig_bits, GUARD
    W = P + G
    sa, ga, ea, ia, na = _operand(m, f, a, f"{name}_a")
    sb, gb, eb, ib, nb = _operand(m, f, b, f"{name}_b")

    a_big = _named(m, a[:-1] >= b[:-1], f"{name}_a_big")
    s_big, s_small = Mux(a_big, sa, sb), Mux(a_big, sb, sa)
    g_big = _named(m, Mux(a_big, ga, gb), f"{name}_sig_big")
    g_small = _named(m, Mux(a_big, gb, ga), f"{name}_sig_small")
    e_big = _named(m, Mux(a_big, ea, eb), f"{name}_exp_big")
    d = e_big - Mux(a_big, eb, ea)  # >= 0: codes are monotonic in magnitude
    amt = _named(m, Mux(d > W, W, d).as_unsigned()[: W.bit_length()], f"{name}_shift")
    # small at its window position, the bits it loses below the window
    wide = _named(m, Cat(Const(0, W), g_small << G) >> amt, f"{name}_small_al")
    small_w = wide[W:]
    sticky = _named(m, wide[:W] != 0, f"{name}_sticky")
    big_w = g_big << G
    sub = s_big ^ s_small
    mag = _named(m, Mux(sub, big_w - small_w - sticky, big_w + small_w)[: W + 1],
                 f"{name}_mag")

    nan = (na | nb | (ia & ib & (sa ^ sb))) if f.has_nan else 0
    inf = ia | ib
    sign = Mux(inf, Mux(ia, sa, sb), Mux(mag == 0, sa & sb, s_big))
    return encode(m, f, sign, mag, e_big - G, rounding=rounding, overflow=overflow,
                  sticky=sticky, inf=inf, nan=nan, name=f"{name}_round")
