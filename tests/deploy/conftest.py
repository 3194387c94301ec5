from tests.cluster.fixtures import kube_sim  # noqa: F401  (the app's cluster settings pointed at the simulator)
