#!/usr/bin/env bash
# sqlite3 in memory: ROWS rows (350k at scale 1) inserted by a recursive CTE,
# an index on (k, v), a GROUP BY through the sorter, an ORDER BY ... LIMIT,
# an index range GROUP BY, delete of every even id, VACUUM, integrity check
# and final aggregates. The in-memory database lives in sqlite's page cache:
# one malloc of a little over 4 KiB (4096-byte page + header) per page,
# sqlite's heap peaks at ~75 MB at scale 1; the delete and VACUUM free half.
# Checks: the group and final aggregates equal the values awk computes from
# the same formulas; integrity_check says ok.
# Metrics: sqlite's own heap high-water mark and most outstanding allocations
# (sqlite counts the bytes it asked for: the same on every allocator, so
# peak RSS over sqlite_mem_max_kb is the allocator's overhead), and the size
# of its page-cache allocations.
source "${APPS:-$(dirname "$0")}/lib.sh"
SQLITE=/usr/bin/sqlite3
[[ -x $SQLITE ]] || die "$SQLITE not found (Debian package sqlite3)"

ROWS=$(scaled 350000 2000)

cat >script.sql <<SQL
.bail on
.mode list
.separator |
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, g TEXT, v TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $ROWS)
INSERT INTO t
  SELECT i, (i * 7919) % 10007, 'g' || ((i * 31) % 997),
         printf('v%08d-%s', (i * 48271) % 100000007,
                substr('abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz',
                       1 + i % 7, 3 + (i * 13) % 53))
  FROM c;
CREATE INDEX t_kv ON t(k, v);
SELECT 'group', count(*), sum(n), sum(s) FROM
  (SELECT g, count(*) AS n, sum(length(v)) AS s, max(v) AS m FROM t GROUP BY g);
SELECT 'groups', g, n, m FROM
  (SELECT g, count(*) AS n, max(v) AS m FROM t GROUP BY g) ORDER BY n DESC, g LIMIT 3;
SELECT 'order', id, k, v FROM t ORDER BY v DESC, id LIMIT 3;
SELECT 'krange', count(*), sum(n) FROM (SELECT k, count(*) AS n FROM t WHERE k < 2000 GROUP BY k);
DELETE FROM t WHERE id % 2 = 0;
VACUUM;
PRAGMA integrity_check;
SELECT 'final', count(*), sum(k), sum(length(v)) FROM t;
SELECT 'minmax', min(v), max(v) FROM t;
.output stats.txt
.stats
SQL

"$SQLITE" :memory: <script.sql >out.txt || die "sqlite3 failed (exit $?)"
cat out.txt

# The same aggregates from the formulas, in awk.
expected=$(awk -v n="$ROWS" 'BEGIN {
  for (i = 1; i <= n; i++) {
    len = 13 + ((i * 48271) % 100000007 >= 100000000) + (i * 13) % 53
    total += len; groups[(i * 31) % 997] = 1
    if (i % 2) { cnt++; sumk += (i * 7919) % 10007; oddlen += len }
  }
  ng = 0; for (g in groups) ng++
  printf "group|%d|%d|%d\nfinal|%d|%d|%d\n", ng, n, total, cnt, sumk, oddlen
}')
got=$(grep -E '^(group|final)\|' out.txt)
[[ $got == "$expected" ]] || die "aggregates differ from the expected values:
got:
$got
expected:
$expected"
grep -qx ok out.txt || die "PRAGMA integrity_check did not say ok"

# sqlite's heap accounting: metrics, not stdout.
awk '/^Memory Used:/ { gsub(/[()]/, ""); print "sqlite_mem_max_kb", int($5 / 1024) }
     /^Number of Outstanding Allocations:/ { gsub(/[()]/, ""); print "sqlite_allocs_max", $7 }
     /^Largest Pcache Allocation:/ { print "sqlite_pcache_alloc_bytes", $4 }' stats.txt |
  while read -r key value; do metric "$key" "$value"; done
