"""Structured logs: a request id on every request, on every log line written while handling it, and in its jobs."""
from __future__ import annotations

import json
import logging
import uuid

import pytest

from jobs.queue import get_queue, run_burst
from webapp.extensions import db
from webapp.observability import (REQUEST_ID_HEADER, ContextFilter, JsonFormatter, TextFormatter, clean_request_id,
                                  configure_logging)
from webapp.outbox import OutboxJob

from .logs import captured_json_logs


@pytest.fixture
def queue(app):
    q = get_queue()
    q.empty()
    yield q
    q.empty()


def test_every_response_carries_a_request_id(client):
    first = client.get("/api/health")
    second = client.get("/api/health")
    ids = [r.headers[REQUEST_ID_HEADER] for r in (first, second)]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids) and ids[0] != ids[1]
    # portal and console pages too, not only the API
    assert client.get("/admin/login").headers[REQUEST_ID_HEADER]


def test_a_safe_incoming_request_id_is_kept_and_an_unsafe_one_replaced(client):
    r = client.get("/api/health", headers={REQUEST_ID_HEADER: "edge-7f3a.42:abc_DEF"})
    assert r.headers[REQUEST_ID_HEADER] == "edge-7f3a.42:abc_DEF"
    for bad in ("has space", "quote\"d", "x" * 65, "", "new\\nline", "<script>"):
        r = client.get("/api/health", headers={REQUEST_ID_HEADER: bad})
        assert r.headers[REQUEST_ID_HEADER] != bad and len(r.headers[REQUEST_ID_HEADER]) == 32
    assert clean_request_id("ok-1") == "ok-1" and clean_request_id("a\r\nb") is None and clean_request_id(None) is None


def test_all_log_lines_of_a_request_carry_its_id_and_one_access_line(client, api, customer, monkeypatch):
    def readiness():
        logging.getLogger("webapp.health").warning("checking dependencies")
        logging.getLogger("some.library").info("a library line")
        return {"database": "ok", "redis": "ok"}

    monkeypatch.setattr("webapp.health.readiness", readiness)
    with captured_json_logs() as lines:
        r = client.get("/api/health/ready", headers={REQUEST_ID_HEADER: "req-abc-123"})
        api.get("/api/user/profile", as_user=customer)  # another request, another id
    assert r.status_code == 200
    mine = [line for line in lines if line.get("request_id") == "req-abc-123"]
    assert [line["message"] for line in mine] == ["checking dependencies", "a library line",
                                                  "GET /api/health/ready 200"]
    assert all(line.get("request_id") for line in lines), lines  # nothing logged during a request lacks its id
    access = mine[-1]
    assert access["logger"] == "poddesk.access"
    assert (access["method"], access["path"], access["status"], access["user_id"]) == (
        "GET", "/api/health/ready", 200, None)
    assert isinstance(access["duration_ms"], float) and access["level"] == "INFO" and access["ts"].endswith("+00:00")
    profile = [line for line in lines if line.get("path") == "/api/user/profile"]
    assert len(profile) == 1 and profile[0]["user_id"] == customer.id and profile[0]["request_id"] != "req-abc-123"


def test_a_job_enqueued_by_a_request_logs_with_that_requests_id(app, api, make, kube_sim, queue):
    from tests.cluster.fixtures import ghost_plan

    plan = ghost_plan(make)
    rich = make.user(credit_balance=1_000_000)
    with captured_json_logs() as lines:
        r = api.post("/api/subscriptions", as_user=rich, headers={REQUEST_ID_HEADER: "subscribe-req-1"},
                     json={"planId": plan.id})
        assert r.status_code == 201, r.get_json()
        row = db.session.query(OutboxJob).filter_by(func="jobs.cluster.provision_instance").one()
        assert row.request_id == "subscribe-req-1" and row.dispatched_at is not None
        assert queue.fetch_job(row.id).meta["request_id"] == "subscribe-req-1"
        run_burst(app)
    job_lines = [line for line in lines if line.get("job_id") == row.id]
    assert job_lines and all(line["request_id"] == "subscribe-req-1" for line in job_lines), job_lines
    done = [line for line in job_lines if line["message"] == "job jobs.cluster.provision_instance done"]
    assert len(done) == 1 and done[0]["job_func"] == "jobs.cluster.provision_instance"
    assert isinstance(done[0]["duration_ms"], float)


def test_job_lines_carry_request_and_job_ids_and_a_failure_its_traceback(app, queue):
    ok = queue.enqueue("tests.ops.job_helpers.say", "hello", meta={"request_id": "req-from-web"})
    bad = queue.enqueue("tests.ops.job_helpers.boom", 7, meta={"request_id": "req-bad"})
    with captured_json_logs() as lines:
        run_burst(app)
    said = [line for line in lines if line["message"] == "job says hello"]
    assert said == [{**said[0], "request_id": "req-from-web", "job_id": ok.id, "job_func": "tests.ops.job_helpers.say"}]
    failed = [line for line in lines if line.get("job_id") == bad.id and line["level"] == "ERROR"]
    assert failed and failed[0]["request_id"] == "req-bad" and "ValueError: kaboom 7" in failed[0]["exc_info"]
    # outside the job the context is gone again
    assert logging.getLogger().handlers and ContextFilter().filter(record := logging.makeLogRecord({})) and \
        record.request_id is None and record.job_id is None


def test_configure_logging_installs_one_json_handler_on_stderr(capsys):
    root = logging.getLogger()
    before = [h for h in root.handlers if not getattr(h, "_poddesk", False)]
    old_level = root.level
    try:
        configure_logging("json", "INFO")
        handler = configure_logging("json", "DEBUG")  # idempotent: replaces its own handler only
        ours = [h for h in root.handlers if getattr(h, "_poddesk", False)]
        assert ours == [handler] and [h for h in root.handlers if not getattr(h, "_poddesk", False)] == before
        assert isinstance(handler.formatter, JsonFormatter) and root.level == logging.DEBUG
        marker = uuid.uuid4().hex
        logging.getLogger("tests.ops").info("hello %s", marker, extra={"answer": 42})
        line = next(l for l in capsys.readouterr().err.splitlines() if marker in l)
        entry = json.loads(line)
        assert entry["message"] == f"hello {marker}" and entry["answer"] == 42 and entry["logger"] == "tests.ops"
        assert "request_id" not in entry  # outside a request: no id field at all
        text = configure_logging("text", "INFO")
        assert isinstance(text.formatter, TextFormatter)
    finally:
        configure_logging("json", old_level or "INFO")


def test_the_profiles_log_format(app):
    from webapp import create_app

    assert app.config["LOG_FORMAT"] == "json"
    embedded = create_app("embedded", SQLALCHEMY_DATABASE_URI="sqlite://", REDIS_URL="fakeredis://")
    assert embedded.config["LOG_FORMAT"] == "text"
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_poddesk", False)]
    assert len(ours) == 1 and isinstance(ours[0].formatter, TextFormatter)
    create_app("testing")  # back to the suite's own setting
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_poddesk", False)]
    assert len(ours) == 1 and isinstance(ours[0].formatter, JsonFormatter)
