package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
)

// Tx is the unit of work: the one way to change regulated data. Every change
// made through Exec must be described by at least one Audit event before the
// function passed to Write returns; the events are written by the same
// transaction's commit, stamped with its actor and scope.
type Tx struct {
	tx      *sql.Tx
	db      *DB
	actor   audit.Actor
	scope   Scope
	changed bool
	pending []pending
	// affects narrows what the change reaches inside scope (Affects).
	affects []Scope
}

// pending is an encoded entry waiting for the commit.
type pending struct {
	entry     audit.Entry
	canonical []byte
}

// Exec runs a statement that changes data and returns the number of rows it
// affected. The change obliges the transaction to record an audit event.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	t.changed = true
	res, err := t.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, t.db.classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("db: rows affected: %w", err)
	}
	return n, nil
}

// InsertRows inserts rows with as few statements as possible: insert is
// "INSERT INTO table (columns...)" and every row holds one value per
// column. Like Exec, it obliges the transaction to record an audit event.
func (t *Tx) InsertRows(ctx context.Context, insert string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	t.changed = true
	return t.db.classify(insertRows(ctx, t.tx, insert, len(rows[0]), rows))
}

// Query runs a query inside the transaction (it sees the transaction's own
// changes). A statement that is not a plain SELECT (UPDATE ... RETURNING, a
// WITH that writes) counts as a change, like Exec.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.noteQuery(query)
	rows, err := t.tx.QueryContext(ctx, query, args...)
	return rows, t.db.classify(err)
}

// QueryRow runs a query that returns at most one row; like Query, anything
// but a plain SELECT counts as a change.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	t.noteQuery(query)
	return t.tx.QueryRowContext(ctx, query, args...)
}

// noteQuery marks the transaction changed unless query is a plain SELECT.
// A SELECT that calls a writing function is not caught here; on PostgreSQL
// the regulated tables' deferred trigger still refuses such a commit.
func (t *Tx) noteQuery(query string) {
	q := strings.TrimLeft(query, " \t\r\n(")
	if len(q) < 6 || !strings.EqualFold(q[:6], "select") {
		t.changed = true
	}
}

// Affects declares that the change reaches only the parts of the
// transaction's scope named, for a write that spans a trial but touches a
// few of its visits (a read assignment run creates tasks for some cases).
// Guards then judge those parts rather than the whole scope: a lock on one
// subject refuses the run only if it touches that subject. Without a call,
// the change is taken to reach all of its scope. A part outside the scope
// is an error.
func (t *Tx) Affects(s Scope) error {
	if !s.Within(t.scope) {
		return fmt.Errorf("db: %s lies outside the transaction's scope %s", s, t.scope)
	}
	if !slices.Contains(t.affects, s) {
		t.affects = append(t.affects, s)
	}
	return nil
}

// Affected returns what the change reaches: the parts declared with
// Affects, or the transaction's whole scope.
func (t *Tx) Affected() []Scope {
	if len(t.affects) == 0 {
		return []Scope{t.scope}
	}
	return slices.Clone(t.affects)
}

// Dialect returns the name of the database backend, for guards whose
// locking statements differ between them.
func (t *Tx) Dialect() string { return t.db.dialect.Name() }

// Actor returns who this transaction acts for.
func (t *Tx) Actor() audit.Actor { return t.actor }

// Events returns the events recorded so far, for guards that treat some
// actions differently (a lock guard lets the release of its own lock
// through).
func (t *Tx) Events() []audit.Event {
	evs := make([]audit.Event, len(t.pending))
	for i, p := range t.pending {
		evs[i] = p.entry.Event
	}
	return evs
}

// Audit records an event of this transaction, attributed to its actor,
// stamped with the server's clock and with the trial and site of its scope.
// The entry is encoded now, so an invalid event fails the transaction
// before anything commits.
func (t *Tx) Audit(ev audit.Event) error {
	e := audit.Entry{Time: t.db.clock().UTC().Truncate(time.Microsecond), Actor: t.actor,
		Trial: t.scope.Trial, Site: t.scope.Site, Event: ev}
	c, err := audit.Encode(&e)
	if err != nil {
		return err
	}
	t.pending = append(t.pending, pending{entry: e, canonical: c})
	return nil
}

