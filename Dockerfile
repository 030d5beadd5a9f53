# syntax=docker/dockerfile:1
# Portus: one image, two roles.
#   web:    portusctl serve                       (the default command; gunicorn on 0.0.0.0:3000)
#   worker: PORTUS_BACKGROUND=true portusctl serve (or: portusctl background)
# Any other portusctl command runs the same way: `docker run IMAGE migrate`, `... registry config -o -`.
#
# Build:  docker build -t portus .        (podman build --format docker -t portus . works too)
# Behind a TLS-inspecting proxy, give the build its CA bundle:
#         docker build --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt -t portus .
# The base is Debian 12; BASE_IMAGE names another copy of it (a mirror, a locally built one).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# ---- build: compilers and headers live only here ---------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates python3 python3-venv python3-dev gcc pkg-config \
      libmariadb-dev libldap2-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The dependencies first, in a layer of their own that only a change of the pins rebuilds: an empty
# package stands in for Portus while pip resolves them. Only the runtime dependencies are installed, at the
# versions requirements.lock pins (it also pins the test tools, which a constraint does not install).
# The extras: PostgreSQL, MariaDB/MySQL, LDAP sign-in, Redis (PORTUS_REDIS_URL).
COPY requirements.lock pyproject.toml README.md ./
RUN --mount=type=secret,id=ca-bundle,required=false \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && mkdir portus && touch portus/__init__.py \
 && python3 -m venv /opt/portus \
 && /opt/portus/bin/pip install --constraint requirements.lock ".[postgresql,mysql,ldap,redis]" \
 && /opt/portus/bin/pip uninstall -y portus && rm -rf portus build
COPY portus ./portus
COPY config/config.yml ./portus/config.yml
RUN --mount=type=secret,id=ca-bundle,required=false \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && /opt/portus/bin/pip install --no-deps . \
 && /opt/portus/bin/pip uninstall -y pip \
 && /opt/portus/bin/python -m compileall -q -j 0 /opt/portus/lib
# Static files, collected once with production's hashed names. The settings only accept production with
# a secret, a key and a host name; these throw-away ones exist for this step alone.
RUN key=$(mktemp) && chmod 600 "$key" \
 && PORTUS_ENV=production PORTUS_DATA_DIR=/var/lib/portus PORTUS_KEY_PATH="$key" \
    PORTUS_SECRET_KEY_BASE="$(python3 -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    PORTUS_MACHINE_FQDN_VALUE=build.invalid \
    /opt/portus/bin/portusctl manage collectstatic --noinput -v 0 \
 && rm -f "$key"

# ---- runtime: Python, the client libraries, nothing that compiles -------------------------------------------------
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates python3 libmariadb3 libldap-2.5-0 libsasl2-2 tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 1000 portus \
 && useradd --system --uid 1000 --gid portus --home-dir /var/lib/portus --no-create-home \
      --shell /usr/sbin/nologin portus \
 && install -d -o portus -g portus -m 0700 /var/lib/portus /etc/portus
COPY --from=build /opt/portus /opt/portus
COPY --from=build --chown=portus:portus /var/lib/portus/static /var/lib/portus/static
# The bytecode was compiled in the build stage: a start does not compile Django from source, and the
# read-only code never needs writing.
ENV PATH=/opt/portus/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORTUS_ENV=production \
    PORTUS_DATA_DIR=/var/lib/portus \
    PORTUS_BIND=0.0.0.0:3000 \
    HOME=/var/lib/portus
USER 1000:1000
WORKDIR /var/lib/portus
EXPOSE 3000
# tini reaps gunicorn's children and passes SIGTERM on; portusctl execs the server or the worker.
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/portus/bin/portusctl"]
CMD ["serve"]
