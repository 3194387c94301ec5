"""`KubeSimulator`: the Python API tests and the embedded demo use — start/stop, seeding, faults, snapshots.

    with KubeSimulator(pod_start_delay=0.2) as sim:
        cfg = kubernetes.client.Configuration(); cfg.host = sim.url
        ...
        sim.tick(settle=True)          # run the controllers now, until the cluster is stable
        sim.set_faults(down=True)      # every API call answers 503
        sim.write_kubeconfig(path)     # for kubectl / kubernetes.config.load_kube_config

It wires the store, the controller thread and the HTTP server together and owns the seeded cluster shape
(nodes with capacity/allocatable/conditions/nodeInfo/addresses, system namespaces, kube-system workloads).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
import time

from .controller import Controller
from .errors import ApiError
from .faults import FaultState
from .resources import BY_KIND
from .server import ApiServer, SimHTTPServer, serve_in_thread
from .store import Entry, Store, now_rfc3339

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _system_deployment(name: str, image: str, cpu: str, mem: str, labels: dict) -> dict:
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"priorityClassName": "system-cluster-critical",
                                           "containers": [{"name": name, "image": image,
                                                           "resources": {"requests": {"cpu": cpu, "memory": mem},
                                                                         "limits": {"memory": mem}}}]}}}}


SYSTEM_WORKLOADS = [
    _system_deployment("coredns", "rancher/mirrored-coredns-coredns:1.12.0", "100m", "170Mi", {"k8s-app": "kube-dns"}),
    _system_deployment("metrics-server", "rancher/mirrored-metrics-server:v0.7.2", "100m", "70Mi",
                       {"k8s-app": "metrics-server"}),
    _system_deployment("local-path-provisioner", "rancher/local-path-provisioner:v0.0.30", "50m", "64Mi",
                       {"app": "local-path-provisioner"}),
]


def make_node(i: int, cpu: int = 4, mem_gib: int = 16) -> dict:
    name = f"node-{i}"
    mem_ki = mem_gib * 1024 * 1024 - 3280  # capacities are never round numbers on real machines
    h = hashlib.md5(name.encode()).hexdigest()
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
              "node.kubernetes.io/instance-type": "k3s"}
    if i == 1:
        labels["node-role.kubernetes.io/control-plane"] = "true"
        labels["node-role.kubernetes.io/master"] = "true"
    ts = now_rfc3339()
    conds = [{"type": t, "status": "False", "lastHeartbeatTime": ts, "lastTransitionTime": ts, "reason": r,
              "message": m} for t, r, m in (
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
    conds.append({"type": "Ready", "status": "True", "lastHeartbeatTime": ts, "lastTransitionTime": ts,
                  "reason": "KubeletReady", "message": "kubelet is posting ready status"})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels,
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"podCIDR": f"10.42.{i % 250}.0/24", "podCIDRs": [f"10.42.{i % 250}.0/24"],
                     "providerID": f"k3s://{name}"},
            "status": {
                "capacity": {"cpu": str(cpu), "ephemeral-storage": "102626232Ki", "hugepages-1Gi": "0",
                             "hugepages-2Mi": "0", "memory": f"{mem_ki}Ki", "pods": "110"},
                "allocatable": {"cpu": str(cpu), "ephemeral-storage": "99833802265", "hugepages-1Gi": "0",
                                "hugepages-2Mi": "0", "memory": f"{mem_ki - 102400}Ki", "pods": "110"},
                "conditions": conds,
                "addresses": [{"type": "InternalIP", "address": f"10.0.{i // 250}.{i % 250 + 10}"},
                              {"type": "Hostname", "address": name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"machineID": h, "systemUUID": f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}",
                             "bootID": hashlib.md5(f"boot-{name}".encode()).hexdigest(),
                             "kernelVersion": "5.15.0-126-generic", "osImage": "Ubuntu 22.04.5 LTS",
                             "containerRuntimeVersion": "containerd://1.7.23-k3s2", "kubeletVersion": "v1.32.4+k3s1",
                             "kubeProxyVersion": "v1.32.4+k3s1", "operatingSystem": "linux",
                             "architecture": "amd64"},
                "images": [{"names": ["docker.io/rancher/mirrored-coredns-coredns:1.12.0"], "sizeBytes": 20939306}],
            }}


class KubeSimulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, pod_start_delay: float = 0.5, nodes: int = 3,
                 state_file: str | None = None, faults: dict | None = None, run_controller: bool = True,
                 token: str | None = None, system_workloads: bool = True, interval: float = 0.1,
                 verbose: bool = False, snapshot_interval: float = 2.0):
        self.host, self.port = host, port
        self.pod_start_delay = pod_start_delay
        self.initial_nodes = nodes
        self.state_file = state_file
        self.run_controller = run_controller
        self.token = token
        self.system_workloads = system_workloads
        self.verbose = verbose
        self.snapshot_interval = snapshot_interval
        self.store = Store()
        self.faults = FaultState(**(faults or {}))
        self.controller = Controller(self.store, self.faults, pod_start_delay=pod_start_delay, interval=interval)
        self.api = ApiServer(self)
        self._server: SimHTTPServer | None = None
        self._stopping = threading.Event()
        self._snap_thread: threading.Thread | None = None
        self._saved_writes = -1
        self._started = False

    # ------------------------------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "KubeSimulator":
        if self._started:
            return self
        if not (self.state_file and os.path.exists(self.state_file) and self.load_state()):
            self._seed_cluster(self.initial_nodes)
        self._stopping.clear()
        self._server = SimHTTPServer((self.host, self.port), self.api, verbose=self.verbose)
        self.port = self._server.server_address[1]
        serve_in_thread(self._server)
        if self.run_controller:
            self.controller.start()
        if self.state_file and self.snapshot_interval:
            self._snap_thread = threading.Thread(target=self._snapshot_loop, name="kube-sim-snapshot", daemon=True)
            self._snap_thread.start()
        self._started = True
        return self

    def stop(self):
        if not self._started:
            return
        self._stopping.set()
        self.controller.stop()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self.state_file:
            self.save_state()
        self._started = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def serve_forever(self):
        """Block until interrupted (used by `python -m simulators.kube`)."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # ------------------------------------------------------------------------------------------ controls
    def tick(self, settle: bool = False) -> dict:
        """Run the controllers once now (settle=True: repeat, ignoring start delays, until stable)."""
        return self.controller.tick(settle=settle)

    def requests_seen(self, clear: bool = False) -> list[dict]:
        """The authorization attributes of every API request handled since the last clear (oldest first, at most
        `server.REQUEST_LOG_SIZE`): verb, apiGroup, resource, subresource, namespace, name — or nonResourceURL."""
        items = list(self.api.request_log.copy())  # deque.copy() is atomic; iterating it is not
        if clear:
            self.api.request_log.clear()
        return items

    def clear_requests(self) -> None:
        self.api.request_log.clear()

    def set_faults(self, **changes) -> dict:
        return self.faults.update(changes)

    def clear_faults(self) -> dict:
        return self.faults.update({}, replace=True)

    def reset(self, nodes: int | None = None, system_workloads: bool | None = None) -> None:
        """Forget everything (objects, faults) and re-seed a fresh cluster."""
        if system_workloads is not None:
            self.system_workloads = system_workloads
        with self.controller._tick_lock:
            self.store.reset()
            self.controller.forget()
            self.faults.update({}, replace=True)
            self.api.request_log.clear()
            self._seed_cluster(self.initial_nodes if nodes is None else nodes)

    def _seed_cluster(self, nodes: int):
        for ns in SYSTEM_NAMESPACES:
            self.store.create(BY_KIND["Namespace"], "", {"metadata": {"name": ns}})
        self._add_nodes(nodes)
        self.store.create(BY_KIND["Service"], "default", {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}})
        self.store.create(BY_KIND["IngressClass"], "", {
            "metadata": {"name": "nginx", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": "k8s.io/ingress-nginx"}})
        if self.system_workloads:
            events = self.controller.events_enabled
            for d in SYSTEM_WORKLOADS:
                self.store.create(BY_KIND["Deployment"], "kube-system", copy.deepcopy(d))
            self.controller.events_enabled = False
            self.controller.tick(settle=True)
            self.controller.events_enabled = events

    def _add_nodes(self, count: int) -> list[str]:
        existing = {n["metadata"]["name"] for n in self.store.objects("Node")}
        added, i = [], 0
        while len(added) < count:
            i += 1
            if f"node-{i}" in existing:
                continue
            node = make_node(i)
            self.store.create(BY_KIND["Node"], "", node, internal=True)
            added.append(node["metadata"]["name"])
        return added

    def seed(self, nodes: int = 0, pods: int = 0, namespaces: int | None = None, deployments: int = 0,
             replicas: int = 1, prefix: str = "user-bench") -> dict:
        """Bulk-create nodes and Running pods (for benchmarks) without going through the controllers.

        Pods are spread over `namespaces` namespaces named `<prefix>-0001...` (default: 50 pods each).
        `deployments` creates real Deployments (reconciled to Running pods) in those namespaces too.
        """
        nodes_added = self._add_nodes(int(nodes))
        pods = int(pods)
        deployments = int(deployments)
        n_ns = int(namespaces) if namespaces else max(1, -(-max(pods, deployments) // 50))
        ns_names = [f"{prefix}-{i + 1:04d}" for i in range(n_ns)]
        for ns in ns_names:
            try:
                self.store.create(BY_KIND["Namespace"], "", {"metadata": {"name": ns, "labels": {
                    "minispod.com/managed": "true", "minispod.com/type": "user-namespace"}}}, internal=True)
            except ApiError:
                pass
        node_names = sorted(n["metadata"]["name"] for n in self.store.objects("Node")) or ["node-1"]
        node_ips = {n["metadata"]["name"]: n["status"]["addresses"][0]["address"] for n in self.store.objects("Node")}
        ts = now_rfc3339()
        store = self.store
        base = int(time.time() * 1000) % 1_000_000
        with store.lock:
            for i in range(pods):
                ns = ns_names[i % n_ns]
                name = f"bench-{base:06d}-{i:05d}"
                node = node_names[i % len(node_names)]
                uid = f"00000000-0000-4000-8000-{(base * 100000 + i) % 10**12:012d}"
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": ns, "uid": uid, "creationTimestamp": ts,
                                    "labels": {"app": "bench", "minispod.com/managed": "true",
                                               "instance": f"bench-{i % 997}"},
                                    "resourceVersion": ""},
                       "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                                                "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                                                "resources": {"limits": {"cpu": "250m", "memory": "256Mi"},
                                                              "requests": {"cpu": "250m", "memory": "256Mi"}},
                                                "terminationMessagePath": "/dev/termination-log",
                                                "terminationMessagePolicy": "File"}],
                                "nodeName": node, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                                "schedulerName": "default-scheduler", "serviceAccountName": "default",
                                "terminationGracePeriodSeconds": 30, "securityContext": {}},
                       "status": {"phase": "Running", "hostIP": node_ips.get(node, "10.0.0.10"),
                                  "podIP": f"10.42.{i // 250 % 250}.{i % 250 + 2}", "startTime": ts,
                                  "qosClass": "Guaranteed",
                                  "conditions": [{"type": t, "status": "True", "lastProbeTime": None,
                                                  "lastTransitionTime": ts}
                                                 for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                                                           "ContainersReady", "PodScheduled")],
                                  "containerStatuses": [{"name": "app", "image": "nginx:1.27",
                                                         "imageID": "docker.io/library/nginx@sha256:" + "0" * 64,
                                                         "containerID": "containerd://" + uid.replace("-", "") * 2,
                                                         "ready": True, "started": True, "restartCount": 0,
                                                         "lastState": {},
                                                         "state": {"running": {"startedAt": ts}}}]}}
                pod["metadata"]["resourceVersion"] = store._bump()
                store.data["Pod"][(ns, name)] = Entry(pod)
        for i in range(deployments):
            ns = ns_names[i % n_ns]
            labels = {"app": "bench-app", "instance": f"bench-deploy-{i}", "minispod.com/managed": "true"}
            body = {"metadata": {"name": f"bench-app-{i:05d}", "labels": labels},
                    "spec": {"replicas": int(replicas), "selector": {"matchLabels": labels},
                             "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                                 {"name": "app", "image": "nginx:1.27", "resources": {
                                     "limits": {"cpu": "100m", "memory": "128Mi"}}}]}}}}
            try:
                store.create(BY_KIND["Deployment"], ns, body)
            except ApiError:
                pass
        if deployments:
            events = self.controller.events_enabled
            self.controller.events_enabled = False
            self.controller.tick(settle=True, max_passes=50)
            self.controller.events_enabled = events
        return {"nodes_added": nodes_added, "pods_created": pods, "deployments_created": deployments,
                "namespaces": ns_names, "total_pods": len(store.data["Pod"]),
                "total_nodes": len(store.data["Node"])}

    def summary(self) -> dict:
        with self.store.lock:
            counts = {k: len(v) for k, v in self.store.data.items() if v}
        return {"url": self.url, "resourceVersion": str(self.store.rv), "objects": counts,
                "faults": self.faults.faults.to_dict(), "controllerTicks": self.controller.ticks,
                "apiRequests": self.api.requests, "podStartDelay": self.pod_start_delay}

    # ------------------------------------------------------------------------------------------ kubeconfig
    def kubeconfig_dict(self, namespace: str | None = None) -> dict:
        ctx = {"cluster": "poddesk-sim", "user": "poddesk-sim"}
        if namespace:
            ctx["namespace"] = namespace
        return {"apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [{"name": "poddesk-sim", "cluster": {"server": self.url,
                                                                  "insecure-skip-tls-verify": True}}],
                "users": [{"name": "poddesk-sim", "user": {"token": self.token or "poddesk-sim-token"}}],
                "contexts": [{"name": "poddesk-sim", "context": ctx}],
                "current-context": "poddesk-sim"}

    def write_kubeconfig(self, path, namespace: str | None = None) -> str:
        """Write a kubeconfig (JSON, which is valid YAML) pointing at this simulator; returns the path.

        Cluster `poddesk-sim` (server = `self.url`, `insecure-skip-tls-verify: true`, harmless over plain HTTP and
        what the product's `K8S_SKIP_TLS_VERIFY` path expects), user with a bearer token, current context set."""
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(self.kubeconfig_dict(namespace), f, indent=2)
        return path

    # ------------------------------------------------------------------------------------------ state file
    def save_state(self, path: str | None = None) -> str | None:
        path = path or self.state_file
        if not path:
            return None
        snap = self.store.snapshot()
        snap["faults"] = self.faults.faults.to_dict()
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(snap, f)
        os.replace(tmp, path)
        self._saved_writes = self.store.writes
        return path

    def load_state(self, path: str | None = None) -> bool:
        path = path or self.state_file
        try:
            with open(path) as f:
                snap = json.load(f)
        except (OSError, ValueError):
            return False
        self.store.load(snap)
        if isinstance(snap.get("faults"), dict):
            try:
                self.faults.update(snap["faults"], replace=True)
            except (TypeError, ValueError):
                pass
        return True

    def _snapshot_loop(self):
        while not self._stopping.wait(self.snapshot_interval):
            if self.store.writes != self._saved_writes:
                try:
                    self.save_state()
                except OSError:
                    pass