// Write runs fn in a transaction acting for actor in scope, runs the guards
// over its changes (see Guard), and commits the changes together with their
// audit entries, on the scope's chain. If fn fails, or changed data without
// recording an event, nothing is written. If a guard refuses, nothing is
// written either, and the attempt is recorded as denied: the first event fn
// recorded names what was attempted (on the system chain when the scope's
// trial chain was never started, as Record does).
//
// Every Write is vetted, even one that only records events: an action on
// regulated data (an assignment run that finds nothing to assign, say) is
// an attempt a lock must refuse. Record, which writes what accompanies no
// change, is not.
func (d *DB) Write(ctx context.Context, actor audit.Actor, scope Scope, fn func(*Tx) error) error {
	return d.vetted(ctx, actor, scope, true, fn)
}

// vetted is Write; guarded false skips the guards (Record).
func (d *DB) vetted(ctx context.Context, actor audit.Actor, scope Scope, guarded bool, fn func(*Tx) error) error {
	if actor.ID == "" {
		return errors.New("db: write without an actor")
	}
	if err := scope.Validate(); err != nil {
		return err
	}
	var guards []Guard
	if guarded {
		guards = d.guards
	}
	attempt, err := d.writeTx(ctx, actor, scope, guards, fn)
	if attempt != nil {
		// Recorded after the refused transaction has ended: on SQLite it
		// held the one writer.
		// A refusal in a trial that does not exist is recorded on the
		// system chain (ErrNoTrial); the guard's refusal is the answer.
		if rerr := d.Record(ctx, actor, scope, *attempt); rerr != nil && !errors.Is(rerr, ErrNoTrial) {
			// Fail closed: a refusal without its entry is an error.
			return fmt.Errorf("db: record the refused change: %w", rerr)
		}
	}
	return err
}

// writeTx is Write's transaction, vetted by guards. When a guard refuses, it
// returns the event that records the refused attempt along with the guard's
// error.
func (d *DB) writeTx(ctx context.Context, actor audit.Actor, scope Scope, guards []Guard, fn func(*Tx) error) (*audit.Event, error) {
	if !d.dialect.Sequenced() {
		// One writer: chaining reads and advances the chain heads inside
		// the transaction, so transactions must not interleave.
		d.inline.Lock()
		defer d.inline.Unlock()
	}
	sqlTx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, d.classify(fmt.Errorf("db: begin: %w", err))
	}
	defer sqlTx.Rollback()
	tx := &Tx{tx: sqlTx, db: d, actor: actor, scope: scope}
	if err := fn(tx); err != nil {
		return nil, d.classify(err)
	}
	if tx.changed && len(tx.pending) == 0 {
		return nil, ErrUnaudited
	}
	if tx.changed || len(tx.pending) > 0 {
		for _, g := range guards {
			if err := g.Check(ctx, tx, scope); err != nil {
				err = d.classify(err)
				if c := trialgate.ErrorCode(err); c == trialgate.EInternal || c == trialgate.EUnavailable {
					return nil, fmt.Errorf("db: guard: %w", err)
				}
				first := tx.pending[0].entry
				denial := &audit.Event{Action: first.Action, Object: first.Object, Outcome: audit.Denied,
					Reason: trialgate.ErrorMessage(err)}
				if trialgate.ErrorCode(err) == trialgate.ELocked {
					// A lock's refusals are one action, so an inspector
					// lists them with one filter; what was attempted
					// stays on the entry.
					denial.Action = audit.ActionAccessDeniedLocked
					denial.After = map[string]any{"attempted_action": first.Action}
				}
				return denial, err
			}
		}
	}
	if len(tx.pending) > 0 {
		if d.dialect.Sequenced() {
			err = d.enqueue(ctx, sqlTx, tx.pending)
		} else {
			err = d.chainInline(ctx, sqlTx, tx.pending)
		}
		if err != nil {
			return nil, d.classify(fmt.Errorf("db: append audit: %w", err))
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, d.classify(fmt.Errorf("db: commit: %w", err))
	}
	d.stats.appended.Add(int64(len(tx.pending)))
	if !d.dialect.Sequenced() {
		d.stats.chained.Add(int64(len(tx.pending)))
	}
	return nil, nil
}

// ErrNoTrial means a scope names a trial whose audit chain was never
// started: no such trial exists. Record returns it, as a trialgate.ENotFound
// error "no trial <id>", after recording its events on the system chain.
var ErrNoTrial = errors.New("db: no such trial")

// NoTrial returns the error Record returns for a trial that does not
// exist: trialgate.ENotFound "no trial <id>", wrapping ErrNoTrial. Callers
// that find out otherwise (ChainStarted) answer with it too.
func NoTrial(trial string) error {
	return &trialgate.Error{Code: trialgate.ENotFound, Message: "no trial " + trial, Err: ErrNoTrial}
}

