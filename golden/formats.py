"""Number-format descriptors and exact element arithmetic (numerics §1-3).

A format is data: one frozen descriptor per format, from which every derived property
(``emax``, ``max_finite``, ...) is computed. The golden models, the hardware generators and the
tests all read these descriptors; nothing else restates a format's fields.

Kinds
-----
``FloatFormat``  sign | exponent | mantissa, with ``specials`` in {"ieee", "fn", "none"}.
``IntFormat``    two's complement, value = q * 2**-frac_bits.
``MxsfFormat``   MX-SAFE's element (numerics §6): FP8 E2M5 when E2 != 0, FP5 E3M2 below.
``ScaleFormat``  E8M0 block scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

SPECIALS = ("ieee", "fn", "none")
ROUNDINGS = ("rne", "rna", "rtz", "stochastic")
OVERFLOWS = ("saturate", "nonsat")


def _check_int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")


@dataclass(frozen=True)
class FloatFormat:
    """Binary floating-point element format.

    Parameters
    ----------
    name : str
    ebits, mbits : int
        Exponent and stored-mantissa widths.
    bias : int
        Exponent bias.
    specials : {"ieee", "fn", "none"}
        "ieee": exponent all ones is Inf (mantissa 0) or NaN; "fn": NaN only at all ones, no Inf;
        "none": every code is finite.
    subnormals : bool
        False: codes with exponent field 0 other than zero are not produced by ``encode``
        and decode as zero (flush).
    """

    name: str
    ebits: int
    mbits: int
    bias: int
    specials: str
    subnormals: bool = True

    kind = "float"

    def __post_init__(self):
        _check_int("ebits", self.ebits, 1, 11)
        _check_int("mbits", self.mbits, 0, 52)
        if self.specials not in SPECIALS:
            raise ValueError(f"specials must be one of {', '.join(SPECIALS)}, not {self.specials!r}")

    @property
    def width(self) -> int:
        return 1 + self.ebits + self.mbits

    @property
    def has_inf(self) -> bool:
        return self.specials == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.specials != "none"

    @property
    def emax(self) -> int:
        """Unbiased exponent of the largest normal binade."""
        top = (1 << self.ebits) - 1
        return (top - 1 if self.specials == "ieee" else top) - self.bias

    @property
    def emin(self) -> int:
        return 1 - self.bias

    @property
    def emax_elem(self) -> int:
        return self.emax

    @property
    def max_mantissa(self) -> int:
        """Largest stored mantissa field in the top binade (fn reserves all ones for NaN)."""
        m = (1 << self.mbits) - 1
        return m - 1 if self.specials == "fn" else m

    @property
    def max_finite(self) -> float:
        return float((1 + self.max_mantissa / 2**self.mbits) * 2.0**self.emax)

    @property
    def min_normal(self) -> float:
        return 2.0**self.emin

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (self.emin - self.mbits) if self.subnormals else self.min_normal

    @property
    def sig_bits(self) -> int:
        """Width of the significand with its hidden bit."""
        return self.mbits + 1


@dataclass(frozen=True)
class IntFormat:
    """Two's-complement fixed-point element: value = q * 2**-frac_bits.

    A symmetric format never produces the most negative code; it still decodes if present.
    """

    name: str
    bits: int
    frac_bits: int
    symmetric: bool = True

    kind = "int"
    has_inf = False
    has_nan = False

    def __post_init__(self):
        _check_int("bits", self.bits, 2, 32)

    @property
    def width(self) -> int:
        return self.bits

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def qmin(self) -> int:
        return -self.qmax if self.symmetric else -(1 << (self.bits - 1))

    @property
    def max_finite(self) -> float:
        return self.qmax * 2.0**-self.frac_bits

    @property
    def emax_elem(self) -> int:
        return self.qmax.bit_length() - 1 - self.frac_bits

    @property
    def min_subnormal(self) -> float:
        return 2.0**-self.frac_bits

    @property
    def sig_bits(self) -> int:
        """Magnitude width of a decoded element (|qmin of the raw code space| = 2**(bits-1))."""
        return self.bits


@dataclass(frozen=True)
class MxsfFormat:
    """MX-SAFE element (numerics §6, project reconstruction).

    Code S | E2 | M5. E2 != 0: FP8 E2M5 normal, (1 + M5/32) * 2**(E2 - 1). E2 == 0: M5 is an
    FP5 magnitude e | m (``sub_ebits`` + ``sub_mbits`` = 5) with bias ``sub_bias``, subnormal at
    e == 0. No Inf/NaN codes.
    """

    name: str = "mxsf"
    sub_ebits: int = 3
    sub_mbits: int = 2
    sub_bias: int = 8

    kind = "mxsf"
    has_inf = False
    has_nan = False
    #: the wide (E2M5) mode, one FloatFormat, shared with e2m5
    ebits = 2
    mbits = 5
    bias = 1

    def __post_init__(self):
        _check_int("sub_ebits", self.sub_ebits, 1, 4)
        if self.sub_ebits + self.sub_mbits != self.mbits:
            raise ValueError(
                f"sub_ebits + sub_mbits must be {self.mbits} (the M5 field), "
                f"not {self.sub_ebits} + {self.sub_mbits}")
        # The sub mode must lie entirely below the wide mode's smallest normal (1.0) so that
        # codes stay monotonic in magnitude.
        top = (2 - 2.0**-self.sub_mbits) * 2.0 ** ((1 << self.sub_ebits) - 1 - self.sub_bias)
        if top >= 1.0:
            raise ValueError(
                f"sub_bias must be at least {1 << self.sub_ebits} so the subnormal mode stays below "
                f"1.0 and codes stay monotonic in magnitude, not {self.sub_bias}")

    @property
    def width(self) -> int:
        return 8

    @property
    def wide(self) -> FloatFormat:
        return FloatFormat("e2m5", self.ebits, self.mbits, self.bias, "none")

    @property
    def emax_elem(self) -> int:
        return self.wide.emax

    @property
    def max_finite(self) -> float:
        return self.wide.max_finite

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (1 - self.sub_bias - self.sub_mbits)

    @property
    def sig_bits(self) -> int:
        return self.mbits + 1


@dataclass(frozen=True)
class ScaleFormat:
    """E8M0 block scale: value 2**(code - bias); code 2**bits - 1 is NaN; no zero, no Inf."""

    name: str = "e8m0"
    bits: int = 8
    bias: int = 127

    kind = "scale"

    @property
    def width(self) -> int:
        return self.bits

    @property
    def nan_code(self) -> int:
        return (1 << self.bits) - 1

    @property
    def emin(self) -> int:
        return -self.bias

    @property
    def emax(self) -> int:
        return self.nan_code - 1 - self.bias


E8M0 = ScaleFormat()

_ALL = [
    FloatFormat("fp32", 8, 23, 127, "ieee"),
    FloatFormat("fp16", 5, 10, 15, "ieee"),
    FloatFormat("bf16", 8, 7, 127, "ieee"),
    FloatFormat("e5m2", 5, 2, 15, "ieee"),
    FloatFormat("e4m3", 4, 3, 7, "fn"),
    FloatFormat("e3m2", 3, 2, 3, "none"),
    FloatFormat("e2m3", 2, 3, 1, "none"),
    FloatFormat("e2m1", 2, 1, 1, "none"),
    IntFormat("mxint8", 8, 6, symmetric=True),
    FloatFormat("e2m5", 2, 5, 1, "none"),
    MxsfFormat(),
    FloatFormat("fp10_e5m4", 5, 4, 15, "none", subnormals=False),
    FloatFormat("fp10_e6m3", 6, 3, 31, "none", subnormals=False),
    FloatFormat("fp18_e5m12", 5, 12, 15, "none", subnormals=False),
    FloatFormat("fp17_e6m11", 6, 11, 31, "none", subnormals=False),
]

#: every element/reference format by name
FORMATS: dict[str, FloatFormat | IntFormat | MxsfFormat] = {f.name: f for f in _ALL}

#: the element formats of the MX family (OCP MX v1.0 + MX-SAFE), in catalogue order
MX_ELEMENTS = ("e5m2", "e4m3", "e3m2", "e2m3", "e2m1", "mxint8", "mxsf")

FP32 = FORMATS["fp32"]


def get_format(fmt, allowed=None):
    """Return the descriptor for ``fmt`` (a name or a descriptor).

    Raises
    ------
    ValueError
        Naming the bad value and the allowed names.
    """
    names = tuple(allowed) if allowed is not None else tuple(FORMATS)
    if isinstance(fmt, (FloatFormat, IntFormat, MxsfFormat)):
        if allowed is None or fmt.name in names:
            return fmt
    elif isinstance(fmt, str) and fmt in names:
        return FORMATS[fmt]
    raise ValueError(f"format must be one of {', '.join(names)}, not {fmt!r}")


def fields(codes, fmt):
    """Exact decomposition of element codes: value = (-1)**sign * sig * 2**exp.

    This is the integer view every decoder datapath produces (``mx_decode`` adds the scale to
    ``exp``). Floats give ``sig`` = hidden bit | mantissa and ``exp`` = max(E, 1) - bias - mbits;
    integers give ``sig`` = |q| and ``exp`` = -frac_bits; MXSF gives the 6-bit significand of
    whichever mode the code is in. Canonical forms: zero has sig = exp = 0; NaN has nan = 1 and
    every other field 0; Inf has inf = 1, sig = exp = 0 and its sign.

    Returns
    -------
    dict of int64 arrays: ``sign``, ``sig``, ``exp``, ``inf``, ``nan``.
    """
    fmt = get_format(fmt)
    c = np.asarray(codes, dtype=np.int64)
    if np.any((c < 0) | (c >> fmt.width != 0)):
        raise ValueError(f"codes must be unsigned {fmt.width}-bit integers for {fmt.name}")
    inf = np.zeros_like(c)
    nan = np.zeros_like(c)
    if fmt.kind == "int":
        q = np.where(c >> (fmt.bits - 1) != 0, c - (1 << fmt.bits), c)
        sign, sig = (q < 0).astype(np.int64), np.abs(q)
        exp = np.full_like(c, -fmt.frac_bits)
    else:
        sign = c >> (fmt.width - 1)
        m = c & ((1 << fmt.mbits) - 1)
        e = (c >> fmt.mbits) & ((1 << fmt.ebits) - 1)
        sig = np.where(e != 0, m | (1 << fmt.mbits), m)
        exp = np.maximum(e, 1) - fmt.bias - fmt.mbits
        if fmt.kind == "mxsf":
            sm = m & ((1 << fmt.sub_mbits) - 1)
            se = m >> fmt.sub_mbits
            sub_sig = np.where(se != 0, sm | (1 << fmt.sub_mbits), sm)
            sub_exp = np.maximum(se, 1) - fmt.sub_bias - fmt.sub_mbits
            sig = np.where(e != 0, sig, sub_sig)
            exp = np.where(e != 0, exp, sub_exp)
        elif fmt.specials != "none":
            top = e == (1 << fmt.ebits) - 1
            if fmt.specials == "ieee":
                inf = (top & (m == 0)).astype(np.int64)
                nan = (top & (m != 0)).astype(np.int64)
            else:
                nan = (top & (m == (1 << fmt.mbits) - 1)).astype(np.int64)
        if fmt.kind == "float" and not fmt.subnormals:
            sig = np.where(e == 0, 0, sig)
    zero = (sig == 0) | (inf != 0) | (nan != 0)
    exp = np.where(zero, 0, exp)
    sig = np.where(zero, 0, sig)
    sign = np.where(nan != 0, 0, sign)
    return {"sign": sign, "sig": sig, "exp": exp, "inf": inf, "nan": nan}
