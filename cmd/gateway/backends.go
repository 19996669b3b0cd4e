package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
	"github.com/trialgate/trialgate/db/sqlite"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/storage/fs"
	"github.com/trialgate/trialgate/storage/s3"
)

// backendFlags locate the database and the object store. With neither a
// database URL nor an S3 endpoint, both live in the data directory.
type backendFlags struct {
	dataDir     string
	databaseURL string
	s3          s3.Config
}

func (b *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.dataDir, "data-dir", "./gateway-data", "directory for the embedded database and object folder")
	fs.StringVar(&b.databaseURL, "database-url", "", "PostgreSQL URL (postgres://...); default: SQLite in the data directory")
	fs.StringVar(&b.s3.Endpoint, "s3-endpoint", "", "S3 endpoint host:port; default: objects in the data directory")
	fs.StringVar(&b.s3.Bucket, "s3-bucket", "", "S3 bucket (created if missing)")
	fs.StringVar(&b.s3.AccessKey, "s3-access-key", "", "S3 access key")
	fs.StringVar(&b.s3.SecretKey, "s3-secret-key", "", "S3 secret key (prefer GATEWAY_S3_SECRET_KEY: flags show in ps)")
	fs.BoolVar(&b.s3.TLS, "s3-tls", false, "use HTTPS for S3")
}

func (b *backendFlags) validate() error {
	if b.s3.Endpoint != "" && (b.s3.Bucket == "" || b.s3.AccessKey == "" || b.s3.SecretKey == "") {
		return exitError{code: 2, msg: "--s3-endpoint needs --s3-bucket, --s3-access-key and --s3-secret-key"}
	}
	if b.s3.Endpoint == "" && b.s3.Bucket != "" {
		return exitError{code: 2, msg: "--s3-bucket needs --s3-endpoint"}
	}
	return nil
}

// openDB opens and migrates the database, with guards vetting every
// change. The caller starts and closes it.
func (b *backendFlags) openDB(ctx context.Context, log *slog.Logger, guards ...db.Guard) (*db.DB, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	opts := db.Options{Logger: log, Guards: guards}
	var d *db.DB
	var err error
	if b.databaseURL != "" {
		d, err = postgres.Open(ctx, b.databaseURL, 0, opts)
	} else {
		if err := os.MkdirAll(b.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		d, err = sqlite.Open(ctx, filepath.Join(b.dataDir, "trialgate.db"), opts)
	}
	if err != nil {
		return nil, err
	}
	if err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
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
	return fs.New(filepath.Join(b.dataDir, "objects"))
}

// newLogger returns the JSON logger every command uses.
func newLogger(env *environment, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, exitError{code: 2, msg: fmt.Sprintf("--log-level: %v", err)}
	}
	return slog.New(slog.NewJSONHandler(env.stderr, &slog.HandlerOptions{Level: l})), nil
}
