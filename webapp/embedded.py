"""`make run`: the whole product on one machine with nothing installed but Python.

SQLite file under instance/, the Google sign-in simulator (and the Kubernetes and payment simulators)
in background threads, migrations applied, demo data loaded, then the app on http://127.0.0.1:5000.
"""
from __future__ import annotations

import os
import sys

from config import BASE_DIR, env, env_int

HOST = env("HOST", "127.0.0.1")
PORT = env_int("PORT", 5000)


def _start_simulators() -> dict:
    """Start the local stand-ins for Google, Kubernetes and Midtrans; return app settings pointing at them."""
    from simulators.oidc import OIDCSimulator

    oidc = OIDCSimulator(host="127.0.0.1", port=env_int("OIDC_SIM_PORT", 5556))
    oidc.start()

    from simulators.kube import KubeSimulator

    # The cluster's state survives restarts next to the SQLite file, so instances stay consistent.
    kube = KubeSimulator(host="127.0.0.1", port=env_int("KUBE_SIM_PORT", 5557), pod_start_delay=2.0, nodes=3,
                         state_file=str(BASE_DIR / "instance" / "kube-sim.json"))
    kube.start()

    from simulators.midtrans import MidtransSimulator

    server_key = "SB-Mid-server-embedded-demo"
    midtrans = MidtransSimulator(host="127.0.0.1", port=env_int("MIDTRANS_SIM_PORT", 5558), server_key=server_key,
                                 client_key="SB-Mid-client-embedded-demo",
                                 notify_url=f"http://{HOST}:{PORT}/api/wallet/webhook/midtrans")
    midtrans.start()
    finish = f"http://{HOST}:{PORT}/portal/wallet/topup/finish"  # the simulator's page sends the browser back here
    from simulators import app_settings

    settings = app_settings(oidc=oidc, kube=kube, midtrans=midtrans)
    settings.update(MIDTRANS_FINISH_URL=finish, MIDTRANS_UNFINISH_URL=finish, MIDTRANS_ERROR_URL=finish)

    settings["_simulators"] = {"Google sign-in (OIDC)": oidc.url, "Kubernetes API": kube.url,
                               "Midtrans payments": midtrans.url}
    return settings


def main() -> None:
    (BASE_DIR / "instance").mkdir(exist_ok=True)
    os.environ.setdefault("PODDESK_ENV", "embedded")
    settings = _start_simulators()
    simulators = settings.pop("_simulators")

    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.demo import DEMO_PASSWORD, USERS, seed_demo
    from webapp.extensions import db

    app = create_app("embedded", **settings)
    with app.app_context():
        upgrade()
        seed_demo()
        db.session.commit()

    from jobs.queue import start_inprocess_worker

    start_inprocess_worker(app)
    from jobs.scheduler import start_inprocess_scheduler

    start_inprocess_scheduler(app)  # the billing cron jobs on a timer; the worker thread runs them

    base = f"http://{HOST}:{PORT}"
    lines = [
        "",
        "PodDesk is running (embedded mode: SQLite, simulators in-process).",
        f"  Console:   {base}/admin",
        f"  Portal:    {base}/portal",
        f"  API base:  {base}/api      (OpenAPI: {base}/api/openapi.json)",
        *[f"  {name}: {url}" for name, url in simulators.items()],
        f"  Database:  {app.config['SQLALCHEMY_DATABASE_URI']}",
        "",
        f"  Demo logins (password: {DEMO_PASSWORD}):",
        *[f"    {email:<22} {role.value}" for email, _, role, _, _ in USERS],
        "",
        "  Try:",
        f"    curl -s -X POST {base}/api/auth/login -H 'Content-Type: application/json' "
        f"-d '{{\"email\":\"user1@minispod.com\",\"password\":\"{DEMO_PASSWORD}\"}}'",
        "",
    ]
    print("\n".join(lines), flush=True)
    app.run(host=HOST, port=PORT, threaded=True, use_reloader=False)


if __name__ == "__main__":
    sys.exit(main())
