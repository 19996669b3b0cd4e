package sqlite_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/db/sqlite"
)

func open(t *testing.T, clock func() time.Time) dbtest.Backend {
	path := filepath.Join(t.TempDir(), "trialgate.db")
	ctx := context.Background()
	d, err := sqlite.Open(ctx, path, db.Options{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d.Start(ctx)
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return dbtest.Backend{
		DB:        d,
		Raw:       raw,
		Regulated: `CREATE TABLE dbtest_item (id text PRIMARY KEY, value text)`,
		DropTriggers: `DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;
			DROP TRIGGER IF EXISTS audit_head_no_delete; DROP TRIGGER IF EXISTS audit_head_forward;`,
	}
}

func TestContract(t *testing.T) { dbtest.Run(t, open) }
