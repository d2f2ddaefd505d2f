"""House rules that keep the code base navigable."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
COMPOSITION_ROOTS = {"runtime/composition.py"}
# Every Python directory of the project: the house rules hold in tests, benchmarks and e2e too.
ALL_CODE = ("runtime", "handlers", "tools", "tests", "bench", "e2e")


def python_files(*dirs: str) -> list[Path]:
    return [p for d in dirs for p in sorted((ROOT / d).rglob("*.py"))]


def test_runtime_imports_handlers_only_in_the_composition_root() -> None:
    offenders = []
    for path in python_files("runtime"):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            imports_handlers = any(n == "handlers" or n.startswith("handlers.") for n in names)
            if imports_handlers and rel not in COMPOSITION_ROOTS:
                offenders.append(rel)
    assert offenders == []


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        p.relative_to(ROOT).as_posix()
        for p in python_files(*ALL_CODE)
        if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert missing == []


def test_no_python_name_is_collected_by_pytest_by_accident() -> None:
    for path in python_files("runtime", "handlers"):
        assert not path.name.startswith("test_"), path
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                assert not node.name.startswith("Test"), f"{path}: {node.name}"


def test_no_module_over_400_lines_and_no_function_over_60() -> None:
    long_modules, long_functions = [], []
    for path in python_files(*ALL_CODE):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        if text.count("\n") > 400:
            long_modules.append(rel)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{rel}:{node.name} ({length} lines)")
    assert long_modules == []
    assert long_functions == []


def test_the_runtime_has_no_import_cycle() -> None:
    # Deferred and TYPE_CHECKING imports count: each ties two modules together all the same.
    from tools.import_cycles import cycles

    assert cycles("runtime") == []
    assert cycles("handlers") == []


def test_no_import_contract_is_waived_but_for_the_composition_root() -> None:
    """import-linter's contracts hold without exceptions: the only waived runtime edge is the
    composition root's, to the handlers' routing table (the handlers' own ignore rule is their
    public surface, runtime.api)."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    waived = [
        edge
        for contract in contracts["contracts"]
        for edge in contract.get("ignore_imports", [])
        if edge.startswith("runtime")
    ]
    assert waived == ["runtime.composition -> handlers.routes"]
    assert {c["type"] for c in contracts["contracts"]} >= {"layers", "independence"}
