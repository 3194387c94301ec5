from tests.cluster.fixtures import kube_sim, no_cluster  # noqa: F401
