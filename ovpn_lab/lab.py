"""A lab: N guests on one private segment (a vde_switch), with run state on disk.

Guests are named g1..gN. Each is reachable over SSH through a forwarded port
on 127.0.0.1 and has `lan0` on the shared segment with 198.18.0.N/24 and
fd00:6f76:706e::N/64 (benchmarking and unique-local ranges, never routed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time

from . import paths
from .guest import Guest, GuestError, GuestSpec, _kill, _wait_gone, live_pid
from .image import IMAGES, SUITE, ensure_image
from .log import log, run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, name: str = "default") -> None:
        self.name = name
        self.dir = paths.run_dir(name)
        self.vde_sock = self.dir / "lan.vde"
        self.vde_pidfile = self.dir / "vde.pid"

    def guests(self) -> list[Guest]:
        specs = []
        for f in self.dir.glob("g*.json") if self.dir.is_dir() else []:
            specs.append(GuestSpec(**json.loads(f.read_text())))
        return [Guest(s) for s in sorted(specs, key=lambda s: s.index)]

    def guest(self, name: str) -> Guest:
        for g in self.guests():
            if g.name == name:
                return g
        raise GuestError(f"lab {self.name!r} has no guest {name!r} (is it up?)")

    def running(self) -> list[Guest]:
        return [g for g in self.guests() if g.pid() is not None]

    def up(self, count: int = 1, *, cpus: int = 2, memory_mb: int = 1536,
           cpu_model: str = "max", fresh: bool = False, kernel: str = "",
           append_extra: str = "", releases: list[str] | None = None,
           apt_proxy: bool = False) -> list[Guest]:
        """Boot `count` guests; unless `fresh`, reuse the lab if it runs that many.

        `kernel` boots that bzImage (no initrd) instead of the image's kernel.
        `releases`: the image of each guest in order (g1, g2, ...): a Debian
        release or a kernel variant of one (image.IMAGES); one is for all of
        them; the last one given goes on for the rest. Default: Debian 12
        (bookworm) everywhere. `apt_proxy`: the guests' apt reaches the host's
        Debian mirrors (aptproxy); otherwise guests have no way out.
        """
        wanted = guest_releases(count, releases)
        live = self.running()
        if (not fresh and live and len(live) == len(self.guests()) and len(live) >= count
                and [g.image_name() for g in live[:count]] == wanted
                and all(g.spec.apt_proxy == apt_proxy for g in live[:count])):
            log(f"lab {self.name}: {len(live)} guest(s) already up")
            return live[:count]
        if self.dir.exists():
            self.down()
        images = {r: ensure_image(release=r) for r in dict.fromkeys(wanted)}
        self.dir.mkdir(parents=True, exist_ok=True)
        self._start_switch()
        guests = []
        t0 = time.monotonic()
        try:
            for i in range(1, count + 1):
                spec = GuestSpec(name=f"g{i}", index=i, ssh_port=_free_port(),
                                 run_dir=str(self.dir), image=str(images[wanted[i - 1]].path),
                                 lan_sock=str(self.vde_sock), cpus=cpus,
                                 memory_mb=memory_mb, cpu_model=cpu_model,
                                 kernel=kernel, append_extra=append_extra,
                                 reboot=os.environ.get("OVPN_LAB_GUEST_REBOOT") == "1",
                                 apt_proxy=apt_proxy)
                g = Guest(spec)
                g.start()
                guests.append(g)
            for g in guests:
                g.wait_ssh()
                g.configure_lan()
                if apt_proxy:
                    g.configure_apt()
                log(f"lab {self.name}: {g.name} up, ssh 127.0.0.1:{g.spec.ssh_port}, "
                    f"lan {g.spec.lan_ipv4} ({time.monotonic() - t0:.1f} s since start)")
        except BaseException:
            self.down()
            raise
        self.boot_seconds = time.monotonic() - t0
        return guests

    def down(self) -> None:
        """Stop every guest and the switch; remove the run state."""
        guests = self.guests()
        for g in guests:  # ask all to power off first, then wait for each
            g.request_poweroff()
        for g in guests:
            g.stop(requested=True)
        self._stop_switch()
        if self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def _start_switch(self) -> None:
        run(["vde_switch", "--sock", str(self.vde_sock), "--daemon",
             "--pidfile", str(self.vde_pidfile)], capture=True)

    def _switch_pid(self) -> int | None:
        return live_pid(self.vde_pidfile, str(self.vde_sock))

    def _stop_switch(self) -> None:
        pid = self._switch_pid()
        if pid is not None:
            _kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 5):
                _kill(pid, signal.SIGKILL)


def guest_releases(count: int, releases: list[str] | None) -> list[str]:
    """The release of each of `count` guests: `releases` in order, the last one repeated."""
    given = [r for r in (releases or [SUITE]) if r] or [SUITE]
    for r in given:
        if r not in IMAGES:
            raise ValueError(f"release {r!r}: the lab has images of {', '.join(IMAGES)}")
    return [given[min(i, len(given) - 1)] for i in range(count)]


def all_labs() -> list[Lab]:
    return [Lab(d.name) for d in paths.all_run_dirs()]
