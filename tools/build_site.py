"""Build the course website: a static site from the committed notebooks, in build/site/.

    python tools/build_site.py                  # or: make site
    python tools/build_site.py --out /tmp/site  # somewhere else

One page per notebook (its text, math, code and outputs; each widget shows the static picture saved
beside it), a home page with the syllabus, and on every page links to open the notebook in Colab or
Binder, to download it, and to the previous and next notebook. The pages are nbconvert's own HTML
(the "lab" template, as JupyterLab shows a notebook); nothing is executed and nothing is downloaded
while building, so it runs offline and in CI in a few seconds. Open build/site/index.html in a browser,
or publish the folder as it is (GitHub Pages).

Why nbconvert: it is the Jupyter project's own converter, already a dependency of the course (student
copies, tests), installs from PyPI alone, and needs no Node.js and no theme fetched at build time
(Jupyter Book 2 / mystmd needs both); Jupyter Book 1 (Sphinx) would add search but a large, slower
toolchain for eleven pages.
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.syllabus import BRANCH, REPOSITORY, colab_url, load_syllabus  # noqa: E402

DEFAULT_OUT = ROOT / "build" / "site"
NOTEBOOKS = ROOT / "notebooks"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TITLE = "Deep Learning, one term at a time"

STYLE = """
.cu-site-nav { position: sticky; top: 0; z-index: 10; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em;
  align-items: center; padding: 0.6em 1em; background: #f4f6f8; border-bottom: 1px solid #d0d7de;
  font-family: system-ui, sans-serif; font-size: 14px; }
