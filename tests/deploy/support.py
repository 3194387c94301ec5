"""Helpers of the deployment tests: the manifests under deploy/k8s, the Procfile, the settings the app reads,
Kubernetes request attributes of the official client's methods, and a small RBAC rule matcher."""
from __future__ import annotations

import ast
import inspect
import re
import shlex
from functools import lru_cache
from pathlib import Path

import kubernetes
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
SECRET_FILE = "secret.yaml"
APP_SA = ("poddesk", "poddesk")  # (namespace, name) of the app's ServiceAccount


# ------------------------------------------------------------------------------------------------ manifests
def kustomization() -> dict:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())


def manifest_files(with_secret: bool = True) -> list[Path]:
    """The files kustomization.yaml lists, in its order, then the placeholder Secret (applied separately)."""
    files = [K8S_DIR / name for name in kustomization()["resources"]]
    return files + [K8S_DIR / SECRET_FILE] if with_secret else files


def load_docs(files: list[Path] | None = None) -> list[dict]:
    docs = []
    for path in files or manifest_files():
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    """`Kind/name` -> pod spec of every workload (Deployments and Jobs)."""
    return {f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"] for d in docs
            if d["kind"] in ("Deployment", "Job")}


# ------------------------------------------------------------------------------------------------ Procfile
def procfile() -> dict[str, list[str]]:
    """Process name -> argv, with `${VAR:-default}` / `$VAR` written the Kubernetes way, `$(VAR)`."""
    out = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" not in line or line.lstrip().startswith("#"):
            continue
        name, command = line.split(":", 1)
        command = re.sub(r"\$\{(\w+)(?::-[^}]*)?\}|\$(\w+)", lambda m: f"$({m.group(1) or m.group(2)})", command)
        out[name.strip()] = shlex.split(command)
    return out


# ------------------------------------------------------------------------------------------------ settings
@lru_cache
def known_settings() -> set[str]:
    """Every environment variable the app, gunicorn.conf.py or the Flask CLI reads."""
    names = {"FLASK_APP"}
    for path in (ROOT / "config.py", ROOT / "gunicorn.conf.py"):
        text = path.read_text()
        names |= set(re.findall(r"""\benv(?:_int|_bool)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", text))
        names |= set(re.findall(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]*)["']""", text))
    return names


# ------------------------------------------------------------------------------------------------ RBAC
def request_attributes(method: str, path: str) -> tuple[str, str, str, str]:
    """(verb, apiGroup, resource, subresource) of a resource request, as the API server's RequestInfo
    computes them; `path` may be a template (`/api/v1/namespaces/{namespace}/pods/{name}/log`)."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    elif parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        raise ValueError(f"not a resource path: {path}")
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if method == "GET":
        verb = "get" if name else "list"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]
    return verb, group, resource, sub


def app_rules(docs: list[dict]) -> list[dict]:
    """The rules granted to the app's ServiceAccount through the (Cluster)RoleBindings in the manifests."""
    roles = {("ClusterRole", d["metadata"]["name"]): d for d in docs if d["kind"] == "ClusterRole"}
    roles |= {("Role", d["metadata"]["name"]): d for d in docs if d["kind"] == "Role"}
    rules = []
    for b in docs:
        if b["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and (s.get("namespace", b["metadata"].get("namespace")),
                                                          s["name"]) == APP_SA for s in b.get("subjects") or []):
            continue
        role = roles[(b["roleRef"]["kind"], b["roleRef"]["name"])]
        rules += role.get("rules") or []
    return rules


def allows(rules: list[dict], verb: str, group: str, resource: str, sub: str = "") -> bool:
    name = f"{resource}/{sub}" if sub else resource
    for r in rules:
        if not (group in r.get("apiGroups", []) or "*" in r.get("apiGroups", [])):
            continue
        if not (name in r.get("resources", []) or "*" in r.get("resources", [])):
            continue
        if verb in r.get("verbs", []) or "*" in r.get("verbs", []):
            return True
    return False


def granted(rules: list[dict]) -> set[tuple[str, str, str]]:
    """(verb, apiGroup, resource[/subresource]) triples the rules grant (the rules carry no wildcards)."""
    return {(v, g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


# ------------------------------------------------------------------------------------------------ static calls
API_CLASSES = {"core": kubernetes.client.CoreV1Api, "apps": kubernetes.client.AppsV1Api,
               "net": kubernetes.client.NetworkingV1Api, "custom": kubernetes.client.CustomObjectsApi}


@lru_cache(maxsize=None)
def client_method_route(cls, method: str) -> tuple[str, str]:
    """(HTTP method, path template) of a generated client method, read from its `_<name>_serialize`."""
    src = inspect.getsource(getattr(cls, f"_{method}_serialize"))
    http = re.search(r"method='(\w+)'", src).group(1)
    path = re.search(r"resource_path='([^']+)'", src).group(1)
    return http, path


@lru_cache(maxsize=None)
def static_cluster_calls(package: Path) -> dict[tuple[str, str, str], set[str]]:
    """Every Kubernetes API request the code under `package` can make through `Kube` (webapp/cluster/client.py):
    `<kube>.core|apps|net|custom.<method>` references (called, or handed to `kube.raw`), mapped to
    (verb, apiGroup, resource[/sub]) -> {"file:line method"}. Custom-object calls are resolved from their
    literal group/plural arguments."""
    found: dict[tuple[str, str, str], set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        if not re.search(r"\.(?:core|apps|net|custom)\.\w", text):
            continue  # cheap pre-filter: parsing every module of the package is the slow part
        tree = ast.parse(text, str(path))
        # A method is either called (`kube.custom.list_...(args)`) or handed to a wrapper that calls it with the
        # arguments that follow it (`kube.raw(kube.core.list_node)`, `_raw(kube, kube.custom.list_..., args)`).
        calls: dict[int, tuple[list, list]] = {}
        for n in ast.walk(tree):
            if isinstance(n, ast.Call):
                calls[id(n.func)] = (n.args, n.keywords)
                for i, arg in enumerate(n.args):
                    calls.setdefault(id(arg), (n.args[i + 1:], n.keywords))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr in API_CLASSES):
                continue
            cls = API_CLASSES[node.value.attr]
            if not hasattr(cls, f"_{node.attr}_serialize"):
                continue
            http, template = client_method_route(cls, node.attr)
            if node.value.attr == "custom":
                call = calls.get(id(node))
                assert call is not None, f"{path}:{node.lineno}: custom-object method used without its arguments"
                args, keywords = call
                params = list(inspect.signature(getattr(cls, node.attr)).parameters)[1:]
                values = {}
                for pname, arg in zip(params, args):
                    if isinstance(arg, ast.Constant):
                        values[pname] = arg.value
                for kw in keywords:
                    if isinstance(kw.value, ast.Constant):
                        values[kw.arg] = kw.value.value
                for key in ("group", "version", "plural"):
                    assert key in values, f"{path}:{node.lineno}: {key} of {node.attr} is not a literal"
                    template = template.replace("{" + key + "}", values[key])
            verb, group, resource, sub = request_attributes(http, template)
            key = (verb, group, f"{resource}/{sub}" if sub else resource)
            found.setdefault(key, set()).add(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    return found
