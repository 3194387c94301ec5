"""Container logs: the line parser (§3.9 with fixes), the instance tail (I6) and the live stream.

Live streaming: the original used a Socket.IO namespace (`/k8s-logs`). PodDesk serves the same events as
Server-Sent Events over plain HTTP (`GET /api/instances/<id>/logs/stream`, bearer token like every API route):
`event: log-start` (text), `event: log-data` (one cleaned line; `id:` is the line's timestamp), `event: log-error`
(the original's messages), `event: log-end`. A stream lasts at most `LOG_STREAM_MAX_SECONDS`; clients reconnect.
Partial lines are buffered across chunks (fix 28).
"""
from __future__ import annotations

import json
import logging
import re
import time
from typing import Iterator

from flask import current_app
from kubernetes.client.rest import ApiException

from ..extensions import db
from .client import MSG_GENERIC, ClusterUnavailable, ensure_available, reraise_as
from .errors import NoRunningPod
from .manifests import app_label
from .models import InstanceStatus as S
from .models import ServiceInstance

log = logging.getLogger(__name__)

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))\s+")
LEVELS = (("error", re.compile(r"\b(error|fatal|panic|exception)\b", re.I)),
          ("warn", re.compile(r"\b(warn|warning)\b", re.I)))


def clean_line(line: str) -> tuple[str | None, str]:
    """(timestamp or None, message): ANSI removed, a leading RFC 3339 timestamp split off, trimmed."""
    text = ANSI.sub("", line).rstrip("\r")
    match = TIMESTAMP.match(text)
    timestamp = None
    if match:
        timestamp, text = match.group(1), text[match.end():]
    return timestamp, text.strip()


def level_of(message: str) -> str:
    for level, pattern in LEVELS:
        if pattern.search(message):
            return level
    return "info"


def parse_lines(text: str) -> list[dict]:
    out = []
    for line in (text or "").split("\n"):
        timestamp, message = clean_line(line)
        if message:
            out.append({"timestamp": timestamp, "level": level_of(message), "message": message})
    return out


class LineBuffer:
    """Joins chunks into whole lines (a line split across two chunks is one line)."""

    def __init__(self):
        self.pending = ""

    def feed(self, chunk: str) -> list[str]:
        self.pending += chunk
        *lines, self.pending = self.pending.split("\n")
        return lines

    def flush(self) -> list[str]:
        rest, self.pending = self.pending, ""
        return [rest] if rest else []


def _target(instance: ServiceInstance) -> tuple[str, str, str]:
    return instance.namespace, instance.id, app_label(instance.subscription.service.slug)


def _newest_pod(kube, namespace: str, instance_id: str) -> str | None:
    from .workloads import instance_pods

    pods = [p for p in instance_pods(kube, namespace, instance_id) if not p.deleting]
    running = [p for p in pods if p.phase == "Running"]
    chosen = (running or pods or [None])[0]
    return chosen.name if chosen else None


def instance_logs(instance: ServiceInstance, lines: int, follow: bool) -> dict:
    """I6: the last `lines` lines of the instance's newest pod (its app container)."""
    if instance.status is S.TERMINATED:
        raise NoRunningPod()
    namespace, instance_id, container = _target(instance)
    db.session.commit()  # read-only request: no transaction open during the network calls
    with reraise_as(MSG_GENERIC):
        kube = ensure_available(MSG_GENERIC)
        pod = _newest_pod(kube, namespace, instance_id)
        if pod is None:
            raise NoRunningPod()
        try:
            text = kube.core.read_namespaced_pod_log(pod, namespace, container=container, tail_lines=lines,
                                                     timestamps=True)
        except ApiException as exc:
            if exc.status in (400, 404):  # container not started yet / pod just replaced
                raise NoRunningPod() from None
            raise
    return {"instanceId": instance_id, "pod": pod, "container": container, "logs": parse_lines(text),
            "options": {"lines": lines, "follow": follow}, "message": "Logs retrieved successfully"}


def _sse(event: str, data, event_id: str | None = None) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"id: {event_id}\n" if event_id else ""
    return head + f"event: {event}\n" + "".join(f"data: {part}\n" for part in payload.split("\n")) + "\n"


def open_stream(instance: ServiceInstance, tail_lines: int) -> Iterator[str]:
    """Validate and open the follow stream now (errors become HTTP statuses), then return the SSE generator."""
    if instance.status is S.TERMINATED:
        raise NoRunningPod("No active service instance found for this subscription.")
    namespace, instance_id, container = _target(instance)
    max_seconds = float(current_app.config.get("LOG_STREAM_MAX_SECONDS", 300))
    db.session.commit()
    with reraise_as(MSG_GENERIC):
        kube = ensure_available(MSG_GENERIC)
        pod = _newest_pod(kube, namespace, instance_id)
        if pod is None:
            raise NoRunningPod()
        try:
            response = kube.core.read_namespaced_pod_log(
                pod, namespace, container=container, follow=True, timestamps=True, tail_lines=tail_lines,
                _preload_content=False, _request_timeout=(kube.timeout[0], max(5.0, min(max_seconds, 30.0))))
        except ApiException as exc:
            if exc.status in (400, 404):
                raise NoRunningPod() from None
            raise

    def generate() -> Iterator[str]:
        deadline = time.monotonic() + max_seconds
        buffer = LineBuffer()
        yield _sse("log-start", f"Streaming logs for pod: {pod}, container: {container}")
        try:
            for chunk in response.stream(1024, decode_content=True):
                for line in buffer.feed(chunk.decode("utf-8", "replace")):
                    timestamp, message = clean_line(line)
                    if message:
                        yield _sse("log-data", message, timestamp)
                if time.monotonic() > deadline:
                    break
            else:
                for line in buffer.flush():
                    timestamp, message = clean_line(line)
                    if message:
                        yield _sse("log-data", message, timestamp)
            yield _sse("log-end", "Log stream ended.")
        except Exception:  # noqa: BLE001 - idle timeout or the cluster went away: tell the client, then end
            log.info("log stream of %s/%s ended with an error", namespace, pod, exc_info=True)
            yield _sse("log-error", "Log stream unexpectedly ended.")
        finally:
            response.release_conn()
            response.close()

    return generate()


__all__ = ["ClusterUnavailable", "LineBuffer", "clean_line", "instance_logs", "open_stream", "parse_lines"]
