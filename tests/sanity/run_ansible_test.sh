#!/usr/bin/env bash
# ansible-test sanity on library/ovpn_*.py and module_utils/, offline, without docker.
#
# The modules live in a plain repo (ansible.cfg: library = library, module_utils =
# module_utils) and import `ansible.module_utils.ovpn_shortcut*`.  ansible-test only
# tests collections, so this script copies them into a temporary collection
# ovpn.shortcut (plugins/modules, plugins/module_utils) with the imports rewritten
# to `ansible_collections.ovpn.shortcut.plugins.module_utils.*`, and runs
#   ansible-test sanity --local --python 3.11 [extra args]
# in it.  Exit status is ansible-test's.  Env: KEEP=1 keeps the temporary tree;
# SRC=DIR takes library/ and module_utils/ from DIR instead of the repo (tests).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SRC=${SRC:-$REPO}
ANSIBLE_TEST=${ANSIBLE_TEST:-$REPO/.venv/bin/ansible-test}
TMP=$(mktemp -d /tmp/ovpn-sanity.XXXXXX)
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$TMP"' EXIT; fi
COLL=$TMP/ansible_collections/ovpn/shortcut
mkdir -p "$COLL/plugins/modules" "$COLL/plugins/module_utils" "$COLL/meta" \
         "$COLL/tests/sanity"

cp "$SRC"/library/ovpn_*.py "$COLL/plugins/modules/"
cp "$SRC"/module_utils/ovpn_shortcut.py "$SRC"/module_utils/ovpn_shortcut_ansible.py \
   "$COLL/plugins/module_utils/"
sed -i 's/\bansible\.module_utils\.ovpn_shortcut/ansible_collections.ovpn.shortcut.plugins.module_utils.ovpn_shortcut/g' \
    "$COLL"/plugins/modules/*.py "$COLL"/plugins/module_utils/*.py
# documentation references: short names in library/, FQCNs in a collection
sed -i -e 's/M(ovpn_/M(ovpn.shortcut.ovpn_/g' -e 's/^\(  - module: \)ovpn_/\1ovpn.shortcut.ovpn_/' \
    "$COLL"/plugins/modules/*.py

cat > "$COLL/galaxy.yml" <<'YAML'
namespace: ovpn
name: shortcut
version: 0.1.0
readme: README.md
authors: [ovpn-shortcut project]
license: [GPL-2.0-only]
YAML
echo "# ovpn.shortcut (sanity-test copy of library/ and module_utils/)" > "$COLL/README.md"
printf -- '---\nrequires_ansible: ">=2.15.0"\n' > "$COLL/meta/runtime.yml"
# The modules run on the targets' python3 (Debian 12: 3.11); no Python 2.
printf -- '---\nmodules:\n  python_requires: ">=3.11"\n' > "$COLL/tests/config.yml"
cp "$REPO"/tests/sanity/ignore-*.txt "$COLL/tests/sanity/" 2>/dev/null || true

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
