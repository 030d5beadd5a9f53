"""What keeps the original Portus's surroundings working after an import: its config files and
variables, its Devise password hashes, and its registry's notifications without a secret."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bcrypt
import pytest
import yaml
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.checks import run_checks
from django.test import Client

from portus.accounts.hashers import DeviseBcryptHasher, wrap_devise_hash
from portus.config import DEFAULT_CONFIG, ConfigError, load_config
from portus.registry.actions import create_registry, end_unsigned_notifications
from portus.registry.models import Activity, Registry, RegistryEvent
from tests.conftest import World
from tests.test_registry_webhooks import ENVELOPE_TYPE, URL, event

# -- the original's config.yml and variables -------------------------------------------------------


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    shutil.copy(DEFAULT_CONFIG, directory / "config.yml")
    return directory


def test_the_originals_config_local_is_read_and_its_unsupported_keys_are_listed(config_dir: Path) -> None:
    original_local = {
        "machine_fqdn": {"value": "portus.example.org"},
        "delete": {"enabled": True, "garbage_collector": {"enabled": False, "older_than": 30}},
        "email": {"smtp": {"enabled": False, "domain": "example.org", "authentication": "login"}},
        "check_ssl_usage": {"enabled": False},
        "user_permission": {"create_webhook": {"enabled": True}},
        "pagination": {"per_page": 10, "limit": 10, "before_after": 2},
        "oauth": {"open_id": {"enabled": False, "identifier": "", "domain": ""}, "github": {"enabled": False}},
        "ldap": {"enabled": False, "encryption": {"method": "plain", "options": {"ssl_version": "TLSv1_2"}}},
    }
    (config_dir / "config-local.yml").write_text(yaml.safe_dump(original_local))
    config = load_config(environ={}, default_path=config_dir / "config.yml")
    assert config.machine_fqdn == "portus.example.org" and config.delete.enabled is True
    left_out = config.unsupported_original_settings
    for key in (
        "delete.garbage_collector",
        "email.smtp.domain",
        "email.smtp.authentication",
        "check_ssl_usage",
        "user_permission.create_webhook",
        "pagination.limit",
        "pagination.before_after",
        "oauth.open_id",
        "ldap.encryption.options.ssl_version",
    ):
        assert key in left_out


def test_the_originals_shipped_config_yml_is_read_as_it_is(config_dir: Path) -> None:
    """What the original's own config.yml (2.3 to 2.5) holds and a config-local.yml copied from it keeps:
    its `port: 587,` (YAML reads the text "587,"), an empty LDAP encryption method (no encryption), 2.3's
    `ldap.method`, 2.5's `ldap.admin_base` and `ldap.group_sync`, and 2.5's OpenID Connect credentials
    under `identifier` and `secret`."""
    original = {
        "email": {"smtp": {"enabled": False, "address": "smtp.example.com", "port": "587,"}},
        "ldap": {
            "enabled": False,
            "method": "start_tls",
            "admin_base": "",
            "group_sync": {"enabled": True, "default_role": "viewer"},
        },
        "oauth": {"openid_connect": {"enabled": False, "issuer": "", "identifier": "portus-app", "secret": "s3"}},
    }
    (config_dir / "config-local.yml").write_text(yaml.safe_dump(original))
    config = load_config(environ={}, default_path=config_dir / "config.yml")
    assert config.email.smtp.port == 587
    assert config.ldap.encryption.method == "start_tls"  # 2.3's ldap.method, no encryption.method given
    assert (config.oauth.openid_connect.client_id, config.oauth.openid_connect.client_secret) == ("portus-app", "s3")
    assert {"ldap.admin_base", "ldap.group_sync"} <= set(config.unsupported_original_settings)

    original["ldap"]["encryption"] = {"method": "", "options": {"ca_file": ""}}  # type: ignore[index]
    (config_dir / "config-local.yml").write_text(yaml.safe_dump(original))
    config = load_config(environ={}, default_path=config_dir / "config.yml")
    assert config.ldap.encryption.method == "plain"  # "" was no encryption; it wins over ldap.method, as in 2.3

    original["ldap"]["encryption"]["method"] = "start-tls"  # type: ignore[index]
    (config_dir / "config-local.yml").write_text(yaml.safe_dump(original))
    with pytest.raises(ConfigError, match="ldap.encryption.method must be one of"):
        load_config(environ={}, default_path=config_dir / "config.yml")  # a typo is still refused


def test_the_originals_variables_this_portus_does_not_read_are_listed(config_dir: Path) -> None:
    environ = {
        "PORTUS_PASSWORD": "internal-user-password",
        "PORTUS_INIT_COMMAND": "rake db:setup",
        "PORTUS_LDAP_GROUP_SYNC_ENABLED": "true",
        "PORTUS_CHECK_SSL_USAGE_ENABLED": "false",  # read here (settings.USE_SSL): not listed
        "PORTUS_PUMA_HOST": "0.0.0.0:3000",  # read here (portusctl serve): not listed
    }
    left_out = load_config(environ=environ, default_path=config_dir / "config.yml").unsupported_original_settings
    assert {"PORTUS_PASSWORD", "PORTUS_INIT_COMMAND", "PORTUS_LDAP_GROUP_SYNC_ENABLED"} <= set(left_out)
    assert "PORTUS_CHECK_SSL_USAGE_ENABLED" not in left_out and "PORTUS_PUMA_HOST" not in left_out


def test_a_key_the_original_never_had_is_still_refused(config_dir: Path) -> None:
    (config_dir / "config-local.yml").write_text(yaml.safe_dump({"delete": {"enabeld": True}}))
    with pytest.raises(ConfigError, match="unknown setting 'delete.enabeld'"):
        load_config(environ={}, default_path=config_dir / "config.yml")


def test_unsupported_original_settings_are_named_by_a_system_check(settings: object, config_dir: Path) -> None:
    (config_dir / "config-local.yml").write_text(yaml.safe_dump({"check_ssl_usage": {"enabled": True}}))
    settings.PORTUS = load_config(environ={}, default_path=config_dir / "config.yml")  # type: ignore[attr-defined]
    warnings = [m for m in run_checks() if m.id == "portus.W010"]
    assert len(warnings) == 1 and "check_ssl_usage" in warnings[0].msg


# -- Devise's password hashes ------------------------------------------------------------------------


def test_a_devise_hash_is_checked_as_it_is_and_other_text_is_not_taken_for_one() -> None:
    devise = bcrypt.hashpw(b"s3cret-password", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    wrapped = wrap_devise_hash(devise)
    assert isinstance(identify_hasher(wrapped), DeviseBcryptHasher)
    assert check_password("s3cret-password", wrapped)
    assert not check_password("s3cret-passwore", wrapped)
    assert wrap_devise_hash("") == "" and wrap_devise_hash("plain-text") == ""


def test_a_password_longer_than_72_bytes_is_checked_as_ruby_did() -> None:
    long = "x" * 80
    devise = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    assert check_password(long, wrap_devise_hash(devise))


def test_the_devise_pepper_is_appended_when_set(portus_config: object) -> None:
    devise = bcrypt.hashpw(b"passwordPEPPER", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    assert not check_password("password", wrap_devise_hash(devise))
    portus_config("legacy.devise_pepper", "PEPPER")  # type: ignore[operator]
    assert check_password("password", wrap_devise_hash(devise))


# -- notifications without a secret during the grace period ---------------------------------------------


def post_unsigned(client: Client, events: list[dict], **headers: str) -> int:
    return client.post(URL, data=json.dumps({"events": events}), content_type=ENVELOPE_TYPE, **headers).status_code


def test_unsigned_notifications_are_refused_unless_a_registry_is_in_its_grace_period(world: World) -> None:
    client = Client()
    assert post_unsigned(client, [event(repository="acme/app")]) == 401
    Registry.objects.filter(pk=world.registry.pk).update(legacy_unsigned_notifications=True)
    assert post_unsigned(client, [event(repository="acme/app")]) == 200
    assert RegistryEvent.objects.get().registry == world.registry
    # A wrong secret is never taken for the original's missing one.
    assert post_unsigned(client, [event(repository="acme/app")], HTTP_AUTHORIZATION="Bearer wrong") == 401


def test_with_several_registries_in_the_grace_period_the_events_request_host_decides(world: World) -> None:
    other = create_registry(name="other", hostname="other.test:5000")
    Registry.objects.update(legacy_unsigned_notifications=True)
    hosted = event(repository="acme/app")
    hosted["request"] = {"host": "other.test:5000"}
    client = Client()
    assert post_unsigned(client, [hosted]) == 200
    assert RegistryEvent.objects.get().registry == other
    nowhere = event(repository="acme/app")
    nowhere["request"] = {"host": "nowhere.test"}
    assert post_unsigned(client, [nowhere]) == 401  # names no registry in its grace period


def test_every_admin_page_warns_while_a_registry_is_in_its_grace_period(world: World) -> None:
    Registry.objects.filter(pk=world.registry.pk).update(legacy_unsigned_notifications=True)
    client = Client()
    client.force_login(world.admin)
    for page in ("/admin/users/", "/admin/tasks/", "/admin/activity/"):  # "Admin" opens the first
        html = client.get(page).content.decode()
        assert f"{world.registry.name} accepts notifications without a secret" in html, page
        assert 'href="/admin/registries/"' in html


def test_an_admin_ends_the_grace_period_from_the_registries_page(world: World) -> None:
    Registry.objects.filter(pk=world.registry.pk).update(legacy_unsigned_notifications=True)
    client = Client()
    client.force_login(world.admin)
    page = client.get("/admin/registries/").content.decode()
    assert "accepts notifications without a secret" in page
    answer = client.post("/admin/registries/", {"require_secret": world.registry.pk})
    assert answer.status_code == 302
    assert not Registry.objects.get(pk=world.registry.pk).legacy_unsigned_notifications
    assert Activity.objects.filter(action="registry.require_secret").exists()
    assert "accepts notifications without a secret" not in client.get("/admin/registries/").content.decode()
    assert "without a secret" not in client.get("/admin/users/").content.decode()
    assert post_unsigned(Client(), [event(repository="acme/app")]) == 401
    end_unsigned_notifications(registry=world.registry, actor=world.admin)  # twice: nothing more happens
    assert Activity.objects.filter(action="registry.require_secret").count() == 1
