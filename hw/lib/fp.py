"""Arithmetic building blocks shared by every block: element decode, FP32 unpack, leading-zero
count and the generic round-to-format encoder. Blocks never restate these.

Every helper is combinational and returns Amaranth Values; the caller decides where pipeline
registers go. The rounding rules are those of ``golden.formats.encode`` (docs/numerics.md §2), and
``tests/hw/test_fp.py`` checks the encoder against it for every element format, rounding mode and
overflow policy.
"""
from typing import NamedTuple

from amaranth.hdl import Cat, Const, Mux, Signal, Value, signed

from golden.checks import check_choice
from golden.formats import OVERFLOWS, ROUNDINGS, get_format

from .units import named

__all__ = ["decode_element", "unpack_fp32", "FP32Fields", "leading_zeros", "encode", "round_up",
           "pack", "round_normalized", "biased_exponent", "convert", "negate"]


def decode_element(code, fmt):
    """Combinational element decode of ``code`` per ``golden.formats.fields`` (no scale).

    Returns ``(sign, sig, exp, inf, nan)`` Values; ``exp`` is signed and not yet canonical for
    zero (the caller zeroes it together with the scale).
    """
    if fmt.kind == "int":
        q = code.as_signed()
        sign = code[-1]
        sig = Mux(sign, -q, q)[: fmt.sig_bits]
        return sign, sig, -fmt.frac_bits, 0, 0
    sign = code[-1]
    e = code[fmt.mbits: fmt.mbits + fmt.ebits]
    mant = code[: fmt.mbits]
    normal = e != 0
    sig = Mux(normal, Cat(mant, 1), mant)
    exp = Mux(normal, e, 1) - (fmt.bias + fmt.mbits)
    inf = nan = 0
    if fmt.kind == "mxsf":
        sm, se = mant[: fmt.sub_mbits], mant[fmt.sub_mbits:]
        sub_normal = se != 0
        sub_sig = Mux(sub_normal, Cat(sm, 1), sm)
        sub_exp = Mux(sub_normal, se, 1) - (fmt.sub_bias + fmt.sub_mbits)
        sig = Mux(normal, sig, sub_sig)
        exp = Mux(normal, exp, sub_exp)
    elif fmt.specials != "none":
        top = e == (1 << fmt.ebits) - 1
        if fmt.specials == "ieee":
            inf, nan = top & (mant == 0), top & (mant != 0)
        else:
            nan = top & (mant == (1 << fmt.mbits) - 1)
    if fmt.kind == "float" and not fmt.subnormals:
        sig = Mux(normal, sig, 0)
    return sign, sig, exp, inf, nan


class FP32Fields(NamedTuple):
    """An FP32 operand as an exact integer pair: value = (-1)**sign * sig * 2**exp."""

    sign: Value
    sig: Value      #: 24 bits, hidden bit included (0 for subnormals)
    exp: Value      #: signed; -149 for subnormals and zero
    biased: Value   #: the 8-bit exponent field
    zero: Value
    inf: Value
    nan: Value


def unpack_fp32(bits) -> FP32Fields:
    """Split 32 FP32 bits; ``sig``/``exp`` are meaningless for Inf/NaN (flags say so)."""
    bits = Value.cast(bits)
    biased, frac = bits[23:31], bits[:23]
    normal = biased != 0
    top = biased == 0xFF
    return FP32Fields(
        sign=bits[31],
        sig=Cat(frac, normal),
        exp=Mux(normal, biased, 1) - 150,
        biased=biased,
        zero=~normal & (frac == 0),
        inf=top & (frac == 0),
        nan=top & (frac != 0),
    )


def leading_zeros(value) -> Value:
    """Count of leading zero bits of ``value`` (``len(value)`` when it is zero).

    A log-depth tree: each level picks the upper half's count when the upper half is nonzero.
    """
    value = Value.cast(value)
    n = len(value)
    if n == 0:
        return Const(0, 1)
    p = 1 << (n - 1).bit_length()
    # Ones appended below the LSB stop the count at n for a zero value.
    padded = Cat(Const((1 << (p - n)) - 1, p - n), value) if p > n else value

    def tree(v):
        if len(v) == 1:
            return ~v[0]
        half = len(v) // 2
        lo, hi = v[:half], v[half:]
        return Mux(hi == 0, half + tree(lo), tree(hi))

    return tree(padded)


