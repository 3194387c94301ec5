"""The product in a real browser: the console, the portal with the payment page and provisioning, support across
both, and the cluster charts. The tests run in file order and (c) answers the ticket (b) opened; run alone, (c)
opens a ticket of its own first."""
from __future__ import annotations

import io
import re
import time

import pytest

from .conftest import IN_CI, PASSWORD, screenshot, wait_until

if not IN_CI:  # in CI a missing playwright is an error, never a skip
    pytest.importorskip("playwright", reason="playwright is not installed: pip install -r requirements-dev.txt")
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

CUSTOMER = {"name": "Browser Customer", "email": "browser.customer@example.com", "password": "secret123"}


def admin_login(page) -> None:
    page.goto("/admin/login")
    page.fill("input[name=email]", "admin@minispod.com")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/?$"))


def portal_login(page, email: str, password: str) -> None:
    page.goto("/portal/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.locator("main form button[type=submit]").first.click()
    expect(page).not_to_have_url(re.compile(r"/portal/login"))


def nav_balance(page) -> int:
    return int(re.sub(r"[^0-9]", "", page.locator("#nav-balance").inner_text()))


def png_bytes() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 200), "#f4f6fb")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 300, 180), outline="#c0392b", width=4)
    draw.text((40, 90), "Error 502 on my n8n instance", fill="#c0392b")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def open_ticket(page, subject: str) -> str:
    """Open a ticket with a PNG screenshot from the portal (signed in); return the ticket page's path."""
    page.goto("/portal/tickets/new")
    page.fill("#subject", subject)
    page.fill("#description", "My n8n instance answers 502 since this morning. Screenshot attached.")
    page.set_input_files("#attachments", files=[{"name": "error.png", "mimeType": "image/png", "buffer": png_bytes()}])
    page.get_by_role("button", name="Open ticket").click()
    expect(page.locator("#ticket-status")).to_have_text("OPEN")
    attachment = page.locator("#description .attachments li")
    expect(attachment).to_have_count(1)
    expect(attachment).to_contain_text("320×200")  # decoded by the server (Pillow), re-encoded
    return re.sub(r"^https?://[^/]+", "", page.url)


# ------------------------------------------------------------------------------------------------ (a)
def test_admin_adjusts_a_customer_balance(page, request):
    admin_login(page)

    # find the customer in the users list (search), open the customer 360 page from the name link
    page.goto("/admin/users/")
    search = page.locator("input[name=search]")
    search.fill("user3@minispod.com")
    search.press("Enter")
    expect(page.locator("table").get_by_text("user3@minispod.com")).to_be_visible()
    page.get_by_role("link", name="Bob Johnson").click()
    expect(page).to_have_url(re.compile(r"/admin/customers/"))
    balance = page.locator("[data-section=wallet] [data-balance]")
    before = int(balance.get_attribute("data-balance"))

    reason = "Goodwill credit for the outage of 12 May"
    form = page.locator("form[data-form=adjust]")
    form.locator("#adjust-amount").fill("25000")
    form.locator("#adjust-direction").select_option("ADD")
    form.locator("#adjust-reason").fill(reason)
    form.get_by_role("button", name="Apply").click()

    expect(balance).to_have_attribute("data-balance", str(before + 25_000))
    audit = page.locator("[data-table=audit] tr[data-audit]", has_text=reason)
    expect(audit).to_have_count(1)
    expect(audit).to_contain_text("admin@minispod.com")
    audit.scroll_into_view_if_needed()
    screenshot(page, request.node.name)


