"""A test run leaves the tracked tree as it was: browser screenshots go under build/ (ignored by git), and
only scripts/screenshots copies them into docs/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import browser

ROOT = Path(__file__).resolve().parents[1]


def test_every_screenshot_a_test_takes_goes_through_the_shared_helper() -> None:
    takers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if path.name != Path(__file__).name and re.search(r"\.screenshot\(", path.read_text())
    )
    assert takers == ["tests/support/browser.py"]


def test_the_helper_writes_under_build_which_git_ignores() -> None:
    assert browser.SCREENSHOTS.is_relative_to(ROOT / "build")
    assert "/build/" in (ROOT / ".gitignore").read_text().splitlines()


def test_only_the_screenshots_script_writes_into_docs_screenshots() -> None:
    writers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("tests", "portus", "scripts")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in ("", ".py", ".sh")
        and path.name != Path(__file__).name
        and re.search(r"(cp|copy|write|mkdir)[^\n]*docs/screenshots", path.read_text(errors="replace"))
    )
    assert writers == ["scripts/screenshots"]
