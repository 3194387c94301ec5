"""The authorization matrix's vocabulary (what a table row says) and its runner (what each row means per caller).

A row is one endpoint of `app.url_map`; the runner builds its URL from the row's argument map (URL argument ->
world key, e.g. `subscriptionId="a.subscription"`; a literal is written `"=csv"`), sends it as each caller
(`callers.Caller.send`) and records every mismatch as one line of text. The tests assert that the list is empty, so
one run reports every broken row at once.

Outcomes, per area (see the module docstring of tests/test_authorization_matrix.py for the policy):
- API `admin`: anonymous 401 "Access token is required"; customers 403 "Access denied. Insufficient permissions.";
  administrator neither. `user`: any signed-in account. `owned`: customer A's object in the URL (or body): customer B
  and the administrator (API customer routes are owner-scoped for every role) get the row's not-found answer, the
  same answer as for an id of no row; A does not get 404. `public`: the same answer for every caller.
- Console `staff`: anonymous -> the console login, customers -> 403 (with a valid CSRF token on POSTs), administrator
  -> a reachable page (GET; an id of no row: 404 or back to a list) and 400 for a POST without CSRF token.
- Portal `private` / `owned`: anonymous -> the portal login; B (and the administrator) on A's objects -> 404, like an
  id of no row; a POST without CSRF token -> 400.
- Public rows (`console_public`, `portal_public`, `asset`): the outcome written per caller; a console/portal POST
  without CSRF token is 400 for everyone.
Everywhere: no 5xx except 503 (a dependency down, by design), no bcrypt hash in any answer, none of A's data in an
answer to anyone but A and staff routes; refused writes change nothing (`fingerprint`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode, urlsplit

from .fingerprint import changes, fingerprint

DENIED = "Access denied. Insufficient permissions."
MISSING_ID = "c" + "z" * 24
TOKEN_REQUIRED = "Access token is required"
READS = ("GET",)
PASSWORD_HASH = "$2b$"  # bcrypt: no page, export or JSON answer may carry one, whoever asks
ANY = "any"


# ------------------------------------------------------------------------------------------------ vocabulary
@dataclass(frozen=True)
class Row:
    area: str  # api | console | portal | other
    audience: str  # api: public/user/owned/admin; console: staff/public; portal: public/private/owned
    args: dict = field(default_factory=dict)  # URL argument -> world key ("=literal" for a literal)
    query: dict = field(default_factory=dict)  # query string, same value syntax
    json: dict | None = None  # API body (world keys allowed as "@key")
    form: dict | None = None  # console/portal POST form (world keys allowed as "@key")
    foreign: tuple | None = None  # api owned: (status, message) for B; portal owned: status for B
    expect: dict = field(default_factory=dict)  # explicit per-caller outcomes: caller -> status or (status, text)
    admin_get: tuple = (200,)  # console staff: statuses an administrator's GET may get


def _api(audience, *, json=None, query=None, expect=None, foreign=None, **args):
    return Row("api", audience, args=args, query=query or {}, json=json, foreign=foreign, expect=expect or {})


def public(status: int, *, json=None, query=None, text: str | None = None, **args) -> Row:
    """No authentication: every caller (token or not) gets `status` (and `text` as the envelope message)."""
    return _api("public", json=json, query=query, expect={ANY: (status, text)}, **args)


def user(*, json=None, query=None, **args) -> Row:
    """Any signed-in account; the URL names nothing that belongs to a customer."""
    return _api("user", json=json, query=query, **args)


def owned(message: str, *, json=None, query=None, status: int = 404, **args) -> Row:
    """Customer A's object in the URL/body: B and the administrator get (status, message); A finds it."""
    return _api("owned", json=json, query=query, foreign=(status, message), **args)


def admin(*, json=None, query=None, **args) -> Row:
    return _api("admin", json=json, query=query, **args)


def staff(*, form=None, query=None, admin_get=(200,), **args) -> Row:
    """A console page: administrators only."""
    return Row("console", "staff", args=args, query=query or {}, form=form or {}, admin_get=admin_get)


def console_public(expect: dict, *, form=None, query=None, **args) -> Row:
    return Row("console", "public", args=args, query=query or {}, form=form or {}, expect=expect)


def private(*, form=None, query=None, get: int = 200, **args) -> Row:
    """A portal page for any signed-in account that names no customer's object."""
    return Row("portal", "private", args=args, query=query or {}, form=form or {}, expect={"get": get})


