"""The static site (issue 20): ``samlab.site`` turns executed notebooks into static pages (widget views into the
figure they last drew, the student edition without solutions), and the built site passes the checks a reader's
browser would: every page loads in Chromium with no console error and no request leaving the machine, every
image shown, every internal link and anchor resolves, no raw TeX left, equations typeset, no solution on a
student page.

The build test uses the notebooks the suite executed at smoke scale (tests/test_notebooks.py saves them in the
session's ``executed_notebooks`` folder); run alone, it executes notebooks 00 and 02 (seconds) first. Each
check is first shown to fail on a page broken on purpose.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from samlab import course
from samlab.notebooks import notebook_paths, run_notebook
from samlab.site import POINTER, build_site, static_notebook, student_page, widget_outputs

from browser_lab import CHROMIUM_ARGS, find_chromium
from site_check import SiteServer, broken_links, check_page, problems_of

VIEW = "application/vnd.jupyter.widget-view+json"


def _executed_with_widget() -> dict:
    """A tiny executed notebook as JupyterLab saves it: a widget view whose VBox holds an Output with a PNG."""
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=", "text/plain": "fig"}}
    state = {"box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_ctl", "IPY_MODEL_out"]}},
             "ctl": {"model_name": "FloatSliderModel", "state": {}},
             "out": {"model_name": "OutputModel", "state": {"outputs": [png]}}}
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# A notebook\n\n$\\rho$ moves."},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "ui",
         "outputs": [{"output_type": "display_data", "metadata": {},
                      "data": {VIEW: {"model_id": "box", "version_major": 2}, "text/plain": "VBox()"}},
                     {"output_type": "stream", "name": "stderr", "text": "\r 50%|#####     |"}]},
        {"cell_type": "markdown", "metadata": {"tags": ["exercise"]}, "source": "Exercise 02.1: what is 2 + 2?"},
        {"cell_type": "code", "metadata": {"tags": ["exercise"]}, "execution_count": 2, "source": "answer = None",
         "outputs": []},
        {"cell_type": "code", "metadata": {"tags": ["solution"]}, "execution_count": 3,
         "source": "answer = int('4')  # the secret solution line", "outputs": []},
        {"cell_type": "code", "metadata": {"tags": ["check"]}, "execution_count": 4, "source": "check(answer)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "exercise 02.1: right\n"}]},
    ]
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}}}


def test_static_notebook_shows_the_explorers_last_figure_and_drops_the_widget_state():
    nb = _executed_with_widget()
    page = static_notebook(nb, "02_x.ipynb")
    outputs = page["cells"][1]["outputs"]
    assert outputs[0]["data"]["image/png"] == "iVBORw0KGgo="                   # the figure the Output held
    assert POINTER.format(name="02_x.ipynb") in outputs[1]["data"]["text/plain"]
    assert len(outputs) == 2                                                     # the progress bar dropped
    assert "widgets" not in page["metadata"] and "widgets" in nb["metadata"]    # the source is not changed
    assert widget_outputs("missing", {}) == []


def test_student_page_has_no_solution_and_says_what_a_check_does():
    page = student_page(_executed_with_widget(), "02_x.ipynb")
    text = json.dumps(page)
    assert "secret solution" not in text and "int('4')" not in text
    assert "exercise 02.1: right" not in text and "not answered yet" in text
    assert page["cells"][1]["outputs"][0]["data"]["image/png"] == "iVBORw0KGgo="  # the other outputs stay
    broken = _executed_with_widget()
    broken["cells"][3]["outputs"] = [{"output_type": "stream", "name": "stdout",
                                      "text": "answer = int('4')  # the secret solution line\n"}]
    with pytest.raises(ValueError, match="solution lines"):
        student_page(broken, "02_x.ipynb")


def test_build_refuses_a_folder_without_executed_notebooks(tmp_path):
    with pytest.raises(FileNotFoundError, match="make reproduce"):
        build_site(tmp_path / "nowhere", tmp_path / "site")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="make reproduce"):
        build_site(tmp_path / "empty", tmp_path / "site")


def test_link_checker_finds_a_missing_page_and_a_missing_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#here">ok</a><a href="c.html">x</a><a href="b.html#gone">y</a>'
                                     '<a href="https://example.org/">out</a>')
    (tmp_path / "b.html").write_text('<h1 id="here">b</h1>')
    found = broken_links(tmp_path)
    assert len(found) == 2 and any("c.html" in f for f in found) and any("#gone" in f for f in found)


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        if __import__("os").environ.get("SAMLAB_REQUIRE_BROWSER"):
            pytest.fail("SAMLAB_REQUIRE_BROWSER=1 but no Chromium: apt-get install -y chromium")
        pytest.skip("no Chromium (apt-get install -y chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.browser
def test_page_checker_catches_an_outside_request_a_broken_image_raw_tex_and_a_console_error(tmp_path, chromium):
    (tmp_path / "bad.html").write_text(
        '<html><body><p>Raw $\\frac{a}{b}$ here</p><img src="missing.png">'
        '<script src="https://cdn.example.org/x.js"></script><script>console.error("boom")</script></body></html>')
    server = SiteServer(tmp_path)
    try:
        page = chromium.new_page()
        found = problems_of("bad.html", check_page(page, server.url("bad.html"), server.base))
        page.close()
    finally:
        server.close()
    text = "\n".join(found)
    for what in ("left the machine", "image not shown", "raw TeX", "console error: boom"):
        assert what in text, f"the checker missed: {what}\n{text}"


@pytest.fixture(scope="module")
def site(tmp_path_factory, executed_notebooks):
    """The site built from the session's smoke-executed notebooks (or, run alone, from 00 and 02)."""
    folder = executed_notebooks
    if not list(folder.glob("[0-9]*.ipynb")):
        for path in notebook_paths():
            if path.name.startswith(("00_", "02_")):
                run_notebook(path, scale="smoke", output=folder / path.name, threads=1, progress=False)
    out = tmp_path_factory.mktemp("site") / "html"
    built = build_site(folder, out)
    print(f"\nsite: {len(built['pages']['notebooks'])} notebooks, built in {built['seconds']:.0f} s, "
          f"{sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) / 2**20:.0f} MiB, "
          f"{len(built['warnings'])} Sphinx warnings")
    return built


