"""Configuration classes, read from the environment (12-factor).

Three profiles share one set of variables (listed with their defaults in the README):
- ``embedded``: what ``make run`` uses on a fresh machine: SQLite file, in-memory rate limits,
  jobs in-process, simulators started by the runner.
- ``testing``: PostgreSQL ``test`` database and the real Redis; what CI runs.
- ``production``: everything from the environment; refuses to start without secrets.

``create_app`` accepts a profile name, a class, or a mapping of overrides.
"""
from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_bool(name: str, default: bool) -> bool:
    return env(name, "true" if default else "false").lower() in {"1", "true", "yes", "on"}


class BaseConfig:
    PROFILE = "base"
    SECRET_KEY = env("SECRET_KEY")
    JWT_SECRET = env("JWT_SECRET")
    # Lifetimes keep the original's variable names and formats ("15m", "24h", "7d").
    JWT_EXPIRES_IN = env("JWT_EXPIRES_IN", "15m")
    JWT_REFRESH_EXPIRES_IN = env("JWT_REFRESH_EXPIRES_IN", "7d")
    BCRYPT_ROUNDS = env_int("BCRYPT_ROUNDS", 12)

    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    # connect_timeout: a database that silently drops packets fails a request in seconds, not at gunicorn's timeout.
    SQLALCHEMY_ENGINE_OPTIONS = {"connect_args": {"connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5)}}
    # A pooled connection idle longer than this is checked (SELECT 1) before use; busier ones are not (webapp.db.
    # ping_idle_connections: a dead one fails its request with a 503 and the pool reconnects). 0 checks every time.
    DATABASE_PING_IDLE_SECONDS = float(env("DATABASE_PING_IDLE_SECONDS", "5"))
    REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")

    RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI") or env("REDIS_URL", "redis://127.0.0.1:6379/0")
    RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = env("LOGIN_RATE_LIMIT", "20 per minute")
    LOGIN_FAILURE_LIMIT = env("LOGIN_FAILURE_LIMIT", "5 per 15 minutes")  # per account and client address
    LOGIN_ACCOUNT_FAILURE_LIMIT = env("LOGIN_ACCOUNT_FAILURE_LIMIT", "50 per hour")  # per account, any address
    REGISTER_RATE_LIMIT = env("REGISTER_RATE_LIMIT", "10 per hour")
    REFRESH_RATE_LIMIT = env("REFRESH_RATE_LIMIT", "30 per minute")
    # Rate-limit storage down (Redis): requests are served unlimited (the error is logged) instead of failing with a
    # 500; short socket timeouts bound the cost per check. flask-limiter's in-memory fallback is left off: it also
    # trips on errors that are not the storage's (a key function refusing an oversized body) and then counts
    # in one process's memory, unshared, until its next probe.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
    # Password reset (accounts.password_reset): link lifetime; requests and resets per client address; reset
    # e-mails per target address (whether or not an account exists, so the limit reveals nothing).
    PASSWORD_RESET_TTL_MINUTES = env_int("PASSWORD_RESET_TTL_MINUTES", 30)
    PASSWORD_RESET_RATE_LIMIT = env("PASSWORD_RESET_RATE_LIMIT", "10 per hour")
    PASSWORD_RESET_EMAIL_LIMIT = env("PASSWORD_RESET_EMAIL_LIMIT", "3 per hour")
    # Base of the link in the reset e-mail ("https://poddesk.example.com"); unset: the URL of the request.
    PUBLIC_BASE_URL = env("PUBLIC_BASE_URL")

    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 30 * 1024 * 1024)  # 5 images x 5 MB + form fields
    MAX_JSON_BYTES = env_int("MAX_JSON_BYTES", 1024 * 1024)
    CORS_ORIGINS = [o.strip() for o in (env("CORS_ORIGINS", "") or "").split(",") if o.strip()]
    # Customer catalog answers cached per web process (webapp/catalog/cache.py); any catalog commit invalidates them.
    CATALOG_CACHE_SECONDS = float(env("CATALOG_CACHE_SECONDS", "30"))
    CATALOG_VERSION_CHECK_SECONDS = float(env("CATALOG_VERSION_CHECK_SECONDS", "1"))  # ask Redis for other writers
    # Reverse proxies in front of the app (ingress controller, load balancer): how many X-Forwarded-For/-Proto hops
    # to trust. 0 (default) trusts none; behind one ingress use 1, or every client shares one rate-limit bucket.
    PROXY_FIX_X_FOR = env_int("PROXY_FIX_X_FOR", 0)

    # Google sign-in (OIDC). Unset client id => Google routes answer 503 "Google OAuth is not configured".
    GOOGLE_CLIENT_ID = env("GOOGLE_CLIENT_ID")
    GOOGLE_CLIENT_SECRET = env("GOOGLE_CLIENT_SECRET")
    GOOGLE_ISSUERS = tuple(
        i.strip() for i in env("GOOGLE_ISSUERS", "https://accounts.google.com,accounts.google.com").split(",") if i.strip()
    )
    GOOGLE_JWKS_URL = env("GOOGLE_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs")
    GOOGLE_DISCOVERY_URL = env("GOOGLE_DISCOVERY_URL", "https://accounts.google.com/.well-known/openid-configuration")

    JOB_TIMEOUT = env_int("JOB_TIMEOUT", 600)
    BILLING_TIMEZONE = env("BILLING_TIMEZONE", "Asia/Jakarta")
    UPLOAD_FOLDER = env("UPLOAD_FOLDER", str(BASE_DIR / "uploads"))
    # Ticket attachments (support.uploads): files per request, bytes per file, decoded pixels per image.
    UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 5)
    UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 5 * 1024 * 1024)
    UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000)
    TICKET_WRITE_RATE_LIMIT = env("TICKET_WRITE_RATE_LIMIT", "30 per minute")  # per user: new tickets + messages

    # Midtrans (payments.midtrans). Unset server key => top-ups answer 503. MIDTRANS_API_BASE_URL points Snap and the
    # Core API at another origin (the local simulator); leave it unset in production (the library's real hosts).
    MIDTRANS_SERVER_KEY = env("MIDTRANS_SERVER_KEY")
    MIDTRANS_CLIENT_KEY = env("MIDTRANS_CLIENT_KEY")
    MIDTRANS_IS_PRODUCTION = env_bool("MIDTRANS_IS_PRODUCTION", False)
    MIDTRANS_API_BASE_URL = env("MIDTRANS_API_BASE_URL")
    MIDTRANS_FINISH_URL = env("MIDTRANS_FINISH_URL")
    MIDTRANS_UNFINISH_URL = env("MIDTRANS_UNFINISH_URL")
    MIDTRANS_ERROR_URL = env("MIDTRANS_ERROR_URL")
    MIDTRANS_NOTIFICATION_URL = env("MIDTRANS_NOTIFICATION_URL")  # per-transaction override; else the dashboard's
    MIDTRANS_TIMEOUT = float(env("MIDTRANS_TIMEOUT", "10"))  # seconds per HTTP call to Midtrans
    TOPUP_EXPIRY_MINUTES = env_int("TOPUP_EXPIRY_MINUTES", 60)  # Snap payment window
    TOPUP_EXPIRY_GRACE_MINUTES = env_int("TOPUP_EXPIRY_GRACE_MINUTES", 15)  # then the job expires it locally

    # Billing engine (subscriptions.renewals, jobs.scheduler). Kept as text here and validated when the app, the
    # scheduler or `make run` starts (subscriptions.scheduler.billing_settings): a bad value stops start-up.
    AUTO_RENEWAL_ENABLED = env("AUTO_RENEWAL_ENABLED", "true")  # false: no cron jobs registered (manual runs work)
    CRON_DAILY_RENEWALS = env("CRON_DAILY_RENEWALS", "0 2 * * *")  # cron strings in BILLING_TIMEZONE
    CRON_GRACE_PERIOD = env("CRON_GRACE_PERIOD", "0 3 * * *")
    CRON_LOW_CREDIT_NOTIFICATIONS = env("CRON_LOW_CREDIT_NOTIFICATIONS", "0 9 * * *")
    CRON_GRACE_PERIOD_REMINDERS = env("CRON_GRACE_PERIOD_REMINDERS", "0 18 * * *")
    CRON_BILLING_STATS = env("CRON_BILLING_STATS", "0 23 * * *")
    GRACE_PERIOD_ENABLED = env("GRACE_PERIOD_ENABLED", "true")
    GRACE_PERIOD_DAYS = env("GRACE_PERIOD_DAYS", "7")
    GRACE_PERIOD_MIN_DAYS = env("GRACE_PERIOD_MIN_DAYS", "1")
    GRACE_PERIOD_MAX_DAYS = env("GRACE_PERIOD_MAX_DAYS", "30")
    LOW_CREDIT_WARNING_ENABLED = env("LOW_CREDIT_WARNING_ENABLED", "true")
    LOW_CREDIT_WARNING_DAYS = env("LOW_CREDIT_WARNING_DAYS", "3")
    # Notification delivery: "smtp" (SMTP_* below) or "outbox" (rows are only marked SENT: the console outbox page).
    NOTIFICATION_SENDER = env("NOTIFICATION_SENDER", "smtp")
    NOTIFICATION_STAFF_EMAIL = env("NOTIFICATION_STAFF_EMAIL")  # recipient of staff notifications (billing summary)
    SMTP_HOST = env("SMTP_HOST", "127.0.0.1")
    SMTP_PORT = env_int("SMTP_PORT", 25)
    SMTP_USERNAME = env("SMTP_USERNAME")
    SMTP_PASSWORD = env("SMTP_PASSWORD")
    SMTP_STARTTLS = env_bool("SMTP_STARTTLS", False)
    SMTP_FROM = env("SMTP_FROM", "PodDesk <no-reply@poddesk.local>")
    SMTP_TIMEOUT = float(env("SMTP_TIMEOUT", "10"))

    # Kubernetes (webapp/cluster/client.py). Which cluster: KUBE_API_URL (a plain API URL, e.g. the simulator),
    # else KUBECONFIG_PATH, else KUBE_IN_CLUSTER (service account), else the default kubeconfig lookup.
    KUBE_API_URL = env("KUBE_API_URL")
    KUBECONFIG_PATH = env("KUBECONFIG_PATH")
    KUBE_IN_CLUSTER = env_bool("KUBE_IN_CLUSTER", False)
    K8S_SKIP_TLS_VERIFY = env_bool("K8S_SKIP_TLS_VERIFY", False)
    KUBE_TIMEOUT_SECONDS = float(env("KUBE_TIMEOUT_SECONDS", "10"))  # read timeout of every call (connect: min(3, this))
    KUBE_PROBE_CACHE_SECONDS = float(env("KUBE_PROBE_CACHE_SECONDS", "5"))  # how long an availability probe is trusted
    APPS_DOMAIN = env("APPS_DOMAIN", "minispod.com")  # instances are https://<name>.<APPS_DOMAIN>
    INGRESS_CLASS = env("INGRESS_CLASS", "nginx")
    K8S_STORAGE_CLASS = env("K8S_STORAGE_CLASS", "local-path")
    CERT_ISSUER = env("CERT_ISSUER", "letsencrypt-prod")  # cert-manager ClusterIssuer of the instances' TLS
    PROVISION_READY_TIMEOUT = float(env("PROVISION_READY_TIMEOUT", "300"))  # seconds a new instance may take
    ROLLOUT_TIMEOUT = float(env("ROLLOUT_TIMEOUT", "180"))  # restart / start / resize / stop wait
    KUBE_POLL_INTERVAL = float(env("KUBE_POLL_INTERVAL", "5"))  # first readiness poll interval (backs off x1.5)
    LOG_STREAM_MAX_SECONDS = float(env("LOG_STREAM_MAX_SECONDS", "300"))  # one Server-Sent Events log stream

    # Security headers (webapp/security.py). HSTS max-age in seconds, 0 = no header (only production sends it).
    HSTS_SECONDS = env_int("HSTS_SECONDS", 0)
    # Extra origins HTML forms may submit to, comma-separated (the Midtrans payment page origin is added by itself).
    CSP_FORM_ACTION_ORIGINS = [o.strip() for o in (env("CSP_FORM_ACTION_ORIGINS", "") or "").split(",") if o.strip()]

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    FLASK_ADMIN_SWATCH = "cerulean"

    # Operations (webapp/observability.py, webapp/health.py).
    LOG_FORMAT = env("LOG_FORMAT", "json")  # json | text: one line per record on stderr
    LOG_LEVEL = env("LOG_LEVEL", "INFO")
    READINESS_TIMEOUT_SECONDS = float(env("READINESS_TIMEOUT_SECONDS", "1.5"))  # per dependency of /api/health/ready



