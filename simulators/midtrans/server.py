"""The HTTP side of the Midtrans simulator and its Python API (`MidtransSimulator`).

Owns: routing and auth for Snap (`POST /snap/v1/transactions`), the Core API (`/v2/<id>/status|cancel|expire|approve|deny`),
the payment page (`/snap/v4/redirection/<token>`), the `/_sim/` automation API, fault injection, and the state transitions
that queue notifications (delivered by `notifier.Notifier`). Bodies and validation live in `state`.
"""
from __future__ import annotations

import base64
import html
import json
import random
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from ..httpserver import SimulatorHTTPServer
from .notifier import Notifier
from .state import (STATUS_CODES, SnapError, Transaction, now_jakarta, parse_snap_request, payment_types_for)

ACTIONS = ("complete", "deny", "cancel", "expire", "pending", "refund")
FAULT_DEFAULTS = {"down": False, "delay_ms": 0, "error_rate": 0.0, "unopened_404": False}
NOT_FOUND = {"status_code": "404", "status_message": "Transaction doesn't exist."}
CANNOT_MODIFY = {"status_code": "412", "status_message": "Merchant cannot modify the status of the transaction"}


class SimError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body


class MidtransSimulator:
    """In-process Midtrans stand-in. `start()` serves it on a daemon thread; `url` is the origin for both base URLs."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, server_key: str = "SB-Mid-server-sim",
                 client_key: str = "SB-Mid-client-sim", notify_url: str | None = None, *,
                 retries: int = 2, retry_delay: float = 0.2, unopened_404: bool = False, verbose: bool = False):
        self.host, self.port = host, port
        self.server_key, self.client_key, self.notify_url = server_key, client_key, notify_url
        self.verbose = verbose
        self._defaults = dict(FAULT_DEFAULTS, unopened_404=unopened_404)
        self.faults = dict(self._defaults)
        self._lock = threading.RLock()
        self._transactions: dict[str, Transaction] = {}
        self._rng = random.Random()
        self._notifier = Notifier(retries=retries, retry_delay=retry_delay)
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "MidtransSimulator":
        self._server = SimulatorHTTPServer((self.host, self.port), _Handler)
        self._server.daemon_threads = True
        self._server.sim = self
        self._server.open_connections = set()  # keep-alive connections, closed by stop()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="midtrans-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            # Idle keep-alive connections would otherwise keep being served after stop().
            for conn in list(self._server.open_connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server = None
        self._notifier.close()

    def __enter__(self) -> "MidtransSimulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def snap_base_url(self) -> str:
        return self.url + "/snap/v1"

    # ------------------------------------------------------------------ Python API for tests / demo
    @property
    def notifications(self) -> list[dict]:
        return self._notifier.entries()

    def wait_for_notifications(self, count: int, order_id: str | None = None, timeout: float = 5.0) -> list[dict]:
        return self._notifier.wait_for(count, order_id, timeout)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        return self._notifier.wait_idle(timeout)

    @property
    def transactions(self) -> list[dict]:
        with self._lock:
            return [tx.public() for tx in self._transactions.values()]

    def transaction(self, order_id: str) -> dict:
        return self._get(order_id).public()

    def status(self, order_id: str) -> dict:
        """What `GET /v2/<order_id>/status` would answer."""
        return self._get(order_id).body(self.server_key, "Success, transaction is found")

    def create(self, order_id: str, gross_amount: int, payment_type: str | None = None, notify_url: str | None = None) -> dict:
        """Create a pending transaction without going through Snap (no token)."""
        with self._lock:
            if order_id in self._transactions:
                raise SimError(409, {"error": f"order_id {order_id} already exists"})
            tx = Transaction(order_id=order_id, gross_amount=int(gross_amount), payment_type=payment_type,
                             notify_urls=[notify_url] if notify_url else None)
            self._transactions[order_id] = tx
            return tx.public()

    def complete(self, order_id: str, **opts) -> dict:
        return self.apply(order_id, "complete", **opts)

    def deny(self, order_id: str, **opts) -> dict:
        return self.apply(order_id, "deny", **opts)

    def cancel(self, order_id: str, **opts) -> dict:
        return self.apply(order_id, "cancel", **opts)

    def expire(self, order_id: str, **opts) -> dict:
        return self.apply(order_id, "expire", **opts)

    def pending(self, order_id: str, **opts) -> dict:
        return self.apply(order_id, "pending", **opts)

    def refund(self, order_id: str, **opts) -> dict:
        return self.apply(order_id, "refund", **opts)

    def apply(self, order_id: str, action: str, *, payment_type: str | None = None, fraud_status: str | None = None,
              paid_amount: int | None = None, notify: bool = True, repeat: int = 1, notify_url: str | None = None,
              gross_amount_override: str | None = None, bad_signature: bool = False) -> dict:
        """Move a transaction to the state `action` implies (any state is allowed here) and queue its notification.

        complete -> settlement, or capture for credit_card / fraud_status "challenge", or deny for fraud_status "deny".
        paid_amount: the amount Midtrans reports from now on (status and validly signed notifications), i.e. a real
        amount mismatch. gross_amount_override: only this notification's body amount is changed after signing (tampered
        body; the signature no longer verifies). bad_signature: signed with a wrong server key.
        """
        if action not in ACTIONS:
            raise SimError(404, {"error": f"unknown action {action}"})
        with self._lock:
            tx = self._get(order_id)
            tx.payment_type = payment_type or tx.payment_type or ("bank_transfer" if action != "expire" else None)
            if paid_amount is not None:
                tx.gross_amount = int(paid_amount)
            fraud = fraud_status or "accept"
            status = {"deny": "deny", "cancel": "cancel", "expire": "expire", "pending": "pending", "refund": "refund"}.get(action)
            if action == "complete":
                status = ("deny" if fraud == "deny" else
                          "capture" if fraud == "challenge" or tx.payment_type == "credit_card" else "settlement")
            self._transition(tx, status, fraud)
            if notify:
                self._notify(tx, repeat=repeat, notify_url=notify_url, gross_amount_override=gross_amount_override,
                             bad_signature=bad_signature)
            return tx.body(self.server_key, "Success, transaction is found")

    def notify(self, order_id: str, repeat: int = 1, **opts) -> list[threading.Event]:
        """Re-send the current state's notification `repeat` times."""
        with self._lock:
            return self._notify(self._get(order_id), repeat=repeat, **opts)

    def notify_sequence(self, order_id: str, statuses: list, final_status: str | None = None,
                        notify_url: str | None = None, payment_type: str | None = None) -> dict:
        """Deliver one notification per entry of `statuses` (str or {transaction_status, fraud_status}) in that order.

        The stored state becomes `final_status`, by default the last non-pending status of the list (the "real" state
        when e.g. ["settlement", "pending"] simulates a pending notification that arrives late).
        """
        steps = [s if isinstance(s, dict) else {"transaction_status": s} for s in statuses]
        for step in steps:
            if step.get("transaction_status") not in STATUS_CODES:
                raise SimError(400, {"error": f"unknown transaction_status {step.get('transaction_status')!r}"})
        with self._lock:
            tx = self._get(order_id)
            tx.payment_type = payment_type or tx.payment_type or "bank_transfer"
            for step in steps:
                view = tx.with_status(step["transaction_status"], step.get("fraud_status"))
                if view.transaction_status == "settlement" and not view.settlement_time:
                    view.settlement_time = now_jakarta()
                self._notify(view, notify_url=notify_url)
            final = final_status or next((s["transaction_status"] for s in reversed(steps)
                                          if s["transaction_status"] != "pending"), "pending")
            last = next((s for s in reversed(steps) if s["transaction_status"] == final), {})
            self._transition(tx, final, last.get("fraud_status") or tx.fraud_status)
            return tx.body(self.server_key, "Success, transaction is found")

    def set_faults(self, **faults) -> dict:
        unknown = set(faults) - set(FAULT_DEFAULTS) - {"seed"}
        if unknown:
            raise SimError(400, {"error": f"unknown faults {sorted(unknown)}"})
        with self._lock:
            if "seed" in faults:
                self._rng.seed(faults.pop("seed"))
            self.faults.update({k: v for k, v in faults.items() if v is not None})
            return dict(self.faults)

    def reset(self) -> None:
        """Forget transactions and notifications, drop queued deliveries, clear faults."""
        with self._lock:
            self._transactions.clear()
            self.faults = dict(self._defaults)
            self._notifier.clear()

    # ------------------------------------------------------------------ internals
    def _get(self, key: str) -> Transaction:
        with self._lock:
            tx = self._transactions.get(key) or next(
                (t for t in self._transactions.values() if t.transaction_id == key), None)
            if tx is None:
                raise SimError(404, dict(NOT_FOUND))
            return tx

    def _by_token(self, token: str) -> Transaction:
        with self._lock:
            tx = next((t for t in self._transactions.values() if t.token == token), None)
            if tx is None:
                raise SimError(404, {"status_code": "404", "status_message": "Snap token not found"})
            return tx

    @staticmethod
    def _transition(tx: Transaction, status: str, fraud_status: str) -> None:
        tx.transaction_status, tx.fraud_status = status, fraud_status
        if status == "settlement" and not tx.settlement_time:
            tx.settlement_time = now_jakarta()

    def _notify(self, tx: Transaction, repeat: int = 1, notify_url: str | None = None,
                gross_amount_override: str | None = None, bad_signature: bool = False) -> list[threading.Event]:
        urls = [notify_url] if notify_url else (tx.notify_urls if tx.notify_urls is not None else
                                                [self.notify_url] if self.notify_url else [])
        body = tx.body(self.server_key, "midtrans payment notification",
                       signing_key="not-the-server-key" if bad_signature else None)
        if gross_amount_override is not None:      # altered after signing: the signature covers the real amount
            body["gross_amount"] = str(gross_amount_override)
        return [self._notifier.submit(urls, body) for _ in range(max(1, int(repeat)))]

    def _core_action(self, key: str, op: str) -> dict:
        with self._lock:
            tx = self._get(key)
            if self.faults["unopened_404"] and tx.payment_type is None:   # Snap order nobody picked a method for
                raise SimError(404, dict(NOT_FOUND))
            if op == "status":
                return tx.body(self.server_key, "Success, transaction is found")
            state = (tx.transaction_status, tx.fraud_status)
            if op == "cancel" and state[0] in ("pending", "capture", "authorize"):
                self._transition(tx, "cancel", tx.fraud_status)
                code, message = "200", "Success, transaction is canceled"
            elif op == "expire" and state[0] == "pending":
                self._transition(tx, "expire", tx.fraud_status)
                code, message = "407", "Success, transaction has expired"
            elif op in ("approve", "deny") and state == ("capture", "challenge"):
                self._transition(tx, "capture" if op == "approve" else "deny", "accept" if op == "approve" else "deny")
                code, message = tx.status_code, f"Success, transaction is {'approved' if op == 'approve' else 'denied'}"
            else:
                raise SimError(412, dict(CANNOT_MODIFY))
            self._notify(tx)
            return tx.body(self.server_key, message, status_code=code)

    def _snap_create(self, payload, headers) -> dict:
        data = parse_snap_request(payload)
        urls = None
        override, append = headers.get("X-Override-Notification"), headers.get("X-Append-Notification")
        if override or append:
            base = [] if override else ([self.notify_url] if self.notify_url else [])
            urls = base + [u.strip() for u in (override or append).split(",") if u.strip()][:3]
        with self._lock:
            if data["order_id"] in self._transactions:
                raise SnapError(400, "transaction_details.order_id sudah digunakan")
            tx = Transaction(token=str(uuid.uuid4()), notify_urls=urls, **data)
            self._transactions[tx.order_id] = tx
            return tx

    def _page_submit(self, token: str, form: dict) -> tuple[Transaction, str | None]:
        """Apply the payment page choice; return the transaction and the finish URL to redirect to (if any)."""
        action = {"pay": "complete", "deny": "deny", "cancel": "cancel", "expire": "expire"}.get(form.get("action", ""))
        with self._lock:
            tx = self._by_token(token)
            if action is None or tx.transaction_status != "pending":
                return tx, None
            choices = payment_types_for(tx.enabled_payments)
            ptype = form.get("payment_type") if form.get("payment_type") in choices else choices[0]
            self.apply(tx.order_id, action, payment_type=ptype, notify=False)
            events = self._notify(tx)
        for event in events:        # let the merchant see the notification before the browser comes back
            event.wait(3)
        if not tx.finish_url:
            return tx, None
        query = urlencode({"order_id": tx.order_id, "status_code": tx.status_code,
                           "transaction_status": tx.transaction_status})
        return tx, tx.finish_url + ("&" if "?" in tx.finish_url else "?") + query

    def _check_faults(self) -> None:
        faults = self.faults
        if faults["delay_ms"]:
            time.sleep(faults["delay_ms"] / 1000)
        if faults["down"]:
            raise SimError(503, {"status_code": "503", "status_message": "Midtrans is under maintenance (simulated)",
                                 "error_messages": ["Midtrans is under maintenance (simulated)"]})
        if faults["error_rate"] and self._rng.random() < faults["error_rate"]:
            msg = "Sorry. Our system is recovering from unexpected issues. Please retry."
            raise SimError(500, {"status_code": "500", "status_message": msg, "error_messages": [msg]})

    def _authorized(self, headers) -> bool:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            user = base64.b64decode(auth[6:]).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return False
        return bool(user) and user == self.server_key


