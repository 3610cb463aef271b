#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Socket hand-over / give-back (see detach_check.py). Disposable machines only.
#   tests/netns_detach.sh [tools-dir] [tests-dir]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
TESTS=${2:-$(dirname "$0")}
cleanup() { ip netns del ovsa 2>/dev/null; }
trap cleanup EXIT
cleanup
modprobe ovpn_shortcut || exit 1
ip netns add ovsa
ip netns exec ovsa ip link set lo up
ip netns exec ovsa ip addr add 10.0.5.1/24 dev lo
ip netns exec ovsa ip addr add 10.0.5.2/24 dev lo
ip netns exec ovsa ip link add td type ovpn-shortcut
ip netns exec ovsa python3 $TESTS/detach_check.py $TOOLS td 10.0.5.1:1600 10.0.5.2:1601
RC=$?
ip netns exec ovsa python3 $TOOLS/ovpn_sc_ctl.py get-dev td | grep -E '"no_key"|userspace'
ip netns exec ovsa ip link del td
exit $RC
