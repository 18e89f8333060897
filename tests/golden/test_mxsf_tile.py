"""MX-SAFE 2-D tiles (docs/numerics.md §6): ``golden.mx.quantize_tiled`` and the golden model of
``mxsf_tile_buffer`` (``golden.mxsf_tile``).

quantize_tiled: hypothesis over shapes (ragged edges included), tiles 1..9 x 1..9, every MX
element format and an MXSF variant, values with zeros, subnormals, huge values and NaN/Inf in
some tiles: the exact transpose property, each tile = ``quantize`` of its elements as one block
(and the exact Fraction reference of tests/golden/test_mx.py), dequantize_tiled = per-tile
dequantize; and 1-D blocks demonstrably lack the transpose property.

Buffer model: against quantize_tiled (write every tile of X, read every tile in both
orientations: plain reads are the tiles of quantize_tiled(X), transposed reads those of
quantize_tiled(X.T)), against a plain loop-over-requests reference, the ordering rules, the
stimulus' coverage and the parameter checks.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from golden import mx
from golden import mxsf_tile as gt
from golden.formats import MX_ELEMENTS, decode, get_format
from tests.golden.test_mx import SPEC, ref_block

ELEMS = MX_ELEMENTS + ("mxsf_b6", "mxsf_b10", "mxsf_e2m3_b4")
F32_MAX = float(np.finfo(np.float32).max)

# ---------------------------------------------------------------------------------------------
# quantize_tiled
# ---------------------------------------------------------------------------------------------

_values = st.one_of(
    st.floats(-2.0**20, 2.0**20, width=32),
    st.floats(width=32, allow_nan=False, allow_infinity=False),      # every binade
    st.floats(-2.0**-126, 2.0**-126, width=32),                      # FP32 subnormals, zeros
    st.sampled_from([0.0, -0.0, 2.0**-149, -(2.0**-149)]),
    st.floats(2.0**123, F32_MAX, width=32).map(lambda v: -v if int(v) % 3 == 0 else v),
)


@st.composite
def tiled_cases(draw):
    """(x float32 (R, C), elem, (r, c), rounding, scale_rounding); NaN/±Inf in at most 3
    elements, so most tiles are finite and a few are NaN tiles."""
    rows, cols = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    r, c = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    x = draw(hnp.arrays(np.float32, (rows, cols), elements=_values))
    # a per-row power of two makes tiles of very different magnitudes
    shift = draw(st.lists(st.integers(-30, 30), min_size=rows, max_size=rows))
    with np.errstate(over="ignore", under="ignore"):
        x = (x * np.ldexp(np.float32(1), np.array(shift))[:, None]).astype(np.float32)
    x = np.where(np.isinf(x), np.float32(F32_MAX), x)
    for i, j, v in draw(st.lists(st.tuples(st.integers(0, rows - 1), st.integers(0, cols - 1),
                                           st.sampled_from([np.nan, np.inf, -np.inf])),
                                 max_size=3)):
        x[i, j] = v
    elem = draw(st.sampled_from(ELEMS))
    return (x, elem, (r, c), draw(st.sampled_from(mx.QUANT_ROUNDINGS)),
            draw(st.sampled_from(mx.SCALE_ROUNDINGS)))


def _tile_slices(shape, tile):
    (R, C), (r, c) = shape, tile
    for i in range(-(-R // r)):
        for j in range(-(-C // c)):
            yield i, j, (slice(i * r, (i + 1) * r), slice(j * c, (j + 1) * c))


@settings(max_examples=300, deadline=None)
@given(tiled_cases())
def test_transpose_property_is_exact(case):
    x, elem, (r, c), rounding, scale_rounding = case
    s, q = mx.quantize_tiled(x, elem, (r, c), rounding, scale_rounding)
    st_, qt = mx.quantize_tiled(x.T, elem, (c, r), rounding, scale_rounding)
    assert s.shape == (-(-x.shape[0] // r), -(-x.shape[1] // c)) and q.shape == x.shape
    assert s.dtype == q.dtype == np.uint8
    np.testing.assert_array_equal(st_, s.T)
    np.testing.assert_array_equal(qt, q.T)


@settings(max_examples=200, deadline=None)
@given(tiled_cases())
def test_each_tile_is_one_mx_block(case):
    """Tile (i, j) = ``quantize`` of its elements as one block, in row-major or column-major
    order (same scale, the codes permuted alike); ragged edge tiles hold only their elements."""
    x, elem, tile, rounding, scale_rounding = case
    s, q = mx.quantize_tiled(x, elem, tile, rounding, scale_rounding)
    for i, j, sl in _tile_slices(x.shape, tile):
        for order in "CF":
            v = x[sl].ravel(order)
            bs, bq = mx.quantize(v[None], elem, v.size, -1, rounding, scale_rounding)
            assert bs[0, 0] == s[i, j], (i, j, order)
            np.testing.assert_array_equal(bq[0], q[sl].ravel(order), err_msg=f"{(i, j, order)}")


@settings(max_examples=60, deadline=None)
@given(tiled_cases().filter(lambda case: case[1] in SPEC))
def test_each_tile_matches_the_exact_reference(case):
    """Independent of ``golden.mx``: the exact Fraction model of docs/numerics.md §4 per tile."""
    x, elem, tile, rounding, scale_rounding = case
    s, q = mx.quantize_tiled(x, elem, tile, rounding, scale_rounding)
    for i, j, sl in _tile_slices(x.shape, tile):
        scale, codes = ref_block(list(x[sl].ravel()), elem, rounding, scale_rounding)
        assert (int(s[i, j]), q[sl].ravel().tolist()) == (scale, codes), (i, j)


@settings(max_examples=200, deadline=None)
@given(tiled_cases())
def test_dequantize_tiled_is_dequantize_per_tile(case):
    x, elem, tile, rounding, scale_rounding = case
    s, q = mx.quantize_tiled(x, elem, tile, rounding, scale_rounding)
    d = mx.dequantize_tiled(s, q, elem, tile)
    assert d.shape == x.shape and d.dtype == np.float64
    for i, j, sl in _tile_slices(x.shape, tile):
        v = mx.dequantize(s[i:i + 1, j:j + 1], q[sl].ravel()[None], elem, q[sl].size)
        np.testing.assert_array_equal(d[sl].ravel(), v[0], err_msg=f"tile {(i, j)}")
        # a NaN/Inf tile is a NaN tile; any other tile is finite
        assert np.isnan(d[sl]).all() == (~np.isfinite(x[sl])).any()
        assert np.isnan(d[sl]).any() == (~np.isfinite(x[sl])).any()
    # the transposed tensor's quantization dequantizes to the transposed values
    np.testing.assert_array_equal(
        mx.dequantize_tiled(*mx.quantize_tiled(x.T, elem, tile[::-1], rounding, scale_rounding),
                            elem, tile[::-1]), d.T)


def test_tiled_corner_tiles():
    """Deterministic corners with 8 x 4 MXSF tiles on a ragged 17 x 9 tensor: a zero tile with
    a -0, a NaN tile, a +Inf and a -Inf tile, a subnormal tile (scale clamped), FP32-max tiles
    on the one-row bottom edge and a zero one-column edge tile."""
    x = np.zeros((17, 9), np.float32)
    x[1, 0] = -0.0
    x[0:8, 4:8] = 1.5
    x[0, 4] = np.nan
    x[8, 0] = np.inf
    x[3, 8] = -np.inf
    x[8:16, 4:8] = 2.0**-140
    x[16, :] = F32_MAX
    s, q = mx.quantize_tiled(x, "mxsf", (8, 4))
    assert s.shape == (3, 3) and q.shape == (17, 9)
    assert s[0, 0] == 0 and q[1, 0] == 0x80 and (q[0:8, 0:4].sum() == 0x80)
    assert s[0, 1] == 255 and (q[0:8, 4:8] == 0).all()        # NaN tile: codes 0
    assert s[1, 0] == 255 and s[0, 2] == 255                  # +Inf tile, -Inf tile
    assert s[1, 1] == 0 and (q[8:16, 4:8] == 0).all()         # E clamped at -127, underflow
    assert s[1, 2] == 0                                       # zero edge tile
    assert (s[2] == 127 + 127 - 2).all()                      # floor(log2 max) - emax_elem
    st_, qt = mx.quantize_tiled(x.T, "mxsf", (4, 8))
    assert (st_ == s.T).all() and (qt == q.T).all()


def test_one_dimensional_blocks_lack_the_transpose_property():
    """The property is not trivially true: with 1-D blocks along rows, the transposed tensor's
    quantization is not the transpose of the tensor's quantization (an element shares a scale
    with its row in one and with its column in the other), while 2-D tiles keep it."""
    # the small element shares a block with 2**8 along its row and with 2**-8 along its column
    x = np.array([[2.0**8, 1.125 * 2.0**-8], [1.125 * 2.0**-8, 2.0**-8]], np.float32)
    s, q = mx.quantize(x, "mxsf", 2, axis=-1)
    st_, qt = mx.quantize(x.T, "mxsf", 2, axis=-1)
    assert (qt.T != q).any()
    v, vt = mx.dequantize(s, q, "mxsf", 2), mx.dequantize(st_, qt, "mxsf", 2)
    assert v[0, 1] != vt.T[0, 1]           # different values: backward would see other numbers
    assert v[0, 1] == 0.0 and vt.T[0, 1] == 1.125 * 2.0**-8
    s2, q2 = mx.quantize_tiled(x, "mxsf", (2, 2))
    st2, qt2 = mx.quantize_tiled(x.T, "mxsf", (2, 2))
    assert (qt2.T == q2).all() and (st2.T == s2).all()
    # and on ordinary data with k = 32 blocks versus 8 x 4 tiles
    rng = np.random.default_rng(0)
    y = (rng.standard_normal((32, 32)) * 2.0 ** rng.integers(-8, 8, (32, 32))).astype(np.float32)
    for elem in ("mxsf", "e4m3", "mxint8"):
        q1 = mx.quantize(y, elem, 32, axis=-1)[1]
        q1t = mx.quantize(y.T, elem, 32, axis=-1)[1]
        assert (q1t.T != q1).mean() > 0.05, elem
        q2 = mx.quantize_tiled(y, elem, (8, 4))[1]
        assert (mx.quantize_tiled(y.T, elem, (4, 8))[1].T == q2).all()


def test_quantize_tiled_rejects_bad_arguments():
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match=r"tile must be a pair \(r, c\) of positive integers"):
        mx.quantize_tiled(x, "mxsf", (0, 4))
    with pytest.raises(ValueError, match="x must be a 2-D array, not 3-D"):
        mx.quantize_tiled(np.zeros((2, 2, 2), np.float32), "mxsf")
    with pytest.raises(ValueError, match="format must be one of"):
        mx.quantize_tiled(x, "bf16")
    with pytest.raises(ValueError, match=r"scale_codes must have shape \(1, 1\)"):
        mx.dequantize_tiled(np.zeros((2, 2)), np.zeros((4, 4)), "mxsf", (8, 4))


# ---------------------------------------------------------------------------------------------
# the buffer's golden model
# ---------------------------------------------------------------------------------------------

def scenario(x, tile=(8, 4), k=32, elem="mxsf", depth=None):
    """Requests that write every tile of ``quantize_tiled(x, tile)`` (tile (i, j) at address
    i * nc + j, back to back) and then read every tile in both orientations and every part;
    and the responses quantize_tiled itself predicts: a plain read of (i, j) = tile (i, j) of
    quantize_tiled(x, (r, c)) row-major, a transposed read = tile (j, i) of
    quantize_tiled(x.T, (c, r)) row-major (ragged tiles zero-padded), operand ``part``.

    Returns (params, inputs, expected)."""
    r, c = tile
    s, q = mx.quantize_tiled(x, elem, tile)
    st_, qt = mx.quantize_tiled(x.T, elem, (c, r))
    nr, nc = s.shape
    depth = depth or max(2, 1 << (nr * nc - 1).bit_length())
    parts = r * c // k
    width = get_format(elem).width

    def padded(codes, shape_tiles, t):
        out = np.zeros((shape_tiles[0] * t[0], shape_tiles[1] * t[1]), np.int64)
        out[: codes.shape[0], : codes.shape[1]] = codes
        return out

    qp, qtp = padded(q, (nr, nc), tile), padded(qt, (nc, nr), (c, r))
    rows = []   # write, addr, transpose, part, scale, codes ; expected scale, codes
    for i in range(nr):
        for j in range(nc):
            codes = qp[i * r:(i + 1) * r, j * c:(j + 1) * c].ravel()
            rows.append((1, i * nc + j, 0, 0, int(s[i, j]), codes,
                         int(s[i, j]), codes[:k]))
    junk = np.random.default_rng(1).integers(0, 1 << width, r * c)
    for i in range(nr):
        for j in range(nc):
            plain = qp[i * r:(i + 1) * r, j * c:(j + 1) * c].ravel()
            trans = qtp[j * c:(j + 1) * c, i * r:(i + 1) * r].ravel()
            for p in range(parts):
                rows.append((0, i * nc + j, 0, p, 77, junk, int(s[i, j]), plain[p * k:(p + 1) * k]))
                rows.append((0, i * nc + j, 1, p, 77, junk, int(st_[j, i]),
                             trans[p * k:(p + 1) * k]))
    w, a, t, p, sc, cd, es, ec = zip(*rows)
    inputs = {"write": np.array(w), "addr": np.array(a), "transpose": np.array(t)}
    if parts > 1:
        inputs["part"] = np.array(p)
    inputs.update(scale=np.array(sc), codes=np.array(cd))
    expected = {"scale": np.array(es), "codes": np.array(ec)}
    params = {"rows": r, "cols": c, "depth": depth, "k": k, "elem": elem}
    return params, inputs, expected


SCENARIOS = [  # (tensor shape, tile, k, elem)
    ((16, 16), (8, 4), 32, "mxsf"),
    ((16, 16), (4, 8), 32, "mxsf"),
    ((13, 10), (8, 4), 32, "mxsf"),       # ragged: zero-padded edge tiles
    ((32, 16), (16, 8), 32, "mxsf"),      # 4 operands per tile
    ((24, 24), (8, 8), 64, "e4m3"),
    ((12, 12), (4, 4), 16, "e2m1"),
    ((9, 64), (1, 32), 32, "mxint8"),     # a row vector tile: its transpose is itself
]


@pytest.mark.parametrize("shape, tile, k, elem", SCENARIOS)
@pytest.mark.parametrize("seed", range(3))
def test_buffer_reads_are_the_tiles_of_quantize_tiled(shape, tile, k, elem, seed):
    x = gt.random_tensor(np.random.default_rng(seed), shape, tile)
    x[0, 0], x[-1, -1] = np.nan, 0       # a NaN tile; the last (maybe ragged) tile zero-padded
    params, inputs, expected = scenario(x, tile, k, elem)
    got = gt.tile_buffer(inputs, **params)
    np.testing.assert_array_equal(got["scale"], expected["scale"])
    np.testing.assert_array_equal(got["codes"], expected["codes"])
    assert (expected["scale"] == 255).any()


def reference(inputs, rows, cols, depth, k, elem, stages):
    """Plain model: a list of tiles, one request at a time (independent of the vectorized one)."""
    mem = [(0, [0] * (rows * cols)) for _ in range(depth)]
    out_s, out_c = [], []
    n = len(inputs["write"])
    for t in range(n):
        a = int(inputs["addr"][t])
        if inputs["write"][t]:
            mem[a] = (int(inputs["scale"][t]), [int(v) for v in inputs["codes"][t]])
        scale, codes = mem[a]
        grid = [codes[i * cols:(i + 1) * cols] for i in range(rows)]
        if inputs["transpose"][t]:
            order = [grid[i][j] for j in range(cols) for i in range(rows)]
        else:
            order = [grid[i][j] for i in range(rows) for j in range(cols)]
        p = int(inputs["part"][t]) if "part" in inputs else 0
        out_s.append(scale)
        out_c.append(order[p * k:(p + 1) * k])
    return {"scale": np.array(out_s, np.int64).reshape(n),
            "codes": np.array(out_c, np.int64).reshape(n, k)}


PARAMS = [
    {},
    {"depth": 2},
    {"rows": 16, "cols": 8, "depth": 4},
    {"rows": 4, "cols": 4, "k": 16, "elem": "e2m1", "depth": 16},
    {"rows": 8, "cols": 8, "k": 16, "elem": "e3m2"},
    {"rows": 1, "cols": 32, "depth": 64},
    {"rows": 32, "cols": 1, "k": 8, "elem": "mxint8"},
]


@pytest.mark.parametrize("params", PARAMS)
def test_vectorized_model_matches_loop_reference(params):
    p = {**dict(rows=8, cols=4, depth=8, k=32, elem="mxsf", stages=1), **params}
    inputs = gt.tile_stimulus(np.random.default_rng(5), 3000, **p)
    got = gt.tile_buffer(inputs, **p)
    exp = reference(inputs, **p)
    np.testing.assert_array_equal(got["scale"], exp["scale"])
    np.testing.assert_array_equal(got["codes"], exp["codes"])


def _req(write, addr, transpose=0, scale=0, codes=None, size=32):
    return (write, addr, transpose, scale, list(codes) if codes is not None else [0] * size)


def _fields(reqs):
    w, a, t, s, c = zip(*reqs)
    return {"write": np.array(w), "addr": np.array(a), "transpose": np.array(t),
            "scale": np.array(s), "codes": np.array(c)}


def test_ordering_rules():
    """Unwritten tiles read as zeros; a write echoes the new tile in its request's orientation;
    a read right after a write sees it; the last of two writes wins; reads ignore their
    scale/codes fields."""
    a_codes, b_codes = np.arange(32) + 100, np.arange(32)[::-1] + 1
    trans = np.arange(32).reshape(8, 4).T.ravel()
    reqs = [
        _req(0, 3, 0, 200, np.full(32, 9)),   # unwritten: zeros, junk ignored
        _req(0, 3, 1),
        _req(1, 3, 1, 130, a_codes),           # write echo, transposed
        _req(0, 3, 0),                         # read after write
        _req(1, 3, 0, 131, b_codes),           # write after write
        _req(1, 5, 0, 9, a_codes),
        _req(0, 3, 1),
        _req(0, 5, 0, 255, b_codes),
        _req(0, 4, 1),                         # still unwritten
    ]
    out = gt.tile_buffer(_fields(reqs))
    assert out["scale"].tolist() == [0, 0, 130, 130, 131, 9, 131, 9, 0]
    exp = [np.zeros(32), np.zeros(32), a_codes[trans], a_codes, b_codes, a_codes,
           b_codes[trans], a_codes, np.zeros(32)]
    np.testing.assert_array_equal(out["codes"], np.array(exp))
    empty = gt.tile_buffer({f: v[:0] for f, v in _fields(reqs).items()})
    assert empty["scale"].shape == (0,) and empty["codes"].shape == (0, 32)


def test_operand_order():
    o = gt.operand_order(8, 4, 32)
    assert o.shape == (2, 1, 32)
    assert o[0, 0].tolist() == list(range(32))
    assert o[1, 0, :9].tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 1]
    o = gt.operand_order(16, 8, 32)
    assert o.shape == (2, 4, 32)
    assert o[1, 1, 0] == 2 and o[1, 1, 16] == 3     # part 1 transposed = columns 2 and 3
    assert o[0, 3, 31] == 127


def test_stimulus_is_realistic_and_covers_the_orderings():
    g = gt.tile_geometry(16, 8, 8, 32, "mxsf", 1)
    inputs = gt.tile_stimulus(np.random.default_rng(2), 4000, rows=16, cols=8)
    again = gt.tile_stimulus(np.random.default_rng(2), 4000, rows=16, cols=8)
    for f in inputs:
        np.testing.assert_array_equal(inputs[f], again[f])     # seeded, reproducible
    w, a, t, p = inputs["write"], inputs["addr"], inputs["transpose"], inputs["part"]
    n = len(w)
    assert n > 4000 and set(inputs) == {"write", "addr", "transpose", "part", "scale", "codes"}
    raw = (w[:-1] == 1) & (w[1:] == 0) & (a[:-1] == a[1:])
    waw = (w[:-1] == 1) & (w[1:] == 1) & (a[:-1] == a[1:])
    burst = (w[:-1] == 1) & (w[1:] == 1) & (a[1:] == (a[:-1] + 1) % 8)
    assert raw.sum() > 100 and waw.sum() > 20 and burst.sum() > 100
    reads = w == 0
    for tt in (0, 1):
        for pp in range(g.parts):
            assert (reads & (t == tt) & (p == pp)).sum() > 50
    written = np.zeros(8, bool)
    unwritten_reads = 0
    for j in range(n):
        unwritten_reads += (not w[j]) and not written[a[j]]
        written[a[j]] |= bool(w[j])
    assert unwritten_reads >= 8
    # the tiles written are quantize_tiled tiles: NaN tiles, zero tiles, varied scales
    ws = inputs["scale"][w == 1]
    assert (ws == 255).any() and (ws == 0).any() and len(np.unique(ws)) > 50
    # and reads carry junk in the write-only fields
    assert len(np.unique(inputs["scale"][reads])) > 100
    # every write's tile dequantizes to finite values unless its scale is NaN
    wc = inputs["codes"][w == 1]
    vals = mx.dequantize(ws[:, None], wc, "mxsf", 128)
    assert np.isfinite(vals[ws != 255]).all()
    assert (decode(wc[ws != 255], "mxsf") != 0).any()


def test_stimulus_has_no_exhaustive_mode_and_space_is_none():
    assert gt.tile_space() is None
    with pytest.raises(ValueError, match="no exhaustive input space"):
        gt.tile_stimulus(np.random.default_rng(0), 10, exhaustive=True)
    assert len(gt.tile_stimulus(np.random.default_rng(0), 0)["write"]) == 8 * (1 + 2 + 3 + 3)


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"rows": 0}, ValueError, "rows must be an integer in 1..32, not 0"),
    ({"cols": 33}, ValueError, "cols must be an integer in 1..32, not 33"),
    ({"depth": 6}, ValueError,
     "depth must be a power of two in 2..256 (so every addr value names a tile; one tile "
     "needs no address), not 6"),
    ({"depth": 1}, ValueError, "depth must be a power of two in 2..256"),
    ({"depth": "8"}, TypeError, "depth must be a power of two in 2..256"),
    ({"rows": 4, "cols": 4}, ValueError,
     "rows * cols must be k times a power of two (k=32: 32, 64, 128, 256, 512, 1024), so every "
     "operand is a full k-element block and every part value names one, not 4 * 4 = 16"),
    ({"elem": "bf16"}, ValueError,
     "elem must be one of e5m2, e4m3, e3m2, e2m3, e2m1, mxint8, mxsf, e2m5 (or an MXSF variant "
     "mxsf_b<bias> or mxsf_e<E>m<M>_b<bias>), not 'bf16'"),
])
def test_geometry_errors_name_the_parameter(kwargs, exc, message):
    with pytest.raises(exc) as info:
        gt.tile_geometry(**kwargs)
    assert message in str(info.value)


def test_bad_request_fields():
    inputs = _fields([_req(0, 3)])
    with pytest.raises(ValueError, match="request field 'addr' must hold integers in 0..7"):
        gt.tile_buffer({**inputs, "addr": np.array([8])})
    with pytest.raises(ValueError, match=r"request field 'codes' has shape \(1, 16\)"):
        gt.tile_buffer({**inputs, "codes": np.zeros((1, 16), np.int64)})
    with pytest.raises(KeyError, match="request field 'part' is missing"):
        gt.tile_buffer(inputs, rows=16, cols=4)
