"""The one HTTP client Portus talks to a registry with: the API check, catalog, tag lists, manifests
and manifest deletion, with one timeout policy and one way of getting a token.

Portus signs its own tokens for these calls (``registry_token("portus", ...)``), so no password is
stored for the internal account; the registry verifies them against the same certificate it uses
for every other Portus token.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urljoin

import requests
import urllib3
from django.conf import settings

from portus.accounts.models import INTERNAL_ACCOUNT
from portus.registry.models import Registry
from portus.registry.signing import registry_token

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
MANIFEST_MEDIA_TYPES = (
    IMAGE_MANIFESTS | INDEXES | {DOCKER_SCHEMA1, "application/vnd.docker.distribution.manifest.v1+json"}
)
# Without the index types in Accept, the registry would answer a manifest list with one of its
# images (or a converted schema 1 manifest), and the digest would not be the one that was pushed.
# An image config is a few kilobytes (its history grows with the build steps); more is not a config.
CONFIG_LIMIT = 4 * 1024 * 1024
TOKENS_KEPT = 256  # registry tokens a client keeps, one per scope (repository and actions)
ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])


class RegistryError(Exception):
    """A call to the registry failed; the message says what failed and where.

    ``status`` is the registry's HTTP answer, or None when there was none."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class NotFound(RegistryError):
    """The registry answered 404: no such manifest, repository or tag (any more)."""


class RegistryUnavailable(RegistryError):
    """No answer at all: refused connection, timeout, TLS failure, unknown host."""


@dataclass
class ManifestInfo:
    """What Portus keeps about the image a tag points at."""

    digest: str
    media_type: str
    config_digest: str = ""
    size: int = 0  # config plus layers; for an index, summed over its platforms
    platforms: list[str] = field(default_factory=list)


