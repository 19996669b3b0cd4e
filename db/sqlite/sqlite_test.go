package sqlite_test

import (
	"testing"
	"time"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
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
