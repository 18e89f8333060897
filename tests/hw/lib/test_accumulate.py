"""hw.lib.accumulate: the fused FP32 accumulate step on its own, through a thin stream wrapper,
against golden.accumulate.fp32_accumulate: alignment on both edges of the sticky window for sums of
every shape, cancellation to exact zero, sticky with the subtraction borrow, subnormal and
underflowing results, overflow to ±Inf, and the special flags against every special accumulator.
(mx_dot's and bfp_dot's tests run it inside the blocks.)"""
import numpy as np
import pytest
from amaranth.hdl import Module, signed
from amaranth.lib import data

from golden.accumulate import FP32_NAN, fp32_accumulate as golden_accumulate
from hw.lib.accumulate import GUARD, STEP_CUTS, cut_points, fp32_accumulate, window_bits
from hw.lib.block import StreamBlock
from hw.lib.pipeline import Cuts, StreamPipeline
from mxforge.catalogue import Block
from sim.harness import check

E_BITS = 10  # e_s in -512..511: every FP32 exponent relation and beyond
ONE, FMAX = 0x3F800000, 0x7F7FFFFF


class Accumulate(StreamBlock):
    """``result = fp32_accumulate(total, e_s, acc, nan, pinf, ninf)``; ``stages`` registers the
    first ``stages`` of the step's own cut points (``STEP_CUTS``)."""

    def __init__(self, sum_bits=16, stages=0):
        self.sum_bits, self.latency = sum_bits, stages
        super().__init__(
            data.StructLayout({"total": signed(sum_bits + 1), "e_s": signed(E_BITS), "acc": 32,
                               "nan": 1, "pinf": 1, "ninf": 1}),
            data.StructLayout({"result": 32}))

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o, Cuts(STEP_CUTS, self.latency))
        pay = self.i.payload
        result = fp32_accumulate(m, pay.total, self.sum_bits, pay.e_s, pay.acc, nan=pay.nan,
                                 pinf=pay.pinf, ninf=pay.ninf,
                                 cut=p.cut)
        p.finish({"result": result})
        return m


def golden(inputs, sum_bits, stages):
    return {"result": golden_accumulate(
        [int(t) for t in inputs["total"]], inputs["e_s"], inputs["acc"], inputs["nan"] != 0,
        inputs["pinf"] != 0, inputs["ninf"] != 0).astype(np.int64)}


