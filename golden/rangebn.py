"""LightNorm: range batch normalization, forward and backward, in low-precision FP, and the
conventional batch normalization it replaces (docs/blocks.md "LightNorm", docs/numerics.md §1 and
§3, ``papers/notes.md`` §2).

Every function here is a bit-exact golden model: a fixed sequence of operations, each rounded
once (docs/numerics.md §3: :func:`golden.formats.add`, ``mul``, ``div``, ``sqrt``, ``encode``),
which the hardware (``hw/rangebn.py``) performs in the same order. Codes in, codes out.

Shapes and names. A channel holds ``n`` values, streamed ``lanes`` per beat (lane j of beat b
is value ``b * lanes + j``). The ``chunks`` = K (8, as in the lab code) chunks are the
contiguous runs of ``m = n / K`` values; ``n`` must be a multiple of ``K * lanes`` so a chunk is
whole beats. Constants are rounded to the accumulator format with "rne" once, at elaboration:
``inv_n`` = 1/n, ``inv_k`` = 1/K, ``cn`` = C(m) = 1/sqrt(2 ln m) (the lab uses the chunk size
m, not n), ``eps`` = the accumulator's smallest normal 2**-14 (the lab's 1e-5 is below it, and
flushes to zero), ``one`` = 1.

Range BN forward (:func:`forward`; values V = fp10_e5m4, accumulators A = fp18_e5m12, every
operation rounded with ``rounding``, "rtz" by default as in the lab's bit masking, or "rne";
overflow saturates: these formats have no Inf or NaN):

    xa_i  = A(x_i)                                      exact widening of each value
    T_b   = pairwise sum of beat b's lanes in A         ((x0+x1)+(x2+x3)) + ..., hw.lib.trees order
    S     = (..((+0 + T_0) + T_1) ..) + T_last          running sum, beat by beat
    max_k, amax_k = largest value of chunk k and its index in the channel (first on ties)
    min_k, amin_k = smallest value of chunk k and its index (first on ties)
    Smax  = (..((+0 + A(max_0)) + A(max_1)) ..)         chunk order; Smin likewise
    mu    = S * inv_n
    d     = Smax * inv_k - Smin * inv_k                 (three operations: mul, mul, sub)
    r     = d * cn + eps                                (mul, then add)
    s     = one / r                                     (the hardware's iterative divider)
    a     = s * A(gamma)
    y_i   = V( (xa_i - mu) * a + A(beta) )              (sub, mul, add in A, then one rounding
                                                        to V: a defined double rounding)

A constant channel (range 0) gives r = eps, s = 2**14 and, when mu is exact, y = beta: no
division by zero. ``mu`` and ``s`` (A codes) and the 2K chunk indices are outputs: the backward
pass needs them.

Range BN backward (:func:`backward`; gradients V = fp10_e6m3, accumulators A = fp17_e6m11;
``x`` and ``gamma`` are the forward's fp10_e5m4 codes, ``mu`` and ``s`` its fp18_e5m12 codes).
With h_i = gamma * g_i and x^_i = (x_i - mu) * s the exact subgradient of range BN
(``papers/notes.md`` §2.5) is dL/dbeta = Σg, dL/dgamma = s Σ g (x - mu),
dL/dx_i = s gamma g_i - s gamma Σg / n - [i = argmax] ds s² C/K + [i = argmin] ds s² C/K with
ds = gamma Σ g (x - mu). Two reductions carry it:

    mu', s' = A(mu), A(s)                               one rounding each (fp18 -> fp17)
    gam     = A(gamma), xa_i = A(x_i), ga_i = A(g_i)    exact
    p_i     = ga_i * (xa_i - mu')                       (sub, mul)
    SA, SB  = running beat sums of ga and p             (pairwise beat sums, as forward)
    dbeta   = SA
    dgamma  = s' * SB
    sg      = s' * gam
    c0      = (-sg * SA) * inv_n
    cc      = ((gam * SB) * (s' * s')) * cn * inv_k     (left to right)
    dx_i    = V( (sg * ga_i + c0) + e_i )               e_i = -cc at a chunk's argmax, +cc at
                                                        its argmin, +0 otherwise or at both

Conventional BN forward (:func:`bn_forward`, the baseline; FP16 values, FP32 statistics and
scalars, NumPy float32 = IEEE RNE in every step, output rounded to FP16 RNE with IEEE overflow):

    S1, S2 = running beat sums of x_i and x_i * x_i     (the square is exact in FP32)
    mu     = S1 * inv_n;  var = S2 * inv_n - mu * mu;  var = +0 if var < 0
    s      = 1 / sqrt(var + eps)                        (eps = FP32(1e-5); sqrt, then divide)
    a      = s * gamma
    y_i    = FP16( (x_i - mu) * a + beta )

Both forward units stream a channel twice: a statistics pass, then a normalize pass of the same
values (``*_block``: beat stream in, one output beat per normalize beat). Running statistics
(:func:`running_update`) are the host's momentum update of the per-channel outputs.
"""
from __future__ import annotations

