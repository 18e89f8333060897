"""The block catalogue: one entry per block drives the CLI, the Makefile, the tests and the reports.

Adding a block means adding one ``Block`` to ``BLOCKS`` (see README, "Adding a block").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


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
        ``stimulus(rng, n, exhaustive=False, **params)`` returns input fields; with
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
        Random vectors per configuration and backend in the test suite when the input space is
        too large to test exhaustively (the stimulus adds its corner vectors to these).
    baseline : str or None
        The configuration name this block is compared with in reports.
    summary : str
        One line for ``mxforge list`` and the README.
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
    baseline: str | None = None
    summary: str = ""

    def params(self, **overrides) -> dict:
        """Defaults merged with ``overrides``; an unknown parameter raises ParameterError."""
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise ParameterError(
                f"{self.name} has no parameter {unknown[0]!r}; "
                f"its parameters are: {', '.join(self.defaults) or '(none)'}")
        return {**self.defaults, **overrides}

    def build(self, **overrides):
        """Elaborate the component for ``overrides`` (validated by the generator)."""
        return self.generator(**self.params(**overrides))

    def validate(self, **overrides) -> dict:
        """Full parameters after the generator's own validation (elaborates nothing)."""
        p = self.params(**overrides)
        component = self.generator(**p)
        component._MustUse__silence = True  # built only to validate; not an unused design
        return p

    def config_name(self, **overrides) -> str:
        p = self.params(**overrides)
        parts = [self.name] + [_spell(p[k]) for k in self.name_params]
        for k, v in p.items():
            if k in self.name_params or v == self.defaults[k]:
                continue
            parts.append(k if v is True else f"{k}{_spell(v)}")
        return "_".join(parts)

    def configurations(self) -> dict[str, dict]:
        """The named configurations: name -> full parameter dict."""
        out = {}
        for c in self.configs:
            p = self.params(**c)
            out[self.config_name(**p)] = p
        return out

    def vectors(self, seed=0, n=1000, exhaustive=False, **overrides) -> dict:
        p = self.params(**overrides)
        return self.stimulus(np.random.default_rng(seed), n, exhaustive=exhaustive, **p)


def _spell(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (tuple, list)):
        return "x".join(_spell(x) for x in v)
    return str(v)


def _blocks() -> dict[str, Block]:
    from hw import mx_decode
    from golden import mx

    entries = [
        Block(
            name="mx_decode",
            generator=mx_decode.MxDecode,
            golden=mx.decode_fields,
            stimulus=mx.decode_stimulus,
            exhaustive_size=mx.decode_space,
            defaults={"elem": "e4m3", "pipeline": False},
            choices={"elem": mx_decode.ELEMENTS, "pipeline": (False, True)},
            name_params=("elem",),
            configs=tuple({"elem": e} for e in mx_decode.ELEMENTS) + ({"pipeline": True},),
            summary="MX element + E8M0 scale decoder to (sign, significand, exponent, inf, nan)",
        ),
    ]
    return {b.name: b for b in entries}


BLOCKS: dict[str, Block] = _blocks()


def get_block(name: str) -> Block:
    if name not in BLOCKS:
        raise ParameterError(f"unknown block {name!r}; blocks are: {', '.join(BLOCKS)}")
    return BLOCKS[name]


def all_configurations() -> dict[str, tuple[Block, dict]]:
    """Every named configuration of every block: config name -> (block, params)."""
    return {n: (b, p) for b in BLOCKS.values() for n, p in b.configurations().items()}
