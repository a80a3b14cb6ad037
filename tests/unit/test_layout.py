"""Release ids and names (validate.py), the on-host layout (layout.py), and the rollback target."""

from __future__ import annotations

import os
import random
import shlex
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from release.errors import BadInput, ExitStatus
from release.layout import artifact_path, cleanup_plan, release_path, releases_dir, switch_command
from release.rollback import choose_target
from release.validate import check_name, check_version, is_release_id, new_release_id, version_of

# --- versions ------------------------------------------------------------------------------------


def version_message(value: str) -> str:
    return (
        f"--version {value!r} is not a valid version: use letters, digits and '.', '_', '+', '-' "
        "(for example 1.4.0 or 2.0.0-rc1)"
    )


# fmt: off
@pytest.mark.parametrize("value", [
    pytest.param("1.0;rm -rf /", id="semicolon-command"),
    pytest.param("$(id)", id="command-substitution"),
    pytest.param("`id`", id="backticks"),
    pytest.param("1.0`id`", id="backticks-after-version"),
    pytest.param("../x", id="path-up"),
    pytest.param("1/2", id="slash"),
    pytest.param("1..2", id="double-dot"),
    pytest.param("", id="empty"),
    pytest.param(" 1.0", id="leading-space"),
    pytest.param("a b", id="inner-space"),
    pytest.param(".1", id="leading-dot"),
    pytest.param("-1", id="leading-dash-looks-like-an-option"),
    pytest.param("1" * 65, id="65-chars"),
    pytest.param("1.0'", id="quote"),
    pytest.param("1.0\n2.0", id="inner-newline"),
    pytest.param("1.0\n", id="trailing-newline"),
    pytest.param("版本1", id="non-ascii"),
])
# fmt: on
def test_check_version_refuses(value: str) -> None:
    with pytest.raises(BadInput) as caught:
        check_version(value)
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert str(caught.value) == version_message(value)


@pytest.mark.parametrize("value", ["1.4.0", "2.0.0-rc1", "1.0+build.5", "v3_1", "7", "1" * 64])
def test_check_version_accepts(value: str) -> None:
    assert check_version(value) == value


@pytest.mark.parametrize("value", ["prod", "app-1", "oa_portal.v2", "a" * 64])
def test_check_name_accepts(value: str) -> None:
    assert check_name(value, "host name") == value


