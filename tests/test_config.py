"""Configuration: config.yml defaults, the local file, PORTUS_* variables, *_FILE secrets, typed and frozen
settings, strict parsing naming key and variable, the data directory, and the refusals at start-up
(production without its secrets, an unsupported database)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from portus.config import (
    DEFAULT_CONFIG,
    JWT_ALGORITHMS,
    LEAVES,
    PUSH_POLICIES,
    SYNC_STRATEGIES,
    ConfigError,
    PortusConfig,
    attribute_path,
    load_config,
    prepare_data_dir,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of config/config.yml in a directory of its own, for a config-local.yml beside it."""
    directory = tmp_path / "config"
    directory.mkdir()
    shutil.copy(DEFAULT_CONFIG, directory / "config.yml")
    return directory


def load(config_dir: Path, **environ: str) -> PortusConfig:
    return load_config(environ=environ, default_path=config_dir / "config.yml")


def write_local(config_dir: Path, data: dict) -> Path:
    path = config_dir / "config-local.yml"
    path.write_text(yaml.safe_dump(data))
    return path


# -- defaults and overrides ------------------------------------------------------------------------


def read(config: object, dotted: str) -> object:
    """The typed attribute an old dotted path names, found by the conversion rule."""
    node = config
    for name in attribute_path(dotted):
        node = getattr(node, name)
    return node