# ------------------------------------------------------------------------------------------------ (b)
def test_customer_tops_up_subscribes_and_opens_a_ticket(page, request, stack):
    page.goto("/portal/register")
    page.fill("#name", CUSTOMER["name"])
    page.fill("#email", CUSTOMER["email"])
    page.fill("#password", CUSTOMER["password"])
    page.fill("#confirm", CUSTOMER["password"])
    page.get_by_role("button", name="Create account").click()
    # (the "Welcome to PodDesk!" flash is lost: portal.auth._sign_in clears the session after flashing it)
    expect(page.get_by_role("banner")).to_contain_text(CUSTOMER["name"])
    start = nav_balance(page)  # the welcome bonus, if the seed coupon is active

    # top up through the Midtrans simulator's payment page, back on the finish page
    page.goto("/portal/wallet")
    page.fill("#amount", "100000")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page).to_have_url(re.compile(re.escape(stack.midtrans.url)))
    page.locator("#pay").click()
    expect(page).to_have_url(re.compile(re.escape(stack.url) + r"/portal/"))
    status = page.locator("#transaction-status")
    wait_until(lambda: status.inner_text() == "COMPLETED" or page.reload() and False, 15, 0.5,
               "the top-up to be COMPLETED")
    assert nav_balance(page) == start + 100_000

    # subscribe to n8n Basic (Rp 50,000)
    page.goto("/portal/catalog/n8n-automation")
    page.locator(".plan", has_text="Basic").get_by_role("link", name="Subscribe").click()
    page.get_by_role("button", name=re.compile("Confirm and pay")).click()
    expect(page).to_have_url(re.compile(r"/portal/subscriptions/"))
    assert nav_balance(page) == start + 50_000

    # the instance is provisioned by the worker on the Kubernetes simulator: reload until RUNNING
    page.goto("/portal/instances")
    row = page.locator("#instances tr", has_text="N8N Automation")
    started = time.monotonic()
    wait_until(lambda: "RUNNING" in row.inner_text() or page.reload() and False, 40, 0.5,
               "the instance to be RUNNING")
    stack.state["provisioned_in"] = time.monotonic() - started

    ticket = open_ticket(page, "Instance answers 502")
    stack.state["ticket"] = {"path": ticket, **CUSTOMER}
    screenshot(page, request.node.name)


# ------------------------------------------------------------------------------------------------ (c)
def test_staff_answers_the_ticket_and_the_customer_sees_it(page, browser, request, stack):
    ticket = stack.state.get("ticket")
    if ticket is None:  # run on its own: a demo customer opens one
        portal_login(page, "user2@minispod.com", PASSWORD)
        ticket = {"path": open_ticket(page, "Instance answers 502"), "email": "user2@minispod.com",
                  "password": PASSWORD}
        page.context.clear_cookies()

    admin_login(page)
    page.goto(f"/admin/customers/?q={ticket['email']}")
    expect(page).to_have_url(re.compile(r"/admin/customers/[^/?]+"))
    page.locator("[data-table=tickets] a").first.click()
    expect(page.get_by_text("Instance answers 502").first).to_be_visible()
    reply = "We restarted the ingress controller; your instance answers again. Sorry for the trouble!"
    page.fill("textarea[name=content]", reply)
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("[data-message]", has_text=reply)).to_have_count(1)

    customer = browser.new_context(viewport=page.viewport_size, base_url=stack.url)
    try:
        view = customer.new_page()
        portal_login(view, ticket["email"], ticket["password"])
        view.goto(ticket["path"])
        staff = view.locator(".message.staff", has_text=reply)
        expect(staff).to_have_count(1)
        expect(staff).to_contain_text("PodDesk support")
        staff.scroll_into_view_if_needed()
        screenshot(view, request.node.name)
    finally:
        customer.close()


# ------------------------------------------------------------------------------------------------ (d)
HAS_PLOT_DATA = ("() => { const plots = document.querySelectorAll('.js-plotly-plot');"
                 " return plots.length > 0 && Array.from(plots).every(p => p.data && p.data.length > 0); }")


def test_cluster_pages_draw_their_charts(page, request):
    admin_login(page)
    for path in ("/admin/cluster/nodes/", "/admin/cluster/pods/"):
        page.goto(path)
        expect(page.locator("[data-cluster-banner]")).to_have_count(0)
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        page.wait_for_function(HAS_PLOT_DATA, timeout=15_000)
        assert page.evaluate("document.querySelector('.js-plotly-plot').data.length") > 0, path
    screenshot(page, request.node.name)
