package dbtest

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
	"github.com/trialgate/trialgate/db/postgres/pgtest"
	"github.com/trialgate/trialgate/db/sqlite"
)

// options are what tests open databases with: a quiet log, a fast
// sequencer and the guards given; a guard that is also a db.Witness (the
// data lock is both) witnesses records too.
func options(clock func() time.Time, guards []db.Guard) db.Options {
	o := db.Options{Clock: clock, Logger: slog.New(slog.DiscardHandler), SequencerInterval: 20 * time.Millisecond,
		Guards: guards}
	for _, g := range guards {
		if w, ok := g.(db.Witness); ok {
			o.Witnesses = append(o.Witnesses, w)
		}
	}
	return o
}

// started migrates and starts d, closing it when t ends.
func started(t testing.TB, d *db.DB) *db.DB {
	t.Helper()
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d.Start(ctx)
	return d
}

// OpenSQLite returns a migrated, started SQLite database in a temporary
// folder, and a raw handle on the same file for acting behind its back.
// clock may be nil; guards vet every change (see db.Guard).
func OpenSQLite(t testing.TB, clock func() time.Time, guards ...db.Guard) (*db.DB, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trialgate.db")
	d, err := sqlite.Open(context.Background(), path, options(clock, guards))
	if err != nil {
		t.Fatal(err)
	}
	// The driver is registered by package sqlite.
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return started(t, d), raw
}

// OpenPostgresURL returns the migrated, started database at url.
func OpenPostgresURL(t testing.TB, url string, clock func() time.Time, guards ...db.Guard) *db.DB {
	t.Helper()
	d, err := postgres.Open(context.Background(), url, 0, options(clock, guards))
	if err != nil {
		t.Fatal(err)
	}
	return started(t, d)
}

// OpenPostgres returns a fresh migrated, started PostgreSQL database (see
// pgtest for when it skips) and a raw handle on it.
func OpenPostgres(t testing.TB, clock func() time.Time, guards ...db.Guard) (*db.DB, *sql.DB) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	return OpenPostgresURL(t, url, clock, guards...), pgtest.Open(t, url)
}
