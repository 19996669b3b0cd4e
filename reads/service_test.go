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

const recistTrial = `{"id":"TR","name":"RECIST","sites":[{"id":"S1","name":"One"}],
 "visits":[{"id":"BL","label":"Baseline"},{"id":"FU1","label":"Week 8"}],"deid":{"options":[]},"qc":{"rules":[]},
 "reads":{"design":"double_adjudicated","form":{"template":"recist_1.1"}}}`

// principalOf logs a user in and returns their principal.
func principalOf(tb testing.TB, a *auth.Service, username string) *auth.Principal {
	tb.Helper()
	ctx := context.Background()
	sess, err := a.Login(ctx, username, testPassword, auth.Client{IP: "127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := a.Authenticate(ctx, string(sess.Token), auth.Client{IP: "127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// A RECIST read is a subject case: every visit, read in order; the gateway
// derives the sums and responses of each time point from the earlier ones,
// and two readers who differ on the response go to adjudication.
func TestSubjectCaseRECIST(t *testing.T) {
	ctx := context.Background()
	d, _ := dbtest.OpenSQLite(t, nil)
	a := auth.New(d, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	trials := trial.NewService(d, a, nil)
	op := auth.Operator("cli", "root", "Operator", auth.Grant{Role: auth.DataManager, Trial: "TR"})
	if _, err := trials.Create(ctx, op, []byte(recistTrial)); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"dana", auth.DataManager}, {"reader1", auth.Reader}, {"reader2", auth.Reader}, {"adjudicator", auth.Adjudicator}} {
		if _, err := a.CreateUser(ctx, audit.System("test"), auth.NewUser{Username: u.name, FullName: "User " + u.name,
			Password: testPassword, Grants: []auth.Grant{{Role: u.role, Trial: "TR"}}}); err != nil {
			t.Fatal(err)
		}
	}
	dm := principalOf(t, a, "dana")
	if _, err := trials.Approve(ctx, dm, "TR", 1, testPassword, auth.MeaningApproval); err != nil {
		t.Fatal(err)
	}
	svc := reads.NewService(d, trials, a, nil)
	insert := func(id, visit, status string) {
		now := time.Now().UnixMicro()
		err := d.Write(ctx, audit.System("test"), db.TrialScope("TR"), func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO submissions (id, trial_id, trial_version, site, subject, visit, status, qc_run,
				created_us, created_by, updated_us, decision_reason) VALUES ($1, 'TR', 1, 'S1', 'TR-001', $2, $3, 1, $4, 'test', $4, '')`,
				id, visit, status, now); err != nil {
				return err
			}
			return tx.Audit(audit.Event{Action: audit.ActionQCDecided, Object: audit.Object{Type: "submission", ID: id}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Only the baseline is accepted: the subject is not readable yet.
	insert("sub-bl", "BL", "accepted")
	run, err := svc.Assign(ctx, dm, "TR", "s")
	if err != nil || run.CasesCreated != 0 {
		t.Fatalf("with the follow-up missing: %+v, %v", run, err)
	}
	insert("sub-fu", "FU1", "accepted")
	if run, err = svc.Assign(ctx, dm, "TR", "s"); err != nil || run.CasesCreated != 1 || len(run.Tasks) != 2 {
		t.Fatalf("complete subject: %+v, %v", run, err)
	}

	lesion := func(mm float64) map[string]any {
		return map[string]any{"location": "liver segment 4", "organ": "liver", "nodal": false, "longest_diameter_mm": mm}
	}
	timepoint := func(mm float64, newLesions bool) reads.TimepointInput {
		return reads.TimepointInput{Values: map[string]any{"target_lesions": []any{lesion(mm)},
			"non_target_lesions": []any{}, "new_lesions": newLesions}}
	}
	readers := map[string]*auth.Principal{"reader1": principalOf(t, a, "reader1"), "reader2": principalOf(t, a, "reader2")}
	follow := map[string]float64{"reader1": 20, "reader2": 36} // from 40 mm: PR for one, SD for the other
	for _, task := range run.Tasks {
		p := readers[task.Reader]
		// values are refused for a subject case; a prefix may be saved.
		if _, err := svc.SaveResult(ctx, p, task.ID, reads.ResultInput{Values: timepoint(40, false).Values}); err == nil {
			t.Errorf("values for a subject case accepted")
		}
		v, err := svc.SaveResult(ctx, p, task.ID, reads.ResultInput{Timepoints: []reads.TimepointInput{timepoint(40, false)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Timepoints) != 2 || v.Timepoints[0].Label != "baseline" || v.Timepoints[1].Label != "follow-up 1" {
			t.Errorf("time points %+v", v.Timepoints)
		}
		if _, err := svc.Sign(ctx, p, task.ID, testPassword, auth.MeaningAuthorship); err == nil {
			t.Errorf("a read of one of two time points was signed")
		}
		v, err = svc.SaveResult(ctx, p, task.ID, reads.ResultInput{Timepoints: []reads.TimepointInput{
			timepoint(40, false), timepoint(follow[task.Reader], false)}})
		if err != nil {
			t.Fatal(err)
		}
		tps := v.Draft.Result.(map[string]any)["timepoints"].([]map[string]any)
		fu := tps[1]["values"].(map[string]any)
		want := map[string]string{"reader1": "PR", "reader2": "SD"}[task.Reader]
		if fu["overall_response"] != want || fu["sum_of_diameters_mm"] != follow[task.Reader] {
			t.Errorf("%s follow-up derived %v, want %s", task.Reader, fu, want)
		}
		if _, err := svc.Sign(ctx, p, task.ID, testPassword, auth.MeaningAuthorship); err != nil {
			t.Fatal(err)
		}
	}
	adj := principalOf(t, a, "adjudicator")
	tasks, err := svc.Tasks(ctx, adj)
	if err != nil || len(tasks) != 1 || tasks[0].Kind != reads.KindAdjudication {
		t.Fatalf("adjudicator's tasks: %+v, %v", tasks, err)
	}
	v, err := svc.Task(ctx, adj, tasks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Reads) != 2 || len(v.Discordant) == 0 || v.Discordant[0] != "timepoints[1].overall_response" {
		t.Errorf("adjudication view: reads %d, discordant %v", len(v.Reads), v.Discordant)
	}
	// Take reader1's read (PR), whichever slot it is in.
	choice := reads.ChoiceReader1
	for _, task := range run.Tasks {
		if task.Reader == "reader1" && task.Slot == 2 {
			choice = reads.ChoiceReader2
		}
	}
	if _, err := svc.SaveResult(ctx, adj, tasks[0].ID, reads.ResultInput{Choice: choice, Reason: "the lesion measures 20 mm"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Sign(ctx, adj, tasks[0].ID, testPassword, auth.MeaningAuthorship); err != nil {
		t.Fatal(err)
	}
	// The release comes first for a data manager; then the outcome is
	// Reader 1's read.
	if _, err := svc.Outcomes(ctx, dm, "TR"); err == nil {
		t.Fatal("outcomes before release")
	}
	if _, err := svc.Release(ctx, dm, "TR", testPassword, auth.MeaningApproval, "reads complete"); err != nil {
		t.Fatal(err)
	}
	out, err := svc.Outcomes(ctx, dm, "TR")
	if err != nil || len(out) != 1 || out[0].Source != reads.OutcomeAdjudicated {
		t.Fatalf("outcomes: %+v, %v", out, err)
	}
	tps := out[0].Result.(map[string]any)["timepoints"].([]map[string]any)
	if r := tps[1]["values"].(map[string]any)["overall_response"]; r != "PR" {
		t.Errorf("adjudicated outcome %v, want reader1's PR", r)
	}
	rep, err := svc.Agreement(ctx, dm, "TR")
	if err != nil || rep.Cases != 1 || rep.Pairs != 2 {
		t.Errorf("agreement: %+v, %v", rep, err)
	}
	if !dbtestVerify(t, d) {
		t.Error("the trail does not verify")
	}
}
