"""opal_quantize beyond the catalogue sweep (tests/sim/test_harness.py): every register cut of
every catalogued configuration on Amaranth under heavy back-pressure, parameter edges the
catalogue does not carry (n = 2, lanes = 1, one beat per block, k = n - 1), the corner blocks of
the issue checked against facts worked out by hand, inlier rounding at every distance below the
shared exponent (the compact block buffer), the BF16 conversion over a structured FP32 set, exact
throughput and latency, and one clear error per bad parameter."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import opal
from golden.mx import random_blocks
from hw.opal_quantize import HW_CHOICES, HW_DEFAULTS, MAX_STAGES, OpalQuantize
from mxforge.catalogue import BLOCKS
from sim.harness import check, run

BLOCK = BLOCKS["opal_quantize"]
HEAVY = (0.3, 0.7)      # input idle / output not ready probabilities per cycle


def _f32(v):
    return np.asarray(v, dtype=np.float32).view(np.uint32).astype(np.int64)


def _beats(blocks, lanes):
    return {"x": np.asarray(blocks, dtype=np.int64).reshape(-1, lanes)}


def _small_blocks(rng, n, k, count):
    """Random blocks plus the issue's corners, for any n (``golden.opal.quantize_stimulus`` needs
    n >= 10 for its tie corner)."""
    out = [random_blocks(rng, count, n)]

    def small():
        return _f32(rng.uniform(-1, 1, n).astype(np.float32))

    for i in range(n):                                   # an outlier at every index
        b = small()
        b[i] = _f32(np.float32(rng.choice([-1, 1]) * 300.0))
        out.append(b[None])
    for ties in sorted({1, k, min(k + 1, n), n}):       # equal magnitudes, both signs
        b = small()
        pos = rng.choice(n, ties, replace=False)
        b[pos] = _f32(np.where(rng.random(ties) < 0.5, 37.5, -37.5).astype(np.float32))
        out.append(b[None])
    out.append(np.full((1, n), 1 << 31))                 # all -0
    out.append(np.zeros((1, n), dtype=np.int64))
    for nz in range(min(k, n)):                          # fewer than k nonzero values
        b = np.where(rng.random(n) < 0.5, 1 << 31, 0)
        b[rng.choice(n, nz, replace=False)] = _f32(rng.uniform(-5, 5, nz).astype(np.float32))
        out.append(b[None])
    specials = [0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x7F800001]
    for count_s in sorted({1, k, min(k + 1, n)}):        # NaN/Inf as outliers and as an inlier
        b = small()
        b[rng.choice(n, count_s, replace=False)] = rng.choice(specials, count_s)
        out.append(b[None])
    return np.concatenate(out).astype(np.int64)


def _catalogue_subset(params, seed):
    """The catalogue stimulus with a few random blocks and every 5th corner block."""
    x = BLOCK.vectors(seed=seed, n=32, params=params)["x"]
    per = params["n"] // params["lanes"]
    blocks = x.reshape(-1, per * params["lanes"])
    keep = np.concatenate([blocks[:4], blocks[4::5]])
    return _beats(keep, params["lanes"])


# ---------------------------------------------------------------------------------------------
# interface and parameters


def test_catalogue_carries_the_hardware_parameters():
    assert set(HW_DEFAULTS) == set(HW_CHOICES) == {"stages"}
    assert HW_CHOICES["stages"] == tuple(range(MAX_STAGES + 1))
    assert BLOCK.defaults["stages"] == HW_DEFAULTS["stages"]
    assert BLOCK.record_beats(**BLOCK.defaults) == opal.DEFAULT_N // opal.DEFAULT_LANES


@pytest.mark.parametrize("n, k, bits, lanes, stages", [
    (128, 4, 3, 16, 1), (16, 1, 8, 4, 0), (8, 7, 2, 1, 1), (8, 3, 5, 8, 0)])
def test_ports_and_latency(n, k, bits, lanes, stages):
    dut = OpalQuantize(n=n, k=k, bits=bits, lanes=lanes, stages=stages)
    ib = (n - 1).bit_length()
    assert dut.in_layout == data.StructLayout({"x": data.ArrayLayout(32, lanes)})
    assert dut.out_layout == data.StructLayout({
        "scale": 8, "codes": data.ArrayLayout(bits, n), "outliers": data.ArrayLayout(16, k),
        "idx": data.ArrayLayout(ib, k)})
    assert (dut.n, dut.k, dut.bits, dut.lanes, dut.stages) == (n, k, bits, lanes, stages)
    assert dut.latency == n // lanes + 1 + stages


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"k": 128}, ValueError,
     "k must be an integer in 1..127 (fewer outliers than the block size n), not 128"),
    ({"n": 16, "k": 16, "lanes": 4}, ValueError,
     "k must be an integer in 1..15 (fewer outliers than the block size n), not 16"),
    ({"k": 0}, ValueError,
     "k must be an integer in 1..127 (fewer outliers than the block size n), not 0"),
    ({"bits": 1}, ValueError, "bits must be an integer in 2..8 (inlier code width), not 1"),
    ({"bits": 9}, ValueError, "bits must be an integer in 2..8 (inlier code width), not 9"),
    ({"bits": 3.0}, TypeError, "bits must be an integer in 2..8 (inlier code width), not 3.0"),
    ({"n": 96}, ValueError,
     ("n must be an integer in 2..1024 and a power of two (the outlier index has log2(n) "
      "bits), not 96")),
    ({"n": 2048}, ValueError,
     ("n must be an integer in 2..1024 and a power of two (the outlier index has log2(n) "
      "bits), not 2048")),
    ({"lanes": 3}, ValueError,
     "lanes must be an integer in 1..128 and a power of two dividing n, not 3"),
    ({"n": 16, "k": 4, "lanes": 32}, ValueError,
     "lanes must be an integer in 1..16 and a power of two dividing n, not 32"),
    ({"rounding": "rnd"}, ValueError, "rounding must be one of rne, rna, rtz, not 'rnd'"),
    ({"rounding": "stochastic"}, ValueError,
     "rounding must be one of rne, rna, rtz, not 'stochastic'"),
    ({"stages": 2}, ValueError, "stages must be an integer in 0..1 (cut points select), not 2"),
    ({"stages": True}, TypeError,
     "stages must be an integer in 0..1"
     " (cut points select), not True"),
])
def test_bad_parameters_name_the_parameter_and_the_allowed_values(kwargs, exc, message):
    pattern = "^" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.") + "$"
    with pytest.raises(exc, match=pattern):
        OpalQuantize(**kwargs)


# ---------------------------------------------------------------------------------------------
# simulation against the golden model


@pytest.mark.parametrize("stages", HW_CHOICES["stages"])
@pytest.mark.parametrize("config", list(BLOCK.configurations()))
def test_every_config_and_cut_under_heavy_backpressure(config, stages):
    params = {**BLOCK.configurations()[config], "stages": stages}
    inputs = _catalogue_subset(params, seed=11 + stages)
    result = check(BLOCK, params, inputs, stalls=HEAVY, seed=5 + stages)
    assert result.stats["backpressure"] > 0 and result.stats["in_stall"] > 0


@pytest.mark.parametrize("params", [
    {"n": 2, "k": 1, "bits": 2, "lanes": 1, "stages": 0},              # smallest block
    {"n": 8, "k": 7, "bits": 4, "lanes": 1, "rounding": "rna"},        # k = n - 1, one lane
    {"n": 8, "k": 3, "bits": 5, "lanes": 8, "stages": 0},              # one beat per block
    {"n": 16, "k": 15, "bits": 6, "lanes": 16, "stages": 1},           # one inlier, BF16 all
    {"n": 32, "k": 6, "bits": 7, "lanes": 2, "rounding": "rtz"},       # fewer lanes than k + 1
])
def test_parameter_edges(params):
    p = BLOCK.params(**params)
    blocks = _small_blocks(np.random.default_rng(p["n"] + p["k"]), p["n"], p["k"], 40)
    check(BLOCK, p, _beats(blocks, p["lanes"]), stalls=HEAVY, seed=p["k"])


def _hand_blocks(n):
    """(blocks, facts): FP32 blocks of n = 16 and, per block, what k = 4, bits = 3 must give,
    worked out by hand (``None``: not asserted)."""

    def one(v):
        return int(_f32(np.float32(v)))

    blocks, facts = [], []

    def add(b, idx, outliers=None, scale=None, codes=None):
        blocks.append(np.asarray(b, dtype=np.int64))
        facts.append((idx, outliers, scale, codes))

    # all equal magnitudes (37.5 = 0x42160000, both signs): the first k indices; inliers
    # E = floor(log2 37.5) = 5, q = round(37.5 / 2**4) = round(2.34) = 2 (3-bit: -2 = 6)
    signs = np.arange(n) % 3 == 1
    b = np.where(signs, one(-37.5), one(37.5))
    codes = np.where(signs, 6, 2)
    codes[:4] = 0
    add(b, [0, 1, 2, 3], [0xC216 if s else 0x4216 for s in signs[:4]], 5 + 127, codes)
    # a three-way tie at the last outlier slot: 100 at 0..2, 50 at 5, 9, 15, 1.0 elsewhere
    b = np.full(n, one(1.0))
    b[:3] = one(100.0)
    b[[5, 9, 15]] = one(50.0)
    add(b, [0, 1, 2, 5], [0x42C8] * 3 + [0x4248], 5 + 127)
    # fewer than k nonzero: 5.0 at 12, -3.0 at 7; zeros elsewhere -> the lowest zero indices
    b = np.zeros(n, dtype=np.int64)
    b[12], b[7] = one(5.0), one(-3.0)
    add(b, [12, 7, 0, 1], [0x40A0, 0xC040, 0, 0], 0, np.zeros(n, dtype=np.int64))
    # k specials: NaN ranks above Inf, Infs tie by index; the inliers (0.75) are unaffected:
    # E = -1, q = round(0.75 / 2**-2) = 3 (the largest 3-bit code)
    b = np.full(n, one(0.75))
    b[[8, 1, 3, 14]] = [0x7FC00000, 0x7F800000, 0xFF800000, 0x7F800000]
    codes = np.full(n, 3)
    codes[[1, 3, 8, 14]] = 0
    add(b, [8, 1, 3, 14], [0x7FC0, 0x7F80, 0xFF80, 0x7F80], -1 + 127, codes)
    # k + 1 specials: the inlier block is NaN (scale 0xFF, every code 0)
    b = np.full(n, one(0.75))
    b[[2, 4, 6, 10, 11]] = [0xFF800000, 0x7F800001, 0x7F800000, 0xFFFFFFFF, 0x7F800000]
    add(b, [10, 4, 2, 6], [0x7FC0, 0x7FC0, 0xFF80, 0x7F80], 0xFF, np.zeros(n, dtype=np.int64))
    # an outlier at every index: -1000 at i, 1.0 elsewhere -> i, then the lowest other indices
    for i in range(n):
        b = np.full(n, one(1.0))
        b[i] = one(-1000.0)
        rest = [j for j in range(n) if j != i][:3]
        add(b, [i] + rest, [0xC47A] + [0x3F80] * 3, 0 + 127)
    return np.stack(blocks), facts


def test_named_corner_blocks_by_hand():
    n, lanes = 16, 4
    params = BLOCK.params(n=n, k=4, bits=3, lanes=lanes, rounding="rne")
    blocks, facts = _hand_blocks(n)
    out = check(BLOCK, params, _beats(blocks, lanes), stalls=HEAVY, seed=9).outputs
    for row, (idx, outliers, scale, codes) in enumerate(facts):
        assert list(out["idx"][row]) == idx, row
        if outliers is not None:
            assert [int(v) for v in out["outliers"][row]] == outliers, row
        if scale is not None:
            assert out["scale"][row] == scale, row
        if codes is not None:
            assert list(out["codes"][row]) == list(codes), row
        assert all(out["codes"][row][j] == 0 for j in idx), row


def _rounding_blocks(rng, n, k, bits, count):
    """Blocks whose inliers sit on, just above and just below the half steps of the b-bit grid
    at every distance below the shared exponent E (normal E and E = -127 with subnormals): the
    cases the buffer's compact words (sign, exponent, bits fraction bits, sticky) must get
    right. Slot 0 holds the largest inlier (sets E), k slots hold outliers."""
    out = []
    for row in range(count):
        e = -127 if row % 4 == 0 else int(rng.integers(-120, 120))
        quantum = 2.0 ** (e - (bits - 2))
        m = rng.integers(0, 1 << (bits - 1), n).astype(np.float64)
        tiny = 2.0 ** -rng.integers(1, 22, n)
        h = rng.choice([0.0, 0.5, 1.0], n) + rng.choice([-1.0, 0.0, 1.0], n) * tiny
        v = np.abs(m + h) * quantum
        # some values much smaller than E (their bits all fall into the sticky)
        v = np.where(rng.random(n) < 0.2, v * 2.0 ** -rng.integers(1, 30, n), v)
        v = np.minimum(v, 2.0 ** e * 1.9)
        v[0] = 2.0 ** e * (1.0 + rng.integers(0, 8) / 8)
        sign = rng.random(n) < 0.5
        x = np.where(sign, -v, v).astype(np.float32)
        bits_ = _f32(x)
        bits_[rng.choice(np.arange(1, n), k, replace=False)] = _f32(np.float32(3e38))
        out.append(bits_)
    return np.stack(out)


@pytest.mark.parametrize("bits, rounding", [(2, "rne"), (3, "rna"), (5, "rtz"), (8, "rne")])
def test_inlier_rounding_at_every_distance_below_the_scale(bits, rounding):
    n, k, lanes = 16, 2, 4
    params = BLOCK.params(n=n, k=k, bits=bits, lanes=lanes, rounding=rounding)
    blocks = _rounding_blocks(np.random.default_rng(bits), n, k, bits, 48)
    golden = BLOCK.golden(_beats(blocks, lanes), **params)
    assert (golden["scale"] == 0).sum() >= 10          # the E = -127 rows (subnormal inliers)
    check(BLOCK, params, _beats(blocks, lanes), stalls=True, seed=bits)


@pytest.mark.parametrize("params", [
    {}, {"stages": 0}, {"n": 8, "k": 3, "lanes": 8, "stages": 0}, {"n": 8, "k": 2, "lanes": 1}])
def test_one_beat_per_cycle_and_the_latency(params):
    """Without stalls the last output leaves exactly ``latency`` cycles after the last input:
    every beat was accepted in consecutive cycles and the latency property is true."""
    p = BLOCK.params(**params)
    blocks = _small_blocks(np.random.default_rng(3), p["n"], p["k"], 12)
    blocks = blocks[:: max(1, len(blocks) // 30)]
    inputs = _beats(blocks, p["lanes"])
    result = run(BLOCK, p, inputs, stalls=False, n_out=len(blocks))
    dut = BLOCK.build(**p)
    assert result.stats["in_stall"] == 0
    assert result.stats["cycles"] == len(inputs["x"]) + dut.latency
    expected = BLOCK.golden(inputs, **p)
    for f in expected:
        assert np.array_equal(result.outputs[f], expected[f]), f


# ---------------------------------------------------------------------------------------------
# BF16 conversion
