// Package pgtest gives tests a fresh PostgreSQL database each.
//
// The server comes from TRIALGATE_TEST_DATABASE_URL (scripts/test.sh sets it;
// default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). A
// test that cannot reach it is skipped, except with CI=true, where it fails:
// in CI a missing PostgreSQL is an error, never a skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// ServerURL returns the URL of the test server's maintenance database.
func ServerURL() string {
	if u := os.Getenv("TRIALGATE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database for t, drops it when t ends, and
// returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", ServerURL())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("pgtest: PostgreSQL not reachable (set TRIALGATE_TEST_DATABASE_URL or run scripts/test.sh): %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "tg_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open returns a raw connection pool to url, closed when t ends, for tests
// that must act on the database behind the gateway's back.
func Open(t testing.TB, url string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
