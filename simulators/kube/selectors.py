"""Label and field selectors, parsed once per request and matched against stored objects.

Label selectors follow the Kubernetes grammar (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`).
Field selectors support `=`, `==`, `!=` on `metadata.name`/`metadata.namespace` for every kind plus the
per-kind fields the real API server allows; anything else is a 400 "field label not supported", as upstream.
"""
from __future__ import annotations

import re

from .errors import ApiError

# Fields the real API server indexes per kind (besides metadata.name / metadata.namespace).
FIELD_LABELS = {
    "Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
    "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
              "reason", "reportingComponent", "source", "type"},
    "Secret": {"type"},
    "Namespace": {"status.phase"},
    "Node": {"spec.unschedulable"},
    "ReplicaSet": {"status.replicas"},
    "PersistentVolume": {"name"},
    "PodMetrics": set(),
    "NodeMetrics": set(),
}

_REQ_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)"
                     r"|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_top(s: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


class LabelSelector:
    """A compiled label selector; `matches(labels_dict)`."""

    def __init__(self, text: str | None):
        self.text = text or ""
        self.reqs: list[tuple[str, str, frozenset]] = []
        for part in _split_top(self.text):
            m = _REQ_RE.match(part)
            if not m:
                raise ApiError.bad_request(f"unable to parse requirement: invalid label selector: {part!r}")
            bang, key, op, val, setop, vals = m.groups()
            if bang:
                if op or setop:
                    raise ApiError.bad_request(f"unable to parse requirement: {part!r}")
                self.reqs.append((key, "!exists", frozenset()))
            elif op:
                self.reqs.append((key, "!=" if op == "!=" else "=", frozenset([val])))
            elif setop:
                items = frozenset(v.strip() for v in vals.split(",") if v.strip())
                self.reqs.append((key, setop, items))
            else:
                self.reqs.append((key, "exists", frozenset()))

    @classmethod
    def from_match(cls, selector: dict | None) -> "LabelSelector":
        """Build from a `spec.selector` ({matchLabels, matchExpressions}) of a Deployment/ReplicaSet."""
        sel = cls("")
        selector = selector or {}
        for k, v in (selector.get("matchLabels") or {}).items():
            sel.reqs.append((k, "=", frozenset([v])))
        for expr in selector.get("matchExpressions") or []:
            op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}.get(expr.get("operator"))
            if op:
                sel.reqs.append((expr.get("key", ""), op, frozenset(expr.get("values") or [])))
        return sel

    def empty(self) -> bool:
        return not self.reqs

    def matches(self, labels: dict | None) -> bool:
        labels = labels or {}
        for key, op, vals in self.reqs:
            present = key in labels
            if op == "=":
                if not present or labels[key] not in vals:
                    return False
            elif op == "!=":
                if present and labels[key] in vals:
                    return False
            elif op == "in":
                if not present or labels[key] not in vals:
                    return False
            elif op == "notin":
                if present and labels[key] in vals:
                    return False
            elif op == "exists":
                if not present:
                    return False
            elif op == "!exists":
                if present:
                    return False
        return True


def field_value(obj: dict, path: str) -> str:
    """The string form of a dotted field, as the API server compares it ("" when absent)."""
    if path == "source" and obj.get("kind") == "Event":
        return (obj.get("source") or {}).get("component", "")
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


class FieldSelector:
    def __init__(self, text: str | None, kind: str):
        self.text = text or ""
        self.reqs: list[tuple[str, bool, str]] = []  # (path, negate, value)
        allowed = {"metadata.name", "metadata.namespace"} | FIELD_LABELS.get(kind, set())
        for part in _split_top(self.text):
            m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
            if not m:
                raise ApiError.bad_request(f"invalid selector: '{self.text}'; can't understand '{part}'")
            path, op, val = m.groups()
            if path not in allowed:
                raise ApiError.bad_request(f'field label not supported: {path}')
            self.reqs.append((path, op == "!=", val))

    def empty(self) -> bool:
        return not self.reqs

    def matches(self, obj: dict) -> bool:
        for path, negate, val in self.reqs:
            if (field_value(obj, path) == val) == negate:
                return False
        return True
