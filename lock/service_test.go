package lock_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/lock"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/trial"
)

const testPassword = "correct horse battery staple"

const fixtureTrial = `{"id":"TB","name":"Bench","sites":[{"id":"S1","name":"One"},{"id":"S2","name":"Two"}],
 "visits":[{"id":"BL","label":"Baseline"}],"deid":{"options":[]},"qc":{"rules":[]},
 "reads":{"design":"single","form":{"fields":[{"id":"resp","type":"choice","required":true,"choices":["yes","no"]}]}}}`

// fixture is trial TB, approved, with a data manager and a QA reviewer
// and stored instances inserted in bulk, as ingest would leave them.
type fixture struct {
	db      *db.DB
	locks   *lock.Service
	manager *auth.Principal
	qa      *auth.Principal
	keys    map[string]string // object key by site
}

func open(tb testing.TB, backend string) *db.DB {
	tb.Helper()
	if backend == "postgres" {
		d, _ := dbtest.OpenPostgres(tb, nil, lock.Guard{})
		return d
	}
	d, _ := dbtest.OpenSQLite(tb, nil, lock.Guard{})
	return d
}

func principal(tb testing.TB, a *auth.Service, username string) *auth.Principal {
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

// newFixture stores instances instances, over subjects subjects split
// between sites S1 and S2.
func newFixture(tb testing.TB, d *db.DB, r lock.Retainer, subjects, instances int) *fixture {
	tb.Helper()
	ctx := context.Background()
	a := auth.New(d, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	trials := trial.NewService(d, a, nil)
	op := auth.Operator("cli", "root", "Operator", auth.Grant{Role: auth.DataManager, Trial: "TB"})
	if _, err := trials.Create(ctx, op, []byte(fixtureTrial)); err != nil {
		tb.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"dana", auth.DataManager}, {"qara", auth.QAReviewer}} {
		if _, err := a.CreateUser(ctx, audit.System("test"), auth.NewUser{Username: u.name, FullName: "User " + u.name,
			Password: testPassword, Grants: []auth.Grant{{Role: u.role, Trial: "TB"}}}); err != nil {
			tb.Fatal(err)
		}
	}
	f := &fixture{db: d, manager: principal(tb, a, "dana"), qa: principal(tb, a, "qara"), keys: map[string]string{}}
	if _, err := trials.Approve(ctx, f.manager, "TB", 1, testPassword, auth.MeaningApproval); err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UnixMicro()
	const insertSub = `INSERT INTO submissions (id, trial_id, trial_version, site, subject, visit, status, qc_run, created_us,
		created_by, updated_us, decision_reason)`
	const insertInst = `INSERT INTO instances (trial_id, sop_uid, submission_id, study_uid, series_uid, sop_class_uid, modality,
		series_description, frame_of_reference, instance_number, transfer_syntax, original_sha256, original_size,
		object_sha256, object_size, status, metadata, received_us, received_by)`
	site := func(s int) string { return fmt.Sprintf("S%d", s%2+1) }
	var subs [][]any
	for s := range subjects {
		subs = append(subs, []any{fmt.Sprintf("sub-%04d", s), "TB", 1, site(s), fmt.Sprintf("SUBJ-%04d", s), "BL", "accepted", 1,
			now, "test", now, "fixture"})
	}
	var rows [][]any
	for i := range instances {
		s := i % subjects
		sum := sha256.Sum256(fmt.Appendf(nil, "object %d", i))
		orig := sha256.Sum256(fmt.Appendf(nil, "original %d", i))
		rows = append(rows, []any{"TB", fmt.Sprintf("2.25.%d", i+1), fmt.Sprintf("sub-%04d", s), "2.25.9." + fmt.Sprint(s),
			"2.25.8." + fmt.Sprint(s), "1.2.840.10008.5.1.4.1.1.2", "CT", "", "", i, "1.2.840.10008.1.2.1",
			hex.EncodeToString(orig[:]), 100, hex.EncodeToString(sum[:]), 100, "released", []byte("{}"), now, "test"})
		f.keys[site(s)] = storage.Key(sum)
	}
	err := d.Write(ctx, audit.System("test"), db.TrialScope("TB"), func(tx *db.Tx) error {
		if err := tx.InsertRows(ctx, insertSub, subs); err != nil {
			return err
		}
		for len(rows) > 0 {
			n := min(len(rows), 2000)
			if err := tx.InsertRows(ctx, insertInst, rows[:n]); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return tx.Audit(audit.Event{Action: audit.ActionInstanceReceived, Object: audit.Object{Type: "fixture", ID: "bulk"},
			After: map[string]int{"instances": instances}})
	})
	if err != nil {
		tb.Fatal(err)
	}
	f.locks = lock.New(lock.Config{DB: d, Accounts: a, Trials: trials, Retainer: r})
	return f
}

func (f *fixture) apply(tb testing.TB, in lock.ScopeInput) *lock.Lock {
	tb.Helper()
	l, err := f.locks.Apply(context.Background(), f.manager, "TB",
		lock.ApplyInput{ScopeInput: in, Password: testPassword, Meaning: auth.MeaningLock, Reason: "review complete"})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func (f *fixture) release(tb testing.TB, id string) {
	tb.Helper()
	if _, err := f.locks.Release(context.Background(), f.manager, id,
		lock.ReleaseInput{Password: testPassword, Meaning: auth.MeaningUnlock, Reason: "sponsor query"}); err != nil {
		tb.Fatal(err)
	}
}

// retention returns the lock's retention steps as the lock list shows them.
func (f *fixture) retention(t *testing.T, id string) []lock.RetentionEvent {
	t.Helper()
	ls, err := f.locks.List(context.Background(), f.manager, "TB")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.ID == id {
			return l.Retention
		}
	}
	t.Fatalf("no lock %s", id)
	return nil
}

// fakeStore is a Retainer that keeps retention in memory, as S3 Object
// Lock would: COMPLIANCE retention cannot be lifted; fail makes every
// call fail, as an unreachable store does.
type fakeStore struct {
	mu       sync.Mutex
	mode     string
	retained map[string]bool
	fail     bool
}

func (s *fakeStore) Retain(_ context.Context, key string) (storage.Retention, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return storage.Retention{}, storage.Unavailable("fake", errors.New("down"))
	}
	s.retained[key] = true
	return storage.Retention{Mode: s.mode, Until: time.Now().Add(time.Hour)}, nil
}

func (s *fakeStore) Unretain(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.fail:
		return storage.Unavailable("fake", errors.New("down"))
	case s.mode == "COMPLIANCE":
		return storage.Retained("unretain", key, errors.New("COMPLIANCE"))
	}
	delete(s.retained, key)
	return nil
}

