// Package db owns TrialGate's database: the connection pools, versioned
// migrations, the one unit of work through which regulated data changes
// (Write), read-only access (Read), and the storage of the audit trail,
// including the sequencer that chains it.
//
// Every change is one call, Write(ctx, actor, scope, fn): fn changes data
// through the Tx and records what it changed (Tx.Audit); the Scope (the
// system, or a trial and optionally a site, subject and visit) decides the
// trial and site stamped on every entry and the chain they are appended to;
// the Guards registered when the DB was opened vet the change inside the
// same transaction before it commits, and Write itself records a guard's
// refusal as a denied attempt. Record writes entries that accompany no
// change (reads, refusals) and runs no guards. A refusal never starts a
// trial's chain: refusals in the scope of a trial that does not exist are
// recorded on the system chain and answered trialgate.ENotFound (see
// Record).
//
// The guarantee that no regulated change escapes the audit trail is
// structural:
//
//  1. Only Write creates a transaction that can change data, and the
//     database handles are unexported, so no other package runs SQL that
//     writes.
//  2. A Write whose function changed data (Tx.Exec) but recorded no audit
//     event (Tx.Audit) is rolled back with ErrUnaudited; the events are
//     inserted by the same transaction's commit, so they commit or vanish
//     with the change.
//  3. On PostgreSQL a deferred constraint trigger on every regulated table
//     refuses to commit a transaction that changed it without inserting an
//     audit row. SQLite has no deferred triggers; the shared contract suite
//     (package dbtest) checks the same behaviour on both.
//
// Backends are sibling packages (db/postgres, db/sqlite) that implement
// Dialect and are the only importers of their drivers.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trialgate/trialgate"
)

// Errors callers match with errors.Is.
var (
	// ErrDuplicate is a unique-constraint violation.
	ErrDuplicate = errors.New("db: duplicate key")
	// ErrUnaudited means a transaction changed data without an audit entry.
	ErrUnaudited = errors.New("db: change without an audit entry refused")
	// ErrImmutable means the database refused to change or remove a
	// protected row: an audit entry, a chain head, or a regulated record
	// that may only gain new states.
	ErrImmutable = errors.New("db: protected rows cannot be changed or removed")
)

// Dialect is what a backend package provides.
type Dialect interface {
	// Name is "postgres" or "sqlite".
	Name() string
	// Migrations holds files named NNNN_description.sql, applied in order.
	Migrations() fs.FS
	// Sequenced reports whether audit entries are queued by the business
	// transaction and chained later by the sequencer (PostgreSQL), rather
	// than chained inline in the business transaction (SQLite).
	Sequenced() bool
	// Classify translates a driver error: a unique violation wraps
	// ErrDuplicate, a refused audit change ErrImmutable, an unaudited commit
	// ErrUnaudited, an unreachable database a trialgate.EUnavailable error.
	// Other errors are returned unchanged.
	Classify(err error) error
	// LockSQL is a statement that serialises migrations and sequencer
	// leadership across processes (a PostgreSQL advisory lock); "" where
	// the database itself serialises writers.
	MigrationLockSQL() string
	// TryLead tries to take sequencer leadership on conn, which the caller
	// keeps for as long as it leads.
	TryLead(ctx context.Context, conn *sql.Conn) (bool, error)
	// SnapshotOptions are the options of a read transaction that sees one
	// consistent snapshot.
	SnapshotOptions() *sql.TxOptions
}

// Options configure a DB.
type Options struct {
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Logger receives operational logs; nil means slog.Default().
	Logger *slog.Logger
	// SequencerInterval is how often the sequencer chains queued entries
	// (PostgreSQL); 0 means 100 ms.
	SequencerInterval time.Duration
	// SequencerBatch is the most entries chained in one sequencer
	// transaction; 0 means 5000.
	SequencerBatch int
	// Guards vet every change before it commits (see Guard), in order.
	Guards []Guard
	// Witnesses see every successful record of a read (see Witness).
	Witnesses []Witness
}

