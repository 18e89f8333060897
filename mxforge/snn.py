"""ANN-to-SNN conversion with single-spike phase coding (One-Spike, issue 21; docs/numerics.md
§10), and the two baselines at equal T: rate coding and multi-spike phase coding. Needs the
``zebra`` extra (PyTorch) only to read a model; the spiking networks run in NumPy.

Conversion, layer by layer (:func:`convert`):

- the PyTorch model (``nn.Sequential`` of Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear)
  is read into float64 layers with every batch norm folded into the convolution before it
  (:func:`fold`); the folded network's outputs equal the model's (tested);
- every hidden layer's threshold θ is a high percentile of its ReLU activations on calibration
  images (``percentile``, default 99.9: the robust normalisation of ANN-to-SNN conversion), the
  input's θ the same over the input pixels;
- weights become INT8 with one scale per layer (symmetric, round to nearest); the membrane
  counts in units of s_w·θ_in·2^(−F), the bias and the thresholds become integers in them;
- **base manipulation**: each layer's base 2^(1/m) is the m in ``BASES_M`` whose code has the
  least mean squared encoding error over that layer's calibration activations at the given T;
  without it, every layer uses m = 1 (B = 2);
- **threshold shift** on or off (golden/phase.py).

The spiking network (:meth:`SpikingNet.run`) computes each layer with the golden neuron's
integer arithmetic (``golden.phase.scale_product`` per spike, integer thresholds), max pooling as
the earliest spike of the window (decoding is decreasing in the phase, so this is max pooling of
the decoded values), and the classifier as the last layer's membranes (no spikes). The sum of
the products is formed without the per-addition saturation of the neuron: :func:`convert`
picks W so that no partial sum can reach it (checked), where the two are equal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden import phase as ph

__all__ = ["Layer", "fold", "ann_forward", "convert", "SpikingNet", "encoding_mse",
           "choose_base", "rate_coded", "multi_spike", "layer_shapes", "layer_macs",
           "nonzero_rates", "SnnError"]


class SnnError(ValueError):
    """A model or a parameter the conversion does not take (names it)."""


@dataclass
class Layer:
    """One folded layer: ``kind`` conv / linear (w, b float64), pool (k), flatten."""

    kind: str
    w: np.ndarray | None = None
    b: np.ndarray | None = None
    stride: int = 1
    padding: int = 0
    k: int = 0


def fold(model) -> list[Layer]:
    """The model as folded float64 layers (module docstring)."""
    from torch import nn

    mods = list(model.children()) if isinstance(model, nn.Sequential) else None
    if not mods:
        raise SnnError("the model must be a non-empty nn.Sequential")
    out: list[Layer] = []
    for mod in mods:
        if isinstance(mod, nn.Conv2d):
            if mod.groups != 1 or mod.dilation != (1, 1) or mod.stride[0] != mod.stride[1] \
                    or mod.padding[0] != mod.padding[1] or isinstance(mod.padding, str):
                raise SnnError("Conv2d must have groups 1, dilation 1 and square stride/padding")
            w = mod.weight.detach().double().numpy().copy()
            b = (mod.bias.detach().double().numpy().copy() if mod.bias is not None
                 else np.zeros(w.shape[0]))
            out.append(Layer("conv", w, b, stride=mod.stride[0], padding=mod.padding[0]))
        elif isinstance(mod, nn.BatchNorm2d):
            if not out or out[-1].kind != "conv":
                raise SnnError("BatchNorm2d must follow a Conv2d (it is folded into it)")
            g = (mod.weight.detach().double().numpy() /
                 np.sqrt(mod.running_var.detach().double().numpy() + mod.eps))
            c = out[-1]
            c.w = c.w * g[:, None, None, None]
            c.b = (c.b - mod.running_mean.detach().double().numpy()) * g + \
                mod.bias.detach().double().numpy()
        elif isinstance(mod, nn.Linear):
            w = mod.weight.detach().double().numpy().copy()
            b = (mod.bias.detach().double().numpy().copy() if mod.bias is not None
                 else np.zeros(w.shape[0]))
            out.append(Layer("linear", w, b))
        elif isinstance(mod, nn.MaxPool2d):
            k = mod.kernel_size if isinstance(mod.kernel_size, int) else mod.kernel_size[0]
            s = mod.stride if isinstance(mod.stride, int) else mod.stride[0]
            if s != k or mod.padding not in (0, (0, 0)):
                raise SnnError("MaxPool2d must have stride = kernel and no padding")
            out.append(Layer("pool", k=k))
        elif isinstance(mod, nn.Flatten):
            out.append(Layer("flatten"))
        elif isinstance(mod, nn.ReLU):
            continue
        else:
            raise SnnError(f"layer {type(mod).__name__} is not convertible (Conv2d, "
                           f"BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear)")
    weighted = [la for la in out if la.kind in ("conv", "linear")]
    if not weighted:
        raise SnnError("the model has no Conv2d or Linear layer")
    if out[-1].kind != "linear":
        raise SnnError("the model must end in a Linear classifier")
    return out


# -- float reference ---------------------------------------------------------------------------

def _im2col(x, k, stride, padding, fill):
    """(n, C, H, W) -> (n, P, C·k·k) patches, P = output positions (row-major), padded with
    ``fill``; and the output (H', W')."""
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * padding, w + 2 * padding), fill, dtype=x.dtype)
    xp[:, :, padding:padding + h, padding:padding + w] = x
    ho = (h + 2 * padding - k) // stride + 1
    wo = (w + 2 * padding - k) // stride + 1
    cols = np.empty((n, ho * wo, c * k * k), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            cols[:, i * wo + j] = patch.reshape(n, -1)
    return cols, (ho, wo)


def _pool(x, k, reduce):
    n, c, h, w = x.shape
    v = x[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k)
    return reduce(reduce(v, axis=5), axis=3)


def _linear_op(layer, x):
    """Pre-activation of a conv/linear layer on float input x (n, ...)."""
    if layer.kind == "conv":
        o, _, k, _ = layer.w.shape
        cols, (ho, wo) = _im2col(x, k, layer.stride, layer.padding, 0.0)
        y = cols @ layer.w.reshape(o, -1).T + layer.b
        return y.transpose(0, 2, 1).reshape(x.shape[0], o, ho, wo)
    return x @ layer.w.T + layer.b


def ann_forward(layers, x, hook=None, quantize=None):
    """The folded network in float64: logits. ``quantize(index, activation)``, if given,
    replaces the input (index −1) and every hidden layer's ReLU output by what it returns (the
    baselines' codes); ``hook(index, activation)`` then sees each of them."""
    a = np.asarray(x, dtype=np.float64)
    if quantize:
        a = quantize(-1, a)
    if hook:
        hook(-1, a)
    last = max(i for i, la in enumerate(layers) if la.kind in ("conv", "linear"))
    for i, la in enumerate(layers):
        if la.kind == "pool":
            a = _pool(a, la.k, np.max)
        elif la.kind == "flatten":
            a = a.reshape(a.shape[0], -1)
        else:
            a = _linear_op(la, a)
            if i != last:
                a = np.maximum(a, 0.0)
                if quantize:
                    a = quantize(i, a)
                if hook:
                    hook(i, a)
    return a


