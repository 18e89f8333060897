"""Files mxforge writes for the user or the docs: all or nothing.

:func:`write_atomic` is the one way the documentation pages, the failures files of ``mxforge
sim`` and the ``.npz`` of ``mxforge quantize`` are written: a temporary file in the same
directory, then one rename, so a reader (or a stopped run) sees the old file or the new one,
never half of one, and a failed write leaves nothing behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path, content) -> Path:
    """Write ``content`` to ``path`` atomically, keeping an existing file's permissions.

    ``content`` is a ``str`` (text), ``bytes``, or a callable that writes to the binary file
    object it is given (``lambda f: np.savez(f, ...)``: a file object, so NumPy adds no
    suffix). Returns ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
