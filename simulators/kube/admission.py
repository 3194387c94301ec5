"""Defaulting and validation applied to every write, i.e. what the real API server's registry strategies and
admission plugins do before an object is persisted.

Defaults matter because clients read them back (e.g. a Service's allocated `clusterIP`, a Deployment's
`strategy`, a container's `imagePullPolicy`); validation matters because the product must see the same
422 Invalid errors a real cluster returns (names that are not DNS-1123, selectors that do not match the pod
template, requests above limits, a changed immutable field...).  Only the rules relevant to the kinds the
product uses are implemented; unknown fields are stored as given.
"""
from __future__ import annotations

import base64
import binascii
import re

from .errors import ApiError
from .quantity import parse_quantity

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
WILDCARD_HOST = re.compile(r"^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                 "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
MSG_1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
            "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
            "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
MSG_LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")

# Name rules per kind: (regex, message, max length)
_NAME_RULES = {
    "Namespace": (DNS1123_LABEL, MSG_LABEL, 63),
    "Service": (DNS1035_LABEL, MSG_1035, 63),
}
_SUBDOMAIN_RULE = (DNS1123_SUBDOMAIN, MSG_SUBDOMAIN, 253)


def _q(v) -> str:
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_name(kind: str, name: str, field: str = "metadata.name") -> list[tuple[str, str]]:
    rx, msg, maxlen = _NAME_RULES.get(kind, _SUBDOMAIN_RULE)
    errs = []
    if len(name) > maxlen:
        errs.append((field, f"Invalid value: {_q(name)}: must be no more than {maxlen} characters"))
    if not rx.match(name):
        errs.append((field, f"Invalid value: {_q(name)}: {msg}"))
    return errs


def _check_labels(labels, field: str) -> list[tuple[str, str]]:
    errs = []
    if labels is None:
        return errs
    if not isinstance(labels, dict):
        return [(field, "Invalid value: must be a map of strings")]
    for k, v in labels.items():
        prefix, _, name = k.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) or len(name) > 63 \
                or not QUALIFIED_NAME.match(name):
            errs.append((field, f"Invalid value: {_q(k)}: name part must consist of alphanumeric characters, '-', "
                                f"'_' or '.', and must start and end with an alphanumeric character"))
        if not isinstance(v, str):
            errs.append((f"{field}", f"Invalid value: {_q(v)}: label values must be strings"))
        elif len(v) > 63 or not LABEL_VALUE.match(v):
            errs.append((field, f"Invalid value: {_q(v)}: {MSG_LABEL_VALUE}"))
    return errs


def _image_pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    tag = tail.split(":", 1)[1] if ":" in tail else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(p: dict | None):
    if not isinstance(p, dict):
        return
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    if isinstance(p.get("httpGet"), dict):
        p["httpGet"].setdefault("scheme", "HTTP")


def default_pod_spec(spec: dict, is_pod: bool) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if is_pod:
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        spec.setdefault("tolerations", [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}])
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        if c.get("image"):
            c.setdefault("imagePullPolicy", _image_pull_policy(c["image"]))
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        res = c["resources"]
        # A limit without a request defaults the request to the limit (as the API server does).
        if isinstance(res, dict) and isinstance(res.get("limits"), dict):
            req = res.setdefault("requests", {})
            for k, v in res["limits"].items():
                req.setdefault(k, v)
        for p in c.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            _default_probe(c.get(probe))
    for v in spec.get("volumes") or []:
        if isinstance(v, dict) and isinstance(v.get("secret"), dict):
            v["secret"].setdefault("defaultMode", 420)
        if isinstance(v, dict) and isinstance(v.get("configMap"), dict):
            v["configMap"].setdefault("defaultMode", 420)


