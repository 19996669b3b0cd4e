#!/usr/bin/env bash
# The newcomer's path through TrialGate, from an empty data directory to a
# QC-accepted upload, with bash and curl only:
#
#   go build -o gateway ./cmd/gateway && bash examples/walkthrough.sh
#
#  1. the first administrator, from the command line (before serving)
#  2. the gateway, started on a fresh data directory
#  3. the trial's people: two data managers, an uploader, a QC reviewer, an inspector
#  4. the trial, defined by the first data manager (examples/trial.json)
#  5. its approval: an electronic signature by the second data manager
#  6. a submission: one subject's baseline visit at site S1
#  7. STOW-RS: the real test files (testdata/real), in a multipart/related body built here
#  8. QIDO-RS: the de-identified studies, series and instances
#  9. WADO-RS: one instance and its series' metadata
# 10. QC: the held secondary capture released, the submission accepted
# 11. the audit trail: every step above, verified
#
# Every request's HTTP status is checked; the script stops at the first
# unexpected one and prints the response. Settings (environment):
#
#   GATEWAY_BIN       the gateway binary (default ./gateway; built with go if missing)
#   GATEWAY_DATA_DIR  a data directory that does not exist yet or is empty
#                     (default ./walkthrough-data); kept afterwards
#   GATEWAY_ADDR      where to listen (default 127.0.0.1:8080)
#
# The gateway reads GATEWAY_DATA_DIR and GATEWAY_ADDR itself too: after the
# script, `./gateway serve --data-dir ./walkthrough-data` serves the same
# data with the accounts below. The passwords are examples: never use them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GATEWAY_BIN=${GATEWAY_BIN:-./gateway}
DATA=${GATEWAY_DATA_DIR:-./walkthrough-data}
ADDR=${GATEWAY_ADDR:-127.0.0.1:8080}
BASE=http://$ADDR
TRIAL=T1 # the id in examples/trial.json
PASSWORD='correct horse battery staple' # every account's, for the example

WORK=$(mktemp -d "${TMPDIR:-/tmp}/trialgate-walkthrough.XXXXXX")
OUT=$WORK/response # the body of the last response
GATEWAY_PID=

step() { printf '\n== %s\n' "$*"; }
die() {
	printf 'walkthrough: FAILED: %s\n' "$*" >&2
	exit 1
}

# api METHOD PATH TOKEN WANT [curl arguments...] sends one request, keeps
# the body in $OUT and stops unless the status is WANT.
api() {
	local method=$1 path=$2 token=$3 want=$4 status
	shift 4
	local auth=()
	if [[ -n $token ]]; then
		auth=(-H "Authorization: Bearer $token")
	fi
	status=$(curl -sS --max-time 120 -o "$OUT" -w '%{http_code}' -X "$method" "${auth[@]}" "$@" "$BASE$path") ||
		die "$method $path: curl failed"
	if [[ $status != "$want" ]]; then
		printf '%s %s: HTTP %s, want %s. Response:\n' "$method" "$path" "$status" "$want" >&2
		head -c 2000 "$OUT" >&2
		echo >&2
		die "$method $path"
	fi
	printf '  %s %s -> %s\n' "$method" "$path" "$status"
}

# json KEY prints the first string value of KEY in the last response (the
# gateway's JSON is compact: "key":"value").
json() { grep -o "\"$1\":\"[^\"]*\"" "$OUT" | head -n 1 | cut -d '"' -f 4; }

# uids TAG prints every UID value of a DICOM JSON attribute (e.g. 0020000D,
# the Study Instance UID) in the last response, one per line.
uids() { grep -Eo "\"$1\": *\\{\"vr\": *\"UI\", *\"Value\": *\\[\"[0-9.]+\"" "$OUT" | grep -Eo '[0-9][0-9.]+"$' | tr -d '"' || true; }

# login USER prints a session token.
login() {
	api POST /api/v1/auth/login "" 200 -H 'Content-Type: application/json' \
		-d "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}" >&2
	json token
}

