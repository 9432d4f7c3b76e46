#!/usr/bin/env bash
# redis-server on a unix socket in the scratch folder, driven by
# redis-benchmark (16 clients, pipelines of 16) and by Lua scripts (EVAL):
#   db 0 (random keys key:000000000000.. of a KEYS-key space, 25k at scale 1):
#     fill:   SET of 16, 256 and 4096-byte values; LPUSH/SADD/HSET/ZADD of
#             64-byte values into mylist/myset/myhash/myzset
#     delete: a Lua loop deletes every even key and every even member of the
#             set, hash and sorted set, and the older half of the list
#     refill: SET of 1024 and 64-byte values, HSET/SADD again
#   db 1 (deterministic, DKEYS keys d:1.., 6k at scale 1): a Lua fill of
#     strings of 1..3000 bytes plus 64 lists and 32 hashes, delete of the even
#     keys, hash fields and half of each list, refill of the even keys with
#     1..6000 bytes, and APPENDs to every fifth key (i % 5 == 1).
# Then one second of idle, the server's VmRSS (rss_idle_kb) and VmHWM
# (rss_peak_kb), SHUTDOWN NOSAVE, and the server must exit 0.
# Checks: db 1's DBSIZE, total STRLEN, HLEN and LLEN sums equal what awk
# computes; every d: key's value (GET in Lua) is the string that was SET and
# APPENDed, and GET d:11 through redis-cli too (sha256); every db 0 string
# value has one of the five sizes redis-benchmark set, and begins and ends
# with characters ('0'..'o') of its random data. redis-benchmark's keys are random (not
# seeded), so only deterministic facts are printed.
# Metrics: requests/s of each redis-benchmark run, each phase's ms,
# used_memory_kb (redis's own count, through malloc_usable_size),
# rss_idle_kb, rss_peak_kb.
#
# Debian's redis-server (and redis-cli, redis-benchmark) is linked against
# libjemalloc.so.2. With no LD_PRELOAD (the "glibc" run) this script preloads
# libc.so.6 so that malloc really is glibc's there, not jemalloc's; set
# REDIS_LINKED_MALLOC=1 to keep the linked jemalloc. (redis's mallctl and
# nallocx calls still bind to libjemalloc, which only serves them.)
source "${APPS:-$(dirname "$0")}/lib.sh"
SERVER=/usr/bin/redis-server
CLI=/usr/bin/redis-cli
BENCH=/usr/bin/redis-benchmark
for prog in "$SERVER:redis-server" "$CLI:redis-tools" "$BENCH:redis-tools"; do
  [[ -x ${prog%%:*} ]] || die "${prog%%:*} not found (Debian package ${prog#*:})"
done
GLIBC=/lib/x86_64-linux-gnu/libc.so.6
if [[ -z ${LD_PRELOAD:-} && -z ${REDIS_LINKED_MALLOC:-} && -e $GLIBC ]]; then
  export LD_PRELOAD=$GLIBC
fi

KEYS=$(scaled 25000 2000)
DKEYS=$(scaled 6000 1000)
# Relative (the server runs in --dir "$PWD" too): a unix socket path may not
# be longer than 107 bytes, and a sandbox's scratch folder can be.
SOCK=redis.sock
if awk -v s="$COMPARE_SCALE" 'BEGIN { exit !(s < 0.3) }'; then IDLE=0.25; else IDLE=1; fi

