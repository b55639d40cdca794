#!/usr/bin/env bash
# Run the tests of the collection, stage by stage.
#
#   bash scripts/test.sh                       every stage, in the order of ALL_STAGES below
#   bash scripts/test.sh units lint            only the named stages
#   bash scripts/test.sh --list                the stages and what each one proves
#
# The client stage runs as root: it installs Debian's nodejs, npm and mono-mcs when missing, the npm packages of
# tests/client (npm ci, from the npm registry), and runs the gateway libraries as www-data.
# Needs Debian 12 (or a machine with Python 3.11 and a working Docker). As root on a machine without Docker,
# the Docker stages install Debian's docker.io, start dockerd with no bridge and no iptables rules, build
# the test images with debootstrap, and stop that daemon again at the end.
# Environment: MOLECULE_IMAGE, MOLECULE_SYSTEMD_IMAGE (Debian 12 test image names), MOLECULE_SCENARIOS (the
# molecule stage's scenarios, default: all), PLATFORMS (the platforms stage's runs, see stage_platforms),
# MATRIX_VERSIONS (the matrix stage's ansible-core versions, default: tests/matrix/ansible-core.txt).
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# Every stage, in the order a full run takes them. A new stage is a function stage_<name> plus its name and one
# line of description here.
ALL_STAGES=(lint build sanity units client molecule matrix platforms harness)
declare -A STAGE_INFO=(
  [lint]="a bare ansible-lint (production profile, configured in .ansible-lint) and antsibull-changelog lint"
  [build]="build the tarball; galaxy-importer clean; install it and run its content by FQCN; the 0.1.0 changelog renders; ansible-builder create"
  [sanity]="ansible-test sanity"
  [units]="ansible-test units (pytest)"
  [client]="the real client libraries (Node.js Baileys from npm, a C# reader like BaileysCSharp) read migrated sessions as www-data"
  [molecule]="every Molecule scenario on Debian 12"
  [matrix]="modules, role and --syntax-check of every playbook on each ansible-core minor 2.16 to 2.21"
  [platforms]="Molecule default, migrate, redeploy on Debian 11 and 13, systemd on Debian 13"
  [harness]="scripts/docker-host.sh stops the dockerd it started and leaves others alone (a private second daemon)"
)
if [ "${1:-}" = --list ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  for stage in "${ALL_STAGES[@]}"; do printf '%-10s %s\n' "$stage" "${STAGE_INFO[$stage]}"; done
  exit 0
fi
STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=("${ALL_STAGES[@]}")
export MOLECULE_IMAGE="${MOLECULE_IMAGE:-rubymanager-sp/debian12:latest}"
export MOLECULE_SYSTEMD_IMAGE="${MOLECULE_SYSTEMD_IMAGE:-rubymanager-sp/debian12-systemd:latest}"

ensure_venv
ensure_collection_link
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_DIR"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}" PY_COLORS="${PY_COLORS:-0}" ANSIBLE_NOCOLOR=1
cd "$REPO_ROOT"

stage_lint() {
  log "ansible-lint as a developer runs it in a fresh clone (everything from .ansible-lint) and antsibull-changelog lint"
  # No ANSIBLE_COLLECTIONS_PATH: ansible-lint installs the collection it lints into .ansible/ itself.
  env -u ANSIBLE_COLLECTIONS_PATH ansible-lint
  antsibull-changelog lint
}

stage_build() {
  log "Build the collection, check it as Galaxy imports it, install the tarball and run its content by FQCN"
  local out="${REPO_ROOT}/.build/dist" inst="${REPO_ROOT}/.build/installed" tarball
  rm -rf "$out" "$inst" && mkdir -p "$out" "$inst"
  ansible-galaxy collection build --output-path "$out" "$REPO_ROOT" >/dev/null
  tarball="$(ls "$out"/rubymanager-session_persistence-*.tar.gz)"
  check_tarball_content "$tarball"
  galaxy_import "$tarball"
  ANSIBLE_COLLECTIONS_PATH="$inst" ansible-galaxy collection install --offline --force -p "$inst" "$tarball" >/dev/null
  local scratch; scratch="$(mktemp -d)"
  ANSIBLE_COLLECTIONS_PATH="$inst" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false bash -c '
    set -euo pipefail
    base="$1"/ansible_collections/rubymanager/session_persistence/plugins
    for m in $(ls "$base"/modules/ | sed -n "s/\.py$//p"); do
      ansible-doc "rubymanager.session_persistence.$m" >/dev/null
    done
    for f in $(ls "$base"/filter/ 2>/dev/null | sed -n "s/\.yml$//p"); do
      ansible-doc -t filter "rubymanager.session_persistence.$f" >/dev/null
    done
    ansible-doc -t role rubymanager.session_persistence.session_storage >/dev/null
    ansible localhost -c local -i localhost, -e "ansible_python_interpreter=$(command -v python)" \
      -m rubymanager.session_persistence.session_ownership \
      -a "path=$2 owner=$(id -un) group=$(id -gn)" >/dev/null
  ' _ "$inst" "$scratch"
  rm -rf "$scratch"
  check_changelog_release
  check_execution_environment "$inst"
}

# What users do not need stays out of the tarball (galaxy.yml build_ignore).
check_tarball_content() {
  local unwanted
  unwanted="$(tar -tzf "$1" | grep -E '^(molecule|benchmarks|scripts|execution-environment|\.ci|\.ansible|tests/output|tests/matrix|tests/harness)(/|$)|node_modules|\.plugin-cache\.yaml|changelogs/fragments/' || true)"
  [ -z "$unwanted" ] || die "the collection tarball holds files users do not need (add them to build_ignore in galaxy.yml):
${unwanted}"
}

# galaxy-importer, the check Galaxy and Automation Hub run on upload, with ansible-lint and ansible-doc on and
# ansible-test off (the sanity stage runs it). Any warning or error fails the stage.
galaxy_import() {
  local tarball="$1" cfgdir log rc=0
  cfgdir="$(mktemp -d)"
  cat > "${cfgdir}/galaxy-importer.cfg" <<'CFG'
[galaxy-importer]
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = True
RUN_ANSIBLE_DOC = True
LOG_LEVEL_MAIN = INFO
CFG
  log "galaxy-importer $(python -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))') on $(basename "$tarball")"
  log="${cfgdir}/import.log"
  (cd "$cfgdir" && env -u ANSIBLE_COLLECTIONS_PATH GALAXY_IMPORTER_CONFIG="${cfgdir}/galaxy-importer.cfg" \
    ANSIBLE_LOCAL_TEMP="${cfgdir}/tmp" python -m galaxy_importer.main "$tarball") > "$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || grep -qE '^(WARNING|ERROR|CRITICAL)' "$log"; then
    cat "$log" >&2
    rm -rf "$cfgdir"
    die "galaxy-importer reported errors or warnings (above)"
  fi
  grep -q 'Importer processing completed successfully' "$log" || { cat "$log" >&2; rm -rf "$cfgdir"; die "galaxy-importer did not complete"; }
  rm -rf "$cfgdir"
}

# The first release's changelog: `antsibull-changelog release` in a scratch copy (the release itself is cut on
# the release commit) renders CHANGELOG.rst with the release summary, the modules, the role and the playbooks,
# and no bugfixes.
check_changelog_release() {
  local copy version rst
  version="$(python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')"
  copy="$(copy_for_ansible_test)"
  log "antsibull-changelog release ${version} (in a scratch copy)"
  (cd "$copy" && antsibull-changelog release --version "$version" --date 2026-01-01 >/dev/null)
  rst="${copy}/CHANGELOG.rst"
  local want
  for want in "v${version}" "Release Summary" "New Modules" "New Roles" \
      rubymanager.session_persistence.session_migrate rubymanager.session_persistence.session_info \
      rubymanager.session_persistence.session_ownership rubymanager.session_persistence.session_storage \
      "deploy, migrate, audit - new playbooks"; do
    grep -qF -- "$want" "$rst" || { cat "$rst" >&2; rm -rf "${copy%/ansible_collections/*}"; die "CHANGELOG.rst lacks '${want}'"; }
  done
  if grep -q '^Bugfixes' "$rst"; then
    rm -rf "${copy%/ansible_collections/*}"; die "the first release's changelog lists bugfixes"
  fi
  rm -rf "${copy%/ansible_collections/*}"
}

# The example execution environment: ansible-builder creates its build context, and introspecting the installed
# collection reads meta/execution-environment.yml (no Python or system packages needed).
check_execution_environment() {
  local inst="$1" work
  work="$(mktemp -d)"
  cp -r "${REPO_ROOT}/execution-environment/." "$work/"
  log "ansible-builder $(ansible-builder --version) create (example execution environment)"
  (cd "$work" && ansible-builder create -f execution-environment.yml -c context >/dev/null)
  # Containerfile for podman, Dockerfile for docker (the runtime ansible-builder finds).
  grep -qs 'ansible-galaxy' "${work}"/context/{Containerfile,Dockerfile} \
    || die "ansible-builder create wrote no Containerfile/Dockerfile that installs collections"
  grep -q 'rubymanager.session_persistence' "${work}/context/_build/requirements.yml" \
    || die "the execution environment does not install rubymanager.session_persistence"
  ansible-builder introspect "$inst" > "${work}/introspect.txt" \
    || { cat "${work}/introspect.txt" >&2; die "ansible-builder introspect failed on the installed collection"; }
  rm -rf "$work"
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

stage_client() {
  log "Real client libraries read migrated sessions: Node.js Baileys (npm) and a C# reader (mono-mcs), as www-data"
  [ "$(id -u)" -eq 0 ] || die "the client stage runs as root (it runs the gateway libraries as www-data with runuser)"
  id www-data >/dev/null 2>&1 || die "the client stage needs the www-data user (the gateway's user)"
  command -v node >/dev/null 2>&1 || apt_install nodejs
  command -v npm >/dev/null 2>&1 || apt_install npm
  command -v mcs >/dev/null 2>&1 || apt_install mono-mcs
  command -v runuser >/dev/null 2>&1 || apt_install util-linux
  log "npm ci in tests/client (node $(node --version), npm $(npm --version))"
  (cd "${REPO_ROOT}/tests/client" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  PYTHONPATH="$COLLECTIONS_DIR" python -m pytest -p no:cacheprovider -q -ra "${REPO_ROOT}/tests/client"
}

# Make sure Docker answers; a daemon started here is stopped again when this stage's process ends.
ensure_docker() {
  if timeout 20 docker info >/dev/null 2>&1; then
    log "Docker engine is running; using it"
  else
    trap 'bash "${REPO_ROOT}/scripts/docker-host.sh" stop' EXIT
    bash "${REPO_ROOT}/scripts/docker-host.sh" start
  fi
}

# molecule_run IMAGE SYSTEMD_IMAGE SUFFIX SCENARIO...: molecule test each scenario on those images; prints the
# scenarios that failed.
molecule_run() {
  local image="$1" systemd_image="$2" suffix="$3" s failed=()
  shift 3
  for s in "$@"; do
    log "molecule test -s ${s} (${image}${systemd_image:+, ${systemd_image}})"
    MOLECULE_IMAGE="$image" MOLECULE_SYSTEMD_IMAGE="$systemd_image" MOLECULE_INSTANCE_SUFFIX="$suffix" \
      molecule test -s "$s" >&2 || failed+=("$s")
  done
  echo "${failed[*]}"
}

stage_molecule() {
  log "Molecule scenarios on a real container"
  ensure_docker
  bash "${REPO_ROOT}/scripts/docker-host.sh" image "$MOLECULE_IMAGE"
  if [ -d "${REPO_ROOT}/molecule/systemd" ] || [ -d "${REPO_ROOT}/molecule/cutover" ]; then
    bash "${REPO_ROOT}/scripts/docker-host.sh" image "$MOLECULE_SYSTEMD_IMAGE" systemd
  fi
  local scenarios=()
  if [ -n "${MOLECULE_SCENARIOS:-}" ]; then read -r -a scenarios <<< "$MOLECULE_SCENARIOS"
  else for d in "${REPO_ROOT}"/molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$d")")"); done; fi
  # Container names get this run's id, so that two runs on one Docker host (two checkouts, say) never collide.
  local failed
  failed="$(molecule_run "$MOLECULE_IMAGE" "$MOLECULE_SYSTEMD_IMAGE" "${MOLECULE_INSTANCE_SUFFIX:-$$}" "${scenarios[@]}")"
  [ -z "$failed" ] || die "Molecule scenarios failed: ${failed}"
}

# The version matrix: tests/matrix/run.sh (the modules, the role, --syntax-check of every playbook) with each
# ansible-core minor; scripts/matrix.sh sets up each version (a venv, or a Debian 13 container for versions that
# need a newer Python than the host's).
stage_matrix() {
  log "Version matrix: ansible-core minors from tests/matrix/ansible-core.txt"
  ensure_docker
  bash "${REPO_ROOT}/scripts/matrix.sh"
}

# The platform matrix: scenarios on the other Debian releases (the molecule stage covers Debian 12).
# PLATFORMS: space-separated <suite>:<scenario> pairs.
stage_platforms() {
  local runs=()
  read -r -a runs <<< "${PLATFORMS:-bullseye:default bullseye:migrate bullseye:redeploy trixie:default trixie:migrate trixie:redeploy trixie:systemd}"
  log "Platform matrix: ${runs[*]}"
  ensure_docker
  local run suite scenario number image sysimage failed=() f
  for run in "${runs[@]}"; do
    suite="${run%%:*}" scenario="${run#*:}"
    case "$suite" in bullseye) number=11 ;; bookworm) number=12 ;; trixie) number=13 ;; *) die "unknown suite '${suite}' in PLATFORMS" ;; esac
    image="rubymanager-sp/debian${number}:latest" sysimage="rubymanager-sp/debian${number}-systemd:latest"
    if [ "$scenario" = systemd ]; then
      bash "${REPO_ROOT}/scripts/docker-host.sh" image "$sysimage" systemd "$suite"
    else
      bash "${REPO_ROOT}/scripts/docker-host.sh" image "$image" plain "$suite"
    fi
    f="$(molecule_run "$image" "$sysimage" "d${number}-$$" "$scenario")"
    [ -z "$f" ] || failed+=("${suite}:${scenario}")
  done
  [ ${#failed[@]} -eq 0 ] || die "platform runs failed: ${failed[*]}"
}

# The test harness itself: docker-host.sh start/stop with a private second daemon (its own socket, data and exec
# roots); the Docker engine the other stages use is never touched.
stage_harness() {
  log "scripts/docker-host.sh stops only the dockerd it started"
  bash "${REPO_ROOT}/tests/harness/test_docker_host.sh"
}

for stage in "${STAGES[@]}"; do
  [ -n "${STAGE_INFO[$stage]:-}" ] || die "unknown stage '${stage}' (${ALL_STAGES[*]})"
done
if [ ${#STAGES[@]} -eq 1 ]; then
  started=$SECONDS
  "stage_${STAGES[0]}"
  log "Stage passed: ${STAGES[0]} ($((SECONDS - started)) s)"
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
