#!/usr/bin/python3
"""Build Debian's openvpn package with the ovpn-shortcut patch series.

Runs as root on a Debian 12 host with Debian's python3 (stdlib only):

1. ensure deb-src entries mirroring the host's own "deb" entries
   (/etc/apt/sources.list.d/ovpn-shortcut-src.sources) and apt-get update;
2. install the build dependencies (apt-get build-dep openvpn, quilt if missing);
3. apt-get source openvpn into a fresh work directory;
4. append the patch series (openvpn-patches/series next to this script) to
   Debian's debian/patches/series and apply it with quilt (no fuzz);
5. add a debian/changelog entry with a version suffix that marks the build
   (default: <debian version>+ovpnsc1);
6. dpkg-buildpackage -b -uc -us (DEB_BUILD_OPTIONS="nocheck parallel=N");
7. copy the resulting .deb files to the output directory.

Every step is printed; a failing command stops the build and its output is
printed (the full build log stays in the work directory).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_PATCHES = HERE / "openvpn-patches"
SRC_LIST = Path("/etc/apt/sources.list.d/ovpn-shortcut-src.sources")
PACKAGE = "openvpn"
PATCH_SUBDIR = "ovpn-shortcut"
# Raise the suffix whenever the series changes, or apt keeps an earlier build of the
# same version on hosts already deployed. SERIES_DIGEST is series_digest() of the
# series the suffix was given to; a unit test fails when they no longer match.
DEFAULT_SUFFIX = "+ovpnsc6"
SERIES_DIGEST = "a840e2079363e066f0cc5652cab8d24c29ad10950a4c57e59be4fa954c16df35"
MAINTAINER = "ovpn-shortcut build <root@localhost>"

_T0 = time.monotonic()


class BuildError(RuntimeError):
    pass


def series_digest(patches: Path) -> str:
    """sha256 over `series` and every patch it lists, in order (what the build applies)."""
    h = hashlib.sha256()
    names = (patches / "series").read_text().split()
    for name in ["series", *names]:
        h.update(name.encode() + b"\0" + (patches / name).read_bytes() + b"\0")
    return h.hexdigest()


def say(msg: str) -> None:
    print(f"[build-openvpn {time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        log: Path | None = None, ok: tuple[int, ...] = (0,),
        quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command; on an unexpected exit status raise BuildError with its output.

    With `log` the output goes to that file (and its tail into the error).
    """
    where = f" (in {cwd})" if cwd else ""
    if not quiet:
        say(f"$ {shlex.join(argv)}{where}")
    full_env = {**os.environ, "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive",
                **(env or {})}
    if log is not None:
        with log.open("w") as fh:
            proc = subprocess.run(argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                                  stdout=fh, stderr=subprocess.STDOUT, text=True, check=False)
        out = log.read_text(errors="replace")
        proc = subprocess.CompletedProcess(argv, proc.returncode, out, "")
    else:
        proc = subprocess.run(argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, check=False)
    if proc.returncode not in ok:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-150:])
        where_log = f"\nfull log: {log}" if log else ""
        raise BuildError(f"command failed (exit {proc.returncode}): {shlex.join(argv)}{where}\n"
                         f"--- output (last 150 lines) ---\n{tail}{where_log}")
    return proc


# -- apt sources -------------------------------------------------------------------------


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, ""
            continue
        if line[0] in " \t" and key:
            cur[key] += "\n" + line.strip()
            continue
        if ":" in line:
            key, _sep, value = line.partition(":")
            key = key.strip().lower()
            cur[key] = value.strip()
    if cur:
        stanzas.append(cur)
    return stanzas


