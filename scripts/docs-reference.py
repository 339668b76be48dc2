"""Write the documentation's reference pages from the code (``facetrail.reference``): every
CLI command, REST API route and web page. ``make docs`` runs it before building the site;
``--check`` says which page is out of date instead of writing (exit 1), as tests/docs does."""

from __future__ import annotations

import sys
from pathlib import Path

from facetrail import reference

PAGES = {
    "cli.md": reference.cli_markdown,
    "api.md": reference.api_markdown,
    "pages.md": reference.web_markdown,
}


def main() -> int:
    folder = Path(__file__).resolve().parents[1] / "docs" / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, make in PAGES.items():
        text = make()
        path = folder / name
        if "--check" in sys.argv[1:]:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    for name in stale:
        print(f"docs/reference/{name} is out of date: run make docs", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
