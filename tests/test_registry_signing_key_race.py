"""Processes that start together and find no signing key agree on one key and one certificate."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from portus.registry import signing
from portus.registry.signing import publish_once, write_key_pair


def test_a_second_writer_between_key_and_certificate_leaves_a_matching_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first writer is held after writing its key, until a second writer has finished: the
    interleaving that left one process's certificate beside another's key."""
    key, cert = tmp_path / "portus.key", tmp_path / "portus.crt"
    second_done = threading.Event()
    real_certificate = signing.self_signed_certificate
    first = threading.current_thread()

    def held_certificate(private_key, common_name):  # type: ignore[no-untyped-def]
        if threading.current_thread() is first:
            second_done.wait(timeout=30)
        return real_certificate(private_key, common_name)

    monkeypatch.setattr(signing, "self_signed_certificate", held_certificate)

    def second_writer() -> None:
        write_key_pair(key, cert, "ES256", "portus.test")
        second_done.set()

    writer = threading.Thread(target=second_writer)
    # The first writer starts the second once its own key is on disk.
    real_publish = signing.publish_once

    def publish_then_start_second(path: Path, data: bytes, mode: int) -> bool:
        written = real_publish(path, data, mode)
        if threading.current_thread() is first and path == key:
            writer.start()
        return written

    monkeypatch.setattr(signing, "publish_once", publish_then_start_second)
    write_key_pair(key, cert, "ES256", "portus.test")
    writer.join(timeout=30)

    private_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    assert certificate.public_key() == private_key.public_key()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["portus.crt", "portus.key"]  # no temporary left


def test_a_file_is_published_once_and_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "once"
    assert publish_once(target, b"first", 0o600) is True
    assert publish_once(target, b"second", 0o600) is False
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["once"]
