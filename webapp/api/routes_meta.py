"""Health and the OpenAPI document."""
from flask import Blueprint, current_app, jsonify

from ..db import isoformat, utcnow


def register(bp: Blueprint) -> None:
    @bp.get("/health")
    def health():
        return jsonify({"success": True, "message": "API is running", "timestamp": isoformat(utcnow())})

    @bp.get("/openapi.json")
    def openapi_document():
        from .openapi import build_openapi

        return jsonify(build_openapi(current_app))
