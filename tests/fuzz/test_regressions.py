"""Defects the fuzzer found, pinned over HTTP against the served app (tests/fuzz/conftest.py)."""
from __future__ import annotations

import pytest
import requests

TOO_LONG = "é" * 40  # 40 characters (under the 72-character limit), 80 UTF-8 bytes (over bcrypt's 72)


def _post(stack, path, role=None, **kwargs):
    return requests.post(f"{stack.url}{path}", headers=stack.headers(role), timeout=30, **kwargs)


@pytest.mark.parametrize("path, role, body", [
    ("/api/auth/register", None, {"email": "long-pass@example.com", "password": TOO_LONG, "name": "Long Pass"}),
    ("/api/admin/users", "admin", {"email": "long-pass2@example.com", "password": TOO_LONG, "name": "Long Pass"}),
])
def test_a_password_over_72_bytes_is_a_400_not_a_bcrypt_500(fuzz_stack, path, role, body):
    response = _post(fuzz_stack, path, role, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "Password must not exceed 72 characters"


def test_a_new_password_over_72_bytes_is_refused_and_changes_nothing(fuzz_stack):
    response = requests.put(f"{fuzz_stack.url}/api/user/password", headers=fuzz_stack.headers("customer"),
                            json={"currentPassword": "password123", "newPassword": TOO_LONG}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "New password must not exceed 72 characters"
    fuzz_stack.forget("customer")
    fuzz_stack.token("customer")  # the known password still logs in


@pytest.mark.parametrize("raw", [b"null", b"5", b'"text"', b"true"])
def test_a_json_body_that_is_not_an_object_is_refused_even_where_every_field_is_optional(fuzz_stack, raw):
    response = requests.post(f"{fuzz_stack.url}/api/auth/logout", data=raw, timeout=30,
                             headers={**fuzz_stack.headers("customer"), "Content-Type": "application/json"})
    body = response.json()
    assert response.status_code == 400 and body["message"] == '"value" must be of type object', body
    assert body["success"] is False and body["statusCode"] == 400 and body["timestamp"].endswith("Z")
