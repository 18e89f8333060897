"""Number-format descriptors and exact element arithmetic (docs/numerics.md §1-3).

A format is data: one frozen descriptor per format, from which every derived property
(``emax``, ``max_finite``, ...) is computed. The golden models, the hardware generators and the
tests all read these descriptors; nothing else restates a format's fields.

Kinds
-----
``FloatFormat``  sign | exponent | mantissa, with ``specials`` in {"ieee", "fn", "none"}.
``IntFormat``    two's complement, value = q * 2**-frac_bits.
``MxsfFormat``   MX-SAFE's element (docs/numerics.md §6): FP8 E2M5 when E2 != 0, FP5 E3M2 below.
``ScaleFormat``  E8M0 block scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import re

import numpy as np

from .checks import check_choice, check_int

SPECIALS = ("ieee", "fn", "none")
ROUNDINGS = ("rne", "rna", "rtz", "stochastic")
#: the rounding modes that need no random bits
PLAIN_ROUNDINGS = ROUNDINGS[:3]
OVERFLOWS = ("saturate", "nonsat")


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
        check_int("ebits", self.ebits, 1, 11)
        check_int("mbits", self.mbits, 0, 52)
        check_choice("specials", self.specials, SPECIALS)

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

    @property
    def max_code(self) -> int:
        """Magnitude code (sign bit clear) of the largest finite value."""
        return (self.emax + self.bias) << self.mbits | self.max_mantissa

    @property
    def nan_code(self) -> int | None:
        """Code of the canonical NaN (sign 0): "ieee" exponent all ones with the mantissa MSB
        set, "fn" all ones; None for a format without NaN."""
        if not self.has_nan:
            return None
        top = ((1 << self.ebits) - 1) << self.mbits
        return top | (1 << (self.mbits - 1) if self.specials == "ieee" else (1 << self.mbits) - 1)

    @property
    def inf_code(self) -> int | None:
        """Magnitude code of Inf (exponent all ones, mantissa 0); None without Inf."""
        return ((1 << self.ebits) - 1) << self.mbits if self.has_inf else None


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
        check_int("bits", self.bits, 2, 32)

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

    @property
    def max_code(self) -> int:
        """The largest code (qmax)."""
        return self.qmax

    nan_code = inf_code = None


@dataclass(frozen=True)
class MxsfFormat:
    """MX-SAFE element (docs/numerics.md §6, project reconstruction), a family over its sub mode.

    Code S | E2 | M5. E2 != 0: FP8 E2M5 normal, (1 + M5/32) * 2**(E2 - 1), in [1, 7.875].
    E2 == 0: M5 is an FP5 magnitude e | m (``sub_ebits`` + ``sub_mbits`` = 5) with bias
    ``sub_bias``, subnormal at e == 0. No Inf/NaN codes.

    The two modes meet at 1.0 (the mode rule: E2M5 for magnitudes >= 1, the sub mode below).
    With the default bias 8 the sub mode spans 2**-9 .. 0.875 and continues E2M5's grid
    seamlessly below 1.0. Other biases are allowed (docs/numerics.md §6 names 8; the MX-SAFE issue
    asks for 6 and 10 as well) and change the value set in one of two ways:

    - ``sub_bias`` < 2**sub_ebits (**overlap**): the top sub-mode codes have values >= 1.0, each
      equal to an E2M5 value (``alias`` codes). They decode to that value; the encoder never
      produces them (the canonical code of a value >= 1 is the E2M5 one).
    - ``sub_bias`` > 2**sub_ebits (**gap**): the largest sub value ``sub_top`` is below 0.5 and
      nothing lies between it and 1.0; rounding works on the value set as always (the midpoint
      of the gap is the rounding threshold), but stochastic rounding (whose step would not be a
      power of two there) is refused.

    On the canonical codes the order of codes is the order of magnitudes in every case, so the
    rounding modes of docs/numerics.md §2 apply unchanged to the list of canonical magnitudes.

    Names: the default is ``"mxsf"``; other members are ``"mxsf_b<bias>"`` (3/2 split) or
    ``"mxsf_e<E>m<M>_b<bias>"``, and :func:`get_format` accepts those names.
    """

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
        check_int("sub_ebits", self.sub_ebits, 1, 4)
        if isinstance(self.sub_mbits, bool) or not isinstance(self.sub_mbits, int) \
                or self.sub_ebits + self.sub_mbits != self.mbits:
            raise ValueError(
                f"sub_ebits + sub_mbits must be {self.mbits} (the M5 field), "
                f"not {self.sub_ebits} + {self.sub_mbits!r}")
        lo, hi = self.sub_bias_range(self.sub_ebits)
        check_int("sub_bias", self.sub_bias, lo, hi,
                  f" for sub_ebits={self.sub_ebits} (the sub mode's largest value must not "
                  f"exceed E2M5's 7.875, and at most 8 binades of gap below 1.0)")

    @staticmethod
    def sub_bias_range(sub_ebits):
        """Allowed ``sub_bias`` for ``sub_ebits``: from the bias whose top binade is E2M5's
        top (every sub value >= 1 is then an alias of an E2M5 value) to 8 binades of gap."""
        top = (1 << sub_ebits) - 1
        return max(1, top - 2), top + 9

    @property
    def name(self) -> str:
        if (self.sub_ebits, self.sub_mbits) != (3, 2):
            return f"mxsf_e{self.sub_ebits}m{self.sub_mbits}_b{self.sub_bias}"
        return "mxsf" if self.sub_bias == 8 else f"mxsf_b{self.sub_bias}"

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

    @property
    def max_code(self) -> int:
        """Magnitude code (sign bit clear) of the largest value: every code is finite."""
        return (1 << (self.width - 1)) - 1

    nan_code = inf_code = None

    @property
    def sub_emin(self) -> int:
        """Exponent of the sub mode's smallest normal binade (1 - sub_bias)."""
        return 1 - self.sub_bias

    @property
    def sub_emax(self) -> int:
        """Exponent of the sub mode's top binade."""
        return (1 << self.sub_ebits) - 1 - self.sub_bias

    @property
    def sub_top(self) -> float:
        """The largest sub-mode magnitude below 1.0 (the canonical neighbour below 1.0)."""
        if self.sub_emax < 0:
            return (2.0 - 2.0**-self.sub_mbits) * 2.0**self.sub_emax
        return 1.0 - 2.0 ** (max(-1, self.sub_emin) - self.sub_mbits)

    @property
    def gap(self) -> bool:
        """True when no sub-mode value lies in [0.5, 1): the grid has a gap below 1.0."""
        return self.sub_emax < -1

    def canonical(self, codes):
        """True for the codes the encoder can produce (every code but the overlap aliases)."""
        c = np.asarray(codes, dtype=np.int64)
        wide = (c >> self.mbits) & ((1 << self.ebits) - 1) != 0
        return wide | (np.abs(decode(c, self)) < 1.0)


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

