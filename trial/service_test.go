package trial_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/trial"
)

const password = "correct horse battery staple"

const definition = `{"id":"T1","name":"Trial One","sites":[{"id":"S01","name":"One"}],
 "visits":[{"id":"BL","label":"Baseline"}],"deid":{"options":["clean_descriptors"]},"qc":{"rules":[]},
 "reads":{"design":"single","form":{"fields":[{"id":"ok","type":"boolean","required":true}]}}}`

// backend is a migrated, started database with a raw handle behind it.
type backend struct {
	db  *db.DB
	raw *sql.DB
}

func openSQLite(t *testing.T) backend {
	d, raw := dbtest.OpenSQLite(t, nil)
	return backend{db: d, raw: raw}
}

func openPostgres(t *testing.T) backend {
	d, raw := dbtest.OpenPostgres(t, nil)
	return backend{db: d, raw: raw}
}

func parse(t *testing.T, s string) *trial.Definition {
	t.Helper()
	d, err := trial.ParseDefinition([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func canonical(t *testing.T, d *trial.Definition) []byte {
	t.Helper()
	b, err := d.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// principal creates a data manager of T1 and returns them as a principal.
func principal(t *testing.T, a *auth.Service, username string) *auth.Principal {
	t.Helper()
	g := auth.Grant{Role: auth.DataManager, Trial: "T1"}
	u, err := a.CreateUser(context.Background(), audit.System("test"),
		auth.NewUser{Username: username, FullName: "Dr " + username, Password: password, Grants: []auth.Grant{g}})
	if err != nil {
		t.Fatal(err)
	}
	return &auth.Principal{User: u, Grants: []auth.Grant{g}, SessionID: "s_test"}
}

func actions(t *testing.T, d *db.DB) map[audit.Action][]*audit.Entry {
	t.Helper()
	ctx := context.Background()
	if err := d.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	out := map[audit.Action][]*audit.Entry{}
	err := d.AuditRecords(ctx, audit.Filter{}, func(r *audit.Record) error {
		e, err := audit.Decode(r.Entry)
		if err != nil {
			return err
		}
		out[e.Action] = append(out[e.Action], e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLifecycleSQLite(t *testing.T)   { lifecycle(t, openSQLite(t)) }
func TestLifecyclePostgres(t *testing.T) { lifecycle(t, openPostgres(t)) }

// lifecycle creates, changes, reads and approves a trial, with refusals.
func lifecycle(t *testing.T, b backend) {
	ctx := context.Background()
	a := auth.New(b.db, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	svc := trial.NewService(b.db, a, nil)
	alice, bob := principal(t, a, "alice"), principal(t, a, "bob")

	v1, err := svc.Create(ctx, alice, []byte(definition))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 {
		t.Fatalf("version %d", v1.Version)
	}
	if _, err := svc.Create(ctx, alice, []byte(definition)); trialgate.ErrorCode(err) != trialgate.EConflict {
		t.Errorf("second create: %v", err)
	}
	changed := parse(t, definition)
	changed.Name = "Trial One (amended)"
	if _, err := svc.Change(ctx, alice, "T1", canonical(t, changed), ""); trialgate.ErrorMessage(err) != "reason: required for a change" {
		t.Errorf("change without reason: %v", err)
	}
	if _, err := svc.Change(ctx, alice, "T1", []byte(definition), "no-op"); trialgate.ErrorCode(err) != trialgate.EConflict {
		t.Errorf("identical change: %v", err)
	}
	// T2 does not exist: not found, not forbidden.
	if _, err := svc.Change(ctx, alice, "T2", canonical(t, changed), "wrong trial"); trialgate.ErrorCode(err) != trialgate.ENotFound ||
		trialgate.ErrorMessage(err) != "no trial T2" {
		t.Errorf("change of a trial that does not exist: %v", err)
	}
	v2, err := svc.Change(ctx, alice, "T1", canonical(t, changed), "protocol amendment 1")
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 {
		t.Fatalf("version %d", v2.Version)
	}
	tr, err := svc.Get(ctx, bob, "T1")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Current.Version != 2 || len(tr.Versions) != 2 || tr.Name != changed.Name {
		t.Fatalf("trial %+v", tr)
	}
	old, err := svc.Version(ctx, bob, "T1", 1)
	if err != nil || string(old.Definition) != string(v1.Definition) {
		t.Fatalf("version 1: %v", err)
	}
	if _, err := svc.Version(ctx, bob, "T1", 3); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("version 3: %v", err)
	}

	// Alice authored version 2: she may not approve it.
	if _, err := svc.Approve(ctx, alice, "T1", 2, password, auth.MeaningApproval); trialgate.ErrorCode(err) != trialgate.EForbidden {
		t.Errorf("self-approval: %v", err)
	}
	// A wrong password is refused and audited by auth.
	if _, err := svc.Approve(ctx, bob, "T1", 2, "wrong password", auth.MeaningApproval); trialgate.ErrorCode(err) != trialgate.EUnauthorized {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := svc.Approve(ctx, bob, "T1", 2, password, auth.MeaningReview); trialgate.ErrorCode(err) != trialgate.EInvalid {
		t.Errorf("wrong meaning: %v", err)
	}
	ap, err := svc.Approve(ctx, bob, "T1", 2, password, auth.MeaningApproval)
	if err != nil {
		t.Fatal(err)
	}
	if ap.Approval == nil || ap.Approval.Valid != nil || ap.Approval.Signature.Name != "Dr bob" ||
		ap.Approval.Signature.Meaning != auth.MeaningApproval || ap.Approval.Signature.RecordSHA256 != v2.SHA256 {
		t.Fatalf("approval %+v", ap.Approval)
	}
	if _, err := svc.Approve(ctx, bob, "T1", 2, password, auth.MeaningApproval); trialgate.ErrorCode(err) != trialgate.EConflict {
		t.Errorf("second approval: %v", err)
	}
	got, err := svc.Version(ctx, bob, "T1", 2)
	if err != nil || got.Approval == nil || got.Approval.Valid != nil || got.Approval.Signature != ap.Approval.Signature {
		t.Fatalf("stored approval %+v: %v", got.Approval, err)
	}

	// The stored bytes are protected against change through SQL.
	if _, err := b.raw.ExecContext(ctx, `UPDATE trial_versions SET definition = $1 WHERE trial_id = 'T1' AND version = 2`,
		[]byte(`{}`)); err == nil {
		t.Error("a signed definition was changed in place")
	}

	as := actions(t, b.db)
	if n := len(as[audit.ActionTrialCreated]); n != 1 {
		t.Errorf("%d trial.created", n)
	}
	if ch := as[audit.ActionTrialChanged]; len(ch) != 1 || ch[0].Reason != "protocol amendment 1" || ch[0].Trial != "T1" {
		t.Errorf("trial.changed %+v", ch)
	}
	if ap := as[audit.ActionTrialApproved]; len(ap) != 1 || ap[0].Signature == nil ||
		ap[0].Signature.RecordSHA256 != v2.SHA256 || ap[0].Actor.ID != bob.User.ID {
		t.Errorf("trial.approved %+v", ap)
	}
	if f := as[audit.ActionSignFailed]; len(f) != 1 || f[0].Actor.ID != bob.User.ID {
		t.Errorf("esign.failed %+v", f)
	}
	rep, err := b.db.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Errorf("audit trail does not verify: %+v", rep)
	}
}

// A signed definition changed by hand, behind the gateway (its guard
// trigger dropped first, as a hostile administrator could), is reported as
// a signature mismatch.
func TestTamperedApprovalSQLite(t *testing.T) {
	ctx := context.Background()
	b := openSQLite(t)
	a := auth.New(b.db, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	svc := trial.NewService(b.db, a, nil)
	alice, bob := principal(t, a, "alice"), principal(t, a, "bob")
	if _, err := svc.Create(ctx, alice, []byte(definition)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, bob, "T1", 1, password, auth.MeaningApproval); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TRIGGER trial_versions_approve_only`,
		`UPDATE trial_versions SET definition = replace(definition, 'Trial One', 'Trial 0ne') WHERE trial_id = 'T1'`,
	} {
		if _, err := b.raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	v, err := svc.Load(ctx, "T1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Approval == nil || !errors.Is(v.Approval.Valid, auth.ErrSignatureMismatch) {
		t.Fatalf("tampered version's approval: %+v", v.Approval)
	}
}

// Only a data manager of the trial defines, changes and approves it, and
// anyone taking part in the trial reads it; every refusal is recorded once,
// on the trial's chain (the system chain for an id that names no trial),
// naming what was asked for.
func TestAuthorization(t *testing.T) {
	ctx := context.Background()
	b := openSQLite(t)
	a := auth.New(b.db, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	svc := trial.NewService(b.db, a, nil)
	op := auth.Operator("test", "", "", auth.Grant{Role: auth.DataManager, Trial: "T1"})
	if _, err := svc.Create(ctx, op, []byte(definition)); err != nil {
		t.Fatal(err)
	}
	as := func(role auth.Role, trialID, site string) *auth.Principal {
		return &auth.Principal{User: auth.User{ID: "u_" + string(role), Username: string(role)},
			Grants: []auth.Grant{{Role: role, Trial: trialID, Site: site}}}
	}
	changed := strings.Replace(definition, "Trial One", "Trial One (2)", 1)
	ops := []struct {
		name string
		do   func(p *auth.Principal) error
		// refused names the object a refusal records.
		refused string
	}{
		{"create", func(p *auth.Principal) error {
			_, err := svc.Create(ctx, p, []byte(definition))
			return err
		}, "trial/T1"},
		{"change", func(p *auth.Principal) error {
			_, err := svc.Change(ctx, p, "T1", []byte(changed), "because")
			return err
		}, "trial/T1"},
		{"approve", func(p *auth.Principal) error {
			_, err := svc.Approve(ctx, p, "T1", 1, "not the password", auth.MeaningApproval)
			return err
		}, "trial/T1"},
		{"get", func(p *auth.Principal) error { _, err := svc.Get(ctx, p, "T1"); return err }, "trial/T1"},
		{"version", func(p *auth.Principal) error { _, err := svc.Version(ctx, p, "T1", 1); return err }, "trial/T1"},
	}
	callers := []struct {
		p    *auth.Principal
		may  map[string]bool // the operations not refused
		name string
	}{
		{as(auth.DataManager, "T1", ""), map[string]bool{"create": true, "change": true, "approve": true, "get": true, "version": true}, "data manager"},
		{as(auth.SiteUploader, "T1", "S01"), map[string]bool{"get": true, "version": true}, "site uploader"},
		{as(auth.Inspector, auth.AllTrials, ""), map[string]bool{"get": true, "version": true}, "inspector of every trial"},
		{as(auth.QCReviewer, "T1", ""), map[string]bool{"get": true, "version": true}, "QC reviewer"},
		{as(auth.Admin, "", ""), nil, "administrator"},
		{as(auth.DataManager, "T2", ""), nil, "data manager of another trial"},
	}
	for _, c := range callers {
		for _, op := range ops {
			before := len(actions(t, b.db)[audit.ActionAccessDenied])
			err := op.do(c.p)
			denied := actions(t, b.db)[audit.ActionAccessDenied][before:]
			if c.may[op.name] {
				if trialgate.ErrorCode(err) == trialgate.EForbidden || len(denied) != 0 {
					t.Errorf("%s may %s: %v, %d refusals recorded", c.name, op.name, err, len(denied))
				}
				continue
			}
			if trialgate.ErrorCode(err) != trialgate.EForbidden {
				t.Errorf("%s %s: %v, want forbidden", c.name, op.name, err)
			}
			if len(denied) != 1 || denied[0].Actor.ID != c.p.User.ID || denied[0].Object.String() != op.refused ||
				denied[0].Trial != "T1" || denied[0].Outcome != audit.Denied {
				t.Errorf("%s %s: refusals recorded %+v, want one on trial/T1 naming %s", c.name, op.name, denied, op.refused)
			}
		}
	}
	// An id that names no trial names no chain either.
	if _, err := svc.Get(ctx, as(auth.Inspector, auth.AllTrials, ""), "../T1"); trialgate.ErrorCode(err) != trialgate.EForbidden {
		t.Errorf("get of an invalid id: %v", err)
	}
	n := 0
	for _, e := range actions(t, b.db)[audit.ActionAccessDenied] {
		if e.Object.String() == "trial/../T1" {
			n++
			if e.Trial != "" {
				t.Errorf("the refusal of an invalid id is on trial %q's chain, want the system chain", e.Trial)
			}
		}
	}
	if n != 1 {
		t.Errorf("the refusal of an invalid id was recorded %d times, want once", n)
	}
}

func TestUnknownTrialSQLite(t *testing.T)   { unknownTrial(t, openSQLite(t)) }
func TestUnknownTrialPostgres(t *testing.T) { unknownTrial(t, openPostgres(t)) }

// A trial that does not exist is not found, for callers with a grant
// naming it and without one alike; each refusal is recorded once, on the
// system chain, and no chain is started for it. Defining it is refused as
// forbidden to anyone but its data manager, and starts its chain.
func unknownTrial(t *testing.T, b backend) {
	ctx := context.Background()
	a := auth.New(b.db, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	svc := trial.NewService(b.db, a, nil)
	as := func(role auth.Role, trialID string) *auth.Principal {
		return &auth.Principal{User: auth.User{ID: "u_" + string(role) + trialID, Username: string(role)},
			Grants: []auth.Grant{{Role: role, Trial: trialID}}}
	}
	def := strings.Replace(definition, `"id":"T1"`, `"id":"T9"`, 1)
	ops := []struct {
		name string
		do   func(p *auth.Principal) error
	}{
		{"get", func(p *auth.Principal) error { _, err := svc.Get(ctx, p, "T9"); return err }},
		{"version", func(p *auth.Principal) error { _, err := svc.Version(ctx, p, "T9", 1); return err }},
		{"change", func(p *auth.Principal) error { _, err := svc.Change(ctx, p, "T9", []byte(def), "because"); return err }},
		{"approve", func(p *auth.Principal) error {
			_, err := svc.Approve(ctx, p, "T9", 1, password, auth.MeaningApproval)
			return err
		}},
	}
	callers := map[string]*auth.Principal{
		"data manager of T9": as(auth.DataManager, "T9"),
		"inspector of all":   as(auth.Inspector, auth.AllTrials),
		"data manager of T1": as(auth.DataManager, "T1"),
		"administrator":      as(auth.Admin, ""),
	}
	for name, p := range callers {
		for _, op := range ops {
			before := len(actions(t, b.db)[audit.ActionAccessDenied])
			err := op.do(p)
			if trialgate.ErrorCode(err) != trialgate.ENotFound || trialgate.ErrorMessage(err) != "no trial T9" {
				t.Errorf("%s %s: %v, want not_found \"no trial T9\"", name, op.name, err)
			}
			denied := actions(t, b.db)[audit.ActionAccessDenied][before:]
			if len(denied) != 1 || denied[0].Trial != "" || denied[0].Object.String() != "trial/T9" ||
				denied[0].Actor.ID != p.User.ID || !strings.Contains(denied[0].Reason, "no trial T9") {
				t.Errorf("%s %s: refusals %+v, want one on the system chain naming trial/T9", name, op.name, denied)
			}
		}
	}
	chains, err := b.db.Chains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 1 || chains[0] != audit.SystemChain {
		t.Fatalf("chains %v: a refusal started a trial chain", chains)
	}
	// Defining the trial: forbidden (not "not found") without the grant.
	if _, err := svc.Create(ctx, as(auth.DataManager, "T1"), []byte(def)); trialgate.ErrorCode(err) != trialgate.EForbidden {
		t.Errorf("create by a data manager of another trial: %v", err)
	}
	if _, err := svc.Create(ctx, as(auth.DataManager, "T9"), []byte(def)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := svc.Get(ctx, as(auth.Inspector, auth.AllTrials), "T9"); err != nil {
		t.Errorf("get after create: %v", err)
	}
	// Now it exists, refusals are forbidden and go to its chain.
	if _, err := svc.Get(ctx, as(auth.DataManager, "T1"), "T9"); trialgate.ErrorCode(err) != trialgate.EForbidden {
		t.Errorf("get by a stranger after create: %v", err)
	}
	if err := b.db.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	if chains, _ := b.db.Chains(ctx); len(chains) != 2 || chains[1] != "trial/T9" {
		t.Errorf("chains %v", chains)
	}
}
