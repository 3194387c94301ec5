"""Local stand-ins for the outside systems PodDesk talks to (Kubernetes, Midtrans, Google OIDC).

Each speaks the real wire protocol over HTTP so that the production client libraries are exercised
unchanged; each runs as its own process (`python -m simulators.<name>`) or in a background thread
for tests and the embedded `make run`.
"""
