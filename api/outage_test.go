package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
	"github.com/trialgate/trialgate/db/postgres/pgtest"
	"github.com/trialgate/trialgate/storage/fs"
)

// proxy forwards TCP connections to target until cut, so a test can take
// the database away from the gateway and give it back.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

// cut drops every connection and refuses new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// A database or object store outage gives 503 with Retry-After and a JSON
// error, and the gateway recovers when the dependency returns.
func TestOutagesGive503(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.ln.Addr().String()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	d, err := postgres.Open(ctx, u.String(), 4, db.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d.Start(ctx)
	objects := filepath.Join(t.TempDir(), "objects")
	store, err := fs.New(objects)
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(d, auth.DefaultConfig())
	if _, err := a.CreateUser(ctx, audit.System("test"), auth.NewUser{Username: "ada", FullName: "Ada",
		Password: "a long enough passphrase", Grants: []auth.Grant{{Role: auth.Admin}}}); err != nil {
		t.Fatal(err)
	}
	s, trials := newServer(t, d, store, a, log)
	srv := httptest.NewServer(s)
	defer srv.Close()

	get := func(path string) *http.Response {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	want503 := func(what string, resp *http.Response) {
		t.Helper()
		defer resp.Body.Close()
		var body struct {
			Error struct{ Code, Message string }
		}
		json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || body.Error.Code != "unavailable" {
			t.Errorf("%s: %d %q %+v, want 503 with Retry-After", what, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if r := get("/readyz"); r.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d", r.StatusCode)
	}

	px.cut()
	want503("readyz, database down", get("/readyz"))
	login := func() *http.Response {
		resp, err := http.Post(srv.URL+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"username":"ada","password":"a long enough passphrase"}`))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	want503("login, database down", login())
	px.restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := login()
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login after the database returned: %d", r.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// An upload while the database is down is refused (503) and leaves
	// nothing; the same request once it is back stores the instance once.
	files := realFiles(t)
	for _, nu := range []auth.NewUser{
		{Username: "dora", FullName: "Dora", Password: "a long enough passphrase", Grants: []auth.Grant{{Role: auth.DataManager, Trial: "T-OUT"}}},
		{Username: "ulf", FullName: "Ulf", Password: "a long enough passphrase", Grants: []auth.Grant{{Role: auth.SiteUploader, Trial: "T-OUT", Site: "S1"}}},
	} {
		if _, err := a.CreateUser(ctx, audit.System("test"), nu); err != nil {
			t.Fatal(err)
		}
	}
	createTrial(t, trials, []byte(fmt.Sprintf(ingestTrial, "T-OUT", `"1.2.840.10008.5.1.4.1.1.128"`)))
	g := &ingestFixture{gateway: &gateway{url: srv.URL, db: d, auth: a}, trial: "T-OUT"}
	tok := func(user string) string {
		r := g.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": "a long enough passphrase"})
		var out struct{ Token string }
		r.decode(t, &out)
		return out.Token
	}
	dora, ulf := tok("dora"), tok("ulf")
	if r := g.do(t, "POST", "/api/v1/trials/T-OUT/versions/1/approve", dora, map[string]string{"password": "a long enough passphrase", "meaning": "approval"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	sub := g.submission(t, ulf, "S1", "OUT-1", "BL")
	px.cut()
	if res := g.stow(t, "/dicomweb/submissions/"+sub+"/studies", ulf, "", dicomParts(files["1.dcm"])); res.status != http.StatusServiceUnavailable {
		t.Errorf("STOW, database down: %d %s", res.status, res.raw)
	}
	px.restore()
	deadline = time.Now().Add(10 * time.Second)
	for {
		res := g.stow(t, "/dicomweb/submissions/"+sub+"/studies", ulf, "", dicomParts(files["1.dcm"]))
		if res.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("STOW after the database returned: %d %s", res.status, res.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The object store gone: the upload is refused (503), nothing is
	// recorded, and a retry once it is back is recognised as the same.
	if err := os.Rename(objects, objects+".gone"); err != nil {
		t.Fatal(err)
	}
	if res := g.stow(t, "/dicomweb/submissions/"+sub+"/studies", ulf, "", dicomParts(files["2.dcm"])); res.status != http.StatusServiceUnavailable {
		t.Errorf("STOW, object store gone: %d %s", res.status, res.raw)
	}
	want503("readyz, object store gone", get("/readyz"))
	os.Rename(objects+".gone", objects)
	if r := get("/readyz"); r.StatusCode != http.StatusOK {
		t.Fatalf("readyz after the store returned: %d", r.StatusCode)
	}
	if res := g.stow(t, "/dicomweb/submissions/"+sub+"/studies", ulf, "", dicomParts(files["2.dcm"], files["1.dcm"])); res.status != http.StatusOK {
		t.Fatalf("STOW after the store returned: %d %s", res.status, res.raw)
	}
	v := g.view(t, sub, ulf)
	if len(v.Instances) != 2 {
		t.Errorf("after the outages: %d instances, want 2", len(v.Instances))
	}
	received := 0
	for _, e := range g.trail(t) {
		if e.entry.Action == audit.ActionInstanceReceived {
			received++
		}
	}
	if received != 2 {
		t.Errorf("instance.received entries: %d, want 2 (one per instance, nothing twice)", received)
	}
}
