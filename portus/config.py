"""Portus's own settings: config.yml defaults, a local file and PORTUS_* variables, validated once into typed,
frozen models; and the data directory those settings point at."""

from __future__ import annotations

import copy
import difflib
import ipaddress
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = PACKAGE_ROOT.parent / "config" / "config.yml"
if not DEFAULT_CONFIG.exists():  # installed as a wheel: the copy shipped in the package
    DEFAULT_CONFIG = PACKAGE_ROOT / "config.yml"
SECRET_FILE_NAME = "secret_key"

TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}

PushPolicy = Literal["allow-teams", "allow-personal", "admin-only"]
SyncStrategy = Literal["initial", "on-start", "update", "update-delete", "disabled"]
JwtAlgorithm = Literal["ES256", "RS256"]
# As in the original Portus (ActionMailer): "ssl" and "tls" both mean SMTP over TLS from the first byte.
SmtpTls = Literal["", "ssl", "tls"]
LogFormat = Literal["plain", "json"]

LdapEncryptionMethod = Literal["plain", "simple_tls", "start_tls"]
LdapGroupType = Literal["groupOfNames", "groupOfUniqueNames", "posixGroup"]

PUSH_POLICIES: tuple[str, ...] = get_args(PushPolicy)
SYNC_STRATEGIES: tuple[str, ...] = get_args(SyncStrategy)
JWT_ALGORITHMS: tuple[str, ...] = get_args(JwtAlgorithm)


class ConfigError(Exception):
    """A setting that Portus cannot start with; the message names it and says what to do."""


# -- the settings, as typed models ---------------------------------------------------------------------------------


class _ValueWrapper:
    """Marks a setting config.yml writes as ``key: {value: X}`` (the original Portus's format); readers get X."""


def _unwrap(raw: Any) -> Any:
    if not isinstance(raw, Mapping) or "value" not in raw:
        raise PydanticCustomError("value_wrapper", "must be a mapping with one key, value")
    for key in raw:
        if key != "value":
            raise PydanticCustomError("value_wrapper_extra", "unknown key {key}", {"key": str(key)})
    return raw["value"]


