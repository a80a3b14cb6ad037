"""docs/inventory.md: generated from the models, committed, and never out of date or incomplete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from release import reference
from release.errors import SourceError
from release.inventory import load_environment
from release.yamlsrc import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "inventory.md"
REGENERATE = f"regenerate it: {reference.COMMAND}"

# Every key of the example inventory in the architecture contract (tests/unit/test_inventory.py, CONTRACT_PROD).
CONTRACT_KEYS = [
    "app", "deploy_to", "keep_releases", "shared_paths", "artifact",
    "ssh.user", "ssh.identity_file", "ssh.known_hosts",
    "hosts.*.address", "hosts.*.port", "hosts.*.roles", "hosts.*.connection",
    "window.timezone", "window.open", "window.close", "window.calendar", "window.extra_holidays",
    "window.extra_workdays", "window.freeze", "window.rollback",
    "database.engine", "database.host", "database.port", "database.name", "database.user", "database.password",
    "database.dump_via",
    "service.restart",
    "health.url", "health.expect_status", "health.timeout",
    "backup.schedule", "backup.storage",
    "backup.retention.keep_last", "backup.retention.keep_hourly", "backup.retention.keep_daily",
    "backup.retention.keep_weekly", "backup.retention.keep_monthly", "backup.retention.keep_yearly",
    "backup.retention.keep_within",
]  # fmt: skip
# The inventories users start from: every key they use must be documented too.
EXAMPLES = [ROOT / "release/skeleton/inventory/prod.yml", ROOT / "release/skeleton/inventory/test.yml"]
EXAMPLES += [ROOT / "inventory/demo.yml"]


def documented(text: str) -> dict[str, set[str]]:
    """The keys of each section of the Markdown: {"": {"app", …}, "hosts.<name>": {"address", …}, …}."""
    sections: dict[str, set[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = "" if line == "## Top level" else line[3:].strip("`")
            sections[current] = set()
        elif current is not None and line.startswith("| `"):
            sections[current].add(line.split("`")[1])
    return sections


def in_doc(path: str, sections: dict[str, set[str]]) -> bool:
    parent, _, name = path.replace("*", reference.NAME).rpartition(".")
    return name in sections.get(parent, set())


def dotted_keys(data: Any, prefix: str = "") -> list[str]:
    """`{"hosts": {"app1": {"port": 22}}}` -> ["hosts", "hosts.*.port"]: a host's name is no key."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            found.append(path)
            if key == "hosts" and not prefix and isinstance(value, dict):
                for host in value.values():
                    found += dotted_keys(host, "hosts.*")
            else:
                found += dotted_keys(value, path)
    return found


def test_the_committed_reference_is_the_generated_one() -> None:
    assert DOC.exists(), REGENERATE
    assert DOC.read_text(encoding="utf-8") == reference.render(), f"docs/inventory.md is out of date: {REGENERATE}"


def test_it_says_how_it_is_made() -> None:
    assert f"Generated from the models by `{reference.COMMAND}`" in reference.render().splitlines()[2]


def test_every_key_has_a_description() -> None:
    """A new key of the models needs `Field(description=...)` or an entry in reference.DESCRIPTIONS."""
    assert reference.missing_descriptions() == []


def test_no_description_is_left_over_from_a_renamed_key() -> None:
    assert reference.unused_descriptions() == []


def test_descriptions_are_one_short_line() -> None:
    for key in reference.all_keys():
        assert key.description and "\n" not in key.description and len(key.description) <= 160, key.path


@pytest.mark.parametrize("path", CONTRACT_KEYS)
def test_every_key_of_the_contract_is_in_the_reference(path: str) -> None:
    assert in_doc(path, documented(DOC.read_text(encoding="utf-8"))), path


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_key_of_the_examples_is_in_the_reference(example: Path) -> None:
    sections = documented(DOC.read_text(encoding="utf-8"))
    keys = dotted_keys(yaml.safe_load(example.read_text(encoding="utf-8")))
    assert keys and [path for path in keys if not in_doc(path, sections)] == []


def test_the_sections_follow_the_models() -> None:
    assert [block.path for block in reference.blocks()] == [
        "", "ssh", "hosts.<name>", "window", "database", "service", "health", "backup", "backup.retention",
        "backup.remote",
    ]  # fmt: skip


def test_types_and_defaults_read_as_a_user_writes_them() -> None:
    keys = {key.path: key for key in reference.all_keys()}
    assert (keys["keep_releases"].type, keys["keep_releases"].default) == ("whole number, 2 to 100", "`5`")
    assert (keys["app"].type, keys["app"].default) == ("text", "required")
    assert keys["database.engine"].type == "one of: postgresql, mysql, sqlite"
    assert keys["shared_paths"].type == "list of text"
    assert (keys["window.open"].type, keys["window.open"].default) == ('time "HH:MM"', '`"18:30"`')
    assert keys["window.extra_holidays"].type == "list of dates YYYY-MM-DD"
    assert "`none`" in keys["window"].type and "mapping" in keys["window"].type
    assert (keys["backup.max_age"].default, keys["database.port"].default) == ("`26h`", "—")
    assert keys["hosts.<name>.port"].type == "whole number, 1 to 65535"
    assert keys["health.delay"].type == "number, 0 or more"


def test_a_field_description_wins_over_the_table() -> None:
    class Block(BaseModel):
        documented: int = 0

    class Top(BaseModel):
        app: str = Field("", description="From the model.")  # reference.DESCRIPTIONS has "app" too
        block: Block = Block()

    keys = {key.path: key.description for block in reference.blocks(Top) for key in block.keys}
    assert keys["app"] == "From the model."
    assert keys["block.documented"] is None  # no text anywhere: missing_descriptions would name it


def test_python_m_release_reference_prints_it() -> None:
    done = subprocess.run([sys.executable, "-m", "release.reference"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == reference.render()


# --- the unknown-key message points at the reference --------------------------------------------------


def test_an_unknown_inventory_key_points_at_docs_inventory_md(tmp_path: Path) -> None:
    (tmp_path / "inventory").mkdir()
    text = "app: oa\ndeploy_to: /opt/oa\nartifact: a.tar.gz\nhosts:\n  app1: {address: 10.0.0.1, rolse: [app]}\n"
    (tmp_path / "inventory" / "test.yml").write_text(text)
    with pytest.raises(SourceError) as failed:
        load_environment(tmp_path / "inventory", "test")
    assert "hosts.app1.rolse: unknown key (check its spelling against docs/inventory.md)" in str(failed.value)


def test_other_files_keep_the_general_hint() -> None:
    """The same message serves playbooks, which docs/inventory.md does not describe."""

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")
        paths: list[str] = []

    source = parse_yaml("- paths: []\n  pathz: []\n", Path("playbooks/deploy.yml"), "playbooks/deploy.yml")
    with pytest.raises(ValidationError) as invalid:
        Args.model_validate({"paths": [], "pathz": []})
    message = str(source.validation_error(invalid.value, (0,)))
    assert "unknown key (check its spelling against the documentation)" in message
