"""The architecture as a test: dependencies point down only (ARCHITECTURE.md), and no two
modules import each other, directly or round a longer loop."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["agent", "review", "planner", "evaluators", "api", "prompts"]
# package -> sibling packages it may import
ALLOWED = {
    "agent": set(),
    "prompts": set(),
    "review": {"agent"},
    "planner": {"agent"},
    "evaluators": {"agent"},
    "api": {"agent", "review", "planner", "evaluators"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_packages_below_it(package):
    offenders = []
    for path in _files(package):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_api_routes_import_no_sqlalchemy_orm_sessions_directly():
    # Routes translate HTTP; queries live in repositories and services, never session factories
    # or engines in a route (the SQL builders themselves are checked below).
    offenders = [f"{p.relative_to(ROOT)} imports {n}" for p in _files("api") for n in _imports(p)
                 if n.startswith(("sqlalchemy.ext.asyncio", "sqlalchemy.orm")) and "routes" in p.parts]
    assert not offenders, "\n".join(offenders)


def test_layering_check_sees_the_code():
    # Guards the test above against passing vacuously (wrong root, empty packages).
    assert len(_files("agent")) > 10 and len(_files("api")) > 5
    assert "agent.db" in _imports(ROOT / "api" / "deps.py")


# -- no import cycles ------------------------------------------------------------------------
# An import inside a function runs too, only later: a cycle hidden there still ties two modules
# into one, and it breaks the day someone hoists the import. Only ``if TYPE_CHECKING:`` imports
# never run, so only those are left out.

def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _running_imports(node: ast.AST):  # noqa: ANN202 - a generator of ast.Import | ast.ImportFrom
    """Every import under ``node`` that can run: all but the body of ``if TYPE_CHECKING:``."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    skip_body = isinstance(node, ast.If) and _is_type_checking(node.test)
    for child in node.orelse if skip_body else ast.iter_child_nodes(node):
        yield from _running_imports(child)


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph(root: Path, packages: list[str]) -> dict[str, dict[str, str]]:
    """module -> {module it imports: where ("path:line")}, for the modules under ``packages``.

    An import names the most specific module it loads (``from a import b`` is ``a.b`` when b is
    a submodule); the parent packages it also loads are not counted, or every module would
    depend on its package's ``__init__``.
    """
    paths = {_module_name(root, p): p for package in packages for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, dict[str, str]] = {name: {} for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _running_imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:  # `from .. import x` in a.b.c (package a.b) starts at a
                    anchor = package.rsplit(".", node.level - 1)[0]
                    base = f"{anchor}.{base}" if base else anchor
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            for target in targets:
                while target and target not in paths:  # `import a.b.c` of a name inside a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].setdefault(target, f"{path.relative_to(root)}:{node.lineno}")
    return graph


def strongly_connected(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _shortest_cycle(graph: dict[str, dict[str, str]], start: str, members: set[str]) -> list[str]:
    paths = {start: [start]}
    queue = [start]
    for node in queue:  # breadth first: the list grows while we walk it
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"{start} is in no cycle")


def import_cycles(graph: dict[str, dict[str, str]]) -> list[str]:
    """Each cycle as ``a -> b -> a`` with where each import is: the shortest one through every
    module of every strongly connected component (a component is one cycle or several)."""
    report: list[str] = []
    for component in strongly_connected(graph):
        seen: set[tuple[str, ...]] = set()
        for start in component:
            cycle = _shortest_cycle(graph, start, set(component))
            turn = cycle.index(min(cycle[:-1]))
            key = tuple(cycle[turn:-1] + cycle[:turn])
            if key not in seen:
                seen.add(key)
                report.append(" -> ".join([*key, key[0]]) + "".join(
                    f"\n    {graph[a][b]} imports {b}" for a, b in zip([*key], [*key[1:], key[0]])))
    return report


def test_no_import_cycles():
    graph = module_graph(ROOT, PACKAGES)
    assert len(graph) > 50 and "agent.db" in graph["api.deps"]  # it reads the real code
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cycle_finder_reports_a_cycle_hidden_in_a_function(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def later():\n    from . import a\n",
        "pkg/c.py": "import pkg.a\n",
    })
    assert import_cycles(module_graph(root, ["pkg"])) == [
        "pkg.a -> pkg.b -> pkg.a\n    pkg/a.py:1 imports pkg.b\n    pkg/b.py:2 imports pkg.a"]


def test_cycle_finder_follows_relative_imports_and_package_inits(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "from pkg.sub.x import X\n",
        "pkg/sub/__init__.py": "def make():\n    from .x import X\n",
        "pkg/sub/x.py": "from pkg.sub import make\nclass X:\n    def f(self):\n        from .. import y\n",
        "pkg/y.py": "from .sub import x\n",
        "pkg/z.py": "from pkg import y\n",
    })
    assert [c.splitlines()[0] for c in import_cycles(module_graph(root, ["pkg"]))] == [
        "pkg.sub -> pkg.sub.x -> pkg.sub", "pkg.sub.x -> pkg.y -> pkg.sub.x"]


def test_cycle_finder_passes_code_without_a_cycle(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "from pkg import a\n",
        "pkg/a.py": "from pkg.b import B\nimport json\n",
        "pkg/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n"
                     "def f():\n    import pkg.c\n"),
        "pkg/c.py": "import os\n",
    })
    graph = module_graph(root, ["pkg"])
    assert graph["pkg"] == {"pkg.a": "pkg/__init__.py:1"} and "pkg.c" in graph["pkg.b"]
    assert import_cycles(graph) == []


SQL_BUILDERS = {"select", "update", "insert", "delete"}


def _sql_calls(path: Path) -> list[str]:
    """Calls that build SQL in the file: select(...), update(...), insert(...), delete(...) by name,
    or through the sqlalchemy module (sa.select(...)). Methods such as router.delete are not SQL."""
    tree = ast.parse(path.read_text(), filename=str(path))
    sqlalchemy_aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                          for a in node.names if a.name.split(".")[0] == "sqlalchemy"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in SQL_BUILDERS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {func.id}(")
        elif (isinstance(func, ast.Attribute) and func.attr in SQL_BUILDERS and isinstance(func.value, ast.Name)
              and func.value.id in sqlalchemy_aliases):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {func.value.id}.{func.attr}(")
    return found


def _edges() -> list[Path]:
    return sorted((ROOT / "api" / "routes").glob("*.py")) + [ROOT / "api" / "cli.py"]


def test_web_routes_and_cli_build_no_sql():
    # Queries live in repositories, behaviour in services: an edge that writes its own select
    # has started carrying service work.
    edges = _edges()
    assert len(edges) > 5 and edges[-1].exists()
    offenders = [call for path in edges for call in _sql_calls(path)]
    assert not offenders, "\n".join(offenders)


def test_sql_check_sees_a_select_and_ignores_methods(tmp_path, monkeypatch):
    # Guards the test above against passing vacuously: a select by name or through the module
    # is found, a route decorator or a service's update method is not.
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    source = tmp_path / "edge.py"
    source.write_text("import sqlalchemy as sa\nfrom sqlalchemy import select\n"
                      "@router.delete('/x')\nasync def f():\n    await campaigns.update(s)\n"
                      "    q = select(A)\n    r = sa.update(B)\n    bar.update(task)\n")
    assert _sql_calls(source) == ["edge.py:6 select(", "edge.py:7 sa.update("]
