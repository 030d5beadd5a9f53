"""Django settings, built from portus.config (config.yml, config-local.yml, PORTUS_* variables)."""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import NoReturn

from portus.accounts.providers import social_providers
from portus.config import SECRET_FILE_NAME, ConfigError, data_dir, env_value, load_config, parse_bool, parse_int

BASE_DIR = Path(__file__).resolve().parent.parent


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"portus: configuration error: {message}\n")
    raise SystemExit(2)


try:
    PORTUS = load_config()
except ConfigError as exc:
    _fail(str(exc))

PORTUS_ENV = os.environ.get("PORTUS_ENV", "development")
if PORTUS_ENV not in ("development", "production", "test"):
    _fail(f"PORTUS_ENV={PORTUS_ENV!r} is not allowed: use development, production or test.")
PRODUCTION = PORTUS_ENV == "production"
# Only read here: portusctl and the tests' settings create it first (portus.config.prepare_data_dir).
DATA_DIR = data_dir()


def _env(name: str) -> str | None:
    try:
        return env_value(name)
    except ConfigError as exc:
        _fail(str(exc))


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    try:
        return default if raw is None else parse_bool(name, raw)
    except ConfigError as exc:
        _fail(str(exc))


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    try:
        return default if raw is None else parse_int(name, raw)
    except ConfigError as exc:
        _fail(str(exc))


def _development_secret() -> str:
    """The secret portusctl keeps in the data directory, so sessions survive restarts in development.

    A process that did not go through portusctl (a bare ``django.setup()``, gunicorn started by hand) may find
    none: it then uses a random secret of its own rather than a fixed, published one, and system check
    portus.W002 says that its sessions and the registry's notification secret will not match other processes'.
    """
    try:
        return (DATA_DIR / SECRET_FILE_NAME).read_text().strip()
    except FileNotFoundError:
        return ""


# A secret anyone could guess signs sessions anyone could forge: production needs a long random one.
SECRET_MIN_LENGTH = 50
SECRET_MIN_DISTINCT = 10
_secret = _env("PORTUS_SECRET_KEY_BASE")
_key_path = _env("PORTUS_KEY_PATH")
if PRODUCTION:
    missing = [
        name
        for name, present in (
            ("PORTUS_SECRET_KEY_BASE (a long random secret)", _secret),
            ("PORTUS_KEY_PATH (the PEM private key that signs registry tokens)", _key_path),
            (
                "PORTUS_MACHINE_FQDN_VALUE or machine_fqdn in config-local.yml (the host name people reach Portus at)",
                # config.yml's value is a placeholder; it must come from the local file or the environment.
                PORTUS.set_explicitly("machine_fqdn"),
            ),
        )
        if not present
    ]
    if missing:
        _fail("production mode needs " + "; ".join(missing) + ".")
    if not Path(str(_key_path)).is_file():
        _fail(f"PORTUS_KEY_PATH={_key_path!r}: no such file; point it at the PEM key that signs registry tokens.")
    if Path(str(_key_path)).stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        _fail(
            f"PORTUS_KEY_PATH={_key_path!r} is readable by other users; whoever reads it can sign registry tokens. "
            f"Run `chmod 600 {_key_path}` (owned by the user Portus runs as)."
        )
    if len(str(_secret)) < SECRET_MIN_LENGTH or len(set(str(_secret))) < SECRET_MIN_DISTINCT:
        _fail(
            f"PORTUS_SECRET_KEY_BASE is too weak: use at least {SECRET_MIN_LENGTH} random characters "
            f"(at least {SECRET_MIN_DISTINCT} different ones). Make one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(64))'`."
        )
SECRET_KEY = _secret or _development_secret()
SECRET_KEY_EPHEMERAL = not SECRET_KEY
if SECRET_KEY_EPHEMERAL:
    SECRET_KEY = secrets.token_urlsafe(50)
TOKEN_KEY_PATH = Path(_key_path) if _key_path else DATA_DIR / "portus.key"
TOKEN_CERT_PATH = Path(_env("PORTUS_CERT_PATH") or TOKEN_KEY_PATH.with_suffix(".crt"))
# The generated key only exists where nobody configured one (development, tests).
TOKEN_KEY_GENERATE = not _key_path

