"""FlexBlock's hierarchical mapping of training GEMMs onto an array of multi-mode BFP PEs, and the
analytical cycle / utilization model of that array (docs/flexblock.md "Mapping and utilization").

The array this model describes (the ``bfp_array`` RTL)
-----------------------------------------------------
``R`` x ``C`` multi-mode PEs (:mod:`golden.bfp_pe`: a ``lane_bits`` = 16-bit lane word per side
per beat holds n = 16 / m sub-words; a PE forms every cross product of its two words' sub-words,
n_a * n_b per beat, and accumulates product (i, j) over the beats of a group: the beats are the
reduction). Each beat carries R a-side words and C b-side words: the a-word A_r is broadcast along
PE row r (its C PEs read the same word), the b-word B_c along PE column c. An array tile therefore
computes an (R * n_a) x (C * n_b) block of outputs while the beats run over the reduction
dimension K, in groups of L beats (L <= ``max_beats``; FlexBlock's 864-bit lines are 54 beats in
every mode); a GEMM's K splits into ``K // L`` full groups and a shorter tail group. At a group's
end its S = R * C * n_a * n_b exact integer sums move to a shadow bank (double buffering: the next
group accumulates meanwhile) and ``U`` shared conversion units (one slot per unit per cycle) add
them into FP32 accumulators held in an accumulation buffer (not in the PEs), T = ceil(S / U)
cycles per group. For a sequence of groups g = 1..G streamed back to back (every tile of a GEMM,
each tile's groups together), group g closes (its last beat is taken) at

    close[g] = max(close[g-1] + L_g, c[g-1] + T - 1)

(the shadow bank is free once the previous group's last conversion has issued), and its
conversions issue from c[g] = close[g] + 1, or, unless g is a tile's first group (which clears
its accumulators), no earlier than c[g-1] + d: ``d`` (``conv_depth``) is the conversion
pipeline's depth, and an FP32 accumulator is read again only after its previous update is
written back (the chain of roundings cannot be forwarded, :mod:`hw.bfp_pe`). The last output
leaves at c[G] + T - 1 + d; with ``latency`` = p + d (p input registers) the first group closes
at p + L_1. In steady state a group costs max(L_g, T) cycles, and d only when consecutive groups
of one tile are shorter than d and T < d. :func:`sequence_cycles` evaluates this exactly, in a
time independent of K and of the tile count. Peak MACs per cycle are R * C * n_a * n_b of the
operands' own modes; utilization = useful MACs / (peak * cycles).

Why broadcast, not systolic. A systolic array passes a- and b-words from PE to PE, one hop per
cycle: it needs skew registers at the edges (R + C - 2 cycles of skew per tile sequence, R*C*2
lane registers inside), and its throughput in steady state is the same one beat per cycle. With
the FP32 accumulation moved out of the PEs (the whole point of an array, issue 19 item 2), the
per-beat fan-out of a 16-bit word to C (or R) PEs is a wire tree that the register cuts at the
array edge absorb; what a PE does in cycle t is then a function of beat t alone, so a tile's
timing is exactly the recurrence above, with no wavefront that differs per PE (a systolic array's
groups close at a different cycle in every PE, and the shared conversion units would see
staggered S-slot bursts, breaking the one-line T = ceil(S/U) rule).

The ``bfp_array`` RTL is this array (its contract: :mod:`golden.bfp_array`): it accepts a beat
every cycle unless the shadow bank is still being converted or the interlock holds (which a
group that clears skips), issues a group's conversions from the cycle after its last beat, U =
C x ``units`` per cycle, and charges the fill/drain ``latency`` = p + d once per sequence
(:meth:`Array.rtl`). With the output port ready, its measured cycle count equals
:func:`gemm_cycles` for every stream the mapper produces (tests/test_array_mapping.py runs small
layers of every type and pass through the RTL). The model does not model back-pressure.

The training GEMMs (each pass is C[M x N] = X[M x K] * Y[K x N], ``G`` independent instances)
---------------------------------------------------------------------------------------------
Convolution (batch B, input C_in x H x W, C_out kernels kh x kw, stride s, padding p, ``groups``
= g; H_o = (H + 2p - kh) // s + 1, likewise W_o; depthwise is g = C_in = C_out), im2col:

- forward O = W * I: X = W_g (C_out/g x C_in/g·kh·kw), Y = im2col(I)_g: M = C_out/g,
  N = B·H_o·W_o, K = C_in/g·kh·kw, G = g.
- input gradient dI = Wᵀ * dO, two formulations (the mapper may pick either):
  (a) col2im: the column gradient dcol_g = W_gᵀ dO_g, M = C_in/g·kh·kw, N = B·H_o·W_o,
  K = C_out/g, then col2im scatter-adds the kh·kw overlapping columns (FP32 adds outside the
  array). Every forward product w·x has exactly one product w·dO here: the same MAC count, any
  stride and padding.
  (b) transposed convolution (the conventional one, notes in docs/flexblock.md): dI_g is the
  "full" correlation of dO_g with the rotated kernels, M = C_in/g, N = B·H·W, K = C_out/g·kh·kw;
  offered only when s = 1 and H_o = H, W_o = W ("same" padding), where its dense count equals
  the forward's (H·W·kh·kw pairs per channel pair, as H_o·W_o·kh·kw); for 1 x 1, stride 1 it
  is (a).
- weight gradient dW = I * dO: dW_g (C_out/g x C_in/g·kh·kw) = dO_g im2col(I)_gᵀ: X = dO_g,
  M = C_out/g, N = C_in/g·kh·kw, K = B·H_o·W_o, G = g.

Fully connected (T tokens = batch x sequence): forward M = d_out, N = T, K = d_in; dI: M = d_in,
N = T, K = d_out; dW: M = d_out, N = d_in, K = T. A pointwise conv is a 1 x 1 convolution.

Attention matmuls, per head (G = batch x heads): S = Q Kᵀ: forward M = S_q, N = S_k, K = d_head;
"dI" = dQ = dS K: M = S_q, N = d_head, K = S_k; "dW" = dK = dSᵀ Q: M = S_k, N = d_head, K = S_q.
O = P V: forward M = S_q, N = d_head, K = S_k; dI = dP = dO Vᵀ: M = S_q, N = S_k, K = d_head;
dW = dV = Pᵀ dO: M = S_k, N = d_head, K = S_q. For attention "dW" is the second operand's
gradient (an activation's): a local-gradient GEMM like dI.

Every pass has the forward's MAC count. Operand precisions: each operand is an activation, a
weight or a gradient tensor; :class:`Modes` (activation, weight, gradient mantissa widths from
{16, 8, 4}) gives its width, and ``Modes.local`` optionally overrides both operands of every
local-gradient GEMM (FlexBlock's "LG" presets: the dI path in its own precision).

The mapper (:func:`map_gemm`)
-----------------------------
Per GEMM and mode triple it chooses, per level, and keeps the fewest cycles:

- the formulation (dI of a convolution: (a) or (b));
- orientation: which operand is side a (its output dimension spreads over the n_a sub-words of
  the a-words and the R PE rows) and which is side b (n_b sub-words and the C PE columns). A
  side's positions can only hold its own operand's output dimension (M or N), or the batch of
  independent GEMMs when the other operand is shared across it (:attr:`Gemm.shared`); a batch
  whose operands both differ per instance (groups, heads) can only be iterated over time: PE
  (r, c) would multiply instance r's a-word by instance c's b-word;
- the sub-word level: each side's operand in its own mode, or in a wider mode of the array (a
  wider mode holds narrower magnitudes exactly, shifted left by the width difference), which
  wastes no useful product when the side's dimension cannot fill the sub-words anyway and cuts
  the S sums a group must convert;
- the order over time: each output tile's groups back to back (the array's accumulation
  buffer holds one tile: R x C x n_a x n_b FP32 accumulators, the most a mode pair produces);
  a tile's first group clears its accumulators and waits for no earlier conversion. The order
  of the tiles among themselves does not change the cycle count (it decides operand reuse from
  the buffers).

The fixed baseline (:func:`map_gemm` with ``fixed=True``) is one loop order for every layer, as
a conventional array: X (the first operand: output channels, or the first output dimension) on
the rows, Y (output pixels / tokens) on the columns, native modes, the conventional dI
formulation ((b) where offered, else (a)). It is in the hierarchical mapper's search space, so
the mapper is never worse. When a mapping's utilization is below ``target`` its
:attr:`Mapping.reason` names the factors that cost it, from the numbers (:func:`explain`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from golden.bfp_pe import LANE_BITS, MAX_BEATS

__all__ = ["WIDTHS", "PASSES", "Array", "Modes", "Operand", "Gemm", "Conv", "FC", "Attention",
           "Mapping", "gemm_cycles", "map_gemm", "map_layer", "training_step", "explain",
           "TARGET"]

#: the mantissa widths a mode may have (FlexBlock's 16-, 8- and 4-bit modes)
WIDTHS = (16, 8, 4)
#: the three training passes, in order
PASSES = ("fwd", "dI", "dW")
#: utilization below which a mapping carries a reason
TARGET = 0.9
_CLASSES = ("act", "weight", "grad")


def _ceil(a, b):
    return -(-a // b)


# -- the array ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Array:
    """An R x C array of multi-mode PEs and its conversion path (the module docstring).

    ``U`` conversion units (default: one per PE column, C); groups of ``L`` beats
    (1..``max_beats``); ``modes`` a non-empty subset of 16, 8, 4 dividing ``lane_bits``;
    ``latency`` the fill/drain cycles once per sequence; ``conv_depth`` the conversion pipeline
    depth d. :meth:`rtl` gives the array the ``bfp_array`` RTL builds, whose cycle counts the
    model then predicts exactly.
    """
    R: int
    C: int
    U: int | None = None
    L: int = 54
    modes: tuple = WIDTHS
    lane_bits: int = LANE_BITS
    max_beats: int = MAX_BEATS
    latency: int = 4
    conv_depth: int = 3

    @classmethod
    def rtl(cls, R, C, units=1, stages=None, L=54, modes=WIDTHS, max_beats=MAX_BEATS):
        """The ``bfp_array`` RTL with these parameters (``units`` per column, dividing R;
        ``stages`` its register cuts, default its default): U = C * units, d and the
        fill/drain latency p + d from :mod:`golden.bfp_array`."""
        from golden import bfp_array as g
        from hw.bfp_array import DEFAULT_STAGES
        stages = DEFAULT_STAGES if stages is None else stages
        g.check_params(R, C, LANE_BITS, modes, max_beats, stages, units)
        d = g.conv_depth(stages)
        return cls(R, C, U=C * units, L=L, modes=modes, max_beats=max_beats,
                   latency=g.input_registers(stages) + d, conv_depth=d)

    def __post_init__(self):
        for name in ("R", "C"):
            _positive(name, getattr(self, name), 1 << 12)
        if self.U is None:
            object.__setattr__(self, "U", self.C)
        _positive("U", self.U, 1 << 20)
        _positive("lane_bits", self.lane_bits, 64)
        _positive("max_beats", self.max_beats, 1 << 16)
        _positive("L", self.L, self.max_beats, f" (at most max_beats={self.max_beats})")
        _positive("latency", self.latency, 1 << 20, lo=0)
        _positive("conv_depth", self.conv_depth, 64)
        modes = self.modes
        if isinstance(modes, int) and not isinstance(modes, bool):
            modes = (modes,)
        ok = [m for m in WIDTHS if self.lane_bits % m == 0]
        if (not isinstance(modes, (tuple, list)) or not modes or len(set(modes)) != len(modes)
                or any(m not in ok for m in modes)):
            raise ValueError(f"modes must be distinct widths from {', '.join(map(str, ok))} "
                             f"(of 16, 8, 4, dividing lane_bits={self.lane_bits}), "
                             f"not {self.modes!r}")
        object.__setattr__(self, "modes", tuple(sorted(modes, reverse=True)))

    def subwords(self, bits):
        """Sub-words per lane word for ``bits``-bit data in its own (narrowest fitting) mode."""
        fit = [m for m in self.modes if m >= bits]
        if not fit:
            raise ValueError(f"no mode of modes={self.modes} holds {bits}-bit data")
        return self.lane_bits // min(fit)

    def wider(self, bits):
        """Sub-word counts of every mode that holds ``bits``-bit data, own mode first."""
        return sorted({self.lane_bits // m for m in self.modes if m >= bits}, reverse=True)

    def peak(self, bits_x, bits_y):
        """Peak MACs per cycle for operands of ``bits_x`` and ``bits_y`` bits."""
        return self.R * self.C * self.subwords(bits_x) * self.subwords(bits_y)


def _positive(name, value, hi, note="", lo=1):
    """ValueError naming ``name`` unless ``value`` is an integer in lo..hi."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}{note}, not {value!r}")
    return value


