"""No task of the role can print key material under --diff or in its result.

A task that copies or templates a file holding a private key, a tls-crypt key,
a client profile (inline keys) or a link key must say `diff: false` (copy and
template print the whole file under --diff) or `no_log: true`. Static check
over every task file, so that a new task cannot slip through; the deploy test
scans a real --diff run's output as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import yaml

from ovpn_lab import paths

TASKS = paths.REPO_ROOT / "roles" / "ovpn_shortcut" / "tasks"
WRITERS = ("ansible.builtin.copy", "ansible.builtin.template")
SECRET = re.compile(r"\.key\b|private/|\.ovpn\b|tls-crypt|secret|links_conf_dir|key_file",
                    re.IGNORECASE)


def _tasks(items: list) -> Iterator[dict]:
    for task in items or []:
        yield task
        for nested in ("block", "rescue", "always"):
            yield from _tasks(task.get(nested, []))


def _writes_secret(task: dict) -> bool:
    for module in WRITERS:
        if module in task:
            args = task[module]
            text = json.dumps({"args": args, "loop": task.get("loop", [])})
            # a loop that rejects the secret items copies only public ones
            text = text.replace("rejectattr('secret')", "")
            return bool(SECRET.search(text))
    return False


def secret_writers() -> list[tuple[str, str, bool]]:
    found = []
    for f in sorted(TASKS.glob("*.yml")):
        for task in _tasks(yaml.safe_load(f.read_text())):
            if _writes_secret(task):
                hidden = task.get("diff") is False or task.get("no_log") is True
                found.append((f.name, task.get("name", "?"), hidden))
    return found


def test_every_task_writing_key_material_hides_it():
    found = secret_writers()
    names = {name for _, name, _ in found}
    # the ones known today must be among them (the check itself works)
    assert any("server certificate and key" in n for n in names), names
    assert any("client profiles" in n for n in names), names
    assert any("profile from the controller" in n for n in names), names
    leaking = [f"{f}: {name}" for f, name, hidden in found if not hidden]
    assert leaking == [], "tasks that print key material under --diff:\n" + "\n".join(leaking)
