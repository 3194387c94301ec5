"""The three PATCH flavours the API server accepts, applied to plain JSON documents.

* JSON merge patch (RFC 7386, `application/merge-patch+json`): maps merge, `null` deletes, lists replace.
* Strategic merge patch (`application/strategic-merge-patch+json`): like merge patch, but lists whose Go type
  declares a merge key (containers/env by `name`, container ports by `containerPort`, service ports by
  `port`, conditions by `type`, ...) are merged element-wise; the `$patch` (`replace`/`delete`/`merge`),
  `$retainKeys` and `$deleteFromPrimitiveList/<field>` directives are honoured and `$setElementOrder/<field>`
  is accepted and ignored.  This covers what kubectl (`rollout restart`, `scale`, `edit`, `label`,
  `annotate`) and the Python client send for the kinds the simulator serves.
* JSON patch (RFC 6902, `application/json-patch+json`): add/remove/replace/move/copy/test.

All functions return new documents and never mutate their inputs (the store shares objects between readers).
"""
from __future__ import annotations

import copy

from .errors import ApiError

# field name -> merge key, for lists patched element-wise (from the Go struct tags `patchMergeKey`).
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "envFrom": None,
    "containerStatuses": None, "secrets": "name", "addresses": "type", "taints": "key",
}
# Lists of primitives with patchStrategy "merge" (union instead of replace).
_MERGE_PRIMITIVE_LISTS = {"finalizers"}


def _merge_key(field: str, path: tuple) -> str | None:
    if field == "ports":
        # container ports merge on containerPort; Service ports on port (both patchMergeKey in the Go types)
        return "containerPort" if any(p in ("containers", "initContainers") for p in path) else "port"
    if field == "addresses" and "subsets" in path:
        return None
    return _MERGE_KEYS.get(field)


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target, patch, path: tuple = ()):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge_patch(out.get(k), v, path + (k,))
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, k, path + (k,))
        else:
            out[k] = v
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(current, patch: list, field: str, path: tuple):
    # An explicit `{"$patch": "replace"}` element means "replace the whole list with the other elements".
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [copy.deepcopy(e) for e in patch if not (isinstance(e, dict) and e.get("$patch") == "replace")]
    if field in _MERGE_PRIMITIVE_LISTS and all(not isinstance(e, dict) for e in patch):
        base = list(current or [])
        return base + [e for e in patch if e not in base]
    key = _merge_key(field, path)
    if key is None or not isinstance(current, list) or not all(isinstance(e, dict) for e in patch):
        return [copy.deepcopy(e) for e in patch if not (isinstance(e, dict) and e.get("$patch") == "delete")]
    out = list(current)
    for elem in patch:
        kv = elem.get(key)
        idx = next((i for i, c in enumerate(out) if isinstance(c, dict) and c.get(key) == kv), None)
        if elem.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge_patch({}, elem, path))
        else:
            out[idx] = strategic_merge_patch(out[idx], elem, path)
    return out


# --- RFC 6902 -------------------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                       f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            cur = cur[int(p)]
        elif isinstance(cur, dict):
            cur = cur[p]
        else:
            raise KeyError(p)
    return cur


def json_patch(doc, ops: list):
    if not isinstance(ops, list):
        raise ApiError.bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        try:
            kind = op["op"]
            parts = _pointer(op["path"])
            if kind == "test":
                if _walk(doc, parts) != op.get("value"):
                    raise ApiError(422, "Invalid", f"testing value {op['path']} failed")
                continue
            if kind in ("move", "copy"):
                value = copy.deepcopy(_walk(doc, _pointer(op["from"])))
                if kind == "move":
                    doc = _remove(doc, _pointer(op["from"]))
                doc = _add(doc, parts, value)
            elif kind == "add":
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            elif kind == "remove":
                doc = _remove(doc, parts)
            elif kind == "replace":
                _walk(doc, parts)  # must exist
                doc = _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            else:
                raise ApiError.bad_request(f"Unexpected kind: {kind}")
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                           f"jsonpatch {op.get('op')} operation does not apply: doc is missing "
                                           f"path: {op.get('path')!r}") from None
    return doc


def _add(doc, parts, value):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            i = int(last)
            if i > len(parent):
                raise IndexError(i)
            parent.insert(i, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise KeyError(last)
    return doc


def _remove(doc, parts):
    if not parts:
        return None
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        parent.pop(int(last))
    else:
        del parent[last]
    return doc


def apply_patch(doc: dict, patch, content_type: str) -> dict:
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct == "application/json-patch+json":
        return json_patch(doc, patch)
    if not isinstance(patch, dict):
        raise ApiError.bad_request("patch body must be a JSON object")
    if ct == "application/merge-patch+json":
        return merge_patch(doc, patch)
    if ct == "application/strategic-merge-patch+json":
        return strategic_merge_patch(doc, patch)
    if ct == "application/apply-patch+yaml":
        # Server-side apply is approximated by a strategic merge of the applied configuration.
        return strategic_merge_patch(doc, patch)
    raise ApiError.unsupported_media(content_type)