def platform_name(platform: dict[str, Any]) -> str:
    parts = [str(platform.get("os", "")), str(platform.get("architecture", ""))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def image_size(manifest: dict[str, Any]) -> int:
    config = manifest.get("config") or {}
    layers = manifest.get("layers") or []
    return int(config.get("size") or 0) + sum(int(layer.get("size") or 0) for layer in layers)


class RegistryClient:
    """One registry, one keep-alive HTTP session; safe to use from one thread at a time."""

    def __init__(self, registry: Registry, *, session: requests.Session | None = None):
        self.registry = registry
        self.session = session or requests.Session()
        # Proxy variables are read once here: requests would scan the environment on every call,
        # which cost about as much CPU as the rest of a request during a large synchronization.
        self.proxies = requests.utils.get_environ_proxies(registry.base_url)
        self.session.trust_env = False
        # (connect, read) for every call: a registry that accepted the connection may still be
        # slow to answer a large tag list, a manifest list or a deletion.
        self.timeout = (
            settings.PORTUS.registry.timeout,
            settings.PORTUS.registry.read_timeout,
        )
        # Tokens by scope, the most recently used last: applying a burst of pushes reads one repository
        # after another (a token per event when only the last one was kept), a synchronization reads each
        # repository once. Bounded, so a long synchronization does not grow it.
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def close(self) -> None:
        self.session.close()

    def _authorization(self, access: dict[str, Any]) -> str:
        scope = f"{access['type']}:{access['name']}:{','.join(access['actions'])}"
        kept = self._tokens.get(scope)
        if kept is not None and time.monotonic() <= kept[1]:
            self._tokens.move_to_end(scope)
            return f"Bearer {kept[0]}"
        token, lifetime, _ = registry_token(INTERNAL_ACCOUNT, self.registry.hostname, [access])
        self._tokens[scope] = (token, time.monotonic() + max(lifetime - 30, 1))
        self._tokens.move_to_end(scope)
        while len(self._tokens) > TOKENS_KEPT:
            self._tokens.popitem(last=False)
        return f"Bearer {token}"

    def _send(
        self,
        method: str,
        url: str,
        access: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        follow_redirects: bool = True,
        stream: bool = False,
        body: bytes | None = None,
    ) -> requests.Response:
        """One call; ACCESS None means no token (the API check). Raises unless the status is in OK."""
        full_url = urljoin(self.registry.base_url + "/", url.lstrip("/")) if not url.startswith("http") else url
        request_headers = dict(headers or {})
        if access is not None:
            request_headers["Authorization"] = self._authorization(access)
        try:
            response = self.session.request(
                method,
                full_url,
                headers=request_headers,
                timeout=self.timeout,
                proxies=self.proxies,
                allow_redirects=follow_redirects,
                stream=stream,
                data=body,
            )
        except requests.RequestException as exc:
            raise RegistryUnavailable(f"cannot reach the registry at {self.registry.base_url}: {exc}") from exc
        if response.status_code in ok:
            return response
        if stream:
            response.close()
        if response.status_code == 404:
            raise NotFound(f"{full_url}: not found in the registry", status=404)
        raise RegistryError(
            f"{full_url}: the registry answered {response.status_code} "
            f"{response.text[:200]!r}; "
            "check that it trusts Portus's token certificate and is healthy.",
            status=response.status_code,
        )

    def _get(self, url: str, access: dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
        return self._send("GET", url, access, headers)

    def api_version(self) -> tuple[int, str]:
        """GET /v2/ without a token: (status, Docker-Distribution-Api-Version header).

        A registry answers 200, or 401 when it wants a token; either way it names its API."""
        # Not following redirects: a login page elsewhere must not pass for a registry.
        response = self._send("GET", "/v2/", None, ok=tuple(range(100, 600)), follow_redirects=False)
        return response.status_code, response.headers.get("Docker-Distribution-Api-Version", "")

    def delete_manifest(self, repository: str, digest: str) -> None:
        """DELETE the manifest DIGEST (and so every tag on it); NotFound when it is already gone."""
        access = {"type": "repository", "name": repository, "actions": ["pull", "push", "delete"]}
        self._send("DELETE", f"/v2/{repository}/manifests/{digest}", access, ok=(200, 202))

    def delete_tag_reference(self, repository: str, tag: str) -> bool:
        """DELETE the tag TAG alone, where the registry can (Distribution 3); False where it cannot.

        Distribution 2.8 deletes manifests by digest only and refuses a tag reference (400 or 405
        with UNSUPPORTED or DIGEST_INVALID); that answer means "use the digest", not a failure."""
        access = {"type": "repository", "name": repository, "actions": ["pull", "push", "delete"]}
        try:
            self._send("DELETE", f"/v2/{repository}/manifests/{tag}", access, ok=(200, 202))
        except RegistryError as exc:
            if exc.status in (400, 405):
                return False
            raise
        return True

    def raw_manifest(self, repository: str, reference: str) -> tuple[str, str, bytes]:
        """(digest, media type, exact bytes) of the manifest REFERENCE names, to put back unchanged."""
        access = {"type": "repository", "name": repository, "actions": ["pull"]}
        response = self._get(f"/v2/{repository}/manifests/{reference}", access, {"Accept": ACCEPT})
        body = response.content
        digest = response.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not media_type:
            media_type = str(self._json(response).get("mediaType") or "")
        return digest, media_type, body

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest REFERENCE names, from a HEAD (no body); a GET when the registry names no digest."""
        access = {"type": "repository", "name": repository, "actions": ["pull"]}
        response = self._send("HEAD", f"/v2/{repository}/manifests/{reference}", access, {"Accept": ACCEPT})
        digest = response.headers.get("Docker-Content-Digest", "")
        return digest or self.raw_manifest(repository, reference)[0]

    def put_manifest(self, repository: str, tag: str, media_type: str, body: bytes) -> None:
        """PUT BODY under TAG: the registry keeps the blobs of a deleted manifest until garbage
        collection, so the same bytes can be tagged again without pushing anything else."""
        access = {"type": "repository", "name": repository, "actions": ["pull", "push"]}
        self._send(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            access,
            headers={"Content-Type": media_type},
            ok=(201,),
            body=body,
        )

    def catalog_pages(self, page_size: int | None = None) -> Iterator[list[str]]:
        """The catalog, one page at a time, following the registry's ``Link: <...>; rel="next"``."""
        page_size = page_size or settings.PORTUS.registry.catalog_page
        access = {"type": "registry", "name": "catalog", "actions": ["*"]}
        url: str | None = f"/v2/_catalog?n={page_size}"
        while url:
            response = self._get(url, access)
            repositories = self._json(response).get("repositories")
            if not isinstance(repositories, list):
                raise RegistryError(f"{response.url}: the catalog answer has no repositories list.")
            yield [str(name) for name in repositories]
            next_link = response.links.get("next", {}).get("url")
            url = next_link or None

    def tags(self, repository: str) -> list[str]:
        """All tags of REPOSITORY (empty when the registry knows the name but holds no tag)."""
        access = {"type": "repository", "name": repository, "actions": ["pull"]}
        tags: list[str] = []
        url: str | None = f"/v2/{repository}/tags/list"
        while url:
            response = self._get(url, access)
            tags.extend(str(tag) for tag in (self._json(response).get("tags") or []))
            url = response.links.get("next", {}).get("url") or None
        return tags

    def manifest(self, repository: str, reference: str) -> tuple[str, str, dict[str, Any]]:
        """(digest, media type, parsed body) of the manifest REFERENCE (a tag or a digest) names."""
        access = {"type": "repository", "name": repository, "actions": ["pull"]}
        response = self._get(f"/v2/{repository}/manifests/{reference}", access, {"Accept": ACCEPT})
        body = response.content
        digest = response.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"{repository}@{reference}: the registry answered a manifest with digest {digest}.")
        parsed = self._json(response)
        media_type = str(parsed.get("mediaType") or response.headers.get("Content-Type", "").split(";")[0])
        return digest, media_type, parsed

    def describe(self, repository: str, reference: str) -> ManifestInfo:
        """Digest, media type, config digest, size and platforms of the image REFERENCE names."""
        digest, media_type, manifest = self.manifest(repository, reference)
        info = ManifestInfo(digest=digest, media_type=media_type)
        if media_type in INDEXES or "manifests" in manifest:
            for entry in manifest.get("manifests") or []:
                platform = entry.get("platform") or {}
                if platform.get("os") == "unknown":  # build attestations, not runnable images
                    continue
                _, _, child = self.manifest(repository, str(entry["digest"]))
                info.size += image_size(child)
                if platform:
                    info.platforms.append(platform_name(platform))
        else:
            info.size = image_size(manifest)
            info.config_digest = str((manifest.get("config") or {}).get("digest") or "")
        return info

    @contextmanager
    def blob(self, repository: str, digest: str) -> Iterator[BinaryIO]:
        """The blob DIGEST of REPOSITORY (a layer or a config) as a stream, never whole in memory.

        A registry that keeps blobs elsewhere redirects; requests drops the token on the way there."""
        access = {"type": "repository", "name": repository, "actions": ["pull"]}
        response = self._send("GET", f"/v2/{repository}/blobs/{digest}", access, stream=True)
        try:
            response.raw.decode_content = False  # the blob's own bytes, as its digest covers them
            yield response.raw
        finally:
            response.close()

    def config(self, repository: str, digest: str) -> dict[str, Any]:
        """The image config blob DIGEST, parsed; checked against its digest and refused above CONFIG_LIMIT."""
        where = f"{repository}@{digest}"
        try:
            with self.blob(repository, digest) as stream:
                data = stream.read(CONFIG_LIMIT + 1)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # A connection lost or timed out in the body says nothing about the blob: not a digest mismatch.
            raise RegistryUnavailable(
                f"{where}: the registry stopped answering while sending the config: {exc}"
            ) from exc
        if len(data) > CONFIG_LIMIT:
            raise RegistryError(f"{where}: the image config is larger than {CONFIG_LIMIT} bytes; not read.")
        if digest.startswith("sha256:") and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise RegistryError(f"{where}: the registry answered a config blob that does not match its digest.")
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise RegistryError(f"{where}: the image config is not JSON.") from exc
        if not isinstance(parsed, dict):
            raise RegistryError(f"{where}: the image config is not a JSON object.")
        return parsed

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise RegistryError(f"{response.url}: the registry answered something that is not JSON.") from exc
        if not isinstance(data, dict):
            raise RegistryError(f"{response.url}: the registry answered JSON that is not an object.")
        return data
