"""Single-spike phase coding and the phase-coded integrate-and-fire neuron (One-Spike;
docs/numerics.md §10). The golden model of ``phase_neuron``.

Two views of the same code:

- **Values** (float64, for conversion and studies): levels L_t = θ·B^(−t), t = 0..T−1, with
  B = 2^(1/m); a value a ≥ 0 is sent as one spike at the first phase t whose threshold S_t it
  reaches, decoded as L_t; below the last threshold, no spike (decoded 0). Plain coding uses
  S_t = L_t (the floor of the log-domain quantizer: â ≤ a); **threshold shift** uses the
  midpoints S_t = L_t·(1 + B^(−1))/2 for t < T−1 and S_{T−1} = L_{T−1}/2 (the midpoint to 0),
  so the decoded level is the nearest one of {0, L_0, ..., L_{T−1}} (a > θ clips to θ).
- **Integers** (the hardware): a layer's membrane counts in units of u = s_w·θ_in·2^(−F)
  (s_w the layer's INT8 weight scale, θ_in the previous layer's threshold, F the table's
  fraction bits). An input spike at phase t adds w_q·B^(−t) as
  ``round_s(w_q · TAB[t mod m], floor(t/m))``, TAB[r] = round(2^F·2^(−r/m)) and round_s a
  right shift by s that floors or rounds half up (parameter); the bias is added first; every
  addition saturates to W bits two's complement; spikes are applied in stream order. The output
  phase is the first t with V ≥ S_q[t] (integer thresholds, each ≥ 1), or none; V ≤ 0 never
  fires (ReLU). At most one output spike per neuron by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BASES_M", "ROUNDINGS", "PhaseCode", "Neuron", "table", "int_root_round",
           "scale_product", "layer_membrane", "fire", "quantize_thresholds", "NO_SPIKE",
           "PhaseError"]

#: B = 2^(1/m) for these m: a shift plus an m-entry table (base manipulation's choices)
BASES_M = (1, 2, 4, 8)
ROUNDINGS = ("floor", "nearest")
#: the phase of "no spike"
NO_SPIKE = -1
MAX_T = 64


class PhaseError(ValueError):
    """A parameter outside what the code or the neuron allows (names it)."""


def _check_code(m, T):
    if m not in BASES_M:
        raise PhaseError(f"m must be one of {', '.join(map(str, BASES_M))} (B = 2^(1/m)), "
                         f"not {m!r}")
    if not isinstance(T, (int, np.integer)) or not 1 <= T <= MAX_T:
        raise PhaseError(f"T (phases) must be an integer in 1..{MAX_T}, not {T!r}")


@dataclass(frozen=True)
class PhaseCode:
    """The value view (module docstring): base B = 2^(1/m), ``T`` phases, threshold shift on or
    off."""

    m: int = 1
    T: int = 8
    shift: bool = True

    def __post_init__(self):
        _check_code(self.m, self.T)

    @property
    def base(self) -> float:
        return 2.0 ** (1.0 / self.m)

    def levels(self, theta=1.0) -> np.ndarray:
        _check_theta(theta)
        return theta * 2.0 ** (-np.arange(self.T) / self.m)

    def thresholds(self, theta=1.0) -> np.ndarray:
        lv = self.levels(theta)
        if not self.shift:
            return lv
        s = lv * (1.0 + 2.0 ** (-1.0 / self.m)) / 2.0
        s[-1] = lv[-1] / 2.0
        return s

    def encode(self, a, theta=1.0) -> np.ndarray:
        """Phase of each value of ``a`` (NO_SPIKE below the last threshold)."""
        a = np.asarray(a, dtype=np.float64)
        if np.isnan(a).any():
            raise PhaseError("a value to encode is NaN")
        s = self.thresholds(theta)
        # S is decreasing: the first t with a >= S_t is the number of thresholds above a
        t = np.sum(a[..., None] < s, axis=-1)
        return np.where(t >= self.T, NO_SPIKE, t).astype(np.int64)

    def decode(self, t, theta=1.0) -> np.ndarray:
        t = np.asarray(t)
        if ((t < NO_SPIKE) | (t >= self.T)).any():
            raise PhaseError(f"phase must be in 0..{self.T - 1} (or {NO_SPIKE}: no spike)")
        lv = self.levels(theta)
        return np.where(t == NO_SPIKE, 0.0, lv[np.clip(t, 0, self.T - 1)])

    def quantize(self, a, theta=1.0) -> np.ndarray:
        return self.decode(self.encode(a, theta), theta)


def _check_theta(theta):
    if not np.all(np.asarray(theta) > 0):
        raise PhaseError(f"theta (threshold) must be > 0, not {theta!r}")


# -- integers: the hardware's arithmetic ----------------------------------------------------------

def int_root_round(n: int, m: int) -> int:
    """round(n^(1/m)) for integers n ≥ 0, m ≥ 1, exactly (half up; a tie cannot occur for
    m > 1 since (2x+1)^m is odd and 2^m·n even)."""
    if n < 0 or m < 1:
        raise PhaseError("int_root_round needs n >= 0 and m >= 1")
    if n == 0:
        return 0
    # floor root by Newton on integers, then round by comparing (2x+1)^m with 2^m·n
    x = 1 << ((n.bit_length() + m - 1) // m)
    while True:
        y = ((m - 1) * x + n // x ** (m - 1)) // m
        if y >= x:
            break
        x = y
    while x ** m > n:
        x -= 1
    while (x + 1) ** m <= n:
        x += 1
    return x + 1 if (2 * x + 1) ** m <= (n << m) else x


def table(m: int, F: int) -> tuple[int, ...]:
    """TAB[r] = round(2^F · 2^(−r/m)), r = 0..m−1 (exact integer arithmetic)."""
    if not isinstance(F, (int, np.integer)) or not 1 <= F <= 24:
        raise PhaseError(f"F (table fraction bits) must be an integer in 1..24, not {F!r}")
    _check_code(m, 1)
    return tuple(int_root_round(1 << (F * m - r), m) for r in range(m))


@dataclass(frozen=True)
class Neuron:
    """The integer view (module docstring): base 2^(1/m), ``T`` phases, ``F`` table fraction
    bits, ``W``-bit saturating membrane, products rounded by ``rounding``."""

    m: int = 1
    T: int = 8
    F: int = 8
    W: int = 24
    rounding: str = "floor"

    def __post_init__(self):
        _check_code(self.m, self.T)
        table(self.m, self.F)
        if not isinstance(self.W, (int, np.integer)) or not 8 <= self.W <= 48:
            raise PhaseError(f"W (membrane bits) must be an integer in 8..48, not {self.W!r}")
        if self.rounding not in ROUNDINGS:
            raise PhaseError(f"rounding must be one of {', '.join(ROUNDINGS)}, "
                             f"not {self.rounding!r}")

    @property
    def tab(self) -> tuple[int, ...]:
        return table(self.m, self.F)

    @property
    def vmin(self) -> int:
        return -(1 << (self.W - 1))

    @property
    def vmax(self) -> int:
        return (1 << (self.W - 1)) - 1


def scale_product(w, t, nrn: Neuron):
    """w · B^(−t) in membrane units: ``round_s(w · TAB[t mod m], t // m)`` (module docstring);
    ``w`` and ``t`` integer arrays (broadcast), every t in 0..T−1."""
    w = np.asarray(w, dtype=np.int64)
    t = np.asarray(t, dtype=np.int64)
    if ((t < 0) | (t >= nrn.T)).any():
        raise PhaseError(f"phase must be in 0..{nrn.T - 1}")
    tab = np.array(nrn.tab, dtype=np.int64)
    p = w * tab[t % nrn.m]
    s = t // nrn.m
    if nrn.rounding == "nearest":
        p = p + np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    return np.right_shift(p, s)          # arithmetic: floor for negative products


def layer_membrane(spikes, weights, bias, nrn: Neuron) -> np.ndarray:
    """Membranes of a layer slice after its input window: ``weights`` (N × I INT8), ``bias``
    (N, membrane units), ``spikes`` a sequence of (input index, phase) in stream order; every
    addition saturates to W bits."""
    weights = np.asarray(weights, dtype=np.int64)
    v = np.clip(np.asarray(bias, dtype=np.int64), nrn.vmin, nrn.vmax)
    for i, t in spikes:
        if not 0 <= i < weights.shape[1]:
            raise PhaseError(f"input index must be in 0..{weights.shape[1] - 1}, not {i}")
        v = np.clip(v + scale_product(weights[:, i], t, nrn), nrn.vmin, nrn.vmax)
    return v


def fire(v, thresholds_q) -> np.ndarray:
    """Output phase of each membrane: the first t with v ≥ S_q[t], else NO_SPIKE."""
    s = np.asarray(thresholds_q, dtype=np.int64)
    if (s < 1).any():
        raise PhaseError("every integer threshold must be >= 1 (a threshold of 0 would fire "
                         "a neuron with no input)")
    v = np.asarray(v, dtype=np.int64)
    hit = v[..., None] >= s
    return np.where(hit.any(-1), hit.argmax(-1), NO_SPIKE).astype(np.int64)


def quantize_thresholds(code: PhaseCode, theta_out, unit) -> np.ndarray:
    """Integer thresholds S_q[t] = ceil(S_t(θ_out) / unit): for an integer membrane V (in
    ``unit``), V ≥ S_q[t] exactly when V·unit ≥ S_t."""
    s = code.thresholds(theta_out) / unit
    q = np.ceil(s).astype(np.int64)
    if (q < 1).any():
        raise PhaseError("a threshold rounds to 0 membrane units: raise F or the layer's "
                         "threshold")
    return q


# -- phase_neuron: the layer slice's stream contract -----------------------------------------------
#
# One command per input beat: ``op`` SPIKE (an input spike: ``addr`` the input index, ``phase``
# its phase), FIRE (the end of the input window) or LOAD (``data`` to ``addr``: weight
# (i, j) at i·n + j, the low 8 bits as two's complement; bias j at fan_in·n + j; threshold t at
# fan_in·n + n + t; W-bit two's complement). A LOAD of a bias also restarts that neuron's
# membrane from it. FIRE emits, for j = 0..n−1, one output beat {index j, phase t, last 0} per
# neuron that fires (first t with V_j ≥ S[t]), then {index 0, phase 0, last 1}; every membrane
# restarts from its bias. Defined behaviour for bad stream input: a SPIKE whose phase is outside
# 0..T−1 or whose index is outside 0..fan_in−1 changes nothing; a LOAD outside the map and op 3
# are ignored; loaded thresholds are taken as they are (the conversion never makes one < 1).
# Reset: weights, biases, thresholds and membranes 0.

OP_SPIKE, OP_FIRE, OP_LOAD, OP_NOP = 0, 1, 2, 3


def slice_check(n, fan_in, m, T, F, W, rounding):
    from .checks import check_choice, check_int
    check_int("n", n, 1, 64)
    check_int("fan_in", fan_in, 1, 1024)
    if m not in BASES_M:
        raise ValueError(f"m must be one of {', '.join(map(str, BASES_M))} (B = 2^(1/m)), "
                         f"not {m!r}")
    check_int("T", T, 1, MAX_T)
    check_int("F", F, 1, 16)
    check_int("W", W, 8, 48)
    check_choice("rounding", rounding, ROUNDINGS)


def slice_widths(n, fan_in, T, W, **_):
    """(addr bits, phase bits, index bits) of the stream fields; the phase field has room for
    phases up to 2T − 1 (a bad phase is representable)."""
    addr = max(1, (fan_in * n + n + T - 1).bit_length())
    return addr, T.bit_length(), max(1, (n - 1).bit_length())


def slice_block(inputs, n=8, fan_in=16, m=2, T=8, F=8, W=24, rounding="floor", **_):
    """Golden ``phase_neuron``: output fields {"index", "phase", "last"} of a command stream
    {"op", "addr", "phase", "data"} (the contract above)."""
    slice_check(n, fan_in, m, T, F, W, rounding)
    nrn = Neuron(m, T, F, W, rounding)
    lo, hi = nrn.vmin, nrn.vmax
    wts = np.zeros((fan_in, n), dtype=np.int64)
    bias = np.zeros(n, dtype=np.int64)
    thr = np.zeros(T, dtype=np.int64)
    v = np.zeros(n, dtype=np.int64)
    out_i, out_p, out_l = [], [], []
    mask = (1 << W) - 1

    def signed(x, bits):
        x &= (1 << bits) - 1
        return x - (1 << bits) if x >> (bits - 1) else x

    ops = np.asarray(inputs["op"], dtype=np.int64)
    addrs = np.asarray(inputs["addr"], dtype=np.int64)
    phases = np.asarray(inputs["phase"], dtype=np.int64)
    datas = np.asarray(inputs["data"], dtype=np.int64)
    for op, a, t, d in zip(ops.tolist(), addrs.tolist(), phases.tolist(), datas.tolist()):
        if op == OP_SPIKE:
            if 0 <= a < fan_in and 0 <= t < T:
                v = np.clip(v + scale_product(wts[a], np.full(n, t), nrn), lo, hi)
        elif op == OP_FIRE:
            for j in range(n):
                hit = np.nonzero(v[j] >= thr)[0]
                if hit.size:
                    out_i.append(j), out_p.append(int(hit[0])), out_l.append(0)
            out_i.append(0), out_p.append(0), out_l.append(1)
            v = bias.copy()
        elif op == OP_LOAD:
            if a < fan_in * n:
                wts[a // n, a % n] = signed(d, 8)
            elif a < fan_in * n + n:
                bias[a - fan_in * n] = signed(d & mask, W)
                v[a - fan_in * n] = bias[a - fan_in * n]
            elif a < fan_in * n + n + T:
                thr[a - fan_in * n - n] = signed(d & mask, W)
    return {"index": np.array(out_i, dtype=np.int64), "phase": np.array(out_p, dtype=np.int64),
            "last": np.array(out_l, dtype=np.int64)}


def slice_space(**_):
    return None


def slice_stimulus(rng, n_beats, exhaustive=False, n=8, fan_in=16, m=2, T=8, F=8, W=24,
                   rounding="floor", **_):
    """``n_beats`` beats of random windows, then corners. A window: optionally reload part of
    the weights, biases or thresholds (random values, thresholds mostly decreasing and ≥ 1),
    then spikes of a random subset of inputs at random phases (about 1 in 20 with a phase or
    index out of range, a few repeated inputs), then FIRE; the last window is closed by FIRE.
    Corners: a full load with the extreme weights (−128, 127) and biases, windows of every phase
    with every input spiking once (saturating sums at small W), an empty window, two FIREs in
    a row, a bias load in mid-window and op 3."""
    slice_check(n, fan_in, m, T, F, W, rounding)
    addr_bits, phase_bits, _ = slice_widths(n, fan_in, T, W)
    base_b, base_t = fan_in * n, fan_in * n + n
    beats = []

    def load(a, d):
        beats.append((OP_LOAD, a, 0, d & ((1 << W) - 1)))

    def thresholds(scale):
        s = np.sort(rng.integers(1, max(2, scale), T))[::-1]
        if rng.random() < 0.2:
            s = rng.integers(-scale, scale, T)            # any order, any sign
        for t in range(T):
            load(base_t + t, int(s[t]))

    span = 1 << min(W - 2, F + 10)
    for a in range(base_b):
        load(a, int(rng.integers(-128, 128)))
    for j in range(n):
        load(base_b + j, int(rng.integers(-span // 4, span // 4)))
    thresholds(span)
    while len(beats) < n_beats:
        r = rng.random()
        if r < 0.3:
            for a in rng.choice(base_b, min(base_b, 8), replace=False):
                load(int(a), int(rng.integers(-128, 128)))
        elif r < 0.4:
            thresholds(span)
        elif r < 0.5:
            j = int(rng.integers(0, n))
            load(base_b + j, int(rng.integers(-span // 4, span // 4)))
        k = int(rng.integers(0, fan_in + 1))
        for i in rng.choice(fan_in, k, replace=False):
            bad = rng.random()
            if bad < 0.03:
                beats.append((OP_SPIKE, int(i), int(rng.integers(T, 1 << phase_bits)), 0))
            elif bad < 0.05 and (1 << addr_bits) > fan_in:
                beats.append((OP_SPIKE, int(rng.integers(fan_in, 1 << addr_bits)),
                              int(rng.integers(0, T)), 0))
            else:
                beats.append((OP_SPIKE, int(i), int(rng.integers(0, T)), 0))
        beats.append((OP_FIRE, 0, 0, 0))
    # corners
    for a in range(base_b):
        load(a, 127 if a % 2 else -128)
    for j in range(n):
        load(base_b + j, [0, 1, -1, (1 << (W - 1)) - 1, -(1 << (W - 1))][j % 5])
    for t in range(T):
        load(base_t + t, max(1, (1 << (W - 2)) >> t))
    for t in range(T):
        for i in range(fan_in):
            beats.append((OP_SPIKE, i, t, 0))
            beats.append((OP_SPIKE, i, t, 0))
        beats.append((OP_FIRE, 0, 0, 0))
    beats.append((OP_FIRE, 0, 0, 0))
    beats.append((OP_FIRE, 0, 0, 0))
    beats.append((OP_SPIKE, 0, 0, 0))
    load(base_b, 5)
    beats.append((OP_NOP, 1, 1, 1))
    load((1 << addr_bits) - 1, 7)
    beats.append((OP_SPIKE, 1, 0, 0))
    beats.append((OP_FIRE, 0, 0, 0))
    a = np.array(beats, dtype=np.int64)
    return {"op": a[:, 0], "addr": a[:, 1], "phase": a[:, 2], "data": a[:, 3]}


# -- mac_neuron: the ANN baseline slice on the same operands ---------------------------------------
#
# The same n × fan_in INT8 weights and W-bit biases, the ANN's activations as 8-bit unsigned
# codes (ReLU outputs quantized per layer): op ACT (``addr`` the input index, ``data`` the code)
# adds w_ij · a to all n W-bit saturating accumulators; FIRE emits the n accumulators
# {index j, value (the W-bit two's-complement pattern), last (j = n − 1)} and restarts them
# from their biases; LOAD writes a weight (i·n + j) or a bias (fan_in·n + j, restarting that
# accumulator). An ACT outside 0..fan_in−1, a LOAD outside the map and op 3 change nothing.
# Reset: everything 0.

def mac_check(n, fan_in, W):
    from .checks import check_int
    check_int("n", n, 1, 64)
    check_int("fan_in", fan_in, 1, 1024)
    check_int("W", W, 8, 48)


def mac_widths(n, fan_in, **_):
    """(addr bits, index bits)."""
    return max(1, (fan_in * n + n - 1).bit_length()), max(1, (n - 1).bit_length())


def mac_block(inputs, n=8, fan_in=16, W=24, **_):
    """Golden ``mac_neuron``: {"index", "value", "last"} of a command stream {"op", "addr",
    "data"} (the contract above)."""
    mac_check(n, fan_in, W)
    lo, hi = -(1 << (W - 1)), (1 << (W - 1)) - 1
    wts = np.zeros((fan_in, n), dtype=np.int64)
    bias = np.zeros(n, dtype=np.int64)
    acc = np.zeros(n, dtype=np.int64)
    out_i, out_v, out_l = [], [], []

    def signed(x, bits):
        x &= (1 << bits) - 1
        return x - (1 << bits) if x >> (bits - 1) else x

    for op, a, d in zip(*(np.asarray(inputs[k], dtype=np.int64).tolist()
                          for k in ("op", "addr", "data"))):
        if op == OP_SPIKE:                                # ACT
            if 0 <= a < fan_in:
                acc = np.clip(acc + wts[a] * (d & 0xFF), lo, hi)
        elif op == OP_FIRE:
            out_i += list(range(n))
            out_v += (acc & ((1 << W) - 1)).tolist()          # the W-bit pattern
            out_l += [0] * (n - 1) + [1]
            acc = bias.copy()
        elif op == OP_LOAD:
            if a < fan_in * n:
                wts[a // n, a % n] = signed(d, 8)
            elif a < fan_in * n + n:
                bias[a - fan_in * n] = signed(d, W)
                acc[a - fan_in * n] = bias[a - fan_in * n]
    return {"index": np.array(out_i, dtype=np.int64), "value": np.array(out_v, dtype=np.int64),
            "last": np.array(out_l, dtype=np.int64)}


def mac_stimulus(rng, n_beats, exhaustive=False, n=8, fan_in=16, W=24, **_):
    """``n_beats`` beats of random windows (weight reloads, a random subset of inputs with
    random codes, a few out-of-range indices, FIRE), then corners: extreme weights and codes
    that saturate at small W, an empty window, two FIREs, a bias load in mid-window, op 3."""
    mac_check(n, fan_in, W)
    addr_bits, _ = mac_widths(n, fan_in)
    base_b = fan_in * n
    mask = (1 << W) - 1
    beats = [(OP_LOAD, a, int(rng.integers(-128, 128)) & 0xFF) for a in range(base_b)]
    beats += [(OP_LOAD, base_b + j, int(rng.integers(-1 << (W - 3), 1 << (W - 3))) & mask)
              for j in range(n)]
    while len(beats) < n_beats:
        if rng.random() < 0.3:
            beats += [(OP_LOAD, int(a), int(rng.integers(-128, 128)) & 0xFF)
                      for a in rng.choice(base_b, min(base_b, 8), replace=False)]
        for i in rng.choice(fan_in, int(rng.integers(0, fan_in + 1)), replace=False):
            if rng.random() < 0.03 and (1 << addr_bits) > fan_in:
                beats.append((OP_SPIKE, int(rng.integers(fan_in, 1 << addr_bits)), 255))
            else:
                beats.append((OP_SPIKE, int(i), int(rng.integers(0, 256))))
        beats.append((OP_FIRE, 0, 0))
    beats += [(OP_LOAD, a, 0x80 if a % 2 else 0x7F) for a in range(base_b)]
    beats += [(OP_LOAD, base_b + j, [0, 1 << (W - 2), -(1 << (W - 2))][j % 3] & mask)
              for j in range(n)]
    for _ in range(4):
        beats += [(OP_SPIKE, i, 255) for i in range(fan_in)]
    beats += [(OP_FIRE, 0, 0), (OP_FIRE, 0, 0), (OP_SPIKE, 0, 3), (OP_LOAD, base_b, 5),
              (OP_NOP, 1, 1), (OP_SPIKE, 1, 7), (OP_FIRE, 0, 0)]
    a = np.array(beats, dtype=np.int64)
    return {"op": a[:, 0], "addr": a[:, 1], "data": a[:, 2]}
