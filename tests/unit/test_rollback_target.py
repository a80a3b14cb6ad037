"""The rollback target, decided from the ledger's runs: tables of histories and what a rollback must pick."""

from __future__ import annotations

import pytest

from release.errors import BadInput, ExitStatus, Refused
from release.rollback_target import (
    RunFacts,
    bad_releases,
    ledger_current,
    plain_target,
    require_on_every_host,
    target_of_version,
)

R = {v: f"20261201T1{i}0000Z-{v}" for i, v in enumerate(["1.0.0", "1.1.0", "1.1.1", "1.2.0", "1.3.0"])}


def deploy(version: str, previous: str | None, status: str = "succeeded") -> RunFacts:
    return RunFacts("deploy", status, R[version], R[previous] if previous else None)


def rollback(to: str, undone: str, status: str = "succeeded") -> RunFacts:
    return RunFacts("rollback", status, R[to], R[undone])


# fmt: off
CASES = [
    pytest.param([deploy("1.0.0", None), deploy("1.1.0", "1.0.0")], ("1.1.0", "1.0.0"), id="previous-release"),
    # the case: 1.1.0 was rolled back as bad, 1.1.1 followed; undoing 1.1.1 must not bring 1.1.0 back
    pytest.param([deploy("1.0.0", None), deploy("1.1.0", "1.0.0"), rollback("1.0.0", "1.1.0"),
                  deploy("1.1.1", "1.0.0")], ("1.1.1", "1.0.0"), id="never-the-release-rolled-back"),
    pytest.param([deploy("1.0.0", None), deploy("1.1.0", "1.0.0"), deploy("1.2.0", "1.1.0"),
                  rollback("1.1.0", "1.2.0")], ("1.1.0", "1.0.0"), id="second-rollback-goes-further"),
    pytest.param([deploy("1.0.0", None), deploy("1.1.0", "1.0.0"), deploy("1.2.0", "1.1.0", "failed")],
                 ("1.1.0", "1.0.0"), id="a-failed-deploy-is-not-current"),
    # a deploy killed after switching left the hosts on 1.1.0; the re-run saw that as its previous release
    pytest.param([deploy("1.0.0", None), deploy("1.1.0", "1.0.0", "interrupted"), deploy("1.1.1", "1.1.0")],
                 ("1.1.1", "1.0.0"), id="through-an-interrupted-deploy"),
    # ledgers written before previous_release_id was recorded: the run before stands in for it
    pytest.param([RunFacts("deploy", "succeeded", R["1.0.0"], None), RunFacts("deploy", "succeeded", R["1.1.0"], None)],
                 ("1.1.0", "1.0.0"), id="old-ledger-without-previous"),
    pytest.param([deploy("1.0.0", None), deploy("1.1.0", "1.0.0"), RunFacts("restore", "succeeded", None, None)],
                 ("1.1.0", "1.0.0"), id="a-restore-is-no-release"),
    pytest.param([], None, id="empty-ledger"),
]
# fmt: on


@pytest.mark.parametrize(("runs", "expected"), CASES)
def test_plain_target(runs: list[RunFacts], expected: tuple[str, str] | None) -> None:
    decided = plain_target(runs)
    assert (decided[:2] if decided else None) == ((R[expected[0]], R[expected[1]]) if expected else None)


def test_a_deploy_killed_after_its_switch_is_the_one_undone() -> None:
    # every host is on 1.2.0, whose run died (interrupted): undo it, not 1.1.0 beneath it
    runs = [deploy("1.0.0", None), deploy("1.1.0", "1.0.0"), deploy("1.2.0", "1.1.0", "interrupted")]
    assert plain_target(runs, on_hosts=R["1.2.0"]) == (R["1.2.0"], R["1.1.0"], False)
    assert plain_target(runs, on_hosts=None) == (R["1.1.0"], R["1.0.0"], False)


def test_a_release_brought_back_with_to_is_trusted_again() -> None:
    runs = [deploy("1.0.0", None), deploy("1.1.0", "1.0.0"), rollback("1.0.0", "1.1.0"), rollback("1.1.0", "1.0.0")]
    assert bad_releases(runs) == set()
    assert plain_target(runs)[:2] == (R["1.1.0"], R["1.0.0"])  # type: ignore[index]
    runs.append(deploy("1.2.0", "1.1.0"))
    assert plain_target(runs)[:2] == (R["1.2.0"], R["1.1.0"])  # type: ignore[index]


def test_old_mixed_rollback_ids_are_no_release() -> None:
    mixed = RunFacts("rollback", "succeeded", f"{R['1.0.0']},{R['1.1.0']}", R["1.2.0"])
    runs = [deploy("1.0.0", None), deploy("1.1.0", "1.0.0"), mixed]
    assert ledger_current(runs) == R["1.1.0"]


def test_nothing_before_the_first_release() -> None:
    with pytest.raises(BadInput, match="no release before .*1.0.0 in the ledger"):
        plain_target([deploy("1.0.0", None)])


def test_every_earlier_release_bad_is_refused_with_the_way_out() -> None:
    runs = [deploy("1.0.0", None, "failed"), deploy("1.1.0", "1.0.0")]  # the only earlier release failed
    with pytest.raises(BadInput, match="--to VERSION"):
        plain_target(runs)


def test_current_and_bad_releases() -> None:
    runs = [
        deploy("1.0.0", None),
        deploy("1.1.0", "1.0.0"),
        rollback("1.0.0", "1.1.0"),
        deploy("1.2.0", "1.0.0", "failed"),
    ]
    assert ledger_current(runs) == R["1.0.0"]
    assert bad_releases(runs) == {R["1.1.0"], R["1.2.0"]}


def test_a_host_without_the_target_is_refused_with_exit_3() -> None:
    with pytest.raises(Refused) as caught:
        require_on_every_host(R["1.0.0"], {"h1": [R["1.0.0"], R["1.1.0"]], "h2": [R["1.1.0"]]})
    assert caught.value.exit_status == ExitStatus.REFUSED
    assert "h2" in str(caught.value) and "--to VERSION" in str(caught.value)


def test_to_version_picks_one_release_every_host_has() -> None:
    hosts = {"h1": [R["1.0.0"], R["1.1.0"], R["1.2.0"]], "h2": [R["1.0.0"], R["1.2.0"]]}
    currents: dict[str, str | None] = {"h1": R["1.2.0"], "h2": R["1.2.0"]}
    assert target_of_version("1.0.0", hosts, currents, set()) == R["1.0.0"]
    with pytest.raises(Refused, match="h2"):
        target_of_version("1.1.0", hosts, currents, set())
    with pytest.raises(BadInput, match="no release of version 9.9.9"):
        target_of_version("9.9.9", hosts, currents, set())
    with pytest.raises(BadInput, match="already current"):
        target_of_version("1.2.0", hosts, currents, set())
