"""An R x C array of FlexBlock multi-mode PEs with per-column conversion (the ``bfp_array``
block's contract). The PE arithmetic is :mod:`golden.bfp_pe`'s; what changes is where the
per-output state lives.

Interface (one beat per cycle)
------------------------------
Operands are **broadcast**. Each input beat carries R a-side lane words ``a[r]`` with their sign
bits ``sa[r]``, one per PE row and shared by the row's C PEs, and C b-side lane words ``b[c]``
with ``sb[c]``, one per PE column and shared by the column's R PEs; ``mode_a`` and ``mode_b``
(indices into ``modes``, one per side for the whole array, constant within a group), per-row
exponents ``exp_a[R]`` and per-column exponents ``exp_b[C]``, ``last`` and ``clear``. Lanes
split into sub-words exactly as in :mod:`golden.bfp_pe`: in mode m a lane holds ``n = lane_bits
/ m`` magnitudes, sub-word i at bits ``[i*m, (i+1)*m)`` with sign bit i of its sign row (the sign
bits above n are ignored).

PE (r, c) accumulates the ``P = n_a * n_b`` cross products of ``a[r]``'s and ``b[c]``'s
sub-words exactly in integer accumulators over the group's beats, product (i, j) in slot
``s = i * n_b + j``, as ``bfp_pe`` does; it holds no FP32 state and no conversion unit.

A *group* is a run of beats closed by ``last = 1``. ``exp_a``, ``exp_b`` and ``clear`` are read
on its last beat; it may be at most ``max_beats`` beats long; beats after the final ``last`` are
accumulated but never converted.

Per-column conversion
---------------------
Each PE column has ``units`` = u conversion units (u divides R; u = 1 is one unit per column),
unit k of a column serving PE rows k, k + u, k + 2u, ..., each unit with its own FP32
accumulation buffer of ``(R / u) * slots`` entries. At a group's end every PE's sums move to a
shadow bank (double buffering) and the units convert the group's ``R * P`` sums per column in
``K = (R / u) * P`` conversion cycles: in cycle t = step * P + s unit k converts row
``r = step * u + k``, slot s, all units and columns in lockstep. Unit k's entry
``q = step * P + s`` holds output (r, i, j)'s FP32 accumulator (``facc[c][k][q]``, +0 after
reset)::

    facc[c][k][q] <- RNE_fp32(cc + S * 2**(exp_a[r] + exp_b[c] - 254 - (m_a - 1) - (m_b - 1))),
    cc = +0 if clear else facc[c][k][q],

i.e. exactly :func:`golden.bfp.dot` of a[r]'s sub-word stream i and b[c]'s sub-word stream j
with accumulator cc (NaN if ``exp_a[r]`` or ``exp_b[c]`` is 255; Inf and NaN accumulators
propagate; an exact zero is +0). Entries are addressed by q whatever the mode pair, as
``bfp_pe`` addresses its slots: a group in another mode pair continues entry q's accumulator
(a mapper clears on a mode change).

Output: one beat per conversion cycle, ``{result[u][C], row, i, j, last}``: unit k of column c's
result in ``result[k][c]`` (row ``row + k``), one (row, i, j) tag for the beat, ``last`` on the
group's final beat (q = K - 1).

Throughput (the rule the mapper's cycle model uses)
---------------------------------------------------
With ``stages`` s the conversion unit has ``d = 1 + min(s, 3)`` cycles from reading an entry to
writing it back (the *conversion depth*) and the input side ``p = max(0, s - 3)`` registers
before the accumulators. With ``o.ready`` high and a beat offered every cycle, exactly:

1. the beats reach the accumulators one per cycle, except that a group's **last beat waits until
   the previous group's last conversion issues** (the shadow bank is then free; the two may
   coincide);
2. the conversions of a group issue one per cycle, the first one the cycle after the group's
   last beat reached the accumulators, except that **an entry q of a group that does not clear
   issues no earlier than d cycles after the previous conversion of the same q** (each result
   is the next one's accumulator; a clearing group reads no accumulator and waits for nothing);
3. an output beat leaves d cycles after its conversion issues; a stall at the accumulators
   holds the p input registers and the input port with them.

:func:`array_cycles` computes the resulting cycle count and input stalls of a beat stream (the
RTL matches it exactly). Consequences: if every group is at least d beats long (or clears)
and at least as long as the previous group's K conversions, the array takes a beat every cycle
(in one mode pair: every group at least ``max(R / u * n_a * n_b, d)`` beats), and a stream of
N beats ends ``p + K_last + d`` cycles after its last beat; a group of L beats costs
``max(L, K)`` cycles in steady state. Shorter groups stall the input until the conversions
catch up: a group's last beat waits for the previous group's K conversions (and for the
interlock where K < d). :mod:`mxforge.mapping` predicts the cycles of a whole GEMM from this.
"""
from __future__ import annotations

