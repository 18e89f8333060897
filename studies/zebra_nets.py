"""Victims for the ZeBRA and One-Spike studies (issues 20, 21): small CNNs trained here on
scikit-learn's bundled digits images (1,797 8 x 8 grey images of 10 classes, shipped inside the
package: nothing is downloaded), on the CPU in seconds.

``digits(seed)`` splits the images 70/30 into training and held-out sets (stratified, seeded),
scaled to [0, 1] and standardized with the training set's mean and deviation. ``victim(kind)``
builds ``"bn"`` (three 3 x 3 convolutions with batch norm and ReLU, two 2 x 2 max pools, one
fully connected layer; the BN statistics are what ZeBRA distills its data from) or ``"plain"``
(the same without batch norm, the control). ``train`` is Adam with a fixed seed.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["digits", "victim", "train", "accuracy", "KINDS", "CLASSES"]

KINDS = ("bn", "plain")
CLASSES = 10


def digits(seed=0, standardize=True):
    """(x_train, y_train, x_test, y_test) as float32/int64 tensors, x of shape (n, 1, 8, 8);
    ``standardize=False`` keeps the pixels in [0, 1] (the One-Spike study: phase coding sends
    values >= 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.3, random_state=seed,
                                          stratify=d.target)
    mu, sd = (xtr.mean(), xtr.std()) if standardize else (0.0, 1.0)
    return (torch.from_numpy((xtr - mu) / sd), torch.from_numpy(ytr.astype(np.int64)),
            torch.from_numpy((xte - mu) / sd), torch.from_numpy(yte.astype(np.int64)))


def victim(kind="bn", width=16, seed=0):
    """The CNN (module docstring); ``kind`` "bn" or "plain"; its initial weights from
    ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    torch.manual_seed(seed)

    def block(cin, cout):
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=kind == "plain")]
        if kind == "bn":
            layers.append(nn.BatchNorm2d(cout))
        return layers + [nn.ReLU()]

    return nn.Sequential(*block(1, width), nn.MaxPool2d(2), *block(width, 2 * width),
                         nn.MaxPool2d(2), *block(2 * width, 2 * width), nn.Flatten(),
                         nn.Linear(2 * width * 2 * 2, CLASSES))


def train(model, x, y, epochs=30, seed=0, lr=3e-3, batch=64):
    """Adam on (x, y), minibatches of ``batch`` in a seeded order; returns the model (eval).
    One CPU thread: PyTorch's multi-threaded CPU kernels do not reproduce bit for bit from run
    to run, one thread does (measured: two trainings with the same seed differ on 2 threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(model, x, y, epochs, seed, lr, batch)
    finally:
        torch.set_num_threads(threads)


def _train(model, x, y, epochs, seed, lr, batch):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model, x, y):
    """Top-1 accuracy; an input whose logits contain NaN counts as wrong (docs/numerics.md
    §8)."""
    logits = model(x)
    ok = (logits.argmax(dim=1) == y) & ~torch.isnan(logits).any(dim=1)
    return float(ok.float().mean())
