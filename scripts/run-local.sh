#!/usr/bin/env bash
# The main job on a safe local default: the real `deploy` playbook on localhost, with everything in a scratch
# folder inside this checkout (.local/demo, recreated on every run) seeded with BaileysCSharp-shaped sessions
# in the legacy locations of the old gateway. It shows the migration report, then runs `deploy` again to show
# that it changes nothing. Files are owned by you (by www-data when run as root). Nothing outside .local/demo
# and .venv is written.
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_venv
ensure_collection_link
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_DIR"

DEMO="${REPO_ROOT}/.local/demo"
APP="${DEMO}/web/whatsapp.rubymanager.app"
rm -rf "$DEMO" && mkdir -p "$APP"
if [ "$(id -u)" -eq 0 ]; then owner=www-data group=www-data; else owner="$(id -un)" group="$(id -gn)"; fi

log "Seeding legacy sessions under ${APP}"
python "${REPO_ROOT}/scripts/local/seed_sessions.py" "$APP" \
  7afd5398-97c3-11eb-a990-f23c917564d6:workdir:old,keys=300 \
  tenant-assembly:assembly tenant-assembly:netcoreapp:keys=5 \
  tenant-netcoreapp:netcoreapp tenant-base:base tenant-broken:base:empty
find "$APP" -maxdepth 5 -name '*_creds.json' | sed "s|^${DEMO}/|  |" | sort

deploy() {
  ansible-playbook -i "${REPO_ROOT}/scripts/local/inventory.yml" rubymanager.session_persistence.deploy \
    -e "demo_dir=${DEMO}" -e "session_storage_owner=${owner}" -e "session_storage_group=${group}" \
    -e "session_migrate_state_dir=${DEMO}/state" "$@"
}
log "deploy, first run: prepares ${APP}/sessions and migrates every legacy session"
deploy --diff
log "deploy, second run: must change nothing"
deploy | tee "${DEMO}/second-run.log"
grep -Eq 'changed=0 .*failed=0' "${DEMO}/second-run.log" || die "the second deploy changed something (see above)"
log "Done. Sessions root: ${APP}/sessions"