@pytest.mark.parametrize(
    "value",
    ["", "../prod", "a/b", ".hidden", "a..b", "a b", "-x", "a" * 65, "prod\n"],
)
def test_check_name_refuses(value: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_name(value, "host name")
    assert str(caught.value) == f"host name {value!r} may hold only letters, digits, '_', '.', '-' (and no '..')"


# --- release ids ---------------------------------------------------------------------------------

# fmt: off
@pytest.mark.parametrize(("now", "version", "expected"), [
    pytest.param(datetime(2026, 11, 24, 19, 5, 1, tzinfo=UTC), "1.4.0", "20261124T190501Z-1.4.0", id="utc"),
    pytest.param(datetime(2026, 11, 25, 3, 5, 1, tzinfo=ZoneInfo("Asia/Shanghai")), "1.4.0",
                 "20261124T190501Z-1.4.0", id="shanghai-next-day"),
    pytest.param(datetime(2026, 11, 24, 14, 5, 1, tzinfo=ZoneInfo("America/New_York")), "2.0.0-rc1",
                 "20261124T190501Z-2.0.0-rc1", id="new-york"),
    pytest.param(datetime(2026, 11, 24, 19, 5, 1, 999_999, tzinfo=timezone(timedelta(hours=-1, minutes=-30))),
                 "1.0+build.5", "20261124T203501Z-1.0+build.5", id="odd-offset-microseconds-dropped"),
])
# fmt: on
def test_new_release_id(now: datetime, version: str, expected: str) -> None:
    release_id = new_release_id(version, now)
    assert release_id == expected
    assert is_release_id(release_id)
    assert version_of(release_id) == version


def test_new_release_id_checks_the_version() -> None:
    with pytest.raises(BadInput, match="is not a valid version"):
        new_release_id("1.0;reboot", datetime(2026, 11, 24, tzinfo=UTC))


def test_release_ids_sort_by_time_whatever_the_version_or_zone() -> None:
    start = datetime(2026, 11, 24, 23, 59, 58, tzinfo=UTC)
    zones = [UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/Los_Angeles")]
    versions = ["9.9", "10.0", "1.0", "a", "0.1-rc1"]
    moments = [start + timedelta(seconds=s) for s in (0, 1, 2, 3600, 86400 * 40)]
    pairs = enumerate(zip(versions, moments, strict=True))
    ids = [new_release_id(v, m.astimezone(zones[i % len(zones)])) for i, (v, m) in pairs]
    shuffled = ids[:]
    random.Random(5).shuffle(shuffled)
    assert sorted(shuffled) == ids


# fmt: off
@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("20261124T190501Z-1.4.0", True, id="release"),
    pytest.param("20261124T190501Z-2.0.0-rc1", True, id="release-rc"),
    pytest.param("current", False, id="current"),
    pytest.param(".20261124T190501Z-1.4.0.partial", False, id="partial-unpack"),
    pytest.param("20261124T190501Z-", False, id="no-version"),
    pytest.param("20261124T190501Z-1..2", False, id="double-dot-version"),
    pytest.param("20261124T190501Z-../x", False, id="path-version"),
    pytest.param("20261124T190501-1.4.0", False, id="no-Z"),
    pytest.param("20261124T1905Z-1.4.0", False, id="short-stamp"),
    pytest.param("1.4.0", False, id="bare-version"),
    pytest.param("20261124T190501Z-1.4.0\n", False, id="trailing-newline"),
])
# fmt: on
def test_is_release_id(name: str, expected: bool) -> None:
    assert is_release_id(name) is expected


@pytest.mark.parametrize("name", ["current", "1.4.0", "20261124T190501Z-"])
def test_version_of_refuses_non_ids(name: str) -> None:
    with pytest.raises(ValueError, match=f"^not a release id: {name!r}$"):
        version_of(name)


# --- paths and cleanup ---------------------------------------------------------------------------

RID = "20261124T190501Z-1.4.0"


def test_layout_paths() -> None:
    assert releases_dir("/opt/oa") == "/opt/oa/releases"
    assert release_path("/opt/oa", RID) == f"/opt/oa/releases/{RID}"
    assert artifact_path("/opt/oa", "ab" * 32) == f"/opt/oa/.release/artifacts/{'ab' * 32}.tar.gz"


def r(n: int) -> str:
    """The n-th release (1 is the oldest)."""
    return f"202611{n:02d}T120000Z-1.{n}"


R = [r(n) for n in range(1, 8)]  # R[0] oldest .. R[6] newest

# fmt: off
CLEANUP_CASES = [
    # id, releases, keep, current, previous, doomed
    pytest.param([], 5, None, None, [], id="nothing-there"),
    pytest.param(R[:3], 5, R[2], R[1], [], id="fewer-than-keep"),
    pytest.param(R[:5], 5, R[4], R[3], [], id="exactly-keep"),
    pytest.param(R, 5, R[6], R[5], R[:2], id="oldest-two-go"),
    pytest.param(R, 2, R[6], R[5], R[:5], id="keep-two"),
    pytest.param(R, 2, R[6], R[1], [R[0], R[2], R[3], R[4]], id="previous-is-old-and-kept"),
    pytest.param(R, 2, R[0], R[6], R[1:5], id="rolled-back-current-is-the-oldest"),
    pytest.param(R, 3, R[0], R[1], R[2:4], id="current-and-previous-both-old"),
    pytest.param(R, 3, None, None, R[:4], id="no-current"),
    pytest.param(R, 0, R[6], R[5], R[:5], id="keep-zero-still-protects"),
    pytest.param(R, 5, "20991231T000000Z-x", None, R[:2], id="current-not-in-list"),
    pytest.param([R[3], R[0], R[6], R[1], R[5], R[2], R[4]], 5, R[6], R[5], R[:2], id="unsorted-input"),
]
# fmt: on


