"""Deterministic Verilog of a component, and the on-disk cache of every configuration's text.

Ports are ``clk``, ``rst`` and the flattened stream members (``i__payload``, ``i__valid``,
``i__ready``, ``o__payload``, ...); struct payloads are one packed vector.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from amaranth.back import verilog

__all__ = ["to_verilog", "cached_verilog", "generator_digest", "generator_version",
           "build_root", "Export"]

_REPO = Path(__file__).resolve().parents[2]
#: modules of hw/ that describe generated Verilog without changing it (not in the cache key)
_NOT_GENERATORS = ("interface.py",)


def build_root() -> Path:
    """Where generated artefacts and caches go (docs/integration.md, "Installing, and where
    files go").

    ``$MXFORGE_BUILD`` (the CLI's ``--build-dir`` sets it) when given; else ``build/`` at the root
    of a source checkout (the one with ``pyproject.toml``: ``make`` and the tests work there);
    else, for an installed package, the user's cache directory ``$XDG_CACHE_HOME/mxforge``
    (default ``~/.cache/mxforge``) -- never a directory inside site-packages.
    """
    env = os.environ.get("MXFORGE_BUILD")
    if env:
        return Path(env).expanduser().resolve()
    if (_REPO / "pyproject.toml").is_file():
        return _REPO / "build"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser().resolve() / "mxforge"


def generator_version() -> str:
    """The installed mxforge version (``mxforge --version``, the interface descriptions), or
    ``"unknown"`` when the sources run without being installed."""
    from importlib import metadata
    try:
        return metadata.version("mxforge")
    except metadata.PackageNotFoundError:
        return "unknown"


class Export:
    """The ``platform`` :func:`to_verilog` elaborates with: a generator that repeats one
    submodule many times (the PEs of ``bfp_array``) may ask for it here as one Verilog module
    (:meth:`instance`), converted once, and instantiate it, instead of elaborating every copy
    (Amaranth converts each instance of an elaboratable separately: a 16 x 16 array took
    100 s). Under Amaranth's simulator (no platform) the generator elaborates the submodule
    itself; the compiled simulators run the exported text, so both paths are verified."""

    def __init__(self, top: str):
        self.top = top
        self.modules: dict[str, str] = {}

    def instance(self, kind: str, make, inputs: dict, outputs: dict):
        """An ``Instance`` of module ``<top>__<kind>``, the Verilog of ``make()`` (an
        elaboratable whose attributes of these names are its ports; called once per export),
        with ``inputs`` and ``outputs`` {port name: signal of this design} bound by name."""
        from amaranth.hdl import ClockSignal, Instance, ResetSignal
        name = f"{self.top}__{kind}"
        if name not in self.modules:
            sub = make()
            ports = [getattr(sub, p) for p in (*inputs, *outputs)]
            self.modules[name] = verilog.convert(sub, name=name, ports=ports, emit_src=False,
                                                 strip_internal_attrs=True)
        return Instance(name, i_clk=ClockSignal(), i_rst=ResetSignal(),
                        **{f"i_{p}": v for p, v in inputs.items()},
                        **{f"o_{p}": v for p, v in outputs.items()})


def to_verilog(component, name: str) -> str:
    """Verilog text of ``component`` as module ``name`` (and, after it, the modules it
    instantiates through :class:`Export`).

    ``emit_src=False`` keeps source paths out, so the same parameters give byte-identical text on
    any machine.
    """
    platform = Export(name)
    text = verilog.convert(component, name=name, platform=platform, emit_src=False,
                           strip_internal_attrs=True)
    return text + "".join(platform.modules[k] for k in sorted(platform.modules))


@lru_cache(maxsize=None)
def generator_digest() -> str:
    """Hash of everything a catalogued generator's Verilog depends on: the sources of ``golden/``
    and ``hw/`` (read once per process) and the Amaranth version."""
    import amaranth
    h = hashlib.sha256(getattr(amaranth, "__version__", "").encode())
    for sub in ("golden", "hw"):
        for f in sorted((_REPO / sub).rglob("*.py")):
            if f.name in _NOT_GENERATORS:
                continue
            h.update(f.relative_to(_REPO).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def cached_verilog(block, params, name: str) -> str:
    """Verilog of ``block`` (a :class:`hw.lib.block.Block`) with ``params`` as module ``name``,
    cached under ``build_root()/verilog``.

    Elaborating and converting a large block takes seconds, and the same text is needed several
    times (``make verilog``, simulator builds, lint), in different processes. The cache key
    covers the block, the parameters, the module name and :func:`generator_digest`, so any
    change to a generator or golden model regenerates; blocks whose generator is not in ``hw/``
    (test doubles) are never cached. Writes are atomic (a temporary file, then a rename).
    """
    params = block.params(**params)
    if not getattr(block.generator, "__module__", "").startswith("hw."):
        return to_verilog(block.build(**params), name)
    key = json.dumps([block.name, name, sorted((k, repr(v)) for k, v in params.items()),
                      generator_digest()])
    path = build_root() / "verilog" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.v"
    if path.exists():
        return path.read_text()
    text = to_verilog(block.build(**params), name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return text
