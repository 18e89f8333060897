"""The package layering (README "Layout"): ``golden`` <- ``hw`` <- ``sim``, ``synth`` <-
``mxforge`` <- ``studies`` (the studies may use the public API and the docs markers). Every
import statement of every module is read with ``ast`` (also the ones inside functions), so a
lazy import cannot hide a violation."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("golden", "hw", "sim", "synth", "mxforge", "studies")
#: what each package may import, itself included
ALLOWED = {
    "golden": {"golden"},
    "hw": {"golden", "hw"},
    "sim": {"golden", "hw", "sim"},
    "synth": {"golden", "hw", "synth"},
    "mxforge": {"golden", "hw", "sim", "synth", "mxforge"},
    "studies": {"golden", "hw", "sim", "synth", "mxforge", "studies"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str | None = None):
    """(line, absolute module name) of every import in the file (module ``name``, by default
    from its path); relative imports resolved."""
    name = name or _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # each imported name may be a submodule (``from hw import mx_dot``): name it
            for alias in node.names:
                yield node.lineno, target if alias.name == "*" else f"{target}.{alias.name}"


def _modules():
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def _project_module(name: str, known: set) -> str | None:
    """The project module ``name`` refers to (a package's module or the package itself)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _violations(path, name=None):
    pkg = (name or _module_name(path)).split(".")[0]
    return [(line, target) for line, target in _imports(path, name)
            if target.split(".")[0] in PACKAGES and target.split(".")[0] not in ALLOWED[pkg]]


def test_the_checker_sees_relative_and_lazy_imports(tmp_path):
    assert "golden.formats.get_format" in {t for _, t in _imports(REPO / "hw" / "lib" / "fp.py")}
    assert "hw.lib.accumulate.fp32_accumulate" in {
        t for _, t in _imports(REPO / "hw" / "mx_dot.py")}
    assert "hw.mx_decode" in {t for _, t in _imports(REPO / "mxforge" / "catalogue.py")}
    src = tmp_path / "fake.py"
    src.write_text("import numpy\nfrom .lib import fp\n\n\ndef f():\n"
                   "    from mxforge.catalogue import BLOCKS\n    from . import sim\n")
    assert {t for _, t in _imports(src, "hw.fake")} == {
        "numpy", "hw.lib.fp", "mxforge.catalogue.BLOCKS", "hw.sim"}
    assert _violations(src, "hw.fake") == [(6, "mxforge.catalogue.BLOCKS")]
    assert _violations(src, "mxforge.fake") == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_layering(path):
    pkg = path.relative_to(REPO).parts[0]
    bad = _violations(path)
    assert not bad, (f"{path.relative_to(REPO)} ({pkg}) imports "
                     + ", ".join(f"{t} (line {n})" for n, t in bad)
                     + f"; {pkg} may import only {', '.join(sorted(ALLOWED[pkg]))}")


def _cycles(graph):
    """The cycles a depth-first walk of ``graph`` (module -> set of modules) meets."""
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return cycles


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycles():
    modules = {_module_name(p): p for p in _modules()}
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        deps = set()
        for _, target in _imports(path):
            dep = _project_module(target, known)
            if dep is not None and dep != name:
                deps.add(dep)
        graph[name] = deps
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
