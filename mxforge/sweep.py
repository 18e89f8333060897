"""Design-space sweeps: many independent jobs (a synthesis, a simulation) run in parallel, with a
progress bar, in a local process pool or on a Dask cluster.

``run(function, jobs)`` calls ``function(job)`` for every job and yields ``(job, result)`` as
each one finishes (not in order), showing a ``tqdm`` bar with the elapsed time and an estimate
of what remains (on a terminal; elsewhere one line per finished job, ``tqdm``'s fallback being
unreadable in logs). A job that raises yields ``(job, exception)``: one failure does not stop
the others.

Executors:

- ``"local"`` (default): ``concurrent.futures.ProcessPoolExecutor`` with ``workers`` processes
  (default: the CPU count), or in this process when ``workers`` is 1.
- ``"dask"``: Dask distributed (the optional extra ``mxforge[dist]``): ``scheduler`` is the
  address of a running scheduler (``tcp://host:8786``); without one a ``LocalCluster`` of
  ``workers`` processes is started for the sweep. Jobs and results travel by pickling, so
  ``function`` must be importable on the workers (a module-level function of this project).

The results are what ``function`` returns; where it writes a cache (``synth.flow`` does), the
caller stores a result that came from another machine in its own cache (:func:`synth.flow.store`)
so that a sweep run anywhere lands in the same cache and reports.
"""
from __future__ import annotations

import os
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

__all__ = ["EXECUTORS", "run"]

EXECUTORS = ("local", "dask")


def _call(function, job):
    try:
        return function(job)
    except Exception as e:  # noqa: BLE001 - reported per job by the caller
        return e


def _call_pickled(blob):
    return _call(*pickle.loads(blob))


def _pickled(function, job):
    """``(function, job)`` pickled here, so that a job a worker cannot receive fails now with
    its reason (a process pool hangs on it otherwise); the error, or the bytes."""
    try:
        return pickle.dumps((function, job))
    except Exception as e:  # noqa: BLE001 - reported per job by the caller
        return TypeError(f"cannot send the job to a worker process ({e}); its function and "
                         f"arguments must be module-level and picklable")


def _progress(total, desc, quiet):
    """A tqdm bar on a terminal, one line per finished job elsewhere (e.g. a CI log)."""
    from tqdm import tqdm
    interactive = sys.stderr.isatty() and not quiet
    bar = tqdm(total=total, desc=desc, unit="job", disable=not interactive, file=sys.stderr,
               dynamic_ncols=True)
    start = time.monotonic()
    finished = [0]

    def done(job, label, failed):
        bar.update(1)
        finished[0] += 1
        if not interactive and not quiet:
            n = finished[0]
            elapsed = time.monotonic() - start
            eta = elapsed / n * (total - n)
            state = "FAILED" if failed else "done"
            print(f"[{n}/{total}] {label} {state} ({elapsed:.0f} s elapsed, ~{eta:.0f} s left)",
                  file=sys.stderr, flush=True)
        elif failed and interactive:
            bar.write(f"{label} FAILED")
    return bar, done


def run(function, jobs, *, executor="local", workers=None, scheduler=None, desc="",
        label=str, quiet=False):
    """Yield ``(job, result or exception)`` for every job as it finishes.

    Parameters
    ----------
    function : callable
        ``function(job)``; picklable (module level) for every executor but a single local
        worker.
    jobs : list
    executor : {"local", "dask"}
    workers : int, optional
        Processes (default: the CPU count).
    scheduler : str, optional
        Dask scheduler address (``executor="dask"``); default: a local cluster.
    desc : str
        The progress bar's title.
    label : callable
        ``label(job)`` names a job in the per-job lines.
    quiet : bool
        No progress output.

    Raises
    ------
    ValueError
        An unknown executor, or Dask asked for but not installed (the message says how to
        install it).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    jobs = list(jobs)
    workers = workers or os.cpu_count() or 1
    bar, done = _progress(len(jobs), desc, quiet)
    try:
        if executor == "dask":
            yield from _dask(function, jobs, workers, scheduler, done, label)
        elif workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                result = _call(function, job)
                done(job, label(job), isinstance(result, Exception))
                yield job, result
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
                futures = {}
                for job in jobs:
                    blob = _pickled(function, job)
                    if isinstance(blob, Exception):
                        done(job, label(job), True)
                        yield job, blob
                    else:
                        futures[pool.submit(_call_pickled, blob)] = job
                yield from _finished(futures, as_completed, done, label)
    finally:
        bar.close()


def _finished(futures, completed, done, label):
    """``(job, result)`` of ``futures`` ({future: job}) in the order ``completed`` (the
    executor's as_completed) yields them, each reported to ``done``."""
    for future in completed(futures):
        job, result = futures[future], future.result()
        done(job, label(job), isinstance(result, Exception))
        yield job, result


def _dask(function, jobs, workers, scheduler, done, label):
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError:
        raise ValueError("the dask executor needs Dask distributed: pip install "
                         "'mxforge[dist]' (or 'dask[distributed]')") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = {client.submit(_call, function, job, pure=False): job for job in jobs}
        yield from _finished(futures, dask_completed, done, label)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
