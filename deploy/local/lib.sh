# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts that source this
# deploy/local/lib.sh — shared by the deploy/local scripts and tests/run (sourced, never run):
# the repository root, the local stack's settings with their defaults, and small helpers.
# Every setting can be overridden from the environment:
#   STACK_DIR (.stack)   PG_PORT (55432)   KAFKA_PORT (9092)   KAFKA_CONTROLLER_PORT (9093)
#   BUILD_DIR (build)    KAFKA_LIBS (.stack-cache/kafka-libs)

OF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"

STACK_DIR="${STACK_DIR:-$OF_ROOT/.stack}"
PG_PORT="${PG_PORT:-55432}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
BUILD_DIR="${BUILD_DIR:-$OF_ROOT/build}"
KAFKA_LIBS="${KAFKA_LIBS:-$OF_ROOT/.stack-cache/kafka-libs}"

# Relative paths are taken from the repository root, so the scripts work from any directory.
of_abspath() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$OF_ROOT/$1" ;;
  esac
}
STACK_DIR="$(of_abspath "$STACK_DIR")"
BUILD_DIR="$(of_abspath "$BUILD_DIR")"
KAFKA_LIBS="$(of_abspath "$KAFKA_LIBS")"

# What clients of the stack use. DATABASE_URL always names the stack's own database here;
# deploy/local/migrate alone honours a DATABASE_URL given from outside.
STACK_DATABASE_URL="postgresql://orderflow@127.0.0.1:$PG_PORT/orderflow"
STACK_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

# Runs a service binary without the stack's own KAFKA_PORT/KAFKA_CONTROLLER_PORT: the
# services pass every KAFKA_* variable through to librdkafka, and these are not its.
OF_SERVICE_ENV=(env -u KAFKA_PORT -u KAFKA_CONTROLLER_PORT)

of_log() { printf '==> %s\n' "$*" >&2; }
of_warn() { printf 'warning: %s\n' "$*" >&2; }
of_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# True when something accepts TCP connections on 127.0.0.1:$1.
of_port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True when process $1 exists and is not a zombie (an unreaped child counts as gone).
of_proc_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# True when pid file $1 names a live process whose command line contains $2
# (so a recycled pid is never mistaken for ours).
of_pid_alive() {
  local pidfile="$1" pattern="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  of_proc_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# Sends SIGTERM to the process in pid file $1 (checked against pattern $2), waits up to
# $3 seconds, then SIGKILL. Removes the pid file. Returns 0 when the process is gone.
of_stop_pid() {
  local pidfile="$1" pattern="$2" grace="$3" name="$4" pid i
  if ! of_pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    return 0
  fi
  pid="$(<"$pidfile")"
  of_log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    of_proc_alive "$pid" || break
    sleep 0.1
  done
  if of_proc_alive "$pid"; then
    of_warn "$name did not stop within ${grace}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      of_proc_alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
  ! of_proc_alive "$pid"
}

# Prints the header comment of script $1 (its usage text).
of_usage() {
  awk 'NR > 1 && /^#/ { if (!/^# shellcheck/) { sub(/^# ?/, ""); print }; next } NR > 1 { exit }' "$1"
}