def mine(*, form=None, query=None, **args) -> Row:
    """A portal page about customer A's object: B and the administrator get 404."""
    return Row("portal", "owned", args=args, query=query or {}, form=form or {}, foreign=404)


def portal_public(expect: dict, *, form=None, query=None, **args) -> Row:
    return Row("portal", "public", args=args, query=query or {}, form=form or {}, expect=expect)


def asset(url_args: dict, status: int = 200) -> Row:
    """A static file: public."""
    return Row("other", "public", args=url_args, expect={ANY: (status, None)})


# ------------------------------------------------------------------------------------------------ routes
@dataclass
class Route:
    endpoint: str
    method: str
    rule: str
    url: str
    row: Row
    missing: bool = False  # A's ids replaced by MISSING_ID (a well-formed id of no row)


def _resolve(world, value):
    if isinstance(value, str) and value.startswith("="):
        return value[1:]
    return world.value(value)


def _fill(world, payload):
    """Replace "@key" strings of a JSON/form payload by world values."""
    if payload is None:
        return None
    out = {}
    for key, value in payload.items():
        if isinstance(value, str) and value.startswith("@"):
            out[key] = world.value(value[1:])
        elif isinstance(value, list):
            out[key] = [world.value(v[1:]) if isinstance(v, str) and v.startswith("@") else v for v in value]
        else:
            out[key] = value
    return out


def routes(app, world, classify) -> tuple[list[Route], list[str]]:
    """Every (endpoint, method) of the URL map with its row; `problems` lists unclassified rows or arguments."""
    found, problems = [], []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        row = classify(rule.endpoint)
        if isinstance(row, str):  # classified, but the matrix cannot build its URL
            problems.append(row)
            continue
        if row is None:
            problems.append(f"{rule.endpoint} ({rule.rule}) is not classified: add it to the matrix in "
                            f"tests/test_authorization_matrix.py with the outcome each caller must get")
            continue
        url = rule.rule
        for arg in sorted(rule.arguments):
            if arg not in row.args:
                problems.append(f"{rule.endpoint}: URL argument <{arg}> has no fixture object: map it in its row "
                                f"(e.g. {arg}=\"a.subscription\")")
                break
            url = re.sub(r"<(?:[^:<>]+:)?%s>" % re.escape(arg), str(_resolve(world, row.args[arg])), url)
        else:
            if row.query:
                url += "?" + urlencode({k: _resolve(world, v) for k, v in row.query.items()})
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append(Route(rule.endpoint, method, rule.rule, url, row))
    return found, problems


# ------------------------------------------------------------------------------------------------ checks
def secrets_of_a(world) -> list[str]:
    from .world import A_MARKERS

    a = world.a
    return [*A_MARKERS, a.user.email, a.subscription.id, a.instance.id, a.ticket.id, a.attachment.id,
            a.reply_attachment.id, a.topup.id, a.charge.id]


