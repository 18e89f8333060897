"""The PyTorch front end and the bit-flip attacks (mxforge/nn.py, mxforge/attacks.py): the
weights the model computes with are the golden decoded images, bit for bit; the candidate
ranking's loss estimates are the exact first-order ones (checked against finite differences of
the loss in the weights the flip changes); the attacks count flips as Hamming distances and
stop by their rules."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from mxforge import attacks
from mxforge import bitimage as bi
from mxforge.nn import QuantizedWeights
from studies import zebra_nets as zn

# one worker trains the module's victim once (xdist loadgroup); one thread: the other worker
# runs simulations meanwhile
pytestmark = pytest.mark.xdist_group("torch-victim")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(0)
    return zn.digits(0)


@pytest.fixture(scope="module")
def trained(data):
    xtr, ytr, _, _ = data
    return zn.train(zn.victim("bn", width=8), xtr, ytr, epochs=15)


@pytest.mark.parametrize("fmt", ["int8", "e4m3", "mxint8", "e2m1", "mxsf", "bfp"])
def test_model_weights_are_the_golden_images(trained, fmt):
    model = trained
    q = QuantizedWeights(model, fmt)
    try:
        for name, layer in q.layers.items():
            want = bi.encode(q.original[name].double().numpy(), fmt).decode()
            assert np.array_equal(layer.weight.detach().numpy(), want.astype(np.float32))
            assert np.array_equal(q.decoded(name), want)
        name = next(iter(q.layers))
        q.flip(name, 0, 9)
        assert q.flips() == 2
        assert not np.array_equal(q.layers[name].weight.detach().numpy(),
                                  bi.encode(q.original[name].double().numpy(), fmt).decode()
                                  .astype(np.float32))
        q.reset()
        assert q.flips() == 0
    finally:
        q.restore()
    assert torch.equal(model[0].weight, q.original[next(iter(q.layers))])


def test_candidate_estimates_are_first_order(trained, data):
    """For a handful of int8 element bits and one BFP exponent bit: estimate = g · Δw with
    the exact Δw of the flip."""
    xtr, ytr, _, _ = data
    model = trained
    for fmt in ("int8", "bfp"):
        q = QuantizedWeights(model, fmt)
        try:
            name = "0"
            w = q.layers[name].weight
            w.requires_grad_(True)
            w.grad = None
            nn.functional.cross_entropy(model(xtr[:32]), ytr[:32]).backward()
            g = w.grad.detach().numpy().astype(np.float64)
            w.requires_grad_(False)
            idx, est = attacks.candidates(q, name, g)
            assert sorted(idx.tolist()) == list(range(len(q.images[name])))
            base = q.decoded(name)
            for j in (0, 5, 17, len(idx) // 2):
                b = int(idx[j])
                with np.errstate(over="ignore", invalid="ignore"):
                    dw = q.images[name].flip(b).decode() - base
                if np.isfinite(dw).all():
                    assert est[j] == pytest.approx(float((g.reshape(dw.shape) * dw).sum()),
                                                   rel=1e-9, abs=1e-12)
        finally:
            q.restore()


def test_bit_search_and_random_flips(trained, data):
    xtr, ytr, xte, yte = data
    model = trained
    q = QuantizedWeights(model, "e4m3")
    try:
        with torch.no_grad():
            y = model(xtr[:64]).argmax(1)
        res = attacks.bit_search(q, xtr[:64], y, xte, yte, zn.accuracy, max_flips=5)
        assert res.collapsed_at is not None and res.collapsed_at == len(res.flips) == q.flips()
        assert zn.accuracy(model, xte, yte) <= 0.11
        q.reset()
        n1 = attacks.random_flips(q, xte, yte, zn.accuracy, seed=3)
        assert n1 == attacks.random_flips(q, xte, yte, zn.accuracy, seed=3) and n1 >= 1
        assert q.flips() == 0
    finally:
        q.restore()


def test_attack_loss_caps_each_sample():
    """Per-sample cross-entropy by hand (log-sum-exp in float64), capped at 100 nats; a NaN or
    infinite sample counts as the cap; the mean stays finite."""
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 300.0, 0.0], [float("nan"), 0.0, 0.0],
                           [float("inf"), 0.0, 0.0]], dtype=torch.float32)
    y = torch.tensor([0, 0, 1, 1])
    first = math.log(math.exp(2) + 1 + math.exp(-1)) - 2.0
    loss = attacks.attack_loss(logits, y)
    assert float(loss) == pytest.approx((first + 3 * attacks.LOSS_CAP) / 4, rel=1e-6)


def test_attack_loss_gradient_ignores_non_finite_samples():
    """A sample that turns NaN inside the network adds the cap and no gradient: the weight
    gradient is the finite samples' alone (scaled by their share), not NaN."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    x = torch.randn(6, 4)
    x[2, 1] = float("nan")
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    value = attacks.attack_loss_backward(model, x, y)
    got = [p.grad.clone() for p in model.parameters()]
    keep = torch.tensor([True, True, False, True, True, True])
    model.zero_grad()
    per = nn.functional.cross_entropy(model(x[keep]), y[keep], reduction="none")
    (per.sum() / 6).backward()
    for g, want in zip(got, (p.grad for p in model.parameters())):
        assert torch.isfinite(g).all() and torch.allclose(g, want)
    assert value == pytest.approx((float(per.sum()) + attacks.LOSS_CAP) / 6, rel=1e-6)


def test_distill_needs_batch_norm(data):
    with pytest.raises(ValueError, match="no BatchNorm2d"):
        attacks.distill(zn.victim("plain", width=4), steps=1)


def test_bad_input():
    with pytest.raises(bi.BitImageError, match="no quantizable layer"):
        QuantizedWeights(nn.Sequential(nn.ReLU()), "int8")
    with pytest.raises(bi.BitImageError, match="format must be one of"):
        QuantizedWeights(zn.victim("plain", width=4), "fp8")
    q = QuantizedWeights(zn.victim("plain", width=4), "int8")
    with pytest.raises(bi.BitImageError, match="layer must be one of 0, 3, 6, 9, not .7."):
        q.flip("7", 0)
