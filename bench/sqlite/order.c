// What a records list's ORDER BY costs inside SQLite, without Keel around it.
//
// Builds the benchmark's `items` table (Keel's columns and its index on n) in memory with
// 10,000 rows, then runs one SELECT many times with a random 50-row range of n, reading every
// column of every row returned, and prints the mean time per query. The SQL is the second
// argument (default: Keel's list query with its insertion-order ORDER BY), with ?1 and ?2 the
// range. Build it against the SQLite that Keel links (libsqlite3-sys's bundled copy), e.g.:
//
//   S=$(ls -d ~/.cargo/registry/src/*/libsqlite3-sys-0.37.0/sqlite3)
//   gcc -O3 -DSQLITE_THREADSAFE=1 -DSQLITE_TEMP_STORE=2 -I"$S" bench/sqlite/order.c "$S/sqlite3.c" \
//       -o /tmp/order -lpthread -lm -ldl
//   /tmp/order 200000
//   /tmp/order 200000 'SELECT t."id", t."title", t."n", t."flag", t."created", t."updated"
//       FROM "items" t WHERE (t."n" >= ?1 AND t."n" < ?2) LIMIT 20'
//
// docs/BENCHMARKS.md ("the default order's cost") has the figures.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sqlite3.h"

static const char *SCHEMA =
    "PRAGMA temp_store=MEMORY;"
    "CREATE TABLE \"items\" (\"id\" TEXT PRIMARY KEY NOT NULL, \"title\" TEXT NOT NULL DEFAULT '',"
    " \"n\" NUMERIC NOT NULL DEFAULT 0, \"flag\" BOOLEAN NOT NULL DEFAULT FALSE,"
    " \"created\" TEXT NOT NULL DEFAULT '', \"updated\" TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX idx_items_n ON items (n);";

static const char *KEEL_LIST =
    "SELECT t.\"id\", t.\"title\", t.\"n\", t.\"flag\", t.\"created\", t.\"updated\" FROM \"items\" t"
    " WHERE (t.\"n\" >= ?1 AND t.\"n\" < ?2) ORDER BY t.rowid LIMIT 20 OFFSET 0";

static int check(sqlite3 *db, int rc) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
    exit(1);
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s QUERIES [SQL]\n", argv[0]);
    return 2;
  }
  int queries = atoi(argv[1]);
  const char *sql = argc > 2 ? argv[2] : KEEL_LIST;
  sqlite3 *db;
  check(db, sqlite3_open(":memory:", &db));
  check(db, sqlite3_exec(db, SCHEMA, 0, 0, 0));
  check(db, sqlite3_exec(db, "BEGIN", 0, 0, 0));
  sqlite3_stmt *ins;
  check(db, sqlite3_prepare_v2(db,
      "INSERT INTO items VALUES (printf('%015d', ?1), 'item ' || ?1, ?1, ?1 % 2 = 0,"
      " '2026-12-05 14:12:33.894Z', '2026-12-05 14:12:33.894Z')", -1, &ins, 0));
  for (int i = 0; i < 10000; i++) {
    sqlite3_bind_int(ins, 1, i);
    check(db, sqlite3_step(ins));
    sqlite3_reset(ins);
  }
  check(db, sqlite3_exec(db, "COMMIT", 0, 0, 0));
  sqlite3_stmt *q;
  check(db, sqlite3_prepare_v2(db, sql, -1, &q, 0));
  long bytes = 0, rows = 0;
  srand(1);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int k = 0; k < queries; k++) {
    int x = rand() % 9950;
    sqlite3_bind_int(q, 1, x);
    sqlite3_bind_int(q, 2, x + 50);
    while (check(db, sqlite3_step(q)) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(q); c++) {
        sqlite3_column_text(q, c);
        bytes += sqlite3_column_bytes(q, c);
      }
      rows++;
    }
    sqlite3_reset(q);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("%.2f us a query, %.1f rows a query (%ld bytes read)\n", ns / 1e3 / queries,
         (double)rows / queries, bytes);
  sqlite3_close(db);
  return 0;
}