@dataclass(frozen=True)
class Modes:
    """Mantissa widths per tensor class (activation, weight, gradient), each 16, 8 or 4;
    ``local``, when set, is the width of both operands of every local-gradient GEMM."""
    act: int
    weight: int
    grad: int
    local: int | None = None

    def __post_init__(self):
        for name in (*_CLASSES, "local"):
            v = getattr(self, name)
            if v is None and name == "local":
                continue
            if isinstance(v, bool) or v not in WIDTHS:
                raise ValueError(f"{name} must be one of {', '.join(map(str, WIDTHS))}, "
                                 f"not {v!r}")

    def bits(self, operand, local):
        if local and self.local is not None:
            return self.local
        return getattr(self, operand.cls)

    @property
    def label(self):
        s = f"{self.act}/{self.weight}/{self.grad}"
        return s + (f" LG{self.local}" if self.local is not None else "")


# -- GEMMs and layers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Operand:
    """A GEMM operand: what it is (for the tables) and its tensor class (its precision)."""
    name: str
    cls: str


@dataclass(frozen=True)
class Gemm:
    """``G`` independent C[M x N] = X[M x K] Y[K x N]; ``shared`` = "x" or "y" when that operand
    is the same for every instance (the batch then joins the other side's output dimension);
    ``local``: a local-gradient GEMM; ``form``: the formulation's name."""
    layer: str
    pass_: str
    M: int
    N: int
    K: int
    x: Operand
    y: Operand
    G: int = 1
    local: bool = False
    shared: str | None = None
    form: str = "direct"

    @property
    def macs(self):
        return self.G * self.M * self.N * self.K

    def folded(self):
        """(instances iterated over time, M', N'): a batch whose one operand is shared joins the
        other side's dimension."""
        if self.shared == "x":
            return 1, self.M, self.N * self.G
        if self.shared == "y":
            return 1, self.M * self.G, self.N
        return self.G, self.M, self.N