T = TypeVar("T")
Valued = Annotated[T, _ValueWrapper, BeforeValidator(_unwrap)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Toggle(Section):
    enabled: bool


class Smtp(Section):
    enabled: bool
    address: str
    port: int = Field(ge=1, le=65535)
    user_name: str
    password: str
    ssl_tls: SmtpTls
    enable_starttls_auto: bool


class Email(Section):
    from_: str = Field(alias="from")  # `from` is a Python keyword
    name: str
    reply_to: str
    smtp: Smtp


class Delete(Section):
    enabled: bool
    contributors: bool


class Registry(Section):
    # Off: /v2/token takes application tokens only (sign-in through a provider leaves no password to send).
    token_passwords: Toggle
    jwt_expiration_time: Valued[int] = Field(
        ge=1, description="the registry needs a token to live 60 seconds (minutes, not seconds)"
    )
    jwt_algorithm: Valued[JwtAlgorithm]
    catalog_page: Valued[int] = Field(ge=1)
    timeout: Valued[float] = Field(gt=0)
    read_timeout: Valued[float] = Field(gt=0)


class PushImages(Section):
    policy: PushPolicy


class UserPermission(Section):
    change_visibility: Toggle
    create_team: Toggle
    manage_team: Toggle
    create_namespace: Toggle
    manage_namespace: Toggle
    push_images: PushImages


class Lockout(Section):
    attempts: int = Field(ge=0, description="per account and client address; 0 turns it off")
    minutes: int = Field(ge=0)
    account_attempts: int = Field(ge=0, description="per account, all addresses together; 0 turns it off")


class RateLimit(Section):
    failures: int = Field(ge=0, description="per client address and window; 0 turns it off")
    seconds: int = Field(ge=1)


class Health(Section):
    cache_seconds: float = Field(ge=0, description="0: probe the registries on every request")


class CredentialCache(Section):
    seconds: int = Field(ge=0, description="0 turns the cache off")


class Sync(Section):
    enabled: bool
    strategy: SyncStrategy
    interval: int = Field(ge=1)
    max_deletions: int = Field(ge=0)
    concurrency: int = Field(ge=1)


class Background(Section):
    registry: Toggle
    poll_interval: Valued[float] = Field(gt=0)
    lease: Valued[int] = Field(ge=1)
    sync: Sync
    max_attempts: Valued[int] = Field(ge=1)
    security_scanning: Toggle


class Clair(Section):
    server: str = Field(description="Clair v4's address; empty: off")
    health_port: int = Field(ge=1, le=65535)
    timeout: int = Field(ge=1)
    psk: str = Field(description="Clair's auth.psk.key (base64); empty: no token")
    issuer: str = Field(min_length=1)


class Harbor(Section):
    server: str = Field(description="a Harbor scanner adapter's address; empty: off")
    registry_url: str
    authorization: str
    timeout: int = Field(ge=1)


class Dummy(Section):
    enabled: bool


class Builtin(Section):
    enabled: bool
    max_file_bytes: int = Field(ge=1024, description="largest package database read from a layer, in bytes")
    advisories: str = Field(description="OSV source for scheduled imports: a folder, a file, a .zip or an http(s) URL")
    import_interval: int = Field(ge=60, description="seconds between scheduled advisory imports")


class Security(Section):
    max_attempts: int = Field(ge=1)
    database_check_interval: int = Field(ge=1)
    claim_batch: int = Field(ge=1, le=1000)
    clair: Clair
    harbor: Harbor
    dummy: Dummy
    builtin: Builtin


class Pagination(Section):
    per_page: int = Field(ge=1)


class Webhooks(Section):
    max_body_bytes: int = Field(ge=1)


# -- LDAP ----------------------------------------------------------------------------------------------------------

# The team roles (portus.registry.models.Role), spelled here because the settings load before Django's apps.
TEAM_ROLES = ("owner", "contributor", "viewer")


def _needs(key: str, message: str) -> PydanticCustomError:
    """A setting missing or wrong because of another one; _describe names KEY and its variable."""
    return PydanticCustomError("portus_needs", "{message}", {"key": key, "message": message})


@dataclass(frozen=True)
class TeamRule:
    """One entry of ldap.team_sync: members of the LDAP group GROUP (its cn) are members of TEAM as ROLE."""

    group: str
    team: str
    role: str


def parse_team_sync(text: str) -> tuple[TeamRule, ...]:
    """The entries of ldap.team_sync ("group=team:role, ..."); ValueError names the first bad one."""
    rules = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        group, equals, rest = entry.partition("=")
        team, colon, role = rest.rpartition(":")
        if not equals or not colon or not group.strip() or not team.strip():
            raise ValueError(f"{entry!r} is not GROUP=TEAM:ROLE")
        if role.strip() not in TEAM_ROLES:
            raise ValueError(f"{entry!r}: the role must be one of {', '.join(TEAM_ROLES)}")
        rules.append(TeamRule(group.strip(), team.strip(), role.strip()))
    return tuple(rules)


class LdapEncryptionOptions(Section):
    ca_file: str


class LdapEncryption(Section):
    method: LdapEncryptionMethod
    options: LdapEncryptionOptions


class LdapAuthentication(Section):
    enabled: bool
    bind_dn: str
    password: str


class GuessEmail(Section):
    enabled: bool
    attr: str


class Ldap(Section):
    enabled: bool
    hostname: str
    port: int = Field(ge=1, le=65535)
    timeout: float = Field(gt=0)
    encryption: LdapEncryption
    base: str
    filter: str
    uid: str = Field(min_length=1)
    authentication: LdapAuthentication
    guess_email: GuessEmail
    group_base: str
    group_type: LdapGroupType
    group_filter: str
    admin_group: str
    team_sync: str

    @property
    def team_rules(self) -> tuple[TeamRule, ...]:
        return parse_team_sync(self.team_sync)

    @model_validator(mode="after")
    def _complete(self) -> Ldap:
        """Refuse at start what would only fail at the first sign-in."""
        try:
            parse_team_sync(self.team_sync)
        except ValueError as exc:
            raise _needs("ldap.team_sync", f"{exc}: write it like developers=devs:contributor") from None
        for key, value in (("ldap.filter", self.filter), ("ldap.group_filter", self.group_filter)):
            if value and not _balanced_filter(value):
                raise _needs(
                    key, f"{value!r} is not an LDAP filter: write it in parentheses, like (objectClass=person)"
                )
        if not self.enabled:
            return self
        if not self.hostname:
            raise _needs("ldap.hostname", "must be set when ldap.enabled is true: the directory's host name")
        if not self.base:
            raise _needs("ldap.base", "must be set when ldap.enabled is true, e.g. ou=people,dc=example,dc=org")
        if self.authentication.enabled and not self.authentication.bind_dn:
            raise _needs("ldap.authentication.bind_dn", "must be set when ldap.authentication.enabled is true")
        if self.authentication.enabled and not self.authentication.password:
            raise _needs("ldap.authentication.password", "must be set when ldap.authentication.enabled is true")
        ca_file = self.encryption.options.ca_file
        if ca_file and self.encryption.method == "plain":
            raise _needs("ldap.encryption.method", "must be simple_tls or start_tls when a CA file is given")
        if ca_file and not Path(ca_file).is_file():
            raise _needs("ldap.encryption.options.ca_file", f"{ca_file!r}: no such file")
        if (self.admin_group or self.team_sync) and not self.group_base:
            raise _needs("ldap.group_base", "must be set when ldap.admin_group or ldap.team_sync is")
        if self.guess_email.enabled and not self.guess_email.attr and "dc=" not in self.base.lower():
            raise _needs(
                "ldap.guess_email.attr", "must be set when ldap.base has no dc= parts to build the address from"
            )
        return self


def _balanced_filter(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0 and text.startswith("(") and text.endswith(")")


class Legacy(Section):
    devise_pepper: str = Field(description="Devise's pepper from the original Portus, if it set one")


class Metrics(Section):
    enabled: bool
    token: str = Field(description="bearer token a scraper must send; empty: none asked")
    worker_listen: str = Field(description="HOST:PORT of the worker's own /metrics; empty: none")


class Log(Section):
    format: LogFormat


# -- sign-in through OAuth providers and OpenID Connect (oauth.*) ------------------------------------------------


class ProviderSection(Section):
    """One sign-in provider; an enabled one needs its credentials, and its addresses must be http(s) URLs."""

    SECTION: ClassVar[str]
    CREDENTIALS: ClassVar[tuple[str, ...]]
    URLS: ClassVar[tuple[str, ...]] = ()

    enabled: bool
    trusted: bool = Field(description="people may create an account through it even when signup.enabled is false")
    domain: str = Field(description="only e-mail addresses (verified by the provider) in this domain; empty: any")

    def required(self) -> tuple[str, ...]:
        return self.CREDENTIALS

    @model_validator(mode="after")
    def _complete(self) -> ProviderSection:
        if not self.enabled:
            return self
        path = ("oauth", self.SECTION)
        for key in self.required():
            if not str(getattr(self, key)).strip():
                raise PydanticCustomError(
                    "provider_setting",
                    "{key} must be set when {section}.enabled is true (or set {variable})",
                    {"key": ".".join((*path, key)), "section": ".".join(path), "variable": env_name((*path, key))},
                )
        for key in self.URLS:
            value = getattr(self, key)
            if value and not value.startswith(("https://", "http://")):
                raise PydanticCustomError(
                    "provider_setting",
                    "{key} must be an http(s) URL such as https://host.example.com, not {value} (or set {variable})",
                    {
                        "key": ".".join((*path, key)),
                        "section": ".".join(path),
                        "value": repr(value),
                        "variable": env_name((*path, key)),
                    },
                )
        return self


class GoogleOptions(Section):
    hd: str = Field(description="the Google Workspace domain (the `hd` claim) people must belong to; empty: any")


class GoogleOAuth2(ProviderSection):
    SECTION = "google_oauth2"
    CREDENTIALS = ("id", "secret")

    id: str
    secret: str
    options: GoogleOptions


class GitHubOAuth(ProviderSection):
    SECTION = "github"
    CREDENTIALS = ("client_id", "client_secret")
    URLS = ("server",)

    client_id: str
    client_secret: str
    organization: str
    team: str
    server: str = Field(description="GitHub Enterprise Server's address; empty: github.com")

    def required(self) -> tuple[str, ...]:
        # A team is named within an organization.
        return (*self.CREDENTIALS, "organization") if self.team else self.CREDENTIALS


class GitLabOAuth(ProviderSection):
    SECTION = "gitlab"
    CREDENTIALS = ("application_id", "secret")
    URLS = ("server",)

    application_id: str
    secret: str
    group: str
    server: str = Field(description="a self-hosted GitLab's address; empty: gitlab.com")


class BitbucketOptions(Section):
    team: str = Field(description="the Bitbucket workspace people must belong to; empty: any")


class BitbucketOAuth(ProviderSection):
    SECTION = "bitbucket"
    CREDENTIALS = ("key", "secret")

    key: str
    secret: str
    options: BitbucketOptions


class OpenIDConnect(ProviderSection):
    SECTION = "openid_connect"
    CREDENTIALS = ("issuer", "client_id", "client_secret")
    URLS = ("issuer",)

    name: str = Field(min_length=1, description="the button's label")
    issuer: str = Field(description="the issuer URL; its /.well-known/openid-configuration is read")
    client_id: str
    client_secret: str
    pkce: bool
    username_claim: str = Field(min_length=1, description="the claim that proposes the user name")


class OAuth(Section):
    local_login: Toggle
    google_oauth2: GoogleOAuth2
    github: GitHubOAuth
    gitlab: GitLabOAuth
    bitbucket: BitbucketOAuth
    openid_connect: OpenIDConnect


def _networks(text: str) -> str:
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(f"{part!r} is not a network (write 10.1.0.0/16 or 192.168.5.7)") from None
    return text


class WebhooksOutgoing(Section):
    enabled: bool
    timeout: float = Field(gt=0, description="seconds to connect, and for each read of the answer")
    max_response_bytes: int = Field(ge=0, description="bytes of a receiver's answer read and kept")
    max_attempts: int = Field(ge=1)
    allow_private_addresses: bool
    allowed_networks: Annotated[str, AfterValidator(_networks)] = Field(
        description="comma-separated networks a webhook may reach although they are not public"
    )


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: a YAML file, or a variable (with the text it held)."""

    where: str
    raw: str | None = None  # a variable's text; None for a file
    default: bool = False  # config.yml itself

    @property
    def is_variable(self) -> bool:
        return self.raw is not None


class PortusConfig(Section):
    """Every config.yml setting, typed: ``settings.PORTUS.registry.timeout`` is a float.

    Attribute paths follow config.yml's keys, except that a ``{value: X}`` wrapper is collapsed to X
    (``registry.timeout.value`` is ``registry.timeout``) and ``email.from`` is ``email.from_``.
    """

    machine_fqdn: Valued[str] = Field(min_length=1)
    email: Email
    gravatar: Toggle
    delete: Delete
    first_user_admin: Toggle
    signup: Toggle
    display_name: Toggle
    registry: Registry
    user_permission: UserPermission
    anonymous_browsing: Toggle
    lockout: Lockout
    rate_limit: RateLimit
    credential_cache: CredentialCache
    health: Health
    background: Background
    security: Security
    pagination: Pagination
    webhooks: Webhooks
    ldap: Ldap
    legacy: Legacy
    metrics: Metrics
    log: Log
    oauth: OAuth
    webhooks_outgoing: WebhooksOutgoing

    # Django's settings proxy asks each value it returns for ``_mask_wrapped`` (LazyObject.__getattribute__);
    # a pydantic model answers a missing attribute with two raised AttributeErrors, on every read of
    # ``settings.PORTUS`` (several per token request). True is what Django assumes when it is missing.
    _mask_wrapped: ClassVar[bool] = True
    _origins: dict[tuple[str, ...], Origin] = PrivateAttr(default_factory=dict)
    # Settings of the original Portus that a file or variable set and that this Portus does not
    # support: read and left out, and named in a warning at start (see ORIGINAL_ONLY_SETTINGS).
    _unsupported_original: tuple[str, ...] = PrivateAttr(default=())

    @property
    def unsupported_original_settings(self) -> tuple[str, ...]:
        return self._unsupported_original

    def set_explicitly(self, dotted: str) -> bool:
        """True when a local file or a variable set DOTTED (config.yml's placeholder does not count)."""
        path = yaml_path(dotted)
        origin = _origin_of(self._origins, path)
        return origin is not None and not origin.default

    def replaced(self, dotted: str, value: Any) -> PortusConfig:
        """A copy with DOTTED set to VALUE, validated like the rest (for tests that change a setting)."""
        tree = _yaml_form(self)
        path = yaml_path(dotted)
        node = tree
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        origins = {**self._origins, path: Origin("a test")}
        return _validated(tree, origins, "a test")


# -- the shape of the settings: each leaf's key in config.yml, attribute and variable ------------------------------


@dataclass(frozen=True)
class Leaf:
    yaml_path: tuple[str, ...]  # as written in config.yml, with a wrapper's "value"
    attributes: tuple[str, ...]  # as read in Python
    kind: type
    choices: tuple[str, ...]
    wrapped: bool

    @property
    def dotted(self) -> str:
        return ".".join(self.yaml_path)

    @property
    def variable(self) -> str:
        return env_name(self.yaml_path)

    @property
    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) if not c else c for c in self.choices)
        return {bool: "true or false", int: "a whole number", float: "a number"}.get(self.kind, "a string")


def _walk(model: type[BaseModel], yaml_trail: tuple[str, ...] = (), attr_trail: tuple[str, ...] = ()) -> Iterator[Leaf]:
    for name, field in model.model_fields.items():
        key = field.alias or name
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _walk(annotation, (*yaml_trail, key), (*attr_trail, name))
            continue
        wrapped = _ValueWrapper in field.metadata
        choices: tuple[str, ...] = get_args(annotation) if get_origin(annotation) is Literal else ()
        yield Leaf(
            yaml_path=(*yaml_trail, key, "value") if wrapped else (*yaml_trail, key),
            attributes=(*attr_trail, name),
            # pydantic types an annotation as a TypeForm or None; a leaf's is a plain type (str, int, bool...).
            kind=str if choices else annotation,  # type: ignore[arg-type]
            choices=choices,
            wrapped=wrapped,
        )


def _sections(model: type[BaseModel], trail: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], type[BaseModel]]]:
    yield trail, model
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _sections(field.annotation, (*trail, field.alias or name))