def validate_pod_spec(spec, field: str) -> list[tuple[str, str]]:
    errs = []
    if not isinstance(spec, dict):
        return [(field, "Required value")]
    containers = spec.get("containers")
    if not containers:
        return [(f"{field}.containers", "Required value")]
    seen = set()
    volumes = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    for i, c in enumerate(containers):
        cf = f"{field}.containers[{i}]"
        name = c.get("name") if isinstance(c, dict) else None
        if not name:
            errs.append((f"{cf}.name", "Required value"))
        else:
            if not DNS1123_LABEL.match(name) or len(name) > 63:
                errs.append((f"{cf}.name", f"Invalid value: {_q(name)}: {MSG_LABEL}"))
            if name in seen:
                errs.append((f"{cf}.name", f"Duplicate value: {_q(name)}"))
            seen.add(name)
        if not isinstance(c, dict):
            continue
        if not c.get("image"):
            errs.append((f"{cf}.image", "Required value"))
        for j, p in enumerate(c.get("ports") or []):
            cp = p.get("containerPort") if isinstance(p, dict) else None
            if not isinstance(cp, int) or not 0 < cp < 65536:
                errs.append((f"{cf}.ports[{j}].containerPort",
                             f"Invalid value: {cp}: must be between 1 and 65535, inclusive"))
        for j, m in enumerate(c.get("volumeMounts") or []):
            if isinstance(m, dict) and m.get("name") not in volumes:
                errs.append((f"{cf}.volumeMounts[{j}].name", f"Not found: {_q(m.get('name'))}"))
        res = c.get("resources") or {}
        limits, reqs = res.get("limits") or {}, res.get("requests") or {}
        parsed = {}
        for kind_name, block in (("limits", limits), ("requests", reqs)):
            for rname, q in block.items():
                try:
                    parsed[(kind_name, rname)] = parse_quantity(q)
                except ValueError as e:
                    errs.append((f"{cf}.resources.{kind_name}[{rname}]", f"Invalid value: {_q(q)}: {e}"))
        for rname, lim in limits.items():
            if ("limits", rname) in parsed and ("requests", rname) in parsed \
                    and parsed[("requests", rname)] > parsed[("limits", rname)]:
                errs.append((f"{cf}.resources.requests",
                             f"Invalid value: {_q(reqs[rname])}: must be less than or equal to {rname} limit of {lim}"))
    return errs


class ServiceIPs:
    """Allocates ClusterIPs from 10.43.0.0/16 (the K3s service CIDR)."""

    def __init__(self):
        self.next = 10

    def allocate(self, used: set[str]) -> str:
        while True:
            self.next += 1
            ip = f"10.43.{(self.next >> 8) & 255}.{self.next & 255}"
            if ip not in used and (self.next & 255) not in (0, 255):
                return ip


