"""Preparing the bench guest: module, packages, PKI, scripts (host side)."""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from ovpn_lab import paths
from ovpn_lab.guest import Guest, GuestCommandError
from ovpn_lab.image import SUITE, Image
from ovpn_lab.kbuild import build_module
from ovpn_lab.log import log
from ovpn_lab.openvpn_deb import ensure_openvpn_debs, openvpn_deb

from .upstream_openvpn import UPSTREAM_PREFIX, chroot_download, upstream_openvpn_deb

GUEST_DIR = "/root/bench"
DCO_PACKAGE = "openvpn-dco-dkms"
DCO_CONFIGS = ("ovpn-dco", "ovpn-dco-srv")

PKI_SCRIPT = r"""
set -e
cd "$1"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca 2>/dev/null
for who in server client; do
  openssl req $ec -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null
  eku=serverAuth; [ $who = client ] && eku=clientAuth
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\n' > $who.ext
  printf 'extendedKeyUsage=%s\n' $eku >> $who.ext
  openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out $who.crt -days 2 -extfile $who.ext 2>/dev/null
done
rm -f *.csr *.ext *.srl ca.key
chmod 600 *.key
"""


def dco_deb(release: str = SUITE) -> Path:
    """openvpn-dco-dkms's .deb of `release`, fetched once into the lab cache.

    The host's release with the host's apt-get download, another one with the apt of
    that release's build chroot (nothing installed on the host).
    """
    d = paths.cache_dir() / "bench-debs" / ("" if release == SUITE else release)
    d.mkdir(parents=True, exist_ok=True)
    found = sorted(d.glob(f"{DCO_PACKAGE}_*.deb"))
    if not found:
        if release == SUITE:
            subprocess.run(["apt-get", "download", DCO_PACKAGE], cwd=d, check=True,
                           capture_output=True)
        else:
            chroot_download(release, DCO_PACKAGE, d)
        found = sorted(d.glob(f"{DCO_PACKAGE}_*.deb"))
    return found[-1]


def _install_dco(g: Guest, deb: Path) -> str:
    """dpkg -i the DKMS package; '' when ovpn_dco_v2 built, else why it did not."""
    g.copy_in(deb, f"{GUEST_DIR}/debs")
    log(f"bench: dpkg -i {deb.name} (DKMS build in the guest, minutes under TCG)")
    try:
        g.run("DEBIAN_FRONTEND=noninteractive dpkg -i "
              f"{GUEST_DIR}/debs/{shlex.quote(deb.name)}", timeout=1800)
        g.run("modinfo ovpn_dco_v2 >/dev/null")
    except GuestCommandError as e:
        why = (e.stdout + e.stderr).strip().splitlines()
        log(f"bench: ovpn-dco does not build on this kernel: {why[-3:]}")
        errors = g.run("grep -m2 -h 'error:' /var/lib/dkms/ovpn-dco/*/build/make.log "
                       "2>/dev/null | sed 's|^.*/ovpn-dco/[^/]*/build/||'",
                       check=False).stdout.strip().splitlines()
        return (f"{deb.name} did not build or load on kernel {g.release()}: "
                + " / ".join(errors or why[-2:])[:400])
    return ""


def _install_upstream_openvpn(g: Guest, facts: dict[str, str]) -> None:
    """OpenVPN 2.7 from trixie-backports under UPSTREAM_PREFIX; the in-tree `ovpn` there."""
    deb = upstream_openvpn_deb()
    g.copy_in(deb, f"{GUEST_DIR}/debs")
    g.run(f"rm -rf {UPSTREAM_PREFIX} && dpkg-deb -x {GUEST_DIR}/debs/{shlex.quote(deb.name)} "
          f"{UPSTREAM_PREFIX}")
    facts["upstream_openvpn_deb"] = deb.name
    facts["upstream_openvpn"] = g.run(f"{UPSTREAM_PREFIX}/usr/sbin/openvpn --version | head -1",
                                      check=False).stdout.strip()
    mod = g.run("modinfo -F filename ovpn && modinfo -F intree ovpn", check=False)
    if mod.returncode or not facts["upstream_openvpn"].startswith("OpenVPN 2.7"):
        facts["ovpn_up_skipped"] = (f"kernel {g.release()} has no in-tree ovpn module or "
                                    f"{deb.name} does not run: {facts['upstream_openvpn']!r}")
        return
    facts["upstream_ovpn_module"] = " intree=".join(mod.stdout.split())


