#!/usr/bin/env bash
# Run every test of the collection: lint, build+install, ansible-test sanity and units, all Molecule scenarios.
#
#   bash scripts/test.sh              everything
#   bash scripts/test.sh units lint   only the named stages (lint build sanity units molecule)
#
# Needs Debian 12 (or a machine with Python 3.11 and a working Docker). As root on a machine without Docker,
# the molecule stage installs Debian's docker.io, starts dockerd with no bridge and no iptables rules, builds
# the test images with debootstrap, and stops that daemon again at the end.
# Environment: MOLECULE_IMAGE, MOLECULE_SYSTEMD_IMAGE (test image names), MOLECULE_SCENARIOS (default: all).
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=(lint build sanity units molecule)
export MOLECULE_IMAGE="${MOLECULE_IMAGE:-rubymanager-sp/debian12:latest}"
export MOLECULE_SYSTEMD_IMAGE="${MOLECULE_SYSTEMD_IMAGE:-rubymanager-sp/debian12-systemd:latest}"

ensure_venv
ensure_collection_link
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_DIR"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}" PY_COLORS="${PY_COLORS:-0}" ANSIBLE_NOCOLOR=1
cd "$REPO_ROOT"

stage_lint() {
  log "ansible-lint (production profile, offline) and antsibull-changelog lint"
  ansible-lint --offline
  antsibull-changelog lint
}

stage_build() {
  log "Build the collection, install the tarball into a scratch path and run its content by FQCN"
  local out="${REPO_ROOT}/.build/dist" inst="${REPO_ROOT}/.build/installed"
  rm -rf "$out" "$inst" && mkdir -p "$out" "$inst"
  ansible-galaxy collection build --output-path "$out" "$REPO_ROOT" >/dev/null
  ansible-galaxy collection install --offline --force -p "$inst" "$out"/rubymanager-session_persistence-*.tar.gz >/dev/null
  local scratch; scratch="$(mktemp -d)"
  ANSIBLE_COLLECTIONS_PATH="$inst" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false bash -c '
    set -euo pipefail
    for m in $(ls "$1"/ansible_collections/rubymanager/session_persistence/plugins/modules/ | sed -n "s/\.py$//p"); do
      ansible-doc "rubymanager.session_persistence.$m" >/dev/null
    done
    ansible localhost -c local -i localhost, -e "ansible_python_interpreter=$(command -v python)" \
      -m rubymanager.session_persistence.session_ownership \
      -a "path=$2 owner=$(id -un) group=$(id -gn)" >/dev/null
  ' _ "$inst" "$scratch"
  rm -rf "$scratch"
}

prepare_ansible_test() {
  # ansible-test downloads a pip bootstrap script for every venv it builds; when that host is out of reach
  # (PyPI-only networks), put a stand-in that uses ensurepip where ansible-test looks for its cached copy.
  local ver cache
  ver="$(python - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)"
  cache="${HOME}/.ansible/test/cache/get_pip_${ver//./_}.py"
  if [ ! -f "$cache" ] && ! python -c "import urllib.request as u; u.urlopen('https://ci-files.testing.ansible.com/ansible-test/get-pip-${ver}.py', timeout=10)" 2>/dev/null; then
    log "The pip bootstrap script cannot be downloaded; using the ensurepip stand-in for ansible-test"
    mkdir -p "$(dirname "$cache")"
    cp "${REPO_ROOT}/scripts/ansible-test-offline-pip.py" "$cache"
  fi
}

stage_sanity() {
  log "ansible-test sanity"
  prepare_ansible_test
  local copy; copy="$(copy_for_ansible_test)"
  # shellcheck disable=SC2064
  trap "rm -rf '${copy%/ansible_collections/*}'" RETURN
  (cd "$copy" && ansible-test sanity --python 3.11 --local --requirements --color no)
}

stage_units() {
  log "ansible-test units"
  local copy; copy="$(copy_for_ansible_test)"
  # shellcheck disable=SC2064
  trap "rm -rf '${copy%/ansible_collections/*}'" RETURN
  (cd "$copy" && ansible-test units --python 3.11 --local --requirements --color no)
}

stage_molecule() {
  log "Molecule scenarios on a real container"
  if timeout 20 docker info >/dev/null 2>&1; then
    log "Docker engine is running; using it"
  else
    # A daemon this run starts is stopped again when the run ends, whatever the outcome.
    trap 'bash "${REPO_ROOT}/scripts/docker-host.sh" stop' EXIT
    bash "${REPO_ROOT}/scripts/docker-host.sh" start
  fi
  bash "${REPO_ROOT}/scripts/docker-host.sh" image "$MOLECULE_IMAGE"
  if [ -d "${REPO_ROOT}/molecule/systemd" ] || [ -d "${REPO_ROOT}/molecule/cutover" ]; then
    bash "${REPO_ROOT}/scripts/docker-host.sh" image "$MOLECULE_SYSTEMD_IMAGE" systemd
  fi
  local scenarios=()
  if [ -n "${MOLECULE_SCENARIOS:-}" ]; then read -r -a scenarios <<< "$MOLECULE_SCENARIOS"
  else for d in "${REPO_ROOT}"/molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$d")")"); done; fi
  # Container names get this run's id, so that two runs on one Docker host (two checkouts, say) never collide.
  export MOLECULE_INSTANCE_SUFFIX="${MOLECULE_INSTANCE_SUFFIX:-$$}"
  local s failed=()
  for s in "${scenarios[@]}"; do
    log "molecule test -s ${s}"
    molecule test -s "$s" || failed+=("$s")
  done
  [ ${#failed[@]} -eq 0 ] || die "Molecule scenarios failed: ${failed[*]}"
}

for stage in "${STAGES[@]}"; do
  case "$stage" in lint|build|sanity|units|molecule) ;; *) die "unknown stage '${stage}' (lint build sanity units molecule)" ;; esac
done
if [ ${#STAGES[@]} -eq 1 ]; then
  "stage_${STAGES[0]}"
  log "Stage passed: ${STAGES[0]}"
  exit 0
fi
# Every stage runs (in its own process, with errexit intact) even when an earlier one failed, so one run shows
# every problem; the exit status is 1 if any failed.
failed_stages=()
for stage in "${STAGES[@]}"; do
  bash "${REPO_ROOT}/scripts/test.sh" "$stage" || failed_stages+=("$stage")
done
[ ${#failed_stages[@]} -eq 0 ] || die "stages failed: ${failed_stages[*]}"
log "All requested stages passed: ${STAGES[*]}"
