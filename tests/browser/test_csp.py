"""The product under its Content-Security-Policy in a real browser (webapp/security.py): the main console and portal
pages raise no `securitypolicyviolation`, the Plotly charts still draw, the delete buttons (whose inline handlers
the policy would block) still ask before deleting, the top-up form may still redirect to the payment page, and the
e-mailed password-reset link works. Runs after test_browser.py (file order); needs nothing from it."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from .conftest import IN_CI, PASSWORD
from .test_browser import admin_login, portal_login

if not IN_CI:  # in CI a missing playwright is an error, never a skip
    pytest.importorskip("playwright", reason="playwright is not installed: pip install -r requirements-dev.txt")
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

# Registered before any page script runs: every violation of the page (and of its frames) is kept on `window` and
# also logged, so a violation during a navigation is still seen through the console listener.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  var text = e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber;
  window.__cspViolations.push(text);
  console.error('CSP-VIOLATION ' + text);
});
"""


# Every server-built figure was drawn by static/console/charts.js (an empty chart has no traces), some with data.
ALL_CHARTS_DRAWN = ("() => { const divs = Array.from(document.querySelectorAll('[data-plotly-figure]'));"
                    " return divs.length > 0 && divs.every(d => d.classList.contains('js-plotly-plot') && d._fullLayout)"
                    " && divs.some(d => d.data && d.data.length > 0); }")


class Violations:
    def __init__(self, page):
        self.page = page
        self.logged: list[str] = []
        page.on("console", self._on_console)

    def _on_console(self, message) -> None:
        text = message.text
        if "CSP-VIOLATION" in text or "Content Security Policy" in text:
            self.logged.append(f"{self.page.url}: {text}")

    def check(self, where: str) -> None:
        on_page = self.page.evaluate("window.__cspViolations || []")
        assert on_page == [] and self.logged == [], (where, on_page, self.logged)


@pytest.fixture
def csp_page(page):
    page.add_init_script(RECORD_VIOLATIONS)
    # plotly.min.js (4 MB) is parsed on every chart page: leave room for a loaded 2-core machine.
    page.set_default_navigation_timeout(60_000)
    page.set_default_timeout(30_000)
    return page, Violations(page)


def _open(page, violations, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response and response.status)
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or ""), path
    page.wait_for_load_state("load")
    violations.check(path)


def test_console_pages_raise_no_csp_violation_and_draw_their_charts(csp_page, stack):
    page, violations = csp_page
    admin_login(page)
    violations.check("/admin/login")
    with stack.app.app_context():
        from webapp.accounts.models import User
        from webapp.extensions import db

        customer_id = db.session.execute(select(User.id).where(User.email == "user1@minispod.com")).scalar_one()
        db.session.remove()
    for path in ("/admin/", "/admin/billing/", "/admin/cluster/nodes/", "/admin/cluster/pods/"):
        _open(page, violations, path)
        page.wait_for_function(ALL_CHARTS_DRAWN, timeout=30_000)
        drawn = page.evaluate("document.querySelectorAll('[data-plotly-figure] .main-svg').length")
        assert drawn > 0, path
        violations.check(path)
    for path in ("/admin/users/", "/admin/services/", "/admin/plans/", "/admin/coupons/", "/admin/subscriptions/",
                 "/admin/transactions/", "/admin/outbox/", f"/admin/customers/{customer_id}"):
        _open(page, violations, path)
    # Menus and the filter dropdown (formerly inline handlers / javascript: links) work without violations.
    page.goto("/admin/services/")
    page.get_by_role("link", name="Add Filter").click()
    page.locator("a.filter").first.click()
    expect(page.locator(".filter-val").first).to_be_visible()
    violations.check("filter menu")
    page.goto("/admin/")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=30_000)