func (s *fakeStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.retained)
}

// Retention follows the locks: a lock's objects are retained once,
// recorded; a release lifts what no other lock in force holds; an outage
// records nothing and the next pass completes the work; COMPLIANCE
// retention is kept and counted.
func TestRetention(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			store := &fakeStore{mode: "GOVERNANCE", retained: map[string]bool{}}
			f := newFixture(t, open(t, backend), store, 4, 40)
			site := f.apply(t, lock.ScopeInput{Kind: "site", Site: "S1"})
			whole := f.apply(t, lock.ScopeInput{Kind: "trial"})

			store.fail = true
			if err := f.locks.SyncRetention(ctx); !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("SyncRetention with the store down: %v", err)
			}
			if ev := f.retention(t, site.ID); len(ev) != 0 {
				t.Fatalf("retention recorded while the store was down: %+v", ev)
			}
			store.fail = false
			if err := f.locks.SyncRetention(ctx); err != nil {
				t.Fatal(err)
			}
			if ev := f.retention(t, site.ID); len(ev) != 1 || ev[0].Event != "retained" || ev[0].Objects != 20 || ev[0].Mode != "GOVERNANCE" || ev[0].Until == "" {
				t.Errorf("site lock retention: %+v", ev)
			}
			if ev := f.retention(t, whole.ID); len(ev) != 1 || ev[0].Objects != 40 {
				t.Errorf("trial lock retention: %+v", ev)
			}
			if n := store.count(); n != 40 {
				t.Errorf("%d objects retained, want 40", n)
			}

			f.release(t, whole.ID)
			if err := f.locks.SyncRetention(ctx); err != nil {
				t.Fatal(err)
			}
			if ev := f.retention(t, whole.ID); len(ev) != 2 || ev[1].Event != "lifted" || ev[1].Objects != 20 || ev[1].Kept != 20 {
				t.Errorf("trial lock after release: %+v, want 20 lifted and the site's 20 kept", ev)
			}
			if n := store.count(); n != 20 || !store.retained[f.keys["S1"]] || store.retained[f.keys["S2"]] {
				t.Errorf("after the trial's release %d objects retained, want S1's 20", n)
			}
			// A second pass has nothing to do and records nothing.
			if err := f.locks.SyncRetention(ctx); err != nil {
				t.Fatal(err)
			}
			if ev := f.retention(t, whole.ID); len(ev) != 2 {
				t.Errorf("a second pass recorded more: %+v", ev)
			}

			store.mode = "COMPLIANCE"
			f.release(t, site.ID)
			if err := f.locks.SyncRetention(ctx); err != nil {
				t.Fatal(err)
			}
			if ev := f.retention(t, site.ID); len(ev) != 2 || ev[1].Objects != 0 || ev[1].Kept != 20 {
				t.Errorf("site lock, COMPLIANCE, after release: %+v", ev)
			}
			if err := f.db.WaitChainedFor(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			var entries []audit.Action
			if err := f.db.AuditRecords(ctx, audit.Filter{Chains: []string{audit.ChainOf("TB")}, Object: "lock/" + site.ID},
				func(rec *audit.Record) error {
					en, err := audit.Decode(rec.Entry)
					entries = append(entries, en.Action)
					return err
				}); err != nil {
				t.Fatal(err)
			}
			if want := "[lock.applied lock.retained lock.released lock.retention_lifted]"; fmt.Sprint(entries) != want {
				t.Errorf("the site lock's trail: %v, want %s", entries, want)
			}
		})
	}
}