// DB is the database. Its handles are unexported: the only ways to change
// data are Write and Record.
type DB struct {
	write   *sql.DB
	read    *sql.DB
	dialect Dialect
	clock   func() time.Time
	log     *slog.Logger

	interval  time.Duration
	batch     int
	guards    []Guard
	witnesses []Witness

	// inline serialises inline chaining (SQLite has one writer anyway).
	inline sync.Mutex

	stopOnce sync.Once
	stop     context.CancelFunc
	done     chan struct{}

	stats struct {
		appended  atomic.Int64 // entries committed (queued or chained)
		chained   atomic.Int64 // entries chained
		batches   atomic.Int64
		leader    atomic.Bool
		lastLagUS atomic.Int64 // event to chain time of the newest batch's oldest entry
	}
}

// New returns a DB over the given pools (they may be the same). It does not
// migrate; call Migrate, then Start.
func New(write, read *sql.DB, d Dialect, o Options) *DB {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SequencerInterval <= 0 {
		o.SequencerInterval = 100 * time.Millisecond
	}
	if o.SequencerBatch <= 0 {
		o.SequencerBatch = 5000
	}
	return &DB{write: write, read: read, dialect: d, clock: o.Clock, log: o.Logger,
		interval: o.SequencerInterval, batch: o.SequencerBatch, guards: slices.Clone(o.Guards),
		witnesses: slices.Clone(o.Witnesses)}
}

// Dialect returns the name of the backend.
func (d *DB) Dialect() string { return d.dialect.Name() }

// Start starts the sequencer where the backend needs one. It returns at once;
// Close stops it.
func (d *DB) Start(ctx context.Context) {
	if !d.dialect.Sequenced() || d.stop != nil {
		return
	}
	ctx, d.stop = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		d.runSequencer(ctx)
	}()
}

// Close stops the sequencer and closes the pools.
func (d *DB) Close() error {
	d.stopOnce.Do(func() {
		if d.stop != nil {
			d.stop()
			<-d.done
		}
	})
	err := d.write.Close()
	if d.read != d.write {
		err = errors.Join(err, d.read.Close())
	}
	return err
}

// Ping reports whether the database is reachable.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.write.PingContext(ctx); err != nil {
		return d.classify(fmt.Errorf("db: ping: %w", err))
	}
	return nil
}

// classify maps driver errors through the dialect and turns context and
// connection failures into unavailable errors.
func (d *DB) classify(err error) error {
	if err == nil {
		return nil
	}
	err = d.dialect.Classify(err)
	var te *trialgate.Error
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, sql.ErrConnDone) {
		return trialgate.Wrap(err, trialgate.EUnavailable, "the database is unavailable")
	}
	return err
}

// Stats are counters for metrics.
type Stats struct {
	Appended int64         // audit entries committed
	Chained  int64         // audit entries chained
	Batches  int64         // sequencer batches committed
	Leader   bool          // this process leads the sequencer
	LastLag  time.Duration // event-to-chained time of the oldest entry in the last batch
}

// Stats returns the counters.
func (d *DB) Stats() Stats {
	return Stats{
		Appended: d.stats.appended.Load(),
		Chained:  d.stats.chained.Load(),
		Batches:  d.stats.batches.Load(),
		Leader:   d.stats.leader.Load(),
		LastLag:  time.Duration(d.stats.lastLagUS.Load()) * time.Microsecond,
	}
}

// Reader reads inside a read-only transaction. It has no Exec: reads cannot
// change data (and the transaction is read-only in the database too).
type Reader struct {
	tx *sql.Tx
}

// Query runs a query.
func (r *Reader) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.tx.QueryContext(ctx, query, args...)
}

// QueryRow runs a query that returns at most one row.
func (r *Reader) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return r.tx.QueryRowContext(ctx, query, args...)
}

// Read runs fn in a read-only transaction that sees one snapshot.
func (d *DB) Read(ctx context.Context, fn func(*Reader) error) error {
	tx, err := d.read.BeginTx(ctx, d.dialect.SnapshotOptions())
	if err != nil {
		return d.classify(fmt.Errorf("db: begin read: %w", err))
	}
	defer tx.Rollback()
	if err := fn(&Reader{tx: tx}); err != nil {
		return d.classify(err)
	}
	return d.classify(tx.Commit())
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
