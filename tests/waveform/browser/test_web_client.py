"""The web client in Debian's chromium against the whole platform: the web BFF serving its
single-page app, the services behind it, and Redis carrying the domain events that the live
updates are made of. One platform for the module; a fresh browser profile per person."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from platforms import started
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Response, expect

from waveform.supervisor import Platform

#: Enough tracks that alice's stream runs to several pages.
SCALE = 300
#: Recorded in the page before any of its scripts run (an init script is not subject to the
#: page's CSP): every policy violation the page meets.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""

#: A network that lets no WebSocket through (a proxy that refuses the upgrade): each
#: connection fails before it opens, as the browser reports a refused handshake.
NO_WEBSOCKETS = """
window.WebSocket = class extends EventTarget {
  constructor(url) {
    super();
    this.url = String(url);
    setTimeout(() => {
      this.dispatchEvent(new Event("error"));
      this.dispatchEvent(new CloseEvent("close", { code: 1006 }));
    }, 0);
  }
  close() {}
};
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # A generous startup bound: on a loaded machine sixteen processes start at once.
    with started(
        tmp_path_factory, "waveform-browser", scale=SCALE, redis=True, startup_timeout=60
    ) as p:
        yield p


@pytest.fixture(scope="module")
def web(platform: Platform) -> str:
    return platform.url("web")


@pytest.fixture
def errors(page: Page) -> list[str]:
    """What the page reports as an error: console errors (a refused resource, a failed
    connection, a CSP refusal) and uncaught exceptions."""
    found: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda exc: found.append(f"uncaught: {exc}"))
    page.add_init_script(RECORD_VIOLATIONS)
    return found


def log_in(page: Page, web: str, username: str) -> None:
    page.goto(f"{web}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"wave-{username}")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your stream")).to_be_visible()
    expect(page.locator(".entry").first).to_be_visible()


def wait_live(page: Page) -> None:
    """Until the page's live connection is open (the client marks it on <body>)."""
    expect(page.locator("body")).to_have_attribute("data-live", re.compile("^(live|sse)$"))