import numpy as np

from . import bfp
from .bfp_pe import check_modes, group_stimulus, mode_bits, sign_bits
from .checks import check_int

__all__ = ["array_block", "array_stimulus", "array_space", "array_cycles", "check_params",
           "conv_depth", "input_registers", "entries", "conversions", "gemm_operands",
           "gemm_stream", "gemm_golden", "gemm_results", "LANE_BITS", "MODES", "MAX_BEATS",
           "MAX_DIM", "MAX_STAGES", "mode_bits", "sign_bits"]

LANE_BITS = 16
MODES = (16, 8, 4)
MAX_BEATS = 64
#: largest R and C
MAX_DIM = 64
#: stages: three conversion registers, then one input register
MAX_STAGES = 4


def check_params(R, C, lane_bits=LANE_BITS, modes=MODES, max_beats=MAX_BEATS, stages=2,
                 units=1):
    """Validate every parameter (one ValueError/TypeError naming it); returns ``modes`` as a
    tuple."""
    check_int("R", R, 1, MAX_DIM)
    check_int("C", C, 1, MAX_DIM)
    check_int("units", units, 1, R)
    if R % units:
        raise ValueError(f"units must divide R={R} (one of "
                         f"{', '.join(str(u) for u in range(1, R + 1) if R % u == 0)}), "
                         f"not {units}")
    modes = check_modes(lane_bits, modes)
    check_int("max_beats", max_beats, 1, 1 << 16)
    if stages is not None:
        check_int("stages", stages, 0, MAX_STAGES)
    return modes


def conv_depth(stages):
    """d: cycles from a conversion's read of its FP32 entry to the write-back."""
    return 1 + min(stages, 3)


def input_registers(stages):
    """p: registers between the input port and the integer accumulators."""
    return max(0, stages - 3)


def entries(R, lane_bits, modes, units=1):
    """FP32 buffer entries per conversion unit: its R / units rows times the most slots a mode
    pair uses."""
    return R // units * sign_bits(lane_bits, modes) ** 2


def conversions(R, P, units=1):
    """Conversion cycles of a group whose mode pair has P = n_a * n_b slots."""
    return R // units * P


def _groups(inputs):
    last = np.asarray(inputs["last"], dtype=np.int64)
    ends = np.flatnonzero(last) + 1
    starts = np.concatenate([[0], ends[:-1]])
    return list(zip(starts.tolist(), ends.tolist()))


