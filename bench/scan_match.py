"""The built-in scanner's matching cost, against generated OSV advisories in a throw-away SQLite database.

For each advisory count (20,000 and 200,000 by default) it writes the advisories as an OSV zip export
(ten per package name, over Debian:12, PyPI and npm), imports them with the code `portusctl vulndb
import` runs, then, each in a fresh process so its peak memory belongs to that step alone:

- match: inventory and match one image of 500 packages (a dpkg status, Python METADATA and npm
  package.json files, already read from the layers), with the version caches cold; the brief asks <= 2 s;
- rematch: match 1,000 stored inventories of 500 packages each (drawn from 2,000 names, as images
  share base layers) after an import; the brief asks <= 60 s;
- peak memory of the match step, by tracemalloc and the process's peak RSS (VmHWM): it should not
  grow with the number of advisories, only with what the image's packages match (the same here for
  both sizes).

Usage, from the repository root:

    python3 bench/scan_match.py [--advisories 20000 200000] [--inventories 1000]

Not a test: the figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import ROOT, load, prepare_environment  # noqa: E402

PER_NAME = 10
ECOSYSTEMS = (("Debian:12", "deb"), ("PyPI", "py"), ("npm", "js"))
IMAGE_PACKAGES = 500
SHARED_NAMES = 2000


def name_of(index: int) -> tuple[str, str]:
    osv_ecosystem, prefix = ECOSYSTEMS[index % len(ECOSYSTEMS)]
    return osv_ecosystem, f"{prefix}{index}"


def version_of(osv_ecosystem: str, minor: int) -> str:
    return {"Debian:12": f"1.{minor}-1", "PyPI": f"1.{minor}", "npm": f"1.{minor}.0"}[osv_ecosystem]


def write_export(path: Path, count: int) -> None:
    rng = random.Random(count)
    names = count // PER_NAME
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for number in range(count):
            osv_ecosystem, name = name_of(number % names)
            document = {
                "id": f"BENCH-{number}",
                "modified": "2024-05-01T00:00:00Z",
                "summary": f"generated advisory {number}",
                "affected": [
                    {
                        "package": {"ecosystem": osv_ecosystem, "name": name},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [
                                    {"introduced": "0"},
                                    {"fixed": version_of(osv_ecosystem, rng.randint(0, 10))},
                                ],
                            }
                        ],
                    }
                ],
                "database_specific": {"severity": rng.choice(["LOW", "MODERATE", "HIGH", "CRITICAL"])},
            }
            archive.writestr(f"BENCH-{number}.json", json.dumps(document))


def image_files(indexes: list[int], rng: random.Random) -> dict[str, bytes]:
    """The files layers.py would have kept for an image holding the packages INDEXES name."""
    files: dict[str, bytes] = {"etc/os-release": b'ID=debian\nVERSION_ID="12"\n'}
    status = []
    for index in indexes:
        osv_ecosystem, name = name_of(index)
        version = version_of(osv_ecosystem, rng.randint(0, 10))
        if osv_ecosystem == "Debian:12":
            status.append(f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n")
        elif osv_ecosystem == "PyPI":
            files[f"usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA"] = (
                f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
            )
        else:
            files[f"app/node_modules/{name}/package.json"] = json.dumps({"name": name, "version": version}).encode()
    files["var/lib/dpkg/status"] = "\n".join(status).encode()
    return files


def peak_rss() -> float:
    """This process's peak resident memory in MiB. Linux's VmHWM, not ru_maxrss: ru_maxrss survives
    exec, so a child would report the parent's peak at fork time (the parent holds the import)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_match() -> dict[str, float]:
    from portus.security.builtin import match_packages
    from portus.security.inventory import detect_distro, inventory
    from portus.security.versions import parse_semver, parse_version

    files = image_files(list(range(IMAGE_PACKAGES)), random.Random(1))

    def once() -> tuple[float, int]:
        parse_version.cache_clear()
        parse_semver.cache_clear()
        started = time.perf_counter()
        distro = detect_distro(files)
        findings = match_packages(inventory(files, distro), distro.release)
        return time.perf_counter() - started, len(findings)

    seconds, findings = once()
    tracemalloc.start()
    once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": seconds, "findings": findings, "tracemalloc_peak_mib": peak / 2**20, "maxrss_mib": peak_rss()}


def store_inventories(count: int) -> None:
    from portus.security.inventory import detect_distro, inventory
    from portus.security.models import Inventory

    rng = random.Random(2)
    Inventory.objects.all().delete()
    rows = []
    for number in range(count):
        files = image_files(rng.sample(range(SHARED_NAMES), IMAGE_PACKAGES), rng)
        distro = detect_distro(files)
        rows.append(
            Inventory(
                manifest_digest=f"sha256:{number:064x}",
                platform="linux/amd64",
                distro=distro.id,
                release=distro.release,
                packages=[package.to_json() for package in inventory(files, distro)],
            )
        )
        if len(rows) == 100:
            Inventory.objects.bulk_create(rows)
            rows = []
    Inventory.objects.bulk_create(rows)


def child_rematch() -> dict[str, float]:
    from portus.security.builtin import rematch_many
    from portus.security.models import Inventory

    started = time.perf_counter()
    findings = sum(len(found) for _, found in rematch_many(Inventory.objects.order_by("pk").iterator(chunk_size=100)))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "findings": findings, "maxrss_mib": peak_rss()}


def checkpoint() -> None:
    """Fold SQLite's write-ahead log into the database and close this connection, so the measuring
    process reads a database like a worker's, not a log this process still holds open."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def run_child(data_dir: Path, *args: str) -> dict[str, float]:
    env = dict(os.environ, PORTUS_DATA_DIR=str(data_dir))
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--advisories", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--inventories", type=int, default=1000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portus.settings")
        import django

        django.setup()
        result = child_match() if args.child[0] == "match" else child_rematch()
        print(json.dumps(result))
        return
    if len(args.advisories) > 1:
        # Django is set up once per process, with one database: one process per size.
        for count in args.advisories:
            command = [sys.executable, __file__, "--advisories", str(count), "--inventories", str(args.inventories)]
            subprocess.run(command, cwd=ROOT, check=True)
        return
    print(f"bench/scan_match.py, {load()}", flush=True)
    for count in args.advisories:
        data_dir = prepare_environment(f"portus-bench-scan-{count}-")
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from portus.security.advisories import import_advisories

        export = data_dir / "all.zip"
        write_export(export, count)
        started = time.perf_counter()
        imported = import_advisories(export)
        import_seconds = time.perf_counter() - started
        checkpoint()
        match = run_child(data_dir, "match")
        store_inventories(args.inventories)
        checkpoint()
        rematch = run_child(data_dir, "rematch")
        print(f"\n{count:,} advisories (imported in {import_seconds:.1f} s: {imported.summary()})")
        print(
            f"  inventory + match of one image of {IMAGE_PACKAGES} packages: {match['seconds']:.3f} s "
            f"({int(match['findings'])} findings; brief: <= 2 s)"
        )
        print(
            f"  peak memory of that step: tracemalloc {match['tracemalloc_peak_mib']:.1f} MiB, "
            f"process peak RSS {match['maxrss_mib']:.1f} MiB"
        )
        print(
            f"  re-match of {args.inventories:,} stored inventories: {rematch['seconds']:.1f} s "
            f"({int(rematch['findings']):,} findings; brief: <= 60 s; process peak RSS {rematch['maxrss_mib']:.1f} MiB)",
            flush=True,
        )


if __name__ == "__main__":
    main()