LEAVES: tuple[Leaf, ...] = tuple(_walk(PortusConfig))
_LEAF_BY_KEY = {leaf.yaml_path[:-1] if leaf.wrapped else leaf.yaml_path: leaf for leaf in LEAVES}
_SECTIONS = dict(_sections(PortusConfig))


def _keys(section: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in section.model_fields.items()]


def _resolve(dotted: str) -> tuple[Leaf | None, tuple[str, ...]]:
    """The leaf (None for a section) that an old dotted path or an attribute path names, and its YAML path."""
    parts = tuple("from" if part == "from_" else part for part in dotted.split("."))
    leaf = _LEAF_BY_KEY.get(parts[:-1] if parts[-1:] == ("value",) else parts)
    if leaf is not None and (leaf.wrapped or parts[-1] != "value"):
        return leaf, leaf.yaml_path
    if parts in _SECTIONS:
        return None, parts
    raise KeyError(dotted)


def yaml_path(dotted: str) -> tuple[str, ...]:
    return _resolve(dotted)[1]


def attribute_path(dotted: str) -> tuple[str, ...]:
    """The attributes to read for an old dotted path: a trailing wrapper ``.value`` dropped, ``from`` as ``from_``."""
    leaf, path = _resolve(dotted)
    if leaf is not None:
        return leaf.attributes
    node: type[BaseModel] = PortusConfig
    names: list[str] = []
    for key in path:
        name = next(n for n, f in node.model_fields.items() if (f.alias or n) == key)
        names.append(name)
        # Only the last key may name a leaf, so every annotation read here is a section's model class.
        node = node.model_fields[name].annotation  # type: ignore[assignment]
    return tuple(names)