import math

import numpy as np

from .accumulate import pairwise
from .checks import check_choice, check_int
from .formats import add, decode, div, encode, get_format, mul

__all__ = ["forward", "backward", "bn_forward", "forward_reference", "backward_reference",
           "bn_reference", "running_update", "fwd_block", "bwd_block", "bn_block",
           "fwd_stimulus", "bwd_stimulus", "bn_stimulus", "stream_space"]

FWD_VALUE = get_format("fp10_e5m4")
FWD_ACC = get_format("fp18_e5m12")
BWD_VALUE = get_format("fp10_e6m3")
BWD_ACC = get_format("fp17_e6m11")
FP16 = get_format("fp16")
FP32 = get_format("fp32")

ROUNDINGS = ("rtz", "rne")
CHUNKS = 8
DEFAULT_N = 1024
DEFAULT_LANES = 4
MAX_N = 1 << 16
MAX_LANES = 32
BN_EPS = 1e-5
#: magnitude bits of the optional BFP output (LightNorm's fo_bit = 5: 1-5-4's significand)
BFP_M = 5


# ---------------------------------------------------------------------------------------------
# parameters and constants


def check_params(n, lanes, chunks=CHUNKS):
    """Validate the stream shape; ValueError names the parameter and what is allowed."""
    check_int("lanes", lanes, 1, MAX_LANES)
    check_int("chunks", chunks, 1, 64)
    check_int("n", n, max(chunks * lanes, 2 * chunks), MAX_N,
              " (a chunk of n / chunks values is whole beats of lanes values, and at least "
              "two: C(m) needs ln m > 0)")
    if n % (chunks * lanes):
        raise ValueError(f"n must be a multiple of chunks * lanes = {chunks * lanes} (a chunk "
                         f"is whole beats), not {n}")
    return n // chunks


def constants(n, chunks, acc):
    """The rounded constants of the module docstring, as codes of format ``acc``."""
    m = n // chunks
    c = {"inv_n": 1.0 / n, "inv_k": 1.0 / chunks, "cn": 1.0 / math.sqrt(2.0 * math.log(m)),
         "eps": acc.min_normal, "one": 1.0}
    return {k: int(encode(np.float64(v), acc, "rne")) for k, v in c.items()}


def convert(codes, src, dst, rounding="rne", overflow="saturate"):
    """Codes of ``src`` as codes of ``dst`` (one rounding; exact when ``dst`` holds the value)."""
    return encode(decode(np.asarray(codes, dtype=np.int64), src), dst, rounding, overflow)


def negate(codes, fmt):
    """Flip the sign bit (exact)."""
    return np.asarray(codes, dtype=np.int64) ^ (1 << (fmt.width - 1))


