"""Strict patterns for every name that ends up in a path or a shell command, and release ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from release.errors import BadInput

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
RELEASE_ID = re.compile(r"^(\d{8}T\d{6}Z)-([A-Za-z0-9][A-Za-z0-9_.+-]{0,63})$")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def check_name(value: str, what: str) -> str:
    """Names of apps, hosts and environments: letters, digits, `_ . -`, no leading dot."""
    if not NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"{what} {value!r} may hold only letters, digits, '_', '.', '-' (and no '..')")
    return value


def check_version(value: str) -> str:
    """A version goes into paths and commands: refuse anything but a plain version string."""
    if not VERSION.fullmatch(value) or ".." in value:
        raise BadInput(
            f"--version {value!r} is not a valid version: use letters, digits and '.', '_', '+', '-' "
            "(for example 1.4.0 or 2.0.0-rc1)"
        )
    return value


def new_release_id(version: str, now: datetime) -> str:
    """The id of one deploy run: sortable by time and showing the version (20261124T190501Z-1.4.0)."""
    check_version(version)
    return f"{now.astimezone(UTC).strftime(STAMP_FORMAT)}-{version}"


def is_release_id(value: str) -> bool:
    """True for names that `new_release_id` could have made (everything else in releases/ is ignored)."""
    match = RELEASE_ID.fullmatch(value)
    return bool(match) and ".." not in value


def version_of(release_id: str) -> str:
    """The version part of a release id."""
    match = RELEASE_ID.fullmatch(release_id)
    if not match:
        raise ValueError(f"not a release id: {release_id!r}")
    return match.group(2)
