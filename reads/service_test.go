package reads_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/reads"
	"github.com/trialgate/trialgate/trial"
)

const testPassword = "correct horse battery staple"

// fixture is a trial with an approved double-read design, accepted
// visits inserted directly (the ingest path is not what is measured), and
// readers, two of them affiliated with a site.
type fixture struct {
	db      *db.DB
	auth    *auth.Service
	reads   *reads.Service
	manager *auth.Principal
}

const fixtureTrial = `{"id":"TB","name":"Bench","sites":[{"id":"S1","name":"One"},{"id":"S2","name":"Two"},{"id":"S3","name":"Three"}],
 "visits":[{"id":"BL","label":"Baseline"}],"deid":{"options":[]},"qc":{"rules":[]},
 "reads":{"design":"double_adjudicated","form":{"fields":[{"id":"resp","type":"choice","required":true,"choices":["CR","PR","SD","PD"]}]}}}`

func newFixture(tb testing.TB, d *db.DB, cases, readers int) *fixture {
	tb.Helper()
	ctx := context.Background()
	a := auth.New(d, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	trials := trial.NewService(d, a, nil)
	op := auth.Operator("cli", "root", "Operator", auth.Grant{Role: auth.DataManager, Trial: "TB"})
	if _, err := trials.Create(ctx, op, []byte(fixtureTrial)); err != nil {
		tb.Fatal(err)
	}
	mk := func(name string, g auth.Grant, affs ...auth.Affiliation) {
		if _, err := a.CreateUser(ctx, audit.System("test"), auth.NewUser{Username: name, FullName: "User " + name,
			Password: testPassword, Grants: []auth.Grant{g}, Affiliations: affs}); err != nil {
			tb.Fatal(err)
		}
	}
	mk("dana", auth.Grant{Role: auth.DataManager, Trial: "TB"})
	for i := range readers {
		var affs []auth.Affiliation
		if i < 2 {
			affs = []auth.Affiliation{{Trial: "TB", Site: fmt.Sprintf("S%d", i+1)}}
		}
		mk(fmt.Sprintf("reader%02d", i), auth.Grant{Role: auth.Reader, Trial: "TB"}, affs...)
	}
	sess, err := a.Login(ctx, "dana", testPassword, auth.Client{IP: "127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := a.Authenticate(ctx, string(sess.Token), auth.Client{IP: "127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := trials.Approve(ctx, p, "TB", 1, testPassword, auth.MeaningApproval); err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UnixMicro()
	const insert = `INSERT INTO submissions (id, trial_id, trial_version, site, subject, visit, status, qc_run, created_us,
		created_by, updated_us, decision_reason)`
	for from := 0; from < cases; from += 1000 {
		rows := [][]any{}
		for i := from; i < min(cases, from+1000); i++ {
			rows = append(rows, []any{fmt.Sprintf("sub-%06d", i), "TB", 1, fmt.Sprintf("S%d", i%3+1),
				fmt.Sprintf("SUBJ-%06d", i), "BL", "accepted", 1, now, "test", now, "fixture"})
		}
		err := d.Write(ctx, audit.System("test"), db.TrialScope("TB"), func(tx *db.Tx) error {
			if err := tx.InsertRows(ctx, insert, rows); err != nil {
				return err
			}
			return tx.Audit(audit.Event{Action: audit.ActionQCDecided, Object: audit.Object{Type: "fixture", ID: "bulk"},
				After: map[string]int{"accepted": len(rows)}, Reason: "fixture"})
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return &fixture{db: d, auth: a, reads: reads.NewService(d, trials, a, nil), manager: p}
}

func TestAssignRun(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) *db.DB
	}{
		{"sqlite", func(t *testing.T) *db.DB { d, _ := dbtest.OpenSQLite(t, nil); return d }},
		{"postgres", func(t *testing.T) *db.DB { d, _ := dbtest.OpenPostgres(t, nil); return d }},
	} {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t), 300, 5)
			ctx := context.Background()
			run, err := f.reads.Assign(ctx, f.manager, "TB", "seed-1")
			if err != nil {
				t.Fatal(err)
			}
			if run.CasesCreated != 300 || len(run.Tasks) != 600 || run.Seed != "seed-1" {
				t.Fatalf("run: %d cases, %d tasks, seed %q", run.CasesCreated, len(run.Tasks), run.Seed)
			}
			load := map[string]int{}
			byCase := map[string][]string{}
			codes := map[string]bool{}
			for _, task := range run.Tasks {
				load[task.Reader]++
				byCase[task.Case] = append(byCase[task.Case], task.Reader)
				codes[task.Case] = true
			}
			lo, hi := 1<<30, 0
			for _, n := range load {
				lo, hi = min(lo, n), max(hi, n)
			}
			if hi-lo > 1 || len(load) != 5 {
				t.Errorf("workloads %v are not balanced", load)
			}
			for c, rs := range byCase {
				if len(rs) != 2 || rs[0] == rs[1] {
					t.Errorf("case %s read by %v", c, rs)
				}
			}
			if len(codes) != 300 {
				t.Errorf("%d distinct case codes for 300 cases", len(codes))
			}
			// Site exclusion: reader00 belongs to S1, reader01 to S2.
			tasks, err := f.reads.TrialTasks(ctx, f.manager, "TB")
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range tasks {
				if task.Reader == "reader00" && task.Site == "S1" || task.Reader == "reader01" && task.Site == "S2" {
					t.Errorf("%s reads case %s of their own site %s", task.Reader, task.Case, task.Site)
				}
			}
			again, err := f.reads.Assign(ctx, f.manager, "TB", "")
			if err != nil {
				t.Fatal(err)
			}
			if again.CasesCreated != 0 || len(again.Tasks) != 0 || again.Seed == "" {
				t.Errorf("second run: %+v", again)
			}
			if r := dbtestVerify(t, f.db); !r {
				t.Error("the trail does not verify")
			}
		})
	}
}

func dbtestVerify(t *testing.T, d *db.DB) bool {
	t.Helper()
	if err := d.WaitChained(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := d.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep.OK
}

// BenchmarkAssignRun is the assignment run of DESIGN's budget: 10,000
// readable cases to 20 readers, double read, on the embedded default
// (SQLite), cases formed, tasks inserted and every step audited.
//
//	go test ./reads -run '^$' -bench BenchmarkAssignRun -benchtime 1x
func BenchmarkAssignRun(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		d, _ := dbtest.OpenSQLite(b, nil)
		f := newFixture(b, d, 10000, 20)
		b.StartTimer()
		run, err := f.reads.Assign(context.Background(), f.manager, "TB", "bench")
		if err != nil {
			b.Fatal(err)
		}
		if len(run.Tasks) != 20000 {
			b.Fatalf("%d tasks", len(run.Tasks))
		}
	}
}