def encode(m, fmt, sign, mag, exp, *, rounding="rne", overflow="saturate", sticky=0, inf=0,
           nan=0, rand=None, normalized=False, name="enc") -> Value:
    """Round (-1)**sign * (mag + delta) * 2**exp to a code of ``fmt`` (docs/numerics.md §2).

    Parameters
    ----------
    m : Module
        Intermediate results become combinational signals ``<name>_...`` of ``m``.
    fmt : format descriptor or name
        A float (with or without subnormals), integer or MXSF element format.
    sign : Value (1 bit)
    mag : Value
        Unsigned magnitude.
    exp : Value or int
        Signed exponent of ``mag``'s LSB.
    rounding : {"rne", "rna", "rtz", "stochastic"}
        Elaboration-time rounding mode; "stochastic" needs ``rand``.
    overflow : {"saturate", "nonsat"}
    sticky : Value
        1 when the exact magnitude exceeds ``mag * 2**exp`` by delta in (0, 1) LSBs of ``mag``.
        The encoder treats those bits as below the round bit, which is exact when ``mag`` has at
        least one bit below the result's rounding position (callers keep a guard bit).
    inf, nan : Value
        Special inputs: NaN gives the canonical NaN (ValueError at elaboration if ``fmt`` has
        none); Inf gives Inf in "ieee" formats, else it overflows per ``overflow``.
    rand : Value
        R random bits for "stochastic": round up iff frac * 2**R + rand >= 2**R.
    normalized : bool
        The caller guarantees ``mag``'s top bit is 1 unless ``mag`` is 0 (a normalized
        significand, e.g. after ``hw.lib.accumulate``'s normalization): the leading-zero count
        is then left out.

    Returns
    -------
    Value of ``fmt.width`` bits.

    Notes
    -----
    The result is built on the monotonic code magnitude: the truncated code ``T`` is formed from
    the quantum exponent q (exponent of the result's LSB), then rounding adds 0 or 1 to ``T`` so a
    mantissa carry ripples into the exponent field (or from MXSF's subnormal mode into its wide
    mode) by itself. Overflow is judged after rounding, as in the golden model; "rtz" never
    overflows a finite input.
    """
    fmt = get_format(fmt)
    check_choice("rounding", rounding, ROUNDINGS)
    check_choice("overflow", overflow, OVERFLOWS)
    if rounding == "stochastic" and rand is None:
        raise ValueError("stochastic rounding needs rand (the random bits)")
    if rounding == "stochastic" and fmt.kind == "mxsf" and fmt.gap:
        raise ValueError(f"stochastic rounding of {fmt.name} is not defined (its grid has a gap "
                         f"below 1.0; see golden.formats.encode)")
    if fmt.kind == "scale":
        raise ValueError(f"cannot encode elements into the scale format {fmt.name}")
    if not isinstance(nan, int) and not fmt.has_nan:
        raise ValueError(f"format {fmt.name} has no NaN; a NaN input needs a NaN-capable format")
    mag = Value.cast(mag)
    if not isinstance(mag, Signal):
        mag = named(m, mag, f"{name}_mag")  # used three times: build (and simulate) it once
    exp = Value.cast(exp)
    if not exp.shape().signed:
        exp = Cat(exp, Const(0, 1)).as_signed()
    sign, sticky, inf, nan = (Value.cast(v) for v in (sign, sticky, inf, nan))
    n = len(mag)
    mag_zero = mag == 0

    # Exponent of the leading one and the quantum exponent q of the result.
    lead = named(m, (n - 1) + exp if normalized else (n - 1) - leading_zeros(mag) + exp,
                 f"{name}_lead")
    small = Const(0, 1)
    if fmt.kind == "int":
        q = Const(-fmt.frac_bits, signed(8))
        dmax = fmt.bits + 1
    elif fmt.kind == "mxsf":
        # E2M5 quantum for lead >= 0, the sub mode's below; in a gap format (see MxsfFormat)
        # leads between the top sub binade and 1.0 use the quantum q_gap that makes the gap's
        # midpoint an integer (M), so "round up to 1.0" is the comparison t_sig >= M
        sub_emin, sm = fmt.sub_emin, fmt.sub_mbits
        sub_q = Mux(lead < sub_emin, sub_emin, lead) - sm
        dmax = fmt.mbits
        if fmt.gap:
            q_gap = fmt.sub_emax - sm - 1
            in_gap = named(m, (lead > fmt.sub_emax) & (lead < 0), f"{name}_gap")
            sub_q = Mux(in_gap, q_gap, sub_q)
            dmax = max(dmax, sm - fmt.sub_emax)
        q = Mux(lead >= 0, lead - fmt.mbits, sub_q)
    else:
        small = lead < fmt.emin
        if fmt.subnormals:
            q = Mux(small, fmt.emin, lead) - fmt.mbits
        else:
            q = Mux(small, fmt.emin, lead - fmt.mbits)  # neighbours of a tiny value: 0, min normal
        dmax = fmt.mbits

    # floor(mag * 2**(exp - q)), round bit and sticky, by one left shift in a padded window:
    # Y = mag << (exp - q + P); anything shifted below -P is entirely sticky. P = n + 1 (+ R for
    # stochastic rounding) keeps the round bit (and the R fraction bits) zero in that case.
    rbits_n = len(Value.cast(rand)) if rounding == "stochastic" else 0
    pad = n + 1 + rbits_n
    d = exp - q
    amt_raw = named(m, d + pad, f"{name}_shift")
    amt = Mux(amt_raw < 0, 0, Mux(amt_raw > pad + dmax, pad + dmax, amt_raw))
    amt = amt.as_unsigned()[: (pad + dmax).bit_length()]  # clamped to [0, pad + dmax] above
    y = named(m, (mag << amt)[: n + pad + dmax], f"{name}_aligned")
    t_sig = y[pad:]
    rbit = y[pad - 1]
    low = y[: pad - 1]
    stick = (low != 0) | sticky
    huge = (amt_raw > pad + dmax) & ~mag_zero  # only integer formats can shift that far

    # Truncated code magnitude T (monotonic in the value).
    if fmt.kind == "int":
        t = t_sig
        ovf_pre = huge
    elif fmt.kind == "mxsf":
        sub_top_code = (1 << fmt.mbits) - 1
        sub_t = Mux(lead >= sub_emin, ((lead + (fmt.sub_bias - 1)) << sm) + t_sig, t_sig)
        if fmt.gap:
            sub_t = Mux(in_gap, sub_top_code, sub_t)
        t = Mux(lead >= 0, (lead << fmt.mbits) + t_sig, sub_t)
        ovf_pre = lead > fmt.emax_elem
    else:
        normal_t = ((lead + (fmt.bias - 1)) << fmt.mbits) + t_sig
        t = Mux(small, 0 if not fmt.subnormals else t_sig, normal_t)
        ovf_pre = lead > fmt.emax
    t = named(m, Mux(mag_zero, 0, t), f"{name}_trunc")
    ovf_pre = ovf_pre & ~mag_zero

    if rounding == "stochastic":
        rand = Value.cast(rand)
        r = len(rand)
        frac = y[pad - r: pad] if r else Const(0, 1)
        up = (frac + rand)[r] if r else Const(0, 1)
    else:
        up = round_up(rounding, rbit, stick, t[0])

    if fmt.kind == "mxsf" and fmt.gap:
        # the gap: up to 1.0 iff |x| >= its midpoint (both nearest modes: 1.0's code is even);
        # below it the top sub code never carries into 1.0 (the midpoint is above that binade)
        mid = int((fmt.sub_top + 1) / 2 * 2.0**-q_gap)
        up_gap = (lead == -1) & (t_sig >= mid) if rounding in ("rne", "rna") else Const(0, 1)
        up = Mux(in_gap, up_gap, Mux((lead < 0) & (t == sub_top_code), 0, up))

    if fmt.kind == "float" and not fmt.subnormals:
        c = Mux(small, Mux(up, 1 << fmt.mbits, 0), t + up)
    else:
        c = t + up
    if fmt.kind == "mxsf" and fmt.sub_emax >= 0:
        # overlap: a carry out of the sub mode's binade below 1.0 lands on the sub code of 1.0
        # (an alias); the canonical code of 1.0 is E2M5's
        c = Mux(c == fmt.sub_bias << fmt.sub_mbits, 1 << fmt.mbits, c)
    return pack(m, fmt, sign, c, ovf_pre=ovf_pre, rounding=rounding, overflow=overflow,
                inf=inf, nan=nan, name=name)


