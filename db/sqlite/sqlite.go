// Package sqlite is TrialGate's embedded backend: one SQLite file (the pure
// Go modernc.org/sqlite driver), the migrations, and error translation. It
// is the only importer of the driver.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect implements db.Dialect for SQLite.
type Dialect struct{}

// Name implements db.Dialect.
func (Dialect) Name() string { return "sqlite" }

// Migrations implements db.Dialect.
func (Dialect) Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	return sub
}

// Sequenced implements db.Dialect: SQLite has one writer, so entries are
// chained inline in the business transaction.
func (Dialect) Sequenced() bool { return false }

// MigrationLockSQL implements db.Dialect: BEGIN IMMEDIATE already serialises.
func (Dialect) MigrationLockSQL() string { return "" }

// TryLead implements db.Dialect; there is no sequencer.
func (Dialect) TryLead(context.Context, *sql.Conn) (bool, error) { return false, nil }

// SnapshotOptions implements db.Dialect: a read transaction in WAL mode sees
// one snapshot.
func (Dialect) SnapshotOptions() *sql.TxOptions { return nil }

// Classify implements db.Dialect.
func (Dialect) Classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", db.ErrDuplicate, err)
	case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		// Only the guard triggers of protected tables RAISE.
		return fmt.Errorf("%w: %w", db.ErrImmutable, err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
		return trialgate.Wrap(err, trialgate.EUnavailable, "the database is unavailable")
	}
	return err
}

// uriPath escapes what a file path may hold that a SQLite URI reads as
// syntax (sqlite.org/uri.html).
var uriPath = strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")

// Open opens (creating if needed) the database file at path and returns it,
// not yet migrated. Writes go through one connection; reads use a pool of
// read-only connections.
func Open(ctx context.Context, path string, o db.Options) (*db.DB, error) {
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		// FULL: a committed audit entry survives power loss.
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "foreign_keys(1)")
		for _, e := range extra {
			q.Add("_pragma", e)
		}
		// The path is a URI path here: a "?" or "#" in a folder name
		// would otherwise end it, and the database open somewhere else.
		return "file:" + uriPath.Replace(path) + "?" + q.Encode()
	}
	write, err := sql.Open("sqlite", dsn()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	read.SetMaxOpenConns(4)
	d := db.New(write, read, Dialect{}, o)
	if err := d.Ping(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return d, nil
}
