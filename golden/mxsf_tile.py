"""Golden model of ``mxsf_tile_buffer``: a store of MX-SAFE 2-D tiles read row- or column-wise
(docs/numerics.md §6, docs/blocks.md "MX-SAFE").

A tile is r x c element codes in row-major order plus one E8M0 scale, exactly as
:func:`golden.mx.quantize_tiled` makes it (a ragged edge tile is padded with code 0). The buffer
holds ``depth`` tiles and answers a stream of requests, in order, one response per request:

- write (``write=1``): tile ``addr`` := (``scale``, ``codes``). The response is the new tile
  read with the request's ``transpose`` and ``part`` (write-through echo).
- read (``write=0``): the response is the tile's ``scale`` and k of its codes: operand ``part``
  of the tile's codes in row-major order (``transpose=0``) or in column-major order
  (``transpose=1``, i.e. the row-major order of the transposed tile). A read's ``scale`` and
  ``codes`` fields are ignored.

Operand p is elements p*k .. p*k + k - 1 of that order; r * c must be k times a power of two
(see :func:`tile_geometry`). A tile never written reads as zeros: scale code 0 and codes 0, which
is what ``quantize`` gives an all-zero block (docs/numerics.md §4 rule 2).

Hence a transposed read of a tile written from ``quantize_tiled(X, (r, c))`` at tile (i, j) is
the tile (j, i) of ``quantize_tiled(X.T, (c, r))``: the backward pass reads the forward
quantization instead of re-quantizing.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_int
from .formats import E8M0, MX_ELEMENTS, check_element
from .mx import quantize_tiled

__all__ = ["tile_buffer", "tile_stimulus", "tile_space", "tile_geometry", "operand_order",
           "TileGeometry", "ELEMENTS", "ROWS", "COLS", "DEPTH", "K", "ELEM", "STAGES",
           "MAX_SIDE", "MAX_K", "MAX_DEPTH", "MAX_STAGES"]

ELEMENTS = MX_ELEMENTS
#: defaults: an 8 x 4 tile (32 elements, one k = 32 operand), 8 tiles, one pipeline register
ROWS, COLS, DEPTH, K, ELEM, STAGES = 8, 4, 8, 32, "mxsf", 1
MAX_SIDE = 32       # rows, cols in 1..32: a tile of at most 1024 elements
MAX_K = 64          # the buffer's own bound (mx_dot takes k up to 128)
MAX_DEPTH = 256
MAX_STAGES = 2      # 0: combinational read; 1: request register; 2: + output register


class TileGeometry(NamedTuple):
    """Validated parameters and the widths they imply."""

    rows: int
    cols: int
    depth: int
    k: int
    elem: str
    stages: int
    width: int       # bits per element code
    parts: int       # k-element operands per tile (a power of two)
    addr_bits: int   # log2(depth)
    part_bits: int   # log2(parts)

    @property
    def size(self) -> int:
        return self.rows * self.cols


def _pow2s(lo, hi):
    out, v = [], 1
    while v <= hi:
        if v >= lo:
            out.append(v)
        v *= 2
    return out


def tile_geometry(rows=ROWS, cols=COLS, depth=DEPTH, k=K, elem=ELEM, stages=STAGES):
    """Check the parameters of ``mxsf_tile_buffer`` (golden model and generator alike).

    Raises
    ------
    TypeError
        A non-integer ``rows``, ``cols``, ``depth``, ``k`` or ``stages``.
    ValueError
        A value out of range, ``depth`` not a power of two, ``elem`` not an MX element format,
        or ``rows * cols`` not k times a power of two. Every message names the parameter, the
        value and what is allowed.
    """
    check_int("rows", rows, 1, MAX_SIDE)
    check_int("cols", cols, 1, MAX_SIDE)
    check_int("k", k, 1, MAX_K)
    fmt = check_element("elem", elem, ELEMENTS)
    check_int("stages", stages, 0, MAX_STAGES)
    depths = _pow2s(2, MAX_DEPTH)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in depths:
        err = TypeError if isinstance(depth, bool) or not isinstance(depth, int) else ValueError
        raise err(f"depth must be a power of two in 2..{MAX_DEPTH} (so every addr value names "
                  f"a tile; one tile needs no address), not {depth!r}")
    size = rows * cols
    sizes = [k * p for p in _pow2s(1, MAX_SIDE * MAX_SIDE // k)]
    if size not in sizes:
        raise ValueError(
            f"rows * cols must be k times a power of two (k={k}: "
            f"{', '.join(map(str, sizes)) or 'none up to ' + str(MAX_SIDE * MAX_SIDE)}), "
            f"so every operand is a full k-element block and every part value names one, "
            f"not {rows} * {cols} = {size}")
    parts = size // k
    return TileGeometry(rows, cols, depth, k, fmt.name, stages, fmt.width, parts,
                        (depth - 1).bit_length(), (parts - 1).bit_length())


def operand_order(rows=ROWS, cols=COLS, k=K):
    """Stored element index of each operand lane: int64 array (2, parts, k), indexed
    [transpose, part, lane]. Stored index = i * cols + j for element (i, j) of the tile."""
    grid = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    return np.stack([grid.ravel(), grid.T.ravel()]).reshape(2, rows * cols // k, k)


def _field(inputs, name, n, lo, hi, shape=()):
    v = np.asarray(inputs[name], dtype=np.int64) if name in inputs else None
    if v is None:
        raise KeyError(f"request field {name!r} is missing")
    if v.shape != (n,) + shape:
        raise ValueError(f"request field {name!r} has shape {v.shape}, expected {(n,) + shape}")
    if v.size and (v.min() < lo or v.max() > hi):
        raise ValueError(f"request field {name!r} must hold integers in {lo}..{hi}")
    return v


def tile_buffer(inputs, rows=ROWS, cols=COLS, depth=DEPTH, k=K, elem=ELEM, stages=STAGES):
    """Responses of ``mxsf_tile_buffer`` to a request stream (see the module docstring).

    Parameters
    ----------
    inputs : dict
        Request fields, one row per request: ``write``, ``addr``, ``transpose``, ``part`` (only
        when ``rows * cols > k``), ``scale``, ``codes`` (n, rows * cols).
    rows, cols, depth, k, elem, stages
        As :func:`tile_geometry`; ``stages`` changes only the latency.

    Returns
    -------
    dict: ``scale`` (n,) and ``codes`` (n, k), int64.

    The state is the memory the requests build up in order; equivalently each request sees the
    last write to its address at or before itself (a write sees itself), which is how this is
    computed: one running maximum over request indices per address, so the loop runs over
    addresses, not requests. Exact: codes are only moved, never computed.
    """
    g = tile_geometry(rows, cols, depth, k, elem, stages)
    n = len(np.asarray(inputs["write"]))
    write = _field(inputs, "write", n, 0, 1)
    addr = _field(inputs, "addr", n, 0, depth - 1)
    transpose = _field(inputs, "transpose", n, 0, 1)
    part = _field(inputs, "part", n, 0, g.parts - 1) if g.parts > 1 else np.zeros(n, np.int64)
    scale = _field(inputs, "scale", n, 0, (1 << E8M0.width) - 1)
    codes = _field(inputs, "codes", n, 0, (1 << g.width) - 1, (g.size,))

    idx = np.arange(n, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    for a in np.unique(addr).tolist():
        here = addr == a
        seen = np.maximum.accumulate(np.where(here & (write == 1), idx, -1))
        last[here] = seen[here]
    have = last >= 0
    src = np.maximum(last, 0)
    tile_scale = np.where(have, scale[src], 0)
    tile_codes = np.where(have[:, None], codes[src], 0)
    lanes = operand_order(rows, cols, k)[transpose, part]          # (n, k)
    return {"scale": tile_scale.astype(np.int64),
            "codes": np.take_along_axis(tile_codes, lanes, axis=1).astype(np.int64)}


def tile_space(rows=ROWS, cols=COLS, depth=DEPTH, k=K, elem=ELEM, stages=STAGES):
    """A request carries a whole tile (>= 8 * k bits): never exhaustively testable."""
    return None


# ---------------------------------------------------------------------------------------------
# Stimulus
# ---------------------------------------------------------------------------------------------

_F32_MAX = float(np.finfo(np.float32).max)


def random_tensor(rng, shape, tile):
    """A 2-D FP32 tensor whose tiles have different characters, as training tensors do.

    Per tile: gaussian values times a random power of two (every binade, FP32 subnormals
    included), all zeros (with negative zeros), FP32 subnormals only, values near ±FP32 max,
    a one-hot tile, a few NaN/±Inf elements, or values with a wide exponent spread. ``shape``
    need not be a multiple of ``tile`` (the edge tiles are cut).
    """
    r, c = tile
    nr, nc = -(-shape[0] // r), -(-shape[1] // c)
    kind = rng.choice(7, (nr, nc), p=[0.42, 0.08, 0.08, 0.08, 0.1, 0.08, 0.16])
    k = kind[:, :, None, None]
    g = rng.standard_normal((nr, nc, r, c))
    with np.errstate(over="ignore", under="ignore"):
        e = rng.integers(-135, 125, (nr, nc, 1, 1))
        gauss = g * np.ldexp(1.0, e)
        spread = g * np.ldexp(1.0, rng.integers(-140, 120, (nr, nc, r, c)))
        sub = g * 2.0**-135
        huge = np.sign(g) * _F32_MAX * rng.uniform(0.5, 1.0, (nr, nc, r, c))
        hot = np.zeros((nr, nc, r, c))
        pos = rng.integers(0, r * c, (nr, nc))
        hot.reshape(nr, nc, r * c)[np.arange(nr)[:, None], np.arange(nc), pos] = \
            rng.standard_normal((nr, nc)) * 2.0 ** rng.integers(-60, 60, (nr, nc))
        zeros = np.where(rng.random((nr, nc, r, c)) < 0.5, -0.0, 0.0)
        special = np.where(rng.random((nr, nc, r, c)) < 0.1,
                           rng.choice([np.nan, np.inf, -np.inf], (nr, nc, r, c)), gauss)
        v = np.select([k == 0, k == 1, k == 2, k == 3, k == 4, k == 5, k == 6],
                      [gauss, zeros, sub, huge, hot, special, spread])
        v = v.astype(np.float32)
    v = np.where(np.isinf(v) & (k != 5), np.float32(0), v)   # FP32 overflow only where meant
    return v.transpose(0, 2, 1, 3).reshape(nr * r, nc * c)[: shape[0], : shape[1]]


def tiles_of(scales, codes, tile):
    """``quantize_tiled`` output -> (scales (t,), codes (t, r * c)) in row-major tile order,
    each tile's codes row-major, ragged edges padded with code 0 (the stored form)."""
    r, c = tile
    nr, nc = scales.shape
    pad = np.zeros((nr * r, nc * c), dtype=np.int64)
    pad[: codes.shape[0], : codes.shape[1]] = codes
    t = pad.reshape(nr, r, nc, c).transpose(0, 2, 1, 3).reshape(nr * nc, r * c)
    return scales.reshape(-1).astype(np.int64), t