# Debug pages show settings and tracebacks to whoever asks: only when asked for, never in production's
# defaults; portusctl refuses it on an address beyond loopback.
DEBUG = _env_bool("PORTUS_DEBUG", False)
MACHINE_FQDN = PORTUS.machine_fqdn
# check_ssl_usage: people reach Portus over HTTPS (secure cookies, HSTS, https links).
USE_SSL = _env_bool("PORTUS_CHECK_SSL_USAGE_ENABLED", PRODUCTION)
# Every absolute link (password-reset mail, the registry's token realm) is built from this, never from
# the request's Host header, which the sender of the request chooses.
PORTUS_URL = (_env("PORTUS_URL") or f"{'https' if USE_SSL else 'http'}://{MACHINE_FQDN}").rstrip("/")
ALLOWED_HOSTS = [h for h in (_env("PORTUS_ALLOWED_HOSTS") or "").split(",") if h] or (
    [MACHINE_FQDN, "localhost", "127.0.0.1", "[::1]"] if PRODUCTION else ["*"]
)
CSRF_TRUSTED_ORIGINS = [o for o in (_env("PORTUS_CSRF_TRUSTED_ORIGINS") or "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # serves the API docs page's Swagger UI from our own static files, not a CDN
    "portus.accounts",
    "portus.registry",
    "portus.security",
    "portus.webhooks",
    "portus.background",
    "portus.importer",
    "portus.web",
    "portus.api",
    # Sign-in through OAuth providers and OpenID Connect (oauth.*; see the section below).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.gitlab",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.bitbucket_oauth2",
    "allauth.socialaccount.providers.openid_connect",
]

# The app serves its own static files (whitenoise) unless a proxy in front does; RAILS_SERVE_STATIC_FILES is
# the original Portus's name for the same switch.
SERVE_STATIC_FILES = _env_bool(
    "PORTUS_SERVE_STATIC_FILES" if _env("PORTUS_SERVE_STATIC_FILES") is not None else "RAILS_SERVE_STATIC_FILES", True
)

MIDDLEWARE = [
    # One log line and the request metrics for every answer, also the ones given by the middleware below.
    "portus.server.request_log.log_requests",
    # Probes and /metrics, before the host check: a kubelet or Prometheus asks by the pod's address.
    "portus.server.endpoints.server_endpoints_first",
    # Also answers what the middleware below refuses (a bad Host, CSRF) in JSON under /api/ and /v2/.
    "portus.web.security_headers.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Answers the registry's token requests and notifications itself: everything below serves pages and sessions.
    "portus.registry_endpoints.middleware.registry_endpoints_first",
    *(["whitenoise.middleware.WhiteNoiseMiddleware"] if SERVE_STATIC_FILES else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "portus.urls"
WSGI_APPLICATION = "portus.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portus.web.context_processors.portus_settings",
            ],
        },
    },
]


def _database() -> dict[str, object]:
    adapter = _env("PORTUS_DB_ADAPTER") or "sqlite3"
    engines = {
        "sqlite3": "django.db.backends.sqlite3",
        "postgresql": "django.db.backends.postgresql",
        "mysql": "django.db.backends.mysql",
        "mysql2": "django.db.backends.mysql",  # the original Portus's name for it
    }
    if adapter not in engines:
        _fail(f"PORTUS_DB_ADAPTER={adapter!r} is not supported: use sqlite3, postgresql or mysql.")
    timeout = _env_int("PORTUS_DB_TIMEOUT", 5)
    if adapter == "sqlite3":
        return {
            "ENGINE": engines[adapter],
            "NAME": _env("PORTUS_DB_DATABASE") or str(DATA_DIR / "portus.sqlite3"),
            "OPTIONS": {
                "timeout": timeout,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # Opening a connection (Django registers its SQL functions each time) costs more than a
            # whole token request, so each worker keeps its own.
            "CONN_MAX_AGE": 600,
            # A file, not memory, so that servers and workers started by the tests share it.
            "TEST": {"NAME": _env("PORTUS_DB_TEST_DATABASE") or str(DATA_DIR / "test.sqlite3")},
        }
    default_port = {"postgresql": 5432}.get(adapter, 3306)
    config: dict[str, object] = {
        "ENGINE": engines[adapter],
        "NAME": _env("PORTUS_DB_DATABASE") or "portus",
        "USER": _env("PORTUS_DB_USERNAME") or ("postgres" if adapter == "postgresql" else "root"),
        "PASSWORD": _env("PORTUS_DB_PASSWORD") or "",
        "HOST": _env("PORTUS_DB_HOST") or "127.0.0.1",
        "PORT": _env_int("PORTUS_DB_PORT", default_port),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
    if adapter == "postgresql":
        pool = _env_int("PORTUS_DB_POOL", 0)
        options: dict[str, object] = {"connect_timeout": timeout}
        if pool:
            options["pool"] = {"min_size": 1, "max_size": pool, "timeout": timeout}
            config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = options
    else:
        config["OPTIONS"] = {
            "charset": "utf8mb4",
            "connect_timeout": timeout,
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
            "isolation_level": "read committed",
        }
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"}
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's cache: the credential memory, the throttle counters, registry health and manifest details.
# Per process by default; with PORTUS_REDIS_URL every process shares one Redis (sessions stay in the database).
_redis = _env("PORTUS_REDIS_URL")
if _redis and importlib.util.find_spec("redis") is None:
    _fail("PORTUS_REDIS_URL is set but the redis package is not installed: pip install 'portus[redis]'.")
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis,
            # Several deployments may share one Redis database: each keeps to its own keys.
            "KEY_PREFIX": _env("PORTUS_REDIS_KEY_PREFIX") or "portus",
        }
        if _redis
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "portus"}
    )
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["portus.accounts.backends.PortusBackend"]
# LDAP (portus/accounts/ldap.py) is checked by PortusBackend and the token service through
# portus.accounts.credentials, so it needs no backend of its own here; only its library.
if PORTUS.ldap.enabled and importlib.util.find_spec("django_auth_ldap") is None:
    _fail("ldap.enabled is true but django-auth-ldap is not installed: pip install 'portus[ldap]'.")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    # Passwords imported from the original Portus; re-hashed with the first one at the next sign-in.
    "portus.accounts.hashers.DeviseBcryptHasher",
]
if PORTUS_ENV == "test":
    # Tests create many users; the production hasher's cost would dominate the suite.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "portus.accounts.hashers.DeviseBcryptHasher"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# -- sign-in through OAuth providers and OpenID Connect: django-allauth, configured from oauth.* alone ---------------
