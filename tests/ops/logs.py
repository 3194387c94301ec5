"""Capture what the PodDesk log handler would write: its filter and formatter, on a buffer."""
from __future__ import annotations

import contextlib
import io
import json
import logging

from webapp.observability import ContextFilter, JsonFormatter


@contextlib.contextmanager
def captured_json_logs(level=logging.INFO):
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines() if line.strip())
