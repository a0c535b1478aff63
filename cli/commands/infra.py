"""``creature-vis infra``: write the files Terraform derives from the code.

The BigQuery tables in ``infra/modules/warehouse`` come from ``core.warehouse.schema.TABLES``:
one ``schemas/<table>.json`` per table (BigQuery's JSON schema format) and ``tables.json``
with each table's description, partitioning column and clustering. ``--check`` exits 1
when the committed files differ from what the code generates (CI runs it through the tests).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.settings import Settings
from core.warehouse.schema import TABLES, Table

WAREHOUSE_MODULE = Path("infra") / "modules" / "warehouse"


def bigquery_schema(table: Table) -> list[dict[str, str]]:
    """Return the BigQuery JSON schema of ``table``."""
    return [
        {
            "name": column.name,
            "type": column.type,
            "mode": column.mode,
            "description": column.description,
        }
        for column in table.columns
    ]


def _json(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def generated_files(module: Path = WAREHOUSE_MODULE) -> dict[Path, str]:
    """Return every generated file of the warehouse module with its content."""
    files = {
        module / "schemas" / f"{name}.json": _json(bigquery_schema(table))
        for name, table in sorted(TABLES.items())
    }
    files[module / "tables.json"] = _json(
        {
            name: {
                "description": table.description,
                "partition": table.partition,
                "clustering": list(table.clustering),
            }
            for name, table in sorted(TABLES.items())
        }
    )
    return files


def stale_files(root: Path) -> list[Path]:
    """Return the generated files under ``root`` that are missing, different or left over."""
    expected = {root / path: text for path, text in generated_files().items()}
    stale = [
        path for path, text in expected.items() if not path.is_file() or path.read_text() != text
    ]
    schemas = root / WAREHOUSE_MODULE / "schemas"
    leftovers = [p for p in schemas.glob("*.json") if p not in expected] if schemas.is_dir() else []
    return sorted(stale + leftovers)


def write_files(root: Path) -> list[Path]:
    """Write the generated files under ``root``, remove left-over schemas; return what changed."""
    changed = stale_files(root)
    for path, text in generated_files().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    expected = {root / path for path in generated_files()}
    for path in changed:
        if path not in expected:
            path.unlink()
    return changed


def register(subparsers: Any) -> None:
    """Add the ``infra`` subcommand."""
    parser = subparsers.add_parser("infra", help="write the Terraform files derived from code")
    parser.add_argument(
        "--check", action="store_true", help="only report files that differ (exit 1 if any)"
    )
    parser.add_argument(
        "--root", type=Path, default=Path(), help="repository root (default: current directory)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write or check the BigQuery schema files of the warehouse Terraform module."""
    root: Path = args.root
    if args.check:
        stale = stale_files(root)
        for path in stale:
            print(f"creature-vis infra: out of date: {path}")
        if stale:
            print("creature-vis infra: run `creature-vis infra` and commit the result")
        return 1 if stale else 0
    for path in write_files(root):
        print(f"creature-vis infra: wrote {path}")
    return 0
