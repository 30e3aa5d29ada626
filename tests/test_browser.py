"""Every notebook in JupyterLab, in headless Chromium driven by Playwright: Run All, then move every control.

What a student sees, not what a kernel computes: after Run All there must be no error output, no widget
shown as text ("HBox(children=..." / "Error displaying widget" / a stuck "Loading widget...") and every
control named like a parameter (ρ -> RHO, p -> P, c -> C, τ range -> TAU_RANGE) must show the parameters
cell's value. Then every control of every explorer (an ipywidgets Output in a VBox with controls) is moved
once: sliders by keyboard (ArrowRight on the focused handle) and by a mouse drag, dropdowns to their next
option, and a Run button is clicked whenever a move enabled it. After each move the explorer's output must
show exactly one figure, a different image from before, and no traceback or widget error; a move to a
combination that has nothing to draw may show one short message instead (no figure, no traceback). The time
from the input (key press, start of the drag, choice) to the changed image (a MutationObserver in the page;
the first image that differs) is printed per move, next to the targets: notebook 02 within 100 ms, the
others within 150 ms (issue 19; a Run that trains is printed but has no target; times are printed, not
asserted: a shared 2-core machine makes them noisy), and per notebook their median, p90 and max.

Smoke scale: the notebooks are copied into a temp folder with ``SCALE = "smoke"`` injected after the
parameters cell (see tests/browser_lab.py); the checkout's notebooks are never edited. For the browser benchmark
(benchmarks/browser_redraw.py) three variables change that: ``SAMLAB_BROWSER_SCALE`` (e.g. ``quick``),
``SAMLAB_BROWSER_RUNS`` (a filled results store, copied into the temp folder, so nothing trains and the original
is never written) and ``SAMLAB_BROWSER_CLICK_RUN=0`` (a move that asks for Run is logged, not clicked: at quick
scale a Run trains for minutes). JupyterLab runs on a
free loopback port with a token, every Jupyter folder and the results store and figures in temp folders;
screenshots of each state go to ``<tmp>/screens``. The server, its kernels and the browser are stopped also
on failure, and the last test checks that no process is left.

Skipped (with the reason) when Playwright or Chromium is missing, unless ``SAMLAB_REQUIRE_BROWSER=1`` (CI),
which turns the skip into a failure.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import statistics
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from browser_lab import CHROMIUM_ARGS, JupyterLab, alive, copy_notebooks, descendants, find_chromium
from samlab.notebooks import notebook_paths

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths()
PAGE_JS = (Path(__file__).parent / "browser_page.js").read_text()
TARGET_MS = {"02": 100.0}       # notebook number -> input-to-image target (printed, not asserted)
DEFAULT_TARGET_MS = 150.0       # issue 19: 150 ms median, 300 ms at the 90th percentile
SCALE = os.environ.get("SAMLAB_BROWSER_SCALE") or "smoke"
FILLED_STORE = os.environ.get("SAMLAB_BROWSER_RUNS") or None
CLICK_RUN = os.environ.get("SAMLAB_BROWSER_CLICK_RUN", "1") not in ("0", "")
RUN_ALL_TIMEOUT_S = 240 if SCALE == "smoke" else 900
pytestmark = [pytest.mark.browser, pytest.mark.timeout(600 if SCALE == "smoke" else 1800)]
MOVE_TIMEOUT_S = 120            # a Run that trains (and evaluates) at smoke scale on a loaded machine
SETTLE_TIMEOUT_S = 15           # any other move (a redraw takes ~2 s on a loaded 2-core machine)
QUIET_MS = 600                  # an output is settled when nothing changed in it for this long
WIDGET_AS_TEXT = re.compile(r"\b(?:[A-Z][A-Za-z]*(?:Box|Slider|Progress)|Dropdown|Output|Button|HTML|Label|Checkbox|"
                            r"ToggleButtons|Tab|Accordion|Text|Image)\((?:children|value|description|layout|"
                            r"outputs|options|style|index)=")
ERROR_LINE = re.compile(r"^\s*(?:[A-Za-z_.]+(?:Error|Exception)|KeyboardInterrupt)(?::|\s+Traceback)", re.MULTILINE)
NB = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"   # the notebook shown (JupyterLab may restore others)
GREEK = {"ρ": "rho", "τ": "tau", "σ": "sigma", "β": "beta", "γ": "gamma", "η": "eta", "α": "alpha"}


def _require_browser() -> str:
    """Chromium's path, or a skip that says what is missing (a failure under SAMLAB_REQUIRE_BROWSER=1)."""
    required = os.environ.get("SAMLAB_REQUIRE_BROWSER", "") not in ("", "0")
    reason = None
    try:
        import playwright.sync_api  # noqa: F401 - only whether it is installed
    except ImportError:
        reason = "Playwright is not installed (pip install -e .[dev])"
    chromium = find_chromium()
    if reason is None and chromium is None:
        reason = (f"no Chromium at {os.environ.get('SAMLAB_CHROMIUM') or '/usr/bin/chromium'} "
                  "(apt-get install -y chromium, or set SAMLAB_CHROMIUM to its path)")
    if reason is None:
        return chromium  # type: ignore[return-value]
    if required:
        pytest.fail(f"SAMLAB_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"browser test skipped: {reason}")


class Session:
    """JupyterLab + Chromium for the whole module; ``close()`` is idempotent and runs also on failure."""

    def __init__(self, base: Path, chromium: str):
        self.base = base
        self.screens = base / "screens"
        self.screens.mkdir(parents=True)
        self.copies = copy_notebooks(NOTEBOOKS, base / "notebooks", SCALE)
        if FILLED_STORE:   # a copy: Run All and Run buttons may write to the store, never to the original
            shutil.copytree(FILLED_STORE, base / "runs")
        env = {"PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
               "SAMLAB_RUNS": str(base / "runs"), "SAMLAB_FIGURES": str(base / "figures"),
               "SAMLAB_DATA": os.environ.get("SAMLAB_DATA") or str(ROOT / "data"),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MPLBACKEND": None}   # unset conftest's Agg: the kernel uses JupyterLab's inline backend, as for a student
        self.lab = JupyterLab(base, base / "notebooks", env)
        self.pw = self.browser = None
        self.closed = False
        self.before = descendants(os.getpid())   # what this process had started before (none of ours)
        self.lab.start()
        from playwright.sync_api import sync_playwright

        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.browser is not None:
                self.browser.close()
        finally:
            try:
                if self.pw is not None:
                    self.pw.stop()
            finally:
                self.lab.stop()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    chromium = _require_browser()
    s = Session(tmp_path_factory.mktemp("browser"), chromium)
    try:
        yield s
    finally:
        s.close()


# ------------------------------------------------------------------------------------------------ page helpers

def _param_name(description: str) -> str:
    text = "".join(GREEK.get(ch, ch) for ch in description)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()


def _numbers(text: str) -> list[float]:
    text = text.replace("∞", " inf ")
    return [float(x) for x in re.findall(r"-?(?:\d+\.?\d*(?:e-?\d+)?|inf)", text)]


def _matches(shown: str, value: Any) -> bool:
    """Whether a control's readout shows ``value`` (to the readout's precision)."""
    want = list(value) if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(v, (int, float)) for v in want):
        return shown.strip() == str(value)
    got = _numbers(shown)
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if math.isinf(w) or math.isinf(g):
            if g != w:
                return False
            continue
        decimals = len(shown.split(".")[1].split()[0]) if "." in shown else 0
        if abs(g - w) > 0.5 * 10 ** -decimals + 1e-9 * max(1.0, abs(w)):
            return False
    return True


def _outputs_text(page) -> list[tuple[int, str, str]]:
    """(cell index, mime type, text) of every output of every code cell."""
    return page.evaluate(f"""() => [...document.querySelectorAll('{NB} .jp-CodeCell')].flatMap((cell, i) =>
        [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => [i, o.dataset.mimeType || '', o.innerText]))""")


def _prompts(page) -> list[str]:
    return page.eval_on_selector_all(f"{NB} .jp-CodeCell .jp-InputArea-prompt",
                                     "els => els.map(e => e.textContent.trim())")


def _problems_in_text(where: str, text: str, mime: str = "") -> list[str]:
    found = []
    if "Traceback" in text or (mime.endswith("stderr") and ERROR_LINE.search(text)) or mime.endswith("error"):
        found.append(f"{where}: error output: {_short(text)}")
    if "Error displaying widget" in text:
        found.append(f"{where}: {_short(text[text.index('Error displaying widget'):])}")
    if m := WIDGET_AS_TEXT.search(text):
        found.append(f"{where}: a widget shown as text: {_short(text[m.start():])}")
    if "Loading widget..." in text:
        found.append(f"{where}: a widget never rendered ('Loading widget...')")
    return found


def _short(text: str, n: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _run_all(page, timeout: float) -> float:
    """Run > Run All Cells through the menu; wait until no cell is queued or running; return the seconds."""
    page.wait_for_function("""() => { const t = document.querySelector('.jp-StatusBar-Widget, #jp-bottom-panel');
        const s = t ? t.innerText : ''; return /\\| Idle/.test(s) && !/No Kernel/.test(s); }""", timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()
    start = time.monotonic()
    started = quiet_since = None
    while time.monotonic() - start < timeout:
        prompts = _prompts(page)
        busy = any("*" in p for p in prompts)
        started = started or busy or any(re.search(r"\d", p) for p in prompts)
        if started and not busy:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.5:   # the browser's echoes of widget state arrive after the cell
                return time.monotonic() - start - 1.5
        else:
            quiet_since = None
        page.wait_for_timeout(250)
    raise TimeoutError(f"Run All did not finish within {timeout:.0f} s (prompts {_prompts(page)})")


def _settle(page, i: int, timeout: float, *, want_image: bool = False) -> dict:
    """Wait for explorer ``i``'s output to settle after an input: a new image then QUIET_MS without change, or
    a change without any image (a message) then 3 QUIET_MS, or ``timeout``. After a Run click (``want_image``) only
    a new image or the timeout ends the wait: the training's progress goes to its own output, so the figure's
    output is quiet while a Run trains. Returns what the watch saw."""
    deadline = time.monotonic() + timeout
    while True:
        res = page.evaluate("() => __samlab.result()")
        images = page.evaluate(f"() => __samlab.outputState({i}).images")
        if res["changed"] and res["quietMs"] >= QUIET_MS:
            return res
        if not want_image and res["mutations"] and not images and res["quietMs"] >= 3 * QUIET_MS:
            return res
        if time.monotonic() > deadline:
            return res
        page.wait_for_timeout(50)


def _move(page, control: dict, how: str) -> None:
    """Move ``control`` (``control`` as tagged before the move); ``back-<how>`` undoes the move ``how``."""
    loc = page.locator(f'[data-samlab-control="{control["id"]}"]')
    back = how.startswith("back-")
    how = how.removeprefix("back-")
    if how == "key":
        handle = loc.locator(".noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowLeft" if back else "ArrowRight")
    elif how == "drag":
        handle = loc.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + (-40 if back else 40), y, steps=6)
        page.mouse.up()
    elif how == "choose":
        loc.locator("select").select_option(index=control["selected"] if back else
                                            (control["selected"] + 1) % control["options"])
    elif how == "tick":
        loc.locator("input[type=checkbox]").click()
    elif how == "click":
        loc.click()
    else:
        raise ValueError(how)


def _moves(controls: list[dict]) -> list[tuple[dict, str]]:
    moves = []
    for c in controls:
        if c["kind"] == "slider":
            moves += [(c, "key"), (c, "drag")]
        elif c["kind"] == "dropdown" and c["options"] > 1:
            moves.append((c, "choose"))
        elif c["kind"] == "checkbox" and not c["disabled"]:
            moves += [(c, "tick"), (c, "tick")]   # off and on again (a group of boxes is left as it was)
        elif c["kind"] == "button" and not c["disabled"]:
            moves.append((c, "click"))
    return moves


@dataclass
class Findings:
    """What one notebook's run found: problems (the test fails on any), log lines (printed), redraw times (ms)."""

    problems: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def _explore(page, i: int, target: float, screenshot: Callable[..., None], found: Findings) -> None:
    """Move every control of explorer ``i`` once and check its output after each move (see the module doc)."""
    explorer = page.locator(f'[data-samlab-explorer="{i}"]')
    screenshot(f"explorer{i}_start", explorer)
    figures = moved = 0
    def controls() -> list[dict]:
        return page.evaluate(f"() => __samlab.tagExplorers({NB!r})")[i]

    for control, how in _moves(controls()):
        # the control's state now (a previous move may have changed its selection or enabled it)
        control = next(c for c in controls() if c["id"] == control["id"])
        if how == "click" and control["disabled"]:
            continue
        moved += 1
        what = f"explorer {i}: {how} {control['description']!r}"
        page.evaluate(f"() => __samlab.arm({i})")
        _move(page, control, how)
        res = _settle(page, i, MOVE_TIMEOUT_S if how == "click" else SETTLE_TIMEOUT_S, want_image=how == "click")
        state = page.evaluate(f"() => __samlab.outputState({i})")
        trained = False
        if not state["images"]:
            button = next((c for c in controls() if c["kind"] == "button" and not c["disabled"]), None)
            if button is not None and how != "click" and not CLICK_RUN:   # benchmark: Run would train
                found.log.append(f"  {what}: asks for Run (not clicked: SAMLAB_BROWSER_CLICK_RUN=0); moved back")
                # undo the move (the next control then moves from a drawn state), timed like any move
                page.evaluate(f"() => __samlab.arm({i})")
                _move(page, control, f"back-{how}")
                what, how = f"explorer {i}: back-{how} {control['description']!r}", f"back-{how}"
                res = _settle(page, i, SETTLE_TIMEOUT_S, want_image=False)
                state = page.evaluate(f"() => __samlab.outputState({i})")
                if not state["images"]:
                    found.log.append(f"  {what}: still no figure: {_short(state['text'], 160)}")
                    continue
            elif button is not None and how != "click":   # the move asks for Run: click it, then check
                screenshot(f"explorer{i}_{how}_{_param_name(control['description'])}_pending", explorer)
                _move(page, button, "click")
                res = _settle(page, i, MOVE_TIMEOUT_S, want_image=True)
                state = page.evaluate(f"() => __samlab.outputState({i})")
                trained = True
                what += f" + click {button['description']!r}"
        screenshot(f"explorer{i}_{how}_{_param_name(control['description'])}", explorer)
        found.problems += _problems_in_text(what, state["text"])
        # a move to something that has nothing to draw may say so in one short line (never after a Run)
        shows_message = (not state["images"] and not trained and how != "click"
                         and len(state["text"].strip().splitlines()) == 1 and len(state["text"]) < 600
                         and not _problems_in_text(what, state["text"]))
        if state["images"] == 1 and res["changed"]:
            figures += 1
            ms = res["latency"]
            if ms is not None and not trained and how != "click":
                found.latencies.append(ms)
            verdict = ("(trains: no target)" if trained or how == "click" else
                       "ok" if ms is not None and ms <= target else f"OVER the {target:.0f} ms target")
            found.log.append(f"  {what}: image changed {ms:.0f} ms after the input {verdict}" if ms is not None
                             else f"  {what}: image changed (no input event seen) {verdict}")
        elif shows_message:
            found.log.append(f"  {what}: message, no figure: {_short(state['text'], 160)}")
        else:
            found.problems.append(f"{what}: expected one changed figure in the output, got {state['images']} "
                                  f"image(s), changed={res['changed']}; output text: {_short(state['text'])}")
    if figures == 0 and moved and CLICK_RUN:   # (the benchmark leaves Run unclicked: every move may ask for it)
        found.problems.append(f"explorer {i}: no move showed a new figure")


# ------------------------------------------------------------------------------------------------ the tests

@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_in_jupyterlab(session, path, capsys):
    number = path.stem[:2]
    copy, params = session.copies[path.stem]
    target = TARGET_MS.get(number, DEFAULT_TARGET_MS)
    found = Findings()
    problems, log, latencies = found.problems, found.log, found.latencies
    page = session.browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(PAGE_JS)
    shot = 0

    def screenshot(name: str, locator=None) -> None:
        nonlocal shot
        shot += 1
        target_file = session.screens / f"{path.stem}_{shot:02d}_{name}.png"
        try:
            (locator or page).screenshot(path=str(target_file), **({} if locator else {"full_page": True}))
        except Exception as err:  # noqa: BLE001 - a screenshot never decides the test
            log.append(f"  (screenshot {target_file.name} failed: {type(err).__name__})")

    try:
        t0 = time.monotonic()
        # ?reset: a fresh workspace, so the notebooks opened before are not restored next to this one
        page.goto(f"{session.lab.url}/lab/tree/{copy.name}?reset&token={session.lab.token}")
        page.wait_for_selector(f"{NB} .jp-CodeCell", timeout=90_000)
        opened = time.monotonic() - t0
        ran = _run_all(page, RUN_ALL_TIMEOUT_S)
        session.lab.remember_processes()
        screenshot("run_all")
        log.append(f"{path.stem}: opened in {opened:.1f} s, Run All {ran:.1f} s")

        prompts = _prompts(page)
        not_run = [i for i, p in enumerate(prompts) if not re.search(r"\[\d+\]", p)]
        if not_run:
            problems.append(f"Run All stopped: code cells {not_run} did not run (prompts {prompts})")
        for cell, mime, text in _outputs_text(page):
            problems += _problems_in_text(f"after Run All, code cell {cell}", text, mime)

        explorers = page.evaluate(f"() => __samlab.tagExplorers({NB!r})")
        for i, controls in enumerate(explorers):
            for c in controls:
                name = _param_name(c["description"])
                if c["kind"] != "button" and name in params and not _matches(c["readout"], params[name]):
                    problems.append(f"explorer {i}: control {c['description']!r} shows {c['readout']!r} after "
                                    f"Run All; the parameters cell says {name} = {params[name]!r}")

        for i in range(len(explorers)):
            _explore(page, i, target, screenshot, found)
        seen = {q.split(": ", 1)[-1] for q in problems}
        for cell, mime, text in _outputs_text(page):   # a callback may have printed into a cell's output
            problems += [q for q in _problems_in_text(f"after the moves, code cell {cell}", text, mime)
                         if q.split(": ", 1)[-1] not in seen]
        if latencies:
            lat = sorted(latencies)
            within = sum(x <= target for x in lat)
            p90 = lat[min(len(lat) - 1, math.ceil(0.9 * len(lat)) - 1)]
            log.append(f"  input to changed image: median {statistics.median(lat):.0f} ms, p90 {p90:.0f} ms, "
                       f"max {lat[-1]:.0f} ms over {len(lat)} moves; {within}/{len(lat)} within the {target:.0f} ms "
                       f"target")
        screenshot("end")
    finally:
        session.lab.remember_processes()
        try:
            page.close()
        finally:
            try:   # free the kernel's memory and CPU before the next notebook
                for k in session.lab.api("GET", "/api/kernels"):
                    session.lab.api("DELETE", f"/api/kernels/{k['id']}")
            except OSError:
                pass
        with capsys.disabled():
            print("\n" + "\n".join(log) + f"\n  screenshots: {session.screens}", flush=True)
    assert not problems, f"{path.stem} in JupyterLab:\n  " + "\n  ".join(problems)


def test_jupyterlab_and_browser_leave_no_process(session):
    """Stop everything this module started; the server's process group and every kernel seen must be gone."""
    lab = session.lab
    assert lab.proc is not None
    session.close()
    assert lab.proc.poll() is not None, "the JupyterLab server is still running"
    left = lab.leftovers()
    assert not left, f"processes left behind after stopping JupyterLab (negative: a process group): {left}"
    deadline = time.monotonic() + 10
    while (ours := sorted(p for p in descendants(os.getpid()) - session.before if alive(p))) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ours, f"the browser or Playwright's driver left processes behind: {ours}"
