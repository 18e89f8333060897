"""What ``mxforge sim`` does when a simulation fails (docs/verification.md, "When a simulation
fails"): the report on stderr without a traceback, the failing vectors in a file, and the one
command that replays exactly those vectors (``mxforge sim NAME --vectors FILE``) on any backend.

A failures file is a NumPy ``.npz`` archive: one array per input payload field (``in.<field>``,
nested fields joined by dots, one row per vector) and ``meta``, a JSON text naming the
configuration, block, parameters, backend, seed, stalls, the vectors' indices in the failing
run and the mismatching output beats. It is read without pickling.
"""
from __future__ import annotations

import json
import shlex
import sys
import zipfile
from pathlib import Path

import numpy as np

from hw.lib.export import build_root
from hw.lib.payload import flat_fields, pack

from .catalogue import BLOCKS, ParameterError, all_configurations
from .files import write_atomic

__all__ = ["FORMAT", "default_path", "save", "load", "replay_command", "report_mismatch",
           "one_line"]

#: version of the failures file layout (``meta["format"]``)
FORMAT = 1
_PREFIX = "in."


def default_path(config: str, backend: str, seed: int) -> Path:
    """``<build>/failures/<config>-<backend>-seed<S>.npz``."""
    return build_root() / "failures" / f"{config}-{backend}-seed{seed}.npz"


def _nest(flat: dict) -> dict:
    out: dict = {}
    for name, v in flat.items():
        *path, leaf = name.split(".")
        d = out
        for p in path:
            d = d.setdefault(p, {})
        d[leaf] = v
    return out


def _jsonable(v):
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    return str(getattr(v, "name", v))      # a format descriptor: its name


def save(error, path) -> Path:
    """Write the replay vectors of ``error`` (a :class:`sim.harness.GoldenMismatch`) to
    ``path`` (replaced atomically; parent directories are created)."""
    path = Path(path)
    arrays, big = {}, []
    for name, v in flat_fields(error.inputs):
        if v.dtype == object:          # fields wider than 63 bits: decimal text, no pickling
            big.append(name)
            v = np.vectorize(str, otypes=[str])(v) if v.size else v.astype(str)
        arrays[_PREFIX + name] = v
    meta = {"format": FORMAT, "config": error.config, "block": error.block,
            "params": {k: _jsonable(v) for k, v in error.params.items()},
            "backend": error.backend, "seed": int(error.seed),
            "stalls": _jsonable(error.stalls), "total": int(error.total),
            "vectors": error.vectors.tolist(), "mismatching": error.mismatching.tolist(),
            "whole": error.whole, "big": big}
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda f: np.savez_compressed(
        f, meta=np.array(json.dumps(meta)), **arrays))


def load(path, block, params, config, component) -> dict:
    """The input fields stored in the failures file ``path``, checked against the
    configuration ``config`` (``block`` with ``params``, built as ``component``).

    Raises
    ------
    ParameterError
        One line naming ``--vectors`` and the file: it cannot be read, is not a failures file,
        holds another configuration's vectors, or its fields do not fit the input payload.
    """
    what = f"--vectors {path}"
    not_ours = f"{what}: not a failures file written by mxforge sim"
    if not Path(path).is_file():
        raise ParameterError(f"{what}: no such file" if not Path(path).exists() else
                             f"{what}: not a file")
    if not zipfile.is_zipfile(path):
        raise ParameterError(f"{not_ours} (not a NumPy .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"][()])) if "meta" in z.files else None
            flat = {k[len(_PREFIX):]: np.array(z[k]) for k in z.files if k.startswith(_PREFIX)}
    except (OSError, ValueError, zipfile.BadZipFile, TypeError) as e:
        raise ParameterError(f"{not_ours} ({e})") from None
    if meta is None:
        raise ParameterError(f"{not_ours} (no meta entry)")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ParameterError(f"{what}: not a failures file of format {FORMAT} written by "
                             f"mxforge sim")
    if meta.get("config") != config:
        raise ParameterError(f"{what}: the file holds vectors of {meta.get('config')!r}, not "
                             f"of {config!r} (replay it with that configuration)")
    for name in meta.get("big", []):
        if name in flat:
            flat[name] = np.vectorize(int, otypes=[object])(flat[name])
    if not flat:
        raise ParameterError(f"{what}: the file holds no input fields")
    inputs = _nest(flat)
    try:
        words = pack(component.in_layout, inputs)
    except (KeyError, ValueError, TypeError) as e:
        reason = e.args[0] if e.args else e
        raise ParameterError(f"{what}: its vectors do not fit {config}'s input payload "
                             f"({reason})") from None
    if len(words) == 0:
        raise ParameterError(f"{what}: the file holds no vectors")
    return inputs


def _spell(v) -> str:
    """A parameter value as ``--set key=value`` reads it back (``mxforge.cli``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        return ",".join(_spell(x) for x in v)
    return str(getattr(v, "name", v))      # a format descriptor: its name


def replay_command(error, path) -> str:
    """The ``mxforge sim`` command that runs exactly the vectors of ``path`` on the failing
    configuration, backend, seed and stalls (``--backend`` may be changed to any other)."""
    configs = all_configurations()
    params = error.params
    if error.config in configs and configs[error.config][1] == params:
        name = [error.config]
    else:                       # an unnamed configuration: the block and its overrides
        block = BLOCKS.get(error.block)
        defaults = block.defaults if block is not None else {}
        name = [error.block] + [a for k, v in params.items() if v != defaults.get(k)
                                for a in ("--set", f"{k}={_spell(v)}")]
    argv = ["mxforge", "sim", *name, "--vectors", str(path), "--backend", error.backend,
            "--seed", str(error.seed)]
    if error.stalls is False or error.stalls is None:
        argv.append("--no-stalls")
    return shlex.join(argv)


def report_mismatch(error, path=None, stream=None) -> int:
    """Print ``error``'s report, write its replay vectors (to ``path``, default
    :func:`default_path`) and print the replay command; returns the exit status 1."""
    stream = stream or sys.stderr
    path = Path(path) if path is not None else default_path(error.config, error.backend,
                                                            error.seed)
    print(error.report, file=stream)
    what = f"mxforge: {error.config} on {error.backend}"
    try:
        save(error, path)
    except OSError as e:
        print(f"{what}: cannot write the failing vectors to {path} ({e.strerror or e})",
              file=stream)
        return 1
    n = len(next(flat_fields(error.inputs))[1]) if error.inputs else 0
    m = len(error.mismatching)
    if error.whole:
        held = f"all {n} input vectors of the run are in {path} ({error.whole})"
    elif n == m:
        held = f"the {n} failing input vectors (of {error.total}) are in {path}"
    else:                       # whole records
        held = (f"the {n} input vectors (of {error.total}) of the records with the {m} "
                f"mismatching output beats are in {path}")
    print(f"{what}: {held}; replay them with:", file=stream)
    print("  " + replay_command(error, path), file=stream)
    return 1


def one_line(error) -> str:
    """A simulation failure as one line: the first line of its message (which names the log
    when a tool wrote one), without the log tail that follows."""
    text = str(error).strip()
    return text.splitlines()[0].rstrip(":") if text else type(error).__name__
