"""Fixtures for the money tests: the Midtrans simulator (one per session, reset per test) with the app pointed at
it by settings alone, signed notifications, and a live server for the end-to-end path."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from simulators.midtrans import MidtransSimulator

SERVER_KEY, CLIENT_KEY = "SB-Mid-server-poddesk-test", "SB-Mid-client-poddesk-test"
WEBHOOK = "/api/wallet/webhook/midtrans"
_SETTINGS = ("MIDTRANS_SERVER_KEY", "MIDTRANS_CLIENT_KEY", "MIDTRANS_API_BASE_URL", "MIDTRANS_TIMEOUT",
             "MIDTRANS_NOTIFICATION_URL", "MIDTRANS_IS_PRODUCTION")


@pytest.fixture(scope="session")
def midtrans_sim():
    sim = MidtransSimulator(server_key=SERVER_KEY, client_key=CLIENT_KEY, retries=1, retry_delay=0.05).start()
    yield sim
    sim.stop()


@pytest.fixture
def midtrans(app, midtrans_sim):
    """The app configured for the simulator (restored afterwards); yields the simulator."""
    saved = {key: app.config.get(key) for key in _SETTINGS}
    midtrans_sim.reset()
    app.config.update(MIDTRANS_SERVER_KEY=SERVER_KEY, MIDTRANS_CLIENT_KEY=CLIENT_KEY,
                      MIDTRANS_API_BASE_URL=midtrans_sim.url, MIDTRANS_TIMEOUT=2.0, MIDTRANS_NOTIFICATION_URL=None,
                      MIDTRANS_IS_PRODUCTION=False)
    yield midtrans_sim
    midtrans_sim.reset()
    app.config.update(saved)


def signed(sim, order_id: str, **changes) -> dict:
    """The notification Midtrans would post for the order's current state (validly signed)."""
    body = sim.status(order_id)
    body["status_message"] = "midtrans payment notification"
    body.update(changes)
    return body


class LiveServer:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served_app(app, committing_db):
    server = LiveServer(app)
    yield server
    server.stop()