def prepare(g: Guest, image: Image, timings: dict[str, float], reuse: bool = False, *,
            dco: bool = True, upstream: bool = False) -> dict[str, str]:
    """Everything the runs need in the guest; returns version facts.

    `dco`: build ovpn-dco (DKMS), `upstream`: install OpenVPN 2.7 for the in-tree `ovpn`.
    facts["ovpn_dco_skipped"] says why ovpn-dco could not be built, facts["ovpn_up_skipped"]
    why OpenVPN 2.7 + in-tree `ovpn` cannot run here (their configs are then not run:
    run.skipped_configs).
    """
    facts: dict[str, str] = {}
    release = image.meta.get("suite", SUITE)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        kos = build_module(paths.REPO_ROOT / "kernel_module", Path(tmp), image=image)
        g.install_modules(kos)
    timings["kbuild + install ovpn_shortcut"] = time.monotonic() - t0

    t0 = time.monotonic()
    deb = openvpn_deb(ensure_openvpn_debs(release=release))
    g.copy_in(deb, f"{GUEST_DIR}/debs")
    g.run(f"rm -rf /opt/ovpnsc && dpkg-deb -x {GUEST_DIR}/debs/{shlex.quote(deb.name)} /opt/ovpnsc")
    facts["patched_openvpn"] = deb.name
    timings["patched openvpn (cache + extract)"] = time.monotonic() - t0

    if upstream:
        t0 = time.monotonic()
        _install_upstream_openvpn(g, facts)
        timings["upstream openvpn (download + extract)"] = time.monotonic() - t0

    if dco:
        t0 = time.monotonic()
        dd = dco_deb(release)
        facts["ovpn_dco_deb"] = dd.name
        if reuse and g.run("modinfo ovpn_dco_v2 >/dev/null 2>&1", check=False).returncode == 0:
            log("bench: ovpn-dco already built in this guest (--reuse)")
        else:
            why = _install_dco(g, dd)
            if why:
                facts["ovpn_dco_skipped"] = why
            timings["openvpn-dco-dkms dpkg -i (DKMS build in guest)"] = time.monotonic() - t0

    with tempfile.TemporaryDirectory() as tmp:
        pki = Path(tmp) / "pki"
        pki.mkdir()
        subprocess.run(["sh", "-c", PKI_SCRIPT, "pki", str(pki)], check=True,
                       capture_output=True)
        g.run(f"rm -rf {GUEST_DIR}/pki {GUEST_DIR}/guest")
        g.copy_in(pki, GUEST_DIR)
    g.copy_in(Path(__file__).parent / "guest", GUEST_DIR)
    km = paths.REPO_ROOT / "kernel_module"  # the netlink tools, laid out as in the repo
    for src, dest in ((km / "tools", "km"), (km / "include", "km"),
                      (km / "ovpn-shortcut.yaml", "km"), (km / "tests" / "harden", "km/tests")):
        g.copy_in(src, f"{GUEST_DIR}/{dest}")
    g.run(f"{GUEST_DIR}/guest/tunnels.sh ns")

    q = "modinfo -F version"
    facts["kernel"] = g.release()
    facts["ovpn_shortcut_version"] = g.run(f"{q} ovpn_shortcut").stdout.strip()
    if dco and "ovpn_dco_skipped" not in facts:
        facts["ovpn_dco_version"] = g.run(f"{q} ovpn_dco_v2").stdout.strip()
    facts["stock_openvpn"] = g.run("openvpn --version | head -1", check=False).stdout.strip()
    facts["iperf3"] = g.run("iperf3 --version | head -1").stdout.strip()
    facts["guest_cpus"] = g.run("nproc").stdout.strip()
    facts["guest_cpu_model"] = g.run("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo "
                                     "| head -1").stdout.strip()
    facts["guest_cpu_flags_aes"] = g.run("grep -m1 -c -w aes /proc/cpuinfo || true").stdout.strip()
    facts["perf_in_guest"] = g.run("command -v perf || echo no", check=False).stdout.strip()
    return facts
