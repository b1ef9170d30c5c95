#!/usr/bin/env bash
# Self-check for scripts/with-postgres.sh. Usage: bash scripts/with-postgres.test.sh
# Prints "N passed, N failed" on its last line; exits non-zero on any failure.
set -uo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/.." && pwd)
WP="$here/with-postgres.sh"
cd "$root" || exit 1

if [[ $(id -u) -eq 0 ]]; then runas=postgres; else runas=$(id -un); fi

work=$(mktemp -d -t with-postgres-test.XXXXXXXX)
bg_pid=""
on_exit() {
  # Only ever our own background job's process group, by id.
  if [[ -n $bg_pid ]] && kill -0 "$bg_pid" 2>/dev/null; then
    kill -KILL -- "-$bg_pid" 2>/dev/null || true
  fi
  rm -rf -- "$work"
}
trap on_exit EXIT

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  echo "ok   - $*"
}
not_ok() {
  failed=$((failed + 1))
  echo "FAIL - $*"
}
check() { # description, command...
  local d=$1
  shift
  if "$@"; then ok "$d"; else not_ok "$d"; fi
}
show_log() { # file
  sed 's/^/       | /' "$1" | tail -n 20
}

pid_running() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $st && $st != Z* ]]
}
# Data dir announced on the "up" line of a run's stderr.
data_dir_of() { # stderr-file
  sed -n 's/^with-postgres: .*(data \(.*\), ready in .*$/\1/p' "$1" | tail -n 1
}

# After a run: its temp dir is gone, nothing runs from its data dir, and recorded
# server PIDs (if any) are gone.
check_cleanup() { # label, stderr-file, [pid-file]
  local label=$1 errf=$2 pidf=${3:-} d tmpd p alive="" leftover
  d=$(data_dir_of "$errf")
  if [[ -z $d ]]; then
    not_ok "$label: cluster-up line with data dir on stderr"
    show_log "$errf"
    return
  fi
  tmpd=$(dirname -- "$d")
  check "$label: temp dir $tmpd removed" test ! -e "$tmpd"
  # The path is passed via the environment so the awk process itself does not match.
  leftover=$(ps -eo pid=,stat=,args= | D=$d awk '$2 !~ /^Z/ && index($0, ENVIRON["D"])')
  if [[ -n $leftover ]]; then
    not_ok "$label: no process still running on $d"
    sed 's/^/       | /' <<<"$leftover"
  else
    ok "$label: no process still running on $d"
  fi
  if [[ -n $pidf ]]; then
    if [[ -s $pidf ]]; then
      for p in $(cat "$pidf"); do
        pid_running "$p" && alive+=" $p"
      done
      check "$label: recorded server PIDs ($(wc -w <"$pidf")) all gone${alive:+ (alive:$alive)}" test -z "$alive"
    else
      not_ok "$label: server PIDs were recorded"
    fi
  fi
  # (A machine-wide postmaster count is not compared: other clusters, e.g. a developer's
  # parallel test runs, may start or stop meanwhile. The checks above are this run's own.)
}

# Records postmaster + child PIDs of the running cluster into $1.
record_pids='pm=$(head -n 1 "$OM_TEST_PG_DATA/postmaster.pid"); echo "$pm" $(pgrep -P "$pm") >"$1"'

# --- 1. select 1 --------------------------------------------------------------
t0=$(date +%s%N)
bash scripts/with-postgres.sh bash -c 'psql "$TEST_DATABASE_URL" -Atc "select 1"' >"$work/1.out" 2>"$work/1.err"
rc=$?
t1=$(date +%s%N)
if [[ $rc -eq 0 && $(cat "$work/1.out") == "1" ]]; then
  ok "select 1 prints exactly '1' (rc=0, whole run $(((t1 - t0) / 1000000)) ms)"
else
  not_ok "select 1 prints exactly '1' (rc=$rc, stdout: $(head -c 200 "$work/1.out"))"
  show_log "$work/1.err"
fi
grep -q '^with-postgres: PostgreSQL .* up on 127.0.0.1:' "$work/1.err" && echo "       $(grep '^with-postgres:' "$work/1.err")"
check_cleanup "select 1" "$work/1.err"

# --- 2. failing command -> non-zero, exact exit code propagated ---------------
bash scripts/with-postgres.sh false >"$work/2.out" 2>"$work/2.err"
rc=$?
check "'with-postgres.sh false' exits non-zero (rc=$rc)" test "$rc" -ne 0
check_cleanup "false" "$work/2.err"

bash scripts/with-postgres.sh bash -c "$record_pids; exit 7" _ "$work/2b.pids" >"$work/2b.out" 2>"$work/2b.err"
rc=$?
check "exit code 7 propagated (rc=$rc)" test "$rc" -eq 7
check_cleanup "exit 7" "$work/2b.err" "$work/2b.pids"

# --- 4. durability settings + other server settings ---------------------------
bash scripts/with-postgres.sh bash -c "$record_pids"'
  "$OM_TEST_PG_BIN/psql" "$TEST_DATABASE_URL" -XAt -F= -c "
    select name, setting from pg_settings
    where name in (\$\$fsync\$\$, \$\$synchronous_commit\$\$, \$\$full_page_writes\$\$,
                   \$\$max_connections\$\$, \$\$listen_addresses\$\$, \$\$server_encoding\$\$,
                   \$\$lc_collate\$\$, \$\$port\$\$)
    order by name"
  echo "db=$("$OM_TEST_PG_BIN/psql" "$TEST_DATABASE_URL" -XAtc "select current_database()")"
  echo "bin=$OM_TEST_PG_BIN"; echo "data=$OM_TEST_PG_DATA"; echo "envport=$OM_TEST_PG_PORT"
  echo "runas=$OM_TEST_PG_RUNAS"; echo "dburl=$DATABASE_URL"; echo "testurl=$TEST_DATABASE_URL"
