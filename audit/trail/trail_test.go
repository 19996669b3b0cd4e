package trail_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/audit/trail"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
)

func person(id string, grants ...auth.Grant) *auth.Principal {
	return &auth.Principal{User: auth.User{ID: id, Username: id}, Grants: grants}
}

// uses counts the entries of action by actor on each chain.
func uses(t *testing.T, d *db.DB, action audit.Action, actor string) map[string]int {
	t.Helper()
	ctx := context.Background()
	if err := d.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	err := d.AuditRecords(ctx, audit.Filter{}, func(r *audit.Record) error {
		e, err := audit.Decode(r.Entry)
		if err != nil {
			return err
		}
		if e.Action == action && e.Actor.ID == actor {
			out[r.Chain]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Each reader reads the chains their grants allow; the query is recorded
// on every chain it reads, before any entry is streamed, so the answer
// holds the query itself; a refusal is recorded on the chain asked for.
func TestQueryPolicy(t *testing.T) {
	ctx := context.Background()
	d, _ := dbtest.OpenSQLite(t, nil)
	for _, sc := range []db.Scope{db.TrialScope("T1"), db.TrialScope("T2"), db.System} {
		if err := d.Record(ctx, audit.System("test"), sc, audit.Event{Action: audit.ActionLogin}); err != nil {
			t.Fatal(err)
		}
	}
	svc := trail.New(d)
	tests := []struct {
		name   string
		p      *auth.Principal
		trial  string
		chains []string // read; nil: refused
	}{
		{"inspector of T1, T1", person("i1", auth.Grant{Role: auth.Inspector, Trial: "T1"}), "T1", []string{"trial/T1"}},
		{"inspector of T1, all", person("i2", auth.Grant{Role: auth.Inspector, Trial: "T1"}), "", []string{"trial/T1"}},
		{"inspector of T1, T2", person("i3", auth.Grant{Role: auth.Inspector, Trial: "T1"}), "T2", nil},
		{"inspector of T1, system", person("i4", auth.Grant{Role: auth.Inspector, Trial: "T1"}), "system", nil},
		{"QA of every trial, all", person("q1", auth.Grant{Role: auth.QAReviewer, Trial: auth.AllTrials}), "", []string{"system", "trial/T1", "trial/T2"}},
		{"admin, system", person("a1", auth.Grant{Role: auth.Admin}), "system", []string{"system"}},
		{"admin, T1", person("a2", auth.Grant{Role: auth.Admin}), "T1", nil},
		{"data manager, all", person("d1", auth.Grant{Role: auth.DataManager, Trial: "T1"}), "", nil},
		{"the command line", auth.Operator("cli", "root", "", auth.Grant{Role: auth.Inspector, Trial: auth.AllTrials}), "T2", []string{"trial/T2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			export, err := svc.Query(ctx, tc.p, trail.Request{Trial: tc.trial, Format: audit.JSONL})
			if tc.chains == nil {
				if trialgate.ErrorCode(err) != trialgate.EForbidden {
					t.Fatalf("err = %v, want forbidden", err)
				}
				chain := audit.ChainOf(tc.trial)
				if tc.trial == "" || tc.trial == "system" {
					chain = "system"
				}
				if got := uses(t, d, audit.ActionAccessDenied, tc.p.User.ID); got[chain] != 1 || len(got) != 1 {
					t.Errorf("refusals recorded %v, want one on %s", got, chain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			n, err := export.Stream(ctx, &out)
			if err != nil {
				t.Fatal(err)
			}
			read, own := map[string]bool{}, 0
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var raw struct {
					Chain string          `json:"chain"`
					Entry json.RawMessage `json:"entry"`
				}
				if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
					t.Fatal(err)
				}
				read[raw.Chain] = true
				e, err := audit.Decode(raw.Entry)
				if err != nil {
					t.Fatal(err)
				}
				if e.Action == audit.ActionAuditQueried && e.Actor.ID == tc.p.User.ID {
					own++
				}
			}
			if len(read) != len(tc.chains) || n == 0 {
				t.Errorf("read %d entries of chains %v, want chains %v", n, read, tc.chains)
			}
			for _, c := range tc.chains {
				if !read[c] {
					t.Errorf("chain %s not read", c)
				}
			}
			if own != len(tc.chains) {
				t.Errorf("the answer holds %d of its own query's entries, want one per chain read (%d)", own, len(tc.chains))
			}
			if got := uses(t, d, audit.ActionAuditQueried, tc.p.User.ID); len(got) != len(tc.chains) {
				t.Errorf("query recorded on %v, want once on each of %v", got, tc.chains)
			}
		})
	}
}

// What a caller asks for is checked before anything is read or recorded.
func TestRequestValidate(t *testing.T) {
	for _, r := range []trail.Request{
		{Trial: "..", Format: audit.JSON},
		{Trial: "T1' OR 1=1--", Format: audit.JSON},
		{Format: "pdf"},
		{Format: "xml"},
		{Format: audit.CSV, Filter: audit.Filter{Action: "no.such"}},
		{Format: audit.CSV, Filter: audit.Filter{Outcome: "maybe"}},
	} {
		if err := r.Validate(); trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Errorf("%+v: %v, want invalid", r, err)
		}
	}
	ok := trail.Request{Trial: "system", Format: audit.JSONL, Filter: audit.Filter{Action: audit.ActionLogin, Outcome: audit.Failed}}
	if err := ok.Validate(); err != nil {
		t.Errorf("%+v: %v", ok, err)
	}
}

// A verification is recorded on each chain it covers, with its result.
func TestVerifyRecorded(t *testing.T) {
	ctx := context.Background()
	d, _ := dbtest.OpenSQLite(t, nil)
	if err := d.Record(ctx, audit.System("test"), db.TrialScope("T1"), audit.Event{Action: audit.ActionLogin}); err != nil {
		t.Fatal(err)
	}
	svc := trail.New(d)
	qa := person("q1", auth.Grant{Role: auth.QAReviewer, Trial: auth.AllTrials})
	rep, err := svc.Verify(ctx, qa, "")
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	if got := uses(t, d, audit.ActionAuditVerified, "q1"); got["system"] != 1 || got["trial/T1"] != 1 || len(got) != 2 {
		t.Errorf("verification recorded %v, want once on each chain", got)
	}
	if _, err := svc.Verify(ctx, person("u1", auth.Grant{Role: auth.SiteUploader, Trial: "T1", Site: "S1"}), "T1"); trialgate.ErrorCode(err) != trialgate.EForbidden {
		t.Errorf("an uploader's verify: %v, want forbidden", err)
	}
}

// A grant may name a trial that is not defined yet: reading the trail, as
// a whole or that trial's, starts no chain for it; asked for by name it is
// "no trial", refused on the system chain.
func TestQueryStartsNoChain(t *testing.T) {
	ctx := context.Background()
	d, _ := dbtest.OpenSQLite(t, nil)
	if err := d.Record(ctx, audit.System("test"), db.TrialScope("T1"), audit.Event{Action: audit.ActionLogin}); err != nil {
		t.Fatal(err)
	}
	svc := trail.New(d)
	ines := person("ines", auth.Grant{Role: auth.Inspector, Trial: "T1"}, auth.Grant{Role: auth.Inspector, Trial: "T9"})
	if _, err := svc.Query(ctx, ines, trail.Request{Format: audit.JSONL}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Query(ctx, ines, trail.Request{Trial: "T9", Format: audit.JSONL}); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("query of trial T9: %v, want not found", err)
	}
	if _, err := svc.Verify(ctx, ines, "T9"); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("verify of trial T9: %v, want not found", err)
	}
	if err := d.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	chains, err := d.Chains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chains {
		if c == audit.ChainOf("T9") {
			t.Errorf("reading the trail started chain %s: %v", c, chains)
		}
	}
	if n := uses(t, d, audit.ActionAuditQueried, "ines")[audit.ChainOf("T1")]; n != 1 {
		t.Errorf("queries recorded on T1: %d, want 1", n)
	}
}
