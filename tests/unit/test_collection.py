"""The Ansible collection ovpn.shortcut (collection/build.py): built with
ansible-galaxy, installed into a temporary path, used by FQCN from a playbook
outside the repository, and self-contained."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ovpn_lab import paths

sys.path.insert(0, str(paths.REPO_ROOT / "collection"))
import build as cbuild

BIN = Path(sys.executable).parent
PLAY = """---
- name: A fleet's own playbook
  hosts: ovpn_servers
  gather_facts: false
  roles:
    - role: ovpn.shortcut.ovpn_shortcut
  tasks:
    - name: Facts of the kernel module
      ovpn.shortcut.ovpn_info: {}
    - name: A filter of the collection
      ansible.builtin.debug:
        msg: "{{ groups['ovpn_servers'] | ovpn.shortcut.ovpn_shortcut_group_clients(hostvars) }}"
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(artifact, outside dir with ansible.cfg and collections/, env)."""
    tmp = tmp_path_factory.mktemp("coll")
    artifact = cbuild.build(paths.REPO_ROOT, tmp / "dist")
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "ansible.cfg").write_text("[defaults]\ncollections_path = ./collections\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(outside / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", str(artifact),
                          "-p", "./collections"], cwd=outside, env=env, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return artifact, outside, env


def test_artifact_holds_plugins_role_and_bundle(installed):
    artifact, _, _ = installed
    version = cbuild._version(paths.REPO_ROOT)
    assert artifact.name == f"ovpn-shortcut-{version}.tar.gz"
    names = set(tarfile.open(artifact).getnames())
    for m in ("ovpn_device", "ovpn_instance", "ovpn_instances", "ovpn_info"):
        assert f"plugins/modules/{m}.py" in names
    for f in ("plugins/module_utils/ovpn_shortcut.py",
              "plugins/module_utils/ovpn_shortcut_ansible.py",
              "plugins/filter/ovpn_shortcut_links.py", "plugins/filter/ovpn_shortcut_server.py",
              "roles/ovpn_shortcut/tasks/main.yml", "playbooks/site.yml",
              "roles/ovpn_shortcut/files/bundle/kernel_module/dkms.conf",
              "roles/ovpn_shortcut/files/bundle/kernel_module/Kbuild",
              "roles/ovpn_shortcut/files/bundle/ovpn_shortcut_cli/cli.py",
              "roles/ovpn_shortcut/files/bundle/module_utils/ovpn_shortcut.py"):
        assert f in names, f
    # every source file DKMS builds from is in the bundle, none of the build's output
    km = paths.REPO_ROOT / "kernel_module"
    for f in [*km.glob("*.c"), *km.glob("*.h"), *km.glob("include/uapi/linux/*.h")]:
        if not f.name.endswith(".mod.c"):
            assert f"roles/ovpn_shortcut/files/bundle/kernel_module/{f.relative_to(km)}" in names
    assert not [n for n in names if n.endswith((".ko", ".o", ".pyc"))]
    assert not [n for n in names if "filter_plugins" in n]  # a role in a collection has none


def test_installed_collection_reaches_nothing_outside(installed):
    _, outside, _ = installed
    coll = outside / "collections/ansible_collections/ovpn/shortcut"
    assert cbuild.outside_references(coll) == []
    rvars = (coll / "roles/ovpn_shortcut/vars/main.yml").read_text()
    assert cbuild.BUNDLE_LINE in rvars and cbuild.REPO_LINE not in rvars
    deploy = (coll / "playbooks/deploy.yml").read_text()
    assert "role: ovpn.shortcut.ovpn_shortcut" in deploy and "ovpn.shortcut.ovpn_info:" in deploy
    validate = (coll / "roles/ovpn_shortcut/tasks/validate.yml").read_text()
    assert "| ovpn.shortcut.ovpn_shortcut_server_plan" in validate


def test_outside_references_are_found(tmp_path):
    """The check the build runs: it would have caught the role's old default."""
    role = tmp_path / "roles/r/defaults"
    role.mkdir(parents=True)
    (role / "main.yml").write_text('src: "{{ role_path }}/../../kernel_module"\n')
    (tmp_path / "m.py").write_text("from ansible.module_utils.ovpn_shortcut import x\n")
    found = cbuild.outside_references(tmp_path)
    assert len(found) == 2, found


def test_playbook_outside_the_repository_resolves_everything(installed, tmp_path):
    _, outside, env = installed
    (outside / "play.yml").write_text(PLAY)
    (outside / "hosts").write_text("[ovpn_servers]\ns1 ansible_host=127.0.0.1\n")
    for args in (["-i", "hosts", "play.yml"], ["-i", "hosts", "ovpn.shortcut.site"]):
        res = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", *args],
                             cwd=outside, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    # a short module name does not resolve out here: the FQCNs above are what works
    (outside / "short.yml").write_text(PLAY.replace("ovpn.shortcut.ovpn_info", "ovpn_info"))
    res = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "hosts",
                          "short.yml"], cwd=outside, env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "ovpn_info" in res.stdout + res.stderr


def test_ansible_doc_finds_every_plugin(installed):
    _, outside, env = installed
    for kind, names in (("module", cbuild.module_names(paths.REPO_ROOT)),
                        ("filter", cbuild.filter_names(paths.REPO_ROOT))):
        for name in names:
            res = subprocess.run([str(BIN / "ansible-doc"), "-t", kind, f"ovpn.shortcut.{name}"],
                                 cwd=outside, env=env, capture_output=True, text=True)
            assert res.returncode == 0 and "ERROR" not in res.stderr, res.stdout + res.stderr
            assert f"ovpn.shortcut.{name}" in res.stdout
