"""Regenerate the parts of the docs that come from the notebooks' `metadata.course`.

    python tools/generate_docs.py          # rewrite them in place
    python tools/generate_docs.py --check  # exit 1 if any is stale (the tests do the same)

Today: the README's syllabus table, between `<!-- syllabus:start -->` and `<!-- syllabus:end -->`,
and WORKSHOP.md, the workshop agenda (course_utils.syllabus.workshop_markdown).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.syllabus import load_syllabus, syllabus_markdown, workshop_markdown  # noqa: E402

START, END = "<!-- syllabus:start -->", "<!-- syllabus:end -->"


def render_readme(text: str) -> str:
    """README text with the syllabus block replaced by the current one."""
    if START not in text or END not in text:
        raise ValueError(f"README.md needs the markers {START} and {END}")
    block = f"{START}\n{syllabus_markdown(load_syllabus())}\n{END}"
    return re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)


def generated_files() -> dict[Path, str]:
    """Each generated file and the content it should have now."""
    readme = ROOT / "README.md"
    return {
        readme: render_readme(readme.read_text(encoding="utf-8")),
        ROOT / "WORKSHOP.md": workshop_markdown(load_syllabus()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for path, content in generated_files().items():
        if path.exists() and path.read_text(encoding="utf-8") == content:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(content, encoding="utf-8")
    if args.check:
        print("stale: " + ", ".join(stale) + " (run `make docs`)" if stale else "all generated docs are current")
        return 1 if stale else 0
    print("updated: " + ", ".join(stale) if stale else "nothing to update")
    return 0


if __name__ == "__main__":
    sys.exit(main())
