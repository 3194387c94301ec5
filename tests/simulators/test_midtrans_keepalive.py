"""The Midtrans simulator keeps HTTP/1.1 connections open (as the real API does) and closes them on stop()."""
import base64
import http.client
import json

from simulators.midtrans import MidtransSimulator

KEY = "SB-Mid-server-keepalive"


def _status(conn, order_id):
    auth = base64.b64encode(f"{KEY}:".encode()).decode()
    conn.request("GET", f"/v2/{order_id}/status", headers={"Authorization": f"Basic {auth}", "Accept": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_one_connection_serves_several_requests_and_stop_closes_it():
    sim = MidtransSimulator(server_key=KEY).start()
    try:
        sim.create("ORDER-KA-1", 25_000)
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
        first = _status(conn, "ORDER-KA-1")
        sock = conn.sock
        second = _status(conn, "ORDER-KA-1")
        assert conn.sock is sock  # the same TCP connection answered both
        assert first[0] == second[0] == 200 and first[1]["order_id"] == "ORDER-KA-1"
        missing = _status(conn, "ORDER-KA-404")
        assert missing[1]["status_code"] == "404" and conn.sock is sock
    finally:
        sim.stop()
    try:
        _status(conn, "ORDER-KA-1")
    except (ConnectionError, http.client.HTTPException, OSError):
        pass
    else:
        raise AssertionError("a kept-alive connection was still served after stop()")
