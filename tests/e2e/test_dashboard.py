"""The dashboard in a real browser (Debian's chromium, driven by Playwright) during canary
rollouts under continuous load: the steps advance and the weights and charts update on
the page, an action without the token (none, or a wrong one) changes nothing, promote,
promote in full and abort from the page take effect and are recorded as the dashboard's,
the page picks up again after a network hiccup, logs no console error of its own, fits a
phone's width, and no request fails. The charts are uPlot's (vendored): the test reads
their legends and counts the canary's colour on their canvas. On `engine = "haproxy"` the
same page follows a canary from HAProxy's figures.

With `CHANGEOVER_SCREENSHOTS=DIR` the test saves a screenshot of each page into DIR
(`scripts/screenshots.sh` writes docs/img/ this way).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from changeover.loadgen import BackgroundLoad, Report, Template
from tests import parts
from tests.e2e.harness import Service, engine_part
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.timeout(300)  # a loaded machine; the screenshots wait 20 s more
TOKEN = "dash-t0ken-0123456789abcdef0123456789"
STEPS = '[{ set_weight = 20 }, { pause = "4s" }, { set_weight = 50 }, { pause = {} }]'
SHOTS = os.environ.get("CHANGEOVER_SCREENSHOTS")
# what chromium logs for a refused fetch and for one made offline: the test's own doing
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of 401")
OFFLINE = re.compile(r"Failed to load resource: net::ERR_INTERNET_DISCONNECTED")
# counts the canvas pixels near the colour of the series' legend marker (uPlot sets it)
PAINTED = """([chart, series]) => {
  const box = document.querySelector(chart);
  const row = [...box.querySelectorAll(".u-legend .u-series")]
    .find((r) => r.querySelector(".u-label").textContent === series);
  if (!row) return -1;
  const marker = getComputedStyle(row.querySelector(".u-marker"));
  const want = marker.borderColor.match(/\\d+/g).map(Number);
  const canvas = box.querySelector("canvas");
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let near = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const close = [0, 1, 2].every((k) => Math.abs(pixels[i + k] - want[k]) < 24);
    if (pixels[i + 3] > 200 && close) near += 1;
  }
  return near;
}"""
RIGHT_EDGE = """Math.max(...[...document.querySelectorAll(".chart canvas")]
  .map((c) => c.getBoundingClientRect().right))"""
FLAG = {
    "name": "new-checkout",
    "enabled": True,
    "owner": "payments",
    "strategies": [
        {"name": "flexibleRollout", "parameters": {"rollout": "25", "stickiness": "userId"}}
    ],
}


def load(url: str) -> BackgroundLoad:
    templates = (Template(method="GET", path="/", weight=10), Template(path="/slow?ms=40"))
    return BackgroundLoad(
        url, rate=120, connections=8, templates=templates, timeout=30, count_header="X-Version"
    )


def clean(report: Report | None) -> Report:
    assert report is not None
    assert report.failed == 0, report.summary()
    assert report.ok == report.sent > 0
    return report


def deploy(service: Service, version: str) -> None:
    result = service.cli(
        "deploy", "--version", version, "--env", f"HELLO_VERSION={version}", "--no-wait"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def rollout(service: Service) -> dict[str, Any]:
    doc: dict[str, Any] = service.status()["rollout"]
    return doc


@pytest.fixture
def browser() -> Iterator[Browser]:
    chromium = parts.require("chromium", "chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Page, name: str, *, whole: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"dashboard-{name}.png"), full_page=whole)


def drawn(page: Page, chart: str) -> list[str]:
    """The revisions a chart drew at least one point of (its `data-revisions`)."""
    return (page.locator(chart).get_attribute("data-revisions") or "").split()


def legend(page: Page, chart: str) -> list[str]:
    """The series names in uPlot's legend of a chart."""
    return page.locator(f"{chart} .u-legend .u-series .u-label").all_inner_texts()


def painted(page: Page, chart: str, series: str) -> int:
    """Pixels of a chart's canvas in the colour uPlot's legend gives a series."""
    count: int = page.evaluate(PAINTED, [chart, series])
    return count


def current_step(page: Page) -> str:
    found = page.locator("#steps li[data-state=current]")
    return str(found.first.get_attribute("data-step")) if found.count() else ""


