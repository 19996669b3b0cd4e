package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate/api"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/audit/trail"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/catalog"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/sqlite"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/ingest"
	"github.com/trialgate/trialgate/lock"
	"github.com/trialgate/trialgate/reads"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/storage/fs"
	"github.com/trialgate/trialgate/trial"
)

// testPassword is the password of every account the harness creates; it
// contains none of their usernames.
const testPassword = "correct horse battery staple"

// gateway is a real server over SQLite in a temporary directory.
type gateway struct {
	url    string
	db     *db.DB
	auth   *auth.Service
	trials *trial.Service
	server *api.Server
	// bodies holds every response body, for scans of what left the server.
	bodies [][]byte
}

// newServer wires the API over d and store as cmd/gateway does; options
// adjust the ingest pipeline's configuration.
func newServer(t testing.TB, d *db.DB, store storage.Store, a *auth.Service, log *slog.Logger, options ...func(*ingest.Config)) (*api.Server, *trial.Service) {
	t.Helper()
	trials := trial.NewService(d, a, nil)
	cfg := ingest.Config{DB: d, Store: store, Trials: trials,
		Secret: bytes.Repeat([]byte{7}, 32), TempDir: t.TempDir(), Logger: log}
	for _, o := range options {
		o(&cfg)
	}
	pipeline, err := ingest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Config{DB: d, Store: store, Auth: a, Trials: trials, Ingest: pipeline,
		Catalog: catalog.New(d, store, dicom.Limits{}), Reads: reads.NewService(d, trials, a, nil), Audit: trail.New(d),
		Locks: lock.New(lock.Config{DB: d, Accounts: a, Trials: trials, Logger: log}), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return s, trials
}

// newGateway starts the API over a fresh, migrated SQLite database and a
// file store, with argon2 parameters cheap enough for many logins.
// options adjust the ingest pipeline's configuration.
func newGateway(t testing.TB, options ...func(*ingest.Config)) *gateway {
	return newGuardedGateway(t, nil, options...)
}

// newGuardedGateway is newGateway with guards vetting every change.
func newGuardedGateway(t testing.TB, guards []db.Guard, options ...func(*ingest.Config)) *gateway {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	d, err := sqlite.Open(ctx, filepath.Join(dir, "gateway.db"), db.Options{Logger: log,
		Guards: append([]db.Guard{lock.Guard{}}, guards...), Witnesses: []db.Witness{lock.Guard{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d.Start(ctx)
	store, err := fs.New(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(d, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	s, trials := newServer(t, d, store, a, log, options...)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &gateway{url: srv.URL, db: d, auth: a, trials: trials, server: s}
}

// addUser creates an account with testPassword directly through auth, as
// the command line would, and returns its id.
func (g *gateway) addUser(t testing.TB, username string, grants ...auth.Grant) string {
	t.Helper()
	u, err := g.auth.CreateUser(context.Background(), audit.System("test"),
		auth.NewUser{Username: username, FullName: "Test " + username, Password: testPassword, Grants: grants})
	if err != nil {
		t.Fatalf("create %s: %v", username, err)
	}
	return u.ID
}

// login returns a fresh session token for username.
func (g *gateway) login(t testing.TB, username string) string {
	t.Helper()
	r := g.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": testPassword})
	if r.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", username, r.status, r.body)
	}
	var out struct{ Token string }
	r.decode(t, &out)
	return out.Token
}

// response is what a request returned.
type response struct {
	status int
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorMessage is the message of a JSON error response.
func (r response) errorMessage() string {
	var e struct{ Error struct{ Message string } }
	json.Unmarshal(r.body, &e)
	return e.Error.Message
}

// do sends a request with an optional bearer token and JSON body (nil for
// none; a string is sent as is).
func (g *gateway) do(t testing.TB, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, g.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	g.bodies = append(g.bodies, b)
	return response{status: resp.StatusCode, body: b}
}

// trailEntry is a chained audit record with its entry decoded.
type trailEntry struct {
	raw   []byte
	entry *audit.Entry
}

// trail returns every chained audit entry, once everything committed so far
// is chained.
func (g *gateway) trail(t testing.TB) []trailEntry {
	t.Helper()
	ctx := context.Background()
	if err := g.db.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	var out []trailEntry
	err := g.db.AuditRecords(ctx, audit.Filter{}, func(r *audit.Record) error {
		e, err := audit.Decode(r.Entry)
		if err != nil {
			return err
		}
		out = append(out, trailEntry{raw: bytes.Clone(r.Entry), entry: e})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
