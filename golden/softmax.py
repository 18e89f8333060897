"""Softmax units in integer fixed point: OPAL's log2 softmax (docs/numerics.md §7) and the
conventional exp/divide baseline it is compared with. Codes in, codes out; every step is integer
arithmetic with one defined truncation, so the golden models here are exact and the hardware
(``hw/softmax.py``) reproduces them bit for bit.

Common conventions. A vector holds ``n`` scores x_j, ``in_bits``-bit two's complement codes with
F = ``frac_bits`` fraction bits (default Q8.8). ``>>`` is an arithmetic (floor) shift. Every
output y_j is unsigned with O = ``out_bits`` fraction bits (``out_bits + 1`` bits: y = 2**O,
i.e. 1.0, is possible). m = max_j x_j and z_j = x_j - m <= 0 (exact).

**log2 softmax** (``log2_softmax``; P = ``exp_bits``; shifts, adds and one leading-one detector):

1. z_j = x_j - m.
2. u_j = z_j + (z_j >> 1) - (z_j >> 4)    (~ z_j * 1.4375 ~ z_j * log2 e; u_j <= 0, u = 0 at
   the maximum; u is nondecreasing in z).
3. pow2(v, Q) for v <= 0 with F fraction bits: vi = v >> F, vf = v - (vi << F) in [0, 2**F),
   pow2 = floor((2**F + vf) * 2**(Q + vi - F))    (Mitchell: (1 + frac) * 2**floor, Q fraction
   bits, truncated). e_j = pow2(u_j, P); the maximum gives e = 2**P.
4. D = sum_j e_j (exact; 2**P <= D <= n * 2**P).
5. L = bit_length(D) - 1 (the leading one, L >= P);
   lg = ((L - P) << F) + floor((D - 2**L) * 2**F / 2**L)   (log2(D / 2**P) by Mitchell, F
   fraction bits, truncated: the F bits below D's leading one).
6. v_j = u_j - lg <= 0; y_j = pow2(v_j, O).

**exp softmax** (``exp_softmax``, the conventional unit: a real constant multiplication, a
piecewise-linear table, an exact divider). Beyond the common parameters: C = ``log2e_bits``
(fraction bits of the log2 e constant, default 12) and S = ``segments`` (chords of the 2**f
table, a power of two <= 2**F, default 8; s = log2 S). The choices, all defined here:

1. z_j = x_j - m.
2. t_j = (z_j * K + 2**(C-1)) >> C with K = round(log2(e) * 2**C) (5909 for C = 12): z * log2 e
   rounded half up to F fraction bits (t <= 0; t = 0 at the maximum).
3. ti = t >> F, tf = t - (ti << F) in [0, 2**F); segment k = tf >> (F - s), offset
   d = tf mod 2**(F - s). The table: A_k = round(2**(P + k/S)) for k = 0..S (exact integer
   rounding; A_0 = 2**P, A_S = 2**(P+1)) and the chord slopes B_k = A_{k+1} - A_k.
   mant = A_k + ((d * B_k) >> (F - s))   (the chord through the quantized knots, truncated;
   2**P <= mant <= 2**(P+1)).
4. e_j = mant >> (-ti)   (P fraction bits, truncated; e = 2**P at the maximum, e <= 2**P).
5. D = sum_j e_j (exact, as in the log2 unit).
6. y_j = floor(e_j * 2**O / D)   (an exact integer division; y <= 2**O since e_j <= D).

Why these: the argument t keeps the input's resolution (F bits) and is rounded, not truncated,
so it has no bias; a chord table is exact at its knots (e = 2**P exactly at the maximum, as in
the log2 unit) and continuous; the knots are rounded to P bits, the resolution of e. Each of the
three quantizations (t to F bits, the chord, e to P bits) is of the same order at the defaults.

Intermediate widths follow from the parameters (:func:`log2_widths`, :func:`exp_widths`; the
hardware sizes its registers from them). B = ``in_bits``, NB = bit_length(n):
x B signed; z B + 1 signed; u (and t) the signed width of [u(zmin), 0], B + 2 bits; e P + 1;
D bit_length(n * 2**P) = P + NB; lg bit_length(NB * 2**F - 1) (L - P <= NB - 1);
v the signed width of [umin - lgmax, 0]; y O + 1.

Exactness: every value here is an integer far inside int64 for the allowed parameters
(|z * K| < 2**50, D < 2**37, (D - 2**L) << F < 2**61), and the leading-one position uses
``np.frexp`` on integers below 2**53 (exact).

References (float64, for the error studies): :func:`log2_reference` and :func:`exp_reference`
follow the same approximation chains without any truncation (the log2 unit's shift-add constant
1.4375 and Mitchell's (1 + f) * 2**i both ways; the exp unit's exact log2 e and chords through
exact knots); :func:`exact_softmax` is the softmax of the scores x / 2**F.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .checks import check_int

__all__ = ["log2_softmax", "exp_softmax", "log2_terms", "exp_terms", "log2_block", "exp_block",
           "log2_stimulus", "exp_stimulus", "vector_beats", "stream_space", "LOG2_DEFAULTS",
           "EXP_DEFAULTS", "check_log2_params", "check_exp_params", "log2_widths",
           "exp_widths", "exp_table", "log2e_constant", "pow2", "log2_fixed",
           "log2_reference", "exp_reference", "exact_softmax", "attention_scores", "to_codes",
           "corner_vectors", "MAX_N", "MAX_IN_BITS", "MAX_EXP_BITS", "MAX_OUT_BITS",
           "MAX_LOG2E_BITS", "MAX_SEGMENTS"]

#: every parameter of the log2 unit with its default (the catalogue reads these)
LOG2_DEFAULTS = {"n": 64, "in_bits": 16, "frac_bits": 8, "exp_bits": 16, "out_bits": 8}
#: every parameter of the conventional unit with its default
EXP_DEFAULTS = {**LOG2_DEFAULTS, "log2e_bits": 12, "segments": 8}

MAX_N = 4096
MAX_IN_BITS = 24
MAX_EXP_BITS = 24
MAX_OUT_BITS = 24
MAX_LOG2E_BITS = 24
MAX_SEGMENTS = 64

#: log2(e) to 40 digits (exact enough for any C <= 24: no rounding tie is within reach)
_LOG2E = Fraction("1.442695040888963407359924681001892137427")


# ---------------------------------------------------------------------------------------------
# parameters and widths


def check_log2_params(n=64, in_bits=16, frac_bits=8, exp_bits=16, out_bits=8, **_):
    """Validate the common parameters; one ValueError/TypeError naming the parameter each."""
    check_int("n", n, 2, MAX_N)
    check_int("in_bits", in_bits, 2, MAX_IN_BITS)
    check_int("frac_bits", frac_bits, 0, in_bits, " (at most in_bits)")
    check_int("exp_bits", exp_bits, 1, MAX_EXP_BITS)
    check_int("out_bits", out_bits, 1, MAX_OUT_BITS)
    return n, in_bits, frac_bits, exp_bits, out_bits


def check_exp_params(n=64, in_bits=16, frac_bits=8, exp_bits=16, out_bits=8, log2e_bits=12,
                     segments=8, **_):
    """:func:`check_log2_params` plus ``log2e_bits`` (1..24) and ``segments`` (a power of two
    in 1..min(64, 2**frac_bits))."""
    check_log2_params(n, in_bits, frac_bits, exp_bits, out_bits)
    check_int("log2e_bits", log2e_bits, 1, MAX_LOG2E_BITS)
    top = min(MAX_SEGMENTS, 1 << frac_bits)
    note = f" and a power of two (at most 2**frac_bits = {1 << frac_bits})"
    check_int("segments", segments, 1, top, note)
    if segments & (segments - 1):
        raise ValueError(f"segments must be an integer in 1..{top}{note}, not {segments!r}")
    return n, in_bits, frac_bits, exp_bits, out_bits, log2e_bits, segments


def _signed_bits(lo, hi):
    """Least width of a two's complement signal holding lo..hi."""
    w = 1
    while not -(1 << (w - 1)) <= lo <= hi < (1 << (w - 1)):
        w += 1
    return w