class EmbeddedConfig(BaseConfig):
    """`make run` on a machine with nothing installed: SQLite file, memory rate limits."""

    PROFILE = "embedded"
    SECRET_KEY = env("SECRET_KEY", "embedded-demo-secret-key-not-for-production")
    JWT_SECRET = env("JWT_SECRET", "embedded-demo-jwt-secret-not-for-production")
    JWT_EXPIRES_IN = env("JWT_EXPIRES_IN", "24h")
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'poddesk.sqlite'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    REDIS_URL = env("REDIS_URL", "fakeredis://")  # in-memory Redis; jobs run on an in-process worker thread
    RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", "memory://")
    NOTIFICATION_SENDER = env("NOTIFICATION_SENDER", "outbox")  # the console outbox page shows them
    LOG_FORMAT = env("LOG_FORMAT", "text")  # a terminal, not a log pipeline


class TestingConfig(BaseConfig):
    PROFILE = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key"
    JWT_SECRET = "testing-jwt-secret-0123456789abcdef0123"
    BCRYPT_ROUNDS = 4  # cost 12 is asserted separately; the suite would crawl otherwise
    SQLALCHEMY_DATABASE_URI = env("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    REDIS_URL = env("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    RATELIMIT_STORAGE_URI = REDIS_URL  # the real shared storage; conftest resets it per test
    GOOGLE_CLIENT_ID = None
    NOTIFICATION_SENDER = "outbox"
    CATALOG_CACHE_SECONDS = 0  # tests read what they just wrote; tests/catalog/test_catalog_cache.py turns it on
    CATALOG_VERSION_CHECK_SECONDS = 0


class ProductionConfig(BaseConfig):
    PROFILE = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)  # one year; browsers then refuse plain http for the host
    PREFERRED_URL_SCHEME = "https"


PROFILES = {
    "embedded": EmbeddedConfig,
    "development": EmbeddedConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def resolve(config=None):
    """Return a config class from a profile name, a class, or None (PODDESK_ENV, default production)."""
    if config is None:
        config = env("PODDESK_ENV", "production")
    if isinstance(config, str):
        try:
            return PROFILES[config]
        except KeyError:
            raise RuntimeError(f"Unknown PODDESK_ENV {config!r}; use one of {sorted(PROFILES)}") from None
    return config