def layer_shapes(layers, x_shape) -> list:
    """(output positions, neurons per position, fan-in) of each conv/linear layer for one input
    of shape (C, H, W)."""
    shape, out = tuple(x_shape), []
    for la in layers:
        if la.kind == "conv":
            o, c, k, _ = la.w.shape
            h = (shape[1] + 2 * la.padding - k) // la.stride + 1
            w = (shape[2] + 2 * la.padding - k) // la.stride + 1
            out.append((h * w, o, c * k * k))
            shape = (o, h, w)
        elif la.kind == "pool":
            shape = (shape[0], shape[1] // la.k, shape[2] // la.k)
        elif la.kind == "flatten":
            shape = (int(np.prod(shape)),)
        else:
            out.append((1, la.w.shape[0], la.w.shape[1]))
            shape = (la.w.shape[0],)
    return out


def layer_macs(layers, x_shape) -> list:
    """Multiply-accumulates of each conv/linear layer for one input of shape (C, H, W)."""
    return [p * o * k for p, o, k in layer_shapes(layers, x_shape)]


def nonzero_rates(layers, x) -> list:
    """Per conv/linear layer of the ANN, the fraction of its inputs that are not zero (what a
    zero-skipping MAC array would process)."""
    rates, a = [], np.asarray(x, dtype=np.float64)
    for la in layers:
        if la.kind == "pool":
            a = _pool(a, la.k, np.max)
        elif la.kind == "flatten":
            a = a.reshape(a.shape[0], -1)
        else:
            rates.append(float(np.mean(a != 0)))
            a = np.maximum(_linear_op(la, a), 0.0)
    return rates


# -- the code's error and the base choice ------------------------------------------------------

def encoding_mse(a, code: ph.PhaseCode, theta) -> float:
    """Mean squared error of ``code`` on values ``a`` with threshold θ."""
    a = np.asarray(a, dtype=np.float64).ravel()
    return float(np.mean((code.quantize(a, theta) - a) ** 2))


def choose_base(a, T, theta, shift=True) -> int:
    """Base manipulation: the m of ``BASES_M`` with the least encoding MSE (ties: smaller m)."""
    errs = [encoding_mse(a, ph.PhaseCode(m, T, shift), theta) for m in ph.BASES_M]
    return ph.BASES_M[int(np.argmin(errs))]


# -- conversion ----------------------------------------------------------------------------------

@dataclass
class SpikingLayer:
    layer: Layer
    w_q: np.ndarray | None = None     # INT8 codes
    s_w: float = 0.0
    b_q: np.ndarray | None = None     # membrane units
    unit: float = 0.0                 # one membrane unit in activation units
    nrn: ph.Neuron | None = None      # the input code's base: the table it scales spikes by
    code_out: ph.PhaseCode | None = None
    theta_out: float = 0.0
    s_q: np.ndarray | None = None     # integer thresholds


@dataclass
class SpikingNet:
    """A converted network (module docstring): ``code_in``/``theta_in`` encode the image."""

    layers: list
    code_in: ph.PhaseCode
    theta_in: float
    T: int
    stats: dict = field(default_factory=dict)

    def encode_input(self, x):
        return self.code_in.encode(np.asarray(x, np.float64), self.theta_in)

    def run(self, x):
        """(logits in membrane units of the classifier, spikes per neuron per hidden layer,
        input spikes per pixel); ``stats["in_rates"]``: per weighted layer, the fraction of its
        inputs (after pooling) that carry a spike."""
        p = self.encode_input(x)
        spikes_in = float(np.mean(p != ph.NO_SPIKE))
        spikes, rates = [], []
        for sl in self.layers:
            la = sl.layer
            if la.kind == "pool":
                big = np.where(p == ph.NO_SPIKE, np.iinfo(np.int64).max, p)
                m = _pool(big, la.k, np.min)
                p = np.where(m == np.iinfo(np.int64).max, ph.NO_SPIKE, m)
            elif la.kind == "flatten":
                p = p.reshape(p.shape[0], -1)
            else:
                rates.append(float(np.mean(p != ph.NO_SPIKE)))
                v = _membranes(sl, p)
                if sl.code_out is None:
                    self.stats["in_rates"] = rates
                    return v, spikes, spikes_in
                p = ph.fire(v, sl.s_q)
                spikes.append(float(np.mean(p != ph.NO_SPIKE)))
        raise AssertionError("unreachable: the last layer is the classifier")

    def shapes(self, x_shape) -> list:
        """(output positions, neurons, fan-in) of each weighted layer for one input of shape
        ``x_shape`` (C, H, W)."""
        return layer_shapes([sl.layer for sl in self.layers], x_shape)

    def accuracy(self, x, y):
        v, _, _ = self.run(x)
        return float(np.mean(np.argmax(v, axis=1) == np.asarray(y)))


def _membranes(sl: SpikingLayer, p):
    """Integer membranes after the input window: bias + Σ scale_product(w_q, phase) over the
    spiking inputs (one matrix product per phase)."""
    la, nrn = sl.layer, sl.nrn
    if la.kind == "conv":
        o, _, k, _ = sl.w_q.shape
        cols, (ho, wo) = _im2col(p, k, la.stride, la.padding, ph.NO_SPIKE)
        wq = sl.w_q.reshape(o, -1)
    else:
        cols, wq = p[:, None, :], sl.w_q
    v = np.zeros(cols.shape[:2] + (wq.shape[0],), dtype=np.int64)
    for t in range(nrn.T):
        mask = cols == t
        if mask.any():
            c = ph.scale_product(wq, np.full(wq.shape, t), nrn)     # (O, K)
            # exact in float64: |entries| < 2^53 (W <= 48 bits, checked by convert)
            v += np.rint(mask.astype(np.float64) @ c.T.astype(np.float64)).astype(np.int64)
    v += sl.b_q
    if la.kind == "conv":
        return v.transpose(0, 2, 1).reshape(p.shape[0], -1, ho, wo)
    return v[:, 0]


def convert(model, x_calib, T=8, *, shift=True, base=True, F=8, percentile=99.9,
            m=1) -> SpikingNet:
    """Convert ``model`` (module docstring). ``base``: per-layer base manipulation (else every
    layer m = ``m``); ``x_calib`` non-negative images for the thresholds and the bases."""
    x_calib = np.asarray(x_calib, dtype=np.float64)
    if (x_calib < 0).any():
        raise SnnError("calibration images must be non-negative (phase coding sends a >= 0)")
    if not 0 < percentile <= 100:
        raise SnnError(f"percentile must be in (0, 100], not {percentile!r}")
    layers = fold(model)
    acts = {}
    ann_forward(layers, x_calib, hook=lambda i, a: acts.__setitem__(i, a))

    def theta_of(a):
        th = float(np.percentile(a, percentile))
        return th if th > 0 else float(a.max()) or 1.0

    def code_for(a, th):
        mm = choose_base(a, T, th, shift) if base else m
        return ph.PhaseCode(mm, T, shift)

    theta_in = theta_of(acts[-1])
    code_in = code_for(acts[-1], theta_in)
    code, theta = code_in, theta_in
    out = []
    last = max(i for i, la in enumerate(layers) if la.kind in ("conv", "linear"))
    for i, la in enumerate(layers):
        if la.kind not in ("conv", "linear"):
            out.append(SpikingLayer(la))
            continue
        s_w = float(np.abs(la.w).max()) / 127 or 1.0
        w_q = np.clip(np.rint(la.w / s_w), -127, 127).astype(np.int64)
        unit = s_w * theta * 2.0 ** -F
        b_q = np.rint(la.b / unit).astype(np.int64)
        fan_in = int(np.prod(la.w.shape[1:]))
        bound = fan_in * 127 * (1 << F) + int(np.abs(b_q).max())
        W = max(16, bound.bit_length() + 2)
        if W > 48:
            raise SnnError(f"layer {i}: membrane would need {W} bits (> 48): lower F")
        nrn = ph.Neuron(code.m, T, F, W, "floor")
        sl = SpikingLayer(la, w_q, s_w, b_q, unit, nrn)
        if i != last:
            a = acts[i]
            th = theta_of(a)
            c_out = code_for(a, th)
            sl.code_out, sl.theta_out = c_out, th
            sl.s_q = ph.quantize_thresholds(c_out, th, unit)
            code, theta = c_out, th
        out.append(sl)
    return SpikingNet(out, code_in, theta_in, T,
                      stats={"bases": [sl.code_out.m for sl in out if sl.code_out],
                             "m_in": code_in.m})


# -- baselines at equal T --------------------------------------------------------------------------

def multi_spike(layers, x, T, thetas):
    """Multi-spike phase coding (one spike per set bit, B = 2): every coded value is floored to
    T binary digits of θ (levels θ·2^(−t), t = 0..T−1, greedily); float64. Returns (logits,
    spikes per neuron per hidden layer, per input)."""
    def code(a, th):
        q = np.floor(np.clip(a / th, 0, 2 - 2.0 ** (1 - T)) * 2 ** (T - 1))
        bits = np.unpackbits(np.ascontiguousarray(q.astype(">u8")).view(np.uint8))
        return q * th * 2.0 ** (1 - T), bits.sum() / q.size

    counts = {}

    def quantize(i, a):
        q, counts[i] = code(a, thetas[i])
        return q

    logits = ann_forward(layers, x, quantize=quantize)
    return logits, [float(counts[i]) for i in sorted(counts) if i >= 0], float(counts[-1])


def rate_coded(layers, x, T, thetas):
    """Rate coding: non-leaky integrate-and-fire neurons with reset by subtraction, every layer
    stepped T times (the input too, as IF neurons driven by the pixels), a spike of layer l
    worth θ_l; max pooling passes the spike of the window's input with the most spikes so far;
    the classifier accumulates. Float64. Returns (logits, spikes per neuron per hidden layer,
    per input)."""
    x = np.asarray(x, np.float64)
    last = max(i for i, la in enumerate(layers) if la.kind in ("conv", "linear"))
    v_in = np.zeros_like(x)
    state = {}
    counts = {}
    out = None
    n_in = 0.0
    for _ in range(T):
        v_in += x / thetas[-1]
        s = (v_in >= 1.0).astype(np.float64)
        v_in -= s
        n_in += s.mean()
        a = s * thetas[-1]
        for i, la in enumerate(layers):
            if la.kind == "pool":
                cnt = counts.setdefault(i, np.zeros_like(a))
                cnt += a > 0
                n, c, h, w = a.shape
                k = la.k
                cw = cnt.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5)
                aw = a.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5)
                cw = cw.reshape(n, c, h // k, w // k, k * k)
                j = cw.argmax(-1)[..., None]
                a = np.take_along_axis(aw.reshape(n, c, h // k, w // k, k * k), j, -1)[..., 0]
            elif la.kind == "flatten":
                a = a.reshape(a.shape[0], -1)
            else:
                z = _linear_op(la, a)
                if i == last:
                    out = z if out is None else out + z
                    continue
                v = state.setdefault(i, np.zeros_like(z))
                v += z
                s = (v >= thetas[i]).astype(np.float64)
                v -= s * thetas[i]
                counts[("n", i)] = counts.get(("n", i), 0.0) + s.mean()
                a = s * thetas[i]
    spikes = [counts[("n", i)] for i in range(len(layers)) if ("n", i) in counts]
    return out, spikes, n_in
