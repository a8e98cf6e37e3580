"""Applications in the browser against a real agent: track a process from the host's
discovered list, see its mismatch once it is killed, restart it with a one-time code and a
reason, and find the restart in the audit log."""
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time

from playwright.sync_api import expect

from conftest import Server
from test_dashboard import ADMIN, PASSWORD, shot, wait_for_hydration
from test_users import sign_in, totp

AGENT = os.environ.get("VANTAGE_AGENT_BIN", "target/debug/vantage-agent")


def api(page, server, method, path, body=None, csrf=None, headers=None):
    h = dict(headers or {})
    if csrf:
        h["x-csrf-token"] = csrf
    response = page.request.fetch(server.url + path, method=method, data=json.dumps(body) if body is not None else None,
                                  headers={"content-type": "application/json", **h})
    return response.status, (response.json() if response.body() else None)


def pids_of(exe):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/exe") == exe:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def test_track_see_the_mismatch_restart_and_audit(browser):
    server = Server("--mode", "server", "--app-check-interval", "1s")
    work = tempfile.mkdtemp(prefix="vantage-e2e-app-")
    exe = os.path.join(work, "worker")
    shutil.copy("/bin/sleep", exe)
    script = os.path.join(work, "restart-worker")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\n{exe} 3600 </dev/null >/dev/null 2>&1 &\necho started\n")
    os.chmod(script, stat.S_IRWXU)
    worker = subprocess.Popen([exe, "3600"])
    agent = None
    page = browser.new_page()
    try:
        page.goto(server.url + "/setup")
        page.get_by_label("Username").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create admin").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        sign_in(page, server, ADMIN, PASSWORD)
        expect(page).not_to_have_url(re.compile(r"/login$"))
        wait_for_hydration(page)
        _, me = api(page, server, "GET", "/api/v1/auth/me")
        csrf = me["csrf_token"]
        _, enrollment = api(page, server, "POST", "/api/v1/users/me/totp", {}, csrf)
        secret = enrollment["secret"]
        status, _ = api(page, server, "POST", "/api/v1/users/me/totp/confirm",
                        {"code": totp(secret, int(time.time()) // 30 - 1)}, csrf)
        assert status == 200
        status, token = api(page, server, "POST", "/api/v1/agents/enrollment-tokens", {"ttl_hours": 1}, csrf)
        assert status == 201, token
        state = tempfile.mkdtemp(prefix="vantage-e2e-agent-")
        agent = subprocess.Popen(
            [AGENT, "--server", token["grpc_url"], "--enrollment-token", token["token"], "--server-pin", token["pin"],
             "--label", "app-host", "--state-dir", state, "--inventory-check-interval", "1s",
             "--allow-actions", "process", "--allow-command", script],
            env=dict(os.environ, VANTAGE_LOG="warn"),
        )

        # Track the worker from what the host discovered.
        page.get_by_role("link", name="Apps").click()
        expect(page).to_have_url(re.compile(r"/apps$"))
        wait_for_hydration(page)
        expect(page.locator("#no-apps")).to_be_visible()
        page.get_by_test_id("track-app").click()
        dialog = page.get_by_role("dialog", name="Track an app")
        host = dialog.get_by_label("Host")
        expect(host.locator("option", has_text="app-host")).to_have_count(1, timeout=20_000)
        host.select_option(label="app-host")
        item = dialog.get_by_test_id("discovered").get_by_role("button", name=f"process · {exe}")
        for _ in range(20):
            if item.count():
                break
            host.select_option(index=0)
            host.select_option(label="app-host")
            time.sleep(1)
        dialog.get_by_label("Filter discovered").fill("worker")
        item.click()
        expect(dialog.get_by_label("Identifier")).to_have_value(exe)
        expect(dialog.get_by_label("Name", exact=True)).to_have_value("worker")
        dialog.get_by_label(re.compile("^Restart command")).fill(script)
        shot(page, "40-track-app")
        dialog.get_by_role("button", name="Track").click()
        row = page.locator("tr[data-app=worker]")
        expect(row).to_be_visible()
        expect(row.get_by_test_id("observed")).to_have_text("running", timeout=20_000)
        shot(page, "41-apps")

        # Killed: the row turns red (the page follows app_state events).
        worker.kill()
        worker.wait()
        expect(page.locator("tr.mismatch[data-app=worker]")).to_be_visible(timeout=30_000)
        expect(row.get_by_test_id("observed")).to_have_text("stopped")
        shot(page, "42-apps-mismatch")
        page.set_viewport_size({"width": 375, "height": 800})
        shot(page, "42-apps-mismatch-phone")
        width = page.evaluate("document.documentElement.scrollWidth")
        page.set_viewport_size({"width": 1280, "height": 800})

        # Restart from the app's page: a code and a reason, then the result.
        row.get_by_role("link", name="worker").click()
        expect(page).to_have_url(re.compile(r"/apps/\d+$"))
        wait_for_hydration(page)
        page.get_by_test_id("restart").click()
        page.get_by_label("One-time code").fill(totp(secret, int(time.time()) // 30))
        page.get_by_label("Reason").fill("worker died in the browser test")
        page.get_by_role("button", name="Restart now").click()
        expect(page.get_by_test_id("actions").locator("li[data-state=succeeded]")).to_have_count(1, timeout=30_000)
        expect(page.get_by_test_id("app-detail").get_by_test_id("observed")).to_have_text("running", timeout=20_000)
        shot(page, "43-app-restarted")
        page.set_viewport_size({"width": 375, "height": 800})
        shot(page, "43-app-restarted-phone")
        page.set_viewport_size({"width": 1280, "height": 800})

        # The audit log shows the intent and the result.
        page.get_by_role("link", name="Audit").click()
        expect(page).to_have_url(re.compile(r"/audit$"))
        wait_for_hydration(page)
        expect(page.get_by_test_id("checkpoint")).to_contain_text("entries")
        expect(page.locator("tr[data-action='eat.issue']")).to_have_count(1)
        expect(page.locator("tr[data-action='eat.result']")).to_have_count(1)
        shot(page, "44-audit")
        page.set_viewport_size({"width": 375, "height": 800})
        shot(page, "44-audit-phone")
        page.set_viewport_size({"width": 1280, "height": 800})
        assert width <= 375, f"the apps page scrolls sideways at 375 px: {width}px wide"
    finally:
        page.close()
        for pid in pids_of(exe):
            os.kill(pid, 9)
        if agent and agent.poll() is None:
            agent.kill()
        if worker.poll() is None:
            worker.kill()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
