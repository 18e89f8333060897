"""The FlexBlock array's cycle model and mapper (mxforge/mapping.py), the layer shape tables
(studies/flexblock_nets.py) and the study (studies/flexblock.py). Expected cycle counts are worked
out by hand from the model's recurrence (mxforge/mapping.py's docstring): group g closes at
max(close of g-1 + L_g, first conversion of g-1 + T - 1), its conversions start the cycle after
(or d after the previous group's, within a tile), the last conversion T and the fill/drain
latency follow once. tests/test_array_mapping.py checks the model against the golden cycle rule
and the RTL."""
from __future__ import annotations

import json

import pytest

from mxforge import mapping as mp
from studies import docs, flexblock
from studies import flexblock_nets as nets

M16, M8, M4 = mp.Modes(16, 16, 16), mp.Modes(8, 8, 8), mp.Modes(4, 4, 4)


def _fwd(array, layer, modes, fixed=False):
    return mp.map_layer(array, layer, modes, fixed=fixed)["fwd"]


def test_exact_fit_16_bit():
    """2x2 PEs, 16-bit: a 2x2 output block, K = 8 in two 4-beat groups. T = ceil(4 / 4) = 1.
    Group 1 closes at 4, group 2 at 8, its conversion ends at 9, + latency 5 = 14 cycles."""
    a = mp.Array(2, 2, U=4, L=4, latency=5)
    m = _fwd(a, mp.FC("f", d_in=8, d_out=2, tokens=2), M16)
    assert (m.tiles, m.T, m.busy, m.cycles, m.peak) == (1, 1, 8, 14, 4)
    assert m.utilization == pytest.approx(32 / (4 * 14))
    assert m.steady == 1.0                           # fits exactly: 100 % in steady state


def test_exact_fit_8_bit_and_conversion_bound():
    """8-bit: 2 sub-words per side, a 4x4 output block on 2x2 PEs, S = 16 sums per group.
    U = 4: T = 4, groups close at 4 and 8, conversion ends 12, + 5 = 17 cycles (100 % steady).
    U = 1: T = 16, groups close at 4 and max(8, 4 + 16) = 20, conversion ends 36, + 5 = 41."""
    layer = mp.FC("f", d_in=8, d_out=4, tokens=4)
    m = _fwd(mp.Array(2, 2, U=4, L=4, latency=5), layer, M8)
    assert (m.n_a, m.n_b, m.T, m.cycles, m.peak) == (2, 2, 4, 17, 16)
    assert m.utilization == pytest.approx(128 / (16 * 17)) and m.steady == 1.0
    a1 = mp.Array(2, 2, U=1, L=4, latency=5)
    g = layer.gemms("fwd")[0]
    fixed = mp.gemm_cycles(a1, g, 8, 8)
    assert (fixed.T, fixed.cycles) == (16, 41)
    assert fixed.steady == pytest.approx(128 / (16 * 32))
    assert "conversion-bound" in mp.map_gemm(a1, [g], M8, fixed=True).reason
    # a side may run in 16-bit mode: n_b = 1 -> S = 8, T = 8, two 4x2 tiles: groups close at
    # 4, max(8, 4 + 8) = 12, 20, 28; the conversion ends at 36, + 5 = 41: no better here
    wide = mp.gemm_cycles(a1, g, 8, 8, n_a=2, n_b=1)
    assert (wide.tiles, wide.T, wide.cycles) == (2, 8, 41)
    assert mp.map_gemm(a1, [g], M8).cycles <= 41


def test_partial_fill_orientation_and_wider_mode():
    """4 x 1 PEs; 4-bit weights (4 sub-words), 16-bit activations (1 sub-word); d_out = 2,
    8 tokens, K = 4 (one group, L = 4), U = 8, latency 0. Peak 4 * 1 * 4 * 1 = 16 MACs/cycle.
    Fixed (W on the rows): 16 row positions for 2 outputs, 8 one-token column tiles; S = 16,
    T = 2: 4 + 7 * max(4, 2) + 2 = 34 cycles. Swapped (tokens on the 4 rows: 2 tiles) with W in
    8-bit mode on the column (2 sub-words: one tile): S = 8, T = 1: 4 + 4 + 1 = 9 cycles."""
    a = mp.Array(4, 1, U=8, L=4, latency=0)
    layer = mp.FC("f", d_in=4, d_out=2, tokens=8)
    md = mp.Modes(act=16, weight=4, grad=16)
    fixed = _fwd(a, layer, md, fixed=True)
    assert (fixed.side_a, fixed.tiles, fixed.cycles, fixed.peak) == ("x", 8, 34, 16)
    assert fixed.factors["fill_a"] == pytest.approx(2 / 16)
    assert "M = 2 (W) fills 12 % of side a's 16 positions" in fixed.reason
    hier = _fwd(a, layer, md)
    assert (hier.side_a, hier.n_a, hier.n_b, hier.tiles, hier.cycles) == ("y", 1, 2, 2, 9)
    assert hier.utilization == pytest.approx(64 / (16 * 9))
    # the same orientation in the weights' own 4-bit mode: S = 16, T = 2, 2 tiles: 4 + 4 + 2
    assert mp.gemm_cycles(a, layer.gemms("fwd")[0], 4, 16, side_a="y").cycles == 10