def round_up(rounding, rbit, sticky, lsb):
    """The 0/1 increment of a truncated code under a deterministic rounding: ``rbit`` is the
    first bit below the result's LSB, ``sticky`` says something nonzero lies below it, ``lsb``
    is the truncated code's LSB (ties to even)."""
    if rounding == "rne":
        return rbit & (sticky | lsb)
    if rounding == "rna":
        return rbit
    return Const(0, 1)


def pack(m, fmt, sign, c, *, ovf_pre=None, rounding, overflow, inf, nan, name):
    """The one packing step of every rounding in the hardware (docs/numerics.md §2 rules 1, 2,
    5, 6): the rounded code magnitude ``c`` (monotonic in the value; it may exceed the largest
    finite code) with its sign, overflow judged after rounding (``c > fmt.max_code``, or
    ``ovf_pre``: the exponent was already out of range) and resolved by ``overflow`` ("rtz"
    never overflows a finite value), then the special inputs: ``inf`` gives Inf where the
    format has it and otherwise overflows, ``nan`` the canonical NaN (sign 0). Integer formats
    negate the magnitude. ``c`` becomes the signal ``<name>_rounded``."""
    c = named(m, c, f"{name}_rounded")
    max_code = fmt.max_code
    ovf = c > max_code if ovf_pre is None else ovf_pre | (c > max_code)
    if fmt.kind == "float" and fmt.specials == "ieee":
        inf_code = fmt.inf_code
    elif fmt.kind == "float" and fmt.specials == "fn":
        inf_code = fmt.nan_code  # "fn" formats overflow to NaN in nonsat mode
    else:
        inf_code = max_code
    ovf_code = max_code if overflow == "saturate" or rounding == "rtz" else inf_code
    special_inf_code = inf_code if fmt.kind == "float" and fmt.specials == "ieee" else (
        max_code if overflow == "saturate" else inf_code)
    code_mag = Mux(inf, special_inf_code, Mux(ovf, ovf_code, c))[: fmt.width - (fmt.kind != "int")]

    if fmt.kind == "int":
        return Mux(sign, -code_mag, code_mag)[: fmt.width]
    if fmt.has_nan:
        # a NaN input is canonical (sign 0); an "fn" overflow NaN keeps the input's sign, as
        # the golden model and ml_dtypes do
        code_mag = Mux(nan, fmt.nan_code, code_mag)
        sign = sign & ~nan
    return Cat(code_mag, sign)