@pytest.mark.browser
def test_built_site_every_page_loads_offline_with_images_math_and_links(site, chromium):
    root = site["out"]
    assert not broken_links(root)
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html") if "_static" not in p.parts)
    assert {"index.html", "install.html", "ledger.html", "api.html", "notebooks.html", "student.html"} <= set(pages)
    for part in ("notebooks", "student"):
        assert {f"{part}/{p}.html" for p in (Path(x).name for x in site["pages"][part])} <= set(pages)
    server = SiteServer(root)
    problems, reports = [], {}
    try:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        for rel in pages:
            reports[rel] = check_page(page, server.url(rel), server.base)
            problems += problems_of(rel, reports[rel])
        page.close()
    finally:
        server.close()
    assert not problems, "\n".join(problems[:30])
    assert reports["index.html"]["math"] > 0                                   # typeset by the bundled MathJax
    for rel in pages:
        if rel.startswith("notebooks/") and not rel.endswith("00_setup_check.html"):
            assert reports[rel]["images"] > 0, f"{rel} shows no figure"
    # the student pages hold no line of any solution cell of the sources
    sources = {p.stem: json.loads(p.read_text()) for p in notebook_paths()}
    for rel in pages:
        if rel.startswith("student/"):
            secret = [line for c in sources[Path(rel).stem]["cells"] if "solution" in course.tags(c)
                      for line in course._lines(c) if len(line) >= 12 and not line.startswith("#")]
            shown = reports[rel]["all"]
            leaked = [line for line in secret if line in shown]
            assert not leaked, f"{rel} shows solution lines: {leaked[:3]}"
