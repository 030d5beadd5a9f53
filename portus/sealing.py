"""Sealing secrets kept at rest (Fernet, keyed from the secret key): a copy of the database alone gives none away."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SealBroken(Exception):
    """The sealed text cannot be opened: it was sealed under another secret key (or altered)."""


def _fernet(purpose: str) -> Fernet:
    # One key per purpose, so a sealed value of one kind can never be opened as another kind.
    key = hashlib.sha256(f"portus-{purpose}-seal:".encode() + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plain: str, *, purpose: str) -> str:
    return _fernet(purpose).encrypt(plain.encode()).decode()


def unseal(sealed: str, *, purpose: str) -> str:
    """The plain text of SEALED; SealBroken when the secret key changed since it was sealed."""
    try:
        return _fernet(purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SealBroken(purpose) from None
