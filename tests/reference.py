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
    if elem == "mxint8":  # numerics §1: two's complement / 64
        return (code - 256 if code >= 128 else code) / 64
    if elem == "e2m5":  # numerics §1: MX-SAFE's wide mode as a format of its own (bias 1)
        s, e, m = code >> 7, (code >> 5) & 3, code & 31
        mag = (1 + m / 32) * 2.0 ** (e - 1) if e else (m / 32) * 2.0 ** (1 - 1)
        return -mag if s else mag
    mxsf = re.fullmatch(r"mxsf(?:_b(\d+))?", elem)
    if mxsf:  # numerics §6: sub_ebits=3, sub_mbits=2, sub_bias 8 unless the name says
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


def fraction_to_fp32(x: Fraction) -> int:
    """RNE of an exact rational to FP32 bits, overflow to ±Inf, gradual underflow, 0 -> +0."""
    if x == 0:
        return 0
    neg = x < 0
    x = abs(x)
    e = x.numerator.bit_length() - x.denominator.bit_length()
    if Fraction(2) ** e > x:
        e -= 1
    assert Fraction(2) ** e <= x < Fraction(2) ** (e + 1)
    q = max(e, -126) - 23
    n = round(x / Fraction(2) ** q)  # Fraction.__round__ is round-half-even
    val = Fraction(n) * Fraction(2) ** q
    if val > Fraction(f32_value(0x7F7FFFFF)):
        return 0xFF800000 if neg else 0x7F800000
    bits = f32_bits(float(val))  # exact: n < 2**25, exponent in range
    assert Fraction(f32_value(bits)) == val
    return bits | (1 << 31) if neg else bits


def round_fraction(q, ebits, mbits, bias, rounding):
    """Exact rational ``q`` rounded to a float format without Inf/NaN and without subnormals
    (LightNorm's FP10/FP17/FP18; numerics §1-2), saturating at max finite. ``rounding`` "rtz"
    or "rne" (the tie between 0 and the smallest normal goes to 0, as the golden model does:
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
