"""Realistic workloads for energy: the data a block sees in use, in its own formats
(docs/cost.md "Energy").

The verification stimulus (``*_stimulus``) is built to find bugs: uniform codes, every binade,
corners. Power depends on how often bits flip, so energy per operation is measured on data
like a network's instead: one model for every block, so that blocks in a comparison see the
same numbers, each quantized to its own format by the golden encoders.

- Activations: LLM-like tokens after a normalization (the model of
  :func:`golden.opal.activations` without its per-row scale): Student-t with 3 degrees of
  freedom, four fixed outlier channels 50x larger; a token of :data:`CHAIN` blocks feeds
  consecutive beats. They are the operand ``a`` of every dot product and the input of every
  quantizer.
- Weights: standard normal, the operand ``b``.
- Accumulators: a dot product adds to the running sum of the same output, eight blocks per
  output: beat ``i`` carries the golden result of beat ``i - 1`` of its row (0 first).
- Batch norm: channels of normal values (mean N(0, 0.5), standard deviation 2^U(-2, 2)), gamma
  N(1, 0.1), beta N(0, 0.1), held for the whole channel; backward gradients N(0, 2^-6).
- Softmax: attention scores q . k / sqrt(64) of standard normal q, k.

Each function takes ``(rng, beats, **params)`` with the block's parameters and returns a
:class:`Workload` of about ``beats`` beats (whole records for record blocks).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Workload", "mx_decode", "mx_quantize", "mxsf_quantize", "mx_dot", "bf16_dot",
           "bfp_quantize", "bfp_dot", "bfp_pe", "rangebn_fwd", "rangebn_bwd", "bn_fwd",
           "opal_quantize", "opal_dot", "softmax", "activations", "weights", "phase_neuron",
           "mac_neuron"]

#: dot-product blocks added into one running sum (the accumulator operand's history)
CHAIN = 8
#: beats not measured at the start of a streaming block (the pipeline filling)
WARM = 12


@dataclass(frozen=True)
class Workload:
    """Input beats of a block with what they are worth.

    Attributes
    ----------
    fields : dict
        Payload fields (``hw.lib.payload`` form), one row per beat.
    ops : float
        Operations carried per beat on average (e.g. 1 dot product, lanes/2 normalized values).
    op : str
        What one operation is, for the report ("dot product of 32", "quantized block of 32").
    warm : int
        Leading beats the measurement skips (the pipeline filling, or the first record).
    """

    fields: dict
    ops: float
    op: str
    warm: int

    @property
    def beats(self) -> int:
        return len(next(iter(_leaves(self.fields))))


def _leaves(fields):
    for v in fields.values():
        if isinstance(v, dict):
            yield from _leaves(v)
        else:
            yield v


def activations(rng, rows, n):
    """(rows, n) float32 activations: consecutive rows are the consecutive blocks of one
    vector of :data:`CHAIN` x n values (a token), see the module docstring."""
    tokens = -(-rows // CHAIN)
    width = CHAIN * n
    x = rng.standard_t(3, (tokens, width))
    x[:, rng.choice(width, min(4, width // 2), replace=False)] *= 50.0
    return x.reshape(-1, n)[:rows].astype(np.float32)


def weights(rng, rows, n):
    """(rows, n) float32 standard-normal weights."""
    return rng.standard_normal((rows, n)).astype(np.float32)


def _bits(x):
    return np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)


def _rows(beats, chain=1):
    return max(chain, -(-beats // chain) * chain)


def _chained(fields, dot, rows):
    """``fields`` with ``acc``: beat i of a row of :data:`CHAIN` adds to beat i - 1's result
    (``dot(fields) -> FP32 bits``)."""
    acc = np.zeros(rows, dtype=np.int64)
    idx = np.arange(rows).reshape(-1, CHAIN)
    for j in range(1, CHAIN):
        prev = {f: v[idx[:, j - 1]] for f, v in fields.items()}
        prev["acc"] = acc[idx[:, j - 1]]
        acc[idx[:, j]] = dot(prev)
    return {**fields, "acc": acc}


# -- OCP MX / MX-SAFE -----------------------------------------------------------------------------

def mx_decode(rng, beats, elem="e4m3", **_):
    """Element codes with their block's scale, from activation blocks of 32."""
    from golden import mx
    rows = -(-beats // 32)
    scale, codes = mx.quantize(activations(rng, rows, 32), elem, 32)
    return Workload({"scale": np.repeat(scale[:, 0], 32).astype(np.int64),
                     "code": codes.reshape(-1).astype(np.int64)}, 1, "decoded element", WARM)


def mx_quantize(rng, beats, k=32, **_):
    """FP32 activation blocks."""
    return Workload({"x": _bits(activations(rng, beats, k))}, 1, f"quantized block of {k}",
                    WARM)


def mxsf_quantize(rng, beats, k=32, **params):
    return mx_quantize(rng, beats, k)


def mx_dot(rng, beats, elem_a="e4m3", elem_b="e4m3", k=32, **_):
    """Activation blocks against weight blocks, each quantized to its MX format."""
    from golden import mx
    from golden import mx_dot as golden
    rows = _rows(beats, CHAIN)
    sa, ca = mx.quantize(activations(rng, rows, k), elem_a, k)
    sb, cb = mx.quantize(weights(rng, rows, k), elem_b, k)
    fields = {"scale_a": sa[:, 0].astype(np.int64), "codes_a": ca.astype(np.int64),
              "scale_b": sb[:, 0].astype(np.int64), "codes_b": cb.astype(np.int64)}
    fields = _chained(fields, lambda f: golden.dot(f["scale_a"], f["codes_a"], f["scale_b"],
                                                   f["codes_b"], f["acc"], elem_a, elem_b),
                      rows)
    return Workload(fields, 1, f"dot product of {k}", WARM)


def bf16_dot(rng, beats, k=32, **_):
    """Activation rows against weight rows, rounded to BF16 (RNE)."""
    from golden import bf16_dot as golden
    from golden.opal import to_bf16
    rows = _rows(beats, CHAIN)
    fields = {"a": to_bf16(_bits(activations(rng, rows, k))).astype(np.int64),
              "b": to_bf16(_bits(weights(rng, rows, k))).astype(np.int64)}
    fields = _chained(fields, lambda f: golden.dot(f["a"], f["b"], f["acc"]), rows)
    return Workload(fields, 1, f"dot product of {k}", WARM)


# -- FlexBlock ------------------------------------------------------------------------------------

def bfp_quantize(rng, beats, G=54, rbits=8, rounding="rtz", **_):
    """FP32 activation groups (uniform random bits for stochastic rounding)."""
    fields = {"x": _bits(activations(rng, beats, G))}
    if rounding == "stochastic":
        fields["rand"] = rng.integers(0, 1 << rbits, (beats, G))
    return Workload(fields, 1, f"quantized group of {G}", WARM)


def _bfp(x, m):
    from golden import bfp
    e, s, q, _ = bfp.quantize(x, m, x.shape[-1])
    return e[:, 0].astype(np.int64), s.astype(np.int64), q.astype(np.int64)


def bfp_dot(rng, beats, G=54, ma=16, mb=16, **_):
    """Activation groups against weight groups, quantized to BFP (round toward zero)."""
    from golden import bfp
    rows = _rows(beats, CHAIN)
    ea, sa, qa = _bfp(activations(rng, rows, G), ma)
    eb, sb, qb = _bfp(weights(rng, rows, G), mb)
    fields = {"exp_a": ea, "signs_a": sa, "mags_a": qa, "exp_b": eb, "signs_b": sb,
              "mags_b": qb}
    fields = _chained(fields, lambda f: bfp.dot(
        f["exp_a"], f["signs_a"], f["mags_a"], f["exp_b"], f["signs_b"], f["mags_b"],
        f["acc"], ma, mb), rows)
    return Workload(fields, 1, f"dot product of {G}", WARM)


def _bfp_groups(rng, beats, lane_bits, modes, R, C, data_bits=None):
    """Groups of 54 beats (FlexBlock's group) in the narrowest mode (or the ``data_bits`` one)
    on both sides: R activation lanes against C weight lanes per beat (fields of shape (beats,
    units, ...)), a new output tile (``clear``) every :data:`CHAIN` groups."""
    from golden.bfp_pe import _pack, sign_bits
    length = 54
    narrowest = len(modes) - 1 - int(np.argmin(modes[::-1]))
    if data_bits is None:
        idxs = (narrowest, narrowest)
    else:
        pair = (data_bits, data_bits) if isinstance(data_bits, int) else tuple(data_bits)
        if len(pair) != 2 or any(d not in modes for d in pair):
            raise ValueError(f"data_bits must be one of modes={tuple(modes)} or a pair of them, "
                             f"not {data_bits!r}")
        idxs = tuple(list(modes).index(d) for d in pair)
    groups = max(3, -(-beats // length))
    ns = sign_bits(lane_bits, modes)
    out = {f: [] for f in ("a", "sa", "mode_a", "exp_a", "b", "sb", "mode_b", "exp_b", "last",
                           "clear")}
    for g in range(groups):
        for side, data, units, idx in (("a", activations, R, idxs[0]),
                                       ("b", weights, C, idxs[1])):
            m = modes[idx]
            per = lane_bits // m
            lanes, signs, exps = [], [], []
            for _ in range(units):
                e, s, q = _bfp(data(rng, 1, length * per), m)
                lane, sg = _pack(s.reshape(length, per), q.reshape(length, per), m)
                full = np.zeros((length, ns), dtype=np.int64)
                full[:, :per] = sg
                lanes.append(lane)
                signs.append(full)
                exps.append(np.full(length, e[0]))
            out[side].append(np.stack(lanes, axis=1))
            out["s" + side].append(np.stack(signs, axis=1))
            out["mode_" + side].append(np.full(length, idx))
            out["exp_" + side].append(np.stack(exps, axis=1))
        out["last"].append((np.arange(length) == length - 1).astype(np.int64))
        out["clear"].append(np.full(length, int(g % CHAIN == 0)))
    fields = {f: np.concatenate(v).astype(np.int64) for f, v in out.items()}
    per_a, per_b = (lane_bits // modes[i] for i in idxs)
    return fields, per_a * per_b, f"{modes[idxs[0]]}x{modes[idxs[1]]}" if idxs[0] != idxs[1] \
        else str(modes[idxs[0]]), length


def bfp_pe(rng, beats, lane_bits=16, modes=(16, 8, 4), **_):
    """Groups of 54 beats (FlexBlock's group) in the PE's narrowest mode on both sides:
    activation sub-words against weight sub-words, a new output tile (``clear``) every
    :data:`CHAIN` groups. One operation is one multiply-accumulate."""
    fields, products, m, length = _bfp_groups(rng, beats, lane_bits, modes, 1, 1)
    fields = {f: v[:, 0] if f not in ("mode_a", "mode_b", "last", "clear") else v
              for f, v in fields.items()}
    return Workload(fields, products, f"{m}-bit multiply-accumulate", length)


def bfp_array(rng, beats, R=1, C=1, lane_bits=16, modes=(16, 8, 4), data_bits=None, **_):
    """:func:`bfp_pe`'s groups on every row and column of an R x C array (each row its own
    activations, each column its own weights), in the narrowest mode or the ``data_bits``
    one. One operation is one multiply-accumulate."""
    fields, products, m, length = _bfp_groups(rng, beats, lane_bits, modes, R, C, data_bits)
    return Workload(fields, R * C * products, f"{m}-bit multiply-accumulate", length)


# -- LightNorm ------------------------------------------------------------------------------------

def _channels(rng, beats, n, lanes):
    """(C, n) float64 channels, at least two (one warms up, one is measured)."""
    per = 2 * n // lanes
    C = max(2, -(-beats // per))
    mu = rng.normal(0, 0.5, (C, 1))
    sd = np.exp2(rng.uniform(-2, 2, (C, 1)))
    return rng.normal(0, 1, (C, n)) * sd + mu


def _stream(fields_pass, scalars, n, lanes):
    """Both passes of every channel, the channel's scalars held on all its beats."""
    C = next(iter(fields_pass.values())).shape[0]
    per = n // lanes
    out = {f: np.concatenate([v.reshape(C, per, lanes)] * 2, axis=1).reshape(-1, lanes)
           for f, v in fields_pass.items()}
    for f, v in scalars.items():
        v = np.asarray(v, dtype=np.int64)
        out[f] = np.repeat(v, 2 * per, axis=0)
    return out


def _bn(rng, beats, n, lanes, fmt):
    from golden.formats import encode
    x = _channels(rng, beats, n, lanes)
    C = x.shape[0]
    gamma = encode(rng.normal(1, 0.1, C), fmt, "rne")
    beta = encode(rng.normal(0, 0.1, C), fmt, "rne")
    fields = _stream({"x": encode(x, fmt, "rne")}, {"gamma": gamma, "beta": beta}, n, lanes)
    return Workload(fields, lanes / 2, "normalized value", 2 * n // lanes)


def rangebn_fwd(rng, beats, n=1024, lanes=4, **_):
    from golden.rangebn import FWD_VALUE
    return _bn(rng, beats, n, lanes, FWD_VALUE)


def bn_fwd(rng, beats, n=1024, lanes=4, **_):
    from golden.rangebn import FP16
    return _bn(rng, beats, n, lanes, FP16)


def rangebn_bwd(rng, beats, n=1024, lanes=4, chunks=8, rounding="rtz", **_):
    """Forward channels with their golden statistics, gradients N(0, 2^-6)."""
    from golden.formats import encode
    from golden.rangebn import BWD_VALUE, FWD_VALUE, forward_statistics
    xv = _channels(rng, beats, n, lanes)
    x = encode(xv, FWD_VALUE, "rne")
    C = x.shape[0]
    st = forward_statistics(x, lanes, chunks, rounding)
    g = encode(rng.normal(0, 2.0 ** -6, (C, n)), BWD_VALUE, "rne")
    gamma = encode(rng.normal(1, 0.1, C), FWD_VALUE, "rne")
    fields = _stream({"x": x, "g": g}, {"gamma": gamma, "mu": st["mu"], "s": st["s"],
                                        "amax": st["amax"], "amin": st["amin"]}, n, lanes)
    return Workload(fields, lanes / 2, "gradient value", 2 * n // lanes)


# -- OPAL -----------------------------------------------------------------------------------------

def opal_quantize(rng, beats, n=128, lanes=16, **_):
    """Activation blocks of n, ``lanes`` values per beat."""
    per = n // lanes
    rows = max(2, -(-beats // per))
    x = _bits(activations(rng, rows, n)).reshape(-1, lanes)
    return Workload({"x": x}, 1 / per, f"quantized block of {n}", per)


def opal_dot(rng, beats, n=128, k=4, bits=3, w=8, **_):
    """OPAL-quantized activation rows against MXINT weights (one block of n)."""
    from golden import mx
    from golden import opal
    rows = _rows(beats, CHAIN)
    q = opal.quantize(_bits(activations(rng, rows, n)), n, k, bits)
    q = {f: v.reshape((rows,) + v.shape[2:]) for f, v in q.items()}
    elem = {8: "mxint8"}.get(w)
    if elem is None:    # narrower weights: symmetric integers at the block's scale
        ws = np.full(rows, 127, dtype=np.int64)
        lim = (1 << (w - 1)) - 1
        wc = np.clip(np.rint(weights(rng, rows, n) * lim / 3), -lim, lim).astype(np.int64)
        wc &= (1 << w) - 1
    else:
        s, c = mx.quantize(weights(rng, rows, n), elem, n)
        ws, wc = s[:, 0].astype(np.int64), c.astype(np.int64)
    fields = {**{f: v.astype(np.int64) for f, v in q.items()}, "w_scale": ws, "w": wc}
    fields = _chained(fields, lambda f: opal.dot(
        f["scale"], f["codes"], f["outliers"], f["idx"], f["w_scale"], f["w"], f["acc"],
        bits, w), rows)
    return Workload(fields, 1, f"dot product of {n}", WARM)


def softmax(rng, beats, n=64, in_bits=16, frac_bits=8, **_):
    """Attention-score vectors of n, one score per beat; one operation is one output."""
    from golden.softmax import attention_scores, to_codes
    rows = max(2, -(-beats // n))
    x = to_codes(attention_scores(rng, rows, n), in_bits, frac_bits).reshape(-1)
    return Workload({"x": x}, 1, "softmax output", n)


# -- One-Spike -------------------------------------------------------------------------------------

def _neuron_layer(rng, n, fan_in, windows):
    """INT8 weights (normal, scaled to the column's max), ReLU activations (normal, a third
    above zero after a negative shift, like a hidden layer's) scaled to [0, 1] by their 99.9th
    percentile, ``windows`` inference windows of them."""
    w = weights(rng, fan_in, n).astype(np.float64)
    wq = np.clip(np.rint(w / np.abs(w).max() * 127), -127, 127).astype(np.int64)
    a = np.maximum(rng.standard_normal((windows, fan_in)) - 0.4, 0.0)
    return wq, a / max(float(np.percentile(a, 99.9)), 1e-9)


def _loads(wq, bias, extra, W):
    fan_in, n = wq.shape
    mask = (1 << W) - 1
    beats = [(2, i * n + j, int(wq[i, j]) & 0xFF) for i in range(fan_in) for j in range(n)]
    beats += [(2, fan_in * n + j, int(b) & mask) for j, b in enumerate(bias)]
    beats += [(2, fan_in * n + n + t, int(s) & mask) for t, s in enumerate(extra)]
    return beats


def phase_neuron(rng, beats, n=8, fan_in=16, m=2, T=8, F=8, W=24, rounding="floor", **_):
    """A converted hidden layer's slice: the weights and biases loaded (not measured), then
    windows of phase-coded input spikes (the activations through the threshold-shifted code of
    B = 2^(1/m): a zero sends nothing) and FIRE, the thresholds those of the conversion
    (docs/numerics.md §10: the code's thresholds at the 99.9th percentile of the membranes, in
    membrane units). One operation = one input spike (n synaptic updates)."""
    from . import phase as ph

    code = ph.PhaseCode(m, T, True)
    nrn = ph.Neuron(m, T, F, W, rounding)
    windows = max(8, beats // max(1, fan_in // 2))
    wq, a = _neuron_layer(rng, n, fan_in, windows)
    phases = code.encode(a, 1.0)
    bias = np.rint(rng.normal(0, 0.05, n) * 127 * (1 << F)).astype(np.int64)
    v = bias + np.stack([sum((ph.scale_product(wq[i], np.full(n, t), nrn) for i, t in
                              enumerate(p) if t != ph.NO_SPIKE), np.zeros(n, np.int64))
                         for p in phases])
    theta = max(float(np.percentile(v[v > 0], 99.9)) if (v > 0).any() else 1.0, float(T))
    s_q = np.maximum(np.ceil(code.thresholds(theta)), 1).astype(np.int64)
    load = _loads(wq, bias, s_q, W)
    run, spikes = [], 0
    for p in phases:
        idx = np.nonzero(p != ph.NO_SPIKE)[0]
        run += [(0, int(i), int(p[i]), 0) for i in idx]
        run.append((1, 0, 0, 0))
        spikes += len(idx)
    rows = [(op, addr, 0, d) for op, addr, d in load] + run
    arr = np.array(rows, dtype=np.int64)
    fields = {"op": arr[:, 0], "addr": arr[:, 1], "phase": arr[:, 2], "data": arr[:, 3]}
    return Workload(fields, spikes / len(run), f"input spike ({n} synaptic updates)", len(load))


def mac_neuron(rng, beats, n=8, fan_in=16, W=24, **_):
    """The same layer in the ANN: the weights and biases loaded (not measured), then windows of
    every input's activation as an 8-bit code (zeros included: a dense MAC array) and FIRE. One
    operation = one input activation (n MACs)."""
    windows = max(8, beats // max(1, fan_in // 2))
    wq, a = _neuron_layer(rng, n, fan_in, windows)
    codes = np.clip(np.rint(a * 255), 0, 255).astype(np.int64)
    bias = np.rint(rng.normal(0, 0.05, n) * 127 * 255).astype(np.int64)
    load = _loads(wq, bias, (), W)
    run = []
    for c in codes:
        run += [(0, i, int(c[i])) for i in range(fan_in)]
        run.append((1, 0, 0))
    arr = np.array(load + run, dtype=np.int64)
    fields = {"op": arr[:, 0], "addr": arr[:, 1], "data": arr[:, 2]}
    return Workload(fields, fan_in * len(codes) / len(run), f"input activation ({n} MACs)",
                    len(load))