# ---------------------------------------------------------------------- HTTP layer
_ROUTES = [(method, re.compile(pattern + r"/?$"), name) for method, pattern, name in [
    ("POST", r"/snap/v1/transactions", "snap"),
    ("GET", r"/v2/(?P<key>[^/]+)/(?P<op>status)", "core"),
    ("POST", r"/v2/(?P<key>[^/]+)/(?P<op>cancel|expire|approve|deny)", "core"),
    ("GET", r"/snap/v4/redirection/(?P<token>[^/]+)", "page"),
    ("POST", r"/snap/v4/redirection/(?P<token>[^/]+)", "page_submit"),
    ("GET", r"/_sim/health", "sim_health"),
    ("GET", r"/_sim/transactions", "sim_list"),
    ("POST", r"/_sim/transactions", "sim_create"),
    ("GET", r"/_sim/transactions/(?P<key>[^/]+)", "sim_get"),
    ("POST", r"/_sim/transactions/(?P<key>[^/]+)/(?P<action>%s)" % "|".join(ACTIONS), "sim_action"),
    ("POST", r"/_sim/notify/(?P<key>[^/]+)", "sim_notify"),
    ("POST", r"/_sim/notify-sequence", "sim_sequence"),
    ("GET", r"/_sim/notifications", "sim_notifications"),
    ("POST", r"/_sim/reset", "sim_reset"),
    ("GET", r"/_sim/faults", "sim_faults"),
    ("POST", r"/_sim/faults", "sim_faults"),
]]