#: the element formats of the MX family, in catalogue order: OCP MX v1.0, then MX-SAFE's MXSF
#: and its comparison point MXFP8 E2M5 (MXSF variants ``mxsf_b<bias>`` are accepted wherever
#: "mxsf" is, see :func:`get_format`)
MX_ELEMENTS = ("e5m2", "e4m3", "e3m2", "e2m3", "e2m1", "mxint8", "mxsf", "e2m5")

FP32 = FORMATS["fp32"]
BF16 = FORMATS["bf16"]


def mxint(bits):
    """The MXINT-``bits`` element (microxcaling's convention, docs/numerics.md §7): ``bits``-bit
    symmetric two's complement with ``bits - 2`` fraction bits (1.(bits-2) fixed point, so
    emax_elem = 0); ``mxint(8)`` is OCP's MXINT8."""
    check_int("bits", bits, 2, 8)
    return FORMATS["mxint8"] if bits == 8 else IntFormat(f"mxint{bits}", bits, bits - 2)


def get_format(fmt, allowed=None):
    """Return the descriptor for ``fmt`` (a name or a descriptor).

    Raises
    ------
    ValueError
        Naming the bad value and the allowed names.
    """
    names = tuple(allowed) if allowed is not None else tuple(FORMATS)
    family = "mxsf" in names
    if isinstance(fmt, (FloatFormat, IntFormat, MxsfFormat)):
        if allowed is None or fmt.name in names or (family and fmt.kind == "mxsf"):
            return fmt
    elif isinstance(fmt, str) and fmt in names:
        return FORMATS[fmt]
    elif isinstance(fmt, str) and family and fmt.startswith("mxsf"):
        return mxsf_format(fmt)
    more = f" (or an MXSF variant {MXSF_NAMES})" if family else ""
    raise ValueError(f"format must be one of {', '.join(names)}{more}, not {fmt!r}")


