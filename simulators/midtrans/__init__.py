"""Local Midtrans payment simulator: Snap + Core API over HTTP, a payment page, signed HTTP notifications.

Modules: `state` (transactions, Snap validation, Midtrans-shaped bodies, `notification_signature`), `notifier` (background
delivery of notifications with retries and a log), `server` (HTTP routes, payment page, `/_sim/` automation API, faults,
`MidtransSimulator`), `__main__` (`python -m simulators.midtrans --port 5558 --server-key ... --notify-url ...`).

Pointing `midtransclient` (1.4.2) at it. Its base URLs are class attributes of `midtransclient.config.ApiConfig`; set them on
the client's own `api_config` *instance* (never on the class, never patch methods). Snap calls
`<SNAP base>/transactions`, the Core API (also `Snap.transactions.*`) calls `<CORE base>/v2/<id>/status|cancel|expire`,
both with HTTP Basic auth `server_key:` (empty password)::

    snap = midtransclient.Snap(is_production=False, server_key=KEY, client_key=CLIENT_KEY)
    snap.api_config.SNAP_SANDBOX_BASE_URL = f"{sim_url}/snap/v1"   # SNAP_PRODUCTION_BASE_URL when is_production=True
    snap.api_config.CORE_SANDBOX_BASE_URL = sim_url                 # only needed for snap.transactions.*
    core = midtransclient.CoreApi(is_production=False, server_key=KEY, client_key=CLIENT_KEY)
    core.api_config.CORE_SANDBOX_BASE_URL = sim_url                 # CORE_PRODUCTION_BASE_URL when is_production=True

Per-transaction notification URL: `Snap(..., custom_headers={"X-Override-Notification": url})` (comma-separated, max 3;
`X-Append-Notification` adds to the default). Pass `custom_headers` explicitly: the library's default is a shared dict.

Behaviour worth knowing: Snap orders are queryable as `pending` at once (`unopened_404=True` / fault `unopened_404` makes
status/cancel/expire answer 404 "Transaction doesn't exist." until a payment method was chosen, as real Midtrans does);
Core `cancel` answers status_code "200", `expire` "407" (midtransclient does not raise on 407); cancelling a settled
order → 412. Notifications use status_code 200 settlement/capture, 201 pending, 202 deny/cancel/expire/failure and
`signature_key = sha512(order_id + status_code + gross_amount + server_key)` over the strings as sent. Snap `expiry` is
recorded and reported as `expiry_time` but never enforced by the clock: call `expire`.
"""
from .server import MidtransSimulator, SimError
from .state import notification_signature

__all__ = ["MidtransSimulator", "SimError", "notification_signature"]
