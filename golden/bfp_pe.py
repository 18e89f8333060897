"""The FlexBlock multi-mode PE as a stream of beats (docs/blocks.md "FlexBlock", ``bfp_pe``).

Interface (one beat per cycle)
------------------------------
Each side (a, b) delivers one ``lane_bits``-wide lane word per beat holding ``n = lane_bits / m``
magnitudes of ``m`` bits, ``m = modes[mode]`` chosen per side at run time: sub-word i is bits
``[i*m, (i+1)*m)`` of the lane, its sign is bit i of ``sa`` (``sb``; the sign bits above n are
ignored). The PE forms every cross product of the two sides' sub-words, ``n_a * n_b`` of them
(1 to 16 for 16-bit lanes and modes 16/8/4), and accumulates product (i, j) exactly in integer
accumulator ``s = i * n_b + j``: over the beats of a group, accumulator s holds the dot product
of the a-stream's sub-word i with the b-stream's sub-word j (outer-product mapping: the i's are
different output rows, the j's different output columns, the beats the reduction).

A *group* is a run of beats closed by ``last = 1``; all sub-words of a side in a group share one
BFP exponent (docs/numerics.md §5). ``mode_a``, ``mode_b`` must stay constant within a group
(products are formed per beat in the beat's modes); ``exp_a``, ``exp_b`` and ``clear`` are read on
the group's last beat. A group may be at most ``max_beats`` beats long (the integer accumulators'
width is sized for it).

At the group's end each integer accumulator S_s is converted and added to FP32 accumulator s by
one conversion unit shared by all accumulators (one accumulator per cycle)::

    acc_s <- RNE_fp32(c + 2**(exp_a + exp_b - 254 - (m_a - 1) - (m_b - 1)) * S_s),
    c = +0 if clear else acc_s,

i.e. exactly :func:`golden.bfp.dot` of the group's sub-word streams i and j with accumulator c
(NaN if an exponent is 255; Inf and NaN accumulators propagate; an exact zero is +0). The FP32
accumulators start at +0 after reset. Every conversion leaves as one output beat
``{result, row = i, col = j, last}`` in slot order, ``last`` marking the group's final one; the
host keeps the last result of each (row, col) of an output tile, or streams them on.

No bubbles: the integer accumulators are double-buffered (the next group accumulates while the
previous one is converted), so with ``o.ready`` high the PE accepts a beat every cycle as long
as every group is at least ``n_a * n_b`` beats long and at least ``d`` beats long (FlexBlock's
864-bit group lines are 54 beats of 16 bits in every mode). Two reasons: the conversions of one
group (one slot per cycle) must all have started before the next group ends, and a slot is
converted again only after its previous conversion is written back, ``d`` cycles after it
started (``d`` = ``hw.bfp_pe.BfpPe.conv_depth``, 1 + the conversion unit's pipeline registers:
3 at the default ``stages``; each group's result is the next one's accumulator, so the
conversions of a slot cannot overlap). A shorter group stalls the input until the conversions
catch up: e.g. one-beat groups in 16 x 16 mode are accepted one per ``d`` cycles after the
first two.
"""
from __future__ import annotations


import numpy as np

from . import bfp
from .checks import check_int

__all__ = ["check_modes", "mode_bits", "sign_bits", "pe_block", "pe_stimulus", "pe_space",
           "product_counts", "data_rate", "LANE_BITS", "MODES", "MAX_BEATS"]

LANE_BITS = 16
MODES = (16, 8, 4)
MAX_BEATS = 64


def check_modes(lane_bits, modes):
    """Validate ``lane_bits`` and ``modes``; returns ``modes`` as a tuple of ints."""
    check_int("lane_bits", lane_bits, 2, 64)
    if not isinstance(modes, (tuple, list)) or not modes:
        raise ValueError(f"modes must be a non-empty tuple of magnitude widths that divide "
                         f"lane_bits={lane_bits}, not {modes!r}")
    modes = tuple(modes)
    for m in modes:
        if isinstance(m, bool) or not isinstance(m, int) or m < bfp.M_MIN or m > bfp.M_MAX \
                or lane_bits % m:
            allowed = [d for d in range(bfp.M_MIN, min(lane_bits, bfp.M_MAX) + 1)
                       if lane_bits % d == 0]
            raise ValueError(f"modes must be magnitude widths that divide lane_bits={lane_bits} "
                             f"(one of {', '.join(map(str, allowed))}), not {m!r} in {modes!r}")
    if len(set(modes)) != len(modes):
        raise ValueError(f"modes must not repeat a width, not {modes!r}")
    return modes


def mode_bits(modes):
    """Width of the ``mode_a``/``mode_b`` fields (an index into ``modes``; at least 1 bit)."""
    return max(1, (len(modes) - 1).bit_length())


def sign_bits(lane_bits, modes):
    """Sign bits per side: one per sub-word of the narrowest mode."""
    return lane_bits // min(modes)


