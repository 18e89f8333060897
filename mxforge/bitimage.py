"""Stored bit images of quantized weight tensors: the exact bits the hardware keeps, bit flips,
and the tensor they decode to (docs/numerics.md §9; issue 20, ZeBRA).

A weight tensor of shape (O, ...) is quantized with its reduction dimensions flattened, one row
per output channel (a Conv2d weight (O, I, kh, kw) becomes (O, I*kh*kw); a Linear weight is
already (O, I)): the blocks of a block format run along a row, as the hardware groups the
operands of one dot product. A row whose length is not a multiple of the block is padded with
zeros for the quantizer (zeros do not change a block's scale); the padding is not stored and
decodes as zero.

Layout of the image (bit 0 = the least significant bit of each word; words back to back):

- ``int8`` (ZeBRA's victims): per layer, the N = 8-bit two's-complement codes
  q = round_half_even(clamp(w / step, -127, 127)), step = max|w| / 127, in row-major order.
  The step is a per-layer register, not part of the image; a flip may give -128, which decodes
  as -128 * step.
- MX elements and MXSF: per block, the E8M0 scale byte, then the block's element codes.
- ``bfp``: per group, the 8-bit shared exponent M, then per element its sign bit and its m-bit
  magnitude (the sign first).
- ``opal``: per n-block, the inlier E8M0 scale, the b-bit inlier codes of the block's slots that
  hold no outlier, in slot order, then per outlier (rank order) its 16-bit BF16 value and its
  log2(n)-bit index. Decoding places the stored inlier codes into the slots the (possibly
  flipped) indices leave free, in order: slots left without a code decode as 0, codes left
  without a slot are dropped; two outliers at one index: the later one's value stands.

Blocks are numbered row by row. :meth:`BitImage.decode` reads every field back from the bits
and runs the golden dequantizers (:func:`mxforge.tensors.dequantize`): a scale of 0xFF (MX) or
an exponent of 255 (BFP) decodes the whole block as NaN, an E4M3/E5M2 NaN code as NaN.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden import secded
from golden.formats import MX_ELEMENTS

from . import tensors

__all__ = ["BitImage", "FORMATS", "BitImageError", "encode"]

#: the formats a bit image is defined for
FORMATS = ("int8", *MX_ELEMENTS, "bfp", "opal")
_INT_BITS = 8


class BitImageError(ValueError):
    """Bad input: one line naming the parameter and what is allowed."""


@dataclass(frozen=True)
class _Field:
    """One stored field: its name (the quantizer's output field), its kind for reports
    ("scale" or "element"), its width, whether it is two's complement, and the image offset of
    every entry's bit 0 (an array of the field's shape)."""

    name: str
    kind: str
    width: int
    signed: bool
    offsets: np.ndarray
    #: element fields whose entries are not the weights in order (OPAL's stored inliers): the
    #: flat weight index of every entry
    target: np.ndarray | None = None


@dataclass(eq=False)
class BitImage:
    """The stored bits of one quantized tensor (module docstring).

    Attributes
    ----------
    format : str
    shape : tuple
        The tensor's shape.
    bits : ndarray of uint8 (0 or 1)
        The image, bit 0 first.
    params : dict
        What decoding needs besides the bits (the quantizer's parameters, the padded row
        length, the INT8 step).
    """

    format: str
    shape: tuple
    bits: np.ndarray
    params: dict
    fields: tuple = field(repr=False, default=())

    def __len__(self):
        return int(self.bits.size)

    def copy(self) -> "BitImage":
        return BitImage(self.format, self.shape, self.bits.copy(), self.params, self.fields)

    def flip(self, *indices) -> "BitImage":
        """A copy with the bits at ``indices`` inverted (each index once; an index given twice
        flips that bit back)."""
        idx = np.asarray(indices if len(indices) != 1 or np.ndim(indices[0]) == 0
                         else indices[0], dtype=np.int64).reshape(-1)
        bad = idx[(idx < 0) | (idx >= self.bits.size)]
        if bad.size:
            raise BitImageError(f"bit index must be in 0..{self.bits.size - 1} (the image has "
                                f"{self.bits.size} bits), not {int(bad[0])}")
        out = self.copy()
        np.bitwise_xor.at(out.bits, idx, 1)
        return out

    def distance(self, other: "BitImage") -> int:
        """Hamming distance to another image of the same tensor: the number of flips."""
        if other.bits.shape != self.bits.shape:
            raise BitImageError("the images are of different tensors")
        return int(np.count_nonzero(self.bits != other.bits))

    def field_values(self) -> dict:
        """{field name: integer array} read from the bits (two's complement fields signed)."""
        out = {}
        for f in self.fields:
            pos = f.offsets[..., None] + np.arange(f.width)
            v = (self.bits[pos].astype(np.int64) << np.arange(f.width)).sum(axis=-1)
            if f.signed:
                v = np.where(v >> (f.width - 1), v - (1 << f.width), v)
            out[f.name] = v
        return out

    def bit_kinds(self) -> dict:
        """Per bit of the image: ``kind`` ("scale" or "element"), ``field`` (its name),
        ``bit`` (its index in its word, 0 = LSB) and ``entry`` (the flat index of its word in
        its field): arrays of the image's length, for reports and attacks."""
        kind = np.empty(self.bits.size, dtype=object)
        name = np.empty(self.bits.size, dtype=object)
        bit = np.zeros(self.bits.size, dtype=np.int64)
        entry = np.zeros(self.bits.size, dtype=np.int64)
        for f in self.fields:
            flat = f.offsets.reshape(-1)
            for i in range(f.width):
                kind[flat + i], name[flat + i] = f.kind, f.name
                bit[flat + i] = i
                entry[flat + i] = np.arange(flat.size)
        return {"kind": kind, "field": name, "bit": bit, "entry": entry}

    def decode(self) -> np.ndarray:
        """The tensor the bits stand for, float64 of :attr:`shape` (NaN where a block is
        NaN)."""
        return self.decode_fields(self.field_values())

    def decode_fields(self, v: dict) -> np.ndarray:
        """The tensor that the field values ``v`` ({name: integer array}, as
        :meth:`field_values` returns) stand for: what :meth:`decode` gives for the image that
        holds them."""
        rows, k = self.shape[0], int(np.prod(self.shape[1:], dtype=np.int64))
        if self.format == "int8":
            c = np.asarray(v["codes"], dtype=np.int64)
            c = np.where(c >= 128, c - 256, c)          # raw 8-bit words read as two's complement
            return (c * self.params["step"]).reshape(self.shape).astype(np.float64)
        p = self.params["quantizer"]
        kp = self.params["padded"]
        if self.format == "opal":
            return self._decode_opal(v, rows, k, kp, p)
        fields = {}
        for f in self.fields:
            if f.kind == "element":
                full = np.zeros((rows, kp), dtype=np.int64)
                full[:, :k] = v[f.name]
                fields[f.name] = full
            elif f.kind == "scale":
                fields[f.name] = v[f.name]
        if self.params.get("protect"):
            fields = self._guard(fields, v["check"], kp)
        if self.format == "bfp":
            fields["zse"] = np.zeros_like(fields["exp"])
        q = {"format": np.array(self.format), "params": np.array(_json(p)), **fields}
        return tensors.dequantize(q)[:, :k].reshape(self.shape)


    def _decode_opal(self, v, rows, k, kp, p):
        n = p["block"]
        nb = kp // n
        idx = np.asarray(v["idx"], dtype=np.int64)
        scale = np.asarray(v["scale"], dtype=np.int64)
        stored = np.asarray(v["codes"], dtype=np.int64)
        start = self.params["inlier_start"]               # (rows, nb): first stored entry
        count = self.params["inlier_count"]
        if self.params.get("protect"):
            _, _, det = secded.decode(scale, v["check"])
            g = secded.guard_block({"scale": scale.reshape(-1), "check": np.asarray(v["check"])
                                    .reshape(-1), "codes": np.zeros((scale.size, 1))},
                                   k=1, w=1, policy=self.params["policy"])
            scale = g["scale"].reshape(scale.shape)
            zero = det.reshape(scale.shape) == 1 if self.params["policy"] == "zero" else \
                np.zeros(scale.shape, bool)
        else:
            zero = np.zeros(scale.shape, bool)
        codes = np.zeros((rows, nb, n), dtype=np.int64)
        for r in range(rows):
            for b in range(nb):
                if zero[r, b]:
                    continue
                real = min(n, k - b * n)
                taken = set(idx[r, b].tolist())
                free = [t for t in range(real) if t not in taken]
                c = stored[start[r, b]:start[r, b] + count[r, b]]
                m = min(len(free), len(c))
                codes[r, b, free[:m]] = c[:m]
        q = {"format": np.array("opal"), "params": np.array(_json(p)),
             "codes": codes.reshape(rows, kp), "scale": scale,
             "outliers": np.moveaxis(np.asarray(v["outliers"], dtype=np.int64), -1, -2),
             "idx": np.moveaxis(idx, -1, -2)}
        return tensors.dequantize(q)[:, :k].reshape(self.shape)

    def _guard(self, fields, check, kp):
        """The fields after ``scale_guard`` (golden.secded.guard_block) in storage order."""
        scale_name = "exp" if self.format == "bfp" else "scale"
        scale = np.asarray(fields[scale_name])
        rows, nb = scale.shape
        size = kp // nb
        elem = [n for n in fields if n != scale_name]
        # the guard sees one block per beat: its element fields as codes (zeroed together)
        codes = np.stack([np.asarray(fields[n]).reshape(rows * nb, size) for n in elem], -1)
        g = secded.guard_block({"scale": scale.reshape(-1), "check": np.asarray(check)
                                .reshape(-1), "codes": codes.reshape(rows * nb, -1)},
                               k=size * len(elem), w=32, policy=self.params["policy"])
        out = {scale_name: g["scale"].reshape(rows, nb)}
        gc = g["codes"].reshape(rows * nb, size, len(elem))
        for j, n in enumerate(elem):
            out[n] = gc[..., j].reshape(rows, kp)
        return out


def _json(p):
    import json
    return json.dumps(p)


def _as_rows(w):
    w = np.asarray(w)
    if w.ndim < 2:
        raise BitImageError(f"w must have at least 2 dimensions (output channels first), not "
                            f"shape {w.shape}")
    if w.dtype not in (np.float32, np.float64, np.float16):
        raise BitImageError(f"w must be a float tensor, not {w.dtype}")
    rows = w.reshape(w.shape[0], -1).astype(np.float32)
    if not np.isfinite(rows).all():
        raise BitImageError("w must be finite")
    return rows


def encode(w, format, *, block=None, protect=None, policy="zero", **options) -> BitImage:
    """Quantize weight tensor ``w`` (output channels first) to ``format`` and lay out its bit
    image (module docstring). ``block`` and ``options`` as :func:`mxforge.tensors.quantize`
    (BFP: ``m``; the default rounding of each format); ``int8`` takes none. ``protect="secded"``
    stores each block's 5-bit SECDED check word right after its scale (``scale_guard``,
    :mod:`golden.secded`) and decodes through the guard with ``policy`` ("zero" or "hold")."""
    if format not in FORMATS:
        raise BitImageError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if protect not in (None, "secded"):
        raise BitImageError(f"protect must be None or 'secded', not {protect!r}")
    if protect and format == "int8":
        raise BitImageError("protect applies to the block scales of block formats, not int8")
    if policy not in secded.POLICIES:
        raise BitImageError(f"policy must be one of {', '.join(secded.POLICIES)}, not "
                            f"{policy!r}")
    extra = secded.check_bits() + 1 if protect else 0
    rows = _as_rows(w)
    n, k = rows.shape
    if format == "int8":
        if block is not None or options:
            raise BitImageError("int8 (per-layer) takes no block or options")
        top = float(np.abs(rows).max())
        step = top / 127 if top > 0 else 1.0
        codes = np.rint(np.clip(rows.astype(np.float64) / step, -127, 127)).astype(np.int64)
        offsets = (np.arange(n * k, dtype=np.int64) * _INT_BITS).reshape(n, k)
        fields = (_Field("codes", "element", _INT_BITS, True, offsets),)
        image = BitImage(format, tuple(np.shape(w)), np.zeros(n * k * _INT_BITS, np.uint8),
                         {"step": step}, fields)
        return _write(image, {"codes": codes})
    try:
        size = tensors.default_block(format) if block is None else block
        kp = -(-k // size) * size if isinstance(size, int) and size > 0 else k
        padded = np.zeros((n, kp), dtype=np.float32)
        padded[:, :k] = rows
        q = tensors.quantize(padded, format, block=size, axis=-1, **options)
    except tensors.QuantizeError as e:
        raise BitImageError(str(e)) from None
    nb = kp // size
    if format == "opal":
        return _encode_opal(w, q, n, k, kp, size, extra, protect, policy)
    # real elements per block and each block's base offset
    real = np.minimum(size, k - np.arange(nb) * size)             # per block of a row
    if format == "bfp":
        scale_name, elem_w = "exp", 1 + q.params["m"]
    else:
        scale_name, elem_w = "scale", tensors.element_bits(format)
    block_bits = np.tile(8 + extra + real * elem_w, n)             # (n * nb,)
    base = np.concatenate([[0], np.cumsum(block_bits)[:-1]]).reshape(n, nb)
    j = np.arange(k)
    elem_base = base[:, j // size] + 8 + extra + (j % size)[None, :] * elem_w   # (n, k)
    fields = [_Field(scale_name, "scale", 8, False, base)]
    values = {scale_name: q.scales[scale_name].astype(np.int64)}
    if protect:
        fields.append(_Field("check", "check", extra, False, base + 8))
        values["check"] = secded.encode(values[scale_name])
    if format == "bfp":
        m = q.params["m"]
        fields += [_Field("signs", "element", 1, False, elem_base),
                   _Field("mags", "element", m, False, elem_base + 1)]
        values["signs"] = q.codes["signs"][:, :k].astype(np.int64)
        values["mags"] = q.codes["mags"][:, :k].astype(np.int64)
    else:
        fields.append(_Field("codes", "element", elem_w, False, elem_base))
        values["codes"] = q.codes["codes"][:, :k].astype(np.int64)
    total = int(block_bits.sum())
    image = BitImage(format, tuple(np.shape(w)), np.zeros(total, np.uint8),
                     {"quantizer": q.params, "padded": kp, "protect": protect,
                      "policy": policy}, tuple(fields))
    return _write(image, values)


def _write(image, values):
    for f in image.fields:
        v = values[f.name] & ((1 << f.width) - 1)
        pos = f.offsets[..., None] + np.arange(f.width)
        image.bits[pos] = ((v[..., None] >> np.arange(f.width)) & 1).astype(np.uint8)
    return image


def _encode_opal(w, q, rows, k, kp, n, extra, protect, policy):
    """The OPAL image (module docstring): per block scale [check], stored inliers, then
    (BF16, index) per outlier."""
    bits, kk = q.params["bits"], q.params["k"]
    ib = (n - 1).bit_length()
    nb = kp // n
    codes = q.codes["codes"].reshape(rows, nb, n).astype(np.int64)
    # the quantizer puts the outlier axis before the block axis (axis=-1): (rows, kk, nb)
    idx = np.moveaxis(q.scales["idx"].astype(np.int64), -1, -2)            # (rows, nb, kk)
    outl = np.moveaxis(q.scales["outliers"].astype(np.int64), -1, -2)
    base = np.zeros((rows, nb), np.int64)
    start = np.zeros((rows, nb), np.int64)
    count = np.zeros((rows, nb), np.int64)
    inl_off, inl_val, inl_tgt = [], [], []
    out_off = np.zeros((rows, nb, kk), np.int64)
    pos = 0
    entry = 0
    for r in range(rows):
        for b in range(nb):
            base[r, b] = pos
            pos += 8 + extra
            real = min(n, k - b * n)
            taken = set(idx[r, b].tolist())
            free = [t for t in range(real) if t not in taken]
            start[r, b], count[r, b] = entry, len(free)
            for t in free:
                inl_off.append(pos)
                inl_val.append(codes[r, b, t])
                inl_tgt.append(r * k + b * n + t)
                pos += bits
                entry += 1
            for j in range(kk):
                out_off[r, b, j] = pos
                pos += 16 + ib
    fields = [_Field("scale", "scale", 8, False, base)]
    values = {"scale": q.scales["scale"].astype(np.int64)}
    if protect:
        fields.append(_Field("check", "check", extra, False, base + 8))
        values["check"] = secded.encode(values["scale"])
    fields += [_Field("codes", "element", bits, False, np.array(inl_off, np.int64),
                      np.array(inl_tgt, np.int64)),
               _Field("outliers", "outlier", 16, False, out_off),
               _Field("idx", "index", ib, False, out_off + 16)]
    values.update(codes=np.array(inl_val, np.int64), outliers=outl, idx=idx)
    image = BitImage("opal", tuple(np.shape(w)), np.zeros(pos, np.uint8),
                     {"quantizer": q.params, "padded": kp, "protect": protect,
                      "policy": policy, "inlier_start": start, "inlier_count": count},
                     tuple(fields))
    return _write(image, values)

