"""Cluster benchmark: admin pods route and console Pods page on a 50-node / 5,000-pod simulated cluster, and
provisioning throughput.

    .venv/bin/python -m bench.cluster [--pods 5000] [--nodes 50] [--instances 30] [--runs 7]

The Kubernetes simulator runs in a child process (real HTTP; the official client talks to it, as to an API server
on its own machine); the app runs in this process on a throw-away SQLite file, jobs on fakeredis run by an
in-process RQ worker. Times are server time (the Flask
test client calls the WSGI app directly; the simulator's own response time is included, as it would be).
Target: admin pods route and console Pods page < 500 ms (the median of --runs). Last line: `BENCH_JSON {...}`
(bench/run_all.py).
"""
from __future__ import annotations

import argparse
import atexit
import subprocess
import statistics
import sys
import tempfile
import time
from decimal import Decimal

from bench.benchutil import emit, free_port, machine_line, metric, print_metrics


CPU: dict[str, list[float]] = {}


def _timed(fn, runs: int, label: str = "") -> tuple[list[float], object]:
    """Wall times (ms) of `runs` calls; this process's CPU ms per call go to CPU[label] (the app's own work:
    decoding, rows, rendering; the simulator runs in another process), a figure other processes disturb less."""
    times, cpu, result = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    CPU[label] = cpu
    return times, result


def _fmt(times: list[float], label: str = "") -> str:
    cpu = f"   app CPU median {statistics.median(CPU[label]):7.1f} ms" if label in CPU else ""
    return (f"median {statistics.median(times):7.1f} ms   min {min(times):7.1f} ms   max {max(times):7.1f} ms   "
            f"(n={len(times)}){cpu}")


