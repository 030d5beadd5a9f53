"""Fails when portus/ holds a repeated block of six or more lines that .ci/duplicates-explained.txt does not explain.

Runs the workplace's `duplicates` command (same lines, or the same shape with other names) over portus/.
Each remaining pair must be listed by file pair with the reason it stays; migrations are generated and left out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPLAINED = ROOT / ".ci" / "duplicates-explained.txt"
ROW = re.compile(r"^D\d+ (?P<a>\S+?):\d+-\d+ ~ (?P<b>\S+?):\d+-\d+(?P<rest>.*)$")
MORE_PAIRS = re.compile(r"^\(\+\d+ more pairs\)")


def explained_pairs() -> set[frozenset[str]]:
    pairs: set[frozenset[str]] = set()
    for line in EXPLAINED.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        files, _, reason = line.partition(":")
        a, _, b = files.partition(" ~ ")
        if not reason.strip() or not b:
            sys.exit(f"{EXPLAINED}: {line!r} must read 'a.py ~ b.py: why the repetition stays'.")
        pairs.add(frozenset((a.strip(), b.strip())))
    return pairs


def main() -> int:
    if shutil.which("duplicates") is None:
        print("check_duplicates: the `duplicates` command is not installed here; repetition not checked.")
        return 1 if os.environ.get("CI") == "true" else 0
    result = subprocess.run(
        ["duplicates", "--repo", "portus", "--min-lines", "6", "--most", "200", "--seconds", "120"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.splitlines()
    if any(line.startswith("incomplete:") for line in lines):
        print("\n".join(lines))
        print("check_duplicates: the scan was incomplete; run it again.")
        return 1
    if any(MORE_PAIRS.match(line) for line in lines):
        # Rows past --most are not shown, so an unexplained pair could hide among them.
        print("\n".join(lines))
        print("check_duplicates: more pairs than one scan lists; remove repetition until they fit.")
        return 1
    allowed = explained_pairs()
    unexplained = []
    seen: set[frozenset[str]] = set()
    for line in lines:
        match = ROW.match(line)
        if not match:
            continue
        a, b = match["a"], match["b"]
        if "/migrations/" in f"/{a}" and "/migrations/" in f"/{b}":
            continue
        seen.add(frozenset((a, b)))
        if frozenset((a, b)) not in allowed:
            unexplained.append(line)
    for stale in sorted(" ~ ".join(sorted(pair)) for pair in allowed - seen):
        print(f"check_duplicates: note: {stale} no longer repeats; its line in {EXPLAINED.name} can go.")
    if unexplained:
        print("Repeated blocks in portus/ that .ci/duplicates-explained.txt does not explain:")
        print("\n".join(unexplained))
        print("Make one piece of code serve both places, or add 'a.py ~ b.py: reason' to the file.")
        return 1
    print(f"check_duplicates: {lines[0] if lines else 'no output'}; every remaining pair is explained.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
