"""Starts the real vantage binary and a headless Chromium for the browser tests."""
import os
import shutil
import subprocess
import tempfile
import threading

import pytest
from playwright.sync_api import sync_playwright


def chromium_path():
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    if os.environ.get("VANTAGE_REQUIRE_ALL") == "1":
        pytest.fail("Chromium is not installed but VANTAGE_REQUIRE_ALL=1")
    pytest.skip("SKIPPED: Chromium is not installed (apt-get install chromium)")


class Server:
    def __init__(self, *extra):
        self.data_dir = tempfile.mkdtemp(prefix="vantage-e2e-")
        binary = os.environ.get("VANTAGE_BIN", "target/debug/vantage")
        env = dict(os.environ, VANTAGE_LOG="warn")
        env.pop("VANTAGE_DATABASE_URL", None)
        self.process = subprocess.Popen(
            [binary, "--http-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--host-interval", "1s",
             "--data-dir", self.data_dir,
             "--agent-downloads", os.path.join(self.data_dir, "downloads"), *extra],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.grpc_url = None
        for line in self.process.stdout:
            if line.startswith("vantage grpc listening on "):
                self.grpc_url = line.split(" on ", 1)[1].strip()
            if line.startswith("vantage listening on "):
                self.url = line.split(" on ", 1)[1].strip()
                break
        else:
            raise RuntimeError(f"vantage exited before listening: {self.process.wait()}")
        # Keep reading so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=15)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def server_mode():
    s = Server("--mode", "server")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        # Every page reports the WASM's panics (a hydration mismatch leaves a page that looks
        # right but does nothing: links then reload the page and tests might not notice).
        new_page = b.new_page

        def watched_page(*args, **kwargs):
            page = new_page(*args, **kwargs)
            page.on("console", lambda m: PANICS.append(m.text) if m.type == "error" and (
                "panicked" in m.text or "hydration error" in m.text.lower()) else None)
            return page

        b.new_page = watched_page
        yield b
        b.close()


PANICS = []


@pytest.fixture(autouse=True)
def no_panics_in_the_browser():
    PANICS.clear()
    yield
    assert not PANICS, "the WASM panicked in the browser:\n" + "\n".join(m[:400] for m in PANICS)
