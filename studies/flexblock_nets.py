"""Layer shapes of the networks FlexBlock trains (CIFAR, ImageNet, WMT14), as data for
:mod:`studies.flexblock` (shapes only: nothing is downloaded, no weights exist here).

Sources of the architectures (the layer lists below are written from them):

- ResNet-18 for ImageNet: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
  Table 1 (7 x 7/2 stem, 3 x 3/2 max pool, four stages of two basic blocks at 64, 128, 256, 512
  channels, 1 x 1/2 projection shortcuts where the shape changes, average pool, FC 1000).
- ResNet-18 for CIFAR: the same blocks with a 3 x 3/1 stem and no max pool on 32 x 32 inputs
  (the common CIFAR variant, as in FlexBlock's lab simulator BFPSim's ResNet18 presets), FC 100
  (CIFAR-100, FlexBlock's precision schedule is for ResNet-18 on CIFAR-100).
- MobileNetV2 (ImageNet, width 1.0, 224 x 224): Sandler et al., "MobileNetV2: Inverted
  Residuals and Linear Bottlenecks", CVPR 2018, Table 2 (t, c, n, s rows; 1 x 1 expansion by t,
  3 x 3 depthwise with stride s on the block's first repeat, 1 x 1 linear projection).
- Transformer base: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, §3 and Table 3
  (d_model 512, 8 heads of 64, d_ff 2048, 6 encoder and 6 decoder layers; WMT14 En-De "shared
  source-target vocabulary of about 37000 tokens", here 37,000, the output projection tied to it).

Reference totals the tests check (within a few percent; tests/test_mapping.py):
ResNet-18 ImageNet 1.8 x 10^9 multiply-adds per 224 x 224 image (He et al. Table 1, whose
"FLOPs" are multiply-adds) and 11.7 M parameters; MobileNetV2 300 M multiply-adds and 3.4 M
parameters (Sandler et al. Table 4); Transformer base 65 M parameters (Vaswani et al. Table 3).
ResNet-18 CIFAR has no published total in those papers; its count (0.56 G MACs) is only printed.

Choices (stated, not from the papers): a training step of batch 128 for CIFAR and 64 for the
ImageNet networks; the Transformer at batch 32 of 128-token source and target sequences (4,096
tokens per side; the paper's batches of ~25,000 tokens scale every linear layer's token count,
not the attention shapes), self-attention counted dense (the causal mask's zeros are computed,
as a dense array does); embedding lookups, normalization, softmax, pooling and the element-wise
layers are not GEMMs and are left out. The first layer of a CNN has no input-gradient pass.
"""
from __future__ import annotations

from mxforge.mapping import FC, Attention, Conv

__all__ = ["NETWORKS", "resnet18", "mobilenet_v2", "transformer", "network", "REFERENCE"]

#: published totals: network -> {"macs": per image / sequence pair, "params": ...}, and where
REFERENCE = {
    "resnet18_imagenet": {"macs": 1.8e9, "params": 11.7e6,
                          "source": "He et al. 2016, Table 1; torchvision's 11.7 M parameters"},
    "mobilenet_v2": {"macs": 300e6, "params": 3.4e6, "source": "Sandler et al. 2018, Table 4"},
    "transformer_wmt14": {"params": 65e6, "source": "Vaswani et al. 2017, Table 3 (base)"},
}


def resnet18(imagenet=True, batch=64, classes=None):
    """ResNet-18's convolutions and FC on ``batch`` images (224 x 224 ImageNet, or the CIFAR
    variant on 32 x 32)."""
    layers = []
    if imagenet:
        classes = classes or 1000
        layers.append(Conv("conv1", 3, 64, 224, 224, 7, 2, 3, batch=batch, first=True))
        size = 56          # after the 3 x 3/2 max pool
    else:
        classes = classes or 100
        layers.append(Conv("conv1", 3, 64, 32, 32, 3, 1, 1, batch=batch, first=True))
        size = 32
    c_in = 64
    for stage, c in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            name = f"layer{stage}.{block}"
            layers.append(Conv(f"{name}.conv1", c_in, c, size, size, 3, stride, 1, batch=batch))
            out = size // stride
            layers.append(Conv(f"{name}.conv2", c, c, out, out, 3, 1, 1, batch=batch))
            if stride != 1 or c_in != c:
                layers.append(Conv(f"{name}.shortcut", c_in, c, size, size, 1, stride, 0,
                                   batch=batch))
            c_in, size = c, out
    layers.append(FC("fc", 512, classes, batch))
    return layers


