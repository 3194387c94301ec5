"""Names and Kubernetes manifests of an instance (spec-cluster-instances §1.3, §1.4 with fixes 17 and 18).

Pure functions: no database, no network. `InstanceSpec` is a plain snapshot of everything the manifests need,
taken from the database before any network call (jobs never touch ORM objects while talking to the cluster).

Objects per instance, all labelled `minispod.com/managed=true`, `instance=<id>` (cleanup is by that label):
namespace `user-<userId>` (shared by a user's instances, never deleted), Secret `<name>-secret` (generated
credentials), PVC `<name>-pvc` (when the plan has storage), Deployment `<name>`, Service `<name>-svc`,
Ingress `<name>-ingress` (TLS secret `<name>-tls` made by cert-manager). No ConfigMap (fix 18: it was unused).
"""
from __future__ import annotations

import hashlib
import math
import re
import secrets
import string
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

MANAGED = {"minispod.com/managed": "true"}
MAX_NAME = 63
# The longest suffix appended to the base name ("-ingress"): base names stay within 63 - 8 characters.
BASE_NAME_MAX = MAX_NAME - len("-ingress")
SLUG_PART_MAX = BASE_NAME_MAX - 1 - 25  # "<slug part>-<25-char instance id>"
SECRET_KEY_PATTERN = re.compile(r"(PASSWORD|PASSWD|PASS$|SECRET|TOKEN|API_KEY|PRIVATE_KEY|ENCRYPTION_KEY|_KEY$)", re.I)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_ALNUM = string.ascii_letters + string.digits


