"""Timing closure (mxforge.closure, `mxforge synth --clock-ns`): the search on a fake flow, then
the real Liberty flow on a small block and the command line."""
import pytest

from mxforge import closure
from mxforge.catalogue import BLOCKS
from mxforge.cli import main
from sim.tools import unavailable
from synth import flow

pytestmark = pytest.mark.xdist_group("synth")


@pytest.fixture(autouse=True)
def build(tmp_path, monkeypatch):
    monkeypatch.setenv("MXFORGE_BUILD", str(tmp_path))


def fake_flow(monkeypatch, delays):
    """Probes answered from ``delays`` (cut value -> ns); records the values probed."""
    seen = []

    def probe(block, params, param, value, clock_ns, cache):
        seen.append(value)
        path = {"start": "in", "end": "out", "through": [[f"unit{value}", delays[value]]]}
        return closure.Probe(value, f"x_{param}{value}", delays[value], 100.0 + value, value,
                             value, path, False)
    monkeypatch.setattr(closure, "_probe", probe)
    monkeypatch.setattr(flow, "liberty_path", lambda: "cells.lib")
    monkeypatch.setattr(flow, "sta_path", lambda: "sta")
    return seen


MX_QUANTIZE = BLOCKS["mx_quantize"]


def test_fewest_cuts_that_meet_the_clock(monkeypatch):
    values = closure.cut_parameter(MX_QUANTIZE, MX_QUANTIZE.defaults)[1]
    assert values == tuple(range(len(values))) and len(values) >= 3
    delays = {v: 20.0 - 4 * v for v in values}        # 20, 16, 12, 8, ...
    seen = fake_flow(monkeypatch, delays)
    c = closure.close(MX_QUANTIZE, MX_QUANTIZE.defaults, 13.0)
    assert c.met and c.params["stages"] == 2 and c.param == "stages"
    assert seen[0] == values[-1]                       # every cut first: can it close at all?
    assert len(seen) <= 1 + len(values).bit_length()   # then bisection, not a linear scan
    assert c.describe().endswith("meets 13 ns with stages=2 (12.00 ns, latency 2 cycles)")


def test_a_clock_no_cut_meets_reports_the_best_and_its_segment(monkeypatch):
    values = closure.cut_parameter(MX_QUANTIZE, MX_QUANTIZE.defaults)[1]
    fake_flow(monkeypatch, {v: 9.0 - v for v in values})
    c = closure.close(MX_QUANTIZE, MX_QUANTIZE.defaults, 1.0)
    assert not c.met and c.params["stages"] == values[-1]
    assert c.describe().endswith(
        f"does not meet 1 ns; best {9.0 - values[-1]:.2f} ns with stages={values[-1]}; limited "
        f"by the path from in through unit{values[-1]} {9.0 - values[-1]:.2f} ns to out")


@pytest.mark.parametrize("clock, hint, answer, probes", [
    (13.0, 2, 2, [2, 1]),           # a right hint: it and its neighbour, nothing else
    (13.0, 0, 2, None),             # below the answer: bisection above it
    (13.0, 4, 2, None),             # above the answer: bisection below it
    (20.0, 0, 0, [0]),              # the hint is no cut at all and meets
    (1.0, 1, None, None),           # nothing meets: the fastest probe, as without a hint
])
def test_a_hint_gives_the_same_answer_in_fewer_probes(monkeypatch, clock, hint, answer, probes):
    values = closure.cut_parameter(MX_QUANTIZE, MX_QUANTIZE.defaults)[1]
    delays = {v: 20.0 - 4 * v for v in values}        # 20, 16, 12, 8, 4
    seen = fake_flow(monkeypatch, delays)
    c = closure.close(MX_QUANTIZE, MX_QUANTIZE.defaults, clock, hint=hint)
    plain = closure.close(MX_QUANTIZE, MX_QUANTIZE.defaults, clock)
    assert c.params == plain.params and c.met == plain.met == (answer is not None)
    if answer is not None:
        assert c.params["stages"] == answer
    if probes is not None:
        assert seen[:len(probes)] == probes and len({p.value for p in c.probes}) == len(probes)


def test_bad_clock_is_one_line(monkeypatch):
    fake_flow(monkeypatch, {})
    for bad in (0, -1.0, True, "10"):
        with pytest.raises(closure.ParameterError, match="clock_ns must be a positive number"):
            closure.close(MX_QUANTIZE, MX_QUANTIZE.defaults, bad)


def require_liberty_and_sta():
    if flow.liberty_path() is None or flow.sta_path() is None:
        unavailable("timing closure needs Debian qflow-tech-osu018 and opensta")


def test_real_flow_on_the_decoder():
    """mx_decode's one cut (``pipeline``): at a relaxed clock none is needed; at an impossible
    one the flag is set and the limiting path is named."""
    require_liberty_and_sta()
    block = BLOCKS["mx_decode"]
    params = block.params(elem="e2m1")
    relaxed = closure.close(block, params, 100.0)
    assert relaxed.met and relaxed.params["pipeline"] is False
    assert relaxed.config == "mx_decode_e2m1"
    tight = closure.close(block, params, 0.05)
    assert not tight.met and tight.params["pipeline"] is True
    path = tight.chosen.critical_path
    assert tight.chosen.delay_ns > 0.05 and path["through"]
    assert "limited by the path from " in tight.describe()
    again = closure.close(block, params, 0.05)            # every probe is a cached synthesis
    assert all(p.cached for p in again.probes)
    assert again.chosen.delay_ns == tight.chosen.delay_ns


def test_cli(capsys):
    require_liberty_and_sta()
    assert main(["synth", "mx_decode", "--set", "elem=e2m1", "--clock-ns", "100",
                 "--workers", "1"]) == 0
    assert "mx_decode_e2m1: meets 100 ns with pipeline=False" in capsys.readouterr().out
    assert main(["synth", "mx_decode", "--set", "elem=e2m1", "--clock-ns", "0.05",
                 "--workers", "1"]) == 1
    assert "does not meet 0.05 ns" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--clock-ns", "-2"], "--clock-ns must be a positive number of nanoseconds, not -2"),
    (["--clock-ns", "5", "--docs"], "--clock-ns reports the search; it takes neither"),
])
def test_cli_bad_input_is_one_line(capsys, args, message):
    require_liberty_and_sta()
    assert main(["synth", "mx_decode", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