def host_sources() -> list[dict[str, str]]:
    """Every enabled apt source as deb822-like dicts (types, uris, suites, components, ...)."""
    found: list[dict[str, str]] = []
    base = Path("/etc/apt")
    for path in sorted(base.glob("sources.list.d/*.sources")):
        if path == SRC_LIST:
            continue
        for st in _deb822_stanzas(path.read_text()):
            if st.get("enabled", "yes").lower() != "no":
                found.append(st)
    lists = [base / "sources.list", *sorted(base.glob("sources.list.d/*.list"))]
    line_re = re.compile(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$")
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            m = line_re.match(line.split("#", 1)[0].strip())
            if not m:
                continue
            st = {"types": m[1], "uris": m[3], "suites": m[4], "components": m[5]}
            for opt in (m[2] or "").split():
                k, _sep, v = opt.partition("=")
                if k == "signed-by":
                    st["signed-by"] = v
            found.append(st)
    return found


def wanted_src_stanzas(sources: list[dict[str, str]]) -> list[dict[str, str]]:
    """deb-src stanzas for every (uri, suite) that has "deb" but no "deb-src" yet."""
    have_src: set[tuple[str, str]] = set()
    for st in sources:
        if "deb-src" in st.get("types", "").split():
            for uri in st.get("uris", "").split():
                for suite in st.get("suites", "").split():
                    have_src.add((uri.rstrip("/"), suite))
    out: list[dict[str, str]] = []
    for st in sources:
        if "deb" not in st.get("types", "").split():
            continue
        uris = st.get("uris", "").split()
        suites = [s for s in st.get("suites", "").split()
                  if all((u.rstrip("/"), s) not in have_src for u in uris)]
        if not uris or not suites:
            continue
        new = {"types": "deb-src", "uris": " ".join(uris), "suites": " ".join(suites),
               "components": st.get("components", "main")}
        if st.get("signed-by"):
            new["signed-by"] = st["signed-by"]
        out.append(new)
    return out


def render_sources(stanzas: list[dict[str, str]]) -> str:
    names = {"types": "Types", "uris": "URIs", "suites": "Suites",
             "components": "Components", "signed-by": "Signed-By"}
    parts = ["# deb-src entries mirroring the host's deb entries, written by\n"
             "# build_openvpn_deb.py (ovpn-shortcut) to build the patched openvpn.\n"]
    for st in stanzas:
        parts.append("".join(f"{names[k]}: {st[k]}\n" for k in names if st.get(k)))
    return "\n".join(parts)


def ensure_deb_src() -> None:
    """Add missing deb-src entries; apt-get update when the file changed."""
    sources = host_sources()
    existing = SRC_LIST.read_text() if SRC_LIST.is_file() else None
    stanzas = wanted_src_stanzas(sources)
    if not stanzas:
        if existing is None:
            say("apt: deb-src entries already configured by the host")
        else:
            say(f"apt: deb-src entries present ({SRC_LIST})")
        return
    text = render_sources(stanzas)
    if existing == text:
        say(f"apt: {SRC_LIST} up to date")
        return
    SRC_LIST.write_text(text)
    say(f"apt: wrote {SRC_LIST} ({len(stanzas)} deb-src stanza(s))")
    run(["apt-get", "update"])


def archive_versions(policy: str) -> list[tuple[str, int]]:
    """(version, priority) of each version `apt-cache policy` lists from a repository,
    newest first (apt's order); a version known only from /var/lib/dpkg/status (the
    patched package installed here) is not one."""
    out: list[tuple[str, int]] = []
    version = None
    table = policy.split("Version table:", 1)[-1] if "Version table:" in policy else ""
    for line in table.splitlines():
        head = re.match(r"^ (?:\*\*\*| {3}) (\S+) -?\d+$", line)
        if head:
            version = head[1]
            continue
        src = re.match(r"^\s+(-?\d+) (\S+)", line)
        if src and version and src[2] != "/var/lib/dpkg/status":
            if out and out[-1][0] == version:
                out[-1] = (version, max(out[-1][1], int(src[1])))
            else:
                out.append((version, int(src[1])))
    return out


def candidate_version() -> str | None:
    """The version of the binary package apt would install from the archive (None if
    it knows none).

    This is the release's own version (with its -security and -updates), not
    a newer one of an enabled -backports suite, which apt only installs when
    asked: the patched package replaces what the host would run otherwise.
    Nor is it the patched package once installed: apt's own Candidate is then
    that version (newer than Debian's, so never downgraded), which no source
    package has; the build host's second run failed on it.
    """
    proc = run(["apt-cache", "policy", PACKAGE], ok=(0,), quiet=True)
    versions = archive_versions(proc.stdout)
    if not versions:
        return None
    # the highest priority; among equals the newest (max keeps the first, apt lists newest first)
    return max(versions, key=lambda vp: vp[1])[0]


def source_version(pinned: str | None = None) -> str:
    """The Debian version of the source to build (apt-get update once if unknown).

    Default: the source of the binary package's candidate version.
    """
    if not pinned:
        pinned = candidate_version()
        if pinned is None:
            say("apt: openvpn unknown, running apt-get update")
            run(["apt-get", "update"])
            pinned = candidate_version()
    spec = f"{PACKAGE}={pinned}" if pinned else PACKAGE
    argv = ["apt-get", "source", "--print-uris", "-qq", spec]
    proc = run(argv, ok=(0, 100), quiet=True)
    if proc.returncode != 0:
        say("apt: source package unknown, running apt-get update")
        run(["apt-get", "update"])
        proc = run(argv, quiet=True)
    m = re.search(rf"\s{re.escape(PACKAGE)}_(\S+)\.dsc\s", proc.stdout)
    if not m:
        raise BuildError(f"no .dsc for {spec} in:\n{proc.stdout}{proc.stderr}")
    return m[1].split(":", 1)[-1] if ":" in m[1] else m[1]


# -- build ------------------------------------------------------------------------------


def read_series(patches: Path) -> list[str]:
    series = patches / "series"
    if not series.is_file():
        raise BuildError(f"no series file in {patches}")
    names = [ln.split("#", 1)[0].strip() for ln in series.read_text().splitlines()]
    names = [n for n in names if n]
    for n in names:
        if not (patches / n).is_file():
            raise BuildError(f"series lists {n} but {patches / n} does not exist")
    return names


def install_build_deps() -> None:
    run(["apt-get", "build-dep", "-y", PACKAGE])
    missing = [p for p, exe in (("quilt", "quilt"), ("dpkg-dev", "dpkg-buildpackage"))
               if shutil.which(exe) is None]
    if missing:
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing])
    else:
        say("quilt and dpkg-dev present")