def _group_modes(inputs, start, stop, lane_bits, modes, max_beats):
    """(m_a, n_a, m_b, n_b) of a group, checking the stream contract."""
    if stop - start > max_beats:
        raise ValueError(f"a group of {stop - start} beats is longer than max_beats={max_beats} "
                         f"(beats {start}..{stop - 1})")
    out = []
    for s in ("a", "b"):
        mode = np.asarray(inputs[f"mode_{s}"][start:stop], dtype=np.int64)
        if (mode != mode[-1]).any():
            raise ValueError(f"mode_{s} changes inside the group of beats {start}..{stop - 1}")
        if not 0 <= mode[-1] < len(modes):
            raise ValueError(f"mode_{s} = {mode[-1]} is not an index into modes={modes}")
        m = modes[int(mode[-1])]
        out += [m, lane_bits // m]
    return tuple(out)


def _subwords(lanes, signs, m, n):
    """(signs, mags) of shape (beats, units, n) of lanes (beats, units) in mode m."""
    lanes = np.asarray(lanes, dtype=np.int64)
    mags = (lanes[..., None] >> (np.arange(n) * m)) & ((1 << m) - 1)
    return np.asarray(signs, dtype=np.int64)[..., :n], mags


def array_block(inputs, R=1, C=1, lane_bits=LANE_BITS, modes=MODES, max_beats=MAX_BEATS,
                stages=None, units=1, **_):
    """Golden ``bfp_array``: the output beats ``{"result" (n, units, C), "row", "i", "j",
    "last"}`` of a beat stream (module docstring), from :func:`golden.bfp.dot` (one call per
    group for all R * C * P outputs). ``stages`` changes timing only.

    Raises ValueError for a stream that breaks the contract (a mode index outside ``modes``, a
    mode change inside a group, a group longer than ``max_beats``).
    """
    modes = check_params(R, C, lane_bits, modes, max_beats, stages, units)
    u = units
    facc = np.zeros((C, u, entries(R, lane_bits, modes, u)), dtype=np.int64)
    out = {"result": [], "row": [], "i": [], "j": [], "last": []}
    for start, stop in _groups(inputs):
        ma, na, mb, nb = _group_modes(inputs, start, stop, lane_bits, modes, max_beats)
        sl = slice(start, stop)
        sga, mga = _subwords(np.asarray(inputs["a"])[sl], np.asarray(inputs["sa"])[sl], ma, na)
        sgb, mgb = _subwords(np.asarray(inputs["b"])[sl], np.asarray(inputs["sb"])[sl], mb, nb)
        ea = np.asarray(inputs["exp_a"], dtype=np.int64)[stop - 1]        # (R,)
        eb = np.asarray(inputs["exp_b"], dtype=np.int64)[stop - 1]        # (C,)
        P = na * nb
        K = R * P
        q = np.arange(K)
        r, s = np.divmod(q, P)
        i, j = np.divmod(s, nb)
        # operands of every (q, c) output, shape (K, C, beats)
        sa_ = np.broadcast_to(sga[:, r, i].T[:, None, :], (K, C, stop - start))
        qa_ = np.broadcast_to(mga[:, r, i].T[:, None, :], (K, C, stop - start))
        sb_ = np.broadcast_to(sgb[:, :, j].transpose(2, 1, 0), (K, C, stop - start))
        qb_ = np.broadcast_to(mgb[:, :, j].transpose(2, 1, 0), (K, C, stop - start))
        L = stop - start
        unit, addr = r % u, (r // u) * P + s          # where output (r, s) lives
        cc = (np.zeros((K, C), dtype=np.int64) if inputs["clear"][stop - 1]
              else facc[:, unit, addr].T)
        res = bfp.dot(np.repeat(ea[r], C), sa_.reshape(-1, L), qa_.reshape(-1, L),
                      np.tile(eb, K), sb_.reshape(-1, L), qb_.reshape(-1, L),
                      cc.reshape(-1), ma, mb).astype(np.int64).reshape(K, C)
        facc[:, unit, addr] = res.T
        # conversion cycle t: row step t // P, slot t % P; unit k converts row step * u + k
        t = np.arange(conversions(R, P, u))
        step, slot = np.divmod(t, P)
        rows = step * u
        out["result"].append(res[((rows[:, None] + np.arange(u)) * P + slot[:, None])])
        out["row"].append(rows)
        out["i"].append(slot // nb)
        out["j"].append(slot % nb)
        out["last"].append(t == t[-1])
    if not out["result"]:
        return {"result": np.zeros((0, u, C), dtype=np.int64),
                **{k: np.zeros(0, dtype=np.int64) for k in ("row", "i", "j", "last")}}
    return {k: np.concatenate(v).astype(np.int64) for k, v in out.items()}


def array_cycles(inputs, R=1, C=1, lane_bits=LANE_BITS, modes=MODES, max_beats=MAX_BEATS,
                 stages=2, units=1, **_):
    """Cycle count of a beat stream with a beat offered every cycle and ``o.ready`` always high
    (the rules of the module docstring).

    Returns
    -------
    dict
        ``cycles``: the cycle in which the last output beat is taken, counting the first input
        beat's cycle as 1 (``sim.harness`` stats ``cycles``); ``in_stall``: cycles the input
        port held an offered beat back; ``outputs``: output beats.
    """
    modes = check_params(R, C, lane_bits, modes, max_beats, stages, units)
    d, p = conv_depth(stages), input_registers(stages)
    n = len(np.asarray(inputs["last"]))
    lasts = np.asarray(inputs["last"], dtype=np.int64)
    clears = np.asarray(inputs["clear"], dtype=np.int64)
    acc_time = np.zeros(n, dtype=np.int64)     # cycle a beat is taken at the accumulators
    t = p                                      # the input registers fill first
    final = None                               # issue cycle of the previous group's last entry
    last_issue = {}                            # entry address -> cycle of its latest conversion
    end = 0
    outputs = 0
    start = 0
    for k in range(n):
        t += 1
        if lasts[k]:
            if final is not None:
                t = max(t, final)
            ma, na, mb, nb = _group_modes(inputs, start, k + 1, lane_bits, modes, max_beats)
            issue = t
            for q in range(conversions(R, na * nb, units)):
                issue = issue + 1 if clears[k] else max(issue + 1, last_issue.get(q, -d) + d)
                last_issue[q] = issue
            final = issue
            end = issue + d
            outputs += conversions(R, na * nb, units)
            start = k + 1
        acc_time[k] = t
    taken_last = acc_time[n - 1 - p] if n - 1 >= p else n   # input beat n-1 taken
    return {"cycles": int(end), "in_stall": int(taken_last - n) if n else 0,
            "outputs": outputs}


def array_space(**params):
    return None


def array_stimulus(rng, n, exhaustive=False, R=1, C=1, lane_bits=LANE_BITS, modes=MODES,
                   max_beats=MAX_BEATS, stages=None, units=1, **_):
    """About ``n`` beats of random groups followed by named corner groups.

    Random groups: a random mode pair per group (every pair occurs), a length of FlexBlock's 54
    beats, a random length up to ``max_beats``, or a short one (fewer beats than the group's (R
    / units) * n_a * n_b conversion cycles: the array must stall), ``clear`` on about a third;
    per row and per column data from :func:`golden.bfp.quantize` of FP32 values of several
    distributions, or raw random magnitudes with random exponents, and now and then exponents 0,
    1, 254 or 255 (NaN) on a random row or column.
    Corners, in every mode pair: a longest group of maximal magnitudes with equal signs (the
    widest integer sum; exponent 254 on row 0 in 16 x 16 mode: overflow to Inf, carried into
    the next group), the same with alternating signs (exact cancellation), groups of 1, 2, 3
    and 4 beats back to back adding to the same entries (shorter than the conversion depth
    where (R / units) * n_a * n_b is small: the interlock), a group of exactly as many beats as
    conversion cycles; then
    NaN groups on a row and on a column, carried into a following group and cleared away.
    """
    if exhaustive:
        raise ValueError("bfp_array has no exhaustive input space")
    modes = check_params(R, C, lane_bits, modes, max_beats, stages, units)
    return group_stimulus(rng, n, R, C, units, lane_bits, modes, max_beats)


# -- a GEMM on the array: operands, the beat stream, the results ---------------------------------

def gemm_operands(rng, instances, lanes_a, lanes_b, K, m_a, m_b, n_a, n_b, L):
    """Random BFP operands of a GEMM as the array holds them: per side a dict of ``sign`` and
    ``mag`` (instances, lanes, n, K) and ``exp`` (instances, lanes, ceil(K / L)); lane l of
    side a holds output rows l * n_a .. l * n_a + n_a - 1 (side b: columns), its n sub-words
    and L beats share one exponent (a BFP group). Magnitudes are m-bit, exponents 110..144,
    about one magnitude in ten zero."""
    groups = -(-K // L)
    out = []
    for lanes, m, n in ((lanes_a, m_a, n_a), (lanes_b, m_b, n_b)):
        shape = (instances, lanes, n, K)
        mag = rng.integers(0, 1 << m, shape) * (rng.random(shape) > 0.1)
        out.append({"sign": rng.integers(0, 2, shape), "mag": mag,
                    "exp": rng.integers(110, 145, (instances, lanes, groups))})
    return tuple(out)


def gemm_stream(a, b, R, C, L, mode_a, mode_b, lane_bits=LANE_BITS, modes=MODES):
    """The beat stream of a GEMM (operands from :func:`gemm_operands`): for each instance,
    each output tile (side-a lanes ta*R .. ta*R + R - 1 by side-b lanes tb*C ..), row-major,
    every group of L beats along K (a shorter tail group last); a tile's first group clears."""
    modes = check_modes(lane_bits, modes)
    ns = sign_bits(lane_bits, modes)
    inst, la, na, K = a["mag"].shape
    lb, nb = b["mag"].shape[1], b["mag"].shape[2]
    ma, mb = modes[mode_a], modes[mode_b]
    if la % R or lb % C or na != lane_bits // ma or nb != lane_bits // mb:
        raise ValueError("operand lanes must fill whole tiles in the modes given")
    starts = list(range(0, K, L))
    beats = {k: [] for k in ("a", "sa", "mode_a", "exp_a", "b", "sb", "mode_b", "exp_b",
                             "last", "clear")}

    def side(op, lo, units, m, n, k0, k1):
        mag = op["mag"][lo:lo + units, :, k0:k1]               # (units, n, beats)
        lane = (mag << (np.arange(n)[:, None] * m)).sum(axis=1).T   # (beats, units)
        signs = np.zeros((k1 - k0, units, ns), dtype=np.int64)
        signs[..., :n] = op["sign"][lo:lo + units, :, k0:k1].transpose(2, 0, 1)
        return lane, signs

    for i in range(inst):
        A, B = {k: v[i] for k, v in a.items()}, {k: v[i] for k, v in b.items()}
        for ta in range(la // R):
            for tb in range(lb // C):
                for g, k0 in enumerate(starts):
                    k1 = min(K, k0 + L)
                    n = k1 - k0
                    lane, signs = side(A, ta * R, R, ma, na, k0, k1)
                    beats["a"].append(lane)
                    beats["sa"].append(signs)
                    lane, signs = side(B, tb * C, C, mb, nb, k0, k1)
                    beats["b"].append(lane)
                    beats["sb"].append(signs)
                    beats["exp_a"].append(np.tile(A["exp"][ta * R:ta * R + R, g], (n, 1)))
                    beats["exp_b"].append(np.tile(B["exp"][tb * C:tb * C + C, g], (n, 1)))
                    beats["mode_a"].append(np.full(n, mode_a))
                    beats["mode_b"].append(np.full(n, mode_b))
                    beats["last"].append(np.arange(n) == n - 1)
                    beats["clear"].append(np.full(n, int(g == 0)))
    return {k: np.concatenate(v).astype(np.int64) for k, v in beats.items()}


def gemm_golden(a, b, m_a, m_b, L):
    """The GEMM's FP32 results (instances, lanes_a * n_a, lanes_b * n_b): output (x, y) is
    :func:`golden.bfp.dot_groups` of row x's and column y's sub-word streams, groups of L,
    from +0."""
    inst, la, na, K = a["mag"].shape
    lb, nb = b["mag"].shape[1], b["mag"].shape[2]
    X, Y = la * na, lb * nb

    def flat(op, lanes, n):
        return {k: op[k].reshape(inst, lanes * n, K) for k in ("sign", "mag")} | \
            {"exp": np.repeat(op["exp"], n, axis=1)}         # (inst, lanes * n, groups)

    fa, fb = flat(a, la, na), flat(b, lb, nb)
    shape = (inst, X, Y)
    pick_a = {k: np.broadcast_to(fa[k][:, :, None], shape + fa[k].shape[2:]) for k in fa}
    pick_b = {k: np.broadcast_to(fb[k][:, None], shape + fb[k].shape[2:]) for k in fb}
    return bfp.dot_groups(pick_a["exp"], pick_a["sign"], pick_a["mag"], pick_b["exp"],
                          pick_b["sign"], pick_b["mag"], m_a, m_b, L).astype(np.int64)


def gemm_results(out, instances, lanes_a, lanes_b, K, R, C, L, n_a, n_b, units=1):
    """The GEMM's results (instances, lanes_a * n_a, lanes_b * n_b) from the array's output
    beats (:func:`array_block`'s or the RTL's) for :func:`gemm_stream`'s order: each tile's
    last group."""
    P = n_a * n_b
    per_group = conversions(R, P, units)
    groups = -(-K // L)
    res = np.asarray(out["result"], dtype=np.int64)          # (beats, units, C)
    got = np.zeros((instances, lanes_a * n_a, lanes_b * n_b), dtype=np.int64)
    t = np.arange(per_group)
    step, s = np.divmod(t, P)
    i, j = np.divmod(s, n_b)
    tile = 0
    for inst in range(instances):
        for ta in range(lanes_a // R):
            for tb in range(lanes_b // C):
                first = (tile * groups + groups - 1) * per_group
                block = res[first:first + per_group]            # (t, units, C)
                for k in range(units):
                    rows = (ta * R + step * units + k) * n_a + i
                    for c in range(C):
                        got[inst, rows, (tb * C + c) * n_b + j] = block[:, k, c]
                tile += 1
    return got
