package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
)

// matrixCaller is one column of the authorization matrix: an account with
// one grant, or nobody (no grants, no token).
type matrixCaller struct {
	name  string // also the account's username
	grant *auth.Grant
}

// matrixCallers are the columns, in the order of every row's want.
var matrixCallers = [...]matrixCaller{
	{"anonymous", nil},
	{"m-uploader", &auth.Grant{Role: auth.SiteUploader, Trial: "T1", Site: "S1"}},
	{"m-qc", &auth.Grant{Role: auth.QCReviewer, Trial: "T1"}},
	{"m-reader", &auth.Grant{Role: auth.Reader, Trial: "T1"}},
	{"m-adjudicator", &auth.Grant{Role: auth.Adjudicator, Trial: "T1"}},
	{"m-datamanager", &auth.Grant{Role: auth.DataManager, Trial: "T1"}},
	{"m-qa-t1", &auth.Grant{Role: auth.QAReviewer, Trial: "T1"}},
	{"m-qa-all", &auth.Grant{Role: auth.QAReviewer, Trial: auth.AllTrials}},
	{"m-inspector-t1", &auth.Grant{Role: auth.Inspector, Trial: "T1"}},
	{"m-inspector-all", &auth.Grant{Role: auth.Inspector, Trial: auth.AllTrials}},
	{"m-admin", &auth.Grant{Role: auth.Admin}},
	{"m-inspector-t2", &auth.Grant{Role: auth.Inspector, Trial: "T2"}},
	{"m-qa-t2", &auth.Grant{Role: auth.QAReviewer, Trial: "T2"}},
}

// statuses are a row's expected statuses, one per matrixCallers column.
type statuses [len(matrixCallers)]int

// matrixTarget is the account the per-user endpoints name.
const matrixTarget = "m-target"

const (
	ok   = http.StatusOK
	made = http.StatusCreated
	none = http.StatusNoContent
	who  = http.StatusUnauthorized
	no   = http.StatusForbidden
	gone = http.StatusNotFound
)

