#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Privilege (user namespaces, multicast group), netns deletion under a moved
# static-mode device, socket owner closing its fd, TX counters, GET_PEER of a
# peer with 900 iroutes, cipher none off by default (see safety_check.py).
# Disposable machines only.
#   tests/netns_safety.sh [tools-dir]
set -u
TOOLS=${1:-$(dirname "$0")/../tools}
dmesg -C
python3 "$(dirname "$0")/safety_check.py" "$TOOLS"
RC=$?
lsmod | grep -q '^ovpn_shortcut ' && rmmod ovpn_shortcut
if dmesg | grep -E 'WARNING|BUG|refcount|Oops|unregister_netdevice: waiting'; then
    echo "FAIL: kernel log"
    RC=1
else
    echo "PASS: kernel log clean"
fi
exit $RC