def _yaml_form(model: BaseModel) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            value = _yaml_form(value)
        elif _ValueWrapper in field.metadata:
            value = {"value": value}
        tree[field.alias or name] = value
    return tree


# -- reading the sources -------------------------------------------------------------------------------------------


def env_name(path: tuple[str, ...]) -> str:
    return "PORTUS_" + "_".join(part.upper() for part in path)


def _env_lookup(name: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(how to name it in a message, the value) of NAME or of the file NAME_FILE names; None when neither is set."""
    if name in environ:
        return name, environ[name]
    file_name = environ.get(f"{name}_FILE")
    if file_name is None:
        return None
    try:
        return f"{name}_FILE ({file_name})", Path(file_name).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read {file_name!r} ({exc.strerror}).") from exc


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of NAME, or of the file named by NAME_FILE, or None when neither is set."""
    found = _env_lookup(name, os.environ if environ is None else environ)
    return None if found is None else found[1]


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


def _parse_variable(leaf: Leaf, label: str, raw: str) -> Any:
    word = raw.strip()
    try:
        if leaf.kind is bool:
            if word.lower() in TRUE_WORDS | FALSE_WORDS:
                return word.lower() in TRUE_WORDS
            raise ValueError
        if leaf.kind is int:
            return int(word, 10)
        if leaf.kind is float:
            return float(word)
    except ValueError:
        raise ConfigError(f"{label}={raw!r}: {leaf.dotted} must be {leaf.expected}.") from None
    return raw


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings.")
    return data


def _merge(
    base: dict[str, Any],
    override: Mapping[Any, Any],
    origin: Origin,
    origins: dict[tuple[str, ...], Origin],
    trail: tuple[str, ...] = (),
) -> None:
    for raw_key, value in override.items():
        key = str(raw_key)
        path = (*trail, key)
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, origins, path)
        else:
            base[key] = copy.deepcopy(value)
            origins[path] = origin


