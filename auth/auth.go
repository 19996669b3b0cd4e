package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"sync"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

// Config holds the settings of a Service. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// SessionTTL is the absolute lifetime of a session (default 8h).
	SessionTTL time.Duration
	// IdleTimeout ends a session unused this long (default 30m).
	IdleTimeout time.Duration
	// ActivityInterval is how often a session's last use is written at
	// most (default the smaller of 1m and IdleTimeout/10).
	ActivityInterval time.Duration
	// LockoutThreshold is the number of consecutive wrong passwords that
	// lock an account (default 5).
	LockoutThreshold int
	// LockoutDuration is how long a lock lasts (default 15m).
	LockoutDuration time.Duration
	// Argon2 are the parameters of new password hashes (default m=19456
	// KiB, t=2, p=1; tests use cheap ones). Stored hashes keep
	// their own parameters and are rehashed with these at the next
	// successful login.
	Argon2 Argon2Params
	// MaxConcurrentHashes bounds password hashes computed at once, each of
	// which takes Argon2.Memory KiB (default GOMAXPROCS).
	MaxConcurrentHashes int
	// Clock returns the current time (default time.Now). Tests inject one
	// to drive expiry and lockout.
	Clock func() time.Time
}

// DefaultConfig returns the recommended settings.
func DefaultConfig() Config {
	return Config{
		SessionTTL:       8 * time.Hour,
		IdleTimeout:      30 * time.Minute,
		ActivityInterval: time.Minute,
		LockoutThreshold: 5,
		LockoutDuration:  15 * time.Minute,
		Argon2:           defaultArgon2(),
	}
}

// withDefaults fills the zero (or nonsensical) fields of c.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SessionTTL <= 0 {
		c.SessionTTL = d.SessionTTL
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.ActivityInterval <= 0 {
		c.ActivityInterval = min(d.ActivityInterval, c.IdleTimeout/10)
	}
	// A coarser interval would let sessions expire long before they are idle.
	c.ActivityInterval = min(c.ActivityInterval, c.IdleTimeout/2)
	if c.LockoutThreshold <= 0 {
		c.LockoutThreshold = d.LockoutThreshold
	}
	if c.LockoutDuration <= 0 {
		c.LockoutDuration = d.LockoutDuration
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = d.Argon2
	}
	c.Argon2 = c.Argon2.clamped()
	if c.MaxConcurrentHashes <= 0 {
		c.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Service manages accounts, sessions and signatures. It is safe for
// concurrent use.
type Service struct {
	db  *db.DB
	cfg Config

	// hashing bounds concurrent argon2 computations: each takes
	// cfg.Argon2.Memory KiB, and a burst of logins must not exhaust memory.
	hashing chan struct{}

	// dummy is a hash of a random password with the current parameters,
	// verified when the username is unknown so that the answer takes as
	// long as for a real account.
	dummyOnce sync.Once
	dummy     string
}

// New returns a Service over d, which must be migrated.
func New(d *db.DB, cfg Config) *Service {
	cfg = cfg.withDefaults()
	return &Service{db: d, cfg: cfg, hashing: make(chan struct{}, cfg.MaxConcurrentHashes)}
}

// Config returns the settings in effect, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// now is the service clock, in UTC at the microsecond precision the
// database stores.
func (s *Service) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Microsecond) }

// Client describes where a request comes from; it is recorded in the audit
// trail with every action taken on the request's behalf.
type Client struct {
	IP        string
	UserAgent string
}

// newID returns prefix followed by 96 random bits in hex.
func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return prefix + hex.EncodeToString(b[:])
}

// withHashSlot runs fn while holding one of the concurrent-hash slots.
func (s *Service) withHashSlot(ctx context.Context, fn func()) error {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashing }()
	fn()
	// The hash's Memory KiB are garbage now. Collecting them before the
	// slot is free lets the next hash reuse those pages: otherwise a few
	// logins in a row grow the heap by a block each until the collector's
	// own pacing catches up, and the process's peak memory with it.
	runtime.GC()
	return nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// userObject is the audit object of an account.
func userObject(id string) audit.Object { return audit.Object{Type: "user", ID: id} }

// sessionObject is the audit object of a session.
func sessionObject(id string) audit.Object { return audit.Object{Type: "session", ID: id} }

// stamp formats t as audit times are formatted.
func stamp(t time.Time) string { return t.UTC().Format(audit.TimeFormat) }
