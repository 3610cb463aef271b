"""The OpenVPN patch series and its build script, checked without a guest."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ovpn_lab import paths

FILES = paths.REPO_ROOT / "roles" / "ovpn_shortcut" / "files"
PATCHES = FILES / "openvpn-patches"
SCRIPT = FILES / "build_openvpn_deb.py"
SPEC = paths.REPO_ROOT / "kernel_module" / "ovpn-shortcut.yaml"


def series() -> list[str]:
    lines = [ln.split("#", 1)[0].strip() for ln in (PATCHES / "series").read_text().splitlines()]
    return [ln for ln in lines if ln]


def load_script():
    spec = importlib.util.spec_from_file_location("build_openvpn_deb", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_series_lists_exactly_the_patch_files():
    names = series()
    assert names, "empty series"
    assert len(names) == len(set(names)), "a patch is listed twice"
    present = sorted(p.name for p in PATCHES.iterdir() if p.name != "series")
    assert sorted(names) == present
    assert names == sorted(names), "series order must follow the NNNN- numbering"
    for i, n in enumerate(names, 1):
        assert re.fullmatch(rf"{i:04d}-[a-z0-9-]+\.patch", n), n


@pytest.mark.parametrize("name", series())
def test_patch_has_dep3_header(name):
    text = (PATCHES / name).read_text()
    header, sep, body = text.partition("\n---\n")
    assert sep, f"{name}: no '---' line between the DEP-3 header and the diff"
    fields: dict[str, str] = {}
    key = ""
    for line in header.splitlines():
        if line.startswith((" ", "\t")):
            assert key, f"{name}: continuation line before any field"
            fields[key] += "\n" + line
            continue
        key, colon, value = line.partition(":")
        assert colon, f"{name}: not a DEP-3 field: {line!r}"
        fields[key] = value.strip()
    for required in ("Description", "Author", "Forwarded"):
        assert fields.get(required), f"{name}: no {required}"
    assert fields["Forwarded"] == "not-needed"
    # a one-line summary and a long description explaining the hunks
    assert len(fields["Description"].splitlines()) >= 3
    # the diff itself: -p1 paths into the openvpn source
    diffs = re.findall(r"^\+\+\+ b/(\S+)", body, re.M)
    assert diffs, f"{name}: no diff"
    assert all(d.startswith("src/openvpn/") for d in diffs), diffs
    # every file touched is named in the description
    for d in diffs:
        assert Path(d).name in fields["Description"], f"{name}: {d} not explained"


def _spec_ops_and_attrs() -> tuple[dict[str, int], dict[str, int]]:
    text = SPEC.read_text()
    ops_text = text.split("operations:", 1)[1]
    ops = re.findall(r"^    - (?:\{name: |name: )([a-z0-9-]+)", ops_text, re.M)
    top = text.split("name: ovpn\n", 1)[1].split("  -\n", 1)[0]
    attrs = re.findall(r"\{name: ([a-z0-9-]+),", top)
    return {n: i for i, n in enumerate(ops)}, {n: i for i, n in enumerate(attrs)}


def test_iroute_numbers_match_the_kernel_spec():
    ops, attrs = _spec_ops_and_attrs()
    text = "".join((PATCHES / n).read_text() for n in series())
    assert f"OVPN_CMD_NEW_IROUTE = {ops['new-iroute']}," in text
    assert f"OVPN_CMD_DEL_IROUTE = {ops['del-iroute']}," in text
    assert f"OVPN_ATTR_IROUTE = {attrs['iroute']}," in text
    assert ops["get-peer"] == 7 and attrs["get-peer"] == 8  # ovpn-dco-v2's numbering


def test_names_match_the_kernel_module():
    text = "".join((PATCHES / n).read_text() for n in series())
    assert '+#define OVPN_NL_NAME "ovpn-shortcut"' in text
    assert '+#define OVPN_DCO_LINK_KIND "ovpn-shortcut"' in text
    assert '+#define OVPN_DCO_VERSION_PATH "/sys/module/ovpn_shortcut/version"' in text
    assert re.search(r"^name: ovpn-shortcut$", SPEC.read_text(), re.M)


def test_build_script_help():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for opt in ("--output-dir", "--work-dir", "--patches", "--suffix", "--print-source-version"):
        assert opt in proc.stdout


def test_build_script_parses_with_debian_python():
    # the script must run with Debian 12's python3 (3.11) and the stdlib only
    py = Path("/usr/bin/python3")
    if not py.exists():
        pytest.skip("no /usr/bin/python3")
    proc = subprocess.run([str(py), "-m", "py_compile", str(SCRIPT)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    mod = load_script()
    assert mod.read_series(PATCHES) == series()


def test_deb_src_stanzas_mirror_deb_entries():
    mod = load_script()
    sources = [
        {"types": "deb", "uris": "http://deb.debian.org/debian",
         "suites": "bookworm bookworm-updates", "components": "main",
         "signed-by": "/usr/share/keyrings/debian-archive-keyring.gpg"},
        {"types": "deb", "uris": "http://deb.debian.org/debian-security",
         "suites": "bookworm-security", "components": "main"},
        {"types": "deb-src", "uris": "http://deb.debian.org/debian-security/",
         "suites": "bookworm-security", "components": "main"},
    ]
    want = mod.wanted_src_stanzas(sources)
    assert want == [{"types": "deb-src", "uris": "http://deb.debian.org/debian",
                     "suites": "bookworm bookworm-updates", "components": "main",
                     "signed-by": "/usr/share/keyrings/debian-archive-keyring.gpg"}]
    text = mod.render_sources(want)
    assert "Types: deb-src\nURIs: http://deb.debian.org/debian\n" in text
    assert mod._deb822_stanzas(text) == want


def test_suffix_raised_with_the_series():
    """A changed series must come with a new package suffix, or apt keeps old builds."""
    mod = load_script()
    assert mod.series_digest(PATCHES) == mod.SERIES_DIGEST, (
        "the OpenVPN patch series changed: raise DEFAULT_SUFFIX in build_openvpn_deb.py "
        f"(now {mod.DEFAULT_SUFFIX}) and set SERIES_DIGEST to {mod.series_digest(PATCHES)}")


def test_series_digest_sees_a_changed_patch(tmp_path):
    mod = load_script()
    (tmp_path / "series").write_text("a.patch\n")
    (tmp_path / "a.patch").write_text("one\n")
    before = mod.series_digest(tmp_path)
    (tmp_path / "a.patch").write_text("two\n")
    assert mod.series_digest(tmp_path) != before


def test_source_version_is_the_releases_not_backports(monkeypatch):
    """With -backports enabled (a newer openvpn there), the build takes the source
    of the version apt would install: the release's own (seen: trixie resolved
    to 2.7.8-1~bpo13+1 before)."""
    mod = load_script()
    calls: list[list[str]] = []

    def fake_run(argv, **_kw):
        calls.append(argv)
        if argv[:2] == ["apt-cache", "policy"]:
            out = ("openvpn:\n  Installed: (none)\n  Candidate: 2.6.14-1+deb13u3\n"
                   "  Version table:\n     2.7.8-1~bpo13+1 100\n"
                   "        100 http://deb.debian.org/debian trixie-backports/main amd64 Packages\n"
                   "     2.6.14-1+deb13u3 500\n"
                   "        500 http://deb.debian.org/debian-security trixie-security/main amd64"
                   " Packages\n     2.6.14-1+deb13u2 500\n"
                   "        500 http://deb.debian.org/debian trixie/main amd64 Packages\n")
        else:  # apt-get source --print-uris openvpn=VERSION
            version = argv[-1].split("=", 1)[1]
            out = f"'http://deb/openvpn_{version}.dsc' openvpn_{version}.dsc 3000 SHA256:00\n"
        return subprocess.CompletedProcess(argv, 0, out, "")

    monkeypatch.setattr(mod, "run", fake_run)
    assert mod.source_version() == "2.6.14-1+deb13u3"
    assert calls[-1][-1] == "openvpn=2.6.14-1+deb13u3"
    assert mod.source_version("2.6.14-1+deb13u2") == "2.6.14-1+deb13u2"


# apt-cache policy on a build host whose patched package is installed (and held):
# apt's Candidate is that version, which is newer than Debian's and has no source.
POLICY_PATCHED = """openvpn:
  Installed: 2.6.14-1+deb13u3+ovpnsc6
  Candidate: 2.6.14-1+deb13u3+ovpnsc6
  Version table:
     2.7.8-1~bpo13+1 100
        100 http://deb.debian.org/debian trixie-backports/main amd64 Packages
 *** 2.6.14-1+deb13u3+ovpnsc6 100
        100 /var/lib/dpkg/status
     2.6.14-1+deb13u3 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
