"""Pure pieces of the cluster domain: names, quantities, log lines, manifests, the status table, the client."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from webapp.cluster import manifests as m
from webapp.cluster.logs import LineBuffer, clean_line, parse_lines
from webapp.cluster.quantity import cpu_usage, mebibytes, memory_usage, millicores, parse_quantity
from webapp.cluster.status import TRANSITIONS
from webapp.cluster.models import InstanceStatus as S

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("text", ["ghost-blog", "Ghost-Blog", "Ghöst Blög", "9lives", "-x-", "日本語アプリ", "",
                                  "a" * 200, "UPPER_case.dots", "n8n-automation"])
def test_dns_label_is_always_valid(text):
    label = m.dns_label(text, 29)
    assert DNS_1035.match(label) and len(label) <= 29


def test_lossy_labels_never_collide():
    inputs = ["Ghost-Blog", "ghost blog", "ghost_blog", "GHOST-BLOG", "ghost-blog", "a" * 40, "a" * 41]
    assert len({m.dns_label(t, 29) for t in inputs}) == len(inputs)
    assert m.dns_label("ghost-blog") == "ghost-blog"  # valid slugs stay readable


def test_object_names_fit_and_start_with_a_letter():
    instance_id = "c" + "z" * 24
    for slug in ("n8n-automation", "9lives", "x" * 50, "Ünïcode-Ápp"):
        base = m.instance_base_name(slug, instance_id)
        names = m.ObjectNames(base)
        for name in (names.deployment, names.service, names.ingress, names.pvc, names.secret, names.tls):
            assert DNS_1035.match(name) and len(name) <= 63, name
        assert base.endswith(instance_id)
    with pytest.raises(ValueError):
        m.instance_base_name("ghost", "Bad/Id")


@pytest.mark.parametrize("raw, value", [("250m", Decimal("0.25")), ("64Mi", 64 * 2 ** 20), ("1Gi", 2 ** 30),
                                        ("123456789n", Decimal("0.123456789")), ("12345Ki", 12345 * 1024),
                                        ("1e3", 1000), ("0", 0), ("250u", Decimal("0.00025")), ("1.5", Decimal("1.5")),
                                        ("2k", 2000), ("1048576", 1048576)])
def test_quantities(raw, value):
    assert parse_quantity(raw) == Decimal(value)


@pytest.mark.parametrize("raw", ["", "abc", "1Xi", "--1", None])
def test_bad_quantities(raw):
    with pytest.raises(ValueError):
        parse_quantity(raw)


def test_usage_shapes():
    assert cpu_usage("5m") == {"raw": "5m", "millicores": 5, "cores": 0.01}
    assert memory_usage("64Mi") == {"raw": "64Mi", "bytes": 67108864, "megabytes": 64.0, "gigabytes": 0.06}


def _usage_by_decimal(raw, places=2):
    """The reference: the Decimal path every quantity can take."""
    from webapp.cluster.quantity import _round, safe_quantity

    value = safe_quantity(raw)
    return ({"raw": raw, "millicores": int((value * 1000).to_integral_value(rounding="ROUND_HALF_UP")),
             "cores": _round(value, places)},
            {"raw": raw, "bytes": int(value), "megabytes": _round(value / 2 ** 20, 2),
             "gigabytes": _round(value / 2 ** 30, places)})


def test_integer_usage_figures_equal_the_decimal_path():
    import random

    rng = random.Random(24)
    edges = [0, 1, 499_999, 500_000, 500_001, 4_999_999, 5_000_000, 5_000_001, 10 ** 9 - 1, 2 ** 19, 2 ** 29,
             3 * 2 ** 19, 5 * 2 ** 29 - 1, 10 ** 15]
    values = edges + [rng.randrange(10 ** rng.randint(1, 13)) for _ in range(3000)]
    for n in values:
        for suffix in ("n", "u", "m", "", "k", "M", "G", "Ki", "Mi", "Gi"):
            raw = f"{n}{suffix}"
            cpu_ref, mem_ref = _usage_by_decimal(raw)
            assert cpu_usage(raw) == cpu_ref and millicores(raw) == cpu_ref["millicores"], raw
            assert memory_usage(raw) == mem_ref and mebibytes(raw) == mem_ref["megabytes"], raw
            assert cpu_usage(raw, core_places=3) == _usage_by_decimal(raw, 3)[0], raw
    for raw in ("1.5", "2e3", "100m ", "-5m", "12E", "3Pi", "128974848000m", None, "", "abc"):  # the Decimal path
        assert (cpu_usage(raw), memory_usage(raw)) == _usage_by_decimal(raw), raw
        assert (millicores(raw), mebibytes(raw)) == (cpu_usage(raw)["millicores"], memory_usage(raw)["megabytes"])


def test_log_lines():
    assert clean_line("2025-01-01T00:00:00.123456789Z \x1b[32mready\x1b[0m  ") == ("2025-01-01T00:00:00.123456789Z",
                                                                                   "ready")
    assert clean_line("2025-01-01T00:00:00Z plain")[1] == "plain"
    parsed = parse_lines("2025-01-01T00:00:00.1Z hello\n\n2025-01-01T00:00:01.1Z ERROR boom\n")
    assert [(p["level"], p["message"]) for p in parsed] == [("info", "hello"), ("error", "ERROR boom")]
    buffer = LineBuffer()
    assert buffer.feed("first li") == [] and buffer.feed("ne\nsecond") == ["first line"]
    assert buffer.flush() == ["second"]


def test_env_never_holds_secrets():
    env = m.initial_env(slug="postgresql-database", env_template={"POSTGRES_PASSWORD": "postgres", "API_TOKEN": "t",
                                                                  "TZ": "Asia/Jakarta", "bad key": "x", "FLAG": True},
                        instance_id="c1", base="pg-c1", host="pg-c1.example.com", port=5432)
    assert env["POSTGRES_PASSWORD"] == m.secret_ref("pg-c1-secret", "POSTGRES_PASSWORD")
    assert env["API_TOKEN"] == m.secret_ref("pg-c1-secret", "API_TOKEN")
    assert env["TZ"] == "Asia/Jakarta" and env["FLAG"] == "true" and "bad key" not in env
    assert env["POSTGRES_DB"] == "pg_c1" and "postgres" not in [v for v in env.values() if isinstance(v, str)][:1]


def test_manifests_follow_the_plan_and_template():
    spec = m.InstanceSpec(instance_id="cabc", user_id="u1", namespace="user-u1", base="postgresql-database-cabc",
                          slug="postgresql-database", image="postgres:16", port=5432, cpu_milli=250, memory_mb=256,
                          storage_gb=Decimal("0.25"), host="pg.example.com",
                          env={"POSTGRES_PASSWORD": m.secret_ref("postgresql-database-cabc-secret", "POSTGRES_PASSWORD")})
    dep = m.deployment_manifest(spec)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "postgres"}
    assert container["volumeMounts"][0]["mountPath"] == "/var/lib/postgresql/data"
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert m.pvc_manifest(spec)["spec"]["resources"]["requests"]["storage"] == "256Mi"
    assert m.storage_quantity(0) is None and m.storage_quantity(Decimal("3")) == "3Gi"
    no_storage = m.InstanceSpec(**{**spec.__dict__, "storage_gb": Decimal("0")})
    assert m.pvc_manifest(no_storage) is None and "volumes" not in m.deployment_manifest(no_storage)["spec"]["template"]["spec"]


def test_transition_table_is_complete():
    assert set(TRANSITIONS) == set(S)
    assert TRANSITIONS[S.TERMINATED] == frozenset()
    for transitional in (S.PROVISIONING, S.RESTARTING, S.STOPPING, S.STARTING):
        assert TRANSITIONS[transitional] & {S.RUNNING, S.STOPPED, S.ERROR}, transitional
