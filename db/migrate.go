package db

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate/audit"
)

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

const (
	createMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_us bigint NOT NULL)`
	selectVersion   = `SELECT coalesce(max(version), 0) FROM schema_migrations`
	insertMigration = `INSERT INTO schema_migrations (version, name, applied_us) VALUES ($1, $2, $3)`
)

// Migrations parses a dialect's migration files (NNNN_name.sql).
func Migrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".sql")
		num, desc, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("db: migration file %q is not named NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: desc, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("db: migrations must be numbered 1, 2, 3...: found %d at position %d", m.Version, i+1)
		}
	}
	return ms, nil
}

// How each backend's catalogue says whether schema_migrations exists; a
// TrialGate database has it from its first migration on.
const (
	sqliteHasMigrations   = `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`
	postgresHasMigrations = `SELECT to_regclass('schema_migrations') IS NOT NULL`
	selectAnyMigration    = `SELECT EXISTS (SELECT 1 FROM schema_migrations)`
)

// Initialized reports whether the database holds a TrialGate schema: a
// migration was applied to it. Unlike Version and Migrate it creates
// nothing, so commands that only read can refuse an empty database rather
// than make it a store.
func (d *DB) Initialized(ctx context.Context) (bool, error) {
	has := sqliteHasMigrations
	if d.dialect.Name() == "postgres" {
		has = postgresHasMigrations
	}
	ok := false
	err := d.Read(ctx, func(r *Reader) error {
		if err := r.QueryRow(ctx, has).Scan(&ok); err != nil || !ok {
			return err
		}
		return r.QueryRow(ctx, selectAnyMigration).Scan(&ok)
	})
	if err != nil {
		return false, fmt.Errorf("db: look for a schema: %w", err)
	}
	return ok, nil
}

// Version returns the applied schema version and the newest this binary knows.
func (d *DB) Version(ctx context.Context) (applied, known int, err error) {
	ms, err := Migrations(d.dialect.Migrations())
	if err != nil {
		return 0, 0, err
	}
	if _, err := d.write.ExecContext(ctx, createMigrations); err != nil {
		return 0, 0, d.classify(fmt.Errorf("db: schema_migrations: %w", err))
	}
	if err := d.read.QueryRowContext(ctx, selectVersion).Scan(&applied); err != nil {
		return 0, 0, d.classify(fmt.Errorf("db: schema version: %w", err))
	}
	return applied, len(ms), nil
}

// Migrate applies pending migrations, each in its own audited transaction,
// and refuses to touch a database whose schema is newer than this binary's.
func (d *DB) Migrate(ctx context.Context) error {
	ms, err := Migrations(d.dialect.Migrations())
	if err != nil {
		return err
	}
	if _, err := d.write.ExecContext(ctx, createMigrations); err != nil {
		return d.classify(fmt.Errorf("db: create schema_migrations: %w", err))
	}
	for _, m := range ms {
		applied := false
		// No guards: a migration changes the schema, not regulated data,
		// and runs before the tables a guard reads exist.
		_, err := d.writeTx(ctx, audit.System("migrate"), System, nil, func(tx *Tx) error {
			if lock := d.dialect.MigrationLockSQL(); lock != "" {
				if _, err := tx.tx.ExecContext(ctx, lock); err != nil {
					return fmt.Errorf("lock: %w", err)
				}
			}
			var v int
			if err := tx.QueryRow(ctx, selectVersion).Scan(&v); err != nil {
				return fmt.Errorf("read version: %w", err)
			}
			if v > len(ms) {
				return fmt.Errorf("db: the database schema is at version %d, newer than this gateway knows (%d): upgrade the gateway", v, len(ms))
			}
			if v >= m.Version {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			if _, err := tx.Exec(ctx, insertMigration, m.Version, m.Name, micros(d.clock())); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			applied = true
			return tx.Audit(audit.Event{
				Action: audit.ActionSchemaMigrated,
				Object: audit.Object{Type: "schema", ID: strconv.Itoa(m.Version)},
				After:  map[string]any{"version": m.Version, "name": m.Name, "backend": d.dialect.Name()},
			})
		})
		if err != nil {
			return fmt.Errorf("db: migration %d (%s): %w", m.Version, m.Name, err)
		}
		if applied {
			d.log.Info("schema migrated", "version", m.Version, "name", m.Name)
		}
	}
	return nil
}
