"""Builds the Ansible collection ovpn.shortcut from this repository.

    python collection/build.py [--output-path DIR] [--stage DIR] [--src DIR]

The repository keeps its own layout (library/, module_utils/, roles/,
playbooks/); a collection has another one, so this script assembles it:

- plugins/modules/      library/ovpn_*.py, imports and doc references made FQCN
- plugins/module_utils/ module_utils/ovpn_shortcut*.py
- plugins/filter/       the role's filter plugins (a role in a collection may not
                        carry plugins of its own)
- roles/ovpn_shortcut/  the role, its filters and the playbooks' module and role
                        names written as FQCN, and files/bundle/ with what the
                        role ships to hosts: the kernel module's source, the
                        ovpn-shortcut command (ovpn_shortcut_cli/ and
                        module_utils/ovpn_shortcut.py). The role prefers that
                        bundle to the repository (vars/main.yml), so the
                        collection reaches nothing outside itself.
- playbooks/            validate, deploy (role + verify) and site (both)

then runs `ansible-galaxy collection build`. The staged tree is also what
tests/sanity/run_ansible_test.sh runs ansible-test sanity on.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
NAMESPACE, NAME = "ovpn", "shortcut"
FQ = f"{NAMESPACE}.{NAME}"
MODULE_UTILS = ("ovpn_shortcut.py", "ovpn_shortcut_ansible.py")
# kernel_module/ files DKMS builds from (the role packs the same set)
KERNEL_GLOBS = ("*.c", "*.h", "include/uapi/linux/*.h", "Kbuild", "Makefile", "dkms.conf",
                "ovpn-shortcut.yaml")
# the role's path to the repository, and the same in the collection: the bundle
REPO_LINE = 'ovpn_shortcut__repo: "{{ role_path | dirname | dirname }}"'
BUNDLE_LINE = 'ovpn_shortcut__repo: "{{ role_path }}/files/bundle"'
PLAYBOOKS = {"validate.yml": "validate.yml", "ovpn_shortcut.yml": "deploy.yml"}
SITE = f"""---
# ansible-playbook {FQ}.site -i YOUR_INVENTORY: the settings checked on the
# controller first, then the role and the proofs on every host.
- name: Validate
  ansible.builtin.import_playbook: {FQ}.validate

- name: Kernel module, OpenVPN server and clients
  ansible.builtin.import_playbook: {FQ}.deploy
"""


class BuildError(Exception):
    pass


def _version(src: Path) -> str:
    conf = (src / "kernel_module" / "dkms.conf").read_text()
    m = re.search(r'^PACKAGE_VERSION="([^"]+)"', conf, re.M)
    if not m:
        raise BuildError("kernel_module/dkms.conf has no PACKAGE_VERSION")
    return m.group(1)


def module_names(src: Path) -> list[str]:
    return sorted(p.stem for p in (src / "library").glob("ovpn_*.py"))


def filter_names(src: Path) -> list[str]:
    """The names the role's filter plugins register (their filters() dicts)."""
    names: list[str] = []
    for f in sorted((src / "roles/ovpn_shortcut/filter_plugins").glob("*.py")):
        body = f.read_text().split("def filters(", 1)[-1]
        names += re.findall(r'"(\w+)":', body)
    return names


def fqcn_python(text: str) -> str:
    """Module and module_utils source: collection imports, FQCN doc references."""
    text = re.sub(r"\bansible\.module_utils\.ovpn_shortcut",
                  f"ansible_collections.{NAMESPACE}.{NAME}.plugins.module_utils.ovpn_shortcut",
                  text)
    text = text.replace("M(ovpn_", f"M({FQ}.ovpn_")
    return re.sub(r"^(\s*- module: )ovpn_", rf"\g<1>{FQ}.ovpn_", text, flags=re.M)


def fqcn_yaml(text: str, modules: list[str], filters: list[str]) -> str:
    """Role and playbook YAML/Jinja: our filters, modules and the role by FQCN."""
    for f in filters:
        text = re.sub(rf"(\|\s*){f}\b", rf"\g<1>{FQ}.{f}", text)
    for m in modules:
        text = re.sub(rf"^(\s*(?:- )?){m}:", rf"\g<1>{FQ}.{m}:", text, flags=re.M)
    return re.sub(r"^(\s*(?:- )?(?:role|name): )ovpn_shortcut\s*$",
                  rf"\g<1>{FQ}.ovpn_shortcut", text, flags=re.M)


def _copy_role(src: Path, role: Path, modules: list[str], filters: list[str]) -> None:
    shutil.copytree(src / "roles/ovpn_shortcut", role,
                    ignore=shutil.ignore_patterns("filter_plugins", "__pycache__", "*.pyc"))
    for f in role.rglob("*"):
        if f.suffix in (".yml", ".yaml", ".j2") and f.is_file():
            f.write_text(fqcn_yaml(f.read_text(), modules, filters))
    rvars = role / "vars" / "main.yml"
    text = rvars.read_text()
    if REPO_LINE not in text:
        raise BuildError(f"roles/ovpn_shortcut/vars/main.yml: no line {REPO_LINE!r}")
    rvars.write_text(text.replace(REPO_LINE, BUNDLE_LINE))
    bundle = role / "files" / "bundle"
    km = src / "kernel_module"
    for pattern in KERNEL_GLOBS:
        for f in sorted(km.glob(pattern)):
            if f.name.endswith(".mod.c"):
                continue
            dest = bundle / "kernel_module" / f.relative_to(km)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
    (bundle / "ovpn_shortcut_cli").mkdir(parents=True)
    for f in sorted((src / "ovpn_shortcut_cli").glob("*.py")):
        shutil.copy2(f, bundle / "ovpn_shortcut_cli" / f.name)
    (bundle / "module_utils").mkdir()
    shutil.copy2(src / "module_utils/ovpn_shortcut.py", bundle / "module_utils")


