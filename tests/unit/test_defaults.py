"""The built-in playbooks: found as package data, from a directory or from a zip, and named in errors."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from release import defaults
from release.errors import SourceError
from release.playbook.loader import load_playbook


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    defaults._on_disk.cache_clear()
    yield
    defaults._on_disk.cache_clear()


def test_the_built_in_playbooks_are_the_package_files(tmp_path: Path) -> None:
    deploy = defaults.playbook_path(tmp_path, "deploy")
    assert deploy is not None and deploy.parts[-2:] == ("playbooks", "deploy.yml") and deploy.is_file()
    assert load_playbook(deploy).plays
    assert defaults.playbook_path(tmp_path, "nothing-of-that-name") is None


def test_the_project_own_playbook_comes_first(tmp_path: Path) -> None:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "deploy.yml").write_text("[]\n")
    assert defaults.playbook_path(tmp_path, "deploy") == tmp_path / "playbooks" / "deploy.yml"


def test_from_a_zip_the_playbook_is_copied_out_under_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("release/playbooks/deploy.yml", "- hosts: all\n  tasks: 3\n")
    monkeypatch.setattr(defaults.resources, "files", lambda package: zipfile.Path(archive, f"{package}/"))
    project = tmp_path / "project"
    deploy = defaults.playbook_path(project, "deploy")
    assert deploy is not None and deploy.parts[-2:] == ("playbooks", "deploy.yml")
    assert defaults.playbook_path(project, "rollback") is None
    with pytest.raises(SourceError, match=r"playbooks/deploy\.yml:2: .*tasks must be a non-empty list"):
        load_playbook(deploy)
