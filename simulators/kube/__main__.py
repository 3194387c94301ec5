"""Command line: `python -m simulators.kube --port 8001 [--pod-start-delay 0.5] [--nodes 3] [--state-file f.json]`."""
from __future__ import annotations

import argparse
import json
import sys

from .simulator import KubeSimulator


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulators.kube", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    p.add_argument("--pod-start-delay", type=float, default=0.5, help="seconds a pod stays Pending")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--state-file", default=None, help="JSON snapshot loaded at start and written periodically/at exit")
    p.add_argument("--faults", default=None, help='initial faults as JSON, e.g. \'{"crash_loop": ["ghost"]}\'')
    p.add_argument("--token", default=None, help="require this bearer token (default: accept any request)")
    p.add_argument("--no-system-workloads", action="store_true", help="do not seed kube-system deployments")
    p.add_argument("--kubeconfig", default=None, help="write a kubeconfig for this simulator to this path")
    p.add_argument("--verbose", action="store_true", help="log every request")
    args = p.parse_args(argv)
    sim = KubeSimulator(host=args.host, port=args.port, pod_start_delay=args.pod_start_delay, nodes=args.nodes,
                        state_file=args.state_file, faults=json.loads(args.faults) if args.faults else None,
                        token=args.token, system_workloads=not args.no_system_workloads, verbose=args.verbose)
    sim.start()
    if args.kubeconfig:
        sim.write_kubeconfig(args.kubeconfig)
    print(f"kube simulator listening on {sim.url}" + (f" (kubeconfig: {args.kubeconfig})" if args.kubeconfig else ""),
          file=sys.stderr, flush=True)
    sim.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
