"""Write what is generated from the catalogue: the metric dictionary and the JSON Schemas."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import schemas
from .dictionary import render

PACKAGE = Path(__file__).parents[1]
DICTIONARY = PACKAGE.parent / "docs" / "metrics.md"
SCHEMAS = PACKAGE / "payload_schemas"


def expected() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {DICTIONARY: render()}
    for name, schema in schemas.generated().items():
        files[SCHEMAS / name] = json.dumps(schema, indent=2) + "\n"
    return files


def main() -> int:
    """Write the generated files; print what changed."""
    for path, content in expected().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            print(f"wrote {path.relative_to(PACKAGE.parent)}", file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
