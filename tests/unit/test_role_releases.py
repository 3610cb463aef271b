"""The releases the role supports: declared once, checked on the host, built for."""

from __future__ import annotations

import jinja2
import pytest
import yaml

from ovpn_lab import image, paths
from ovpn_lab.buildroot import MATRIX

ROLE = paths.REPO_ROOT / "roles" / "ovpn_shortcut"


def _yaml(rel: str) -> dict:
    return yaml.safe_load((ROLE / rel).read_text())


def test_meta_platforms_match_the_release_check():
    (platform,) = _yaml("meta/main.yml")["galaxy_info"]["platforms"]
    assert platform["name"] == "Debian"
    assert platform["versions"] == _yaml("vars/main.yml")["ovpn_shortcut__releases"]
    assert platform["versions"] == ["bookworm", "trixie"]


def test_the_lab_and_the_matrix_cover_every_supported_release():
    releases = _yaml("vars/main.yml")["ovpn_shortcut__releases"]
    assert list(image.RELEASES) == releases
    assert sorted({k.release for k in MATRIX}) == sorted(releases)


def test_platform_check_runs_first_and_names_the_release():
    tasks = _yaml("tasks/main.yml")
    assert tasks[0]["ansible.builtin.import_tasks"] == "platform.yml"
    check = _yaml("tasks/platform.yml")[0]  # the release check comes first
    msg = check["ansible.builtin.assert"]["fail_msg"]
    assert "distribution_release" in msg and "ovpn_shortcut__releases" in msg


def test_openvpn_user_and_group_checked_on_the_host():
    tasks = _yaml("tasks/platform.yml")
    (report,) = [t for t in tasks if "missing OpenVPN user" in t["name"]]
    msg = report["ansible.builtin.assert"]["fail_msg"]
    assert "item.item.var" in msg and "no such" in msg


def test_no_product_code_imports_the_lab():
    """The role, the modules and module_utils never depend on the test lab."""
    hits = []
    for folder in ("roles", "library", "module_utils", "ovpn_shortcut_cli"):
        for f in (paths.REPO_ROOT / folder).rglob("*"):
            if f.suffix in {".py", ".yml", ".yaml", ".j2"} and f.is_file():
                text = f.read_text(errors="replace")
                if "from ovpn_lab" in text or "import ovpn_lab" in text:
                    hits.append(str(f.relative_to(paths.REPO_ROOT)))
    assert hits == []


def _dkms_install_when() -> str:
    tasks = _yaml("tasks/dkms.yml")
    (task,) = [t for t in tasks if t["name"].startswith("DKMS | build and install")]
    return task["when"]


@pytest.mark.parametrize("kernel", ["6.1.0-57-amd64", "6.12.118+deb13-amd64",
                                    "6.12.95+deb12-amd64", "7.3.4+deb13-amd64"])
def test_dkms_rebuilds_only_when_not_installed_for_the_kernel(kernel):
    """Debian 13 kernel names have a '+': as a regex it never matched dkms status,
    so every run rebuilt and reloaded the module (seen on the rerun of a deploy)."""
    from ansible.plugins.filter.core import FilterModule
    from ansible.plugins.test.core import TestModule

    env = jinja2.Environment()
    env.filters.update(FilterModule().filters())
    env.tests.update(TestModule().tests())
    expr = env.compile_expression(_dkms_install_when().strip())
    status = f"ovpn-shortcut/0.2.0, {kernel}, x86_64: installed"
    installed = {"ansible_kernel": kernel, "ovpn_shortcut__src_copy": {"changed": False},
                 "ovpn_shortcut__dkms_status": {"stdout_lines": [status]}}
    assert not expr(**installed)
    other = dict(installed, ovpn_shortcut__dkms_status={"stdout_lines": [
        "ovpn-shortcut/0.2.0, 6.1.0-99-amd64, x86_64: installed"]})
    assert expr(**other)