' _ "$work/4.pids" >"$work/4.out" 2>"$work/4.err"
rc=$?
check "settings run exits 0 (rc=$rc)" test "$rc" -eq 0
val() { sed -n "s/^$1=//p" "$work/4.out" | head -n 1; }
check "SHOW fsync = on ($(val fsync))" test "$(val fsync)" = on
check "SHOW synchronous_commit = on ($(val synchronous_commit))" test "$(val synchronous_commit)" = on
check "SHOW full_page_writes = on ($(val full_page_writes))" test "$(val full_page_writes)" = on
check "max_connections = 200 ($(val max_connections))" test "$(val max_connections)" = 200
check "listen_addresses = 127.0.0.1 ($(val listen_addresses))" test "$(val listen_addresses)" = 127.0.0.1
check "encoding UTF8 / locale C ($(val server_encoding)/$(val lc_collate))" \
  test "$(val server_encoding)/$(val lc_collate)" = UTF8/C
check "connected to database om_test ($(val db))" test "$(val db)" = om_test
check "OM_TEST_PG_PORT matches server port ($(val envport))" test "$(val envport)" = "$(val port)"
expected_url="postgres://postgres@127.0.0.1:$(val port)/om_test"
check "TEST_DATABASE_URL = $expected_url" test "$(val testurl)" = "$expected_url"
check "DATABASE_URL = TEST_DATABASE_URL" test "$(val dburl)" = "$expected_url"
check "OM_TEST_PG_BIN has pg_ctl ($(val bin))" test -x "$(val bin)/pg_ctl"
check "OM_TEST_PG_RUNAS = $runas ($(val runas))" test "$(val runas)" = "$runas"
check "OM_TEST_PG_DATA matches announced data dir" test "$(val data)" = "$(data_dir_of "$work/4.err")"
[[ $rc -eq 0 ]] || show_log "$work/4.err"
check_cleanup "settings" "$work/4.err" "$work/4.pids"

# --- 5. other cwd, pipeline command, stop -m immediate + restart via exports --
(
  cd / || exit 1
  bash "$WP" bash -c '
    set -euo pipefail
    pgctl() {
      if [ "$(id -u)" -eq 0 ]; then runuser -u "$OM_TEST_PG_RUNAS" -- "$OM_TEST_PG_BIN/pg_ctl" "$@"
      else "$OM_TEST_PG_BIN/pg_ctl" "$@"; fi
    }
    "$OM_TEST_PG_BIN/psql" "$TEST_DATABASE_URL" -qXAtc "create table t(x int); insert into t values (41)"
    (cd /tmp && pgctl stop -D "$OM_TEST_PG_DATA" -m immediate -w -s)
    (cd /tmp && pgctl start -D "$OM_TEST_PG_DATA" -l "$OM_TEST_PG_LOG" -w -t 60 -s) >/dev/null
    '"$record_pids"'
    "$OM_TEST_PG_BIN/psql" "$TEST_DATABASE_URL" -XAtc "select x + 1 from t" | tr -d "\n" | sed "s/^/answer=/"
  ' _ "$work/5.pids" >"$work/5.out" 2>"$work/5.err"
)
rc=$?
check "from cwd /, pipeline + immediate stop/restart keeps committed data (rc=$rc, $(cat "$work/5.out"))" \
  test "$rc:$(cat "$work/5.out")" = "0:answer=42"
[[ $rc -eq 0 ]] || show_log "$work/5.err"
check_cleanup "restart" "$work/5.err" "$work/5.pids"

# --- 6. interrupted by SIGTERM / SIGINT (sent to the process group) -----------
for sig in TERM INT; do
  rm -f "$work/ready"
  set -m # own process group for the job, so SIGINT is not ignored in it
  bash "$WP" bash -c "$record_pids"'; touch "$2"; sleep 60' _ "$work/6$sig.pids" "$work/ready" \
    >"$work/6$sig.out" 2>"$work/6$sig.err" &
  bg_pid=$!
  set +m
  for ((i = 0; i < 600; i++)); do
    [[ -e $work/ready ]] && break
    kill -0 "$bg_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -"$sig" -- "-$bg_pid" 2>/dev/null
  t0=$(date +%s%N)
  wait "$bg_pid"
  rc=$?
  t1=$(date +%s%N)
  bg_pid=""
  if [[ $sig == TERM ]]; then want=143; else want=130; fi
  check "SIG$sig: exits $want (rc=$rc) and cleans up ($(((t1 - t0) / 1000000)) ms)" test "$rc" -eq "$want"
  check_cleanup "SIG$sig" "$work/6$sig.err" "$work/6$sig.pids"
done

# --- 7. no leftovers overall ---------------------------------------------------
check "no om-pg temp dirs left in ${TMPDIR:-/tmp}" \
  test -z "$(for f in "$work"/*.err; do d=$(data_dir_of "$f"); [[ -n $d && -e $(dirname "$d") ]] && echo "$d"; done)"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
