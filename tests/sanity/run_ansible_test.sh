#!/usr/bin/env bash
# ansible-test sanity on the collection ovpn.shortcut as collection/build.py
# stages it (every plugin: modules, module_utils, filters; the role, playbooks),
# offline, without docker:
#   ansible-test sanity --local --python 3.11 [extra args]
# in the staged tree.  Exit status is ansible-test's.  Env: KEEP=1 keeps the
# temporary tree; SRC=DIR builds from the repository copy DIR (tests).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SRC=${SRC:-$REPO}
ANSIBLE_TEST=${ANSIBLE_TEST:-$REPO/.venv/bin/ansible-test}
TMP=$(mktemp -d /tmp/ovpn-sanity.XXXXXX)
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$TMP"' EXIT; fi
COLL=$("$REPO/.venv/bin/python" "$REPO/collection/build.py" --src "$SRC" --stage "$TMP" --stage-only)

# ansible-test fills each sanity test's virtualenv by running a cached copy of
# get-pip.py, which it downloads from ci-files.testing.ansible.com -- unreachable
# from this machine.  Offline stand-in: the same job (pip install ARGS with pip
# itself taken from the pip wheel of that version, fetched with the venv's pip from
# the configured index), written only when no real script is cached.
PIP_BOOT=$("$REPO/.venv/bin/python" -c 'import re, ansible_test._internal.python_requirements as r, inspect; print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r.get_venv_packages)).group(1))')
CACHE=$HOME/.ansible/test/cache
GET_PIP=$CACHE/get_pip_${PIP_BOOT//./_}.py
if [ ! -s "$GET_PIP" ]; then
    mkdir -p "$CACHE"
    "$REPO/.venv/bin/pip" download -q --no-deps -d "$CACHE" "pip==$PIP_BOOT"
    cat > "$GET_PIP" <<PY
# Offline stand-in for get-pip.py $PIP_BOOT, written by ovpn-shortcut's
# tests/sanity/run_ansible_test.sh: pip install ARGS using pip from its wheel.
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "pip-$PIP_BOOT-py3-none-any.whl"))
from pip._internal.cli.main import main
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--upgrade", "--force-reinstall", *args]))
PY
fi

cd "$COLL"
"$ANSIBLE_TEST" sanity --local --python 3.11 --color no "$@"