def _shift_add(z):
    """Step 2 of the log2 unit on Python ints or int64 arrays."""
    return z + (z >> 1) - (z >> 4)


def log2_widths(n=64, in_bits=16, frac_bits=8, exp_bits=16, out_bits=8, **_):
    """Widths (bits) of the log2 unit's intermediates and their extreme values.

    Returns a dict: ``z``, ``u``, ``v`` (signed widths), ``e``, ``D``, ``lg``, ``y`` (unsigned
    widths), and ``u_min``, ``lg_max``, ``v_min``.
    """
    n, B, F, P, O = check_log2_params(n, in_bits, frac_bits, exp_bits, out_bits)
    z_min = -((1 << B) - 1)
    u_min = _shift_add(z_min)  # u is nondecreasing in z
    nb = n.bit_length()
    lg_max = (nb << F) - 1     # L - P <= nb - 1, the fraction < 2**F
    v_min = u_min - lg_max
    return {"z": _signed_bits(z_min, 0), "u": _signed_bits(u_min, 0),
            "v": _signed_bits(v_min, 0), "e": P + 1, "D": (n << P).bit_length(),
            "lg": lg_max.bit_length(), "y": O + 1,
            "u_min": u_min, "lg_max": lg_max, "v_min": v_min}


def log2e_constant(log2e_bits=12):
    """K = round(log2(e) * 2**log2e_bits) (no tie is possible)."""
    check_int("log2e_bits", log2e_bits, 1, MAX_LOG2E_BITS)
    scaled = _LOG2E * (1 << log2e_bits)
    return int(scaled + Fraction(1, 2))