def check_element(name, value, allowed=None):
    """The MX element descriptor ``value`` names (one of ``allowed``, default
    :data:`MX_ELEMENTS`, or an MXSF variant when "mxsf" is allowed); a ValueError naming the
    parameter ``name`` otherwise."""
    allowed = MX_ELEMENTS if allowed is None else tuple(allowed)
    if isinstance(value, str) and value.startswith("mxsf_") and "mxsf" in allowed:
        try:
            return mxsf_format(value)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    try:
        return get_format(value, allowed)
    except ValueError:
        more = f" (or an MXSF variant {MXSF_NAMES})" if "mxsf" in allowed else ""
        raise ValueError(f"{name} must be one of {', '.join(allowed)}{more}, "
                         f"not {value!r}") from None


#: how MXSF variants are spelled
MXSF_NAMES = "mxsf_b<bias> or mxsf_e<E>m<M>_b<bias>"
_MXSF_NAME = re.compile(r"mxsf(?:_e(\d)m(\d))?(?:_b(\d+))?")


def mxsf_format(name):
    """The MXSF descriptor a name spells (``mxsf``, ``mxsf_b6``, ``mxsf_e2m3_b4``).

    Raises
    ------
    ValueError
        A malformed name, or sub-mode parameters out of range (the message names them). A name
        must be the canonical spelling of its descriptor (``mxsf_e3m2_b8`` is ``mxsf``).
    """
    match = _MXSF_NAME.fullmatch(name) if isinstance(name, str) else None
    if not match:
        raise ValueError(f"an MXSF format name is mxsf, {MXSF_NAMES}, not {name!r}")
    e, mb, b = match.groups()
    fmt = MxsfFormat(int(e) if e else 3, int(mb) if mb else 2, int(b) if b else 8)
    if fmt.name != name:
        raise ValueError(f"MXSF format {name!r} is spelled {fmt.name!r}")
    return fmt


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


# ---------------------------------------------------------------------------------------------
# Decoding, encoding and element arithmetic (docs/numerics.md §2-3)
# ---------------------------------------------------------------------------------------------

#: largest number of random bits for stochastic rounding (the comparison is exact up to here)
MAX_RBITS = 53

def decode(codes, fmt):
    """Exact value of each element code.

    Parameters
    ----------
    codes : array_like of int
        Unsigned codes of the format's width, any shape.
    fmt : str or format descriptor

    Returns
    -------
    ndarray of float64
        NaN codes give NaN, Inf codes ±Inf, a float's negative-zero code -0.0, flushed
        subnormal codes (``subnormals=False``) ±0.0, ``mxint8`` code 0x80 -2.0.
        Exact: ``sig * 2**exp`` of :func:`fields` has at most 24 significant bits and an
        exponent inside float64's normal range for every format here.

    Raises
    ------
    ValueError
        A code outside the format's width.
    """
    fmt = get_format(fmt)
    f = fields(codes, fmt)
    mag = np.ldexp(f["sig"].astype(np.float64), f["exp"].astype(np.int32))
    mag = np.where(f["inf"] != 0, np.inf, mag)
    val = np.where(f["sign"] != 0, -mag, mag)
    return np.where(f["nan"] != 0, np.nan, val)


def canonical_nan(fmt):
    """Code of the canonical NaN of ``fmt`` (its ``nan_code``).

    Raises
    ------
    ValueError
        The format has no NaN.
    """
    fmt = get_format(fmt)
    if fmt.nan_code is None:
        raise ValueError(f"format {fmt.name} has no NaN")
    return fmt.nan_code


def _top_step(fmt):
    """Distance between the two largest magnitudes; the grid continues above max finite
    with this step (the format with an unbounded exponent range above)."""
    if fmt.kind == "int":
        return 2.0**-fmt.frac_bits
    return 2.0 ** (fmt.emax_elem - fmt.mbits)