@pytest.mark.parametrize(("releases", "keep", "current", "previous", "doomed"), CLEANUP_CASES)
def test_cleanup_plan(releases: list[str], keep: int, current: str | None, previous: str | None,
                      doomed: list[str]) -> None:  # fmt: skip
    assert cleanup_plan(releases, keep, current, previous) == doomed


@given(
    releases=st.lists(st.sampled_from(R), unique=True),
    keep=st.integers(1, 8),
    data=st.data(),
)
def test_cleanup_never_removes_current_or_previous_and_keeps_the_newest(
    releases: list[str], keep: int, data: st.DataObject
) -> None:
    current = data.draw(st.sampled_from([None, *releases]))
    previous = data.draw(st.sampled_from([None, *releases]))
    doomed = cleanup_plan(releases, keep, current, previous)
    assert current not in doomed and previous not in doomed
    assert set(doomed) <= set(releases)
    assert not set(doomed) & set(sorted(releases)[-keep:])
    assert doomed == sorted(doomed)
    # everything else beyond the newest `keep` goes
    assert set(releases) - set(doomed) == set(sorted(releases)[-keep:]) | ({current, previous} & set(releases))


# --- switching current ---------------------------------------------------------------------------


def test_switch_command_plain() -> None:
    assert switch_command("/opt/oa", RID) == (
        f"test -d /opt/oa/releases/{RID} && "
        f"ln -sfn releases/{RID} /opt/oa/.current.tmp.{RID} && "
        f"mv -Tf /opt/oa/.current.tmp.{RID} /opt/oa/current"
    )


@pytest.mark.parametrize(
    "deploy_to",
    [
        pytest.param("/srv/my app", id="space"),
        pytest.param('/srv/it\'s "here"', id="quotes"),
        pytest.param("/srv/$(reboot)/`id`;x", id="shell-syntax"),
        pytest.param("/srv/a\tb*", id="tab-and-glob"),
    ],
)
def test_switch_command_quotes_paths(deploy_to: str) -> None:
    tokens = shlex.split(switch_command(deploy_to, RID))
    tmp = f"{deploy_to}/.current.tmp.{RID}"
    assert tokens == [
        "test", "-d", f"{deploy_to}/releases/{RID}", "&&",
        "ln", "-sfn", f"releases/{RID}", tmp, "&&",
        "mv", "-Tf", tmp, f"{deploy_to}/current",
    ]  # fmt: skip


def test_switch_is_link_then_rename_never_rm() -> None:
    tokens = shlex.split(switch_command("/opt/oa", RID))
    commands = [tokens[0]] + [tokens[i + 1] for i, t in enumerate(tokens) if t == "&&"]
    assert commands == ["test", "ln", "mv"]
    assert "rm" not in tokens
    mv_flags = tokens[tokens.index("mv") + 1]
    assert mv_flags.startswith("-") and "T" in mv_flags  # -T: replace the link itself, never move into it


@pytest.mark.skipif(os.name != "posix", reason="runs the command with sh")
def test_switch_command_runs_in_a_path_with_spaces(tmp_path: Path) -> None:
    deploy_to = tmp_path / "my app's dir"
    old, new = r(1), r(2)
    for rid in (old, new):
        (deploy_to / "releases" / rid).mkdir(parents=True)
    for rid in (old, new, old):
        subprocess.run(["sh", "-c", switch_command(str(deploy_to), rid)], check=True)
        current = deploy_to / "current"
        assert current.is_symlink() and os.readlink(current) == f"releases/{rid}"
    assert sorted(p.name for p in deploy_to.iterdir()) == ["current", "releases"]  # no temporary link left
    assert sorted(p.name for p in (deploy_to / "releases").iterdir()) == [old, new]  # nothing moved into a release
    missing = subprocess.run(["sh", "-c", switch_command(str(deploy_to), r(3))], check=False)
    assert missing.returncode != 0
    assert os.readlink(deploy_to / "current") == f"releases/{old}"


