package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/storage/s3"
)

// lockTrial has two sites and a release that needs two signers.
const lockTrial = `{"id":"TLK","name":"Locked","sites":[{"id":"S1","name":"One"},{"id":"S2","name":"Two"}],
 "visits":[{"id":"BL","label":"Baseline"},{"id":"FU","label":"Follow-up"}],
 "deid":{"options":["retain_long_modified_dates"]},
 "qc":{"rules":[{"id":"mod","kind":"allowed_modalities","severity":"fail","modalities":["CT","MR","PT","CR","OT"]}]},
 "reads":{"design":"single","form":{"fields":[{"id":"resp","type":"choice","required":true,"choices":["yes","no"]}]}},
 "locks":{"release_signers":2}}`

// lockEnv is a served TLK with its people logged in.
type lockEnv struct {
	t    *testing.T
	g    *gateway
	base string
	tok  map[string]string
}

func newLockEnv(t *testing.T, args []string) *lockEnv {
	g := &gateway{t: t, args: args}
	def := filepath.Join(t.TempDir(), "trial.json")
	if err := os.WriteFile(def, []byte(lockTrial), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := g.cli("", "trial", "create", "--file", def); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ name, role string }{
		{"dana", "data_manager:TLK"}, {"dora", "data_manager:TLK"}, {"qara", "qa_reviewer:TLK"},
		{"uma", "site_uploader:TLK:S1"}, {"ulla", "site_uploader:TLK:S2"}, {"quinn", "qc_reviewer:TLK"},
		{"rhea", "reader:TLK"}, {"ines", "inspector:TLK"},
	} {
		g.addUser(u.name, u.role)
	}
	p := startProcess(t, g.args)
	e := &lockEnv{t: t, g: g, base: p.base, tok: map[string]string{}}
	for _, u := range []string{"dana", "dora", "qara", "uma", "ulla", "quinn", "rhea", "ines"} {
		e.tok[u] = token(t, p.base, u)
	}
	e.must("POST", "/api/v1/trials/TLK/versions/1/approve", "dana", map[string]string{"password": testPassword, "meaning": "approval"}, http.StatusOK, nil)
	return e
}

func (e *lockEnv) send(method, path, who string, body any) response {
	e.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	return do(e.t, method, e.base+path, e.tok[who], "application/json", bytes.NewReader(b))
}

func (e *lockEnv) must(method, path, who string, body any, status int, out any) response {
	e.t.Helper()
	r := e.send(method, path, who, body)
	if r.status != status {
		e.t.Fatalf("%s %s as %s: %d %s, want %d", method, path, who, r.status, r.body, status)
	}
	if out != nil {
		r.json(e.t, out)
	}
	return r
}

// submission opens a submission (uploader by site) and returns its id.
func (e *lockEnv) submission(site, subject, visit string) string {
	e.t.Helper()
	var s struct{ ID string }
	e.must("POST", "/api/v1/trials/TLK/submissions", map[string]string{"S1": "uma", "S2": "ulla"}[site],
		map[string]string{"site": site, "subject": subject, "visit": visit}, http.StatusCreated, &s)
	return s.ID
}

// stow uploads a fresh instance into a submission.
func (e *lockEnv) stow(sub, site string) response {
	e.t.Helper()
	ct, body := stowBody(freshInstance(e.t, filepath.Join(realDir(e.t), "1.dcm"), nil))
	return do(e.t, "POST", e.base+"/dicomweb/submissions/"+sub+"/studies", e.tok[map[string]string{"S1": "uma", "S2": "ulla"}[site]], ct, bytes.NewReader(body))
}

type lockView struct {
	ID, Scope, Root string
	Leaves          int
	InForce         bool `json:"in_force"`
	Receipt         *struct {
		Chain string
		Seq   uint64
		Hash  string
	}
	Release   []struct{ SignerName string } `json:"release_signatures"`
	Retention []struct {
		Event, Mode   string
		Objects, Kept int
	}
}