def _magnitude_table(fmt):
    if fmt.width > 20:
        raise ValueError(f"magnitudes() needs a format of at most 20 bits, not {fmt.name} "
                         f"({fmt.width} bits)")
    if fmt.kind == "int":
        codes = np.arange(fmt.qmax + 1, dtype=np.int64)
    else:
        codes = np.arange(fmt.max_code + 1, dtype=np.int64)
    mags = decode(codes, fmt)
    keep = np.isfinite(mags) & ((mags != 0) | (codes == 0))
    if fmt.kind == "mxsf":
        keep &= fmt.canonical(codes)  # overlap aliases are never produced
    mags, codes = mags[keep], codes[keep]
    order = np.argsort(mags, kind="stable")
    mags, codes = mags[order], codes[order]
    if np.any(np.diff(mags) <= 0) or np.any(np.diff(codes) <= 0):
        raise AssertionError(f"codes of {fmt.name} are not monotonic in magnitude")
    return mags, codes


_TABLES: dict = {}


def magnitudes(fmt):
    """Sorted non-negative finite magnitudes of a format of at most 20 bits, with their codes.

    Returns
    -------
    (mags, codes) : (ndarray of float64, ndarray of int64)
        Read-only; ``mags[i]`` is the exact value of sign-0 code ``codes[i]``. NaN, Inf and
        flushed subnormal codes are left out, so the list is strictly increasing.
    """
    fmt = get_format(fmt)
    if fmt not in _TABLES:
        mags, codes = _magnitude_table(fmt)
        mags.setflags(write=False)
        codes.setflags(write=False)
        _TABLES[fmt] = (mags, codes)
    return _TABLES[fmt]


def _locate(ax, fmt):
    """Neighbours of magnitudes ``ax`` (finite, >= 0) on the format's grid extended above max.

    Returns ``(lo, hi, prev, frac)``: magnitude codes of the largest grid point <= ax, of the
    next and of the previous grid point, and ``frac = (ax - lo) / (hi - lo)`` in [0, 1).
    Codes above ``fmt.max_code`` continue the code sequence (overflow). Every step is exact:
    ``ldexp`` by a power of two, ``floor``, and a subtraction of two floats within a factor of
    two of each other (or of a float and 0).
    """
    big = 2.0 ** (fmt.emax_elem + 2)
    huge = ax >= big
    ax = np.where(huge, big, ax)
    if fmt.kind == "float":
        m = fmt.mbits
        _, ex = np.frexp(ax)
        e = np.where(ax == 0, fmt.emin, np.maximum(ex.astype(np.int64) - 1, fmt.emin))
        n = np.ldexp(ax, (m - e).astype(np.int32))
        ln = np.floor(n)
        frac = n - ln
        lo = ((e - fmt.emin) << m) + ln.astype(np.int64)
        hi = lo + 1
        prev = lo - 1
        if not fmt.subnormals:
            tiny = ax < fmt.min_normal
            tfrac = np.ldexp(ax, -fmt.emin)
            frac = np.where(tiny, tfrac, frac)
            lo = np.where(tiny, 0, lo)
            hi = np.where(tiny, 1 << m, hi)
            prev = np.where(lo == 1 << m, 0, prev)
    elif fmt.kind == "int":
        n = np.ldexp(ax, fmt.frac_bits)
        ln = np.floor(n)
        frac = n - ln
        lo = ln.astype(np.int64)
        hi, prev = lo + 1, lo - 1
    else:
        mags, codes = magnitudes(fmt)
        step = _top_step(fmt)
        mags = np.concatenate([mags, [mags[-1] + step, mags[-1] + 2 * step]])
        codes = np.concatenate([codes, [codes[-1] + 1, codes[-1] + 2]])
        top = len(mags) - 2
        i = np.minimum(np.searchsorted(mags, ax, side="right") - 1, top)
        lo, hi, prev = codes[i], codes[i + 1], codes[np.maximum(i - 1, 0)]
        frac = (ax - mags[i]) / (mags[i + 1] - mags[i])
    frac = np.where(huge, 0.0, frac)
    return lo, hi, prev, frac


def _check_mode(rounding, overflow):
    check_choice("rounding", rounding, ROUNDINGS)
    check_choice("overflow", overflow, OVERFLOWS)


