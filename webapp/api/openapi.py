"""OpenAPI 3.1 document for /api, generated from the routes' validation schemas.

Every API view carries `api_schemas` (from `@validate`) and `api_auth` (from the guards); the URL map
gives paths and methods; the view's code says which success status it answers (`created` -> 201,
`envelope(202, ...)` -> 202). Responses are the envelopes of `api.envelope`, one per status: the success
envelope for the success status, the error envelope (`success: false`, `statusCode` = the HTTP status) for
each error a route can answer, and the legacy shapes where they exist (health, unknown route, Google sign-in,
the Midtrans webhook, file downloads, the log event stream). `tests/fuzz` checks the running app against it.
"""
from __future__ import annotations

import re

from flask import Flask

from .validation import Schema

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


_TIMESTAMP = {"type": "string", "format": "date-time"}
ENVELOPE = {
    "type": "object",
    "required": ["success", "statusCode", "message", "timestamp"],
    "properties": {
        "success": {"type": "boolean"},
        "statusCode": {"type": "integer"},
        "message": {"type": "string"},
        "timestamp": _TIMESTAMP,
        "data": {},
    },
}
SUCCESS_ENVELOPE = {**ENVELOPE, "properties": {**ENVELOPE["properties"], "success": {"const": True},
                                               "statusCode": {"type": "integer", "minimum": 200, "maximum": 299}}}
ERROR_ENVELOPE = {**ENVELOPE, "properties": {**ENVELOPE["properties"], "success": {"const": False},
                                             "statusCode": {"type": "integer", "minimum": 400, "maximum": 599}}}
ROUTE_NOT_FOUND = {"type": "object", "required": ["success", "message"], "additionalProperties": False,
                   "properties": {"success": {"const": False}, "message": {"const": "Route not found"}}}
GOOGLE_ENVELOPE = {"type": "object", "required": ["success"],
                   "properties": {"success": {"type": "boolean"}, "data": {}, "error": {"type": "string"}}}
GOOGLE_SUCCESS = {"type": "object", "required": ["success", "data"], "additionalProperties": False,
                  "properties": {"success": {"const": True}, "data": {"type": "object"}}}
GOOGLE_ERROR = {"type": "object", "required": ["success", "error"], "additionalProperties": False,
                "properties": {"success": {"const": False}, "error": {"type": "string"}}}
HEALTH = {"type": "object", "required": ["success", "message", "timestamp"], "additionalProperties": False,
          "properties": {"success": {"const": True}, "message": {"type": "string"}, "timestamp": _TIMESTAMP}}
# One Server-Sent Event of the log stream (OpenAPI before 3.2: `schema` describes each event).
LOG_EVENT = {"type": "object", "required": ["event", "data"],
             "properties": {"event": {"enum": ["log-start", "log-data", "log-error", "log-end"]},
                            "data": {"type": "string"}, "id": {"type": "string"}}}
WEBHOOK_REPLY = {"type": "object", "required": ["success", "message"], "additionalProperties": False,
                 "properties": {"success": {"type": "boolean"}, "message": {"type": "string"}}}

ERROR_TEXT = {
    "400": "Invalid input (first validation error, Joi-style), or a business rule refused the request",
    "401": "Access token is required (or wrong credentials)",
    "403": "Invalid or expired token, deactivated account, or insufficient permissions",
    "404": "Resource not found, or `Route not found` for an unknown path/method",
    "409": "Conflict with the current state (duplicate, live subscription, ...)",
    "413": "Request body is too large",
    "429": "Too many requests, please try again later.",
    "500": "A billing job failed while running",
    "503": "A dependency (Kubernetes, Midtrans, Google, database, Redis) is unavailable",
}