def stimulus(rng, n, exhaustive=False, sum_bits=16, stages=0):
    """Sums of every shape at every distance from the accumulator, then the targeted corners."""
    top = (1 << sum_bits) - 1
    rows = []

    def add(total, e_s, acc, nan=0, pinf=0, ninf=0):
        assert abs(total) <= top
        rows.append((int(total), int(np.clip(e_s, -512, 511)), int(acc) & 0xFFFFFFFF, nan, pinf,
                     ninf))

    shapes = sorted({t for t in (top, 1, 1 << (sum_bits - 1), top >> 1, (1 << (sum_bits - 1)) + 1,
                                 int(rng.integers(1, top + 1))) if 1 <= t <= top})
    # the leading one of the sum at 2**d beside c = ±1.x: both edges of the window (sum far
    # below and far above c), effective addition and subtraction
    for d in range(-sum_bits - GUARD - 30, 60):
        for t in shapes:
            e_s = d - t.bit_length() + 1
            mant = int(rng.integers(0, 1 << 23)) if rng.random() < 0.7 else 0
            sign_t = -1 if rng.random() < 0.5 else 1
            add(sign_t * t, e_s, ONE | mant | int(rng.integers(0, 2)) << 31)
    # random sums, exponents and accumulators of every range
    for _ in range(n):
        t = int(rng.integers(-top, top + 1)) >> int(rng.integers(0, sum_bits))
        acc = int(rng.integers(0, 1 << 32))
        if rng.random() < 0.5:  # a finite acc comparable to the sum
            e = int(rng.integers(-160, 140))
            acc = (int(rng.integers(1, 255)) << 23) | int(rng.integers(0, 1 << 23)) \
                | int(rng.integers(0, 2)) << 31
            add(t, e, acc)
        else:
            add(t, int(rng.integers(-512, 512)), acc)
    # cancellation to exact zero: total = -sig_c, e_s = e_c (+0 whatever the signs)
    for acc in (ONE, ONE | 1 << 31, 0x00000001, 0x80400000, 0x4B7FFFFF, FMAX):
        e, f, s = (acc >> 23) & 0xFF, acc & 0x7FFFFF, acc >> 31
        sig = f | (1 << 23 if e else 0)
        if sig.bit_length() <= sum_bits:
            add(sig if s else -sig, (e if e else 1) - 150, acc)
            add(0, 0, acc & 1 << 31)  # a zero sum beside c = ±0: +0
        else:  # the top sum_bits bits of sig only, rest from c: not exact; shift sig instead
            sh = sig.bit_length() - sum_bits
            if sig % (1 << sh) == 0:
                add((sig >> sh) * (1 if s else -1), (e if e else 1) - 150 + sh, acc)
    # sticky with the borrow: c minus a sum reaching below the window, and vice versa
    for k in range(1, 8):
        add(-top, -24 - sum_bits - GUARD - k, ONE)
        add(top, -24 - sum_bits - GUARD - k, ONE | 1 << 31)
        add(-1, -23 - k, ONE)
        add(-1, -24, ONE | 1)  # c - half an ulp: a tie, to even
        add(-top, 127 - 24 - sum_bits + k, FMAX)
    # subnormal and underflowing results: tiny sums beside tiny or zero c
    for e_s in (-170, -160, -151, -150, -149, -140, -130, -126 - sum_bits, -127):
        for t in {1, -1, top, -top, min(3, top), -min(5, top)}:
            for acc in (0, 1 << 31, 1, 0x80000001, 0x007FFFFF, 0x00800000, 0x80800000):
                add(t, e_s, acc)
    # overflow to ±Inf: sums near 2**128 with c at FP32 max of either sign
    for e_s in range(128 - sum_bits - 2, 128 - sum_bits + 3):
        for t in (top, -top):
            for acc in (0, FMAX, FMAX | 1 << 31, 0x7F000000):
                add(t, e_s, acc)
    # specials: the block's flags against every special c
    for acc in (0, 1 << 31, ONE, FMAX, 0x7F800000, 0xFF800000, FP32_NAN, 0xFFFFFFFF,
                0x7F800001):
        for flags in ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (1, 1, 1)):
            add(int(rng.integers(-top, top + 1)), int(rng.integers(-200, 200)), acc, *flags)
            add(0, 0, acc, *flags)
    total, e_s, acc, nan, pinf, ninf = (np.array(v, dtype=np.int64) for v in zip(*rows))
    return {"total": total, "e_s": e_s, "acc": acc, "nan": nan, "pinf": pinf, "ninf": ninf}


BLOCK = Block(name="accumulate", generator=Accumulate, golden=golden, stimulus=stimulus,
              exhaustive_size=lambda **p: None, defaults={"sum_bits": 16, "stages": 0})


@pytest.mark.parametrize("sum_bits, stages", [(1, 0), (3, 1), (16, 3), (40, 2)])
def test_accumulate_matches_golden(sum_bits, stages):
    params = BLOCK.params(sum_bits=sum_bits, stages=stages)
    vectors = BLOCK.vectors(seed=sum_bits, n=1500, **params)
    res = golden(vectors, **params)["result"]
    # the stimulus reaches every result class: +0 and -0, subnormals, normals, ±Inf, NaN
    cls = set()
    for r in res.tolist():
        e, f = (r >> 23) & 0xFF, r & 0x7FFFFF
        cls.add(("-" if r >> 31 else "+") + ("zero" if e == 0 and f == 0 else "sub" if e == 0
                else "inf" if e == 255 and f == 0 else "nan" if e == 255 else "normal"))
    assert {"+zero", "-zero", "+sub", "-sub", "+normal", "-normal", "+inf", "-inf",
            "+nan"} <= cls
    check(BLOCK, params, vectors, backend="amaranth", stalls=stages > 0, seed=sum_bits)


def test_window_and_cut_points():
    assert window_bits(16) == 16 + GUARD == 41
    assert STEP_CUTS == ("shift", "align", "norm")
    assert cut_points(1) == ("mul", "align", "shift", "norm", "out")
    assert cut_points(2) == ("sum", "mul", "align", "shift", "norm", "out")
    assert cut_points(216) == ("sum", "mul", "align", "shift", "norm", "out", "tree2", "tree4",
                               "tree6")


def test_sum_bits_must_be_positive():
    with pytest.raises(ValueError, match="sum_bits must be a positive integer, not 0"):
        fp32_accumulate(Module(), 0, 0, 0, 0, nan=0, pinf=0, ninf=0)
