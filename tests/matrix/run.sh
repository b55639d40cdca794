#!/usr/bin/env bash
# The version matrix's checks with the ansible-core on PATH (scripts/matrix.sh runs this once per version, in a
# venv or in a container): install the collection tarball, --syntax-check every playbook, run matrix.yml, run the
# migrate playbook with a report twice (the report is written; the second run changes nothing).
#   tests/matrix/run.sh TARBALL
# Environment: MATRIX_OLD_PYTHON, an interpreter older than the modules' floor: the modules must refuse it with
# one clear message (checked only when set; ansible-core 2.16 is the only version that still runs modules there).
set -euo pipefail
tarball="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ANSIBLE_COLLECTIONS_PATH="${work}/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_NOCOLOR=1
export ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_PYTHON_INTERPRETER="$(command -v python3 || command -v python)"
version="$(ansible --version | sed -n 1p)"
echo "== ${version} (python $("$ANSIBLE_PYTHON_INTERPRETER" -c 'import platform; print(platform.python_version())'))"
ansible-galaxy collection install --offline -p "${work}/collections" "$tarball" >/dev/null
installed="${work}/collections/ansible_collections/rubymanager/session_persistence"

# --syntax-check of every playbook of the collection, by FQCN, and of this matrix's own playbook.
for pb in "$installed"/playbooks/*.yml; do
  name="$(basename "$pb" .yml)"
  ansible-playbook -i localhost, --syntax-check "rubymanager.session_persistence.${name}" >/dev/null
  echo "   syntax ok: rubymanager.session_persistence.${name}"
done
ansible-playbook -i localhost, --syntax-check "${here}/matrix.yml" >/dev/null

user="$(id -un)" group="$(id -gn)"
ansible-playbook -i localhost, -c local "${here}/matrix.yml" -e "sp_base=${work}/tree" \
  -e "sp_user=${user}" -e "sp_group=${group}" > "${work}/matrix.log" || { cat "${work}/matrix.log"; exit 1; }
echo "   role and modules ok"

# The migrate playbook with a machine-readable report: written, right, and not `changed` on a re-run.
mig=(ansible-playbook -i localhost, -c local rubymanager.session_persistence.migrate -e target=localhost
     -e "session_storage_root=${work}/tree/web/sessions" -e "session_storage_owner=${user}"
     -e "session_storage_group=${group}" -e "{\"session_migrate_legacy_roots\": [\"${work}/tree/legacy\"]}"
     -e "session_migrate_state_dir=${work}/state")
mkdir -p "${work}/tree/legacy/tenant-c"
echo '{"me": {"id": "3@s.whatsapp.net"}}' > "${work}/tree/legacy/tenant-c/tenant-c_creds.json"
ANSIBLE_SHOW_CUSTOM_STATS=true "${mig[@]}" -e "migrate_report=${work}/first.json" > "${work}/migrate1.log" \
  || { cat "${work}/migrate1.log"; exit 1; }
"${mig[@]}" -e "migrate_report=${work}/second.json" > "${work}/migrate2.log" || { cat "${work}/migrate2.log"; exit 1; }
"$ANSIBLE_PYTHON_INTERPRETER" - "${work}/first.json" "${work}/second.json" "${work}/migrate1.log" "${work}/migrate2.log" <<'PY'
import json, re, sys
first, second = (json.load(open(p)) for p in sys.argv[1:3])
log1, log2 = (open(p).read() for p in sys.argv[3:5])
host = first['hosts']['localhost']
assert first['playbook'] == 'migrate' and first['totals']['status'] == 'ok', first
assert [m['name'] for m in host['migrated']] == ['tenant-c'], host
assert first['totals']['migrated'] == 1 and sorted(host['present']) == ['tenant-a', 'tenant-b'], first['totals']
assert second['totals']['migrated'] == 0 and second['totals']['present'] == 3, second['totals']
# set_stats published the totals (shown with ANSIBLE_SHOW_CUSTOM_STATS)
assert 'session_persistence' in log1 and '"migrated": 1' in log1, log1[-2000:]
# the second run, report file included, changed nothing
recap = re.search(r'localhost\s+:\s+ok=\d+\s+changed=(\d+)', log2)
assert recap and recap.group(1) == '0', log2[-2000:]
PY
echo "   migrate playbook, report and set_stats ok; a re-run with a report reports changed=0"

# The deploy playbook: its phases are tagged; a dry run and a real run write their report; a re-run changes nothing.
tags="$(ansible-playbook -i localhost, --list-tags rubymanager.session_persistence.deploy 2>/dev/null)"
for t in validate migrate verify report; do  # storage and service are on the dynamic role include
  grep -Eq "TASK TAGS: \[.*\b${t}\b" <<< "$tags" || { echo "$tags"; echo "deploy has no tag ${t}"; exit 1; }
done
mkdir -p "${work}/tree/legacy/tenant-d"
echo '{"me": {"id": "4@s.whatsapp.net"}}' > "${work}/tree/legacy/tenant-d/tenant-d_creds.json"
dep=("${mig[@]}")
dep[5]=rubymanager.session_persistence.deploy
"${dep[@]}" --check -e "deploy_report=${work}/deploy-check.json" > "${work}/deploy0.log" || { cat "${work}/deploy0.log"; exit 1; }
"${dep[@]}" -e "deploy_report=${work}/deploy1.json" > "${work}/deploy1.log" || { cat "${work}/deploy1.log"; exit 1; }
"${dep[@]}" -e "deploy_report=${work}/deploy2.json" > "${work}/deploy2.log" || { cat "${work}/deploy2.log"; exit 1; }
"$ANSIBLE_PYTHON_INTERPRETER" - "${work}/deploy-check.json" "${work}/deploy1.json" "${work}/deploy2.json" "${work}/deploy2.log" <<'PY'
import json, re, sys
check, first, second = (json.load(open(p)) for p in sys.argv[1:4])
log2 = open(sys.argv[4]).read()
assert check['check_mode'] is True and [m['name'] for m in check['hosts']['localhost']['migrated']] == ['tenant-d'], check
h = first['hosts']['localhost']
assert first['playbook'] == 'deploy' and first['totals']['status'] == 'ok' and h['lost'] == [], first
assert [m['name'] for m in h['migrated']] == ['tenant-d'] and h['counts']['files_migrated'] == 1, h
assert second['totals']['migrated'] == 0 and second['totals']['present'] == 4, second['totals']
recap = re.search(r'localhost\s+:\s+ok=\d+\s+changed=(\d+)', log2)
assert recap and recap.group(1) == '0', log2[-2000:]
PY
# --tags storage: the role runs (a new tenant directory appears), the migration does not (a new legacy session stays).
mkdir -p "${work}/tree/legacy/tenant-e"
echo '{"me": {"id": "5@s.whatsapp.net"}}' > "${work}/tree/legacy/tenant-e/tenant-e_creds.json"
"${dep[@]}" --tags storage -e '{"session_storage_tenants": ["tenant-tag"]}' > "${work}/deploy3.log" || { cat "${work}/deploy3.log"; exit 1; }
[ -d "${work}/tree/web/sessions/tenant-tag" ] || { cat "${work}/deploy3.log"; echo "--tags storage did not run the role"; exit 1; }
[ ! -e "${work}/tree/web/sessions/tenant-e" ] || { cat "${work}/deploy3.log"; echo "--tags storage ran the migration"; exit 1; }
echo "   deploy playbook: tags, dry-run and real reports ok; a re-run with a report reports changed=0; --tags storage runs only the role"

if [ -n "${MATRIX_OLD_PYTHON:-}" ]; then
  out="$(ansible localhost -c local -i localhost, -m rubymanager.session_persistence.session_info \
    -a "path=${work}/tree/web/sessions" -e "ansible_python_interpreter=${MATRIX_OLD_PYTHON}" 2>&1 || true)"
  old="$("$MATRIX_OLD_PYTHON" -c 'import platform; print(platform.python_version())')"
  grep -q "session_info needs Python 3.9 or newer on the managed host; ${MATRIX_OLD_PYTHON} is Python ${old}" <<< "$out" \
    || { echo "$out"; echo "no clear message on Python ${old}"; exit 1; }
  echo "   Python ${old} on the host: the module fails with the version it needs"
fi
