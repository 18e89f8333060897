"""Independent references shared by the tests: element values from ml_dtypes where it has the
format, else from the spec's formulas typed here; exact rational -> FP32 rounding (never from
golden/)."""
import re
from fractions import Fraction

import ml_dtypes
import numpy as np

ML_DTYPES = {
    "e5m2": ml_dtypes.float8_e5m2,
    "e4m3": ml_dtypes.float8_e4m3fn,
    "e3m2": ml_dtypes.float6_e3m2fn,
    "e2m3": ml_dtypes.float6_e2m3fn,
    "e2m1": ml_dtypes.float4_e2m1fn,
}


def element_value(elem, code):
    """Exact float value of one MX element code (NaN/Inf included)."""
    if elem in ML_DTYPES:
        return float(np.array([code], np.uint8).view(ML_DTYPES[elem])[0])
    if elem == "mxint8":  # docs/numerics.md §1: two's complement / 64
        return (code - 256 if code >= 128 else code) / 64
    if elem == "e2m5":  # docs/numerics.md §1: MX-SAFE's wide mode as a format of its own (bias 1)
        s, e, m = code >> 7, (code >> 5) & 3, code & 31
        mag = (1 + m / 32) * 2.0 ** (e - 1) if e else (m / 32) * 2.0 ** (1 - 1)
        return -mag if s else mag
    mxsf = re.fullmatch(r"mxsf(?:_b(\d+))?", elem)
    if mxsf:  # docs/numerics.md §6: sub_ebits=3, sub_mbits=2, sub_bias 8 unless the name says
        bias = int(mxsf.group(1) or 8)
        s, e2, m5 = code >> 7, (code >> 5) & 3, code & 31
        if e2:
            mag = (1 + m5 / 32) * 2.0 ** (e2 - 1)
        else:
            e3, m2 = m5 >> 2, m5 & 3
            mag = (1 + m2 / 4) * 2.0 ** (e3 - bias) if e3 else (m2 / 4) * 2.0 ** (1 - bias)
        return -mag if s else mag
    raise AssertionError(elem)


def f32_value(bits):
    return float(np.array([bits], np.uint32).view(np.float32)[0])


def f32_bits(x):
    return int(np.array([x], np.float32).view(np.uint32)[0])


# -- IEEE binary formats and FP32 arithmetic on exact values ----------------------------------
# A value is (kind, sign, magnitude) with kind in {"fin", "inf", "nan"} and an exact Fraction
# magnitude for "fin". Every operation is formed exactly and rounded once by round_fp32, which
# tests/test_reference.py checks against NumPy's float64 -> float32 cast.

FP32_NAN = 0x7FC00000
NAN = ("nan", 0, None)
FP32_MAX = Fraction(2**24 - 1, 2**23) * 2**127


def ieee_value(code, ebits, mbits):
    """The value of a code of an IEEE-style binary format (bias 2**(ebits-1) - 1, subnormals,
    exponent all ones = Inf/NaN), decoded from its fields."""
    sign = code >> (ebits + mbits)
    e = (code >> mbits) & ((1 << ebits) - 1)
    m = code & ((1 << mbits) - 1)
    if e == (1 << ebits) - 1:
        return ("inf", sign, None) if m == 0 else NAN
    bias = (1 << (ebits - 1)) - 1
    sig = m if e == 0 else (1 << mbits) + m
    return ("fin", sign, Fraction(sig) * Fraction(2) ** (max(e, 1) - bias - mbits))


def fp32_value(bits):
    return ieee_value(bits, 8, 23)


def floor_log2(x: Fraction) -> int:
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e - 1 if Fraction(2) ** e > x else e


def round_fp32(sign, mag: Fraction, counts=None):
    """RNE of an exact magnitude to FP32 (gradual underflow, overflow to Inf, the sign kept,
    also for an exact zero). ``counts`` (a Counter) gets "tie", "underflow", "overflow"."""
    if mag == 0:
        return ("fin", sign, Fraction(0))
    e = floor_log2(mag)
    q = max(e, -126) - 23
    scaled = mag / Fraction(2) ** q
    n = round(scaled)  # Fraction.__round__ rounds half to even
    if counts is not None:
        counts["tie"] += scaled.denominator == 2
        counts["underflow"] += e < -126
    val = n * Fraction(2) ** q
    if val > FP32_MAX:
        if counts is not None:
            counts["overflow"] += 1
        return ("inf", sign, None)
    return ("fin", sign, val)


