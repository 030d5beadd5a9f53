"""The Helm chart renders, lints and validates against the Kubernetes schemas, without a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require

CHART = Path(__file__).resolve().parents[1] / "deploy" / "helm" / "portus"
KUBERNETES_VERSION = "1.30.0"

try:
    import helm_python
    import kubernetes_validate
except ImportError:  # pragma: no cover - the test extra pins both
    helm_python = None
    kubernetes_validate = None


def chart_tools() -> None:
    require(
        helm_python is not None and kubernetes_validate is not None, "helm-python-sdk or kubernetes-validate missing"
    )


def ha_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values-ha.yaml").read_text())


def render(values: dict[str, Any] | None = None, *, upgrade: bool = False) -> list[dict[str, Any]]:
    chart_tools()
    chart = helm_python.Chart.load(CHART)
    rendered = chart.render(
        values,
        name="portus",
        namespace="portus",
        revision=2 if upgrade else 1,
        is_install=not upgrade,
        is_upgrade=upgrade,
    )
    documents = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            documents.extend(document for document in yaml.safe_load_all(text) if document)
    return documents


def by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {document["metadata"]["name"]: document for document in documents if document["kind"] == kind}


def container_env(container: dict[str, Any]) -> dict[str, Any]:
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container.get("env", [])}


VALUE_SETS = {"default values": None, "HA values": "ha"}


@pytest.mark.parametrize("values", VALUE_SETS, ids=list(VALUE_SETS))
def test_the_chart_lints_without_errors_or_warnings(values: str) -> None:
    chart_tools()
    report = helm_python.lint(CHART, ha_values() if VALUE_SETS[values] else None, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("values", VALUE_SETS, ids=list(VALUE_SETS))
def test_every_rendered_manifest_is_valid_against_the_kubernetes_schemas(values: str) -> None:
    documents = render(ha_values() if VALUE_SETS[values] else None)
    checked = 0
    for document in documents:
        if document["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked in the ServiceMonitor test below
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 6


def test_default_values_make_web_worker_migration_database_registry_and_ingress() -> None:
    documents = render()
    deployments = by_kind(documents, "Deployment")
    assert set(deployments) == {"portus-web", "portus-worker", "portus-registry"}
    assert set(by_kind(documents, "StatefulSet")) == {"portus-database"}
    assert by_kind(documents, "Ingress")
    assert set(by_kind(documents, "Secret")) == {"portus-secret-key", "portus-token-signing", "portus-database"}
    web = deployments["portus-web"]["spec"]
    assert web["replicas"] == 2
    container = web["template"]["spec"]["containers"][0]
    assert container["args"][0] == "serve"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["resources"]["requests"]
    worker = deployments["portus-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert container_env(worker)["PORTUS_BACKGROUND"] == "true"


def test_the_migration_runs_as_a_hook_before_an_upgrade_and_after_the_first_install() -> None:
    (job,) = by_kind(render(upgrade=True), "Job").values()
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert set(hooks) == {"post-install", "pre-upgrade"}
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_every_portus_container_gets_the_same_secrets_database_and_config() -> None:
    documents = render()
    portus_containers = []
    for kind in ("Deployment", "Job"):
        for workload in by_kind(documents, kind).values():
            spec = workload["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                if container["image"].startswith("portus:") and container["name"] != "signing-key":
                    portus_containers.append(container)
    assert len(portus_containers) == 4  # web, worker, migration, the registry's wiring
    for container in portus_containers:
        env = container_env(container)
        assert env["PORTUS_SECRET_KEY_BASE"]["secretKeyRef"]["name"] == "portus-secret-key"
        assert env["PORTUS_DB_PASSWORD"]["secretKeyRef"]["name"] == "portus-database"
        assert env["PORTUS_DB_HOST"] == "portus-database"
        assert env["PORTUS_URL"] == "https://portus.example.com"
        assert env["PORTUS_KEY_PATH"] == "/run/portus/token/tls.key"
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert {"/etc/portus/config-local.yml", "/run/portus/token"} <= mounts


def test_the_config_map_holds_a_config_local_yml_that_portus_accepts(tmp_path: Path) -> None:
    from portus.config import load_config

    (config_map,) = by_kind(render({"config": {"delete": {"enabled": False}}}), "ConfigMap").values()
    local = tmp_path / "config-local.yml"
    local.write_text(config_map["data"]["config-local.yml"])
    config = load_config({"PORTUS_LOCAL_CONFIG": str(local)})
    assert config.delete.enabled is False  # the value given, over the chart's default
    assert config.machine_fqdn == "portus.example.com"
    assert config.signup.enabled is False


def test_the_registry_is_wired_through_portusctl_registry_config() -> None:
    registry = by_kind(render(), "Deployment")["portus-registry"]["spec"]["template"]["spec"]
    (wire,) = [c for c in registry["initContainers"] if c["name"] == "wire-to-portus"]
    script = " ".join(wire["command"])
    assert "portusctl registry config --registry main --portus-url http://portus-web" in script
    assert "portusctl registry add --name main --hostname portus-registry:5000" in script
    assert "--external-hostname registry.example.com --use-ssl" in script
    (registry_container,) = registry["containers"]
    assert registry_container["args"] == ["serve", "/etc/registry/config.yml"]
    mounts = {m["mountPath"]: m["name"] for m in registry_container["volumeMounts"]}
    assert mounts["/run/portus/token"] == "token-cert"  # the certificate the config names, never the key


def test_generated_secrets_are_complete_and_the_signing_key_matches_its_algorithm() -> None:
    secrets = by_kind(render(), "Secret")
    assert set(secrets["portus-token-signing"]["data"]) == {"tls.key", "tls.crt"}
    import base64

    key = base64.b64decode(secrets["portus-token-signing"]["data"]["tls.key"]).decode()
    assert "EC PRIVATE KEY" in key
    assert len(base64.b64decode(secrets["portus-secret-key"]["data"]["secretKey"])) >= 50


def test_ha_values_use_existing_secrets_an_external_database_and_no_internal_parts() -> None:
    documents = render(ha_values())
    assert by_kind(documents, "Secret") == {}
    assert by_kind(documents, "StatefulSet") == {}
    deployments = by_kind(documents, "Deployment")
    assert set(deployments) == {"portus-web", "portus-worker"}
    assert deployments["portus-web"]["spec"]["replicas"] == 3
    assert deployments["portus-worker"]["spec"]["replicas"] == 2
    env = container_env(deployments["portus-web"]["spec"]["template"]["spec"]["containers"][0])
    assert env["PORTUS_DB_HOST"] == "postgresql.db.svc"
    assert env["PORTUS_DB_PASSWORD"]["secretKeyRef"]["name"] == "portus-db"
    assert env["PORTUS_SECRET_KEY_BASE"]["secretKeyRef"]["name"] == "portus-secret-key"
    assert env["PORTUS_REDIS_URL"] == "redis://redis.cache.svc:6379/0"
    assert env["PORTUS_METRICS_TOKEN"]["secretKeyRef"]["name"] == "portus-metrics"


def test_the_service_monitor_scrapes_metrics_of_the_web_pods_with_the_bearer_token() -> None:
    documents = render(ha_values())
    (monitor,) = by_kind(documents, "ServiceMonitor").values()
    (service,) = by_kind(documents, "Service").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["authorization"]["credentials"] == {"name": "portus-metrics", "key": "token"}


def test_pods_run_as_the_images_non_root_user_with_a_read_only_root() -> None:
    for name, deployment in by_kind(render(), "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_an_external_database_without_a_password_is_refused_at_render_time() -> None:
    chart_tools()
    with pytest.raises(helm_python.HelmError, match="database.external.password"):
        render({"database": {"type": "external"}})
