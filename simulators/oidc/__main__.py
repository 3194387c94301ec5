"""Command line: ``python -m simulators.oidc --host 127.0.0.1 --port 5556 [--issuer URL] [--client ID:SECRET:URIS]``.

Runs the simulator in the foreground until interrupted; prints its base URL first (port 0 picks a free one).
"""
from __future__ import annotations

import argparse
import logging

from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Client, OIDCSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.oidc",
                                     description="Local Google OpenID Connect simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5556)
    parser.add_argument("--issuer", help="issuer claim and discovery value (default: the base URL)")
    parser.add_argument("--client", action="append", default=[], type=_client, metavar="ID:SECRET:URI[,URI]",
                        help="register an OAuth client (repeatable); the default client is always present")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")

    sim = OIDCSimulator(host=args.host, port=args.port, issuer=args.issuer, clients=args.client).bind()
    print(f"OIDC simulator on {sim.url} (issuer {sim.issuer})", flush=True)
    print(f"  discovery: {sim.url}/.well-known/openid-configuration", flush=True)
    print(f"  default client: {DEFAULT_CLIENT_ID} / {DEFAULT_CLIENT_SECRET}", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


def _client(spec: str) -> Client:
    try:
        return Client.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    main()