def value_bits(v) -> int:
    """FP32 bits of a value (an FP32 value: exactly representable; canonical NaN)."""
    kind, sign, mag = v
    if kind == "nan":
        return FP32_NAN
    if kind == "inf":
        return sign << 31 | 0x7F800000
    if mag == 0:
        return sign << 31
    e = floor_log2(mag)
    if e < -126:
        body = mag * 2**149
    else:
        body = (e + 127) * 2**23 + (mag * Fraction(2) ** (23 - e) - 2**23)
    assert Fraction(body).denominator == 1  # an FP32 value
    return sign << 31 | int(body)


def fp32_mul(x, y, counts=None):
    """IEEE FP32 product of two values, rounded once (0 * Inf is NaN)."""
    if x[0] == "nan" or y[0] == "nan":
        return NAN
    sign = x[1] ^ y[1]
    if x[0] == "inf" or y[0] == "inf":
        other = y if x[0] == "inf" else x
        if other[0] == "fin" and other[2] == 0:
            return NAN
        return ("inf", sign, None)
    return round_fp32(sign, x[2] * y[2], counts)


def fp32_add(x, y, counts=None):
    """IEEE FP32 sum of two values, rounded once: Inf - Inf is NaN; an exact zero is -0 only
    for -0 + -0 (IEEE 754 §6.3, round to nearest). ``counts["cancel"]``: exact zeros of
    nonzero operands."""
    if x[0] == "nan" or y[0] == "nan":
        return NAN
    if x[0] == "inf" and y[0] == "inf":
        return x if x[1] == y[1] else NAN
    if x[0] == "inf" or y[0] == "inf":
        return x if x[0] == "inf" else y
    s = (-x[2] if x[1] else x[2]) + (-y[2] if y[1] else y[2])
    if s == 0:
        if counts is not None:
            counts["cancel"] += x[2] != 0
        return ("fin", x[1] & y[1], Fraction(0))
    return round_fp32(int(s < 0), abs(s), counts)


def tree(values, op):
    """The project's tree order, written here independently of golden/ and hw/: pairs
    (v0, v1), (v2, v3), ... level by level, an odd last value passing up unchanged."""
    level = list(values)
    while len(level) > 1:
        nxt = [op(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        level = nxt + level[len(nxt) * 2:]
    return level[0]


def fraction_to_fp32(x: Fraction) -> int:
    """RNE of an exact rational to FP32 bits, overflow to ±Inf, gradual underflow, 0 -> +0."""
    x = Fraction(x)
    return value_bits(round_fp32(int(x < 0), abs(x))) if x != 0 else 0


def round_fraction(q, ebits, mbits, bias, rounding):
    """Exact rational ``q`` rounded to a float format without Inf/NaN and without subnormals
    (LightNorm's FP10/FP17/FP18; docs/numerics.md §1-2), saturating at max finite. ``rounding``
    "rtz" or "rne" (the tie between 0 and the smallest normal goes to 0, as the golden model does:
    both codes are even). Returns a Fraction."""
    q = Fraction(q)
    if q == 0:
        return Fraction(0)
    sign = -1 if q < 0 else 1
    a = abs(q)
    emin, emax = 1 - bias, (1 << ebits) - 1 - bias
    top = (2 - Fraction(1, 1 << mbits)) * Fraction(2) ** emax
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    if e < emin:
        lo, hi = Fraction(0), Fraction(2) ** emin
    else:
        ulp = Fraction(2) ** (e - mbits)
        lo = (a // ulp) * ulp
        hi = lo + ulp
    if rounding == "rtz" or a == lo:
        r = lo
    else:
        mid = (lo + hi) / 2
        if a != mid:
            r = lo if a < mid else hi
        elif lo == 0:
            r = lo
        else:
            ulp = hi - lo
            r = lo if (lo / ulp) % 2 == 0 else hi
    return sign * min(r, top)
