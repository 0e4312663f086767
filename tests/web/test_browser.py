"""The web view in a real browser: Playwright for Python driving Debian's chromium (conftest.browser). Every test
fails on a console error or an uncaught exception (conftest.page); screenshots go under the test's tmp dir."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import ASSETS, COMPARED, CURATED, CURATED_SOURCES, DENIED_USE, EVALUATED, GATEWAY_APP, WITHDRAWN

DENIED_REF, DENIED_USES = "model/photo-tagger@1", "fine-tuning,face-recognition"
OPEN_LM = "model/open-lm@1"


def shot(page, name: str) -> None:
    page.screenshot(path=str(page.shots / f"{name}.png"), full_page=True)


def test_search_as_you_type_and_open_an_asset(page):
    page.goto("/")
    page.wait_for_function("() => document.querySelectorAll('#results li').length === %d" % ASSETS)  # everything, before typing
    page.fill("#q", "photo-")
    page.wait_for_function("() => document.querySelector('#count')?.textContent === '2 assets match.'")  # the tagger and photo-search
    page.select_option("#kind", "model")
    page.wait_for_function("() => document.querySelectorAll('#results li').length === 1")
    shot(page, "search")
    page.click("#results a")
    page.wait_for_selector("#prohibited")
    assert page.inner_text("h1") == DENIED_REF
    assert "biometric-identification" in page.inner_text("#prohibited")  # where the rule comes from
    assert "model/vision-encoder@1" in page.inner_text("#prohibited")
    page.wait_for_selector("#graph canvas")
    page.wait_for_function("() => document.querySelector('#graph')?.dataset.nodes > 1")
    shot(page, "asset")


def test_search_facets_narrow_and_denied_uses(page):
    page.goto("/?q=photo-")
    page.wait_for_selector("#facets button.facet")
    assert "model (1)" in page.inner_text("#facets") and "application (1)" in page.inner_text("#facets")
    page.click("#facets button[data-facet='kind:model']")  # a facet narrows the search to it
    page.wait_for_function("() => document.querySelectorAll('#results li').length === 1")
    assert page.input_value("#kind") == "model" and page.inner_text("#results").startswith(DENIED_REF)
    page.goto("/?denied=biometric-identification")
    page.wait_for_function("() => document.querySelector('#count')?.textContent.includes('match')")
    assert DENIED_REF in page.inner_text("#results") and "kind" in page.inner_text("#facets")


def test_lineage_expands(page):
    page.goto(f"/asset?ref={GATEWAY_APP}")
    page.wait_for_selector("#graph-list li")
    page.select_option("#graph-up", "1")
    page.click("#graph-reload")
    page.wait_for_function("() => document.querySelector('#graph')?.dataset.nodes === '2'")
    button = page.locator("#graph-list button.expand").first
    assert re.match(r"\+\d+ upstream", button.inner_text())
    button.click()
    page.wait_for_function("() => document.querySelector('#graph')?.dataset.nodes > 2")
    assert page.locator("#graph-list li").count() > 2
    shot(page, "lineage-expanded")


def test_denied_question_highlights_the_reason_path(page):
    page.goto(f"/can?ref={DENIED_REF}&uses={DENIED_USES}")
    page.wait_for_selector("#verdict")
    assert page.inner_text("#verdict").startswith("DENIED")
    reasons = page.inner_text("#reasons")
    assert "deny face-recognition: model/vision-encoder@1 denies biometric-identification (uses.deny)" in reasons
    page.wait_for_function("() => (document.querySelector('#graph')?.dataset.highlighted || '').length > 0")
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
    page.wait_for_function("() => (document.querySelector('#graph')?.dataset.highlighted || '').includes('vision-encoder')")


def test_search_with_the_keyboard(page):
    page.goto("/")
    assert page.evaluate("document.activeElement.id") == "q"  # focus starts in the search box
    page.keyboard.type("translate-app")
    page.wait_for_function("() => document.querySelectorAll('#results li').length === 1")
    for _ in range(12):  # kind, licence, allowed, denied, state, the facets, then the result
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
    page.wait_for_function("() => document.querySelector('#graph')?.dataset.nodes === '4'")
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


def svg_drawn(page, selector: str, shape: str) -> int:
    """How many SVG shapes of a chart have a non-empty box (drawn, not just present)."""
    return page.evaluate("([s, k]) => [...document.querySelectorAll(s + ' ' + k)].filter((e) => { const b = e.getBBox(); "
                         "return b.width > 0 || b.height > 0; }).length", [selector, shape])


def test_evaluations_compare_chart(page):
    a, b = COMPARED
    page.goto(f"/evals?ref={a},{b}")
    page.wait_for_selector("#compare-chart")
    assert page.inner_text("#compare-summary").startswith("1 of 2 tested properties significantly worse (crows-pairs.pct_stereotype)")
    assert svg_drawn(page, "#compare-chart", "circle") == 2 and page.locator("#compare-chart line").count() >= 3  # zero line and intervals
    assert page.locator("#metrics .chart").count() == 2  # a chart per metric, each model a row
    assert svg_drawn(page, "#metrics .chart", "circle") == 4
    assert "crows-pairs/" in page.inner_text("#metrics")  # the benchmark version
    # interactive: the compare chart's rows are buttons, by mouse and by keyboard
    page.locator("#compare-chart g.row", has_text="likelihood_diff").click()
    assert "crows-pairs.likelihood_diff" in page.inner_text("#compare-detail h3")
    page.focus("#compare-chart g.row[data-label='crows-pairs.pct_stereotype']")
    page.keyboard.press("Enter")
    assert "crows-pairs.pct_stereotype: worse" in page.inner_text("#compare-detail h3")
    # the items' breakdown of one model's value, chosen with the keyboard
    page.focus(f"#metrics .chart g.row[data-label='{b}']")
    page.keyboard.press("Space")
    page.wait_for_selector("#groups-chart")
    assert svg_drawn(page, "#groups-chart", "circle") == 2 and "race-color" in page.inner_text("#groups")
    shot(page, "evals")


def test_evaluations_index_opens_two_models_side_by_side(page):
    """/evals with no model: the evaluated assets listed; checking two (keyboard) and the button compares them."""
    a, b = COMPARED
    page.goto("/evals")
    page.wait_for_selector("#evaluated")
    listed = page.inner_text("#evaluated")
    assert a in listed and b in listed
    assert page.locator("#evaluated + button").is_disabled()  # nothing checked yet
    for ref in (a, b):
        page.focus(f"#evaluated input[aria-label='pick {ref}']")
        page.keyboard.press("Space")
    page.locator("#evaluated + button").click()
    page.wait_for_selector("#compare-chart")
    assert page.url.endswith(f"/evals?ref={a.replace('/', '%2F').replace('@', '%40')},{b.replace('/', '%2F').replace('@', '%40')}")


def test_curation_chosen_with_the_keyboard(page):
    page.goto("/curation")
    page.focus("#dataset")
    page.keyboard.type(CURATED)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/curation\?ref="))
    page.wait_for_selector("#exclusions-chart g.bar")
    assert page.inner_text("h1") == f"Curation: {CURATED}"


def test_curation_page(page):
    page.goto(f"/asset?ref={CURATED}")
    page.click("#curation-link")
    page.wait_for_selector("#exclusions-chart")
    assert "intact" in page.inner_text("#manifest-state")
    bars = svg_drawn(page, "#exclusions-chart", "rect")
    assert bars == page.locator("#exclusions-chart g.bar").count() >= 2
    text = page.inner_text("main")
    assert "record-deny:machine-translation" in text and CURATED_SOURCES[0] in text
    assert len(page.inner_text("#output-sha256")) == 64
    shot(page, "curation")


def test_gateway_page(page):
    page.goto("/gateway")
    page.wait_for_selector("#requests-chart rect")
    page.wait_for_function("() => document.querySelector('#verify')?.textContent.includes('intact')")
    assert page.inner_text("#gw-total").startswith("17 requests, per hour from 2026-12-01T10 to 2026-12-01T13")
    assert svg_drawn(page, "#requests-chart", "rect") == 3 + 2 + 1  # allowed in 3 hours, denied in 2, withdrawn in 1
    assert svg_drawn(page, "#tokens-chart", "rect") == 3
    page.wait_for_selector("#denials li")
    assert f"withdrawn: {WITHDRAWN} (consent revoked by the forum's members)" in page.inner_text("#denials")
    shot(page, "gateway")
    # the controls in keyboard order, then the use select narrows the charts to the denied use
    page.focus("#gw-app")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "gw-use"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "gw-bucket"
    page.focus("#gw-use")
    page.select_option("#gw-use", DENIED_USE)
    page.wait_for_function("() => document.querySelector('#gw-total')?.textContent.startsWith('3 requests')")
    assert "use=face-recognition" in page.url
    assert svg_drawn(page, "#requests-chart", "rect") == 2
    page.select_option("#gw-bucket", "day")
    page.wait_for_function("() => document.querySelector('#gw-total')?.textContent.includes('per day')")
    shot(page, "gateway-one-use")


@pytest.fixture
def write_page(browser, tmp_path, example_db):
    """A page on a view with writes on (token "t0k"), over a copy of the example registry."""
    import shutil
    import socket
    import threading
    import time

    import uvicorn

    from charter.registry import Registry
    from charter.web.app import create_app
    from charter.web.writes import WriteAccess

    db = tmp_path / "w.db"
    shutil.copyfile(example_db, db)
    reg = Registry.open(str(db), create=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(reg, WriteAccess("t0k")), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    while not srv.started:
        time.sleep(0.02)
    ctx = browser.new_context(base_url=f"http://127.0.0.1:{port}", viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 40" not in m.text else None)  # refusals are answers
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.shots = tmp_path
    pg.reg = reg
    yield pg
    ctx.close()
    srv.should_exit = True
    t.join(10)
    reg.close()
    assert not errors, errors


def test_no_write_is_offered_without_the_token(page, write_page):
    page.goto(f"/impact?ref={OPEN_LM}")  # a read-only view
    page.wait_for_selector("#affected-count")
    assert page.locator("#write-actions").count() == 0
    write_page.goto(f"/impact?ref={OPEN_LM}#write-token=wrong")  # a view with writes, the wrong token
    write_page.wait_for_selector("section[aria-label='Downstream graph']")
    assert write_page.locator("#write-actions").count() == 0


def test_withdraw_behind_a_confirmation_then_lift_with_the_keyboard(write_page):
    pg = write_page
    pg.goto(f"/asset?ref={OPEN_LM}#write-token=t0k")
    assert "#write-token" not in pg.url  # the token leaves the address (kept for this tab only)
    pg.click("#act-link")  # the asset page offers the writes to a tab holding the token
    pg.wait_for_selector("#act-withdraw")
    affected = pg.inner_text("#affected-count")
    pg.click("#act-withdraw")
    impact = pg.inner_text("#write-impact")
    assert impact.startswith("This denies every use to ") and affected.split(" downstream")[0] in impact  # the impact, first
    pg.click("#write-cancel")  # nothing written
    assert OPEN_LM not in pg.reg.withdrawals()
    pg.click("#act-withdraw")
    pg.fill("#write-reason", "licence dispute")
    shot(pg, "write-confirm")
    pg.click("#write-confirm")
    pg.wait_for_function("() => (document.querySelector('#write-done') || {}).textContent === 'Withdraw: done (model/open-lm@1).'")
    assert "licence dispute" in pg.inner_text("#state") and OPEN_LM in pg.reg.withdrawals()
    # the lift, by keyboard alone: Enter opens the dialog, Escape closes it, Enter again, type, Tab to Confirm, Enter
    pg.focus("#act-lift")
    pg.keyboard.press("Enter")
    pg.wait_for_selector("#write-dialog[open]")
    pg.keyboard.press("Escape")
    pg.wait_for_selector("#write-dialog", state="detached")
    pg.focus("#act-lift")
    pg.keyboard.press("Enter")
    assert pg.evaluate("document.activeElement.id") == "write-reason"
    pg.keyboard.type("settled")
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.id") == "write-confirm"
    pg.keyboard.press("Enter")
    pg.wait_for_function("() => (document.querySelector('#write-done') || {}).textContent === 'Lift the withdrawal: done (model/open-lm@1).'")
    assert OPEN_LM not in pg.reg.withdrawals() and "Neither withdrawn" in pg.inner_text("#state")


@pytest.mark.sqlite_only("local users acting with --as on a SQLite registry (on PostgreSQL the database role acts: test_identities_and_numbered_migrations_on_postgres)")
def test_a_refused_write_says_why(write_page):
    pg = write_page
    pg.reg.actor = "carol"
    pg.reg.add_user("carol", "admin")
    pg.reg.add_user("bob", "publisher", ["model/open-*"])
    pg.reg.actor = "bob"  # the identity the view acts for
    pg.goto(f"/impact?ref={WITHDRAWN}#write-token=t0k")
    pg.wait_for_selector("#act-lift")
    assert pg.is_disabled("#act-lift") and "outside bob's namespaces" in pg.inner_text("#write-actions")
    pg.reg.actor = "carol"
    pg.reg.add_user("bob", "publisher", ["model/open-*", "dataset/*"])  # granted: offered on the next load
    pg.reload()  # the token stays with the tab
    pg.wait_for_selector("#act-restrict:not([disabled])")
    pg.click("#act-restrict")
    pg.reg.add_user("bob", "publisher", ["model/open-*"])  # taken back while the dialog is open: the server decides at the write
    pg.reg.actor = "bob"
    pg.fill("#write-reason", "review")
    pg.fill("#write-deny", "commercial")
    pg.click("#write-confirm")
    pg.wait_for_function("() => document.querySelector('#write-error')?.textContent.startsWith('Refused: ')")
    assert f"bob may not restrict {WITHDRAWN}" in pg.inner_text("#write-error") and "outside bob's namespaces" in pg.inner_text("#write-error")
    assert ("restrict", WITHDRAWN, "outside-namespace") in [(a["action"], a["asset"], a["rule"]) for a in pg.reg.actions() if not a["allowed"]]
    shot(pg, "write-refused")
