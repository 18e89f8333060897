"""What the flow reads from a Liberty file: its cells, their pins, pin functions and areas."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

__all__ = ["groups", "cells"]


def groups(body: str, kind: str) -> list:
    """(name, body) of every ``kind (name) { ... }`` group of a Liberty text."""
    out, pos = [], 0
    pattern = re.compile(rf"\b{kind}\s*\(\s*\"?(\w+)\"?\s*\)\s*\{{")
    while (m := pattern.search(body, pos)) is not None:
        depth, i = 1, m.end()
        while depth and i < len(body):
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            i += 1
        out.append((m.group(1), body[m.end(): i - 1]))
        pos = i
    return out


@lru_cache(maxsize=None)
def cells(liberty: str) -> dict:
    """{cell: {"inputs": [pins], "outputs": [(pin, function or None)], "area": float}} of a
    Liberty file."""
    out = {}
    for cell, body in groups(Path(liberty).read_text(errors="replace"), "cell"):
        pins = groups(body, "pin")
        area = re.search(r"\barea\s*:\s*([0-9.eE+-]+)", body)
        out[cell] = {
            "inputs": [p for p, b in pins if re.search(r"direction\s*:\s*input", b)],
            "outputs": [(p, (re.search(r'function\s*:\s*"([^"]*)"', b) or [None, None])[1])
                        for p, b in pins if re.search(r"direction\s*:\s*output", b)],
            "area": float(area.group(1)) if area else 0.0,
        }
    return out
