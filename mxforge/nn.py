"""PyTorch front end with the hardware's numerics (issue 20; needs the ``zebra`` extra: the CPU
build of PyTorch).

:class:`QuantizedWeights` quantizes the weights of every ``Conv2d`` and ``Linear`` layer of a
model to a catalogue format and keeps, per layer, the :class:`mxforge.bitimage.BitImage` the
hardware would store. The layers' ``weight`` tensors hold what the image decodes to (the golden
dequantizers, float64, then float32 for PyTorch): flipping a bit of an image and reloading is a
fault in the stored weights. Biases and batch-norm parameters stay in floating point (ZeBRA
attacks only the quantized weights).

A decoded value beyond float32's range (a flipped scale that multiplies a block by 2**k for a
large k) becomes ±inf in the model, as an FP32 datapath would overflow; NaN blocks stay NaN.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .bitimage import FORMATS, BitImage, BitImageError, encode

__all__ = ["QuantizedWeights", "quantizable_layers", "FORMATS"]


def quantizable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Conv2d and Linear layer, in registration order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class QuantizedWeights:
    """The quantized weights of ``model`` in ``format`` and their bit images.

    Parameters
    ----------
    model : torch.nn.Module
        Its Conv2d/Linear weights are replaced in place by their quantized values.
    format : str
        One of :data:`FORMATS` ("int8": ZeBRA's per-layer INT8).
    block, **options
        As :func:`mxforge.bitimage.encode` (BFP: ``m``).

    Raises
    ------
    BitImageError
        An unknown format, bad options, or a model without a quantizable layer.
    """

    def __init__(self, model: nn.Module, format: str, *, block=None, **options):
        layers = quantizable_layers(model)
        if not layers:
            raise BitImageError("model has no quantizable layer (Conv2d or Linear)")
        self.model, self.format = model, format
        self.layers = dict(layers)
        self.original = {n: m.weight.detach().clone() for n, m in layers}
        self.clean = {n: encode(m.weight.detach().cpu().double().numpy(), format, block=block,
                                **options) for n, m in layers}
        self.images = {n: img.copy() for n, img in self.clean.items()}
        for n in self.layers:
            self._load(n)

    def _load(self, name):
        img = self.images[name]
        with np.errstate(over="ignore", invalid="ignore"):
            w = img.decode().astype(np.float32)
        with torch.no_grad():
            self.layers[name].weight.copy_(torch.from_numpy(w))

    def decoded(self, name) -> np.ndarray:
        """The golden float64 values of layer ``name``'s current image."""
        return self.images[name].decode()

    @property
    def bits(self) -> int:
        """Bits in all images together."""
        return sum(len(img) for img in self.images.values())

    def flip(self, name: str, *indices) -> None:
        """Invert the bits ``indices`` of layer ``name``'s image and reload that layer."""
        if name not in self.images:
            raise BitImageError(f"layer must be one of {', '.join(self.images)}, not {name!r}")
        self.images[name] = self.images[name].flip(*indices)
        self._load(name)

    def set_image(self, name: str, image: BitImage) -> None:
        """Replace layer ``name``'s image (e.g. one an attack found) and reload it."""
        self.images[name] = image
        self._load(name)

    def flips(self) -> int:
        """Hamming distance of the current images to the clean ones: the attack's flips."""
        return sum(self.clean[n].distance(img) for n, img in self.images.items())

    def reset(self) -> None:
        """Back to the clean images."""
        for n, img in self.clean.items():
            self.images[n] = img.copy()
            self._load(n)

    def restore(self) -> None:
        """The model's original floating-point weights (the quantization undone)."""
        with torch.no_grad():
            for n, m in self.layers.items():
                m.weight.copy_(self.original[n])
