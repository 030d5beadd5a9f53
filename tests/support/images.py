"""Writing small OCI image layouts that skopeo can push, without Docker."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class Image:
    layout: Path
    tag: str
    manifest_digest: str
    config_digest: str
    size: int  # config plus layers, as Portus reports it
    media_type: str

    @property
    def reference(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


def _blob(layout: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), "sha256:" + hashlib.sha256(uncompressed).hexdigest()


def _image_manifest(layout: Path, files: dict[str, bytes], arch: str = "amd64") -> tuple[dict, str, int]:
    layer, diff_id = _layer(files)
    layer_digest = _blob(layout, layer)
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "config": {"Cmd": ["/bin/sh"]},
        }
    ).encode()
    config_digest = _blob(layout, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    }
    return manifest, config_digest, len(config) + len(layer)


def _write_index(layout: Path, entries: list[dict]) -> None:
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))


def _index_image(layout: Path, tag: str, entries: list[dict], total: int) -> Image:
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    digest = _blob(layout, index)
    _write_index(
        layout,
        [
            {
                "mediaType": OCI_INDEX,
                "digest": digest,
                "size": len(index),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    )
    return Image(layout, tag, digest, "", total, OCI_INDEX)


def make_image(layout: Path, tag: str = "v1", files: dict[str, bytes] | None = None, arch: str = "amd64") -> Image:
    """A one-layer OCI image; FILES (path -> content) go into the layer, so content decides the digest."""
    files = files or {"hello.txt": f"hello from {tag}\n".encode()}
    manifest, config_digest, size = _image_manifest(layout, files, arch)
    data = json.dumps(manifest).encode()
    digest = _blob(layout, data)
    _write_index(
        layout,
        [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(data),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    )
    return Image(layout, tag, digest, config_digest, size, OCI_MANIFEST)


def make_multiplatform_image(layout: Path, tag: str = "multi", arches: tuple[str, ...] = ("amd64", "arm64")) -> Image:
    """An OCI index over one image per architecture."""
    entries = []
    total = 0
    for arch in arches:
        manifest, _, size = _image_manifest(layout, {"arch.txt": arch.encode()}, arch)
        data = json.dumps(manifest).encode()
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": _blob(layout, data),
                "size": len(data),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
        total += size
    return _index_image(layout, tag, entries, total)


def _layered_manifest(layout: Path, layers: list[dict[str, bytes]], arch: str) -> tuple[dict, int]:
    """An image manifest over LAYERS (bottom first; a name ``dir/.wh.x`` is a whiteout, ``dir/.wh..wh..opq`` opaque)."""
    diff_ids, descriptors, size = [], [], 0
    for files in layers:
        layer, diff_id = _layer(files)
        diff_ids.append(diff_id)
        descriptors.append({"mediaType": OCI_LAYER, "digest": _blob(layout, layer), "size": len(layer)})
        size += len(layer)
    config = json.dumps(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}}
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": _blob(layout, config), "size": len(config)},
        "layers": descriptors,
    }
    return manifest, size + len(config)


def make_layered_image(layout: Path, tag: str, platforms: dict[str, list[dict[str, bytes]]]) -> Image:
    """An OCI index with one image per architecture in PLATFORMS, each built from its own layers."""
    entries, total = [], 0
    for arch, layers in platforms.items():
        manifest, size = _layered_manifest(layout, layers, arch)
        data = json.dumps(manifest).encode()
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": _blob(layout, data),
                "size": len(data),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
        total += size
    return _index_image(layout, tag, entries, total)


# What a real build leaves in an image config: how to run it, its environment (a secret among it), ports,
# labels, and the build steps, two of which made no layer.
DETAILED_RUN_CONFIG = {
    "Entrypoint": ["/usr/bin/entry.sh"],
    "Cmd": ["serve", "--port", "8080"],
    "Env": ["PATH=/usr/bin:/bin", "API_TOKEN=s3cr3t-value"],
    "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
    "Labels": {"org.opencontainers.image.source": "https://example.com/app", "maintainer": "team@example.com"},
}
DETAILED_CREATED = "2024-05-06T07:08:09.123456789Z"


@dataclass
class DetailedImage(Image):
    blobs: dict[str, int]  # digest -> size of the config and every layer (for an index: of every platform)
    platform_digests: dict[str, str]  # platform name -> manifest digest (an index only)


def _detailed_manifest(
    layout: Path, layers: list[dict[str, bytes]], arch: str, variant: str, annotations: dict[str, str]
) -> tuple[dict, dict[str, int]]:
    diff_ids, descriptors, blobs = [], [], {}
    history = []
    for number, files in enumerate(layers):
        layer, diff_id = _layer(files)
        digest = _blob(layout, layer)
        diff_ids.append(diff_id)
        descriptors.append({"mediaType": OCI_LAYER, "digest": digest, "size": len(layer)})
        blobs[digest] = len(layer)
        history.append({"created": DETAILED_CREATED, "created_by": f"COPY layer{number} /"})
    history.insert(1, {"created": DETAILED_CREATED, "created_by": "ENV API_TOKEN=s3cr3t-value", "empty_layer": True})
    history.append({"created": DETAILED_CREATED, "created_by": 'CMD ["serve"]', "empty_layer": True})
    config_body: dict = {
        "created": DETAILED_CREATED,
        "architecture": arch,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": DETAILED_RUN_CONFIG,
        "history": history,
    }
    if variant:
        config_body["variant"] = variant
    config = json.dumps(config_body).encode()
    config_digest = _blob(layout, config)
    blobs[config_digest] = len(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": descriptors,
        "annotations": annotations,
    }
    return manifest, blobs


def make_detailed_image(
    layout: Path,
    tag: str,
    layers: list[dict[str, bytes]],
    arch: str = "amd64",
    annotations: dict[str, str] | None = None,
) -> DetailedImage:
    """An OCI image over LAYERS (bottom first) whose config has entrypoint, command, environment, ports,
    labels and a history with empty layers; two images with the same first layer share that blob."""
    manifest, blobs = _detailed_manifest(layout, layers, arch, "", annotations or {"org.example.built-by": "tests"})
    data = json.dumps(manifest).encode()
    digest = _blob(layout, data)
    _write_index(
        layout,
        [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(data),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    )
    config_digest = manifest["config"]["digest"]
    return DetailedImage(layout, tag, digest, config_digest, sum(blobs.values()), OCI_MANIFEST, blobs, {})


def make_detailed_index(
    layout: Path, tag: str, platforms: dict[tuple[str, str], list[dict[str, bytes]]]
) -> DetailedImage:
    """An OCI index over one detailed image per (architecture, variant) in PLATFORMS."""
    entries, blobs, digests, total = [], {}, {}, 0
    for (arch, variant), layers in platforms.items():
        manifest, image_blobs = _detailed_manifest(layout, layers, arch, variant, {"org.example.arch": arch})
        data = json.dumps(manifest).encode()
        platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        entries.append(
            {"mediaType": OCI_MANIFEST, "digest": _blob(layout, data), "size": len(data), "platform": platform}
        )
        digests["/".join(["linux", arch, *([variant] if variant else [])])] = entries[-1]["digest"]
        blobs.update(image_blobs)
        total += sum(image_blobs.values())
    image = _index_image(layout, tag, entries, total)
    return DetailedImage(image.layout, tag, image.manifest_digest, "", total, OCI_INDEX, blobs, digests)
