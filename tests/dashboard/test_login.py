"""Login, session cookie and logout over HTTP: who gets the dashboard and its JSON, and who does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from suanli.controlplane.dashboard.sessions import COOKIE_NAME
from suanli.controlplane.store.keys import create_api_key
from suanli.schema import utc_now


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """HTTP behaviour, not storage: SQLite is enough (the store tests cover both databases)."""
    return f"sqlite:///{tmp_path / 'suanli.db'}"


async def _secret(helper: Any, role: str) -> str:
    return (await helper.key(role))["Authorization"].removeprefix("Bearer ")


async def _login(client: TestClient, secret: str, origin: str | None = None) -> Any:
    headers = {"Origin": origin} if origin else {}
    return await client.post("/login", data={"key": secret}, headers=headers, allow_redirects=False)


async def test_the_dashboard_sends_strangers_to_the_login_form(client) -> None:
    response = await client.get("/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/login"
    form = await client.get("/login")
    assert form.status == 200 and 'name="key"' in await form.text()
    assert "script-src 'self'" in form.headers["Content-Security-Policy"]
    assert (await client.get("/v1/capacity")).status == 401


async def test_an_operator_key_logs_in_with_a_strict_http_only_cookie(client, helper) -> None:
    response = await _login(client, await _secret(helper, "operator"))
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and int(cookie["max-age"]) > 0
    assert cookie.value.count(".") == 4 and "slk_" not in cookie.value
    page = await client.get("/", cookies={COOKIE_NAME: cookie.value})
    assert page.status == 200 and 'id="totals-list"' in await page.text()
    for path in ("/v1/capacity?by=datacenter", "/v1/nodes", "/v1/certification", "/dashboard/utilisation", "/metrics"):
        assert (await client.get(path, cookies={COOKIE_NAME: cookie.value})).status == 200, path


async def test_wrong_keys_and_other_roles_get_no_session(client, helper) -> None:
    for secret, status, message in (("slk_nonsense", 401, "Unknown or revoked key"), ("", 401, "Unknown"),
                                    (await _secret(helper, "national"), 403, "national key cannot")):
        response = await _login(client, secret)
        assert response.status == status and message in await response.text()
        assert COOKIE_NAME not in response.cookies
    assert (await _login(client, await _secret(helper, "admin"))).status == 303


async def test_a_login_posted_from_another_site_is_refused(client, helper) -> None:
    secret = await _secret(helper, "operator")
    response = await _login(client, secret, origin="https://evil.example")
    assert response.status == 403 and COOKIE_NAME not in response.cookies
    assert (await _login(client, secret, origin=str(client.make_url("")).rstrip("/"))).status == 303


async def test_forged_or_logged_out_cookies_open_nothing(client, helper) -> None:
    cookie = (await _login(client, await _secret(helper, "operator"))).cookies[COOKIE_NAME].value
    version, key_id, expires, nonce, signature = cookie.split(".")
    forged = ".".join([version, str(int(key_id) + 1), expires, nonce, signature])
    assert (await client.get("/v1/nodes", cookies={COOKIE_NAME: forged})).status == 401
    logout = await client.post("/logout", cookies={COOKIE_NAME: cookie}, allow_redirects=False)
    assert logout.status == 303 and logout.headers["Location"] == "/login"
    assert logout.cookies[COOKIE_NAME].value == ""
    assert (await client.get("/v1/nodes", cookies={COOKIE_NAME: cookie})).status == 401


async def test_revoking_the_key_ends_its_sessions(client, helper) -> None:
    from sqlalchemy import update

    from suanli.controlplane.store.tables import api_keys

    secret = await create_api_key(helper.engine, "operator", utc_now(), name="alice")
    cookie = (await _login(client, secret)).cookies[COOKIE_NAME].value
    assert (await client.get("/v1/nodes", cookies={COOKIE_NAME: cookie})).status == 200
    async with helper.engine.begin() as connection:
        await connection.execute(update(api_keys).values(revoked_at=utc_now()))
    assert (await client.get("/v1/nodes", cookies={COOKIE_NAME: cookie})).status == 401


async def test_a_bearer_header_is_judged_alone_even_beside_a_cookie(client, helper) -> None:
    cookie = (await _login(client, await _secret(helper, "operator"))).cookies[COOKIE_NAME].value
    response = await client.get("/v1/nodes", cookies={COOKIE_NAME: cookie}, headers={"Authorization": "Bearer slk_bad"})
    assert response.status == 401


async def test_static_files_are_served_by_the_control_plane(client) -> None:
    for name in ("dashboard.js", "format.js", "charts.js", "dashboard.css"):
        response = await client.get(f"/dashboard/static/{name}")
        assert response.status == 200 and len(await response.read()) > 500, name
    assert (await client.get("/dashboard/static/../pages.py")).status == 404