def running_sum(values, lanes, add, zero=0):
    """``(..((+0 + T_0) + T_1) ..)`` over the beats of each channel, T_b the pairwise sum of
    beat b (:func:`golden.accumulate.pairwise`): values (C, n) -> (C,)."""
    C, n = values.shape
    beats = values.reshape(C, n // lanes, lanes)
    acc = np.full(C, zero, dtype=values.dtype)
    for b in range(beats.shape[1]):
        acc = add(acc, pairwise(beats[:, b, :], add))
    return acc


def _adder(fmt, rounding):
    """One rounded addition of codes of ``fmt`` (docs/numerics.md §3)."""
    return lambda a, b: add(a, b, fmt, rounding)


def chunk_extremes(x, fmt, chunks):
    """Per chunk the first index of the largest and of the smallest value (by value: -0 = +0).

    Returns ``(amax, amin)`` int64 arrays (C, chunks) of indices into the channel.
    """
    C, n = x.shape
    m = n // chunks
    v = decode(x, fmt).reshape(C, chunks, m)
    base = np.arange(chunks) * m
    return np.argmax(v, axis=-1) + base, np.argmin(v, axis=-1) + base


def _codes(name, a, fmt, shape=None):
    a = np.asarray(a, dtype=np.int64)
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {a.shape}")
    if np.any((a < 0) | (a >> fmt.width != 0)):
        raise ValueError(f"{name} must hold {fmt.width}-bit {fmt.name} codes")
    return a


# ---------------------------------------------------------------------------------------------
# the three units, tensor form: x (C, n) codes, per-channel scalars (C,)


def forward(x, gamma, beta, lanes=DEFAULT_LANES, chunks=CHUNKS, rounding="rtz"):
    """Range BN forward of C channels (module docstring sequence).

    Parameters
    ----------
    x : int array (C, n)
        fp10_e5m4 codes.
    gamma, beta : int arrays (C,)
        fp10_e5m4 codes.
    lanes, chunks, rounding
        Stream width (sets the summation order), chunk count K, "rtz" or "rne".

    Returns
    -------
    dict of int64 arrays: ``y`` (C, n) fp10_e5m4 codes; ``mu``, ``s`` (C,) fp18_e5m12 codes;
    ``amax``, ``amin`` (C, chunks) chunk indices; ``r`` (C,) the range term d * cn + eps.
    """
    st = forward_statistics(x, lanes, chunks, rounding)
    return {"y": forward_normalize(x, st, gamma, beta, chunks, rounding), **st}


def _channels(name, x, fmt):
    x = _codes(name, x, fmt)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (channels, n), not {x.shape}")
    return x


def forward_statistics(x, lanes=DEFAULT_LANES, chunks=CHUNKS, rounding="rtz"):
    """The statistics pass and the scalar unit of :func:`forward`: ``mu``, ``s``, ``r``,
    ``amax``, ``amin``."""
    check_choice("rounding", rounding, ROUNDINGS)
    V, A = FWD_VALUE, FWD_ACC
    x = _channels("x", x, V)
    C, n = x.shape
    check_params(n, lanes, chunks)
    k = constants(n, chunks, A)
    rd = dict(fmt=A, rounding=rounding)
    xa = convert(x, V, A)
    S = running_sum(xa, lanes, _adder(A, rounding))
    amax, amin = chunk_extremes(x, V, chunks)
    smax = smin = np.zeros(C, dtype=np.int64)
    rows = np.arange(C)
    for c in range(chunks):
        smax = add(smax, xa[rows, amax[:, c]], **rd)
        smin = add(smin, xa[rows, amin[:, c]], **rd)
    mu = mul(S, k["inv_n"], **rd)
    d = add(mul(smax, k["inv_k"], **rd), negate(mul(smin, k["inv_k"], **rd), A), **rd)
    r = add(mul(d, k["cn"], **rd), k["eps"], **rd)
    s = div(k["one"], r, **rd)
    return {"mu": mu, "s": s, "r": r, "amax": amax, "amin": amin}


def forward_normalize(x, stats, gamma, beta, chunks=CHUNKS, rounding="rtz"):
    """The normalize pass of :func:`forward` with the statistics ``stats`` (``mu``, ``s``)."""
    check_choice("rounding", rounding, ROUNDINGS)
    V, A = FWD_VALUE, FWD_ACC
    x = _channels("x", x, V)
    C = x.shape[0]
    gamma, beta = (_codes(k, v, V, (C,)) for k, v in (("gamma", gamma), ("beta", beta)))
    rd = dict(fmt=A, rounding=rounding)
    xa = convert(x, V, A)
    a = mul(stats["s"], convert(gamma, V, A), **rd)
    t = mul(add(xa, negate(stats["mu"], A)[:, None], **rd), a[:, None], **rd)
    u = add(t, convert(beta, V, A)[:, None], **rd)
    return convert(u, A, V, rounding)


def backward(x, g, gamma, mu, s, amax, amin, lanes=DEFAULT_LANES, chunks=CHUNKS,
             rounding="rtz"):
    """Range BN backward of C channels (module docstring sequence).

    Parameters
    ----------
    x : int array (C, n)
        The forward's fp10_e5m4 input codes.
    g : int array (C, n)
        dL/dy as fp10_e6m3 codes.
    gamma : (C,) fp10_e5m4 codes; mu, s : (C,) fp18_e5m12 codes (the forward's outputs);
    amax, amin : (C, chunks) the forward's chunk indices.

    Returns
    -------
    dict of int64 arrays: ``dx`` (C, n) fp10_e6m3 codes; ``dgamma``, ``dbeta`` (C,)
    fp17_e6m11 codes.
    """
    sc = backward_reduce(x, g, gamma, mu, s, lanes, chunks, rounding)
    return {"dx": backward_dx(g, sc, amax, amin, rounding), "dgamma": sc["dgamma"],
            "dbeta": sc["dbeta"]}


def backward_reduce(x, g, gamma, mu, s, lanes=DEFAULT_LANES, chunks=CHUNKS, rounding="rtz"):
    """The reduction pass and the scalar unit of :func:`backward`: ``dgamma``, ``dbeta`` and
    the dx pass's scalars ``sg``, ``c0``, ``cc`` (fp17_e6m11 codes, (C,))."""
    check_choice("rounding", rounding, ROUNDINGS)
    V, A = BWD_VALUE, BWD_ACC
    x = _channels("x", x, FWD_VALUE)
    C, n = x.shape
    check_params(n, lanes, chunks)
    g = _codes("g", g, V, (C, n))
    gamma = _codes("gamma", gamma, FWD_VALUE, (C,))
    mu, s = (_codes(k_, v, FWD_ACC, (C,)) for k_, v in (("mu", mu), ("s", s)))
    k = constants(n, chunks, A)
    rd = dict(fmt=A, rounding=rounding)
    mu_, s_ = convert(mu, FWD_ACC, A, rounding), convert(s, FWD_ACC, A, rounding)
    gam = convert(gamma, FWD_VALUE, A)
    xa, ga = convert(x, FWD_VALUE, A), convert(g, V, A)
    p = mul(ga, add(xa, negate(mu_, A)[:, None], **rd), **rd)
    SA = running_sum(ga, lanes, _adder(A, rounding))
    SB = running_sum(p, lanes, _adder(A, rounding))
    sg = mul(s_, gam, **rd)
    c0 = mul(mul(negate(sg, A), SA, **rd), k["inv_n"], **rd)
    cc = mul(mul(mul(mul(gam, SB, **rd), mul(s_, s_, **rd), **rd), k["cn"], **rd),
             k["inv_k"], **rd)
    return {"dgamma": mul(s_, SB, **rd), "dbeta": SA, "sg": sg, "c0": c0, "cc": cc}


def backward_dx(g, scalars, amax, amin, rounding="rtz"):
    """The dx pass of :func:`backward`: g (C, n) fp10_e6m3 codes and the scalars of
    :func:`backward_reduce` -> dx (C, n) fp10_e6m3 codes."""
    check_choice("rounding", rounding, ROUNDINGS)
    V, A = BWD_VALUE, BWD_ACC
    g = _channels("g", g, V)
    C, n = g.shape
    amax, amin = (np.asarray(v, dtype=np.int64) for v in (amax, amin))
    rd = dict(fmt=A, rounding=rounding)
    sg, c0, cc = scalars["sg"], scalars["c0"], scalars["cc"]
    pos = np.arange(n)
    is_max = (pos[None, None, :] == amax[:, :, None]).any(axis=1)
    is_min = (pos[None, None, :] == amin[:, :, None]).any(axis=1)
    e = np.where(is_max & ~is_min, negate(cc, A)[:, None],
                 np.where(is_min & ~is_max, cc[:, None], 0))
    v = add(mul(sg[:, None], convert(g, V, A), **rd), c0[:, None], **rd)
    return convert(add(v, e, **rd), A, V, rounding)


def f32_bits(v):
    """float32 values -> their bit patterns as int64, a NaN as the canonical 0x7FC00000 (what
    the hardware's FP32 units produce; NumPy's NaN payloads and signs vary)."""
    v = np.asarray(v, dtype=np.float32)
    return np.where(np.isnan(v), 0x7FC00000, v.view(np.uint32)).astype(np.int64)


def bn_forward(x, gamma, beta, lanes=DEFAULT_LANES):
    """Conventional BN forward (the baseline) of C channels of FP16 codes.

    Returns
    -------
    dict of int64 arrays: ``y`` (C, n) FP16 codes; ``mu``, ``s`` (C,) FP32 bit patterns.
    """
    st = bn_statistics(x, lanes)
    return {"y": bn_normalize(x, st, gamma, beta), **st}


def bn_statistics(x, lanes=DEFAULT_LANES):
    """The statistics pass and scalar unit of :func:`bn_forward`: ``mu``, ``s`` (FP32 bits)."""
    x = _channels("x", x, FP16)
    C, n = x.shape
    check_int("lanes", lanes, 1, MAX_LANES)
    check_int("n", n, 2 * lanes, MAX_N)
    if n % lanes:
        raise ValueError(f"n must be a multiple of lanes = {lanes}, not {n}")
    f32 = np.float32
    xf = decode(x, FP16).astype(f32)
    with np.errstate(all="ignore"):
        S1 = running_sum(xf, lanes, np.add)      # float32 arrays: IEEE RNE additions
        S2 = running_sum(xf * xf, lanes, np.add)
        inv_n = f32(1.0 / n)
        mu = S1 * inv_n
        var = S2 * inv_n - mu * mu
        var = np.where(var < 0, f32(0.0), var).astype(f32)
        s = f32(1.0) / np.sqrt(var + f32(BN_EPS))
    return {"mu": f32_bits(mu), "s": f32_bits(s)}


def bn_normalize(x, stats, gamma, beta):
    """The normalize pass of :func:`bn_forward` with ``stats`` (``mu``, ``s`` FP32 bits)."""
    x = _channels("x", x, FP16)
    C = x.shape[0]
    gamma, beta = (_codes(k, v, FP16, (C,)) for k, v in (("gamma", gamma), ("beta", beta)))
    f32 = np.float32
    mu, s = (np.asarray(stats[k], dtype=np.int64).astype(np.uint32).view(f32) for k in ("mu", "s"))
    with np.errstate(all="ignore"):
        a = s * decode(gamma, FP16).astype(f32)
        u = (decode(x, FP16).astype(f32) - mu[:, None]) * a[:, None] \
            + decode(beta, FP16).astype(f32)[:, None]
    return encode(u.astype(np.float64), FP16, "rne", "nonsat")


# ---------------------------------------------------------------------------------------------
# float64 references (the same mathematics, no rounding) and running statistics


def forward_reference(x, gamma, beta, chunks=CHUNKS, eps=None):
    """Range BN forward in float64: x (C, n), gamma, beta (C,) floats. ``eps`` defaults to the
    hardware's 2**-14. Returns dict ``y``, ``mu``, ``s``, ``amax``, ``amin`` (first index)."""
    x = np.asarray(x, dtype=np.float64)
    C, n = x.shape
    m = n // chunks
    eps = FWD_ACC.min_normal if eps is None else eps
    cn = 1.0 / math.sqrt(2.0 * math.log(m))
    ch = x.reshape(C, chunks, m)
    mu = x.mean(axis=1)
    r = (ch.max(axis=-1).mean(axis=1) - ch.min(axis=-1).mean(axis=1)) * cn + eps
    s = 1.0 / r
    g = np.asarray(gamma, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    y = (x - mu[:, None]) * (s * g)[:, None] + b[:, None]
    base = np.arange(chunks) * m
    return {"y": y, "mu": mu, "s": s, "amax": ch.argmax(axis=-1) + base,
            "amin": ch.argmin(axis=-1) + base}


def backward_reference(x, g, gamma, chunks=CHUNKS, eps=None):
    """Exact range BN gradient in float64 (``papers/notes.md`` §2.5): dx, dgamma, dbeta."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    C, n = x.shape
    m = n // chunks
    f = forward_reference(x, np.ones(C), np.zeros(C), chunks, eps)
    mu, s = f["mu"], f["s"]
    cn = 1.0 / math.sqrt(2.0 * math.log(m))
    gam = np.asarray(gamma, dtype=np.float64)
    dbeta = g.sum(axis=1)
    SB = (g * (x - mu[:, None])).sum(axis=1)
    dgamma = s * SB
    ds = gam * SB
    cc = ds * s * s * cn / chunks
    pos = np.arange(n)
    is_max = (pos[None, None, :] == f["amax"][:, :, None]).any(axis=1)
    is_min = (pos[None, None, :] == f["amin"][:, :, None]).any(axis=1)
    dx = (s * gam)[:, None] * g - (s * gam * dbeta / n)[:, None] \
        - is_max * cc[:, None] + is_min * cc[:, None]
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def bn_reference(x, gamma, beta, eps=BN_EPS):
    """Conventional BN forward in float64 (biased variance, as in training)."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=1)
    var = x.var(axis=1)
    s = 1.0 / np.sqrt(var + eps)
    y = (x - mu[:, None]) * (s * np.asarray(gamma, dtype=np.float64))[:, None] \
        + np.asarray(beta, dtype=np.float64)[:, None]
    return {"y": y, "mu": mu, "s": s}


def running_update(running_mu, running_s, mu, s, momentum=0.1):
    """The host's running statistics after one batch, in float32 as the lab code keeps them:
    ``r <- (1 - momentum) * r + momentum * batch`` for the mean and for the *scale* s (the lab's
    ``running_var`` holds s, not a variance). ``mu``, ``s``: fp18_e5m12 codes of the forward."""
    f32 = np.float32
    mom = f32(momentum)
    new = [(f32(1) - mom) * np.asarray(r, dtype=f32) + mom * decode(v, FWD_ACC).astype(f32)
           for r, v in ((running_mu, mu), (running_s, s))]
    return new[0], new[1]


# ---------------------------------------------------------------------------------------------
# the beat streams of the hardware blocks


def _split(inputs, field, n, lanes, passes=2):
    """Beat stream -> (channels, passes, n) array of ``field`` (lanes fields) or the per-beat
    scalar field as (channels, passes * n / lanes)."""
    a = np.asarray(inputs[field], dtype=np.int64)
    per = passes * n // lanes
    if a.shape[0] % per:
        raise ValueError(f"the stream has {a.shape[0]} beats, not a multiple of the "
                         f"{per} beats of a channel ({passes} passes of n / lanes)")
    C = a.shape[0] // per
    if a.ndim == 2:
        return a.reshape(C, passes, n)
    return a.reshape(C, per)


def _beats(values, lanes):
    """(C, n) -> (C * n / lanes, lanes) output beats."""
    return values.reshape(-1, lanes)


def _last(C, per):
    return np.tile((np.arange(per) == per - 1).astype(np.int64), C)


def bfp_output(y, lanes):
    """The optional BFP output of ``rangebn_fwd``: each beat's ``lanes`` fp10_e5m4 outputs as one
    BFP group (``golden.bfp.quantize`` of their exact FP32 values, m = :data:`BFP_M`, "rtz").

    LightNorm's simulator groups 8 *channels* at one position; a unit that streams one channel
    groups the values of a beat instead (the same converter; a channel-axis grouping needs a
    buffer of 8 channels x n values in front of it). Returns ``exp`` (beats,), ``signs``,
    ``mags`` (beats, lanes)."""
    from . import bfp
    bits = f32_bits(decode(np.asarray(y, dtype=np.int64), FWD_VALUE).astype(np.float32))
    e, sg, mg, _ = bfp.quantize(bits.reshape(-1, lanes), BFP_M, lanes, -1, "rtz")
    return {"exp": e[:, 0], "signs": sg, "mags": mg}


def fwd_block(inputs, n=DEFAULT_N, lanes=DEFAULT_LANES, rounding="rtz", chunks=CHUNKS,
              bfp=False, **_):
    """Golden ``rangebn_fwd`` beat stream.

    In, per channel: n / lanes statistics beats then n / lanes normalize beats, each
    ``{"x": (lanes,) fp10_e5m4, "gamma", "beta": fp10_e5m4}``; the statistics come from the
    first pass, the outputs from the second pass's x; gamma and beta are read on the channel's
    first beat (the scalar unit needs gamma before the normalize pass). Out, one beat per
    normalize beat: ``y`` (lanes,), ``mu``, ``s``, ``amax`` (chunks,), ``amin`` (chunks,),
    ``last`` (the channel's last beat). With ``bfp`` the outputs y leave as one BFP group per
    beat instead (:func:`bfp_output`: ``exp``, ``signs``, ``mags``).
    """
    x = _split(inputs, "x", n, lanes)
    per = n // lanes
    gamma = _split(inputs, "gamma", n, lanes)[:, 0]
    beta = _split(inputs, "beta", n, lanes)[:, 0]
    st = forward_statistics(x[:, 0], lanes, chunks, rounding)
    y = forward_normalize(x[:, 1], st, gamma, beta, chunks, rounding)
    out = bfp_output(_beats(y, lanes), lanes) if bfp else {"y": _beats(y, lanes)}
    return {**out, "mu": np.repeat(st["mu"], per),
            "s": np.repeat(st["s"], per), "amax": np.repeat(st["amax"], per, axis=0),
            "amin": np.repeat(st["amin"], per, axis=0), "last": _last(x.shape[0], per)}


def bwd_block(inputs, n=DEFAULT_N, lanes=DEFAULT_LANES, rounding="rtz", chunks=CHUNKS, **_):
    """Golden ``rangebn_bwd`` beat stream.

    In, per channel: n / lanes reduction beats then n / lanes dx beats, each
    ``{"x": (lanes,) fp10_e5m4, "g": (lanes,) fp10_e6m3, "gamma": fp10_e5m4, "mu", "s":
    fp18_e5m12, "amax", "amin": (chunks,) indices}``; gamma, mu, s, amax and amin are read on
    the channel's first beat, x only in the reduction pass, g in both. Out, one beat per dx
    beat: ``dx`` (lanes,) fp10_e6m3, ``dgamma``, ``dbeta`` fp17_e6m11, ``last``.
    """
    x = _split(inputs, "x", n, lanes)
    g = _split(inputs, "g", n, lanes)
    first = {k: _split(inputs, k, n, lanes)[:, 0] for k in ("gamma", "mu", "s")}
    per = n // lanes
    ext = {}
    for k in ("amax", "amin"):
        a = np.asarray(inputs[k], dtype=np.int64)
        ext[k] = a.reshape(x.shape[0], 2 * per, chunks)[:, 0]
    sc = backward_reduce(x[:, 0], g[:, 0], first["gamma"], first["mu"], first["s"], lanes,
                         chunks, rounding)
    dx = backward_dx(g[:, 1], sc, ext["amax"], ext["amin"], rounding)
    return {"dx": _beats(dx, lanes), "dgamma": np.repeat(sc["dgamma"], per),
            "dbeta": np.repeat(sc["dbeta"], per), "last": _last(x.shape[0], per)}


def bn_block(inputs, n=DEFAULT_N, lanes=DEFAULT_LANES, **_):
    """Golden ``bn_fwd`` beat stream: as :func:`fwd_block` with FP16 ``x``, ``gamma``,
    ``beta``; out ``y`` (lanes,) FP16, ``mu``, ``s`` FP32 bit patterns, ``last``."""
    x = _split(inputs, "x", n, lanes)
    per = n // lanes
    gamma = _split(inputs, "gamma", n, lanes)[:, 0]
    beta = _split(inputs, "beta", n, lanes)[:, 0]
    st = bn_statistics(x[:, 0], lanes)
    y = bn_normalize(x[:, 1], st, gamma, beta)
    return {"y": _beats(y, lanes), "mu": np.repeat(st["mu"], per),
            "s": np.repeat(st["s"], per), "last": _last(x.shape[0], per)}


# ---------------------------------------------------------------------------------------------
# stimulus: channels of several distributions, then named corner channels


def channel_beats(n=DEFAULT_N, lanes=DEFAULT_LANES, **_):
    """Beats of one channel in the units' streams (two passes of n / lanes beats)."""
    return 2 * n // lanes


def stream_space(**_):
    """A channel stream is far beyond 2**20 inputs: random and corner channels only."""
    return None


def _distribution(rng, n, kind):
    """One channel of float64 activations of the named kind."""
    loc = rng.uniform(-4, 4)
    scale = 2.0 ** rng.uniform(-6, 6)
    if kind == "normal":
        return rng.normal(loc, scale, n)
    if kind == "relu":
        return np.maximum(rng.normal(loc * 0.25, scale, n), 0.0)
    if kind == "lognormal":
        return rng.choice([-1.0, 1.0], n) * np.exp(rng.normal(np.log(scale), 2.0, n))
    if kind == "uniform":
        return rng.uniform(loc - scale, loc + scale, n)
    return loc + scale * rng.standard_t(2, n)  # heavy tails


KINDS = ("normal", "relu", "lognormal", "uniform", "student_t")


def _corner_channels(n, big, tiny):
    """Named corner channels (float64 values), the corner list of the module's tests."""
    ramp = np.arange(n, dtype=np.float64)
    return {
        "constant": np.full(n, 1.5),
        "zeros": np.zeros(n),
        "negative_zeros": np.full(n, -0.0),
        "constant_large": np.full(n, -100.0),
        "saturating": np.where(ramp % 2 == 0, big, big * 0.75),     # sums saturate
        "alternating_max": np.where(ramp % 2 == 0, big, -big),
        "tiny": np.where(ramp % 3 == 0, tiny, -tiny * 1.5),
        "ties": (ramp % 3) - 1.0,                                     # every chunk: ties
        "one_outlier": np.where(ramp == n // 2 + 1, 1000.0, 0.0),
        "ramp_down": -ramp,                                           # argmax at chunk starts
    }


def _channel_scalars(rng, C, fmt, corner=False):
    """gamma, beta float64 values per channel: mostly gamma ~ 1, beta ~ 0; some zero,
    negative or large."""
    g = rng.choice([1.0, 0.5, 2.0, -1.0, 0.0, 3.75], C, p=[.4, .15, .15, .1, .1, .1]) \
        * np.exp2(rng.normal(0, 0.3, C))
    b = rng.normal(0, 1, C) * rng.choice([0.0, 0.1, 1.0, 8.0], C)
    if corner:
        g[:2], b[:2] = (fmt.max_finite, -fmt.max_finite), (fmt.max_finite, 0.0)
    return g, b


def _channels_values(rng, n, n_beats, lanes, big, tiny):
    """Float64 channels: random ones (about ``n_beats`` beats of two passes), then corners."""
    per = 2 * n // lanes
    C = max(1, -(-n_beats // per))
    rand = [_distribution(rng, n, KINDS[c % len(KINDS)]) for c in range(C)]
    corners = list(_corner_channels(n, big, tiny).values())
    return np.array(rand + corners), len(rand)


def _stream(rng, fields_pass, scalars, n, lanes, read_beat):
    """Beat stream of both passes: ``fields_pass`` {name: (C, n) codes} repeated in pass 2,
    ``scalars`` {name: (C,) or (C, k) codes} valid on beat ``read_beat`` of the channel and
    random elsewhere (the hardware must read them on that beat only)."""
    any_field = next(iter(fields_pass.values()))
    C = any_field.shape[0]
    per = n // lanes
    out = {k: np.concatenate([v.reshape(C, per, lanes)] * 2, axis=1).reshape(C * 2 * per, lanes)
           for k, v in fields_pass.items()}
    for k, (v, width) in scalars.items():
        shape = (C, 2 * per) + v.shape[1:]
        noise = rng.integers(0, 1 << width, shape)
        noise[:, read_beat] = v
        out[k] = noise.reshape((C * 2 * per,) + v.shape[1:])
    return out


def fwd_stimulus(rng, n_beats, exhaustive=False, n=DEFAULT_N, lanes=DEFAULT_LANES,
                 rounding="rtz", chunks=CHUNKS, **_):
    """About ``n_beats`` beats of random channels (normal, ReLU, signed log-normal, uniform,
    Student-t; random location and scale over 2**±6) then the corner channels (constant, zero,
    -0, saturating sums, +-max alternating, near the smallest normal, ties, one outlier, a
    falling ramp); gamma and beta mostly near 1 and 0, some zero, negative, extreme."""
    check_params(n, lanes, chunks)
    V = FWD_VALUE
    vals, _ = _channels_values(rng, n, n_beats, lanes, V.max_finite, V.min_normal)
    x = encode(vals, V, "rne")
    g, b = _channel_scalars(rng, x.shape[0], V, corner=True)
    return _stream(rng, {"x": x}, {"gamma": (encode(g, V, "rne"), V.width),
                                   "beta": (encode(b, V, "rne"), V.width)}, n, lanes, 0)


def bn_stimulus(rng, n_beats, exhaustive=False, n=DEFAULT_N, lanes=DEFAULT_LANES, **_):
    """As :func:`fwd_stimulus` in FP16 (subnormal and +-65504 corners), plus a channel with
    an Inf and one with a NaN (IEEE propagation: their outputs are NaN)."""
    check_params(n, lanes, 1)
    F = FP16
    vals, _ = _channels_values(rng, n, n_beats, lanes, F.max_finite, F.min_subnormal)
    special = np.ones((2, n))
    special[0, 5], special[1, n - 1] = np.inf, np.nan
    x = encode(np.concatenate([vals, special]), F, "rne")
    g, b = _channel_scalars(rng, x.shape[0], F, corner=True)
    return _stream(rng, {"x": x}, {"gamma": (encode(g, F, "rne"), F.width),
                                   "beta": (encode(b, F, "rne"), F.width)}, n, lanes, 0)


def bwd_stimulus(rng, n_beats, exhaustive=False, n=DEFAULT_N, lanes=DEFAULT_LANES,
                 rounding="rtz", chunks=CHUNKS, **_):
    """Channels x as :func:`fwd_stimulus`, with mu, s and the chunk indices from the golden
    forward of the same x; gradients g normal with a random scale (2**±8), some channels
    zero, saturating (fp10_e6m3 max) or with one large entry."""
    check_params(n, lanes, chunks)
    V = FWD_VALUE
    vals, _ = _channels_values(rng, n, n_beats, lanes, V.max_finite, V.min_normal)
    x = encode(vals, V, "rne")
    C = x.shape[0]
    g_, _ = _channel_scalars(rng, C, V, corner=True)
    gamma = encode(g_, V, "rne")
    st = forward_statistics(x, lanes, chunks, rounding)
    gv = rng.normal(0, 1, (C, n)) * np.exp2(rng.uniform(-8, 8, (C, 1)))
    gv[-1] = BWD_VALUE.max_finite * np.where(np.arange(n) % 2, 1, -1)
    gv[-2] = 0.0
    gv[-3] = np.where(np.arange(n) == 3, 50.0, 0.01)
    g = encode(gv, BWD_VALUE, "rne")
    idx = max(1, (n - 1).bit_length())
    return _stream(rng, {"x": x, "g": g},
                   {"gamma": (gamma, V.width), "mu": (st["mu"], FWD_ACC.width),
                    "s": (st["s"], FWD_ACC.width), "amax": (st["amax"], idx),
                    "amin": (st["amin"], idx)}, n, lanes, 0)
