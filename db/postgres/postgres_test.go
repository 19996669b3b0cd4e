package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/db/postgres"
	"github.com/trialgate/trialgate/db/postgres/pgtest"
)

const regulated = `CREATE TABLE dbtest_item (id text PRIMARY KEY, value text);
CREATE CONSTRAINT TRIGGER dbtest_item_audited AFTER INSERT OR UPDATE OR DELETE ON dbtest_item
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();`

const dropTriggers = `DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head;
DROP TRIGGER IF EXISTS audit_head_forward ON audit_head;`

func open(t *testing.T, clock func() time.Time, guards ...db.Guard) dbtest.Backend {
	d, raw := dbtest.OpenPostgres(t, clock, guards...)
	return dbtest.Backend{DB: d, Raw: raw, Regulated: regulated, DropTriggers: dropTriggers}
}

func TestContract(t *testing.T) { dbtest.Run(t, open) }

// Two gateway replicas on one database: both write, one sequences at a time,
// and the chains come out gap-free.
func TestReplicasShareOneSequencer(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := dbtest.OpenPostgresURL(t, url, nil)
	b := dbtest.OpenPostgresURL(t, url, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i, d := range []*db.DB{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				err := d.Record(ctx, audit.System("test"), db.TrialScope("T1"), audit.Event{Action: audit.ActionAuditQueried,
					Object: audit.Object{Type: "probe", ID: fmt.Sprintf("%d-%d", i, j)}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := a.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := b.VerifyAudit(ctx, "trial/T1")
	if err != nil || !rep.OK || rep.Entries != 200 {
		t.Fatalf("report %+v %+v, err %v", rep, rep.FirstBad, err)
	}
	if a.Stats().Leader == b.Stats().Leader {
		t.Errorf("leaders: a=%v b=%v, want exactly one", a.Stats().Leader, b.Stats().Leader)
	}
	// The follower takes over when the leader stops.
	leader, follower := a, b
	if b.Stats().Leader {
		leader, follower = b, a
	}
	leader.Close()
	if err := follower.Record(ctx, audit.System("test"), db.TrialScope("T1"), audit.Event{Action: audit.ActionAuditQueried}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := follower.WaitChained(wctx); err != nil {
		t.Fatalf("follower did not take over: %v", err)
	}
}

// The documented application role cannot change the trail even with the
// triggers gone.
func TestApplicationRoleCannotChangeTrail(t *testing.T) {
	url := pgtest.NewDatabase(t)
	d := dbtest.OpenPostgresURL(t, url, nil)
	ctx := context.Background()
	if err := d.Record(ctx, audit.System("test"), db.System, audit.Event{Action: audit.ActionAuditQueried}); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	raw := pgtest.Open(t, url)
	role := fmt.Sprintf("tg_app_%d", time.Now().UnixNano())
	script := strings.NewReplacer("trialgate_app", role, "LOGIN PASSWORD 'change-me'", "NOLOGIN").Replace(postgres.RolesSQL())
	if _, err := raw.Exec(script); err != nil {
		t.Fatalf("roles.sql: %v", err)
	}
	t.Cleanup(func() {
		raw.Exec(fmt.Sprintf(`DROP OWNED BY %s; DROP ROLE %s`, role, role))
	})
	if _, err := raw.Exec(dropTriggers); err != nil {
		t.Fatal(err)
	}
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET ROLE "+role); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_log SET outcome = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`, `DELETE FROM audit_head`} {
		if _, err := conn.ExecContext(ctx, q); err == nil {
			t.Errorf("%s as the application role: succeeded", q)
		}
	}
	if _, err := conn.ExecContext(ctx, `SELECT count(*) FROM audit_log`); err != nil {
		t.Errorf("the application role cannot read the trail: %v", err)
	}
}
