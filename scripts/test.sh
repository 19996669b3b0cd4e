#!/usr/bin/env bash
# Runs TrialGate's checks and tests against real services, as CI does:
#
#   bash scripts/test.sh [go test flags...]      e.g. -run TestContract -v
#
# - PostgreSQL on 127.0.0.1:5432 (started with pg_ctlcluster if it is
#   installed but down); TRIALGATE_TEST_DATABASE_URL points the tests at it.
# - MinIO, built once from the Go module proxy into .cache/bin/minio and run
#   as a separate process (AGPL: never linked into our binary) on a random
#   local port with a throw-away data folder; TRIALGATE_TEST_S3_* point the
#   tests at it. It is stopped and its data removed when the script exits.
# - Debian packages of the independent peers the tests use (dcmtk,
#   dicom3tools, Orthanc with its DICOMweb plugin, Node.js, Chromium),
#   installed with apt-get when missing, interop/js's npm packages (npm ci,
#   kept in interop/js/node_modules until its package-lock.json changes)
#   and the OHIF Viewer's published build (npm pack, sha512-checked, kept
#   in .cache/ohif).
# - go vet, a gofmt check, then go test.
#
# With CI=true a service or tool that cannot be provided fails the run;
# otherwise the script warns and the tests that need it skip.
# TRIALGATE_TEST_PACKAGES narrows the packages checked (default ./...).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
CI=${CI:-false}
PACKAGES=${TRIALGATE_TEST_PACKAGES:-./...}

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN=$ROOT/.cache/bin/minio

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
# required: fatal in CI, where a missing service must never turn into
# skipped tests; a warning on a developer's machine.
required() {
	if [[ $CI == true ]]; then
		die "$* (CI=true: required)"
	fi
	log "warning: $* (tests that need it will skip)"
}

# ---- static checks first: they are cheap and need no services ----------

log "go vet $PACKAGES"
go vet $PACKAGES

log "gofmt"
# Package directories rather than a tree walk: testdata may hold Go files
# that are unformatted on purpose, and .cache is not ours.
unformatted=$(go list -e -f '{{.Dir}}' $PACKAGES |
	while IFS= read -r dir; do find "$dir" -maxdepth 1 -name '*.go' -print0; done |
	xargs -0 -r gofmt -l)
if [[ -n $unformatted ]]; then
	die "files need gofmt -w:"$'\n'"$unformatted"
fi

# ---- PostgreSQL ----------------------------------------------------------

export TRIALGATE_TEST_DATABASE_URL=${TRIALGATE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}