class _Handler(BaseHTTPRequestHandler):
    # Headers and body leave in separate writes: without TCP_NODELAY, Nagle + the client's delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    server_version = "MidtransSimulator/1.0"
    # Persistent connections like the real API (every response has a Content-Length): a client reusing its
    # connection pays no TCP setup per call.
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.server.open_connections.add(self.connection)

    def finish(self):
        self.server.open_connections.discard(self.connection)
        super().finish()

    @property
    def sim(self) -> MidtransSimulator:
        return self.server.sim

    def log_message(self, fmt, *args):
        if self.sim.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(length) if length else b""
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(parts.path)
            if match and route_method == method:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                try:
                    getattr(self, "h_" + name)(**params)
                except SimError as exc:
                    self._json(exc.status, exc.body)
                except SnapError as exc:
                    self._json(exc.status, {"error_messages": exc.messages})
                return
        self._json(404, {"status_code": "404", "status_message": "The requested resource is not found"})

    # -- response helpers
    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _html(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/html; charset=utf-8")

    def _body(self) -> dict:
        if not self.raw:
            return {}
        try:
            data = json.loads(self.raw)
        except ValueError:
            raise SimError(400, {"error": "body is not valid JSON"}) from None
        if not isinstance(data, dict):
            raise SimError(400, {"error": "body must be a JSON object"})
        return data

    # -- Midtrans API
    def h_snap(self):
        self.sim._check_faults()
        if not self.sim._authorized(self.headers):
            msg = "Access denied due to unauthorized transaction, please check client or server key"
            return self._json(401, {"status_code": "401", "status_message": msg, "error_messages": [
                msg, "Visit https://snap-docs.midtrans.com/#request-headers for more details"]})
        try:
            payload = json.loads(self.raw or b"null")
        except ValueError:
            raise SnapError(400, "Request body is not valid JSON") from None
        tx = self.sim._snap_create(payload, self.headers)
        origin = f"http://{self.headers.get('Host')}" if self.headers.get("Host") else self.sim.url
        self._json(201, {"token": tx.token, "redirect_url": f"{origin}/snap/v4/redirection/{tx.token}"})

    def h_core(self, key, op):
        self.sim._check_faults()
        if not self.sim._authorized(self.headers):
            return self._json(401, {"status_code": "401", "status_message": "Unknown Merchant server_key/id",
                                    "id": str(uuid.uuid4())})
        self._json(200, self.sim._core_action(key, op))

    def h_page(self, token):
        self.sim._check_faults()
        self._html(200, _payment_page(self.sim._by_token(token)))

    def h_page_submit(self, token):
        self.sim._check_faults()
        form = {k: v[-1] for k, v in parse_qs(self.raw.decode()).items()}
        tx, redirect = self.sim._page_submit(token, form)
        if redirect:
            return self._send(303, b"", "text/plain", {"Location": redirect})
        self._html(200, _result_page(tx))

    # -- automation API
    def h_sim_health(self):
        self._json(200, {"ok": True, "url": self.sim.url})

    def h_sim_list(self):
        self._json(200, {"transactions": self.sim.transactions})

    def h_sim_create(self):
        body = self._body()
        if not body.get("order_id") or body.get("gross_amount") is None:
            raise SimError(400, {"error": "order_id and gross_amount are required"})
        self._json(201, self.sim.create(body["order_id"], body["gross_amount"], body.get("payment_type"),
                                        body.get("notify_url")))

    def h_sim_get(self, key):
        self._json(200, self.sim.transaction(key))

    def h_sim_action(self, key, action):
        self._json(200, self.sim.apply(key, action, **_opts(self._body(), _ACTION_OPTS)))

    def h_sim_notify(self, key):
        opts = _opts(self._body(), {"repeat", "notify_url", "gross_amount_override", "bad_signature"})
        self.sim.notify(key, **opts)
        self._json(200, self.sim.status(key))

    def h_sim_sequence(self):
        body = self._body()
        if not body.get("order_id") or not isinstance(body.get("statuses"), list):
            raise SimError(400, {"error": "order_id and statuses (list) are required"})
        opts = _opts(body, {"order_id", "statuses", "final_status", "notify_url", "payment_type"})
        self._json(200, self.sim.notify_sequence(**opts))

    def h_sim_notifications(self):
        timeout = float(self.query.get("timeout", 5))
        if "min" in self.query:
            self.sim.wait_for_notifications(int(self.query["min"]), self.query.get("order_id"), timeout)
        if self.query.get("wait") in ("1", "true"):
            self.sim.wait_idle(timeout)
        self._json(200, {"notifications": self.sim._notifier.entries(self.query.get("order_id"))})

    def h_sim_reset(self):
        self.sim.reset()
        self._json(200, {"ok": True})

    def h_sim_faults(self):
        self._json(200, self.sim.set_faults(**self._body()) if self.command == "POST" else dict(self.sim.faults))


_ACTION_OPTS = {"payment_type", "fraud_status", "paid_amount", "notify", "repeat", "notify_url",
                "gross_amount_override", "bad_signature"}


def _opts(body: dict, allowed: set) -> dict:
    unknown = set(body) - allowed
    if unknown:
        raise SimError(400, {"error": f"unknown options {sorted(unknown)}", "allowed": sorted(allowed)})
    return body


_STYLE = ("body{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}dt{font-weight:bold}"
          "dd{margin:0 0 .6rem}button{margin:.3rem .3rem 0 0;padding:.5rem 1rem}")


def _rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


def _page(title: str, content: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><main><h1>Midtrans simulator</h1>{content}</main></body></html>")


def _summary(tx: Transaction) -> str:
    return (f'<dl><dt>Order ID</dt><dd id="order-id">{html.escape(tx.order_id)}</dd>'
            f'<dt>Amount</dt><dd id="amount" data-amount="{tx.gross_amount}">{_rupiah(tx.gross_amount)}</dd>'
            f'<dt>Status</dt><dd id="status">{html.escape(tx.transaction_status)}</dd></dl>')


def _payment_page(tx: Transaction) -> str:
    if tx.transaction_status != "pending":
        return _result_page(tx)
    options = "".join(f'<option value="{p}">{p}</option>' for p in payment_types_for(tx.enabled_payments))
    return _page(f"Pay {tx.order_id}", _summary(tx) + (
        '<form method="post"><label>Payment method <select name="payment_type" id="payment-type">'
        f"{options}</select></label><div>"
        '<button type="submit" name="action" value="pay" id="pay">Pay</button>'
        '<button type="submit" name="action" value="deny" id="deny">Deny</button>'
        '<button type="submit" name="action" value="cancel" id="cancel">Cancel</button>'
        '<button type="submit" name="action" value="expire" id="expire">Let it expire</button></div></form>'))


def _result_page(tx: Transaction) -> str:
    link = f'<p><a id="finish" href="{html.escape(tx.finish_url)}">Back to merchant</a></p>' if tx.finish_url else ""
    return _page(f"{tx.order_id}: {tx.transaction_status}",
                 _summary(tx) + f"<p>Transaction is <strong>{html.escape(tx.transaction_status)}</strong>.</p>{link}")
