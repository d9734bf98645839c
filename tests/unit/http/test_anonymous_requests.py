"""``RBClient.request(anonymous=True)``: no credentials sent, no cookie kept.

The secrets-exposed check of the audit relies on it.
"""

from __future__ import annotations

from rbtokens import RBClient
from rbtokens.transport import MockTransport, Request, Response, json_response


async def test_an_anonymous_request_carries_no_credentials_and_keeps_no_cookie() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        cookie = "from-login" if "Authorization" in request.headers else "from-anonymous"
        response = json_response(200, b"{}")
        response.cookies["rbsessionid"] = cookie
        return response

    headers = {
        "Authorization": "Bearer hand-made",
        "cookie": "rbsessionid=hand-made",
        "Proxy-Authorization": "Basic cHJveHk6cHc=",
        "X-Trace": "1",
    }
    transport = MockTransport(handler)
    async with RBClient(
        "https://rb.test/", username="u", password="pw", headers=headers, transport=transport
    ) as client:
        await client.request_json("GET", "https://rb.test/api/")  # logs in
        held = client.has_session_cookie
        await client.request_json("GET", "https://rb.test/api/users/", anonymous=True)
        assert client.has_session_cookie is held
        await client.request_json("GET", "https://rb.test/api/users/")
    login, anon, after = seen
    assert "Authorization" in login.headers
    assert {k.lower() for k in anon.headers} >= {"proxy-authorization", "x-trace"}
    assert not {"authorization", "cookie"} & {k.lower() for k in anon.headers}
    # The cookie the anonymous answer set was not kept: the next request still
    # authenticates as the login did.
    assert after.headers["Cookie"] == "rbsessionid=from-login"


async def test_an_anonymous_request_in_header_auth_mode_sends_no_header() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:  # no session cookie: header auth
        seen.append(request)
        return json_response(200, b"{}")

    transport = MockTransport(handler)
    async with RBClient("https://rb.test/", api_token="rbp_x", transport=transport) as client:
        await client.request_json("GET", "https://rb.test/api/")
        await client.request_json("GET", "https://rb.test/api/")
        await client.request_json("GET", "https://rb.test/api/users/", anonymous=True)
    assert "Authorization" in seen[1].headers  # header auth on every request
    assert "Authorization" not in seen[2].headers
