"""Generated sections of the documentation: one marker syntax, one substitution, one write.

Every number in README.md and docs/ is written by a command between a pair of markers::

    <!-- KIND: NAME -->
    ...                     (written by the command; the first line says which)
    <!-- end: NAME -->

``KIND`` says which command owns the section: ``generated`` (``mxforge docs``, from the
catalogue), ``synth`` (``make synth``, docs/cost.md), ``study`` (``make study-*``), ``bench``
(``make bench``). Text outside the markers is never touched, and a page is replaced in one
rename (:func:`mxforge.files.write_atomic`), so a failure leaves it as it was.
"""
from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["pattern", "sections", "replace"]


@lru_cache(maxsize=None)
def pattern(kind: str) -> re.Pattern:
    """The regular expression of a ``kind`` section; groups ``name`` and ``body``, and 1 / 4
    for the opening and closing markers."""
    return re.compile(rf"(<!-- {re.escape(kind)}: (?P<name>[\w-]+) -->\n)(?P<body>.*?)"
                      rf"(<!-- end: (?P=name) -->)", re.S)


def sections(text: str, kind: str) -> dict:
    """{name: body} of every ``kind`` section of ``text``."""
    return {m.group("name"): m.group("body") for m in pattern(kind).finditer(text)}


def replace(text: str, kind: str, bodies: dict, *, known=None,
            exactly_once: bool = False) -> tuple[str, list[str]]:
    """``text`` with the body of every ``kind`` section named in ``bodies`` replaced (a body
    gets a final newline if it lacks one); sections not in ``bodies`` keep their text.

    Parameters
    ----------
    known : collection of str, optional
        Every section name a command can write: a marker naming another is an error (a typo,
        or a section nothing would ever update).
    exactly_once : bool
        Every name of ``bodies`` must have exactly one marker pair in ``text``.

    Returns
    -------
    (str, list of str)
        The new text and the names whose body changed.

    Raises
    ------
    ValueError
        An unknown section, or (``exactly_once``) a missing or repeated one.
    """
    found = [m.group("name") for m in pattern(kind).finditer(text)]
    if known is not None:
        unknown = [n for n in found if n not in known]
        if unknown:
            raise ValueError(f"sections no command writes: {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
    if exactly_once:
        bad = [n for n in bodies if found.count(n) != 1]
        if bad:
            raise ValueError(f"needs exactly one marker pair `<!-- {kind}: NAME -->` ... "
                             f"`<!-- end: NAME -->` for {', '.join(bad)}")
    changed = []

    def sub(m):
        name = m.group("name")
        if name not in bodies:
            return m.group(0)
        body = bodies[name] if bodies[name].endswith("\n") else bodies[name] + "\n"
        if body != m.group("body"):
            changed.append(name)
        return m.group(1) + body + m.group(4)

    return pattern(kind).sub(sub, text), changed
