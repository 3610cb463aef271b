"""Control plane against the real module in a guest, through module_utils/ovpn_shortcut.py.

Every test runs once with Debian's python3-pyroute2 (0.7.2, what guests have) and, with
OVPN_TEST_FULL=1, once with the host venv's pyroute2 (0.9.x, copied into the guest: it
is pure Python).
The client and the CLI are copied in as files, the way they are deployed.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyroute2
import pytest

from ovpn_lab import paths
from ovpn_lab.guest import Guest
from ovpn_lab.kbuild import build_module

from .conftest import FULL, NOT_FULL

GUEST_DIR = "/opt/ovpn-shortcut"
PYROUTE2_NEW_DIR = "/opt/pyroute2-host"
PEER_V4 = "198.18.0.2"
PEER_V6 = "fd00:6f76:706e::2"

PRELUDE = '''
import errno, json, os, socket, sys, time
from module_utils import ovpn_shortcut as nl
import pyroute2

def err(fn, *a, **kw):
    """errno + extack of a request expected to fail (None when it succeeded)."""
    try:
        fn(*a, **kw)
    except nl.OvpnShortcutError as e:
        return {"errno": errno.errorcode.get(e.errno, e.errno), "extack": e.extack}
    return None

def fresh(name, mode, **kw):
    os.system(f"ip link del {name} 2>/dev/null")
    return nl.create_device(name, mode, **kw)

def udp(family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    return s

def key(peer_id, slot, key_id, alg, keylen, noncelen=8):
    return nl.Key(peer_id, slot, key_id, alg,
                  nl.KeyDir(os.urandom(keylen), os.urandom(noncelen)),
                  nl.KeyDir(os.urandom(keylen), os.urandom(noncelen)))

out = {"pyroute2": getattr(pyroute2, "__version__", None) or pyroute2.__file__}
ovs = nl.OvpnShortcut()
'''

EPILOGUE = '''
print("@@JSON@@" + json.dumps(nl.to_jsonable(out)))
'''


@pytest.fixture(scope="module")
def nlg(guests: list[Guest], image, tmp_path_factory) -> Guest:
    """g1 with the freshly built module loaded and the client + CLI copied in."""
    g = guests[0]
    kos = build_module(paths.REPO_ROOT / "kernel_module", tmp_path_factory.mktemp("kb"),
                       image=image)
    g.install_modules([k for k in kos if k.name == "ovpn_shortcut.ko"])
    g.run("rmmod ovpn_shortcut 2>/dev/null; modprobe ovpn_shortcut")
    g.run(f"rm -rf {GUEST_DIR} {PYROUTE2_NEW_DIR}")
    g.copy_in(paths.REPO_ROOT / "module_utils", GUEST_DIR)
    g.copy_in(paths.REPO_ROOT / "ovpn_shortcut_cli", GUEST_DIR)
    g.copy_in(Path(pyroute2.__file__).parent, PYROUTE2_NEW_DIR)
    g.run(f"find {GUEST_DIR} {PYROUTE2_NEW_DIR} -name __pycache__ -prune -exec rm -rf {{}} +;"
          f" chmod -R a+rX {GUEST_DIR} {PYROUTE2_NEW_DIR}")
    return g


# Debian's pyroute2 is what fleet hosts run; the host's newer one only with
# OVPN_TEST_FULL=1 (test_site's deploy runs the modules on Debian 13's pyroute2)
@pytest.fixture(params=["debian", pytest.param("host", marks=pytest.mark.skipif(
    not FULL, reason=NOT_FULL))], ids=["pyroute2-0.7-debian", "pyroute2-host"])
def pyenv(request, nlg: Guest) -> str:
    """PYTHONPATH for the guest's python3: Debian's pyroute2 or the host venv's copy."""
    if request.param == "debian":
        path = GUEST_DIR
        want = "/usr/lib/python3/dist-packages/pyroute2/"
        deb = nlg.run("dpkg-query -W -f '${Version}' python3-pyroute2").stdout
        assert deb.startswith("0.7."), deb
    else:
        path = f"{PYROUTE2_NEW_DIR}:{GUEST_DIR}"
        want = f"{PYROUTE2_NEW_DIR}/pyroute2/"
    got = nlg.run(f"cd / && PYTHONPATH={path} python3 -c "
                  "'import pyroute2; print(pyroute2.__file__)'").stdout
    assert got.startswith(want), got
    return f"PYTHONPATH={path}"