def _round(x, fmt, rounding, overflow, residual=None, rbits=None, rand=None):
    """Codes of the float64 values ``x`` (+ an infinitesimal of sign ``residual``).

    ``residual`` (-1, 0, +1 per element) says whether the exact value lies just below, at or
    just above ``x`` with no grid point or midpoint in between; the arithmetic operations use
    it to round an exact result that float64 cannot hold.
    """
    if np.any(np.isnan(x)) and not fmt.has_nan:
        raise ValueError(f"format {fmt.name} has no NaN; NaN input cannot be encoded")
    neg = np.signbit(x)
    ax = np.abs(x)
    inf = np.isinf(ax)
    nan = np.isnan(ax)
    ax = np.where(inf | nan, 0.0, ax)
    lo, hi, prev, frac = _locate(ax, fmt)
    if residual is None:
        residual = np.zeros(np.shape(x), dtype=np.int64)
    # direction of the infinitesimal relative to the magnitude
    res = np.where(neg, -residual, residual)
    tie = frac == 0.5
    if rounding == "rtz":
        up = np.zeros(np.shape(frac), dtype=bool)
    elif rounding == "rne":
        up = (frac > 0.5) | (tie & (res > 0)) | (tie & (res == 0) & (lo & 1 == 1))
    elif rounding == "rna":
        up = (frac > 0.5) | (tie & (res >= 0))
    else:
        r = np.asarray(rand)
        up = np.ldexp(frac, rbits) >= (2.0**rbits - r)
    mag = np.where(up, hi, lo)
    # an exact value just below a grid point truncates to the previous one
    if rounding == "rtz":
        mag = np.where((frac == 0) & (res < 0), prev, mag)
    top = fmt.max_code
    if fmt.kind == "int":
        top = np.where(neg, -fmt.qmin, fmt.qmax)
    over = (mag > top) | inf
    if rounding == "rtz":
        over = inf  # truncation never overflows a finite value (IEEE 754 §7.4)
        mag = np.minimum(mag, top)
    if overflow == "nonsat" and fmt.kind == "float" and fmt.has_nan:
        big = fmt.inf_code if fmt.has_inf else fmt.nan_code  # "fn": an overflow is NaN
    else:
        big = top
    if fmt.kind == "float" and fmt.has_inf:
        big = np.where(inf, fmt.inf_code, big)
    mag = np.where(over, big, mag)
    if fmt.kind == "int":
        q = np.where(neg, -mag, mag)
        return (q & ((1 << fmt.bits) - 1)).astype(np.int64)
    code = np.where(neg, mag | (1 << (fmt.width - 1)), mag)
    if fmt.has_nan:
        code = np.where(nan, canonical_nan(fmt), code)
    return code.astype(np.int64)


