#!/usr/bin/env bash
# Make sure a Docker engine answers, and that the test images exist.
#
#   scripts/docker-host.sh start   use the running Docker; else install Debian's docker.io and start dockerd
#                                  with no bridge and no iptables rules (records that it did, for `stop`)
#   scripts/docker-host.sh image [NAME [FLAVOUR [SUITE]]]
#                                  make sure image NAME exists: use it, else try `docker pull`, else build a
#                                  Debian rootfs (SUITE: bullseye, bookworm (default) or trixie; FLAVOUR: plain,
#                                  or systemd for systemd as PID 1) with debootstrap and `docker import` it
#   scripts/docker-host.sh stop    stop the daemon again, only if `start` started it, and check that it is gone
#
# Environment: MOLECULE_IMAGE (default rubymanager-sp/debian12:latest), MOLECULE_SYSTEMD_IMAGE
# (default rubymanager-sp/debian12-systemd:latest), DEBIAN_MIRROR (default: the host's apt mirror).
# DOCKERD_STATE_DIR (default .build/dockerd: log, pidfile and the record of the daemon `start` started) and
# DOCKERD_ARGS (extra dockerd arguments) let a second daemon run beside another one, e.g. with DOCKER_HOST set:
#   DOCKER_HOST=unix:///tmp/d2.sock DOCKERD_STATE_DIR=/tmp/d2 \
#   DOCKERD_ARGS="--host unix:///tmp/d2.sock --data-root /tmp/d2/data --exec-root /tmp/d2/exec" docker-host.sh start
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

STATE_DIR="${DOCKERD_STATE_DIR:-${REPO_ROOT}/.build/dockerd}"
# dockerd writes its own PID here (--pidfile); OWNED records "<pid> <start time>" of the daemon `start` started.
PIDFILE="${STATE_DIR}/dockerd.pid"
OWNED="${STATE_DIR}/started-by-harness"
: "${MOLECULE_IMAGE:=rubymanager-sp/debian12:latest}"
: "${MOLECULE_SYSTEMD_IMAGE:=rubymanager-sp/debian12-systemd:latest}"

docker_ok() { timeout 20 docker info >/dev/null 2>&1; }

# The start time of process PID in clock ticks since boot (field 22 of /proc/PID/stat): with the PID it
# identifies one process, so a PID reused by another process is never taken for the daemon started here.
proc_start() { awk '{sub(/^.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null; }
proc_name() { cat "/proc/$1/comm" 2>/dev/null; }

start() {
  if docker_ok; then log "Docker engine is running; using it"; return 0; fi
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v docker >/dev/null 2>&1 || apt_install docker.io
  mkdir -p "$STATE_DIR"
  rm -f "$PIDFILE" "$OWNED"
  log "Starting dockerd (no bridge, no iptables); log: ${STATE_DIR}/dockerd.log"
  # No docker0 bridge and no NAT rules: test containers run with network_mode none and are reached by docker exec.
  # dockerd writes its own PID to PIDFILE: $! would be the PID of the backgrounded shell, not of dockerd.
  local extra=()
  # shellcheck disable=SC2206
  [ -n "${DOCKERD_ARGS:-}" ] && extra=(${DOCKERD_ARGS})
  as_root setsid dockerd --bridge=none --iptables=false --ip6tables=false --pidfile "$PIDFILE" "${extra[@]}" \
    >"${STATE_DIR}/dockerd.log" 2>&1 < /dev/null &
  local i pid
  for i in $(seq 1 60); do
    if docker_ok; then
      pid="$(cat "$PIDFILE" 2>/dev/null || true)"
      [ -n "$pid" ] && [ "$(proc_name "$pid")" = dockerd ] || die "dockerd answers but ${PIDFILE} names no dockerd"
      echo "${pid} $(proc_start "$pid")" > "$OWNED"
      log "dockerd is up (pid ${pid})"
      return 0
    fi
    sleep 1
  done
  tail -20 "${STATE_DIR}/dockerd.log" >&2 || true
  die "dockerd did not answer within 60 s (log above)"
}

stop() {
  if [ ! -f "$OWNED" ]; then
    log "No dockerd was started by this harness (${OWNED} is absent); leaving Docker alone"
    return 0
  fi
  local pid started
  read -r pid started < "$OWNED"
  if [ ! -d "/proc/${pid}" ]; then
    log "The dockerd this harness started (pid ${pid}) is already gone"
    rm -f "$OWNED"; return 0
  fi
  if [ "$(proc_name "$pid")" != dockerd ] || [ "$(proc_start "$pid")" != "$started" ]; then
    log "pid ${pid} is no longer the dockerd this harness started; leaving it alone"
    rm -f "$OWNED"; return 0
  fi
  log "Stopping the dockerd this harness started (pid ${pid})"
  as_root kill -TERM "$pid" || true
  local i
  # dockerd stops its containers first (up to 15 s each by default): wait, then insist.
  for i in $(seq 1 60); do [ -d "/proc/${pid}" ] || break; sleep 1; done
  if [ -d "/proc/${pid}" ] && [ "$(proc_start "$pid")" = "$started" ]; then
    log "dockerd (pid ${pid}) did not stop within 60 s; sending SIGKILL"
    as_root kill -KILL "$pid" || true
    for i in $(seq 1 10); do [ -d "/proc/${pid}" ] || break; sleep 1; done
  fi
  if [ -d "/proc/${pid}" ] && [ "$(proc_start "$pid")" = "$started" ]; then
    die "dockerd (pid ${pid}) is still running"
  fi
  rm -f "$OWNED"
  log "dockerd (pid ${pid}) has stopped"
}

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)"
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

image() {
  local name="${1:-$MOLECULE_IMAGE}" flavour="${2:-plain}" suite="${3:-bookworm}"
  if docker image inspect "$name" >/dev/null 2>&1; then log "Image ${name} is present"; return 0; fi
  if timeout 120 docker pull -q "$name" >/dev/null 2>&1; then log "Pulled ${name}"; return 0; fi
  case "$suite" in bullseye|bookworm|trixie) ;; *) die "unsupported Debian suite '${suite}' (bullseye, bookworm, trixie)" ;; esac
  apt_install debootstrap
  local include="python3,sudo" cmd='CMD ["sleep","infinity"]'
  case "$flavour" in
    plain) ;;
    systemd) include="python3,sudo,systemd,systemd-sysv,dbus"; cmd='CMD ["/lib/systemd/systemd"]' ;;
    *) die "unknown image flavour '${flavour}' (plain or systemd)" ;;
  esac
  local rootfs; rootfs="$(mktemp -d "${TMPDIR:-/tmp}/rootfs.XXXXXX")"
  # shellcheck disable=SC2064
  trap "as_root rm -rf '$rootfs'" RETURN
  log "Building ${name} with debootstrap (${suite}, minbase, ${include}) from $(debian_mirror)"
  as_root debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$(debian_mirror)" \
    > "${rootfs}.log" 2>&1 || { tail -20 "${rootfs}.log" >&2; die "debootstrap failed (log above)"; }
  rm -f "${rootfs}.log"
  as_root tar -C "$rootfs" -c . | docker import -c "$cmd" - "$name" >/dev/null
  log "Built ${name}"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  image) shift; image "$@" ;;
  *) die "usage: $0 start|stop|image [NAME [FLAVOUR [SUITE]]]" ;;
esac
