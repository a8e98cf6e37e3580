"""Server mode in the browser: enroll a real agent from the dialog, watch it live, rename,
open its host page from the fleet overview, revoke and delete it."""
import os
import re
import subprocess
import tempfile

from playwright.sync_api import expect

from test_dashboard import ADMIN, PASSWORD, shot, wait_for_hydration

AGENT = os.environ.get("VANTAGE_AGENT_BIN", "target/debug/vantage-agent")


def sign_in(page, server):
    page.goto(server.url + "/")
    if "/setup" in page.url:
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create admin").click()
        expect(page).to_have_url(re.compile(r"/login$"))
    wait_for_hydration(page)
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/(hosts/local)?$"))


def test_enroll_watch_rename_revoke_delete(server_mode, browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, server_mode)
    # One host only: its page is the home page, no fleet table.
    expect(page.locator("text[data-value=cpu]")).to_be_visible()
    expect(page.locator(".fleet-table")).to_have_count(0)

    page.get_by_role("link", name="Agents").click()
    expect(page).to_have_url(re.compile(r"/agents$"))
    wait_for_hydration(page)
    expect(page.locator("#no-agents")).to_be_visible()
    page.get_by_role("button", name="Generate enrollment token").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Generate").click()
    snippet = dialog.get_by_test_id("snippet")
    expect(snippet).to_contain_text("install.sh")
    expect(dialog.locator(".warning", has_text="loopback")).to_be_visible()
    # This server has no agent builds: the dialog says so before anyone pastes.
    expect(dialog.locator(".warning", has_text="linux-x86_64 is missing")).to_be_visible()
    expect(dialog.locator("li[data-build=linux-aarch64]")).to_contain_text("missing")
    standalone = snippet.inner_text()
    for tab, text in (("Docker run", "docker run"), ("Compose", "services:"), ("Kubernetes", "kind: DaemonSet")):
        dialog.get_by_role("tab", name=tab).click()
        expect(snippet).to_contain_text(text)
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    shot(page, "06-enroll-dialog")
    dialog.get_by_role("button", name="Close").click()

    token = re.search(r"--enrollment-token '([^']+)'", standalone).group(1)
    pin = re.search(r"--server-pin '([^']+)'", standalone).group(1)
    state = tempfile.mkdtemp(prefix="vantage-e2e-agent-")
    agent = subprocess.Popen(
        [AGENT, "--server", server_mode.grpc_url, "--enrollment-token", token, "--server-pin", pin,
         "--host-interval", "1s", "--label", "e2e-host", "--state-dir", state],
        stderr=subprocess.PIPE, text=True, env=dict(os.environ, VANTAGE_LOG="warn"),
    )
    try:
        # The new agent shows up connected without a reload (status events over SSE).
        row = page.locator("article.agent", has_text="e2e-host")
        expect(row).to_be_visible(timeout=15_000)
        expect(row.get_by_test_id("agent-status")).to_have_text("connected", timeout=15_000)

        row.get_by_label("Label").fill("web-1")
        row.get_by_label("Tags").fill("prod, web")
        row.get_by_role("button", name="Save").click()
        row = page.locator("article.agent", has_text="web-1")
        expect(row).to_be_visible()
        expect(row.get_by_label("Tags")).to_have_value("prod, web")
        shot(page, "07-agents")

        # Two hosts: the home page is the fleet overview; a row opens that host's page.
        page.get_by_role("link", name="Dashboard").click()
        row = page.locator("tr.fleet-row", has_text="web-1")
        expect(row).to_be_visible()
        expect(page.locator("tr.fleet-row")).to_have_count(2)
        wait_for_hydration(page)
        row.locator(".col-uptime").click()
        expect(page).to_have_url(re.compile(r"/hosts/[0-9a-f-]{36}$"))
        expect(page.locator(".host-head h1")).to_have_text("web-1")
        # Live updates keep the new name.
        first = page.get_by_test_id("updated-at").get_attribute("title")
        expect(page.get_by_test_id("updated-at")).not_to_have_attribute("title", first, timeout=10_000)
        expect(page.locator(".host-head h1")).to_have_text("web-1")
        expect(page.locator("text[data-value=cpu]")).to_have_text(re.compile(r"^\d+\.\d %$"))
        # Its charts show what is stored for it without a reload, however new the agent.
        expect(page.locator("figure[data-chart=cpu] figcaption .muted")).not_to_have_text("no data yet", timeout=10_000)
        shot(page, "08-dashboard-agent")

        page.get_by_role("link", name="Agents").click()
        row = page.locator("article.agent", has_text="web-1")
        row.get_by_role("button", name="Revoke").click()
        expect(row.get_by_test_id("agent-status")).to_have_text("revoked")
        assert agent.wait(timeout=5) == 3, "the revoked agent exits with status 3"
        assert "revoked" in agent.stderr.read()

        row.get_by_role("button", name="Delete").click()
        row.get_by_role("button", name="Delete for good").click()
        expect(page.locator("#no-agents")).to_be_visible()
    finally:
        if agent.poll() is None:
            agent.kill()
    assert not errors, errors
    page.close()


def test_a_fleet_token_from_the_dialog_lists_its_uses(server_mode, browser):
    page = browser.new_page()
    sign_in(page, server_mode)
    page.goto(server_mode.url + "/agents")
    wait_for_hydration(page)
    page.get_by_role("button", name="Generate enrollment token").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("li[data-build=image]")).to_contain_text("missing")
    dialog.get_by_label("A fleet: DaemonSet, autoscaling group, golden image").check()
    dialog.get_by_label("Hosts (empty: no limit)").fill("5")
    dialog.get_by_role("button", name="Generate").click()
    expect(dialog.get_by_text(re.compile(r"up to 5 hosts"))).to_be_visible()
    dialog.get_by_role("tab", name="Kubernetes").click()
    expect(dialog.get_by_test_id("snippet")).to_contain_text("A fleet token: up to 5 nodes enroll with it")
    shot(page, "10-fleet-dialog")
    dialog.get_by_role("button", name="Close").click()
    row = page.locator("#enrollment-tokens tr", has_text="of 5")
    expect(row.get_by_test_id("token-uses")).to_have_text("0 of 5")
    shot(page, "11-enrollment-tokens")
    row.get_by_role("button", name="Delete").click()
    expect(page.locator("#enrollment-tokens tr", has_text="of 5")).to_have_count(0)
