# amaranth: UnusedElaboratable=no
"""The block contract: the stream ports every block has (:class:`StreamBlock`), the parameter
checks (from ``golden.checks``), and the catalogue entry that describes a block to the layers
above (:class:`Block`: its generator, golden model, stimulus, parameters, configurations and
verification plan). ``sim`` and ``synth`` take ``Block`` values as arguments; the catalogue of
every block lives in ``mxforge``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.checks import check_bool, check_choice, check_int

__all__ = ["StreamBlock", "Block", "ParameterError", "check_choice", "check_int", "check_bool"]


class StreamBlock(wiring.Component):
    """The block contract's ports: ``i`` (stream of ``in_layout``), ``o`` (stream of
    ``out_layout``). Subclasses validate their parameters, then call ``super().__init__`` with the
    two payload layouts, and expose ``latency``."""

    def __init__(self, in_layout, out_layout):
        self.in_layout, self.out_layout = in_layout, out_layout
        super().__init__({
            "i": In(stream.Signature(in_layout)),
            "o": Out(stream.Signature(out_layout)),
        })

    @property
    def cut_points(self) -> tuple:
        """The block's cut points in the order ``stages`` fills them (``hw.lib.pipeline.Cuts``;
        empty for a block without register cuts)."""
        cuts = getattr(self, "_cuts", None)
        return cuts.points if cuts is not None else ()

    @property
    def cuts(self) -> tuple:
        """The cut points that hold a register (the first ``stages`` of :attr:`cut_points`)."""
        cuts = getattr(self, "_cuts", None)
        return cuts.chosen if cuts is not None else ()


class ParameterError(ValueError):
    """A user-facing parameter error: one sentence naming the parameter and what is allowed."""


@dataclass(frozen=True)
class Block:
    """One catalogued block.

    Attributes
    ----------
    name : str
        Block name; also the prefix of every configuration name.
    generator : callable
        ``generator(**params)`` returns the Amaranth ``wiring.Component`` (validates its
        parameters, raising ``ValueError``/``TypeError`` naming the parameter).
    golden : callable
        ``golden(inputs, **params)`` maps a dict of input payload fields (NumPy integer arrays,
        one row per vector; array fields are 2-D) to the dict of output payload fields.
    stimulus : callable
        ``stimulus(rng, n, exhaustive=False, **params)`` returns input fields: ``n`` random
        vectors followed by the block's corner vectors; with
        ``exhaustive=True`` it returns the whole input space (``n`` ignored) and must only be
        asked when ``exhaustive_size(**params)`` is not None.
    exhaustive_size : callable
        ``exhaustive_size(**params)`` -> size of the input space, or None when it is too big
        (> 2**20) to test exhaustively.
    defaults : dict
        Every parameter with its default value (the type of the default is the CLI's type).
    choices : dict
        For parameters with a closed set of values, the allowed values (CLI error messages).
    name_params : tuple of str
        Parameters always spelled in configuration names (e.g. ``elem`` ->
        ``mx_decode_e4m3``); other parameters appear only when they differ from the default.
    configs : tuple of dict
        Parameter overrides of the named configurations that are tested and synthesized.
    random_vectors : int
        Seeded random vectors (input beats) of a configuration whose input space is too large
        to test exhaustively; the stimulus adds its corner vectors after them. The verification
        plan (:mod:`sim.plan`, docs/verification.md) decides where they run.
    interp_vectors : int or None
        Cap on the random vectors on the interpreted simulators (Amaranth, Icarus) in
        ``make test``: an evenly spaced subset (whole records when ``record_beats`` is given)
        and every corner. None: no cap. ``make sweep`` lifts it.
    backend_configs : dict
        {compiled backend: configuration names} run on that simulator in ``make test``; a
        backend not named runs every configuration, and the default configuration runs on both
        compiled simulators whatever the subsets say. For a block of many variants of one
        datapath, subsets keep ``make test`` within its budget; every configuration must be on
        at least one compiled simulator (:func:`sim.plan.coverage_problems`).
    amaranth_full : tuple of str
        Configuration names that run every random vector on Amaranth despite
        ``interp_vectors``.
    record_beats : callable or None
        ``record_beats(**params)`` -> beats per record for blocks whose stream is made of
        multi-beat records (a channel, a block, a vector): capping keeps whole records.
    large : dict
        {configuration name: random vectors} for configurations whose simulation is too costly
        for ``random_vectors`` (OPAL's 128-element baselines): they run that many, on every
        backend of the plan.
    baseline : str or None
        The configuration name this block is compared with in reports.
    summary : str
        One line for ``mxforge list`` and the README.
    family : str
        The paper family the block belongs to (its section of docs/blocks.md: "OCP MX",
        "MX-SAFE", "FlexBlock", "LightNorm", "OPAL").
    description : str
        What the block computes and how, for docs/blocks.md (a paragraph of Markdown).
    latency_note : str
        What the block's ``latency`` counts (docs/blocks.md).
    fields : dict
        {payload field name: meaning} for docs/blocks.md; ``"in.<name>"`` / ``"out.<name>"``
        where a name appears on both sides with different meanings.
    workload : callable or None
        ``workload(rng, beats, **params)`` -> :class:`golden.workloads.Workload`, the realistic
        data the block's energy per operation is measured on (docs/cost.md "Energy"); None
        leaves the block with the vectorless power figure only.
    breakdown : dict
        {submodule kind (``synth.flow`` module rows' ``unit``; ``"top"`` for the block's own
        logic): the function it implements} for the area breakdown of docs/cost.md; the
        registers of every module are their own row.
    bare : callable or None
        ``bare(**params)`` -> a component holding the block's bare arithmetic
        (:mod:`hw.lib.bare`), for the closeness figure of docs/cost.md; None: not reported.
    timing_floor : str
        Empty when the default configuration meets the flow's 10 ns clock (docs/cost.md,
        checked by a test); otherwise why it cannot and the shortest period it reaches.
    """

    name: str
    generator: Callable[..., Any]
    golden: Callable[..., dict]
    stimulus: Callable[..., dict]
    exhaustive_size: Callable[..., int | None]
    defaults: dict
    choices: dict = field(default_factory=dict)
    name_params: tuple = ()
    configs: tuple = ({},)
    random_vectors: int = 20000
    interp_vectors: int | None = None
    backend_configs: dict = field(default_factory=dict)
    amaranth_full: tuple = ()
    record_beats: Callable[..., int] | None = None
    large: dict = field(default_factory=dict)
    baseline: str | None = None
    summary: str = ""
    family: str = ""
    description: str = ""
    latency_note: str = ""
    fields: dict = field(default_factory=dict)
    workload: Callable[..., Any] | None = None
    breakdown: dict = field(default_factory=dict)
    bare: Callable[..., Any] | None = None
    timing_floor: str = ""

    def params(self, **overrides) -> dict:
        """Defaults merged with ``overrides``; an unknown parameter raises ParameterError."""
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise ParameterError(
                f"{self.name} has no parameter {unknown[0]!r}; "
                f"its parameters are: {', '.join(self.defaults) or '(none)'}")
        return {**self.defaults, **overrides}

    def build(self, **overrides):
        """The component for ``overrides``: the generator validates every parameter and raises
        ``ValueError``/``TypeError`` naming the bad one (see :meth:`checked_build`).

        A component built here and never elaborated (built to check its parameters or to read
        its ports) is not a forgotten submodule, so this file opts out of Amaranth's
        ``UnusedElaboratable`` warning (its first line, Amaranth's per-file linter option)."""
        return self.generator(**self.params(**overrides))

    def checked_build(self, **overrides):
        """:meth:`build`, with a bad parameter reported as :class:`ParameterError` (one sentence
        naming it and what is allowed), for user-facing callers."""
        try:
            return self.build(**overrides)
        except (ValueError, TypeError) as e:
            if isinstance(e, ParameterError):
                raise
            raise ParameterError(str(e)) from None

    def config_name(self, **overrides) -> str:
        p = self.params(**overrides)
        parts = [self.name] + [_spell(p[k]) for k in self.name_params]
        for k, v in p.items():
            if k in self.name_params or v == self.defaults[k]:
                continue
            # a string value names itself (``rna``, ``ceil``); numbers and flags need their key
            parts.append(k if v is True else v if isinstance(v, str) else f"{k}{_spell(v)}")
        return "_".join(parts)

    def configurations(self) -> dict[str, dict]:
        """The named configurations: name -> full parameter dict."""
        out = {}
        for c in self.configs:
            p = self.params(**c)
            out[self.config_name(**p)] = p
        return out

    def vectors(self, seed=0, n=1000, exhaustive=False, params=None, **overrides) -> dict:
        """Stimulus: ``n`` random vectors (then the corners) for the parameters ``params``
        (a dict; needed for a block parameter that is itself called ``n``) and ``overrides``."""
        p = self.params(**{**(params or {}), **overrides})
        return self.stimulus(np.random.default_rng(seed), n, exhaustive=exhaustive, **p)


def _spell(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (tuple, list)):
        return "x".join(_spell(x) for x in v)
    if isinstance(getattr(v, "name", None), str):   # a format descriptor: its name
        return v.name
    return str(v)