def _nearest_root(k, S):
    """The integer nearest to 2**(k / S), by exact integer comparisons (2**(k/S) is irrational
    unless S divides k, so there is no tie)."""
    a = round(2.0 ** (k / S))
    # a - 1/2 <= root < a + 1/2  <=>  (2a - 1)**S <= 2**(k + S) < (2a + 1)**S
    target = 1 << (k + S)
    while (2 * a - 1) ** S > target:
        a -= 1
    while (2 * a + 1) ** S <= target:
        a += 1
    return a


def exp_table(exp_bits=16, segments=8):
    """The exp unit's chord table: (A, B) tuples of ints, A_k = round(2**(P + k/S)) for
    k = 0..S and B_k = A_{k+1} - A_k for k = 0..S-1."""
    P, S = exp_bits, segments
    A = tuple(_nearest_root(P * S + k, S) for k in range(S + 1))
    return A, tuple(A[k + 1] - A[k] for k in range(S))


def exp_widths(n=64, in_bits=16, frac_bits=8, exp_bits=16, out_bits=8, log2e_bits=12,
               segments=8, **_):
    """Widths of the exp unit's intermediates: ``z``, ``t`` (signed), ``mant``, ``slope``,
    ``e``, ``D``, ``y`` (unsigned), and ``t_min``, ``K``."""
    n, B, F, P, O, C, S = check_exp_params(n, in_bits, frac_bits, exp_bits, out_bits,
                                           log2e_bits, segments)
    K = log2e_constant(C)
    z_min = -((1 << B) - 1)
    t_min = (z_min * K + (1 << (C - 1))) >> C   # t is nondecreasing in z
    A, Bk = exp_table(P, S)
    r = F - (S.bit_length() - 1)
    d_max = (1 << r) - 1
    mant_max = max(A[k] + ((d_max * Bk[k]) >> r) for k in range(S))
    return {"z": _signed_bits(z_min, 0), "t": _signed_bits(t_min, 0),
            "mant": mant_max.bit_length(), "slope": max(1, max(Bk).bit_length()),
            "e": P + 1, "D": (n << P).bit_length(), "y": O + 1, "t_min": t_min, "K": K}


# ---------------------------------------------------------------------------------------------
# the integer models