_W, _I = Operand("W", "weight"), Operand("I", "act")
_DO = Operand("dO", "grad")


@dataclass(frozen=True)
class Conv:
    """A convolution (``groups`` = channels: depthwise; 1 x 1: pointwise) on a batch of
    ``batch`` c_in x h x w inputs. ``first``: the network's input layer (no dI pass)."""
    name: str
    c_in: int
    c_out: int
    h: int
    w: int
    k: int | tuple = 3
    stride: int = 1
    padding: int = 0
    groups: int = 1
    batch: int = 1
    first: bool = False

    def __post_init__(self):
        kh, kw = (self.k, self.k) if isinstance(self.k, int) else tuple(self.k)
        object.__setattr__(self, "k", (kh, kw))
        for n in ("c_in", "c_out", "h", "w", "stride", "groups", "batch"):
            _positive(n, getattr(self, n), 1 << 30)
        _positive("padding", self.padding, 1 << 20, lo=0)
        _positive("kernel", kh, 1 << 10)
        _positive("kernel", kw, 1 << 10)
        if self.c_in % self.groups or self.c_out % self.groups:
            raise ValueError(f"groups must divide c_in={self.c_in} and c_out={self.c_out}, "
                             f"not {self.groups}")
        if self.h_out < 1 or self.w_out < 1:
            raise ValueError(f"{self.name}: the kernel does not fit the padded input")

    @property
    def kind(self):
        kh, kw = self.k
        if self.groups == self.c_in == self.c_out and self.groups > 1:
            return "depthwise conv"
        if kh == kw == 1 and self.groups == 1:
            return "pointwise conv"
        return "conv"

    @property
    def h_out(self):
        return (self.h + 2 * self.padding - self.k[0]) // self.stride + 1

    @property
    def w_out(self):
        return (self.w + 2 * self.padding - self.k[1]) // self.stride + 1

    @property
    def macs(self):
        kh, kw = self.k
        return (self.batch * self.h_out * self.w_out * self.c_out * (self.c_in // self.groups)
                * kh * kw)

    @property
    def params(self):
        return self.c_out * (self.c_in // self.groups) * self.k[0] * self.k[1]

    def gemms(self, pass_):
        """The candidate formulations of ``pass_`` (each one :class:`Gemm`), the conventional
        one first; [] for the first layer's dI."""
        g, (kh, kw) = self.groups, self.k
        ci, co = self.c_in // g, self.c_out // g
        pix = self.batch * self.h_out * self.w_out
        common = dict(layer=self.name, pass_=pass_, G=g)
        if pass_ == "fwd":
            return [Gemm(M=co, N=pix, K=ci * kh * kw, x=_W, y=_I, **common)]
        if pass_ == "dW":
            return [Gemm(M=co, N=ci * kh * kw, K=pix, x=_DO, y=_I, **common)]
        if pass_ != "dI":
            raise ValueError(f"pass must be one of {', '.join(PASSES)}, not {pass_!r}")
        if self.first:
            return []
        col2im = Gemm(M=ci * kh * kw, N=pix, K=co, x=_W, y=_DO, local=True, form="col2im",
                      **common)
        if kh == kw == 1 and self.stride == 1:
            return [replace(col2im, form="direct")]
        if self.stride == 1 and (self.h_out, self.w_out) == (self.h, self.w):
            tr = Gemm(M=ci, N=self.batch * self.h * self.w, K=co * kh * kw, x=_W, y=_DO,
                      local=True, form="transposed", **common)
            return [tr, col2im]
        return [col2im]


@dataclass(frozen=True)
class FC:
    """A fully connected layer on ``tokens`` (batch x sequence) vectors."""
    name: str
    d_in: int
    d_out: int
    tokens: int = 1
    first: bool = False
    kind = "fully connected"

    def __post_init__(self):
        for n in ("d_in", "d_out", "tokens"):
            _positive(n, getattr(self, n), 1 << 30)

    @property
    def macs(self):
        return self.tokens * self.d_in * self.d_out

    @property
    def params(self):
        return self.d_in * self.d_out

    def gemms(self, pass_):
        common = dict(layer=self.name, pass_=pass_)
        if pass_ == "fwd":
            return [Gemm(M=self.d_out, N=self.tokens, K=self.d_in, x=_W, y=_I, **common)]
        if pass_ == "dI":
            return [] if self.first else [Gemm(M=self.d_in, N=self.tokens, K=self.d_out, x=_W,
                                               y=_DO, local=True, **common)]
        if pass_ == "dW":
            return [Gemm(M=self.d_out, N=self.d_in, K=self.tokens, x=_DO, y=_I, **common)]
        raise ValueError(f"pass must be one of {', '.join(PASSES)}, not {pass_!r}")


@dataclass(frozen=True)
class Attention:
    """One attention matmul per head: ``op`` = "qk" (S = Q Kᵀ) or "pv" (O = P V), for
    ``batch`` x ``heads`` independent GEMMs."""
    name: str
    op: str
    seq_q: int
    seq_k: int
    d_head: int
    heads: int = 1
    batch: int = 1
    first: bool = False
    params = 0

    def __post_init__(self):
        if self.op not in ("qk", "pv"):
            raise ValueError(f"op must be one of qk, pv, not {self.op!r}")
        for n in ("seq_q", "seq_k", "d_head", "heads", "batch"):
            _positive(n, getattr(self, n), 1 << 30)

    @property
    def kind(self):
        return "attention Q·Kᵀ" if self.op == "qk" else "attention P·V"

    @property
    def macs(self):
        return self.batch * self.heads * self.seq_q * self.seq_k * self.d_head

    def gemms(self, pass_):
        a = Operand
        sq, sk, d = self.seq_q, self.seq_k, self.d_head
        common = dict(layer=self.name, pass_=pass_, G=self.batch * self.heads)
        if self.op == "qk":
            table = {"fwd": (sq, sk, d, a("Q", "act"), a("Kᵀ", "act"), False),
                     "dI": (sq, d, sk, a("dS", "grad"), a("K", "act"), True),
                     "dW": (sk, d, sq, a("dSᵀ", "grad"), a("Q", "act"), True)}
        else:
            table = {"fwd": (sq, d, sk, a("P", "act"), a("V", "act"), False),
                     "dI": (sq, sk, d, a("dO", "grad"), a("Vᵀ", "act"), True),
                     "dW": (sk, d, sq, a("Pᵀ", "act"), a("dO", "grad"), True)}
        if pass_ not in table:
            raise ValueError(f"pass must be one of {', '.join(PASSES)}, not {pass_!r}")
        if pass_ == "dI" and self.first:
            return []
        M, N, K, x, y, local = table[pass_]
        return [Gemm(M=M, N=N, K=K, x=x, y=y, local=local, **common)]


# -- the cycle model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mapping:
    """One GEMM placed on the array, its cycles and utilization, and why it loses (if it does).

    ``side_a`` names the operand on side a ("x" or "y"), ``A``/``B`` the output extents on side
    a/b, ``n_a``/``n_b`` the sub-words used, ``native`` the peak's (n_x, n_y); ``factors`` the
    utilization's exact product terms (fill_a * fill_b * modes * time)."""
    gemm: Gemm
    side_a: str
    n_a: int
    n_b: int
    A: int
    B: int
    instances: int
    tiles: int
    T: int
    busy: int
    cycles: int
    peak: int
    factors: dict = field(default_factory=dict)
    reason: str = ""

    @property
    def macs(self):
        return self.gemm.macs

    @property
    def utilization(self):
        return self.macs / (self.peak * self.cycles)

    @property
    def steady(self):
        """Utilization in steady state: every group in its slot, without the sequence's
        fill/drain (the last conversion and ``latency``) and the first group's head start."""
        return self.macs / (self.peak * self.busy)


def sequence_cycles(tiles, runs, T, d, p):
    """Exact cycles of ``tiles`` output tiles streamed back to back, each the groups ``runs``
    [(beats, count), ...] (a tile's first group clears), T conversion cycles per group,
    conversion depth d, p input registers: :func:`golden.bfp_array.array_cycles`' rule as a
    recurrence on group ends. Group g closes (its last beat is taken) at
    ``max(close[g-1] + L_g, c[g-1] + T - 1)`` (the previous group's last conversion has issued),
    and its conversions issue from ``c[g] = close[g] + 1``, or, unless it clears, no earlier than
    ``c[g-1] + d`` (the interlock); the last output leaves at ``c + T - 1 + d``. Runs of equal
    groups and equal tiles are extrapolated once their step repeats (the recurrence depends on
    differences only), so the cost is independent of K and of the tile count."""
    def tile(state):
        first = True
        for length, n in runs:
            k = 0
            while k < n:
                prev = state
                if state is None:
                    close = p + length
                    c = close + 1
                else:
                    close = max(state[0] + length, state[1] + T - 1)
                    c = close + 1 if first else max(close + 1, state[1] + d)
                state = (close, c)
                k += 1
                if (not first and prev is not None and k < n
                        and state[1] - state[0] == prev[1] - prev[0]):
                    step = state[0] - prev[0]
                    state = (state[0] + step * (n - k), state[1] + step * (n - k))
                    k = n
                first = False
        return state

    one = tile(None)
    if tiles == 1:
        end = one
    else:
        two = tile(one)       # every later tile starts as the second did
        end = tuple(y + (tiles - 2) * (y - x) for x, y in zip(one, two))
    return end[1] + T - 1 + d


def gemm_cycles(array, gemm, bits_x, bits_y, side_a="x", n_a=None, n_b=None):
    """The model's cycles for ``gemm`` with operand widths ``bits_x``, ``bits_y``, X on side
    ``side_a`` ("x": X on the rows) with ``n_a``/``n_b`` sub-words (default: the operands' own
    modes); returns a :class:`Mapping` (no reason)."""
    inst, mx, ny = gemm.folded()
    bits_a, bits_b = (bits_x, bits_y) if side_a == "x" else (bits_y, bits_x)
    A, B = (mx, ny) if side_a == "x" else (ny, mx)
    n_a = array.subwords(bits_a) if n_a is None else n_a
    n_b = array.subwords(bits_b) if n_b is None else n_b
    if n_a not in array.wider(bits_a) or n_b not in array.wider(bits_b):
        raise ValueError(f"sub-words ({n_a}, {n_b}) not available for {bits_a}/{bits_b}-bit data "
                         f"with modes={array.modes}")
    R, C, L, d = array.R, array.C, array.L, array.conv_depth
    ta, tb = _ceil(A, R * n_a), _ceil(B, C * n_b)
    tiles = inst * ta * tb
    S = R * C * n_a * n_b
    T = _ceil(S, array.U)
    K = gemm.K
    full, tail = divmod(K, L)
    runs = [(L, full)] + ([(tail, 1)] if tail else [])
    cycles = sequence_cycles(tiles, runs, T, d, array.latency - d)
    # the groups' slots: everything but the last group's conversion, the fill/drain and the
    # first group's head start (its slot would be max(L_1, T) in steady state)
    first = L if full else tail
    busy = cycles - T - array.latency + max(first, T) - first
    peak = array.peak(bits_x, bits_y)
    nat_a, nat_b = array.subwords(bits_a), array.subwords(bits_b)
    beats = tiles * K
    factors = {"fill_a": A / (ta * R * n_a), "fill_b": B / (tb * C * n_b),
               "modes": (n_a * n_b) / (nat_a * nat_b), "time": beats / cycles,
               # the time factor's parts: the groups' own beats against their slots, the rest
               "groups": beats / busy, "drain": busy / cycles}
    return Mapping(gemm=gemm, side_a=side_a, n_a=n_a, n_b=n_b, A=A, B=B,
                   instances=inst, tiles=tiles, T=T, busy=busy, cycles=cycles, peak=peak,
                   factors=factors)


def _candidates(array, gemm, bits_x, bits_y):
    for side_a in ("x", "y"):
        bits_a, bits_b = (bits_x, bits_y) if side_a == "x" else (bits_y, bits_x)
        for n_a in array.wider(bits_a):
            for n_b in array.wider(bits_b):
                yield dict(side_a=side_a, n_a=n_a, n_b=n_b)


def map_gemm(array, gemms, modes, fixed=False, target=TARGET):
    """The best :class:`Mapping` of one pass (``gemms``: its candidate formulations, the
    conventional first) at ``modes``; ``fixed``: the fixed baseline's mapping of the
    conventional formulation. Ties keep the earlier candidate (the fixed one comes first)."""
    best = None
    for gemm in (gemms[:1] if fixed else gemms):
        bx, by = modes.bits(gemm.x, gemm.local), modes.bits(gemm.y, gemm.local)
        for cand in ([dict(side_a="x")] if fixed else _candidates(array, gemm, bx, by)):
            m = gemm_cycles(array, gemm, bx, by, **cand)
            if best is None or m.cycles < best.cycles:
                best = m
    return replace(best, reason=explain(array, best, target))


def explain(array, m, target=TARGET):
    """Why mapping ``m`` stays below ``target`` utilization ("" if it does not), from its
    factors: a side that its dimension cannot fill, a wider mode, groups shorter than their
    conversion, the fill/drain of a short sequence."""
    if m.utilization >= target:
        return ""
    g = m.gemm
    f = m.factors
    cut = 0.97
    out = []
    names = {"x": (g.x.name, "M", m.gemm.M), "y": (g.y.name, "N", m.gemm.N)}
    for side, n, pes, fill in (("a", m.n_a, ("rows", array.R), f["fill_a"]),
                               ("b", m.n_b, ("columns", array.C), f["fill_b"])):
        if fill >= cut:
            continue
        op = m.side_a if side == "a" else ("y" if m.side_a == "x" else "x")
        opname, dim, _ = names[op]
        ext = m.A if side == "a" else m.B
        s = (f"{dim} = {ext} ({opname}) fills {100 * fill:.0f} % of side {side}'s "
             f"{pes[1] * n} positions ({pes[1]} PE {pes[0]} x {n} sub-words)")
        if m.instances > 1 and ext < pes[1] * n:
            s += (f"; its {m.instances} independent GEMMs cannot share the array (both operands "
                  "differ per instance: with broadcast words PE (r, c) would multiply instance "
                  "r's data by instance c's)")
        out.append(s)
    if f["modes"] < cut:
        out.append(f"the sub-words run in wider modes ({m.n_a} x {m.n_b} products per PE instead "
                   f"of the data's {round(m.n_a * m.n_b / f['modes'])}) to shorten the "
                   f"conversion of a group")
    if f["groups"] < cut:
        L = array.L
        tail = g.K % L
        short = min(g.K, L) if m.T > min(g.K, L) or not tail else tail
        what = "groups" if short == min(g.K, L) else "the tail groups"
        out.append(f"{what} of {short} beats (K = {g.K}, L = {L}) are shorter than the "
                   f"T = {m.T} cycles the U = {array.U} conversion units need for a group's "
                   f"S = {array.R * array.C * m.n_a * m.n_b} sums (conversion-bound)"
                   if m.T > short else
                   f"{what} of {short} beats are shorter than the conversion depth "
                   f"d = {array.conv_depth} (interlock)")
    if f["drain"] < cut:
        out.append(f"the fill/drain (T + latency = {m.T + array.latency} cycles) is "
                   f"{100 * (1 - f['drain']):.0f} % of a {m.cycles}-cycle pass")
    return "; ".join(out) if out else f"{100 * m.utilization:.0f} % from several small losses"


def map_layer(array, layer, modes, fixed=False, target=TARGET):
    """{pass: Mapping} of a layer's training GEMMs (passes a layer does not have are left out)."""
    out = {}
    for p in PASSES:
        gemms = layer.gemms(p)
        if gemms:
            out[p] = map_gemm(array, gemms, modes, fixed=fixed, target=target)
    return out


def training_step(array, layers, modes, fixed=False):
    """(cycles, useful MACs) of one training step: every layer's passes, back to back;
    ``modes`` a :class:`Modes` or a callable layer -> Modes."""
    cycles = macs = 0
    for layer in layers:
        md = modes(layer) if callable(modes) else modes
        for m in map_layer(array, layer, md, fixed=fixed).values():
            cycles += m.cycles
            macs += m.macs
    return cycles, macs
