"""The fleet overview with real agents: every host listed, live without re-rendering, sort and
filter kept in the URL across a reload, revoked shown as revoked, a row opens its host page."""
import os
import re
import subprocess
import tempfile

from playwright.sync_api import expect

from conftest import Server
from test_agents import AGENT, sign_in
from test_dashboard import ADMIN, shot, wait_for_hydration

BIN = os.environ.get("VANTAGE_BIN", "target/debug/vantage")
LOADGEN = os.path.join(os.path.dirname(AGENT), "vantage-loadgen")


def both_widths(page, name):
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, f"{name}-1280")
    page.set_viewport_size({"width": 375, "height": 800})
    shot(page, f"{name}-375")
    page.set_viewport_size({"width": 1280, "height": 900})


def fleet_token(page, server):
    page.goto(server.url + "/agents")
    wait_for_hydration(page)
    page.get_by_role("button", name="Generate enrollment token").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("A fleet: DaemonSet, autoscaling group, golden image").check()
    dialog.get_by_role("button", name="Generate").click()
    standalone = dialog.get_by_test_id("snippet").inner_text()
    dialog.get_by_role("button", name="Close").click()
    token = re.search(r"--enrollment-token '([^']+)'", standalone).group(1)
    pin = re.search(r"--server-pin '([^']+)'", standalone).group(1)
    return token, pin


def set_tags(page, label, tags):
    row = page.locator("article.agent", has_text=label)
    expect(row.get_by_test_id("agent-status")).to_have_text("connected", timeout=15_000)
    row.get_by_label("Tags").fill(tags)
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_label("Tags")).to_have_value(tags)


def test_overview_lists_sorts_filters_and_stays_live(server_mode, browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, server_mode)
    token, pin = fleet_token(page, server_mode)
    agents = []
    try:
        for label in ("web-1", "web-2", "db-1"):
            agents.append(subprocess.Popen(
                [AGENT, "--server", server_mode.grpc_url, "--enrollment-token", token, "--server-pin", pin,
                 "--host-interval", "1s", "--label", label, "--state-dir", tempfile.mkdtemp(prefix="vantage-e2e-fleet-")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, VANTAGE_LOG="warn"),
            ))
        for label in ("web-1", "web-2", "db-1"):
            expect(page.locator("article.agent", has_text=label)).to_be_visible(timeout=20_000)
        set_tags(page, "web-1", "prod, web")
        set_tags(page, "db-1", "prod")

        page.get_by_role("link", name="Dashboard").click()
        rows = page.locator("tr.fleet-row")
        expect(rows).to_have_count(4)
        expect(page.get_by_test_id("fleet-count")).to_have_text("4 hosts")
        wait_for_hydration(page)
        web1 = page.locator("tr.fleet-row", has_text="web-1")
        expect(web1.get_by_test_id("host-status")).to_have_text("connected")
        expect(web1.locator(".tag")).to_have_text(["prod", "web"])
        expect(web1.locator("[data-value=cpu]")).to_have_text(re.compile(r"^\d+\.\d %$"))

        # A new sample changes the row in place: the same element, a newer sample time.
        seen = web1.get_by_test_id("last-seen")
        first = seen.get_attribute("title")
        web1.evaluate("row => { row.dataset.marker = 'kept' }")
        expect(seen).not_to_have_attribute("title", first, timeout=10_000)
        assert web1.evaluate("row => row.dataset.marker") == "kept", "the row was rendered anew"
        both_widths(page, "14-fleet")

        # Sort by CPU (busiest first), then the other way; the URL keeps it.
        page.locator("th a[data-sort=cpu]").click()
        expect(page).to_have_url(re.compile(r"/\?sort=cpu$"))
        expect(page.locator("th.col-cpu")).to_have_attribute("aria-sort", "descending")
        page.locator("th a[data-sort=cpu]").click()
        expect(page).to_have_url(re.compile(r"/\?sort=cpu&dir=asc$"))
        # Filter by text and tag.
        page.get_by_label("Filter").fill("web")
        expect(rows).to_have_count(2)
        page.get_by_label("Tag").select_option("prod")
        expect(rows).to_have_count(1)
        expect(page.get_by_test_id("fleet-count")).to_have_text("1 of 4 hosts")
        expect(page).to_have_url(re.compile(r"sort=cpu&dir=asc&tag=prod&q=web$"))
        # A reload is rendered by the server in the same state.
        page.reload()
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("web-1")
        expect(page.get_by_label("Filter")).to_have_value("web")
        expect(page.locator("th.col-cpu")).to_have_attribute("aria-sort", "ascending")
        wait_for_hydration(page)
        expect(page.get_by_label("Tag")).to_have_value("prod")
        page.get_by_label("Filter").fill("no such host")
        expect(page.get_by_test_id("fleet-empty")).to_be_visible()
        page.get_by_label("Filter").fill("")
        page.get_by_label("Tag").select_option("")
        expect(rows).to_have_count(4)

        # A revoked agent shows revoked.
        page.get_by_role("link", name="Agents").click()
        row = page.locator("article.agent", has_text="db-1")
        row.get_by_role("button", name="Revoke").click()
        expect(row.get_by_test_id("agent-status")).to_have_text("revoked")
        page.get_by_role("link", name="Dashboard").click()
        expect(page.locator("tr.fleet-row", has_text="db-1").get_by_test_id("host-status")).to_have_text("revoked")

        # A row opens its host page.
        wait_for_hydration(page)
        page.locator("tr.fleet-row", has_text="web-2").locator(".col-load").click()
        expect(page).to_have_url(re.compile(r"/hosts/[0-9a-f-]{36}$"))
        expect(page.locator(".host-head h1")).to_have_text("web-2")
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.kill()
    assert not errors, errors
    page.close()


