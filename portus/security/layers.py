"""Reading an image's file system the way a container would see it, but only the files the inventory
needs: layers are streamed member by member (gzip or plain tar), whiteouts and opaque directories
applied in order, and nothing is unpacked to disk.

zstd layers are not read: no zstd library is installed (Python 3.11 has none built in), so such a
layer is skipped and the inventory notes it."""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from portus.registry.client import RegistryClient, RegistryError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20

# Files read whole; everything else the inventory needs is recognized by its place (see wanted_file).
EXACT_FILES = frozenset(
    {
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
        "etc/os-release",
        "usr/lib/os-release",
        "etc/alpine-release",
        "etc/debian_version",
    }
)
# Python metadata puts the headers first; the long description after them is not needed.
HEADER_FILES_LIMIT = 64 * 1024


class LayerError(RegistryError):
    """A layer could not be read: not a tar, a digest that does not match, a broken stream."""


def wanted_file(path: str) -> bool:
    """Whether the inventory reads PATH (relative, no leading slash)."""
    if path in EXACT_FILES:
        return True
    directory, _, name = path.rpartition("/")
    if directory == "var/lib/dpkg/status.d":
        return not name.endswith(".md5sums")  # distroless images keep one status file per package there
    if name == "METADATA":
        return directory.endswith(".dist-info")
    if name == "PKG-INFO":
        return directory.endswith(".egg-info")
    if name == "package.json":
        parts = directory.split("/")
        if len(parts) >= 2 and parts[-2] == "node_modules":
            return not parts[-1].startswith("@")
        return len(parts) >= 3 and parts[-3] == "node_modules" and parts[-2].startswith("@")
    return False


def read_limit(path: str, max_file_bytes: int) -> int:
    name = path.rpartition("/")[2]
    return min(max_file_bytes, HEADER_FILES_LIMIT) if name in ("METADATA", "PKG-INFO") else max_file_bytes


def normalize(name: str) -> str | None:
    """A tar member name as a path relative to the root; None for names that escape it."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return path or None


@dataclass
class ImageFiles:
    """The wanted files of the merged file system, and what could not be read (sentences)."""

    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _HashingReader(io.RawIOBase):
    """Passes a stream through while hashing it, so a layer's digest is checked without a second read."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.stream.read(len(buffer))
        self.sha256.update(data)
        buffer[: len(data)] = data
        return len(data)


def _drain_and_check(reader: _HashingReader, raw: BinaryIO, digest: str) -> None:
    while raw.read(CHUNK):
        pass
    actual = "sha256:" + reader.sha256.hexdigest()
    if digest.startswith("sha256:") and actual != digest:
        raise LayerError(f"layer {digest}: the registry sent a blob whose digest is {actual}.")


def apply_layer(state: ImageFiles, stream: BinaryIO, digest: str, media_type: str, max_file_bytes: int) -> None:
    """Read one layer from STREAM and merge its wanted files into STATE, honouring its whiteouts."""
    reader = _HashingReader(stream)
    raw = io.BufferedReader(reader, CHUNK)
    magic = raw.peek(4)[:4]
    if magic.startswith(ZSTD_MAGIC) or "zstd" in media_type:
        state.notes.append(f"layer {digest} is zstd-compressed, which this installation cannot read; it was skipped.")
        return
    source: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if magic.startswith(GZIP_MAGIC) else raw  # type: ignore[assignment]
    added: dict[str, bytes] = {}
    removed: set[str] = set()  # whiteouts: the path and all below it, in lower layers
    opaque: set[str] = set()  # opaque directories: everything below, in lower layers
    replaced: set[str] = set()  # wanted paths this layer turned into something else (a link, a folder)
    try:
        with tarfile.open(fileobj=source, mode="r|") as tar:
            for member in tar:
                path = normalize(member.name)
                if path is None:
                    continue
                directory, _, name = path.rpartition("/")
                if name == OPAQUE:
                    opaque.add(directory)
                elif name.startswith(WHITEOUT):
                    removed.add(posixpath.join(directory, name[len(WHITEOUT) :]))
                elif not wanted_file(path):
                    continue
                elif not member.isreg():
                    replaced.add(path)
                    added.pop(path, None)
                elif member.size > max_file_bytes and name not in ("METADATA", "PKG-INFO"):
                    state.notes.append(f"{path} in layer {digest} is larger than {max_file_bytes} bytes; not read.")
                    replaced.add(path)
                else:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        added[path] = handle.read(read_limit(path, max_file_bytes))
        _drain_and_check(reader, raw, digest)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise LayerError(f"layer {digest} is not a readable tar archive ({exc}).") from exc
    _merge(state.files, added, removed, opaque, replaced)


def _under(path: str, folders: set[str]) -> bool:
    for folder in folders:
        if folder == "" or path == folder or path.startswith(folder + "/"):
            return True
    return False


def _merge(
    files: dict[str, bytes], added: dict[str, bytes], removed: set[str], opaque: set[str], replaced: set[str]
) -> None:
    if removed or opaque or replaced:
        for path in list(files):
            if path in replaced or _under(path, removed) or any(path.startswith(f"{d}/" if d else "") for d in opaque):
                del files[path]
    files.update(added)


def read_image_files(
    client: RegistryClient,
    repository: str,
    manifest: dict[str, object],
    *,
    max_file_bytes: int,
    on_layer: Callable[[str], None] | None = None,
) -> ImageFiles:
    """The wanted files of the image MANIFEST (one platform), its layers applied bottom to top."""
    state = ImageFiles()
    layers = manifest.get("layers")
    for layer in layers if isinstance(layers, list) else []:
        digest = str(layer.get("digest", ""))
        media_type = str(layer.get("mediaType", ""))
        if "nondistributable" in media_type or "foreign" in media_type:
            state.notes.append(f"layer {digest} is a foreign layer the registry does not hold; it was skipped.")
            continue
        if on_layer is not None:
            on_layer(digest)
        with client.blob(repository, digest) as stream:
            apply_layer(state, stream, digest, media_type, max_file_bytes)
    return state