# Operations that create a resource and the operations that can use it (OpenAPI links; the stateful fuzz
# run follows them). Source endpoint -> [(target endpoint, target method, {parameter: runtime expression})].
LINKS: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "subscriptions_create": [
        ("subscriptions_get", "get", {"subscriptionId": "$response.body#/data/subscription/id"}),
        ("subscriptions_billing_info", "get", {"subscriptionId": "$response.body#/data/subscription/id"}),
        ("subscriptions_cancel", "delete", {"subscriptionId": "$response.body#/data/subscription/id"}),
        ("subscriptions_auto_renew", "put", {"subscriptionId": "$response.body#/data/subscription/id"}),
    ],
    "tickets_create": [
        ("tickets_detail", "get", {"id": "$response.body#/data/id"}),
        ("tickets_add_message", "post", {"id": "$response.body#/data/id"}),
        ("tickets_close", "put", {"id": "$response.body#/data/id"}),
    ],
    "wallet_topup": [
        ("wallet_transaction_status", "get", {"transactionId": "$response.body#/data/transaction/transactionId"}),
        ("wallet_transaction_cancel", "post", {"transactionId": "$response.body#/data/transaction/transactionId"}),
    ],
    "admin_service_create": [
        ("admin_service_get", "get", {"id": "$response.body#/data/service/id"}),
        ("admin_service_update", "put", {"id": "$response.body#/data/service/id"}),
        ("admin_service_delete", "delete", {"id": "$response.body#/data/service/id"}),
        ("admin_plan_create", "post", {"serviceId": "$response.body#/data/service/id"}),
    ],
    "admin_coupon_create": [
        ("admin_coupon_get", "get", {"couponId": "$response.body#/data/coupon/id"}),
        ("admin_coupon_update", "put", {"couponId": "$response.body#/data/coupon/id"}),
        ("admin_coupon_delete", "delete", {"couponId": "$response.body#/data/coupon/id"}),
    ],
    "admin_users_create": [
        ("admin_users_get", "get", {"id": "$response.body#/data/user/id"}),
        ("admin_users_update", "put", {"id": "$response.body#/data/user/id"}),
        ("admin_users_status", "patch", {"id": "$response.body#/data/user/id"}),
        ("admin_users_delete", "delete", {"id": "$response.body#/data/user/id"}),
    ],
}


def _schema_of(model: type[Schema], components: dict) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return _ref(model.__name__)


