"""The key that signs registry tokens: loading or generating it, its certificate, key id and signing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.utils import base64url_encode

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class SigningKeyError(Exception):
    """The configured signing key cannot be used; the message says what to fix."""


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> str:
    """Distribution 2.8's key id: base32 of the first 240 bits of SHA-256(DER SPKI), in groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def self_signed_certificate(key: PrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


def publish_once(path: Path, data: bytes, mode: int) -> bool:
    """Create PATH holding DATA unless it exists; False when another process created it first.

    Written to a temporary file and linked into place, so no reader ever sees a half-written file and
    several processes starting at once (gunicorn workers, the background worker) agree on one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


def write_key_pair(key_path: Path, cert_path: Path, algorithm: str, common_name: str) -> None:
    """Write a new private key (mode 0600) and its self-signed certificate, unless another process
    has just written its own: then that one stands."""
    key = generate_private_key(algorithm)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if publish_once(key_path, pem, 0o600):
        certificate = self_signed_certificate(key, common_name).public_bytes(serialization.Encoding.PEM)
        publish_once(cert_path, certificate, 0o644)


@dataclass(frozen=True)
class SigningKey:
    private_key: PrivateKey
    certificate: x509.Certificate
    algorithm: str
    kid: str
    x5c: str  # the certificate, DER, standard base64

    # The header (with its certificate, the bulk of it) is the same in every token: encoded once.
    @cached_property
    def _header_segment(self) -> bytes:
        header = {"alg": self.algorithm, "kid": self.kid, "typ": "JWT", "x5c": [self.x5c]}
        return base64url_encode(json.dumps(header, separators=(",", ":")).encode())

    @cached_property
    def _jws_algorithm(self) -> Algorithm:
        return get_default_algorithms()[self.algorithm]

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS, as jwt.encode makes it, without re-encoding the header each time."""
        payload = base64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = self._header_segment + b"." + payload
        signature = self._jws_algorithm.sign(signing_input, self.private_key)
        return (signing_input + b"." + base64url_encode(signature)).decode()


def _load(key_path: Path, cert_path: Path, algorithm: str) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"cannot read the token signing key {key_path}: {exc}. Set PORTUS_KEY_PATH.") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SigningKeyError(f"{key_path}: an EC signing key must be on P-256 for ES256.")
        algorithm = "ES256"
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    else:
        raise SigningKeyError(f"{key_path}: use an EC P-256 (ES256) or RSA (RS256) private key.")
    if cert_path.exists():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if certificate.public_key() != key.public_key():
            raise SigningKeyError(
                f"{cert_path} does not belong to {key_path}; delete it and Portus writes a matching one."
            )
    else:
        certificate = self_signed_certificate(key, settings.MACHINE_FQDN)
        if not publish_once(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644):
            # Another process wrote one for the same key first: every process must hand out that one in
            # x5c, since the registry trusts the certificate in its bundle, not merely the key.
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    x5c = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    return SigningKey(key, certificate, algorithm, libtrust_key_id(key.public_key()), x5c)


@lru_cache(maxsize=1)
def signing_key() -> SigningKey:
    """The process's signing key, generated on first use where none is configured (development)."""
    key_path: Path = settings.TOKEN_KEY_PATH
    cert_path: Path = settings.TOKEN_CERT_PATH
    algorithm = settings.PORTUS.registry.jwt_algorithm
    if not key_path.exists():
        if not settings.TOKEN_KEY_GENERATE:
            raise SigningKeyError(f"PORTUS_KEY_PATH={str(key_path)!r}: no such file.")
        write_key_pair(key_path, cert_path, algorithm, settings.MACHINE_FQDN)
    return _load(key_path, cert_path, algorithm)


def registry_token(subject: str, audience: str, access: list[dict[str, Any]]) -> tuple[str, int, int]:
    """A signed token for the registry: (token, expires_in seconds, issued_at epoch)."""
    key = signing_key()
    lifetime = settings.PORTUS.registry.jwt_expiration_time * 60
    now = int(time.time())
    claims = {
        "iss": settings.MACHINE_FQDN,
        "sub": subject,
        "aud": audience,
        "exp": now + lifetime,
        # Tolerate a registry whose clock runs a little behind ours.
        "nbf": now - 5,
        "iat": now,
        "jti": secrets.token_urlsafe(16),
        "access": access,
    }
    return key.sign(claims), lifetime, now
