"""The studies' sections of the documentation: written by the studies, between markers, stamped.

A study run with its default parameters (what ``make study-*`` runs) rewrites its sections of
its docs page; with any other parameters it writes only its reports (``build/reports``), so a
small or exploratory run never changes docs/. A section looks like::

    <!-- study: mxsf-sqnr -->
    <!-- written by `python -m studies.mxsf` (`make study-mxsf`) with rows=256 ... · sources
         1a2b3c4d5e6f; rerun it, do not edit this section -->     (one line)
    ...                     (tables or findings, every number filled in by the study)
    <!-- end: mxsf-sqnr -->

The stamp names the command, the parameters and :func:`source_hash` of the study's sources:
the study module and every ``studies``, ``golden`` and ``mxforge`` module it imports (the
FlexBlock study's model is ``mxforge/mapping.py``), directly or through another (read from the
import statements, :func:`source_files`). ``tests/test_studies.py``
recomputes the hash and fails on a section whose study or golden models changed since it was
written, naming the command to rerun. ``synth`` (which only chooses the report directory) and
third-party packages are not hashed: they do not decide a number.

Text outside the markers is never touched; a page is rewritten in one replace, so a failure
leaves it as it was.
"""
from __future__ import annotations

import ast
import hashlib
import re
import sys
from pathlib import Path

from mxforge import markers
from mxforge.files import write_atomic

__all__ = ["REPO", "HASHED", "source_files", "source_hash", "make_target", "format_params",
           "stamp", "parse_stamp", "sections", "replace_sections", "write_page", "publish",
           "docs_rule"]

REPO = Path(__file__).resolve().parents[1]
#: the packages whose modules decide a study's numbers (hashed into the stamp)
HASHED = ("studies", "golden", "mxforge")
_STAMP = re.compile(
    r"<!-- written by `python -m (?P<module>studies\.\w+)` \(`make (?P<target>[\w-]+)`\) with "
    r"(?P<params>[^·]*?) · sources (?P<hash>[0-9a-f]{12}); rerun it, do not edit this "
    r"section -->\n")


# -- what produced a section ---------------------------------------------------------------------

def _module_path(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _resolve(target: str, root: Path) -> str | None:
    """The module ``target`` names (``golden.formats.decode`` -> ``golden.formats``)."""
    while target:
        if _module_path(target, root) is not None:
            return target
        target = target.rpartition(".")[0]
    return None


def _imports(path: Path, name: str):
    """Absolute names of every import of module ``name`` (file ``path``), lazy ones included;
    relative imports resolved, each imported name taken as a possible submodule."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                yield target if alias.name == "*" else f"{target}.{alias.name}"


def source_files(module: str, root=REPO) -> list[Path]:
    """The files of ``module`` and of every :data:`HASHED` module it imports, transitively,
    sorted (paths under ``root``)."""
    root = Path(root)
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_path(name, root)
        if name in seen or path is None:
            continue
        seen[name] = path
        for target in _imports(path, name):
            dep = _resolve(target, root)
            if dep is not None and dep.split(".")[0] in HASHED and dep not in seen:
                todo.append(dep)
    if module not in seen:
        raise ValueError(f"no module {module!r} under {root}")
    return sorted(seen.values())


def source_hash(module: str, root=REPO) -> str:
    """The first 12 hex digits of the SHA-256 of :func:`source_files` (each file's path relative
    to ``root`` and its bytes)."""
    root = Path(root)
    h = hashlib.sha256()
    for path in source_files(module, root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def make_target(module: str) -> str:
    """``studies.mxsf`` -> ``study-mxsf`` (the Makefile's target for the study)."""
    return "study-" + module.rpartition(".")[2]


def _show(v) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(_show(x) for x in v)
    return str(v)


def format_params(params: dict) -> str:
    """``rows=256 cols=1024 seed=0 sub_bias=6,8,10``"""
    return " ".join(f"{k}={_show(v)}" for k, v in params.items())


def stamp(module: str, params: dict, root=REPO) -> str:
    """The first line of every section ``module`` writes (with its newline)."""
    return (f"<!-- written by `python -m {module}` (`make {make_target(module)}`) with "
            f"{format_params(params)} · sources {source_hash(module, root)}; rerun it, do not "
            "edit this section -->\n")


def parse_stamp(body: str) -> dict | None:
    """{"module", "target", "params", "hash"} of the stamp that opens ``body``, or None."""
    m = _STAMP.match(body)
    return None if m is None else m.groupdict()


# -- markers -------------------------------------------------------------------------------------

def sections(text: str) -> dict:
    """{name: body} of every study section of ``text``."""
    return markers.sections(text, "study")


def replace_sections(text: str, bodies: dict) -> tuple[str, list[str]]:
    """``text`` with the body of every study section named in ``bodies`` replaced; returns the
    new text and the names whose body changed (:func:`mxforge.markers.replace`: each name needs
    exactly one marker pair, else ValueError)."""
    return markers.replace(text, "study", bodies, exactly_once=True)


def write_page(page: str, bodies: dict, module: str, params: dict, root=None) -> list[str]:
    """Rewrite ``module``'s sections of ``page`` (relative to ``root``, default the repository):
    every body of ``bodies`` after its stamp. Sections named ``<study>-...`` on the page that
    ``bodies`` does not name are an error (a section no run would update). Returns the names
    whose text changed; the page is replaced in one step, and not at all on an error."""
    root = Path(REPO if root is None else root)
    path = root / page
    text = path.read_text()
    prefix = module.rpartition(".")[2] + "-"
    orphans = [n for n in sections(text) if n.startswith(prefix) and n not in bodies]
    if orphans:
        raise ValueError(f"sections no run of {module} writes: {', '.join(orphans)}")
    head = stamp(module, params)
    new, changed = replace_sections(text, {n: head + b for n, b in bodies.items()})
    if new != text:
        write_atomic(path, new)
    return changed


def docs_rule(module: str, page: str, options: str) -> str:
    """The --help epilog that states when the study writes docs/ (``options``: the options
    that make a run non-default)."""
    return (f"Run with its default parameters (as `make {make_target(module)}` does) the study "
            f"also rewrites its sections of {page} (between `<!-- study: ... -->` markers, "
            "stamped with the parameters and a hash of its sources); with any other "
            f"{options} it writes only the reports, never docs/.")


def publish(module: str, page: str, params: dict, defaults: dict, render, root=None) -> int:
    """After a study's run: rewrite its sections of ``page`` when ``params == defaults``
    (``render()`` gives {section: body}), else say why not. Prints one line; returns the exit
    status (1, with one error line, when the page cannot be written)."""
    if params != defaults:
        print(f"{page} not written: not the default parameters ({format_params(defaults)})")
        return 0
    try:
        changed = write_page(page, render(), module, params, root)
    except (OSError, ValueError) as e:
        print(f"python -m {module}: error: {page}: {getattr(e, 'strerror', None) or e}",
              file=sys.stderr)
        return 1
    print(f"wrote {page}: " + (", ".join(changed) if changed else "up to date"))
    return 0
