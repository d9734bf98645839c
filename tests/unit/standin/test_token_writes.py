"""POST, PUT and DELETE on tokens: fields, policies, extra_data and 8.1's bugs (§1)."""

from __future__ import annotations

import pytest
from standinkit import ask, basic, payload
from yarl import URL

from rbtokens import Request
from tools.standin import Dataset, ReviewBoard

LIST = "/api/users/audit_00000/api-tokens/"


@pytest.fixture
def core() -> ReviewBoard:
    return ReviewBoard(Dataset.generate(2, seed=4, tokens_per_user=(0, 0), inactive_fraction=0))


def create(core: ReviewBoard, **form: str) -> dict[str, object]:
    resp = ask(core, LIST, method="POST", form={"note": "n", "policy": "{}", **form})
    assert resp.status == 201, resp.body
    token: dict[str, object] = payload(resp)["api_token"]
    return token


def put(core: ReviewBoard, token_id: object, **form: str) -> tuple[int, dict[str, object]]:
    resp = ask(core, f"{LIST}{token_id}/", method="PUT", form=form)
    return resp.status, payload(resp)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("[1]", "The policy must be a JSON object."),
        ("{", "The policy is not valid JSON: "),
        ('{"x": 1}', 'The policy is missing a "resources" section.'),
        ('{"resources": {}}', 'The policy\'s "resources" section must not be empty.'),
        ('{"resources": {"nope": {"*": {"allow": ["GET"]}}}}', '"nope" is not a valid'),
        ('{"resources": {"*": {}}}', 'The "resources.*" section must have "allow" and/or'),
        ('{"resources": {"user": {"*": {"allow": "GET"}}}}', 'The "resources.user.*" section\'s'),
    ],
)
def test_policies_are_checked_with_djblets_messages(
    core: ReviewBoard, policy: str, message: str
) -> None:
    token = create(core)
    status, body = put(core, token["id"], policy=policy)
    assert status == 400 and body["err"]["code"] == 105  # type: ignore[index]
    assert body["fields"]["policy"].startswith(message)  # type: ignore[index]
    crashed = ask(core, LIST, method="POST", form={"note": "n", "policy": policy})
    assert crashed.status == 500 and crashed.headers["content-type"].startswith("text/html")


def test_create_needs_note_and_policy_present_not_non_empty(core: ReviewBoard) -> None:
    missing = ask(core, LIST, method="POST", form={"note": ""})
    assert payload(missing)["fields"] == {"policy": ["This field is required"]}
    token = create(core, note="")
    assert token["note"] == "" and token["policy"] == {}


def test_expires_is_echoed_in_the_clients_offset_then_utc(core: ReviewBoard) -> None:
    token = create(core, expires="2030-01-02T03:04:05+02:00")
    assert token["expires"] == "2030-01-02T03:04:05+02:00"
    again = payload(ask(core, f"{LIST}{token['id']}/"))["api_token"]
    assert again["expires"] == "2030-01-02T01:04:05+00:00"
    status, body = put(core, token["id"], expires="soon")
    assert status == 400 and body["fields"] == {"expires": ["Enter a valid date/time."]}


def test_extra_data_forms(core: ReviewBoard) -> None:
    token = create(core, **{"extra_data.flag": "true", "extra_data.n": "7", "extra_data.s": "x"})
    assert token["extra_data"] == {"flag": True, "n": 7, "s": "x"}
    _status, body = put(
        core,
        token["id"],
        **{
            "extra_data:json": '{"n": null, "deep": {"a": [1]}, "__secret": 1}',
            "extra_data:json-patch": '[{"op": "add", "path": "/deep/b", "value": 2}]',
            "extra_data.s": "",
            "extra_data.__hidden": "x",
        },
    )
    assert body["api_token"]["extra_data"] == {"flag": True, "deep": {"a": [1], "b": 2}}  # type: ignore[index]


def test_a_failed_json_patch_changes_nothing(core: ReviewBoard) -> None:
    token = create(core, **{"extra_data.v": "1"})
    test = '[{"op": "test", "path": "/v", "value": 2}]'
    status, body = put(core, token["id"], note="changed", **{"extra_data:json-patch": test})
    assert status == 400
    assert body["fields"]["extra_data"][0].startswith("Failed to patch JSON data: Test failed")  # type: ignore[index]
    stored = core.dataset.tokens[int(token["id"])]  # type: ignore[call-overload]
    assert (stored.note, stored.extra_data) == ("n", {"v": 1})


def test_the_invalidate_bug_and_its_fix(core: ReviewBoard) -> None:
    token = create(core)
    status, body = put(core, token["id"], valid="false", invalid_reason="leaked")
    assert status == 200 and body["api_token"]["valid"] is True  # type: ignore[index]
    assert core.dataset.tokens[int(token["id"])].valid  # type: ignore[call-overload]
    status, body = put(core, token["id"], valid="true")
    assert status == 400 and "cannot set valid to true" in body["fields"]["valid"]  # type: ignore[index]
    # No save() after a failed extra_data write: the queryset update stays.
    bad = '[{"op": "remove", "path": "/none"}]'
    status, _ = put(core, token["id"], valid="0", **{"extra_data:json-patch": bad})
    assert status == 400 and not core.dataset.tokens[int(token["id"])].valid  # type: ignore[call-overload]
    core.behaviour.fix_invalidate_bug = True
    fixed = create(core)
    _status, body = put(core, fixed["id"], valid="0", invalid_reason="leaked")
    assert body["api_token"]["valid"] is False  # type: ignore[index]
    assert body["api_token"]["invalid_reason"] == "leaked"  # type: ignore[index]


def test_setting_expires_resets_the_notification_flag(core: ReviewBoard) -> None:
    token = create(core)
    _status, body = put(core, token["id"], expires="")
    assert body["api_token"]["extra_data"] == {"expired_notification_sent": False}  # type: ignore[index]


def test_method_override_and_multipart(core: ReviewBoard) -> None:
    token = create(core)
    boundary = "b0undary"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in {"note": "multi", "policy": "{}"}.items()
    )
    body = (parts + f"--{boundary}--\r\n").encode()
    headers = {
        "Authorization": basic("admin", "admin"),
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    made = core.handle(Request("POST", URL(f"http://rb.test{LIST}"), headers, body))
    assert made.status == 201 and payload(made)["api_token"]["note"] == "multi"
    gone = ask(core, f"{LIST}{token['id']}/", method="POST", form={"_method": "DELETE"})
    assert gone.status == 204 and int(token["id"]) not in core.dataset.tokens  # type: ignore[call-overload]


def test_delete_quirk_sends_a_body_with_the_204(core: ReviewBoard) -> None:
    core.behaviour.delete_quirk = True
    token = create(core)
    resp = ask(core, f"{LIST}{token['id']}/", method="DELETE")
    assert (resp.status, resp.body) == (204, b'{"stat": "ok"}')