def _codes(x, in_bits):
    """Scores as signed int64: two's complement codes (0..2**B - 1) or signed values."""
    x = np.asarray(x, dtype=np.int64)
    lo, hi = -(1 << (in_bits - 1)), 1 << in_bits
    if x.size and (x.min() < lo or x.max() >= hi):
        raise ValueError(f"score codes must lie in {lo}..{hi - 1} for in_bits = {in_bits}")
    return ((x - lo) & ((1 << in_bits) - 1)) + lo


def pow2(v, q, frac_bits):
    """Mitchell's 2**v for v <= 0 (int64 array, ``frac_bits`` fraction bits) with ``q``
    fraction bits: floor((2**F + vf) * 2**(q + vi - F)), vi = v >> F, vf = v - (vi << F)."""
    v = np.asarray(v, dtype=np.int64)
    F = frac_bits
    vi = v >> F
    base = (1 << F) + (v - (vi << F))
    s = q + vi - F
    left = base << np.clip(s, 0, 62)
    right = base >> np.clip(-s, 0, 62)
    return np.where(s >= 0, left, right)


def log2_fixed(D, exp_bits, frac_bits):
    """Step 5: lg = ((L - P) << F) + floor((D - 2**L) * 2**F / 2**L), L = bit_length(D) - 1."""
    D = np.asarray(D, dtype=np.int64)
    L = np.frexp(D.astype(np.float64))[1].astype(np.int64) - 1   # exact: D < 2**53
    return ((L - exp_bits) << frac_bits) + (((D - (np.int64(1) << L)) << frac_bits) >> L)


def _vectors(x, n, in_bits):
    x = _codes(x, in_bits)
    if x.ndim == 0 or x.shape[-1] != n:
        raise ValueError(f"the scores' last axis must have n = {n} entries, not "
                         f"{x.shape[-1] if x.ndim else 'a scalar'}")
    return x


def log2_terms(x, **params):
    """The log2 unit on vectors ``x`` (shape (..., n) codes; n defaults to the last axis).

    Returns a dict of int64 arrays: ``z``, ``u``, ``e``, ``v``, ``y`` (shape of x) and ``D``,
    ``lg`` (one per vector)."""
    x = np.asarray(x)
    p = {**LOG2_DEFAULTS, "n": x.shape[-1] if x.ndim else 0, **params}
    n, B, F, P, O = check_log2_params(**p)
    x = _vectors(x, n, B)
    z = x - x.max(axis=-1, keepdims=True)
    u = _shift_add(z)
    e = pow2(u, P, F)
    D = e.sum(axis=-1)
    lg = log2_fixed(D, P, F)
    v = u - lg[..., None]
    return {"z": z, "u": u, "e": e, "D": D, "lg": lg, "v": v, "y": pow2(v, O, F)}


def log2_softmax(x, **params):
    """OPAL's log2 softmax (docs/numerics.md §7, the six steps of the module docstring) over the
    last
    axis of ``x``: y codes (O fraction bits), int64, the shape of ``x``."""
    return log2_terms(x, **params)["y"]


def exp_terms(x, **params):
    """The exp unit on vectors ``x`` (shape (..., n)): a dict of int64 arrays ``z``, ``t``,
    ``mant``, ``e``, ``y`` (shape of x) and ``D`` (one per vector)."""
    x = np.asarray(x)
    p = {**EXP_DEFAULTS, "n": x.shape[-1] if x.ndim else 0, **params}
    n, B, F, P, O, C, S = check_exp_params(**p)
    x = _vectors(x, n, B)
    K = log2e_constant(C)
    A, Bk = (np.array(v, dtype=np.int64) for v in exp_table(P, S))
    r = F - (S.bit_length() - 1)
    z = x - x.max(axis=-1, keepdims=True)
    t = (z * K + (1 << (C - 1))) >> C
    ti = t >> F
    tf = t - (ti << F)
    k, d = tf >> r, tf & ((1 << r) - 1)
    mant = A[k] + ((d * Bk[k]) >> r)
    e = mant >> np.minimum(-ti, 62)
    D = e.sum(axis=-1)
    y = (e << O) // D[..., None]
    return {"z": z, "t": t, "mant": mant, "e": e, "D": D, "y": y}