def stage(src: Path, dest: Path) -> Path:
    """Assemble the collection's tree under dest/ansible_collections/ovpn/shortcut."""
    coll = dest / "ansible_collections" / NAMESPACE / NAME
    if coll.exists():
        shutil.rmtree(coll)
    modules, filters = module_names(src), filter_names(src)
    if not modules or not filters:
        raise BuildError(f"no modules ({modules}) or filters ({filters}) found in {src}")
    for d in ("plugins/modules", "plugins/module_utils", "plugins/filter", "meta", "playbooks",
              "tests/sanity"):
        (coll / d).mkdir(parents=True)
    for m in modules:
        (coll / "plugins/modules" / f"{m}.py").write_text(
            fqcn_python((src / "library" / f"{m}.py").read_text()))
    for u in MODULE_UTILS:
        (coll / "plugins/module_utils" / u).write_text(
            fqcn_python((src / "module_utils" / u).read_text()))
    for f in sorted((src / "roles/ovpn_shortcut/filter_plugins").glob("*.py")):
        shutil.copy2(f, coll / "plugins/filter" / f.name)
    for name in filters:  # each filter's documentation (ansible-doc -t filter)
        doc = src / "collection/filter_docs" / f"{name}.yml"
        if not doc.is_file():
            raise BuildError(f"filter {name} has no documentation: {doc}")
        shutil.copy2(doc, coll / "plugins/filter" / doc.name)
    _copy_role(src, coll / "roles/ovpn_shortcut", modules, filters)
    for name, out in PLAYBOOKS.items():
        (coll / "playbooks" / out).write_text(
            fqcn_yaml((src / "playbooks" / name).read_text(), modules, filters))
    (coll / "playbooks/site.yml").write_text(SITE)
    meta = yaml.safe_load((src / "collection/galaxy.yml").read_text())
    meta["version"] = _version(src)
    (coll / "galaxy.yml").write_text("---\n" + yaml.safe_dump(meta, sort_keys=False))
    shutil.copy2(src / "collection/README.md", coll / "README.md")
    (coll / "meta/runtime.yml").write_text('---\nrequires_ansible: ">=2.15.0"\n')
    # the modules run on the targets' python3 (Debian 12: 3.11); no Python 2
    (coll / "tests/config.yml").write_text('---\nmodules:\n  python_requires: ">=3.11"\n')
    for f in (src / "tests/sanity").glob("ignore-*.txt"):
        shutil.copy2(f, coll / "tests/sanity" / f.name)
    problems = outside_references(coll)
    if problems:
        raise BuildError("the collection reaches outside itself:\n" + "\n".join(problems))
    return coll


def outside_references(coll: Path) -> list[str]:
    """Lines of the staged collection that would reach into a repository around it,
    or that still use one of our modules/filters/the role by a short name."""
    bad = re.compile(r"role_path\s*\}\}\s*/\.\./|\.\./\.\./|role_path \| dirname"
                     r"|ansible\.module_utils\.ovpn_shortcut")
    out = []
    for f in sorted(coll.rglob("*")):
        if not f.is_file() or "bundle" in f.parts or f.suffix not in (".py", ".yml", ".j2"):
            continue
        for no, line in enumerate(f.read_text().splitlines(), 1):
            if bad.search(line):
                out.append(f"{f.relative_to(coll)}:{no}: {line.strip()}")
    return out


def build(src: Path, output: Path, stage_dir: Path | None = None) -> Path:
    """Stage and `ansible-galaxy collection build`: the artifact's path."""
    with tempfile.TemporaryDirectory(prefix="ovpn-collection-") as tmp:
        coll = stage(src, stage_dir or Path(tmp))
        output.mkdir(parents=True, exist_ok=True)
        galaxy = Path(sys.executable).parent / "ansible-galaxy"
        res = subprocess.run([str(galaxy), "collection", "build", "--force", "--output-path",
                              str(output), str(coll)], capture_output=True, text=True)
        if res.returncode != 0:
            raise BuildError(res.stdout + res.stderr)
        return output / f"{NAMESPACE}-{NAME}-{_version(src)}.tar.gz"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output-path", type=Path, default=REPO / "dist",
                    help="where the .tar.gz goes (default dist/)")
    ap.add_argument("--stage", type=Path,
                    help="keep the staged tree here (DIR/ansible_collections/...)")
    ap.add_argument("--stage-only", action="store_true", help="stage, do not build an artifact")
    ap.add_argument("--src", type=Path, default=REPO, help="repository to build from")
    args = ap.parse_args()
    try:
        if args.stage_only:
            print(stage(args.src, args.stage or Path(tempfile.mkdtemp(prefix="ovpn-collection-"))))
        else:
            print(build(args.src, args.output_path, args.stage))
    except BuildError as e:
        print(f"collection build: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