def test_interlock():
    """One PE, 16-bit, K = 4 in 2-beat groups, conversion depth d = 5, T = 1, latency 0
    (p = -5 input registers in the recurrence). Tile 1: group 1 closes at -3 and converts from
    -2; group 2 closes at -1 but must wait for group 1's conversion: from -2 + 5 = 3. Tile 2's
    first group clears (no interlock): closes at max(-1 + 2, 3) = 3, converts at 4; its second
    group closes at 5, converts from max(6, 4 + 5) = 9; the last output at 9 + 5 = 14."""
    a = mp.Array(1, 1, U=1, L=2, conv_depth=5, latency=0)
    layer = mp.FC("f", d_in=4, d_out=2, tokens=1)
    assert _fwd(a, layer, M16, fixed=True).cycles == 14
    assert _fwd(a, layer, M16).cycles == 14
    # without the interlock (d = 1, p = 0) the same stream takes 2 + 2 + 2 + 2 + T + d = 10
    assert _fwd(mp.Array(1, 1, U=1, L=2, conv_depth=1, latency=1), layer, M16).cycles == 10


def test_depthwise_limit_and_reason():
    """A depthwise conv is `channels` GEMMs with M = 1: with broadcast words one side of the
    array holds one useful output, so utilization <= 1 / min(R * n) over the sides. 8 channels,
    4 x 4 outputs, 2x2 PEs, 16-bit, U = 4, latency 4: 8 channels x 8 column tiles of one 9-beat
    group: 64 x 9 + T (1) + 4 = 581 cycles for 8 x 16 x 9 MACs at 4 per cycle."""
    dw = mp.Conv("dw", 8, 8, 4, 4, 3, 1, 1, groups=8)
    assert dw.kind == "depthwise conv" and dw.macs == 8 * 16 * 9
    m = _fwd(mp.Array(2, 2, U=4, L=54), dw, M16)
    assert m.cycles == 581
    assert m.utilization == pytest.approx(1152 / (4 * 581))
    assert "M = 1" in m.reason and "8 independent GEMMs" in m.reason
    arr = mp.Array(8, 8, U=24)
    for md in (M16, M8, M4):
        for ps, mm in mp.map_layer(arr, mp.Conv("dw", 96, 96, 28, 28, 3, 1, 1, groups=96,
                                                batch=2), md).items():
            assert mm.reason, (md, ps)
            if ps != "dI":      # dI may take col2im: M = 9 rows, but K = 1-beat groups
                assert mm.utilization <= 1 / 8 + 1e-9, (md, ps)
                assert "independent GEMMs" in mm.reason, (md, ps, mm.reason)
            else:
                assert "conversion-bound" in mm.reason or "independent" in mm.reason


def test_useful_macs_equal_layer_macs_and_hier_never_worse():
    arr = mp.Array(4, 4, U=8)
    layers = [mp.Conv("s2", 16, 32, 15, 15, 3, 2, 1, batch=2), mp.Conv("g", 16, 32, 8, 8, 5, 1, 2,
                                                                        groups=4),
              mp.Conv("pw", 24, 40, 7, 7, 1), mp.Conv("pw2", 24, 40, 7, 7, 1, 2),
              mp.Conv("dw", 32, 32, 9, 9, 3, 2, 0, groups=32), mp.FC("fc", 37, 70, 5),
              mp.Attention("qk", "qk", 20, 24, 16, 2, 3), mp.Attention("pv", "pv", 20, 24, 16)]
    for name in nets.NETWORKS:
        layers += nets.network(name, small=True)
    for layer in layers:
        for ps in mp.PASSES:
            for g in layer.gemms(ps):
                assert g.macs == layer.macs, (layer.name, ps, g.form)
        for md in (M16, M4, mp.Modes(8, 4, 16), mp.Modes(4, 4, 4, local=8)):
            hier = mp.map_layer(arr, layer, md)
            fixed = mp.map_layer(arr, layer, md, fixed=True)
            assert set(hier) == set(fixed) == ({"fwd", "dW"} if layer.first else set(mp.PASSES))
            for ps in hier:
                assert hier[ps].macs == layer.macs
                assert hier[ps].cycles <= fixed[ps].cycles, (layer.name, ps, md)
                assert 0 < hier[ps].utilization <= 1


