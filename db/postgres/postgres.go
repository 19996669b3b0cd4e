// Package postgres is TrialGate's PostgreSQL backend: it opens the pool
// (pgx), provides the migrations and translates PostgreSQL's errors. It is
// the only importer of pgx.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

// rolesSQL creates an application role that cannot change the audit trail.
//
//go:embed roles.sql
var rolesSQL string

// RolesSQL returns the SQL that creates the application role trialgate_app
// without UPDATE, DELETE or TRUNCATE on the audit tables (roles.sql).
func RolesSQL() string { return rolesSQL }

// Advisory lock keys ("TGsq", "TGmg"): one sequencer leader, one migrator.
const (
	sequencerLock = 0x54477371
	migrationLock = 0x54476d67
)

// Dialect implements db.Dialect for PostgreSQL.
type Dialect struct{}

// Name implements db.Dialect.
func (Dialect) Name() string { return "postgres" }

// Migrations implements db.Dialect.
func (Dialect) Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	return sub
}

// Sequenced implements db.Dialect: entries go through the queue.
func (Dialect) Sequenced() bool { return true }

// MigrationLockSQL implements db.Dialect.
func (Dialect) MigrationLockSQL() string {
	return fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock)
}

// TryLead implements db.Dialect with a session-level advisory lock.
func (Dialect) TryLead(ctx context.Context, conn *sql.Conn) (bool, error) {
	var ok bool
	err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, sequencerLock).Scan(&ok)
	return ok, err
}

// SnapshotOptions implements db.Dialect.
func (Dialect) SnapshotOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

// Classify implements db.Dialect.
func (Dialect) Classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%w: %w", db.ErrDuplicate, err)
		case pe.Code == "TGA01":
			return fmt.Errorf("%w: %w", db.ErrUnaudited, err)
		case pe.Code == "TGA02":
			return fmt.Errorf("%w: %w", db.ErrImmutable, err)
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot connect now
			pe.Code == "53300", // too many connections
			pe.Code == "53100": // disk full
			return trialgate.Wrap(err, trialgate.EUnavailable, "the database is unavailable")
		}
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) {
		return trialgate.Wrap(err, trialgate.EUnavailable, "the database is unavailable")
	}
	return err
}

// Open connects to the database at url (a postgres:// URL) with at most
// maxConns connections (0: 50) and returns it, not yet migrated.
func Open(ctx context.Context, url string, maxConns int, o db.Options) (*db.DB, error) {
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if maxConns <= 0 {
		maxConns = 50
	}
	pool.SetMaxOpenConns(maxConns)
	pool.SetMaxIdleConns(maxConns)
	d := db.New(pool, pool, Dialect{}, o)
	if err := d.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return d, nil
}