def run_py(g: Guest, pyenv: str, body: str, *, user: str | None = None) -> dict:
    """Run PRELUDE + body + EPILOGUE in the guest; return the `out` dict."""
    script = PRELUDE + textwrap.dedent(body) + EPILOGUE
    prefix = ""
    if user:
        prefix = f"setpriv --reuid={user} --regid=nogroup --clear-groups "
    proc = g.run(f"cd / && {pyenv} {prefix}python3 -", input=script, check=False, timeout=300)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@JSON@@")]
    assert proc.returncode == 0 and marker, (
        f"guest script failed rc={proc.returncode}\nstdout:\n{proc.stdout}\n"
        f"stderr:\n{proc.stderr}\ndmesg:\n{g.kernel_log_tail(30)}")
    return json.loads(marker[-1][len("@@JSON@@"):])


def assert_refused(result: dict | None, errname: str, what: str) -> None:
    assert result is not None, f"{what}: the kernel accepted it"
    assert result["errno"] == errname, f"{what}: {result}"
    assert result["extack"], f"{what}: no extack message ({result})"


# ---------------------------------------------------------------- devices


def test_link_kind_creates_both_modes(nlg, pyenv):
    out = run_py(nlg, pyenv, '''
        from pyroute2 import IPRoute
        nl.register_link_kind()
        os.system("ip link del nlp2p 2>/dev/null; ip link del nlmp 2>/dev/null")
        with IPRoute() as ipr:  # plain pyroute2 once the kind is registered
            ipr.link("add", ifname="nlp2p", kind="ovpn-shortcut", ovpn_sc_mode=0)
        fresh("nlmp", nl.Mode.MP, listen_port=11940)
        out["list"] = [d for d in nl.list_devices() if d[1] in ("nlp2p", "nlmp")]
        out["p2p"] = ovs.get_dev("nlp2p")
        out["mp"] = ovs.get_dev("nlmp")
        out["ip"] = os.popen("ip -d link show nlmp").read()
        out["ss"] = os.popen("ss -Huln").read()
        nl.delete_device("nlp2p")
        nl.delete_device("nlmp")
        out["after"] = [d for d in nl.list_devices() if d[1] in ("nlp2p", "nlmp")]
    ''')
    names = {name: mode for _i, name, mode in out["list"]}
    assert names == {"nlp2p": 0, "nlmp": 1}
    assert out["p2p"]["mode"] == "p2p" and out["p2p"]["ifname"] == "nlp2p"
    assert out["p2p"]["listen_port"] == 0 and out["p2p"]["peers"] == 0
    assert out["mp"]["mode"] == "mp" and out["mp"]["listen_port"] == 11940
    assert "ovpn-shortcut" in out["ip"]
    assert ":11940" in out["ss"]
    assert out["after"] == []


# ---------------------------------------------------------------- peers