# Only its provider flows are served (portus/web/provider_urls.py); the sign-in, sign-up and password pages stay
# Portus's own. portus.accounts.social holds the Portus rules (restrictions, sign-up, user names).
SOCIALACCOUNT_PROVIDERS = social_providers(PORTUS.oauth)
ACCOUNT_ADAPTER = "portus.accounts.social.PortusAccountAdapter"
SOCIALACCOUNT_ADAPTER = "portus.accounts.social.PortusSocialAccountAdapter"
ACCOUNT_SIGNUP_FIELDS = ["username*", "email"]
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_USERNAME_MIN_LENGTH = 1
# The first sign-in always asks for a user name (prefilled from the provider): it is also a namespace.
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
# An existing account is found by an address the provider says is verified, never by another one.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_QUERY_EMAIL = True  # GitHub and Bitbucket: read the addresses (and their verified flags)
SOCIALACCOUNT_LOGIN_ON_GET = False  # the buttons POST: a link elsewhere cannot start a sign-in
# The callback URL sent to providers: https behind a TLS proxy too (the host is one ALLOWED_HOSTS accepts).
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if USE_SSL else "http"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = USE_SSL
CSRF_COOKIE_SECURE = USE_SSL
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HSTS only where people reach Portus over HTTPS; a year, as browsers' preload lists expect.
SECURE_HSTS_SECONDS = 31536000 if USE_SSL and PRODUCTION else 0
# Should SECURE_SSL_REDIRECT ever be switched on: probes and scrapers speak plain HTTP to the pod.
SECURE_REDIRECT_EXEMPT = [r"^health/(live|ready)$", r"^metrics$"]
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

_smtp = PORTUS.email.smtp
if _smtp.enabled:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
elif PRODUCTION:
    # A mail written to the console would put a valid password-reset link in the server's log.
    EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_HOST = _smtp.address
EMAIL_PORT = _smtp.port
EMAIL_HOST_USER = _smtp.user_name
EMAIL_HOST_PASSWORD = _smtp.password
EMAIL_USE_SSL = _smtp.ssl_tls != ""  # "ssl" and "tls" both mean SMTP over TLS, as in the original Portus
EMAIL_USE_TLS = _smtp.enable_starttls_auto and not EMAIL_USE_SSL  # Django refuses both at once
DEFAULT_FROM_EMAIL = f"{PORTUS.email.name} <{PORTUS.email.from_}>"


def _client_errors_in_one_line(record: logging.LogRecord) -> bool:
    """A 4xx is the client's doing (a page it may not see, a missing object): Django logs the exception
    that made it with its traceback; the line with the status and path says all there is."""
    if getattr(record, "status_code", 500) < 500:
        record.exc_info = None
        record.exc_text = None
    return True


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "secrets": {"()": "portus.server.logs.HideSecrets"},
        "one_line_4xx": {"()": "django.utils.log.CallbackFilter", "callback": _client_errors_in_one_line},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "portus.server.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": PORTUS.log.format,
            "filters": ["secrets", "one_line_4xx"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("PORTUS_LOG_LEVEL", "INFO")},
    # The request log (portus.request) has one line for every answer; Django's own adds one more for each
    # 4xx, and its console handler (with PORTUS_DEBUG) would print each line a second time through the root's.
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.request": {"level": "ERROR"},
        "django": {"handlers": [], "propagate": True},
    },
}
