"""The client of bench/restart.sh: sets up N operators with one-time codes, enrolls the
agent, tracks a process app and restarts it N times, one operator each; prints one JSON line
with the latency percentiles."""
import base64
import hashlib
import hmac
import http.cookiejar
import json
import shlex
import struct
import subprocess
import sys
import time
import urllib.request

url, n, work, agent_cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
PASSWORD = "bench password 1234"


def totp(secret, step):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


class Session:
    def __init__(self):
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = None

    def call(self, method, path, body=None, headers=None):
        h = {"content-type": "application/json", **(headers or {})}
        if self.csrf:
            h["x-csrf-token"] = self.csrf
        req = urllib.request.Request(url + path, method=method, headers=h,
                                     data=json.dumps(body).encode() if body is not None else None)
        try:
            with self.opener.open(req) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def login(self, user):
        status, me = self.call("POST", "/api/v1/auth/login", {"username": user, "password": PASSWORD})
        assert status == 200, me
        self.csrf = me["csrf_token"]

    def enroll_totp(self):
        _, e = self.call("POST", "/api/v1/users/me/totp", {})
        status, _ = self.call("POST", "/api/v1/users/me/totp/confirm", {"code": totp(e["secret"], int(time.time()) // 30 - 1)})
        assert status == 200
        return e["secret"]


admin = Session()
assert admin.call("POST", "/api/v1/setup", {"username": "admin", "password": PASSWORD})[0] == 201
admin.login("admin")
operators = []
for i in range(n):
    status, _ = admin.call("POST", "/api/v1/users", {"username": f"op{i}", "password": PASSWORD, "role": "operator"})
    assert status == 201
    s = Session()
    s.login(f"op{i}")
    operators.append((s, s.enroll_totp()))
status, token = admin.call("POST", "/api/v1/agents/enrollment-tokens", {"ttl_hours": 1})
assert status == 201, token
agent = subprocess.Popen(shlex.split(agent_cmd) + ["--server", token["grpc_url"], "--enrollment-token", token["token"],
                                                   "--server-pin", token["pin"]])
for _ in range(200):
    _, agents = admin.call("GET", "/api/v1/agents")
    if agents and agents[0]["connection_state"] == "connected":
        break
    time.sleep(0.1)
agent_id = agents[0]["id"]
subprocess.run([f"{work}/restart-worker"], check=True)
status, app = admin.call("POST", "/api/v1/apps", {"agent_id": agent_id, "name": "worker", "app_type": "process",
                                                  "identifier": f"{work}/worker", "restart_command": [f"{work}/restart-worker"]})
assert status == 201, app

server_ms, client_ms, failed = [], [], 0
for s, secret in operators:
    started = time.monotonic()
    status, action = s.call("POST", f"/api/v1/apps/{app['id']}/restart", {"reason": "bench"},
                            {"x-totp-code": totp(secret, int(time.time()) // 30)})
    assert status == 202, action
    while True:
        _, actions = s.call("GET", f"/api/v1/actions?app_id={app['id']}&limit=1")
        a = actions[0]
        if a["eat_id"] == action["eat_id"] and a["finished_at"]:
            break
        time.sleep(0.002)
    client_ms.append((time.monotonic() - started) * 1000)
    server_ms.append(a["duration_ms"])
    failed += a["state"] != "succeeded"
agent.terminate()


def pct(values, p):
    v = sorted(values)
    return round(v[min(len(v) - 1, int(len(v) * p / 100))], 1)


print(json.dumps({
    "bench": "restart_click_to_running", "restarts": n, "failed": failed,
    "server_p50_ms": pct(server_ms, 50), "server_p99_ms": pct(server_ms, 99),
    "client_p50_ms": pct(client_ms, 50), "client_p99_ms": pct(client_ms, 99),
    "note": "server: request with its code received -> the agent's result stored; client: request sent -> result readable (2 ms polling)",
}))