def exp_softmax(x, **params):
    """The conventional softmax of the module docstring (piecewise-linear 2**f, exact divider)
    over the last axis of ``x``: y codes (O fraction bits), int64."""
    return exp_terms(x, **params)["y"]


# ---------------------------------------------------------------------------------------------
# float64 references


def _mitchell(w):
    """(1 + frac(w)) * 2**floor(w), untruncated."""
    i = np.floor(w)
    return (1.0 + (w - i)) * np.exp2(i)


def log2_reference(x, frac_bits=8, **_):
    """The log2 unit's approximation chain in float64 without truncation: u = 1.4375 z,
    e = mitchell(u), lg = L + D / 2**L - 1, y = mitchell(u - lg) (probabilities)."""
    s = np.asarray(x, dtype=np.float64) / 2.0 ** frac_bits
    u = (s - s.max(axis=-1, keepdims=True)) * 1.4375
    D = _mitchell(u).sum(axis=-1, keepdims=True)
    L = np.floor(np.log2(D))
    return _mitchell(u - (L + D / np.exp2(L) - 1.0))


def exp_reference(x, frac_bits=8, segments=8, **_):
    """The exp unit's chain in float64 without quantization: t = z * log2 e exactly, 2**frac(t)
    by the chord through the exact knots 2**(k/S), exact sum and division (probabilities)."""
    s = np.asarray(x, dtype=np.float64) / 2.0 ** frac_bits
    t = (s - s.max(axis=-1, keepdims=True)) * float(_LOG2E)
    ti = np.floor(t)
    f = (t - ti) * segments
    k = np.minimum(np.floor(f), segments - 1)
    lo, hi = np.exp2(k / segments), np.exp2((k + 1) / segments)
    e = (lo + (f - k) * (hi - lo)) * np.exp2(ti)
    return e / e.sum(axis=-1, keepdims=True)


def exact_softmax(x, frac_bits=8, **_):
    """softmax(x / 2**F) in float64."""
    s = np.asarray(x, dtype=np.float64) / 2.0 ** frac_bits
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# stream wrappers and stimulus


def log2_block(inputs, **params):
    """Golden ``log2_softmax`` stream: one score per input beat ``{"x"}`` (n beats a vector),
    one ``{"y"}`` per beat in input order."""
    p = {**LOG2_DEFAULTS, **params}
    x = np.asarray(inputs["x"], dtype=np.int64).reshape(-1)
    if x.size % p["n"]:
        raise ValueError(f"the stream has {x.size} beats, not a multiple of n = {p['n']}")
    return {"y": log2_softmax(x.reshape(-1, p["n"]), **p).reshape(-1)}


def exp_block(inputs, **params):
    """Golden ``exp_softmax`` stream (as :func:`log2_block`)."""
    p = {**EXP_DEFAULTS, **params}
    x = np.asarray(inputs["x"], dtype=np.int64).reshape(-1)
    if x.size % p["n"]:
        raise ValueError(f"the stream has {x.size} beats, not a multiple of n = {p['n']}")
    return {"y": exp_softmax(x.reshape(-1, p["n"]), **p).reshape(-1)}


