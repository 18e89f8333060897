"""Every catalogued configuration passes Verilator -Wall lint (with the documented waivers) and
parses in Icarus without dead ``always @*`` blocks; and the linters do report real problems."""
import pytest

from hw.lib.export import cached_verilog
from mxforge.catalogue import all_configurations
from sim.lint import WAIVERS, LintError, lint_icarus, lint_verilator
from sim.tools import require
from tests.test_cli import assert_path_free

CONFIGS = all_configurations()


def _skip_large(config):
    """The ``large`` configurations (OPAL's 128-element baselines, megabytes of Verilog) are
    linted by `make lint`; make test lints the same generators at their other configurations
    and simulates these on Icarus."""
    block, _ = CONFIGS[config]
    if config in block.large:
        pytest.skip(f"{config}: `make lint` lints it; make test lints the same generator at its "
                    f"other configurations, and Icarus parses and simulates this one")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_verilator_lint(config, tmp_path):
    require("verilator")
    _skip_large(config)
    block, params = CONFIGS[config]
    text = cached_verilog(block, params, config)
    assert_path_free(config, text)
    lint_verilator(text, config, tmp_path)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_icarus_parse(config, tmp_path):
    require("icarus")
    _skip_large(config)
    block, params = CONFIGS[config]
    lint_icarus(cached_verilog(block, params, config), config, tmp_path)


def test_waivers_are_few_and_justified():
    rules = [line for line in WAIVERS.read_text().splitlines() if line.startswith("lint_off")]
    assert 0 < len(rules) <= 6
    text = WAIVERS.read_text().splitlines()
    for line in rules:      # every waiver has a comment right above it
        assert text[text.index(line) - 1].startswith("//"), line


def test_verilator_reports_problems(tmp_path):
    require("verilator")
    bad = "module m(input a, output y, output z);\n  assign y = a;\n  assign y = ~a;\nendmodule\n"
    with pytest.raises(LintError, match="MULTIDRIVEN|UNDRIVEN"):
        lint_verilator(bad, "m", tmp_path)


def test_icarus_dead_always_is_an_error(tmp_path):
    require("icarus")
    dead = "module m(output reg y);\n  always @* y = 1'b0;\nendmodule\n"
    with pytest.raises(LintError, match="no sensitivities"):
        lint_icarus(dead, "m", tmp_path)


def test_yosys_normalization_removes_dead_always(tmp_path):
    require("icarus")
    from sim.lint import icarus_dead_always, yosys_normalize
    dead = "module m(output reg y);\n  always @* y = 1'b0;\nendmodule\n"
    assert icarus_dead_always(dead, "m", tmp_path)
    fixed = yosys_normalize(dead, "m", tmp_path)
    assert "assign y = 1'h0;" in fixed
    assert not icarus_dead_always(fixed, "m", tmp_path)


def test_lint_all(tmp_path, monkeypatch):
    """Both linters run (no note); without Icarus, Verilator still runs and the note says why
    the Icarus parse was skipped."""
    require("verilator")
    require("icarus")
    from sim import lint
    block, params = CONFIGS["mx_decode_e4m3_pipeline"]
    text = cached_verilog(block, params, "cfg")
    assert lint.lint_all(text, "cfg", tmp_path) == []
    monkeypatch.setattr(lint, "available",
                        lambda b: (False, "not here") if b == "icarus" else (True, ""))
    assert lint.lint_all(text, "cfg", tmp_path / "again") == ["icarus parse skipped: not here"]
    with pytest.raises(LintError, match="verilator lint of cfg failed"):
        lint.lint_all(text.replace("endmodule", "wire unused_undriven;\nassign y_x = 1;\n"
                                   "endmodule", 1), "cfg", tmp_path / "bad")