def test_a_large_fleet_draws_the_rows_in_view(browser):
    """150 simulated agents: the overview draws the rows on screen, not all of them, and
    scrolling, sorting and filtering reach any host, live."""
    server = Server("--mode", "server")
    page, loadgen = None, None
    host = lambda name: page.get_by_role("link", name=name, exact=True)
    try:
        page = browser.new_page()
        sign_in(page, server)
        token = subprocess.run([BIN, "admin", "create-token", "--data-dir", server.data_dir,
                                "--username", ADMIN, "--name", "loadgen"],
                               check=True, capture_output=True, text=True).stdout.strip()
        loadgen = subprocess.Popen(
            [LOADGEN, "--server-url", server.url, "--agents", "150", "--duration", "180", "--interval", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, VANTAGE_API_TOKEN=token))
        # Sorted by name, the simulated hosts only: loadgen-0, loadgen-1, loadgen-10 … loadgen-99.
        count = page.get_by_test_id("fleet-count")
        for _ in range(60):
            page.goto(server.url + "/?q=loadgen-")
            if count.count() and count.inner_text() == "150 of 151 hosts":
                break
            page.wait_for_timeout(1000)
        expect(count).to_have_text("150 of 151 hosts")
        wait_for_hydration(page)
        rows = page.locator("tr.fleet-row")
        drawn = rows.count()
        assert 20 <= drawn <= 60, f"{drawn} rows drawn of 150"
        expect(host("loadgen-0")).to_be_visible()
        # The page is as tall as every row: spacers stand for the rows not drawn.
        height = page.evaluate("() => document.documentElement.scrollHeight")
        assert height > 150 * 30, height

        # Scrolled to the end: the last hosts by name are drawn, the first ones are not.
        page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
        expect(host("loadgen-99")).to_be_visible()
        expect(host("loadgen-0")).to_have_count(0)
        assert rows.count() <= 60, rows.count()
        # A row drawn by scrolling is live too.
        seen = page.locator("tr.fleet-row", has=host("loadgen-99")).get_by_test_id("last-seen")
        first = seen.get_attribute("title")
        expect(seen).not_to_have_attribute("title", first, timeout=15_000)
        both_widths(page, "15-fleet-large")

        # Back at the top; sorted the other way, the last host by name comes first.
        page.evaluate("() => window.scrollTo(0, 0)")
        expect(host("loadgen-0")).to_be_visible()
        page.locator("th a[data-sort=host]").click()
        expect(page).to_have_url(re.compile(r"dir=desc"))
        expect(rows.first).to_contain_text("loadgen-99")
        # A filter reaches a host that was not drawn.
        page.get_by_label("Filter").fill("loadgen-1")
        expect(count).to_have_text("61 of 151 hosts")
        page.get_by_label("Filter").fill("loadgen-149")
        expect(rows).to_have_count(1)
    finally:
        if loadgen and loadgen.poll() is None:
            loadgen.kill()
        if page:
            page.close()
        server.stop()
