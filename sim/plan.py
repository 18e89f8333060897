"""The verification plan: which configuration runs on which backend with which vectors, derived
from the catalogue entries (:class:`hw.lib.block.Block`) alone. ``make test`` runs exactly this
plan (``tests/sim/test_harness.py`` is parametrized by :func:`runs`), the coverage test checks
its guarantees, and ``docs/verification.md``'s table is generated from it (docs/verification.md
"How much is simulated").

The rules (docs/verification.md):

- Every configuration runs on Amaranth's simulator and on at least one compiled simulator
  (``Block.backend_configs`` picks them for blocks of many variants of one datapath); every
  block's default configuration runs on both Verilator and Icarus.
- Input spaces of at most 2**20 vectors run exhaustively, everywhere.
- Otherwise ``Block.random_vectors`` seeded random vectors and then every corner vector of the
  block's stimulus. Verilator runs them all; the interpreted simulators (Amaranth, Icarus) run an
  evenly spaced ``Block.interp_vectors`` of the random ones (whole records for blocks whose
  stream is made of multi-beat records) and every corner, except the ``Block.amaranth_full``
  configurations on Amaranth. ``Block.large`` configurations (OPAL's 128-element baselines) run
  the number of random vectors given there on every backend, and every corner except on
  Amaranth, which runs an evenly spaced as many corners as random vectors.
- ``make sweep`` (``full=True``): every configuration on every backend, nothing capped.

Random valid/ready stalls are part of every run (the harness's ``stalls=True``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tools import BACKENDS, COMPILED

__all__ = ["EXHAUSTIVE_LIMIT", "MIN_RANDOM", "MIN_RANDOM_LARGE", "Run", "runs", "vectors",
           "backends", "coverage_problems", "execute"]

#: input spaces up to this size are tested exhaustively
EXHAUSTIVE_LIMIT = 1 << 20
#: random vectors (beats, for streams of records) every configuration gets on a compiled
#: simulator at least, besides its corners
MIN_RANDOM = 200
#: the same for a ``Block.large`` configuration
MIN_RANDOM_LARGE = 50
#: the interpreted backends, whose random vectors ``Block.interp_vectors`` caps
INTERPRETED = ("amaranth", "icarus")


@dataclass(frozen=True)
class Run:
    """One planned simulation: a configuration on a backend.

    Attributes
    ----------
    config, backend : str
    exhaustive : bool
        The whole input space.
    random : int
        Random vectors (beats) run; 0 when exhaustive.
    random_drawn : int
        Random vectors the stimulus draws (``random`` is an evenly spaced subset of them).
    corners : int
        Corner vectors (beats) run (the exhaustive count when exhaustive).
    corners_drawn : int
        Corner vectors of the stimulus (``corners`` is all of them unless whole records were
        subsampled on an interpreted simulator).
    """

    config: str
    backend: str
    exhaustive: bool
    random: int
    random_drawn: int
    corners: int
    corners_drawn: int

    @property
    def total(self) -> int:
        return self.random + self.corners


def backends(block, config, full=False) -> tuple:
    """The backends that run ``config`` of ``block`` (``full``: all of them)."""
    if full:
        return BACKENDS
    default = block.config_name()
    out = ["amaranth"]
    for b in COMPILED:
        subset = block.backend_configs.get(b)
        if config == default or subset is None or config in subset:
            out.append(b)
    return tuple(out)


def _random_count(block, config):
    return block.large.get(config, block.random_vectors)


def _capped(block, config, backend, full):
    if full or backend not in INTERPRETED or not block.interp_vectors:
        return False
    if config in block.large:
        return False
    return not (backend == "amaranth" and config in block.amaranth_full)


def _large_on_amaranth(block, config, backend, full):
    """A ``large`` configuration on Amaranth: its compiled run covers every corner; here an
    evenly spaced as many corners as random vectors keep the slowest simulator short."""
    return not full and backend == "amaranth" and config in block.large


_STIMULI: dict = {}


def _stimulus(block, params, config, n):
    """The configuration's stimulus (seed 1), generated once per process."""
    key = (block.name, config, n, block.stimulus)
    if key not in _STIMULI:
        if n is None:
            _STIMULI[key] = block.vectors(seed=1, exhaustive=True, params=params)
        else:
            _STIMULI[key] = block.vectors(seed=1, n=n, params=params)
    return _STIMULI[key]


