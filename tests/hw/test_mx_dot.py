"""mx_dot: parameter validation, interface, and targeted simulations beyond the catalogue's
configurations (every ``stages`` value, odd block sizes, mixed formats, an alignment sweep across
the sticky window's edges). The catalogue's configurations run in tests/sim/test_harness.py."""
import numpy as np
import pytest
from amaranth.lib import data

from golden import mx_dot as g
from golden.formats import encode
from hw.mx_dot import DEFAULT_STAGES, ELEMENTS, GUARD, K_MAX, MxDot, cut_points
from mxforge.catalogue import BLOCKS
from sim.harness import check

BLOCK = BLOCKS["mx_dot"]


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"k": 0}, ValueError, "k must be an integer in 1..128, not 0"),
    ({"k": 129}, ValueError, "k must be an integer in 1..128, not 129"),
    ({"k": "32"}, TypeError, "k must be an integer in 1..128, not '32'"),
    ({"k": True}, TypeError, "k must be an integer in 1..128, not True"),
    ({"elem_a": "fp32"}, ValueError,
     "elem_a must be one of e5m2, e4m3, e3m2, e2m3, e2m1, mxint8, mxsf, e2m5 (or an MXSF variant mxsf_b<bias> or mxsf_e<E>m<M>_b<bias>), not 'fp32'"),
    ({"elem_b": "e8m0"}, ValueError,
     "elem_b must be one of e5m2, e4m3, e3m2, e2m3, e2m1, mxint8, mxsf, e2m5 (or an MXSF variant mxsf_b<bias> or mxsf_e<E>m<M>_b<bias>), not 'e8m0'"),
    ({"stages": 9}, ValueError,
     ("stages must be an integer in 0..8 for k=32 (cut points sum, mul, align, shift, norm, "
      "out, tree2, tree4), not 9")),
    ({"stages": -1}, ValueError, "stages must be an integer in 0..8 for k=32"),
    ({"k": 1, "stages": 6}, ValueError,
     "stages must be an integer in 0..5 for k=1 (cut points mul, align, shift, norm, out), "
     "not 6"),
    ({"stages": 1.0}, TypeError,
     ("stages must be an integer in 0..8 for k=32 (cut points sum, mul, align, shift, norm, "
      "out, tree2, tree4), not 1.0")),
])
def test_bad_parameters_name_the_parameter(kwargs, exc, message):
    with pytest.raises(exc) as info:
        MxDot(**kwargs)
    assert message in str(info.value)


def test_catalogue_reports_generator_errors():
    with pytest.raises(ValueError, match="k must be an integer in 1..128, not 129"):
        BLOCK.checked_build(k=129)


@pytest.mark.parametrize("elem_a, elem_b, k", [("e4m3", "e5m2", 32), ("mxint8", "e2m1", 7),
                                              ("mxsf", "mxsf", 64)])
def test_interface(elem_a, elem_b, k):
    d = MxDot(elem_a, elem_b, k=k)
    wa, wb = (8 if e in ("e4m3", "e5m2", "mxint8", "mxsf") else 4 for e in (elem_a, elem_b))
    assert d.in_layout == data.StructLayout({
        "scale_a": 8, "codes_a": data.ArrayLayout(wa, k), "scale_b": 8,
        "codes_b": data.ArrayLayout(wb, k), "acc": 32})
    assert d.out_layout == data.StructLayout({"result": 32})
    assert d.latency == d.stages == DEFAULT_STAGES
    assert (d.elem_a, d.elem_b, d.k) == (elem_a, elem_b, k)
    assert d.window_bits == d.sum_bits + GUARD
    # the product word holds the largest product exactly, the sum word k of them
    lo_a, lo_b = g.elem_exp_range(elem_a)[0], g.elem_exp_range(elem_b)[0]
    big = max(abs(v) for v in g._Codes(elem_a).value(g._Codes(elem_a).finite)) \
        * max(abs(v) for v in g._Codes(elem_b).value(g._Codes(elem_b).finite))
    assert big * 2.0 ** -(lo_a + lo_b) < 2.0 ** d.prod_bits
    assert k * big * 2.0 ** -(lo_a + lo_b) < 2.0 ** d.sum_bits


def test_cut_points():
    step = ("align", "shift", "norm", "out")
    assert cut_points(1) == ("mul", *step)
    assert cut_points(2) == ("sum", "mul", *step)
    assert cut_points(32) == ("sum", "mul", *step, "tree2", "tree4")
    assert cut_points(64) == ("sum", "mul", *step, "tree2", "tree4")
    assert cut_points(K_MAX) == ("sum", "mul", *step, "tree2", "tree4", "tree6")
    for k in (1, 2, 3, 32):
        assert MxDot(k=k, stages=len(cut_points(k))).latency == len(cut_points(k))


def test_every_element_appears_on_both_sides():
    from amaranth.back import rtlil
    n = len(ELEMENTS)
    for i, a in enumerate(ELEMENTS):
        for b in (ELEMENTS[(i + 3) % n],):
            assert "module" in rtlil.convert(MxDot(a, b, k=1, stages=1), name="dut")


