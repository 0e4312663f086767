"""The web view in a real browser: Playwright for Python driving Debian's chromium (conftest.browser). Every test
fails on a console error or an uncaught exception (conftest.page); screenshots go under the test's tmp dir."""

from __future__ import annotations

import re

from tests.web.conftest import EVALUATED, GATEWAY_APP, WITHDRAWN

DENIED_REF, DENIED_USES = "model/photo-tagger@1", "fine-tuning,face-recognition"


def shot(page, name: str) -> None:
    page.screenshot(path=str(page.shots / f"{name}.png"), full_page=True)


def test_search_as_you_type_and_open_an_asset(page):
    page.goto("/")
    page.wait_for_function("() => document.querySelectorAll('#results li').length === 19")  # everything, before typing
    page.fill("#q", "photo-")
    page.wait_for_function("() => document.querySelector('#count').textContent === '2 assets match.'")  # the tagger and photo-search
    page.select_option("#kind", "model")
    page.wait_for_function("() => document.querySelectorAll('#results li').length === 1")
    shot(page, "search")
    page.click("#results a")
    page.wait_for_selector("#prohibited")
    assert page.inner_text("h1") == DENIED_REF
    assert "biometric-identification" in page.inner_text("#prohibited")  # where the rule comes from
    assert "model/vision-encoder@1" in page.inner_text("#prohibited")
    page.wait_for_selector("#graph canvas")
    page.wait_for_function("() => document.querySelector('#graph').dataset.nodes > 1")
    shot(page, "asset")


def test_lineage_expands(page):
    page.goto(f"/asset?ref={GATEWAY_APP}")
    page.wait_for_selector("#graph-list li")
    page.select_option("#graph-up", "1")
    page.click("#graph-reload")
    page.wait_for_function("() => document.querySelector('#graph').dataset.nodes === '2'")
    button = page.locator("#graph-list button.expand").first
    assert re.match(r"\+\d+ upstream", button.inner_text())
    button.click()
    page.wait_for_function("() => document.querySelector('#graph').dataset.nodes > 2")
    assert page.locator("#graph-list li").count() > 2
    shot(page, "lineage-expanded")


def test_denied_question_highlights_the_reason_path(page):
    page.goto(f"/can?ref={DENIED_REF}&uses={DENIED_USES}")
    page.wait_for_selector("#verdict")
    assert page.inner_text("#verdict").startswith("DENIED")
    reasons = page.inner_text("#reasons")
    assert "deny face-recognition: model/vision-encoder@1 denies biometric-identification (uses.deny)" in reasons
    page.wait_for_function("() => (document.querySelector('#graph').dataset.highlighted || '').length > 0")
    lit = page.get_attribute("#graph", "data-highlighted").split()
    assert set(lit) == {DENIED_REF, "model/vision-encoder@1"}
    assert page.get_attribute("#graph", "data-highlighted-edges") == "1"
    assert page.locator("#graph-list li.active").count() == 2
    # another reason's path, on a click
    last = page.locator("#reasons li").last
    last.locator("button.show-path").click()
    path = last.locator(".path").inner_text().removeprefix("path: ").split(" -> ")
    assert set(page.get_attribute("#graph", "data-highlighted").split()) == set(path)
    href = page.get_attribute("#permalink", "href")
    assert href == f"/can?ref={DENIED_REF.replace('/', '%2F').replace('@', '%40')}&uses={DENIED_USES.replace(',', '%2C')}"
    shot(page, "can-denied")


def test_ask_with_the_keyboard(page):
    page.goto("/can")
    page.wait_for_selector("#use-picker input")
    page.focus("#asset")
    page.keyboard.type(DENIED_REF)
    page.keyboard.press("Tab")  # to the use filter
    assert page.evaluate("document.activeElement.id") == "use-filter"
    page.keyboard.type("face-rec")
    page.keyboard.press("Tab")  # the first visible checkbox: face-recognition
    assert page.evaluate("document.activeElement.value") == "face-recognition"
    page.keyboard.press("Space")
    assert "face-recognition" in page.inner_text("#chosen")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector("#verdict")
    assert page.inner_text("#verdict").startswith("DENIED")
    assert "uses=face-recognition" in page.url  # the question is in the address: a permalink
    page.focus("#reasons button.show-path")
    page.keyboard.press("Enter")
    page.wait_for_function("() => (document.querySelector('#graph').dataset.highlighted || '').includes('vision-encoder')")


def test_search_with_the_keyboard(page):
    page.goto("/")
    assert page.evaluate("document.activeElement.id") == "q"  # focus starts in the search box
    page.keyboard.type("translate-app")
    page.wait_for_function("() => document.querySelectorAll('#results li').length === 1")
    for _ in range(6):  # kind, licence, uses, state, then the result
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('#results') !== null"):
            break
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/asset\?ref="))
    page.wait_for_selector("#prohibited, #permitted")
    assert page.inner_text("h1") == "application/translate-app@1"


def test_impact_page(page):
    page.goto("/impact")
    page.wait_for_selector("table")
    assert "withdrawn" in page.inner_text("table") and "restricted" in page.inner_text("table")
    page.click(f"a[href='/impact?ref={WITHDRAWN.replace('/', '%2F').replace('@', '%40')}']")
    page.wait_for_selector("#affected-count")
    assert "consent revoked" in page.inner_text("#state")
    assert "3 downstream assets affected, 1 of them applications" in page.inner_text("#affected-count")
    apps = page.inner_text("section[aria-label=Applications]")
    assert GATEWAY_APP in apps and "served by the gateway" in apps
    page.wait_for_function("() => document.querySelector('#graph').dataset.nodes === '4'")
    shot(page, "impact")


def test_properties_table_and_chart(page):
    page.goto(f"/asset?ref={EVALUATED}")
    page.wait_for_selector("#property-chart")
    props = page.inner_text("section[aria-label=Properties]")
    assert "bbq.amb_bias_score" in props and "[0.012, 0.05]" in props and "1,200" in props
    assert page.locator("#property-chart g.prop").count() == 2  # a row each, rendered
    assert page.locator("#property-chart circle").count() == 2 and page.locator("#property-chart line").count() == 4
    box = page.locator("#property-chart").bounding_box()
    assert box["width"] > 100 and box["height"] > 50
    shot(page, "properties")
