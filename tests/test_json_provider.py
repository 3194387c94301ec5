"""API bodies serialised by orjson must be the very bytes Flask's own JSON provider writes."""
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from flask.json.provider import DefaultJSONProvider

CASES = [
    {"a": 1, "b": [1, 2.5, None, True], "nested": {"z": "x", "y": 2}},
    {"small": 0.000025}, {"tiny": 1e-05}, {"neg": -0.00009}, {"edge": 0.0001}, {"big": 1e20}, {"huge": 2 ** 70},
    0.000025, 1e20, [1e-7, 3.5], 1e-9, -1e-7, {"e": [-1.5e-8, 1e-10, 5e-324, 1.5e16, -1e16, 1.7976931348623157e308]},
    {"name": "sim-node-1", "ns": "user-e-5", "v": 1e-10}, {"name": "sim-node-1", "v": 2e-6},
    {"text": "café"}, {"del": "a\x7fb"}, {"ctl": "\x01\n\t\""}, {"s": "0.00001 and 1e-5 as text"},
    {"when": datetime(2026, 11, 22, 1, 2, 3, tzinfo=timezone.utc)}, {"money": Decimal("12.50")},
]


@pytest.mark.parametrize("payload", CASES, ids=[repr(c)[:40] for c in CASES])
def test_bodies_match_flasks_provider(app, payload):
    standard = DefaultJSONProvider(app)
    standard.sort_keys = app.json.sort_keys  # the app keeps the original API's field order
    with app.test_request_context():
        ours = app.json.response(payload).get_data()
        theirs = standard.response(payload).get_data()
    assert ours == theirs
    assert json.loads(ours) == json.loads(theirs)


def test_random_numbers_and_lookalike_text_match_flasks_provider(app):
    import random

    rng = random.Random(7)
    standard = DefaultJSONProvider(app)
    standard.sort_keys = app.json.sort_keys
    for _ in range(300):
        payload = {"pods": [{"name": f"node-{rng.randrange(10)}e-{rng.randrange(10)}",
                             "v": rng.choice([1, -1]) * rng.random() * 10.0 ** rng.randint(-12, 20),
                             "w": [rng.random() * 10.0 ** rng.randint(-9, -3), rng.randrange(10 ** 6)]}
                            for _ in range(rng.randint(1, 5))]}
        with app.test_request_context():
            assert app.json.response(payload).get_data() == standard.response(payload).get_data(), payload
