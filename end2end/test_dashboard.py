"""Setup, login, the live dashboard and API tokens, clicked through in headless Chromium."""
import json
import os
import re
import urllib.error
import urllib.request

from playwright.sync_api import expect

ADMIN = "admin"
PASSWORD = "correct horse battery"
SHOTS = os.environ.get("VANTAGE_E2E_SCREENSHOTS")


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def api(server, path, token):
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_for_hydration(page):
    # The WASM bundle marks the body once it has taken over the server-rendered page.
    page.wait_for_selector("body[data-hydrated=true]", state="attached", timeout=30_000)


def test_first_run_login_dashboard_and_tokens(server, browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # No account yet: every page leads to setup.
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", name="Welcome to Vantage")).to_be_visible()
    shot(page, "01-setup")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create admin").click()

    # Setup done: the login page, where a wrong password is told plainly.
    expect(page).to_have_url(re.compile(r"/login$"))
    wait_for_hydration(page)
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    shot(page, "02-login-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # The dashboard shows this machine's figures...
    expect(page).to_have_url(re.compile(r"/(hosts/local)?$"))
    for metric in ("cpu", "memory", "disk"):
        expect(page.locator(f"text[data-value={metric}]")).to_have_text(re.compile(r"^\d+\.\d %$"))
    expect(page.locator("[data-value=net_rx]")).to_have_text(re.compile(r"/s$"))
    expect(page.locator("figure[data-chart=cpu]")).to_be_visible()
    expect(page.locator("figure[data-chart=memory]")).to_be_visible()
    wait_for_hydration(page)

    # ...and they change live, pushed over SSE without a reload.
    # Each live sample moves the exact time (on hover); the text says how long ago.
    updated = page.get_by_test_id("updated-at")
    expect(updated).to_have_text(re.compile(r"^updated (just now|\d+ s ago)$"))
    first = updated.get_attribute("title")
    expect(updated).not_to_have_attribute("title", first, timeout=10_000)
    second = updated.get_attribute("title")
    expect(updated).not_to_have_attribute("title", second, timeout=10_000)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", second), second
    # The top processes of this machine, with pid and user; the browser running this test
    # holds memory, so it is among them.
    by_memory = page.get_by_test_id("top-processes-memory")
    expect(by_memory.locator("li").first).to_contain_text("pid ")
    expect(by_memory).to_contain_text(re.compile(r"chrom|headless_shell"))
    shot(page, "03-dashboard")

    # A chart per core, file system and interface beside the totals, and load.
    cores = page.locator(".details .bars li").count()
    expect(page.locator("figure[data-chart=cpu_core] polyline")).to_have_count(cores)
    expect(page.locator("figure[data-chart=cpu_core] .legend li")).to_have_count(cores)
    expect(page.locator("figure[data-chart=load] .legend")).to_contain_text("15m")
    expect(page.locator("figure[data-chart=filesystem]")).to_be_visible()
    # New samples join the charts as they arrive, without a reload or the 30 s refresh.
    before = len(page.locator("figure[data-chart=cpu] polyline").get_attribute("points").split())
    page.wait_for_function(
        "n => document.querySelector('figure[data-chart=cpu] polyline').getAttribute('points').trim().split(/\\s+/).length >= n + 2",
        arg=before, timeout=8_000)
    # Hovering one chart reads out the same moment on every chart.
    page.locator("figure[data-chart=cpu] .plot").hover(position={"x": 200, "y": 40})
    for key in ("cpu", "memory", "cpu_core", "load"):
        figure = page.locator(f"figure[data-chart={key}]")
        expect(figure.locator("line.cursor")).to_have_count(1)
        expect(figure.get_by_test_id("chart-value")).to_have_text(re.compile(r"^\d\d:\d\d · "))
    moment = page.locator("figure[data-chart=cpu] [data-testid=chart-value]").inner_text().split(" · ")[0]
    expect(page.locator("figure[data-chart=memory] [data-testid=chart-value]")).to_contain_text(moment)
    shot(page, "03-dashboard-hover")
    page.mouse.move(0, 0)
    expect(page.locator("line.cursor")).to_have_count(0)

    # The history charts switch range, each range in the URL and drawn for it.
    for key, label, span in (("24h", "24 h", "24 h ago"), ("7d", "7 d", "7 d ago"), ("30d", "30 d", "30 d ago")):
        page.get_by_role("link", name=label, exact=True).click()
        expect(page).to_have_url(re.compile(rf"\?range={key}$"))
        expect(page.locator(f".range a[data-range='{key}']")).to_have_class(re.compile("active"))
        expect(page.locator("figure[data-chart=cpu] .axis").last).to_contain_text(span)
        expect(page.locator("figure[data-chart=cpu] polyline")).to_have_attribute("points", re.compile(r"\d"))
    for metric in ("memory", "disk", "net_rx", "net_tx"):
        expect(page.locator(f"figure[data-chart={metric}]")).to_be_visible()
    # A reload keeps the range.
    page.reload()
    expect(page.locator(".range a[data-range='30d']")).to_have_class(re.compile("active"))
    wait_for_hydration(page)

    # Settings: create a token, see it once, use it, revoke it.
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/settings$"))
    expect(page.locator("#no-tokens")).to_be_visible()
    page.get_by_label("Name").fill("e2e")
    page.get_by_role("button", name="Create token").click()
    token_box = page.locator("#new-token")
    expect(token_box).to_have_text(re.compile(r"^vtg_api_[0-9a-f]{64}$"))
    token = token_box.inner_text()
    row = page.locator("table.tokens tr", has_text="e2e")
    expect(row).to_be_visible()
    expect(row.locator("code")).to_have_text(re.compile(r"^vtg_api_.{4}….{4}$"))
    shot(page, "04-token")

    status, me = api(server, "/api/v1/auth/me", token)
    assert status == 200 and me["username"] == ADMIN
    status, summary = api(server, "/api/v1/resources/summary?agent_id=local", token)
    assert status == 200 and summary["latest"]["memory_total_bytes"] > 0

    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("#no-tokens")).to_be_visible()
    status, body = api(server, "/api/v1/auth/me", token)
    assert status == 401 and body["error"]["code"] == "unauthorized"

    # Sign out ends the session.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(server.url + "/settings")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert not errors, errors
    page.close()


def test_dashboard_fits_a_phone(server, browser):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/login")
    if "/setup" in page.url:
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create admin").click()
        expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("text[data-value=cpu]")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at 375 px: {width}px wide"
    shot(page, "05-phone")
    context.close()
