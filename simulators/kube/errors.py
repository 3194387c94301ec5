"""`ApiError`: an exception that *is* a Kubernetes `Status` response.

Messages, reasons and `details` mirror the real API server word for word where clients parse them
(e.g. `deployments.apps "web" not found`, `Operation cannot be fulfilled on ...`), so code written against
a real cluster (matching on `reason`, `code` or message text) behaves the same against the simulator.
"""
from __future__ import annotations


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body

    # --- constructors for the reasons the simulator produces -------------------------------------------
    @classmethod
    def not_found(cls, res, name: str) -> "ApiError":
        details = {"name": name, "kind": res.plural}
        if res.group:
            details["group"] = res.group
        return cls(404, "NotFound", f'{res.qualified} "{name}" not found', details)

    @classmethod
    def already_exists(cls, res, name: str) -> "ApiError":
        details = {"name": name, "kind": res.plural}
        if res.group:
            details["group"] = res.group
        return cls(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', details)

    @classmethod
    def conflict(cls, res, name: str, why: str | None = None) -> "ApiError":
        why = why or "the object has been modified; please apply your changes to the latest version and try again"
        details = {"name": name, "kind": res.plural}
        if res.group:
            details["group"] = res.group
        return cls(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}', details)

    @classmethod
    def invalid(cls, res, name: str, causes: list[tuple[str, str]]) -> "ApiError":
        """causes: [(field, message)] — message already contains 'Invalid value: ...' or 'Required value'."""
        text = ", ".join(f"{f}: {m}" for f, m in causes)
        if len(causes) > 1:
            text = "[" + text + "]"
        details = {"name": name, "kind": res.kind,
                   "causes": [{"reason": "FieldValueInvalid" if "Invalid value" in m else "FieldValueRequired",
                               "message": m, "field": f} for f, m in causes]}
        if res.group:
            details["group"] = res.group
        return cls(422, "Invalid", f'{res.kind_qualified} "{name}" is invalid: {text}', details)

    @classmethod
    def bad_request(cls, message: str) -> "ApiError":
        return cls(400, "BadRequest", message)

    @classmethod
    def method_not_allowed(cls) -> "ApiError":
        return cls(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                   {})

    @classmethod
    def unsupported_media(cls, ctype: str) -> "ApiError":
        return cls(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media '
                   f'types include: application/json-patch+json, application/merge-patch+json, '
                   f'application/apply-patch+yaml, application/strategic-merge-patch+json (got "{ctype}")')

    @classmethod
    def path_not_found(cls, path: str) -> "ApiError":
        return cls(404, "NotFound", "the server could not find the requested resource", {})

    @classmethod
    def forbidden_terminating(cls, res, name: str, ns: str) -> "ApiError":
        details = {"name": name, "kind": res.plural}
        if res.group:
            details["group"] = res.group
        return cls(403, "Forbidden", f'{res.qualified} "{name}" is forbidden: unable to create new content in '
                   f'namespace {ns} because it is being terminated', details)
