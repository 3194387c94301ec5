"""The HTTP server class the three simulators share."""
from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer


class SimulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that stays quiet when a client hangs up mid-request.

    Clients that reset the connection (the fault tests cut connections on purpose, timeouts give up) are normal
    for a server; socketserver would print a traceback for each. Other errors are still printed."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)