# --- the rollback target -------------------------------------------------------------------------

V = {n: f"2026110{n}T120000Z-{v}" for n, v in enumerate(["1.0", "1.1", "1.1", "1.2", "1.3"], start=1)}
ALL = [V[1], V[2], V[3], V[4], V[5]]  # V[2] and V[3] are both version 1.1 (deployed twice)
GOOD = set(ALL)

# fmt: off
TARGET_CASES = [
    # id, current, releases, good (ledger's succeeded ids), to, expected
    pytest.param(V[5], ALL, GOOD, None, V[4], id="previous-good-release"),
    pytest.param(V[5], ALL, GOOD - {V[4]}, None, V[3], id="failed-release-skipped"),
    pytest.param(V[5], ALL, {V[1], V[5]}, None, V[1], id="several-failed-skipped"),
    pytest.param(V[5], ALL, set(), None, V[4], id="no-ledger-records-newest-older"),
    pytest.param(V[3], ALL, GOOD, None, V[2], id="already-rolled-back-goes-further"),
    pytest.param(V[5], [V[5], V[1], V[4], V[2]], GOOD, None, V[4], id="unsorted-releases"),
    pytest.param(None, ALL, GOOD, None, V[5], id="no-current-link-newest"),
    pytest.param(V[5], ALL, GOOD, "1.1", V[3], id="to-newest-of-that-version"),
    pytest.param(V[5], ALL, GOOD - {V[3]}, "1.1", V[2], id="to-skips-failed-of-that-version"),
    pytest.param(V[5], ALL, set(), "1.1", V[3], id="to-without-ledger"),
    pytest.param(V[2], ALL, GOOD, "1.3", V[5], id="to-may-go-forward"),
    pytest.param(V[3], ALL, GOOD, "1.1", V[2], id="to-own-version-other-release"),
]
# fmt: on


@pytest.mark.parametrize(("current", "releases", "good", "to", "expected"), TARGET_CASES)
def test_choose_target(current: str | None, releases: list[str], good: set[str], to: str | None,
                       expected: str) -> None:  # fmt: skip
    assert choose_target(current, releases, good, to) == expected


# fmt: off
@pytest.mark.parametrize(("current", "releases", "to", "message"), [
    pytest.param(V[1], ALL, None, f"no release before {V[1]} on the host: nothing to roll back to",
                 id="nothing-older"),
    pytest.param(V[1], [V[1]], None, f"no release before {V[1]} on the host: nothing to roll back to",
                 id="only-current"),
    pytest.param(V[5], ALL, "9.9", f"no release of version 9.9 on the host (releases: {', '.join(ALL)})",
                 id="to-unknown-version"),
    pytest.param(V[5], [V[1], V[5]], "1.3", f"version 1.3 is already current ({V[5]})", id="to-is-only-current"),
    pytest.param(None, [], "1.0", "no release of version 1.0 on the host (releases: none)", id="to-empty-host"),
])
# fmt: on
def test_choose_target_refuses(current: str | None, releases: list[str], to: str | None, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        choose_target(current, releases, GOOD, to)
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert str(caught.value) == message


def test_rollback_refuses_when_no_earlier_release_succeeded() -> None:
    # The ledger knows good releases, but none older than current: they failed (or predate the ledger).
    with pytest.raises(BadInput, match="name one with --to VERSION"):
        choose_target(V[5], ALL, {V[5]}, None)