def test_the_dashboard_follows_a_canary_and_acts_only_with_the_token(
    service: Service, browser: Browser
) -> None:
    ops = free_port()
    (service.dir / "ops.token").write_text(TOKEN + "\n")
    (service.dir / "ops.token").chmod(0o600)
    service.write_spec(
        extra=f'type = "canary"\nsteps = {STEPS}\n\n'
        f'[ops]\nlisten = "127.0.0.1:{ops}"\ntoken_file = "ops.token"\n'
    )
    url = service.up()
    (service.dir / "flag.json").write_text(json.dumps(FLAG))
    made = service.cli("flags", "create", "flag.json")
    assert made.returncode == 0, made.stderr
    (service.dir / "other.json").write_text(json.dumps({**FLAG, "name": "other-flag"}))
    made = service.cli("flags", "create", "other.json")
    assert made.returncode == 0, made.stderr
    dashboard = f"http://127.0.0.1:{ops}"

    page = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))

    with load(url) as gen:
        page.goto(dashboard + "/#now")
        page.wait_for_selector("#revisions tr[data-revision='1']")
        assert page.locator("#actions").is_hidden() is False  # the agent takes actions...
        assert page.locator("button[data-action=promote]").is_disabled()  # ...with a token

        # the rollout advances on the page: each step becomes current, then done
        deploy(service, "v2")
        seen: list[str] = []

        def advanced() -> bool:
            step = current_step(page)
            if step and (not seen or seen[-1] != step):
                seen.append(step)
            return step.startswith("pause until promote")

        wait_for(
            advanced,
            60,
            "the page shows the rollout waiting for promote",
            detail=lambda: f"seen {seen}; steps {page.inner_text('#steps')!r}; errors {errors}",
        )
        assert seen[-1].startswith("pause until promote")
        assert len(seen) >= 2, seen  # at least the timed pause, then the wait
        assert page.locator("#steps li[data-state=done]").count() == 3
        weight = page.locator("#revisions tr[data-revision='2'] .weight-cell")
        wait_for(lambda: weight.inner_text() == "50%", 10, "the page shows the canary at 50%")
        # the uPlot charts draw the canary: its series in each legend, its colour on the canvas
        wait_for(
            lambda: drawn(page, "#chart-rate") == ["1", "2"],
            20,
            "the rate chart draws both revisions",
            detail=lambda: f"errors {errors}",
        )
        for chart in ("#chart-rate", "#chart-success", "#chart-latency"):
            wait_for(lambda c=chart: "2" in drawn(page, c), 20, f"{chart} draws the canary")
            assert int(page.locator(chart).get_attribute("data-points") or 0) > 2, chart
        assert {"r1", "r2"} <= set(legend(page, "#chart-rate"))
        assert {"r2 p50", "r2 p95", "r2 p99"} <= set(legend(page, "#chart-latency"))
        wait_for(lambda: painted(page, "#chart-rate", "r2") > 20, 20, "the canary's line painted")
        if SHOTS:  # for the docs: charts with some history, in both themes
            page.wait_for_timeout(20_000)
            shot(page, "now", whole=True)
            page.emulate_media(color_scheme="dark")
            page.wait_for_selector("#chart-latency[data-theme=dark] canvas")
            shot(page, "now-dark", whole=True)
            page.emulate_media(color_scheme="light")
            page.wait_for_selector("#chart-latency[data-theme=light] canvas")

        # refused: no token (the page's buttons are off, and a plain POST gets 401) ...
        before = rollout(service)
        refused = page.evaluate(
            "fetch('/api/actions/promote', {method: 'POST'}).then((r) => r.status)"
        )
        assert refused == 401
        with httpx.Client(base_url=dashboard) as client:
            assert client.post("/api/actions/abort").status_code == 401
            fake = {"Authorization": "Bearer x", "Origin": dashboard}
            assert client.post("/api/actions/promote-full", headers=fake).status_code == 401
        # ... and a wrong token typed into the page
        page.once("dialog", lambda d: d.accept())
        page.fill("#token", "not-the-token")
        page.click("#token-use")
        page.click("button[data-action=promote]")
        page.wait_for_selector("#action-result.bad")
        assert "Refused (401)" in page.inner_text("#action-result")
        after = rollout(service)
        assert (after["id"], after["phase"]) == (before["id"], "paused")
        assert current_step(page).startswith("pause until promote")

        # promote with the token: the rollout finishes, said to be the dashboard's doing
        page.click("#token-forget")
        page.fill("#token", TOKEN)
        page.click("#token-use")
        assert page.input_value("#token") == ""  # the token leaves the field once used
        page.once("dialog", lambda d: d.accept())
        page.click("button[data-action=promote]")
        wait_for(lambda: rollout(service)["phase"] == "succeeded", 60, "promoted from the page")
        page.wait_for_selector("#phase.phase-succeeded")
        assert service.status()["stable_revision"] == 2

        # abort from the page: traffic goes back to the stable revision
        deploy(service, "v3")
        wait_for(lambda: rollout(service)["phase"] == "paused", 60, "v3 waits for promote")
        page.wait_for_selector("button[data-action=abort]:not([disabled])")
        page.once("dialog", lambda d: d.accept())
        page.click("button[data-action=abort]")
        wait_for(lambda: rollout(service)["phase"] in ("aborted", "rolled-back"), 60, "aborted")
        assert service.status()["stable_revision"] == 2
        page.wait_for_selector("#phase.phase-aborted, #phase.phase-rolled-back")

        # a network hiccup: the page says so, then picks up where it was
        page.context.set_offline(True)
        page.wait_for_selector("#connection.bad")
        page.context.set_offline(False)
        page.wait_for_selector("#connection:not(.bad)", state="attached", timeout=20_000)
        deploy(service, "v4")
        wait_for(lambda: rollout(service)["to_revision"] == 4, 30, "v4 started")
        page.wait_for_selector("#revisions tr[data-revision='4']", timeout=30_000)
        wait_for(lambda: rollout(service)["phase"] == "paused", 60, "v4 waits for promote")
        page.once("dialog", lambda d: d.accept())
        page.click("button[data-action=promote-full]")
        wait_for(lambda: rollout(service)["phase"] == "succeeded", 60, "v4 promoted in full")

        page.click("nav a[data-page=history]")
        page.wait_for_selector("#rollouts tbody tr")
        page.click("#history-revisions button[data-diff='2']")  # every difference, 1 to 2
        diff = page.wait_for_selector("#history-revisions tr[data-revision='2'] .full-diff")
        assert "HELLO_VERSION" in diff.inner_text()
        shot(page, "history")
        page.click("nav a[data-page=events]")
        page.wait_for_selector("#events tbody tr")
        events = page.inner_text("#events tbody")
        assert "dashboard" in events
        page.fill("#event-filter", "dashboard")
        shown = page.locator("#events tbody tr")
        assert shown.count() >= 2
        assert all("dashboard" in t for t in shown.all_inner_texts())
        page.fill("#event-filter", "")
        shot(page, "events")
        page.click("nav a[data-page=flags]")
        page.wait_for_selector("#flags tr[data-flag='new-checkout']")
        # a percent typed for one flag, not sent yet, outlives an action on another
        typed = "#flags tr[data-flag='other-flag'] input[type=number]"
        page.fill(typed, "37")
        page.once("dialog", lambda d: d.accept())
        page.click("#flags button[data-flag='new-checkout']")
        wait_for(
            lambda: page.inner_text("#flags tr[data-flag='new-checkout'] .flag-enabled") == "no",
            20,
            "the flag switched off from the page",
        )
        assert page.input_value(typed) == "37"
        shot(page, "flags")
        page.click("nav a[data-page=now]")

        # a phone's width: nothing wider than the screen
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_selector("#revisions tr[data-revision='2']")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, wide
        wait_for(  # the charts shrink to their cards, not just clipped by them
            lambda: page.evaluate(RIGHT_EDGE) <= 390, 10, "the charts fit a phone's width"
        )
        shot(page, "phone", whole=True)

    clean(gen.report)
    messages = [e["message"] for e in service.status()["events"]]
    assert any("dashboard" in m for m in messages), messages
    flags = {f["name"]: f for f in json.loads(service.cli("flags", "list", "--json").stdout)}
    assert flags["new-checkout"]["enabled"] is False
    assert flags["new-checkout"]["updated_by"] == "dashboard"
    assert flags["other-flag"]["enabled"] is True  # typed into, never sent
    for path in service.state.rglob("*"):  # the state DB, the agent's and replicas' logs
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    own = [e for e in errors if not (REFUSED.search(e) or OFFLINE.search(e))]
    assert own == [], own
    # the plain fetch's refusal and the wrong token's
    assert len([e for e in errors if REFUSED.search(e)]) == 2


