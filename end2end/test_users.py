"""Users and one-time codes clicked through in headless Chromium: an admin adds an operator
on the Users page, the operator sets up TOTP from the QR page's key, then signs in with a code."""
import base64
import hashlib
import hmac
import re
import struct
import time

from playwright.sync_api import expect

from test_dashboard import ADMIN, PASSWORD, shot, wait_for_hydration

OPERATOR = "tess"


def totp(secret_b32, step):
    """RFC 6238 (SHA-1, 6 digits, 30 s), written here from the RFC, not taken from the server."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def sign_in(page, server, username, password):
    page.goto(server.url + "/login")
    wait_for_hydration(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_users_page_and_totp_enrollment(server, browser):
    page = browser.new_page()
    page.goto(server.url + "/setup")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create admin").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    sign_in(page, server, ADMIN, PASSWORD)
    wait_for_hydration(page)

    # The admin adds an operator on the Users page.
    page.get_by_role("link", name="Users").click()
    expect(page).to_have_url(re.compile(r"/users$"))
    wait_for_hydration(page)
    page.get_by_label("Username").fill(OPERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Role", exact=True).select_option("operator")
    page.get_by_role("button", name="Add user").click()
    row = page.locator("tr[data-user=tess]")
    expect(row).to_be_visible()
    expect(row.get_by_label("Role of tess")).to_have_value("operator")
    shot(page, "30-users")
    page.set_viewport_size({"width": 375, "height": 800})
    shot(page, "30-users-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.close()

    # The operator has no Users page, and sets up one-time codes in Settings.
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, OPERATOR, PASSWORD)
    wait_for_hydration(page)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/settings$"))
    wait_for_hydration(page)
    page.get_by_role("button", name="Set up one-time codes").click()
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    shot(page, "31-totp-qr")
    step = int(time.time()) // 30
    page.get_by_label("Code from the app").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong, expired or used")
    page.get_by_label("Code from the app").fill(totp(secret, step - 1))
    page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    shot(page, "32-recovery-codes")
    page.set_viewport_size({"width": 375, "height": 800})
    shot(page, "32-recovery-codes-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_test_id("totp-at-sign-in").click()
    expect(page.get_by_test_id("totp-on")).to_contain_text("signing in asks for one")

    # Signing in now takes a code: the field appears once the password is right.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    sign_in(page, server, OPERATOR, PASSWORD)
    code = page.get_by_test_id("totp-code")
    expect(code).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("one-time code")
    shot(page, "33-login-code")
    page.set_viewport_size({"width": 375, "height": 800})
    shot(page, "33-login-code-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    code.fill(totp(secret, step))
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login$"))
    wait_for_hydration(page)
    context.close()