// Every endpoint against every kind of caller gets exactly the expected
// status, and every refusal is in the audit trail.
func TestAuthorizationMatrix(t *testing.T) {
	g := newGateway(t)
	ids := map[string]string{"anonymous": auth.Anonymous}
	for _, c := range matrixCallers[1:] {
		ids[c.name] = g.addUser(t, c.name, *c.grant)
	}
	g.addUser(t, matrixTarget, auth.Grant{Role: auth.Reader, Trial: "T1"})

	login := func(caller string) any {
		if caller == "anonymous" {
			return map[string]string{"username": "nobody-here", "password": testPassword}
		}
		return map[string]string{"username": caller, "password": testPassword}
	}
	newUser := func(caller string) any {
		return map[string]any{"username": "made-by-" + caller, "full_name": "Made By " + caller,
			"password": testPassword, "grants": []map[string]string{{"role": "reader", "trial": "T1"}}}
	}
	stillActive := func(string) any { return map[string]any{"active": true} }
	matrixDefinition := func(name string) func(string) any {
		return func(string) any { return trialDefinition(t, "T1", name) }
	}
	matrixApproval := func(string) any { return map[string]string{"password": testPassword, "meaning": "approval"} }
	matrixChange := func(caller string) any {
		return map[string]any{"definition": trialDefinition(t, "T1", "Changed by "+caller), "reason": "matrix"}
	}
	empty := func(string) any { return map[string]string{} }
	readValues := func(string) any { return map[string]any{"values": map[string]any{}} }
	readSignature := func(string) any { return map[string]string{"password": testPassword, "meaning": "authorship"} }
	reassignment := func(string) any { return map[string]string{"reader": matrixTarget, "reason": "matrix"} }
	readRelease := func(string) any {
		return map[string]string{"password": testPassword, "meaning": "approval", "reason": "matrix"}
	}
	defineTrial(t, g, "T1")
	defineTrial(t, g, "T2")

	// Columns: anonymous, site_uploader:T1:S1, qc_reviewer:T1, reader:T1,
	// adjudicator:T1, data_manager:T1, qa_reviewer:T1, qa_reviewer:*,
	// inspector:T1, inspector:*, admin, inspector:T2, qa_reviewer:T2.
	rows := []struct {
		method string
		route  string // the route template, as refusals without credentials name it
		query  string
		body   func(caller string) any // nil: no body
		want   statuses
		// refused is the object a refusal of a signed-in caller names:
		// what the service that refused was asked for; "" for the
		// endpoint itself.
		refused string
		// trial is the path's :trial; "" for T1.
		trial string
	}{
		{"GET", "/healthz", "", nil, statuses{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, "", ""},
		{"GET", "/readyz", "", nil, statuses{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, "", ""},
		{"GET", "/metrics", "", nil, statuses{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, "", ""},
		{"GET", "/api/v1/openapi.json", "", nil, statuses{ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, "", ""},
		// Anonymous tries an unknown account; the others their own.
		{"POST", "/api/v1/auth/login", "", login, statuses{who, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, "", ""},
		{"POST", "/api/v1/auth/logout", "", nil, statuses{who, none, none, none, none, none, none, none, none, none, none, none, none}, "", ""},
		{"GET", "/api/v1/me", "", nil, statuses{who, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok, ok}, "", ""},
		{"GET", "/api/v1/audit", "trial=T1", nil, statuses{who, no, no, no, no, no, ok, ok, ok, ok, no, no, no}, "chain/trial/T1", ""},
		{"GET", "/api/v1/audit", "trial=T2", nil, statuses{who, no, no, no, no, no, no, ok, no, ok, no, ok, ok}, "chain/trial/T2", ""},
		{"GET", "/api/v1/audit", "trial=system", nil, statuses{who, no, no, no, no, no, no, ok, no, ok, ok, no, no}, "chain/system", ""},
		{"GET", "/api/v1/audit", "", nil, statuses{who, no, no, no, no, no, ok, ok, ok, ok, ok, ok, ok}, "chain/*", ""},
		{"GET", "/api/v1/audit/verify", "trial=T1", nil, statuses{who, no, no, no, no, no, ok, ok, ok, ok, no, no, no}, "chain/trial/T1", ""},
		{"GET", "/api/v1/audit/verify", "trial=T2", nil, statuses{who, no, no, no, no, no, no, ok, no, ok, no, ok, ok}, "chain/trial/T2", ""},
		{"GET", "/api/v1/audit/verify", "trial=system", nil, statuses{who, no, no, no, no, no, no, ok, no, ok, ok, no, no}, "chain/system", ""},
		{"GET", "/api/v1/audit/verify", "", nil, statuses{who, no, no, no, no, no, ok, ok, ok, ok, ok, ok, ok}, "chain/*", ""},
		// T404 does not exist: not found, whatever the grants, and the
		// refusal is on the system chain.
		{"GET", "/api/v1/audit", "trial=T404", nil, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "chain/trial/T404", ""},
		{"GET", "/api/v1/audit/verify", "trial=T404", nil, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "chain/trial/T404", ""},
		{"GET", "/api/v1/trials/:trial", "", nil, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "trial/T404", "T404"},
		{"GET", "/api/v1/trials/:trial/versions/:n", "", nil, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "trial/T404", "T404"},
		{"POST", "/api/v1/users", "", newUser, statuses{who, no, no, no, no, no, no, no, no, no, made, no, no}, "", ""},
		{"PATCH", "/api/v1/users/:username", "", stillActive, statuses{who, no, no, no, no, no, no, no, no, no, ok, no, no}, "", ""},
		{"GET", "/api/v1/users", "", nil, statuses{who, no, no, no, no, no, no, no, no, no, ok, no, no}, "", ""},
		{"GET", "/api/v1/users/:username", "", nil, statuses{who, no, no, no, no, no, no, no, no, no, ok, no, no}, "", ""},
		// T1 exists (defined from the command line): the data manager's
		// create passes authorization and meets the existing trial.
		{"POST", "/api/v1/trials", "", matrixDefinition(""), statuses{who, no, no, no, no, http.StatusConflict, no, no, no, no, no, no, no}, "trial/T1", ""},
		{"GET", "/api/v1/trials/:trial", "", nil, statuses{who, ok, ok, ok, ok, ok, ok, ok, ok, ok, no, no, no}, "trial/T1", ""},
		{"GET", "/api/v1/trials/:trial/versions/:n", "", nil, statuses{who, ok, ok, ok, ok, ok, ok, ok, ok, ok, no, no, no}, "trial/T1", ""},
		{"POST", "/api/v1/trials/:trial/versions/:n/approve", "", matrixApproval, statuses{who, no, no, no, no, ok, no, no, no, no, no, no, no}, "trial/T1", ""},
		{"PUT", "/api/v1/trials/:trial", "", matrixChange, statuses{who, no, no, no, no, ok, no, no, no, no, no, no, no}, "trial/T1", ""},
		// Blinded reads (the trial is approved above; it has no cases, and
		// task-none is no task).
		{"POST", "/api/v1/trials/:trial/read-assignments", "", empty, statuses{who, no, no, no, no, ok, no, no, no, no, no, no, no}, "trial/T1", ""},
		{"GET", "/api/v1/trials/:trial/read-tasks", "", nil, statuses{who, no, no, no, no, ok, no, no, no, no, no, no, no}, "trial/T1", ""},
		{"GET", "/api/v1/read-tasks", "", nil, statuses{who, no, no, ok, ok, no, no, no, no, no, no, no, no}, "read_tasks/own", ""},
		{"GET", "/api/v1/read-tasks/:id", "", nil, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "read_task/task-none", ""},
		{"PUT", "/api/v1/read-tasks/:id/result", "", readValues, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "read_task/task-none", ""},
		{"POST", "/api/v1/read-tasks/:id/sign", "", readSignature, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "read_task/task-none", ""},
		{"POST", "/api/v1/read-tasks/:id/reassign", "", reassignment, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "read_task/task-none", ""},
		{"GET", "/dicomweb/reads/:task/studies", "", nil, statuses{who, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone, gone}, "dicomweb/view/task-none", ""},
		// Results: QA reviewers and inspectors; data managers and QC
		// reviewers only once released.
		{"GET", "/api/v1/trials/:trial/reads", "", nil, statuses{who, no, no, no, no, no, ok, ok, ok, ok, no, no, no}, "trial/T1", ""},
		{"GET", "/api/v1/trials/:trial/reads/outcomes", "", nil, statuses{who, no, no, no, no, no, ok, ok, ok, ok, no, no, no}, "trial/T1", ""},
		{"GET", "/api/v1/trials/:trial/reads/agreement", "", nil, statuses{who, no, no, no, no, no, ok, ok, ok, ok, no, no, no}, "trial/T1", ""},
		{"POST", "/api/v1/trials/:trial/reads/release", "", readRelease, statuses{who, no, no, no, no, ok, no, no, no, no, no, no, no}, "trial/T1", ""},
		{"GET", "/api/v1/trials/:trial/reads", "format=csv", nil, statuses{who, no, ok, no, no, ok, ok, ok, ok, ok, no, no, no}, "trial/T1", ""},
		{"GET", "/api/v1/trials/:trial/reads/agreement", "format=csv", nil, statuses{who, no, ok, no, no, ok, ok, ok, ok, ok, no, no, no}, "trial/T1", ""},
	}

	// refusal identifies an audit entry recording a refused request.
	type refusal struct {
		action  audit.Action
		outcome audit.Outcome
		actor   string
		object  string
		trial   string
	}
	wantRefusals := map[refusal]int{}
	for _, row := range rows {
		pathTrial := row.trial
		if pathTrial == "" {
			pathTrial = "T1"
		}
		path := strings.NewReplacer(":username", matrixTarget, ":trial", pathTrial, ":n", "1", ":id", "task-none",
			":task", "task-none").Replace(row.route)
		if row.query != "" {
			path += "?" + row.query
		}
		for i, c := range matrixCallers {
			name := row.method + " " + path + " as " + c.name
			token := ""
			if c.grant != nil {
				token = g.login(t, c.name) // a fresh session: logout ends it
			}
			var body any
			if row.body != nil {
				body = row.body(c.name)
			}
			r := g.do(t, row.method, path, token, body)
			if r.status != row.want[i] {
				t.Errorf("%s: %d %s, want %d", name, r.status, r.body, row.want[i])
			}
			if r.status != http.StatusUnauthorized && r.status != http.StatusForbidden && r.status != http.StatusNotFound {
				continue
			}
			if row.route == "/api/v1/auth/login" {
				// A refused login is recorded by auth as the attempt itself.
				wantRefusals[refusal{audit.ActionLogin, audit.Failed, auth.Anonymous, "", ""}]++
				continue
			}
			// Without credentials the refusal comes before the handler reads
			// the trial: it is on the system chain, naming the endpoint. A
			// signed-in caller's refusal is recorded by the service that
			// refused it, naming what was asked for, on the chain of its
			// trial (the audit of one trial, a trial's definition).
			trialID, _ := strings.CutPrefix(row.query, "trial=")
			if strings.HasPrefix(row.route, "/api/v1/trials") {
				trialID = "T1" // the trial of the path or body
			}
			if trialID == "system" || c.grant == nil || r.status == http.StatusNotFound {
				trialID = "" // a trial that does not exist has no chain
			}
			object := row.refused
			if object == "" || c.grant == nil {
				object = "endpoint/" + row.method + " " + row.route
			}
			wantRefusals[refusal{audit.ActionAccessDenied, audit.Denied, ids[c.name], object, trialID}]++
		}
	}

	got := map[refusal]int{}
	for _, e := range g.trail(t) {
		ent := e.entry
		if ent.Action == audit.ActionAccessDenied || ent.Action == audit.ActionLogin && ent.Outcome != audit.Success {
			got[refusal{ent.Action, ent.Outcome, ent.Actor.ID, ent.Object.String(), ent.Trial}]++
		}
	}
	for k, n := range wantRefusals {
		if got[k] != n {
			t.Errorf("refusal %+v recorded %d times, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := wantRefusals[k]; !ok {
			t.Errorf("unexpected refusal %+v recorded %d times", k, n)
		}
	}
	refused := 0
	for _, n := range wantRefusals {
		refused += n
	}
	t.Logf("%d endpoints x %d callers = %d requests; %d refusals, each audited",
		len(rows), len(matrixCallers), len(rows)*len(matrixCallers), refused)
}
