"""ANN-to-SNN conversion (mxforge/snn.py): the folded network is the model; the converted
network's membranes are the golden neuron's, spike by spike in stream order; at most one spike
per neuron; the baselines' codes by hand; bad models get one clear error."""
import numpy as np
import pytest
import torch
from torch import nn

from golden import phase as ph
from mxforge import snn
from studies import zebra_nets as zn

pytestmark = pytest.mark.xdist_group("torch-victim")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained():
    xtr, ytr, xte, yte = zn.digits(0, standardize=False)
    model = zn.train(zn.victim("bn", width=4, seed=0), xtr, ytr, epochs=3, seed=0)
    return model, xtr.numpy().astype(np.float64), xte.numpy().astype(np.float64), yte.numpy()


def test_folded_network_is_the_model(trained):
    model, _, xte, _ = trained
    with torch.no_grad():
        want = model(torch.from_numpy(xte[:100]).float()).double().numpy()
    got = snn.ann_forward(snn.fold(model), xte[:100])
    assert np.allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shift, base", [(False, False), (True, True)])
def test_membranes_are_the_golden_neurons(trained, shift, base):
    """For a few images, every weighted layer's membranes from the network equal
    golden.phase.layer_membrane fed the input spikes one by one (conv: per output position, the
    patch's spikes in a shuffled order), and every neuron spikes at most once."""
    model, xtr, xte, _ = trained
    net = snn.convert(model, xtr[:300], T=8, shift=shift, base=base)
    rng = np.random.default_rng(0)
    x = xte[:3]
    p = net.encode_input(x)
    for sl in net.layers:
        la = sl.layer
        if la.kind == "pool":
            big = np.where(p == ph.NO_SPIKE, 99, p)
            n, c, h, w = p.shape
            m = big.reshape(n, c, h // 2, 2, w // 2, 2).min((3, 5))
            p = np.where(m == 99, ph.NO_SPIKE, m)
            continue
        if la.kind == "flatten":
            p = p.reshape(p.shape[0], -1)
            continue
        v = snn._membranes(sl, p)
        if la.kind == "conv":
            o, c, k, _ = sl.w_q.shape
            pad = np.pad(p, ((0, 0), (0, 0), (la.padding,) * 2, (la.padding,) * 2),
                         constant_values=ph.NO_SPIKE)
            for img in range(p.shape[0]):
                h, w = v.shape[2:]
                for (i, j) in {(0, 0), (h // 2, w - 1), (h - 1, w // 2), (h - 1, w - 1)}:
                    patch = pad[img, :, i:i + k, j:j + k].reshape(-1)
                    spikes = [(q, int(t)) for q, t in enumerate(patch) if t != ph.NO_SPIKE]
                    rng.shuffle(spikes)
                    want = ph.layer_membrane(spikes, sl.w_q.reshape(o, -1), sl.b_q, sl.nrn)
                    assert v[img, :, i, j].tolist() == want.tolist()
        else:
            for img in range(p.shape[0]):
                spikes = [(q, int(t)) for q, t in enumerate(p[img]) if t != ph.NO_SPIKE]
                want = ph.layer_membrane(spikes, sl.w_q, sl.b_q, sl.nrn)
                assert v[img].tolist() == want.tolist()
        if sl.code_out is None:
            break
        p = ph.fire(v, sl.s_q)
        assert ((p >= -1) & (p < 8)).all()       # one phase or none: at most one spike


def test_conversion_keeps_accuracy_and_spikes_at_most_once(trained):
    model, xtr, xte, yte = trained
    with torch.no_grad():
        ann = float((model(torch.from_numpy(xte).float()).argmax(1).numpy() == yte).mean())
    net = snn.convert(model, xtr[:300], T=8)
    v, spikes, s_in = net.run(xte)
    assert all(0 < s <= 1 for s in spikes) and 0 < s_in <= 1
    assert net.accuracy(xte, yte) >= ann - 0.05
    assert set(net.stats["bases"]) <= set(ph.BASES_M)


def test_multi_spike_code_by_hand():
    """Levels θ·2^(−t): 0.8 with T = 3, θ = 1 → 0.5 + 0.25 = 0.75 (two spikes)."""
    layers = [snn.Layer("linear", np.eye(1), np.zeros(1)),
              snn.Layer("linear", np.eye(1), np.zeros(1))]
    logits, spikes, s_in = snn.multi_spike(layers, np.array([[0.8]]), 3, {-1: 1.0, 0: 1.0})
    assert logits[0, 0] == pytest.approx(0.75) and s_in == 2 and spikes == [2]


def test_rate_coding_counts_by_hand():
    """A constant input a with threshold θ: floor(T·a/θ) spikes in T steps (reset by
    subtraction); the classifier accumulates the spikes' worth."""
    layers = [snn.Layer("linear", np.eye(1), np.zeros(1)),
              snn.Layer("linear", np.eye(1), np.zeros(1))]
    logits, spikes, s_in = snn.rate_coded(layers, np.array([[0.375]]), 8, {-1: 1.0, 0: 1.0})
    assert s_in == 3 and spikes == [3] and logits[0, 0] == pytest.approx(3.0)


@pytest.mark.parametrize("model, message", [
    (nn.Linear(2, 2), "must be a non-empty nn.Sequential"),
    (nn.Sequential(nn.Linear(2, 2), nn.Sigmoid()), "Sigmoid is not convertible"),
    (nn.Sequential(nn.ReLU()), "no Conv2d or Linear layer"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), "must end in a Linear classifier"),
    (nn.Sequential(nn.BatchNorm2d(2), nn.Linear(2, 2)), "must follow a Conv2d"),
])
def test_bad_models(model, message):
    with pytest.raises(snn.SnnError, match=message):
        snn.fold(model)


def test_bad_calibration():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(snn.SnnError, match="non-negative"):
        snn.convert(model, -np.ones((3, 2)))
    with pytest.raises(ph.PhaseError, match="T .phases."):
        snn.convert(model, np.ones((3, 2)), T=0)


def test_layer_macs_and_rates_by_hand(trained):
    """The width-4 victim: conv 1→4 on 8×8 (3×3, padding 1), pool, conv 4→8 on 4×4, pool,
    conv 8→8 on 2×2, linear 32→10."""
    model, xtr, xte, _ = trained
    layers = snn.fold(model)
    assert snn.layer_shapes(layers, (1, 8, 8)) == [(64, 4, 9), (16, 8, 36), (4, 8, 72),
                                                   (1, 10, 32)]
    assert snn.layer_macs(layers, (1, 8, 8)) == [4 * 64 * 9, 8 * 16 * 4 * 9, 8 * 4 * 8 * 9,
                                                 10 * 32]
    net = snn.convert(model, xtr[:300], T=8)
    _, spikes, s_in = net.run(xte[:50])
    rates = net.stats["in_rates"]
    assert len(rates) == 4 and rates[0] == pytest.approx(s_in)
    assert all(0 < r <= 1 for r in rates)
    nz = snn.nonzero_rates(layers, xte[:50])
    assert nz[0] == pytest.approx(float(np.mean(xte[:50] != 0)))
