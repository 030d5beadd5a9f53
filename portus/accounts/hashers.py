"""Passwords imported from the original Portus: Devise's raw bcrypt hashes, checked as they are.

Devise stores ``BCrypt::Password.create(password + pepper)`` with no prefix of its own; Django's
BCryptPasswordHasher hashes a SHA-256 of the password first, so it cannot read them. The import
stores such a hash as ``portus_bcrypt$<the $2a$ hash>``; this hasher is never the preferred one, so
Django re-hashes the password with the default hasher at the first successful sign-in.
"""

from __future__ import annotations

from typing import Any

import bcrypt
from django.conf import settings
from django.contrib.auth.hashers import BasePasswordHasher, mask_hash

ALGORITHM = "portus_bcrypt"
# Ruby's bcrypt (and so Devise) reads at most 72 bytes of a secret; the bcrypt package refuses more.
BCRYPT_MAX_BYTES = 72


def bcrypt_matches(secret: str, hashed: str) -> bool:
    """Whether SECRET is what the bcrypt hash HASHED ($2a$/$2b$/$2y$) was made of, as Ruby checks it."""
    try:
        return bcrypt.checkpw(secret.encode()[:BCRYPT_MAX_BYTES], hashed.encode())
    except ValueError:  # not a bcrypt hash at all
        return False


class DeviseBcryptHasher(BasePasswordHasher):
    algorithm = ALGORITHM

    def salt(self) -> str:
        return bcrypt.gensalt().decode()

    def encode(self, password: str, salt: str) -> str:
        pepper = settings.PORTUS.legacy.devise_pepper
        hashed = bcrypt.hashpw((password + pepper).encode()[:BCRYPT_MAX_BYTES], salt.encode()).decode()
        return f"{self.algorithm}${hashed}"

    def verify(self, password: str, encoded: str) -> bool:
        algorithm, _, hashed = encoded.partition("$")
        if algorithm != self.algorithm:
            return False
        return bcrypt_matches(password + settings.PORTUS.legacy.devise_pepper, hashed)

    def decode(self, encoded: str) -> dict[str, Any]:
        _, _, hashed = encoded.partition("$")
        # $2a$10$ + 22 characters of salt + 31 of checksum
        return {"algorithm": self.algorithm, "work_factor": int(hashed[4:6]), "salt": hashed[7:29], "hash": hashed[29:]}

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        decoded = self.decode(encoded)
        return {
            "algorithm": decoded["algorithm"],
            "work factor": decoded["work_factor"],
            "salt": mask_hash(decoded["salt"]),
            "checksum": mask_hash(decoded["hash"]),
        }

    def must_update(self, encoded: str) -> bool:
        # Never the preferred hasher: Django upgrades on the first success anyway.
        return True

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass


def wrap_devise_hash(encrypted_password: str) -> str:
    """The Django form of an original ``encrypted_password``; "" when it is no bcrypt hash."""
    if encrypted_password.startswith(("$2a$", "$2b$", "$2y$")) and len(encrypted_password) == 60:
        return f"{ALGORITHM}${encrypted_password}"
    return ""
