"""The REST API against its own OpenAPI document: schemathesis (from PyPI) generates requests
for every operation from /api/v1/openapi.json and sends them to a live server in server mode
with an API token. No answer may be a 5xx, and every answer must match the document: its
status, content type and body schema."""
import json
import os
import subprocess
import urllib.request
import sys
import tempfile
from pathlib import Path

from conftest import Server

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("VANTAGE_BIN", "target/debug/vantage")


def test_every_operation_answers_as_documented():
    server = Server("--mode", "server")
    try:
        req = urllib.request.Request(server.url + "/api/v1/setup", method="POST",
                                     data=json.dumps({"username": "admin", "password": "correct horse battery"}).encode(),
                                     headers={"content-type": "application/json"})
        assert urllib.request.urlopen(req).status == 201
        token = subprocess.run([BIN, "admin", "create-token", "--data-dir", server.data_dir,
                                "--username", "admin", "--name", "schemathesis"],
                               check=True, capture_output=True, text=True).stdout.strip()
        schemathesis = Path(sys.executable).parent / "schemathesis"
        run = subprocess.run(
            [str(schemathesis), "run", server.url + "/api/v1/openapi.json",
             "-H", f"Authorization: Bearer {token}",
             "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
             # The live stream never ends; deleting API tokens would revoke this run's own.
             "--exclude-path", "/api/v1/events", "--exclude-path", "/api/v1/api-tokens/{id}",
             "--max-examples", "30", "--seed", "1"],
            capture_output=True, text=True, timeout=600,
            # schemathesis keeps a cache in its working directory: not in the checkout.
            cwd=tempfile.mkdtemp(prefix="vantage-schemathesis-"),
        )
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert "passed" in run.stdout
    finally:
        server.stop()