def yaml_leaves(tree: dict, trail: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    leaves: dict[tuple[str, ...], object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            leaves.update(yaml_leaves(value, (*trail, key)))
        else:
            leaves[(*trail, key)] = value
    return leaves


def test_every_key_in_config_yml_is_a_typed_setting_with_its_default(config_dir: Path) -> None:
    defaults = yaml_leaves(yaml.safe_load((config_dir / "config.yml").read_text()))
    assert {leaf.yaml_path for leaf in LEAVES} == set(defaults)
    config = load(config_dir)
    for leaf in LEAVES:
        value = read(config, leaf.dotted)
        assert value == defaults[leaf.yaml_path], leaf.dotted
        assert isinstance(value, leaf.kind), leaf.dotted


def test_readers_get_typed_attributes_with_the_value_wrappers_collapsed(config_dir: Path) -> None:
    config = load(config_dir)
    assert config.registry.timeout == 2.0 and isinstance(config.registry.timeout, float)
    assert config.registry.jwt_expiration_time == 5 and isinstance(config.registry.jwt_expiration_time, int)
    assert config.machine_fqdn == "portus.test.lan"
    assert config.delete.enabled is False
    assert config.background.sync.strategy == "initial"
    assert config.user_permission.push_images.policy == "allow-teams"
    assert config.email.from_ == "portus@example.com"


def test_the_settings_are_frozen(config_dir: Path) -> None:
    config = load(config_dir)
    with pytest.raises(ValidationError, match="frozen"):
        config.delete.enabled = True  # type: ignore[misc]


def test_every_old_dotted_path_maps_to_its_attribute_by_one_rule(config_dir: Path) -> None:
    """The rule the call sites are converted by: a trailing `.value` dropped; `email.from` is `email.from_`."""
    config = load(config_dir)
    for leaf in LEAVES:
        expected = leaf.dotted.removesuffix(".value").replace("email.from", "email.from_")
        assert ".".join(attribute_path(leaf.dotted)) == expected
        node = config
        for name in expected.split("."):
            node = getattr(node, name)
        assert node == read(config, leaf.dotted)
    with pytest.raises(KeyError):
        attribute_path("delete.enabeld")


def test_the_original_portus_key_names_are_all_there(config_dir: Path) -> None:
    config = load(config_dir)
    for dotted in (
        "machine_fqdn.value",
        "registry.jwt_expiration_time.value",
        "first_user_admin.enabled",
        "signup.enabled",
        "delete.enabled",
        "delete.contributors",
        "user_permission.push_images.policy",
        "user_permission.create_team.enabled",
        "user_permission.manage_team.enabled",
        "user_permission.create_namespace.enabled",
        "user_permission.manage_namespace.enabled",
        "user_permission.change_visibility.enabled",
        "anonymous_browsing.enabled",
        "background.sync.enabled",
    ):
        read(config, dotted)  # raises KeyError when missing


def test_the_choices_other_code_imports_come_from_the_typed_settings() -> None:
    assert SYNC_STRATEGIES == ("initial", "on-start", "update", "update-delete", "disabled")
    assert PUSH_POLICIES == ("allow-teams", "allow-personal", "admin-only")
    assert JWT_ALGORITHMS == ("ES256", "RS256")


def test_config_local_yml_overrides_defaults(config_dir: Path) -> None:
    write_local(config_dir, {"delete": {"enabled": True}, "machine_fqdn": {"value": "portus.example.com"}})
    config = load(config_dir)
    assert config.delete.enabled is True
    assert config.delete.contributors is False  # siblings keep their defaults
    assert config.machine_fqdn == "portus.example.com"
    assert config.set_explicitly("machine_fqdn")
    assert not config.set_explicitly("signup.enabled")


def test_only_a_local_file_or_a_variable_counts_as_setting_a_key(config_dir: Path) -> None:
    assert not load(config_dir).set_explicitly("machine_fqdn.value")
    assert load(config_dir, PORTUS_MACHINE_FQDN_VALUE="portus.test.lan").set_explicitly("machine_fqdn")


def test_portus_local_config_names_another_local_file(config_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "site.yml"
    elsewhere.write_text("signup:\n  enabled: false\n")
    assert load(config_dir, PORTUS_LOCAL_CONFIG=str(elsewhere)).signup.enabled is False
    with pytest.raises(ConfigError, match="PORTUS_LOCAL_CONFIG"):
        load(config_dir, PORTUS_LOCAL_CONFIG=str(tmp_path / "missing.yml"))


def test_unknown_keys_in_the_local_file_are_refused_suggesting_the_key_and_variable(config_dir: Path) -> None:
    write_local(config_dir, {"delete": {"enabeld": True}})
    with pytest.raises(ConfigError, match=r"unknown setting 'delete\.enabeld'") as refused:
        load(config_dir)
    assert "config-local.yml" in str(refused.value)
    assert "did you mean 'delete.enabled', PORTUS_DELETE_ENABLED?" in str(refused.value)


@pytest.mark.parametrize(
    "local, key",
    [
        ({"delte": {"enabled": True}}, "delte"),
        ({"registry": {"timeout": {"value": 3, "vaule": 4}}}, "registry.timeout.vaule"),
        ({"background": {"sync": {"stratgy": "update"}}}, "background.sync.stratgy"),
    ],
)
def test_unknown_keys_are_refused_at_any_depth(config_dir: Path, local: dict, key: str) -> None:
    write_local(config_dir, local)
    with pytest.raises(ConfigError, match=f"unknown setting {key!r}"):
        load(config_dir)


@pytest.mark.parametrize(
    "local, message, variable",
    [
        ({"delete": {"enabled": "yes please"}}, "delete.enabled must be true or false", "PORTUS_DELETE_ENABLED"),
        (
            {"registry": {"jwt_expiration_time": {"value": "five"}}},
            "registry.jwt_expiration_time.value must be a whole number",
            "PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE",
        ),
        (
            {"registry": {"jwt_expiration_time": {"value": True}}},
            "must be a whole number",
            "PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE",
        ),
        (
            {"registry": {"timeout": {"value": "2s"}}},
            "registry.timeout.value must be a number",
            "PORTUS_REGISTRY_TIMEOUT_VALUE",
        ),
        ({"machine_fqdn": {"value": 42}}, "must be a string", "PORTUS_MACHINE_FQDN_VALUE"),
        (
            {"user_permission": {"push_images": {"policy": "everyone"}}},
            "must be one of allow-teams, allow-personal, admin-only",
            "PORTUS_USER_PERMISSION_PUSH_IMAGES_POLICY",
        ),
        ({"lockout": {"attempts": -1}}, "lockout.attempts must be at least 0", "PORTUS_LOCKOUT_ATTEMPTS"),
    ],
)
def test_wrongly_typed_local_values_are_refused_naming_the_key_and_variable(
    config_dir: Path, local: dict, message: str, variable: str
) -> None:
    write_local(config_dir, local)
    with pytest.raises(ConfigError, match=message) as refused:
        load(config_dir)
    assert variable in str(refused.value)
    assert str(config_dir / "config-local.yml") in str(refused.value)


def test_a_value_written_without_its_wrapper_is_refused_saying_how_to_write_it(config_dir: Path) -> None:
    write_local(config_dir, {"registry": {"timeout": 5}})
    with pytest.raises(ConfigError) as refused:
        load(config_dir)
    message = str(refused.value)
    assert "registry.timeout must be a mapping with one key, value" in message
    assert "PORTUS_REGISTRY_TIMEOUT_VALUE" in message


def test_a_section_given_a_value_is_refused(config_dir: Path) -> None:
    write_local(config_dir, {"delete": True})
    with pytest.raises(ConfigError, match="delete must be a mapping"):
        load(config_dir)


def test_every_mistake_is_reported_at_once(config_dir: Path) -> None:
    write_local(config_dir, {"delete": {"enabled": "no"}, "signup": {"enabled": 1}})
    with pytest.raises(ConfigError) as refused:
        load(config_dir)
    assert "delete.enabled" in str(refused.value) and "signup.enabled" in str(refused.value)


def test_a_config_yml_without_a_setting_is_refused_naming_it(config_dir: Path) -> None:
    defaults = yaml.safe_load((config_dir / "config.yml").read_text())
    del defaults["webhooks"]
    (config_dir / "config.yml").write_text(yaml.safe_dump(defaults))
    with pytest.raises(ConfigError, match="webhooks is missing") as refused:
        load(config_dir)
    assert str(config_dir / "config.yml") in str(refused.value)


def test_a_local_file_that_is_not_yaml_is_refused(config_dir: Path) -> None:
    (config_dir / "config-local.yml").write_text("delete: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(config_dir)
    (config_dir / "config-local.yml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load(config_dir)


def test_environment_overrides_any_key(config_dir: Path) -> None:
    write_local(config_dir, {"machine_fqdn": {"value": "from-the-file.example.com"}})
    config = load(
        config_dir,
        PORTUS_MACHINE_FQDN_VALUE="registry.example.com",
        PORTUS_DELETE_ENABLED="true",
        PORTUS_DELETE_CONTRIBUTORS="yes",
        PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE="15",
        PORTUS_USER_PERMISSION_PUSH_IMAGES_POLICY="admin-only",
        PORTUS_LOCKOUT_ATTEMPTS="3",
    )
    assert config.machine_fqdn == "registry.example.com"  # the environment beats the file
    assert config.delete.enabled is True
    assert config.delete.contributors is True
    assert config.registry.jwt_expiration_time == 15
    assert config.user_permission.push_images.policy == "admin-only"
    assert config.lockout.attempts == 3


def test_environment_values_take_the_type_of_their_setting(config_dir: Path) -> None:
    config = load(
        config_dir,
        PORTUS_REGISTRY_TIMEOUT_VALUE="3.5",
        PORTUS_BACKGROUND_POLL_INTERVAL_VALUE="1",
        PORTUS_BACKGROUND_LEASE_VALUE="30",
        PORTUS_EMAIL_SMTP_PASSWORD="123",
        PORTUS_EMAIL_SMTP_SSL_TLS="ssl",
    )
    assert config.registry.timeout == 3.5
    assert isinstance(config.background.poll_interval, float) and config.background.poll_interval == 1.0
    assert isinstance(config.background.lease, int) and config.background.lease == 30
    assert config.email.smtp.password == "123"  # a string stays a string, however it looks
    assert config.email.smtp.ssl_tls == "ssl"


@pytest.mark.parametrize(
    "word, value",
    [
        ("false", False),
        ("0", False),
        ("off", False),
        ("No", False),
        ("TRUE", True),
        ("1", True),
        ("on", True),
        (" yes ", True),
    ],
)
def test_boolean_words(config_dir: Path, word: str, value: bool) -> None:
    assert load(config_dir, PORTUS_DELETE_ENABLED=word).delete.enabled is value


@pytest.mark.parametrize(
    "name, raw, key",
    [
        ("PORTUS_DELETE_ENABLED", "maybe", "delete.enabled"),
        ("PORTUS_DELETE_ENABLED", "", "delete.enabled"),
        ("PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE", "5m", "registry.jwt_expiration_time.value"),
        ("PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE", "1.5", "registry.jwt_expiration_time.value"),
        ("PORTUS_REGISTRY_TIMEOUT_VALUE", "two", "registry.timeout.value"),
        ("PORTUS_REGISTRY_TIMEOUT_VALUE", "0", "registry.timeout.value"),
        ("PORTUS_LOCKOUT_ATTEMPTS", "ten", "lockout.attempts"),
        ("PORTUS_MACHINE_FQDN_VALUE", "", "machine_fqdn.value"),
    ],
)
def test_bad_environment_values_are_refused_naming_the_variable_and_key(
    config_dir: Path, name: str, raw: str, key: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load(config_dir, **{name: raw})
    assert f"{name}={raw!r}" in str(refused.value)
    assert f"{key} must be" in str(refused.value)


@pytest.mark.parametrize(
    "name, raw, allowed",
    [
        ("PORTUS_USER_PERMISSION_PUSH_IMAGES_POLICY", "everyone", "allow-teams"),
        ("PORTUS_REGISTRY_JWT_ALGORITHM_VALUE", "HS256", "ES256"),
        ("PORTUS_BACKGROUND_SYNC_STRATEGY", "sometimes", "update-delete"),
    ],
)
def test_invalid_choices_are_refused_listing_the_valid_ones(
    config_dir: Path, name: str, raw: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load(config_dir, **{name: raw})
    assert name in str(refused.value) and allowed in str(refused.value)


def test_a_token_lifetime_under_a_minute_is_refused(config_dir: Path) -> None:
    with pytest.raises(ConfigError, match="PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE") as refused:
        load(config_dir, PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE="0")
    assert "at least 1" in str(refused.value)


def test_file_variables_hold_secrets(config_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret-from-a-file\n")
    config = load(config_dir, PORTUS_EMAIL_SMTP_PASSWORD_FILE=str(secret))
    assert config.email.smtp.password == "s3cret-from-a-file"  # trailing newline stripped
    # The variable itself wins over its _FILE.
    assert (
        load(
            config_dir,
            PORTUS_EMAIL_SMTP_PASSWORD="direct",
            PORTUS_EMAIL_SMTP_PASSWORD_FILE=str(secret),
        ).email.smtp.password
        == "direct"
    )
    flag = tmp_path / "delete-flag"
    flag.write_text("true")
    assert load(config_dir, PORTUS_DELETE_ENABLED_FILE=str(flag)).delete.enabled is True
    minutes = tmp_path / "minutes"
    minutes.write_text("7\n")
    from_file = load(config_dir, PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE_FILE=str(minutes))
    assert from_file.registry.jwt_expiration_time == 7


def test_an_unreadable_file_variable_is_refused_naming_it(config_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PORTUS_EMAIL_SMTP_PASSWORD_FILE"):
        load(config_dir, PORTUS_EMAIL_SMTP_PASSWORD_FILE=str(tmp_path / "nope"))


def test_a_bad_value_in_a_file_variable_names_the_variable_and_key(config_dir: Path, tmp_path: Path) -> None:
    flag = tmp_path / "delete-flag"
    flag.write_text("perhaps")
    with pytest.raises(ConfigError, match="PORTUS_DELETE_ENABLED_FILE") as refused:
        load(config_dir, PORTUS_DELETE_ENABLED_FILE=str(flag))
    assert "'perhaps'" in str(refused.value) and "delete.enabled must be true or false" in str(refused.value)


def test_a_changed_copy_is_validated_and_leaves_the_original_alone(config_dir: Path) -> None:
    config = load(config_dir)
    changed = config.replaced("registry.timeout.value", 7)
    assert changed.registry.timeout == 7.0 and config.registry.timeout == 2.0
    assert config.replaced("registry.timeout", 9).registry.timeout == 9.0  # the attribute path works too
    with pytest.raises(ConfigError, match="delete.enabled must be true or false"):
        config.replaced("delete.enabled", "yes")
    with pytest.raises(KeyError):
        config.replaced("delete.enabeld", True)


# -- the data directory ----------------------------------------------------------------------------


def test_preparing_the_data_directory_makes_it_private_with_a_private_secret(tmp_path: Path) -> None:
    directory = prepare_data_dir({"PORTUS_DATA_DIR": str(tmp_path / "data")})
    assert directory == (tmp_path / "data").resolve()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    secret = directory / "secret_key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text()) >= 50
    first = secret.read_text()
    prepare_data_dir({"PORTUS_DATA_DIR": str(directory)})
    assert secret.read_text() == first  # kept, so sessions survive a restart
    assert (directory / "static").is_dir()  # STATIC_ROOT, for WhiteNoise
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == []  # no draft left behind


@pytest.mark.parametrize(
    "environ",
    [{"PORTUS_ENV": "production"}, {"PORTUS_SECRET_KEY_BASE": "given"}, {"PORTUS_SECRET_KEY_BASE_FILE": "/run/s"}],
)
def test_no_secret_is_generated_in_production_or_when_one_is_configured(tmp_path: Path, environ: dict) -> None:
    directory = prepare_data_dir({"PORTUS_DATA_DIR": str(tmp_path / "data"), **environ})
    assert directory.is_dir() and not (directory / "secret_key").exists()


# -- start-up refusals, in a fresh process ---------------------------------------------------------


def start_django(tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """Set Django up in a new interpreter with only ENVIRON's PORTUS_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    env.update(
        {
            "PORTUS_DATA_DIR": str(tmp_path / "data"),
            "PORTUS_LOCAL_CONFIG": str(tmp_path / "empty.yml"),
        }
    )
    (tmp_path / "empty.yml").write_text("{}\n")
    env.update(environ)
    code = "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'portus.settings'; django.setup(); print('ok')"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "token.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)  # production refuses a key other users can read
    return path


PRODUCTION_NEEDS = {
    "PORTUS_SECRET_KEY_BASE": "a-long-random-secret-" * 3,  # 63 characters, 13 different
    "PORTUS_KEY_PATH": None,  # filled in with key_file
    "PORTUS_MACHINE_FQDN_VALUE": "portus.example.com",
}


def production_env(key_file: Path) -> dict[str, str]:
    env = {"PORTUS_ENV": "production", **PRODUCTION_NEEDS}
    env["PORTUS_KEY_PATH"] = str(key_file)
    return env


def test_production_starts_with_its_three_settings(tmp_path: Path, key_file: Path) -> None:
    started = start_django(tmp_path, **production_env(key_file))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "ok"


@pytest.mark.parametrize("missing", sorted(PRODUCTION_NEEDS))
def test_production_refuses_to_start_without_one_and_names_it(tmp_path: Path, key_file: Path, missing: str) -> None:
    env = production_env(key_file)
    del env[missing]
    refused = start_django(tmp_path, **env)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr  # one readable line, no traceback
    assert lines[0].startswith("portus: configuration error: production mode needs")
    assert missing in lines[0]
    for present in set(PRODUCTION_NEEDS) - {missing}:
        assert present not in lines[0]


def test_production_names_all_that_is_missing(tmp_path: Path) -> None:
    refused = start_django(tmp_path, PORTUS_ENV="production")
    assert refused.returncode == 2
    for name in PRODUCTION_NEEDS:
        assert name in refused.stderr


def test_production_accepts_the_fqdn_from_the_local_file(tmp_path: Path, key_file: Path) -> None:
    local = tmp_path / "site.yml"
    local.write_text("machine_fqdn:\n  value: portus.example.org\n")
    env = production_env(key_file)
    del env["PORTUS_MACHINE_FQDN_VALUE"]
    assert start_django(tmp_path, **env, PORTUS_LOCAL_CONFIG=str(local)).returncode == 0


def test_production_refuses_a_local_file_that_leaves_the_placeholder_fqdn(tmp_path: Path, key_file: Path) -> None:
    local = tmp_path / "site.yml"
    local.write_text("delete:\n  enabled: true\n")
    env = production_env(key_file)
    del env["PORTUS_MACHINE_FQDN_VALUE"]
    refused = start_django(tmp_path, **env, PORTUS_LOCAL_CONFIG=str(local))
    assert refused.returncode == 2 and "PORTUS_MACHINE_FQDN_VALUE" in refused.stderr


def test_production_refuses_a_key_path_that_does_not_exist(tmp_path: Path, key_file: Path) -> None:
    env = production_env(key_file)
    env["PORTUS_KEY_PATH"] = str(tmp_path / "no-such.key")
    refused = start_django(tmp_path, **env)
    assert refused.returncode == 2
    assert "PORTUS_KEY_PATH" in refused.stderr and "no such file" in refused.stderr


def test_production_reads_the_secret_from_a_file(tmp_path: Path, key_file: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("a-long-random-secret-from-a-file-0123456789-abcdefghijklmnop\n")
    env = production_env(key_file)
    del env["PORTUS_SECRET_KEY_BASE"]
    env["PORTUS_SECRET_KEY_BASE_FILE"] = str(secret)
    started = start_django(tmp_path, **env)
    assert started.returncode == 0, started.stderr


@pytest.mark.parametrize(
    "secret",
    ["x", "a-short-but-random-looking-secret-8f3k2", "ab" * 40],
    ids=["one character", "under 50 characters", "too few different characters"],
)
def test_production_refuses_a_weak_secret_and_says_how_to_make_one(tmp_path: Path, key_file: Path, secret: str) -> None:
    refused = start_django(tmp_path, **{**production_env(key_file), "PORTUS_SECRET_KEY_BASE": secret})
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "PORTUS_SECRET_KEY_BASE is too weak" in lines[0]
    assert "python3 -c 'import secrets; print(secrets.token_urlsafe(64))'" in lines[0]
    assert secret not in lines[0] or secret == "x"


def test_production_accepts_a_secret_made_as_the_message_says(tmp_path: Path, key_file: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-c", "import secrets; print(secrets.token_urlsafe(64))"], capture_output=True, text=True
    ).stdout.strip()
    started = start_django(tmp_path, **{**production_env(key_file), "PORTUS_SECRET_KEY_BASE": made})
    assert started.returncode == 0, started.stderr


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_production_refuses_a_signing_key_other_users_can_read(tmp_path: Path, key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    refused = start_django(tmp_path, **production_env(key_file))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "readable by other users" in lines[0] and f"chmod 600 {key_file}" in lines[0]
    key_file.chmod(0o400)
    assert start_django(tmp_path, **production_env(key_file)).returncode == 0


def refused_start(tmp_path: Path, local_yaml: str) -> str:
    """The one line a start with LOCAL_YAML as site.yml (PORTUS_LOCAL_CONFIG) is refused with."""
    local = tmp_path / "site.yml"
    local.write_text(local_yaml)
    refused = start_django(tmp_path, PORTUS_LOCAL_CONFIG=str(local))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    return lines[0]


def test_a_typo_in_config_local_yml_stops_the_start_naming_the_key(tmp_path: Path) -> None:
    line = refused_start(tmp_path, "delete:\n  enabeld: true\n")
    assert "unknown setting 'delete.enabeld'" in line and "PORTUS_DELETE_ENABLED" in line


def test_an_incomplete_provider_in_config_local_yml_stops_the_start_naming_the_key(tmp_path: Path) -> None:
    line = refused_start(tmp_path, "oauth:\n  gitlab:\n    enabled: true\n    application_id: portus\n")
    assert "oauth.gitlab.secret must be set when oauth.gitlab.enabled is true" in line
    assert "PORTUS_OAUTH_GITLAB_SECRET" in line and "site.yml" in line


CHECK = (
    "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'portus.settings'; django.setup(); "
    "from django.conf import settings; from django.core.management import call_command; "
    "print(settings.SECRET_KEY); print(settings.DATA_DIR.exists()); call_command('check')"
)


def run_check(tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    env.update({"PORTUS_DATA_DIR": str(tmp_path / "data"), "PORTUS_LOCAL_CONFIG": str(tmp_path / "empty.yml")})
    (tmp_path / "empty.yml").write_text("{}\n")
    env.update(environ)
    return subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_reading_the_settings_writes_nothing_and_warns_of_a_missing_secret(tmp_path: Path) -> None:
    checked = run_check(tmp_path)
    assert checked.returncode == 0, checked.stderr
    # No folder, no secret, no static root after Django's set-up (the signing key check may then make a key).
    assert checked.stdout.splitlines()[1] == "False"
    assert "portus.W002" in checked.stderr


def test_the_settings_read_the_secret_portusctl_prepared(tmp_path: Path) -> None:
    directory = prepare_data_dir({"PORTUS_DATA_DIR": str(tmp_path / "data")})
    checked = run_check(tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[0] == (directory / "secret_key").read_text()
    assert "portus.W002" not in checked.stderr
    assert "No directory at" not in checked.stderr


def test_portusctl_migrate_refuses_a_bad_value_before_touching_the_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    env.update({"PORTUS_DATA_DIR": str(tmp_path / "data"), "PORTUS_DELETE_ENABLED": "maybe"})
    refused = subprocess.run(
        [sys.executable, "-m", "portus.cli", "migrate"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "PORTUS_DELETE_ENABLED='maybe'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "data" / "portus.sqlite3").exists()


@pytest.mark.parametrize(
    "environ, name",
    [
        ({"PORTUS_DB_ADAPTER": "oracle"}, "PORTUS_DB_ADAPTER"),
        (
            {"PORTUS_DB_PORT": "five-four-three-two", "PORTUS_DB_ADAPTER": "postgresql"},
            "PORTUS_DB_PORT",
        ),
        ({"PORTUS_DB_TIMEOUT": "soon"}, "PORTUS_DB_TIMEOUT"),
        ({"PORTUS_ENV": "staging"}, "PORTUS_ENV"),
        ({"PORTUS_DEBUG": "sure"}, "PORTUS_DEBUG"),
    ],
)
def test_bad_process_settings_are_refused_naming_the_variable(tmp_path: Path, environ: dict, name: str) -> None:
    refused = start_django(tmp_path, **environ)
    assert refused.returncode == 2
    assert name in refused.stderr and "Traceback" not in refused.stderr


def test_an_unsupported_database_adapter_says_what_is_supported(tmp_path: Path) -> None:
    refused = start_django(tmp_path, PORTUS_DB_ADAPTER="oracle")
    assert "'oracle' is not supported" in refused.stderr
    assert "sqlite3, postgresql or mysql" in refused.stderr


def test_database_settings_come_from_portus_db_variables(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTUS_", "DJANGO_"))}
    env.update(
        {
            "PORTUS_DATA_DIR": str(tmp_path / "data"),
            "PORTUS_DB_ADAPTER": "postgresql",
            "PORTUS_DB_HOST": "db.internal",
            "PORTUS_DB_PORT": "6543",
            "PORTUS_DB_USERNAME": "portus",
            "PORTUS_DB_DATABASE": "portus_prod",
            "PORTUS_DB_PASSWORD_FILE": str(tmp_path / "db-password"),
            "PORTUS_DB_POOL": "7",
            "PORTUS_DB_TIMEOUT": "9",
        }
    )
    (tmp_path / "db-password").write_text("pw-from-file\n")
    code = (
        "import os, json; os.environ['DJANGO_SETTINGS_MODULE'] = 'portus.settings'; "
        "from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'], default=str))"
    )
    shown = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    import json

    db = json.loads(shown.stdout)
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["USER"], db["NAME"], db["PASSWORD"]) == (
        "db.internal",
        6543,
        "portus",
        "portus_prod",
        "pw-from-file",
    )
    assert db["OPTIONS"]["pool"]["max_size"] == 7
    assert db["OPTIONS"]["connect_timeout"] == 9


def test_an_unsupported_python_is_refused_with_a_clear_message() -> None:
    # sys.version_info stands in for an old interpreter: the check reads nothing else.
    code = "import sys; sys.version_info = (3, 10, 12, 'final', 0); import portus"
    refused = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "Portus needs Python 3.11 or newer" in refused.stderr
    assert "Traceback" not in refused.stderr


# -- LDAP ------------------------------------------------------------------------------------------


LDAP_ON = {
    "PORTUS_LDAP_ENABLED": "true",
    "PORTUS_LDAP_HOSTNAME": "ldap.example.org",
    "PORTUS_LDAP_BASE": "dc=example,dc=org",
}


def test_the_original_portus_ldap_keys_are_there_and_off_by_default(config_dir: Path) -> None:
    config = load(config_dir)
    for dotted in (
        "ldap.enabled",
        "ldap.hostname",
        "ldap.port",
        "ldap.encryption.method",
        "ldap.encryption.options.ca_file",
        "ldap.base",
        "ldap.filter",
        "ldap.uid",
        "ldap.authentication.enabled",
        "ldap.authentication.bind_dn",
        "ldap.authentication.password",
        "ldap.guess_email.enabled",
        "ldap.guess_email.attr",
    ):
        read(config, dotted)
    assert config.ldap.enabled is False and config.ldap.encryption.method == "plain" and config.ldap.port == 389


def test_ldap_is_set_through_portus_ldap_variables_with_the_service_password_from_a_file(
    config_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "ldap-password"
    secret.write_text("reader-secret\n")
    config = load(
        config_dir,
        **LDAP_ON,
        PORTUS_LDAP_PORT="636",
        PORTUS_LDAP_ENCRYPTION_METHOD="simple_tls",
        PORTUS_LDAP_AUTHENTICATION_ENABLED="true",
        PORTUS_LDAP_AUTHENTICATION_BIND_DN="cn=reader,dc=example,dc=org",
        PORTUS_LDAP_AUTHENTICATION_PASSWORD_FILE=str(secret),
        PORTUS_LDAP_GROUP_BASE="ou=groups,dc=example,dc=org",
        PORTUS_LDAP_TEAM_SYNC="developers=devs:contributor, ops=operations:owner",
    )
    assert config.ldap.port == 636 and config.ldap.encryption.method == "simple_tls"
    assert config.ldap.authentication.password == "reader-secret"
    assert [(rule.group, rule.team, rule.role) for rule in config.ldap.team_rules] == [
        ("developers", "devs", "contributor"),
        ("ops", "operations", "owner"),
    ]


@pytest.mark.parametrize(
    "environ, key, variable",
    [
        (
            {"PORTUS_LDAP_ENABLED": "true", "PORTUS_LDAP_BASE": "dc=example,dc=org"},
            "ldap.hostname",
            "PORTUS_LDAP_HOSTNAME",
        ),
        ({"PORTUS_LDAP_ENABLED": "true", "PORTUS_LDAP_HOSTNAME": "ldap"}, "ldap.base", "PORTUS_LDAP_BASE"),
        (
            {**LDAP_ON, "PORTUS_LDAP_AUTHENTICATION_ENABLED": "true"},
            "ldap.authentication.bind_dn",
            "PORTUS_LDAP_AUTHENTICATION_BIND_DN",
        ),
        (
            {**LDAP_ON, "PORTUS_LDAP_AUTHENTICATION_ENABLED": "true", "PORTUS_LDAP_AUTHENTICATION_BIND_DN": "cn=r"},
            "ldap.authentication.password",
            "PORTUS_LDAP_AUTHENTICATION_PASSWORD",
        ),
        (
            {
                **LDAP_ON,
                "PORTUS_LDAP_ENCRYPTION_METHOD": "start_tls",
                "PORTUS_LDAP_ENCRYPTION_OPTIONS_CA_FILE": "/no/ca",
            },
            "ldap.encryption.options.ca_file",
            "PORTUS_LDAP_ENCRYPTION_OPTIONS_CA_FILE",
        ),
        ({**LDAP_ON, "PORTUS_LDAP_ADMIN_GROUP": "admins"}, "ldap.group_base", "PORTUS_LDAP_GROUP_BASE"),
        ({"PORTUS_LDAP_TEAM_SYNC": "developers=devs"}, "ldap.team_sync", "PORTUS_LDAP_TEAM_SYNC"),
        ({"PORTUS_LDAP_TEAM_SYNC": "developers=devs:boss"}, "ldap.team_sync", "PORTUS_LDAP_TEAM_SYNC"),
        ({"PORTUS_LDAP_FILTER": "objectClass=person"}, "ldap.filter", "PORTUS_LDAP_FILTER"),
        ({"PORTUS_LDAP_GROUP_FILTER": "(cn=ops"}, "ldap.group_filter", "PORTUS_LDAP_GROUP_FILTER"),
        ({"PORTUS_LDAP_GROUP_TYPE": "group"}, "ldap.group_type", "PORTUS_LDAP_GROUP_TYPE"),
        ({"PORTUS_LDAP_ENCRYPTION_METHOD": "tls"}, "ldap.encryption.method", "PORTUS_LDAP_ENCRYPTION_METHOD"),
        ({"PORTUS_LDAP_PORT": "0"}, "ldap.port", "PORTUS_LDAP_PORT"),
        (
            {**LDAP_ON, "PORTUS_LDAP_BASE": "ou=people,o=corp", "PORTUS_LDAP_GUESS_EMAIL_ENABLED": "true"},
            "ldap.guess_email.attr",
            "PORTUS_LDAP_GUESS_EMAIL_ATTR",
        ),
    ],
)
def test_a_wrong_or_incomplete_ldap_setting_stops_the_start_naming_the_key(
    config_dir: Path, environ: dict, key: str, variable: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load(config_dir, **environ)
    assert key in str(refused.value) and variable in str(refused.value)


def test_an_incomplete_ldap_section_in_the_local_file_is_refused_naming_the_file(config_dir: Path) -> None:
    path = write_local(config_dir, {"ldap": {"enabled": True, "hostname": "ldap.example.org"}})
    with pytest.raises(ConfigError) as refused:
        load(config_dir)
    assert "ldap.base must be set" in str(refused.value)
    assert "config-local.yml" in str(refused.value) and "PORTUS_LDAP_BASE" in str(refused.value)
    path.write_text(yaml.safe_dump({"ldap": {"enabled": True, "hostname": "h", "base": "dc=example,dc=org"}}))
    assert load(config_dir).ldap.enabled is True
