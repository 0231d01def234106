"""The checked-in constraints file pins exactly what pyproject.toml's ranges allow, for every dependency."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, Version]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            found[canonicalize_name(name)] = Version(version)
    return found


def test_every_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    pinned = pins()
    for spec in map(Requirement, declared):
        name = canonicalize_name(spec.name)
        assert name in pinned, f"{spec.name} is not in constraints.txt: run .ci/refresh-constraints"
        assert spec.specifier.contains(pinned[name], prereleases=True), f"{spec} excludes the pin {pinned[name]}"
