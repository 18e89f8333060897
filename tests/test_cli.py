"""The CLI: catalogue-driven commands, one-line errors with exit status 2, deterministic Verilog."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mxforge.catalogue import BLOCKS, all_configurations
from mxforge.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "mxforge.cli", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("args, needle", [
    (("verilog", "mx_decode", "--set", "elem=fp7"),
     "elem must be one of e5m2, e4m3, e3m2, e2m3, e2m1, mxint8, mxsf, e2m5 (or an MXSF variant mxsf_b<bias> or mxsf_e<E>m<M>_b<bias>), not 'fp7'"),
    (("verilog", "mx_decode", "--set", "stages=3"),
     "mx_decode has no parameter 'stages'; its parameters are: elem, pipeline"),
    (("verilog", "mx_decode", "--set", "pipeline=maybe"), "pipeline must be one of false, true"),
    (("verilog", "mx_decode", "--set", "elem"), "--set expects key=value"),
    (("verilog", "mx_dekode"), "unknown block or configuration 'mx_dekode'; blocks are: mx_decode"),
    (("synth", "mx_decode", "--set", "elem=fp7"), "elem must be one of"),
    (("verilog", "mx_dot", "--set", "elem_b=mxsf_b3"),
     "elem_b: sub_bias must be an integer in 5..16 for sub_ebits=3"),
    (("verilog", "mxsf_quantize", "--set", "sub_bias=17"),
     "sub_bias must be an integer in 5..16 for sub_ebits=3"),
    (("verilog", "mxsf_quantize", "--set", "sub_mbits=3"), "sub_ebits + sub_mbits must be 5"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mxforge: error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in r.stderr


def test_list_shows_every_configuration(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in all_configurations():
        assert f"- {name}" in out
    for block in BLOCKS.values():
        assert block.summary in out


def test_configuration_names_carry_distinguishing_params():
    names = set(BLOCKS["mx_decode"].configurations())
    assert {"mx_decode_e4m3", "mx_decode_mxsf", "mx_decode_e4m3_pipeline"} <= names
    assert BLOCKS["mx_decode"].config_name(elem="e2m1", pipeline=True) == "mx_decode_e2m1_pipeline"


def test_verilog_module_and_file_carry_the_configuration_name(tmp_path):
    assert main(["verilog", "mx_decode", "--set", "elem=mxsf", "-o", str(tmp_path)]) == 0
    text = (tmp_path / "mx_decode_mxsf.v").read_text()
    assert "module mx_decode_mxsf(" in text


def test_generated_verilog_is_byte_identical_and_path_free(tmp_path):
    """Some blocks' default configurations from `mxforge verilog` in other processes, with other
    working directories and hash seeds, are byte-identical to this process's conversion and
    free of absolute paths. (Every configuration is converted, and checked path-free, by the
    lint tests; `verilog --all` only loops over the same conversion.)"""
    from hw.lib.export import to_verilog

    # the decoder, the two largest generators with dict/set-heavy elaboration, the stateful PE,
    # and a batch-norm unit (submodules)
    repeat = ("mx_decode", "mx_dot", "mxsf_tile_buffer", "bfp_pe", "rangebn_bwd")
    for j, block in enumerate(repeat):
        out, cwd = tmp_path / f"run{j}", tmp_path / f"cwd{j}"
        cwd.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": str(j + 2)}
        r = run_cli("verilog", block, "-o", str(out), cwd=cwd, env=env)
        assert r.returncode == 0, r.stderr
        name = BLOCKS[block].config_name()
        text = (out / f"{name}.v").read_bytes()
        assert text == to_verilog(BLOCKS[block].build(), name).encode(), block
        assert_path_free(name, text)


def assert_path_free(name, text):
    if isinstance(text, str):
        text = text.encode()
    for marker in (b"/work/", b"/tmp/", b"/home/", b"/root/", str(REPO).encode()):
        assert marker not in text, f"{name} contains an absolute path ({marker!r})"


def test_verilog_all_writes_every_configuration_from_the_cache(tmp_path, monkeypatch):
    """`mxforge verilog --all` (make verilog) writes one file per configuration, each the text
    the generator gives (through the generator-keyed cache); shown on two small configurations
    in one process."""
    from hw.lib.export import to_verilog
    from mxforge import cli

    few = {n: all_configurations()[n] for n in ("mx_decode_e2m1", "mx_decode_e4m3_pipeline")}
    monkeypatch.setattr(cli, "all_configurations", lambda: few)
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 1)
    assert main(["verilog", "--all", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}{suffix}" for n in few for suffix in (".v", ".json", "_wrap.sv"))
    for name, (block, params) in few.items():
        assert (tmp_path / f"{name}.v").read_text() == to_verilog(block.build(**params), name)
