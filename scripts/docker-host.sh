#!/usr/bin/env bash
# Make sure a Docker engine answers, and that the test images exist.
#
#   scripts/docker-host.sh start   use the running Docker; else install Debian's docker.io and start dockerd
#                                  with no bridge and no iptables rules (records that it did, for `stop`)
#   scripts/docker-host.sh image [NAME [systemd]]
#                                  make sure image NAME exists: use it, else try `docker pull`, else build a
#                                  Debian 12 rootfs with debootstrap and `docker import` it
#   scripts/docker-host.sh stop    stop the daemon again, only if `start` started it
#
# Environment: MOLECULE_IMAGE (default rubymanager-sp/debian12:latest), MOLECULE_SYSTEMD_IMAGE
# (default rubymanager-sp/debian12-systemd:latest), DEBIAN_MIRROR (default: the host's apt mirror).
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

STATE_DIR="${REPO_ROOT}/.build/dockerd"
PIDFILE="${STATE_DIR}/dockerd.pid"
: "${MOLECULE_IMAGE:=rubymanager-sp/debian12:latest}"
: "${MOLECULE_SYSTEMD_IMAGE:=rubymanager-sp/debian12-systemd:latest}"

docker_ok() { timeout 20 docker info >/dev/null 2>&1; }

start() {
  if docker_ok; then log "Docker engine is running; using it"; return 0; fi
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v docker >/dev/null 2>&1 || apt_install docker.io
  mkdir -p "$STATE_DIR"
  log "Starting dockerd (no bridge, no iptables); log: ${STATE_DIR}/dockerd.log"
  # No docker0 bridge and no NAT rules: test containers run with network_mode none and are reached by docker exec.
  as_root setsid dockerd --bridge=none --iptables=false --ip6tables=false \
    >"${STATE_DIR}/dockerd.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  local i
  for i in $(seq 1 60); do
    docker_ok && { log "dockerd is up"; return 0; }
    sleep 1
  done
  tail -20 "${STATE_DIR}/dockerd.log" >&2 || true
  die "dockerd did not answer within 60 s (log above)"
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    log "Stopping the dockerd this harness started (pid ${pid})"
    as_root kill "$pid" || true
    local i
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
  rm -f "$PIDFILE"
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
  local name="${1:-$MOLECULE_IMAGE}" flavour="${2:-plain}"
  if docker image inspect "$name" >/dev/null 2>&1; then log "Image ${name} is present"; return 0; fi
  if timeout 120 docker pull -q "$name" >/dev/null 2>&1; then log "Pulled ${name}"; return 0; fi
  apt_install debootstrap
  local include="python3,sudo" cmd='CMD ["sleep","infinity"]'
  if [ "$flavour" = systemd ]; then
    include="python3,sudo,systemd,systemd-sysv,dbus"
    cmd='CMD ["/lib/systemd/systemd"]'
  fi
  local rootfs; rootfs="$(mktemp -d "${TMPDIR:-/tmp}/rootfs.XXXXXX")"
  # shellcheck disable=SC2064
  trap "as_root rm -rf '$rootfs'" RETURN
  log "Building ${name} with debootstrap (bookworm, minbase, ${include}) from $(debian_mirror)"
  as_root debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$(debian_mirror)" \
    > "${rootfs}.log" 2>&1 || { tail -20 "${rootfs}.log" >&2; die "debootstrap failed (log above)"; }
  rm -f "${rootfs}.log"
  as_root tar -C "$rootfs" -c . | docker import -c "$cmd" - "$name" >/dev/null
  log "Built ${name}"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  image) shift; image "$@" ;;
  *) die "usage: $0 start|stop|image [NAME [systemd]]" ;;
esac
