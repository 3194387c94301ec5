"""The one module that talks to Midtrans, through `midtransclient` (Snap + Core API), built from settings.

- `gateway()` returns a `MidtransGateway` for the current app's settings (cached per app and settings, so a
  test that points `MIDTRANS_API_BASE_URL` at the simulator gets a client for it). `MIDTRANS_API_BASE_URL`
  overrides both the Snap (`<base>/snap/v1`) and the Core (`<base>`) base URLs on the client's own
  `api_config` instance; unset, the library's sandbox/production hosts apply (`MIDTRANS_IS_PRODUCTION`).
- Every HTTP call has a timeout (`MIDTRANS_TIMEOUT`) and reuses connections: the library's `http_client`
  attribute (the `requests` module by default) is given a per-thread `requests.Session` with a default timeout.
- Failures become typed errors: unreachable / 5xx / garbage → `PaymentProviderUnavailable` (503), Midtrans 404
  "Transaction doesn't exist." → `ProviderTransactionNotFound`, 412 → `ProviderCannotModify`, other 4xx →
  `PaymentGatewayError` (502). Callers never see `requests` or `midtransclient` exceptions.
- `verify_notification_signature(body, server_key)`: SHA-512(order_id + status_code + gross_amount + key),
  compared in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from dataclasses import dataclass

import midtransclient
import requests
from flask import current_app
from midtransclient.error_midtrans import JSONDecodeError, MidtransAPIError

from ..errors import DomainError

log = logging.getLogger(__name__)


class PaymentProviderNotConfigured(DomainError):
    status, message = 503, "Payment service is not configured"


class PaymentProviderUnavailable(DomainError):
    status, message = 503, "Payment service is temporarily unavailable. Please try again later."


class PaymentGatewayError(DomainError):
    """Midtrans refused a request (4xx other than 404/412): our request was wrong; logged with its details."""

    status, message = 502, "Payment gateway error"


class ProviderTransactionNotFound(PaymentGatewayError):
    """Midtrans has no such order (e.g. a Snap order nobody opened yet)."""

    status, message = 404, "Transaction doesn't exist at the payment provider"


class ProviderCannotModify(PaymentGatewayError):
    status, message = 412, "The payment provider cannot change this transaction's status"


# ------------------------------------------------------------------------------------------ signatures
def notification_signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def verify_notification_signature(body: dict, server_key: str | None) -> bool:
    """True when `signature_key` is SHA-512(order_id + status_code + gross_amount + server_key) of the strings as posted."""
    if not server_key or not isinstance(body, dict):
        return False
    parts = [body.get(key) for key in ("order_id", "status_code", "gross_amount", "signature_key")]
    if not all(isinstance(part, str) and part for part in parts):
        return False
    order_id, status_code, gross_amount, signature = parts
    expected = notification_signature(order_id, status_code, gross_amount, server_key)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


# ------------------------------------------------------------------------------------------ HTTP
class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float, trust_env: bool):
        super().__init__()
        self.default_timeout = timeout
        self.trust_env = trust_env

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)


class _PerThreadSessions:
    """What `midtransclient.HttpClient.http_client` calls `.request(...)` on: one pooled Session per thread."""

    def __init__(self, timeout: float, trust_env: bool):
        self._local = threading.local()
        self._timeout, self._trust_env = timeout, trust_env

    def request(self, method, url, **kwargs):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _TimeoutSession(self._timeout, self._trust_env)
        return session.request(method, url, **kwargs)


@dataclass(frozen=True)
class Settings:
    server_key: str
    client_key: str
    is_production: bool
    base_url: str | None
    timeout: float
    notification_url: str | None

    @classmethod
    def from_config(cls, config) -> "Settings":
        return cls(server_key=config.get("MIDTRANS_SERVER_KEY") or "", client_key=config.get("MIDTRANS_CLIENT_KEY") or "",
                   is_production=bool(config.get("MIDTRANS_IS_PRODUCTION")),
                   base_url=(config.get("MIDTRANS_API_BASE_URL") or "").rstrip("/") or None,
                   timeout=float(config.get("MIDTRANS_TIMEOUT") or 10),
                   notification_url=config.get("MIDTRANS_NOTIFICATION_URL") or None)


class MidtransGateway:
    def __init__(self, settings: Settings):
        self.settings = settings
        http = _PerThreadSessions(settings.timeout, trust_env=settings.base_url is None)
        headers = {"X-Override-Notification": settings.notification_url} if settings.notification_url else {}
        # custom_headers passed explicitly: the library's default argument is one shared dict.
        self.snap = midtransclient.Snap(is_production=settings.is_production, server_key=settings.server_key,
                                        client_key=settings.client_key, custom_headers=headers, proxies={})
        self.core = midtransclient.CoreApi(is_production=settings.is_production, server_key=settings.server_key,
                                           client_key=settings.client_key, custom_headers={}, proxies={})
        for client in (self.snap, self.core):
            client.http_client.http_client = http
            if settings.base_url:
                config = client.api_config
                if settings.is_production:
                    config.SNAP_PRODUCTION_BASE_URL = f"{settings.base_url}/snap/v1"
                    config.CORE_PRODUCTION_BASE_URL = settings.base_url
                else:
                    config.SNAP_SANDBOX_BASE_URL = f"{settings.base_url}/snap/v1"
                    config.CORE_SANDBOX_BASE_URL = settings.base_url

    # -- calls
    def create_snap_transaction(self, payload: dict) -> dict:
        """Snap "create transaction": returns {token, redirect_url}."""
        result = self._call("snap", lambda: self.snap.create_transaction(payload))
        if not isinstance(result, dict) or not result.get("token") or not result.get("redirect_url"):
            raise PaymentProviderUnavailable()
        return result

    def status(self, order_id: str) -> dict:
        return self._call("status", lambda: self.core.transactions.status(order_id))

    def cancel(self, order_id: str) -> dict:
        return self._call("cancel", lambda: self.core.transactions.cancel(order_id))

    def expire(self, order_id: str) -> dict:
        return self._call("expire", lambda: self.core.transactions.expire(order_id))

    @staticmethod
    def _call(what: str, fn):
        try:
            return fn()
        except MidtransAPIError as exc:
            body = exc.api_response_dict if isinstance(exc.api_response_dict, dict) else {}
            code = _int(body.get("status_code")) or exc.http_status_code
            log.warning("Midtrans %s failed: HTTP %s, status_code %s, %s", what, exc.http_status_code,
                        body.get("status_code"), body.get("status_message") or body.get("error_messages"))
            if exc.http_status_code >= 500 or code >= 500 or exc.http_status_code in (401, 429):
                raise PaymentProviderUnavailable() from None
            if code == 404:
                raise ProviderTransactionNotFound() from None
            if code == 412:
                raise ProviderCannotModify() from None
            raise PaymentGatewayError(data=None) from None
        except (requests.RequestException, JSONDecodeError, ValueError) as exc:
            log.warning("Midtrans %s unreachable: %s", what, exc)
            raise PaymentProviderUnavailable() from None


def _int(value) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


_cache_lock = threading.Lock()


def gateway() -> MidtransGateway:
    """The gateway for the current app's settings; 503 when no server key is configured."""
    settings = Settings.from_config(current_app.config)
    if not settings.server_key:
        raise PaymentProviderNotConfigured()
    cache = current_app.extensions.setdefault("poddesk_midtrans", {})
    with _cache_lock:
        client = cache.get(settings)
        if client is None:
            cache.clear()
            client = cache[settings] = MidtransGateway(settings)
    return client


def server_key() -> str | None:
    return current_app.config.get("MIDTRANS_SERVER_KEY") or None
