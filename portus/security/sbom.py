"""An image's software bill of materials in CycloneDX JSON, built by cyclonedx-python-lib from a stored
inventory. SPDX is not offered: spdx-tools is not among the installed libraries."""

from __future__ import annotations

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from portus.security.inventory import Package
from portus.security.models import Inventory

CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json; version=1.6"


def cyclonedx_json(image_name: str, inventories: list[Inventory]) -> str:
    """CycloneDX 1.6 JSON for IMAGE_NAME ("ns/repo@sha256:..."), one component per package of each platform."""
    bom = Bom()
    root = Component(name=image_name, type=ComponentType.CONTAINER, bom_ref=image_name)
    bom.metadata.component = root
    components: list[Component] = []
    seen: set[str] = set()
    for stored in inventories:
        for item in stored.packages:
            package = Package.from_json(item)
            ref = f"{package.purl}#{package.path}" if package.path else package.purl
            if ref in seen:
                continue
            seen.add(ref)
            components.append(
                Component(
                    name=package.name,
                    version=package.version,
                    type=ComponentType.LIBRARY,
                    purl=PackageURL.from_string(package.purl) if package.purl else None,
                    bom_ref=ref,
                )
            )
    for component in components:
        bom.components.add(component)
    # Every package is in the image itself: the image depends on each directly.
    bom.register_dependency(root, components)
    return JsonV1Dot6(bom).output_as_string(indent=None)
