"""A user's account in the GUI: the profile changes the password (a wrong current one is refused in
the page) and makes and revokes personal API tokens; a forgotten password is reset with the one-time
token an administrator hands out from the Users page."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import ADMIN, Live
from tests.web.helpers import new_page, sign_in


def _signup(live: Live, email: str, password: str) -> None:
    r = live.http.post(
        "/api/v1/auth/signup", json={"email": email, "username": email[:5], "password": password}
    )
    assert r.status_code == 201, r.text


def _login_status(live: Live, email: str, password: str) -> int:
    return live.http.post("/api/v1/auth/login", json={"email": email, "password": password}).status_code


def test_profile_changes_the_password_and_makes_tokens(live: Live, browser: Any) -> None:
    email, old, new = "profile@example.com", "first-pass-1", "second-pass-2"
    _signup(live, email, old)
    page = new_page(browser, live.url)
    sign_in(page, email, old)
    page.goto("/profile")

    page.fill("#password_old_password", "not-my-password")
    page.fill("#password_new_password", new)
    page.get_by_role("button", name="Change the password").click()
    page.get_by_test_id("error").wait_for()
    assert _login_status(live, email, new) == 401  # nothing changed

    page.fill("#password_old_password", old)
    page.fill("#password_new_password", new)
    page.get_by_role("button", name="Change the password").click()
    page.get_by_text("Password changed").wait_for()
    assert _login_status(live, email, new) == 200 and _login_status(live, email, old) == 401

    page.goto("/labels")  # this session goes on (the page signed in again with the new password)
    page.get_by_text("No label yet").wait_for()
    page.goto("/profile")
    page.get_by_test_id("token-name").fill("ci-runner")
    page.get_by_test_id("create-token").click()
    token = page.get_by_test_id("new-token").inner_text().strip()
    page.locator('tr[data-token="ci-runner"]').wait_for()
    me = live.http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == email
    page.locator('tr[data-token="ci-runner"]').get_by_test_id("revoke-token").click()
    page.locator('tr[data-token="ci-runner"]').wait_for(state="detached")
    assert live.http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert not page.errors, page.errors


def test_a_forgotten_password_is_reset_with_the_admins_token(live: Live, browser: Any) -> None:
    email, new = "forgetful@example.com", "brand-new-pass-3"
    _signup(live, email, "long-forgotten-1")
    admin = new_page(browser, live.url)
    sign_in(admin, *ADMIN)
    admin.goto("/admin/users")
    admin.locator(f'tr[data-user="{email}"]').get_by_role("button", name="Password reset").click()
    token = admin.get_by_test_id("reset-token").inner_text().strip()
    assert token

    page = new_page(browser, live.url)
    page.goto("/signin")
    page.get_by_text("Forgot your password?").click()
    page.wait_for_url("**/reset")
    page.fill("#reset_reset_token", "not-a-token")
    page.fill("#reset_new_password", new)
    page.get_by_role("button", name="Set the password").click()
    page.get_by_test_id("error").wait_for()  # a bad token: said in the page, nothing changed
    assert _login_status(live, email, new) == 401

    page.fill("#reset_reset_token", token)
    page.get_by_role("button", name="Set the password").click()
    page.get_by_text("Your password is set").wait_for()
    sign_in(page, email, new)
    page.get_by_role("heading", name="My projects").wait_for()
    assert not page.errors, page.errors
