"""Loads Portus settings: config.yml defaults, a local override file, PORTUS_* variables."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = PACKAGE_ROOT.parent / "config" / "config.yml"
if not DEFAULT_CONFIG.exists():  # installed as a wheel: the copy shipped in the package
    DEFAULT_CONFIG = PACKAGE_ROOT / "config.yml"

TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}


class ConfigError(Exception):
    """A setting that Portus cannot start with; the message names it and says what to do."""


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of NAME, or of the file named by NAME_FILE, or None when neither is set."""
    environ = os.environ if environ is None else environ
    if name in environ:
        return environ[name]
    file_name = environ.get(f"{name}_FILE")
    if file_name is None:
        return None
    try:
        return Path(file_name).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read {file_name!r} ({exc.strerror}).") from exc


def parse_bool(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use true or false.")


def parse_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None


def parse_like(name: str, raw: str, default: Any) -> Any:
    """Parse RAW with the type of DEFAULT (bool, int, float or str)."""
    if isinstance(default, bool):
        return parse_bool(name, raw)
    if isinstance(default, int):
        return parse_int(name, raw)
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number.") from None
    return raw


def env_name(path: tuple[str, ...]) -> str:
    return "PORTUS_" + "_".join(part.upper() for part in path)


def _merge(
    base: dict[str, Any], override: Mapping[str, Any], source: str, trail: tuple[str, ...] = ()
) -> None:
    for key, value in override.items():
        path = (*trail, str(key))
        if key not in base:
            raise ConfigError(
                f"{source}: unknown setting {'.'.join(path)!r}; see config/config.yml."
            )
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: {'.'.join(path)} must be a mapping.")
            _merge(base[key], value, source, path)
            continue
        default = base[key]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{source}: {'.'.join(path)} must be true or false, not {value!r}.")
        if isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(
                    f"{source}: {'.'.join(path)} must be a whole number, not {value!r}."
                )
        if isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{source}: {'.'.join(path)} must be a string, not {value!r}.")
        base[key] = value


def _apply_environment(
    tree: dict[str, Any], environ: Mapping[str, str], trail: tuple[str, ...] = ()
) -> None:
    for key, value in tree.items():
        path = (*trail, key)
        if isinstance(value, dict):
            _apply_environment(value, environ, path)
            continue
        name = env_name(path)
        raw = env_value(name, environ)
        if raw is not None:
            tree[key] = parse_like(name, raw, value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings.")
    return data


class Config:
    """The merged settings tree, read with dotted paths: ``config.get("delete.enabled")``."""

    def __init__(self, tree: dict[str, Any], defaults: dict[str, Any] | None = None):
        self.tree = tree
        # config.yml alone, so start-up checks can tell a configured value from a placeholder.
        self.defaults = copy.deepcopy(tree) if defaults is None else defaults

    def get(self, dotted: str) -> Any:
        node: Any = self.tree
        for part in dotted.split("."):
            node = node[part]
        return node

    def is_default(self, dotted: str) -> bool:
        """True when DOTTED still has config.yml's value (no local file or variable set it)."""
        node: Any = self.defaults
        for part in dotted.split("."):
            node = node[part]
        return bool(node == self.get(dotted))

    def enabled(self, dotted: str) -> bool:
        return bool(self.get(f"{dotted}.enabled"))


def load_config(
    environ: Mapping[str, str] | None = None, default_path: Path | None = None
) -> Config:
    environ = os.environ if environ is None else environ
    tree = _read_yaml(default_path or DEFAULT_CONFIG)
    defaults = copy.deepcopy(tree)
    local = environ.get("PORTUS_LOCAL_CONFIG")
    local_path = (
        Path(local) if local else (default_path or DEFAULT_CONFIG).parent / "config-local.yml"
    )
    if local and not local_path.exists():
        raise ConfigError(f"PORTUS_LOCAL_CONFIG={local!r}: no such file.")
    if local_path.exists():
        _merge(tree, _read_yaml(local_path), str(local_path))
    _apply_environment(tree, environ)
    _validate(tree)
    return Config(tree, defaults)


PUSH_POLICIES = ("allow-teams", "allow-personal", "admin-only")
SYNC_STRATEGIES = ("initial", "on-start", "update", "update-delete", "disabled")
JWT_ALGORITHMS = ("ES256", "RS256")


def _validate(tree: dict[str, Any]) -> None:
    def choice(path: str, allowed: tuple[str, ...]) -> None:
        node: Any = tree
        for part in path.split("."):
            node = node[part]
        if node not in allowed:
            raise ConfigError(
                f"{env_name(tuple(path.split('.')))}={node!r} is not allowed: "
                f"use one of {', '.join(allowed)}."
            )

    choice("user_permission.push_images.policy", PUSH_POLICIES)
    choice("background.sync.strategy", SYNC_STRATEGIES)
    choice("registry.jwt_algorithm.value", JWT_ALGORITHMS)
    minutes = tree["registry"]["jwt_expiration_time"]["value"]
    if minutes < 1:
        raise ConfigError(
            "PORTUS_REGISTRY_JWT_EXPIRATION_TIME_VALUE must be at least 1 minute: "
            "the registry needs a token to live 60 seconds."
        )
