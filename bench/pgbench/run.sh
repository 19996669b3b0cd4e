#!/usr/bin/env bash
# Server-side ablation of the audited transaction with pgbench (a C client,
# so the client's own cost stays small): the business INSERT alone, plus a
# trivial statement, plus a second INSERT, plus the queue row (with and
# without the txid index), and the full audited SQL (regulated table with
# the deferred trigger + queue row). Rounds are interleaved; it prints each
# run and, per script, the median tx/s and the median ratio to plain.sql
# within a round. No sequencer runs: the queue only grows during the run.
#
#   bash bench/pgbench/run.sh [rounds] [seconds]      (default 5 rounds of 6 s)
#
# Uses a fresh database on PGHOST/PGPORT/PGUSER (default 127.0.0.1, 5432,
# postgres), dropped at the end; 64 clients, prepared statements, no TLS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROUNDS=${1:-5}
SECONDS_PER_RUN=${2:-6}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres} PGSSLMODE=disable
PGBENCH=${PGBENCH:-$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1)}
DB=tg_bench_pgbench_$$
SCRIPTS=(plain select1 two-inserts queue queue-noindex regulated)

psql -qd postgres -c "CREATE DATABASE $DB"
trap 'psql -qd postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
psql -qd "$DB" -v ON_ERROR_STOP=1 -f ../../db/postgres/migrations/0001_audit.sql -f setup.sql

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
	for s in "${SCRIPTS[@]}"; do
		psql -qd "$DB" -c CHECKPOINT
		b0=$(busy)
		out=$("$PGBENCH" -n -M prepared -c 64 -j 2 -T "$SECONDS_PER_RUN" -f "$s.sql" "$DB" 2>&1)
		b1=$(busy)
		tx=$(grep -oP 'number of transactions actually processed: \K[0-9]+' <<<"$out")
		tps=$(grep -oP 'tps = \K[0-9.]+' <<<"$out")
		# /proc/stat counts 1/100 s: machine CPU microseconds per transaction.
		printf '%s %s %.0f %d\n' "$round" "$s" "$tps" $(((b1 - b0) * 10000 / tx)) | tee -a "$results"
	done
done
echo
echo "script: median tx/s, median machine CPU us/tx, median ratio to plain within a round"
for s in "${SCRIPTS[@]}"; do
	awk -v s="$s" '
		{ tps[$1, $2] = $3; if ($2 == s) { n++; t[n] = $3; c[n] = $4; rounds[n] = $1 } }
		function median(a, n,   i, j, x) {
			for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			for (i = 1; i <= n; i++) r[i] = t[i] / tps[rounds[i], "plain"]
			printf "%-14s %6.0f tx/s %6.0f us/tx %5.2f\n", s, median(t, n), median(c, n), median(r, n)
		}' "$results"
done
rm -f "$results"
