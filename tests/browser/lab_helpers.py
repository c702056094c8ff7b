"""Playwright helpers for JupyterLab: open a notebook, run it, find explorers, move their controls."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

RUN_TIMEOUT_S = 600  # Run All of the slowest notebook (the capstone, about 3 minutes idle) on a busy machine
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the visible tab
CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]


def find_chromium() -> str | None:
    """The Chromium the browser tests use: $COURSE_CHROMIUM, else Debian's or Ubuntu's; None if there is none."""
    for candidate in [os.environ.get("COURSE_CHROMIUM")] + CHROMIUM_CANDIDATES:
        if candidate and Path(candidate).exists():
            return candidate
    return None


def open_notebook(page, base: str, token: str, name: str) -> None:
    """Open notebooks/<name> in the JupyterLab shown on `page` and wait until its kernel is idle.

    JupyterLab is loaded once per page and each notebook then opened by the command the file browser
    uses: starting the app is most of the time of opening a notebook (the server exposes the app as
    `window.jupyterapp` for this). Close each notebook with `close_notebook` before opening the next."""
    try:
        loaded = page.evaluate("() => !!window.jupyterapp")
    except Exception:  # a page that crashed or hangs in an earlier test: load it again
        loaded = False
    if not loaded:
        page.goto(f"{base}/lab?reset&token={token}")  # reset: no tabs from an earlier workspace
        page.wait_for_function("() => !!window.jupyterapp", timeout=90_000)
    page.evaluate(
        """async (path) => {
          const app = window.jupyterapp;
          await app.restored;
          const panel = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
          await panel.context.ready;
          await panel.sessionContext.ready;  // a kernel is connected
          const idle = () => panel.sessionContext.session?.kernel?.status === 'idle';
          const t0 = performance.now();
          while (!idle()) {
            if (performance.now() - t0 > 60000) throw new Error('the kernel was not idle within 60 s');
            await new Promise(r => setTimeout(r, 100));
          }
        }""",
        f"notebooks/{name}",
    )
    page.locator(f"{PANEL} .jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=90_000)


def close_notebook(page, base: str, token: str, name: str) -> None:
    """Close every tab of the page's JupyterLab without saving (the test saves what it checks), and
    shut down the kernel of notebooks/<name>, so that the next notebook has the machine to itself."""
    try:
        page.evaluate(
            """() => { for (const root of document.querySelectorAll('.cu-explorer'))  // the test's observers
                         for (const o of root.__cuObservers || []) o.disconnect();
                       const app = window.jupyterapp; if (!app) return;
                       for (const w of Array.from(app.shell.widgets('main'))) {
                         if (w.context) w.context.model.dirty = false;  // no "save your changes?" dialog
                         w.dispose(); } }"""
        )
    finally:
        for session in _sessions(base, token):
            if session.get("path", "").endswith(name):
                request = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}", method="DELETE")
                urllib.request.urlopen(request, timeout=30).close()


def _sessions(base: str, token: str) -> list[dict]:
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as response:
        return json.loads(response.read())


def _menu(page, top: str, command: str) -> None:
    """Open a top-level menu and click the item bound to a JupyterLab command id."""
    page.keyboard.press("Escape")
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    item = page.locator(f".lm-Menu li[data-command='{command}']").first
    item.wait_for(state="visible", timeout=10_000)
    item.click()


def run_all(page) -> float:
    """Clear outputs, run every cell, wait until each code cell has a fresh execution count; return seconds."""
    # every prompt must read "[ ]:" before running, so a stale "[12]:" cannot pass for a fresh one
    for attempt in range(3):  # a menu click can be lost while the page is still busy loading
        _menu(page, "Edit", "editmenu:clear-all")
        try:
            page.wait_for_function(
                f"""() => !document.querySelector('{PANEL} .jp-OutputArea-output') &&
                          [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputPrompt')]
                              .every(p => !/\\d/.test(p.textContent))""",
                timeout=15_000,
            )
            break
        except Exception:
            if attempt == 2:
                raise
    start = time.perf_counter()
    for _ in range(3):  # a menu click can be lost while the page is busy: check that running started
        _menu(page, "Run", "runmenu:run-all")
        try:
            page.wait_for_function(
                f"""() => [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputPrompt')]
                         .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""",
                timeout=15_000,
            )
            break
        except Exception:
            continue
    page.wait_for_function(
        f"""() => {{ const prompts = [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputPrompt')];
                   return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)); }}""",
        timeout=RUN_TIMEOUT_S * 1000,
        polling=500,
    )
    return time.perf_counter() - start


def save_notebook(page, path: Path, timeout_s: float = 30) -> dict:
    """Save the open notebook (File > Save Notebook) to `path` and return it as read back from disk."""
    before = path.stat().st_mtime_ns
    _menu(page, "File", "docmanager:save")
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if path.stat().st_mtime_ns != before:
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:  # caught mid-write
                pass
        time.sleep(0.2)
    raise AssertionError(f"{path.name} was not saved within {timeout_s} s")


def shown_text(outputs: list) -> str:
    """What a cell showed as text, as nbval compares it: stream text and text/plain results; errors named."""
    parts = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
        elif kind in ("execute_result", "display_data"):
            plain = out.get("data", {}).get("text/plain", "")
            parts.append("".join(plain) if isinstance(plain, list) else plain)
        elif kind == "error":
            parts.append(f"ERROR {out.get('ename')}: {out.get('evalue')}")
    return "".join(parts)


def notebook_kernel(base: str, token: str, runtime_dir: Path, name: str):
    """A client of the kernel that the page's notebook `name` runs on (a second client beside the page's)."""
    from jupyter_client import BlockingKernelClient

    sessions = _sessions(base, token)
    ids = [s["kernel"]["id"] for s in sessions if s.get("path", "").endswith(name) and s.get("kernel")]
    assert ids, f"no kernel session for {name}: {sessions}"
    client = BlockingKernelClient()
    client.load_connection_file(str(runtime_dir / f"kernel-{ids[-1]}.json"))
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return client


def run_in_kernel(client, code: str, timeout_s: float = RUN_TIMEOUT_S) -> tuple[str, str | None]:
    """Execute `code` in the kernel; return (the text it showed, "Name: message" of its error or None)."""
    outputs = []

    def collect(msg):
        if msg["msg_type"] in ("stream", "execute_result", "display_data", "error"):
            outputs.append({"output_type": msg["msg_type"], **msg["content"]})

    client.execute_interactive(code, timeout=timeout_s, output_hook=collect, store_history=False)
    errors = [o for o in outputs if o["output_type"] == "error"]
    return shown_text([o for o in outputs if o["output_type"] != "error"]), (
        f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else None
    )


def error_outputs(page) -> list[str]:
    """Texts of outputs that show a Python traceback (text content: an output out of view is not rendered)."""
    texts = page.locator(f"{PANEL} .jp-OutputArea-output").all_text_contents()
    return [t[:1500] for t in texts if "Traceback (most recent call last)" in t or "Error displaying widget" in t]


def _kind(control) -> str:
    classes = control.get_attribute("class") or ""
    for kind in ("widget-toggle-buttons", "widget-dropdown", "widget-radio", "widget-checkbox", "widget-slider"):
        if kind in classes:
            return kind
    raise AssertionError(f"unsupported control with classes {classes!r}")


def change_control(page, control, kind: str, attempt: int = 0) -> None:
    """Move a control (of the `_kind` given, already scrolled into view) to another value the way a person would."""
    if kind == "widget-toggle-buttons":
        buttons = control.locator("button")
        inactive = [
            i for i in range(buttons.count()) if "mod-active" not in (buttons.nth(i).get_attribute("class") or "")
        ]
        buttons.nth(inactive[attempt % len(inactive)]).click()
    elif kind == "widget-dropdown":
        select = control.locator("select")
        values = select.locator("option").evaluate_all("opts => opts.map(o => o.value)")
        current = select.input_value()
        others = [v for v in values if v != current]
        select.select_option(others[attempt % len(others)])
    elif kind == "widget-radio":
        radios = control.locator("input[type=radio]")
        unchecked = [i for i in range(radios.count()) if not radios.nth(i).is_checked()]
        radios.nth(unchecked[attempt % len(unchecked)]).check()
    elif kind == "widget-checkbox":
        control.locator("input[type=checkbox]").click()
    else:  # slider: keyboard on the handle, as a person using the keyboard would, away from an end
        low, now, high = control.locator(".noUi-handle").first.evaluate(
            """h => { h.focus();
                      return ['aria-valuemin', 'aria-valuenow', 'aria-valuemax'].map(a => parseFloat(h.getAttribute(a))); }"""
        )
        right = now <= low or (now < high and attempt % 2 == 0)
        page.keyboard.press("ArrowRight" if right else "ArrowLeft")


# Timing inside the page, so the test driver's own round trips are not counted: from the person's
# input (a key press, a click, a changed selection inside the explorer) to the new figure painted, as
# the browser itself reports it: the figure carries an `elementtiming` attribute, and Chromium's Element
# Timing API gives the time each new picture was rendered on screen (its renderTime), so the test adds
# no work of its own (decoding the picture a second time, waiting for extra frames). A click counts from
# the click event, when the button is released and the value changes, not from the press before it (the
# driver's press-to-release gap would count otherwise). Installed once per explorer, re-armed per move.
_INSTRUMENT = """(root) => {
  if (!root.__cu) {
    const img = root.querySelector('img.cu-figure');
    img.setAttribute('elementtiming', 'cu-figure');
    const t = root.__cu = {};
    const mark = (k, at) => { if (t.armed && !(k in t)) t[k] = at ?? performance.now(); };
    for (const ev of ['keydown', 'click', 'input', 'change'])
      root.addEventListener(ev, () => mark('input'), true);
    const changed = new MutationObserver(() => mark('figure'));
    changed.observe(img, {attributes: true, attributeFilter: ['src']});
    const painted = new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        if (e.element === img && 'figure' in t && e.renderTime >= t.figure) mark('painted', e.renderTime);
    });
    painted.observe({type: 'element'});
    root.__cuObservers = [changed, painted];
  }
  for (const k of Object.keys(root.__cu)) delete root.__cu[k];
  root.__cu.armed = true;
}"""

_WAIT_PAINTED = """(root, timeoutMs) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const poll = () => {
    const t = root.__cu;
    if ('painted' in t) resolve({input: t.input ?? null, painted: t.painted, now: performance.now()});
    else if (performance.now() - t0 > timeoutMs && 'figure' in t)  // a new picture the browser never reported
      resolve({input: t.input ?? null, painted: null, now: performance.now()});
    else if (performance.now() - t0 > timeoutMs) reject(new Error('no new figure'));
    else setTimeout(poll, 10);  // a timer, not animation frames: waiting must not make the page draw
  };
  poll();
})"""


def _wait_for_widgets(page, expected: int, timeout_s: float = 30) -> None:
    """Widget views render after their cell has finished: wait until the page shows `expected`
    explorers, each with its figure loaded."""
    try:
        page.wait_for_function(
            f"""n => {{ const shown = [...document.querySelectorAll('{PANEL} .cu-explorer img.cu-figure')];
                       return shown.length >= n && shown.every(img => img.complete && img.naturalWidth > 0); }}""",
            arg=expected,
            timeout=timeout_s * 1000,
        )
    except Exception:
        pass  # the caller's assertion on the count says what is missing


# The whole explorer in view, as a learner looks at it (at most 600 px tall): the figure must be on screen
# for the browser to paint it and report when it did. Scrolled until it stays in view: with JupyterLab's
# windowing the cells above it take their real height only once rendered, which moves it after a scroll.
_SHOW = """async (e) => {
  const scroller = e.closest('.jp-WindowedPanel-outer') || document.scrollingElement;
  const inView = () => { const box = e.getBoundingClientRect(), view = scroller.getBoundingClientRect();
                         return box.top >= view.top - 1 && box.bottom <= view.bottom + 1; };
  for (let i = 0; i < 10; i++) {
    if (!inView()) e.scrollIntoView({block: 'center'});
    await new Promise(r => setTimeout(r, 150));  // and still in view a moment later
    if (inView()) {
      // then until the page has rendered what the scroll brought into view (cells outside the window are
      // rendered only when shown): a learner reads before moving a control, and that rendering is not the
      // widget's latency, though the first move after a long scroll waited for it (up to ~150 ms more).
      // (The first move of each explorer stays slower than the rest, by a median 10-20 ms and at times
      // 100-240 ms, however long the wait: it is a first click in the explorer's cell, and JupyterLab makes
      // that cell the active one. On every change of active cell JupyterLab 4 resets the cursor of every
      // other cell's editor (Notebook._trimSelections), and in the next frame each CodeMirror editor measures
      // itself, forcing the style and layout of its cell, which the default windowing (contentVisibility)
      // had skipped: for the 58 other cells of notebook 01 a task of 50-250 ms, the most on a notebook's first click,
      // before the page reads the kernel's reply. A learner's first click in a cell pays that too, so it is
      // counted; `make bench` shows first moves apart from the rest.)
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
      await new Promise(r => requestIdleCallback(r, {timeout: 2000}));
      return true;
    }
  }
  return false;
}"""


def drive_explorers(page, timeout_ms: int = 10_000, moves: int = 3) -> list[dict]:
    """Move every control of every explorer on the page `moves` times; each move must change the figure.
    Call it after `measure_explorers`, which waits until the widgets are shown.

    Returns one record per move: explorer, control, kind, `latency_ms` (measured in the page, from the
    input event to the new figure painted: what a person waits for) and `driver_ms` (the same move
    timed from the test driver, including Playwright's own round trips).
    """
    records = []
    explorers = page.locator(f"{PANEL} .cu-explorer")
    for e in range(explorers.count()):
        explorer = explorers.nth(e)
        name = _explorer_name(explorer)
        controls = explorer.locator(".cu-control")
        assert controls.count() > 0, f"explorer {name} has no controls in the page"
        assert explorer.evaluate(_SHOW), f"explorer {name} could not be scrolled fully into view"
        for c in range(controls.count()):
            control = controls.nth(c)
            control_name = next(
                x[len("cu-control-") :]
                for x in (control.get_attribute("class") or "").split()
                if x.startswith("cu-control-")
            )
            kind = _kind(control)  # in view: the whole explorer is
            for move in range(moves):
                timing = None
                for attempt in (move, move + 1):  # a move that changed nothing is tried once more, another way
                    explorer.evaluate(_INSTRUMENT)
                    start = time.perf_counter()
                    change_control(page, control, kind, attempt)
                    try:
                        timing = explorer.evaluate(_WAIT_PAINTED, timeout_ms)
                        break
                    except Exception:
                        continue
                driver_ms = (time.perf_counter() - start) * 1000
                assert timing is not None, (
                    f"moving control {control_name!r} of explorer {name!r} did not change its figure"
                )
                assert timing["painted"] is not None, (
                    f"moving control {control_name!r} of explorer {name!r} changed the figure, but the browser "
                    "reported no paint of it (is the figure on screen?)"
                )
                assert timing["input"] is not None, f"no input event seen for control {control_name!r} of {name!r}"
                records.append(
                    {
                        "explorer": name,
                        "explorer_index": e,
                        "control": control_name,
                        "kind": kind,
                        "move": move,
                        "latency_ms": round(timing["painted"] - timing["input"], 1),
                        "driver_ms": round(driver_ms, 1),
                    }
                )
    return records


# Texts of the explorer the page cuts off: a control's description, a button's label or a readout wider than
# its box, which the page ends with an ellipsis ("weight sc...", "σ = ..."), so the learner cannot read it.
_MEASURE = """(root) => {
  const img = root.querySelector('img.cu-figure');
  const box = root.getBoundingClientRect(), shown = img.getBoundingClientRect();
  const natural = [parseFloat(img.getAttribute('width')), parseFloat(img.getAttribute('height'))];
  const clipped = [...root.querySelectorAll('*')].filter(x => {
    if (!x.textContent.trim()) return false;
    const style = getComputedStyle(x);
    return style.textOverflow === 'ellipsis' && style.overflowX !== 'visible' && x.scrollWidth > x.clientWidth;
  }).map(x => x.textContent.trim());
  return {height_px: Math.round(box.height), natural_px: natural,
          shown_px: [Math.round(shown.width * 10) / 10, Math.round(shown.height * 10) / 10],
          png_px: [img.naturalWidth, img.naturalHeight], dpr: window.devicePixelRatio, clipped};
}"""


def _explorer_name(explorer) -> str:
    """The explorer's name, from its `cu-explorer-<name>` class."""
    classes = (explorer.get_attribute("class") or "").split()
    return next(c[len("cu-explorer-") :] for c in classes if c.startswith("cu-explorer-"))


def measure_explorers(page, expected: int) -> list[dict]:
    """Each explorer's height on the page (controls, figure and caption), its figure's display scale (the
    shown width over the natural width: the figure's size in inches times the explorer's dpi) and the texts
    the page cuts off (`clipped`).
    Waits until `expected` explorers are shown (as many as the committed notebook shows)."""
    explorers = page.locator(f"{PANEL} .cu-explorer")
    _wait_for_widgets(page, expected)
    sizes = []
    for e in range(explorers.count()):
        explorer = explorers.nth(e)
        name = _explorer_name(explorer)
        m = explorer.evaluate(_MEASURE)
        m["scale"] = round(m["shown_px"][0] / m["natural_px"][0], 3)
        sizes.append({"explorer": name, "explorer_index": e, **m})
    return sizes


# Counts the figure updates that follow a burst of key presses on a slider, and when the last one came.
_COUNT_UPDATES = """(root) => {
  const img = root.querySelector('img.cu-figure');
  const c = root.__cuBurst = {updates: 0, last: 0, lastInput: 0};
  root.addEventListener('keydown', () => { c.lastInput = performance.now(); }, true);
  new MutationObserver(() => { c.updates += 1; c.last = performance.now(); })
    .observe(img, {attributes: true, attributeFilter: ['src']});
}"""


def burst_slider(page, presses: int = 12, quiet_s: float = 0.75, timeout_s: float = 30) -> dict | None:
    """A burst of moves on the first slider of the page: `presses` ArrowRight key presses dispatched in
    one go (faster than any redraw, as when a learner drags). Waits until figures stop arriving (none new
    for `quiet_s`, so a queue of stale renders on a slow machine is still counted), then returns how many
    new figures arrived and whether the last came after the last key press (the latest value drawn).
    None without a slider."""
    handle = page.locator(f"{PANEL} .cu-explorer .cu-control.widget-slider .noUi-handle").first
    if handle.count() == 0:
        return None
    root = handle.locator("xpath=ancestor::*[contains(concat(' ', @class, ' '), ' cu-explorer ')][1]")
    root.evaluate(_COUNT_UPDATES)
    handle.scroll_into_view_if_needed()
    handle.evaluate(
        """(h, n) => { h.focus();
        for (let i = 0; i < n; i++)
          h.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true, cancelable: true})); }""",
        presses,
    )
    deadline, seen, changed = time.time() + timeout_s, -1, time.time()
    while time.time() < deadline:
        page.wait_for_timeout(250)
        updates = root.evaluate("(root) => root.__cuBurst.updates")
        if updates != seen:
            seen, changed = updates, time.time()
        elif updates > 0 and time.time() - changed >= quiet_s:
            break
    handle.blur()
    counts = root.evaluate("(root) => root.__cuBurst")
    return {
        "presses": presses,
        "updates": counts["updates"],
        "last_update_after_last_input": counts["last"] > counts["lastInput"],
    }


def save_records(
    path: Path,
    notebook: str,
    records: list[dict],
    run_s: float,
    widgets: list[dict] | None = None,
    burst: dict | None = None,
) -> None:
    """Merge this notebook's browser measurements into a JSON file the benchmark reports."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[notebook] = {"run_all_s": round(run_s, 1), "controls": records, "widgets": widgets or [], "burst": burst}
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
