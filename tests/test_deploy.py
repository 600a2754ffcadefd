"""The deployment examples stay true to the code: the Dockerfile runs as a non-root user with a
health check on /readyz; the Kubernetes manifest and the compose file name only settings the
service reads, probe paths it serves, and ports it listens on; the replicas share one Redis."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "\n".join(p.read_text() for p in (ROOT / "src" / "dispatch").rglob("*.py"))


def read_by_the_service(name: str) -> bool:
    """Whether the code reads the environment variable ``name`` (``X_FILE`` is the file form of ``X``)."""
    if f'"{name}"' in SOURCE:
        return True
    return name.endswith("_FILE") and f'read_secret(env, "{name.removesuffix("_FILE")}")' in SOURCE


def manifests() -> list[dict]:
    return [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "dispatch.yaml").read_text()) if d]


def test_the_image_runs_as_a_non_root_user_with_a_health_check():
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")  # continuation lines joined
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*/readyz", text, re.M)
    assert 'ENTRYPOINT ["dispatch"]' in text and "EXPOSE 50051 9100" in text


def test_the_kubernetes_manifest_uses_what_the_service_reads_and_serves():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in manifests()}
    server = docs[("Deployment", "dispatch")]["spec"]
    assert server["replicas"] >= 2
    pod = server["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    unknown = [name for name in env if not read_by_the_service(name)]
    assert not unknown, unknown
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(env["DISPATCH_METRICS_PORT"]) == ports["metrics"]
    assert container["args"][:3] == ["serve", "--port", str(ports["grpc"])]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in ("/readyz", "/healthz")
    assert env["DISPATCH_REDIS_URL"].startswith("redis://dispatch-redis:")
    # headless, for client-side round robin over every ready replica
    service = docs[("Service", "dispatch")]["spec"]
    assert service["clusterIP"] == "None" and {p["port"] for p in service["ports"]} >= {ports["grpc"]}
    notifier = docs[("Deployment", "dispatch-notifier")]["spec"]["template"]["spec"]["containers"][0]
    assert notifier["args"][0] == "notifier"
    assert not [e["name"] for e in notifier["env"] if not read_by_the_service(e["name"])]
    redis = docs[("StatefulSet", "dispatch-redis")]["spec"]["template"]["spec"]["containers"][0]
    assert "--appendonly" in redis["args"]  # plans and the ETA stream survive a Redis restart


def test_the_compose_example_runs_two_replicas_on_one_redis():
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    replicas = [s for name, s in services.items() if name.startswith("dispatch-")]
    assert len(replicas) == 2
    for service in [*replicas, services["notifier"]]:
        env = service["environment"]
        assert env["DISPATCH_REDIS_URL"] == "redis://redis:6379/0"
        assert not [name for name in env if not read_by_the_service(name)]
    assert services["notifier"]["command"][0] == "notifier"
    assert "--appendonly" in services["redis"]["command"]
