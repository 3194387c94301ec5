"""Request validation for the JSON API, Joi-compatible, built on pydantic 2.

The original API validated with Joi: first error only, keys in schema order then unknown keys,
type coercion ("7" -> 7, "true" -> true), custom messages per field and Joi's default texts
(`"name" is required`) elsewhere. Clients match on those strings, so this module reproduces them:

- field types (`String`, `Integer`, `Number`, `Boolean`, `StringList`, `JSONObject`, `IsoDate`, `Enum`)
  raise pydantic errors whose *type* is the Joi error code (`string.min`, `number.base`, ...);
- a schema's `messages = {"field": {"code": "text"}}` overrides the default text for a code;
- `@validate(path=..., query=..., body=...)` parses the request, raises `ValidationFailed` with the
  first message, and passes the parsed models to the view as keyword arguments;
- the same schemas produce the OpenAPI 3 document served at /api/openapi.json (`api.openapi`).
"""
from __future__ import annotations

import functools
import json
import re
from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from flask import current_app, request
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

from ..errors import DomainError, InvalidJSON, ValidationFailed

# Joi's default texts, "{label}" being the key name in double quotes.
DEFAULT_MESSAGES = {
    "any.required": '{label} is required',
    "any.only": "{label} must be one of [{valids}]",
    "any.invalid": "{label} contains an invalid value",
    "string.base": "{label} must be a string",
    "string.empty": "{label} is not allowed to be empty",
    "string.min": "{label} length must be at least {limit} characters long",
    "string.max": "{label} length must be less than or equal to {limit} characters long",
    "string.email": "{label} must be a valid email",
    "string.uri": "{label} must be a valid uri",
    "string.nul": "{label} must not contain null characters",
    "string.alphanum": "{label} must only contain alpha-numeric characters",
    "string.pattern.base": '{label} with value "{value}" fails to match the required pattern: {pattern}',
    "number.base": "{label} must be a number",
    "number.integer": "{label} must be an integer",
    "number.min": "{label} must be greater than or equal to {limit}",
    "number.max": "{label} must be less than or equal to {limit}",
    "number.unsafe": "{label} must be a safe number",
    "boolean.base": "{label} must be a boolean",
    "array.base": "{label} must be an array",
    "array.min": "{label} must contain at least {limit} items",
    "array.max": "{label} must contain less than or equal to {limit} items",
    "object.base": "{label} must be of type object",
    "object.unknown": "{label} is not allowed",
    "date.base": "{label} must be a valid date",
    "date.format": "{label} must be in ISO 8601 date format",
}

# pydantic's own error types that can still surface (structure errors), mapped to Joi codes.
PYDANTIC_TO_JOI = {
    "missing": "any.required",
    "extra_forbidden": "object.unknown",
    "model_type": "object.base",
    "model_attributes_type": "object.base",
    "dict_type": "object.base",
    "list_type": "array.base",
    "too_short": "array.min",
    "too_long": "array.max",
}

MAX_SAFE_INTEGER = 2**53 - 1


class PayloadTooLarge(DomainError):
    """A JSON body over MAX_JSON_BYTES (Werkzeug answers 413 too for bodies over MAX_CONTENT_LENGTH)."""

    status, message = 413, "Request body is too large"


def _fail(code: str, **ctx: Any):
    raise PydanticCustomError(code, code, {k: v for k, v in ctx.items()})


# ------------------------------------------------------------------------------------------ field types
def _string_validator(*, min_length, max_length, pattern, pattern_name, email, uri, trim, allow_empty,
                      lowercase, valid, nullable, alphanum, max_bytes=None):
    compiled = re.compile(pattern) if pattern else None

    def check(value):
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            _fail("string.base")
        if trim:
            value = value.strip()
        if value == "":
            if allow_empty:
                return value
            _fail("string.empty")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL: a clear 400 instead of a driver error
            _fail("string.nul")
        # Joi runs rules in declaration order and the original declared `.alphanum().min().max()`.
        if alphanum and not (value.isascii() and value.isalnum()):
            _fail("string.alphanum")
        if min_length is not None and len(value) < min_length:
            _fail("string.min", limit=min_length)
        if max_length is not None and len(value) > max_length:
            _fail("string.max", limit=max_length)
        if max_bytes is not None and len(value.encode("utf-8")) > max_bytes:
            # bcrypt reads 72 bytes: "é" counts twice. Same code (and text) as the character limit.
            _fail("string.max", limit=max_length if max_length is not None else max_bytes)
        if compiled and not compiled.search(value):
            _fail("string.pattern.base", value=value, pattern=pattern_name or compiled.pattern)
        if email:
            try:
                # check_deliverability off: no DNS from a request handler.
                value = validate_email(value, check_deliverability=False).normalized
            except EmailNotValidError:
                _fail("string.email")
        if uri and not _is_uri(value):
            _fail("string.uri")
        if lowercase:
            value = value.lower()
        if valid is not None and value not in valid:
            _fail("any.only", valids=", ".join(valid))
        return value

    return check


