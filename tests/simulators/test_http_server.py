"""The simulators' shared HTTP server: a client resetting its connection is routine, not a printed traceback."""
import socket
import struct
import time
import urllib.request

from simulators.kube import KubeSimulator


def test_a_client_reset_prints_nothing_and_the_server_keeps_serving(capfd):
    with KubeSimulator(port=0, nodes=1) as sim:
        host, port = sim.url.rsplit("/", 1)[1].split(":")
        for _ in range(3):
            s = socket.create_connection((host, int(port)))
            s.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            s.close()
        time.sleep(0.3)
        with urllib.request.urlopen(sim.url + "/version", timeout=5) as r:
            assert r.status == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ConnectionResetError" not in err, err
