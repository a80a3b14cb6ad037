"""The shipped example inventories load (`release init` writes them; people copy them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from release.inventory import load_environment

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", ["test", "prod"])
def test_example_inventories_load(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OA_TEST_DB_PASSWORD", "x" * 12)
    monkeypatch.setenv("OA_PROD_DB_PASSWORD", "y" * 12)
    (tmp_path / "inventory").mkdir()
    shutil.copy(ROOT / "release" / "skeleton" / "inventory" / f"{name}.yml", tmp_path / "inventory" / f"{name}.yml")
    env = load_environment(tmp_path / "inventory", name)
    assert env.inventory.app == "oa-portal" and env.inventory.database is not None


def test_the_demo_inventory_loads() -> None:
    env = load_environment(ROOT / "inventory", "demo")
    assert sorted(env.inventory.hosts) == ["web1", "web2"]
