package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/dicom"
)

// guardedRequest is one request to a mutating endpoint.
type guardedRequest struct {
	token, contentType string
	path               string // with its parameters filled in
	body               []byte
	// lock is the finest lockable scope the request changes: it is sent
	// under a lock of that scope and of each scope above it. The system
	// scope for the endpoints that change accounts and sessions, which no
	// lock refuses.
	lock db.Scope
	// free marks the changes a lock lets through by design: creating a
	// trial (no lock can name it yet) and the lock endpoints themselves
	// (a lock inside a locked scope, a release).
	free bool
	// after, if set, runs after a free request succeeded.
	after func(r response)
}

// Every mutating endpoint the router serves is sent a real request under
// real data locks, applied and released through the API as a data manager
// would: under a lock of each scope the request reaches (the trial, the
// site, the subject, the visit), each endpoint that changes a trial's data
// is refused with 423 naming the lock, changes nothing, and its attempt is
// recorded once, as access.denied_locked with the attempted action, by the
// write path itself; sent again without the locks, the same request
// succeeds and records that action, so the refusal was of a real change.
// The endpoints that change only accounts and sessions are not refused
// under a trial lock and touch no trial data. A new mutating endpoint
// without a request below fails the test.
func TestLockRefusesEveryMutatingEndpoint(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testGuard(t, b.args(t)) })
	}
}

const guardTrial = `{"id":"%s","name":"Guarded %s","sites":[{"id":"S1","name":"One"}],
 "visits":[{"id":"BL","label":"Baseline"}],
 "deid":{"options":["retain_long_modified_dates"]},
 "qc":{"rules":[{"id":"mod","kind":"allowed_modalities","severity":"fail","modalities":["CT","MR","PT","CR","OT"]}]},
 "reads":{"design":"single","form":{"fields":[{"id":"resp","type":"choice","required":true,"choices":["yes","no"]}]}}}`

