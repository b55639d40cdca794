#!/usr/bin/env bash
# The main job on a safe local default: apply the collection to localhost with the sessions root in a scratch
# folder inside this checkout (.local/demo, recreated on every run), owned by you (www-data when run as root).
# Nothing outside .local/demo and .venv is written.
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_venv
ensure_collection_link
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_DIR"

DEMO="${REPO_ROOT}/.local/demo"
rm -rf "$DEMO" && mkdir -p "$DEMO"
if [ "$(id -u)" -eq 0 ]; then owner=www-data group=www-data; else owner="$(id -un)" group="$(id -gn)"; fi

cd "${REPO_ROOT}/scripts/local"
run() {
  ansible-playbook -i inventory.yml site.yml \
    -e "demo_dir=${DEMO}" -e "session_storage_owner=${owner}" -e "session_storage_group=${group}" "$@"
}
log "First run: prepares ${DEMO}/sessions"
run --diff
log "Second run: must change nothing"
run | tee "${DEMO}/second-run.log"
grep -Eq 'changed=0 .*failed=0' "${DEMO}/second-run.log" || die "the second run changed something (see above)"
log "Done: see ${DEMO}"