class SimulatorProcess:
    """`python -m simulators.kube` in a child process (its controller and JSON encoding do not share our GIL)."""

    def __init__(self, nodes: int, pod_start_delay: float):
        import urllib.request

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "simulators.kube", "--port", str(port), "--nodes",
                                      str(nodes), "--pod-start-delay", str(pod_start_delay)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Never outlive this process (a crash or Ctrl-C would leave a busy 5,000-pod simulator behind and skew
        # every later measurement on the machine).
        atexit.register(self.stop)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/version", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the Kubernetes simulator did not start") from None
                time.sleep(0.1)

    def post(self, path: str, body: dict) -> dict:
        import json
        import urllib.request

        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def requests(self) -> int:
        import json
        import urllib.request

        with urllib.request.urlopen(self.url + "/_sim/state", timeout=10) as r:
            return int(json.loads(r.read())["apiRequests"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--instances", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pod-start-delay", type=float, default=0.5)
    args = parser.parse_args(argv)

    print(f"machine: {machine_line()}")
    sim = SimulatorProcess(nodes=args.nodes, pod_start_delay=args.pod_start_delay)
    seeded = sim.post("/_sim/seed", {"pods": args.pods})
    print(f"simulator (separate process, as a real API server): {seeded['total_nodes']} nodes, "
          f"{seeded['total_pods']} pods (seeded in {seeded['seconds']:.1f} s) at {sim.url}")

    tmp = tempfile.mkdtemp(prefix="poddesk-bench-")
    from webapp import create_app

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/bench.sqlite", SQLALCHEMY_ENGINE_OPTIONS={},
                     REDIS_URL="fakeredis://", RATELIMIT_STORAGE_URI="memory://", RATELIMIT_ENABLED=False,
                     KUBE_API_URL=sim.url, KUBE_POLL_INTERVAL=0.2, KUBE_TIMEOUT_SECONDS=30,
                     PROVISION_READY_TIMEOUT=60, WTF_CSRF_ENABLED=False)
    from flask_login.utils import _create_identifier

    from jobs.queue import run_burst, set_worker_app
    from webapp.accounts.models import Role, User
    from webapp.accounts.passwords import hash_password
    from webapp.accounts.tokens import issue_access_token, parse_duration
    from webapp.catalog.models import PlanType, Service, ServiceCategory, ServicePlan
    from webapp.cluster.models import InstanceStatus, ServiceInstance
    from webapp.cluster.services import create_instance
    from webapp.db import utcnow
    from webapp.extensions import db
    from webapp.subscriptions.models import Subscription, SubscriptionStatus

    set_worker_app(app)
    with app.app_context():
        db.create_all()
        password = hash_password("password123", rounds=4)

        def user(i: int, role=Role.USER) -> User:
            u = User(name=f"Bench {i}", email=f"bench{i}@example.com", password_hash=password, role=role,
                     is_active=True, credit_balance=0, total_top_up=0, total_spent=0, token_version=0)
            db.session.add(u)
            return u

        admin = user(0, Role.ADMINISTRATOR)
        category = ServiceCategory(name="Apps", slug="apps", sort_order=0)
        db.session.add(category)
        db.session.flush()
        service = Service(name="Ghost Blog", slug="ghost-blog", docker_image="ghost:5-alpine", default_port=2368,
                          category_id=category.id, env_template={"NODE_ENV": "production"}, tags=[])
        db.session.add(service)
        db.session.flush()
        plan = ServicePlan(service_id=service.id, name="Basic", plan_type=PlanType.BASIC, monthly_price=50000,
                           cpu_milli=250, memory_mb=256, storage_gb=Decimal("1"), total_quota=10000, used_quota=0)
        db.session.add(plan)
        db.session.commit()
        token = issue_access_token(admin, secret=app.config["JWT_SECRET"], lifetime=parse_duration("1h"))
        admin_id = admin.get_id()
        service_id, plan_id = service.id, plan.id

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    with app.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    with client.session_transaction() as sess:
        sess.update({"_user_id": admin_id, "_fresh": True, "_id": identifier})

    def api_pods():
        r = client.get("/api/admin/k8s/pods", headers=headers)
        assert r.status_code == 200, r.status_code
        return r

    def console_pods():
        r = client.get("/admin/cluster/pods/")
        assert r.status_code == 200 and b"data-cluster-banner" not in r.data, r.status_code
        return r

    def console_nodes():
        r = client.get("/admin/cluster/nodes/")
        assert r.status_code == 200 and b"data-cluster-banner" not in r.data, r.status_code
        return r

    api_pods(), console_pods(), console_nodes()  # warm-up (imports, plotly, connection pool)
    before = sim.requests()
    figures = {}
    times, response = _timed(api_pods, args.runs, "api")
    figures["api"] = times
    per_call = (sim.requests() - before) / args.runs
    total = response.get_json()["data"]["total"]
    print(f"GET /api/admin/k8s/pods        {_fmt(times, 'api')}  {total} pods, {len(response.data) / 1e6:.1f} MB JSON, "
          f"{per_call:.0f} Kubernetes calls per request")
    times, response = _timed(console_pods, args.runs, "console")
    figures["console"] = times
    print(f"GET /admin/cluster/pods/       {_fmt(times, 'console')}  {len(response.data) / 1e3:.0f} kB HTML, 3 figures, "
          f"100 rows/page")
    times, response = _timed(console_nodes, args.runs, "nodes")
    figures["nodes"] = times
    print(f"GET /admin/cluster/nodes/      {_fmt(times, 'nodes')}  {len(response.data) / 1e3:.0f} kB HTML, 2 figures")
    with app.app_context():
        from webapp.cluster import monitoring

        times, _ = _timed(monitoring.list_pods, args.runs, "list_pods")
        print(f"  of which cluster.monitoring.list_pods() (2 list calls + parsing): {_fmt(times, 'list_pods')}")

    # ---- provisioning throughput: N instances, one in-process worker, until every one is RUNNING
    with app.app_context():
        ids = []
        for i in range(1, args.instances + 1):
            u = user(i)
            db.session.flush()
            sub = Subscription(user_id=u.id, service_id=service_id, plan_id=plan_id, status=SubscriptionStatus.ACTIVE,
                               start_date=utcnow(), end_date=utcnow(), monthly_price=50000, auto_renew=True,
                               failed_charges=0)
            db.session.add(sub)
            db.session.flush()
            ids.append(create_instance(sub).id)
        db.session.commit()
    t0 = time.perf_counter()
    run_burst(app)
    elapsed = time.perf_counter() - t0
    with app.app_context():
        statuses = [db.session.get(ServiceInstance, i).status for i in ids]
    running = sum(1 for s in statuses if s is InstanceStatus.RUNNING)
    print(f"provisioning: {running}/{len(ids)} RUNNING in {elapsed:.1f} s with 1 worker = "
          f"{running / elapsed * 60:.0f} instances/min per worker (pod start delay {args.pod_start_delay} s, "
          f"readiness poll 0.2 s; workers scale out: each job waits on its own rollout)")
    sim.stop()

    pods = f"{total} pods, {args.nodes} nodes"
    metrics = [
        metric(f"GET /api/admin/k8s/pods with {total} pods (median)", statistics.median(figures["api"]),
               target="< 500 ms", unit="ms", passed=statistics.median(figures["api"]) < 500,
               note=f"{pods}; max {max(figures['api']):.0f} ms; app CPU {statistics.median(CPU['api']):.0f} ms"),
        metric(f"console Pods page with {total} pods (median)", statistics.median(figures["console"]),
               target="< 500 ms", unit="ms", passed=statistics.median(figures["console"]) < 500,
               note=f"{pods}; max {max(figures['console']):.0f} ms; app CPU "
                    f"{statistics.median(CPU['console']):.0f} ms"),
        metric("console Nodes page (median)", statistics.median(figures["nodes"]), target="(report)", unit="ms",
               passed=None, note=pods),
        metric("provisioning, 1 worker", running / elapsed * 60, target="(report)", unit="instances/min",
               passed=None, note=f"{running}/{len(ids)} RUNNING"),
    ]
    print_metrics(metrics)
    emit("bench/cluster.py", metrics)
    return 0 if running == len(ids) else 1


if __name__ == "__main__":
    sys.exit(main())