def encode(x, fmt, rounding="rne", overflow="saturate", rbits=None, rand=None):
    """Codes of real numbers ``x`` in an element format (docs/numerics.md §2).

    Parameters
    ----------
    x : array_like of float
        Values (float64 or narrower; float32 is converted exactly).
    fmt : str or format descriptor
    rounding : {"rne", "rna", "rtz", "stochastic"}
        Nearest-even (ties to the code with LSB 0), nearest-away, truncation, or stochastic:
        round up iff ``frac * 2**rbits + rand >= 2**rbits``.
    overflow : {"saturate", "nonsat"}
        A magnitude that rounds above max finite (judged on the grid continued above max with
        the top binade's step) gives ±max finite, or with "nonsat" ±Inf ("ieee"), NaN with the
        input's sign ("fn", as ``ml_dtypes``), ±max finite (no Inf/NaN). "rtz" never overflows
        a finite input.
    rbits : int, optional
        Number of random bits R (1..53), only with "stochastic".
    rand : array_like of int, optional
        Random values in [0, 2**R), broadcastable to ``x``, only with "stochastic".

    Returns
    -------
    ndarray of int64
        Unsigned codes. NaN gives the canonical NaN, -0.0 and negative values that round to
        zero keep the sign bit (int formats have one zero); symmetric int formats never give
        the most negative code. The tie between 0 and ``min_normal`` of a format without
        subnormals goes to 0.

    Exactness: ``frac`` is computed with power-of-two scaling, ``floor`` and one subtraction of
    floats within a factor two (Sterbenz), so it is exact; the stochastic test compares
    ``ldexp(frac, R)`` with the integer ``2**R - rand``, both exact in float64 for R <= 53.

    Raises
    ------
    ValueError
        Bad ``rounding``/``overflow``/``rbits``/``rand``, or NaN into a format without NaN.
    """
    fmt = get_format(fmt)
    _check_mode(rounding, overflow)
    x = np.asarray(x)
    if x.dtype.kind in "cOSUM":
        raise ValueError(f"x must be a real array, not dtype {x.dtype}")
    x = x.astype(np.float64)
    if rounding == "stochastic":
        if isinstance(rbits, bool) or not isinstance(rbits, (int, np.integer)) \
                or not 1 <= rbits <= MAX_RBITS:
            raise ValueError(f"rbits must be an integer in 1..{MAX_RBITS} with rounding="
                             f"'stochastic', not {rbits!r}")
        if rand is None:
            raise ValueError("rand must be given with rounding='stochastic'")
        rand = np.asarray(rand)
        if rand.dtype.kind not in "iu":
            raise ValueError(f"rand must be an integer array, not dtype {rand.dtype}")
        rand = rand.astype(np.int64)
        if np.any((rand < 0) | (rand >= 2**rbits)):
            raise ValueError(f"rand must lie in [0, 2**{rbits})")
        x, rand = np.broadcast_arrays(x, rand)
        rbits = int(rbits)
        if fmt.kind == "mxsf" and fmt.gap:
            raise ValueError(
                f"stochastic rounding of {fmt.name} is not defined: its grid has a gap below "
                f"1.0 whose step is not a power of two (sub_bias must be at most "
                f"{1 << fmt.sub_ebits} for stochastic rounding)")
    elif rbits is not None or rand is not None:
        raise ValueError("rbits and rand are only used with rounding='stochastic'")
    return _round(x, fmt, rounding, overflow, rbits=rbits, rand=rand)


# -- arithmetic -------------------------------------------------------------------------------

def _arith_format(fmt, rounding, overflow, what):
    """The format of an arithmetic operation ``what``, after checking its modes and size."""
    fmt = get_format(fmt)
    _check_mode(rounding, overflow)
    if rounding == "stochastic":
        raise ValueError(f"rounding must be one of rne, rna, rtz for {what}, not 'stochastic'")
    if fmt.sig_bits > 26:
        raise ValueError(f"{what} support{'s' if '/' not in what else ''} formats with at most "
                         f"26 significand bits, not {fmt.name}")
    return fmt


def _arith_operands(a, b, fmt, rounding, overflow):
    fmt = _arith_format(fmt, rounding, overflow, "add/mul/div")
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    return fmt, a, b


def add(a, b, fmt, rounding="rne", overflow="saturate"):
    """Sum of two element codes, rounded once (docs/numerics.md §3).

    Exact: ``s = a + b`` in float64 and the two-sum error ``t`` represent the exact sum
    ``s + t`` (no float64 overflow for these formats); grid points and midpoints of a format of
    at most 26 significand bits are float64 numbers, so ``s`` and the sign of ``t`` decide the
    rounding. An exactly zero sum is +0 unless both operands are -0.
    """
    fmt, a, b = _arith_operands(a, b, fmt, rounding, overflow)
    x, y = decode(a, fmt), decode(b, fmt)
    with np.errstate(invalid="ignore"):
        s = x + y
        bb = s - x
        t = (x - (s - bb)) + (y - bb)
    t = np.where(np.isfinite(s), t, 0.0)
    return _round(s, fmt, rounding, overflow, residual=np.sign(t).astype(np.int64))


def mul(a, b, fmt, rounding="rne", overflow="saturate"):
    """Product of two element codes, rounded once (docs/numerics.md §3).

    Exact: the float64 product of two significands of at most 26 bits is exact, and the
    exponents stay inside float64's normal range.
    """
    fmt, a, b = _arith_operands(a, b, fmt, rounding, overflow)
    with np.errstate(invalid="ignore"):
        p = decode(a, fmt) * decode(b, fmt)
    return _round(p, fmt, rounding, overflow)