def test_the_dashboard_reads_the_haproxy_engine_as_it_reads_the_builtin(
    service: Service, browser: Browser
) -> None:
    """The same page on `engine = "haproxy"`: steps, weights, the rate, success and latency
    charts (counts from HAProxy's stats, latencies from its sampled request log) and a
    promote from the page, under load, no request failed."""
    engine_part("haproxy")
    ops = free_port()
    (service.dir / "ops.token").write_text(TOKEN + "\n")
    (service.dir / "ops.token").chmod(0o600)
    service.write_spec(
        engine="haproxy",
        extra=f'type = "canary"\nsteps = {STEPS}\n\n'
        f'[ops]\nlisten = "127.0.0.1:{ops}"\ntoken_file = "ops.token"\n',
    )
    url = service.up()
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    with load(url) as gen:
        page.goto(f"http://127.0.0.1:{ops}/#now")
        page.wait_for_selector("#revisions tr[data-revision='1']")
        deploy(service, "v2")
        wait_for(
            lambda: current_step(page).startswith("pause until promote"),
            60,
            "the page shows the rollout waiting for promote",
            detail=lambda: f"steps {page.inner_text('#steps')!r}; errors {errors}",
        )
        weight = page.locator("#revisions tr[data-revision='2'] .weight-cell")
        wait_for(lambda: weight.inner_text() == "50%", 10, "the page shows the canary at 50%")
        for chart in ("#chart-rate", "#chart-success", "#chart-latency"):
            wait_for(lambda c=chart: "2" in drawn(page, c), 30, f"{chart} draws the canary")
        assert {"r2 p50", "r2 p95", "r2 p99"} <= set(legend(page, "#chart-latency"))
        page.fill("#token", TOKEN)
        page.click("#token-use")
        page.once("dialog", lambda d: d.accept())
        page.click("button[data-action=promote]")
        wait_for(lambda: rollout(service)["phase"] == "succeeded", 60, "promoted from the page")
        page.wait_for_selector("#phase.phase-succeeded")
    clean(gen.report)
    assert service.status()["agent"]["engine"] == "haproxy"
    assert errors == []