@pytest.mark.parametrize("k, stages", [(1, s) for s in (0, 3, 5)] + [(3, s) for s in range(7)]
                         + [(32, s) for s in (2, 5, 7)] + [(64, 8)])
def test_every_stage_count_matches_golden(k, stages):
    params = BLOCK.params(elem_a="e4m3", elem_b="e5m2", k=k, stages=stages)
    vectors = BLOCK.vectors(seed=k * 10 + stages, n=150 if k >= 32 else 400, **params)
    check(BLOCK, params, vectors, backend="amaranth", stalls=True, seed=stages)


@pytest.mark.parametrize("elem_a, elem_b, k", [
    ("mxint8", "e5m2", 4), ("mxsf", "e2m1", 5), ("e2m3", "e3m2", 6), ("e5m2", "mxsf", 3),
    ("e2m1", "e4m3", 8), ("mxint8", "mxsf", 2)])
def test_mixed_pairs_match_golden(elem_a, elem_b, k):
    params = BLOCK.params(elem_a=elem_a, elem_b=elem_b, k=k, stages=2)
    vectors = BLOCK.vectors(seed=4, n=800, **params)
    check(BLOCK, params, vectors, backend="amaranth", stalls=True, seed=2)


def alignment_sweep(elem_a, elem_b, k, rng):
    """Blocks whose sum sits at every distance from the accumulator, across both edges of the
    alignment window: a one-hot max*max (normalized-ish S), a min*min (S with the most leading
    zeros), and a max*max - max*min cancellation (wide S), with the sign of each side random and
    acc mantissas random, plus ties (acc odd/even at the boundary)."""
    A, B = g._Codes(elem_a), g._Codes(elem_b)
    rows = []
    forms = [((A.max,), (B.max,)), ((A.min,), (B.min,)),
             ((A.max, A.max), (B.max, B.neg(B.min))), ((A.one, A.min), (B.one, B.min))]
    for ca0, cb0 in forms:
        if len(ca0) > k:
            continue
        for dist in range(-150, 151):
            ca = np.full(k, A.zero, dtype=np.int64)
            cb = np.full(k, B.zero, dtype=np.int64)
            ca[: len(ca0)], cb[: len(cb0)] = ca0, cb0
            if rng.random() < 0.5:
                cb[0] = B.neg(cb[0])
            S, e0, *_ = g.block_sum(ca[None], cb[None], elem_a, elem_b)
            # scales putting the sum's leading one at 2**dist (acc is in [1, 2))
            s = int(np.clip(dist + 254 - e0 - abs(int(S[0])).bit_length() + 1, 0, 508))
            sa = min(254, s)
            sb = s - sa
            mant = int(rng.integers(0, 1 << 23))
            if rng.random() < 0.3:
                mant = 0
            acc = (127 << 23) | mant | (int(rng.integers(0, 2)) << 31)
            rows.append((sa, ca, sb, cb, acc))
    sa, ca, sb, cb, acc = zip(*rows)
    return {"scale_a": np.array(sa), "codes_a": np.array(ca), "scale_b": np.array(sb),
            "codes_b": np.array(cb), "acc": np.array(acc, dtype=np.int64)}


@pytest.mark.parametrize("elem_a, elem_b, k", [("e5m2", "e5m2", 32), ("e2m1", "mxint8", 3),
                                              ("e4m3", "e2m1", 2)])
def test_alignment_sweep_matches_golden(elem_a, elem_b, k):
    params = BLOCK.params(elem_a=elem_a, elem_b=elem_b, k=k, stages=3)
    vectors = alignment_sweep(elem_a, elem_b, k, np.random.default_rng(0))
    # the sweep does reach both regimes: sum far below acc and acc far below sum
    res = g.dot_block(vectors, elem_a, elem_b)["result"]
    assert np.any(res == vectors["acc"]) and np.any(res != vectors["acc"])
    check(BLOCK, params, vectors, backend="amaranth", stalls=False)


def test_exact_zero_is_positive_and_tiny_negative_underflow_is_negative_zero():
    params = BLOCK.params(elem_a="e4m3", elem_b="e4m3", k=2, stages=0)
    one, tiny = int(encode(1.0, "e4m3")), int(encode(2.0**-9, "e4m3"))
    vectors = {
        "scale_a": np.array([127, 127, 0, 0]),
        "codes_a": np.array([[one, one], [0x80, 0x80], [tiny, 0], [tiny, 0]]),
        "scale_b": np.array([127, 127, 0, 0]),
        "codes_b": np.array([[one, one ^ 0x80], [0, 0], [tiny ^ 0x80, 0], [tiny, 0]]),
        "acc": np.array([1 << 31, 1 << 31, 0, 1 << 31]),
    }
    out = check(BLOCK, params, vectors, backend="amaranth", stalls=False).outputs["result"]
    assert list(out) == [0, 0, 1 << 31, 0]
