// Package dbtest is the contract suite every database backend passes: the
// unit of work, the audit trail's append-only storage and chaining, and
// verification against tampering.
package dbtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

// Backend is one database under test.
type Backend struct {
	// DB is migrated and started.
	DB *db.DB
	// Raw acts on the same database behind the gateway's back.
	Raw *sql.DB
	// Regulated is DDL that creates the table dbtest_item (id text primary
	// key, value text) as a regulated table of the backend.
	Regulated string
	// DropTriggers is DDL that removes the audit tables' protections, as a
	// hostile database administrator would.
	DropTriggers string
}

// Opener opens a fresh, empty database with the given clock (nil: real)
// and guards.
type Opener func(t *testing.T, clock func() time.Time, guards ...db.Guard) Backend

// Run runs the contract suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"WriteCommitsChangeWithEntry", testWriteCommits},
		{"UnauditedChangeRefused", testUnaudited},
		{"FailedWriteLeavesNothing", testFailedWrite},
		{"InvalidEventRefused", testInvalidEvent},
		{"RecordDenied", testRecordDenied},
		{"ScopeStampsEntries", testScopeStamps},
		{"GuardRefusalRolledBackAndRecorded", testGuardRefusal},
		{"GuardFailureIsAnError", testGuardFailure},
		{"AffectsNarrowsTheScope", testAffects},
		{"WitnessSeesReads", testWitness},
		{"GuardRefusalStartsNoChain", testGuardRefusalNoChain},
		{"AuditRowsImmutable", testImmutable},
		{"TamperDetected", testTamper},
		{"DeletedTailDetected", testDeletedTail},
		{"ConcurrentWritesGapFree", testConcurrent},
		{"ChainsPerTrial", testChainsPerTrial},
		{"Filters", testFilters},
		{"ClockBackwards", testClockBackwards},
		{"MigrateIdempotentAndRefusesNewer", testMigrate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func setup(t *testing.T, open Opener, clock func() time.Time, guards ...db.Guard) Backend {
	t.Helper()
	b := open(t, clock, guards...)
	if _, err := b.Raw.Exec(b.Regulated); err != nil {
		t.Fatalf("create regulated table: %v", err)
	}
	return b
}

var alice = audit.Actor{ID: "u_alice", Username: "alice", FullName: "Alice Example", Role: "data_manager",
	Session: "s_1", IP: "192.0.2.1", UserAgent: "dbtest"}

// put inserts an item in a trial ("" for the system scope), audited.
func put(ctx context.Context, d *db.DB, id, value, trial string) error {
	return putIn(ctx, d, db.TrialScope(trial), id, value)
}

// putIn inserts an item in scope, audited.
func putIn(ctx context.Context, d *db.DB, scope db.Scope, id, value string) error {
	return d.Write(ctx, alice, scope, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO dbtest_item (id, value) VALUES ($1, $2)`, id, value); err != nil {
			return err
		}
		return tx.Audit(audit.Event{Action: audit.ActionUserCreated, Object: audit.Object{Type: "item", ID: id},
			After: map[string]string{"value": value}})
	})
}

// records returns every chained record of chain.
func records(t *testing.T, d *db.DB, chain string) []audit.Record {
	t.Helper()
	ctx := ctxT(t)
	if err := d.WaitChained(ctx); err != nil {
		t.Fatalf("wait chained: %v", err)
	}
	var out []audit.Record
	err := d.AuditRecords(ctx, audit.Filter{Chains: []string{chain}}, func(r *audit.Record) error {
		c := *r
		c.Entry = append([]byte(nil), r.Entry...)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("audit records: %v", err)
	}
	return out
}

func count(t *testing.T, raw *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := raw.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func mustVerify(t *testing.T, d *db.DB) audit.Report {
	t.Helper()
	ctx := ctxT(t)
	if err := d.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := d.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK {
		t.Fatalf("verify: %+v", rep.FirstBad)
	}
	return rep
}

func testWriteCommits(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	if err := put(ctx, b.DB, "a", "1", "T1"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, b.Raw, `SELECT count(*) FROM dbtest_item`); n != 1 {
		t.Fatalf("items = %d, want 1", n)
	}
	recs := records(t, b.DB, "trial/T1")
	if len(recs) != 1 {
		t.Fatalf("entries = %d, want 1", len(recs))
	}
	e, err := audit.Decode(recs[0].Entry)
	if err != nil {
		t.Fatal(err)
	}
	if e.Actor.Username != "alice" || e.Actor.IP != "192.0.2.1" || e.Object.ID != "a" || e.Trial != "T1" || e.Outcome != audit.Success {
		t.Errorf("entry = %+v", e)
	}
	if recs[0].Seq != 1 || recs[0].PrevHash != (audit.Hash{}) || recs[0].Hash != audit.Link(audit.Hash{}, recs[0].Entry) {
		t.Errorf("record = seq %d prev %s hash %s", recs[0].Seq, recs[0].PrevHash, recs[0].Hash)
	}
	if got := e.Time.Nanosecond() % 1000; got != 0 {
		t.Errorf("time has sub-microsecond part %d", got)
	}
	mustVerify(t, b.DB)
}

func testUnaudited(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	err := b.DB.Write(ctx, alice, db.System, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO dbtest_item (id, value) VALUES ('x', 'y')`)
		return err
	})
	if !errors.Is(err, db.ErrUnaudited) {
		t.Fatalf("err = %v, want ErrUnaudited", err)
	}
	if n := count(t, b.Raw, `SELECT count(*) FROM dbtest_item`); n != 0 {
		t.Fatalf("unaudited change committed: %d rows", n)
	}
	// A write smuggled through QueryRow is a change too.
	err = b.DB.Write(ctx, alice, db.System, func(tx *db.Tx) error {
		var id string
		return tx.QueryRow(ctx, `INSERT INTO dbtest_item (id, value) VALUES ('q', 'y') RETURNING id`).Scan(&id)
	})
	if !errors.Is(err, db.ErrUnaudited) {
		t.Fatalf("INSERT ... RETURNING via QueryRow: err = %v, want ErrUnaudited", err)
	}
	// Plain reads need no entry.
	if err := b.DB.Write(ctx, alice, db.System, func(tx *db.Tx) error {
		var n int
		return tx.QueryRow(ctx, ` SELECT count(*) FROM dbtest_item`).Scan(&n)
	}); err != nil {
		t.Fatalf("read-only write transaction: %v", err)
	}
	if n := count(t, b.Raw, `SELECT count(*) FROM dbtest_item`); n != 0 {
		t.Fatalf("unaudited change committed: %d rows", n)
	}
	if b.DB.Dialect() == "postgres" {
		// Layer 3: even SQL that bypasses the Go API cannot commit an
		// unaudited change to a regulated table.
		tx, err := b.Raw.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO dbtest_item (id, value) VALUES ('raw', 'y')`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err == nil {
			t.Fatal("raw unaudited commit to a regulated table succeeded")
		}
		if n := count(t, b.Raw, `SELECT count(*) FROM dbtest_item`); n != 0 {
			t.Fatalf("raw unaudited change committed: %d rows", n)
		}
	}
}

func testFailedWrite(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	boom := errors.New("boom")
	err := b.DB.Write(ctx, alice, db.System, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO dbtest_item (id, value) VALUES ('x', 'y')`); err != nil {
			return err
		}
		if err := tx.Audit(audit.Event{Action: audit.ActionUserCreated, Object: audit.Object{Type: "item", ID: "x"}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// A duplicate key fails the second write whole.
	if err := put(ctx, b.DB, "d", "1", ""); err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, b.DB, "d", "2", ""); !errors.Is(err, db.ErrDuplicate) {
		t.Fatalf("duplicate: err = %v, want ErrDuplicate", err)
	}
	if n := count(t, b.Raw, `SELECT count(*) FROM dbtest_item`); n != 1 {
		t.Fatalf("items = %d, want 1", n)
	}
	n := 0
	for _, r := range records(t, b.DB, audit.SystemChain) {
		if e, _ := audit.Decode(r.Entry); e.Action == audit.ActionUserCreated {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("entries for item changes = %d, want 1", n)
	}
}

func testInvalidEvent(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	for _, ev := range []audit.Event{
		{Action: "no.such_action"},
		{Action: audit.ActionUserCreated, Outcome: "maybe"},
		{Action: audit.ActionUserCreated, After: []string{"not", "an", "object"}},
	} {
		err := b.DB.Write(ctx, alice, db.System, func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO dbtest_item (id, value) VALUES ('x', 'y')`); err != nil {
				return err
			}
			return tx.Audit(ev)
		})
		if err == nil {
			t.Errorf("event %+v accepted", ev)
		}
	}
	// A scope that could not name a chain is refused before anything runs.
	for _, sc := range []db.Scope{
		{Trial: "a/b"}, {Trial: ".."}, {Trial: "system"}, {Trial: "T1' OR 1=1--"}, {Trial: strings.Repeat("x", 65)},
		{Site: "S1"}, {Trial: "T1", Subject: "X"}, {Trial: "T1", Site: "S1", Visit: "BL"}, {Trial: "T1", Site: "S/1"},
	} {
		ran := false
		err := b.DB.Write(ctx, alice, sc, func(tx *db.Tx) error { ran = true; return nil })
		if trialgate.ErrorCode(err) != trialgate.EInvalid || ran {
			t.Errorf("scope %+v: err %v, ran %v; want an invalid scope refused before the function", sc, err, ran)
		}
	}
	if err := b.DB.Write(ctx, audit.Actor{}, db.System, func(*db.Tx) error { return nil }); err == nil {
		t.Error("write without an actor accepted")
	}
	if n := count(t, b.Raw, `SELECT count(*) FROM dbtest_item`); n != 0 {
		t.Fatalf("items = %d, want 0", n)
	}
}

// A refusal is recorded on its trial's chain once the trial exists. Before
// (no entry was ever committed on the trial's chain: a trial that does not
// exist), refusals never start the chain: they go to the system chain,
// stamped with no trial, and Record says "no trial".
func testRecordDenied(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	denial := audit.Event{Action: audit.ActionAccessDenied, Outcome: audit.Denied,
		Object: audit.Object{Type: "trial", ID: "T9"}, Reason: "no grant for trial T9"}
	failure := audit.Event{Action: audit.ActionInstanceRejected, Outcome: audit.Failed, Object: audit.Object{Type: "submission", ID: "sub_1"}}
	systemBefore := len(records(t, b.DB, audit.SystemChain))
	for _, ev := range []audit.Event{denial, failure} {
		err := b.DB.Record(ctx, alice, db.Scope{Trial: "T9", Site: "S1"}, ev)
		if !errors.Is(err, db.ErrNoTrial) || trialgate.ErrorCode(err) != trialgate.ENotFound || trialgate.ErrorMessage(err) != "no trial T9" {
			t.Fatalf("record %s in a trial that does not exist: %v, want not_found \"no trial T9\"", ev.Action, err)
		}
	}
	if started, err := b.DB.ChainStarted(ctx, db.TrialScope("T9")); err != nil || started {
		t.Fatalf("ChainStarted(T9) = %v, %v before any change", started, err)
	}
	if recs := records(t, b.DB, "trial/T9"); len(recs) != 0 {
		t.Fatalf("a record started trial/T9: %d entries", len(recs))
	}
	if chains, err := b.DB.Chains(ctx); err != nil || slices.Contains(chains, "trial/T9") {
		t.Fatalf("chains = %v, %v", chains, err)
	}
	moved := records(t, b.DB, audit.SystemChain)[systemBefore:]
	if len(moved) != 2 {
		t.Fatalf("system chain gained %d entries, want 2", len(moved))
	}
	want := []struct {
		action  audit.Action
		outcome audit.Outcome
		reason  string
	}{
		{audit.ActionAccessDenied, audit.Denied, "no grant for trial T9 (no trial T9)"},
		{audit.ActionInstanceRejected, audit.Failed, "no trial T9"},
	}
	for i, r := range moved {
		e, err := audit.Decode(r.Entry)
		if err != nil {
			t.Fatal(err)
		}
		if e.Action != want[i].action || e.Outcome != want[i].outcome || e.Reason != want[i].reason ||
			e.Trial != "" || e.Site != "" || e.Object.ID == "" || e.Actor.ID != alice.ID {
			t.Errorf("moved entry %d = %+v, want %+v on the system chain", i, e, want[i])
		}
	}

	// The change that creates the trial starts its chain; refusals go there
	// from then on.
	if err := put(ctx, b.DB, "t9", "v", "T9"); err != nil {
		t.Fatal(err)
	}
	if started, err := b.DB.ChainStarted(ctx, db.TrialScope("T9")); err != nil || !started {
		t.Fatalf("ChainStarted(T9) = %v, %v after its first change", started, err)
	}
	if err := b.DB.Record(ctx, alice, db.TrialScope("T9"), denial); err != nil {
		t.Fatal(err)
	}
	recs := records(t, b.DB, "trial/T9")
	if len(recs) != 2 {
		t.Fatalf("trial/T9 entries = %d, want 2", len(recs))
	}
	if e, _ := audit.Decode(recs[1].Entry); e.Outcome != audit.Denied || e.Trial != "T9" || e.Reason != denial.Reason {
		t.Fatalf("entry = %+v", e)
	}
	if n := len(records(t, b.DB, audit.SystemChain)); n != systemBefore+2 {
		t.Errorf("system chain has %d entries, want %d", n, systemBefore+2)
	}
	mustVerify(t, b.DB)
}

func testImmutable(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	if err := put(ctx, b.DB, "a", "1", ""); err != nil {
		t.Fatal(err)
	}
	records(t, b.DB, audit.SystemChain)
	for _, q := range []string{
		`UPDATE audit_log SET outcome = 'failed'`,
		`UPDATE audit_log SET canonical = canonical WHERE seq = 1`,
		`DELETE FROM audit_log`,
		`DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)`,
		`DELETE FROM audit_head`,
		`UPDATE audit_head SET seq = seq - 1`,
	} {
		if _, err := b.Raw.Exec(q); err == nil {
			t.Errorf("%s: succeeded", q)
		}
	}
	if b.DB.Dialect() == "postgres" {
		if _, err := b.Raw.Exec(`TRUNCATE audit_log`); err == nil {
			t.Error("TRUNCATE audit_log succeeded")
		}
	}
	mustVerify(t, b.DB)
}

// tamper drops the protections and runs q.
func tamper(t *testing.T, b Backend, q string, args ...any) {
	t.Helper()
	if _, err := b.Raw.Exec(b.DropTriggers); err != nil {
		t.Fatalf("drop triggers: %v", err)
	}
	if _, err := b.Raw.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func testTamper(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	for i := range 10 {
		if err := put(ctx, b.DB, fmt.Sprint(i), "v", "T1"); err != nil {
			t.Fatal(err)
		}
	}
	recs := records(t, b.DB, "trial/T1")
	mustVerify(t, b.DB)
	// Change one byte of entry 4's stored content.
	c := append([]byte(nil), recs[3].Entry...)
	c[len(c)/2] ^= 0x01
	tamper(t, b, `UPDATE audit_log SET canonical = $1 WHERE chain = 'trial/T1' AND seq = 4`, c)
	rep, err := b.DB.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBad == nil || rep.FirstBad.Chain != "trial/T1" || rep.FirstBad.Seq != 4 {
		t.Fatalf("report = %+v %+v, want first bad trial/T1 seq 4", rep, rep.FirstBad)
	}
	// A per-chain verify of an untouched chain still passes.
	if rep, err := b.DB.VerifyAudit(ctx, audit.SystemChain); err != nil || !rep.OK {
		t.Fatalf("system chain: %+v %v", rep.FirstBad, err)
	}
}

func testDeletedTail(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	for i := range 5 {
		if err := put(ctx, b.DB, fmt.Sprint(i), "v", "T1"); err != nil {
			t.Fatal(err)
		}
	}
	records(t, b.DB, "trial/T1")
	tamper(t, b, `DELETE FROM audit_log WHERE chain = 'trial/T1' AND seq = 5`)
	rep, err := b.DB.VerifyAudit(ctx, "trial/T1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBad.Seq != 5 {
		t.Fatalf("deleted tail: report %+v %+v, want first bad seq 5", rep, rep.FirstBad)
	}
	// A later entry leaves a visible gap.
	if err := put(ctx, b.DB, "later", "v", "T1"); err != nil {
		t.Fatal(err)
	}
	records(t, b.DB, "trial/T1")
	rep, err = b.DB.VerifyAudit(ctx, "trial/T1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.FirstBad.Seq != 6 {
		t.Fatalf("gap: report %+v %+v, want first bad seq 6", rep, rep.FirstBad)
	}
}

func testConcurrent(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				trial := []string{"T1", "T2", ""}[i%3]
				if err := put(ctx, b.DB, fmt.Sprintf("%d-%d", w, i), "v", trial); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := mustVerify(t, b.DB)
	got := 0
	for _, c := range []string{"trial/T1", "trial/T2", audit.SystemChain} {
		for i, r := range records(t, b.DB, c) {
			if r.Seq != uint64(i+1) {
				t.Fatalf("%s: record %d has seq %d", c, i, r.Seq)
			}
			if e, _ := audit.Decode(r.Entry); e.Action == audit.ActionUserCreated {
				got++
			}
		}
	}
	if got != writers*each {
		t.Fatalf("entries = %d, want %d (report %+v)", got, writers*each, rep)
	}
}

func testChainsPerTrial(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	for _, tr := range []string{"A", "B", "A"} {
		if err := put(ctx, b.DB, tr+fmt.Sprint(time.Now().UnixNano()), "v", tr); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(records(t, b.DB, "trial/A")); n != 2 {
		t.Errorf("trial/A has %d entries, want 2", n)
	}
	if n := len(records(t, b.DB, "trial/B")); n != 1 {
		t.Errorf("trial/B has %d entries, want 1", n)
	}
	chains, err := b.DB.Chains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(chains) != "[system trial/A trial/B]" {
		t.Errorf("chains = %v", chains)
	}
}

func testFilters(t *testing.T, open Opener) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Minute); return now }
	b := setup(t, open, clock)
	ctx := ctxT(t)
	bob := audit.Actor{ID: "u_bob", Username: "bob", Role: "inspector"}
	for i := range 6 {
		if err := put(ctx, b.DB, fmt.Sprint(i), "v", "T1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DB.Record(ctx, bob, db.TrialScope("T1"), audit.Event{Action: audit.ActionAuditQueried, Outcome: audit.Denied,
		Object: audit.Object{Type: "trial", ID: "T1"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	all := []string{"trial/T1"}
	recs := records(t, b.DB, "trial/T1")
	if len(recs) != 7 {
		t.Fatalf("entries = %d, want 7", len(recs))
	}
	fourth := recs[3].EventTime
	cases := []struct {
		name string
		f    audit.Filter
		want int
	}{
		{"all", audit.Filter{Chains: all}, 7},
		{"none visible", audit.Filter{Chains: []string{}}, 0},
		{"object", audit.Filter{Chains: all, Object: "item/3"}, 1},
		{"actor id", audit.Filter{Chains: all, Actor: "u_bob"}, 1},
		{"actor username", audit.Filter{Chains: all, Actor: "alice"}, 6},
		{"action", audit.Filter{Chains: all, Action: audit.ActionAuditQueried}, 1},
		{"outcome", audit.Filter{Chains: all, Outcome: audit.Denied}, 1},
		{"from", audit.Filter{Chains: all, From: fourth}, 4},
		{"to", audit.Filter{Chains: all, To: fourth}, 3},
		{"from to", audit.Filter{Chains: all, From: fourth, To: fourth.Add(time.Microsecond)}, 1},
		{"limit", audit.Filter{Chains: all, Limit: 2}, 2},
	}
	for _, tc := range cases {
		n := 0
		if err := b.DB.AuditRecords(ctx, tc.f, func(*audit.Record) error { n++; return nil }); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n != tc.want {
			t.Errorf("%s: %d entries, want %d", tc.name, n, tc.want)
		}
	}
}

func testClockBackwards(t *testing.T, open Opener) {
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	b := setup(t, open, clock)
	ctx := ctxT(t)
	if err := put(ctx, b.DB, "a", "v", ""); err != nil {
		t.Fatal(err)
	}
	records(t, b.DB, audit.SystemChain)
	set(now.Add(-time.Hour))
	if err := put(ctx, b.DB, "b", "v", ""); err != nil {
		t.Fatal(err)
	}
	recs := records(t, b.DB, audit.SystemChain)
	var last time.Time
	anomaly := false
	for _, r := range recs {
		if r.ChainedAt.Before(last) {
			t.Fatalf("seq %d chained at %v, before %v", r.Seq, r.ChainedAt, last)
		}
		last = r.ChainedAt
		if e, _ := audit.Decode(r.Entry); e.Action == audit.ActionClockAnomaly {
			anomaly = true
		}
	}
	if !anomaly {
		t.Error("no clock.anomaly entry")
	}
	mustVerify(t, b.DB)
}

func testMigrate(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	if ok, err := b.DB.Initialized(ctx); err != nil || !ok {
		t.Fatalf("Initialized after migrate = %v, %v", ok, err)
	}
	before := count(t, b.Raw, `SELECT count(*) FROM schema_migrations`)
	if err := b.DB.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if after := count(t, b.Raw, `SELECT count(*) FROM schema_migrations`); after != before {
		t.Fatalf("migrations %d -> %d", before, after)
	}
	n := 0
	for _, r := range records(t, b.DB, audit.SystemChain) {
		if e, _ := audit.Decode(r.Entry); e.Action == audit.ActionSchemaMigrated {
			n++
		}
	}
	if n != before {
		t.Fatalf("schema.migrated entries = %d, want %d", n, before)
	}
	if _, err := b.Raw.Exec(`INSERT INTO schema_migrations (version, name, applied_us) VALUES (999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.Migrate(ctx); err == nil {
		t.Fatal("migrate accepted a newer schema")
	}
}

// The transaction stamps its scope's trial and site on every entry and
// appends them to the trial's chain; the subject and visit are not entry
// fields, and nothing the function records can name another chain.
func testScopeStamps(t *testing.T, open Opener) {
	b := setup(t, open, nil)
	ctx := ctxT(t)
	scopes := []db.Scope{
		db.System,
		{Trial: "T1"},
		{Trial: "T1", Site: "S1"},
		{Trial: "T1", Site: "S1", Subject: "S1-001", Visit: "BL"},
		{Trial: "T2", Site: "S9", Subject: "X"},
	}
	for i, sc := range scopes {
		if err := putIn(ctx, b.DB, sc, fmt.Sprint(i), "v"); err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
	}
	for i, sc := range scopes {
		var found *audit.Entry
		for _, r := range records(t, b.DB, sc.Chain()) {
			if e, err := audit.Decode(r.Entry); err == nil && e.Object.ID == fmt.Sprint(i) {
				found = e
			}
		}
		if found == nil {
			t.Errorf("%s: no entry on chain %s", sc, sc.Chain())
			continue
		}
		if found.Trial != sc.Trial || found.Site != sc.Site {
			t.Errorf("%s: entry stamped trial %q site %q", sc, found.Trial, found.Site)
		}
	}
	mustVerify(t, b.DB)
}

// refusing is a guard that refuses every change within one scope, and
// counts its calls.
type refusing struct {
	scope  db.Scope
	calls  atomic.Int64
	seen   atomic.Int64 // rows of dbtest_item the guard saw in its transaction
	action atomic.Value // the action of the transaction's last event
}

func (g *refusing) Check(ctx context.Context, tx *db.Tx, scope db.Scope) error {
	g.calls.Add(1)
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM dbtest_item`).Scan(&n); err != nil {
		return err
	}
	g.seen.Store(n)
	if evs := tx.Events(); len(evs) > 0 {
		g.action.Store(evs[len(evs)-1].Action)
	}
	if scope.Within(g.scope) {
		return trialgate.Errorf(trialgate.ELocked, "%s is locked", g.scope)
	}
	return nil
}

// A guard runs inside the transaction after its function, sees its
// changes, and its refusal rolls them back; Write records the attempt as
// denied, once, on the scope's chain, with the action and object of the
// function's first event. Changes elsewhere and records without changes
// pass.
func testGuardRefusal(t *testing.T, open Opener) {
	g := &refusing{scope: db.Scope{Trial: "T1", Site: "S1"}}
	b := setup(t, open, nil, g)
	ctx := ctxT(t)
	if err := putIn(ctx, b.DB, db.Scope{Trial: "T1", Site: "S2"}, "other-site", "v"); err != nil {
		t.Fatalf("change outside the guarded scope: %v", err)
	}
	if err := put(ctx, b.DB, "system", "v", ""); err != nil {
		t.Fatalf("system change: %v", err)
	}
	before := len(records(t, b.DB, "trial/T1"))
	for _, sc := range []db.Scope{{Trial: "T1", Site: "S1"}, {Trial: "T1", Site: "S1", Subject: "S1-001", Visit: "BL"}} {
		err := putIn(ctx, b.DB, sc, "in-"+sc.String(), "v")
		if trialgate.ErrorCode(err) != trialgate.ELocked {
			t.Fatalf("%s: err = %v, want the guard's refusal", sc, err)
		}
		if g.seen.Load() != 3 {
			t.Errorf("%s: the guard saw %d items, want 3 (its transaction's own insert included)", sc, g.seen.Load())
		}
		if a := g.action.Load(); a != audit.ActionUserCreated {
			t.Errorf("%s: the guard saw the event %v, want the transaction's %s", sc, a, audit.ActionUserCreated)
		}
	}
	if n := count(t, b.Raw, `SELECT count(*) FROM dbtest_item`); n != 2 {
		t.Fatalf("items = %d, want 2: a refused change committed", n)
	}
	recs := records(t, b.DB, "trial/T1")
	if len(recs) != before+2 {
		t.Fatalf("trial/T1 gained %d entries, want 2 (one denial per refused write)", len(recs)-before)
	}
	for _, r := range recs[before:] {
		e, err := audit.Decode(r.Entry)
		if err != nil {
			t.Fatal(err)
		}
		attempted, _ := json.Marshal(e.After)
		if e.Action != audit.ActionAccessDeniedLocked || e.Outcome != audit.Denied || e.Object.Type != "item" ||
			!strings.HasPrefix(e.Object.ID, "in-") || e.Site != "S1" || e.Actor.ID != alice.ID ||
			e.Reason != "trial/T1/site/S1 is locked" || string(attempted) != `{"attempted_action":"user.created"}` {
			t.Errorf("denial entry = %+v", e)
		}
	}
	// Records accompany no change: guards do not run for them.
	calls := g.calls.Load()
	if err := b.DB.Record(ctx, alice, db.Scope{Trial: "T1", Site: "S1"}, audit.Event{Action: audit.ActionAuditQueried}); err != nil {
		t.Fatalf("record in a guarded scope: %v", err)
	}
	if g.calls.Load() != calls {
		t.Error("a guard ran for a record without changes")
	}
	mustVerify(t, b.DB)
}

// A guard's refusal of the change that would have started a trial's chain
// is recorded on the system chain, and the answer is still the guard's.
func testGuardRefusalNoChain(t *testing.T, open Opener) {
	g := &refusing{scope: db.TrialScope("T8")}
	b := setup(t, open, nil, g)
	ctx := ctxT(t)
	before := len(records(t, b.DB, audit.SystemChain))
	err := put(ctx, b.DB, "first", "v", "T8")
	if trialgate.ErrorCode(err) != trialgate.ELocked || errors.Is(err, db.ErrNoTrial) {
		t.Fatalf("err = %v, want the guard's refusal", err)
	}
	if recs := records(t, b.DB, "trial/T8"); len(recs) != 0 {
		t.Fatalf("the refusal started trial/T8: %d entries", len(recs))
	}
	sys := records(t, b.DB, audit.SystemChain)
	if len(sys) != before+1 {
		t.Fatalf("system chain gained %d entries, want 1", len(sys)-before)
	}
	e, err := audit.Decode(sys[len(sys)-1].Entry)
	if err != nil {
		t.Fatal(err)
	}
	if e.Outcome != audit.Denied || e.Object.ID != "first" || e.Trial != "" || e.Reason != "trial/T8 is locked (no trial T8)" {
		t.Errorf("denial entry = %+v", e)
	}
	mustVerify(t, b.DB)
}

// A guard that fails (rather than refuses) fails the write: nothing is
// committed and nothing is recorded as denied.
func testGuardFailure(t *testing.T, open Opener) {
	boom := errors.New("boom")
	g := db.GuardFunc(func(context.Context, *db.Tx, db.Scope) error { return boom })
	b := setup(t, open, nil, g)
	ctx := ctxT(t)
	if err := put(ctx, b.DB, "x", "v", "T1"); !errors.Is(err, boom) || trialgate.ErrorCode(err) != trialgate.EInternal {
		t.Fatalf("err = %v, want the guard's failure", err)
	}
	if n := count(t, b.Raw, `SELECT count(*) FROM dbtest_item`); n != 0 {
		t.Fatalf("items = %d after a failed guard", n)
	}
	if n := len(records(t, b.DB, "trial/T1")); n != 0 {
		t.Fatalf("trial/T1 has %d entries after a failed guard, want none", n)
	}
}

// Affects narrows what a guard is shown of a broad change; parts outside
// the transaction's scope are refused.
func testAffects(t *testing.T, open Opener) {
	var seen [][]db.Scope
	g := db.GuardFunc(func(_ context.Context, tx *db.Tx, _ db.Scope) error {
		seen = append(seen, tx.Affected())
		return nil
	})
	b := setup(t, open, nil, g)
	ctx := ctxT(t)
	s1 := db.Scope{Trial: "T1", Site: "S1", Subject: "S1-001", Visit: "BL"}
	s2 := db.Scope{Trial: "T1", Site: "S2"}
	err := b.DB.Write(ctx, alice, db.TrialScope("T1"), func(tx *db.Tx) error {
		if err := tx.Affects(db.Scope{Trial: "T2"}); err == nil {
			return errors.New("a part of another trial was accepted")
		}
		for _, s := range []db.Scope{s1, s2, s1} {
			if err := tx.Affects(s); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO dbtest_item (id, value) VALUES ('a', 'v')`); err != nil {
			return err
		}
		return tx.Audit(audit.Event{Action: audit.ActionUserCreated, Object: audit.Object{Type: "item", ID: "a"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := putIn(ctx, b.DB, db.TrialScope("T1"), "b", "v"); err != nil {
		t.Fatal(err)
	}
	want := [][]db.Scope{{s1, s2}, {db.TrialScope("T1")}}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("guards saw %v, want %v", seen, want)
	}
}

// witness adds an entry of its own to every record it is shown.
type witness struct {
	db.Guard
	shown atomic.Int64
}

func (w *witness) Witness(ctx context.Context, tx *db.Tx, scope db.Scope, evs []audit.Event) error {
	w.shown.Add(1)
	return tx.Audit(audit.Event{Action: audit.ActionAccessAfterLock, Object: evs[0].Object})
}

// A witness sees successful records in a trial, in their transaction, and
// its entries commit with them; refusals and the system chain pass it by.
func testWitness(t *testing.T, open Opener) {
	w := &witness{Guard: db.GuardFunc(func(context.Context, *db.Tx, db.Scope) error { return nil })}
	b := setup(t, open, nil, w)
	ctx := ctxT(t)
	if err := putIn(ctx, b.DB, db.TrialScope("T1"), "a", "v"); err != nil {
		t.Fatal(err)
	}
	before := len(records(t, b.DB, "trial/T1"))
	read := audit.Event{Action: audit.ActionAuditQueried, Object: audit.Object{Type: "item", ID: "a"}}
	if err := b.DB.Record(ctx, alice, db.TrialScope("T1"), read); err != nil {
		t.Fatal(err)
	}
	denied := read
	denied.Outcome = audit.Denied
	for _, rec := range []struct {
		scope db.Scope
		ev    audit.Event
	}{{db.TrialScope("T1"), denied}, {db.System, read}} {
		if err := b.DB.Record(ctx, alice, rec.scope, rec.ev); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.shown.Load(); n != 1 {
		t.Errorf("the witness was shown %d records, want 1", n)
	}
	recs := records(t, b.DB, "trial/T1")[before:]
	if len(recs) != 3 {
		t.Fatalf("trial/T1 gained %d entries, want the read, its witness and the refusal", len(recs))
	}
	if e, err := audit.Decode(recs[1].Entry); err != nil || e.Action != audit.ActionAccessAfterLock {
		t.Errorf("second entry = %+v, %v; want the witness's", e, err)
	}
	mustVerify(t, b.DB)
}
