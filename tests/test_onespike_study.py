"""The One-Spike study (studies/onespike.py): a quick run writes its reports and leaves
docs/onespike.md alone, with at most one spike per neuron for single-spike coding; bad options
are one line, exit 2; the committed docs sections are the study's (tests/test_studies.py checks
their stamps)."""
import json

import pytest
import torch

from studies import docs, onespike

pytestmark = pytest.mark.xdist_group("torch-victim")


def test_quick_run(tmp_path, capsys):
    torch.set_num_threads(1)
    page = docs.REPO / onespike.PAGE
    before = page.read_bytes()
    assert onespike.main(["--quick", "--seeds", "1", "--T", "6", "--out", str(tmp_path)]) == 0
    assert page.read_bytes() == before
    res = json.loads((tmp_path / "study_onespike.json").read_text())
    assert (tmp_path / "study_onespike.png").read_bytes()[:4] == b"\x89PNG"
    assert set(res["victims"]) == {"bn", "plain"}
    for per in res["victims"].values():
        for m in ("plain", "shift", "base", "both"):
            assert 0 < per["spikes"]["6"][m][0] <= 1
            assert 0.1 < per["acc"]["6"][m][0] <= 1
    assert "not written: not the default parameters" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [(["--seeds", "0"], "--seeds: must be an integer"),
                                          (["--T", "0"], "--T: must be an integer")])
def test_bad_options(args, needle, capsys):
    with pytest.raises(SystemExit) as e:
        onespike.main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