def fetch_source(work: Path, version: str) -> Path:
    if work.exists():
        say(f"removing old work dir {work}")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    run(["apt-get", "source", "-o", "APT::Sandbox::User=root", f"{PACKAGE}={version}"],
        cwd=work)
    upstream = version.split(":")[-1].rsplit("-", 1)[0]
    tree = work / f"{PACKAGE}-{upstream}"
    if not (tree / "debian" / "changelog").is_file():
        raise BuildError(f"apt-get source did not unpack {tree}")
    return tree


def apply_series(tree: Path, patches: Path, names: list[str]) -> None:
    env = {"QUILT_PATCHES": "debian/patches", "QUILT_PC": ".pc"}
    # apt-get source (dpkg-source -x) already applied Debian's own patches;
    # push whatever may be left so that ours go on top of the full stack.
    proc = run(["quilt", "push", "-a", "--fuzz=0"], cwd=tree, env=env, ok=(0, 2))
    say("Debian's patches: " + ("all applied" if proc.returncode == 2 else "pushed"))
    dest = tree / "debian" / "patches" / PATCH_SUBDIR
    dest.mkdir(parents=True, exist_ok=True)
    series = tree / "debian" / "patches" / "series"
    text = series.read_text() if series.is_file() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    text += "# ovpn-shortcut (build_openvpn_deb.py)\n"
    for n in names:
        shutil.copy2(patches / n, dest / n)
        text += f"{PATCH_SUBDIR}/{n}\n"
    series.write_text(text)
    say(f"appended {len(names)} patch(es) to debian/patches/series")
    run(["quilt", "push", "-a", "--fuzz=0"], cwd=tree, env=env)
    applied = run(["quilt", "applied"], cwd=tree, env=env, quiet=True).stdout.split()
    for n in names:
        if f"debian/patches/{PATCH_SUBDIR}/{n}" not in applied:
            raise BuildError(f"{n} is not applied after quilt push:\n{applied}")
    say("applied: " + ", ".join(names))