pg_ready() {
	if command -v pg_isready >/dev/null; then
		pg_isready -q -d "$TRIALGATE_TEST_DATABASE_URL" -t 2
	else
		# No client tools: at least see whether something listens.
		(exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
	fi
}

start_postgres() {
	if pg_ready; then
		return 0
	fi
	if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
		local version
		version=$(ls /etc/postgresql | head -1)
		if [[ -n $version ]]; then
			log "starting PostgreSQL $version/main"
			pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
				log "pg_ctlcluster failed"
		fi
	fi
	local i
	for ((i = 0; i < 30; i++)); do
		if pg_ready; then
			return 0
		fi
		sleep 1
	done
	return 1
}

if start_postgres; then
	log "PostgreSQL ready"
else
	required "PostgreSQL is not reachable at $TRIALGATE_TEST_DATABASE_URL"
fi

# ---- MinIO ---------------------------------------------------------------

# build_minio installs the pinned MinIO into .cache/bin. A lock serialises
# concurrent runs, and the binary is moved into place only when complete, so
# nobody ever executes a half-written file.
build_minio() {
	mkdir -p "$ROOT/.cache/bin"
	exec 9>"$ROOT/.cache/minio.lock"
	flock 9
	if [[ -x $MINIO_BIN ]]; then
		exec 9>&-
		return 0 # another run built it while we waited
	fi
	log "building MinIO $MINIO_VERSION into .cache/bin (first run only; takes about 4 minutes)"
	local gobin rc=0
	gobin=$(mktemp -d "$ROOT/.cache/bin.XXXXXX")
	GOBIN=$gobin go install "$MINIO_MODULE@$MINIO_VERSION" || rc=$?
	if ((rc == 0)); then
		mv "$gobin/minio" "$MINIO_BIN"
	fi
	rm -rf "$gobin"
	exec 9>&-
	return "$rc"
}

source "$ROOT/scripts/ports.sh"

MINIO_PID=
MINIO_DIR=

stop_minio() {
	if [[ -n $MINIO_PID ]]; then
		kill "$MINIO_PID" 2>/dev/null || true
		local i
		for ((i = 0; i < 50; i++)); do
			kill -0 "$MINIO_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$MINIO_PID" 2>/dev/null || true
		wait "$MINIO_PID" 2>/dev/null || true
		MINIO_PID=
	fi
	if [[ -n $MINIO_DIR ]]; then
		rm -rf "$MINIO_DIR"
		MINIO_DIR=
	fi
}
trap stop_minio EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_minio runs the server on free random ports and waits until it is
# ready. A port can be taken between the check and the bind, so a server
# that dies at start is retried on other ports.
start_minio() {
	local user password port console attempt i
	user=trialgate-$(random_hex 6)
	password=$(random_hex 16)
	for ((attempt = 0; attempt < 3; attempt++)); do
		port=$(random_port) || return 1
		console=$(random_port) || return 1
		[[ $port != "$console" ]] || continue
		MINIO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/trialgate-minio.XXXXXX")
		MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$password MINIO_BROWSER=off \
			"$MINIO_BIN" server --quiet \
			--address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
			"$MINIO_DIR/data" >"$MINIO_DIR/minio.log" 2>&1 &
		MINIO_PID=$!
		for ((i = 0; i < 120; i++)); do
			if ! kill -0 "$MINIO_PID" 2>/dev/null; then
				break
			fi
			if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/minio/health/ready" 2>/dev/null; then
				export TRIALGATE_TEST_S3_ENDPOINT=127.0.0.1:$port
				export TRIALGATE_TEST_S3_ACCESS_KEY=$user
				export TRIALGATE_TEST_S3_SECRET_KEY=$password
				log "MinIO ready on 127.0.0.1:$port (pid $MINIO_PID)"
				return 0
			fi
			sleep 0.5
		done
		log "MinIO did not become ready on port $port; its log:"
		tail -n 20 "$MINIO_DIR/minio.log" >&2 || true
		stop_minio
	done
	return 1
}

if [[ -x $MINIO_BIN ]] || build_minio; then
	start_minio || required "MinIO could not be started"
else
	required "MinIO could not be built"
fi

# ---- peers from Debian ------------------------------------------------------

# Independent programs the tests hold the gateway to, installed with
# apt-get when missing and the script runs as root:
# - dciodvfy (dicom3tools) and dcmtk check the de-identified objects;
# - Orthanc with its DICOMweb plugin retrieves a study from the gateway, and
#   Node.js runs the dicomweb-client library against it
#   (cmd/gateway/interop_test.go).
have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
command -v dciodvfy >/dev/null || missing+=(dicom3tools)
command -v dcmdump >/dev/null || missing+=(dcmtk)
command -v Orthanc >/dev/null || [[ -x /usr/sbin/Orthanc ]] || missing+=(orthanc)
have_deb orthanc-dicomweb || missing+=(orthanc-dicomweb)
command -v node >/dev/null || missing+=(nodejs)
# NodeSource's nodejs carries its own npm (and conflicts with Debian's).
command -v npm >/dev/null || missing+=(npm)
# Chromium runs the OHIF Viewer (cmd/gateway/ohif_test.go).
command -v chromium >/dev/null || missing+=(chromium)
if ((${#missing[@]} > 0)) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
		log "apt-get install ${missing[*]} failed"
fi
command -v dciodvfy >/dev/null || required "dciodvfy (Debian package dicom3tools) is not installed"
command -v dcmdump >/dev/null || required "dcmdump (Debian package dcmtk) is not installed"
command -v Orthanc >/dev/null || [[ -x /usr/sbin/Orthanc ]] || required "Orthanc (Debian package orthanc) is not installed"
have_deb orthanc-dicomweb || required "the Orthanc DICOMweb plugin (Debian package orthanc-dicomweb) is not installed"
command -v chromium >/dev/null || required "Chromium (Debian package chromium) is not installed"

# ---- the JavaScript DICOMweb client -------------------------------------------

# interop/js's packages, pinned by its package-lock.json, installed with
# npm ci into interop/js/node_modules (git-ignored) and kept there: a stamp
# of the lock file's hash skips npm ci until the lock file changes. A lock
# serialises concurrent runs.
npm_ci() {
	local js=$ROOT/interop/js sum
	local stamp=$js/node_modules/.trialgate-lock.sha256
	mkdir -p "$ROOT/.cache"
	exec 8>"$ROOT/.cache/npm.lock"
	flock 8
	sum=$(sha256sum "$js/package-lock.json" | cut -d ' ' -f 1)
	if [[ -f $stamp && $(<"$stamp") == "$sum" ]]; then
		exec 8>&-
		return 0
	fi
	log "npm ci in interop/js"
	local rc=0
	(cd "$js" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) || rc=$?
	if ((rc == 0)); then
		printf '%s\n' "$sum" >"$stamp"
	fi
	exec 8>&-
	return "$rc"
}
if command -v node >/dev/null && command -v npm >/dev/null; then
	npm_ci || required "npm ci in interop/js failed"
else
	required "Node.js and npm (Debian packages nodejs, npm) are not installed"
fi

# ---- the OHIF Viewer -----------------------------------------------------------

# The viewer's published build: @ohif/app's tarball from the npm registry
# (npm pack fetches it alone, without the 470 packages its package.json
# names, which the prebuilt dist/ does not need), checked against the
# sha512 pinned here, unpacked into .cache/ohif/app-$OHIF_VERSION/dist.
OHIF_VERSION=3.13.2 # cmd/gateway/ohif_test.go's ohifVersion
OHIF_SHA512=WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==
fetch_ohif() {
	local dest=$ROOT/.cache/ohif/app-$OHIF_VERSION tmp rc=0 sum
	[[ -f $dest/dist/index.html ]] && return 0
	mkdir -p "$ROOT/.cache/ohif"
	exec 7>"$ROOT/.cache/ohif.lock"
	flock 7
	if [[ ! -f $dest/dist/index.html ]]; then
		log "fetching @ohif/app@$OHIF_VERSION into .cache/ohif"
		tmp=$(mktemp -d "$ROOT/.cache/ohif/fetch.XXXXXX")
		(cd "$tmp" && npm pack "@ohif/app@$OHIF_VERSION" --silent >/dev/null) || rc=$?
		if ((rc == 0)); then
			sum=$(openssl dgst -sha512 -binary "$tmp/ohif-app-$OHIF_VERSION.tgz" | base64 -w0)
			if [[ $sum != "$OHIF_SHA512" ]]; then
				log "@ohif/app@$OHIF_VERSION: sha512 $sum, want $OHIF_SHA512"
				rc=1
			fi
		fi
		if ((rc == 0)); then
			mkdir -p "$tmp/app" &&
				tar xzf "$tmp/ohif-app-$OHIF_VERSION.tgz" -C "$tmp/app" --strip-components=1 package/dist &&
				rm -rf "$dest" && mv "$tmp/app" "$dest" || rc=$?
		fi
		rm -rf "$tmp"
	fi
	exec 7>&-
	return "$rc"
}
if command -v npm >/dev/null; then
	fetch_ohif || required "fetching the OHIF Viewer (@ohif/app@$OHIF_VERSION) failed"
fi

# ---- tests ---------------------------------------------------------------

log "go test $PACKAGES $*"
go test -count=1 -timeout 20m $PACKAGES "$@"

# Benchmarks run briefly, as regression checks (they fail only if they
# break, never on a figure): bench/README.md has the real measurements.
if [[ -z ${TRIALGATE_TEST_PACKAGES:-} && $# -eq 0 ]]; then
	log "benchmarks (brief)"
	go test -count=1 -run '^$' -bench . -benchtime 10x ./bench/... ./api/ ./dicom/ ./deid/ ./qc/
	# Fuzzing runs a while on every run, on the parsers of outside input:
	# the DICOM header parser and the STOW-RS multipart reader. The budgets
	# are counts (under a minute each here), not durations: Go 1.26's fuzz
	# coordinator can report a duration's end as "context deadline
	# exceeded" and fail with no finding (go.dev/issue/75804, fixed in
	# 1.27). Minimising is bounded by count too: every new interesting
	# input is minimised, which by time dominated the run.
	log "fuzzing (brief)"
	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 400000x -fuzzminimizetime 200x ./dicom/
	go test -run '^$' -fuzz '^FuzzReadParts$' -fuzztime 100000x -fuzzminimizetime 200x ./api/
	# DICOMweb: the QIDO-RS query, frame list and bulk data path parsers,
	# Accept negotiation; frames, rendering and decoding of stored objects.
	go test -run '^$' -fuzz '^FuzzParseQuery$' -fuzztime 50000x -fuzzminimizetime 200x ./catalog/
	go test -run '^$' -fuzz '^FuzzNegotiate$' -fuzztime 100000x -fuzzminimizetime 200x ./api/
	go test -run '^$' -fuzz '^FuzzReadFrames$' -fuzztime 100000x -fuzzminimizetime 200x ./dicom/
	go test -run '^$' -fuzz '^FuzzImage$' -fuzztime 100000x -fuzzminimizetime 200x ./dicom/render/
	go test -run '^$' -fuzz '^FuzzRLE$' -fuzztime 100000x -fuzzminimizetime 200x ./dicom/codec/
	go test -run '^$' -fuzz '^FuzzJPEGLossless$' -fuzztime 100000x -fuzzminimizetime 200x ./dicom/codec/
	go test -run '^$' -fuzz '^FuzzUIDProblem$' -fuzztime 100000x -fuzzminimizetime 200x ./ingest/
	# Reads: the read design (part of a trial definition) and a reader's values.
	go test -run '^$' -fuzz '^FuzzParseDesign$' -fuzztime 50000x -fuzzminimizetime 200x ./reads/
	go test -run '^$' -fuzz '^FuzzValidate$' -fuzztime 100000x -fuzzminimizetime 200x ./reads/
	go test -run '^$' -fuzz '^FuzzBlind$' -fuzztime 50000x -fuzzminimizetime 200x ./reads/
fi
