"""The README's Python example runs as written (README.md, "From Python"): it is extracted from
the README itself, executed in a fresh directory, and its effects are checked."""
from __future__ import annotations

import re
import runpy
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## From Python"):]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "README.md: no ```python block under 'From Python'"
    return blocks[0]


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    script = tmp_path / "example.py"
    script.write_text(_example())
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    # step 1 printed the summary of a quantized tensor; step 3 the match count
    assert "sqnr_db" in out and re.search(r"^\d+ vectors match; cycles: \d+$", out, re.M), out
    written = list(tmp_path.glob("*.v"))
    assert len(written) == 1
    name = written[0].stem
    assert re.search(rf"^module {name}\(", written[0].read_text(), re.M)