def product_counts(lane_bits, modes):
    """{(m_a, m_b): products per beat} for every mode pair."""
    return {(ma, mb): (lane_bits // ma) * (lane_bits // mb) for ma in modes for mb in modes}


def data_rate(lane_bits, modes, data_bits):
    """Products per cycle for ``data_bits``-bit BFP data on both sides: the PE uses its
    narrowest mode that holds the data (a wider mode holds narrower magnitudes, zero-extended);
    0 if no mode is wide enough."""
    fit = [m for m in modes if m >= data_bits]
    return (lane_bits // min(fit)) ** 2 if fit else 0


def _check_params(lane_bits, modes, max_beats):
    modes = check_modes(lane_bits, modes)
    check_int("max_beats", max_beats, 1, 1 << 16)
    return modes


def _split(inputs):
    """Group boundaries: list of (start, stop) beat ranges; beats after the last ``last`` are
    dropped (never converted)."""
    last = np.asarray(inputs["last"], dtype=np.int64)
    ends = np.flatnonzero(last) + 1
    starts = np.concatenate([[0], ends[:-1]])
    return list(zip(starts.tolist(), ends.tolist()))


def _subwords(lane, signs, m, n):
    """(signs, mags) of shape (beats, n) for a side in mode m."""
    lane = np.asarray(lane, dtype=np.int64)
    mags = (lane[:, None] >> (np.arange(n) * m)) & ((1 << m) - 1)
    return np.asarray(signs, dtype=np.int64)[:, :n], mags


def pe_block(inputs, lane_bits=LANE_BITS, modes=MODES, max_beats=MAX_BEATS, **_):
    """Golden ``bfp_pe``: the output beats ``{"result", "row", "col", "last"}`` of a beat
    stream (see the module docstring), built from :func:`golden.bfp.dot`.

    Raises ValueError for a stream that breaks the interface contract (a mode index outside
    ``modes``, a mode change inside a group, a group longer than ``max_beats``).
    """
    modes = _check_params(lane_bits, modes, max_beats)
    facc = np.zeros(max(product_counts(lane_bits, modes).values()), dtype=np.int64)
    out = {"result": [], "row": [], "col": [], "last": []}
    for start, stop in _split(inputs):
        sl = slice(start, stop)
        if stop - start > max_beats:
            raise ValueError(f"a group of {stop - start} beats is longer than "
                             f"max_beats={max_beats} (beats {start}..{stop - 1})")
        side = {}
        for s in ("a", "b"):
            mode = np.asarray(inputs[f"mode_{s}"][sl], dtype=np.int64)
            if (mode != mode[-1]).any():
                raise ValueError(f"mode_{s} changes inside the group of beats "
                                 f"{start}..{stop - 1}")
            if not 0 <= mode[-1] < len(modes):
                raise ValueError(f"mode_{s} = {mode[-1]} is not an index into modes={modes}")
            m = modes[int(mode[-1])]
            n = lane_bits // m
            sg, mg = _subwords(inputs[s][sl], np.asarray(inputs["s" + s])[sl], m, n)
            side[s] = (m, n, sg, mg, int(inputs[f"exp_{s}"][stop - 1]))
        ma, na, sga, mga, ea = side["a"]
        mb, nb, sgb, mgb, eb = side["b"]
        P = na * nb
        rows, cols = np.divmod(np.arange(P), nb)
        c = np.zeros(P, dtype=np.int64) if inputs["clear"][stop - 1] else facc[:P]
        res = bfp.dot(np.full(P, ea), sga[:, rows].T, mga[:, rows].T, np.full(P, eb),
                      sgb[:, cols].T, mgb[:, cols].T, c, ma, mb).astype(np.int64)
        facc[:P] = res
        out["result"].append(res)
        out["row"].append(rows)
        out["col"].append(cols)
        out["last"].append(np.arange(P) == P - 1)
    return {k: (np.concatenate(v) if v else np.zeros(0)).astype(np.int64)
            for k, v in out.items()}


def pe_space(**params):
    return None


def _pack(signs, mags, m):
    """Lane words and sign-bit rows from (beats, n) signs and magnitudes."""
    n = mags.shape[1]
    lane = (mags << (np.arange(n) * m)).sum(axis=1)
    return lane, signs


def _pack_lanes(mags, m):
    n = mags.shape[-1]
    return (mags << (np.arange(n) * m)).sum(axis=-1)


def group_stimulus(rng, n, R, C, units, lane_bits, modes, max_beats):
    """The beat stream of :func:`golden.bfp_array.array_stimulus` (its docstring) for an R x C
    array with ``units`` conversion units per column (a PE: R = C = units = 1), ``modes``
    already checked."""
    ns = sign_bits(lane_bits, modes)
    beats = []

    def side(idx, units, length, how, exps):
        m = modes[idx]
        k = lane_bits // m
        mags = np.zeros((length, units, k), dtype=np.int64)
        sg = np.zeros((length, units, k), dtype=np.int64)
        e = np.zeros(units, dtype=np.int64)
        for u in range(units):
            if how == "max":
                mags[:, u] = (1 << m) - 1
                e[u] = 127
            elif how == "alt":
                mags[:, u] = (1 << m) - 1
                sg[:, u] = (np.arange(length)[:, None] + u) % 2
                e[u] = 127
            elif how == "raw" or rng.random() < 0.3:
                mags[:, u] = rng.integers(0, 1 << m, (length, k))
                sg[:, u] = rng.integers(0, 2, (length, k))
                e[u] = int(rng.integers(0, 256)) if rng.random() < 0.3 else \
                    int(rng.integers(100, 155))
            else:
                scale = np.exp2(rng.uniform(-20, 20))
                kind = rng.integers(0, 3)
                x = (rng.standard_normal((length, k)) if kind == 0 else
                     rng.laplace(size=(length, k)) if kind == 1 else
                     rng.standard_t(2, size=(length, k))) * scale
                x = np.where(rng.random((length, k)) < 0.1, 0.0, x).astype(np.float32)
                e_, s_, q_, _ = bfp.quantize(x.reshape(-1), m, length * k)
                sg[:, u], mags[:, u], e[u] = s_.reshape(length, k), q_.reshape(length, k), \
                    int(e_[0])
        if exps is not None:
            for u, v in exps.items():
                e[u % units] = v
        signs = np.zeros((length, units, ns), dtype=np.int64)
        signs[..., :k] = sg
        signs[..., k:] = rng.integers(0, 2, (length, units, ns - k))  # ignored: random
        return _pack_lanes(mags, m), signs, e

    def group(ia, ib, length, how="quantized", exps_a=None, exps_b=None, clear=None):
        g = {}
        for s, idx, units, exps in (("a", ia, R, exps_a), ("b", ib, C, exps_b)):
            lane, signs, e = side(idx, units, length, how, exps)
            g[s], g["s" + s], g["mode_" + s] = lane, signs, np.full(length, idx)
            noise = rng.integers(0, 256, (length, units))   # only the last beat's count
            noise[-1] = e
            g["exp_" + s] = noise
        g["last"] = (np.arange(length) == length - 1).astype(np.int64)
        cl = rng.random() < 0.35 if clear is None else clear
        g["clear"] = np.where(g["last"] == 1, int(cl), rng.integers(0, 2, length))
        beats.append(g)

    nm = len(modes)
    total = 0
    while total < n:
        ia, ib = int(rng.integers(0, nm)), int(rng.integers(0, nm))
        K = R // units * (lane_bits // modes[ia]) * (lane_bits // modes[ib])
        u = rng.random()
        length = (min(54, max_beats) if u < 0.3 else int(rng.integers(1, max_beats + 1))
                  if u < 0.7 else int(rng.integers(1, min(K, max_beats) + 1)))
        r = rng.random()
        if r < 0.6:
            group(ia, ib, length)
        elif r < 0.85:
            group(ia, ib, length, "raw")
        else:
            specials = [0, 1, 254, 255]
            group(ia, ib, length, "raw",
                  exps_a={int(rng.integers(0, R)): int(rng.choice(specials))},
                  exps_b={int(rng.integers(0, C)): int(rng.choice(specials))})
        total += length
    for ia in range(nm):
        for ib in range(nm):
            group(ia, ib, max_beats, "max", clear=True,
                  exps_a={0: 254} if ia == ib == 0 else None,
                  exps_b={0: 254} if ia == ib == 0 else None)
            group(ia, ib, max_beats, "alt", clear=False)
            for length in range(1, min(4, max_beats) + 1):   # the conversion interlock
                group(ia, ib, length, clear=length == 1)
            K = R // units * (lane_bits // modes[ia]) * (lane_bits // modes[ib])
            group(ia, ib, min(K, max_beats), clear=False)
    for ea, eb in (({R - 1: 255}, None), (None, {C - 1: 255})):
        group(0, nm - 1, 3, "raw", exps_a=ea, exps_b=eb, clear=True)
        group(0, nm - 1, 2, clear=False)
        group(0, nm - 1, 2, clear=True)
    keys = beats[0].keys()
    return {k: np.concatenate([g[k] for g in beats]).astype(np.int64) for k in keys}


def pe_stimulus(rng, n, exhaustive=False, lane_bits=LANE_BITS, modes=MODES,
                max_beats=MAX_BEATS, **_):
    """About ``n`` beats of random groups followed by named corner groups: the 1 x 1 case of
    :func:`golden.bfp_array.array_stimulus` (one PE is a 1 x 1 array; its docstring lists the
    groups: every mode pair, FlexBlock's 54 beats, random and short lengths, quantized and raw
    data, exponents 0, 1, 254 and 255, maximal magnitudes with equal and alternating signs,
    groups of 1-4 and of exactly ``n_a * n_b`` beats, NaN groups carried and cleared), with the
    array's row and column axes dropped."""
    if exhaustive:
        raise ValueError("bfp_pe has no exhaustive input space")
    modes = _check_params(lane_bits, modes, max_beats)
    v = group_stimulus(rng, n, 1, 1, 1, lane_bits, modes, max_beats)
    return {k: x[:, 0] if k in ("a", "sa", "exp_a", "b", "sb", "exp_b") else x
            for k, x in v.items()}