def to_codes(scores, in_bits=16, frac_bits=8, **_):
    """Real scores -> in_bits codes with F fraction bits (round half even, saturated)."""
    lo, hi = -(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1
    return np.clip(np.rint(np.asarray(scores) * 2.0 ** frac_bits), lo, hi).astype(np.int64)


def attention_scores(rng, rows, n, d=64, scale=1.0, peaks=0):
    """Attention-score rows q . k_j / sqrt(d) * ``scale`` (q, k_j standard normal in d
    dimensions), ``peaks`` positions per row raised by U(4, 12) (a peaked row)."""
    q = rng.standard_normal((rows, 1, d))
    k = rng.standard_normal((rows, n, d))
    s = (q * k).sum(axis=-1) / np.sqrt(d) * scale
    for r in range(rows):
        idx = rng.choice(n, size=min(peaks, n), replace=False)
        s[r, idx] += rng.uniform(4, 12, len(idx))
    return s


#: score scales of the random stimulus (a temperature sweep: 1/T)
_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def corner_vectors(n=64, in_bits=16, frac_bits=8, **_):
    """Named corner vectors (int64 codes): all equal (zero, max, min), one dominant (first,
    last), two tied maxima, alternating extremes, ramps of one code and of a quarter unit, a
    vector with the largest z, D exactly a power of two, ties below the max."""
    lo, hi = -(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1
    one = 1 << frac_bits
    j = np.arange(n, dtype=np.int64)
    dom = np.full(n, lo)
    dom_last = dom.copy()
    dom[0], dom_last[-1] = hi, hi
    tie = np.full(n, lo)
    tie[[0, n - 1]] = hi
    half = np.where(j % 2 == 0, hi, hi - one)   # two levels one unit apart
    out = {
        "zeros": np.zeros(n, np.int64), "all_max": np.full(n, hi), "all_min": np.full(n, lo),
        "dominant_first": dom, "dominant_last": dom_last, "tied_max": tie,
        "alternating": np.where(j % 2 == 0, hi, lo), "ramp_code": np.maximum(-j, lo),
        "ramp_quarter": np.maximum(-j * max(1, one // 4), lo),
        "ramp_up": np.minimum(j * max(1, one // 2) + lo, hi), "two_levels": half,
        "near_zero": np.clip((j % 7) - 3, lo, hi),
        "deep": np.where(j == n // 2, hi, np.clip(hi - (j + 1) * max(1, (hi - lo) // n), lo,
                                                 hi)),
    }
    return {k: np.clip(v, lo, hi).astype(np.int64) for k, v in out.items()}


def _stimulus(rng, n_beats, n, in_bits, frac_bits):
    V = max(1, -(-n_beats // n))
    rows = []
    for r in range(V):
        kind = r % 4
        if kind == 3:      # uniform codes over the whole range: every width at its limit
            lo = -(1 << (in_bits - 1))
            spread = int(rng.integers(1, in_bits + 1))
            top = int(rng.integers(lo, 1 << (in_bits - 1)))
            row = np.clip(top - rng.integers(0, 1 << spread, n), lo, None)
        else:              # attention rows over a temperature sweep, some peaked
            scale = _SCALES[int(rng.integers(len(_SCALES)))]
            peaks = int(rng.integers(1, 4)) if kind == 2 else 0
            s = attention_scores(rng, 1, n, scale=scale, peaks=peaks)[0]
            row = to_codes(s + rng.uniform(-4, 4), in_bits, frac_bits)
        rows.append(row.astype(np.int64))
    corners = list(corner_vectors(n, in_bits, frac_bits).values())
    return {"x": np.concatenate(rows + corners)}


def log2_stimulus(rng, n_beats, exhaustive=False, **params):
    """``{"x": (beats,)}`` int64 codes: about ``n_beats`` beats of random vectors (attention
    rows q.k/sqrt(64) over a temperature sweep 1/T = 0.25..8, peaked rows, uniform codes over
    the whole range) then :func:`corner_vectors`."""
    p = {**LOG2_DEFAULTS, **params}
    n, B, F, _, _ = check_log2_params(**p)
    return _stimulus(rng, n_beats, n, B, F)


def exp_stimulus(rng, n_beats, exhaustive=False, **params):
    """As :func:`log2_stimulus`, for the exp unit's parameters."""
    p = {**EXP_DEFAULTS, **params}
    n, B, F = check_exp_params(**p)[:3]
    return _stimulus(rng, n_beats, n, B, F)


def vector_beats(n=64, **_):
    """Input beats of one score vector."""
    return n


def stream_space(**_):
    """A vector of n scores is far beyond 2**20 inputs: random and corner vectors only."""
    return None
