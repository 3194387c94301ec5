"""Midtrans simulator over real HTTP: the real `midtransclient` against it, the payment page, notifications, /_sim API."""
import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import midtransclient
import pytest
import requests
from midtransclient.config import ApiConfig
from midtransclient.error_midtrans import MidtransAPIError

from simulators.midtrans import MidtransSimulator, notification_signature

KEY, CLIENT_KEY = "SB-Mid-server-test", "SB-Mid-client-test"


class Receiver:
    """Stand-in merchant webhook: records JSON bodies, answers with queued statuses (then 200)."""

    def __init__(self):
        self.received, self.replies, self.cond = [], [], threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.cond:
                    status = receiver.replies.pop(0) if receiver.replies else 200
                    receiver.received.append(body)
                    receiver.cond.notify_all()
                payload = json.dumps({"success": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/wallet/webhook/midtrans"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, count, timeout=5):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)


def verifies(body, key=KEY):
    expected = hashlib.sha512((body["order_id"] + body["status_code"] + body["gross_amount"] + key).encode()).hexdigest()
    return body["signature_key"] == expected


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def sim(receiver):
    with MidtransSimulator(server_key=KEY, client_key=CLIENT_KEY, notify_url=receiver.url, retry_delay=0.05) as s:
        yield s


def snap_for(sim, key=KEY, **kw):
    snap = midtransclient.Snap(is_production=False, server_key=key, client_key=CLIENT_KEY, **kw)
    snap.api_config.SNAP_SANDBOX_BASE_URL = sim.url + "/snap/v1"
    snap.api_config.CORE_SANDBOX_BASE_URL = sim.url
    return snap


def core_for(sim, key=KEY):
    core = midtransclient.CoreApi(is_production=False, server_key=key, client_key=CLIENT_KEY)
    core.api_config.CORE_SANDBOX_BASE_URL = sim.url
    return core


def snap_params(order_id, amount=150000, finish=None):
    params = {
        "transaction_details": {"order_id": order_id, "gross_amount": amount},
        "customer_details": {"first_name": "Ani", "email": "ani@example.com", "phone": ""},
        "item_details": [{"id": "topup-credit", "price": amount, "quantity": 1, "name": "Credit Top-Up",
                          "category": "Digital Credit"}],
        "expiry": {"start_time": "2026-01-02 10:00:00 +0700", "unit": "minutes", "duration": 60},
    }
    if finish:
        params["callbacks"] = {"finish": finish, "unfinish": finish, "error": finish}
    return params


def test_instance_base_url_override_reaches_simulator_and_leaves_class_alone(sim):
    snap = snap_for(sim)
    assert snap.api_config.get_snap_base_url() == sim.url + "/snap/v1"
    assert ApiConfig.SNAP_SANDBOX_BASE_URL == "https://app.sandbox.midtrans.com/snap/v1"
    assert ApiConfig.CORE_SANDBOX_BASE_URL == "https://api.sandbox.midtrans.com"
    result = snap.create_transaction(snap_params("ord-create-1"))
    assert re.fullmatch(r"[0-9a-f-]{36}", result["token"])
    assert result["redirect_url"] == f"{sim.url}/snap/v4/redirection/{result['token']}"
    tx = sim.transaction("ord-create-1")
    assert (tx["transaction_status"], tx["gross_amount"], tx["expiry_time"]) == ("pending", 150000, "2026-01-02 11:00:00")
    assert snap.transactions.status("ord-create-1")["transaction_status"] == "pending"   # Snap's Core base too


def test_snap_duplicate_order_wrong_key_and_validation(sim):
    snap = snap_for(sim)
    snap.create_transaction(snap_params("ord-dup"))
    with pytest.raises(MidtransAPIError) as err:
        snap.create_transaction(snap_params("ord-dup"))
    assert err.value.http_status_code == 400
    assert err.value.api_response_dict == {"error_messages": ["transaction_details.order_id sudah digunakan"]}

    with pytest.raises(MidtransAPIError) as err:
        snap_for(sim, key="SB-Mid-server-wrong").create_transaction(snap_params("ord-key"))
    assert err.value.http_status_code == 401
    assert err.value.api_response_dict["status_code"] == "401" and err.value.api_response_dict["error_messages"]
    assert requests.post(sim.url + "/snap/v1/transactions", json=snap_params("ord-noauth")).status_code == 401

    bad = [({"order_id": "ord-v1", "gross_amount": 0}, "greater than"),
           ({"order_id": "ord-v2", "gross_amount": 1000.5}, "integer"),
           ({"gross_amount": 1000}, "order_id is required")]
    for details, text in bad:
        with pytest.raises(MidtransAPIError) as err:
            snap.create_transaction({"transaction_details": details})
        assert err.value.http_status_code == 400 and text in " ".join(err.value.api_response_dict["error_messages"])
    params = snap_params("ord-v3")
    params["item_details"][0]["price"] = 1
    with pytest.raises(MidtransAPIError, match="sum of item_details"):
        snap.create_transaction(params)
    assert [t["order_id"] for t in sim.transactions] == ["ord-dup"]


def test_core_status_complete_cancel_expire_and_unknown(sim):
    snap, core = snap_for(sim), core_for(sim)
    for order in ("ord-a", "ord-b", "ord-c"):
        snap.create_transaction(snap_params(order))
    status = core.transactions.status("ord-a")
    assert (status["status_code"], status["transaction_status"], status["gross_amount"], status["currency"]) == (
        "201", "pending", "150000.00", "IDR")
    sim.complete("ord-a", payment_type="qris", notify=False)
    status = core.transactions.status("ord-a")
    assert (status["status_code"], status["transaction_status"], status["payment_type"], status["fraud_status"]) == (
        "200", "settlement", "qris", "accept")
    assert verifies(status) and status["settlement_time"]
    # the library's notification helper looks the status up by transaction_id
    assert core.transactions.notification({"transaction_id": status["transaction_id"]})["order_id"] == "ord-a"

    cancelled = core.transactions.cancel("ord-b")
    assert (cancelled["status_code"], cancelled["transaction_status"]) == ("200", "cancel")
    expired = core.transactions.expire("ord-c")
    assert (expired["status_code"], expired["transaction_status"]) == ("407", "expire")
    assert core.transactions.status("ord-c")["status_code"] == "202"

    with pytest.raises(MidtransAPIError) as err:
        core.transactions.cancel("ord-a")            # settled
    assert err.value.http_status_code == 412
    with pytest.raises(MidtransAPIError) as err:
        core.transactions.status("no-such-order")
    assert err.value.http_status_code == 404
    assert err.value.api_response_dict == {"status_code": "404", "status_message": "Transaction doesn't exist."}
    with pytest.raises(MidtransAPIError) as err:
        core_for(sim, key="wrong").transactions.status("ord-a")
    assert err.value.http_status_code == 401
    events = [(e["order_id"], e["transaction_status"]) for e in sim.wait_for_notifications(2)]
    assert events == [("ord-b", "cancel"), ("ord-c", "expire")]    # API cancel/expire notify too


def test_payment_page_pay_redirects_to_finish_and_notifies(sim, receiver):
    finish = "http://merchant.test/wallet/finish?from=snap"
    redirect_url = snap_for(sim).create_transaction(snap_params("ord-page", 250000, finish))["redirect_url"]
    page = requests.get(redirect_url)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "ord-page" in page.text and "Rp 250.000" in page.text
    for label in ("Pay", "Deny", "Cancel", "Let it expire"):
        assert f">{label}</button>" in page.text
    assert "http" not in page.text.replace(finish, "")          # no external assets

    resp = requests.post(redirect_url, data={"action": "pay", "payment_type": "qris"}, allow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["Location"] == finish + "&order_id=ord-page&status_code=200&transaction_status=settlement"
    body = receiver.wait(1)[0]                     # delivered before the redirect
    assert (body["order_id"], body["transaction_status"], body["payment_type"], body["gross_amount"]) == (
        "ord-page", "settlement", "qris", "250000.00")
    assert verifies(body)
    assert body["signature_key"] == notification_signature("ord-page", "200", "250000.00", KEY)
    log = sim.notifications
    assert len(log) == 1 and log[0]["url"] == receiver.url and log[0]["status"] == 200 and log[0]["body"] == body

    again = requests.post(redirect_url, data={"action": "deny"}, allow_redirects=False)   # no longer pending
    assert again.status_code == 200 and "settlement" in again.text


def test_payment_page_without_finish_shows_result(sim, receiver):
    redirect_url = snap_for(sim).create_transaction(snap_params("ord-nofinish"))["redirect_url"]
    resp = requests.post(redirect_url, data={"action": "expire"})
    assert resp.status_code == 200 and 'id="status">expire<' in resp.text
    body = receiver.wait(1)[0]
    assert (body["transaction_status"], body["status_code"]) == ("expire", "202") and verifies(body)
    assert requests.get(sim.url + "/snap/v4/redirection/not-a-token").status_code == 404


def test_repeat_sequence_bad_signature_and_amount_override(sim, receiver):
    sim.create("ord-r", 100000)
    sim.complete("ord-r", repeat=3)
    first = receiver.wait(3)
    assert len(first) == 3 and first[0] == first[1] == first[2] and verifies(first[0])

    sim.create("ord-s", 50000)
    final = sim.notify_sequence("ord-s", ["settlement", "pending"])
    got = receiver.wait(5)[3:]
    assert [(b["transaction_status"], b["status_code"]) for b in got] == [("settlement", "200"), ("pending", "201")]
    assert all(verifies(b) for b in got) and final["transaction_status"] == "settlement"
    assert sim.status("ord-s")["transaction_status"] == "settlement"

    sim.notify("ord-r", bad_signature=True)
    forged = receiver.wait(6)[5]
    assert forged["transaction_status"] == "settlement" and not verifies(forged)

    sim.notify("ord-r", gross_amount_override="1000000.00")
    tampered = receiver.wait(7)[6]
    assert tampered["gross_amount"] == "1000000.00" and not verifies(tampered)
    assert tampered["signature_key"] == first[0]["signature_key"]        # signed before the amount was changed
    assert sim.status("ord-r")["gross_amount"] == "100000.00"            # Midtrans still knows the real amount

    sim.complete("ord-r", paid_amount=90000)                             # genuine mismatch: validly signed
    mismatch = receiver.wait(8)[7]
    assert mismatch["gross_amount"] == "90000.00" and verifies(mismatch)
    assert sim.status("ord-r")["gross_amount"] == "90000.00"


def test_retries_and_override_header(sim, receiver):
    receiver.replies[:] = [500, 503]
    sim.create("ord-retry", 20000)
    sim.complete("ord-retry", fraud_status="challenge", payment_type="credit_card")
    assert sim.wait_idle()
    log = sim.notifications
    assert [(e["attempt"], e["status"]) for e in log] == [(1, 500), (2, 503), (3, 200)]
    assert log[0]["body"]["transaction_status"] == "capture" and log[0]["body"]["fraud_status"] == "challenge"

    other = Receiver()
    try:
        snap = snap_for(sim, custom_headers={"X-Override-Notification": other.url})
        snap.create_transaction(snap_params("ord-override"))
        sim.deny("ord-override")
        body = other.wait(1)[0]
        assert (body["order_id"], body["transaction_status"], body["status_code"]) == ("ord-override", "deny", "202")
        assert len(receiver.received) == 3
    finally:
        other.server.shutdown()
        other.server.server_close()


def test_faults(sim):
    snap, core = snap_for(sim), core_for(sim)
    snap.create_transaction(snap_params("ord-f"))
    sim.set_faults(down=True)
    with pytest.raises(MidtransAPIError) as err:
        core.transactions.status("ord-f")
    assert err.value.http_status_code == 503
    with pytest.raises(MidtransAPIError) as err:
        snap.create_transaction(snap_params("ord-f2"))
    assert err.value.http_status_code == 503
    assert requests.get(sim.url + "/_sim/transactions").status_code == 200     # automation API stays up
    requests.post(sim.url + "/_sim/faults", json={"down": False, "error_rate": 1.0}).raise_for_status()
    with pytest.raises(MidtransAPIError) as err:
        core.transactions.status("ord-f")
    assert err.value.http_status_code == 500
    assert sim.set_faults(error_rate=0, delay_ms=50)["delay_ms"] == 50
    assert core.transactions.status("ord-f")["transaction_status"] == "pending"
    sim.set_faults(unopened_404=True)
    with pytest.raises(MidtransAPIError) as err:
        core.transactions.cancel("ord-f")                 # Snap order nobody opened yet
    assert err.value.http_status_code == 404
    sim.pending("ord-f", payment_type="bank_transfer", notify=False)
    assert core.transactions.status("ord-f")["payment_type"] == "bank_transfer"
    sim.reset()
    assert sim.faults["down"] is False and sim.transactions == []


def test_sim_http_api(sim, receiver):
    api = sim.url + "/_sim"
    assert requests.post(api + "/transactions", json={"order_id": "ord-h", "gross_amount": 75000}).status_code == 201
    resp = requests.post(api + "/transactions/ord-h/complete", json={"payment_type": "gopay", "repeat": 2})
    assert resp.status_code == 200 and resp.json()["transaction_status"] == "settlement"
    log = requests.get(api + "/notifications", params={"min": 2, "order_id": "ord-h"}).json()["notifications"]
    assert [e["body"]["payment_type"] for e in log] == ["gopay", "gopay"]
    assert requests.post(api + "/notify/ord-h", json={"repeat": 2}).status_code == 200
    seq = requests.post(api + "/notify-sequence", json={"order_id": "ord-h", "statuses": ["refund", "settlement"],
                                                         "final_status": "refund"})
    assert seq.json()["transaction_status"] == "refund"
    assert [b["transaction_status"] for b in receiver.wait(6)] == ["settlement"] * 4 + ["refund", "settlement"]
    assert requests.get(api + "/transactions").json()["transactions"][0]["transaction_status"] == "refund"
    assert requests.post(api + "/transactions/ord-h/complete", json={"bogus": 1}).status_code == 400
    assert requests.post(api + "/transactions/nope/cancel", json={}).status_code == 404
    assert requests.post(api + "/reset").json() == {"ok": True}
    assert requests.get(api + "/notifications").json() == {"notifications": []}


def test_no_notify_url_is_logged(receiver):
    with MidtransSimulator(server_key=KEY) as sim:
        sim.create("ord-nowhere", 10000)
        sim.complete("ord-nowhere")
        assert sim.notifications[0]["error"] == "no notification URL configured"


def test_command_line_prints_url_and_serves():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "simulators.midtrans", "--port", str(port), "--server-key", KEY],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        assert requests.get(f"http://127.0.0.1:{port}/_sim/health").json()["ok"] is True
    finally:
        proc.terminate()
        proc.wait(5)
