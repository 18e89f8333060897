"""mxforge works as an installed package (docs/integration.md, "Installing, and where files
go"): a wheel built from the sources git knows, installed into a new virtual environment outside
the repository, runs ``mxforge --version``, ``list``, ``verilog``, ``sim --backend icarus``
and ``synth`` from an unrelated directory, imports its code from that environment, and writes
its caches to the user cache directory (or ``--build-dir``), never into site-packages.

The new environment sees the project's environment's packages (one ``.pth`` line: installing
amaranth, NumPy and the rest again took most of this test's minute and a half) and installs the
wheel itself with ``--no-deps``; a check then confirms that the dependencies the wheel
declares are met, so a dependency missing from pyproject.toml still fails here only if the
project's environment lacks it too (``make``'s own ``pip install -e '.[test]'`` reads the same
declaration). Marked slow and still part of ``make test``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from sim import tools

REPO = Path(__file__).resolve().parents[1]
CONFIG = "mx_decode_e4m3"     # the smallest block: seconds through every tool


def _tracked_tree(dst: Path) -> Path:
    """A copy of the sources git knows (tracked, and new files not ignored), so the wheel holds
    what a clean checkout would build and the build leaves nothing in the repository."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


_DEPS_MET = """
import importlib.metadata as md
from packaging.requirements import Requirement
bad = []
for text in md.requires("mxforge") or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        have = md.version(req.name)
    except md.PackageNotFoundError:
        bad.append(f"{req}: missing")
        continue
    if not req.specifier.contains(have, prereleases=True):
        bad.append(f"{req}: {have}")
print("; ".join(bad))
raise SystemExit(1 if bad else 0)
"""


def _run(cmd, cwd, env, timeout=900):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n" \
                              f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def _site_files(site: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in site.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_repository(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs the git checkout to know the tracked files")
    tools.require("icarus")
    src = _tracked_tree(tmp_path / "src")
    dist = tmp_path / "dist"
    # `python -m build` in an isolated environment, as a release would be built
    _run([sys.executable, "-m", "build", "--wheel", "-o", dist, src], cwd=tmp_path,
         env=os.environ.copy())
    wheel, = dist.glob("mxforge-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    work = tmp_path / "elsewhere"     # an unrelated working directory
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MXFORGE_BUILD", "PYTHONPATH", "VIRTUAL_ENV", "VERILATOR_ROOT")}
    # YoWASP compiles Yosys' WebAssembly once per cache directory (a minute): keep the
    # machine's compiled copy while mxforge's own caches go to the fresh user cache directory
    import platformdirs
    env.setdefault("YOWASP_CACHE_DIR", platformdirs.user_cache_dir("YoWASP", appauthor=False))
    env.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONNOUSERSITE="1")
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=work, env=env).strip())
    import sysconfig
    (site / "mxforge_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([py, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps", wheel], cwd=work,
         env=env)
    # the wheel's declared dependencies are met (pip check would also judge the new
    # environment's own old setuptools against the project environment's packages)
    _run([py, "-c", _DEPS_MET], cwd=work, env=env)
    installed = _site_files(site)

    # the code comes from the environment, not from the repository
    where = _run([py, "-c", "import mxforge, hw.lib.export, sim.harness, synth.flow;"
                  "print(mxforge.__file__); print(hw.lib.export.build_root())"],
                 cwd=work, env=env).split()
    assert Path(where[0]).is_relative_to(site), where
    assert Path(where[1]) == tmp_path / "cache" / "mxforge", where

    mx = [env_dir / "bin" / "mxforge"]
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert _run(mx + ["--version"], work, env).strip() == f"mxforge {version}"
    listing = _run(mx + ["list"], work, env)
    assert CONFIG in listing and "bfp_pe" in listing
    _run(mx + ["verilog", CONFIG, "-o", "rtl"], work, env)
    text = (work / "rtl" / f"{CONFIG}.v").read_text()
    assert f"module {CONFIG}(" in text and "endmodule" in text
    out = _run(mx + ["sim", CONFIG, "-n", "50"], work, env)
    assert "match golden on amaranth" in out
    # --build-dir puts the caches and simulator builds where the user says (Icarus: a compiled
    # cocotb backend without Verilator's per-cache-directory runtime compile)
    out = _run(mx + ["--build-dir", "bd", "sim", CONFIG, "--backend", "icarus", "-n", "200"],
               work, env)
    assert f"{CONFIG}: " in out and "match golden on icarus" in out
    assert any((work / "bd" / "sim").rglob("BUILD_OK")), "the Icarus build is not in bd/"
    out = _run(mx + ["synth", CONFIG], work, env)
    row = next(ln for ln in out.splitlines() if ln.startswith(f"| {CONFIG} |"))
    assert len(row.split("|")) > 6, out

    cache = tmp_path / "cache" / "mxforge"      # the default: the user cache directory
    assert any((cache / "synth").rglob("*")), "the synthesis run left nothing in the user cache"
    assert not (cache / "sim").exists(), "the --build-dir run used the default cache"
    # nothing written into the installed package
    after = _site_files(site)
    assert after == installed, sorted(str(p) for p in set(after) ^ set(installed))[:10]
