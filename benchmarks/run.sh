#!/usr/bin/env bash
# Benchmark session_migrate, session_info and the whole deploy playbook against cp -a, cp -a + sync, rsync -a and
# ansible.builtin.copy.
#
#   bash benchmarks/run.sh                 200x150 and 2000x150, three alternating repetitions
#   bash benchmarks/run.sh --quick         small sizes, one repetition (smoke run)
#   bash benchmarks/run.sh --help          every option
#
# Prints a table and writes the figures to benchmarks/results/<timestamp>.json (ignored by git).
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"

ensure_venv
ensure_collection_link
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_DIR" BENCH_FROM_RUN_SH=1

if ! command -v rsync >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt_install rsync) || log "rsync could not be installed; its runs are skipped"
  else
    log "rsync is not installed (install Debian's rsync as root to compare with it); its runs are skipped"
  fi
fi

cd "$REPO_ROOT"
exec python "${REPO_ROOT}/benchmarks/bench.py" "$@"