def test_peers_with_passed_socket_fd(nlg, pyenv):
    out = run_py(nlg, pyenv, f'''
        fresh("nlpeers", nl.Mode.MP)
        s6 = udp(socket.AF_INET6)  # dual-stack: v4 and v6 remotes
        for i in (1, 2, 3):
            ovs.new_peer("nlpeers", i, nl.Endpoint("{PEER_V4}", 1190 + i),
                         socket_fd=s6.fileno(), vpn_ipv4=f"10.8.0.{{i + 1}}",
                         vpn_ipv6=f"fd00:8::{{i + 1}}" if i == 3 else None)
        ovs.new_peer("nlpeers", 0xfffffe, nl.Endpoint("{PEER_V6}", 1194),
                     socket_fd=s6.fileno(), vpn_ipv4="10.8.0.200", data_v1=True)
        # the module hooks one UDP socket per device: another one is refused
        s4 = udp()
        out["second_socket"] = err(ovs.new_peer, "nlpeers", 9, nl.Endpoint("{PEER_V4}", 1),
                                   socket_fd=s4.fileno())
        s4.close()
        ovs.set_peer("nlpeers", 1, 10, 60)
        out["one"] = ovs.get_peer("nlpeers", 1)
        out["three"] = ovs.get_peer("nlpeers", 3)
        out["v6"] = ovs.get_peer("nlpeers", 0xfffffe)
        out["dump"] = [p.peer_id for p in ovs.dump_peers("nlpeers")]
        out["dev"] = ovs.get_dev("nlpeers")
        ovs.del_peer("nlpeers", 2)
        out["dump_after_del"] = [p.peer_id for p in ovs.dump_peers("nlpeers")]
        out["get_deleted"] = err(ovs.get_peer, "nlpeers", 2)
        out["del_deleted"] = err(ovs.del_peer, "nlpeers", 2)
        ovs.set_peer("nlpeers", 1, 0, 0)
        out["ka_off"] = ovs.get_peer("nlpeers", 1)
        # no file reference in the kernel: the last close detaches every peer on it
        s6.close()
        out["after_close"] = [p.peer_id for p in ovs.dump_peers("nlpeers")]
        fresh("nlp2p", nl.Mode.P2P)
        s = udp()
        ovs.new_peer("nlp2p", 7, nl.Endpoint("{PEER_V4}", 1194), socket_fd=s.fileno(),
                     vpn_ipv4="10.9.0.2")
        out["p2p"] = ovs.dump_peers("nlp2p")
        # a new session's peer replaces the old one (OpenVPN adds it before it
        # forgets the old one when the other end restarted without notice)
        with ovs.listen() as listener:
            ovs.new_peer("nlp2p", 8, nl.Endpoint("{PEER_V4}", 1195), socket_fd=s.fileno(),
                         vpn_ipv4="10.9.0.2")
            out["p2p_replaced"] = listener.next(timeout=10)
        out["p2p_second"] = [p.peer_id for p in ovs.dump_peers("nlp2p")]
        os.system("ip link set nlp2p up")
        out["p2p_carrier"] = open("/sys/class/net/nlp2p/carrier").read().strip()
        nl.delete_device("nlpeers"); nl.delete_device("nlp2p")
    ''')
    one = out["one"]
    assert one["peer_id"] == 1 and one["remote"] == f"{PEER_V4}:1191"
    assert one["vpn_ipv4"] == "10.8.0.2" and one["vpn_ipv6"] is None
    assert (one["keepalive_interval"], one["keepalive_timeout"]) == (10, 60)
    assert one["data_v1"] is False and one["local_port"]
    assert set(one["drops"]) >= {"auth", "replay", "loop"}
    assert out["three"]["vpn_ipv6"] == "fd00:8::4"
    assert out["v6"]["remote"] == f"[{PEER_V6}]:1194" and out["v6"]["data_v1"] is True
    assert out["dump"] == [1, 2, 3, 0xFFFFFE]
    assert out["dev"]["peers"] == 4
    assert out["dump_after_del"] == [1, 3, 0xFFFFFE]
    assert_refused(out["second_socket"], "EBUSY", "a second UDP socket on one device")
    assert_refused(out["get_deleted"], "ENOENT", "get-peer of a deleted peer")
    assert_refused(out["del_deleted"], "ENOENT", "del-peer of a deleted peer")
    assert (out["ka_off"]["keepalive_interval"], out["ka_off"]["keepalive_timeout"]) == (0, 0)
    assert out["after_close"] == [], "closing the socket's last fd left peers behind"
    assert [p["peer_id"] for p in out["p2p"]] == [7]
    assert out["p2p_second"] == [8], "the second P2P peer did not replace the first"
    assert (out["p2p_replaced"]["peer_id"], out["p2p_replaced"]["reason"]) == (7, "teardown"), out
    assert out["p2p_carrier"] == "1"


def test_device_owned_socket(nlg, pyenv):
    out = run_py(nlg, pyenv, f'''
        fresh("nlsock", nl.Mode.MP)
        out["no_socket"] = err(ovs.new_peer, "nlsock", 1, nl.Endpoint("{PEER_V4}", 1194))
        ovs.set_dev("nlsock", 11950)
        out["dev"] = ovs.get_dev("nlsock")
        out["ss"] = os.popen("ss -Huln").read()
        ovs.new_peer("nlsock", 1, nl.Endpoint("{PEER_V4}", 1194), vpn_ipv4="10.8.1.2")
        ovs.new_peer("nlsock", 2, nl.Endpoint("{PEER_V6}", 1194), vpn_ipv4="10.8.1.3")
        out["peers"] = ovs.dump_peers("nlsock")
        out["change_port_while_open"] = err(ovs.set_dev, "nlsock", 11952)
        out["same_port_again"] = err(ovs.set_dev, "nlsock", 11950)
        out["bad_family"] = err(ovs.set_dev, "nlsock", 11953, 99)
        ovs.del_peer("nlsock", 1); ovs.del_peer("nlsock", 2)
        ovs.set_dev("nlsock", 0)
        ovs.set_dev("nlsock", 11951, socket.AF_INET)
        out["dev_v4"] = ovs.get_dev("nlsock")
        out["ss_v4"] = os.popen("ss -Huln").read()
        ovs.set_dev("nlsock", 0)
        out["dev_closed"] = ovs.get_dev("nlsock")
        out["ss_closed"] = os.popen("ss -Huln").read()
        nl.delete_device("nlsock")
    ''')
    assert_refused(out["no_socket"], "EINVAL", "new-peer without fd or device socket")
    assert out["dev"]["listen_port"] == 11950
    assert ":11950" in out["ss"]
    assert [p["peer_id"] for p in out["peers"]] == [1, 2]
    assert out["peers"][0]["remote"] == f"{PEER_V4}:1194"
    assert out["peers"][0]["local_port"] == 11950
    assert_refused(out["change_port_while_open"], "EBUSY", "set-dev to another port")
    assert out["same_port_again"] is None
    assert_refused(out["bad_family"], "EAFNOSUPPORT", "set-dev listen-family 99")
    assert out["dev_v4"]["listen_port"] == 11951
    assert "0.0.0.0:11951" in out["ss_v4"]
    assert out["dev_closed"]["listen_port"] == 0
    assert ":11951" not in out["ss_closed"]


