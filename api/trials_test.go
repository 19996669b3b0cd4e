package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/trial"
)

// trialDefinition returns a valid definition of trial id as generic JSON;
// name "" gives a default name.
func trialDefinition(t testing.TB, id, name string) map[string]any {
	t.Helper()
	if name == "" {
		name = "Trial " + id
	}
	const def = `{"sites":[{"id":"S1","name":"Site one"}],"visits":[{"id":"BL","label":"Baseline"}],
	 "deid":{"options":["retain_long_modified_dates","clean_descriptors"]},
	 "qc":{"rules":[{"id":"mod","kind":"allowed_modalities","severity":"fail","modalities":["CT"]}]},
	 "reads":{"design":"single","form":{"fields":[{"id":"resp","type":"choice","required":true,"choices":["yes","no"]}]}}}`
	var m map[string]any
	if err := json.Unmarshal([]byte(def), &m); err != nil {
		t.Fatal(err)
	}
	m["id"], m["name"] = id, name
	return m
}

// defineTrial creates trial id directly, as the command line does
// (actor system:test), so that any data manager may approve version 1.
func defineTrial(t testing.TB, g *gateway, id string) {
	t.Helper()
	b, err := json.Marshal(trialDefinition(t, id, ""))
	if err != nil {
		t.Fatal(err)
	}
	createTrial(t, g.trials, b)
}

// createTrial defines a trial from its JSON as the command line does: a
// system component holding the trial's data_manager grant.
func createTrial(t testing.TB, trials *trial.Service, raw []byte) {
	t.Helper()
	var head struct{ ID string }
	if err := json.Unmarshal(raw, &head); err != nil {
		t.Fatal(err)
	}
	op := auth.Operator("test", "", "", auth.Grant{Role: auth.DataManager, Trial: head.ID})
	if _, err := trials.Create(context.Background(), op, raw); err != nil {
		t.Fatal(err)
	}
}

// trialVersion is the response shape of a version.
type trialVersion struct {
	Trial      string
	Version    int
	SHA256     string
	CreatedBy  string `json:"created_by"`
	Reason     string
	Definition json.RawMessage
	Approval   *struct {
		Signer         string
		Name           string
		Time           string
		Meaning        string
		RecordSHA256   string `json:"record_sha256"`
		SignatureValid bool   `json:"signature_valid"`
	}
}