// Record writes audit events that accompany no change, in scope: a denied
// or failed attempt, or a read of regulated data. They commit in their own
// transaction, so a refusal that rolls back the request still leaves its
// trace. Guards do not run: a lock stops changes, never their record.
//
// A refusal never starts a trial's chain. A trial's chain begins with the
// change that creates the trial (trial.created, in the transaction that
// writes the trial), so a scope whose trial chain has no entry, chained or
// queued, names a trial that does not exist. When every event is denied or
// failed and the scope's trial chain was never started, Record writes the
// events on the system chain instead, stamped with no trial or site, each
// with "no trial <id>" in its reason (its object still names what was
// asked for), and returns a trialgate.ENotFound error wrapping ErrNoTrial:
// the caller answers 404, whoever asked. Probes for made-up trials (a
// mistyped id, an injection attempt) thus leave their trace among the
// system's events and cannot create chains, whichever code path refuses
// them, Write's own record of a guard's refusal included.
//
// Records of successful reads go where they are asked to: a caller lets a
// read through only for a trial that exists (ChainStarted; auth.Require
// checks it). The Witnesses see them in their transaction and may add
// events of their own (the lock records a read of locked data as such).
func (d *DB) Record(ctx context.Context, actor audit.Actor, scope Scope, events ...audit.Event) error {
	refusals := len(events) > 0
	for _, ev := range events {
		if ev.Outcome != audit.Denied && ev.Outcome != audit.Failed {
			refusals = false
		}
	}
	moved := false
	err := d.vetted(ctx, actor, scope, false, func(tx *Tx) error {
		moved = false
		if refusals && !scope.IsSystem() {
			var started bool
			if err := tx.QueryRow(ctx, d.chainStartedQuery(), scope.Chain()).Scan(&started); err != nil {
				return fmt.Errorf("db: look up chain %s: %w", scope.Chain(), err)
			}
			if !started {
				moved, tx.scope = true, System
			}
		}
		for _, ev := range events {
			if moved {
				ev = movedEvent(ev, scope.Trial)
			}
			if err := tx.Audit(ev); err != nil {
				return err
			}
		}
		if refusals || scope.IsSystem() {
			return nil
		}
		for _, w := range d.witnesses {
			if err := w.Witness(ctx, tx, scope, events); err != nil {
				return fmt.Errorf("db: witness: %w", err)
			}
		}
		return nil
	})
	if err == nil && moved {
		return NoTrial(scope.Trial)
	}
	return err
}

// movedEvent is a refusal as recorded on the system chain for a trial that
// does not exist: its reason names the trial.
func movedEvent(ev audit.Event, trial string) audit.Event {
	switch why := "no trial " + trial; ev.Reason {
	case "", why:
		ev.Reason = why
	default:
		ev.Reason += " (" + why + ")"
	}
	return ev
}

const (
	selectHeadExists   = `SELECT EXISTS (SELECT 1 FROM audit_head WHERE chain = $1)`
	selectChainStarted = `SELECT EXISTS (SELECT 1 FROM audit_head WHERE chain = $1)
		OR EXISTS (SELECT 1 FROM audit_queue WHERE chain = $1)`
)

// chainStartedQuery is the statement that says whether a chain has any
// entry, chained or (when sequenced) still queued: one statement, so one
// snapshot, which the sequencer moving an entry from the queue to the log
// cannot fall between.
func (d *DB) chainStartedQuery() string {
	if d.dialect.Sequenced() {
		return selectChainStarted
	}
	return selectHeadExists
}

// ChainStarted reports whether anything was ever committed on the chain of
// scope: for a trial, whether the trial exists (see Record). The system
// chain always counts as started. Callers that let a request through on
// its grants ask it first, so that a grant naming a trial not (yet)
// created gives "no trial" rather than an empty answer (auth.Require).
func (d *DB) ChainStarted(ctx context.Context, scope Scope) (bool, error) {
	if scope.IsSystem() {
		return true, nil
	}
	if err := scope.Validate(); err != nil {
		return false, err
	}
	// One statement sees one snapshot: no transaction needed (and none
	// costs two more round trips on every request that asks).
	var ok bool
	if err := d.read.QueryRowContext(ctx, d.chainStartedQuery(), scope.Chain()).Scan(&ok); err != nil {
		return false, d.classify(fmt.Errorf("db: look up chain %s: %w", scope.Chain(), err))
	}
	return ok, nil
}