# ---------------------------------------------------------------- keys


def test_keys_of_each_cipher_swap_and_delete(nlg, pyenv):
    out = run_py(nlg, pyenv, f'''
        fresh("nlkeys", nl.Mode.MP)
        s = udp()
        ovs.new_peer("nlkeys", 1, nl.Endpoint("{PEER_V4}", 1194), socket_fd=s.fileno())
        out["steps"] = []
        kid = 0
        for alg, keylen in ((nl.CipherAlg.AES_GCM, 16), (nl.CipherAlg.AES_GCM, 24),
                            (nl.CipherAlg.AES_GCM, 32), (nl.CipherAlg.CHACHA20_POLY1305, 32)):
            step = {{"alg": alg.name, "keylen": keylen}}
            ovs.new_key("nlkeys", key(1, nl.KeySlot.PRIMARY, kid, alg, keylen))
            ovs.new_key("nlkeys", key(1, nl.KeySlot.SECONDARY, (kid + 1) % 8, alg, keylen))
            p = ovs.get_peer("nlkeys", 1)
            step["installed"] = [p.primary_key_id, p.secondary_key_id]
            ovs.swap_keys("nlkeys", 1)
            p = ovs.get_peer("nlkeys", 1)
            step["swapped"] = [p.primary_key_id, p.secondary_key_id]
            ovs.del_key("nlkeys", 1, nl.KeySlot.SECONDARY)
            p = ovs.get_peer("nlkeys", 1)
            step["del_secondary"] = [p.primary_key_id, p.secondary_key_id]
            ovs.del_key("nlkeys", 1, nl.KeySlot.PRIMARY)
            p = ovs.get_peer("nlkeys", 1)
            step["del_primary"] = [p.primary_key_id, p.secondary_key_id]
            out["steps"].append(step)
            kid = (kid + 2) % 8
        # cipher none authenticates nothing: refused unless allow_cipher_none=1
        out["none"] = err(ovs.new_key, "nlkeys", key(1, nl.KeySlot.PRIMARY, 0,
                                                     nl.CipherAlg.NONE, 0))
        nl.delete_device("nlkeys")
    ''')
    # EOPNOTSUPP, which Python's errno.errorcode names ENOTSUP (the same 95 on Linux)
    assert_refused(out["none"], "ENOTSUP", "cipher none without allow_cipher_none")
    kid = 0
    for step in out["steps"]:
        a, b = kid, (kid + 1) % 8
        assert step["installed"] == [a, b], step
        assert step["swapped"] == [b, a], step
        assert step["del_secondary"] == [b, None], step
        assert step["del_primary"] == [None, None], step
        kid = (kid + 2) % 8
    assert len(out["steps"]) == 4


# ---------------------------------------------------------------- iroutes


def test_iroutes(nlg, pyenv):
    out = run_py(nlg, pyenv, f'''
        fresh("nlir", nl.Mode.MP)
        s = udp()
        ovs.new_peer("nlir", 1, nl.Endpoint("{PEER_V4}", 1194), socket_fd=s.fileno(),
                     vpn_ipv4="10.8.2.2")
        ovs.new_iroute("nlir", 1, "10.20.0.0/16")
        ovs.new_iroute("nlir", 1, "fd00:20::/48")
        out["with"] = ovs.get_peer("nlir", 1).iroutes
        ovs.del_iroute("nlir", 1, "10.20.0.0/16")
        out["after_del"] = ovs.get_peer("nlir", 1).iroutes
        out["del_missing"] = err(ovs.del_iroute, "nlir", 1, "10.99.0.0/16")
        out["unknown_peer"] = err(ovs.new_iroute, "nlir", 9, "10.30.0.0/16")
        out["bad_len"] = err(ovs.request, nl.build_msg(nl.OVPN_SC_CMD_NEW_IROUTE,
            socket.if_nametoindex("nlir"), "OVPN_SC_ATTR_IROUTE",
            [["OVPN_SC_IROUTE_ATTR_PEER_ID", 1],
             ["OVPN_SC_IROUTE_ATTR_PREFIX", bytes(4)],
             ["OVPN_SC_IROUTE_ATTR_PREFIX_LEN", 33]]))
        nl.delete_device("nlir")
    ''')
    assert sorted(out["with"]) == ["10.20.0.0/16", "fd00:20::/48"]
    assert out["after_del"] == ["fd00:20::/48"]
    assert_refused(out["del_missing"], "ENOENT", "del-iroute of a missing prefix")
    assert_refused(out["unknown_peer"], "ENOENT", "new-iroute for an unknown peer")
    assert_refused(out["bad_len"], "EINVAL", "IPv4 iroute /33")