# ------------------------------------------------------------------------------------------------ names
def dns_label(text: str, max_len: int = MAX_NAME, *, prefix: str = "x") -> str:
    """A DNS-1035 label from any text: lower-case ASCII, `[a-z0-9-]`, leading letter, at most `max_len`.

    Lossy conversions (upper case, accents, other characters, a leading digit, truncation) get an 8-hex hash of
    the original text, so two different inputs never produce the same label."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii").lower()
    label = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", ascii_text)).strip("-")
    if not label or not label[0].isalpha():
        label = f"{prefix}-{label}".strip("-")
    if label == text and len(label) <= max_len:
        return label
    digest = hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:8]
    head = label[: max(1, max_len - 9)].rstrip("-")
    return f"{head}-{digest}"


def instance_base_name(slug: str, instance_id: str) -> str:
    """`<slug label>-<instance id>`: unique by construction, a valid Service name, ≤ 55 characters."""
    if not re.fullmatch(r"[a-z0-9]{1,25}", instance_id or ""):
        raise ValueError("instance ids are lower-case alphanumeric, at most 25 characters")
    return f"{dns_label(slug, SLUG_PART_MAX)}-{instance_id}"


def namespace_for(user_id: str) -> str:
    return dns_label(f"user-{user_id}")


def app_label(slug: str) -> str:
    return dns_label(slug, SLUG_PART_MAX)


@dataclass(frozen=True)
class ObjectNames:
    base: str

    @property
    def deployment(self) -> str:
        return self.base

    @property
    def service(self) -> str:
        return f"{self.base}-svc"

    @property
    def ingress(self) -> str:
        return f"{self.base}-ingress"

    @property
    def pvc(self) -> str:
        return f"{self.base}-pvc"

    @property
    def secret(self) -> str:
        return f"{self.base}-secret"

    @property
    def tls(self) -> str:
        return f"{self.base}-tls"


# -------------------------------------------------------------------------------------- app templates
@dataclass(frozen=True)
class AppTemplate:
    """What differs per one-click app (fix 18): data directory, probe, extra env, generated credentials."""

    mount_path: str = "/data"
    probe: str = "tcp"  # "tcp" or an HTTP path
    port_name: str = "http"
    strategy: str = "RollingUpdate"
    generated: tuple[str, ...] = ()
    extra_env: tuple[tuple[str, str], ...] = ()  # values formatted with {host}, {port}, {name}


TEMPLATES: dict[str, AppTemplate] = {
    "n8n-automation": AppTemplate(
        mount_path="/home/node/.n8n", probe="/healthz", generated=("N8N_ENCRYPTION_KEY",),
        extra_env=(("N8N_HOST", "{host}"), ("N8N_PORT", "{port}"), ("N8N_PROTOCOL", "https"),
                   ("WEBHOOK_URL", "https://{host}"), ("GENERIC_TIMEZONE", "Asia/Jakarta"), ("N8N_METRICS", "true"),
                   ("DB_SQLITE_POOL_SIZE", "10"), ("N8N_RUNNERS_ENABLED", "true"))),
    "ghost-blog": AppTemplate(
        mount_path="/var/lib/ghost/content", probe="tcp",
        extra_env=(("url", "https://{host}"), ("NODE_ENV", "production"), ("database__client", "sqlite3"),
                   ("database__connection__filename", "/var/lib/ghost/content/data/ghost.db"),
                   ("database__useNullAsDefault", "true"))),
    "postgresql-database": AppTemplate(
        mount_path="/var/lib/postgresql/data", probe="tcp", port_name="postgres", strategy="Recreate",
        generated=("POSTGRES_PASSWORD",),
        extra_env=(("POSTGRES_DB", "{db_name}"), ("POSTGRES_USER", "postgres"),
                   ("PGDATA", "/var/lib/postgresql/data/pgdata"))),
}
DEFAULT_TEMPLATE = AppTemplate()


def template_for(slug: str) -> AppTemplate:
    return TEMPLATES.get(slug, DEFAULT_TEMPLATE)


def _env_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def secret_ref(secret_name: str, key: str) -> dict:
    return {"secretKeyRef": {"name": secret_name, "key": key}}


def is_secret_ref(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("secretKeyRef"), dict)


def initial_env(*, slug: str, env_template: dict | None, instance_id: str, base: str, host: str, port: int) -> dict:
    """The env stored on the row: plain values, and secret keys as references to the instance's Secret.

    Keys that look like credentials (`*PASSWORD*`, `*SECRET*`, `*TOKEN*`, `*_KEY`) never keep a template default:
    the provisioning job generates them into the Secret. So the row (and every API response) holds no secret."""
    template = template_for(slug)
    names = ObjectNames(base)
    env: dict = {}
    ctx = {"host": host, "port": port, "name": base, "db_name": base.replace("-", "_")}
    for key, value in (env_template or {}).items():
        if ENV_NAME.match(str(key)):
            env[str(key)] = _env_value(value)
    for key, value in template.extra_env:
        env[key] = value.format(**ctx)
    for key in list(env):
        if SECRET_KEY_PATTERN.search(key):
            env[key] = secret_ref(names.secret, key)
    for key in template.generated:
        env[key] = secret_ref(names.secret, key)
    env.update({"INSTANCE_ID": instance_id, "INSTANCE_NAME": base, "SUBDOMAIN": host, "PUBLIC_URL": f"https://{host}"})
    return env


def generate_secret_value(length: int = 32) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


# ---------------------------------------------------------------------------------------------- snapshot
@dataclass(frozen=True)
class InstanceSpec:
    """Everything the manifests need, copied out of the database."""

    instance_id: str
    user_id: str
    namespace: str
    base: str
    slug: str
    image: str
    port: int
    cpu_milli: int
    memory_mb: int
    storage_gb: Decimal
    host: str
    env: dict = field(default_factory=dict)
    ingress_class: str = "nginx"
    cert_issuer: str = "letsencrypt-prod"
    storage_class: str = "local-path"
    ssl: bool = True

    @property
    def names(self) -> ObjectNames:
        return ObjectNames(self.base)

    @property
    def app(self) -> str:
        return app_label(self.slug)

    @property
    def template(self) -> AppTemplate:
        return template_for(self.slug)

    @property
    def secret_keys(self) -> list[str]:
        return [k for k, v in self.env.items() if is_secret_ref(v)]

    @property
    def selector(self) -> str:
        return f"instance={self.instance_id}"


def labels(spec: InstanceSpec) -> dict:
    return {**MANAGED, "minispod.com/app": spec.app, "instance": spec.instance_id}


def storage_quantity(storage_gb) -> str | None:
    """`"5Gi"`, or MiB for fractions (`0.25` → `"256Mi"`); None when the plan has no storage."""
    gb = Decimal(str(storage_gb or 0))
    if gb <= 0:
        return None
    if gb == gb.to_integral_value():
        return f"{int(gb)}Gi"
    return f"{math.ceil(gb * 1024)}Mi"


def namespace_manifest(spec: InstanceSpec, created_at: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": spec.namespace,
                         "labels": {**MANAGED, "minispod.com/user-id": spec.user_id,
                                    "minispod.com/type": "user-namespace"},
                         "annotations": {"minispod.com/created-at": created_at, "minispod.com/user-id": spec.user_id}}}


def secret_manifest(spec: InstanceSpec, values: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": spec.names.secret, "namespace": spec.namespace, "labels": labels(spec)},
            "stringData": values}


def pvc_manifest(spec: InstanceSpec) -> dict | None:
    size = storage_quantity(spec.storage_gb)
    if size is None:
        return None
    body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": spec.names.pvc, "namespace": spec.namespace, "labels": labels(spec)},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}
    if spec.storage_class:
        body["spec"]["storageClassName"] = spec.storage_class
    return body


def resources(cpu_milli: int, memory_mb: int) -> dict:
    amounts = {"cpu": f"{int(cpu_milli)}m", "memory": f"{int(memory_mb)}Mi"}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _probe(template: AppTemplate, *, liveness: bool) -> dict:
    if template.probe == "tcp":
        action = {"tcpSocket": {"port": template.port_name}}
    else:
        action = {"httpGet": {"path": template.probe, "port": template.port_name}}
    if liveness:
        return {**action, "initialDelaySeconds": 60, "periodSeconds": 20, "timeoutSeconds": 10, "failureThreshold": 5}
    return {**action, "initialDelaySeconds": 30, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 5}


def container_env(spec: InstanceSpec) -> list[dict]:
    out = []
    for key, value in spec.env.items():
        if is_secret_ref(value):
            out.append({"name": key, "valueFrom": {"secretKeyRef": dict(value["secretKeyRef"])}})
        else:
            out.append({"name": key, "value": _env_value(value)})
    return out


def deployment_manifest(spec: InstanceSpec, replicas: int = 1) -> dict:
    template = spec.template
    selector = {"app": spec.app, "instance": spec.instance_id}
    container = {
        "name": spec.app, "image": spec.image,
        "ports": [{"containerPort": int(spec.port), "name": template.port_name, "protocol": "TCP"}],
        "env": container_env(spec),
        "resources": resources(spec.cpu_milli, spec.memory_mb),
        "readinessProbe": _probe(template, liveness=False),
        "livenessProbe": _probe(template, liveness=True),
    }
    pod_spec: dict = {"containers": [container], "restartPolicy": "Always", "automountServiceAccountToken": False,
                      "enableServiceLinks": False}
    if storage_quantity(spec.storage_gb):
        container["volumeMounts"] = [{"name": "data-storage", "mountPath": template.mount_path}]
        pod_spec["volumes"] = [{"name": "data-storage", "persistentVolumeClaim": {"claimName": spec.names.pvc}}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": spec.names.deployment, "namespace": spec.namespace,
                     "labels": {**labels(spec), "app": spec.app, "user": spec.user_id, "service": spec.app}},
        "spec": {"replicas": replicas, "revisionHistoryLimit": 3, "selector": {"matchLabels": selector},
                 "strategy": {"type": template.strategy},
                 "template": {"metadata": {"labels": {**selector, **MANAGED}}, "spec": pod_spec}},
    }


def resources_patch(spec: InstanceSpec) -> dict:
    """Strategic-merge patch of the container's resources only (resize, fix 13/19)."""
    return {"spec": {"template": {"spec": {"containers": [
        {"name": spec.app, "resources": resources(spec.cpu_milli, spec.memory_mb)}]}}}}


def service_manifest(spec: InstanceSpec) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": spec.names.service, "namespace": spec.namespace, "labels": labels(spec)},
            "spec": {"type": "ClusterIP", "selector": {"app": spec.app, "instance": spec.instance_id},
                     "ports": [{"name": "http", "port": 80, "targetPort": spec.template.port_name,
                                "protocol": "TCP"}]}}


def ingress_manifest(spec: InstanceSpec) -> dict:
    annotations = {"kubernetes.io/ingress.class": spec.ingress_class,
                   "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                   "nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}
    body = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": spec.names.ingress, "namespace": spec.namespace, "labels": labels(spec),
                         "annotations": annotations},
            "spec": {"ingressClassName": spec.ingress_class,
                     "rules": [{"host": spec.host, "http": {"paths": [{
                         "path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": spec.names.service, "port": {"number": 80}}}}]}}]}}
    if spec.ssl:
        annotations["cert-manager.io/cluster-issuer"] = spec.cert_issuer
        body["spec"]["tls"] = [{"hosts": [spec.host], "secretName": spec.names.tls}]
    return body
