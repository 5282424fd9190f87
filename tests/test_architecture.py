"""The shape of the code stays true: imports run one way (pages -> components -> analysis, and inside
``analysis`` from a higher layer to a lower one), with no import circle. Read with ``ast``, so every
import counts, also those inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: what each subpackage of ``analysis`` may import (besides itself); see docs/architecture.md
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "datasets": {"core"},
    "metrics": {"core", "datasets"},
    "models": {"core", "datasets"},
    "reference": {"core", "datasets"},
    "electronic": {"core", "reference"},
    "jobs": {"core", "datasets", "models", "reference", "electronic"},
    "views": {"core", "datasets", "metrics", "models", "reference", "electronic", "jobs"},
}
#: the top of the package: the ``python -m analysis`` dispatcher and the notebook re-exports
TOP = {"__init__", "__main__", "cli"}
WEB = ("dash", "flask", "plotly", "dash_bootstrap_components", "gunicorn")
MAX_LINES = 600
#: modules over MAX_LINES that are one coherent thing (their docstring says why)
COHERENT_LONG = {"analysis/electronic/smearing.py"}
#: import circles known and left to their owners, each a pair of modules; every other circle fails,
#: and an entry whose circle is gone fails too (remove it then)
KNOWN_CIRCLES: set[frozenset[str]] = {
    # archive.py <-> importers.py: archives and folders are read through the importers, which hand
    # archives and folders back to archive.py; the way out is a module above both that dispatches a
    # path to a file, folder or archive reader (import_reference's callers would call it instead)
    frozenset({"analysis.datasets.archive", "analysis.datasets.importers"}),
}



def _parse(path: Path) -> ast.Module:
    """``ast.parse`` with the garbage collector paused: CPython 3.11 raises "AST constructor recursion
    depth mismatch" when a finaliser (kaleido's Chromium cleanup, left by an earlier test) runs
    inside the parse (python/cpython#106905)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(path.read_text(), filename=str(path))
    finally:
        if enabled:
            gc.enable()

def _py_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "data" not in p.relative_to(ROOT).parts[1:2])


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module level) for every import in ``path``; ``from a import b``
    gives ``a.b`` too, so a submodule imported by name counts."""
    tree = _parse(path)
    top = {id(n) for n in tree.body} | {
        id(c) for n in tree.body if isinstance(n, ast.If) for c in ast.walk(n)  # `if TYPE_CHECKING:` blocks
    }
    found: list[tuple[int, str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, id(node) in top))
            found += [(node.lineno, f"{node.module}.{a.name}", id(node) in top) for a in node.names]
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "analysis":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "top"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_every_analysis_module_lives_in_a_subpackage() -> None:
    flat = [p.name for p in (ROOT / "analysis").glob("*.py") if p.stem not in TOP]
    assert flat == [], f"flat modules in analysis/: {flat} (put each in the subpackage of its concern)"
    assert set(ALLOWED) == {p.name for p in (ROOT / "analysis").iterdir() if (p / "__init__.py").is_file()}


def test_analysis_layers_import_only_downwards() -> None:
    bad = []
    for path in _py_files("analysis"):
        rel = path.relative_to(ROOT)
        here = rel.parts[1] if len(rel.parts) > 2 else "top"
        if here == "top":
            continue
        for line, module, _ in _imports(path):
            target = _layer(module)
            if target is None or target == here:
                continue
            if target == "top" or target not in ALLOWED[here]:
                bad.append(f"{rel}:{line} imports {module} ({here} may import {sorted(ALLOWED[here]) or 'nothing'})")
    assert bad == [], "forbidden imports:\n" + "\n".join(bad)


@pytest.mark.parametrize("folder", ["analysis", "components"])
def test_no_web_or_upper_layer_imports(folder: str) -> None:
    forbidden = {"analysis": (*WEB, "components", "pages", "app"), "components": ("pages", "app")}[folder]
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {module}"
        for p in _py_files(folder)
        for line, module, _ in _imports(p)
        if module.split(".")[0] in forbidden
    ]
    assert bad == [], "\n".join(bad)


def test_pages_never_import_app() -> None:
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in _py_files("pages") for line, module, _ in _imports(p) if module.split(".")[0] == "app"]
    assert bad == []


def _import_graph(*, module_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of ``analysis`` it imports (inside functions too, unless ``module_level_only``)."""
    modules = {_module_name(p): p for p in _py_files("analysis")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for _line, module, at_top in _imports(path):
            if (at_top or not module_level_only) and module in modules and module != name:
                graph[name].add(module)
    return graph


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _without_known_circles(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {t for t in targets if frozenset({m, t}) not in KNOWN_CIRCLES} for m, targets in graph.items()}


def test_no_import_circle_at_module_level() -> None:
    """Module-level imports between modules of ``analysis`` form no circle (a package's
    ``__init__`` re-exports lazily, so it adds no edge)."""
    circle = _find_circle(_import_graph(module_level_only=True))
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_no_import_circle_at_all() -> None:
    """No circle either once imports inside functions count: such an import that closes a circle is a
    responsibility in the wrong module (only :data:`KNOWN_CIRCLES` are left to their owners)."""
    circle = _find_circle(_without_known_circles(_import_graph()))
    assert circle is None, "import circle (imports inside functions included): " + " -> ".join(circle or [])


def test_known_circles_still_exist() -> None:
    graph = _import_graph()
    gone = [sorted(pair) for pair in KNOWN_CIRCLES
            if not all(b in graph.get(a, set()) for a, b in (sorted(pair), sorted(pair)[::-1]))]
    assert gone == [], f"these circles are gone: remove them from KNOWN_CIRCLES: {gone}"


def test_the_circle_check_finds_a_circle() -> None:
    """The search finds a circle and passes a graph without one (a check that cannot fail is no check)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _find_circle(graph) == ["a", "b", "c", "a"]
    assert _find_circle({"a": {"b"}, "b": set()}) is None


def test_the_check_catches_a_forbidden_edge(tmp_path: Path) -> None:
    """The reader finds imports inside functions too (a check that cannot fail is no check)."""
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from analysis.jobs.queue import submit_job\n    import analysis.views.common\n")
    found = {module for _, module, _ in _imports(path)}
    assert {"analysis.jobs.queue", "analysis.views.common"} <= found
    assert _layer("analysis.jobs.queue") not in ALLOWED["datasets"]


def test_modules_stay_navigable() -> None:
    long = {}
    for path in _py_files("analysis") + _py_files("components") + _py_files("pages"):
        rel = str(path.relative_to(ROOT))
        n = len(path.read_text().splitlines())
        if n > MAX_LINES and rel not in COHERENT_LONG:
            long[rel] = n
    assert long == {}, f"modules over {MAX_LINES} lines (split them, or say in their docstring why they are one thing): {long}"
    for rel in COHERENT_LONG:
        doc = ast.get_docstring(_parse(ROOT / rel)) or ""
        assert "one coherent" in doc, f"{rel} is long: its docstring must say why it is one coherent thing"


def test_python_api_reexports_what_a_notebook_reaches_for() -> None:
    import analysis
    from analysis.datasets.store import load_dataset
    from analysis.metrics.tables import compute_metrics_table

    assert analysis.load_dataset is load_dataset
    assert analysis.compute_metrics_table is compute_metrics_table
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None, name


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_subpackages_reexport_public_names_only(package: str) -> None:
    """A package's re-exports are its public surface: a private helper is reached in its own module or not at all."""
    import importlib

    table: dict[str, str] = getattr(importlib.import_module(f"analysis.{package}"), "_EXPORTS", {})
    assert [name for name in table if name.startswith("_")] == []
    missing = [f"{name} ({module})" for name, module in table.items() if not hasattr(importlib.import_module(module), name)]
    assert missing == [], f"analysis.{package} re-exports names its modules do not define: {missing}"


def test_each_subpackage_registers_its_commands() -> None:
    from analysis import cli

    table = cli.commands()
    assert {"import", "metrics", "models", "evaluate", "jobs", "worker", "build-reference", "electronic", "report"} <= set(table)
    for name, (target, _help) in table.items():
        module = target.split(":")[0]
        if module.startswith("analysis."):
            assert name in __import__(".".join(module.split(".")[:2]), fromlist=["COMMANDS"]).COMMANDS
