package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialgate/trialgate/db/postgres/pgtest"
)

// backends are the storage configurations every end-to-end test runs on.
var backends = []struct {
	name string
	args func(t *testing.T) []string
}{
	{"embedded", func(t *testing.T) []string { return []string{"--data-dir", t.TempDir()} }},
	{"postgres+minio", func(t *testing.T) []string {
		return append([]string{"--data-dir", t.TempDir(), "--database-url", pgtest.NewDatabase(t)}, s3Args(t)...)
	}},
}

// s3Args points the gateway at the test MinIO (scripts/test.sh starts one).
func s3Args(t *testing.T) []string {
	t.Helper()
	ep, ak, sk := os.Getenv("TRIALGATE_TEST_S3_ENDPOINT"), os.Getenv("TRIALGATE_TEST_S3_ACCESS_KEY"), os.Getenv("TRIALGATE_TEST_S3_SECRET_KEY")
	if ep == "" || ak == "" || sk == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MinIO is required in CI: TRIALGATE_TEST_S3_* are not set (run scripts/test.sh)")
		}
		t.Skip("no MinIO: TRIALGATE_TEST_S3_* not set (run scripts/test.sh)")
	}
	bucket := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	return []string{"--s3-endpoint", ep, "--s3-bucket", bucket, "--s3-access-key", ak, "--s3-secret-key", sk}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// gateway runs CLI commands and serves, in-process, on one set of backends.
type gateway struct {
	t    *testing.T
	args []string // backend flags
	base string   // http://addr once serving
	logs syncBuffer
}

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func noEnv(string) string { return "" }

// cli runs a gateway command in-process and returns its stdout.
func (g *gateway) cli(stdin string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := run(ctx, append(args, g.args...), noEnv, strings.NewReader(stdin), &out, &errb)
	if err != nil {
		return out.String(), fmt.Errorf("%w (stderr: %s)", err, errb.String())
	}
	return out.String(), nil
}

const testPassword = "a long enough passphrase"

func (g *gateway) addUser(username string, roles ...string) {
	g.t.Helper()
	args := []string{"user", "add", "--username", username, "--full-name", "Test " + username, "--password-stdin"}
	for _, r := range roles {
		args = append(args, "--role", r)
	}
	if _, err := g.cli(testPassword+"\n", args...); err != nil {
		g.t.Fatalf("user add %s: %v", username, err)
	}
}

// serve starts the gateway in-process and waits for /healthz. It stops,
// and checks the graceful shutdown, when the test ends.
func (g *gateway) serve() {
	g.t.Helper()
	addr := freeAddr(g.t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", addr, "--log-level", "debug"}, g.args...), noEnv,
			strings.NewReader(""), io.Discard, &g.logs)
	}()
	g.base = "http://" + addr
	g.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				g.t.Errorf("serve: %v", err)
			}
		case <-time.After(40 * time.Second):
			g.t.Error("serve did not shut down")
		}
	})
	waitHealthy(g.t, g.base, done)
}

func waitHealthy(t *testing.T, base string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("gateway exited: %v", err)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("gateway not healthy after 30s")
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorCode returns the code of a JSON error body.
func (r response) errorCode() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func do(t *testing.T, method, url, token, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
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
	return response{resp.StatusCode, resp.Header, b}
}

func login(t *testing.T, base, username, password string) response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": username, "password": password})
	return do(t, "POST", base+"/api/v1/auth/login", "", "application/json", bytes.NewReader(b))
}

func token(t *testing.T, base, username string) string {
	t.Helper()
	r := login(t, base, username, testPassword)
	if r.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", username, r.status, r.body)
	}
	var out struct{ Token string }
	r.json(t, &out)
	return out.Token
}

// entry is the part of a JSON Lines record the tests look at.
type entry struct {
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	Entry struct {
		Action  string            `json:"action"`
		Outcome string            `json:"outcome"`
		IP      string            `json:"ip"`
		Actor   map[string]string `json:"actor"`
		Object  map[string]string `json:"object"`
	} `json:"entry"`
}

func queryTrail(t *testing.T, base, token, query string) []entry {
	t.Helper()
	r := do(t, "GET", base+"/api/v1/audit?format=jsonl&"+query, token, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("audit query: %d %s", r.status, r.body)
	}
	var out []entry
	for _, line := range bytes.Split(bytes.TrimSpace(r.body), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("line %s: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func count(es []entry, action, outcome string) int {
	n := 0
	for _, e := range es {
		if e.Entry.Action == action && (outcome == "" || e.Entry.Outcome == outcome) {
			n++
		}
	}
	return n
}

func TestEndToEnd(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			g := &gateway{t: t, args: b.args(t)}
			g.addUser("ada", "admin")
			g.addUser("ivy", "inspector:*")
			g.addUser("tom", "inspector:T1")
			for _, id := range []string{"T1", "T2"} {
				if _, err := g.cli("", "trial", "create", "--file", writeDefinition(t, id)); err != nil {
					t.Fatal(err)
				}
			}
			g.serve()
			testPlatform(t, g)
			t.Run("ingest", func(t *testing.T) { testIngest(t, g) })
			if b.name == "embedded" {
				testNoHashesInLogs(t, g)
			}
		})
	}
}