// retention waits for the gateway to record a WORM retention step
// (retained, lifted) of the lock, and returns it.
func (e *lockEnv) retention(id, event string) (objects, kept int) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var list struct{ Locks []lockView }
		e.must("GET", "/api/v1/trials/TLK/locks", "ines", nil, http.StatusOK, &list)
		for _, l := range list.Locks {
			for _, r := range l.Retention {
				if l.ID == id && r.Event == event {
					if r.Mode != "GOVERNANCE" {
						e.t.Errorf("lock %s: retention mode %q, want GOVERNANCE", id, r.Mode)
					}
					return r.Objects, r.Kept
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("lock %s: no retention %s within a minute", id, event)
	return 0, 0
}

// s3Store opens the bucket the gateway's args name, or returns nil when
// they name none.
func s3Store(t *testing.T, args []string) *s3.Store {
	t.Helper()
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		flags[args[i]] = args[i+1]
	}
	if flags["--s3-endpoint"] == "" {
		return nil
	}
	st, err := s3.New(context.Background(), s3.Config{Endpoint: flags["--s3-endpoint"], Bucket: flags["--s3-bucket"],
		AccessKey: flags["--s3-access-key"], SecretKey: flags["--s3-secret-key"]})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *lockEnv) lock(in map[string]string) lockView {
	e.t.Helper()
	in["password"], in["meaning"], in["reason"] = testPassword, "lock", "data review complete"
	var l lockView
	e.must("POST", "/api/v1/trials/TLK/locks", "dana", in, http.StatusCreated, &l)
	if l.Receipt == nil || l.Receipt.Seq == 0 || len(l.Receipt.Hash) != 64 || len(l.Root) != 64 || !l.InForce {
		e.t.Fatalf("lock receipt: %+v", l)
	}
	return l
}

// refused checks a 423 naming the lock.
func (e *lockEnv) refused(r response, what string, l lockView) {
	e.t.Helper()
	var body struct {
		Error struct {
			Code string
			Lock struct{ ID, Scope, LockedBy, LockedAt string } `json:"lock"`
		}
	}
	json.Unmarshal(r.body, &body)
	if r.status != http.StatusLocked || body.Error.Code != "locked" || body.Error.Lock.ID != l.ID || body.Error.Lock.Scope != l.Scope {
		e.t.Errorf("%s under lock %s (%s): %d %s, want 423 naming it", what, l.ID, l.Scope, r.status, r.body)
	}
}

// entries returns TLK's audit trail, as the inspector queries it.
func (e *lockEnv) entries(query string) []audit.Record {
	e.t.Helper()
	r := e.send("GET", "/api/v1/audit?trial=TLK&format=jsonl"+query, "ines", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("audit: %d %s", r.status, r.body)
	}
	var recs []audit.Record
	for _, line := range bytes.Split(bytes.TrimSpace(r.body), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec struct {
			Seq   uint64
			Entry json.RawMessage
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			e.t.Fatalf("audit line %s: %v", line, err)
		}
		recs = append(recs, audit.Record{Seq: rec.Seq, Entry: rec.Entry})
	}
	return recs
}

// The acceptance run of the data lock, on every backend, with the real
// binary: a subject, then its site, then the trial are locked; every write
// path against each is refused with 423 naming the lock and recorded as
// access.denied_locked; reads go on and are recorded as access.after_lock;
// a release takes two signers; a lock inside a released one still holds;
// the manifests re-verify (API and CLI); bad input is refused precisely;
// and the trail shows it all in order.
func TestDataLockEndToEnd(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testDataLock(t, b.args(t)) })
	}
}

