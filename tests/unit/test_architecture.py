"""What the import contracts cannot see: bench/ scripts are no package, yet share only testkit.

The contracts themselves run in tests/integration/test_import_contracts.py.
"""

import ast
from pathlib import Path

from tests.conftest import REPO


def imported_modules(path: Path) -> set[str]:
    """Every module a script imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_benchmarks_share_testkit_not_tests() -> None:
    scripts = sorted((REPO / "bench").glob("*.py"))
    assert scripts
    offenders = {
        script.name: sorted(
            name for name in imported_modules(script) if name.split(".")[0] == "tests"
        )
        for script in scripts
    }
    assert {name: found for name, found in offenders.items() if found} == {}
