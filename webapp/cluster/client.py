"""The one module that talks to the Kubernetes API: clients built from settings, timeouts, availability.

Which cluster (first that applies): `KUBE_API_URL` (a plain API URL: the simulator), `KUBECONFIG_PATH` (leading `~`
expanded), `KUBE_IN_CLUSTER` (service-account token), the default kubeconfig lookup (`KUBECONFIG`, `~/.kube/config`),
and finally in-cluster when `KUBERNETES_SERVICE_HOST` is set. `K8S_SKIP_TLS_VERIFY` turns TLS verification off.

Rules held here, so callers cannot forget them:
- every call carries a timeout (`_request_timeout=(connect, read)`, from `KUBE_TIMEOUT_SECONDS`) unless the
  caller passes its own (log streams);
- an unreachable API server (connection refused/reset, timeouts, 502/503/504) raises `ClusterUnavailable` (503),
  never a raw urllib3 error, and marks the cluster down for the probe cache;
- `is_available()` is a real probe (`GET /version`, 2 s), cached `KUBE_PROBE_CACHE_SECONDS`.

Only the official `kubernetes` client is used. Monitoring reads use `_preload_content=False` and parse the JSON
themselves (`Kube.raw`): the generated models are far too slow for thousands of pods and lose the camelCase shape
the original API returned.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import kubernetes
import urllib3
from flask import current_app
from kubernetes.client.rest import ApiException

from ..errors import DomainError

log = logging.getLogger(__name__)

UNREACHABLE_STATUSES = {0, 502, 503, 504}


class ClusterUnavailable(DomainError):
    """The Kubernetes API cannot be reached (or is not configured). Each operation names its own message."""

    status, message = 503, "Kubernetes cluster not available"


# Messages of the spec, per operation (spec-cluster-instances §2, billing spec U5/U8-U11).
MSG_PROVISION = "Service provisioning temporarily unavailable"
MSG_RESTART = "Service restart temporarily unavailable"
MSG_STOP = "Service stop temporarily unavailable"
MSG_START = "Service start temporarily unavailable"
MSG_MONITORING = "Kubernetes cluster not accessible"
MSG_HEALTH = "Kubernetes cluster not available for health checks"
MSG_GENERIC = "Kubernetes cluster not available"


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 409


def api_message(exc: ApiException) -> str:
    """The `message` of the API server's Status body, else the reason."""
    try:
        return json.loads(exc.body or "{}").get("message") or exc.reason or str(exc.status)
    except (TypeError, ValueError):
        return exc.reason or str(exc.status)