func testDataLock(t *testing.T, args []string) {
	e := newLockEnv(t, args)

	// S1-001 has an accepted, read visit; S1-002 and S2-001 open ones.
	sub1 := e.submission("S1", "S1-001", "BL")
	if r := e.stow(sub1, "S1"); r.status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	e.must("POST", "/api/v1/submissions/"+sub1+"/complete", "uma", nil, http.StatusOK, nil)
	e.must("POST", "/api/v1/submissions/"+sub1+"/qc-decision", "quinn", map[string]string{"decision": "accept", "reason": "ok"}, http.StatusOK, nil)
	var run struct{ Tasks []struct{ ID string } }
	e.must("POST", "/api/v1/trials/TLK/read-assignments", "dana", map[string]string{}, http.StatusOK, &run)
	if len(run.Tasks) != 1 {
		t.Fatalf("assignment: %+v", run)
	}
	task := run.Tasks[0].ID
	draft := map[string]any{"values": map[string]string{"resp": "yes"}}
	e.must("PUT", "/api/v1/read-tasks/"+task+"/result", "rhea", draft, http.StatusOK, nil)
	sub2 := e.submission("S1", "S1-002", "BL")
	subS2 := e.submission("S2", "S2-001", "BL")
	var study struct {
		Instances []struct {
			Study string `json:"study_instance_uid"`
		}
	}
	e.must("GET", "/api/v1/submissions/"+sub1, "quinn", nil, http.StatusOK, &study)

	// Bad input, each refused precisely (and recorded).
	for _, c := range []struct {
		who    string
		body   map[string]string
		status int
	}{
		{"dana", map[string]string{"scope": "planet", "password": testPassword, "meaning": "lock", "reason": "x"}, http.StatusBadRequest},
		{"dana", map[string]string{"scope": "site", "site": "S9", "password": testPassword, "meaning": "lock", "reason": "x"}, http.StatusNotFound},
		{"dana", map[string]string{"scope": "subject", "subject": "NOBODY", "password": testPassword, "meaning": "lock", "reason": "x"}, http.StatusNotFound},
		{"dana", map[string]string{"scope": "site", "password": testPassword, "meaning": "lock", "reason": "x"}, http.StatusBadRequest},
		{"quinn", map[string]string{"scope": "trial", "password": testPassword, "meaning": "lock", "reason": "x"}, http.StatusForbidden},
		{"dana", map[string]string{"scope": "trial", "password": "wrong password here", "meaning": "lock", "reason": "x"}, http.StatusUnauthorized},
		{"dana", map[string]string{"scope": "trial", "password": testPassword, "meaning": "lock", "reason": "  "}, http.StatusBadRequest},
		{"dana", map[string]string{"scope": "trial", "password": testPassword, "meaning": "authorship", "reason": "x"}, http.StatusBadRequest},
	} {
		if r := e.send("POST", "/api/v1/trials/TLK/locks", c.who, c.body); r.status != c.status {
			t.Errorf("lock %v as %s: %d %s, want %d", c.body, c.who, r.status, r.body, c.status)
		}
	}

	subject := e.lock(map[string]string{"scope": "subject", "subject": "S1-001"})
	if subject.Scope != "trial/TLK/site/S1/subject/S1-001" || subject.Leaves < 3 {
		t.Fatalf("subject lock: %+v", subject)
	}
	// On S3 the locked instance gets WORM retention: the store itself
	// refuses to delete it.
	store := s3Store(t, args)
	if store != nil {
		if n, _ := e.retention(subject.ID, "retained"); n != 1 {
			t.Errorf("subject lock retained %d objects, want 1", n)
		}
		var m struct {
			Leaves []struct{ Kind, Value string }
		}
		e.must("GET", "/api/v1/locks/"+subject.ID+"/manifest", "ines", nil, http.StatusOK, &m)
		for _, l := range m.Leaves {
			if l.Kind != "instance" {
				continue
			}
			key := "sha256/" + l.Value[:2] + "/" + l.Value[:64]
			if err := store.Delete(context.Background(), key); !errors.Is(err, storage.ErrRetained) {
				t.Errorf("deleting the locked object %s at the store: %v, want ErrRetained", key, err)
			}
		}
	}
	if r := e.send("POST", "/api/v1/trials/TLK/locks", "dana", map[string]string{"scope": "subject", "subject": "S1-001",
		"password": testPassword, "meaning": "lock", "reason": "again"}); r.status != http.StatusConflict {
		t.Errorf("the same scope locked twice: %d %s", r.status, r.body)
	}
	e.refused(e.send("PUT", "/api/v1/read-tasks/"+task+"/result", "rhea", draft), "read draft", subject)
	e.refused(e.send("POST", "/api/v1/trials/TLK/submissions", "uma", map[string]string{"site": "S1", "subject": "S1-001", "visit": "FU"}), "submission", subject)
	e.refused(e.send("PUT", "/api/v1/trials/TLK", "dana", map[string]any{"definition": json.RawMessage(strings.Replace(lockTrial, `"Locked"`, `"Locked, amended"`, 1)), "reason": "amend"}), "definition change", subject)
	if r := e.stow(sub2, "S1"); r.status != http.StatusOK {
		t.Errorf("upload outside the locked subject: %d %s", r.status, r.body)
	}

	site := e.lock(map[string]string{"scope": "site", "site": "S1"})
	e.refused(e.stow(sub2, "S1"), "upload", site)
	e.refused(e.send("POST", "/api/v1/submissions/"+sub2+"/complete", "uma", nil), "complete", site)
	e.refused(e.send("POST", "/api/v1/trials/TLK/submissions", "uma", map[string]string{"site": "S1", "subject": "S1-003", "visit": "BL"}), "new subject", site)
	// A trial-wide STOW places each instance by its Clinical Trial tags:
	// refused per instance, and 423 as nothing was stored.
	ct, body := stowBody(freshInstance(t, filepath.Join(realDir(t), "1.dcm"), map[dicom.Tag]string{dicom.ClinicalTrialSiteID: "S1",
		dicom.ClinicalTrialSubjectID: "S1-002", dicom.ClinicalTrialTimePointID: "BL"}))
	e.refused(do(t, "POST", e.base+"/dicomweb/trials/TLK/studies", e.tok["uma"], ct, bytes.NewReader(body)), "trial STOW", site)
	if r := e.stow(subS2, "S2"); r.status != http.StatusOK {
		t.Errorf("upload at the other site: %d %s", r.status, r.body)
	}

	trialLock := e.lock(map[string]string{"scope": "trial"})
	if store != nil {
		// Its release must follow its retention in the trail.
		e.retention(site.ID, "retained")
		e.retention(trialLock.ID, "retained")
	}
	e.refused(e.stow(subS2, "S2"), "upload at S2", trialLock)
	e.refused(e.send("POST", "/api/v1/trials/TLK/read-assignments", "dana", map[string]string{}), "assignment", trialLock)
	e.refused(e.send("POST", "/api/v1/trials/TLK/reads/release", "dana", map[string]string{"password": testPassword, "meaning": "approval", "reason": "done"}), "reads release", trialLock)
	e.refused(e.send("PUT", "/api/v1/trials/TLK", "dana", map[string]any{"definition": json.RawMessage(strings.Replace(lockTrial, `"Locked"`, `"Locked, amended"`, 1)), "reason": "amend"}), "definition change", trialLock)

	// Reads go on, recorded as post-lock access.
	studies := e.send("GET", "/dicomweb/trials/TLK/studies", "quinn", nil)
	retrieve := e.send("GET", "/dicomweb/trials/TLK/studies/"+study.Instances[0].Study+"/metadata", "quinn", nil)
	reader := e.send("GET", "/dicomweb/reads/"+task+"/studies", "rhea", nil)
	taskView := e.send("GET", "/api/v1/read-tasks/"+task, "rhea", nil)
	for _, r := range []response{studies, retrieve, reader, taskView} {
		if r.status != http.StatusOK {
			t.Errorf("a read under lock: %d %s", r.status, r.body)
		}
	}
	var list struct{ Locks []lockView }
	e.must("GET", "/api/v1/trials/TLK/locks", "ines", nil, http.StatusOK, &list)
	if len(list.Locks) != 3 {
		t.Errorf("locks listed: %+v", list)
	}

	// Release of the trial lock needs two signers; the first may not sign
	// twice; a site uploader may not sign at all.
	release := map[string]string{"password": testPassword, "meaning": "unlock", "reason": "query from the sponsor"}
	var rel lockView
	e.must("POST", "/api/v1/locks/"+trialLock.ID+"/release", "dana", release, http.StatusOK, &rel)
	if !rel.InForce || len(rel.Release) != 1 {
		t.Errorf("after one of two signatures: %+v", rel)
	}
	e.refused(e.stow(subS2, "S2"), "upload while the release waits for its second signer", trialLock)
	if r := e.send("POST", "/api/v1/locks/"+trialLock.ID+"/release", "dana", release); r.status != http.StatusConflict {
		t.Errorf("second signature by the first signer: %d %s", r.status, r.body)
	}
	if r := e.send("POST", "/api/v1/locks/"+trialLock.ID+"/release", "uma", release); r.status != http.StatusForbidden {
		t.Errorf("release signed by an uploader: %d %s", r.status, r.body)
	}
	if r := e.send("POST", "/api/v1/locks/"+trialLock.ID+"/release", "qara", map[string]string{"password": testPassword, "meaning": "unlock"}); r.status != http.StatusBadRequest {
		t.Errorf("release without a reason: %d %s", r.status, r.body)
	}
	e.must("POST", "/api/v1/locks/"+trialLock.ID+"/release", "qara", release, http.StatusOK, &rel)
	if rel.InForce || rel.Receipt == nil {
		t.Errorf("after both signatures: %+v", rel)
	}
	if r := e.send("POST", "/api/v1/locks/"+trialLock.ID+"/release", "dora", release); r.status != http.StatusConflict {
		t.Errorf("releasing a released lock: %d %s", r.status, r.body)
	}
	if r := e.stow(subS2, "S2"); r.status != http.StatusOK {
		t.Errorf("upload after the trial's release: %d %s", r.status, r.body)
	}

	// Releasing the site leaves the subject locked.
	e.must("POST", "/api/v1/locks/"+site.ID+"/release", "dana", release, http.StatusOK, nil)
	e.must("POST", "/api/v1/locks/"+site.ID+"/release", "dora", release, http.StatusOK, nil)
	if r := e.stow(sub2, "S1"); r.status != http.StatusOK {
		t.Errorf("upload after the site's release: %d %s", r.status, r.body)
	}
	e.refused(e.send("PUT", "/api/v1/read-tasks/"+task+"/result", "rhea", draft), "read draft after the site's release", subject)

	if store != nil {
		// Releases lift retention except where another lock holds the
		// object: the trial's three objects keep the two of site S1; the
		// site's two keep the locked subject's one.
		if n, kept := e.retention(trialLock.ID, "lifted"); n != 1 || kept != 2 {
			t.Errorf("trial lock's lift: %d lifted, %d kept; want 1, 2", n, kept)
		}
		if n, kept := e.retention(site.ID, "lifted"); n != 1 || kept != 1 {
			t.Errorf("site lock's lift: %d lifted, %d kept; want 1, 1", n, kept)
		}
	}

	// The subject's manifest re-verifies: nothing in it changed.
	var manifest struct {
		Root   string
		Leaves []struct{ Kind, Ref, Value, Hash string }
	}
	e.must("GET", "/api/v1/locks/"+subject.ID+"/manifest", "ines", nil, http.StatusOK, &manifest)
	kinds := map[string]int{}
	for _, l := range manifest.Leaves {
		kinds[l.Kind]++
	}
	if manifest.Root != subject.Root || kinds["instance"] != 1 || kinds["submission"] != 1 || kinds["case"] != 1 {
		t.Errorf("manifest: root %s (lock %s), kinds %v", manifest.Root, subject.Root, kinds)
	}
	var cmp struct {
		OK      bool
		RootNow string `json:"root_now"`
	}
	e.must("GET", "/api/v1/locks/"+subject.ID+"/verify", "ines", nil, http.StatusOK, &cmp)
	if !cmp.OK || cmp.RootNow != subject.Root {
		t.Errorf("verify: %+v", cmp)
	}
	if out, err := e.g.cli("", "lock", "verify", "--lock", subject.ID); err != nil || !strings.Contains(out, `"ok":true`) {
		t.Errorf("gateway lock verify: %v %s", err, out)
	}

	// The trail, in order.
	denied := map[string]int{}
	var afterLock []string
	var order []string
	for _, rec := range e.entries("&post_lock=true") {
		en, err := audit.Decode(rec.Entry)
		if err != nil {
			t.Fatal(err)
		}
		switch en.Action {
		case audit.ActionAccessDeniedLocked:
			for _, l := range []lockView{subject, site, trialLock} {
				if strings.Contains(en.Reason, l.ID) {
					denied[l.ID]++
				}
			}
		case audit.ActionAccessAfterLock:
			afterLock = append(afterLock, en.Actor.Username)
		default:
			t.Errorf("post_lock=true returned %s", en.Action)
		}
	}
	if denied[subject.ID] != 4 || denied[site.ID] != 4 || denied[trialLock.ID] != 5 {
		t.Errorf("denials by lock: subject %d, site %d, trial %d; want 4, 4, 5",
			denied[subject.ID], denied[site.ID], denied[trialLock.ID])
	}
	for _, who := range []string{"quinn", "rhea", "ines"} {
		if !strings.Contains(strings.Join(afterLock, " "), who) {
			t.Errorf("no post-lock access recorded for %s (recorded: %v)", who, afterLock)
		}
	}
	var seqs []uint64
	for _, rec := range e.entries("&object=lock/" + trialLock.ID) {
		en, _ := audit.Decode(rec.Entry)
		if en.Outcome == audit.Success {
			order = append(order, string(en.Action))
			seqs = append(seqs, rec.Seq)
		}
	}
	want := "[lock.applied lock.release_signed lock.released]"
	if store != nil {
		want = "[lock.applied lock.retained lock.release_signed lock.released lock.retention_lifted]"
	}
	if fmt.Sprint(order) != want {
		t.Errorf("the trial lock's entries: %v, want %s", order, want)
	}
	if failed := len(e.entries("&action=lock.applied&outcome=failed")); failed < 5 {
		t.Errorf("%d failed lock attempts recorded, want the bad inputs' (at least 5)", failed)
	}
}

