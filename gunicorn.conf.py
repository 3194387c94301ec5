"""gunicorn settings for the `web` process (Procfile, Dockerfile): `gunicorn -c gunicorn.conf.py wsgi:app`.

Everything is read from the environment so the same file serves a laptop, the container and the benchmarks.
"""
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10 if max_requests else 0
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None  # the app logs one JSON line per request itself (webapp.observability)
# gunicorn's own lines (start-up, worker boots and timeouts) in the app's format: JSON unless LOG_FORMAT=text.
_formatter = ("webapp.observability.JsonFormatter" if os.environ.get("LOG_FORMAT", "json").lower() == "json"
              else "logging.Formatter")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"poddesk": {"()": _formatter}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "poddesk", "stream": "ext://sys.stderr"}},
    "loggers": {"gunicorn.error": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["stderr"],
                                   "propagate": False}},
    "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": []},
}
