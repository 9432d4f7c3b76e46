#!/usr/bin/env bash
# sqlite3 on a few hundred thousand rows (recursive-CTE insert, aggregates,
# an index, GROUP BY, ORDER BY, window functions, joins, updates, deletes,
# VACUUM, integrity check), in memory and in a file database, with
# LD_PRELOAD of a libsa_*.so: output identical to the system allocator's.
# A second run uses a small mmap_threshold/heap_extension_size (SA_CONF).
# Usage: sqlite_test.sh path/to/libsa_NAME.so [rows]
set -euo pipefail
source tests/preload/lib.sh
preload_init "$1"
ROWS="${2:-300000}"
SQLITE=/usr/bin/sqlite3
[[ -x $SQLITE ]] || preload_fail "$SQLITE not found"

cat >"$WORK/script.sql" <<SQL
.bail on
.mode list
.separator |
PRAGMA temp_store = MEMORY;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, g TEXT, v TEXT, r REAL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $ROWS)
INSERT INTO t
  SELECT i, (i * 7919) % 1000, 'g' || (i % 37),
         printf('value-%08d-%s', (i * 2654435761) % 100000007,
                substr(hex(i * i), 1, 4 + i % 29)),
         (i % 1013) * 0.25
  FROM c;
SELECT 'count', count(*), sum(k), min(v), max(v), total(r), sum(length(v)) FROM t;
CREATE INDEX t_k ON t(k, v);
CREATE INDEX t_g ON t(g);
SELECT 'group', k, count(*), sum(length(v)), max(v), avg(r) FROM t GROUP BY k ORDER BY k LIMIT 25;
SELECT 'range', k, count(*), min(id), max(id) FROM t WHERE k BETWEEN 100 AND 110 GROUP BY k;
SELECT 'order', id, v FROM t ORDER BY v DESC, id LIMIT 15;
SELECT 'order2', g, count(DISTINCT k), sum(r) FROM t GROUP BY g ORDER BY sum(r) DESC, g;
SELECT 'concat', length(group_concat(v, ',')) FROM t;
SELECT 'window', id, k, sum(r) OVER (PARTITION BY k ORDER BY id ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)
  FROM t WHERE k < 3 ORDER BY k, id LIMIT 20;
SELECT 'rank', k, v, rank() OVER (ORDER BY v) FROM t WHERE id % 10007 = 0 ORDER BY v;
SELECT 'join', a.k, count(*), sum(b.r) FROM t a JOIN t b ON b.id = a.id + 1 WHERE a.k < 8 GROUP BY a.k;
UPDATE t SET v = v || '-updated-' || hex(zeroblob(id % 50)) WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT 'after', count(*), sum(length(v)), max(length(v)) FROM t;
CREATE TABLE s AS SELECT g, k, count(*) AS n, group_concat(id) AS ids FROM t GROUP BY g, k;
SELECT 'ctas', count(*), sum(n), sum(length(ids)) FROM s;
SELECT 'distinct', count(*) FROM (SELECT DISTINCT substr(v, 1, 12) FROM t);
SELECT 'json', json_group_array(id) IS NOT NULL, length(json_group_object(id, v)) FROM t WHERE id < 20000;
DROP INDEX t_g;
VACUUM;
PRAGMA integrity_check;
SELECT 'final', count(*), sum(k), total(r) FROM t;
SQL

check() {
  local tag="$1" db="$2"
  shift 2
  rm -f "$WORK"/*.db
  run_system "$tag" "$SQLITE" "$db" ".read $WORK/script.sql"
  rm -f "$WORK"/*.db
  run_preload "$tag" env "$@" "$SQLITE" "$db" ".read $WORK/script.sql"
  assert_same "$tag"
  [[ $SYSTEM_RC == 0 ]] || preload_fail "$tag: sqlite3 failed on the system allocator"
}

assert_interposed "$SQLITE" :memory: 'select 1'
check memory :memory:
check file "$WORK/test.db"
check memory_small_conf :memory: SA_CONF=mmap_threshold:4096,heap_extension_size:64k
head -n 5 "$WORK/memory.preload.out"
echo "PASS"
