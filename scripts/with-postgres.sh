#!/usr/bin/env bash
# Usage: scripts/with-postgres.sh <command> [args...]
#
# Starts a throw-away PostgreSQL cluster (loopback only, trust auth, durability
# at its defaults), runs <command> with the connection exported, and always
# stops the cluster and deletes its files afterwards. Exits with the command's
# exit code (130/143 if interrupted by SIGINT/SIGTERM).
#
# Exported to the command:
#   TEST_DATABASE_URL, DATABASE_URL  postgres://postgres@127.0.0.1:PORT/om_test
#   OM_TEST_PG_BIN    server bin dir (initdb, pg_ctl, postgres, psql, ...)
#   OM_TEST_PG_DATA   data dir; port/listen/socket settings live in its
#                     postgresql.conf, so a plain `pg_ctl start -D "$OM_TEST_PG_DATA"`
#                     brings the cluster back on the same port
#   OM_TEST_PG_PORT   TCP port on 127.0.0.1
#   OM_TEST_PG_RUNAS  user the cluster runs as (pg_ctl must be run as that user:
#                     `runuser -u "$OM_TEST_PG_RUNAS" --` when root, directly otherwise)
#   OM_TEST_PG_LOG    server log file (pass to `pg_ctl start -l` when restarting)
#
# Example restart from a test suite (as root):
#   runuser -u "$OM_TEST_PG_RUNAS" -- "$OM_TEST_PG_BIN/pg_ctl" stop -D "$OM_TEST_PG_DATA" -m immediate
#   runuser -u "$OM_TEST_PG_RUNAS" -- "$OM_TEST_PG_BIN/pg_ctl" start -D "$OM_TEST_PG_DATA" -l "$OM_TEST_PG_LOG" -w
set -euo pipefail

me="with-postgres"

die() {
  echo "$me: $*" >&2
  exit 1
}

