#!/usr/bin/env bash
# scripts/docker-host.sh start/stop, tested with private daemons only: each one gets its own socket, data root,
# exec root, containerd namespace and state directory, so the Docker engine other tests use is never touched.
#   1. `start` where no engine answers starts dockerd; `stop` stops that dockerd itself (not only the shell that
#      launched it) and it is gone: no process, no answer on its socket.
#   2. A dockerd the harness did not start (started here by hand) is left alone by `stop`, also when a stale
#      record names its PID.
#   3. Every dockerd that was running before this test is still running, with the same PID, afterwards.
# Needs root and dockerd (scripts/test.sh harness installs nothing else).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
[ "$(id -u)" -eq 0 ] || fail "run as root (it starts dockerd)"
command -v dockerd >/dev/null 2>&1 || fail "dockerd is not installed"

before="$(pgrep -x dockerd | sort || true)"
work="$(mktemp -d /tmp/sp-dh.XXXXXX)"
foreign_pid=""
cleanup() {
  # Only the daemons this test started, by their own PIDs.
  [ -n "$foreign_pid" ] && kill "$foreign_pid" 2>/dev/null && sleep 2
  local p
  for p in $(cat "${work}"/*/dockerd.pid 2>/dev/null); do
    if ! grep -qx "$p" <<< "$before" && [ "$(cat "/proc/${p}/comm" 2>/dev/null)" = dockerd ]; then kill "$p" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

daemon_args() {  # daemon_args NAME: the arguments of a private daemon
  echo "--host unix://${work}/$1.sock --data-root ${work}/$1/data --exec-root ${work}/$1/exec" \
       "--containerd-namespace sp-$1 --containerd-plugins-namespace sp-$1-plugins"
}

# 1. start, then stop, a daemon of our own
export DOCKER_HOST="unix://${work}/own.sock" DOCKERD_STATE_DIR="${work}/own" DOCKERD_ARGS="$(daemon_args own)"
bash "${REPO_ROOT}/scripts/docker-host.sh" start
read -r pid _ < "${work}/own/started-by-harness"
[ "$(cat "/proc/${pid}/comm")" = dockerd ] || fail "the recorded pid ${pid} is not dockerd"
grep -qx "$pid" <<< "$before" && fail "the recorded pid ${pid} is a daemon that ran before the test"
docker info >/dev/null 2>&1 || fail "the started daemon does not answer"
ok "start started dockerd (pid ${pid}) on ${DOCKER_HOST}"
bash "${REPO_ROOT}/scripts/docker-host.sh" stop
[ ! -d "/proc/${pid}" ] || fail "dockerd (pid ${pid}) still runs after stop"
timeout 10 docker info >/dev/null 2>&1 && fail "something still answers on ${DOCKER_HOST} after stop"
[ ! -f "${work}/own/started-by-harness" ] || fail "the record of the stopped daemon is left behind"
ok "stop stopped dockerd (pid ${pid}) and it is gone"
bash "${REPO_ROOT}/scripts/docker-host.sh" stop  # a second stop has nothing to do
ok "a second stop does nothing"

# 2. a daemon the harness did not start
mkdir -p "${work}/foreign"
export DOCKER_HOST="unix://${work}/foreign.sock" DOCKERD_STATE_DIR="${work}/foreign-state" DOCKERD_ARGS=""
# shellcheck disable=SC2046
setsid dockerd --bridge=none --iptables=false --ip6tables=false --pidfile "${work}/foreign/dockerd.pid" \
  $(daemon_args foreign) > "${work}/foreign/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 1 60); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
foreign_pid="$(cat "${work}/foreign/dockerd.pid")"
[ "$(cat "/proc/${foreign_pid}/comm")" = dockerd ] || fail "could not start the foreign daemon"
bash "${REPO_ROOT}/scripts/docker-host.sh" start   # finds it answering: uses it, records nothing
[ ! -f "${work}/foreign-state/started-by-harness" ] || fail "start recorded a daemon it did not start"
bash "${REPO_ROOT}/scripts/docker-host.sh" stop
[ -d "/proc/${foreign_pid}" ] || fail "stop stopped a dockerd it did not start"
ok "a dockerd the harness did not start is left alone"
# A stale record: same PID, another start time (the PID was reused, or the daemon restarted).
mkdir -p "${work}/foreign-state"
echo "${foreign_pid} 1" > "${work}/foreign-state/started-by-harness"
bash "${REPO_ROOT}/scripts/docker-host.sh" stop
[ -d "/proc/${foreign_pid}" ] || fail "stop stopped a dockerd named by a stale record"
ok "a stale record naming another process's PID is ignored"
kill "$foreign_pid"
for _ in $(seq 1 30); do [ -d "/proc/${foreign_pid}" ] || break; sleep 1; done
foreign_pid=""

# 3. the daemons that ran before are untouched
after="$(pgrep -x dockerd | sort || true)"
for p in $before; do grep -qx "$p" <<< "$after" || fail "dockerd pid ${p}, running before the test, is gone"; done
ok "every dockerd that ran before the test still runs (${before//$'\n'/ })"