def bump_changelog(tree: Path, suffix: str, names: list[str]) -> str:
    cl = tree / "debian" / "changelog"
    text = cl.read_text()
    first = text.splitlines()[0]
    m = re.match(r"^(\S+) \(([^)]+)\) ([^;]+);", first)
    if not m:
        raise BuildError(f"cannot parse {cl}: {first!r}")
    pkg, old, dist = m[1], m[2], m[3]
    # reuse the previous entry's date: the build date (SOURCE_DATE_EPOCH,
    # derived from the changelog) then depends only on the inputs
    date = re.search(r"^ -- .+?  (.+)$", text, re.M)
    if not date:
        raise BuildError(f"no trailer line in {cl}")
    new = old + suffix
    items = "".join(f"  * debian/patches/{PATCH_SUBDIR}/{n}\n" for n in names)
    entry = (f"{pkg} ({new}) {dist}; urgency=medium\n\n"
             "  * ovpn-shortcut build: Linux DCO drives the ovpn-shortcut kernel module\n"
             f"{items}\n -- {MAINTAINER}  {date[1]}\n\n")
    cl.write_text(entry + text)
    say(f"debian/changelog: {old} -> {new}")
    return new


def build(tree: Path, jobs: int) -> Path:
    log = tree.parent / "dpkg-buildpackage.log"
    env = {"DEB_BUILD_OPTIONS": f"nocheck parallel={jobs}"}
    say(f"building (DEB_BUILD_OPTIONS='{env['DEB_BUILD_OPTIONS']}'), log: {log}")
    t0 = time.monotonic()
    run(["dpkg-buildpackage", "-b", "-uc", "-us"], cwd=tree, env=env, log=log)
    say(f"dpkg-buildpackage done in {time.monotonic() - t0:.0f} s")
    return log


def collect(work: Path, out: Path, version: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    debs = sorted(work.glob(f"*_{version}_*.deb"))
    if not any(d.name.startswith(f"{PACKAGE}_") for d in debs):
        raise BuildError(f"no {PACKAGE}_{version}_*.deb in {work}: "
                         f"{sorted(p.name for p in work.iterdir())}")
    result = []
    for deb in debs:
        dest = out / deb.name
        shutil.copy2(deb, dest)
        result.append(dest)
        say(f"-> {dest}")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Build Debian's openvpn with the ovpn-shortcut patch series "
                    "(run as root on Debian 12).")
    ap.add_argument("-o", "--output-dir", type=Path, default=Path("openvpn-debs"),
                    help="where the .deb files are copied (default: ./openvpn-debs)")
    ap.add_argument("-w", "--work-dir", type=Path,
                    default=Path("/tmp/ovpn-shortcut-openvpn-build"),
                    help="scratch directory, emptied first "
                         "(default: /tmp/ovpn-shortcut-openvpn-build)")
    ap.add_argument("--patches", type=Path, default=DEFAULT_PATCHES,
                    help=f"directory with series and the patches (default: {DEFAULT_PATCHES})")
    ap.add_argument("--suffix", default=DEFAULT_SUFFIX,
                    help=f"appended to the Debian version (default: {DEFAULT_SUFFIX})")
    ap.add_argument("--source-version",
                    help="Debian version of the openvpn source to fetch (default: the "
                         "candidate apt-get source picks)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="parallel build jobs (default: CPU count)")
    ap.add_argument("--skip-build-deps", action="store_true",
                    help="do not run apt-get build-dep / install quilt")
    ap.add_argument("--print-source-version", action="store_true",
                    help="ensure the deb-src entries, print the source version, exit")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if os.geteuid() != 0:
            raise BuildError("run as root (apt-get build-dep, apt sources)")
        if args.print_source_version:
            ensure_deb_src()
            print(source_version(args.source_version))
            return 0
        if not re.fullmatch(r"[A-Za-z0-9.+~]+", args.suffix) or args.suffix[0] not in "+~":
            raise BuildError(f"--suffix {args.suffix!r}: use e.g. +ovpnsc1")
        patches = args.patches.resolve()
        names = read_series(patches)
        say(f"patch series {patches}: {', '.join(names)}")
        ensure_deb_src()
        version = source_version(args.source_version)
        say(f"source: {PACKAGE} {version}")
        if not args.skip_build_deps:
            install_build_deps()
        work = args.work_dir.resolve()
        tree = fetch_source(work, version)
        apply_series(tree, patches, names)
        new = bump_changelog(tree, args.suffix, names)
        build(tree, max(1, args.jobs))
        debs = collect(work, args.output_dir.resolve(), new)
        say(f"done: {PACKAGE} {new}, {len(debs)} .deb(s) in {args.output_dir.resolve()} "
            f"({time.monotonic() - _T0:.0f} s)")
        return 0
    except BuildError as exc:
        print(f"build_openvpn_deb: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