func testPlatform(t *testing.T, g *gateway) {
	base := g.base
	if r := do(t, "GET", base+"/readyz", "", "", nil); r.status != http.StatusOK {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/api/v1/openapi.json", "", "", nil); r.status != http.StatusOK || !json.Valid(r.body) {
		t.Fatalf("openapi: %d", r.status)
	}
	ada := token(t, base, "ada")
	ivy := token(t, base, "ivy")
	tom := token(t, base, "tom")

	var me struct {
		Username string
		Grants   []map[string]string
	}
	do(t, "GET", base+"/api/v1/me", ivy, "", nil).json(t, &me)
	if me.Username != "ivy" || len(me.Grants) != 1 || me.Grants[0]["trial"] != "*" {
		t.Fatalf("me = %+v", me)
	}

	t.Run("bad input", func(t *testing.T) {
		big := `{"username":"` + strings.Repeat("x", 2<<20) + `","password":"p"}`
		cases := []struct {
			name, method, path, token, ctype, body string
			status                                 int
			code                                   string
		}{
			{"malformed JSON", "POST", "/api/v1/auth/login", "", "application/json", `{"username": "ada",`, 400, "invalid"},
			{"syntax error", "POST", "/api/v1/auth/login", "", "application/json", `{"username" "ada"}`, 400, "invalid"},
			{"unknown field", "POST", "/api/v1/auth/login", "", "application/json", `{"username":"ada","password":"x","admin":true}`, 400, "invalid"},
			{"wrong type", "POST", "/api/v1/auth/login", "", "application/json", `{"username":42,"password":"x"}`, 400, "invalid"},
			{"two objects", "POST", "/api/v1/auth/login", "", "application/json", `{"username":"a","password":"b"}{}`, 400, "invalid"},
			{"empty body", "POST", "/api/v1/auth/login", "", "application/json", ``, 400, "invalid"},
			{"missing fields", "POST", "/api/v1/auth/login", "", "application/json", `{}`, 400, "invalid"},
			{"wrong content type", "POST", "/api/v1/auth/login", "", "text/plain", `{"username":"a","password":"b"}`, 415, "unsupported_media_type"},
			{"no content type", "POST", "/api/v1/auth/login", "", "", `{"username":"a","password":"b"}`, 415, "unsupported_media_type"},
			{"oversized", "POST", "/api/v1/auth/login", "", "application/json", big, 413, "too_large"},
			{"wrong password", "POST", "/api/v1/auth/login", "", "application/json", `{"username":"tom","password":"not the password"}`, 401, "unauthorized"},
			{"no token", "GET", "/api/v1/me", "", "", "", 401, "unauthorized"},
			{"bad token", "GET", "/api/v1/me", "bogus", "", "", 401, "unauthorized"},
			{"unknown route", "GET", "/api/v1/nothing", "", "", "", 404, "not_found"},
			{"wrong method", "DELETE", "/api/v1/me", "", "", "", 405, "method_not_allowed"},
			{"unknown audit param", "GET", "/api/v1/audit?color=red", ivy, "", "", 400, "invalid"},
			{"bad audit time", "GET", "/api/v1/audit?from=yesterday", ivy, "", "", 400, "invalid"},
			{"bad audit format", "GET", "/api/v1/audit?format=xml", ivy, "", "", 400, "invalid"},
			{"unknown audit action", "GET", "/api/v1/audit?action=nope.nope", ivy, "", "", 400, "invalid"},
			{"other trial's trail", "GET", "/api/v1/audit?trial=T2", tom, "", "", 403, "forbidden"},
			{"system chain without *", "GET", "/api/v1/audit?trial=system", tom, "", "", 403, "forbidden"},
			{"admin reading a trial", "GET", "/api/v1/audit?trial=T1", ada, "", "", 403, "forbidden"},
			{"a trial that does not exist", "GET", "/api/v1/audit?trial=T9", tom, "", "", 404, "not_found"},
			{"a malformed trial id", "GET", "/api/v1/audit?trial=..", tom, "", "", 400, "invalid"},
		}
		for _, tc := range cases {
			r := do(t, tc.method, base+tc.path, tc.token, tc.ctype, strings.NewReader(tc.body))
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
			}
			if r.header.Get("X-Request-ID") == "" {
				t.Errorf("%s: no X-Request-ID", tc.name)
			}
		}
	})

	t.Run("audit trail", func(t *testing.T) {
		sys := queryTrail(t, base, ivy, "trial=system")
		for _, want := range []string{"schema.migrated", "user.created"} {
			if count(sys, want, "success") == 0 {
				t.Errorf("no %s in the system chain", want)
			}
		}
		if n := count(sys, "auth.login", "success"); n < 3 {
			t.Errorf("successful logins recorded = %d, want >= 3", n)
		}
		if n := count(sys, "auth.login", "failed"); n < 1 {
			t.Errorf("failed logins recorded = %d", n)
		}
		if n := count(sys, "access.denied", "denied"); n < 2 {
			t.Errorf("denied accesses recorded = %d, want >= 2", n)
		}
		for _, e := range sys {
			if e.Entry.Action == "user.created" && e.Entry.Actor["id"] != "system:cli" {
				t.Errorf("user.created by %v, want system:cli", e.Entry.Actor)
			}
		}
		// The 403 for trial T2 went to T2's chain; tom's own trail query to T1's.
		t2 := queryTrail(t, base, ivy, "trial=T2")
		if count(t2, "access.denied", "denied") != 1 {
			t.Errorf("T2 chain: %+v", t2)
		}
		queryTrail(t, base, tom, "trial=T1")
		t1 := queryTrail(t, base, ivy, "trial=T1")
		if count(t1, "audit.queried", "success") != 2 {
			t.Errorf("T1 chain has %d audit.queried, want 2", count(t1, "audit.queried", "success"))
		}
		// Filters and formats.
		if es := queryTrail(t, base, ivy, "trial=system&action=auth.login&outcome=failed"); len(es) == 0 || count(es, "auth.login", "failed") != len(es) {
			t.Errorf("filtered: %+v", es)
		}
		if es := queryTrail(t, base, ivy, "trial=system&actor=tom&limit=1"); len(es) != 1 {
			t.Errorf("actor+limit: %d entries", len(es))
		}
		csv := do(t, "GET", base+"/api/v1/audit?trial=system&format=csv", ivy, "", nil)
		if csv.status != 200 || !strings.HasPrefix(string(csv.body), "chain,seq,time") || !strings.HasPrefix(csv.header.Get("Content-Type"), "text/csv") {
			t.Errorf("csv: %d %.200s", csv.status, csv.body)
		}
		var arr []json.RawMessage
		do(t, "GET", base+"/api/v1/audit?trial=system", ivy, "", nil).json(t, &arr)
		if len(arr) == 0 {
			t.Error("json: empty")
		}
		var rep struct {
			OK      bool
			Entries int
		}
		r := do(t, "GET", base+"/api/v1/audit/verify", ivy, "", nil)
		r.json(t, &rep)
		if r.status != 200 || !rep.OK || rep.Entries == 0 {
			t.Errorf("verify: %d %s", r.status, r.body)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		r := do(t, "GET", base+"/metrics", "", "", nil)
		for _, want := range []string{"trialgate_http_requests_total", "trialgate_audit_entries_appended_total", "go_goroutines"} {
			if !bytes.Contains(r.body, []byte(want)) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})

	t.Run("no secrets in logs", func(t *testing.T) {
		logs := g.logs.String()
		if !strings.Contains(logs, `"request_id"`) {
			t.Fatalf("no request logs captured:\n%.500s", logs)
		}
		for _, secret := range []string{testPassword, ada, ivy, tom, "not the password"} {
			if strings.Contains(logs, secret) {
				t.Errorf("a password or token appears in the logs")
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("log line is not JSON: %.200s", line)
			}
		}
	})

	t.Run("logout", func(t *testing.T) {
		tk := token(t, base, "tom")
		if r := do(t, "POST", base+"/api/v1/auth/logout", tk, "", nil); r.status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		if r := do(t, "GET", base+"/api/v1/me", tk, "", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("after logout: %d", r.status)
		}
	})
}

// testNoHashesInLogs checks that no stored password hash, nor its salt or
// key, reaches the logs.
func testNoHashesInLogs(t *testing.T, g *gateway) {
	raw := openSQLite(t, filepath.Join(g.args[1], "trialgate.db"))
	rows, err := raw.Query(`SELECT password_hash FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	logs := g.logs.String()
	n := 0
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		n++
		for _, part := range append([]string{h}, strings.Split(h, "$")[4:]...) {
			if len(part) >= 16 && strings.Contains(logs, part) {
				t.Errorf("a password hash (or its salt or key) appears in the logs")
			}
		}
	}
	if n == 0 {
		t.Fatal("no password hashes found to check")
	}
}
