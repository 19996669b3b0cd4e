package auth_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/db/sqlite"
)

// BenchmarkLogin measures a successful login end to end on SQLite with the
// production argon2 parameters: hash check, session row, audit entry.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	d, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), db.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	svc := auth.New(d, auth.DefaultConfig())
	if _, err := svc.CreateUser(ctx, admin, auth.NewUser{Username: "bench", FullName: "Bench Mark", Password: password}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := svc.Login(ctx, "bench", password, auth.Client{IP: "127.0.0.1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequire measures authorizing an action in a trial for a caller
// who holds the role, which includes the look-up that the trial exists
// (db.ChainStarted), on each backend.
func BenchmarkRequire(b *testing.B) {
	for _, bk := range []struct {
		name string
		open func(testing.TB) *db.DB
	}{
		{"sqlite", func(tb testing.TB) *db.DB { d, _ := dbtest.OpenSQLite(tb, nil); return d }},
		{"postgres", func(tb testing.TB) *db.DB { d, _ := dbtest.OpenPostgres(tb, nil); return d }},
	} {
		b.Run(bk.name, func(b *testing.B) {
			ctx := context.Background()
			d := bk.open(b)
			if err := d.Record(ctx, admin, db.TrialScope("T1"), audit.Event{Action: audit.ActionAuditQueried}); err != nil {
				b.Fatal(err)
			}
			p := &auth.Principal{User: auth.User{ID: "u_r"}, Grants: []auth.Grant{{Role: auth.Reader, Trial: "T1"}}}
			obj := audit.Object{Type: "trial", ID: "T1"}
			for b.Loop() {
				if _, err := auth.Require(ctx, d, p, db.TrialScope("T1"), obj, "readers only", auth.Reader); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
