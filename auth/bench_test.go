package auth_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
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
