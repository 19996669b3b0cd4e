package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/deid"
	"github.com/trialgate/trialgate/ingest"
	"github.com/trialgate/trialgate/storage"
	storagefs "github.com/trialgate/trialgate/storage/fs"
	"github.com/trialgate/trialgate/storage/s3"
	"github.com/trialgate/trialgate/trial"
)

// ingestFlags configure the upload pipeline.
type ingestFlags struct {
	secretFile      string
	tempDir         string
	originalsDir    string
	originalsBucket string
}

func (f *ingestFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.secretFile, "deid-secret-file", "", "file holding the de-identification master secret (created if missing); default: deid.secret in the data directory")
	fs.StringVar(&f.tempDir, "temp-dir", "", "spool directory for uploads; default: tmp in the data directory")
	fs.StringVar(&f.originalsDir, "originals-dir", "", "restricted folder for PHI originals of trials with deid.keep_original (none by default)")
	fs.StringVar(&f.originalsBucket, "s3-originals-bucket", "", "restricted S3 bucket (same endpoint) for PHI originals of trials with deid.keep_original")
}

// open builds the pipeline over the opened backends.
func (f *ingestFlags) open(ctx context.Context, d *db.DB, store storage.Store, b *backendFlags, trials *trial.Service, log *slog.Logger) (*ingest.Service, error) {
	secretFile := f.secretFile
	if secretFile == "" {
		secretFile = filepath.Join(b.dataDir, "deid.secret")
	}
	secret, err := loadSecret(secretFile, true)
	if err != nil {
		return nil, err
	}
	tmp := f.tempDir
	if tmp == "" {
		tmp = filepath.Join(b.dataDir, "tmp")
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("temp directory: %w", err)
	}
	// Parts spooled by a process that died are of no use to anyone.
	if stale, _ := filepath.Glob(filepath.Join(tmp, "part-*")); len(stale) > 0 {
		for _, p := range stale {
			os.Remove(p)
		}
	}
	var originals storage.Store
	switch {
	case f.originalsDir != "" && f.originalsBucket != "":
		return nil, exitError{code: 2, msg: "--originals-dir and --s3-originals-bucket are exclusive"}
	case f.originalsDir != "":
		if originals, err = storagefs.New(f.originalsDir); err != nil {
			return nil, err
		}
	case f.originalsBucket != "":
		if b.s3.Endpoint == "" {
			return nil, exitError{code: 2, msg: "--s3-originals-bucket needs --s3-endpoint"}
		}
		cfg := b.s3
		cfg.Bucket = f.originalsBucket
		// Locks retain the de-identified objects; the originals' escrow
		// bucket keeps its own policy.
		cfg.Retention = s3.RetentionOff
		if originals, err = s3.New(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return ingest.New(ingest.Config{DB: d, Store: store, Originals: originals, Trials: trials,
		Secret: secret, TempDir: tmp, Logger: log})
}

// loadSecret reads a master secret file (serve's --deid-secret-file, deid's
// --secret-file): 64 or more hex digits, or at least deid.MinKeyLen raw
// bytes. With create, a missing file is created with 32
// random bytes, readable by the owner only.
func loadSecret(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		var k [32]byte
		rand.Read(k[:])
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(k[:])+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		return k[:], nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) >= 32 {
		return k, nil
	}
	if len(b) < deid.MinKeyLen {
		return nil, fmt.Errorf("secret file %s: want at least 32 bytes (or 64 hex digits)", path)
	}
	return b, nil
}