if [[ $# -eq 0 ]]; then
  echo "usage: $0 <command> [args...]" >&2
  exit 2
fi

now_ms() {
  local t=${EPOCHREALTIME:-}
  if [[ -n $t ]]; then
    t=${t/[.,]/}
    echo $((t / 1000))
  else
    echo $(($(date +%s) * 1000))
  fi
}
t_start=$(now_ms)

# ---------------------------------------------------------------------------
# Locate (or install) the server binaries: highest version under /usr/lib/postgresql.
# ---------------------------------------------------------------------------
find_bin() {
  local f
  shopt -s nullglob
  local found=(/usr/lib/postgresql/*/bin/initdb)
  shopt -u nullglob
  [[ ${#found[@]} -gt 0 ]] || return 1
  f=$(printf '%s\n' "${found[@]}" | sort -V | tail -n 1)
  dirname -- "$f"
}

is_root=0
[[ $(id -u) -eq 0 ]] && is_root=1

if ! PG_BIN=$(find_bin); then
  if [[ $is_root -ne 1 ]]; then
    die "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb); install the 'postgresql' package (needs root)"
  fi
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL server binaries not found and apt-get is unavailable"
  echo "$me: PostgreSQL server binaries not found; installing Debian package 'postgresql'" >&2
  apt-get update >&2 </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 </dev/null
  PG_BIN=$(find_bin) || die "installed 'postgresql' but still no /usr/lib/postgresql/*/bin/initdb"
fi
for tool in initdb pg_ctl postgres createdb; do
  [[ -x $PG_BIN/$tool ]] || die "missing $PG_BIN/$tool"
done

# PostgreSQL refuses to run as root: use the postgres system user in that case.
if [[ $is_root -eq 1 ]]; then
  RUNAS=postgres
  id -u "$RUNAS" >/dev/null 2>&1 || die "running as root but system user '$RUNAS' does not exist"
  command -v runuser >/dev/null 2>&1 || die "running as root but 'runuser' is not available"
else
  RUNAS=$(id -un)
fi

# ---------------------------------------------------------------------------
# State + cleanup (registered before anything is created).
# ---------------------------------------------------------------------------
TMP=""
DATA=""
LOG=""
starting=0

# Run a command as the cluster user, from inside the temp dir (the cluster user
# may not be able to read the caller's cwd).
as_runas() {
  if [[ $is_root -eq 1 ]]; then
    (cd "$TMP" && runuser -u "$RUNAS" -- "$@")
  else
    (cd "$TMP" && "$@")
  fi
}

# True if PID exists and is not a zombie (an exited postmaster is re-parented
# to init, which may take a moment to reap it).
pid_running() {
  local st
  if [[ -r /proc/$1/stat ]]; then
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ ${st:0:1} != Z ]]
  else
    kill -0 "$1" 2>/dev/null
  fi
}

# Wait up to ~10 s for PID to be gone.
wait_gone() {
  local i
  for ((i = 0; i < 100; i++)); do
    pid_running "$1" || return 0
    sleep 0.1
  done
  return 1
}

# PID of the postmaster according to postmaster.pid, if that process is alive.
postmaster_pid() {
  local pid=""
  [[ -n $DATA && -f $DATA/postmaster.pid ]] || return 1
  read -r pid <"$DATA/postmaster.pid" 2>/dev/null || true
  [[ $pid =~ ^[0-9]+$ ]] && pid_running "$pid" && echo "$pid"
}

stop_cluster() {
  local pid kids i
  [[ -n $DATA && -d $DATA ]] || return 0
  # Interrupted while pg_ctl was starting the server: the postmaster runs in
  # its own session and may survive pg_ctl; give it a moment to write its pid.
  if [[ $starting -eq 1 ]]; then
    for ((i = 0; i < 50; i++)); do
      [[ -f $DATA/postmaster.pid ]] && break
      sleep 0.1
    done
  fi
  pid=$(postmaster_pid) || return 0
  # pg_ctl -w returns once postmaster.pid is removed, which is slightly before
  # the postmaster process has exited: wait for the PID itself as well.
  { as_runas "$PG_BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 30 -s >/dev/null 2>&1 && wait_gone "$pid"; } ||
    { as_runas "$PG_BIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 30 -s >/dev/null 2>&1 && wait_gone "$pid"; } ||
    true
  # Last resort: kill the postmaster and its children by PID.
  if pid_running "$pid"; then
    echo "$me: pg_ctl stop failed; killing postmaster $pid" >&2
    kids=$(pgrep -P "$pid" 2>/dev/null || true)
    # shellcheck disable=SC2086 # word splitting of the PID list is intended
    kill -KILL "$pid" $kids 2>/dev/null || true
    wait_gone "$pid" || echo "$me: postmaster $pid still present after SIGKILL" >&2
  fi
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM HUP
  stop_cluster
  if [[ -n $TMP && -d $TMP ]]; then
    rm -rf -- "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Temp dir owned by the cluster user.
# ---------------------------------------------------------------------------
runas_can_use() { # dir
  if [[ $is_root -eq 1 ]]; then
    (cd / && runuser -u "$RUNAS" -- test -w "$1" -a -x "$1") 2>/dev/null
  else
    [[ -w $1 && -x $1 ]]
  fi
}

TMP=$(mktemp -d -t om-pg.XXXXXXXX)
[[ $is_root -eq 1 ]] && chown "$RUNAS": "$TMP"
# Fall back to /tmp if $TMPDIR is not reachable by the cluster user, or too
# long for a unix socket path (limit ~107 bytes incl. "/.s.PGSQL.NNNNN").
if ! runas_can_use "$TMP" || [[ ${#TMP} -gt 80 ]]; then
  rm -rf -- "$TMP"
  TMP=""
  TMP=$(mktemp -d /tmp/om-pg.XXXXXXXX)
  [[ $is_root -eq 1 ]] && chown "$RUNAS": "$TMP"
  runas_can_use "$TMP" || die "user '$RUNAS' cannot use temp dir $TMP"
fi
DATA=$TMP/data
LOG=$TMP/postgres.log

# ---------------------------------------------------------------------------
# initdb
# ---------------------------------------------------------------------------
if ! as_runas "$PG_BIN/initdb" -D "$DATA" --auth=trust --username=postgres \
  --encoding=UTF8 --locale=C >"$TMP/initdb.log" 2>&1; then
  echo "$me: initdb failed:" >&2
  tail -n 30 "$TMP/initdb.log" >&2 || true
  exit 1
fi

# ---------------------------------------------------------------------------
# Port + start (retry with a new port if someone grabbed it in between).
# ---------------------------------------------------------------------------
port_free() { # port -> 0 if nothing accepts connections on 127.0.0.1:port
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
  local p="" i
  if command -v python3 >/dev/null 2>&1; then
    p=$(python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null </dev/null) || p=""
  fi
  if [[ ! $p =~ ^[0-9]+$ ]] && command -v node >/dev/null 2>&1; then
    p=$(node -e 'const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });' 2>/dev/null </dev/null) || p=""
  fi
  if [[ ! $p =~ ^[0-9]+$ ]]; then
    p=""
    for ((i = 0; i < 200; i++)); do
      local c=$((20000 + RANDOM % 30000))
      if port_free "$c"; then
        p=$c
        break
      fi
    done
  fi
  [[ $p =~ ^[0-9]+$ ]] || return 1
  echo "$p"
}

started=0
for attempt in 1 2 3 4 5; do
  PORT=$(pick_port) || die "could not find a free TCP port on 127.0.0.1"
  # Settings go into postgresql.conf (later lines win) so that a plain
  # `pg_ctl start -D $OM_TEST_PG_DATA` restarts the cluster identically.
  cat >>"$DATA/postgresql.conf" <<EOF

# --- scripts/with-postgres.sh (attempt $attempt) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$TMP'
max_connections = 200
EOF
  # Truncate (not recreate: the file must stay owned by $RUNAS) so the
  # port-conflict check below only sees this attempt's messages.
  if [[ -f $LOG ]]; then : >"$LOG"; fi
  starting=1
  if as_runas "$PG_BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -s >/dev/null 2>"$TMP/pg_ctl.err"; then
    starting=0
    started=1
    break
  fi
  starting=0
  # Make sure a half-started server is gone before retrying / giving up.
  stop_cluster
  if grep -qiE 'could not bind|address already in use|could not create any TCP/IP sockets' "$LOG" 2>/dev/null; then
    echo "$me: port $PORT was taken, retrying with another port" >&2
    continue
  fi
  break
done
if [[ $started -ne 1 ]]; then
  echo "$me: PostgreSQL failed to start (bin: $PG_BIN, port: ${PORT:-?}); pg_ctl said:" >&2
  cat "$TMP/pg_ctl.err" >&2 || true
  echo "$me: last lines of $LOG:" >&2
  tail -n 40 "$LOG" >&2 || true
  exit 1
fi

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------
if ! "$PG_BIN/createdb" -w -h 127.0.0.1 -p "$PORT" -U postgres om_test </dev/null >&2; then
  echo "$me: createdb om_test failed; last lines of $LOG:" >&2
  tail -n 20 "$LOG" >&2 || true
  exit 1
fi

URL="postgres://postgres@127.0.0.1:$PORT/om_test"
export TEST_DATABASE_URL="$URL"
export DATABASE_URL="$URL"
export OM_TEST_PG_BIN="$PG_BIN"
export OM_TEST_PG_DATA="$DATA"
export OM_TEST_PG_PORT="$PORT"
export OM_TEST_PG_RUNAS="$RUNAS"
export OM_TEST_PG_LOG="$LOG"

version=$("$PG_BIN/postgres" -V 2>/dev/null | sed -E 's/^postgres \(PostgreSQL\) ([^ ]+).*/\1/') || version="?"
elapsed=$(($(now_ms) - t_start))
printf '%s: PostgreSQL %s up on 127.0.0.1:%s as %s (data %s, ready in %d.%03ds)\n' \
  "$me" "$version" "$PORT" "$RUNAS" "$DATA" $((elapsed / 1000)) $((elapsed % 1000)) >&2

# ---------------------------------------------------------------------------
# Run the command; the EXIT trap tears the cluster down and exits with rc.
# ---------------------------------------------------------------------------
rc=0
"$@" || rc=$?
exit "$rc"
