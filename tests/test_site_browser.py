"""The course site in headless Chromium, with every request outside the site blocked.

The built folder (``site_support.built_site``: ``./course site``) is served on 127.0.0.1;
each page is opened with every other request aborted and recorded (there must be none),
MathJax must have typeset its math without an error, no console error may occur, and
every control of every kernel-free viewer is moved with the keyboard or the mouse: the
picture must change to the frame of the new setting, decoded, with its readout. Pictures
of 08 (the explorer) and 09 are saved (``docs/screenshots/`` with ``EELIB_SCREENSHOTS=1``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest

from browser_support import SCREENSHOT_DIR, VIEWPORT, save_screenshot
from site_support import ROOT, BuiltSite

pytestmark = pytest.mark.browser

STEMS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_MS = 30_000
#: Pages whose viewers must be there (the browser test moves every control of each).
VIEWER_PAGES = {"02_contrastive_loss", "03_triplet_loss_and_mining", "04_npair_loss", "05_lifted_structured_loss",
                "06_multi_similarity_loss", "08_embedding_expansion"}


def has_math(stem: str) -> bool:
    """Whether the student notebook's Markdown has inline or display math."""
    nb = nbformat.read(ROOT / "student" / "notebooks" / f"{stem}.ipynb", as_version=4)
    return any(c.cell_type == "markdown" and "$" in c.source for c in nb.cells)


class OpenPage:
    """A page of the site in a fresh context that lets only ``base`` through; records what it blocked and errors."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.blocked: list[str] = []
        self.errors: list[str] = []

        def route(request_route: Any) -> None:
            if request_route.request.url.startswith(base):
                request_route.continue_()
            else:
                self.blocked.append(request_route.request.url)
                request_route.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("response", lambda response: self.errors.append(f"HTTP {response.status}: {response.url}")
                     if response.status >= 400 else None)

    def open(self, url: str) -> Any:
        self.page.goto(url, wait_until="load")
        # MathJax runs its queue in order: this resolves once the page's typesetting has finished.
        self.page.wait_for_function("() => window.MathJax && window.MathJax.Hub")
        self.page.evaluate("() => new Promise(resolve => MathJax.Hub.Queue(() => resolve(true)))")
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def site_page(chromium: Any, site_server: str) -> Iterator[OpenPage]:
    opened = OpenPage(chromium, site_server)
    try:
        yield opened
    finally:
        opened.close()


def viewer_state(page: Any, viewer: Any) -> dict[str, Any]:
    """The viewer's key, readout and images (src, decoded width) as the page shows them."""
    return viewer.evaluate("""(v) => ({
        key: v.getAttribute('data-key'),
        readout: v.querySelector('.kf-readout').textContent,
        images: Array.from(v.querySelectorAll('.kf-images img')).map(i => ({
            src: i.getAttribute('src'), done: i.complete && i.naturalWidth > 0})),
    })""")


def move(page: Any, control: Any, kind: str, index: int, count: int) -> int:
    """Move one control of a viewer as a reader would; return its new value index."""
    if kind == "range":
        control.focus()
        key, new = ("ArrowRight", index + 1) if index + 1 < count else ("ArrowLeft", index - 1)
        page.keyboard.press(key)
        return new
    if kind == "checkbox":
        control.click()
        return 1 - index
    new = (index + 1) % count
    control.select_option(str(new))
    return new


@pytest.mark.parametrize("stem", ["index", *STEMS])
def test_page_renders_offline_with_math_and_without_errors(site_page: OpenPage, site_server: str, stem: str,
                                                           built_site: BuiltSite) -> None:
    page = site_page.open(f"{site_server}{stem}.html")
    assert page.locator(".site-toc li").count() == len(STEMS)
    if stem != "index":
        assert page.locator(".site-toc li.current").inner_text().strip(), "the contents mark the current page"
        assert page.locator(".site-prevnext a").count() >= 1
        assert page.locator(".site-download").get_attribute("href") == f"notebooks/{stem}.ipynb"
        assert page.locator(".jp-InputArea .highlight").count() > 0, "code is highlighted"
    if stem != "index" and has_math(stem):
        typeset = page.locator(".MathJax, .MathJax_CHTML, .MathJax_Display").count()
        assert typeset > 0, f"{stem}: MathJax typeset nothing"
        assert page.locator(".MathJax_Error, merror, .mjx-merror").count() == 0, f"{stem}: a formula failed"
    broken = page.evaluate("() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.getAttribute('src').slice(0, 60))")
    assert not broken, f"{stem}: images not shown: {broken}"
    if stem == "08_embedding_expansion":  # the explorer as a reader first sees it
        page.locator('.kf-viewer[data-viewer="ee"]').evaluate("v => v.scrollIntoView({block: 'start'})")
        save_screenshot(page, SCREENSHOT_DIR / "site_08_explorer.png")
    if stem in VIEWER_PAGES:
        move_every_control(page, stem)
    if stem == "09_experiments":
        save_screenshot(page, SCREENSHOT_DIR / "site_09_experiments.png")
    assert not site_page.blocked, f"{stem} asked for something outside the site: {site_page.blocked[:5]}"
    assert not site_page.errors, f"{stem}: console errors: {site_page.errors[:5]}"


def move_every_control(page: Any, stem: str) -> None:
    """Move each control of each viewer once; each time the right frame must be shown, decoded."""
    viewers = page.locator(".kf-viewer")
    assert viewers.count() > 0, f"{stem} has no kernel-free viewer"
    for v in range(viewers.count()):
        viewer = viewers.nth(v)
        viewer.scroll_into_view_if_needed()
        data = json.loads(viewer.locator("script.kf-data").text_content())
        for k, control in enumerate(data["controls"]):
            before = viewer_state(page, viewer)
            indices = [int(i) for i in before["key"].split("|")]
            element = viewer.locator(f'.kf-control[data-control="{k}"]')
            indices[k] = move(page, element, control["kind"], indices[k], len(control["values"]))
            key = "|".join(map(str, indices))
            viewer.evaluate("(v, key) => new Promise((resolve, reject) => {"
                            " const t = Date.now(); (function poll() {"
                            " if (v.getAttribute('data-key') === key) return resolve(true);"
                            " if (Date.now() - t > 10000) return reject(new Error('no frame for ' + key));"
                            " setTimeout(poll, 20); })(); })", key)
            page.wait_for_function("(v) => Array.from(v.querySelectorAll('.kf-images img'))"
                                   ".every(i => i.complete && i.naturalWidth > 0)", arg=viewer.element_handle())
            after = viewer_state(page, viewer)
            frame = data["frames"][key]
            assert after["readout"] == frame["readout"], f"{stem} {data['id']} {control['name']}: readout"
            assert [i["src"] for i in after["images"]] == [f"frames/{stem}/{src}" for src in frame["images"]]
            assert all(i["done"] for i in after["images"])
            if frame["images"] != data["frames"][before["key"]]["images"]:
                assert after["images"] != before["images"], "the picture must change with the frame"
