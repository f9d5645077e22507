"""Copy Slack's own samples into this folder (run by hand; see README.md here).

    python tests/slack_samples/collect.py JAVA_SLACK_SDK_GIT_DIR BOLT_PYTHON_GIT_DIR

Web API answers come from slackapi/java-slack-sdk ``json-logs/samples/api/<method>.json`` (one per
method in ``bot.slack.scopes.BOT_CALLS``), with every ``blocks`` and ``attachments`` subtree removed:
those are Block Kit schemas (over 99% of the bytes of the larger files) and the bot reads none of them
from an answer. Inbound payloads are bolt-python's test payloads, copied as literals from its test
modules (``ast.literal_eval``), plus java-slack-sdk's ``user_change`` event (bolt-python has none).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
API_EXTRA = ("apps.connections.open",)  # Socket Mode's opening call (made by slack_sdk's client)
BOLT_PAYLOADS = {  # file name here -> (test module, variable name, the test function it sits in or "")
    "slash_command.txt": ("tests/scenario_tests/test_slash_command.py", "slash_command_body", ""),
    "block_actions.json": ("tests/scenario_tests/test_block_actions.py", "body", ""),
    "view_submission.json": ("tests/scenario_tests/test_view_submission.py", "body", ""),
    "view_closed.json": ("tests/scenario_tests/test_view_closed.py", "body", ""),
    "app_home_opened_org_install.json": ("tests/scenario_tests/test_events_org_apps.py", "event_payload", "test_app_home_opened"),
}
JAVA_EVENTS = {"user_change.json": "json-logs/samples/events/UserChangePayload.json"}


def git_show(repo: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", repo, "show", f"HEAD:{path}"], check=True, capture_output=True, text=True).stdout


def head(repo: str) -> str:
    return subprocess.run(["git", "--git-dir", repo, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def without_blocks(value):  # noqa: ANN001, ANN201
    if isinstance(value, dict):
        return {k: without_blocks(v) for k, v in value.items() if k not in ("blocks", "attachments")}
    if isinstance(value, list):
        return [without_blocks(v) for v in value]
    return value


def literal(source: str, name: str, function: str):  # noqa: ANN201
    tree = ast.parse(source)
    scope = tree
    if function:
        scope = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{name} not found")


def main(java: str, bolt: str) -> None:
    sys.path.insert(0, str(HERE.parent.parent))
    from bot.slack.scopes import BOT_CALLS

    (HERE / "api").mkdir(exist_ok=True)
    (HERE / "inbound").mkdir(exist_ok=True)
    for method in sorted(BOT_CALLS) + list(API_EXTRA):
        sample = without_blocks(json.loads(git_show(java, f"json-logs/samples/api/{method}.json")))
        (HERE / "api" / f"{method}.json").write_text(json.dumps(sample, indent=2) + "\n")
    for name, (module, variable, function) in BOLT_PAYLOADS.items():
        value = literal(git_show(bolt, module), variable, function)
        (HERE / "inbound" / name).write_text(value if isinstance(value, str) else json.dumps(value, indent=2) + "\n")
    for name, path in JAVA_EVENTS.items():
        (HERE / "inbound" / name).write_text(git_show(java, path))
    (HERE / "LICENSE-java-slack-sdk").write_text(git_show(java, "LICENSE"))
    (HERE / "LICENSE-bolt-python").write_text(git_show(bolt, "LICENSE"))
    print(f"java-slack-sdk {head(java)}\nbolt-python {head(bolt)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
