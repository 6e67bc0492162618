"""The dependency files agree with pyproject.toml: every declared dependency has its floor in
.ci/floors.txt (which CI installs and tests) and is pinned within its range in requirements.lock
(which the Docker image installs)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RUNTIME = [Requirement(line) for line in PROJECT["dependencies"]]
TEST = [Requirement(line) for line in PROJECT["optional-dependencies"]["test"]]


def pins(path: Path) -> dict[str, Version]:
    """`name==version` lines (hash and comment lines aside), by canonical name."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", line):
            found[canonicalize_name(match[1])] = Version(match[2])
    return found


def floor(requirement: Requirement) -> Version:
    [lowest] = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    return lowest


def test_every_declared_dependency_has_its_floor_in_the_constraints() -> None:
    floors = pins(ROOT / ".ci" / "floors.txt")
    for requirement in RUNTIME + TEST:
        assert floors.get(canonicalize_name(requirement.name)) == floor(requirement), requirement


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    locked = pins(ROOT / "requirements.lock")
    for requirement in RUNTIME:
        version = locked.get(canonicalize_name(requirement.name))
        assert version is not None and version in requirement.specifier, requirement
    # and what the extras bring: psycopg[binary], sqlalchemy[asyncio], PTB's rate-limiter
    assert locked["psycopg-binary"] == locked["psycopg"]
    assert {"greenlet", "aiolimiter"} <= locked.keys()
