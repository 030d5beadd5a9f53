"""The compose examples are complete: every variable has a value in the .env template, images are pinned,
volumes and secrets are declared, dependencies exist and the registry mounts what `portusctl registry config`
writes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from portus.config import LEAVES, load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "compose"
BASES = ["quickstart", "nginx"]
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:?-][^}]*)?\}")
PINNED = re.compile(r"^[\w./-]+:\d+(\.\d+)+[\w.-]*$")


def env_template(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, separator, value = line.partition("=")
            assert separator, f"{path}: {line!r} is not NAME=VALUE"
            values[name.strip()] = value.strip()
    return values


def compose_file(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def substituted(node: Any, env: dict[str, str]) -> Any:
    """The file as compose sees it once .env is read (only ${VAR} forms are used in the examples)."""
    if isinstance(node, str):
        return VARIABLE.sub(lambda match: env[match.group(1)], node)
    if isinstance(node, list):
        return [substituted(item, env) for item in node]
    if isinstance(node, dict):
        return {key: substituted(value, env) for key, value in node.items()}
    return node


def merged(base: dict[str, Any], addon: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in addon.items():
        result[key] = merged(result[key], value) if isinstance(value, dict) and key in result else value
    return result


@pytest.mark.parametrize("example", BASES)
def test_every_variable_of_an_example_has_a_value_in_its_env_template(example: str) -> None:
    text = (EXAMPLES / example / "compose.yml").read_text()
    defined = env_template(EXAMPLES / example / ".env.example")
    used = set(VARIABLE.findall(text))
    assert used, "the example is configured through .env"
    assert used - set(defined) == set()
    assert set(defined) - used == set(), "every template line is used"


def test_every_variable_of_the_scanner_add_on_has_a_value_in_its_env_lines() -> None:
    used = set(VARIABLE.findall((EXAMPLES / "addons" / "scanner-trivy.yml").read_text()))
    assert used == set(env_template(EXAMPLES / "addons" / "scanner.env.example"))


def all_files() -> list[Path]:
    return [EXAMPLES / base / "compose.yml" for base in BASES] + [EXAMPLES / "addons" / "scanner-trivy.yml"]


@pytest.mark.parametrize("path", all_files(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_image_is_pinned_to_a_version(path: Path) -> None:
    services = compose_file(path)["services"]
    images = [service["image"] for service in services.values() if "image" in service]
    assert images
    for image in images:
        assert image == "${PORTUS_IMAGE}" or PINNED.match(image), f"{image} is not pinned to a version"


@pytest.mark.parametrize("example", BASES)
def test_volumes_secrets_and_dependencies_of_an_example_are_declared(example: str) -> None:
    spec = substituted(
        compose_file(EXAMPLES / example / "compose.yml"), env_template(EXAMPLES / example / ".env.example")
    )
    services = spec["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in spec["volumes"], f"{name}: volume {source} is not declared"
        for secret in service.get("secrets", []):
            assert secret in spec["secrets"], f"{name}: secret {secret} is not declared"
        depends = service.get("depends_on", [])
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in services, f"{name} depends on {dependency}, which is not a service"


@pytest.mark.parametrize("example", BASES)
def test_the_registry_mounts_the_config_that_portusctl_registry_config_writes(example: str) -> None:
    services = compose_file(EXAMPLES / example / "compose.yml")["services"]
    script = services["setup"]["command"][0]
    assert "portusctl migrate" in script
    written = re.findall(r"portusctl registry config [^;&|]*-o ([^\s;]+)", script)
    assert written and len(set(written)) == 1
    config_dir = str(Path(written[0]).parent)
    (setup_volume,) = [v for v in services["setup"]["volumes"] if v.split(":")[1] == config_dir]
    registry_volumes = {v.split(":")[0]: v.split(":")[1] for v in services["registry"]["volumes"]}
    assert registry_volumes[setup_volume.split(":")[0]] == "/etc/docker/registry"  # the image's config path
    assert Path(written[0]).name == "config.yml"
    # The registry trusts Portus's token certificate at the path the config names (PORTUS_CERT_PATH).
    assert "portus-token-cert" in services["registry"]["secrets"]
    assert services["web"]["environment"]["PORTUS_CERT_PATH"] == "/run/secrets/portus-token-cert"


@pytest.mark.parametrize("example", BASES)
def test_web_and_worker_are_one_image_in_two_roles_with_the_same_settings(example: str) -> None:
    services = compose_file(EXAMPLES / example / "compose.yml")["services"]
    web, worker = services["web"], services["worker"]
    assert web["image"] == worker["image"] == services["setup"]["image"] == "${PORTUS_IMAGE}"
    assert worker["environment"]["PORTUS_BACKGROUND"] == "true"
    assert "PORTUS_BACKGROUND" not in web["environment"]
    shared = {k: v for k, v in worker["environment"].items() if k != "PORTUS_BACKGROUND"}
    assert shared.items() <= web["environment"].items()
    assert web["command"][0] == "serve"
    assert web["environment"]["PORTUS_ENV"] == "production"


def test_the_quick_start_terminates_tls_in_portus() -> None:
    web = compose_file(EXAMPLES / "quickstart" / "compose.yml")["services"]["web"]
    assert web["environment"]["PORTUS_TLS_KEY"] == "/run/secrets/tls-key"
    assert web["environment"]["PORTUS_TLS_CERT"] == "/run/secrets/tls-cert"
    assert {"tls-key", "tls-cert"} <= set(web["secrets"])


def test_nginx_sends_the_token_and_notification_endpoints_to_portus_and_the_rest_of_v2_to_the_registry() -> None:
    conf = (EXAMPLES / "nginx" / "nginx.conf.template").read_text()
    assert re.search(r"location = /v2/token \{ proxy_pass http://portus_web; \}", conf)
    assert re.search(r"location = /v2/webhooks/events \{ proxy_pass http://portus_web; \}", conf)
    registry_block = re.search(r"location /v2/ \{(.*?)\n    \}", conf, re.S)
    assert registry_block and "proxy_pass http://registry;" in registry_block.group(1)
    assert "client_max_body_size 0;" in registry_block.group(1)
    services = compose_file(EXAMPLES / "nginx" / "compose.yml")["services"]
    assert "web:3000" in conf and "web" in services and "registry:5000" in conf


def test_the_scanner_add_on_configures_keys_portus_accepts() -> None:
    addon = compose_file(EXAMPLES / "addons" / "scanner-trivy.yml")
    env = env_template(EXAMPLES / "addons" / "scanner.env.example")
    for base in BASES:
        spec = merged(compose_file(EXAMPLES / base / "compose.yml"), addon)
        assert {"trivy-adapter", "trivy-redis"} <= set(spec["services"])
        assert "trivy-cache" in spec["volumes"]
    worker_env = substituted(addon["services"]["worker"]["environment"], env)
    config = load_config(worker_env)  # refuses an unknown PORTUS_* variable or a bad value
    assert config.security.harbor.server == "http://trivy-adapter:8080"
    assert config.background.security_scanning.enabled is True
    assert config.security.harbor.timeout == 600


def test_every_variable_of_the_ldap_add_on_has_a_value_in_its_env_lines() -> None:
    used = set(VARIABLE.findall((EXAMPLES / "addons" / "ldap.yml").read_text()))
    defined = set(env_template(EXAMPLES / "addons" / "ldap.env.example"))
    assert used - defined == {"SECRETS_DIR"}, "SECRETS_DIR comes from the base example's .env"
    assert defined - used == set(), "every template line is used"
    for base in BASES:
        assert "SECRETS_DIR" in env_template(EXAMPLES / base / ".env.example")


def test_the_ldap_add_on_sets_the_same_directory_keys_portus_accepts_for_web_and_worker(tmp_path: Path) -> None:
    addon = compose_file(EXAMPLES / "addons" / "ldap.yml")
    for base in BASES:
        spec = merged(compose_file(EXAMPLES / base / "compose.yml"), addon)
        for role in ("web", "worker"):
            assert {"ldap-password", "ldap-ca"} <= set(addon["services"][role]["secrets"])
            mounted = {v.split("/")[-1] for v in spec["services"][role]["environment"].values() if "/run/secrets/" in v}
            assert {"ldap-password", "ldap-ca"} <= mounted
        assert {"ldap-password", "ldap-ca"} <= set(spec["secrets"])
    web, worker = (addon["services"][role]["environment"] for role in ("web", "worker"))
    assert web == worker
    assert {name for name in web if name.startswith("PORTUS_LDAP_")} == set(web)
    # The secrets as the containers see them, here in tmp_path.
    (tmp_path / "ldap-password").write_text("service-account-password\n")
    (tmp_path / "ldap-ca").write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        name: value.replace("/run/secrets/", f"{tmp_path}/")
        for name, value in substituted(web, env_template(EXAMPLES / "addons" / "ldap.env.example")).items()
    }
    config = load_config(env)  # refuses an unknown PORTUS_* variable or a bad or incomplete value
    ldap = config.ldap
    assert ldap.enabled and ldap.hostname == "ldap.example.com" and ldap.port == 389
    assert ldap.encryption.method == "start_tls" and ldap.encryption.options.ca_file == f"{tmp_path}/ldap-ca"
    assert ldap.authentication.enabled and ldap.authentication.password == "service-account-password"
    assert ldap.base == "ou=people,dc=example,dc=com" and ldap.uid == "uid"
    assert ldap.guess_email.enabled and ldap.guess_email.attr == "mail"
    assert ldap.group_base == "ou=groups,dc=example,dc=com" and ldap.group_type == "groupOfNames"
    # Every variable of the add-on is one load_config reads: none is left out or only warned about.
    assert set(web) <= {leaf.variable for leaf in LEAVES} | {leaf.variable + "_FILE" for leaf in LEAVES}
    assert not config._unsupported_original