# ---------------------------------------------------------------- bad requests


def test_bad_requests_carry_errno_and_extack(nlg, pyenv):
    out = run_py(nlg, pyenv, f'''
        idx = fresh("nlbad", nl.Mode.MP)
        s = udp()
        ep = nl.Endpoint("{PEER_V4}", 1194)
        r = out["r"] = {{}}
        r["unknown_ifindex"] = err(ovs.new_peer, 999999, 1, ep, socket_fd=s.fileno())
        r["unknown_ifindex_get_dev"] = err(ovs.get_dev, 999999)
        r["not_ovpn_device"] = err(ovs.get_dev, 1)
        r["peer_id_undef"] = err(ovs.new_peer, idx, 0xffffff, ep, socket_fd=s.fileno())
        r["peer_id_too_big"] = err(ovs.new_peer, idx, 0x1000000, ep, socket_fd=s.fileno())
        ovs.new_peer(idx, 1, ep, socket_fd=s.fileno(), vpn_ipv4="10.8.3.2")
        r["duplicate_peer_id"] = err(ovs.new_peer, idx, 1, ep, socket_fd=s.fileno())
        r["missing_remote"] = err(ovs.new_peer, idx, 2, None, socket_fd=s.fileno())
        r["bad_fd"] = err(ovs.new_peer, idx, 3, ep, socket_fd=9999)
        tcp = socket.socket()
        r["tcp_fd"] = err(ovs.new_peer, idx, 4, ep, socket_fd=tcp.fileno())
        r["short_sockaddr"] = err(ovs.request, nl.build_msg(nl.OVPN_SC_CMD_NEW_PEER, idx,
            "OVPN_SC_ATTR_NEW_PEER", [["OVPN_SC_NEW_PEER_ATTR_PEER_ID", 5],
                                      ["OVPN_SC_NEW_PEER_ATTR_SOCKADDR_REMOTE", bytes(8)],
                                      ["OVPN_SC_NEW_PEER_ATTR_SOCKET", s.fileno()]]))
        r["missing_nest"] = err(ovs.request, nl.build_msg(nl.OVPN_SC_CMD_NEW_PEER, idx))
        r["missing_ifindex"] = err(ovs.request, nl.build_msg(nl.OVPN_SC_CMD_GET_DEV, None))
        r["set_peer_unknown"] = err(ovs.set_peer, idx, 42, 1, 5)
        r["aes_key_17"] = err(ovs.new_key, idx, key(1, 0, 0, nl.CipherAlg.AES_GCM, 17))
        r["chacha_key_16"] = err(ovs.new_key, idx,
                                 key(1, 0, 0, nl.CipherAlg.CHACHA20_POLY1305, 16))
        r["nonce_7"] = err(ovs.new_key, idx, key(1, 0, 0, nl.CipherAlg.AES_GCM, 16, 7))
        r["key_id_8"] = err(ovs.new_key, idx, key(1, 0, 8, nl.CipherAlg.AES_GCM, 16))
        r["slot_2"] = err(ovs.new_key, idx, key(1, 2, 0, nl.CipherAlg.AES_GCM, 16))
        r["cipher_3"] = err(ovs.new_key, idx, key(1, 0, 0, 3, 16))
        r["key_unknown_peer"] = err(ovs.new_key, idx, key(9, 0, 0, nl.CipherAlg.AES_GCM, 16))
        r["missing_encrypt_key"] = err(ovs.request, nl.build_msg(nl.OVPN_SC_CMD_NEW_KEY, idx,
            "OVPN_SC_ATTR_NEW_KEY", nl.build_new_key(
                key(1, 0, 0, nl.CipherAlg.AES_GCM, 16))[:4]))
        r["missing_key_slot"] = err(ovs.request, nl.build_msg(nl.OVPN_SC_CMD_NEW_KEY, idx,
            "OVPN_SC_ATTR_NEW_KEY", [a for a in nl.build_new_key(
                key(1, 0, 0, nl.CipherAlg.AES_GCM, 16)) if not a[0].endswith("KEY_SLOT")]))
        r["swap_unknown_peer"] = err(ovs.swap_keys, idx, 9)
        r["del_key_unknown_peer"] = err(ovs.del_key, idx, 9, 0)
        r["set_dev_missing_port"] = err(ovs.request, nl.build_msg(nl.OVPN_SC_CMD_SET_DEV, idx,
            "OVPN_SC_ATTR_DEV", []))
        r["get_peer_unknown"] = err(ovs.get_peer, idx, 77)
        nl.delete_device("nlbad")
    ''')
    r = out["r"]
    expected = {
        "unknown_ifindex": "ENODEV", "unknown_ifindex_get_dev": "ENODEV",
        "not_ovpn_device": "EINVAL",
        "peer_id_undef": "EINVAL", "peer_id_too_big": "EINVAL",
        "duplicate_peer_id": "EEXIST",
        "missing_remote": "EINVAL", "missing_nest": "EINVAL", "missing_ifindex": "EINVAL",
        "bad_fd": "EBADF",
        # violations of the spec's checks (policy): netlink's own ERANGE + message
        "short_sockaddr": "ERANGE", "nonce_7": "ERANGE", "key_id_8": "ERANGE",
        "slot_2": "ERANGE", "cipher_3": "ERANGE",
        "set_peer_unknown": "ENOENT",
        "aes_key_17": "EINVAL", "chacha_key_16": "EINVAL",
        "key_unknown_peer": "ENOENT", "missing_encrypt_key": "EINVAL",
        "missing_key_slot": "EINVAL",
        "swap_unknown_peer": "ENOENT", "del_key_unknown_peer": "ENOENT",
        "set_dev_missing_port": "EINVAL", "get_peer_unknown": "ENOENT",
    }
    problems = []
    for what, errname in expected.items():
        got = r[what]
        if got is None or got["errno"] != errname or not got["extack"]:
            problems.append(f"{what}: want {errname} + extack, got {got}")
    # a TCP socket is not a UDP socket: any errno, but refused with a message
    if r["tcp_fd"] is None or not r["tcp_fd"]["extack"]:
        problems.append(f"tcp_fd: want a refusal with extack, got {r['tcp_fd']}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- permissions


def test_unprivileged_user_gets_eperm(nlg, pyenv):
    # a device-owned socket: a handed-over one would detach its peer when this
    # setup script exits (the kernel keeps no file reference)
    setup = run_py(nlg, pyenv, f'''
        fresh("nlperm", nl.Mode.MP, listen_port=11959)
        ovs.new_peer("nlperm", 1, nl.Endpoint("{PEER_V4}", 1194))
        ovs.new_key("nlperm", key(1, 0, 0, nl.CipherAlg.AES_GCM, 16))
        ovs.new_iroute("nlperm", 1, "10.40.0.0/16")
    ''')
    assert setup
    out = run_py(nlg, pyenv, f'''
        out["uid"] = os.getuid()
        s = udp()
        ep = nl.Endpoint("{PEER_V4}", 1195)
        r = out["r"] = {{}}
        r["new_peer"] = err(ovs.new_peer, "nlperm", 2, ep, socket_fd=s.fileno())
        r["set_peer"] = err(ovs.set_peer, "nlperm", 1, 1, 5)
        r["new_key"] = err(ovs.new_key, "nlperm", key(1, 1, 1, nl.CipherAlg.AES_GCM, 16))
        r["swap_keys"] = err(ovs.swap_keys, "nlperm", 1)
        r["del_key"] = err(ovs.del_key, "nlperm", 1, 0)
        r["new_iroute"] = err(ovs.new_iroute, "nlperm", 1, "10.41.0.0/16")
        r["del_iroute"] = err(ovs.del_iroute, "nlperm", 1, "10.40.0.0/16")
        r["set_dev"] = err(ovs.set_dev, "nlperm", 11960)
        r["del_peer"] = err(ovs.del_peer, "nlperm", 1)
        # spec: get-peer and get-dev are admin-perm too
        r["get_peer"] = err(ovs.get_peer, "nlperm", 1)
        r["get_dev"] = err(ovs.get_dev, "nlperm")
    ''', user="nobody")
    assert out["uid"] != 0
    wrong = {k: v for k, v in out["r"].items() if v is None or v["errno"] != "EPERM"}
    assert not wrong, f"not refused with EPERM: {wrong}"
    after = run_py(nlg, pyenv, '''
        p = ovs.get_peer("nlperm", 1)
        out["peer"] = [p.primary_key_id, p.secondary_key_id, p.keepalive_interval, p.iroutes]
        out["dev"] = ovs.get_dev("nlperm").listen_port
        nl.delete_device("nlperm")
    ''')
    assert after["peer"] == [0, None, 0, ["10.40.0.0/16"]], "unprivileged request changed state"
    assert after["dev"] == 11959


# ---------------------------------------------------------------- notifications


def test_notifications_deleted_userspace_and_expired(nlg, pyenv):
    out = run_py(nlg, pyenv, f'''
        idx = fresh("nlntf", nl.Mode.MP)
        s = udp()
        with ovs.listen() as listener:
            for i in (1, 2, 3):
                ovs.new_peer(idx, i, nl.Endpoint("{PEER_V4}", 1190 + i), socket_fd=s.fileno())
            ovs.del_peer(idx, 1)
            out["userspace"] = listener.next(timeout=10)
            ovs.set_peer(idx, 2, 1, 3)  # nothing will arrive: expires after ~3 s
            t0 = time.monotonic()
            out["expired"] = listener.next(timeout=30)
            out["expired_after"] = round(time.monotonic() - t0, 1)
            nl.delete_device("nlntf")
            out["teardown"] = listener.next(timeout=10)
            out["quiet"] = listener.next(timeout=1)
    ''')
    assert out["userspace"] == {"event": "peer-deleted", "ifindex": out["userspace"]["ifindex"],
                                "peer_id": 1, "reason": "userspace"}
    assert out["expired"] is not None, "no notification when keepalive timeout expired"
    assert (out["expired"]["peer_id"], out["expired"]["reason"]) == (2, "expired"), out
    assert 1.5 <= out["expired_after"] <= 20, out["expired_after"]
    assert out["teardown"] is not None, "no notification for peers gone with the device"
    assert (out["teardown"]["peer_id"], out["teardown"]["reason"]) == (3, "teardown"), out
    assert out["quiet"] is None


# ---------------------------------------------------------------- CLI


def cli(g: Guest, pyenv: str, args: str, *, check: bool = True) -> tuple[int, str]:
    proc = g.run(f"cd {GUEST_DIR} && {pyenv} python3 -m ovpn_shortcut_cli {args}",
                 check=False, timeout=120)
    if check:
        assert proc.returncode == 0, f"{args}: rc {proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.returncode, proc.stdout


def test_cli_in_guest(nlg, pyenv):
    # the same key material per pyroute2 version on one guest: each run starts with an
    # empty register of used pre-shared keys (the CLI refuses material used before)
    nlg.run("ip link del nlcli 2>/dev/null; rm -f /var/lib/ovpn-shortcut/used-keys; true")
    _, added = cli(nlg, pyenv, "dev add nlcli --mode mp --json")
    assert json.loads(added)["ifindex"] > 0
    cli(nlg, pyenv, f"peer add nlcli 1 --remote {PEER_V4}:1194 --bind [::]:0 "
                    "--vpn-ipv4 10.8.5.2")
    # no --bind/--fd: the device's current socket (the one handed over above)
    cli(nlg, pyenv, f"peer add nlcli 2 --remote [{PEER_V6}]:1194 "
                    "--vpn-ipv4 10.8.5.3 --vpn-ipv6 fd00:85::3")
    # a long timeout: nothing answers, and TCG guests run each command for seconds
    cli(nlg, pyenv, "peer set nlcli 1 --keepalive-interval 10 --keepalive-timeout 3600")
    cli(nlg, pyenv, "key add nlcli 1 --slot primary --key-id 2 --cipher chacha20-poly1305 "
                    f"--encrypt-key {'11' * 32} --encrypt-nonce {'22' * 8} "
                    f"--decrypt-key {'33' * 32} --decrypt-nonce {'44' * 8}")
    # from a file (no key in argv): the argv form above warned about ps
    nlg.run(f"umask 077; printf 'encrypt-key {'11' * 16}\\nencrypt-nonce {'22' * 8}\\n"
            f"decrypt-key {'33' * 16}\\ndecrypt-nonce {'44' * 8}\\n' > /root/nlcli.key")
    cli(nlg, pyenv, "key add nlcli 1 --slot secondary --key-id 3 --cipher aes-gcm "
                    "--key-file /root/nlcli.key")
    bad = nlg.run(f"cd {GUEST_DIR} && {pyenv} python3 -m ovpn_shortcut_cli key add nlcli 1 "
                  "--slot secondary --key-id 9 --key-file /root/nlcli.key", check=False)
    assert bad.returncode == 2 and "--key-id" in bad.stderr, bad.stderr
    cli(nlg, pyenv, "key swap nlcli 1")
    cli(nlg, pyenv, "iroute add nlcli 2 10.50.0.0/16")
    rc_busy, busy = cli(nlg, pyenv, "--json dev set nlcli --listen-port 11970", check=False)
    _, text = cli(nlg, pyenv, "show nlcli")
    _, js = cli(nlg, pyenv, "show nlcli --json")
    _, all_js = cli(nlg, pyenv, "--json show")
    _, one = cli(nlg, pyenv, "--json peer get nlcli 1")
    rc, dup = cli(nlg, pyenv, f"--json peer add nlcli 1 --remote {PEER_V4}:1", check=False)
    proc = nlg.run(f"cd {GUEST_DIR} && {pyenv} python3 -m ovpn_shortcut_cli peer add nlcli 1 "
                   f"--remote {PEER_V4}:1", check=False)
    rc_text, err_text = proc.returncode, proc.stderr
    cli(nlg, pyenv, "key del nlcli 1 --slot secondary")
    cli(nlg, pyenv, "iroute del nlcli 2 10.50.0.0/16")
    cli(nlg, pyenv, "peer del nlcli 2")
    _, after = cli(nlg, pyenv, "peer get nlcli --json")
    # the script path works as well as -m
    direct = nlg.run(f"cd / && {pyenv.replace(GUEST_DIR, '/nonexistent')} "
                     f"python3 {GUEST_DIR}/ovpn_shortcut_cli show nlcli").stdout
    cli(nlg, pyenv, "dev del nlcli")

    assert "nlcli (ifindex" in text and "mode mp" in text and "peers 2" in text
    assert f"{PEER_V4}:1194" in text and "peer 2 iroutes: 10.50.0.0/16" in text
    data = json.loads(js)
    (entry,) = data["devices"]
    assert entry["device"]["mode"] == "mp" and entry["device"]["peers"] == 2
    assert set(entry["device"]["drops"]) >= {"bad_header", "auth", "loop"}
    peers = {p["peer_id"]: p for p in entry["peers"]}
    assert peers[1]["keepalive_interval"] == 10
    assert (peers[1]["primary_key_id"], peers[1]["secondary_key_id"]) == (3, 2)
    assert peers[2]["vpn_ipv6"] == "fd00:85::3" and peers[2]["iroutes"] == ["10.50.0.0/16"]
    assert any(d["device"]["ifname"] == "nlcli" for d in json.loads(all_js)["devices"])
    assert json.loads(one)["peer"]["peer_id"] == 1
    assert rc == 1 and json.loads(dup)["error"]["error"] == "EEXIST"
    assert json.loads(dup)["error"]["extack"]
    assert rc_text == 1 and "errno 17" in err_text and "File exists" in err_text
    assert rc_busy == 1 and json.loads(busy)["error"]["error"] == "EBUSY"
    assert [p["peer_id"] for p in json.loads(after)["peers"]] == [1]
    assert "nlcli (ifindex" in direct


def test_cli_watch(nlg, pyenv):
    nlg.run("ip link del nlwatch 2>/dev/null; rm -f /tmp/nlwatch.out; true")
    cli(nlg, pyenv, "dev add nlwatch --mode mp")
    cli(nlg, pyenv, f"peer add nlwatch 5 --remote {PEER_V4}:1194 --bind 0.0.0.0:0")
    cmd = (f"cd {GUEST_DIR} && {pyenv} nohup python3 -m ovpn_shortcut_cli watch --json "
           "--ready --count 1 --timeout 60 > /tmp/nlwatch.out 2>&1 &")
    nlg.run(cmd)
    nlg.run("for i in $(seq 100); do grep -q ready /tmp/nlwatch.out && exit 0; sleep 0.2; "
            "done; cat /tmp/nlwatch.out; exit 1")
    cli(nlg, pyenv, "peer del nlwatch 5")
    nlg.run("for i in $(seq 100); do grep -q peer-deleted /tmp/nlwatch.out && exit 0; "
            "sleep 0.2; done; cat /tmp/nlwatch.out; exit 1")
    lines = nlg.run("cat /tmp/nlwatch.out").stdout.splitlines()
    cli(nlg, pyenv, "dev del nlwatch")
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert events[0] == {"ready": True}
    assert events[1]["event"] == "peer-deleted"
    assert (events[1]["peer_id"], events[1]["reason"]) == (5, "userspace")


def test_cli_tap_in_guest(nlg, pyenv):
    """Tap devices through the CLI (cli_tap.sh): dev add --type tap, peers, keys, a ping,
    mac list / set / flush and show; the kernel side is kernel_module/tests/netns_l2.sh."""
    nlg.copy_in(Path(__file__).with_name("cli_tap.sh"), "/root")
    proc = nlg.run(f"cd {GUEST_DIR} && CLI='env {pyenv} python3 -m ovpn_shortcut_cli' "
                   "bash /root/cli_tap.sh", check=False, timeout=600)
    out = proc.stdout + proc.stderr
    failed = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
    assert proc.returncode == 0 and not failed and "ALL PASSED" in out, out[-6000:]
