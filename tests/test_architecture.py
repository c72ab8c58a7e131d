"""The layout's rules, checked on the source: no import circle among product
modules (imports inside functions count), no product module past 450 lines, and
nothing outside tests/ importing tests."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ["promotions", "config", "github_emulator"]
MAX_MODULE_LINES = 450


def modules(packages=PRODUCT_PACKAGES) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every module `name` imports, wherever the import statement stands
    (`from package import module` imports the module, not the package's body)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                imported.add(submodule if submodule in known else base)
    return imported


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {other for other in imported_names(name, path, known) if other in known and other != name}
        for name, path in known.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting, done = [], set()

    def visit(node):
        if node in visiting:
            return visiting[visiting.index(node) :] + [node]
        if node in done:
            return None
        visiting.append(node)
        for other in sorted(graph[node]):
            cycle = visit(other)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_no_import_circle_among_product_modules():
    graph = import_graph()
    assert "promotions.engine.landing" in graph["promotions.engine.lanes"]  # the walk sees what it should
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_a_circle_would_be_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("name", sorted(modules()))
def test_product_modules_stay_readable_in_one_sitting(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines: split it along its ideas"


def test_nothing_outside_tests_imports_tests():
    outside = modules([*PRODUCT_PACKAGES, "bench"])
    offenders = {
        name: sorted(i for i in imported_names(name, path, {}) if i == "tests" or i.startswith("tests."))
        for name, path in outside.items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}