def biased_exponent(fmt, code):
    """Effective biased exponent max(E, 1) of a float code (a subnormal has the exponent of
    E = 1)."""
    e = code[fmt.mbits: fmt.mbits + fmt.ebits]
    return Mux(e == 0, 1, e)


def round_normalized(m, f, sign, n, e_res, sticky, *, rounding, overflow, inf, nan, name,
                     increment=None):
    """Code of a normalized significand, rounded once: the rounding of the FP operators
    (``hw.lib.fp_arith``, ``hw.lib.fp_iter``), which normalize their exact result themselves.

    ``n`` has P + 1 bits (P = ``f.sig_bits``): n[P] the hidden bit, n[1:P + 1] the significand,
    n[0] the round bit; ``sticky`` says the exact value has more bits below n[0]. The hidden bit
    is 1 with ``e_res`` the biased exponent (>= 1, may exceed the format's range: overflow), or
    0 for a result below 2**emin, whose significand is then aligned to exponent emin (n[P] has
    weight 2**emin), a subnormal (or zero) for the format. The truncated code magnitude
    ``(E << mbits) | frac`` is monotonic in the value, so rounding (:func:`round_up`) adds 0 or
    1 to it and a mantissa carry ripples into the exponent (and a subnormal's into the smallest
    normal) by itself; :func:`pack` judges overflow after rounding. A format without
    subnormals rounds a result below 2**emin to 0 or the smallest normal (the tie to 0 under
    "rne"). These are the rules of :func:`encode` for the values this input form can express.
    ``increment(trunc, up)`` builds the 0/1 increment (default ``trunc + up``; the dual-path
    adder passes a parallel-prefix one).
    """
    P, mb = f.sig_bits, f.mbits
    hidden, rbit = n[P], n[0]
    trunc = named(m, Cat(n[1:P], Mux(hidden, e_res, 0)), f"{name}_trunc")
    up = round_up(rounding, rbit, sticky, n[1])
    c = trunc + up if increment is None else increment(trunc, up)
    if not f.subnormals:
        # neighbours 0 and the smallest normal; the round bit is half of that normal
        r_t, s_t = n[P - 1], (n[: P - 1] != 0) | sticky
        up_t = {"rne": r_t & s_t, "rna": r_t}.get(rounding, Const(0, 1))
        c = Mux(hidden, c, Mux(up_t, 1 << mb, 0))
    return pack(m, f, sign, c, rounding=rounding, overflow=overflow, inf=inf, nan=nan, name=name)


