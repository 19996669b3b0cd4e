// Package ingest is the upload pipeline (DESIGN.md section 5): submissions,
// and for every uploaded instance receive -> parse -> de-identify -> QC ->
// store -> record.
//
// Each part is spooled (in memory up to 1 MiB, else to a temporary file)
// while its SHA-256 is computed (the proof of receipt); the header is parsed up to Pixel Data; the
// trial's de-identification profile rewrites the header and the Pixel Data
// element is streamed through byte for byte into the object store under
// its content address. Only then does one transaction record the
// instance's rows and every audit entry about it, so a crash before the
// commit leaves nothing visible (an orphaned object at most, which no row
// references), and a retry of the same bytes is recognised by the
// original's SHA-256 and recorded as a duplicate without changing
// anything. Memory does not grow with instance size.
//
// Before anything is written, an instance must be well formed (validate.go):
// its SOP Class, SOP Instance, Study and Series Instance UIDs present and
// valid per PS3.5 section 9.1 as sent (so nothing malformed is ever
// remapped), the meta group's Transfer Syntax UID too, and an image SOP
// class must carry its pixels; a stub cut off before Pixel Data is refused
// and so never blocks the complete file sent after it. One original
// instance is stored once (conflict.go): its original SOP Instance UID, as
// a keyed HMAC under a gateway-wide key, is unique across every trial, so
// the same instance arriving for another subject, visit or trial is
// refused and audited as a site error (instance.conflict), and a part
// refused at commit by that index removes the objects it wrote when
// nothing can reference them.
package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/deid"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/trial"
)

// Definitions reads trial definitions (trial.Service).
type Definitions interface {
	// Approved returns the trial's newest approved version whose
	// signature verifies.
	Approved(ctx context.Context, id string) (trial.Version, error)
	// Load returns version n of a trial.
	Load(ctx context.Context, id string, n int) (trial.Version, error)
}

// Config holds the pipeline's dependencies.
type Config struct {
	DB    *db.DB
	Store storage.Store // de-identified objects
	// Originals is the restricted store for PHI originals of trials that
	// keep them (deid.Config.KeepOriginal); nil when none is configured,
	// and such trials then take no uploads.
	Originals storage.Store
	Trials    Definitions
	// Secret is the gateway's de-identification master secret; each
	// trial's key is derived from it (deid.TrialKey).
	Secret  []byte
	TempDir string // spool directory; "" means os.TempDir()
	Limits  dicom.Limits
	Clock   func() time.Time
	Logger  *slog.Logger
}

// Service runs the pipeline.
type Service struct {
	db        *db.DB
	store     storage.Store
	originals storage.Store
	trials    Definitions
	secret    []byte
	sopKey    []byte // originalSOPKey of secret
	tempDir   string
	limits    dicom.Limits
	clock     func() time.Time
	log       *slog.Logger

	mu       sync.Mutex
	profiles map[versionKey]*trialConfig

	buffers sync.Pool // of *[]byte, memorySpool long: parts spooled in memory
}

type versionKey struct {
	trial   string
	version int
}

// New returns the pipeline.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.DB == nil || cfg.Store == nil || cfg.Trials == nil:
		return nil, errors.New("ingest: DB, Store and Trials are required")
	case len(cfg.Secret) < 32:
		return nil, errors.New("ingest: the de-identification secret must be at least 32 bytes")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	return &Service{db: cfg.DB, store: cfg.Store, originals: cfg.Originals, trials: cfg.Trials, secret: cfg.Secret,
		sopKey: originalSOPKey(cfg.Secret), tempDir: cfg.TempDir, limits: cfg.Limits, clock: cfg.Clock, log: cfg.Logger,
		profiles: map[versionKey]*trialConfig{}, buffers: sync.Pool{New: newSpoolBuffer}}, nil
}

// originalSOPKey derives, from the de-identification master secret, the
// gateway-wide key of originalSOP: HMAC-SHA256(master,
// "trialgate/ingest/original-sop/v1"). Unlike the trial keys (deid.TrialKey)
// it is the same for every trial, which is what lets the database recognise
// one original instance sent for two trials; its domain string keeps it
// apart from every trial key.
func originalSOPKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("trialgate/ingest/original-sop/v1"))
	return m.Sum(nil)
}

// originalSOP returns the keyed HMAC of an original SOP Instance UID, in
// hex, as instances.original_sop_hmac stores it. It stays in the database:
// audit entries carry the trial's own pseudonym (deid.Profile.Pseudonym)
// instead, so that two trials' exported trails cannot be joined on it.
func (s *Service) originalSOP(uid string) string {
	m := hmac.New(sha256.New, s.sopKey)
	m.Write([]byte(uid))
	return hex.EncodeToString(m.Sum(nil))
}

// trialConfig is one approved trial version, compiled.
type trialConfig struct {
	id      string
	version int
	def     *trial.Definition
	profile *deid.Profile
}

// trialConfig returns the trial's newest approved version whose approval
// signature still verifies: uploads follow only definitions a data
// manager signed.
func (s *Service) trialConfig(ctx context.Context, id string) (*trialConfig, error) {
	v, err := s.trials.Approved(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.compile(v)
}

// trialVersion returns version n of a trial, compiled.
func (s *Service) trialVersion(ctx context.Context, id string, n int) (*trialConfig, error) {
	s.mu.Lock()
	tc := s.profiles[versionKey{id, n}]
	s.mu.Unlock()
	if tc != nil {
		return tc, nil
	}
	v, err := s.trials.Load(ctx, id, n)
	if err != nil {
		return nil, err
	}
	return s.compile(v)
}

// compile parses a stored version and builds its de-identification
// profile, once per version.
func (s *Service) compile(v trial.Version) (*trialConfig, error) {
	k := versionKey{v.Trial, v.Version}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tc := s.profiles[k]; tc != nil {
		return tc, nil
	}
	def, err := trial.ParseDefinition(v.Definition)
	if err != nil {
		return nil, fmt.Errorf("ingest: trial %s version %d: %w", v.Trial, v.Version, err)
	}
	p, err := deid.New(v.Trial, def.Deid, deid.TrialKey(s.secret, v.Trial))
	if err != nil {
		return nil, fmt.Errorf("ingest: trial %s version %d: de-identification profile: %w", v.Trial, v.Version, err)
	}
	tc := &trialConfig{id: v.Trial, version: v.Version, def: def, profile: p}
	s.profiles[k] = tc
	return tc, nil
}

// isNoRows reports a missing row.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