def default_and_validate(res, obj: dict, old: dict | None, ctx) -> None:
    """Mutates `obj` in place (a private copy), raising ApiError(422) on invalid input.

    ctx: the Store (gives access to the ClusterIP allocator and to existing objects).
    """
    kind = res.kind
    meta = obj.setdefault("metadata", {})
    name = meta.get("name", "")
    errs: list[tuple[str, str]] = []
    if not name:
        errs.append(("metadata.name", "Required value: name or generateName is required"))
    else:
        errs += check_name(kind, name)
    errs += _check_labels(meta.get("labels"), "metadata.labels")
    if meta.get("annotations") is not None and not all(isinstance(v, str) for v in meta["annotations"].values()):
        errs.append(("metadata.annotations", "Invalid value: annotation values must be strings"))
    spec = obj.get("spec")

    if kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if old is None:
            obj["status"] = {"phase": "Active"}
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
            errs.append(("spec", "Required value"))
        if kind != "DaemonSet":
            spec.setdefault("replicas", 1)
            if not isinstance(spec["replicas"], int) or spec["replicas"] < 0:
                errs.append(("spec.replicas", f"Invalid value: {spec['replicas']}: must be greater than or equal to 0"))
        if kind == "Deployment":
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            strat = spec.setdefault("strategy", {"type": "RollingUpdate"})
            strat.setdefault("type", "RollingUpdate")
            if strat["type"] == "RollingUpdate":
                ru = strat.setdefault("rollingUpdate", {})
                ru.setdefault("maxUnavailable", "25%")
                ru.setdefault("maxSurge", "25%")
        tmpl = spec.get("template")
        sel = spec.get("selector")
        if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
            errs.append(("spec.selector", "Required value"))
        if not isinstance(tmpl, dict):
            errs.append(("spec.template", "Required value"))
        else:
            tlabels = (tmpl.get("metadata") or {}).get("labels") or {}
            errs += _check_labels(tlabels, "spec.template.metadata.labels")
            if isinstance(sel, dict):
                from .selectors import LabelSelector
                if not LabelSelector.from_match(sel).matches(tlabels):
                    errs.append(("spec.template.metadata.labels",
                                 f"Invalid value: map[string]string{{{_go_map(tlabels)}}}: `selector` does not match "
                                 f"template `labels`"))
            tspec = tmpl.setdefault("spec", {})
            if isinstance(tspec, dict):
                default_pod_spec(tspec, is_pod=False)
            errs += validate_pod_spec(tspec, "spec.template.spec")
            if tspec.get("restartPolicy") not in (None, "Always") and kind != "StatefulSet":
                errs.append(("spec.template.spec.restartPolicy",
                             f"Unsupported value: {_q(tspec.get('restartPolicy'))}: supported values: \"Always\""))
        if old is not None and (old.get("spec") or {}).get("selector") != spec.get("selector"):
            errs.append(("spec.selector", f"Invalid value: {_selector_repr(spec.get('selector'))}: field is immutable"))
    elif kind == "Pod":
        if isinstance(spec, dict):
            default_pod_spec(spec, is_pod=True)
        errs += validate_pod_spec(spec, "spec")
        if old is not None and isinstance(spec, dict):
            # Pod spec is immutable except images and a few fields; keep the scheduler's nodeName.
            ospec = old.get("spec") or {}
            if ospec.get("nodeName") and not spec.get("nodeName"):
                spec["nodeName"] = ospec["nodeName"]
            strip = lambda s: [{k: v for k, v in c.items() if k != "image"} for c in s.get("containers") or []]
            if strip(spec) != strip(ospec):
                errs.append(("spec", "Forbidden: pod updates may not change fields other than `spec.containers[*]."
                                     "image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, "
                                     "`spec.tolerations` (only additions to existing tolerations), "
                                     "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                                     "previously negative)"))
        if old is None:
            obj.setdefault("status", {"phase": "Pending", "qosClass": _qos(spec or {})})
    elif kind == "Service":
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        ports = spec.get("ports") or []
        if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            errs.append(("spec.ports", "Required value"))
        for i, p in enumerate(ports):
            if not isinstance(p, dict):
                continue
            p.setdefault("protocol", "TCP")
            port = p.get("port")
            if not isinstance(port, int) or not 0 < port < 65536:
                errs.append((f"spec.ports[{i}].port", f"Invalid value: {port}: must be between 1 and 65535, "
                                                      f"inclusive"))
            p.setdefault("targetPort", port)
            if len(ports) > 1 and not p.get("name"):
                errs.append((f"spec.ports[{i}].name", "Required value"))
        if spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer"):
            old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
            if old is not None and spec.get("clusterIP") in (None, "") and old_ip:
                spec["clusterIP"] = old_ip  # replace without clusterIP keeps the allocation (spec §4 #10)
            elif old is not None and old_ip and spec.get("clusterIP") != old_ip:
                errs.append(("spec.clusterIPs[0]", f"Invalid value: []string{{{_q(spec.get('clusterIP'))}}}: "
                                                   f"may not change once set"))
            if not spec.get("clusterIP"):
                spec["clusterIP"] = ctx.allocate_cluster_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("ipFamilies", ["IPv4"] if spec["clusterIP"] != "None" else ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if old is None:
            obj["status"] = {"loadBalancer": {}}
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        data = obj.get("data") or {}
        for k, v in data.items():
            if not CONFIG_KEY.match(k):
                errs.append((f"data[{k}]", f"Invalid value: {_q(k)}: a valid config key must consist of "
                                           f"alphanumeric characters, '-', '_' or '.'"))
            try:
                base64.b64decode(v or "", validate=True)
            except (binascii.Error, ValueError, TypeError):
                errs.append((f"data[{k}]", "Invalid value: illegal base64 data"))
        if obj.get("stringData"):
            data = dict(data)
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        if obj["type"] == "kubernetes.io/tls" and not ({"tls.crt", "tls.key"} <= set(obj.get("data") or {})):
            errs.append(("data[tls.crt]", "Required value"))
    elif kind == "ConfigMap":
        for k, v in (obj.get("data") or {}).items():
            if not CONFIG_KEY.match(k):
                errs.append((f"data[{k}]", f"Invalid value: {_q(k)}: a valid config key must consist of "
                                           f"alphanumeric characters, '-', '_' or '.'"))
            if not isinstance(v, str):
                errs.append((f"data[{k}]", f"Invalid value: {v!r}: must be a string"))
    elif kind == "PersistentVolumeClaim":
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        if not spec.get("accessModes"):
            errs.append(("spec.accessModes", "Required value: at least 1 access mode is required"))
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is None:
            errs.append(("spec.resources[storage]", "Required value"))
        else:
            try:
                parse_quantity(storage)
            except ValueError as e:
                errs.append(("spec.resources.requests[storage]", f"Invalid value: {_q(storage)}: {e}"))
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("storageClassName", "local-path")  # the default StorageClass of K3s
        if old is None:
            obj["status"] = {"phase": "Pending"}
        elif ((old.get("spec") or {}).get("storageClassName") != spec.get("storageClassName")):
            errs.append(("spec", "Forbidden: spec is immutable after creation except resources.requests and "
                                 "volumeAttributesClassName for bound claims"))
    elif kind == "Ingress":
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        for i, rule in enumerate(spec.get("rules") or []):
            host = rule.get("host")
            if host and not (DNS1123_SUBDOMAIN.match(host) or WILDCARD_HOST.match(host)):
                errs.append((f"spec.rules[{i}].host", f"Invalid value: {_q(host)}: {MSG_SUBDOMAIN}"))
            for j, path in enumerate(((rule.get("http") or {}).get("paths")) or []):
                pf = f"spec.rules[{i}].http.paths[{j}]"
                if not path.get("pathType"):
                    errs.append((f"{pf}.pathType", "Required value: pathType must be specified"))
                elif path["pathType"] not in ("Exact", "Prefix", "ImplementationSpecific"):
                    errs.append((f"{pf}.pathType", f"Unsupported value: {_q(path['pathType'])}: supported values: "
                                                   f"\"Exact\", \"ImplementationSpecific\", \"Prefix\""))
                if path.get("pathType") in ("Exact", "Prefix") and not str(path.get("path", "")).startswith("/"):
                    errs.append((f"{pf}.path", f"Invalid value: {_q(path.get('path', ''))}: must be an absolute "
                                               f"path"))
                svc = ((path.get("backend") or {}).get("service")) or {}
                if not svc and not (path.get("backend") or {}).get("resource"):
                    errs.append((f"{pf}.backend", "Invalid value: \"\": one backend must be specified"))
                elif svc and not (svc.get("port") or {}).get("number") and not (svc.get("port") or {}).get("name"):
                    errs.append((f"{pf}.backend.service.port", "Invalid value: \"\": port name or number is "
                                                               "required"))
        for i, tls in enumerate(spec.get("tls") or []):
            for j, host in enumerate(tls.get("hosts") or []):
                if not (DNS1123_SUBDOMAIN.match(host) or WILDCARD_HOST.match(host)):
                    errs.append((f"spec.tls[{i}].hosts[{j}]", f"Invalid value: {_q(host)}: {MSG_SUBDOMAIN}"))
        if old is None:
            obj["status"] = {"loadBalancer": {}}
    elif kind == "Job":
        errs += _job(obj, old)
    elif kind == "PodDisruptionBudget":
        errs += _pdb(obj)
    elif kind in ("Role", "ClusterRole"):
        errs += _role_rules(kind, obj)
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        errs += _binding(kind, obj, old)
    if errs:
        raise ApiError.invalid(res, name, errs)


# ---------------------------------------------------------------------------------------------- batch/v1 Job
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")


def _job(obj: dict, old: dict | None) -> list[tuple[str, str]]:
    errs: list[tuple[str, str]] = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    for key, default in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6)):
        spec.setdefault(key, default)
        if not isinstance(spec[key], int) or spec[key] < 0:
            errs.append((f"spec.{key}", f"Invalid value: {spec[key]}: must be greater than or equal to 0"))
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    for key in ("ttlSecondsAfterFinished", "activeDeadlineSeconds"):
        v = spec.get(key)
        if v is not None and (not isinstance(v, int) or v < (0 if key == "ttlSecondsAfterFinished" else 1)):
            errs.append((f"spec.{key}", f"Invalid value: {v}: must be greater than or equal to "
                                        f"{0 if key == 'ttlSecondsAfterFinished' else 1}"))
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        return errs + [("spec.template", "Required value")]
    errs += _check_labels((tmpl.get("metadata") or {}).get("labels"), "spec.template.metadata.labels")
    tspec = tmpl.setdefault("spec", {})
    if isinstance(tspec, dict):
        default_pod_spec(tspec, is_pod=False)
        if tspec.get("restartPolicy") not in ("OnFailure", "Never"):
            errs.append(("spec.template.spec.restartPolicy",
                         f"Unsupported value: {_q(tspec.get('restartPolicy'))}: supported values: \"OnFailure\", "
                         f"\"Never\""))
    errs += validate_pod_spec(tspec, "spec.template.spec")
    if old is not None:
        ospec = old.get("spec") or {}
        # The selector and the pod template are set once (the generated labels are kept by PATCH/apply).
        if ospec.get("selector") is not None and spec.get("selector") is None:
            spec["selector"] = ospec["selector"]
        for key in ("selector", "template", "completionMode"):
            if ospec.get(key) != spec.get(key):
                errs.append((f"spec.{key}", f"Invalid value: {_q(_short(spec.get(key)))}: field is immutable"))
    return errs


