"""The containers and certificates pages with a real agent, the real Docker engine (an image
built here from Debian's static busybox) and real certificates."""
import os
import re
import shutil
import subprocess
import tempfile
import uuid

import pytest
from playwright.sync_api import expect

from test_agents import AGENT, sign_in
from test_dashboard import wait_for_hydration
from test_fleet import both_widths, fleet_token

IMAGE = "vantage-test-busybox:1"


def docker_or_skip():
    """Builds the test image, or skips (fails under VANTAGE_REQUIRE_ALL=1) saying why."""
    reason = None
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        reason = "no Docker engine answers `docker info`"
    elif not os.path.exists("/bin/busybox"):
        reason = "/bin/busybox is missing (apt-get install busybox-static)"
    else:
        context = tempfile.mkdtemp()
        shutil.copy("/bin/busybox", os.path.join(context, "busybox"))
        with open(os.path.join(context, "Dockerfile"), "w") as f:
            f.write('FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n')
        built = subprocess.run(["docker", "build", "-q", "-t", IMAGE, context], capture_output=True, text=True)
        if built.returncode != 0:
            reason = f"cannot build the test image: {built.stderr.strip()}"
    if reason:
        if os.environ.get("VANTAGE_REQUIRE_ALL") == "1":
            pytest.fail(f"Docker is required (VANTAGE_REQUIRE_ALL=1): {reason}")
        pytest.skip(f"SKIPPED: {reason}")


def short_lived_certificate(days):
    directory = tempfile.mkdtemp(prefix="vantage-e2e-cert-")
    cert = os.path.join(directory, "soon.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", os.path.join(directory, "key.pem"), "-out", cert, "-days", str(days),
         "-subj", "/CN=soon.example"],
        check=True, capture_output=True,
    )
    return cert


def test_containers_change_state_live_and_certificates_show_what_is_wrong(server_mode, browser):
    docker_or_skip()
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, server_mode)
    token, pin = fleet_token(page, server_mode)
    grpc = server_mode.grpc_url.removeprefix("grpcs://")
    cert = short_lived_certificate(10)
    name = f"vantage-e2e-{uuid.uuid4().hex[:8]}"
    agent = subprocess.Popen(
        [AGENT, "--server", server_mode.grpc_url, "--enrollment-token", token, "--server-pin", pin,
         "--host-interval", "1s", "--label", "box-1", "--cert-target", cert, "--cert-target", grpc,
         "--state-dir", tempfile.mkdtemp(prefix="vantage-e2e-containers-")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, VANTAGE_LOG="warn"),
    )
    try:
        subprocess.run(
            ["docker", "run", "-d", "--name", name, "--label", "com.docker.compose.project=demo",
             "--label", "com.docker.compose.service=spin", IMAGE, "sleep", "600"],
            check=True, capture_output=True,
        )
        page.goto(server_mode.url + "/containers")
        wait_for_hydration(page)
        row = page.locator(f"tr.container-row[data-container='{name}']")
        expect(row.get_by_test_id("container-state")).to_have_text("running", timeout=30_000)
        expect(row.get_by_test_id("compose")).to_have_text("demo / spin")
        # One host runs containers: no host badge.
        expect(page.get_by_test_id("host-badge")).to_have_count(0)
        page.get_by_label("State").select_option("not_running")
        expect(row).to_have_count(0)
        expect(page).to_have_url(re.compile(r"/containers\?state=not_running$"))
        page.get_by_label("State").select_option("")
        page.get_by_label("Filter").fill(name)
        expect(page.locator("tr.container-row")).to_have_count(1)
        both_widths(page, "15-containers")

        # The host page shows the container with its own CPU and memory charts.
        page.goto(server_mode.url + "/")
        page.locator("tr.fleet-row", has_text="box-1").locator(".col-uptime").click()
        expect(page).to_have_url(re.compile(r"/hosts/[0-9a-f-]{36}$"))
        card = page.locator(f"article.container[data-container='{name}']")
        expect(card.locator("figure[data-chart=container_cpu] polyline")).to_have_count(1, timeout=40_000)
        expect(card.locator("figure[data-chart=container_memory] [data-testid=chart-value]")).to_have_text(re.compile(r"B$"))
        # Its timeline: the agent's connect, the container's start, the certificates watched.
        timeline = page.get_by_test_id("timeline")
        expect(timeline.locator("li[data-kind=connected]").first).to_be_visible()
        expect(timeline.locator("li[data-kind=container]", has_text=name).first).to_contain_text("start")
        expect(timeline.locator("li[data-kind=certificate]", has_text="soon.pem")).to_contain_text("watched: expires")
        seen = page.get_by_test_id("last-seen")
        expect(seen).to_have_text(re.compile(r"^last seen (just now|\d+ s ago)$"))
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", seen.get_attribute("title"))
        both_widths(page, "15-host-containers")
        page.goto(server_mode.url + f"/containers?q={name}")
        wait_for_hydration(page)

        # Stopped: the page changes without a reload.
        subprocess.run(["docker", "stop", "-t", "0", name], check=True, capture_output=True)
        expect(row.get_by_test_id("container-state")).to_have_text("exited", timeout=30_000)
        page.get_by_label("State").select_option("running")
        expect(row).to_have_count(0)

        # Certificates: the short-lived one is red, the server's self-signed one says why.
        page.get_by_role("link", name="Certificates").click()
        expect(page).to_have_url(re.compile(r"/certificates$"))
        soon = page.locator("tr.certificate-row", has_text="soon.pem")
        expect(soon.get_by_test_id("days-left")).to_have_text(re.compile(r"^(9|10) days$"), timeout=30_000)
        expect(soon.get_by_test_id("days-left")).to_have_class(re.compile(r"\bcrit\b"))
        expect(soon).to_contain_text("soon.example")
        served = page.locator(f"tr.certificate-row[data-target='{grpc}']")
        expect(served.get_by_test_id("cert-validity")).to_have_text("invalid", timeout=30_000)
        expect(served.locator(".reason")).to_contain_text("UnknownIssuer")
        expect(served).to_contain_text("127.0.0.1, ::1, localhost")
        # Soonest expiry first.
        expect(page.locator("tr.certificate-row").first).to_contain_text("soon.pem")
        both_widths(page, "16-certificates")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        if agent.poll() is None:
            agent.kill()
    assert not errors, errors
    page.close()
