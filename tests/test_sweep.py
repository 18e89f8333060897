"""Design-space sweeps: the runner (local pool, Dask), progress lines, --grid, results landing in
the one cache and report whichever executor ran them."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mxforge.sweep import run
from sim.tools import unavailable
from synth.flow import liberty_path

REPO = Path(__file__).resolve().parents[1]


def results(pairs):
    return {job: (type(r).__name__ if isinstance(r, Exception) else r) for job, r in pairs}


@pytest.mark.parametrize("workers", [1, 2])
def test_local_pool_yields_every_job_and_isolates_failures(workers):
    # factorial(-1) raises: the job yields its exception, the others finish
    got = results(run(math.factorial, [3, 4, -1, 5], workers=workers, quiet=True))
    assert got == {3: 6, 4: 24, -1: "ValueError", 5: 120}


def test_a_job_a_worker_cannot_receive_fails_alone_without_a_hang():
    # a lambda does not pickle: that job fails with the reason, the others run
    pairs = list(run(len, [(1, 2), (lambda: 0,), (3,)], workers=2, quiet=True))
    outcome = {"lambda" if callable(job[0]) else job[0]: r for job, r in pairs}
    assert outcome[1] == 2 and outcome[3] == 1
    assert isinstance(outcome["lambda"], TypeError)
    assert "cannot send the job to a worker process" in str(outcome["lambda"])


def test_progress_lines_without_a_terminal(capsys):
    list(run(math.factorial, [3, 4], workers=1, desc="t", label=lambda j: f"job{j}"))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[1/2] job3 done (") and "s elapsed, ~" in lines[0]
    assert lines[1].startswith("[2/2] job4 done (") and lines[1].endswith("~0 s left)")


def test_unknown_executor_is_refused():
    with pytest.raises(ValueError, match="executor must be one of local, dask, not 'ray'"):
        list(run(math.factorial, [1], executor="ray"))


def test_dask_local_cluster_started_by_the_runner():
    pytest.importorskip("dask.distributed")
    got = results(run(math.factorial, [3, 4, -1], executor="dask", workers=2, quiet=True))
    assert got == {3: 6, 4: 24, -1: "ValueError"}


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "mxforge.cli", *args], cwd=REPO,
                          capture_output=True, text=True, env=env)


def test_grid_on_a_cluster_started_by_the_test_lands_in_the_local_cache(tmp_path, monkeypatch):
    """`mxforge synth NAME --grid ...` on a Dask cluster (started here, its workers with their
    own build directory, as another machine would be): every grid point is synthesized, the
    report holds them all, and the results are stored in this side's cache, so the same command
    run locally afterwards finds every one of them cached."""
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster
    if liberty_path() is None:
        unavailable("no Liberty: install Debian qflow-tech-osu018 or set MXFORGE_LIBERTY")
    import os
    remote, local = tmp_path / "remote", tmp_path / "local"
    monkeypatch.setenv("MXFORGE_BUILD", str(remote))     # inherited by the workers
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    try:
        env = {**os.environ, "MXFORGE_BUILD": str(local)}
        r = _cli("synth", "mx_decode", "--grid", "elem=e4m3,e2m1", "--set", "pipeline=true",
                 "--executor", "dask", "--scheduler", cluster.scheduler_address, env=env)
    finally:
        cluster.close()
    assert r.returncode == 0, r.stderr
    rows = json.loads((local / "reports" / "ppa.json").read_text())["rows"]
    assert sorted(row["config"] for row in rows) == ["mx_decode_e2m1_pipeline",
                                                     "mx_decode_e4m3_pipeline"]
    assert len(list((remote / "synth" / "cache").glob("*.json"))) == 2   # computed there
    cached = sorted((local / "synth" / "cache").glob("*.json"))
    assert len(cached) == 2                                               # and stored here
    r = _cli("synth", "mx_decode", "--grid", "elem=e4m3,e2m1", "--set", "pipeline=true",
             "--workers", "1", env=env)
    assert r.returncode == 0, r.stderr
    assert sorted((local / "synth" / "cache").glob("*.json")) == cached  # nothing new


@pytest.mark.parametrize("args, needle", [
    (("synth", "mx_decode", "--grid", "elem"), "--grid expects key=value,value,..., not 'elem'"),
    (("synth", "--all", "--grid", "elem=e4m3"), "--grid needs a block or configuration NAME"),
    (("synth", "mx_decode", "--grid", "elem=e4m3,fp7"), "elem must be one of"),
])
def test_bad_grid_is_one_line_and_exit_2(args, needle):
    r = subprocess.run([sys.executable, "-m", "mxforge.cli", *args], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_every_catalogued_job_can_be_sent_to_a_worker():
    import pickle

    from mxforge.catalogue import all_configurations
    for name, (block, params) in all_configurations().items():
        pickle.dumps((block, params))


def test_grid_expands_every_combination():
    from argparse import Namespace

    from mxforge.cli import _grid_targets
    args = Namespace(name="mx_dot", set=["stages=2"], all=False,
                     grid=["elem_a=e4m3,e2m1", "k=4,8"])
    names = [t[2] for t in _grid_targets(args)]
    assert names == ["mx_dot_e4m3_e4m3_k4_stages2", "mx_dot_e4m3_e4m3_k8_stages2",
                     "mx_dot_e2m1_e4m3_k4_stages2", "mx_dot_e2m1_e4m3_k8_stages2"]
