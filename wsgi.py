"""WSGI entry point: `gunicorn wsgi:app` (profile from PODDESK_ENV, default production)."""
from webapp import create_app

app = create_app()