def div(a, b, fmt, rounding="rne", overflow="saturate"):
    """Quotient of two element codes, rounded once (docs/numerics.md §3).

    Exact: with both significands normalized to P = ``sig_bits`` bits, the integer quotient
    ``Q = (sa << (P + 2)) // sb`` (< 2**(2P+2), int64) has at least P + 2 bits, so every grid
    point and midpoint of the format is a multiple of its last bit; ``Q * 2**E`` (exact in
    float64) plus the sign of the remainder decides the rounding. Division by zero gives ±Inf
    (overflow rules) and 0/0 NaN, as in IEEE 754.
    """
    fmt, a, b = _arith_operands(a, b, fmt, rounding, overflow)
    fa, fb = fields(a, fmt), fields(b, fmt)
    x, y = decode(a, fmt), decode(b, fmt)
    with np.errstate(invalid="ignore", divide="ignore"):
        special = x / y  # correct for NaN, Inf and zero operands
    regular = (fa["sig"] != 0) & (fb["sig"] != 0)
    P = fmt.sig_bits
    sa = np.where(regular, fa["sig"], 1)
    sb = np.where(regular, fb["sig"], 1)
    la = np.frexp(sa.astype(np.float64))[1].astype(np.int64)  # bit lengths (exact, < 2**53)
    lb = np.frexp(sb.astype(np.float64))[1].astype(np.int64)
    sa = sa << (P - la)
    sb = sb << (P - lb)
    num = sa << (P + 2)
    q, r = num // sb, num % sb
    e = (fa["exp"] - (P - la)) - (fb["exp"] - (P - lb)) - (P + 2)
    mag = np.ldexp(q.astype(np.float64), e)
    neg = (fa["sign"] ^ fb["sign"]) != 0
    val = np.where(regular, np.where(neg, -mag, mag), special)
    residual = np.where(regular & (r != 0), np.where(neg, -1, 1), 0)
    return _round(val, fmt, rounding, overflow, residual=residual)