class _Guarded:
    """Wraps a generated API object: injects the timeout and turns transport failures into ClusterUnavailable."""

    def __init__(self, api, kube: "Kube"):
        self._api = api
        self._kube = kube

    def __getattr__(self, name: str):
        attr = getattr(self._api, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        kube = self._kube

        def call(*args, **kwargs):
            kwargs.setdefault("_request_timeout", kube.timeout)
            try:
                return attr(*args, **kwargs)
            except ApiException as exc:
                if exc.status in UNREACHABLE_STATUSES:
                    kube.mark_down()
                    raise ClusterUnavailable(MSG_GENERIC) from exc
                raise
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                kube.mark_down()
                raise ClusterUnavailable(MSG_GENERIC) from exc

        call.__name__ = name
        return call


class Kube:
    """The API groups of one configured cluster. Get it with `get_kube()`."""

    def __init__(self, configuration: kubernetes.client.Configuration, timeout: float, key: tuple):
        self.key = key
        self.timeout = (min(3.0, timeout), timeout)
        self.api_client = kubernetes.client.ApiClient(configuration)
        self.core = _Guarded(kubernetes.client.CoreV1Api(self.api_client), self)
        self.apps = _Guarded(kubernetes.client.AppsV1Api(self.api_client), self)
        self.net = _Guarded(kubernetes.client.NetworkingV1Api(self.api_client), self)
        self.custom = _Guarded(kubernetes.client.CustomObjectsApi(self.api_client), self)
        self.version = _Guarded(kubernetes.client.VersionApi(self.api_client), self)

    def raw(self, method, *args, **kwargs) -> Any:
        """Call a generated method without model deserialization; returns the parsed JSON (camelCase)."""
        response = method(*args, _preload_content=False, **kwargs)
        try:
            return json.loads(response.data)
        finally:
            response.release_conn()

    def mark_down(self) -> None:
        _probes[self.key] = (time.monotonic(), False)

    def probe(self, cache_seconds: float) -> bool:
        cached = _probes.get(self.key)
        now = time.monotonic()
        if cached and now - cached[0] < cache_seconds:
            return cached[1]
        ok = True
        try:
            self.version.get_code(_request_timeout=(min(2.0, self.timeout[0]), min(3.0, self.timeout[1])))
        except (ClusterUnavailable, ApiException):
            ok = False
        _probes[self.key] = (time.monotonic(), ok)
        return ok


_clients: dict[tuple, Kube] = {}
_probes: dict[tuple, tuple[float, bool]] = {}
_lock = threading.Lock()


def _settings_key(config) -> tuple:
    return (config.get("KUBE_API_URL"), config.get("KUBECONFIG_PATH"), bool(config.get("KUBE_IN_CLUSTER")),
            bool(config.get("K8S_SKIP_TLS_VERIFY")), float(config.get("KUBE_TIMEOUT_SECONDS") or 10))


def _configuration(key: tuple) -> kubernetes.client.Configuration | None:
    url, path, in_cluster, skip_tls, _ = key
    cfg = kubernetes.client.Configuration()
    try:
        if url:
            cfg.host = url.rstrip("/")
        elif path:
            kubernetes.config.load_kube_config(config_file=os.path.expanduser(path), client_configuration=cfg,
                                               persist_config=False)
        elif in_cluster:
            kubernetes.config.load_incluster_config(client_configuration=cfg)
        else:
            try:
                kubernetes.config.load_kube_config(client_configuration=cfg, persist_config=False)
            except (kubernetes.config.ConfigException, OSError, TypeError):
                if not os.environ.get("KUBERNETES_SERVICE_HOST"):
                    return None
                kubernetes.config.load_incluster_config(client_configuration=cfg)
    except (kubernetes.config.ConfigException, OSError, ValueError, TypeError) as exc:
        log.warning("Kubernetes configuration could not be loaded: %s", exc)
        return None
    if skip_tls:
        cfg.verify_ssl = False
    # Connection failures are retried twice quickly; reads and statuses are not (POST is not idempotent).
    cfg.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.1,
                                raise_on_status=False)
    cfg.connection_pool_maxsize = 16
    return cfg


def get_kube(message: str = MSG_GENERIC) -> Kube:
    """The client of the configured cluster; `ClusterUnavailable(message)` when none is configured."""
    key = _settings_key(current_app.config)
    kube = _clients.get(key)
    if kube is None:
        with _lock:
            kube = _clients.get(key)
            if kube is None:
                cfg = _configuration(key)
                if cfg is None:
                    raise ClusterUnavailable(message)
                kube = _clients[key] = Kube(cfg, key[-1], key)
    return kube


def is_available() -> bool:
    """True only after a successful cheap request (cached a few seconds)."""
    try:
        kube = get_kube()
    except ClusterUnavailable:
        return False
    return kube.probe(float(current_app.config.get("KUBE_PROBE_CACHE_SECONDS", 5)))


def ensure_available(message: str = MSG_GENERIC) -> Kube:
    """The client, or `ClusterUnavailable(message)` when the probe fails. Called before any write."""
    kube = get_kube(message)
    if not kube.probe(float(current_app.config.get("KUBE_PROBE_CACHE_SECONDS", 5))):
        raise ClusterUnavailable(message)
    return kube


def reraise_as(message: str):
    """Context manager: a ClusterUnavailable raised inside gets the operation's message."""
    return _Rewrap(message)


class _Rewrap:
    def __init__(self, message: str):
        self.message = message

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, ClusterUnavailable) and exc.text != self.message:
            raise ClusterUnavailable(self.message) from exc
        return False