// Without a Retainer nothing is retained or recorded.
func TestNoRetainer(t *testing.T) {
	f := newFixture(t, open(t, "sqlite"), nil, 2, 4)
	l := f.apply(t, lock.ScopeInput{Kind: "trial"})
	if err := f.locks.SyncRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev := f.retention(t, l.ID); len(ev) != 0 {
		t.Errorf("retention without a retainer: %+v", ev)
	}
}

// A lock over a locked scope's data is refused as a change only where it
// should be: applying a lock is itself allowed inside another lock.
func TestApplyInsideLock(t *testing.T) {
	f := newFixture(t, open(t, "sqlite"), nil, 2, 4)
	f.apply(t, lock.ScopeInput{Kind: "trial"})
	sub := f.apply(t, lock.ScopeInput{Kind: "subject", Subject: "SUBJ-0000"})
	if sub.Leaves != 3 { // two instances, one submission
		t.Errorf("subject lock leaves: %d, want 3", sub.Leaves)
	}
	_, err := f.locks.Apply(context.Background(), f.manager, "TB", lock.ApplyInput{ScopeInput: lock.ScopeInput{Kind: "trial"},
		Password: testPassword, Meaning: auth.MeaningLock, Reason: "again"})
	if trialgate.ErrorCode(err) != trialgate.EConflict {
		t.Errorf("locking a locked scope again: %v, want a conflict", err)
	}
}

// BenchmarkApply100k applies a trial lock over 100,000 stored instances
// (and their 1,000 submissions): the manifest is read, hashed, stored and
// signed in one transaction. Each iteration releases the lock untimed.
func BenchmarkApply100k(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			f := newFixture(b, open(b, backend), nil, 1000, 100_000)
			for b.Loop() {
				l := f.apply(b, lock.ScopeInput{Kind: "trial"})
				if l.Leaves != 101_000 {
					b.Fatalf("%d leaves", l.Leaves)
				}
				b.StopTimer()
				f.release(b, l.ID)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkGuard times one audited write into an unlocked subject:
// without the lock guard, with it and no locks, and with it and 100
// subject locks in force in the trial. The differences are what the lock
// check adds to every write.
func BenchmarkGuard(b *testing.B) {
	for _, v := range []struct {
		name  string
		guard bool
		locks int
	}{{"unguarded", false, 0}, {"guarded", true, 0}, {"guarded+100locks", true, 100}} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			var guards []db.Guard
			if v.guard {
				guards = append(guards, lock.Guard{})
			}
			d, _ := dbtest.OpenSQLite(b, nil, guards...)
			f := newFixture(b, d, nil, 101, 101)
			for s := range v.locks {
				f.apply(b, lock.ScopeInput{Kind: "subject", Subject: fmt.Sprintf("SUBJ-%04d", s)})
			}
			scope := db.Scope{Trial: "TB", Site: "S1", Subject: "SUBJ-0100"}
			for b.Loop() {
				if err := d.Write(ctx, audit.System("bench"), scope, func(tx *db.Tx) error {
					return tx.Audit(audit.Event{Action: audit.ActionQCDecided, Object: audit.Object{Type: "bench", ID: "x"}})
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