func testGuard(t *testing.T, args []string) {
	dir := realDir(t)
	g := &gateway{t: t, args: args}
	for _, u := range []struct{ name, role string }{
		{"dm1", "data_manager:TL"}, {"dm2", "data_manager:TL"}, {"up1", "site_uploader:TL:S1"},
		{"qc1", "qc_reviewer:TL"}, {"adm", "admin"}, {"dmnew", "data_manager:TNEW"}, {"ext", "inspector:TL"},
		{"rd1", "reader:TL"}, {"rd2", "reader:TL"},
	} {
		g.addUser(u.name, u.role)
	}
	def := filepath.Join(t.TempDir(), "trial.json")
	if err := os.WriteFile(def, []byte(fmt.Sprintf(guardTrial, "TL", "TL")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := g.cli("", "trial", "create", "--file", def); err != nil {
		t.Fatal(err)
	}
	m := serveGuarded(t, g)

	tok := map[string]string{}
	for _, u := range []string{"dm1", "dm2", "up1", "qc1", "adm", "dmnew", "rd1", "rd2"} {
		tok[u] = token(t, g.base, u)
	}
	send := func(method string, r guardedRequest) response {
		t.Helper()
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		return do(t, method, g.base+r.path, r.token, r.contentType, body)
	}
	mustSend := func(method, path, token string, v any, out any) {
		t.Helper()
		b, _ := json.Marshal(v)
		r := do(t, method, g.base+path, token, "application/json", bytes.NewReader(b))
		if r.status/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
		}
		if out != nil {
			r.json(t, out)
		}
	}
	approve := map[string]string{"password": testPassword, "meaning": "approval"}
	mustSend("POST", "/api/v1/trials/TL/versions/1/approve", tok["dm1"], approve, nil)

	tl := db.TrialScope("TL")
	s1 := db.Scope{Trial: "TL", Site: "S1"}
	visit := func(subject string) db.Scope { return db.Scope{Trial: "TL", Site: "S1", Subject: subject, Visit: "BL"} }
	subjects := 0
	newSubmission := func() (id, subject string) {
		subjects++
		subject = fmt.Sprintf("TL-%03d", subjects)
		var sub struct{ ID string }
		mustSend("POST", "/api/v1/trials/TL/submissions", tok["up1"], map[string]string{"site": "S1", "subject": subject, "visit": "BL"}, &sub)
		return sub.ID, subject
	}
	upload := func(sub string, parts ...[]byte) {
		t.Helper()
		ct, body := stowBody(parts...)
		if r := do(t, "POST", g.base+"/dicomweb/submissions/"+sub+"/studies", tok["up1"], ct, bytes.NewReader(body)); r.status != http.StatusOK {
			t.Fatalf("upload: %d %s", r.status, r.body)
		}
	}
	pet := filepath.Join(dir, "1.dcm")  // released at upload
	held := filepath.Join(dir, "6.dcm") // secondary capture: held for burned-in text review
	versions := 1
	changeTL := func(by string) int {
		var v struct{ Version int }
		mustSend("PUT", "/api/v1/trials/TL", tok[by], map[string]any{
			"definition": json.RawMessage(fmt.Sprintf(guardTrial, "TL", fmt.Sprintf("TL v%d", versions+1))),
			"reason":     "protocol amendment"}, &v)
		versions = v.Version
		return v.Version
	}
	jsonBody := func(v any) []byte { b, _ := json.Marshal(v); return b }
	// accepted uploads a visit and has QC accept it: a readable case.
	accepted := func() (subject string) {
		sub, subject := newSubmission()
		upload(sub, freshInstance(t, pet, nil))
		mustSend("POST", "/api/v1/submissions/"+sub+"/complete", tok["up1"], nil, nil)
		mustSend("POST", "/api/v1/submissions/"+sub+"/qc-decision", tok["qc1"], map[string]string{"decision": "accept", "reason": "ok"}, nil)
		return subject
	}
	// readTask makes a readable case, assigns it, and returns its task,
	// its reader and the scope of the case.
	readTask := func() (id, reader string, scope db.Scope) {
		subject := accepted()
		var run struct {
			Tasks []struct{ ID, Reader string }
		}
		mustSend("POST", "/api/v1/trials/TL/read-assignments", tok["dm1"], map[string]string{}, &run)
		if len(run.Tasks) != 1 {
			t.Fatalf("assignment fixture: %+v", run)
		}
		return run.Tasks[0].ID, run.Tasks[0].Reader, db.Scope{Trial: "TL", Site: "S1", Subject: subject, Visit: "BL"}
	}

	// lockScope applies a lock on sc as dm1 and returns its id; unlock
	// releases it.
	lockScope := func(sc db.Scope) string {
		t.Helper()
		in := map[string]string{"scope": "trial", "password": testPassword, "meaning": "lock", "reason": "guard test"}
		for _, p := range []struct{ kind, id string }{{"site", sc.Site}, {"subject", sc.Subject}, {"visit", sc.Visit}} {
			if p.id != "" {
				in["scope"], in[p.kind] = p.kind, p.id
			}
		}
		var l struct{ ID string }
		r := do(t, "POST", g.base+"/api/v1/trials/"+sc.Trial+"/locks", tok["dm1"], "application/json", bytes.NewReader(jsonBody(in)))
		if r.status != http.StatusCreated {
			t.Fatalf("lock %s: %d %s", sc, r.status, r.body)
		}
		r.json(t, &l)
		return l.ID
	}
	unlock := func(id string) {
		t.Helper()
		mustSend("POST", "/api/v1/locks/"+id+"/release", tok["dm1"],
			map[string]string{"password": testPassword, "meaning": "unlock", "reason": "guard test done"}, nil)
	}

	// requests build, with no lock in force, what each endpoint acts on, and
	// return the request. Keys are the router's method and path template.
	requests := map[string]func() guardedRequest{
		"POST /api/v1/auth/login": func() guardedRequest {
			return guardedRequest{path: "/api/v1/auth/login", contentType: "application/json",
				body: jsonBody(map[string]string{"username": "up1", "password": testPassword})}
		},
		"POST /api/v1/auth/logout": func() guardedRequest {
			return guardedRequest{path: "/api/v1/auth/logout", token: token(t, g.base, "ext")}
		},
		"POST /api/v1/users": func() guardedRequest {
			return guardedRequest{path: "/api/v1/users", token: tok["adm"], contentType: "application/json",
				body: jsonBody(map[string]any{"username": "newbie", "full_name": "New Bie", "password": testPassword,
					"grants": []map[string]string{{"role": "reader", "trial": "TL"}}})}
		},
		"PATCH /api/v1/users/:username": func() guardedRequest {
			return guardedRequest{path: "/api/v1/users/ext", token: tok["adm"], contentType: "application/json",
				body: jsonBody(map[string]any{"grants": []map[string]string{{"role": "inspector", "trial": "TL"}, {"role": "qa_reviewer", "trial": "TL"}}})}
		},
		"POST /api/v1/trials": func() guardedRequest {
			return guardedRequest{path: "/api/v1/trials", token: tok["dmnew"], contentType: "application/json",
				body: []byte(fmt.Sprintf(guardTrial, "TNEW", "TNEW")), free: true}
		},
		"PUT /api/v1/trials/:trial": func() guardedRequest {
			return guardedRequest{path: "/api/v1/trials/TL", token: tok["dm1"], contentType: "application/json", lock: tl,
				body: jsonBody(map[string]any{"definition": json.RawMessage(fmt.Sprintf(guardTrial, "TL", "TL renamed")), "reason": "rename"})}
		},
		"POST /api/v1/trials/:trial/versions/:n/approve": func() guardedRequest {
			n := changeTL("dm2")
			return guardedRequest{path: fmt.Sprintf("/api/v1/trials/TL/versions/%d/approve", n), token: tok["dm1"],
				contentType: "application/json", body: jsonBody(approve), lock: tl}
		},
		"POST /api/v1/trials/:trial/submissions": func() guardedRequest {
			subjects++
			return guardedRequest{path: "/api/v1/trials/TL/submissions", token: tok["up1"], contentType: "application/json", lock: s1,
				body: jsonBody(map[string]string{"site": "S1", "subject": fmt.Sprintf("TL-%03d", subjects), "visit": "BL"})}
		},
		"POST /api/v1/submissions/:id/complete": func() guardedRequest {
			sub, subject := newSubmission()
			upload(sub, freshInstance(t, pet, nil))
			return guardedRequest{path: "/api/v1/submissions/" + sub + "/complete", token: tok["up1"], lock: visit(subject)}
		},
		"POST /api/v1/submissions/:id/qc-decision": func() guardedRequest {
			sub, subject := newSubmission()
			upload(sub, freshInstance(t, pet, nil))
			mustSend("POST", "/api/v1/submissions/"+sub+"/complete", tok["up1"], nil, nil)
			return guardedRequest{path: "/api/v1/submissions/" + sub + "/qc-decision", token: tok["qc1"], contentType: "application/json",
				body: jsonBody(map[string]string{"decision": "accept", "reason": "complete"}), lock: visit(subject)}
		},
		"POST /api/v1/submissions/:id/instances/:sop/review": func() guardedRequest {
			sub, subject := newSubmission()
			upload(sub, freshInstance(t, held, nil))
			var view struct {
				Instances []struct {
					SOP    string `json:"sop_instance_uid"`
					Status string
				}
			}
			r := do(t, "GET", g.base+"/api/v1/submissions/"+sub, tok["qc1"], "", nil)
			r.json(t, &view)
			if len(view.Instances) != 1 || view.Instances[0].Status != "held" {
				t.Fatalf("review fixture: %s", r.body)
			}
			return guardedRequest{path: "/api/v1/submissions/" + sub + "/instances/" + view.Instances[0].SOP + "/review",
				token: tok["qc1"], contentType: "application/json", lock: visit(subject),
				body: jsonBody(map[string]string{"decision": "release", "reason": "no burned-in text"})}
		},
		"POST /api/v1/trials/:trial/read-assignments": func() guardedRequest {
			subject := accepted()
			return guardedRequest{path: "/api/v1/trials/TL/read-assignments", token: tok["dm1"], contentType: "application/json",
				body: jsonBody(map[string]string{"seed": "guard"}), lock: visit(subject)}
		},
		"POST /api/v1/read-tasks/:id/reassign": func() guardedRequest {
			id, reader, scope := readTask()
			other := map[string]string{"rd1": "rd2", "rd2": "rd1"}[reader]
			return guardedRequest{path: "/api/v1/read-tasks/" + id + "/reassign", token: tok["dm1"], contentType: "application/json",
				body: jsonBody(map[string]string{"reader": other, "reason": "workload"}), lock: scope}
		},
		"PUT /api/v1/read-tasks/:id/result": func() guardedRequest {
			id, reader, scope := readTask()
			return guardedRequest{path: "/api/v1/read-tasks/" + id + "/result", token: tok[reader], contentType: "application/json",
				body: jsonBody(map[string]any{"values": map[string]string{"resp": "yes"}}), lock: scope}
		},
		"POST /api/v1/read-tasks/:id/sign": func() guardedRequest {
			id, reader, scope := readTask()
			mustSend("PUT", "/api/v1/read-tasks/"+id+"/result", tok[reader], map[string]any{"values": map[string]string{"resp": "no"}}, nil)
			return guardedRequest{path: "/api/v1/read-tasks/" + id + "/sign", token: tok[reader], contentType: "application/json",
				body: jsonBody(map[string]string{"password": testPassword, "meaning": "authorship"}), lock: scope}
		},
		"POST /api/v1/trials/:trial/reads/release": func() guardedRequest {
			return guardedRequest{path: "/api/v1/trials/TL/reads/release", token: tok["dm1"], contentType: "application/json",
				body: jsonBody(map[string]string{"password": testPassword, "meaning": "approval", "reason": "reads done"}), lock: tl}
		},
		"POST /dicomweb/submissions/:id/studies": func() guardedRequest {
			sub, subject := newSubmission()
			ct, body := stowBody(freshInstance(t, pet, nil))
			return guardedRequest{path: "/dicomweb/submissions/" + sub + "/studies", token: tok["up1"], contentType: ct, body: body, lock: visit(subject)}
		},
		"POST /dicomweb/trials/:trial/studies": func() guardedRequest {
			subjects++
			ct, body := stowBody(freshInstance(t, pet, map[dicom.Tag]string{dicom.ClinicalTrialSiteID: "S1",
				dicom.ClinicalTrialSubjectID: fmt.Sprintf("TL-%03d", subjects), dicom.ClinicalTrialTimePointID: "BL"}))
			return guardedRequest{path: "/dicomweb/trials/TL/studies", token: tok["up1"], contentType: ct, body: body, lock: s1}
		},
		// A lock inside a locked scope is allowed (and independent); so is
		// a release while another lock holds.
		"POST /api/v1/trials/:trial/locks": func() guardedRequest {
			_, subject := newSubmission()
			outer := lockScope(tl)
			return guardedRequest{path: "/api/v1/trials/TL/locks", token: tok["dm1"], contentType: "application/json", free: true,
				body: jsonBody(map[string]string{"scope": "subject", "subject": subject, "password": testPassword, "meaning": "lock", "reason": "subject complete"}),
				after: func(r response) {
					var l struct{ ID string }
					r.json(t, &l)
					unlock(outer)
					unlock(l.ID)
				}}
		},
		"POST /api/v1/locks/:id/release": func() guardedRequest {
			_, subject := newSubmission()
			inner := lockScope(visit(subject))
			outer := lockScope(tl)
			return guardedRequest{path: "/api/v1/locks/" + inner + "/release", token: tok["dm1"], contentType: "application/json", free: true,
				body:  jsonBody(map[string]string{"password": testPassword, "meaning": "unlock", "reason": "reopened for a query"}),
				after: func(response) { unlock(outer) }}
		},
	}

	routes := m.api.Routes()
	sort.Slice(routes, func(i, j int) bool { return routes[i].Path < routes[j].Path })
	var trialScoped, systemScoped, free []string
	for _, rt := range routes {
		if rt.Method == http.MethodGet || rt.Method == http.MethodHead {
			continue
		}
		key := rt.Method + " " + rt.Path
		build, ok := requests[key]
		if !ok {
			t.Errorf("%s changes data but the lock test sends it no request: add one", key)
			continue
		}
		req := build()
		if req.free {
			r := send(rt.Method, req)
			if r.status/100 != 2 {
				t.Errorf("%s: %d %s, want success", key, r.status, r.body)
			} else if req.after != nil {
				req.after(r)
			}
			free = append(free, key)
			continue
		}
		if req.lock.IsSystem() {
			// A trial's lock never refuses accounts and sessions.
			id := lockScope(tl)
			before := snapshot(t, m.db)
			r := send(rt.Method, req)
			if r.status/100 != 2 {
				t.Errorf("%s: %d %s, want success", key, r.status, r.body)
			}
			for table := range diff(before, snapshot(t, m.db)) {
				if trialData(table) {
					t.Errorf("%s changed trial data (table %s)", key, table)
				}
			}
			unlock(id)
			systemScoped = append(systemScoped, key)
			continue
		}

		var denials []guardEntry
		for _, sc := range ancestry(req.lock) {
			id := lockScope(sc)
			before, entries := snapshot(t, m.db), auditEntries(t, m.db)
			r := send(rt.Method, req)
			var body struct {
				Error struct {
					Code string
					Lock struct{ ID, Scope string }
				}
			}
			json.Unmarshal(r.body, &body)
			if r.status != http.StatusLocked || body.Error.Code != trialgate.ELocked || body.Error.Lock.ID != id || body.Error.Lock.Scope != sc.String() {
				t.Errorf("%s with %s locked: %d %s, want 423 locked naming lock %s", key, sc, r.status, r.body, id)
			}
			if changed := diff(before, snapshot(t, m.db)); len(changed) > 0 {
				t.Errorf("%s under a lock of %s: a refused change left tables %v changed", key, sc, changed)
			}
			var mine []guardEntry
			for _, e := range newEntries(entries, auditEntries(t, m.db)) {
				if e.Action != audit.ActionAccessAfterLock {
					mine = append(mine, e)
				}
			}
			if len(mine) != 1 || mine[0].Action != audit.ActionAccessDeniedLocked || mine[0].Outcome != audit.Denied ||
				mine[0].Chain != sc.Chain() || !strings.Contains(mine[0].Reason, id) {
				t.Errorf("%s under a lock of %s: new entries %+v, want one access.denied_locked naming %s", key, sc, mine, id)
			} else {
				denials = append(denials, mine[0])
			}
			unlock(id)
		}

		entries := auditEntries(t, m.db)
		if r := send(rt.Method, req); r.status/100 != 2 {
			t.Errorf("%s unlocked: %d %s, want success", key, r.status, r.body)
			continue
		}
		done := newEntries(entries, auditEntries(t, m.db))
		if len(done) == 0 {
			t.Errorf("%s unlocked: recorded nothing", key)
			continue
		}
		for _, d := range denials {
			if d.Attempted != string(done[0].Action) || d.Actor != done[0].Actor {
				t.Errorf("%s: denial %+v, want the attempt of %s by %s", key, d, done[0].Action, done[0].Actor)
			}
		}
		trialScoped = append(trialScoped, key)
	}
	if len(trialScoped) == 0 || len(systemScoped) == 0 {
		t.Fatalf("trial-scoped %v, system %v: the router's mutating endpoints were not exercised", trialScoped, systemScoped)
	}
	t.Logf("refused under every lock and recorded once by the write path: %d trial-scoped endpoints %v; not refused: %v; free by design: %v",
		len(trialScoped), trialScoped, systemScoped, free)
}

// ancestry returns the scopes from sc's trial down to sc.
func ancestry(sc db.Scope) []db.Scope {
	out := []db.Scope{db.TrialScope(sc.Trial)}
	if sc.Site != "" {
		out = append(out, db.Scope{Trial: sc.Trial, Site: sc.Site})
	}
	if sc.Subject != "" {
		out = append(out, db.Scope{Trial: sc.Trial, Site: sc.Site, Subject: sc.Subject})
	}
	if sc.Visit != "" {
		out = append(out, sc)
	}
	return out
}

// serveGuarded starts the gateway in-process, wired as serve wires it,
// and stops it when the test ends.
func serveGuarded(t *testing.T, g *gateway) *Main {
	t.Helper()
	addr := freeAddr(t)
	env := &environment{getenv: noEnv, stdin: strings.NewReader(""), stdout: io.Discard, stderr: &g.logs}
	cfg, err := parseServe(env, append([]string{"--addr", addr, "--log-level", "debug"}, g.args...))
	if err != nil {
		t.Fatal(err)
	}
	log, err := newLogger(env, cfg.logLevel)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{cfg: cfg, log: log}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("serve did not shut down")
		}
		m.Close()
	})
	g.base = "http://" + addr
	waitHealthy(t, g.base, done)
	return m
}

