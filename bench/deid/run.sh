#!/usr/bin/env bash
# Offline de-identification against a plain file copy (DESIGN.md section 8:
# "throughput for large instances within 2x of a plain file copy"):
#
#   bash bench/deid/run.sh            # SIZE=1GiB ROUNDS=5
#
# Writes one synthetic multi-frame instance (bench/stow -big), then, ROUNDS
# times and alternately, de-identifies it with `gateway deid` and copies it
# with cp and with cat, removing each output before the next run (the page
# cache stays warm for all three), and prints every time and the medians.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SIZE=${SIZE:-1GiB}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tg-deid.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

go build -o "$WORK/gateway" ./cmd/gateway
go run ./bench/stow -big "$SIZE" -write-big "$WORK/in.dcm"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/secret"
cat >"$WORK/trial.json" <<'JSON'
{"id":"BENCH","name":"De-identification benchmark","sites":[{"id":"S1","name":"One"}],
 "visits":[{"id":"BL","label":"Baseline"}],"deid":{"options":["retain_long_modified_dates"]},"qc":{"rules":[]},
 "reads":{"design":"single","form":{"fields":[{"id":"r","type":"text","required":true}]}}}
JSON
mkdir -p "$WORK/out"
cat "$WORK/in.dcm" >/dev/null # warm the page cache

seconds() { # runs "$@", prints its wall time in seconds
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f\n", ns / 1e9 }'
}
declare -A times
for ((r = 1; r <= ROUNDS; r++)); do
	rm -f "$WORK"/out/*
	times[deid]+="$(seconds "$WORK/gateway" deid --config "$WORK/trial.json" --secret-file "$WORK/secret" --out "$WORK/out" "$WORK/in.dcm") "
	rm -f "$WORK"/out/*
	times[cp]+="$(seconds cp "$WORK/in.dcm" "$WORK/out/copy.dcm") "
	rm -f "$WORK"/out/*
	times[cat]+="$(seconds sh -c "cat '$WORK/in.dcm' >'$WORK/out/cat.dcm'") "
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '%-14s %-40s %s\n' tool "seconds ($ROUNDS runs)" median
for k in deid cp cat; do
	printf '%-14s %-40s %s\n' "$k" "${times[$k]}" "$(echo "${times[$k]}" | median)"
done
d=$(echo "${times[deid]}" | median)
c=$(echo "${times[cp]}" | median)
t=$(echo "${times[cat]}" | median)
awk -v d="$d" -v c="$c" -v t="$t" 'BEGIN { printf "gateway deid / cp = %.2f, / cat = %.2f (budget: <= 2)\n", d / c, d / t }'
