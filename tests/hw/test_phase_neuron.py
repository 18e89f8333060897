"""phase_neuron (hw/phase_neuron.py) beyond the catalogue's random windows: every (weight, phase)
product exactly, through the firing decision; single firing per window; bad parameters (and
those of its baseline, hw/mac_neuron.py).

The membrane is not an output, so the exhaustive test makes the firing decision reveal it: for
each phase t and each group of n weights, one spike at phase t into membranes that start from
bias_j = −e_j (e_j the golden product of weight j) with every threshold 0 must fire every
neuron (V = 0), and from −e_j − 1 must fire none (V = −1); a product one off in the RTL flips a
decision. Both windows of every (t, weight) pair: 256 weights × T phases, compared with the
golden model (itself checked against exact fractions, tests/golden/test_phase.py)."""
import numpy as np
import pytest

from golden import phase as ph
from hw.mac_neuron import MacNeuron
from hw.phase_neuron import PhaseNeuron
from mxforge.catalogue import BLOCKS
from sim.harness import check

BLOCK = BLOCKS["phase_neuron"]


def _products_stimulus(n, fan_in, m, T, F, W, rounding):
    """The command stream (module docstring) and, per window, how many neurons must fire."""
    nrn = ph.Neuron(m, T, F, W, rounding)
    base_b, base_t = fan_in * n, fan_in * n + n
    beats = [(ph.OP_LOAD, base_t + t, 0, 0) for t in range(T)]
    weights = np.arange(-128, 128)
    mask = (1 << W) - 1
    fire = []
    for t in range(T):
        for g in range(0, 256, n):
            w = np.pad(weights[g:g + n], (0, max(0, g + n - 256)))
            beats += [(ph.OP_LOAD, j, 0, int(w[j]) & 0xFF) for j in range(n)]   # column 0
            e = ph.scale_product(w, np.full(n, t), nrn)
            # a bias of -e must fit in W bits (at W = 16, -128 * 2^8 = -2^15 has no -e)
            ok = -e <= nrn.vmax
            for off in (0, 1):
                beats += [(ph.OP_LOAD, base_b + j, 0, int(-e[j] - off) & mask)
                          for j in range(n)]
                beats += [(ph.OP_SPIKE, 0, t, 0), (ph.OP_FIRE, 0, 0, 0)]
                fire.append((int(ok.sum()), int((~ok).sum())) if off == 0 else (0, 0))
    a = np.array(beats, dtype=np.int64)
    return {"op": a[:, 0], "addr": a[:, 1], "phase": a[:, 2], "data": a[:, 3]}, fire


@pytest.mark.parametrize("config", ["phase_neuron", "phase_neuron_m4_W16_nearest"])
def test_every_product_exactly(config):
    params = BLOCK.configurations()[config]
    p = BLOCK.params(**params)
    x, fire = _products_stimulus(**p)
    want = BLOCK.golden(x, **p)
    # the decisions are the intended ones: every neuron fires in the first window of a pair
    # (those whose bias could not be loaded may or may not), none in the second
    spikes = want["last"] == 0
    windows = np.cumsum(want["last"]) - want["last"]
    per_window = np.bincount(windows[spikes], minlength=len(fire))
    lo = np.array([f[0] for f in fire])
    hi = lo + np.array([f[1] for f in fire])
    assert ((per_window >= lo) & (per_window <= hi)).all()
    assert lo[0::2].sum() >= 256 * p["T"] - p["T"]
    check(BLOCK, params, x, backend="amaranth", stalls=True, seed=3)


def test_at_most_one_spike_per_neuron_per_window():
    rng = np.random.default_rng(7)
    p = BLOCK.params()
    x = BLOCK.stimulus(rng, 2000, **p)
    out = check(BLOCK, {}, x, backend="amaranth", seed=1).outputs
    window = np.cumsum(out["last"]) - out["last"]
    spikes = out["last"] == 0
    pairs = set()
    for w, j in zip(window[spikes].tolist(), out["index"][spikes].tolist()):
        assert (w, j) not in pairs
        pairs.add((w, j))
    assert len(pairs) > 100


@pytest.mark.parametrize("kwargs, message", [
    ({"m": 3}, "m must be one of 1, 2, 4, 8"),
    ({"T": 0}, "T must be an integer in 1..64"),
    ({"n": 0}, "n must be an integer in 1..64"),
    ({"W": 60}, "W must be an integer in 8..48"),
    ({"rounding": "up"}, "rounding must be one of floor, nearest"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PhaseNeuron(**kwargs)
    if "m" not in kwargs and "T" not in kwargs and "rounding" not in kwargs:
        with pytest.raises(ValueError, match=message):       # the MAC baseline's n and W
            MacNeuron(**kwargs)