def _parameters(model: type[Schema], where: str, components: dict) -> list[dict]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    required = set(schema.get("required", []))
    return [{"name": name, "in": where, "required": where == "path" or name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def _innermost(view):
    while hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    return view


def success_status(view) -> int:
    """The view's success status, read from its code: `created(...)` is 201, `envelope(202, ...)` is 202."""
    code = _innermost(view).__code__
    names, consts = set(code.co_names), set(code.co_consts)
    for nested in (c for c in code.co_consts if hasattr(c, "co_names")):
        names |= set(nested.co_names)
        consts |= {c for c in nested.co_consts if isinstance(c, int)}
    if "created" in names:
        return 201
    if "envelope" in names and 202 in consts:
        return 202
    return 200


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _responses(endpoint: str, path: str, method: str, view, *, auth: str, has_body: bool) -> dict:
    google = getattr(view, "api_google_envelope", False)
    error = _ref("ErrorEnvelope")
    if google:
        # Validation and the guards answer the standard envelope; the service's own errors the legacy shape.
        error = {"anyOf": [_ref("ErrorEnvelope"), _ref("GoogleError")]}
    responses: dict = {}
    status = success_status(view)
    if endpoint == "health":
        responses["200"] = _json(_ref("Health"), "API is running")
    elif endpoint == "openapi_document":
        responses["200"] = _json({"type": "object", "required": ["openapi", "paths"]}, "This document")
    elif endpoint == "wallet_midtrans_webhook":
        responses["200"] = _json(_ref("WebhookReply"), "Notification processed (or ignored, see `success`)")
    elif endpoint.endswith("attachment_download"):
        responses["200"] = {"description": "The image file",
                            "content": {mime: {"schema": {"type": "string", "format": "binary"}}
                                        for mime in ("image/jpeg", "image/png", "image/gif", "image/webp")}}
    elif endpoint == "instances_log_stream":
        responses["200"] = {"description": "Server-Sent Events: log-start, log-data, log-error, log-end",
                            "content": {"text/event-stream": {"schema": _ref("LogEvent")}}}
    elif google:
        responses[str(status)] = _json(_ref("GoogleSuccess"), "Success (legacy Google envelope)")
    else:
        responses[str(status)] = _json(_ref("SuccessEnvelope"), "Success envelope")

    codes = ["400", "404", "429", "503"]
    if auth != "public":
        codes += ["401", "403"]
    elif endpoint in ("auth_login", "auth_refresh", "auth_google_login"):
        codes += ["401", "403"]  # wrong credentials, spent refresh token, deactivated account
    if method != "get":
        codes.append("409")
    if has_body:
        codes.append("413")
    if path.startswith("/api/admin/billing"):
        codes.append("500")
    for code in sorted(set(codes)):
        schema = error
        if code == "404":
            schema = {"anyOf": [error, _ref("RouteNotFound")]}
        if endpoint == "wallet_midtrans_webhook" and code == "503":
            schema = _ref("WebhookReply")
        responses[code] = _json(schema, ERROR_TEXT[code])
    return responses


def build_openapi(app: Flask) -> dict:
    components: dict = {"Envelope": ENVELOPE, "SuccessEnvelope": SUCCESS_ENVELOPE, "ErrorEnvelope": ERROR_ENVELOPE,
                        "RouteNotFound": ROUTE_NOT_FOUND, "GoogleEnvelope": GOOGLE_ENVELOPE,
                        "GoogleSuccess": GOOGLE_SUCCESS, "GoogleError": GOOGLE_ERROR, "Health": HEALTH,
                        "WebhookReply": WEBHOOK_REPLY, "LogEvent": LOG_EVENT}
    paths: dict = {}
    operations: dict[str, tuple[str, str]] = {}  # endpoint -> (path, method) for the links
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api."):
            continue
        view = app.view_functions[rule.endpoint]
        endpoint = rule.endpoint.removeprefix("api.")
        schemas = getattr(view, "api_schemas", {})
        auth = getattr(view, "api_auth", "public")
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            params = []
            if schemas.get("path"):
                params += _parameters(schemas["path"], "path", components)
            else:
                params += [{"name": arg, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                           for arg in sorted(rule.arguments)]
            if schemas.get("query"):
                params += _parameters(schemas["query"], "query", components)
            operation: dict = {
                "operationId": f"{endpoint}_{method.lower()}",
                "summary": (view.__doc__ or "").strip().split("\n")[0] or rule.endpoint,
                "tags": [path.split("/")[2] if path.count("/") > 1 else "meta"],
                "parameters": params,
                "responses": _responses(endpoint, path, method.lower(), view, auth=auth,
                                        has_body=bool(schemas.get("body"))),
            }
            if schemas.get("body"):
                content = {"application/json": {"schema": _schema_of(schemas["body"], components)}}
                if getattr(view, "api_multipart", False):
                    content["multipart/form-data"] = {"schema": _multipart_schema(schemas["body"])}
                operation["requestBody"] = {"required": True, "content": content}
            if auth != "public":
                operation["security"] = [{"bearerAuth": []}]
                operation["x-poddesk-role"] = auth
            paths.setdefault(path, {})[method.lower()] = operation
            operations[endpoint] = (path, method.lower())
    _add_links(paths, operations)
    return {
        "openapi": "3.1.0",
        "info": {"title": "PodDesk API", "version": "1.0.0",
                 "description": "Customer and admin JSON API (compatible with the original minispod API)."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


def _multipart_schema(model: type[Schema]) -> dict:
    """Form fields of an upload route: the JSON body's string fields plus up to 5 image files."""
    schema = model.model_json_schema()
    properties = {name: prop for name, prop in schema.get("properties", {}).items()}
    properties["attachments"] = {"type": "array", "maxItems": 5, "items": {"type": "string", "format": "binary"}}
    return {"type": "object", "properties": properties, "required": schema.get("required", [])}


def _add_links(paths: dict, operations: dict[str, tuple[str, str]]) -> None:
    for source, targets in LINKS.items():
        if source not in operations:
            continue
        path, method = operations[source]
        responses = paths[path][method]["responses"]
        success = next(code for code in responses if code.startswith("2"))
        links = responses[success].setdefault("links", {})
        for target, target_method, parameters in targets:
            if target not in operations or operations[target][1] != target_method:
                continue
            links[target] = {"operationId": f"{target}_{target_method}", "parameters": parameters}