.cu-site-nav a { color: #0550ae; text-decoration: none; }
.cu-site-nav a:hover { text-decoration: underline; }
.cu-site-nav .cu-home { font-weight: 600; }
.cu-site-nav .cu-spacer { flex: 1; }
.cu-site-home { max-width: 960px; margin: 0 auto; padding: 1em 1.5em 3em; font-family: system-ui, sans-serif;
  line-height: 1.5; color: #1f2328; }
.cu-site-home table { border-collapse: collapse; width: 100%; margin: 1em 0; }
.cu-site-home th, .cu-site-home td { border-bottom: 1px solid #d0d7de; padding: 0.45em 0.6em; text-align: left;
  vertical-align: top; }
.cu-site-home code { background: #f4f6f8; padding: 0.1em 0.3em; border-radius: 4px; }
.cu-site-home ul { margin: 0.2em 0 0.8em; }
"""


def binder_url(stem: str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The address that opens `notebooks/<stem>.ipynb` in JupyterLab on mybinder.org."""
    owner_name = urlsplit(repository).path.strip("/").removesuffix(".git")
    return (
        f"https://mybinder.org/v2/gh/{owner_name}/{branch}?urlpath={quote(f'lab/tree/notebooks/{stem}.ipynb', safe='')}"
    )


def source_url(path: str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The address of a repository file (path relative to the repository root) on GitHub."""
    return f"{repository.rstrip('/').removesuffix('.git')}/blob/{branch}/{path}"


def static_notebook(nb):
    """A copy of the notebook as a reader without a kernel sees it: no widget state, so every widget
    output shows its saved picture (image/png) rather than a widget that would need JavaScript."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    return nb


def _nav(entries, index: int | None) -> str:
    """The bar at the top of every page."""
    parts = [f'<a class="cu-home" href="index.html">{html.escape(TITLE)}</a>', '<span class="cu-spacer"></span>']
    if index is not None:
        e = entries[index]
        if index > 0:
            prev = entries[index - 1]
            parts.insert(
                1, f'<a class="cu-prev" href="{prev.stem}.html">&larr; {prev.number} {html.escape(prev.term)}</a>'
            )
        if index + 1 < len(entries):
            nxt = entries[index + 1]
            parts.insert(
                -1, f'<a class="cu-next" href="{nxt.stem}.html">{nxt.number} {html.escape(nxt.term)} &rarr;</a>'
            )
        parts += [
            f'<a class="cu-colab" href="{colab_url(e.stem)}">Open in Colab</a>',
            f'<a class="cu-binder" href="{binder_url(e.stem)}">Binder</a>',
            f'<a class="cu-download" href="notebooks/{e.stem}.ipynb" download>Download .ipynb</a>',
            f'<a class="cu-source" href="{source_url(f"notebooks/{e.stem}.ipynb")}">GitHub</a>',
        ]
    else:
        parts += [f'<a class="cu-source" href="{html.escape(REPOSITORY)}">GitHub</a>']
    return f'<nav class="cu-site-nav">{"".join(parts)}</nav>'


_HREF = re.compile(r'(<a\s[^>]*?href=")([^"]*)(")')


def _rewrite_links(page: str, stems: set[str]) -> str:
    """Links between notebooks point to their pages; links to other files of the repository to GitHub."""

    def fix(match):
        href = html.unescape(match.group(2))
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path:  # external, or an anchor on this page
            return match.group(0)
        target = parts.path
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        name = Path(target).name
        if name.endswith(".ipynb") and name[: -len(".ipynb")] in stems:
            new = f"{name[: -len('.ipynb')]}.html{fragment}"
        else:  # a file of the repository, relative to notebooks/
            resolved = (NOTEBOOKS / target).resolve()
            try:
                relative = resolved.relative_to(ROOT).as_posix()
            except ValueError:
                return match.group(0)
            new = source_url(relative) + fragment
        return f"{match.group(1)}{html.escape(new, quote=True)}{match.group(3)}"

    return _HREF.sub(fix, page)


def _with_nav(page: str, nav: str) -> str:
    page = page.replace("</head>", f"<style>{STYLE}</style>\n</head>", 1)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + nav, page, count=1)


def notebook_page(path: Path, entries, index: int, exporter: HTMLExporter) -> str:
    nb = static_notebook(nbformat.read(path, as_version=4))
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    body = body.replace(
        f"<title>{path.stem}</title>",
        f"<title>{entries[index].number} · {html.escape(entries[index].term)} · {html.escape(TITLE)}</title>",
    )
    body = _rewrite_links(body, {e.stem for e in entries})
    return _with_nav(body, _nav(entries, index))


def home_page(entries) -> str:
    """The syllabus: every notebook with its term, minutes, prerequisites, device and objectives."""
    rows = []
    for e in entries:
        prereq = ", ".join(f'<a href="{p}.html">{p[:2]}</a>' for p in e.prerequisites) or "none"
        objectives = "".join(f"<li>{html.escape(o)}</li>" for o in e.objectives)
        rows.append(
            f'<tr><td>{e.number}</td><td><a href="{e.stem}.html"><b>{html.escape(e.term)}</b></a>'
            f"<ul>{objectives}</ul></td><td>{e.minutes}</td><td>{prereq}</td><td>{html.escape(e.device)}</td>"
            f'<td><a href="{colab_url(e.stem)}">Colab</a> · <a href="{binder_url(e.stem)}">Binder</a> · '
            f'<a href="notebooks/{e.stem}.ipynb" download>.ipynb</a></td></tr>'
        )
    total = sum(e.minutes for e in entries)
    repository = html.escape(REPOSITORY)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(TITLE)}</title><style>{STYLE}</style></head>
<body>
{_nav(entries, None)}
<main class="cu-site-home">
<h1>{html.escape(TITLE)}</h1>
<p>An interactive course on deep learning: one notebook per term, each pairing a short explanation with
live widgets, from-scratch code checked against PyTorch, small experiments that back every claim, and
exercises with instant feedback. The pages below show every notebook as it ran, figures included; to
move the widgets and do the exercises, open a notebook in Colab or Binder, or install the course.</p>
<h2>Syllabus</h2>
<p>{len(entries)} notebooks, about {total} minutes in all. Each builds on the ones listed beside it.</p>
<table class="cu-syllabus">
<thead><tr><th>#</th><th>term and objectives</th><th>minutes</th><th>builds on</th><th>device</th><th>run it</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Run it yourself</h2>
<ul>
<li><b>Colab</b>: the "Open in Colab" link on each page; the notebook's first cell installs the course.</li>
<li><b>Your machine</b> (Python 3.10 or newer): <code>git clone {repository}</code>, then <code>make lab</code>
in the clone; or <code>pip install "git+{repository}"</code> in an environment of your own.</li>
</ul>
<p>Source, issues and instructions: <a href="{repository}">{repository}</a>.</p>
</main>
</body></html>
"""


def build_site(out_dir: Path | str = DEFAULT_OUT, notebooks_dir: Path | str = NOTEBOOKS) -> list[Path]:
    """Write the site to `out_dir` (emptied first); return the pages written, the home page first."""
    out_dir, notebooks_dir = Path(out_dir), Path(notebooks_dir)
    entries = load_syllabus(notebooks_dir)
    if not entries:
        raise ValueError(f"build_site: no NN_name.ipynb notebooks in {notebooks_dir}")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "notebooks").mkdir(parents=True)
    exporter = HTMLExporter(template_name="lab", theme="light")
    pages = [out_dir / "index.html"]
    pages[0].write_text(home_page(entries), encoding="utf-8")
    for index, entry in enumerate(entries):
        path = notebooks_dir / f"{entry.stem}.ipynb"
        page = out_dir / f"{entry.stem}.html"
        page.write_text(notebook_page(path, entries, index, exporter), encoding="utf-8")
        shutil.copy(path, out_dir / "notebooks" / path.name)
        pages.append(page)
    (out_dir / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve the files as they are
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (emptied first; default build/site)")
    args = parser.parse_args(argv)
    pages = build_site(args.out)
    out = Path(args.out)
    print(f"built {len(pages)} pages in {out}: open {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
