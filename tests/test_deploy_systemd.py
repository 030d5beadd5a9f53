"""The systemd units of a host install are valid and hardened, as systemd itself judges them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest

from tests.conftest import require

UNITS = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
NAMES = ["portus-web.service", "portus-worker.service"]
INSTALLED_PORTUSCTL = "/opt/portus/venv/bin/portusctl"


def unit(name: str) -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def units_pointing_at_this_portusctl(tmp_path: Path) -> list[Path]:
    """Copies whose ExecStart names this checkout's portusctl: verify checks that the program exists."""
    portusctl = Path(sys.executable).parent / "portusctl"
    require(portusctl.exists(), f"{portusctl} missing (pip install -e .)")
    copies = []
    for name in NAMES:
        copy = tmp_path / name
        copy.write_text((UNITS / name).read_text().replace(INSTALLED_PORTUSCTL, str(portusctl)))
        copies.append(copy)
    return copies


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    require(found is not None, "systemd-analyze is not installed (apt-get install systemd)")
    return str(found)


def test_systemd_analyze_verify_finds_nothing_wrong_in_the_units(tmp_path: Path) -> None:
    result = subprocess.run(
        [systemd_analyze(), "verify", *map(str, units_pointing_at_this_portusctl(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", NAMES)
def test_systemd_rates_each_unit_as_well_confined(name: str, tmp_path: Path) -> None:
    copies = {copy.name: copy for copy in units_pointing_at_this_portusctl(tmp_path)}
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", str(copies[name])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    # 0 is fully confined, 10 not at all; systemd calls up to 2.0 "OK".
    assert float(found.group(1)) <= 2.0


@pytest.mark.parametrize("name", NAMES)
def test_each_unit_runs_portusctl_unprivileged_with_the_hardening_options(name: str) -> None:
    service = unit(name)["Service"]
    assert service["ExecStart"].startswith(INSTALLED_PORTUSCTL + " ")
    assert service["User"] == "portus"
    assert service["EnvironmentFile"] == "/etc/portus/portus.env"
    for option, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "ReadWritePaths": "/var/lib/portus",
    }.items():
        assert service[option] == value, option


def test_the_web_unit_serves_and_the_worker_unit_runs_the_background_worker() -> None:
    assert unit("portus-web.service")["Service"]["ExecStart"].split()[1] == "serve"
    assert unit("portus-worker.service")["Service"]["ExecStart"].split()[1] == "background"