// A trial is defined, changed, read and approved through HTTP, with the
// refusals the e-signature rules demand, all in the audit trail.
func TestTrialEndToEnd(t *testing.T) {
	g := newGateway(t)
	dm := auth.Grant{Role: auth.DataManager, Trial: "T9"}
	aliceID := g.addUser(t, "alice", dm)
	bobID := g.addUser(t, "bob", dm)
	alice, bob := g.login(t, "alice"), g.login(t, "bob")

	// An invalid definition is refused with its field path.
	bad := trialDefinition(t, "T9", "")
	bad["sites"] = []any{map[string]any{"id": "S1", "name": "a"}, map[string]any{"id": "S1", "name": "b"}}
	r := g.do(t, "POST", "/api/v1/trials", alice, bad)
	if r.status != http.StatusBadRequest || r.errorMessage() != `sites[1].id: duplicate site id "S1"` {
		t.Fatalf("bad definition: %d %s", r.status, r.body)
	}
	// A data manager of another trial may not define T8.
	if r := g.do(t, "POST", "/api/v1/trials", alice, trialDefinition(t, "T8", "")); r.status != http.StatusForbidden {
		t.Fatalf("other trial: %d %s", r.status, r.body)
	}

	r = g.do(t, "POST", "/api/v1/trials", alice, trialDefinition(t, "T9", ""))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var v1 trialVersion
	r.decode(t, &v1)
	if v1.Version != 1 || v1.CreatedBy != aliceID || v1.Approval != nil {
		t.Fatalf("created %+v", v1)
	}

	// A change needs a reason.
	change := map[string]any{"definition": trialDefinition(t, "T9", "Trial nine, amended")}
	if r := g.do(t, "PUT", "/api/v1/trials/T9", alice, change); r.status != http.StatusBadRequest ||
		r.errorMessage() != "reason: required for a change" {
		t.Fatalf("change without reason: %d %s", r.status, r.body)
	}
	change["reason"] = "amendment 1"
	r = g.do(t, "PUT", "/api/v1/trials/T9", alice, change)
	if r.status != http.StatusOK {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	var v2 trialVersion
	r.decode(t, &v2)
	if v2.Version != 2 || v2.Reason != "amendment 1" {
		t.Fatalf("changed %+v", v2)
	}

	// Self-approval is refused (403, audited); a wrong password too (401,
	// audited by auth as esign.failed).
	approve := map[string]string{"password": testPassword, "meaning": "approval"}
	if r := g.do(t, "POST", "/api/v1/trials/T9/versions/2/approve", alice, approve); r.status != http.StatusForbidden {
		t.Fatalf("self-approval: %d %s", r.status, r.body)
	}
	if r := g.do(t, "POST", "/api/v1/trials/T9/versions/2/approve", bob,
		map[string]string{"password": "not it", "meaning": "approval"}); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	r = g.do(t, "POST", "/api/v1/trials/T9/versions/2/approve", bob, approve)
	if r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	var ap trialVersion
	r.decode(t, &ap)
	if ap.Approval == nil || !ap.Approval.SignatureValid || ap.Approval.Name != "Test bob" ||
		ap.Approval.Meaning != "approval" || ap.Approval.Signer != bobID || ap.Approval.RecordSHA256 != v2.SHA256 {
		t.Fatalf("approval %+v", ap.Approval)
	}
	if r := g.do(t, "POST", "/api/v1/trials/T9/versions/2/approve", bob, approve); r.status != http.StatusConflict {
		t.Fatalf("second approval: %d %s", r.status, r.body)
	}

	// Reading shows every version and the signature manifestation.
	r = g.do(t, "GET", "/api/v1/trials/T9", bob, nil)
	if r.status != http.StatusOK {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	var got struct {
		CurrentVersion int `json:"current_version"`
		Current        trialVersion
		Versions       []trialVersion
	}
	r.decode(t, &got)
	if got.CurrentVersion != 2 || len(got.Versions) != 2 || got.Current.Approval == nil ||
		!got.Current.Approval.SignatureValid || got.Versions[0].Approval != nil {
		t.Fatalf("trial %s", r.body)
	}
	r = g.do(t, "GET", "/api/v1/trials/T9/versions/1", alice, nil)
	var old trialVersion
	r.decode(t, &old)
	if r.status != http.StatusOK || old.Version != 1 || old.SHA256 != v1.SHA256 {
		t.Fatalf("version 1: %d %s", r.status, r.body)
	}
	if r := g.do(t, "GET", "/api/v1/trials/T9/versions/3", alice, nil); r.status != http.StatusNotFound {
		t.Fatalf("version 3: %d %s", r.status, r.body)
	}

	var created, changed, approved, signFailed, denied int
	for _, e := range g.trail(t) {
		switch ent := e.entry; ent.Action {
		case audit.ActionTrialCreated:
			created++
		case audit.ActionTrialChanged:
			changed++
		case audit.ActionTrialApproved:
			approved++
			if ent.Signature == nil || ent.Signature.RecordSHA256 != v2.SHA256 || ent.Trial != "T9" {
				t.Errorf("trial.approved %+v", ent)
			}
		case audit.ActionSignFailed:
			signFailed++
		case audit.ActionAccessDenied:
			if ent.Object.String() == "trial_version/T9/2" && ent.Actor.ID == aliceID && ent.Trial == "T9" {
				denied++
			}
		}
	}
	if created != 1 || changed != 1 || approved != 1 || signFailed != 1 || denied != 1 {
		t.Errorf("audit: created %d changed %d approved %d esign.failed %d self-approval denied %d",
			created, changed, approved, signFailed, denied)
	}
}
