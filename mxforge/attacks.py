"""Bit-flip attacks on stored quantized weights (issue 20; docs/numerics.md §9), written from the
description of BFA (Rakin et al., ICCV 2019) and ZeBRA (BMVC 2021) in the project notes; needs
the ``zebra`` extra (PyTorch).

All three work on a :class:`mxforge.nn.QuantizedWeights` (the bit images of a model's
Conv2d/Linear weights) and count flips as the Hamming distance to the clean images:

- :func:`random_flips`: bits drawn uniformly from all images, in one seeded order; the result is
  the first prefix of that order after which held-out accuracy is at or below the target
  (doubling, then bisection on the prefix length: accuracy is not monotone in the prefix, so
  this is the first crossing the search meets, documented as such).
- :func:`bit_search`: the progressive bit search. Per iteration, the loss on the attack batch
  is differentiated with respect to every weight; every bit of every image is a candidate,
  ranked by its first-order loss change g · Δw, where Δw is the exact change of the decoded
  weights that flipping the bit makes (for an element bit, one weight; for a shared scale or
  exponent bit, the whole block: the estimate is then (2**±2**i − 1) · s · ∂L/∂s, the loss's
  gradient with respect to the block's scale). A flip that makes values non-finite (a scale of
  0xFF: a NaN block; an overflow) ranks first. The ``k_top`` best candidates of each layer are
  confirmed by evaluating the loss with each flipped alone; the one that raises the loss most is
  committed. If none raises it, the best pairs among them are tried (BFA's growing
  ``n_bits2flip``), up to ``max_group`` bits at once.
- ZeBRA = :func:`distill` (inputs synthesized from the batch-norm statistics: per BN layer the
  per-sample channel means and deviations of its input pulled towards the running statistics,
  plus cross-entropy towards random target labels, Adam on the pixels) followed by
  :func:`bit_search` on the distilled batch with its target labels. BFA is :func:`bit_search`
  on real data with the model's own predictions as labels.

The loss the searches raise is the batch mean of per-sample cross-entropy, each sample's capped
at ``LOSS_CAP`` nats, a NaN or infinite one counting as the cap. A sample past the cap (its
class's probability below e^-100) is misclassified for certain and has nothing more to give, and
the mean stays finite after a flip that makes some outputs NaN or infinite, so the search goes on
ranking moves by how many more samples they ruin; with the plain mean, one non-finite sample made
the loss infinite, no later move could raise it, and a search stopped short of collapse. Logits
with a NaN classify the input wrongly (``studies.zebra_nets.accuracy``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .nn import QuantizedWeights

__all__ = ["random_flips", "bit_search", "distill", "candidates", "moves", "SearchResult",
           "attack_loss", "attack_loss_backward", "LOSS_CAP"]


#: per-sample loss cap in nats (module docstring)
LOSS_CAP = 100.0


def attack_loss(logits, y):
    """Batch mean of per-sample cross-entropy, each capped at :data:`LOSS_CAP` (NaN or
    infinite: the cap). The value only: see :func:`attack_loss_backward` for its gradient."""
    per = nn.functional.cross_entropy(logits, y, reduction="none")
    per = torch.nan_to_num(per, nan=LOSS_CAP, posinf=LOSS_CAP)
    return per.clamp(max=LOSS_CAP).mean()


def _loss(model, x, y):
    with torch.no_grad():
        return float(attack_loss(model(x), y))


def attack_loss_backward(model, x, y) -> float:
    """:func:`attack_loss` of the model on (x, y), back-propagated into the parameters that
    require a gradient; returns its value. Samples whose logits are not all finite add the cap
    and no gradient: they are left out of the differentiated pass, since inside the network
    their NaN activations would make 0 * NaN = NaN of every weight gradient."""
    with torch.no_grad():
        logits = model(x)
    ok = torch.isfinite(logits).all(dim=1)
    value = float(attack_loss(logits, y))
    if ok.any():
        per = nn.functional.cross_entropy(model(x[ok]), y[ok], reduction="none")
        (per.clamp(max=LOSS_CAP).sum() / len(y)).backward()
    return value


@dataclass
class SearchResult:
    """``flips``: committed flips in order, each (layer, bit index, kind, bit in its word);
    ``collapsed_at``: flips after which held-out accuracy first reached the target (None: not
    within the budget); ``datafree_at``: the same by the data-free rule (accuracy on the attack
    batch itself); ``accuracy``: held-out accuracy after each flip."""

    flips: list = field(default_factory=list)
    collapsed_at: int | None = None
    datafree_at: int | None = None
    accuracy: list = field(default_factory=list)


def candidates(qw: QuantizedWeights, name: str, grad: np.ndarray) -> tuple:
    """(bit indices, first-order loss changes) of every bit of layer ``name``'s image, the
    estimate g · Δw summed over the weights the flip changes (module docstring); +inf where the
    flip makes a weight non-finite. Bit i of every entry of a field is flipped at once and the
    change attributed entry by entry: an element entry changes its own weight, a block-level
    entry (scale, check word; OPAL's outlier value and index, one rank at a time) the weights of
    its block."""
    img = qw.images[name]
    values = img.field_values()
    w = img.decode_fields(values)
    g = grad.reshape(w.shape).astype(np.float64)
    rows = w.reshape(w.shape[0], -1)
    idx, est = [], []

    def effect(flipped):
        with np.errstate(over="ignore", invalid="ignore"):
            nw = img.decode_fields(flipped)
            dw = nw - w
            bad = ~np.isfinite(dw) | (np.abs(nw) > 3.4e38)
            return np.where(bad, 0.0, g * np.where(bad, 0.0, dw)).reshape(rows.shape), \
                bad.reshape(rows.shape)

    def per_block(contrib, bad):
        size = img.params["quantizer"]["block"]
        kp = img.params["padded"]
        pad = np.zeros((rows.shape[0], kp))
        pad[:, :rows.shape[1]] = contrib
        badp = np.zeros((rows.shape[0], kp), bool)
        badp[:, :rows.shape[1]] = bad
        e = pad.reshape(rows.shape[0], -1, size).sum(-1)
        return np.where(badp.reshape(rows.shape[0], -1, size).any(-1), np.inf, e)

    for f in img.fields:
        for i in range(f.width):
            if f.kind == "element":
                flipped = dict(values)
                flipped[f.name] = values[f.name] ^ (1 << i)
                contrib, bad = effect(flipped)
                e = np.where(bad, np.inf, contrib).reshape(-1)
                e = e[f.target] if f.target is not None else e
            elif f.offsets.ndim == 3:           # one entry per block and rank: rank by rank
                e = np.zeros(f.offsets.shape)
                for j in range(f.offsets.shape[-1]):
                    flipped = dict(values)
                    v = values[f.name].copy()
                    v[..., j] ^= 1 << i
                    flipped[f.name] = v
                    e[..., j] = per_block(*effect(flipped))
            else:
                flipped = dict(values)
                flipped[f.name] = values[f.name] ^ (1 << i)
                e = per_block(*effect(flipped))
            idx.append(f.offsets.reshape(-1) + i)
            est.append(np.asarray(e).reshape(-1))
    return np.concatenate(idx), np.concatenate(est)


def _neighbours():
    """For every scale s: the scales whose SECDED codeword is at distance 4 from s's, and the
    three stored bits (0..12: scale bits, then check bits) whose flip the decoder 'corrects'
    to that codeword."""
    from golden import secded
    scales = np.arange(256)
    words = scales | secded.encode(scales) << 8
    out = []
    for s in range(256):
        diff = words ^ words[s]
        cnt = np.array([bin(int(x)).count("1") for x in diff])
        out.append([(int(t), [b for b in range(13) if diff[t] >> b & 1][:3])
                    for t in np.flatnonzero(cnt == 4)])
    return out


_NEIGHBOURS = None


def moves(qw: QuantizedWeights, name: str, grad: np.ndarray) -> tuple:
    """(moves, first-order loss changes) of layer ``name``: each move a tuple of image bit
    indices. Unprotected: every single bit (:func:`candidates`). A SECDED-protected image
    (``protect="secded"``): a single flip of a scale or check bit is corrected and changes
    nothing, so those bits are replaced by the attacker's moves that defeat the code: per block,
    two flips in its 13-bit word (the guard detects them and applies its policy: a zeroed block,
    or the held scale of the block before) and, for each of the 55 scales whose codeword is at
    distance 4, the three flips that the decoder miscorrects into that scale."""
    global _NEIGHBOURS
    img = qw.images[name]
    idx, est = candidates(qw, name, grad)
    if not img.params.get("protect"):
        return [(int(i),) for i in idx], est
    kinds = img.bit_kinds()
    keep = ~np.isin(kinds["kind"][idx], ["scale", "check"])   # the code covers only these
    out = [(int(i),) for i in idx[keep]]
    ests = [est[keep]]
    if _NEIGHBOURS is None:
        _NEIGHBOURS = _neighbours()
    from golden import secded
    values = img.field_values()
    scale_name = "exp" if img.format == "bfp" else "scale"
    scale = values[scale_name]
    base = next(f.offsets for f in img.fields if f.kind == "scale")
    w = img.decode_fields(values)
    g = grad.reshape(w.shape).astype(np.float64)
    size = img.params["quantizer"]["block"]
    kp = img.params["padded"]
    rows = w.reshape(w.shape[0], -1)

    def per_block(new_scale, new_check, mask):
        v = dict(values)
        v[scale_name] = np.where(mask, new_scale, scale)
        v["check"] = np.where(mask, new_check, values["check"])
        with np.errstate(over="ignore", invalid="ignore"):
            nw = img.decode_fields(v)
            dw = nw - w
            bad = ~np.isfinite(dw) | (np.abs(nw) > 3.4e38)
            contrib = np.where(bad, 0.0, g * np.where(bad, 0.0, dw)).reshape(rows.shape)
        pad = np.zeros((rows.shape[0], kp))
        pad[:, :rows.shape[1]] = contrib
        badp = np.zeros((rows.shape[0], kp), bool)
        badp[:, :rows.shape[1]] = bad.reshape(rows.shape)
        e = pad.reshape(rows.shape[0], -1, size).sum(-1)
        return np.where(badp.reshape(rows.shape[0], -1, size).any(-1), np.inf, e)

    # two flips: scale bits 0 and 1 (any two give the same detection); hold policy: even and
    # odd blocks apart, so each detected block holds an undisturbed neighbour
    flat = np.arange(scale.size).reshape(scale.shape)
    pair = np.zeros(scale.shape)
    for parity in (0, 1):
        mask = flat % 2 == parity
        pair = np.where(mask, per_block(scale ^ 0b11, values["check"], mask), pair)
    out += [(int(b), int(b) + 1) for b in base.reshape(-1)]
    ests.append(pair.reshape(-1))
    # three flips: every distance-4 neighbour
    for t in range(55):
        tgt = np.vectorize(lambda x: _NEIGHBOURS[x][t][0])(scale)
        ests.append(per_block(tgt, secded.encode(tgt), np.ones(scale.shape, bool)).reshape(-1))
        for b, sv in zip(base.reshape(-1), scale.reshape(-1)):
            out.append(tuple(int(b) + x for x in _NEIGHBOURS[int(sv)][t][1]))
    return out, np.concatenate(ests)


def bit_search(qw: QuantizedWeights, x, y, x_test, y_test, accuracy, *, target=0.11,
               max_flips=30, k_top=10, max_group=3) -> SearchResult:
    """The progressive bit search (module docstring) on batch (x, y), stopping after
    ``max_flips`` committed flips or once held-out accuracy (``accuracy(model, x_test,
    y_test)``) is at or below ``target``."""
    model = qw.model
    res = SearchResult()
    for p in model.parameters():
        p.requires_grad_(False)
    weights = {n: m.weight for n, m in qw.layers.items()}
    while len(res.flips) < max_flips:
        for wt in weights.values():
            wt.requires_grad_(True)
            wt.grad = None
        base = attack_loss_backward(model, x, y)
        best = None                   # (loss, layer, bits)
        per_layer = {}
        for n, wt in weights.items():
            # a NaN weight upstream makes 0 * NaN in the chain rule: no information, no rank
            g = (np.nan_to_num(wt.grad.detach().numpy(), nan=0.0, posinf=0.0, neginf=0.0)
                 if wt.grad is not None else np.zeros(tuple(wt.shape), np.float32))
            mv, est = moves(qw, n, g)
            order = np.argsort(-est, kind="stable")[:k_top]
            per_layer[n] = [(mv[j], float(est[j])) for j in order if est[j] > 0]
        for wt in weights.values():
            wt.requires_grad_(False)
        for group in range(1, max_group + 1):
            for n, cands in per_layer.items():
                tries = ([(c,) for c in cands] if group == 1 else
                         [tuple(cands[j] for j in range(group))] if len(cands) >= group else [])
                for t in tries:
                    bits = [b for c in t for b in c[0]]
                    saved = qw.images[n]
                    qw.flip(n, *bits)
                    val = _loss(model, x, y)
                    qw.set_image(n, saved)
                    # the larger loss; on a tie (two moves that both ruin every sample,
                    # say) the one with fewer flips
                    if best is None or (val, -len(bits)) > (best[0], -len(best[2])):
                        best = (val, n, bits)
            if best is not None and best[0] > base:
                break
        if best is None or best[0] <= base:
            break                     # no candidate raises the loss
        _, n, bits = best
        kinds = qw.images[n].bit_kinds()
        qw.flip(n, *bits)
        for b in bits:
            res.flips.append((n, b, str(kinds["kind"][b]), int(kinds["bit"][b])))
        acc = accuracy(model, x_test, y_test)
        res.accuracy.append(acc)
        if res.datafree_at is None and accuracy(model, x, y) <= target:
            res.datafree_at = len(res.flips)
        if acc <= target:
            res.collapsed_at = len(res.flips)
            break
    return res


def random_flips(qw: QuantizedWeights, x_test, y_test, accuracy, *, seed=0, target=0.11,
                 cap=1 << 15) -> int | None:
    """Flips to collapse under uniformly random flips (module docstring), or None beyond
    ``cap``."""
    rng = np.random.default_rng(seed)
    names = list(qw.images)
    sizes = np.array([len(qw.clean[n]) for n in names])
    total = int(sizes.sum())
    order = rng.permutation(total)[:min(cap, total)]
    starts = np.concatenate([[0], np.cumsum(sizes)])

    def acc_after(k):
        qw.reset()
        chosen = order[:k]
        for j, n in enumerate(names):
            mine = chosen[(chosen >= starts[j]) & (chosen < starts[j + 1])] - starts[j]
            if mine.size:
                qw.flip(n, mine)
        return accuracy(qw.model, x_test, y_test)

    lo, hi = 0, 1
    while acc_after(hi) > target:
        lo, hi = hi, hi * 2
        if hi > order.size:
            if acc_after(order.size) > target:
                qw.reset()
                return None
            hi = order.size
            break
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if acc_after(mid) <= target:
            hi = mid
        else:
            lo = mid
    qw.reset()
    return hi


def distill(model, n=64, classes=10, shape=(1, 8, 8), *, seed=0, steps=500, lr=0.1,
            lambda_ce=0.2, lambda_bn=0.1):
    """ZeBRA's distilled target data (module docstring): (x, random target labels)."""
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        raise ValueError("model has no BatchNorm2d layer: ZeBRA distills its data from them")
    x = torch.randn((n, *shape), generator=g).requires_grad_(True)
    y = torch.randint(0, classes, (n,), generator=g)
    seen = []
    hooks = [b.register_forward_hook(lambda mod, inp, out: seen.append((mod, inp[0])))
             for b in bns]
    opt = torch.optim.Adam([x], lr=lr)
    model.eval()
    try:
        for _ in range(steps):
            seen.clear()
            opt.zero_grad()
            logits = model(x)
            lbn = 0.0
            for mod, a in seen:
                mu = a.mean(dim=(2, 3))
                sd = a.flatten(2).std(dim=2)
                lbn = lbn + ((mu - mod.running_mean) ** 2).sum(1).mean() + \
                    ((sd - (mod.running_var + 1e-6).sqrt()) ** 2).sum(1).mean()
            lin = (x.mean(dim=(2, 3)) ** 2).sum(1).mean() + \
                ((x.flatten(2).std(dim=2) - 1) ** 2).sum(1).mean()
            loss = lambda_ce * nn.functional.cross_entropy(logits, y) + \
                lambda_bn * (lbn + lin)
            loss.backward()
            opt.step()
    finally:
        for h in hooks:
            h.remove()
    return x.detach(), y