_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$")


def _is_uri(value: str) -> bool:
    return bool(_URI.match(value)) and len(value) <= 2048


def String(min_length: int | None = None, max_length: int | None = None, *, pattern: str | None = None,
           pattern_name: str | None = None, email: bool = False, uri: bool = False, trim: bool = False,
           allow_empty: bool = False, lowercase: bool = False, valid: tuple[str, ...] | None = None,
           nullable: bool = False, alphanum: bool = False, max_bytes: int | None = None):
    schema: dict[str, Any] = {"type": "string"}
    if min_length is not None and not allow_empty:
        schema["minLength"] = min_length
    elif not allow_empty:
        schema["minLength"] = 1
    if max_length is not None:
        schema["maxLength"] = max_length
    if pattern:
        schema["pattern"] = pattern
    if alphanum:
        schema["pattern"] = "^[A-Za-z0-9]+$"
    if email:
        schema["format"] = "email"
    if uri:
        schema["format"] = "uri"
    if valid is not None:
        schema = {"type": "string", "enum": list(valid)}
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    check = _string_validator(min_length=min_length, max_length=max_length, pattern=pattern,
                              pattern_name=pattern_name, email=email, uri=uri, trim=trim,
                              allow_empty=allow_empty, lowercase=lowercase, valid=valid,
                              nullable=nullable, alphanum=alphanum, max_bytes=max_bytes)
    return Annotated[Any, BeforeValidator(check), WithJsonSchema(schema)]


def Enum(*valid: str, nullable: bool = False):
    """Joi's `.valid(...)`: the allowed values are checked before the type, so "" or 5 is `any.only`."""
    allowed = tuple(valid)

    def check(value):
        if value is None and nullable:
            return None
        if isinstance(value, str) and value in allowed:
            return value
        _fail("any.only", valids=", ".join(allowed))

    schema: dict[str, Any] = {"type": "string", "enum": list(allowed)}
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return Annotated[Any, BeforeValidator(check), WithJsonSchema(schema)]


def _number_validator(*, integer: bool, minimum, maximum, nullable: bool):
    def check(value):
        if value is None and nullable:
            return None
        if isinstance(value, bool):
            _fail("number.base")
        if isinstance(value, str):
            text = value.strip()
            try:
                value = float(text) if text else None
            except ValueError:
                value = None
            if value is None:
                _fail("number.base")
        if not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
            _fail("number.base")
        if abs(value) > MAX_SAFE_INTEGER:
            _fail("number.unsafe")
        if integer:
            if float(value) != int(value):
                _fail("number.integer")
            value = int(value)
        if minimum is not None and value < minimum:
            _fail("number.min", limit=minimum)
        if maximum is not None and value > maximum:
            _fail("number.max", limit=maximum)
        return value

    return check


def Integer(minimum: int | None = None, maximum: int | None = None, *, nullable: bool = False):
    schema: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return Annotated[Any, BeforeValidator(_number_validator(integer=True, minimum=minimum, maximum=maximum,
                                                            nullable=nullable)), WithJsonSchema(schema)]


