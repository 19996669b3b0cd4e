#!/usr/bin/env bash
# Ingest benchmark: TrialGate's STOW-RS ingest (de-identification + QC +
# audit + storage) against Orthanc's plain STOW-RS ingest of the same
# corpus, with the same clients, on this machine, in one run
# (DESIGN.md section 8; bench/README.md, "Ingest (STOW-RS)").
#
#   bash bench/ingest/run.sh
#   CLIENTS=4 N=1000 ROUNDS=3 BIG=1GiB TARGETS=orthanc,sqlite,postgres bash bench/ingest/run.sh
#
# Environment:
#   CLIENTS      concurrent clients (default 4)
#   N            corpus size, instances derived from SOURCE (default 200)
#   PER_REQUEST  instances per STOW-RS request (default 1)
#   ROUNDS       rounds (default 1): each round runs every target on a fresh
#                server (new storage, new database), in an order rotated by one
#                per round; the table shows each target's medians over the rounds
#   BIG          also upload one synthetic multi-frame instance of this size
#                to each target, in the first round, on a freshly started
#                process (e.g. 1GiB; default off)
#   SOURCE       folder of real DICOM files (default testdata/real of the repository)
#   TARGETS      which servers to run, in this order (default orthanc,sqlite,postgres):
#                orthanc  Orthanc + DICOMweb plugin, its own SQLite index and storage folder
#                sqlite   TrialGate, embedded default (SQLite + object folder)
#                postgres TrialGate on PostgreSQL (127.0.0.1:5432, user postgres) + MinIO
#   DATABASE_URL PostgreSQL server to create the run's database on
#                (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#   KEEP=1       keep the temporary folder (corpus, logs, JSON summaries)
#
# Each server runs alone, one after the other, and is stopped before the next
# starts; every process this script starts and its temporary folder (and the
# PostgreSQL database it created) are removed on exit. It needs the Debian
# packages orthanc and orthanc-dicomweb, curl, PostgreSQL (psql, pg_isready) and Go;
# MinIO is the binary scripts/test.sh builds into .cache/bin/minio.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
CLIENTS=${CLIENTS:-4}
N=${N:-200}
PER_REQUEST=${PER_REQUEST:-1}
ROUNDS=${ROUNDS:-1}
BIG=${BIG:-}
SOURCE=${SOURCE:-$ROOT/testdata/real}
TARGETS=${TARGETS:-orthanc,sqlite,postgres}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
ORTHANC=${ORTHANC:-/usr/sbin/Orthanc}
DICOMWEB_PLUGIN=${DICOMWEB_PLUGIN:-/usr/share/orthanc/plugins/libOrthancDicomWeb.so}
MINIO_BIN=$ROOT/.cache/bin/minio
TRIAL=BENCH