class Runner:
    """Sends each route as each caller and collects mismatches."""

    def __init__(self, world, callers):
        self.world = world
        self.callers = callers
        self.failures: list[str] = []
        self.secrets = secrets_of_a(world)
        self.checked = 0
        # every request is rolled back (callers.Caller.send): the rows before any request are these
        self.baseline = fingerprint(world)

    # -- helpers
    def fail(self, route: Route, caller: str, message: str) -> None:
        self.failures.append(f"{route.method} {route.rule} [{route.endpoint}] as {caller}: {message}")

    def send(self, route: Route, caller: str, *, csrf: bool = True, unchanged: bool = False, scope=None):
        """Send the route as `caller`; with `unchanged`, fail when the request changed any row."""
        c = self.callers[caller]
        is_api = route.row.area == "api"
        json = _fill(self.world, route.row.json) if is_api and route.method not in READS else None
        if is_api and route.method not in READS and json is None:
            json = {}
        data = None
        if not is_api and route.method not in READS:
            data = _fill(self.world, route.row.form) or {}
        if route.missing:
            json, data = self._without_a(json), self._without_a(data)
        def compare(response):
            if unchanged:
                diff = changes(self.baseline, fingerprint(self.world), scope)
                if diff:
                    self.fail(route, caller, f"the refused request changed data ({response.status_code}): "
                                             + "; ".join(diff[:6]))

        response = c.send(route.method, route.url, json=json, data=data, csrf=csrf, on_response=compare)
        self.checked += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.fail(route, caller, f"server error {response.status_code}")
        if PASSWORD_HASH.encode() in response.get_data():
            self.fail(route, caller, "the response contains a password hash")
        return response

    def _without_a(self, payload):
        if payload is None:
            return None
        ids = set(self.secrets)
        return {k: ([MISSING_ID if x in ids else x for x in v] if isinstance(v, list) else
                    MISSING_ID if v in ids else v) for k, v in payload.items()}

    def missing_variant(self, route: Route) -> Route:
        url = route.url
        for secret in self.secrets:
            url = url.replace(secret, MISSING_ID)
        return replace(route, url=url, missing=True)

    def not_cached(self, route: Route, caller: str, response) -> None:
        """A signed-in page (customer data, staff data) must not be kept by the browser or a proxy: after sign-out
        the back button or the next user of a shared computer would see it."""
        if 200 <= response.status_code < 300 and "no-store" not in (response.headers.get("Cache-Control") or ""):
            self.fail(route, caller, f"a signed-in page is cacheable (Cache-Control: "
                                     f"{response.headers.get('Cache-Control')!r}); it must say no-store")

    def leaks(self, route: Route, caller: str, response) -> None:
        body = response.get_data().decode("utf-8", "replace")  # images too
        leaked = [s for s in self.secrets if s in body]
        if leaked:
            self.fail(route, caller, f"the response shows customer A's data: {leaked[:3]}")

    @staticmethod
    def _message(response):
        if response.is_json:
            body = response.get_json(silent=True)
            if isinstance(body, dict):
                return body.get("message")
        return None

    def expect_status(self, route, caller, response, status, text=None) -> None:
        got = (response.status_code, self._message(response) if route.row.area == "api" else None)
        if response.status_code != status or (text is not None and got[1] != text and
                                              text not in response.get_data().decode("utf-8", "replace")):
            self.fail(route, caller, f"expected {status}{' ' + repr(text) if text else ''}, got {got[0]} "
                                     f"{got[1] if got[1] is not None else response.location or ''}")

    def expect_redirect(self, route, caller, response, path: str) -> None:
        location = urlsplit(response.location or "").path
        if response.status_code not in (301, 302, 303) or location != path:
            self.fail(route, caller, f"expected a redirect to {path}, got {response.status_code} {response.location}")

    # -- areas
    def api(self, route: Route) -> None:
        row, write = route.row, route.method not in READS
        if row.audience == "public":
            status, text = row.expect[ANY]
            for caller in self.callers:
                response = self.send(route, caller)
                self.expect_status(route, caller, response, status, text)
                if caller != "customer_a":
                    self.leaks(route, caller, response)
            return
        r = self.send(route, "anonymous", unchanged=write)
        self.expect_status(route, "anonymous", r, 401, TOKEN_REQUIRED)
        if row.audience == "admin":
            for caller in ("customer_a", "customer_b"):
                r = self.send(route, caller, unchanged=write)
                self.expect_status(route, caller, r, 403, DENIED)
            r = self.send(route, "admin")
            self.not_cached(route, "admin", r)
            if r.status_code in (401, 403):
                self.fail(route, "admin", f"an administrator was refused: {r.status_code} {self._message(r)}")
            return
        if row.audience == "user":
            for caller in ("customer_b", "admin", "customer_a"):
                # B's own writes may change B's rows, never A's (nor the catalog)
                r = self.send(route, caller, unchanged=write and caller != "customer_a",
                              scope=A_AND_SHARED if caller != "customer_a" else None)
                self.not_cached(route, caller, r)
                if r.status_code in (401, 403):
                    self.fail(route, caller, f"a signed-in account was refused: {r.status_code} {self._message(r)}")
                if caller != "customer_a":
                    self.leaks(route, caller, r)
            return
        assert row.audience == "owned", row
        status, text = row.foreign
        for caller in ("customer_b", "admin"):
            r = self.send(route, caller, unchanged=write)
            self.expect_status(route, caller, r, status, text)
            self.leaks(route, caller, r)
        r = self.send(route, "customer_a")
        self.not_cached(route, "customer_a", r)
        if r.status_code in (401, 403, 404):
            self.fail(route, "customer_a", f"the owner cannot reach their own object ({r.status_code} "
                                           f"{self._message(r)}): the fixture id is wrong")
        # another customer's object and no object at all get the same answer (nothing tells B it exists)
        missing = self.missing_variant(route)
        r = self.send(missing, "customer_b", unchanged=write)
        self.expect_status(missing, "customer_b (id of no row)", r, status, text)

    def console(self, route: Route) -> None:
        row, write = route.row, route.method not in READS
        if row.audience == "public":
            self._explicit(route)
            return
        r = self.send(route, "anonymous", unchanged=write)
        self.expect_redirect(route, "anonymous", r, "/admin/login")
        for caller in ("customer_a", "customer_b"):
            r = self.send(route, caller, unchanged=write)
            self.expect_status(route, caller, r, 403)
            if caller == "customer_b":
                self.leaks(route, caller, r)
        if write:
            r = self.send(route, "admin", csrf=False, unchanged=True)
            self.expect_status(route, "admin", r, 400)
        else:
            r = self.send(route, "admin")
            self.not_cached(route, "admin", r)
            if r.status_code not in row.admin_get:
                self.fail(route, "admin", f"expected {row.admin_get} for an administrator, got {r.status_code}")
            elif r.status_code in (301, 302, 303) and urlsplit(r.location).path == "/admin/login":
                self.fail(route, "admin", "an administrator was sent to the login page")
            missing = self.missing_variant(route)
            if missing.url != route.url:
                r = self.send(missing, "admin")
                if r.status_code not in (302, 404):
                    self.fail(missing, "admin (id of no row)", f"expected 404 or a redirect, got {r.status_code}")

    def portal(self, route: Route) -> None:
        row, write = route.row, route.method not in READS
        if row.audience == "public":
            self._explicit(route)
            return
        r = self.send(route, "anonymous", unchanged=write)
        self.expect_redirect(route, "anonymous", r, "/portal/login")
        if row.audience == "owned":
            for caller in ("customer_b", "admin"):
                r = self.send(route, caller, unchanged=write)
                self.expect_status(route, caller, r, row.foreign)
                self.leaks(route, caller, r)
            if write:
                r = self.send(route, "customer_a", csrf=False, unchanged=True)
                self.expect_status(route, "customer_a", r, 400)
            else:
                r = self.send(route, "customer_a")
                self.not_cached(route, "customer_a", r)
                if r.status_code != 200:
                    self.fail(route, "customer_a", f"the owner cannot open their own page ({r.status_code})")
            missing = self.missing_variant(route)
            r = self.send(missing, "customer_b", unchanged=write)
            self.expect_status(missing, "customer_b (id of no row)", r, row.foreign)
            return
        assert row.audience == "private", row
        if write:
            for caller in ("customer_a", "customer_b", "admin"):
                r = self.send(route, caller, csrf=False, unchanged=True)
                self.expect_status(route, caller, r, 400)
            return
        for caller in ("customer_b", "admin", "customer_a"):
            r = self.send(route, caller)
            self.expect_status(route, caller, r, row.expect["get"])
            self.not_cached(route, caller, r)
            if caller != "customer_a":
                self.leaks(route, caller, r)

    def other(self, route: Route) -> None:
        self._explicit(route)

    def _explicit(self, route: Route) -> None:
        """Rows with per-caller outcomes: {caller or ANY: status | (status, text) | "->/path"}."""
        for caller in self.callers:
            spec = route.row.expect.get(caller, route.row.expect.get(ANY))
            if isinstance(spec, dict):  # per-method
                spec = spec.get(route.method)
            r = self.send(route, caller)
            if isinstance(spec, str) and spec.startswith("->"):
                self.expect_redirect(route, caller, r, spec[2:])
            elif isinstance(spec, tuple):
                self.expect_status(route, caller, r, *spec)
            elif isinstance(spec, int):
                self.expect_status(route, caller, r, spec)
            else:
                self.fail(route, caller, f"no expected outcome for this caller/method in the matrix row: {spec!r}")
            if caller != "customer_a":
                self.leaks(route, caller, r)
            if route.method == "POST" and route.row.area in ("console", "portal"):
                r = self.send(route, caller, csrf=False, unchanged=True)
                self.expect_status(route, f"{caller} (no CSRF token)", r, 400)

    def run(self, route: Route) -> None:
        getattr(self, route.row.area)(route)


# A signed-in account's own writes may change its own rows, never A's nor the catalog's.
A_AND_SHARED = {f"row.{k}" for k in ("user_a", "subscription_a", "instance_a", "ticket_a", "attachment_a",
                                     "reply_attachment_a", "topup_a", "charge_a", "service", "plan", "plan2",
                                     "category", "coupon", "notification")}