def Number(minimum: float | None = None, maximum: float | None = None, *, nullable: bool = False):
    schema: dict[str, Any] = {"type": "number"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return Annotated[Any, BeforeValidator(_number_validator(integer=False, minimum=minimum, maximum=maximum,
                                                            nullable=nullable)), WithJsonSchema(schema)]


def _boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    _fail("boolean.base")


Boolean = Annotated[Any, BeforeValidator(_boolean), WithJsonSchema({"type": "boolean"})]


def StringList(*, max_items: int | None = None, item_max_length: int | None = None, nullable: bool = False):
    def check(value):
        if value is None and nullable:
            return None
        if not isinstance(value, list):
            _fail("array.base")
        if max_items is not None and len(value) > max_items:
            _fail("array.max", limit=max_items)
        for index, item in enumerate(value):
            if not isinstance(item, str) or "\x00" in item:
                _fail("array.items", index=index)
            if item_max_length is not None and len(item) > item_max_length:
                _fail("array.items", index=index)
        return value

    schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if max_items is not None:
        schema["maxItems"] = max_items
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return Annotated[Any, BeforeValidator(check), WithJsonSchema(schema)]


def JSONObject(*, nullable: bool = False, max_keys: int = 200):
    def check(value):
        if value is None and nullable:
            return None
        if not isinstance(value, dict):
            _fail("object.base")
        if len(value) > max_keys:
            _fail("object.max", limit=max_keys)
        return value

    schema: dict[str, Any] = {"type": "object", "additionalProperties": True}
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return Annotated[Any, BeforeValidator(check), WithJsonSchema(schema)]


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def _iso_date(value):
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not _ISO_DATE.match(value.strip()):
        _fail("date.format")
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text) if "T" in text else datetime.combine(date.fromisoformat(text), datetime.min.time())
    except ValueError:
        _fail("date.base")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


IsoDate = Annotated[Any, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})]


# ----------------------------------------------------------------------------------------------- schemas
class Schema(BaseModel):
    """Base for request schemas: unknown keys are errors, values already coerced by the field types."""

    model_config = ConfigDict(extra="forbid", frozen=False)
    messages: ClassVar[dict[str, dict[str, str]]] = {}
    # Cross-field checks run after the per-field ones: a list of (method name) returning an error text or None.

    def provided(self) -> dict[str, Any]:
        """The fields the client actually sent (PATCH-like updates distinguish absent from null)."""
        return {name: getattr(self, name) for name in self.model_fields_set}

    def check(self) -> str | None:  # pragma: no cover - overridden where a schema has cross-field rules
        return None


def first_error_message(schema: type[Schema], exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    code = PYDANTIC_TO_JOI.get(error["type"], error["type"])
    ctx = dict(error.get("ctx") or {})
    field = loc[0] if loc else "value"
    label_key = field
    if code == "array.items":
        label_key = f"{field}[{ctx.get('index', 0)}]"
    if len(loc) > 1 and code != "array.items":
        # Nested object (e.g. updates[0].planId): Joi labels it with the full path.
        label_key = loc[0] + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    custom = schema.messages.get(field, {})
    if len(loc) > 1:
        custom = schema.messages.get(".".join(p for p in loc if not p.isdigit()), custom)
    if code in custom:
        return custom[code].format(**ctx)
    template = DEFAULT_MESSAGES.get(code)
    if template is None:
        if code == "array.items":
            return f'"{label_key}" must be a string'
        return f'"{label_key}" is invalid'
    return template.format(label=f'"{label_key}"', **{k: v for k, v in ctx.items() if k != "label"})


def parse(schema: type[Schema], data: Any) -> Schema:
    """Validate `data` against `schema`, raising ValidationFailed with the Joi-style first message.

    An absent body is `{}` already (`json_body`); a JSON `null` body is a value like `42`, not an empty body
    (it used to pass schemas whose fields are all optional: `POST /api/auth/logout` with `null` answered 200)."""
    if not isinstance(data, dict):
        raise ValidationFailed('"value" must be of type object')
    try:
        model = schema.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(first_error_message(schema, exc)) from None
    problem = model.check()
    if problem:
        raise ValidationFailed(problem)
    return model


def json_body() -> Any:
    """The request body as JSON. Non-JSON content types read as {} (as Express did); bad JSON is a 400."""
    if not request.is_json:
        return {}
    raw = request.get_data(cache=True)
    if len(raw) > current_app.config["MAX_JSON_BYTES"]:
        raise PayloadTooLarge()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
        # "\ud800" is valid JSON but not Unicode text: nothing downstream (bcrypt, the database) can
        # encode it, so it is refused here rather than failing later with a 500.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise InvalidJSON() from None
    return data


def query_args() -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        args[key] = values[0] if len(values) == 1 else values
    return args


def validate(*, path: type[Schema] | None = None, query: type[Schema] | None = None,
             body: type[Schema] | None = None):
    """Decorator: validate path params, query string and JSON body (in that order, like the original)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if path is not None:
                kwargs["path"] = parse(path, {k: kwargs.pop(k) for k in list(kwargs) if k in path.model_fields})
            if query is not None:
                kwargs["query"] = parse(query, query_args())
            if body is not None:
                kwargs["body"] = parse(body, json_body())
            return view(*args, **kwargs)

        wrapper.api_schemas = {"path": path, "query": query, "body": body}
        return wrapper

    return decorator
