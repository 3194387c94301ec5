"""Health (liveness and readiness) and the OpenAPI document."""
from flask import Blueprint, current_app, jsonify

from ..db import isoformat, utcnow
from .envelope import envelope


def register(bp: Blueprint) -> None:
    @bp.get("/health")
    def health():
        """Liveness: the process answers (no dependency is called)."""
        return jsonify({"success": True, "message": "API is running", "timestamp": isoformat(utcnow())})

    @bp.get("/health/ready")
    def health_ready():
        """Readiness: PostgreSQL and Redis answer (503 naming what failed)."""
        from ..health import readiness

        checks = readiness()
        failed = [name for name, result in checks.items() if result != "ok"]
        if failed:
            return envelope(503, f"Service not ready: {', '.join(failed)} unavailable", checks)
        return envelope(200, "Service is ready", checks)

    @bp.get("/openapi.json")
    def openapi_document():
        from .openapi import build_openapi

        return jsonify(build_openapi(current_app))