// Many writers (uploads and read edits) run while a trial lock is applied:
// each write either committed with its audit entry before the lock's, or
// was refused and recorded as such; none committed after.
func TestLockRace(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testLockRace(t, b.args(t)) })
	}
}

func testLockRace(t *testing.T, args []string) {
	e := newLockEnv(t, args)
	sub1 := e.submission("S1", "R-000", "BL")
	if r := e.stow(sub1, "S1"); r.status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	e.must("POST", "/api/v1/submissions/"+sub1+"/complete", "uma", nil, http.StatusOK, nil)
	e.must("POST", "/api/v1/submissions/"+sub1+"/qc-decision", "quinn", map[string]string{"decision": "accept", "reason": "ok"}, http.StatusOK, nil)
	var run struct{ Tasks []struct{ ID string } }
	e.must("POST", "/api/v1/trials/TLK/read-assignments", "dana", map[string]string{}, http.StatusOK, &run)
	task := run.Tasks[0].ID
	subs := []string{e.submission("S1", "R-001", "BL"), e.submission("S2", "R-002", "BL")}

	// Prepared outside the race: the fixture's cost must not space the
	// writes out.
	const writers, each = 6, 12
	bodies := make([][][]byte, writers)
	for w := range bodies {
		for range each {
			_, b := stowBody(freshInstance(t, filepath.Join(realDir(t), "1.dcm"), nil))
			bodies[w] = append(bodies[w], b)
		}
	}
	var mu sync.Mutex
	stored, refused, edits, editRefused := 0, 0, 0, 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				var r response
				if w%3 == 2 {
					r = e.send("PUT", "/api/v1/read-tasks/"+task+"/result", "rhea", map[string]any{"values": map[string]string{"resp": []string{"yes", "no"}[i%2]}})
				} else {
					site := []string{"S1", "S2"}[w%2]
					body := bodies[w][i]
					boundary := string(body[2:bytes.IndexByte(body, '\r')])
					r = do(t, "POST", e.base+"/dicomweb/submissions/"+subs[w%2]+"/studies", e.tok[map[string]string{"S1": "uma", "S2": "ulla"}[site]],
						`multipart/related; type="application/dicom"; boundary=`+boundary, bytes.NewReader(body))
				}
				mu.Lock()
				switch {
				case r.status == http.StatusOK && w%3 == 2:
					edits++
				case r.status == http.StatusOK:
					stored++
				case r.status == http.StatusLocked && w%3 == 2:
					editRefused++
				case r.status == http.StatusLocked:
					refused++
				default:
					t.Errorf("write during the race: %d %s", r.status, r.body)
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	l := e.lock(map[string]string{"scope": "trial"})
	wg.Wait()

	var receivedBefore, draftsBefore, deniedAfter int
	for _, rec := range e.entries("") {
		en, err := audit.Decode(rec.Entry)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case en.Outcome == audit.Success && (en.Action == audit.ActionInstanceReceived || en.Action == audit.ActionReadDraftSaved):
			if rec.Seq > l.Receipt.Seq {
				t.Errorf("%s committed at seq %d, after the lock's seq %d", en.Action, rec.Seq, l.Receipt.Seq)
			}
			if en.Action == audit.ActionInstanceReceived {
				receivedBefore++
			} else {
				draftsBefore++
			}
		case en.Action == audit.ActionAccessDeniedLocked:
			if rec.Seq < l.Receipt.Seq {
				t.Errorf("a refusal at seq %d precedes the lock's seq %d", rec.Seq, l.Receipt.Seq)
			}
			deniedAfter++
		}
	}
	// One instance and one draft were the fixture's.
	if receivedBefore != stored+1 || draftsBefore != edits {
		t.Errorf("%d instances and %d drafts recorded; %d uploads and %d edits succeeded (plus the fixture's instance)",
			receivedBefore, draftsBefore, stored, edits)
	}
	if deniedAfter != refused+editRefused {
		t.Errorf("%d refusals recorded, %d writes refused", deniedAfter, refused+editRefused)
	}
	if refused+editRefused == 0 {
		t.Errorf("no write was refused: the lock was applied after the race (stored %d, edits %d)", stored, edits)
	}
	t.Logf("lock at seq %d: %d uploads and %d edits committed before it, %d and %d refused after", l.Receipt.Seq, stored, edits, refused, editRefused)
}
