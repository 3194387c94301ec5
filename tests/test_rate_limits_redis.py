"""Rate limits are shared across web workers through Redis (the storage the testing profile uses too)."""
import redis


def test_login_failures_are_limited_per_account_through_redis(app, client, monkeypatch):
    assert app.config["RATELIMIT_STORAGE_URI"].startswith("redis://")
    monkeypatch.setitem(app.config, "LOGIN_FAILURE_LIMIT", "3 per minute")
    statuses = [client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "wrong-pass"}).status_code
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    body = client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "x"}).get_json()
    assert body["statusCode"] == 429 and body["message"] == "Too many requests, please try again later."
    # Another account from the same address is not locked out by the first one's failures.
    assert client.post("/api/auth/login", json={"email": "someone@example.com", "password": "x"}).status_code == 401
    assert redis.Redis.from_url(app.config["REDIS_URL"]).keys("LIMITS*")

