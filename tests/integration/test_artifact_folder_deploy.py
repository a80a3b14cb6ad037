"""A tar of `oa-1.2.0/…` deploys as the application, not as current/oa-1.2.0/ (issue 11): real deploys."""

from __future__ import annotations

from pathlib import Path

from tests.support.project import Project, local_env


def test_an_artifact_in_one_folder_deploys_its_contents(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root))
    project.artifact("1.2.0", {"oa-1.2.0/index.html": "<p>1.2.0</p>\n", "oa-1.2.0/static/app.js": "go()\n"})
    plan = project.run("deploy", "test", "--version", "1.2.0", "--dry-run")
    said = " ".join(plan.stdout.split())  # the plan's lines wrap at the console's width
    assert plan.code == 0 and "(the contents of its one folder oa-1.2.0/)" in said, plan.stdout
    deployed = project.run("deploy", "test", "--version", "1.2.0")
    assert deployed.code == 0, deployed.stderr
    for host in ("web1", "web2"):
        current = project.root / "hosts" / host / "current"
        assert (current / "index.html").read_text() == "<p>1.2.0</p>\n"
        assert (current / "static" / "app.js").exists() and not (current / "oa-1.2.0").exists()
