"""The inventories: the default one is this machine alone, and the README's
multi-node recipe (copy the example beside it) gets none of its local settings.

Runs ansible-inventory on copies of inventory/, so files added there later
(host_vars/, group_vars/) are part of what is checked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")
LOCAL_ONLY = {"ansible_connection", "ansible_python_interpreter", "edge_proxy_verify_address"}


def host_vars(inventory: Path, host: str) -> dict:
    if not ANSIBLE_INVENTORY.exists():
        pytest.skip("ansible-inventory is not installed beside this Python")
    result = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(inventory), "--host", host],
        capture_output=True,
        text=True,
        check=True,
        cwd=inventory.parent,
    )
    return json.loads(result.stdout)


@pytest.fixture
def inventory_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory", copy)
    return copy


def test_default_inventory_checks_this_machine_over_loopback(inventory_copy: Path) -> None:
    found = host_vars(inventory_copy / "hosts.yml", "swarm-manager-1")
    assert found["ansible_connection"] == "local"
    assert found["edge_proxy_verify_address"] == "127.0.0.1"


def test_multi_node_recipe_gets_none_of_the_local_settings(inventory_copy: Path) -> None:
    # The README's recipe: cp inventory/multi-node.example.yml inventory/multi-node.yml
    recipe = inventory_copy / "multi-node.yml"
    shutil.copy(inventory_copy / "multi-node.example.yml", recipe)
    for host in ("swarm-manager-1", "swarm-manager-2", "swarm-manager-3", "swarm-worker-1"):
        found = host_vars(recipe, host)
        assert LOCAL_ONLY.isdisjoint(found), f"{host} got {sorted(LOCAL_ONLY & set(found))}"
        assert found["ansible_host"].startswith("192.0.2.")
        assert "zone" in found["swarm_node_labels"]