log() { printf 'ingest: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tg-ingest.XXXXXX")
RESULTS=$WORK/results
mkdir -p "$RESULTS" "$WORK/bin"

# ---- processes and cleanup ---------------------------------------------

SERVER_PID= # the one server being measured
MINIO_PID=
DB_NAMES=()
ROUND=1

# stop_pid stops one process this script started: TERM, then KILL after 10 s.
stop_pid() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_server() {
	stop_pid "$SERVER_PID"
	SERVER_PID=
}

cleanup() {
	stop_server
	stop_pid "$MINIO_PID"
	local db
	for db in "${DB_NAMES[@]}"; do
		psql -q -d "$DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
			log "could not drop database $db"
	done
	if [[ -n ${KEEP:-} ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

source "$ROOT/scripts/ports.sh"

# wait_http waits until url answers 2xx while pid lives.
wait_http() {
	local url=$1 pid=$2 what=$3 i
	for ((i = 0; i < 240; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.25
	done
	log "$what did not answer at $url"
	return 1
}

# ---- build and corpus ----------------------------------------------------

log "building bench/stow and the gateway"
go build -o "$WORK/bin/stow" ./bench/stow
STOW=$WORK/bin/stow
GW=$WORK/bin/gateway
if ! go build -o "$GW" ./cmd/gateway; then
	log "the gateway does not build: its targets are skipped"
	GW=
fi

log "corpus: $N instances from $SOURCE"
"$STOW" -make-corpus "$N" -from "$SOURCE" -out "$WORK/corpus"

# stow_run LABEL NAME ARGS...: one measured run; the JSON summary goes to
# results/NAME.json and the text to the terminal. Returns stow's status.
stow_run() {
	local label=$1 name=$2
	shift 2
	"$STOW" -label "$label" -clients "$CLIENTS" -per-request "$PER_REQUEST" -pid "$SERVER_PID" \
		-json-file "$RESULTS/$name.json" "$@"
}

# ---- Orthanc ---------------------------------------------------------------

# start_orthanc DIR PORT starts Orthanc with DIR/orthanc.json.
start_orthanc() {
	local dir=$1 http=$2
	"$ORTHANC" "$dir/orthanc.json" >>"$dir/orthanc.log" 2>&1 &
	SERVER_PID=$!
	if ! wait_http "http://127.0.0.1:$http/system" "$SERVER_PID" Orthanc; then
		tail -n 20 "$dir/orthanc.log" >&2
		return 1
	fi
	log "Orthanc $("$ORTHANC" --version | head -1 | awk '{print $2}') on 127.0.0.1:$http (pid $SERVER_PID)"
}

run_orthanc() {
	[[ -x $ORTHANC ]] || {
		log "Orthanc not found at $ORTHANC: skipped"
		return 0
	}
	[[ -f $DICOMWEB_PLUGIN ]] || {
		log "DICOMweb plugin not found at $DICOMWEB_PLUGIN: skipped"
		return 0
	}
	local dir=$WORK/orthanc-r$ROUND http
	mkdir -p "$dir/db"
	http=$(random_port) || die "no free port"
	# Defaults otherwise (StableAge, threads, no storage compression); no
	# DICOM listener, no authentication, only local HTTP clients.
	cat >"$dir/orthanc.json" <<EOF
{
  "Name": "bench-orthanc",
  "StorageDirectory": "$dir/db",
  "IndexDirectory": "$dir/db",
  "HttpPort": $http,
  "DicomServerEnabled": false,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "Plugins": ["$DICOMWEB_PLUGIN"],
  "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "EnableWado": true}
}
EOF
	start_orthanc "$dir" "$http" || die "Orthanc did not start"
	stow_run Orthanc "orthanc-r$ROUND" -target orthanc -url "http://127.0.0.1:$http" -dir "$WORK/corpus" ||
		log "Orthanc corpus run failed"
	if [[ -n $BIG && $ROUND == 1 ]]; then
		# A fresh process, so that its VmHWM is the big upload's peak.
		stop_server
		start_orthanc "$dir" "$http" || die "Orthanc did not restart"
		stow_run "Orthanc $BIG" orthanc-big -target orthanc -url "http://127.0.0.1:$http" -big "$BIG" ||
			log "Orthanc big run failed"
	fi
	stop_server
}

# ---- TrialGate ------------------------------------------------------------

# The benchmark trial: every modality of the corpus allowed; secondary
# capture released without burned-in review (the corpus's one SC object is
# a real test image), so every instance takes the normal path.
write_trial() {
	cat >"$WORK/trial.json" <<EOF
{"id": "$TRIAL", "name": "Ingest benchmark",
 "sites": [{"id": "S1", "name": "Bench site"}],
 "visits": [{"id": "BL", "label": "Baseline"}],
 "deid": {"options": ["retain_long_modified_dates", "clean_descriptors"],
          "release_without_review": ["1.2.840.10008.5.1.4.1.1.7"]},
 "qc": {"rules": [
   {"id": "mod", "kind": "allowed_modalities", "severity": "fail", "modalities": ["CT", "MR", "PT", "CR", "OT"]},
   {"id": "rows", "kind": "required_attribute", "severity": "warn", "attribute": "Rows"}]},
 "reads": {"design": "single", "form": {"fields": [{"id": "resp", "type": "choice", "required": true, "choices": ["yes", "no"]}]}}}
EOF
}

# start_gateway DIR PORT LABEL STORAGE_FLAGS... starts the gateway.
start_gateway() {
	local dir=$1 port=$2 label=$3
	shift 3
	"$GW" serve --addr "127.0.0.1:$port" --log-level warn "$@" >>"$dir/gateway.log" 2>&1 &
	SERVER_PID=$!
	wait_http "http://127.0.0.1:$port/readyz" "$SERVER_PID" "$label" || return 1
	log "$label on 127.0.0.1:$port (pid $SERVER_PID)"
}

# run_gateway NAME LABEL STORAGE_FLAGS...: sets up a fresh gateway on the
# given storage (migrate, trial, users via the CLI; approval via the API),
# then measures it.
run_gateway() {
	local name=$1 label=$2
	shift 2
	local flags=("$@") dir=$WORK/$name-r$ROUND port dm_pw up_pw token
	if [[ -z $GW ]]; then
		log "$label: no gateway binary; not measured"
		return 0
	fi
	mkdir -p "$dir"
	dm_pw=dm-$(random_hex 12)
	up_pw=up-$(random_hex 12)
	printf '%s\n' "$up_pw" >"$dir/uploader.pw"
	chmod 600 "$dir/uploader.pw"

	# skip reports why this target is not measured; the others still run.
	skip() {
		log "$label: $* (see $dir); not measured"
		tail -n 5 "$dir"/*.log >&2 2>/dev/null || true
		stop_server
	}
	"$GW" migrate "${flags[@]}" >>"$dir/setup.log" 2>&1 || {
		skip "gateway migrate failed"
		return 0
	}
	"$GW" trial create --file "$WORK/trial.json" "${flags[@]}" >>"$dir/setup.log" 2>&1 || {
		skip "gateway trial create failed"
		return 0
	}
	printf '%s\n' "$dm_pw" | "$GW" user add --username bench-dm --full-name "Bench Data Manager" \
		--role "data_manager:$TRIAL" --password-stdin "${flags[@]}" >>"$dir/setup.log" 2>&1 || {
		skip "gateway user add bench-dm failed"
		return 0
	}
	printf '%s\n' "$up_pw" | "$GW" user add --username bench-up --full-name "Bench Site Uploader" \
		--role "site_uploader:$TRIAL:S1" --password-stdin "${flags[@]}" >>"$dir/setup.log" 2>&1 || {
		skip "gateway user add bench-up failed"
		return 0
	}

	port=$(random_port) || {
		skip "no free port"
		return 0
	}
	start_gateway "$dir" "$port" "$label" "${flags[@]}" || {
		skip "the gateway did not start"
		return 0
	}
	local base=http://127.0.0.1:$port
	token=$(curl -fsS -H 'Content-Type: application/json' \
		-d "{\"username\": \"bench-dm\", \"password\": \"$dm_pw\"}" "$base/api/v1/auth/login" |
		sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p') || true
	if [[ -z $token ]]; then
		skip "data manager login failed"
		return 0
	fi
	curl -fsS -o /dev/null -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
		-d "{\"password\": \"$dm_pw\", \"meaning\": \"approval\"}" \
		"$base/api/v1/trials/$TRIAL/versions/1/approve" || {
		skip "trial approval failed"
		return 0
	}

	local common=(-target gateway -url "$base" -username bench-up -password-file "$dir/uploader.pw"
		-trial "$TRIAL" -site S1 -visit BL)
	stow_run "$label" "$name-r$ROUND" "${common[@]}" -subject BENCH -dir "$WORK/corpus" ||
		log "$label corpus run failed (are the submission and STOW-RS endpoints in this build?)"
	if [[ -n $BIG && $ROUND == 1 ]]; then
		# A fresh process, so that its VmHWM is the big upload's peak.
		stop_server
		start_gateway "$dir" "$port" "$label" "${flags[@]}" || {
			skip "the gateway did not restart"
			return 0
		}
		stow_run "$label $BIG" "$name-big" "${common[@]}" -subject BIG -big "$BIG" ||
			log "$label big run failed"
	fi
	stop_server
}

start_minio() {
	if [[ ! -x $MINIO_BIN ]]; then
		log "MinIO is not built: run 'bash scripts/test.sh' once (it builds .cache/bin/minio from the Go"
		log "module proxy, about 4 minutes), or: GOBIN=\$PWD/.cache/bin go install github.com/minio/minio@<version in scripts/test.sh>"
		return 1
	fi
	local port console i
	port=$(random_port) || return 1
	console=$(random_port) || return 1
	MINIO_USER=bench-$(random_hex 6)
	MINIO_PASSWORD=$(random_hex 16)
	MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD MINIO_BROWSER=off \
		"$MINIO_BIN" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
		"$WORK/minio" >"$WORK/minio.log" 2>&1 &
	MINIO_PID=$!
	for ((i = 0; i < 120; i++)); do
		kill -0 "$MINIO_PID" 2>/dev/null || break
		if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/minio/health/ready" 2>/dev/null; then
			MINIO_ENDPOINT=127.0.0.1:$port
			log "MinIO on $MINIO_ENDPOINT (pid $MINIO_PID)"
			return 0
		fi
		sleep 0.5
	done
	tail -n 20 "$WORK/minio.log" >&2
	return 1
}

run_postgres() {
	if [[ -z $GW ]]; then
		log "no gateway binary: PostgreSQL run skipped"
		return 0
	fi
	command -v psql >/dev/null || {
		log "psql not found: PostgreSQL run skipped"
		return 0
	}
	pg_isready -q -d "$DATABASE_URL" -t 2 2>/dev/null || {
		log "PostgreSQL not reachable at $DATABASE_URL: skipped"
		return 0
	}
	if [[ -z $MINIO_PID ]] && ! start_minio; then
		log "MinIO not available: PostgreSQL + MinIO run skipped"
		return 0
	fi
	local db
	db=tg_bench_ingest_$(random_hex 6)
	DB_NAMES+=("$db")
	psql -q -d "$DATABASE_URL" -c "CREATE DATABASE \"$db\"" >/dev/null
	local url=${DATABASE_URL%%\?*}
	url="${url%/*}/$db"
	[[ $DATABASE_URL == *\?* ]] && url="$url?${DATABASE_URL#*\?}"
	# The secret goes through the environment (flags show in ps).
	export GATEWAY_S3_SECRET_KEY=$MINIO_PASSWORD
	run_gateway postgres "TrialGate PostgreSQL+MinIO" --database-url "$url" \
		--s3-endpoint "$MINIO_ENDPOINT" --s3-bucket "tg-bench-r$ROUND" --s3-access-key "$MINIO_USER"
	unset GATEWAY_S3_SECRET_KEY
}

# ---- the run ---------------------------------------------------------------

write_trial
IFS=, read -r -a targets <<<"$TARGETS"
for t in "${targets[@]}"; do
	case $t in
	orthanc | sqlite | postgres) ;;
	*) die "unknown target $t (want orthanc, sqlite, postgres)" ;;
	esac
done
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	log "round $ROUND of $ROUNDS"
	for ((i = 0; i < ${#targets[@]}; i++)); do
		t=${targets[(i + ROUND - 1) % ${#targets[@]}]}
		case $t in
		orthanc) run_orthanc ;;
		sqlite) run_gateway sqlite "TrialGate SQLite" --data-dir "$WORK/sqlite-r$ROUND/data" ;;
		postgres) run_postgres ;;
		esac
		# The stored data is not needed any more (the logs stay with KEEP=1).
		rm -rf "$WORK/orthanc-r$ROUND/db" "$WORK/sqlite-r$ROUND/data"
	done
done

# table NAMES...: the side-by-side table of the runs that produced a summary
# (NAME.json, or NAME-rROUND.json for each round).
table() {
	local files=() n f
	for n in "$@"; do
		for f in "$RESULTS/$n.json" "$RESULTS/$n"-r*.json; do
			[[ -f $f ]] && files+=("$f")
		done
	done
	if ((${#files[@]} > 0)); then
		"$STOW" -table "${files[@]}"
	fi
}

echo
echo "## Ingest: $N instances ($(du -sh "$WORK/corpus" | cut -f1) on disk), $CLIENTS clients, $PER_REQUEST per request, $ROUNDS round(s), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
table orthanc sqlite postgres
if [[ -n $BIG ]]; then
	echo
	echo "## One synthetic $BIG multi-frame instance"
	echo
	table orthanc-big sqlite-big postgres-big
fi
