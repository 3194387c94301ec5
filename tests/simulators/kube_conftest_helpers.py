"""Shared helpers for the Kubernetes simulator tests: API clients and the manifests PodDesk creates per instance
(spec-cluster-instances.md §1.4)."""
from __future__ import annotations

import time

import kubernetes


def clients(url: str):
    cfg = kubernetes.client.Configuration()
    cfg.host = url
    api = kubernetes.client.ApiClient(cfg)
    return (kubernetes.client.CoreV1Api(api), kubernetes.client.AppsV1Api(api),
            kubernetes.client.NetworkingV1Api(api), kubernetes.client.CustomObjectsApi(api))


def wait_until(pred, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def managed_labels(instance: str, slug: str = "ghost-blog") -> dict:
    return {"app": slug, "instance": instance, "minispod.com/managed": "true"}


def deployment_manifest(name: str, instance: str, slug: str = "ghost-blog", image: str = "ghost:5-alpine",
                        cpu: str = "250m", memory: str = "256Mi", replicas: int = 1, port: int = 2368) -> dict:
    sel = {"app": slug, "instance": instance}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {**managed_labels(instance, slug), "service": slug, "user": "u1"}},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": sel},
            "template": {
                "metadata": {"labels": managed_labels(instance, slug)},
                "spec": {"containers": [{
                    "name": slug, "image": image, "ports": [{"containerPort": port, "name": "http"}],
                    "env": [{"name": "INSTANCE_ID", "value": instance}, {"name": "NODE_ENV", "value": "production"}],
                    "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 30},
                }], "restartPolicy": "Always"},
            },
        },
    }


def service_manifest(name: str, instance: str, slug: str = "ghost-blog", target: int = 2368) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{name}-svc", "labels": {"minispod.com/app": slug, "instance": instance,
                                                           "minispod.com/managed": "true"}},
            "spec": {"type": "ClusterIP", "selector": {"app": slug, "instance": instance},
                     "ports": [{"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"}]}}


def ingress_manifest(name: str, instance: str, host: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": f"{name}-ingress", "labels": {"instance": instance, "minispod.com/managed": "true"},
                         "annotations": {"kubernetes.io/ingress.class": "nginx",
                                         "cert-manager.io/cluster-issuer": "letsencrypt-prod"}},
            "spec": {"tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
                     "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                         "service": {"name": f"{name}-svc", "port": {"number": 80}}}}]}}]}}
