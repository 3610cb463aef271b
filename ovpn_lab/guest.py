"""One QEMU guest: boot, SSH, run commands, copy files, kernel log, shutdown."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import aptproxy
from .image import Image
from .log import log

# Lines in a kernel log that mean the kernel is not healthy.
KERNEL_TROUBLE = re.compile(
    r"(WARNING:|BUG:|kernel BUG|Oops|general protection fault|Call Trace:|"
    r"UBSAN:|KASAN:|refcount_t:|unregister_netdevice: waiting|"
    r"possible circular locking|suspicious RCU usage|Kernel panic|"
    r"list_add corruption|list_del corruption|slab-out-of-bounds|use-after-free|"
    r"blocked for more than|detected stalls? on CPU|Out of memory)"
)


# what drain_kernel_log returns when SSH into the guest failed
DMESG_UNAVAILABLE = "(dmesg unavailable:"
# ssh's own exit status when the connection failed (not the remote command's)
SSH_FAILED = 255


class GuestError(RuntimeError):
    pass


class GuestCommandError(GuestError):
    """A command in a guest failed: carries stdout, stderr and the kernel log."""

    def __init__(self, guest: str, cmd: str, rc: int, stdout: str, stderr: str,
                 kernel_log: str) -> None:
        self.guest, self.cmd, self.rc = guest, cmd, rc
        self.stdout, self.stderr, self.kernel_log = stdout, stderr, kernel_log
        super().__init__(
            f"[{guest}] command failed (exit {rc}): {cmd}\n"
            f"--- stdout ---\n{stdout[-6000:]}\n--- stderr ---\n{stderr[-6000:]}\n"
            f"--- {guest} dmesg (last lines) ---\n{kernel_log[-6000:]}"
        )


@dataclass
class GuestSpec:
    """What is needed to boot and reach a guest; saved as JSON in the run dir."""

    name: str
    index: int
    ssh_port: int
    run_dir: str
    image: str
    lan_sock: str
    cpus: int = 2
    memory_mb: int = 1536
    cpu_model: str = "max"
    # A kernel of its own (e.g. the debug kernel) instead of the image's: booted
    # without an initrd (its root disk drivers are built in), with extra arguments.
    kernel: str = ""
    append_extra: str = ""
    # A reboot inside the guest resets the machine in the same QEMU process, so
    # the snapshot=on overlay (the guest's disk writes) survives it. Off by default:
    # QEMU then exits on a reboot or panic (-no-reboot), which tests see at once.
    reboot: bool = False
    # Apt through the host (aptproxy): a guestfwd to the host's Debian mirrors.
    apt_proxy: bool = False

    @property
    def lan_ipv4(self) -> str:
        return f"198.18.0.{self.index}"

    @property
    def lan_ipv6(self) -> str:
        return f"fd00:6f76:706e::{self.index:x}"

    def mac(self, nic: int) -> str:
        return f"52:54:00:6f:{self.index:02x}:{nic:02x}"


class Guest:
    def __init__(self, spec: GuestSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.dir = Path(spec.run_dir)
        self.image = Image(Path(spec.image))
        self.serial_log = self.dir / f"{self.name}.serial"
        self.pidfile = self.dir / f"{self.name}.pid"
        self.kmsg_file = self.dir / f"{self.name}.dmesg"

    # -- lifecycle -------------------------------------------------------------

    def qemu_argv(self) -> list[str]:
        s = self.spec
        append = (
            # loglevel 5: warnings reach the serial console, with the registers and
            # call traces of a soft lockup, RCU stall or hung task (printed at the
            # default level 4), which is all a guest that stops answering leaves
            "root=/dev/vda rw console=ttyS0 loglevel=5 panic=-1 "
            f"systemd.hostname={s.name} net.ifnames=1 systemd.show_status=0"
        )
        if s.append_extra:
            append += " " + s.append_extra
        boot = (["-kernel", s.kernel] if s.kernel else
                ["-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd)])
        return [
            "qemu-system-x86_64",
            # debug-threads: the vCPU threads are named "CPU n/TCG" on the host
            # (bench/hostside.py accounts host CPU per thread)
            "-name", f"ovpn-lab-{Path(s.run_dir).name}-{s.name},debug-threads=on",
            "-machine", "pc", "-accel", "tcg,thread=multi",
            "-cpu", s.cpu_model, "-smp", str(s.cpus), "-m", str(s.memory_mb),
            *boot, "-append", append,
            "-drive", f"file={self.image.rootfs},if=virtio,format=raw,snapshot=on",
            "-netdev", f"user,id=wan,restrict=on,hostfwd=tcp:127.0.0.1:{s.ssh_port}-:22"
                       + self._apt_forward(),
            "-device", f"virtio-net-pci,netdev=wan,mac={s.mac(1)},addr=0x3",
            "-netdev", f"vde,id=lan,sock={s.lan_sock}",
            "-device", f"virtio-net-pci,netdev=lan,mac={s.mac(2)},addr=0x4",
            "-display", "none", "-monitor", "none", *([] if s.reboot else ["-no-reboot"]),
            "-serial", f"file:{self.serial_log}",
            "-pidfile", str(self.pidfile), "-daemonize",
        ]

    @property
    def apt_log(self) -> Path:
        """The apt proxy's requests of this guest, a line each."""
        return self.dir / f"{self.name}.apt.log"

    def _apt_forward(self) -> str:
        """QEMU's guestfwd to the apt proxy, one host process per connection."""
        if not self.spec.apt_proxy:
            return ""
        cmd = f"{sys.executable} -m ovpn_lab.aptproxy --log {self.apt_log}"
        if "," in cmd:
            raise GuestError(f"[{self.name}] a comma in {cmd!r} breaks QEMU's option")
        return f",guestfwd=tcp:{aptproxy.GUEST_ADDRESS}:{aptproxy.GUEST_PORT}-cmd:{cmd}"

    def configure_apt(self) -> None:
        """Point the guest's apt at the proxy (only for a guest booted with apt_proxy)."""
        url = f"http://{aptproxy.GUEST_ADDRESS}:{aptproxy.GUEST_PORT}/"
        self.run(f"echo 'Acquire::http::Proxy \"{url}\";' > /etc/apt/apt.conf.d/80ovpn-lab-proxy")

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / f"{self.name}.json").write_text(json.dumps(asdict(self.spec), indent=2))
        self.kmsg_file.write_text("")
        env = dict(os.environ, TMPDIR=str(self.dir))  # snapshot overlay lives with the run
        proc = subprocess.run(self.qemu_argv(), capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            raise GuestError(f"[{self.name}] qemu failed to start: {proc.stderr.strip()}")

    def pid(self) -> int | None:
        """PID of this guest's QEMU if it is running (checked against its name)."""
        return live_pid(self.pidfile, f"ovpn-lab-{self.dir.name}-{self.name}")

    def wait_ssh(self, timeout: float | None = None) -> float:
        """Wait until SSH answers; return seconds waited."""
        if timeout is None:
            timeout = float(os.environ.get("OVPN_LAB_BOOT_TIMEOUT", "600"))
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.pid() is None:
                raise GuestError(f"[{self.name}] QEMU exited during boot\n{self.serial_tail()}")
            # the first login of a slow guest (the debug kernel under TCG) spends
            # about 2 minutes in sshd's PAM session (pam_systemd starting root's
            # user manager) without answering keepalives: a probe that gave up
            # after 60 s was killed every time, and the guest never "had SSH"
            probe = self._ssh(["true"], connect_timeout=3, multiplex=False,
                              alive_count=90, timeout=max(30.0, timeout - (time.monotonic() - t0)))
            if probe.returncode == 0:
                return time.monotonic() - t0
            time.sleep(1)
        raise GuestError(f"[{self.name}] no SSH after {timeout:.0f} s\n{self.serial_tail()}")

    def configure_lan(self) -> None:
        s = self.spec
        self.run(
            f"ip link set lan0 up && ip addr add {s.lan_ipv4}/24 dev lan0 && "
            f"ip -6 addr add {s.lan_ipv6}/64 dev lan0 nodad"
        )

    def request_poweroff(self) -> None:
        """Ask the guest to power off, without waiting."""
        if self.pid() is not None:
            self._ssh(["systemctl", "poweroff", "--no-block"], connect_timeout=3, timeout=10)
        self._close_master()

    def stop(self, timeout: float = 20.0, *, requested: bool = False) -> None:
        """Power off cleanly; force it if the guest does not go in time."""
        pid = self.pid()
        if pid is None:
            self._close_master()
            return
        if not requested:
            self.request_poweroff()
        if not _wait_gone(pid, timeout):
            log(f"{self.name}: no clean poweroff in {timeout:.0f} s, sending SIGTERM")
            _kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 10):
                _kill(pid, signal.SIGKILL)
                _wait_gone(pid, 10)
        self.pidfile.unlink(missing_ok=True)

    # -- commands ----------------------------------------------------------------

    def _ssh_base(self, multiplex: bool = True, connect_timeout: int = 10,
                  alive_count: int = 6) -> list[str]:
        argv = [
            "ssh", "-p", str(self.spec.ssh_port), "-i", str(self.image.ssh_key),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "ServerAliveInterval=10", "-o", f"ServerAliveCountMax={alive_count}",
        ]
        if multiplex:
            argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.dir}/ssh-%C",
                     "-o", "ControlPersist=300"]
        return [*argv, "root@127.0.0.1"]

    def _ssh(self, remote: list[str], *, input: str | bytes | None = None,
             timeout: float | None = None, connect_timeout: int = 10,
             multiplex: bool = True, alive_count: int = 6) -> subprocess.CompletedProcess:
        argv = [*self._ssh_base(multiplex, connect_timeout, alive_count), "--",
                shlex.join(remote)]
        try:
            return subprocess.run(
                argv, input=input, capture_output=True, timeout=timeout, check=False,
                text=not isinstance(input, bytes),
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
            return subprocess.CompletedProcess(argv, 124, out, f"timed out after {timeout} s")

    def _close_master(self) -> None:
        subprocess.run([*self._ssh_base()[:-1], "-O", "exit", "root@127.0.0.1"],
                       capture_output=True, check=False)

    def run(self, cmd: str, *, check: bool = True, timeout: float = 600,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command in the guest as root; raise with full context on failure."""
        proc = self._ssh(["sh", "-c", cmd], input=input, timeout=timeout)
        if check and proc.returncode != 0:
            # 255: ssh itself failed; the kernel log is then out of reach, the serial
            # console and QEMU's state say why
            context = self.unreachable_report() if proc.returncode == SSH_FAILED \
                else self.kernel_log_tail()
            raise GuestCommandError(self.name, cmd, proc.returncode, proc.stdout,
                                    proc.stderr, context)
        return proc

    def unreachable_report(self) -> str:
        """Why SSH into this guest may have failed: whether its QEMU still runs, whether
        a fresh connection (not the shared master) answers, the serial console's tail
        (where the kernel prints a panic, oops, soft lockup or hung task), and the host's
        kernel lines about an OOM kill."""
        pid = self.pid()
        lines = [f"QEMU of {self.name}: " + (f"running (pid {pid})" if pid else "not running")]
        if pid:
            probe = self._ssh(["true"], connect_timeout=10, multiplex=False, timeout=60)
            lines.append("fresh SSH connection: " + (
                "answers" if probe.returncode == 0
                else f"fails (exit {probe.returncode}: {probe.stderr.strip()[-300:]})"))
        host = subprocess.run(["dmesg"], capture_output=True, text=True, check=False)
        oom = [line for line in host.stdout.splitlines()
               if re.search(r"out of memory|oom-kill|Killed process", line, re.I)]
        lines.append("host OOM kills: " + ("; ".join(oom[-3:]) if oom else "none seen"))
        return "\n".join(lines) + "\n" + self.serial_trouble()

    def copy_in(self, src: Path, dest: str) -> None:
        """Copy a host file or directory to `dest` (a directory) in the guest."""
        src = Path(src)
        with tempfile.TemporaryFile() as buf:
            with tarfile.open(fileobj=buf, mode="w") as tar:
                tar.add(src, arcname=src.name)
            buf.seek(0)
            data = buf.read()
        q = shlex.quote(dest)
        proc = self._ssh(["sh", "-c", f"mkdir -p {q} && tar -C {q} -xf -"], input=data,
                         timeout=600)
        if proc.returncode != 0:
            raise GuestError(f"[{self.name}] copy {src} -> {dest} failed: {proc.stderr!r}")

    def install_modules(self, kos: list[Path], load: str | None = None) -> None:
        """Install .ko files under /lib/modules/<release>/updates, depmod, modprobe `load`."""
        dest = f"/lib/modules/{self.release()}/updates"
        for ko in kos:
            self.copy_in(ko, dest)
        cmd = "depmod -a"
        if load:
            cmd += f" && modprobe {shlex.quote(load)}"
        self.run(cmd)

    def release_name(self) -> str:
        """The Debian release of the guest's image (bookworm, trixie)."""
        return str(self.image.meta.get("suite", "bookworm"))

    def image_name(self) -> str:
        """The guest's image: its release, or a kernel variant (trixie-backports)."""
        return str(self.image.meta.get("image", self.release_name()))

    def unit_privileges(self, unit: str) -> tuple[str, str, int]:
        """User, group and effective capability mask of a systemd unit's main process."""
        pid = self.run(f"systemctl show -p MainPID --value {unit}").stdout.strip()
        user, group = self.run(f"ps -o user=,group= -p {pid}").stdout.split()
        cap = self.run(f"awk '/^CapEff:/ {{print $2}}' /proc/{pid}/status").stdout.strip()
        return user, group, int(cap, 16)

    def release(self) -> str:
        return self.run("uname -r").stdout.strip()

    def ssh_argv(self, cmd: str | None = None, tty: bool = False) -> list[str]:
        """argv of an ssh command into this guest (interactive without `cmd`)."""
        argv = self._ssh_base()
        if tty:
            argv.insert(1, "-t")
        return argv + (["--", cmd] if cmd else [])

    # -- kernel log ------------------------------------------------------------

    def drain_kernel_log(self) -> str:
        """Move the guest's new kernel messages into the host-side log; return them."""
        proc = self._ssh(["dmesg", "--read-clear", "--time-format", "iso"],
                         timeout=60)
        if proc.returncode != 0:
            return f"{DMESG_UNAVAILABLE} {proc.stderr.strip()})\n"
        with self.kmsg_file.open("a") as fh:
            fh.write(proc.stdout)
        return proc.stdout

    def kernel_log_tail(self, lines: int = 60) -> str:
        self.drain_kernel_log()
        return "".join(self.kmsg_file.read_text().splitlines(keepends=True)[-lines:])

    def serial_trouble(self, report: int = 80, tail: int = 15) -> str:
        """The serial console's first kernel trouble report (its first `report` lines:
        the registers and call trace) and its last `tail` lines; without a report, or
        with one inside the last `tail` lines, its last 40 lines."""
        lines = self._serial_lines()
        if lines is None:
            return NO_SERIAL_LOG
        first = next((i for i, line in enumerate(lines) if KERNEL_TROUBLE.search(line)),
                     None)
        if first is None or first >= len(lines) - tail:
            return _tail_section(lines, max(tail, 40))
        rest = lines[max(first + report, len(lines) - tail):]
        return ("--- serial console: first kernel trouble report ---\n"
                + "\n".join(lines[first:first + report])
                + ("\n" + _tail_section(rest, len(rest)) if rest else ""))

    def serial_tail(self, lines: int = 60) -> str:
        text = self._serial_lines()
        return NO_SERIAL_LOG if text is None else _tail_section(text, lines)

    def _serial_lines(self) -> list[str] | None:
        try:
            return self.serial_log.read_text(errors="replace").splitlines()
        except OSError:
            return None


NO_SERIAL_LOG = "(no serial log)"


def _tail_section(lines: list[str], n: int) -> str:
    return "--- serial console (last lines) ---\n" + "\n".join(lines[-n:])


def kernel_trouble(text: str) -> list[str]:
    """Lines of a kernel log that show a WARN, BUG, oops or similar."""
    return [line for line in text.splitlines() if KERNEL_TROUBLE.search(line)]


def live_pid(pidfile: Path, tag: str) -> int | None:
    """PID in `pidfile` if that process runs and `tag` is in its command line."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if tag.encode() in cmdline else None


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