def job_generated_labels(obj: dict) -> None:
    """What the Job strategy adds once the uid is known: a selector on the controller uid and the matching
    template labels (unless `manualSelector` is set)."""
    spec, meta = obj.get("spec") or {}, obj["metadata"]
    labels = (spec.get("template") or {}).setdefault("metadata", {}).setdefault("labels", {})
    for key in JOB_NAME_LABELS:
        labels.setdefault(key, meta["name"])
    if spec.get("manualSelector"):
        return
    for key in JOB_UID_LABELS:
        labels[key] = meta["uid"]
    spec["selector"] = {"matchLabels": {JOB_UID_LABELS[0]: meta["uid"]}}


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------------------------- policy/v1 PDB
def _pdb(obj: dict) -> list[tuple[str, str]]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    errs = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(("spec", "Invalid value: minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        v = spec.get(key)
        if v is None:
            continue
        if isinstance(v, str) and v.endswith("%") and v[:-1].isdigit():
            if int(v[:-1]) > 100:
                errs.append((f"spec.{key}", f"Invalid value: {_q(v)}: must not be greater than 100%"))
        elif not isinstance(v, int) or isinstance(v, bool) or v < 0:
            errs.append((f"spec.{key}", f"Invalid value: {_q(v)}: must be an integer or percentage (e.g '5%')"))
    if spec.get("selector") is not None and not isinstance(spec["selector"], dict):
        errs.append(("spec.selector", "Invalid value: must be a label selector"))
    return errs


# ---------------------------------------------------------------------------------------------- rbac/v1
RBAC_GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def _role_rules(kind: str, obj: dict) -> list[tuple[str, str]]:
    errs = []
    rules = obj.get("rules")
    if rules is None:
        if kind == "ClusterRole" and obj.get("aggregationRule"):
            return errs
        obj["rules"] = rules = []
    if not isinstance(rules, list):
        return [("rules", "Invalid value: must be a list of PolicyRules")]
    for i, rule in enumerate(rules):
        f = f"rules[{i}]"
        if not isinstance(rule, dict):
            errs.append((f, "Invalid value: must be a PolicyRule"))
            continue
        if not rule.get("verbs"):
            errs.append((f"{f}.verbs", "Required value: verbs must contain at least one value"))
        non_resource = rule.get("nonResourceURLs")
        if non_resource:
            if kind == "Role":
                errs.append((f"{f}.nonResourceURLs", "Invalid value: namespaced rules cannot apply to "
                                                     "non-resource URLs"))
            if rule.get("resources") or rule.get("apiGroups"):
                errs.append((f"{f}.nonResourceURLs", "Invalid value: rules cannot apply to both regular "
                                                     "resources and non-resource URLs"))
            continue
        if not rule.get("resources"):
            errs.append((f"{f}.resources", "Required value: resource rules must supply at least one resource"))
        if rule.get("apiGroups") is None:
            errs.append((f"{f}.apiGroups", "Required value: resource rules must supply at least one api group"))
        for key in ("verbs", "resources", "apiGroups", "resourceNames"):
            if rule.get(key) is not None and not (isinstance(rule[key], list)
                                                  and all(isinstance(x, str) for x in rule[key])):
                errs.append((f"{f}.{key}", "Invalid value: must be a list of strings"))
    return errs


def _binding(kind: str, obj: dict, old: dict | None) -> list[tuple[str, str]]:
    errs = []
    ref = obj.get("roleRef")
    allowed = ("ClusterRole",) if kind == "ClusterRoleBinding" else ("Role", "ClusterRole")
    if not isinstance(ref, dict):
        errs.append(("roleRef", "Required value"))
    else:
        if ref.get("apiGroup") != RBAC_GROUP:
            errs.append(("roleRef.apiGroup", f"Unsupported value: {_q(ref.get('apiGroup', ''))}: supported values: "
                                             f"\"{RBAC_GROUP}\""))
        if ref.get("kind") not in allowed:
            errs.append(("roleRef.kind", f"Unsupported value: {_q(ref.get('kind', ''))}: supported values: "
                                         + ", ".join(f'"{k}"' for k in allowed)))
        if not ref.get("name"):
            errs.append(("roleRef.name", "Required value"))
        if old is not None and old.get("roleRef") != ref:
            errs.append(("roleRef", f"Invalid value: {_q(_short(ref))}: cannot change roleRef"))
    for i, sub in enumerate(obj.get("subjects") or []):
        f = f"subjects[{i}]"
        if not isinstance(sub, dict):
            errs.append((f, "Invalid value: must be a Subject"))
            continue
        if not sub.get("name"):
            errs.append((f"{f}.name", "Required value"))
        if sub.get("kind") not in SUBJECT_KINDS:
            errs.append((f"{f}.kind", f"Unsupported value: {_q(sub.get('kind', ''))}: supported values: "
                                      f"\"ServiceAccount\", \"User\", \"Group\""))
        elif sub["kind"] == "ServiceAccount":
            if kind == "ClusterRoleBinding" and not sub.get("namespace"):
                errs.append((f"{f}.namespace", "Required value"))
        else:
            sub.setdefault("apiGroup", RBAC_GROUP)
    return errs


def _go_map(d: dict) -> str:
    return ", ".join(f"{_q(k)}:{_q(v)}" for k, v in sorted(d.items()))


def _selector_repr(sel) -> str:
    ml = (sel or {}).get("matchLabels") or {}
    return f"v1.LabelSelector{{MatchLabels:map[string]string{{{_go_map(ml)}}}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}"


def _qos(spec: dict) -> str:
    containers = spec.get("containers") or []
    if not containers:
        return "BestEffort"
    guaranteed, any_set = True, False
    for c in containers:
        res = c.get("resources") or {}
        lim, req = res.get("limits") or {}, res.get("requests") or {}
        if lim or req:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if any_set else "BestEffort"