#: MobileNetV2's bottleneck rows (t expansion, c channels, n repeats, s first stride), Table 2
MOBILENET_V2_ROWS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                     (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(batch=64, classes=1000):
    """MobileNetV2 (width 1.0) on ``batch`` 224 x 224 images."""
    layers = [Conv("conv1", 3, 32, 224, 224, 3, 2, 1, batch=batch, first=True)]
    c_in, size = 32, 112
    for i, (t, c, n, s) in enumerate(MOBILENET_V2_ROWS, start=1):
        for r in range(n):
            stride = s if r == 0 else 1
            name, hid = f"block{i}.{r}", c_in * t
            if t != 1:
                layers.append(Conv(f"{name}.expand", c_in, hid, size, size, 1, 1, 0, batch=batch))
            layers.append(Conv(f"{name}.dw", hid, hid, size, size, 3, stride, 1, groups=hid,
                               batch=batch))
            size //= stride
            layers.append(Conv(f"{name}.project", hid, c, size, size, 1, 1, 0, batch=batch))
            c_in = c
    layers.append(Conv("conv_last", 320, 1280, size, size, 1, 1, 0, batch=batch))
    layers.append(FC("fc", 1280, classes, batch))
    return layers


def _attention(prefix, d_model, heads, seq_q, seq_k, batch, tokens_q, tokens_kv):
    d = d_model // heads
    return [FC(f"{prefix}.q", d_model, d_model, tokens_q),
            FC(f"{prefix}.k", d_model, d_model, tokens_kv),
            FC(f"{prefix}.v", d_model, d_model, tokens_kv),
            Attention(f"{prefix}.qk", "qk", seq_q, seq_k, d, heads, batch),
            Attention(f"{prefix}.pv", "pv", seq_q, seq_k, d, heads, batch),
            FC(f"{prefix}.o", d_model, d_model, tokens_q)]


def transformer(batch=32, seq=128, d_model=512, heads=8, d_ff=2048, layers=6, vocab=37000,
                part="both"):
    """The Transformer's GEMMs: ``part`` = "encoder", "decoder" or "both" (the decoder side ends
    with the output projection to the vocabulary)."""
    tok = batch * seq
    out = []
    if part in ("encoder", "both"):
        for i in range(layers):
            out += _attention(f"enc{i}.self", d_model, heads, seq, seq, batch, tok, tok)
            out += [FC(f"enc{i}.ff1", d_model, d_ff, tok), FC(f"enc{i}.ff2", d_ff, d_model, tok)]
    if part in ("decoder", "both"):
        for i in range(layers):
            out += _attention(f"dec{i}.self", d_model, heads, seq, seq, batch, tok, tok)
            out += _attention(f"dec{i}.cross", d_model, heads, seq, seq, batch, tok, tok)
            out += [FC(f"dec{i}.ff1", d_model, d_ff, tok), FC(f"dec{i}.ff2", d_ff, d_model, tok)]
        out.append(FC("generator", d_model, vocab, tok))
    return out


#: name -> (label, builder(small) -> layers); ``small`` = a tiny batch for quick runs
NETWORKS = {
    "resnet18_cifar": ("ResNet-18 CIFAR-100 (32×32, batch 128)",
                       lambda small: resnet18(False, 2 if small else 128)),
    "resnet18_imagenet": ("ResNet-18 ImageNet (224×224, batch 64)",
                          lambda small: resnet18(True, 1 if small else 64)),
    "mobilenet_v2": ("MobileNetV2 ImageNet (224×224, batch 64)",
                     lambda small: mobilenet_v2(1 if small else 64)),
    "transformer_enc": ("Transformer base encoder (WMT14, 32×128 tokens)",
                        lambda small: transformer(1 if small else 32, 16 if small else 128,
                                                  part="encoder", layers=1 if small else 6)),
    "transformer_dec": ("Transformer base decoder (WMT14, 32×128 tokens)",
                        lambda small: transformer(1 if small else 32, 16 if small else 128,
                                                  part="decoder", layers=1 if small else 6)),
}


def network(name, small=False):
    """The layer list of ``NETWORKS[name]``."""
    if name not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, not {name!r}")
    return NETWORKS[name][1](small)
