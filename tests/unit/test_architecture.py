"""The one rule between components: they import core, never each other."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


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