def sqrt(a, fmt, rounding="rne", overflow="saturate"):
    """Square root of element codes, rounded once (docs/numerics.md §2).

    Specials as IEEE 754: sqrt(±0) = ±0 (a flushed subnormal code is a zero and keeps its
    sign), sqrt(+Inf) = +Inf, sqrt(NaN) and sqrt of a negative nonzero value (-Inf included)
    give the canonical NaN. The root of a format value can lie outside the format's range
    only in formats far from 1.0 (a bias that puts max finite below 1 or min normal above 1);
    overflow and underflow then follow docs/numerics.md §2 like any rounding.

    Exact: with the significand normalized to P = ``sig_bits`` bits (value ``s * 2**e``), it
    is shifted left so that ``M = s << k`` has 2P + 3 or 2P + 4 bits and ``e - k`` is even.
    The integer root ``r = isqrt(M)`` (< 2**(P + 2), >= 2**(P + 1)) then has P + 2 bits, so
    every grid point and midpoint of the format near the root is a multiple of its last bit, and
    ``r * 2**((e - k) / 2)`` (exact in float64) plus the sign of ``M - r*r`` decides the
    rounding, as in :func:`div`. ``isqrt`` is vectorized: ``floor(sqrt(float64(M)))`` is within
    one of ``r`` (M < 2**56 for P <= 26: the two float64 roundings err by less than 2**-52
    relative, below 2**-24 absolute at r < 2**28), and one correction step each way in int64
    (squares below 2**57) makes it exact.

    Raises
    ------
    ValueError
        Bad ``rounding``/``overflow`` (and "stochastic"), a format of more than 26 significand
        bits, or a negative nonzero operand in a format without NaN (the message names it).
    """
    fmt = _arith_format(fmt, rounding, overflow, "sqrt")
    a = np.asarray(a, dtype=np.int64)
    f = fields(a, fmt)
    neg = f["sign"] != 0
    nan = (f["nan"] != 0) | (neg & ((f["sig"] != 0) | (f["inf"] != 0)))
    if np.any(nan & (f["nan"] == 0)) and not fmt.has_nan:
        raise ValueError(f"the square root of a negative number is NaN, which format "
                         f"{fmt.name} has no code for")
    regular = (f["sig"] != 0) & ~neg
    P = fmt.sig_bits
    s = np.where(regular, f["sig"], 1)
    ls = np.frexp(s.astype(np.float64))[1].astype(np.int64)  # bit length (exact, s < 2**53)
    k = 2 * P + 3 - ls
    k = k + ((f["exp"] - k) & 1)                              # e - k even
    M = s << k                                                # 2P + 3 or 2P + 4 bits
    r = np.floor(np.sqrt(M.astype(np.float64))).astype(np.int64)
    r = np.where(r * r > M, r - 1, r)
    r = np.where((r + 1) * (r + 1) <= M, r + 1, r)
    rem = M - r * r
    mag = np.ldexp(r.astype(np.float64), ((f["exp"] - k) // 2).astype(np.int32))
    zero = np.where(neg, -0.0, 0.0)
    val = np.where(regular, mag, np.where(f["inf"] != 0, np.inf, zero))
    val = np.where(nan, np.nan, val)
    residual = np.where(regular & (rem != 0), 1, 0)
    return _round(val, fmt, rounding, overflow, residual=residual)


# ---------------------------------------------------------------------------------------------
# exact rounding of integer * 2**exp


def _encode_exact_one(sign, mag, exp, fmt, rounding, overflow):
    sign, mag, exp = int(sign), int(mag), int(exp)
    sbit = sign << (fmt.width - 1)
    if mag == 0:
        return sbit
    m = fmt.mbits
    msb = exp + mag.bit_length() - 1
    tiny = msb < fmt.emin
    if not tiny:
        q = msb - m
    elif fmt.subnormals:
        q = fmt.emin - m
    else:
        q = fmt.emin  # grid 0, min_normal: n in {0, 1}
    sh = q - exp
    if sh <= 0:
        n, up = mag << -sh, False
    else:
        n = mag >> sh
        rem = mag - (n << sh)
        half = 1 << (sh - 1)
        if rounding == "rne":
            up = rem > half or (rem == half and n & 1 == 1)
        elif rounding == "rna":
            up = rem >= half
        else:
            up = False
    n += int(up)
    if n == 0:
        return sbit
    if tiny and not fmt.subnormals:  # n == 1: min_normal
        n, q = 1 << m, fmt.emin - m
    if n >> (m + 1):  # rounded up into the next binade (n == 2**(m+1))
        n, q = n >> 1, q + 1
    if n < 1 << m:
        code = n  # subnormal, q == emin - m
    else:
        code = ((q + m + fmt.bias) << m) | (n - (1 << m))
    top = fmt.max_code
    if code > top:
        if rounding == "rtz" or overflow == "saturate" or not fmt.has_nan:
            code = top
        elif fmt.has_inf:
            code = ((1 << fmt.ebits) - 1) << m
        else:
            code = canonical_nan(fmt)
    return sbit | code


_encode_exact_u = np.frompyfunc(_encode_exact_one, 6, 1)


def encode_exact(sign, mag, exp, fmt, rounding="rne", overflow="nonsat"):
    """Codes of ``(-1)**sign * mag * 2**exp`` with ``mag`` an exact (unbounded) integer.

    The exact-integer counterpart of :func:`golden.formats.encode` for values float64 cannot
    hold (wide dot-product sums); same rules (docs/numerics.md §2): one rounding of the exact value,
    "rne"/"rna"/"rtz", overflow judged after rounding ("nonsat": ±Inf, or NaN in "fn" formats,
    ±max in formats without specials; "saturate" and "rtz": ±max finite), gradual underflow,
    the sign of zero kept (the caller passes sign 0 for a +0).

    Parameters
    ----------
    sign : array_like of int (0/1)
    mag : array_like of int or object array of Python ints, >= 0
    exp : array_like of int
    fmt : str or FloatFormat
    rounding : {"rne", "rna", "rtz"}
    overflow : {"saturate", "nonsat"}

    Returns
    -------
    ndarray of int64 (uint32 view for FP32 is the caller's choice)

    Exactness: integer shifts and comparisons only.
    """
    fmt = get_format(fmt)
    if fmt.kind != "float":
        raise ValueError(f"encode_exact supports float formats, not {fmt.name}")
    check_choice("rounding", rounding, PLAIN_ROUNDINGS)
    check_choice("overflow", overflow, OVERFLOWS)
    out = _encode_exact_u(sign, np.asarray(mag, dtype=object), exp, fmt, rounding, overflow)
    return np.asarray(out, dtype=np.int64)