def _tile_pool(rng, g, count):
    """At least ``count`` quantized tiles from ``quantize_tiled`` of random tensors (some with
    ragged edges), with every rounding and scale rounding."""
    ss, cs = [], []
    total = 0
    while total < count:
        a, b = rng.integers(1, 5, 2)
        shape = (int(a) * g.rows - int(rng.integers(0, g.rows)) * (rng.random() < 0.3),
                 int(b) * g.cols - int(rng.integers(0, g.cols)) * (rng.random() < 0.3))
        x = random_tensor(rng, shape, (g.rows, g.cols))
        s, c = quantize_tiled(x, g.elem, (g.rows, g.cols),
                              rounding=str(rng.choice(["rne", "rna", "rtz"])),
                              scale_rounding=str(rng.choice(["floor", "ceil"])))
        s, c = tiles_of(s, c, (g.rows, g.cols))
        ss.append(s)
        cs.append(c)
        total += len(s)
    return np.concatenate(ss), np.concatenate(cs)


class _Requests:
    """Request rows built in order; a read carries random junk in its write-only fields."""

    def __init__(self, rng, g, pool):
        self.rng, self.g = rng, g
        self.pool_s, self.pool_c = pool
        self.rows = []
        self.written = np.zeros(g.depth, dtype=bool)
        self.next_tile = 0

    def _tile(self):
        j = self.next_tile % len(self.pool_s)
        self.next_tile += 1
        return int(self.pool_s[j]), self.pool_c[j]

    def _orient(self, transpose, part):
        t = int(self.rng.integers(0, 2)) if transpose is None else transpose
        p = int(self.rng.integers(0, self.g.parts)) if part is None else part
        return t, p

    def write(self, addr, transpose=None, part=None, tile=None):
        t, p = self._orient(transpose, part)
        s, c = self._tile() if tile is None else tile
        self.rows.append((1, addr, t, p, s, c))
        self.written[addr] = True

    def read(self, addr, transpose=None, part=None):
        t, p = self._orient(transpose, part)
        junk = self.rng.integers(0, 1 << self.g.width, self.g.size)
        self.rows.append((0, addr, t, p, int(self.rng.integers(0, 256)), junk))

    def sweep(self, addr):
        """every (transpose, part) of one tile, back to back"""
        for t in (0, 1):
            for p in range(self.g.parts):
                self.read(addr, t, p)

    def fields(self):
        w, a, t, p, s, c = zip(*self.rows) if self.rows else ((),) * 6
        g = self.g
        out = {"write": np.array(w, np.int64), "addr": np.array(a, np.int64),
               "transpose": np.array(t, np.int64)}
        if g.parts > 1:
            out["part"] = np.array(p, np.int64)
        out["scale"] = np.array(s, np.int64)
        out["codes"] = np.array(c, np.int64).reshape(len(self.rows), g.size)
        return out


