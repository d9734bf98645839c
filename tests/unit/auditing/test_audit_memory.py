"""An audit of 100,000 tokens stays under 150 MB of RSS, report and JSON output included.

It runs in a child process, so the peak RSS is the audit's own, against an
in-memory server that builds each page when asked (500 users x 200 tokens).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

CHILD = r"""
import json, os, resource, sys
from rbtokens.cli import main
from rbtokens.transport import MockTransport, Response

USERS, PER = 500, 200
BASE = "https://rb.test"
MIME = "application/vnd.reviewboard.org.{}+json"
ROOT = json.dumps(json.load(open(sys.argv[1]))["body"]).replace(
    "http://127.0.0.1:8080", BASE).encode()
TOKEN = ('{"id":%d,"note":"token %d of %s, with a note of ordinary length",'
         '"policy":{"resources":{"*":{"allow":["GET"],"block":["*"]}}},'
         '"expires":%s,"expired":false,"valid":true,"invalid_reason":"",'
         '"last_used":"2026-11-22T04:31:59.652473+00:00",'
         '"time_added":"2026-10-13T04:31:59.652473+00:00",'
         '"token_generator_id":"vendor_checksum","deprecated":false}')

def users_page(start, size):
    users = ",".join(
        '{"id":%d,"username":"user%05d","is_active":%s,"links":{"api_tokens":'
        '{"href":"%s/api/users/user%05d/api-tokens/","method":"GET"}}}'
        % (i + 1, i, "true" if i % 10 else "false", BASE, i)
        for i in range(start, min(USERS, start + size)))
    links = {"self": {"href": f"{BASE}/api/users/?start={start}", "method": "GET"}}
    if start + size < USERS:
        links["next"] = {"href": f"{BASE}/api/users/?start={start + size}&max-results={size}",
                         "method": "GET"}
    return ('{"stat":"ok","total_results":%d,"links":%s,"users":[%s]}'
            % (USERS, json.dumps(links), users)).encode()

def tokens_page(user):
    n = int(user[4:])
    items = ",".join(
        TOKEN % (n * PER + k, k, user, "null" if k % 3 == 0 else '"2027-02-21T04:31:59+00:00"')
        for k in range(PER))
    return ('{"stat":"ok","total_results":%d,"links":{},"api_tokens":[%s]}'
            % (PER, items)).encode()

def handler(req):
    path = req.url.path
    if "Cookie" not in req.headers and "Authorization" not in req.headers:
        # The secrets-exposed check's anonymous requests: refused, as with
        # "require login to view anything".
        body = b'{"stat":"fail","err":{"code":103,"msg":"You are not logged in"}}'
        return Response(401, {"content-type": MIME.format("error")}, body)
    if path == "/api/":
        return Response(200, {"content-type": MIME.format("root")}, ROOT, {"rbsessionid": "s"})
    if path == "/api/users/":
        q = req.url.query
        body = users_page(int(q.get("start", 0)), int(q.get("max-results", 25)))
        return Response(200, {"content-type": MIME.format("users")}, body)
    body = tokens_page(path.split("/")[3])
    return Response(200, {"content-type": MIME.format("api-tokens")}, body)

with open(os.devnull, "w") as out:
    code = main(["audit", "--walk", "per-user", "--server", BASE, "--username", "admin",
                 "--password", "pw", "-o", sys.argv[2], "--fail-on", "never"],
                transport=MockTransport(handler), stdout=out)
# VmHWM is this program's own peak. ru_maxrss is not: after fork + exec it also
# counts the parent's pages the child had before exec (a big pytest process).
try:
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(code, hwm // 1024)
"""


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_an_audit_of_100000_tokens_stays_under_150_mb(fmt: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", CHILD, str(FIXTURES / "root.json"), fmt],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, peak_mb = map(int, proc.stdout.split())
    assert code == 0
    assert peak_mb < 150, f"peak RSS {peak_mb} MB"
