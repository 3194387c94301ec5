"""The catalogue of API resources the simulator serves, and the discovery documents built from it.

This module owns *what exists*: group/version, plural, kind, scope, short names and verbs of every resource,
and the JSON that `/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>` answer.  kubectl builds its REST
mapper from these documents (short names such as `deploy`, `svc`, `ing`; singular names such as `ingress`;
the `deployments/scale` subresource that `kubectl scale` needs, which must point at autoscaling/v1 Scale),
so they follow the real API server closely.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

K8S_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4+sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T00:00:00Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}

RW_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
RO_VERBS = ["get", "list"]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(RW_VERBS)
    subresources: tuple[str, ...] = ()  # "status", "scale", "log"
    has_status: bool = True  # main-resource writes ignore .status (the status subresource owns it)
    computed: bool = False  # metrics: produced on the fly, never stored
    singular: str = field(default="")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`deployments.apps` — the resource name used in Status messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_qualified(self) -> str:
        """`Deployment.apps` — the kind name used in Invalid messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


CORE = [
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), subresources=("status", "finalize")),
    Resource("", "v1", "nodes", "Node", False, ("no",), subresources=("status",)),
    Resource("", "v1", "pods", "Pod", True, ("po",), ("all",), subresources=("status", "log")),
    Resource("", "v1", "services", "Service", True, ("svc",), ("all",), subresources=("status",)),
    Resource("", "v1", "secrets", "Secret", True, has_status=False),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",), has_status=False),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), subresources=("status",)),
    Resource("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), subresources=("status",)),
    Resource("", "v1", "events", "Event", True, ("ev",), has_status=False),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), has_status=False),
    Resource("", "v1", "endpoints", "Endpoints", True, ("ep",), has_status=False, singular="endpoints"),
]
APPS = [
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("all",), subresources=("status", "scale")),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("all",), subresources=("status", "scale")),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("all",), subresources=("status",)),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("all",), subresources=("status",)),
]
NETWORKING = [
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), subresources=("status",)),
    Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False, has_status=False),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",), has_status=False),
]
BATCH = [
    Resource("batch", "v1", "jobs", "Job", True, (), ("all",), subresources=("status",)),
]
POLICY = [
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), subresources=("status",)),
]
RBAC = [
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, has_status=False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, has_status=False),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, has_status=False),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True, has_status=False),
]
METRICS = [
    Resource("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, verbs=tuple(RO_VERBS), has_status=False,
             computed=True),
    Resource("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, verbs=tuple(RO_VERBS), has_status=False,
             computed=True),
]

# group -> version -> plural -> Resource
GROUPS: dict[str, dict[str, dict[str, Resource]]] = {}
STORED = CORE + APPS + NETWORKING + BATCH + POLICY + RBAC
for _r in STORED + METRICS:
    GROUPS.setdefault(_r.group, {}).setdefault(_r.version, {})[_r.plural] = _r

# Stored kinds are keyed by "group/plural" (metrics kinds are not stored).
BY_KIND: dict[str, Resource] = {r.kind: r for r in STORED}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return GROUPS.get(group, {}).get(version, {}).get(plural)


def _scale_subresource(r: Resource) -> dict:
    return {
        "name": f"{r.plural}/scale", "singularName": "", "namespaced": r.namespaced, "group": "autoscaling",
        "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"],
    }


def resource_list(group: str, version: str) -> dict | None:
    """APIResourceList for one group/version (what `/api/v1` and `/apis/apps/v1` answer)."""
    plurals = GROUPS.get(group, {}).get(version)
    if plurals is None:
        return None
    out = []
    for r in plurals.values():
        item = {"name": r.plural, "singularName": r.singular_name, "namespaced": r.namespaced, "kind": r.kind,
                "verbs": list(r.verbs)}
        if r.short_names:
            item["shortNames"] = list(r.short_names)
        if r.categories:
            item["categories"] = list(r.categories)
        if not r.computed:
            item["storageVersionHash"] = f"{zlib.crc32(r.plural.encode()):08x}"
        out.append(item)
        for sub in r.subresources:
            if sub == "scale":
                out.append(_scale_subresource(r))
            elif sub == "log":
                out.append({"name": f"{r.plural}/log", "singularName": "", "namespaced": True, "kind": "Pod",
                            "verbs": ["get"]})
            elif sub == "finalize":
                out.append({"name": f"{r.plural}/finalize", "singularName": "", "namespaced": False,
                            "kind": r.kind, "verbs": ["update"]})
            else:
                out.append({"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                            "kind": r.kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": out}


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_doc(group: str) -> dict:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUPS[group]]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_doc(g) for g in GROUPS if g]}


def api_group(group: str) -> dict | None:
    if not group or group not in GROUPS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group)}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root() -> dict:
    """`/openapi/v3`: one document per group/version, as the real server lists them."""
    paths = {}
    for g, versions in GROUPS.items():
        for v in versions:
            p = _gv_path(g, v)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash=SIM{zlib.crc32(p.encode()):08X}"}
    return {"paths": paths}


def openapi_v3_doc(gv_path: str) -> dict | None:
    """A skeleton OpenAPI v3 document for one group/version.

    kubectl reads it to learn that the server supports the `fieldValidation` query parameter on PATCH for each
    kind; it then leaves validation to the server instead of downloading the protobuf OpenAPI v2 schema
    (which the simulator does not serve).  Schemas are left open (`type: object`)."""
    parts = gv_path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    plurals = GROUPS.get(group, {}).get(version)
    if plurals is None:
        return None
    paths, schemas = {}, {}
    params = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}, "uniqueItems": True},
              {"name": "dryRun", "in": "query", "schema": {"type": "string"}, "uniqueItems": True}]
    for r in plurals.values():
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        base = f"/{_gv_path(group, version)}" + ("/namespaces/{namespace}" if r.namespaced else "")
        verbs = {"get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk,
                         "operationId": f"read{r.kind}"}}
        if "patch" in r.verbs:
            verbs["patch"] = {"x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
                              "operationId": f"patch{r.kind}", "parameters": params}
            verbs["put"] = {"x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk,
                            "operationId": f"replace{r.kind}", "parameters": params}
        paths[f"{base}/{r.plural}/{{name}}"] = verbs
        schemas[f"io.k8s.sim.{r.group or 'core'}.{r.version}.{r.kind}"] = {
            "type": "object", "x-kubernetes-group-version-kind": [gvk],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "metadata": {"type": "object"}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": K8S_VERSION["gitVersion"]},
            "paths": paths,
            "components": {"schemas": schemas, "parameters": {
                "fieldValidation": {"name": "fieldValidation", "in": "query", "schema": {"type": "string"},
                                    "uniqueItems": True},
                "dryRun": {"name": "dryRun", "in": "query", "schema": {"type": "string"}, "uniqueItems": True}}}}


OPENAPI_V2 = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": K8S_VERSION["gitVersion"]},
              "paths": {}, "definitions": {}}