def vectors(block, params, backend, full=False):
    """The stimulus of a planned run and its :class:`Run` record.

    Returns
    -------
    (dict, Run)
        Input fields (random vectors first, then the corners), and what they are.
    """
    config = block.config_name(**params)
    size = block.exhaustive_size(**params)
    if size is not None and size <= EXHAUSTIVE_LIMIT:
        v = _stimulus(block, params, config, None)
        n = len(next(iter(v.values())))
        return v, Run(config, backend, True, 0, 0, n, n)
    n = _random_count(block, config)
    v = _stimulus(block, params, config, n)
    count = len(next(iter(v.values())))
    if block.record_beats is not None:
        # a record stream draws whole records: the random part is n rounded up to records
        rb = block.record_beats(**params)
        n = -(-n // rb) * rb
        if (count - n) % rb:
            raise ValueError(f"{config}: the stimulus is not made of whole records of {rb} "
                             f"beats after its {n} random beats")
    corners = count - n
    keep = np.arange(count)
    if _capped(block, config, backend, full):
        cap = block.interp_vectors
        if block.record_beats is not None:
            records, want = count // rb, max(1, cap // rb)
            if want < records:
                pick = np.unique(np.linspace(0, records - 1, want).round().astype(np.int64))
                keep = (pick[:, None] * rb + np.arange(rb)).reshape(-1)
        elif n > cap:
            keep = np.concatenate([np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64)),
                                   np.arange(n, count)])
    if _large_on_amaranth(block, config, backend, full) and corners > n:
        keep = np.concatenate([np.arange(n), n + np.unique(
            np.linspace(0, corners - 1, n).round().astype(np.int64))])
    if len(keep) < count:
        v = {k: _take(x, keep) for k, x in v.items()}
    random = int(np.count_nonzero(keep < n))
    return v, Run(config, backend, False, random, n, int(np.count_nonzero(keep >= n)), corners)


def _take(x, idx):
    if isinstance(x, dict):
        return {k: _take(v, idx) for k, v in x.items()}
    return np.asarray(x)[idx]


def runs(blocks, full=False):
    """Every planned (configuration, backend) pair of ``blocks`` (an iterable of Block), as
    ``(block, params, config, backend)`` tuples in catalogue order."""
    out = []
    for block in blocks:
        for config, params in block.configurations().items():
            for backend in backends(block, config, full):
                out.append((block, params, config, backend))
    return out


def coverage_problems(blocks):
    """What the plan fails to guarantee, one sentence each (empty: the guarantees hold): every
    configuration on Amaranth; on at least one compiled simulator exhaustively, or with at least
    ``MIN_RANDOM`` random vectors (``MIN_RANDOM_LARGE`` for a ``Block.large`` one) and every
    corner vector; every block's default on both compiled simulators."""
    problems = []
    for block in blocks:
        default = block.config_name()
        unknown = set(block.large) - set(block.configurations())
        if unknown:
            problems.append(f"{block.name}.large names no configuration: {sorted(unknown)}")
        for b, subset in block.backend_configs.items():
            if b not in COMPILED or not set(subset) <= set(block.configurations()):
                problems.append(f"{block.name}.backend_configs[{b!r}] names an unknown "
                                f"backend or configuration")
        for config, params in block.configurations().items():
            bks = backends(block, config)
            if "amaranth" not in bks:
                problems.append(f"{config} does not run on amaranth")
            if config == default and not set(COMPILED) <= set(bks):
                problems.append(f"{config} is {block.name}'s default but does not run on "
                                f"{' and '.join(COMPILED)}")
            need = MIN_RANDOM_LARGE if config in block.large else MIN_RANDOM
            compiled = [vectors(block, params, b)[1] for b in bks if b in COMPILED]
            if not any(r.exhaustive or (r.random >= need and r.corners == r.corners_drawn)
                       for r in compiled):
                problems.append(f"{config} has no compiled-simulator run that is exhaustive or "
                                f"has at least {need} random vectors and every corner")
    return problems


def execute(job):
    """One planned run against the golden model (module level: a sweep worker runs it).
    ``job`` = (block, params, config, backend, full). Returns the harness statistics and the
    :class:`Run`; raises on a mismatch or a simulation failure."""
    from .harness import check
    block, params, config, backend, full = job
    v, run = vectors(block, params, backend, full)
    result = check(block, params, v, backend=backend, stalls=True, seed=1)
    if result.stats["vectors"] != run.total:
        raise AssertionError(f"{config} on {backend}: {result.stats['vectors']} vectors run, "
                             f"{run.total} planned")
    return {"run": run, "stats": result.stats}
