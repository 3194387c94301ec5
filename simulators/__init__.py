"""Local stand-ins for the outside systems PodDesk talks to (Kubernetes, Midtrans, Google OIDC).

Each speaks the real wire protocol over HTTP so that the production client libraries are exercised
unchanged; each runs as its own process (`python -m simulators.<name>`) or in a background thread
for tests and the embedded `make run`.
"""


def app_settings(*, oidc=None, kube=None, midtrans=None) -> dict:
    """The PodDesk settings that point the app at these running simulators (any may be left out)."""
    settings: dict = {}
    if oidc is not None:
        settings.update(GOOGLE_CLIENT_ID=oidc.default_client_id, GOOGLE_CLIENT_SECRET=oidc.default_client_secret,
                        GOOGLE_ISSUERS=(oidc.issuer,), GOOGLE_JWKS_URL=f"{oidc.url}/oauth2/v3/certs",
                        GOOGLE_DISCOVERY_URL=f"{oidc.url}/.well-known/openid-configuration")
    if kube is not None:
        settings["KUBE_API_URL"] = kube.url
    if midtrans is not None:
        settings.update(MIDTRANS_SERVER_KEY=midtrans.server_key, MIDTRANS_CLIENT_KEY=midtrans.client_key,
                        MIDTRANS_API_BASE_URL=midtrans.url)
    return settings