def person(browser: Browser, web: str, username: str) -> tuple[BrowserContext, Page]:
    """Another person, in a browser profile of their own, logged in and live."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, web, username)
    wait_live(page)
    return context, page


def post_track_as(browser: Browser, web: str, username: str) -> str:
    """The title of a track ``username`` just posted, from a profile of their own."""
    context, page = person(browser, web, username)
    title = f"Posted {uuid.uuid4().hex[:8]}"
    try:
        page.get_by_role("link", name="Post a track").click()
        page.get_by_label("Title").fill(title)
        page.get_by_role("button", name="Post track").click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()
    finally:
        context.close()
    return title


def new_playlist(page: Page) -> str:
    """The title of a playlist just made with the New playlist form, its page now open."""
    page.get_by_role("link", name="New playlist").click()
    title = f"Mix {uuid.uuid4().hex[:6]}"
    page.get_by_label("Title").fill(title)
    page.get_by_role("button", name="Create playlist").click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    return title


def entries(page: Page) -> int:
    return page.locator(".entry").count()


def test_the_page_is_served_with_a_strict_content_security_policy(page: Page, web: str) -> None:
    response = page.goto(f"{web}/")
    assert response is not None and response.ok
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "connect-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["cache-control"] == "no-cache"


def test_the_pages_assets_have_hashed_names_and_are_immutable(page: Page, web: str) -> None:
    assets: list[tuple[str, str]] = []

    def loaded(response: Response) -> None:
        if "/assets/" in response.url:
            assets.append((response.url, response.headers.get("cache-control", "")))

    page.on("response", loaded)
    page.goto(f"{web}/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    names = {url.rsplit("/", 1)[1] for url, _ in assets}
    assert {re.sub(r"\.[0-9a-f]{12}\.", ".", n) for n in names} >= {
        "app.js", "api.js", "live.js", "views.js", "dom.js", "store.js", "app.css"
    }  # fmt: skip
    assert all(c == "public, max-age=31536000, immutable" for _, c in assets)


def test_alice_logs_in_and_sees_her_stream_without_console_errors(
    page: Page, web: str, errors: list[str]
) -> None:
    log_in(page, web, "alice")
    expect(page.get_by_text("@alice")).to_be_visible()
    wait_live(page)
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert errors == []
    assert page.evaluate("window.__violations") == []


def test_scrolling_to_the_end_loads_the_next_page_by_cursor(page: Page, web: str) -> None:
    log_in(page, web, "alice")
    first = entries(page)
    with page.expect_response(lambda r: "/api/stream?cursor=" in r.url) as next_page:
        page.mouse.wheel(0, 50_000)
    assert next_page.value.ok
    page.wait_for_function(f"document.querySelectorAll('.entry').length > {first}")


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_content(
    page: Page, web: str
) -> None:
    log_in(page, web, "alice")
    page.reload()  # a page as it loads: nothing focused yet
    expect(page.get_by_role("heading", name="Your stream")).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert page.url == f"{web}/"  # the route stays


def test_a_track_is_liked_and_unliked_by_keyboard_alone_with_focus_visible(
    page: Page, web: str
) -> None:
    log_in(page, web, "alice")
    page.goto(f"{web}/#/tracks/t5")  # bob's, allowed in alice's country
    expect(page.get_by_role("heading", level=1)).to_be_focused()  # focus follows the page
    like = page.get_by_role("button", name="Like", exact=True)
    for _ in range(10):  # Tab through the page's controls up to the button
        page.keyboard.press("Tab")
        if like.evaluate("b => b === document.activeElement"):
            break
    expect(like).to_be_focused()
    assert like.evaluate("b => getComputedStyle(b).outlineStyle") == "solid"
    before = like.get_attribute("aria-pressed")
    after = "false" if before == "true" else "true"
    page.keyboard.press("Space")
    expect(like).to_have_attribute("aria-pressed", after)
    page.keyboard.press("Enter")
    expect(like).to_have_attribute("aria-pressed", before or "false")


def test_a_like_is_seen_live_by_the_tracks_owner(
    page: Page, web: str, browser: Browser, errors: list[str]
) -> None:
    bob, bobs_page = person(browser, web, "bob")
    try:
        log_in(page, web, "alice")
        page.goto(f"{web}/#/tracks/t1")  # bob's public track
        like = page.get_by_role("button", name="Like", exact=True)
        expect(like).to_be_enabled()
        if like.get_attribute("aria-pressed") == "true":  # an earlier run's like: undo it
            like.click()
            expect(like).to_have_attribute("aria-pressed", "false")
        likes = int(page.locator("#likes").inner_text())
        like.click()
        expect(like).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#likes")).to_have_text(str(likes + 1))
        banner = bobs_page.get_by_role("status").filter(has_text="New activity")
        expect(banner).to_contain_text("alice liked your track")
        assert errors == []
    finally:
        bob.close()


def test_bobs_new_post_appears_live_in_alices_banner(
    page: Page, web: str, browser: Browser
) -> None:
    log_in(page, web, "alice")
    wait_live(page)
    title = post_track_as(browser, web, "bob")
    banner = page.get_by_role("status").filter(has_text="New activity")
    expect(banner).to_contain_text(f"bob posted {title}")
    banner.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()


def test_without_websockets_the_banner_falls_back_to_server_sent_events(
    page: Page, web: str, browser: Browser
) -> None:
    page.add_init_script(NO_WEBSOCKETS)
    with page.expect_request(lambda r: r.url.endswith("/api/live/sse")):
        log_in(page, web, "alice")
    expect(page.locator("body")).to_have_attribute("data-live", "sse")
    title = post_track_as(browser, web, "bob")
    banner = page.get_by_role("status").filter(has_text="New activity")
    expect(banner).to_contain_text(f"bob posted {title}")


def test_logging_out_closes_the_live_connection(page: Page, web: str) -> None:
    with page.expect_websocket(lambda ws: "/api/live" in ws.url) as opened:
        log_in(page, web, "alice")
    socket = opened.value
    wait_live(page)
    with socket.expect_event("close"):
        page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def test_logging_out_in_another_tab_ends_this_tabs_live_connection(
    context: BrowserContext, web: str
) -> None:
    first = context.new_page()
    with first.expect_websocket(lambda ws: "/api/live" in ws.url) as opened:
        log_in(first, web, "alice")
    wait_live(first)
    second = context.new_page()  # the same profile: the same session cookie
    second.goto(f"{web}/")
    with opened.value.expect_event("close"):  # the BFF closes it (1008): this tab did nothing
        second.get_by_role("button", name="Log out").click()
    expect(first.get_by_text("Your session ended")).to_be_visible()


def test_a_playlist_is_created_filled_and_reordered(page: Page, web: str) -> None:
    log_in(page, web, "alice")
    new_playlist(page)
    for track in ("t1", "t5"):
        page.get_by_label("Add a track by id").fill(track)
        page.get_by_role("button", name="Add track").click()
        expect(page.locator("main").get_by_role("status")).to_have_text("Added.")
    tracks = page.get_by_role("list", name="Tracks").get_by_role("listitem")
    expect(tracks).to_have_count(2)
    second = tracks.nth(1).get_by_role("link").inner_text()
    page.get_by_role("button", name=f"Move {second} up").click()
    expect(tracks.first.get_by_role("link")).to_have_text(second)
    page.reload()  # the order is the service's, not the page's
    expect(tracks.first.get_by_role("link")).to_have_text(second)


def test_a_track_is_added_to_a_playlist_from_its_page_once(page: Page, web: str) -> None:
    log_in(page, web, "alice")
    title = new_playlist(page)
    page.goto(f"{web}/#/tracks/t5")
    page.get_by_label("Add to playlist").select_option(label=title)
    add = page.get_by_role("button", name="Add", exact=True)
    status = page.locator("form.inline").get_by_role("status")
    add.click()
    expect(status).to_have_text(f"Added to {title}.")
    add.click()  # the service's playlist already holds it: not added twice
    expect(status).to_have_text(f"Already in {title}.")


def test_an_edit_from_a_stale_tab_is_refused_and_the_playlist_reloaded(
    context: BrowserContext, web: str
) -> None:
    first = context.new_page()
    log_in(first, web, "alice")
    created = first.evaluate(
        """async () => {
          const s = await (await fetch("/api/session")).json();
          const r = await fetch("/api/playlists", {method: "POST",
            headers: {"content-type": "application/json", "x-csrf-token": s.csrf_token},
            body: JSON.stringify({title: "Two tabs", track_ids: ["t1", "t5"]})});
          return (await r.json()).id;
        }"""
    )
    first.goto(f"{web}/#/playlists/{created}")
    second = context.new_page()
    second.goto(f"{web}/#/playlists/{created}")
    remove = second.get_by_role("button", name=re.compile("^Remove "))
    expect(remove).to_have_count(2)
    remove.first.click()
    expect(remove).to_have_count(1)
    first.get_by_role("button", name=re.compile("^Remove ")).first.click()  # stale If-Match
    expect(first.locator("main").get_by_role("status")).to_contain_text("changed elsewhere")
    expect(first.get_by_role("button", name=re.compile("^Remove "))).to_have_count(1)


def test_the_api_answers_problems_not_the_page_for_an_unknown_asset(web: str) -> None:
    response = httpx.get(f"{web}/assets/app.000000000000.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
