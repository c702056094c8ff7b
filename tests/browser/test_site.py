"""The course website (tools/build_site.py, `make site`), built and opened from disk in Chromium.

Every page is visited: every image must have loaded, every link inside the site must lead to a file
that exists (and to an element of that page when it names one), and links out of the site must be
well-formed addresses (they are not fetched: the test runs offline, and the browser may reach nothing
outside the folder). Each notebook page must show a picture for every widget of its notebook.

The site is built from the committed notebooks; COURSE_SITE_NOTEBOOKS=/path/to/folder builds it from
other copies (e.g. freshly executed ones).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from build_site import build_site  # noqa: E402

pytestmark = pytest.mark.browser

NOTEBOOKS = Path(os.environ.get("COURSE_SITE_NOTEBOOKS", ROOT / "notebooks"))
STEMS = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

_PAGE_FACTS = """() => ({
  images: [...document.images].map(i => ({src: i.currentSrc.slice(0, 80), ok: i.complete && i.naturalWidth > 0,
                                          output: !!i.closest('.jp-OutputArea-output')})),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
})"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    build_site(out, NOTEBOOKS)
    return out


@pytest.fixture(scope="module")
def site_facts(browser, site):
    """Visit every page once (no network: anything not on disk is refused) and collect images, links and ids."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page = context.new_page()
    facts = {}
    for html in sorted(site.glob("*.html")):
        page.goto(html.as_uri(), wait_until="load")
        facts[html.name] = page.evaluate(_PAGE_FACTS)
    context.close()
    return facts


def explorer_outputs(stem: str) -> list[dict]:
    """The data of every output that shows an Explorer (found through the saved widget state; an output whose
    state is missing counts too). Progress bars are widgets without a figure: they show their text."""
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                model = state.get(data[WIDGET_VIEW]["model_id"])
                if model is None or "cu-explorer" in model["state"].get("_dom_classes", []):
                    found.append(data)
    return found


def test_home_page_lists_every_notebook(site, site_facts):
    links = {Path(urlsplit(u).path).name for u in site_facts["index.html"]["links"] if u.startswith("file:")}
    assert {f"{s}.html" for s in STEMS} <= links
    assert {f"{s}.ipynb" for s in STEMS} <= links, "a download link per notebook"
    assert set(site_facts) == {"index.html", *(f"{s}.html" for s in STEMS)}


@pytest.mark.parametrize("name", ["index.html", *(f"{s}.html" for s in STEMS)])
def test_every_image_loads_and_no_link_is_broken(site, site_facts, name):
    facts = site_facts[name]
    broken = [i["src"] for i in facts["images"] if not i["ok"]]
    assert not broken, f"{name}: images that did not load: {broken}"
    for url in facts["links"]:
        parts = urlsplit(url)
        if parts.scheme == "file":
            target = Path(unquote(parts.path))
            assert target.is_file() and site in target.parents, f"{name}: broken link {url}"
            if parts.fragment and target.suffix == ".html":
                ids = site_facts[target.name]["ids"]
                # as browsers look it up: the fragment as written, then percent-decoded (nbconvert's heading
                # ids keep the encoding: id="00-%C2%B7-Start-here")
                assert {parts.fragment, unquote(parts.fragment)} & set(ids), f"{name}: link to a missing anchor {url}"
        else:
            assert parts.scheme in ("http", "https", "mailto") and (parts.netloc or parts.scheme == "mailto"), (
                f"{name}: malformed link {url}"
            )
    if name != "index.html":
        outside = {urlsplit(u).netloc for u in facts["links"] if not u.startswith("file:")}
        assert {"colab.research.google.com", "mybinder.org", "github.com"} <= outside, f"{name}: {outside}"


@pytest.mark.parametrize("stem", STEMS)
def test_every_widget_shows_its_picture(site_facts, stem):
    explorers = explorer_outputs(stem)
    missing = sum("image/png" not in data for data in explorers)
    assert not missing, f"{stem}: {missing} of {len(explorers)} widget outputs have no picture: re-execute the notebook"
    shown = sum(i["output"] and i["src"].startswith("data:image/png") for i in site_facts[f"{stem}.html"]["images"])
    assert shown >= len(explorers), f"{stem}: {len(explorers)} widgets, {shown} pictures shown in its outputs"
