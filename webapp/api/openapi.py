"""OpenAPI 3.1 document for /api, generated from the routes' validation schemas.

Every API view carries `api_schemas` (from `@validate`) and `api_auth` (from the guards); the URL map
gives paths and methods. Nothing is written by hand, so the document cannot drift from the code.
"""
from __future__ import annotations

import re

from flask import Flask

from .validation import Schema

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

ENVELOPE = {
    "type": "object",
    "required": ["success", "statusCode", "message", "timestamp"],
    "properties": {
        "success": {"type": "boolean"},
        "statusCode": {"type": "integer"},
        "message": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "data": {},
    },
}
ROUTE_NOT_FOUND = {"type": "object", "required": ["success", "message"],
                   "properties": {"success": {"const": False}, "message": {"type": "string"}}}
GOOGLE_ENVELOPE = {"type": "object", "required": ["success"],
                   "properties": {"success": {"type": "boolean"}, "data": {}, "error": {"type": "string"}}}


def _schema_of(model: type[Schema], components: dict) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(model: type[Schema], where: str, components: dict) -> list[dict]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    required = set(schema.get("required", []))
    return [{"name": name, "in": where, "required": where == "path" or name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def build_openapi(app: Flask) -> dict:
    components: dict = {"Envelope": ENVELOPE, "RouteNotFound": ROUTE_NOT_FOUND, "GoogleEnvelope": GOOGLE_ENVELOPE}
    paths: dict = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api."):
            continue
        view = app.view_functions[rule.endpoint]
        schemas = getattr(view, "api_schemas", {})
        auth = getattr(view, "api_auth", "public")
        google = getattr(view, "api_google_envelope", False)
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            params = []
            if schemas.get("path"):
                params += _parameters(schemas["path"], "path", components)
            else:
                params += [{"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
                           for arg in sorted(rule.arguments)]
            if schemas.get("query"):
                params += _parameters(schemas["query"], "query", components)
            body_ref = {"$ref": "#/components/schemas/GoogleEnvelope" if google else "#/components/schemas/Envelope"}
            operation: dict = {
                "operationId": f"{rule.endpoint.removeprefix('api.')}_{method.lower()}",
                "summary": (view.__doc__ or "").strip().split("\n")[0] or rule.endpoint,
                "tags": [path.split("/")[2] if path.count("/") > 1 else "meta"],
                "parameters": params,
                "responses": {
                    "default": {"description": "Envelope", "content": {"application/json": {"schema": body_ref}}},
                    "404": {"description": "Not found",
                            "content": {"application/json": {"schema": {"anyOf": [
                                {"$ref": "#/components/schemas/Envelope"},
                                {"$ref": "#/components/schemas/RouteNotFound"}]}}}},
                },
            }
            if schemas.get("body"):
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": _schema_of(schemas["body"], components)}}}
            if auth != "public":
                operation["security"] = [{"bearerAuth": []}]
                operation["x-poddesk-role"] = auth
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "PodDesk API", "version": "1.0.0",
                 "description": "Customer and admin JSON API (compatible with the original minispod API)."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }
