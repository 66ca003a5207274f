"""The architecture as a test: dependencies point down only (ARCHITECTURE.md)."""

import ast
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
    # Routes translate HTTP; queries live in services. Select statements are tolerated only
    # where a read shapes the answer, never session factories or engines.
    offenders = [f"{p.relative_to(ROOT)} imports {n}" for p in _files("api") for n in _imports(p)
                 if n.startswith(("sqlalchemy.ext.asyncio", "sqlalchemy.orm")) and "routes" in p.parts]
    assert not offenders, "\n".join(offenders)


def test_layering_check_sees_the_code():
    # Guards the test above against passing vacuously (wrong root, empty packages).
    assert len(_files("agent")) > 10 and len(_files("api")) > 5
    assert "agent.db" in _imports(ROOT / "api" / "deps.py")
