"""Reporting: read-only figures computed from the other domains' tables (admin analytics AN1-AN5)."""