def _widens_by_wiring(src, dst) -> bool:
    """True when every code of ``src`` maps to ``dst`` by re-biasing the exponent and padding the
    mantissa: ``src`` without specials and subnormals, ``dst`` covering its range with normal
    numbers (its own specials, if any, lie above ``dst.emax``)."""
    return (src.kind == dst.kind == "float" and src.specials == "none"
            and not src.subnormals and dst.mbits >= src.mbits
            and dst.emin <= src.emin and dst.emax >= src.emax)


def _narrows_on_the_pattern(src, dst, rounding, overflow) -> bool:
    """True when ``src`` -> ``dst`` only drops mantissa bits (same exponent field and bias,
    IEEE specials and subnormals on both sides: FP32 -> BF16) and rounds RNE with IEEE overflow:
    then the rounding is an increment of the bit pattern."""
    return (src.kind == dst.kind == "float" and src.specials == dst.specials == "ieee"
            and src.subnormals and dst.subnormals and src.ebits == dst.ebits
            and src.bias == dst.bias and dst.mbits < src.mbits and rounding == "rne"
            and overflow == "nonsat")


def convert(m, src, dst, code, *, rounding="rne", overflow="saturate", name="cvt") -> Value:
    """Code of float format ``src`` -> code of ``dst``, rounded once (docs/numerics.md §2).

    A narrowing that only drops mantissa bits (FP32 -> BF16, RNE, IEEE overflow) is an increment
    of the bit pattern (no normalization). An exact widening between formats without specials
    (fp10_e5m4 -> fp18_e5m12, FP10 -> FP17, ...) is wiring: the exponent re-biased by a constant,
    the mantissa padded, a zero exponent field (zero: these formats have no subnormals) mapped to
    zero. Anything else goes through :func:`decode_element` and :func:`encode` (a narrowing rounds
    with ``rounding``; FP16 -> FP32 normalizes a subnormal).
    """
    src, dst = get_format(src), get_format(dst)
    code = Value.cast(code)
    if _narrows_on_the_pattern(src, dst, rounding, overflow):
        # RNE on the bit pattern: add half an output ulp minus one and the LSB that stays, then
        # drop the extra mantissa bits; a carry ripples into the exponent, past the largest
        # finite value to Inf (nonsat). Only a NaN could carry into the sign, and NaN is
        # replaced by the canonical one
        d = src.mbits - dst.mbits
        nan = code[:-1] > src.inf_code
        return Mux(nan, dst.nan_code, (code + ((1 << (d - 1)) - 1) + code[d])[d: src.width])
    if _widens_by_wiring(src, dst):
        e = code[src.mbits: src.mbits + src.ebits]
        zero = e == 0
        mant = Cat(Const(0, dst.mbits - src.mbits), code[: src.mbits])
        exp = (e + (dst.bias - src.bias))[: dst.ebits]
        return Cat(Mux(zero, 0, mant), Mux(zero, 0, exp), code[-1])
    sign, sig, exp, inf, nan = decode_element(code, src)
    if src.specials != "none":
        sig = Mux(inf | nan, 0, sig)
    return encode(m, dst, sign, sig, exp, rounding=rounding, overflow=overflow, inf=inf, nan=nan,
                  name=name)


def negate(code) -> Value:
    """The code with its sign bit (the top bit) flipped: exact negation of a float code."""
    code = Value.cast(code)
    return Cat(code[:-1], ~code[-1])