def test_precision_per_operand():
    """LG8: both operands of the dI GEMMs at 8 bits, the others at the triple's widths."""
    md = mp.Modes(4, 4, 4, local=8)
    conv = mp.Conv("c", 16, 16, 8, 8)
    arr = mp.Array(2, 2)
    got = {ps: m.peak for ps, m in mp.map_layer(arr, conv, md).items()}
    assert got == {"fwd": 4 * 16, "dI": 4 * 4, "dW": 4 * 16}
    # a single-mode 16-bit array runs 4-bit data in its 16-bit mode, at 1 MAC per PE
    a16 = mp.Array(2, 2, modes=(16,))
    assert {m.peak for m in mp.map_layer(a16, conv, M4).values()} == {4}


@pytest.mark.parametrize("make, needle", [
    (lambda: mp.Array(0, 8), "R must be an integer in 1..4096, not 0"),
    (lambda: mp.Array(8, 0), "C must be an integer in 1..4096, not 0"),
    (lambda: mp.Array(8, 8, U=0), "U must be"),
    (lambda: mp.Array(8, 8, modes=(16, 5)), "modes must be distinct widths from 16, 8, 4"),
    (lambda: mp.Array(8, 8, modes=(8,), lane_bits=12), "dividing lane_bits=12"),
    (lambda: mp.Array(8, 8, L=65), "L must be an integer in 1..64 (at most max_beats=64)"),
    (lambda: mp.Modes(16, 5, 8), "weight must be one of 16, 8, 4, not 5"),
    (lambda: mp.Modes(16, 8, 8, local=2), "local must be one of 16, 8, 4, not 2"),
    (lambda: mp.Conv("c", 6, 8, 4, 4, groups=4), "groups must divide"),
])
def test_bad_parameters(make, needle):
    with pytest.raises(ValueError) as e:
        make()
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_published_totals():
    """He et al. 2016 Table 1: ResNet-18 1.8 G multiply-adds per 224 x 224 image, 11.7 M
    parameters; Sandler et al. 2018 Table 4: MobileNetV2 300 M multiply-adds, 3.4 M parameters;
    Vaswani et al. 2017 Table 3: Transformer base 65 M parameters (weights of the GEMMs here:
    biases, normalization excluded)."""
    def tot(layers):
        return sum(ly.macs for ly in layers), sum(ly.params for ly in layers)

    macs, params = tot(nets.resnet18(True, batch=1))
    assert macs == pytest.approx(1.8e9, rel=0.02) and params == pytest.approx(11.7e6, rel=0.02)
    macs, params = tot(nets.mobilenet_v2(batch=1))
    assert macs == pytest.approx(300e6, rel=0.03) and params == pytest.approx(3.4e6, rel=0.04)
    _, params = tot(nets.transformer())
    assert params == pytest.approx(65e6, rel=0.05)
    macs, _ = tot(nets.resnet18(False, batch=1))
    assert macs == pytest.approx(0.556e9, rel=0.01)
    assert sum(1 for ly in nets.mobilenet_v2(1) if ly.kind == "depthwise conv") == 17


def test_study_quick_run(tmp_path, capsys):
    page = docs.REPO / flexblock.PAGE
    before = page.read_bytes(), page.stat().st_mtime_ns
    assert flexblock.main(["--quick", "--out", str(tmp_path)]) == 0
    assert (page.read_bytes(), page.stat().st_mtime_ns) == before
    res = json.loads((tmp_path / "study_flexblock.json").read_text())
    assert (tmp_path / "study_flexblock.png").read_bytes()[:4] == b"\x89PNG"
    assert set(res["steps"]) == set(nets.NETWORKS)
    for s in res["steps"].values():
        assert s["modes"]["16/16/16"]["vs16"] == pytest.approx(1.0)
        assert all(v["vs_fixed"] >= 1.0 for v in s["modes"].values())
    assert "not written: not the default parameters" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["--rows", "0"], "--rows: R must be an integer in 1..64, not 0"),
    (["--group", "70"], "--group: L must be an integer in 1..64"),
    (["--units", "3"], "--units: units must divide R=8 (one of 1, 2, 4, 8), not 3"),
])
def test_study_bad_options(args, needle, capsys):
    with pytest.raises(SystemExit) as e:
        flexblock.main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
