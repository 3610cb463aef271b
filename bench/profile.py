"""Profile configurations in the bench guest: `python -m bench.profile CONFIG:CIPHER[:ARGS] ...`.

ARGS: extra iperf3 client arguments (e.g. `-u -b 0 -l 64`, `-R`); TCP when absent.
The text goes to $BENCH_PROFILE_OUT (default bench/results/profile.txt).

Installs linux-perf (and the libraries the image lacks) from .debs fetched on the host
with `apt-get download` into the lab cache, then runs bench/guest/profile.sh for each
configuration; the text goes to bench/results/profile.txt. Uses the running lab
(run `python -m bench --keep-up` first).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from ovpn_lab import paths
from ovpn_lab.lab import Lab

from .run import RESULTS
from .setup import GUEST_DIR

PERF_DEBS = ["linux-perf", "libbabeltrace1", "libdw1", "libnuma1", "libopencsd1",
             "libpython3.11", "libslang2", "libunwind8", "libglib2.0-0"]


def perf_debs(kernel_version: str) -> Path:
    d = paths.cache_dir() / "bench-debs" / "perf"
    d.mkdir(parents=True, exist_ok=True)
    want = [f"linux-perf={kernel_version}", *PERF_DEBS[1:]]
    if len(list(d.glob("*.deb"))) < len(PERF_DEBS):
        subprocess.run(["apt-get", "download", *want], cwd=d, check=True, capture_output=True)
    return d


def main(argv: list[str]) -> int:
    g = Lab(os.environ.get("OVPN_LAB_NAME", "h-bench")).guest("g1")
    if g.run("command -v perf", check=False).returncode != 0:
        # the kernel package version (e.g. 6.1.192-2) picks the matching linux-perf
        kver = g.run("dpkg-query -W -f '${Version}' linux-image-$(uname -r)").stdout.strip()
        # a bench guest reaches the host's Debian mirrors through the lab's apt proxy
        # (any release, e.g. trixie-backports' perf); else .debs fetched on the host
        # a backports kernel's perf needs that suite's libraries too
        suite = ('-t "$(. /etc/os-release; echo "$VERSION_CODENAME")-backports" '
                 if "bpo" in kver else "")
        got = g.run("DEBIAN_FRONTEND=noninteractive apt-get update -q && "
                    f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q {suite}"
                    f"--no-install-recommends linux-perf={shlex.quote(kver)}",
                    check=False, timeout=900)
        if got.returncode != 0:
            g.copy_in(perf_debs(kver), GUEST_DIR)
            g.run(f"DEBIAN_FRONTEND=noninteractive dpkg -i {GUEST_DIR}/perf/*.deb", timeout=900)
    out = []
    for item in argv or ["ovpn-sc:AES-256-GCM", "ovpn-dco:AES-256-GCM", "wireguard:"]:
        config, _, rest = item.partition(":")
        cipher, _, extra = rest.partition(":")
        res = g.run(f"{GUEST_DIR}/guest/profile.sh {shlex.quote(config)} "
                    f"{shlex.quote(cipher or 'none')} 8 {shlex.quote(extra)}",
                    check=False, timeout=900)
        out.append(res.stdout + (res.stderr[-2000:] if res.returncode else ""))
        print(out[-1], flush=True)
    Path(os.environ.get("BENCH_PROFILE_OUT", RESULTS / "profile.txt")).write_text("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
