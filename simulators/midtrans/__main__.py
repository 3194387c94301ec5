"""Command line: run the Midtrans simulator in the foreground until interrupted."""
import argparse
import threading

from .server import MidtransSimulator


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.midtrans", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5558)
    parser.add_argument("--server-key", default="SB-Mid-server-sim")
    parser.add_argument("--client-key", default="SB-Mid-client-sim")
    parser.add_argument("--notify-url", default=None, help="merchant webhook, e.g. http://127.0.0.1:5000/api/wallet/webhook/midtrans")
    parser.add_argument("--unopened-404", action="store_true", help="Snap orders without a chosen payment method answer 404")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    sim = MidtransSimulator(args.host, args.port, args.server_key, args.client_key, args.notify_url,
                            unopened_404=args.unopened_404, verbose=args.verbose).start()
    print(f"Midtrans simulator on {sim.url} (Snap base {sim.snap_base_url}, Core base {sim.url}, "
          f"notifications -> {args.notify_url or 'nowhere'})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
