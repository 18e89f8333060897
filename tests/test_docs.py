"""The generated documentation (mxforge.docs): every generated section of README.md and docs/ is
what the code writes today, and the mechanism notices when one is not."""
import shutil

import pytest
from amaranth.lib import data

from mxforge import docs
from mxforge.catalogue import BLOCKS
from mxforge.cli import main


def test_committed_sections_are_current():
    """Run `mxforge docs` after changing the catalogue, a generator's ports or the plan."""
    assert docs.update(check=True) == []


def test_check_notices_a_stale_section(tmp_path, capsys):
    for rel in docs.FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(docs.REPO / rel, tmp_path / rel)
    path = tmp_path / "docs" / "blocks.md"
    text = path.read_text()
    path.write_text(text.replace("| `stages` |", "| `stagez` |", 1))
    assert docs.update(check=True, root=tmp_path) == ["docs/blocks.md: blocks"]
    assert path.read_text() != text            # --check changed nothing
    assert docs.update(root=tmp_path) == ["docs/blocks.md: blocks"]
    assert path.read_text() == text            # the rewrite restored it
    path.write_text(text + "<!-- generated: nope -->\nx\n<!-- end: nope -->\n")
    with pytest.raises(ValueError, match="sections no command writes: nope"):
        docs.update(check=True, root=tmp_path)


def test_cli_docs_check_exit_status(monkeypatch, capsys):
    monkeypatch.setattr(docs, "update", lambda check=False: ["README.md: catalogue"])
    assert main(["docs", "--check"]) == 1
    assert "out of date (run `mxforge docs`): README.md: catalogue" in capsys.readouterr().err
    monkeypatch.setattr(docs, "update", lambda check=False: [])
    assert main(["docs", "--check"]) == 0


def _names(layout):
    return {name for name, _ in layout}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_every_payload_field_is_documented(name):
    """docs/blocks.md explains every field of every configuration's payloads, and documents no
    field that does not exist."""
    block = BLOCKS[name]
    seen = set()
    for params in block.configurations().values():
        dut = block.build(**params)
        for side, layout in (("in", dut.in_layout), ("out", dut.out_layout)):
            assert isinstance(layout, data.StructLayout)
            for field in _names(layout):
                key = f"{side}.{field}" if f"{side}.{field}" in block.fields else field
                assert block.fields.get(key), f"{name}: payload field {side}.{field} undocumented"
                seen.add(key)
    extra = {"bfp_quantize": {"rand"}, "rangebn_fwd": {"exp", "signs", "mags"}}.get(name, set())
    assert set(block.fields) <= seen | extra, set(block.fields) - seen
    assert block.description and block.latency_note and block.family in docs.FAMILIES


def test_catalogue_table_lists_every_block(capsys):
    assert main(["list", "--markdown"]) == 0
    out = capsys.readouterr().out
    for name in BLOCKS:
        assert f"[`{name}`](docs/blocks.md#{name})" in out
