package auth_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
)

// cheap argon2 parameters keep tests fast; production uses the defaults.
var cheap = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// password is every test account's password: it passes the policy and
// contains none of the test usernames.
const password = "Tr1al-gate passphrase!"

// admin is who creates the test accounts.
var admin = audit.System("authtest")

// fakeClock is the injected clock, shared by the database (audit times)
// and the service (expiry, lockout).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one backend under test.
type env struct {
	backend string
	db      *db.DB
	raw     *sql.DB // the same database behind the gateway's back
	clock   *fakeClock
	cfg     auth.Config
	svc     *auth.Service
}

type opener func(t *testing.T, clock func() time.Time) (*db.DB, *sql.DB)

// The backends, opened as every package's tests open them.
var (
	openSQLite   opener = func(t *testing.T, clock func() time.Time) (*db.DB, *sql.DB) { return dbtest.OpenSQLite(t, clock) }
	openPostgres opener = func(t *testing.T, clock func() time.Time) (*db.DB, *sql.DB) { return dbtest.OpenPostgres(t, clock) }
)

// backends runs fn on a fresh database of each backend. tune, if not nil,
// adjusts the service configuration.
func backends(t *testing.T, fn func(t *testing.T, e *env)) {
	backendsWith(t, nil, fn)
}

func backendsWith(t *testing.T, tune func(*auth.Config), fn func(t *testing.T, e *env)) {
	for _, b := range []struct {
		name string
		open opener
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
			d, raw := b.open(t, clock.Now)
			cfg := auth.DefaultConfig()
			cfg.Argon2 = cheap
			cfg.Clock = clock.Now
			if tune != nil {
				tune(&cfg)
			}
			fn(t, &env{backend: b.name, db: d, raw: raw, clock: clock, cfg: cfg, svc: auth.New(d, cfg)})
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// create makes an account with the test password.
func (e *env) create(t *testing.T, username string, grants ...auth.Grant) auth.User {
	t.Helper()
	u, err := e.svc.CreateUser(ctxT(t), admin, auth.NewUser{Username: username,
		FullName: "Test " + strings.ToUpper(username[:1]) + username[1:], Password: password, Grants: grants})
	if err != nil {
		t.Fatalf("create %s: %v", username, err)
	}
	return u
}

// login logs username in with the test password and authenticates the token.
func (e *env) login(t *testing.T, username string, c auth.Client) (auth.Session, *auth.Principal) {
	t.Helper()
	ctx := ctxT(t)
	s, err := e.svc.Login(ctx, username, password, c)
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	p, err := e.svc.Authenticate(ctx, string(s.Token), c)
	if err != nil {
		t.Fatalf("authenticate %s: %v", username, err)
	}
	return s, p
}

// record is a chained audit entry with its canonical bytes.
type record struct {
	*audit.Entry
	canonical []byte
}

// trail returns every chained entry of every chain, after verifying the
// trail, in chain and seq order.
func (e *env) trail(t *testing.T) []record {
	t.Helper()
	ctx := ctxT(t)
	if err := e.db.WaitChained(ctx); err != nil {
		t.Fatalf("wait chained: %v", err)
	}
	rep, err := e.db.VerifyAudit(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("verify audit: %+v, %v", rep.FirstBad, err)
	}
	var out []record
	err = e.db.AuditRecords(ctx, audit.Filter{}, func(r *audit.Record) error {
		ent, err := audit.Decode(r.Entry)
		if err != nil {
			return err
		}
		out = append(out, record{Entry: ent, canonical: append([]byte(nil), r.Entry...)})
		return nil
	})
	if err != nil {
		t.Fatalf("audit records: %v", err)
	}
	return out
}

// system returns the system chain's entries with the given action.
func (e *env) system(t *testing.T, action audit.Action) []record {
	t.Helper()
	var out []record
	for _, r := range e.trail(t) {
		if r.Chain() == audit.SystemChain && r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// wantErr checks err's code and, if msg is not "", that its public message
// contains msg.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if got := trialgate.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	if msg != "" && !strings.Contains(trialgate.ErrorMessage(err), msg) {
		t.Fatalf("error message %q, want it to contain %q", trialgate.ErrorMessage(err), msg)
	}
}

// isCode reports whether err has the given code.
func isCode(err error, code string) bool {
	var te *trialgate.Error
	return errors.As(err, &te) && te.Code == code
}