def _apply_environment(
    tree: dict[str, Any], environ: Mapping[str, str], origins: dict[tuple[str, ...], Origin]
) -> None:
    for leaf in LEAVES:
        found = _env_lookup(leaf.variable, environ)
        if found is None:
            continue
        label, raw = found
        node = tree
        for part in leaf.yaml_path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # the file's mistake; validation names it
                break
        else:
            node[leaf.yaml_path[-1]] = _parse_variable(leaf, label, raw)
            origins[leaf.yaml_path] = Origin(label, raw)


def load_config(environ: Mapping[str, str] | None = None, default_path: Path | None = None) -> PortusConfig:
    """Read config.yml, the local file and the variables; refuse with ConfigError at the first thing wrong."""
    environ = os.environ if environ is None else environ
    default_path = default_path or DEFAULT_CONFIG
    tree: dict[str, Any] = {}
    origins: dict[tuple[str, ...], Origin] = {}
    _merge(tree, _read_yaml(default_path), Origin(str(default_path), default=True), origins)
    local = environ.get("PORTUS_LOCAL_CONFIG")
    local_path = Path(local) if local else default_path.parent / "config-local.yml"
    if local and not local_path.exists():
        raise ConfigError(f"PORTUS_LOCAL_CONFIG={local!r}: no such file.")
    if local_path.exists():
        _merge(tree, _read_yaml(local_path), Origin(str(local_path)), origins)
    _as_the_original_read_it(tree, environ, origins)
    _apply_environment(tree, environ, origins)
    return _validated(tree, origins, str(default_path), environ)


