"""The rooms of the tree (README "How the code is laid out"): pyproject.toml's import-linter contracts
hold, each contract fails when its rule is broken, and no module grows past the size we can read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 650


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports(no_cache=True))"],
                          cwd=root, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(root), "PATH": ""})


def test_the_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


BREAKS = [
    ("bot/domain/_breach.py", "import storage.db\n", "The domain imports no Slack"),
    ("bot/domain/_breach.py", "import bot.flows.home\n", "Rooms"),
    ("storage/_breach.py", "import bot.slack.client\n", "Storage imports neither Slack nor the flows"),
    ("storage/_breach.py", "import slack_sdk\n", "Only bot.slack, bot.flows and the runtime speak to Slack"),
    ("bot/flows/_breach.py", "import bot.standin\n", "Only the demo imports the Slack stand-in"),
]


@pytest.mark.parametrize("path, source, contract", BREAKS, ids=[b[0] + ":" + b[1].strip() for b in BREAKS])
def test_each_contract_fails_when_its_rule_is_broken(tmp_path, path, source, contract):
    copy = tmp_path / "tree"
    copy.mkdir()
    for room in ("bot", "storage"):
        shutil.copytree(ROOT / room, copy / room, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (copy / path).write_text(source)
    result = _lint(copy)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and "_breach" in broken, result.stdout


def test_no_module_is_too_long_to_read():
    long = {str(p.relative_to(ROOT)): n for room in ("bot", "storage") for p in (ROOT / room).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES and "migrations" not in p.parts}
    assert long == {}, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"
