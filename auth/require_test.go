package auth_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// A trial that does not exist is not found, whoever asks and whatever
// their grants, and the refusal goes to the system chain: no trial chain is
// started by it. A trial that exists is forbidden to those without the
// role, on its own chain. Defining a trial (RequireNew) is refused as
// forbidden either way.
func TestRequireUnknownTrial(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		// T1 exists: its chain has started (as trial.created starts it).
		if err := e.db.Record(ctx, admin, db.TrialScope("T1"), audit.Event{Action: audit.ActionAuditQueried}); err != nil {
			t.Fatal(err)
		}
		reader := func(trial string) *auth.Principal {
			return &auth.Principal{User: auth.User{ID: "u_r", Username: "rita"}, Grants: []auth.Grant{{Role: auth.Reader, Trial: trial}}}
		}
		object := func(trial string) audit.Object { return audit.Object{Type: "trial", ID: trial} }
		const msg = "only a reader may"
		tests := []struct {
			name    string
			call    func() error
			code    string
			message string
			chain   string // where the refusal is recorded; "" for nowhere
		}{
			{"grant, trial exists", func() error {
				_, err := auth.Require(ctx, e.db, reader("T1"), db.TrialScope("T1"), object("T1"), msg, auth.Reader)
				return err
			}, "", "", ""},
			{"no grant, trial exists", func() error {
				_, err := auth.Require(ctx, e.db, reader("T2"), db.Scope{Trial: "T1", Site: "S1"}, object("T1"), msg, auth.Reader)
				return err
			}, trialgate.EForbidden, msg, "trial/T1"},
			{"no grant, no trial", func() error {
				_, err := auth.Require(ctx, e.db, reader("T1"), db.TrialScope("T404"), object("T404"), msg, auth.Reader)
				return err
			}, trialgate.ENotFound, "no trial T404", "system"},
			{"grant, no trial", func() error {
				_, err := auth.Require(ctx, e.db, reader("T405"), db.Scope{Trial: "T405", Site: "S1"}, object("T405"), msg, auth.Reader)
				return err
			}, trialgate.ENotFound, "no trial T405", "system"},
			{"deny, trial exists", func() error {
				return auth.Deny(ctx, e.db, reader("T1"), db.TrialScope("T1"), object("T1"), "not your own work")
			}, trialgate.EForbidden, "not your own work", "trial/T1"},
			{"deny, no trial", func() error {
				return auth.Deny(ctx, e.db, reader("T406"), db.TrialScope("T406"), object("T406"), "not your own work")
			}, trialgate.ENotFound, "no trial T406", "system"},
			{"exists, no trial", func() error {
				return auth.Exists(ctx, e.db, reader("T407"), db.TrialScope("T407"), object("T407"))
			}, trialgate.ENotFound, "no trial T407", "system"},
			{"exists, system", func() error {
				return auth.Exists(ctx, e.db, reader("T1"), db.System, object("T1"))
			}, "", "", ""},
			{"define, no grant", func() error {
				_, err := auth.RequireNew(ctx, e.db, reader("T1"), db.TrialScope("T408"), object("T408"), msg, auth.DataManager)
				return err
			}, trialgate.EForbidden, msg, "system"},
			{"define, grant", func() error {
				dm := &auth.Principal{User: auth.User{ID: "u_d"}, Grants: []auth.Grant{{Role: auth.DataManager, Trial: "T409"}}}
				_, err := auth.RequireNew(ctx, e.db, dm, db.TrialScope("T409"), object("T409"), msg, auth.DataManager)
				return err
			}, "", "", ""},
		}
		// added returns the entries a call added, chain by chain.
		added := func(call func() error) ([]record, error) {
			seen := map[string]int{}
			for _, r := range e.trail(t) {
				seen[r.Chain()]++
			}
			err := call()
			var out []record
			for _, r := range e.trail(t) {
				if seen[r.Chain()] > 0 {
					seen[r.Chain()]--
					continue
				}
				out = append(out, r)
			}
			return out, err
		}
		for _, tc := range tests {
			added, err := added(tc.call)
			if trialgate.ErrorCode(err) != tc.code || trialgate.ErrorMessage(err) != tc.message {
				t.Errorf("%s: %v, want %q %q", tc.name, err, tc.code, tc.message)
			}
			if tc.code == trialgate.ENotFound && !errors.Is(err, db.ErrNoTrial) {
				t.Errorf("%s: %v does not wrap db.ErrNoTrial", tc.name, err)
			}
			if tc.chain == "" {
				if len(added) != 0 {
					t.Errorf("%s: recorded %d entries", tc.name, len(added))
				}
				continue
			}
			if len(added) != 1 || added[0].Chain() != tc.chain || added[0].Action != audit.ActionAccessDenied ||
				added[0].Outcome != audit.Denied || added[0].Object.Type != "trial" {
				t.Errorf("%s: recorded %+v, want one access.denied on %s", tc.name, added, tc.chain)
			}
		}
		chains, err := e.db.Chains(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(chains, []string{"system", "trial/T1"}) {
			t.Errorf("chains = %v: a refusal started a trial's chain", chains)
		}
	})
}