# The original's names for settings this Portus has under another name: (the original's path, ours).
ORIGINAL_NAMES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("oauth", "openid_connect", "identifier"), ("oauth", "openid_connect", "client_id")),
    (("oauth", "openid_connect", "secret"), ("oauth", "openid_connect", "client_secret")),
)
# The original's LDAP encryption methods this Portus names otherwise (lib/portus/ldap: empty meant none).
ORIGINAL_LDAP_METHODS = {"": "plain", "starttls": "start_tls"}


def _set_here(origins: Mapping[tuple[str, ...], Origin], path: tuple[str, ...]) -> bool:
    origin = origins.get(path)
    return origin is not None and not origin.default


def _as_the_original_read_it(
    tree: dict[str, Any], environ: Mapping[str, str], origins: dict[tuple[str, ...], Origin]
) -> None:
    """Values the original's own config.yml (2.3 to 2.5) holds, which many a config-local.yml copied,
    read as the original read them instead of refused: its `port: 587,`, its empty LDAP encryption
    method, 2.3's `ldap.method` and 2.5's OpenID Connect `identifier` and `secret`."""
    smtp = tree.get("email", {}).get("smtp") if isinstance(tree.get("email"), dict) else None
    if isinstance(smtp, dict) and isinstance(smtp.get("port"), str) and re.fullmatch(r"\d+,", smtp["port"]):
        smtp["port"] = int(smtp["port"][:-1])  # YAML read the shipped `port: 587,` as the text "587,"
    ldap = tree.get("ldap")
    if isinstance(ldap, dict) and isinstance(ldap.get("encryption"), dict):
        encryption, legacy = ldap["encryption"], ldap.pop("method", None)
        method = ("ldap", "encryption", "method")
        if legacy is not None and not _set_here(origins, method):  # 2.3: encryption.method, else ldap.method
            encryption["method"], origins[method] = legacy, origins.get(("ldap", "method"), Origin("ldap.method"))
        if _set_here(origins, method) and (given := encryption.get("method")) in (None, *ORIGINAL_LDAP_METHODS):
            encryption["method"] = ORIGINAL_LDAP_METHODS[given or ""]  # any other value is checked as it is
    for theirs, ours in ORIGINAL_NAMES:
        node: Any = tree
        for part in theirs[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        value, variable = node.pop(theirs[-1], None), env_name(theirs)
        if variable in environ:
            value, origins[theirs] = environ[variable], Origin(variable, environ[variable])
        if value not in (None, "") and not _set_here(origins, ours):
            node[ours[-1]], origins[ours] = value, origins[theirs]


# Settings the original Portus (2.3 to 2.5) had and this one does not (or not there). Its config.yml,
# config-local.yml and PORTUS_* variables are read as they are: a setting under one of these that this
# Portus does not know is left out and named in a warning at start (check portus.W010), not refused
# and not silently dropped. Anything else unknown is still refused.
ORIGINAL_ONLY_SETTINGS: tuple[str, ...] = (
    "email.smtp.domain",
    "email.smtp.openssl_verify_mode",
    "email.smtp.ca_path",
    "email.smtp.ca_file",
    "email.smtp.authentication",
    "delete.garbage_collector",
    "oauth.open_id",
    "ldap.encryption.options.ssl_version",
    "check_ssl_usage",
    "user_permission.create_webhook",
    "user_permission.manage_webhook",
    "security.dummy.server",
    "security.zypper",
    "background.registry",
    "pagination.limit",
    "pagination.before_after",
    "ldap.admin_base",
    "ldap.group_sync",
)


def _original_only(path: tuple[str, ...]) -> bool:
    dotted = ".".join(path)
    return any(dotted == known or dotted.startswith(known + ".") for known in ORIGINAL_ONLY_SETTINGS)


def _without(tree: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = tree
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


# The original's variables outside its config.yml that this Portus does not read (its puma, init and
# health scripts, the internal user's password: this Portus's internal account has none).
ORIGINAL_ONLY_VARIABLES: tuple[str, ...] = (
    "PORTUS_PASSWORD",
    "PORTUS_PASSWORD_FILE",
    "PORTUS_INIT_COMMAND",
    "PORTUS_INIT_REGISTRY_NAME",
    "PORTUS_INIT_REGISTRY_HOSTNAME",
    "PORTUS_INIT_REGISTRY_USE_SSL",
    "PORTUS_HEALTH_QUIET",
    "PORTUS_FORCE_DIGEST_UPDATE",
    "PORTUS_PUMA_DAEMONIZE",
    "PORTUS_PUMA_USE_UNIX_SOCKET",
    "PORTUS_USE_SSL",
)
# Variables of the original's settings that this Portus reads outside config.py (portus/settings.py).
READ_BY_SETTINGS = frozenset({"PORTUS_CHECK_SSL_USAGE_ENABLED"})


def _original_variables(environ: Mapping[str, str]) -> list[str]:
    """PORTUS_* variables of the original's settings that this Portus does not read."""
    ours = {leaf.variable for leaf in LEAVES} | {leaf.variable + "_FILE" for leaf in LEAVES} | READ_BY_SETTINGS
    prefixes = tuple(env_name(tuple(known.split("."))) for known in ORIGINAL_ONLY_SETTINGS)
    starts = tuple(prefix + "_" for prefix in prefixes)
    return sorted(
        name
        for name in environ
        if name not in ours and (name in prefixes or name.startswith(starts) or name in ORIGINAL_ONLY_VARIABLES)
    )


def _validated(
    tree: dict[str, Any],
    origins: dict[tuple[str, ...], Origin],
    defaults: str,
    environ: Mapping[str, str] | None = None,
) -> PortusConfig:
    left_out: list[str] = []
    while True:
        try:
            config = PortusConfig.model_validate(tree)
        except ValidationError as exc:
            extra = [
                tuple(str(part) for part in error["loc"])
                for error in exc.errors()
                if error["type"] == "extra_forbidden" and _original_only(tuple(str(part) for part in error["loc"]))
            ]
            if not extra:
                raise ConfigError(" ".join(_describe(error, origins, defaults) for error in exc.errors())) from None
            for path in extra:
                _without(tree, path)
                left_out.append(".".join(path))
            continue
        break
    config._origins = origins
    config._unsupported_original = tuple(sorted(left_out) + _original_variables(environ or {}))
    return config


# -- messages ------------------------------------------------------------------------------------------------------


def _origin_of(origins: Mapping[tuple[str, ...], Origin], path: tuple[str, ...]) -> Origin | None:
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return origins[path[:end]]
    return None


def _describe(error: Any, origins: Mapping[tuple[str, ...], Origin], defaults: str) -> str:
    loc = tuple(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "value_wrapper_extra":
        loc = (*loc, error["ctx"]["key"])
        kind = "extra_forbidden"
    leaf = _LEAF_BY_KEY.get(loc)
    path = leaf.yaml_path if leaf is not None and kind != "value_wrapper" else loc
    dotted = ".".join(path)
    origin = _origin_of(origins, path) or Origin(defaults, default=True)
    where = origin.where

    if kind == "provider_setting":  # a provider's settings that only make sense together: name who turned it on
        enabled = _origin_of(origins, (*error["ctx"]["section"].split("."), "enabled"))
        source = enabled.where + (f"={enabled.raw!r}" if enabled.is_variable else "") if enabled else where
        return f"{source}: {error['msg']}."
    if kind == "extra_forbidden":
        siblings = _keys(_SECTIONS[loc[:-1]]) if loc[:-1] in _SECTIONS else ["value"]
        close = difflib.get_close_matches(loc[-1], siblings, n=1)
        hint = ""
        if close:
            meant = ".".join((*loc[:-1], close[0]))
            known = _LEAF_BY_KEY.get((*loc[:-1], close[0]))
            hint = f" (did you mean {meant!r}, {known.variable}?)" if known else f" (did you mean {meant!r}?)"
        return f"{where}: unknown setting {dotted!r}{hint}; see config/config.yml for the settings there are."
    if kind == "portus_needs":
        needed = _LEAF_BY_KEY[yaml_path(error["ctx"]["key"])]
        origin = _origin_of(origins, needed.yaml_path) or Origin(defaults, default=True)
        message = f"{needed.dotted} {error['ctx']['message']}"
        if origin.is_variable:
            return f"{origin.where}={origin.raw!r}: {message}."
        if origin.default:
            return f"{message} (set it in config-local.yml, or set {needed.variable})."
        return f"{origin.where}: {message} (fix it there, or set {needed.variable})."
    if kind == "missing":
        return f"{where}: {dotted} is missing; config.yml must define every setting."
    if kind == "model_type":
        keys = ", ".join(_keys(_SECTIONS[loc]))
        return f"{where}: {dotted} must be a mapping of its settings ({keys}), not {error['input']!r}."
    if leaf is None:  # pragma: no cover - every other error is about a leaf
        return f"{where}: {dotted}: {error['msg']}."
    if kind == "value_wrapper":
        return (
            f"{where}: {dotted} must be a mapping with one key, value (write {dotted}: {{value: ...}}, "
            f"or set {leaf.variable}), not {error['input']!r}."
        )
    ctx = error.get("ctx") or {}
    if "ge" in ctx:
        expected = f"at least {ctx['ge']:g}"
    elif "gt" in ctx:
        expected = f"more than {ctx['gt']:g}"
    elif "le" in ctx:
        expected = f"at most {ctx['le']:g}"
    elif kind == "string_too_short":
        expected = "set (not empty)"
    else:
        expected = leaf.expected
    description = _field_description(leaf)
    why = f": {description}" if description and ctx else ""
    if origin.is_variable:
        return f"{origin.where}={origin.raw!r}: {leaf.dotted} must be {expected}{why}."
    value = error["input"]
    return f"{where}: {leaf.dotted} must be {expected}, not {value!r}{why} (fix it there, or set {leaf.variable})."


def _field_description(leaf: Leaf) -> str | None:
    section = _SECTIONS[leaf.yaml_path[: -2 if leaf.wrapped else -1]]
    return section.model_fields[leaf.attributes[-1]].description


# -- the data directory --------------------------------------------------------------------------------------------


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("PORTUS_DATA_DIR") or PACKAGE_ROOT.parent / "data").resolve()


def prepare_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Create the data directory (0700), its static/ folder and, unless a secret is configured or this is
    production, the development secret key (0600). portusctl and the tests' settings call it before Django reads
    its settings, which only read what is there."""
    environ = os.environ if environ is None else environ
    directory = data_dir(environ)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # STATIC_ROOT: collectstatic fills it in production; WhiteNoise warns at start when it is absent.
    (directory / "static").mkdir(mode=0o700, exist_ok=True)
    configured = "PORTUS_SECRET_KEY_BASE" in environ or "PORTUS_SECRET_KEY_BASE_FILE" in environ
    if environ.get("PORTUS_ENV") != "production" and not configured:
        _write_secret(directory / SECRET_FILE_NAME)
    return directory


def _write_secret(path: Path) -> None:
    """Write a new random secret to PATH unless one is there; never a half-written file, even when racing."""
    if path.exists():
        return
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(50))
        os.link(draft, path)  # fails if another process published first: theirs is kept
    except FileExistsError:
        pass
    finally:
        draft.unlink(missing_ok=True)
