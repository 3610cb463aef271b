"""ansible-test sanity on the collection as collection/build.py stages it: every
module, module_utils and filter plugin (tests/sanity/run_ansible_test.sh runs
`ansible-test sanity --local --python 3.11` there, offline; see the script).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ovpn_lab import paths

SCRIPT = paths.REPO_ROOT / "tests" / "sanity" / "run_ansible_test.sh"


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, **(env or {})))


def test_ansible_test_sanity_passes():
    res = _run()
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-8000:]
    for test in ("validate-modules", "pylint", "pep8", "import", "ansible-doc", "yamllint"):
        assert f'Running sanity test "{test}"' in out


def test_ansible_test_sanity_catches_a_doc_mismatch(tmp_path):
    """The same script fails when a module's DOCUMENTATION and argument_spec
    disagree, and when a filter plugin's documentation is broken."""
    for d in ("library", "module_utils", "roles", "playbooks", "collection",
              "ovpn_shortcut_cli", "kernel_module", "tests/sanity"):
        shutil.copytree(paths.REPO_ROOT / d, tmp_path / d,
                        ignore=shutil.ignore_patterns("*.ko", "*.o", ".*.cmd", "__pycache__"))
    dev = tmp_path / "library" / "ovpn_device.py"
    text = dev.read_text()
    broken = text.replace('"mtu": {"type": "int"}', '"mtu": {"type": "str"}')
    assert broken != text
    dev.write_text(broken)
    doc = tmp_path / "collection/filter_docs/ovpn_shortcut_link_files.yml"
    text = doc.read_text()
    broken = text.replace("  short_description:", "  short_description: [unclosed")
    assert broken != text
    doc.write_text(broken)
    res = _run("--test", "validate-modules", "--test", "ansible-doc",
               env={"SRC": str(tmp_path)})
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "ovpn_device.py" in out and "mtu" in out, out[-4000:]
    assert "ovpn_shortcut_link_files" in out, out[-4000:]
