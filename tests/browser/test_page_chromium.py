"""The built leaderboard page in a real headless Chromium: rows in rank order, sortable headers,
hostile names shown as text and never run (no script, no alert), the plot loads under the page's CSP.

Needs Debian's ``chromium`` (``apt-get install --no-install-recommends chromium``); skipped with the
reason when no Chromium binary is on PATH.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from medstrata.leaderboard import page
from tests.browser.cdp import Browser, find_chromium
from tests.unit.test_leaderboard_page import HOSTILE, META, example_records, example_submissions

pytestmark = pytest.mark.browser

#: Overrides dialogs before any page script runs: a real alert() would block the page, and any
#: attempt (or the hostile author's onerror handler) leaves a sentinel that the test reads.
TRAP = "window.alert = window.confirm = window.prompt = function () { window.__pwned = 'dialog'; };"
HOSTILE_AUTHOR = "<img src=x onerror=\"window.__pwned='onerror'\">"
ROWS = "Array.from(document.querySelectorAll('#leaderboard tbody.rows[data-group=ranked] td.method'))" \
       ".map(td => td.textContent)"


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None and os.environ.get("MEDSTRATA_REQUIRE_BROWSER") == "1":
        pytest.fail("MEDSTRATA_REQUIRE_BROWSER=1 (CI) but no Chromium binary on PATH")
    if binary is None:
        pytest.skip("no Chromium binary on PATH (install Debian's chromium: "
                    "apt-get install -y --no-install-recommends chromium)")
    return binary


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("page")
    subs = example_submissions()
    subs.loc[subs.board_name == HOSTILE, "authors"] = HOSTILE_AUTHOR
    paths = page.build_page(example_records(), subs, META, out)
    return paths, pd.read_csv(paths["csv"])


@pytest.fixture(scope="module")
def tab(chromium, built, tmp_path_factory):
    """(browser, session) with the page loaded."""
    with Browser(chromium, tmp_path_factory.mktemp("profile")) as browser:
        session = browser.new_page()
        for domain in ("Page", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.addScriptToEvaluateOnNewDocument", {"source": TRAP}, session)
        browser.call("Page.navigate", {"url": built[0]["html"].resolve().as_uri()}, session)
        browser.wait_event("Page.loadEventFired", session)
        yield browser, session


def _click(browser, session, header: str) -> list[str]:
    """Click the ranking table's header cell whose text is ``header``; the ranked rows' names after."""
    js = (f"Array.from(document.querySelectorAll('#leaderboard thead th')).find(th => th.textContent.trim() === "
          f"{json.dumps(header)}).click()")
    browser.evaluate(session, js)
    return browser.evaluate(session, ROWS)


def test_rows_render_in_rank_order(tab, built):
    browser, session = tab
    frame = built[1]
    ranked = frame[frame.role == "ranked"].board_name.tolist()
    assert ranked == ["strong 1 (#1)", HOSTILE, "mid | pipe (#3)", "weak 1 (#4)"]
    assert browser.evaluate(session, ROWS) == ranked
    ranks = browser.evaluate(session, "Array.from(document.querySelectorAll("
                                      "'#leaderboard tbody.rows[data-group=ranked] tr td:first-child'))"
                                      ".map(td => td.textContent)")
    assert ranks == [str(int(r)) for r in frame[frame.role == "ranked"]["rank"]]
    controls = browser.evaluate(session, "Array.from(document.querySelectorAll('#leaderboard "
                                         "tbody.rows[data-group=control] td.method')).map(td => td.textContent)")
    assert controls == ["oracle 1 (#5)"]


def test_clicking_a_header_sorts_and_clicking_again_reverses(tab, built):
    browser, session = tab
    frame = built[1][built[1].role == "ranked"]
    by_private = frame.sort_values("ap_private").board_name.tolist()
    assert by_private != frame.board_name.tolist()  # the private column really reorders
    assert _click(browser, session, "Private AP") == by_private
    assert _click(browser, session, "Private AP") == by_private[::-1]
    by_ap = frame.sort_values("ap_mean").board_name.tolist()
    assert _click(browser, session, "AP (95% CI)") == by_ap
    assert _click(browser, session, "AP (95% CI)") == by_ap[::-1]
    assert _click(browser, session, "Method") == sorted(frame.board_name)  # text column
    assert browser.evaluate(session, "document.querySelector('#leaderboard th[aria-sort]').textContent") == "Method"
    assert _click(browser, session, "Rank") == frame.sort_values("rank").board_name.tolist()
    assert browser.evaluate(session, "Array.from(document.querySelectorAll("
                                     "'#leaderboard tbody.rows[data-group=control] td.method')).length") == 1


def test_hostile_names_are_text_and_never_run(tab):
    browser, session = tab
    cell = "document.querySelector('tr[data-submission=\"2\"] td.method')"
    assert browser.evaluate(session, f"{cell}.textContent") == HOSTILE
    assert browser.evaluate(session, f"{cell}.children.length") == 0
    assert browser.evaluate(session, "document.querySelectorAll('script').length") == 1
    assert browser.evaluate(session, "document.querySelectorAll('#leaderboard img').length") == 0
    assert HOSTILE_AUTHOR in browser.evaluate(session, "document.querySelector('#leaderboard').textContent")
    assert browser.evaluate(session, "typeof window.__pwned") == "undefined"
    assert not [e for e in browser.events if e.get("method") == "Page.javascriptDialogOpening"]


def test_plot_loads_and_no_console_errors(tab):
    browser, session = tab
    assert browser.evaluate(session, "document.querySelector('img.plot').naturalWidth") > 100
    errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
