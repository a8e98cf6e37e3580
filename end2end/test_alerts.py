"""Alerting in the browser: a webhook channel with "Send test", a rule written in the editor
with its preview from history, the live firing count, an alert's culprits and timeline,
acknowledge, silence in one click, and the silences page."""
import http.server
import json
import re
import threading

import pytest
from playwright.sync_api import expect

from conftest import Server
from test_agents import sign_in
from test_dashboard import shot, wait_for_hydration


class Sink:
    """A real HTTP receiver on loopback that keeps every POST body."""

    def __init__(self):
        self.bodies = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                sink.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def alerting_server():
    s = Server("--notify-allow-loopback")
    yield s
    s.stop()


def both_widths(page, name):
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        shot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_channel_rule_preview_alert_ack_and_silence(alerting_server, browser):
    server = alerting_server
    sink = Sink()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, server)

    # A webhook channel, and a test message that reaches the receiver.
    page.get_by_role("link", name="Alerts").click()
    expect(page).to_have_url(re.compile(r"/alerts$"))
    expect(page.locator("#no-firing")).to_be_visible()
    page.get_by_role("link", name="Channels").click()
    expect(page).to_have_url(re.compile(r"/alerts/channels$"))
    wait_for_hydration(page)
    expect(page.locator("#no-channels")).to_be_visible()
    editor = page.locator("#channel-editor")
    editor.get_by_label("Name").fill("e2e hook")
    editor.get_by_label("URL").fill(sink.url)
    editor.get_by_label("Signing secret").fill("a-long-shared-secret-for-e2e")
    editor.get_by_label("Group wait").fill("0")
    editor.get_by_role("button", name="Add channel").click()
    row = page.locator("tr", has_text="e2e hook")
    expect(row).to_be_visible()
    # The secret comes back masked.
    expect(row.locator("code")).not_to_contain_text("127.0.0.1:")
    row.get_by_role("button", name="Send test").click()
    expect(row.get_by_test_id("test-result")).to_contain_text("delivered in")
    assert [b["alerts"][0]["event"] for b in sink.bodies] == ["test"], sink.bodies
    both_widths(page, "10-channels")

    # A rule that the local host breaches at once (memory above 1 %), previewed first.
    page.get_by_role("link", name="Rules").click()
    expect(page).to_have_url(re.compile(r"/alerts/rules$"))
    wait_for_hydration(page)
    editor = page.locator("#rule-editor")
    editor.get_by_label("Name").fill("memory used")
    editor.locator("select[name=metric]").select_option("memory")
    editor.get_by_label("Fire above").fill("1")
    editor.get_by_label("For (evaluations").fill("1")
    editor.get_by_label("Agent id").fill("local")
    editor.get_by_label("e2e hook").check()
    editor.get_by_role("button", name="Preview").click()
    expect(editor.get_by_test_id("preview")).to_contain_text(re.compile(r"Would have fired (once|\d+ times) in the last 24 h"))
    # A rule the form cannot make sense of is refused with a sentence, nothing saved.
    editor.get_by_label("Fire above").fill("lots")
    editor.get_by_role("button", name="Create rule").click()
    expect(editor.get_by_role("alert")).to_contain_text("The threshold is a number.")
    editor.get_by_label("Fire above").fill("1")
    both_widths(page, "11-rule-editor")
    editor.get_by_role("button", name="Create rule").click()
    expect(page.locator("tr", has_text="memory used")).to_be_visible()
    # The navigation's firing count arrives live.
    expect(page.get_by_test_id("firing-count")).to_have_text("1", timeout=20_000)
    expect(page.locator("tr", has_text="memory used").get_by_test_id("rule-now")).to_contain_text("1 firing", timeout=20_000)

    # The alert names its culprits (the real top processes) and says why in its timeline.
    page.get_by_role("link", name="Alerts", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/alerts$"))
    wait_for_hydration(page)
    card = page.locator("#firing article.alert").first
    expect(card.locator(".alert-summary")).to_contain_text("memory")
    expect(card.get_by_test_id("severity")).to_have_text("warning")
    expect(card.get_by_test_id("culprits")).to_contain_text("process ")
    card.get_by_role("button", name="Timeline").click()
    timeline = card.get_by_test_id("timeline")
    expect(timeline.locator("li[data-kind=firing]")).to_be_visible()
    expect(timeline.locator("li[data-kind=notified]")).to_contain_text("e2e hook")
    assert any(b["alerts"][0]["event"] == "firing" for b in sink.bodies), sink.bodies
    card.get_by_label("Comment").fill("looking into it")
    card.get_by_role("button", name="Acknowledge").click()
    card = page.locator("#firing article.alert").first
    expect(card.get_by_test_id("acked")).to_contain_text("acknowledged by admin")
    card.get_by_role("button", name="Silence 1 h").click()
    expect(page.get_by_role("status")).to_contain_text("Silenced until")
    both_widths(page, "12-alerts")

    # The silence is listed, active, and can be ended.
    page.locator(".subnav").get_by_role("link", name="Silences").click()
    expect(page).to_have_url(re.compile(r"/alerts/silences$"))
    wait_for_hydration(page)
    silence = page.locator("tr", has_text="silenced from alert")
    expect(silence).to_contain_text("active")
    expect(silence).to_contain_text("admin")
    both_widths(page, "13-silences")
    silence.get_by_role("button", name="End").click()
    expect(page.locator("#no-silences")).to_be_visible()
    assert errors == [], errors
