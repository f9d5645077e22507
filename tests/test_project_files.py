"""The README's two commands, CI and the Slack manifest stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import ast

from bot.slack.manifest import BOT_SCOPES, COMMAND, EVENTS, render_manifest
from bot.slack.scopes import BOT_CALLS, METHOD_SCOPES, SDK_HELPERS

ROOT = Path(__file__).resolve().parents[1]


def readme_command(heading: str) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"## {heading}\n", 1)[1]
    return re.search(r"```sh\n(.+?)\n```", section, re.DOTALL).group(1).strip()


def test_readme_has_one_install_and_run_command_and_one_test_command():
    run = readme_command("Run it")
    tests = readme_command("Run the tests")
    assert "\n" not in run and run.endswith("compass-bot serve")
    assert "\n" not in tests and tests.endswith("pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_command("Run the tests") in ci.splitlines()


def test_procfile_runs_web_and_clock():
    procfile = (ROOT / "Procfile").read_text().splitlines()
    assert "web: compass-bot serve --no-clock" in procfile
    assert "clock: compass-bot clock" in procfile


def _manifest_list(manifest: str, key: str) -> list[str]:
    block = re.search(rf"^(\s*){key}:\n((?:\1\s+- .+\n)+)", manifest, re.MULTILINE)
    assert block, key
    return [line.split("- ", 1)[1].strip() for line in block.group(2).splitlines()]


def test_manifest_asks_for_exactly_the_scopes_commands_and_events_used():
    manifest = (ROOT / "slack-manifest.yml").read_text()
    assert sorted(_manifest_list(manifest, "bot")) == sorted(BOT_SCOPES)
    assert sorted(_manifest_list(manifest, "bot_events")) == sorted(EVENTS)
    assert re.findall(r"- command: (\S+)", manifest) == [COMMAND]


def test_manifest_file_is_the_generated_one():
    assert (ROOT / "slack-manifest.yml").read_text() == render_manifest(), "run: compass-bot manifest > slack-manifest.yml"


def _methods_called_in(path: Path) -> set[str]:
    """Web API method names the code passes to ``call(client, "x.y", ...)`` or ``client.api_call("x.y")``."""
    methods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        position = {"call": 1, "call_once": 1, "api_call": 0}.get(name)
        if position is None or len(node.args) <= position:
            continue
        argument = node.args[position]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str) and "." in argument.value:
            methods.update(SDK_HELPERS.get(argument.value, (argument.value,)))
    return methods


def test_every_method_the_bot_calls_has_its_scope_in_the_manifest():
    sources = [p for p in (ROOT / "bot").rglob("*.py") if not {"standin", "demo"} & set(p.parts)]
    called = set().union(*(_methods_called_in(p) for p in sources))
    assert len(called) >= 12, called  # the scan finds the calls (it cannot pass by finding none)
    assert called <= set(BOT_CALLS), f"add to BOT_CALLS in bot/slack/scopes.py: {sorted(called - set(BOT_CALLS))}"
    assert set(BOT_CALLS) <= set(METHOD_SCOPES)


def test_every_event_and_command_the_code_listens_to_is_in_the_manifest():
    code = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py") if "standin" not in p.parts)
    assert set(re.findall(r'app\.event\("([a-z_]+)"\)', code)) <= set(EVENTS)
    assert set(re.findall(r'app\.command\("([^"]+)"\)', code)) <= {COMMAND}