stop_gateway() {
	if [[ -n $GATEWAY_PID ]]; then
		kill "$GATEWAY_PID" 2>/dev/null || true
		wait "$GATEWAY_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap stop_gateway EXIT

# ---- 0. the binary and a fresh data directory ------------------------------

if [[ ! -x $GATEWAY_BIN ]]; then
	command -v go >/dev/null || die "no gateway binary at $GATEWAY_BIN: build it with go build -o gateway ./cmd/gateway"
	step "building $GATEWAY_BIN"
	(cd "$ROOT" && go build -o "$WORK/gateway" ./cmd/gateway) || die "go build failed"
	cp "$WORK/gateway" "$GATEWAY_BIN"
fi
if [[ -d $DATA && -n $(ls -A "$DATA") ]]; then
	die "$DATA is not empty: the walk-through starts from nothing (remove it or set GATEWAY_DATA_DIR)"
fi
mkdir -p "$DATA"

# ---- 1. the first administrator ---------------------------------------------

# Nobody can log in to a new gateway: the first account is made on the
# command line, with the password on standard input (12+ characters, not
# containing the username). It is audited as system:cli with your OS user.
step "1. the first administrator (command line)"
printf '%s\n' "$PASSWORD" | "$GATEWAY_BIN" user add --data-dir "$DATA" \
	--username admin --full-name "Ada Admin" --role admin --password-stdin

# ---- 2. the gateway -----------------------------------------------------------

step "2. gateway serve --data-dir $DATA --addr $ADDR"
"$GATEWAY_BIN" serve --data-dir "$DATA" --addr "$ADDR" >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
for ((i = 0; i < 100; i++)); do
	curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null && break
	kill -0 "$GATEWAY_PID" 2>/dev/null || { cat "$WORK/gateway.log" >&2; die "the gateway exited"; }
	sleep 0.1
done
api GET /readyz "" 200

# ---- 3. the trial's people ------------------------------------------------------

# The administrator manages accounts and grants, never trial data. Two
# data managers, because a trial definition is approved by a data manager
# other than its author.
step "3. accounts (POST /api/v1/users as admin)"
ADMIN=$(login admin)
account() { # account USERNAME "FULL NAME" GRANT_JSON
	api POST /api/v1/users "$ADMIN" 201 -H 'Content-Type: application/json' \
		-d "{\"username\":\"$1\",\"full_name\":\"$2\",\"password\":\"$PASSWORD\",\"grants\":[$3]}"
}
account dm1 "Dana Manager" "{\"role\":\"data_manager\",\"trial\":\"$TRIAL\"}"
account dm2 "Dmitri Manager" "{\"role\":\"data_manager\",\"trial\":\"$TRIAL\"}"
account up1 "Uma Uploader" "{\"role\":\"site_uploader\",\"trial\":\"$TRIAL\",\"site\":\"S1\"}"
account qc1 "Quinn Reviewer" "{\"role\":\"qc_reviewer\",\"trial\":\"$TRIAL\"}"
account insp1 "Ines Inspector" "{\"role\":\"inspector\",\"trial\":\"$TRIAL\"}"

# ---- 4. the trial -----------------------------------------------------------------

# examples/trial.json: sites, visits, the de-identification options, the
# QC rules and the read design. It becomes version 1, not yet approved.
step "4. the trial (POST /api/v1/trials as dm1)"
DM1=$(login dm1)
api POST /api/v1/trials "$DM1" 201 -H 'Content-Type: application/json' --data-binary "@$ROOT/examples/trial.json"

# ---- 5. the approval ------------------------------------------------------------------

# An electronic signature (password re-entered, meaning "approval") over
# the version's stored bytes. Its author may not approve it: refused, and
# the refusal is recorded in the audit trail.
step "5. approval (dm1 may not approve their own version; dm2 does)"
APPROVE="{\"password\":\"$PASSWORD\",\"meaning\":\"approval\"}"
api POST "/api/v1/trials/$TRIAL/versions/1/approve" "$DM1" 403 -H 'Content-Type: application/json' -d "$APPROVE"
DM2=$(login dm2)
api POST "/api/v1/trials/$TRIAL/versions/1/approve" "$DM2" 200 -H 'Content-Type: application/json' -d "$APPROVE"

# ---- 6. a submission ---------------------------------------------------------------------

# One subject's visit at the uploader's site. The subject code replaces
# PatientID and PatientName in every uploaded object.
step "6. a submission (POST /api/v1/trials/$TRIAL/submissions as up1)"
UP1=$(login up1)
api POST "/api/v1/trials/$TRIAL/submissions" "$UP1" 201 -H 'Content-Type: application/json' \
	-d '{"site":"S1","subject":"S1-001","visit":"BL"}'
SUB=$(json id)
echo "  submission $SUB"

# ---- 7. STOW-RS ------------------------------------------------------------------------------

# A STOW-RS body is multipart/related: each part one DICOM file, its
# Content-Type application/dicom, between boundary lines. Six real files:
# two PET, an MR, a chest X-ray, a two-frame CT, a deflated secondary
# capture (held for burned-in text review).
step "7. STOW-RS (POST /dicomweb/submissions/$SUB/studies as up1)"
BOUNDARY=walkthrough-$RANDOM$RANDOM$RANDOM
BODY=$WORK/stow.multipart
: >"$BODY"
for f in "$ROOT"/testdata/real/[1-6].dcm; do
	printf -- '--%s\r\nContent-Type: application/dicom\r\n\r\n' "$BOUNDARY" >>"$BODY"
	cat "$f" >>"$BODY"
	printf '\r\n' >>"$BODY"
done
printf -- '--%s--\r\n' "$BOUNDARY" >>"$BODY"
# 200: every part stored (202 would mean some failed: FailedSOPSequence says why).
api POST "/dicomweb/submissions/$SUB/studies" "$UP1" 200 \
	-H "Content-Type: multipart/related; type=\"application/dicom\"; boundary=$BOUNDARY" \
	-H 'Accept: application/dicom+json' --data-binary "@$BODY"
stored=$(uids 00081155 | wc -l)
[[ $stored == 6 ]] || die "STOW-RS stored $stored instances, want 6"
echo "  $stored instances stored, de-identified"
# Completing the upload runs the series and visit QC rules.
api POST "/api/v1/submissions/$SUB/complete" "$UP1" 200

# ---- 8. QIDO-RS ----------------------------------------------------------------------------------

# The trial's QC view: de-identified studies (new UIDs, the subject code as
# PatientID) for its QC reviewers and data managers.
step "8. QIDO-RS (GET /dicomweb/trials/$TRIAL/... as qc1)"
QC1=$(login qc1)
api GET "/dicomweb/trials/$TRIAL/studies?PatientID=S1-001" "$QC1" 200 -H 'Accept: application/dicom+json'
studies=$(uids 0020000D | sort -u)
[[ $(wc -l <<<"$studies") == 6 ]] || die "QIDO-RS found $(wc -l <<<"$studies") studies of S1-001, want 6"
echo "  6 studies of subject S1-001"
STUDY=$(head -n 1 <<<"$studies")
api GET "/dicomweb/trials/$TRIAL/studies/$STUDY/series" "$QC1" 200 -H 'Accept: application/dicom+json'
SERIES=$(uids 0020000E | head -n 1)
[[ -n $SERIES ]] || die "no series in study $STUDY"
api GET "/dicomweb/trials/$TRIAL/studies/$STUDY/series/$SERIES/instances" "$QC1" 200 -H 'Accept: application/dicom+json'
INSTANCE=$(uids 00080018 | head -n 1)
[[ -n $INSTANCE ]] || die "no instance in series $SERIES"
echo "  study $STUDY"
echo "  series $SERIES"
echo "  instance $INSTANCE"

# ---- 9. WADO-RS ------------------------------------------------------------------------------------

# The instance comes back as multipart/related with one application/dicom
# part: a DICOM file ("DICM" after its 128-byte preamble).
step "9. WADO-RS (GET .../instances/{uid} and .../series/{uid}/metadata as qc1)"
api GET "/dicomweb/trials/$TRIAL/studies/$STUDY/series/$SERIES/instances/$INSTANCE" "$QC1" 200 \
	-H 'Accept: multipart/related; type="application/dicom"'
grep -aq DICM "$OUT" || die "the retrieved instance holds no DICOM file"
cp "$OUT" "$WORK/instance.multipart"
echo "  $(wc -c <"$WORK/instance.multipart") bytes"
api GET "/dicomweb/trials/$TRIAL/studies/$STUDY/series/$SERIES/metadata" "$QC1" 200 -H 'Accept: application/dicom+json'
grep -q "$INSTANCE" "$OUT" || die "the series metadata does not list $INSTANCE"
grep -q '"S1-001"' "$OUT" || die "the metadata does not show the subject code as PatientID"

# ---- 10. QC -------------------------------------------------------------------------------------------

# The QC reviewer sees the submission with its QC results. The secondary
# capture is held (it may carry burned-in text): looked at and released,
# then the submission is accepted. Every decision needs a reason.
step "10. QC (as qc1)"
api GET "/api/v1/submissions/$SUB" "$QC1" 200
HELD=$(grep -o '"sop_instance_uid":"[^"]*"[^{}]*"status":"held"' "$OUT" | head -n 1 | cut -d '"' -f 4)
[[ -n $HELD ]] || die "no held instance in the submission"
echo "  held for review: $HELD"
api POST "/api/v1/submissions/$SUB/instances/$HELD/review" "$QC1" 200 -H 'Content-Type: application/json' \
	-d '{"decision":"release","reason":"no burned-in text on review"}'
api POST "/api/v1/submissions/$SUB/qc-decision" "$QC1" 200 -H 'Content-Type: application/json' \
	-d '{"decision":"accept","reason":"complete and readable"}'
api GET "/api/v1/submissions/$SUB" "$QC1" 200
echo "  submission status: $(json status)"

# ---- 11. blinded reads ---------------------------------------------------------------------------------

# The accepted visit is a case for the trial's central readers. Two readers
# (rita belongs to site S2: she never reads its cases; none here are from
# S2) read it blinded, through their own DICOMweb view, and sign.
step "11. blinded reads (dm1 assigns; rita and rex read)"
for r in 'rita Rita Reader S2' 'rex Rex Reader -'; do
	set -- $r
	aff='[]'
	[[ $4 != - ]] && aff="[{\"trial\":\"$TRIAL\",\"site\":\"$4\"}]"
	api POST /api/v1/users "$ADMIN" 201 -H 'Content-Type: application/json' \
		-d "{\"username\":\"$1\",\"full_name\":\"$2 $3\",\"password\":\"$PASSWORD\",\"grants\":[{\"role\":\"reader\",\"trial\":\"$TRIAL\"}],\"affiliations\":$aff}"
done
api POST "/api/v1/trials/$TRIAL/read-assignments" "$DM1" 200 -H 'Content-Type: application/json' -d '{"seed":"walkthrough"}'
echo "  $(grep -o '"tasks":\[[^]]*\]' "$OUT")"
for reader in rita rex; do
	TOKEN=$(login $reader)
	api GET /api/v1/read-tasks "$TOKEN" 200
	TASK=$(json id)
	CASE=$(json case)
	[[ $TASK == task-* ]] || die "$reader has no read task"
	api GET "/dicomweb/reads/$TASK/studies" "$TOKEN" 200
	grep -q "$CASE" "$OUT" || die "the reader's view does not show the case code $CASE"
	! grep -q 'S1-001' "$OUT" || die "the reader's view shows the subject code"
	api PUT "/api/v1/read-tasks/$TASK/result" "$TOKEN" 200 -H 'Content-Type: application/json' \
		-d '{"values":{"overall_response":"PR","sum_of_diameters_mm":42.5,"new_lesions":false,"assessment_date":"2026-11-30"}}'
	api POST "/api/v1/read-tasks/$TASK/sign" "$TOKEN" 200 -H 'Content-Type: application/json' \
		-d "{\"password\":\"$PASSWORD\",\"meaning\":\"authorship\"}"
	echo "  $reader read case $CASE (task $TASK) and signed it"
done

# ---- 12. the audit trail -------------------------------------------------------------------------------

# Every step above is an entry on the trial's hash-chained trail (the
# accounts and logins on the system chain). An inspector reads and
# verifies it; both uses are recorded too.
step "12. the audit trail (as insp1)"
INSP1=$(login insp1)
api GET "/api/v1/audit/verify?trial=$TRIAL" "$INSP1" 200
grep -q '"ok":true' "$OUT" || die "the trail does not verify: $(cat "$OUT")"
echo "  $(cat "$OUT")"
api GET "/api/v1/audit?trial=$TRIAL&format=csv" "$INSP1" 200
echo "  the first entries of trial/$TRIAL (seq, who, action, object):"
head -n 12 "$OUT" | tail -n +2 | cut -d , -f 2,6,12,13 | sed 's/^/    /'

step "done"
cat <<EOF
Every step answered as expected. The data stay in $DATA; serve them again with
  $GATEWAY_BIN serve --data-dir $DATA --addr $ADDR
and log in as admin, dm1, dm2, up1, qc1 or insp1 (password: $PASSWORD).
EOF
