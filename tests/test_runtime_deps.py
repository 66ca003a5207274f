"""Every third-party module the shipped packages import comes from a runtime dependency.

The README's start command installs ``pip install -e .`` (no test extras), so a module that only
the test extras pull in works under the suite and fails on a user's first start (it happened:
the DKIM signer imported ``cryptography`` while only ``trustme`` required it). This walks the
imports of every shipped module, maps each top-level name to the distribution that provides it,
and checks that distribution is in the closure of ``[project].dependencies`` (their own
requirements followed, extras named in pyproject followed, test extras not).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["agent", "review", "planner", "evaluators", "api", "prompts"]


def _name(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _top_level_imports(path: Path) -> set[str]:
    """Absolute imports of a module, top-level names, including ones inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _runtime_closure() -> set[str]:
    """Distributions installed by ``pip install .``: the dependencies, theirs, and so on."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = _name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue  # an optional platform dependency not installed here
        for line in requires:
            sub = Requirement(line)
            # a plain requirement, or one of an extra this requirement asked for
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in {"", *req.extras}):
                todo.append(sub)
    return seen


def test_every_import_of_the_shipped_code_is_a_runtime_dependency():
    ours = set(SHIPPED)
    stdlib = set(sys.stdlib_module_names)
    providers = metadata.packages_distributions()
    runtime = _runtime_closure()
    missing: dict[str, list[str]] = {}
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for top in _top_level_imports(path) - ours - stdlib - {"__future__"}:
                dists = {_name(d) for d in providers.get(top, [])}
                if not dists & runtime:
                    missing.setdefault(f"{top} ({', '.join(sorted(dists)) or 'not installed'})", []).append(
                        str(path.relative_to(ROOT)))
    assert not missing, "imported but not installed by `pip install .`: " + "; ".join(
        f"{mod} in {files[0]}" for mod, files in sorted(missing.items()))


def test_the_check_sees_a_test_only_module():
    """The closure is not everything installed: the test extras' own packages stay outside it."""
    runtime = _runtime_closure()
    assert "fastapi" in runtime and "starlette" in runtime  # a dependency and one of its own
    assert "playwright" not in runtime and "schemathesis" not in runtime and "openpyxl" not in runtime
