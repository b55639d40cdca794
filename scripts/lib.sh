#!/usr/bin/env bash
# Shared helpers for the scripts in this folder. Source it; do not run it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${REPO_ROOT}/.venv"
export REPO_ROOT VENV

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (run as root or install sudo)"; fi
}

apt_install() {
  # apt_install PKG...: install Debian packages that are missing.
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get to install them"
  log "Installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Activate the project-local virtual environment, creating it from requirements-dev.txt when needed.
ensure_venv() {
  local req="${REPO_ROOT}/requirements-dev.txt" stamp="${VENV}/.requirements.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -x "${VENV}/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "Creating the virtual environment ${VENV} from requirements-dev.txt"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
      apt_install python3-venv
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "${VENV}/bin/python" -m pip install -q --upgrade pip
    "${VENV}/bin/python" -m pip install -q -r "$req"
    echo "$want" > "$stamp"
  fi
  # shellcheck disable=SC1091
  . "${VENV}/bin/activate"
}

# Make the checkout importable as ansible_collections.rubymanager.session_persistence without copying it:
# a symlink tree under .build/ (ignored by git and by the collection build).
COLLECTIONS_DIR="${REPO_ROOT}/.build/collections"
COLLECTION_LINK="${COLLECTIONS_DIR}/ansible_collections/rubymanager/session_persistence"
export COLLECTIONS_DIR COLLECTION_LINK
ensure_collection_link() {
  mkdir -p "$(dirname "$COLLECTION_LINK")"
  ln -sfn "$REPO_ROOT" "$COLLECTION_LINK"
}

# ansible-test resolves the working directory physically, so it needs a real copy under ansible_collections/.
# copy_for_ansible_test prints the copy's path; the copy holds what git tracks plus new, not-ignored files.
# It lives outside the checkout: inside it, ansible-test would see the checkout's git and its .gitignore.
copy_for_ansible_test() {
  local base dest
  base="$(mktemp -d "${TMPDIR:-/tmp}/rubymanager-sp-ansible-test.XXXXXX")"
  dest="${base}/ansible_collections/rubymanager/session_persistence"
  mkdir -p "$dest"
  if git -C "$REPO_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$REPO_ROOT" && git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -C "$dest" -xf -)
  else
    tar -C "$REPO_ROOT" --exclude=./.venv --exclude=./.build --exclude=./.git -cf - . | tar -C "$dest" -xf -
  fi
  echo "$dest"
}
