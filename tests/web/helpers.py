"""Data and page helpers for the GUI tests (tiny seeded datasets)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.synthetic import generate_voc


def voc(folder: Path, n: int, seed: int, classes: tuple[str, ...] = ("circle", "square", "triangle")) -> Path:
    return generate_voc(
        folder, n_images=n, seed=seed, image_size=(64, 64), name_prefix=folder.name, classes=classes
    )


def zip_of(folder: Path, out: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.suffix in (".jpg", ".xml"):
                zf.write(p, str(p.relative_to(folder)))
    out.write_bytes(buf.getvalue())
    return out


OPEN_PAGES: list[Any] = []  # screenshotted when a test fails (conftest)


def new_page(browser: Any, url: str, locale: str = "en-US") -> Any:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url, locale=locale)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    OPEN_PAGES.append(page)
    return page


def sign_in(page: Any, email: str, password: str) -> None:
    page.goto("/signin")
    page.fill("#signin_email", email)
    page.fill("#signin_password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: "/signin" not in u)


def pick(page: Any, field_id: str, text: str) -> None:
    """Choose the option of an antd Select whose label contains ``text``."""
    _open_select(page, field_id)
    _choose(page, text)


def wait_state(page: Any, state: str, timeout: float = 240_000) -> None:
    page.locator(f"[data-testid=state][data-state={state}]").first.wait_for(timeout=timeout)


def pick_many(page: Any, field_id: str, texts: list[str]) -> None:
    """Choose options of an antd multiple / tags Select by their labels, then close it."""
    _open_select(page, field_id)
    for text in texts:
        _choose(page, text)
    page.keyboard.press("Escape")


def _open_select(page: Any, field_id: str) -> None:
    """Open the antd Select whose input is ``#field_id`` by a real click on its box, which waits until the
    box stands still: a forced click while a modal still zooms open can land on the modal's mask, and that
    closes the modal (the form, and the option looked for, are gone)."""
    page.locator(".ant-select", has=page.locator(f"#{field_id}")).click()


def _choose(page: Any, text: str) -> None:
    """Click the open dropdown's option labelled ``text``; if antd's virtual list keeps it out of view (a long
    list in a full suite run), walk the list with the arrow keys: they scroll the active option into view."""
    option = page.locator(".ant-select-dropdown:visible .ant-select-item-option", has_text=text).first
    try:
        option.click(timeout=5_000)
        return
    except Exception:  # playwright's TimeoutError: the option is not visible
        pass
    active = page.locator(".ant-select-dropdown:visible .ant-select-item-option-active").first
    for _ in range(300):
        if text in (active.text_content(timeout=2_000) or ""):
            page.keyboard.press("Enter")
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no option {text!r} in the open dropdown")


def settled_box(locator: Any) -> dict[str, float]:
    """The element's bounding box once it stopped moving (a modal zooms in as it opens): the same box
    twice 0.1 s apart, within 5 s."""
    box = locator.bounding_box()
    for _ in range(50):
        time.sleep(0.1)
        again = locator.bounding_box()
        if again == box:
            return dict(box)
        box = again
    raise AssertionError(f"{locator} kept moving")


def menu_item(page: Any, opener: Any, text: str) -> None:
    """Open an antd dropdown menu with ``opener`` (a button) and click its item labelled ``text``.

    The item is clicked once the menu has stopped moving: antd slides a menu in, and one that does not fit
    below its button moves up above it. In a full run (CI, 2026-11-28) a click during that motion was lost:
    the menu stayed open, no form came, and the next step waited 20 s.
    """
    opener.click()
    page.locator(".ant-dropdown:visible").first.wait_for()
    page.wait_for_function(  # every menu shown has finished moving (an earlier one fading out is gone)
        """() => [...document.querySelectorAll('.ant-dropdown:not(.ant-dropdown-hidden)')].every(m =>
            !/-(enter|appear|leave)/.test(m.className)
            && m.getAnimations({subtree: true}).every(a => a.playState !== 'running'))"""
    )
    menu = page.locator(".ant-dropdown:visible")
    settled_box(menu)
    menu.locator(".ant-dropdown-menu-item", has_text=text).click()
