"""Local Google OpenID Connect identity provider for tests, demos and the embedded `make run`.

Public surface: ``OIDCSimulator`` (start/stop, ``url``, ``issuer``, ``mint_id_token``) and ``Client``
(a registered OAuth client). The HTTP protocol lives in ``server``; ``python -m simulators.oidc`` runs it.
"""
from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SEED_ACCOUNTS, Client, OIDCSimulator

__all__ = ["Client", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "OIDCSimulator", "SEED_ACCOUNTS"]
