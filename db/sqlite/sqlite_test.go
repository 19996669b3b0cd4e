package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/db/sqlite"
)

func open(t *testing.T, clock func() time.Time, guards ...db.Guard) dbtest.Backend {
	d, raw := dbtest.OpenSQLite(t, clock, guards...)
	return dbtest.Backend{
		DB:        d,
		Raw:       raw,
		Regulated: `CREATE TABLE dbtest_item (id text PRIMARY KEY, value text)`,
		DropTriggers: `DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;
			DROP TRIGGER IF EXISTS audit_head_no_delete; DROP TRIGGER IF EXISTS audit_head_forward;`,
	}
}

func TestContract(t *testing.T) { dbtest.Run(t, open) }

// A folder name with URI syntax in it ("?", "#", "%") still names the
// database file: nothing opens somewhere else.
func TestOpenPathWithURISyntax(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "trialgate.db")
	d, err := sqlite.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at %s: %v", path, err)
	}
}
