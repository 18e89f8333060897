"""The ZeBRA study (studies/zebra.py): a quick run writes its reports and leaves docs/zebra.md
alone; bad options are one line, exit 2; the committed docs sections are the study's
(tests/test_studies.py checks their stamps)."""
import json

import pytest
import torch

from studies import docs, zebra


pytestmark = pytest.mark.xdist_group("torch-victim")


def test_quick_run(tmp_path, capsys):
    torch.set_num_threads(1)
    page = docs.REPO / zebra.PAGE
    before = page.read_bytes()
    assert zebra.main(["--quick", "--seeds", "1", "--max-flips", "3", "--out",
                       str(tmp_path)]) == 0
    assert page.read_bytes() == before
    res = json.loads((tmp_path / "study_zebra.json").read_text())
    assert (tmp_path / "study_zebra.png").read_bytes()[:4] == b"\x89PNG"
    assert set(res["cells"]) == {"bn", "plain"}
    for kind, per in res["cells"].items():
        for fmt, cells in per.items():
            (c,) = cells
            assert c["random"] is None or c["random"] >= 1
            assert ("zebra" in c) == (kind == "bn")
    assert "not written: not the default parameters" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [(["--seeds", "0"], "--seeds: must be an integer"),
                                          (["--max-flips", "0"], "--max-flips: must be")])
def test_bad_options(args, needle, capsys):
    with pytest.raises(SystemExit) as e:
        zebra.main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
