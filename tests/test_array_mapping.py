"""The mapper's cycle model against the array it describes: small layers of every type and
pass, mapped by mxforge.mapping onto ``Array.rtl(...)``, turned into beat streams
(golden.bfp_array.gemm_stream); the predicted cycle count must equal golden.bfp_array's cycle
rule on every one and the ``bfp_array`` RTL's measured count on a sample of them, and the RTL's
results, put back into a matrix, must equal the golden GEMM and an exact Fraction reference."""
from fractions import Fraction

import numpy as np
import pytest

from golden import bfp_array as g
from mxforge import mapping as mp
from mxforge.catalogue import get_block
from sim.harness import check
from sim.tools import require
from tests.reference import f32_value, fraction_to_fp32

LAYERS = [
    mp.Conv("conv3x3", c_in=3, c_out=5, h=5, w=4, k=3, padding=1),
    mp.Conv("conv_s2", c_in=2, c_out=3, h=6, w=5, k=3, stride=2),
    mp.Conv("depthwise", c_in=3, c_out=3, h=4, w=4, k=3, padding=1, groups=3),
    mp.Conv("pointwise", c_in=6, c_out=5, h=3, w=3, k=1),
    mp.FC("fc", d_in=11, d_out=6, tokens=3),
    mp.Attention("qk", "qk", seq_q=5, seq_k=4, d_head=7, heads=2),
    mp.Attention("pv", "pv", seq_q=3, seq_k=6, d_head=5),
]
MODES = [mp.Modes(16, 16, 16), mp.Modes(8, 8, 8), mp.Modes(4, 4, 4), mp.Modes(4, 8, 16),
         mp.Modes(16, 4, 8, local=8)]
ARRAYS = [dict(R=2, C=2, units=1, L=6), dict(R=2, C=3, units=2, L=4, stages=4),
          dict(R=1, C=2, units=1, L=3, stages=0)]


def mapped(array_kw, layer, modes, pass_, fixed=False):
    """(mapping, params, operands, stream) of one pass of ``layer`` on the array."""
    arr = mp.Array.rtl(**array_kw)
    gemms = layer.gemms(pass_)
    if not gemms:
        return None
    m = mp.map_gemm(arr, gemms, modes, fixed=fixed)
    R, C, L = arr.R, arr.C, arr.L
    la = -(-m.A // (R * m.n_a)) * R
    lb = -(-m.B // (C * m.n_b)) * C
    ia, ib = arr.modes.index(16 // m.n_a), arr.modes.index(16 // m.n_b)
    rng = np.random.default_rng(len(layer.name) * 7 + len(pass_))
    a, b = g.gemm_operands(rng, m.instances, la, lb, m.gemm.K, 16 // m.n_a, 16 // m.n_b,
                           m.n_a, m.n_b, L)
    v = g.gemm_stream(a, b, R, C, L, ia, ib)
    params = {"R": R, "C": C, "units": array_kw.get("units", 1),
              "stages": array_kw.get("stages", 2)}
    assert m.tiles == m.instances * (la // R) * (lb // C)
    return m, params, (a, b, la, lb), v


CASES = [(a, layer, modes, p) for a in range(len(ARRAYS)) for layer in LAYERS for modes in MODES
         for p in mp.PASSES]


@pytest.mark.parametrize("fixed", [False, True])
def test_model_equals_the_golden_cycle_rule(fixed):
    """Every layer, pass, mode triple and array: the mapper's (and the fixed baseline's)
    predicted cycles equal golden.bfp_array.array_cycles of the beat stream they describe,
    and the stream never stalls on anything the model does not count."""
    checked = 0
    for ai, layer, modes, pass_ in CASES:
        got = mapped(ARRAYS[ai], layer, modes, pass_, fixed)
        if got is None:
            continue
        m, params, _, v = got
        want = g.array_cycles(v, **params)
        assert m.cycles == want["cycles"], (ARRAYS[ai], layer.name, modes.label, pass_, m)
        assert want["outputs"] == m.tiles * -(-m.gemm.K // ARRAYS[ai]["L"]) * \
            params["R"] // params["units"] * m.n_a * m.n_b
        checked += 1
    assert checked == len(ARRAYS) * len(MODES) * len(mp.PASSES) * len(LAYERS)


def exact(a, b, m_a, m_b, L):
    """The GEMM by Fractions: per output, per group, RNE_fp32(acc + S * 2**e) (acc from +0)."""
    inst, la, na, K = a["mag"].shape
    lb, nb = b["mag"].shape[1], b["mag"].shape[2]
    out = np.zeros((inst, la * na, lb * nb), dtype=np.int64)
    for i in range(inst):
        for x in range(la * na):
            for y in range(lb * nb):
                lx, sx, ly, sy = x // na, x % na, y // nb, y % nb
                acc = 0
                for grp, k0 in enumerate(range(0, K, L)):
                    ks = range(k0, min(K, k0 + L))
                    S = sum((-1) ** (int(a["sign"][i, lx, sx, k]) ^ int(b["sign"][i, ly, sy, k]))
                            * int(a["mag"][i, lx, sx, k]) * int(b["mag"][i, ly, sy, k])
                            for k in ks)
                    e = (int(a["exp"][i, lx, grp]) - 127 - (m_a - 1)
                         + int(b["exp"][i, ly, grp]) - 127 - (m_b - 1))
                    acc = fraction_to_fp32(Fraction(f32_value(acc)) + S * Fraction(2) ** e)
                out[i, x, y] = acc
    return out


# every layer type and pass, spread over the mode triples
RTL = [(layer, MODES[(i + j) % len(MODES)], p)
       for i, layer in enumerate(LAYERS) for j, p in enumerate(mp.PASSES)]


@pytest.mark.parametrize("backend, ai", [("verilator", 0), ("icarus", 1)])
def test_rtl_cycles_and_results(backend, ai):
    """The RTL (the catalogued generator; on Verilator the catalogue's default 2 x 2 array, on
    Icarus a 2 x 3 array with two conversion units per column and every register cut), output
    port always ready, input offered every cycle: its cycle count is the mapper's prediction
    exactly; its results, put back into the output matrix, equal the golden GEMM and the
    Fraction reference bit for bit (every seventh GEMM); then the same stream under random
    back-pressure on both ports gives the same results (every seventh GEMM). Verilator runs every
    layer and pass, Icarus every third."""
    require(backend)
    block = get_block("bfp_array")
    runs = 0
    for layer, modes, pass_ in (RTL if backend == "verilator" else RTL[::7]):
        got = mapped(ARRAYS[ai], layer, modes, pass_)
        if got is None:
            continue
        m, params, (a, b, la, lb), v = got
        L = ARRAYS[ai]["L"]
        r = check(block, params, v, backend=backend, stalls=False)
        assert r.stats["cycles"] - r.stats["in_idle"] == m.cycles, (layer.name, pass_)
        res = g.gemm_results(r.outputs, m.instances, la, lb, m.gemm.K, params["R"],
                             params["C"], L, m.n_a, m.n_b, params["units"])
        want = g.gemm_golden(a, b, 16 // m.n_a, 16 // m.n_b, L)
        assert np.array_equal(res, want)
        if runs % 7 == 0:      # the Fraction reference is slow: every seventh GEMM
            assert np.array_equal(want, exact(a, b, 16 // m.n_a, 16 // m.n_b, L))
            check(block, params, v, backend=backend, stalls=(0.3, 0.3), seed=runs)
        runs += 1
    assert runs == len(RTL if backend == "verilator" else RTL[::7])