pid=
cleanup() {
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  pid=
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

"$SERVER" --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' --appendonly no \
  --daemonize no --dir "$PWD" --logfile "$PWD/redis.log" &
pid=$!

cli() { "$CLI" -s "$SOCK" "$@"; }
server_log() { tail -n 20 redis.log 2>/dev/null >&2 || true; }

for _ in $(seq 200); do
  [[ $(cli ping 2>/dev/null) == PONG ]] && break
  kill -0 "$pid" 2>/dev/null || { server_log; die "redis-server exited at start"; }
  sleep 0.05
done
[[ $(cli ping 2>/dev/null) == PONG ]] || { server_log; die "redis-server does not answer PING"; }

# bench LABEL ARGS...: one redis-benchmark run; its requests/s become the
# metrics TEST_LABEL_rps (e.g. set_d16_rps).
bench() {
  local name="$1"
  shift
  "$BENCH" -s "$SOCK" -c 16 -P 16 -r "$KEYS" --csv "$@" >"bench.$name.csv" 2>"bench.$name.err" ||
    { cat "bench.$name.err" >&2; die "redis-benchmark $name failed"; }
  grep -qi error "bench.$name.csv" "bench.$name.err" && { cat "bench.$name.err" >&2; die "redis-benchmark $name: errors"; }
  awk -F'"' -v n="$name" 'NR > 1 && $4 + 0 > 0 { print tolower($2) "_" n "_rps", int($4) }' \
    "bench.$name.csv" >"bench.$name.rps"
  [[ -s bench.$name.rps ]] || die "redis-benchmark $name printed no requests/s"
  while read -r key value; do metric "$key" "$value"; done <"bench.$name.rps"
}

# eval DB SCRIPT ARGS...: run a Lua script in database DB.
eval_in() {
  local db="$1" script="$2"
  shift 2
  cli -n "$db" --no-raw eval "$script" 0 "$@" >eval.out 2>&1 || { cat eval.out >&2; die "EVAL failed"; }
  grep -q '^(error)' eval.out && { cat eval.out >&2; die "EVAL failed"; }
  cat eval.out
}

# ---- fill ----
t_fill=$(now_ns)
eval_in 1 '
  local n = tonumber(ARGV[1])
  for i = 1, n do
    redis.call("SET", "d:" .. i, string.rep(string.char(97 + i % 26), 1 + (i * 7919) % 3000))
    redis.call("RPUSH", "l:" .. (i % 64), "e" .. i)
    redis.call("HSET", "h:" .. (i % 32), "f" .. i, string.rep("y", i % 100))
  end
  return n' "$DKEYS" >/dev/null
bench d16 -t set -d 16 -n "$((KEYS * 2))"
bench d256 -t set -d 256 -n "$KEYS"
bench d4096 -t set -d 4096 -n "$((KEYS / 2))"
bench d64 -t lpush,sadd,hset,zadd -d 64 -n "$((KEYS / 2))"

# ---- delete half ----
t_delete=$(now_ns)
eval_in 0 '
  local n = tonumber(ARGV[1])
  for i = 0, n - 1, 2 do
    local e = string.format("%012d", i)
    redis.call("DEL", "key:" .. e)
    redis.call("HDEL", "myhash", "element:" .. e)
    redis.call("SREM", "myset", "element:" .. e)
    redis.call("ZREM", "myzset", "element:" .. e)
  end
  local len = redis.call("LLEN", "mylist")
  redis.call("LTRIM", "mylist", 0, math.floor(len / 2) - 1)
  return 0' "$KEYS" >/dev/null
eval_in 1 '
  local n = tonumber(ARGV[1])
  for i = 2, n, 2 do
    redis.call("DEL", "d:" .. i)
    redis.call("HDEL", "h:" .. (i % 32), "f" .. i)
  end
  for j = 0, 63 do
    local len = redis.call("LLEN", "l:" .. j)
    redis.call("LTRIM", "l:" .. j, math.floor(len / 2), -1)
  end
  return 0' "$DKEYS" >/dev/null

# ---- refill ----
t_refill=$(now_ns)
bench d1024_refill -t set -d 1024 -n "$KEYS"
eval_in 1 '
  local n = tonumber(ARGV[1])
  for i = 2, n, 2 do
    redis.call("SET", "d:" .. i, string.rep(string.char(65 + i % 26), 1 + (i * 104729) % 6000))
  end
  for i = 1, n, 5 do
    redis.call("APPEND", "d:" .. i, string.rep("z", 100 + i % 900))
  end
  return 0' "$DKEYS" >/dev/null
bench d64_refill -t set -d 64 -n "$KEYS"
bench d64_refill2 -t hset,sadd -d 64 -n "$((KEYS / 2))"

# ---- checks ----
t_checks=$(now_ns)
metric fill_ms "$(((t_delete - t_fill) / 1000000))"
metric delete_ms "$(((t_refill - t_delete) / 1000000))"
metric refill_ms "$(((t_checks - t_refill) / 1000000))"
db1=$(eval_in 1 '
  local n = tonumber(ARGV[1])
  local strlen, hlen, llen, bad = 0, 0, 0, 0
  for i = 1, n do
    local v = redis.call("GET", "d:" .. i)
    local want
    if i % 2 == 1 then
      want = string.rep(string.char(97 + i % 26), 1 + (i * 7919) % 3000)
    else
      want = string.rep(string.char(65 + i % 26), 1 + (i * 104729) % 6000)
    end
    if i % 5 == 1 then want = want .. string.rep("z", 100 + i % 900) end
    if v ~= want then bad = bad + 1 end
    strlen = strlen + redis.call("STRLEN", "d:" .. i)
  end
  for j = 0, 31 do hlen = hlen + redis.call("HLEN", "h:" .. j) end
  for j = 0, 63 do llen = llen + redis.call("LLEN", "l:" .. j) end
  return {redis.call("DBSIZE"), strlen, hlen, llen, bad}' "$DKEYS" | awk '{ printf "%s ", $NF }')
expected=$(awk -v n="$DKEYS" 'BEGIN {
  for (i = 1; i <= n; i++) {
    if (i % 2) { s += 1 + (i * 7919) % 3000; h++; hk[i % 32] = 1 } else s += 1 + (i * 104729) % 6000
    if (i % 5 == 1) s += 100 + i % 900
    c[i % 64]++
  }
  for (j = 0; j < 64; j++) { l += c[j] - int(c[j] / 2); if (c[j]) nl++ }
  for (j in hk) nh++
  printf "%d %d %d %d 0 ", n + nl + nh, s, h, l
}')
[[ $db1 == "$expected" ]] ||
  die "db 1 (dbsize strlen hlen llen values-not-as-set): got '$db1', expected '$expected'"
echo "db1 dbsize strlen hlen llen bad: $db1"

# And through redis-cli: GET d:11 (set, then appended to) returns what was SET.
got=$(cli -n 1 --raw get d:11 | sha256sum | cut -d' ' -f1)
want=$(awk 'BEGIN { s = ""; for (k = 0; k < 1 + (11 * 7919) % 3000; k++) s = s "l"
                    for (k = 0; k < 100 + 11 % 900; k++) s = s "z"; print s }' | sha256sum | cut -d' ' -f1)
[[ $got == "$want" ]] || die "GET d:11 does not return what was SET"
echo "db1 get d:11 sha256 $got"

db0=$(eval_in 0 '
  local n = tonumber(ARGV[1])
  local sizes = {[16] = true, [256] = true, [4096] = true, [1024] = true, [64] = true}
  local bad, present = 0, 0
  for i = 0, n - 1 do
    local v = redis.call("GET", string.format("key:%012d", i))
    if v then
      present = present + 1
      local first, last = v:byte(1), v:byte(-1)
      if not sizes[#v] or first < 48 or first > 111 or last < 48 or last > 111 then bad = bad + 1 end
    end
  end
  return {bad, present, redis.call("DBSIZE")}' "$KEYS" | awk '{ printf "%s ", $NF }')
read -r bad present dbsize <<<"$db0"
[[ $bad == 0 ]] || die "db 0: $bad values are not what redis-benchmark set"
((present > KEYS / 2 && present <= KEYS && dbsize == present + 4)) ||
  die "db 0: $present of $KEYS keys present, DBSIZE $dbsize (expected keys + 4 aggregates)"
echo "db0 values ok"

# ---- idle, memory ----
metric checks_ms "$((($(now_ns) - t_checks) / 1000000))"
sleep "$IDLE"
[[ -r /proc/$pid/status ]] || die "redis-server is gone"
metric rss_idle_kb "$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")"
metric rss_peak_kb "$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")"
metric used_memory_kb "$(cli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print int($2 / 1024) }')"

# ---- shutdown ----
cli shutdown nosave >/dev/null 2>&1 || true
rc=0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && die "redis-server still running 5 s after SHUTDOWN NOSAVE"
wait "$pid" || rc=$?
pid=
[[ $rc == 0 ]] || { server_log; die "redis-server exited with status $rc"; }
echo "shutdown ok"
