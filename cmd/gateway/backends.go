package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
	"github.com/trialgate/trialgate/db/sqlite"
	"github.com/trialgate/trialgate/lock"
	"github.com/trialgate/trialgate/storage"
	fsstore "github.com/trialgate/trialgate/storage/fs"
	"github.com/trialgate/trialgate/storage/s3"
)

// backendFlags locate the database and the object store. With neither a
// database URL nor an S3 endpoint, both live in the data directory.
type backendFlags struct {
	dataDir       string
	databaseURL   string
	s3            s3.Config
	retentionDays int
}

func (b *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.dataDir, "data-dir", "./gateway-data", "directory for the embedded database and object folder")
	fs.StringVar(&b.databaseURL, "database-url", "", "PostgreSQL URL (postgres://...); default: SQLite in the data directory")
	fs.StringVar(&b.s3.Endpoint, "s3-endpoint", "", "S3 endpoint host:port; default: objects in the data directory")
	fs.StringVar(&b.s3.Bucket, "s3-bucket", "", "S3 bucket (created if missing)")
	fs.StringVar(&b.s3.AccessKey, "s3-access-key", "", "S3 access key")
	fs.StringVar(&b.s3.SecretKey, "s3-secret-key", "", "S3 secret key (prefer GATEWAY_S3_SECRET_KEY: flags show in ps)")
	fs.BoolVar(&b.s3.TLS, "s3-tls", false, "use HTTPS for S3")
	fs.StringVar(&b.s3.Retention, "s3-retention", s3.RetentionGovernance,
		"S3 Object Lock mode for locked data: governance (a lock's release lifts it), compliance (nobody can, until it expires) or off; needs a bucket with object locking unless off")
	fs.IntVar(&b.retentionDays, "s3-retention-days", int(s3.DefaultRetainFor/(24*time.Hour)), "how long S3 retention of locked data lasts, in days")
}

func (b *backendFlags) validate() error {
	if b.s3.Endpoint != "" && (b.s3.Bucket == "" || b.s3.AccessKey == "" || b.s3.SecretKey == "") {
		return exitError{code: 2, msg: "--s3-endpoint needs --s3-bucket, --s3-access-key and --s3-secret-key"}
	}
	if b.s3.Endpoint == "" && b.s3.Bucket != "" {
		return exitError{code: 2, msg: "--s3-bucket needs --s3-endpoint"}
	}
	switch b.s3.Retention {
	case s3.RetentionGovernance, s3.RetentionCompliance, s3.RetentionOff:
	default:
		return exitError{code: 2, msg: fmt.Sprintf("--s3-retention %q: want governance, compliance or off", b.s3.Retention)}
	}
	if b.retentionDays < 1 {
		return exitError{code: 2, msg: fmt.Sprintf("--s3-retention-days %d: want at least 1", b.retentionDays)}
	}
	b.s3.RetainFor = time.Duration(b.retentionDays) * 24 * time.Hour
	return nil
}

// sqliteFile is the embedded database's file in the data directory.
const sqliteFile = "trialgate.db"

// storeUse says what a command may do with the store it is pointed at.
type storeUse int

const (
	// existingStore: the store must exist. Commands that only read it
	// (audit verify, audit export), or change what only an existing store
	// holds (user grant ...), refuse an empty place rather than make it a
	// store: pointed at the wrong folder, they would otherwise answer from
	// a new, empty trail.
	existingStore storeUse = iota
	// createStore: a missing store is created, and the command says where
	// (migrate, serve, user add, trial create).
	createStore
)

// where names the store the flags point at, for messages: the absolute
// data directory, or the database URL without its password.
func (b *backendFlags) where() string {
	if b.databaseURL != "" {
		return "database " + redactURL(b.databaseURL)
	}
	if abs, err := filepath.Abs(b.dataDir); err == nil {
		return abs
	}
	return b.dataDir
}

// redactURL returns a database URL with its password, if any, masked.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// errNoStore is the refusal of a command that needs an existing store.
func (b *backendFlags) errNoStore(what string) error {
	how := "pass --data-dir (or GATEWAY_DATA_DIR)"
	if b.databaseURL != "" {
		how = "pass --database-url (or GATEWAY_DATABASE_URL)"
	}
	return exitError{code: 1, msg: fmt.Sprintf(
		"no TrialGate store in %s (%s): run `gateway serve` or `gateway migrate` there first, or %s to name an existing store",
		b.where(), what, how)}
}

// openDB opens and migrates the database, with the data lock guarding
// every change and witnessing every read, whichever command opens it, and
// extra guards after it; use says whether a missing store may be created.
// created reports that it was (the caller says so). The caller starts and
// closes the DB.
func (b *backendFlags) openDB(ctx context.Context, log *slog.Logger, use storeUse, guards ...db.Guard) (d *db.DB, created bool, err error) {
	if err := b.validate(); err != nil {
		return nil, false, err
	}
	opts := db.Options{Logger: log, Guards: append([]db.Guard{lock.Guard{}}, guards...), Witnesses: []db.Witness{lock.Guard{}}}
	if b.databaseURL != "" {
		if d, err = postgres.Open(ctx, b.databaseURL, 0, opts); err != nil {
			return nil, false, err
		}
	} else {
		if b.dataDir == "" {
			return nil, false, exitError{code: 2, msg: "--data-dir is empty"}
		}
		file := filepath.Join(b.dataDir, sqliteFile)
		switch _, err := os.Stat(file); {
		case errors.Is(err, fs.ErrNotExist) && use == existingStore:
			return nil, false, b.errNoStore("no " + sqliteFile)
		case errors.Is(err, fs.ErrNotExist):
			created = true
		case err != nil:
			return nil, false, fmt.Errorf("data directory: %w", err)
		}
		if err := os.MkdirAll(b.dataDir, 0o700); err != nil {
			return nil, false, fmt.Errorf("data directory: %w", err)
		}
		if d, err = sqlite.Open(ctx, file, opts); err != nil {
			return nil, false, err
		}
	}
	ok, err := d.Initialized(ctx)
	if err != nil {
		d.Close()
		return nil, false, err
	}
	switch {
	case !ok && use == existingStore:
		d.Close()
		return nil, false, b.errNoStore("no TrialGate schema")
	case !ok:
		created = true
	}
	if err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, false, err
	}
	return d, created, nil
}

// openStore opens the object store.
func (b *backendFlags) openStore(ctx context.Context) (storage.Store, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if b.s3.Endpoint != "" {
		return s3.New(ctx, b.s3)
	}
	if b.dataDir == "" {
		return nil, errors.New("--data-dir is empty")
	}
	return fsstore.New(filepath.Join(b.dataDir, "objects"))
}

// retainer is what gives locked data WORM retention at the store: the S3
// store unless its retention is off; the filesystem has none.
func (b *backendFlags) retainer(store storage.Store) lock.Retainer {
	r, ok := store.(*s3.Store)
	if !ok || b.s3.Retention == s3.RetentionOff {
		return nil
	}
	return r
}

// newLogger returns the JSON logger every command uses.
func newLogger(env *environment, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, exitError{code: 2, msg: fmt.Sprintf("--log-level: %v", err)}
	}
	return slog.New(slog.NewJSONHandler(env.stderr, &slog.HandlerOptions{Level: l})), nil
}