def test_the_history_page_keeps_what_the_operator_opened_when_events_arrive(
    service: Service, browser: Browser
) -> None:
    """An event refreshes the History page (a deploy records several): a revision's diff
    the operator expanded stays expanded, the rows that did not change are the same
    elements (a text selection in them survives), the page does not jump, and the Events
    page's filter keeps its text and focus while new events are drawn under it."""
    ops = free_port()
    service.write_spec(extra=f'\n[ops]\nlisten = "127.0.0.1:{ops}"\n')
    service.up()
    deploy(service, "v2")
    wait_for(lambda: rollout(service)["phase"] == "succeeded", 60, "v2 deployed")

    page = browser.new_page(viewport={"width": 1280, "height": 400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.goto(f"http://127.0.0.1:{ops}/#history")
    page.click("#history-revisions button[data-diff='2']")  # every difference, 1 to 2
    diff = page.wait_for_selector("#history-revisions tr[data-revision='2'] .full-diff")
    assert "HELLO_VERSION" in diff.inner_text()
    # mark the first rollout's row and revision 1's row: a row drawn again loses the mark
    page.evaluate(
        """() => {
          const rows = "#rollouts tbody tr, #history-revisions tr[data-revision='1']";
          for (const row of document.querySelectorAll(rows)) row.dataset.mark = "kept";
        }"""
    )
    row = page.locator("#history-revisions tr[data-revision='2']")
    # the operator reads from revision 2 on: it is at the window's top, partly scrolled past
    # (room below it, as a long history has, lets the window scroll that far)
    page.evaluate("document.querySelector('main').style.paddingBottom = '2000px'")
    row.evaluate("(r) => r.scrollIntoView({ block: 'start' })")
    page.evaluate("window.scrollBy(0, 20)")
    top = row.bounding_box()
    assert top is not None
    assert top["y"] < 0 < top["y"] + top["height"], top  # the row at the window's top

    deploy(service, "v3")  # events arrive while the History page is shown
    page.wait_for_selector("#history-revisions tr[data-revision='3']", timeout=60_000)
    wait_for(lambda: rollout(service)["phase"] == "succeeded", 60, "v3 deployed")
    # the page has drawn the finished rollout: the last events' refresh has landed
    finished = page.locator("#rollouts tbody tr", has_text="2 → 3")
    wait_for(
        lambda: finished.count() == 1 and "succeeded" in finished.inner_text(),
        30,
        "the History page shows the v3 rollout succeeded",
    )
    assert page.locator("#history-revisions tr[data-revision='2'] .full-diff").count() == 1
    assert "HELLO_VERSION" in page.inner_text("#history-revisions tr[data-revision='2']")
    assert page.locator("#history-revisions button[data-diff='2']").count() == 0
    assert page.locator("#history-revisions button[data-diff='3']").count() == 1  # the new one
    assert page.locator("#history-revisions tr[data-revision='1'][data-mark=kept]").count() == 1
    assert page.locator("#rollouts tbody tr[data-mark=kept]").count() >= 1  # rollout 1's
    after = row.bounding_box()
    assert after is not None
    assert abs(after["y"] - top["y"]) <= 2, (top, after)  # what the operator looked at stays

    # the Events page: the filter keeps its text and focus while events are drawn
    page.click("nav a[data-page=events]")
    page.wait_for_selector("#events tbody tr")
    page.fill("#event-filter", "v4")
    newest = (
        page.inner_text("#events tbody tr:first-child td:first-child")
        if page.locator("#events tbody tr").count()
        else "0"
    )
    deploy(service, "v4")
    wait_for(
        lambda: (
            page.locator("#events tbody tr").count() > 0
            and page.inner_text("#events tbody tr:first-child td:first-child") != newest
        ),
        60,
        "the Events page draws the v4 events under the filter",
    )
    assert page.input_value("#event-filter") == "v4"
    assert page.evaluate("document.activeElement.id") == "event-filter"
    assert all("v4" in t.lower() for t in page.locator("#events tbody tr").all_inner_texts())
    assert errors == []
