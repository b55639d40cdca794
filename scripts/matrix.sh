#!/usr/bin/env bash
# The version matrix (scripts/test.sh matrix): tests/matrix/run.sh once per ansible-core version listed in
# tests/matrix/ansible-core.txt (or MATRIX_VERSIONS="2.16.19 2.21.5"), each in its own controller:
#   host     a venv of the host's python3 under .build/matrix/
#   trixie   a Debian 13 container (image rubymanager-sp/debian13, network none) with its Python 3.13; pip downloads
#            the wheels on the host for that Python, the container installs them offline
# It also says when PyPI has an ansible-core minor newer than the newest listed.
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

LIST="${REPO_ROOT}/tests/matrix/ansible-core.txt"
WORK="${REPO_ROOT}/.build/matrix"
TRIXIE_IMAGE="${MATRIX_TRIXIE_IMAGE:-rubymanager-sp/debian13:latest}"
mkdir -p "$WORK"

declare -A WHERE=()
while read -r v where _; do
  case "$v" in ''|'#'*) continue ;; esac
  WHERE[$v]="$where"
done < "$LIST"
versions=()
if [ -n "${MATRIX_VERSIONS:-}" ]; then read -r -a versions <<< "$MATRIX_VERSIONS"
else versions=($(grep -Ev '^\s*(#|$)' "$LIST" | awk '{print $1}')); fi

# The tarball under test, built once.
rm -rf "${WORK}/dist" && mkdir -p "${WORK}/dist"
ansible-galaxy collection build --output-path "${WORK}/dist" "$REPO_ROOT" >/dev/null
tarball="$(ls "${WORK}"/dist/rubymanager-session_persistence-*.tar.gz)"

# A Python older than the modules' floor, for the one version that still runs modules on it (a local check:
# a fresh Debian 12 has none; pyenv Pythons are used when present).
old_python=""
for p in "${MATRIX_OLD_PYTHON:-}" "${HOME}/.pyenv/versions/3.6.15/bin/python3" /usr/bin/python3.6 /usr/bin/python3.7; do
  [ -n "$p" ] && [ -x "$p" ] && { old_python="$p"; break; }
done

failed=() timings=()
for v in "${versions[@]}"; do
  where="${WHERE[$v]:-host}" started=$SECONDS
  log "ansible-core ${v} (${where})"
  case "$where" in
    host)
      venv="${WORK}/venv-${v}"
      if [ ! -x "${venv}/bin/ansible" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "${venv}/bin/python" -m pip install -q --disable-pip-version-check "ansible-core==${v}" 2>&1 | grep -v '^WARNING: Location' || true
      fi
      old=""
      [ "${v%.*}" = 2.16 ] && old="$old_python"
      if ! env -u VIRTUAL_ENV PATH="${venv}/bin:/usr/bin:/bin" MATRIX_OLD_PYTHON="$old" \
          bash "${REPO_ROOT}/tests/matrix/run.sh" "$tarball"; then failed+=("$v"); fi
      [ "${v%.*}" = 2.16 ] && [ -z "$old_python" ] && log "No Python older than 3.9 here: the old-host message was checked by the unit tests only"
      ;;
    trixie)
      bash "${REPO_ROOT}/scripts/docker-host.sh" image "$TRIXIE_IMAGE" plain trixie
      wheels="${WORK}/wheels-${v}"
      if [ ! -f "${wheels}/.complete" ]; then
        rm -rf "$wheels"
        local_arch="$(uname -m)"
        python3 -m pip download -q --disable-pip-version-check -d "$wheels" --only-binary=:all: \
          --python-version 3.13 --implementation cp \
          --platform "manylinux_2_17_${local_arch}" --platform "manylinux2014_${local_arch}" \
          --platform "manylinux_2_28_${local_arch}" --platform "manylinux_2_34_${local_arch}" \
          "ansible-core==${v}" pip 2>&1 | grep -v '^WARNING: Location' || true
        ls "$wheels"/ansible_core-*.whl >/dev/null 2>&1 || die "could not download the wheels of ansible-core ${v}"
        touch "${wheels}/.complete"
      fi
      if ! docker run --rm --network none -v "${wheels}:/wheels:ro" -v "${WORK}/dist:/dist:ro" \
          -v "${REPO_ROOT}/tests/matrix:/matrix:ro" "$TRIXIE_IMAGE" bash -c '
            set -euo pipefail
            python3 "$(ls /wheels/pip-*.whl)/pip" install -q --no-index --find-links /wheels --target /opt/ansible \
              --break-system-packages --disable-pip-version-check --root-user-action=ignore "ansible-core==$1"
            PATH="/opt/ansible/bin:$PATH" PYTHONPATH=/opt/ansible bash /matrix/run.sh "/dist/$(basename "$2")"
          ' _ "$v" "$tarball"; then failed+=("$v"); fi
      ;;
    *) die "unknown controller '${where}' for ansible-core ${v} in ${LIST}" ;;
  esac
  timings+=("${v}: $((SECONDS - started)) s")
done

# Is a newer minor out? (Only a note: the list is updated by hand, with the controller it needs.)
newest_listed="$(grep -Ev '^\s*(#|$)' "$LIST" | awk '{print $1}' | sort -V | tail -1)"
for py in python3.13 python3.12 python3; do
  command -v "$py" >/dev/null 2>&1 || continue
  newest_pypi="$("$py" -m pip index versions ansible-core 2>/dev/null | sed -n 's/^ansible-core (\(.*\))$/\1/p' || true)"
  if [ -n "$newest_pypi" ] && [ "$(printf '%s\n%s\n' "${newest_listed%.*}" "${newest_pypi%.*}" | sort -V | tail -1)" != "${newest_listed%.*}" ]; then
    log "NOTE: PyPI has ansible-core ${newest_pypi}, newer than the newest minor in ${LIST} (${newest_listed})"
  fi
  break
done

log "Matrix timings: ${timings[*]}"
[ ${#failed[@]} -eq 0 ] || die "ansible-core versions failed: ${failed[*]}"
log "Every ansible-core version passed: ${versions[*]}"