"""


def test_source_version_after_the_patched_package_is_installed(monkeypatch):
    """Seen in the fleet-build guest test: the role's second run asked for the source
    of openvpn=2.6.14-1+deb13u3+ovpnsc6 and apt-get source failed (exit 100)."""
    mod = load_script()
    asked: list[str] = []

    def fake_run(argv, **_kw):
        if argv[:2] == ["apt-cache", "policy"]:
            return subprocess.CompletedProcess(argv, 0, POLICY_PATCHED, "")
        asked.append(argv[-1])
        version = argv[-1].split("=", 1)[1]
        if "ovpnsc" in version:
            return subprocess.CompletedProcess(argv, 100, "", "E: no source\n")
        return subprocess.CompletedProcess(
            argv, 0, f"'http://deb/openvpn_{version}.dsc' openvpn_{version}.dsc 3000 x\n", "")

    monkeypatch.setattr(mod, "run", fake_run)
    assert mod.source_version() == "2.6.14-1+deb13u3"
    assert asked == ["openvpn=2.6.14-1+deb13u3"]
    assert mod.archive_versions(POLICY_PATCHED) == [("2.7.8-1~bpo13+1", 100),
                                                    ("2.6.14-1+deb13u3", 500)]
    # a Debian security update, newer than the patched package: that one
    newer = POLICY_PATCHED.replace("     2.6.14-1+deb13u3 500\n", "     2.6.14-1+deb13u4 500\n")
    assert mod.archive_versions(newer)[-1] == ("2.6.14-1+deb13u4", 500)


def test_changelog_bump(tmp_path):
    mod = load_script()
    tree = tmp_path / "openvpn-2.6.14"
    (tree / "debian").mkdir(parents=True)
    old = ("openvpn (2.6.14-0+deb12u2) bookworm-security; urgency=high\n\n  * fix\n\n"
           " -- Someone <x@example.org>  Wed, 01 Jul 2026 22:20:55 +0200\n\n")
    (tree / "debian" / "changelog").write_text(old)
    new = mod.bump_changelog(tree, "+ovpnsc1", ["0001-a.patch"])
    assert new == "2.6.14-0+deb12u2+ovpnsc1"
    text = (tree / "debian" / "changelog").read_text()
    assert text.startswith("openvpn (2.6.14-0+deb12u2+ovpnsc1) bookworm-security; urgency=")
    assert text.endswith(old)
    assert "  Wed, 01 Jul 2026 22:20:55 +0200\n\nopenvpn (2.6.14-0+deb12u2)" in text


FAKE_BUILD = r'''#!/usr/bin/python3
import sys, time
from pathlib import Path
args = sys.argv[1:]
if "--print-source-version" in args:
    print("[build-openvpn 0.0s] $ apt-get update", file=sys.stderr)  # its progress log
    print("2.6.14-0+deb12u2")
    sys.exit(0)
out = Path(args[args.index("--output-dir") + 1])
out.mkdir(parents=True, exist_ok=True)
with open(Path(__file__).with_name("calls"), "a") as fh:
    fh.write("build\n")
time.sleep(0.5)
(out / "openvpn_2.6.14-0+deb12u2+ovpnsc1_amd64.deb").write_text("fake")
'''


def test_ensure_openvpn_debs_builds_once_and_caches(tmp_path, monkeypatch):
    import threading

    from ovpn_lab import openvpn_deb

    fake = tmp_path / "files"
    (fake / "openvpn-patches").mkdir(parents=True)
    (fake / "openvpn-patches" / "series").write_text("0001-a.patch\n")
    (fake / "openvpn-patches" / "0001-a.patch").write_text("a\n")
    (fake / "build_openvpn_deb.py").write_text(FAKE_BUILD)
    monkeypatch.setenv("OVPN_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(openvpn_deb, "SCRIPT", fake / "build_openvpn_deb.py")
    monkeypatch.setattr(openvpn_deb, "PATCHES", fake / "openvpn-patches")
    releases: set[str] = set()

    def run_on_host(release: str, args: list[str],
                    out_dir: Path | None = None) -> tuple[str, str]:
        # what _run_script does in the build chroot, with the fake script on the host
        releases.add(release)
        args = [a.replace(openvpn_deb.INSIDE, str(tmp_path / "inside")) for a in args]
        proc = subprocess.run([sys.executable, str(fake / "build_openvpn_deb.py"), *args],
                              capture_output=True, text=True, check=True)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            for deb in (tmp_path / "inside" / "out").glob("*.deb"):
                shutil.copy2(deb, out_dir / deb.name)
        return proc.stdout, proc.stderr

    monkeypatch.setattr(openvpn_deb, "_run_script", run_on_host)

    results: list[list[Path]] = []
    threads = [threading.Thread(target=lambda: results.append(openvpn_deb.ensure_openvpn_debs()))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (fake / "calls").read_text() == "build\n"  # parallel callers built once
    assert len(results) == 3 and all(r == results[0] for r in results)
    (deb,) = results[0]
    assert deb.parent.parent == tmp_path / "cache" / "openvpn"
    assert deb.parent.name.startswith("bookworm-")
    assert releases == {"bookworm"}
    assert openvpn_deb.deb_version(deb) == "2.6.14-0+deb12u2+ovpnsc1"
    key1 = deb.parent.name

    # a changed patch means a new key and a new build
    (fake / "openvpn-patches" / "0001-a.patch").write_text("b\n")
    (deb2,) = openvpn_deb.ensure_openvpn_debs()
    assert deb2.parent.name != key1
    assert (fake / "calls").read_text() == "build\nbuild\n"

    # another release is another build, cached apart
    (deb3,) = openvpn_deb.ensure_openvpn_debs(release="trixie")
    assert deb3.parent.name.startswith("trixie-") and releases == {"bookworm", "trixie"}
    assert (fake / "calls").read_text() == "build\nbuild\nbuild\n"


def test_notifications_have_a_socket_of_their_own():
    """Patch 0004: the multicast group, the event loop and dco_do_read() use the
    notification socket; requests keep the other one (a DEL_PEER read by a
    request's receive loop was lost)."""
    text = "".join((PATCHES / n).read_text() for n in series())
    added = "\n".join(ln[1:] for ln in text.splitlines() if ln.startswith("+"))
    removed = "\n".join(ln[1:] for ln in text.splitlines() if ln.startswith("-"))
    assert "nl_socket_add_membership(dco->nl_sock_ntf, dco->ovpn_dco_mcast_id)" in added
    assert "event_ctl(es, nl_socket_get_fd(dco->nl_sock_ntf), EVENT_READ, arg)" in added
    assert "ovpn_nl_recvmsgs_sock(dco->nl_sock_ntf, dco->nl_cb_ntf, __func__)" in added
    assert "nl_cb_set(dco->nl_cb_ntf, NL_CB_VALID, NL_CB_CUSTOM, ovpn_handle_msg, dco)" in added
    # dco_do_read() no longer re-points the request socket's callback
    assert "nl_cb_set(dco->nl_cb, NL_CB_VALID, NL_CB_CUSTOM, ovpn_handle_msg, dco);" in removed


def _patch_diff(name: str) -> tuple[str, str]:
    """(the diff of patch `name` without its header, the lines it adds)"""
    body = (PATCHES / name).read_text().partition("\n---\n")[2]
    return body, "\n".join(ln[1:] for ln in body.splitlines() if ln.startswith("+"))


def test_stale_device_deleted_only_at_the_first_check():
    """Patch 0005: delete a leftover DCO device once per process, never after SIGHUP."""
    _, added = _patch_diff("0005-dco-linux-delete-stale-device-at-startup.patch")
    assert "static bool startup_checked = false;" in added
    assert "if ((ret == 0) && !startup_checked)" in added
    assert "net_iface_del(NULL, o->dev)" in added
    assert added.index("net_iface_del") < added.index("startup_checked = true;")


def _spec_set_attrs(name: str) -> list[str]:
    """The attribute names of the spec's attribute set `name`, in number order."""
    block = SPEC.read_text().split(f"    name: {name}\n", 1)[1].split("  -\n", 1)[0]
    return re.findall(r"^      - (?:\{name: |name: )([a-z0-9-]+)", block, re.M)


def test_mss_clamp_numbers_match_the_kernel_spec():
    """Patch 0007: set-dev / dev / mss-clamp as numbered in the module's spec."""
    ops, attrs = _spec_ops_and_attrs()
    text = (PATCHES / "0007-dco-linux-send-mssfix-to-the-kernel.patch").read_text()
    assert f"+\tOVPN_CMD_SET_DEV = {ops['set-dev']}," in text
    assert f"+\tOVPN_ATTR_DEV = {attrs['dev']}," in text
    names = _spec_set_attrs("dev")
    assert f"+\tOVPN_DEV_ATTR_MSS_CLAMP = {names.index('mss-clamp')}," in text
    assert "+#define OVPN_DEV_MSS_CLAMP_MIN 88" in text
    mss_h = (paths.REPO_ROOT / "kernel_module" / "mss.h").read_text()
    assert "#define OVS_MSS_CLAMP_MIN\t88" in mss_h


def _spec_enum_entries(name: str) -> list[str]:
    spec = SPEC.read_text()
    block = spec.split(f"    name: {name}\n", 1)[1].split("  -\n", 1)[0]
    m = re.search(r"^    entries: \[([^\]]*)\]", block, re.M)
    assert m, f"enum {name} has no entries in the spec"
    return [e.strip() for e in m.group(1).split(",")]


def test_tap_numbers_match_the_kernel_spec():
    """Patch 0008: the link attribute, dev-type, MAC table attributes and command as
    numbered in the module's spec (what dco_tap_available() and net_iface_new() send
    or compare)."""
    ops, attrs = _spec_ops_and_attrs()
    text = (PATCHES / "0008-dco-linux-dev-tap-with-ovpn-shortcut.patch").read_text()
    ifla = _spec_enum_entries("ifla-attrs")
    assert f"+#define IFLA_OVPN_SC_DEV_TYPE {ifla.index('dev-type')}\n" in text
    assert ifla.index("mode") == 1  # IFLA_OVPN_MODE of ovpn-dco-v2
    dev_types = _spec_enum_entries("dev-type")
    assert f"+\tOVPN_DEV_TYPE_TUN = {dev_types.index('tun')}," in text
    assert f"+\tOVPN_DEV_TYPE_TAP = {dev_types.index('tap')}," in text
    assert f"+\tOVPN_ATTR_MAC = {attrs['mac']}," in text
    assert f"+\tOVPN_ATTR_MAC_TABLE = {attrs['mac-table']}," in text
    assert f"+\tOVPN_CMD_SET_MAC_TABLE = {ops['set-mac-table']}," in text
    names = _spec_set_attrs("mac-table")
    assert f"+\tOVPN_MAC_TABLE_ATTR_MAX_PEER_ENTRIES = {names.index('max-peer-entries')}," in text
    # the tap support check: the layer 2 family's maxattr reaches mac-table, the
    # earlier module's stopped at peer-ntf
    assert attrs["mac-table"] > attrs["peer-ntf"] == 11
    assert "if (maxattr < OVPN_ATTR_MAC_TABLE)" in text


def test_tap_keeps_tun_requests_unchanged():
    """Patch 0008: the device-type attribute is only put for tap, and dco_check_startup_option
    still refuses other types; dco_delete_iroutes() returns for tap before its ASSERT."""
    body, added = _patch_diff("0008-dco-linux-dev-tap-with-ovpn-shortcut.patch")
    assert "if (dco->dev_type == OVPN_DEV_TYPE_TAP)\n        {\n            SITNL_ADDATTR" in added
    assert "if (dev_type != DEV_TYPE_TUN && dev_type != DEV_TYPE_TAP)" in added
    assert "if (!dco_tap_available(msglevel))" in added
    i = body.index("+    if (TUNNEL_TYPE(mi->context.c1.tuntap) == DEV_TYPE_TAP)")
    assert body.index(" ASSERT(TUNNEL_TYPE(mi->context.c1.tuntap) == DEV_TYPE_TUN);", i) > i
