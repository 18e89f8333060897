"""The numerics studies (``studies/``): the MX-SAFE study runs on a small tensor, writes its
reports, and its numbers have properties that follow from the formats (and fail if the study or
the golden models it calls go wrong)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from studies import common, mxsf

ROWS, COLS, SEED = 64, 128, 3
ARGS = ["--rows", str(ROWS), "--cols", str(COLS), "--seed", str(SEED)]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study_mxsf")
    assert mxsf.main(ARGS + ["--out", str(out)]) == 0
    return out, json.loads((out / "study_mxsf.json").read_text())


def _table(md, heading):
    """Rows (lists of cells) of the first Markdown table after ``heading``."""
    lines = md[md.index(heading):].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split(" | ")])
    return rows[0], rows[2:]


def test_reports_name_every_format_and_distribution(study, capsys):
    out, res = study
    md = (out / "study_mxsf.md").read_text()
    png = (out / "study_mxsf.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    labels = [lab for _, lab in mxsf.study_formats(mxsf.DEFAULT_SUB_BIASES)]
    assert labels[:3] == ["MXSF b=6", "MXSF b=8", "MXSF b=10"]
    dists = [lab for lab, _ in common.DISTRIBUTIONS.values()]
    head, rows = _table(md, "## 1.")
    assert head == ["format"] + dists
    assert [r[0] for r in rows] == labels
    assert all(len(r) == len(head) and " / " in r[1] for r in rows)
    head, rows = _table(md, "## 2.")
    assert head == ["format", "scheme"] + dists
    mx_labels = [lab for lab in labels if not lab.startswith("BF16")]
    assert [(r[0], r[1]) for r in rows] == [(lab, s) for lab in mx_labels
                                            for s in mxsf.SCHEMES.values()]
    assert res["params"]["rows"] == ROWS and res["params"]["cols"] == COLS


def test_format_properties(study):
    _, res = study
    q = res["quant"]
    for d in common.DISTRIBUTIONS:
        # E2M5 has three more significand bits than E4M3 where the bulk of the values lies
        assert q["e2m5"][d]["sqnr_db"] > q["e4m3"][d]["sqnr_db"] + 6
        # sub_bias 6's values below 1.0 are a subset of sub_bias 8's, so with the same block
        # scale every element's error under b=8 is at most that under b=6
        assert q["mxsf"][d]["sqnr_db"] >= q["mxsf_b6"][d]["sqnr_db"]
        assert q["mxsf"][d]["max_rel_err"] <= q["mxsf_b6"][d]["max_rel_err"]
        assert q["mxsf"][d]["flushed"] <= q["mxsf_b6"][d]["flushed"]
    # sub_bias changes the MXSF rows: b=10's gap between 7/32 and 1.0 costs on Gaussian data
    g = "gaussian"
    assert q["mxsf_b6"][g]["sqnr_db"] != q["mxsf_b10"][g]["sqnr_db"]
    assert q["mxsf_b10"][g]["sqnr_db"] < q["mxsf"][g]["sqnr_db"] - 6
    # gradient-like blocks: MXSF's FP5 sub mode keeps the small values that E2M5 and MXINT8
    # flush (they lie below E2M5's smallest subnormal 2**-5 and MXINT8's 2**-6 step)
    m = "grad_mix"
    assert q["mxsf"][m]["flushed"] < 0.01 < 0.2 < q["e2m5"][m]["flushed"] < q["mxint8"][m]["flushed"]
    assert q["mxsf"][m]["small_sqnr_db"] > q["e2m5"][m]["small_sqnr_db"] + 6
    assert q["mxsf"][m]["sqnr_db"] > q["e2m5"][m]["sqnr_db"]


def test_bf16_matches_rounding_theory(study):
    """RNE to 8 significant bits: the error of x in binade [2**e, 2**(e+1)) is close to uniform
    on +-ulp/2 with ulp = 2**(e-7), so the predicted noise is sum(ulp**2 / 12). The prediction
    from the very tensors lies between 10 log10(12 * 2**14) = 52.9 dB (every x at the bottom of
    its binade; 6.02 * 8 + 4.77) and 58.9 dB (at the top); truncation would be ~6 dB lower.
    The measurement scatters around the prediction by the few elements that carry most of the
    energy: +-0.1 dB for Gaussian data here, up to +-0.8 dB for the heavy-tailed ones."""
    _, res = study
    tolerance = {"gaussian": 0.3, "laplace": 0.5}
    for d in common.DISTRIBUTIONS:
        x = common.make_tensor(d, (ROWS, COLS), SEED).astype(np.float64)
        ulp = np.ldexp(1.0, np.frexp(x)[1] - 8)
        predicted = 10 * math.log10(np.sum(x * x) / np.sum(ulp * ulp / 12))
        got = res["quant"]["bf16"][d]["sqnr_db"]
        assert 10 * math.log10(12 * 2**14) < predicted < 10 * math.log10(48 * 2**14)
        assert abs(got - predicted) < tolerance.get(d, 1.5), (d, got, predicted)
        assert res["quant"]["bf16"][d]["flushed"] == 0


def test_transposed_use(study):
    _, res = study
    for f, per in res["transposed"].items():
        for d, s in per.items():
            # reused tiles: forward and backward are the same values, and the same SQNR
            assert s["tiles"]["inconsistency"] == 0
            assert s["tiles"]["fwd_sqnr_db"] == pytest.approx(s["tiles"]["bwd_sqnr_db"], abs=1e-9)
            # the 1-D forward copy is item 1's quantization of the same tensor
            assert s["requant"]["fwd_sqnr_db"] == res["quant"][f][d]["sqnr_db"]
            # blocks along columns are not blocks along rows: values change
            assert s["fp32"]["inconsistency"] > 0
            # quantizing twice (a) is never clearly better than once from FP32 (b)
            assert s["requant"]["bwd_sqnr_db"] <= s["fp32"]["bwd_sqnr_db"] + 0.5
            if f != "e4m3":   # E4M3's 4-bit significands mostly survive a new scale
                assert s["requant"]["inconsistency"] > 0.01
        assert any(s["requant"]["inconsistency"] > 0 for s in per.values())


def test_reproducible_and_options(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    small = ["--rows", "32", "--cols", "64", "--sub-bias", "10", "7"]
    assert mxsf.main(small + ["--out", str(a)]) == 0
    assert mxsf.main(small + ["--out", str(b)]) == 0
    md = (a / "study_mxsf.md").read_text()
    assert md == (b / "study_mxsf.md").read_text()
    assert "MXSF b=10" in md and "MXSF b=7" in md and "MXSF b=8" not in md
    assert md in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["--rows", "33"], "--rows must be a positive multiple of 32, not 33"),
    (["--cols", "0"], "--cols must be a positive multiple of 32, not 0"),
    (["--sub-bias", "20"], "--sub-bias: sub_bias must be an integer in 5..16"),
    (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
])
def test_bad_options_are_one_line(args, needle, capsys):
    with pytest.raises(SystemExit) as e:
        mxsf.main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m studies.mxsf: error: ")
    assert needle in err[0]
