"""Operations tests use the console test client (each request in a fresh context) for the API and the console,
and the cluster simulator fixture for jobs that provision."""
from tests.cluster.fixtures import kube_sim  # noqa: F401
from tests.console.conftest import client, console, signed_in  # noqa: F401