def tile_stimulus(rng, n, exhaustive=False, rows=ROWS, cols=COLS, depth=DEPTH, k=K, elem=ELEM,
                  stages=STAGES):
    """A realistic request stream: ``n`` random requests, then a fixed corner sequence.

    Tiles written are ``quantize_tiled`` tiles of random tensors (:func:`random_tensor`: zero,
    subnormal, huge, NaN/Inf, one-hot, wide-spread and ordinary tiles; ragged edges; every
    element and scale rounding), so codes and scales are those a real producer writes.

    Random part: it opens with reads of unwritten tiles (memory starts empty), then a random
    mix of single writes, reads of any tile in either orientation and any part (unwritten
    tiles stay possible), read-after-write to the same address in the next beat, write-after-
    write then read, bursts of back-to-back writes filling consecutive addresses, read sweeps
    of one tile in every (transpose, part), and back-to-back reads of one tile in both
    orientations. Reads carry random junk in ``scale``/``codes`` (ignored by the buffer);
    writes carry random ``transpose``/``part`` (they select the echo).

    Corner sequence (after the random part): every address written back to back with tiles of
    one tensor holding a zero, a NaN/Inf, an FP32-max and a subnormal tile; every address read
    in every (transpose, part); per address a write immediately read back in both
    orientations; per address two writes then a read.

    Returns
    -------
    dict of request fields (see :func:`tile_buffer`).
    """
    if exhaustive:
        raise ValueError("mxsf_tile_buffer has no exhaustive input space "
                         "(a request carries a whole tile)")
    g = tile_geometry(rows, cols, depth, k, elem, stages)
    pool = _tile_pool(rng, g, max(16, n // 3 + 4 * g.depth))
    q = _Requests(rng, g, pool)
    d = g.depth

    # reads of unwritten tiles first: the memory starts empty
    for a in rng.permutation(d)[: max(1, min(d, n // 8))].tolist():
        q.read(a)
    ops = ("write", "read", "raw", "waw", "burst", "sweep", "both")
    prob = (0.28, 0.32, 0.12, 0.05, 0.07, 0.06, 0.10)
    while len(q.rows) < n:
        op = ops[rng.choice(len(ops), p=prob)]
        a = int(rng.integers(0, d))
        if op == "write":
            q.write(a)
        elif op == "read":
            unwritten = np.flatnonzero(~q.written)
            if len(unwritten) and rng.random() < 0.3:
                a = int(rng.choice(unwritten))
            q.read(a)
        elif op == "raw":
            q.write(a)
            q.read(a)
        elif op == "waw":
            q.write(a)
            q.write(a)
            q.read(a)
        elif op == "burst":
            for j in range(int(rng.integers(2, d + 2))):
                q.write((a + j) % d)
        elif op == "sweep":
            q.sweep(a)
        else:
            t = int(rng.integers(0, 2))
            q.read(a, t)
            q.read(a, 1 - t)
    del q.rows[n:]

    # corner sequence
    shape = (g.rows * 2, g.cols * 2) if g.size * 4 <= 4096 else (g.rows, g.cols)
    x = random_tensor(rng, shape, (g.rows, g.cols))
    x[: g.rows, : g.cols] = 0                                    # zero tile (with -0)
    x[1, 0] = -0.0
    if x.shape[1] > g.cols:
        x[: g.rows, g.cols: 2 * g.cols] = rng.standard_normal((g.rows, g.cols))
        x[g.rows - 1, g.cols] = np.nan                          # NaN tile
        x[0, 2 * g.cols - 1] = -np.inf
    if x.shape[0] > g.rows:
        x[g.rows:, : g.cols] = np.float32(_F32_MAX)              # FP32-max tile
        x[g.rows:, g.cols:] = np.float32(2.0**-140)              # subnormal tile
        x[-1, -1] = np.float32(-(2.0**-149))
    s, c = tiles_of(*quantize_tiled(x, g.elem, (g.rows, g.cols)), (g.rows, g.cols))
    corner = [(int(s[j % len(s)]), c[j % len(s)]) for j in range(d)]
    for a in range(d):
        q.write(a, tile=corner[a])
    for a in range(d):
        q.sweep(a)
    for a in range(d):
        q.write(a, tile=corner[(a + 1) % d])
        q.read(a, 1)
        q.read(a, 0)
    for a in range(d):
        q.write(a)
        q.write(a, tile=corner[(a + 2) % d])
        q.read(a)
    return q.fields()