def test_console_delete_asks_first_and_a_refusal_deletes_nothing(csp_page, stack):
    page, violations = csp_page
    name = "CSP Delete Probe"
    with stack.app.app_context():
        from webapp.catalog.models import Service, ServiceCategory
        from webapp.extensions import db

        category = db.session.execute(select(ServiceCategory)).scalars().first()
        db.session.add(Service(name=name, slug="csp-delete-probe", description="Deleted by the CSP browser test",
                               version="1", docker_image="example/probe:1", default_port=80, category_id=category.id,
                               env_template={}, tags=[], is_active=False, is_public=False, is_featured=False,
                               sort_order=999))
        db.session.commit()
        db.session.remove()

    admin_login(page)
    page.goto("/admin/services/?search=csp-delete-probe")
    row = page.locator("tr", has_text=name)
    expect(row).to_have_count(1)
    delete = row.locator("form[action*='delete'] button")
    expect(delete).to_have_attribute("data-confirm", "Are you sure you want to delete this record?")

    questions: list[str] = []

    def refuse(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", refuse)
    delete.click()
    page.wait_for_timeout(500)
    assert questions == ["Are you sure you want to delete this record?"]
    page.reload()
    expect(page.locator("tr", has_text=name)).to_have_count(1)  # refused: still there

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator("tr", has_text=name).locator("form[action*='delete'] button").click()
    expect(page.locator("tr", has_text=name)).to_have_count(0)
    with stack.app.app_context():
        from webapp.catalog.models import Service
        from webapp.extensions import db

        assert db.session.execute(select(Service).where(Service.slug == "csp-delete-probe")).first() is None
        db.session.remove()
    violations.check("delete")


def test_portal_pages_raise_no_csp_violation_and_the_top_up_reaches_the_payment_page(csp_page, stack):
    page, violations = csp_page
    for path in ("/portal/login", "/portal/register", "/portal/forgot-password"):
        _open(page, violations, path)
    portal_login(page, "user2@minispod.com", PASSWORD)
    violations.check("portal sign-in")
    for path in ("/portal/catalog", "/portal/wallet", "/portal/subscriptions", "/portal/instances", "/portal/tickets",
                 "/portal/tickets/new"):
        _open(page, violations, path)
    page.goto("/portal/catalog")
    page.locator("a[href^='/portal/catalog/']").first.click()
    violations.check(page.url)

    # The listener itself works: an injected inline script is blocked and reported.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                  " document.body.appendChild(s); }")
    page.wait_for_function("window.__cspViolations.length > 0", timeout=5_000)
    assert page.evaluate("window.__ran") is None
    assert "script-src" in page.evaluate("window.__cspViolations[0]")
    violations.logged.clear()

    # form-action: the top-up POST redirects to the payment page on another origin (the Midtrans simulator).
    page.goto("/portal/wallet")
    page.fill("#amount", "50000")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page).to_have_url(re.compile(re.escape(stack.midtrans.url) + r"/snap/"))


def test_the_emailed_reset_link_works_in_the_browser(csp_page, stack):
    page, violations = csp_page
    email = "user3@minispod.com"
    page.goto("/portal/login")
    page.get_by_role("link", name="Forgot password?").click()
    page.fill("#email", email)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.locator(".flash")).to_contain_text("If an account exists for this email")
    violations.check("forgot password")

    with stack.app.app_context():
        from webapp.extensions import db
        from webapp.notifications.models import Notification, NotificationType

        body = db.session.execute(select(Notification.body).where(Notification.type == NotificationType.PASSWORD_RESET,
                                                                  Notification.recipient == email)
                                  .order_by(Notification.created_at.desc())).scalars().first()
        db.session.remove()
    link = re.search(r"https?://\S+/portal/reset-password/\S+", body).group(0)
    assert link.startswith(stack.url)
    page.goto(link)
    page.fill("#password", "browser-reset-1")
    page.fill("#confirm", "browser-reset-1")
    page.get_by_role("button", name="Set new password").click()
    expect(page.locator(".flash")).to_contain_text("Your password has been reset")
    violations.check("reset password")
    portal_login(page, email, "browser-reset-1")
    expect(page).to_have_url(re.compile(r"/portal/catalog"))