// stowBody is a STOW-RS request body of the given instances.
func stowBody(parts ...[]byte) (contentType string, body []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		w.Write(p)
	}
	mw.Close()
	return fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary()), b.Bytes()
}

// freshInstance is the file at path as a new instance (a new SOP Instance
// UID), with the given attributes set: new bytes every call, so that no
// upload is a repeat of another.
func freshInstance(t *testing.T, path string, set map[dicom.Tag]string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	obj, err := dicom.Parse(f, dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	uid := "2.25." + n.String()
	obj.Dataset.SetString(dicom.SOPInstanceUID, "UI", uid)
	obj.Meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", uid)
	for tag, v := range set {
		vr, _, ok := dicom.Lookup(tag)
		if !ok {
			t.Fatalf("no VR for %s", tag)
		}
		obj.Dataset.SetString(tag, vr, v)
	}
	var b bytes.Buffer
	if _, err := obj.Write(&b, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// notData are the tables a request's outcome is not judged by: the trail
// itself (checked entry by entry), operational state and the schema.
var notData = []string{"audit_log", "audit_head", "audit_queue", "activity", "schema_migrations"}

// trialData reports whether table holds a trial's data rather than
// accounts and sessions: the trials, and whatever belongs to one.
func trialData(table string) bool {
	return !slices.Contains([]string{"users", "grants", "sessions"}, table)
}

// snapshot returns a digest of every row of every data table.
func snapshot(t *testing.T, d *db.DB) map[string]string {
	t.Helper()
	ctx := context.Background()
	tablesSQL := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if d.Dialect() == "postgres" {
		tablesSQL = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`
	}
	out := map[string]string{}
	err := d.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, tablesSQL)
		if err != nil {
			return err
		}
		var tables []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return err
			}
			if !slices.Contains(notData, name) {
				tables = append(tables, name)
			}
		}
		rows.Close()
		if len(tables) < 5 {
			return fmt.Errorf("only tables %v", tables)
		}
		for _, table := range tables {
			rows, err := r.Query(ctx, "SELECT * FROM "+table)
			if err != nil {
				return err
			}
			cols, _ := rows.Columns()
			var lines []string
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return err
				}
				lines = append(lines, fmt.Sprintf("%q", vals))
			}
			rows.Close()
			sort.Strings(lines)
			sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
			out[table] = hex.EncodeToString(sum[:])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

// diff returns the tables whose rows differ between two snapshots.
func diff(before, after map[string]string) map[string]bool {
	out := map[string]bool{}
	for table, sum := range after {
		if before[table] != sum {
			out[table] = true
		}
	}
	return out
}

// guardEntry is one chained audit entry, as the guard test compares them.
type guardEntry struct {
	Chain   string
	Seq     uint64
	Action  audit.Action
	Outcome audit.Outcome
	Actor   string // username
	Reason  string
	// Attempted is the attempted action of an access.denied_locked.
	Attempted string
}

// auditEntries returns every entry of the trail, once all are chained.
func auditEntries(t *testing.T, d *db.DB) []guardEntry {
	t.Helper()
	ctx := context.Background()
	if err := d.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	var out []guardEntry
	err := d.AuditRecords(ctx, audit.Filter{}, func(r *audit.Record) error {
		e, err := audit.Decode(r.Entry)
		if err != nil {
			return err
		}
		ge := guardEntry{Chain: r.Chain, Seq: r.Seq, Action: e.Action, Outcome: e.Outcome,
			Actor: e.Actor.Username, Reason: e.Reason}
		if e.Action == audit.ActionAccessDeniedLocked {
			var after struct {
				Attempted string `json:"attempted_action"`
			}
			b, _ := json.Marshal(e.After)
			json.Unmarshal(b, &after)
			ge.Attempted = after.Attempted
		}
		out = append(out, ge)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newEntries returns the entries of after that before lacks, in chain and
// seq order.
func newEntries(before, after []guardEntry) []guardEntry {
	seen := map[string]bool{}
	for _, e := range before {
		seen[fmt.Sprintf("%s/%d", e.Chain, e.Seq)] = true
	}
	var out []guardEntry
	for _, e := range after {
		if !seen[fmt.Sprintf("%s/%d", e.Chain, e.Seq)] {
			out = append(out, e)
		}
	}
	return out
}
