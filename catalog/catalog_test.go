package catalog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/catalog"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/render"
	"github.com/trialgate/trialgate/ingest"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/storage/fs"
	"github.com/trialgate/trialgate/trial"
)

const password = "correct horse battery staple"

const definition = `{"id":"TC","name":"Catalogue","sites":[{"id":"S1","name":"One"}],"visits":[{"id":"BL","label":"Baseline"}],
 "deid":{"options":[]},"qc":{"rules":[]},"reads":{"design":"single","form":{"fields":[{"id":"x","type":"text","required":false}]}}}`

// fixture is a trial with two submissions of one released instance each,
// stored through the real pipeline.
type fixture struct {
	db      *db.DB
	objects string // the object folder
	cat     *catalog.Catalog
	qc, up  *auth.Principal
	subs    [2]ingest.Stored
}

func realFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "real", name))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real test data missing: %v", err)
		}
		t.Skipf("real test data missing: %v", err)
	}
	return b
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	d, _ := dbtest.OpenSQLite(t, nil)
	objects := t.TempDir()
	store, err := fs.New(objects)
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(d, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	person := func(username string, g auth.Grant) *auth.Principal {
		u, err := a.CreateUser(ctx, audit.System("test"), auth.NewUser{Username: username, FullName: "Test " + username,
			Password: password, Grants: []auth.Grant{g}})
		if err != nil {
			t.Fatal(err)
		}
		return &auth.Principal{User: u, Grants: []auth.Grant{g}}
	}
	f := &fixture{db: d, objects: objects, cat: catalog.New(d, store, dicom.Limits{}),
		qc: person("qc1", auth.Grant{Role: auth.QCReviewer, Trial: "TC"}),
		up: person("up1", auth.Grant{Role: auth.SiteUploader, Trial: "TC", Site: "S1"})}
	dm := person("dm1", auth.Grant{Role: auth.DataManager, Trial: "TC"})
	trials := trial.NewService(d, a, nil)
	if _, err := trials.Create(ctx, auth.Operator("test", "", "", auth.Grant{Role: auth.DataManager, Trial: "TC"}), []byte(definition)); err != nil {
		t.Fatal(err)
	}
	if _, err := trials.Approve(ctx, dm, "TC", 1, password, auth.MeaningApproval); err != nil {
		t.Fatal(err)
	}
	pipeline, err := ingest.New(ingest.Config{DB: d, Store: store, Trials: trials, Secret: bytes.Repeat([]byte{3}, 32),
		TempDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"1.dcm", "3.dcm"} {
		sub, err := pipeline.CreateSubmission(ctx, f.up, "TC", "S1", []string{"SUBJ-A", "SUBJ-B"}[i], "BL")
		if err != nil {
			t.Fatal(err)
		}
		u, err := pipeline.Begin(ctx, f.up, ingest.Target{Submission: sub.ID})
		if err != nil {
			t.Fatal(err)
		}
		r, err := u.Store(ctx, bytes.NewReader(realFile(t, name)))
		if err != nil || r.Stored == nil {
			t.Fatalf("store %s: %v %+v", name, err, r)
		}
		f.subs[i] = *r.Stored
	}
	return f
}

// blinded is a test policy of the kind a reader's view is: one submission
// of the trial, every header rewritten on its way out.
type blinded struct {
	db         *db.DB
	submission string
}

const caseCode = "CASE-0001"

func (b blinded) Open(ctx context.Context, p *auth.Principal, trialID string, target audit.Object) (*catalog.View, error) {
	scope := db.TrialScope(trialID)
	role, err := auth.Require(ctx, b.db, p, scope, target, "QC reviewers only", auth.QCReviewer)
	if err != nil {
		return nil, err
	}
	return &catalog.View{Scope: scope, Role: role, States: []string{"released"}, Submissions: []string{b.submission},
		Rewrite: func(ds *dicom.Dataset) error {
			if ds.Get(dicom.SOPInstanceUID) != nil { // the header, not the elements after Pixel Data
				ds.SetString(dicom.PatientID, "LO", caseCode)
				ds.SetString(dicom.PatientName, "PN", caseCode)
			}
			return nil
		}}, nil
}

// stringOf is the first value of a DICOM JSON attribute.
func stringOf(t *testing.T, attr json.RawMessage) string {
	t.Helper()
	var v struct {
		Value []json.RawMessage
	}
	if err := json.Unmarshal(attr, &v); err != nil || len(v.Value) == 0 {
		t.Fatalf("attribute %s: %v", attr, err)
	}
	var s string
	if err := json.Unmarshal(v.Value[0], &s); err != nil {
		var pn struct{ Alphabetic string }
		if err := json.Unmarshal(v.Value[0], &pn); err != nil {
			t.Fatalf("value %s: %v", v.Value[0], err)
		}
		return pn.Alphabetic
	}
	return s
}

// asStored sends every instance in the syntax it is stored in.
func asStored(s dicom.Syntax) (dicom.Syntax, bool) { return s, true }

// retrieveOne retrieves the one instance of sel through policy: its
// bytes and the size the catalogue announced.
func retrieveOne(ctx context.Context, f *fixture, policy catalog.Policy, sel catalog.Selection) ([]byte, int64, error) {
	r, err := f.cat.Retrieve(ctx, f.qc, policy, "TC", sel, asStored)
	if err != nil {
		return nil, 0, err
	}
	var out []byte
	size := int64(0)
	err = r.Each(ctx, func(p catalog.Part, body io.Reader) error {
		b, err := io.ReadAll(body)
		out, size = b, p.Size
		return err
	})
	return out, size, err
}

// pixelData returns an object's bytes from its top-level Pixel Data tag on.
func pixelData(t *testing.T, b []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(b, []byte{0xE0, 0x7F, 0x10, 0x00})
	if i < 0 {
		t.Fatal("no Pixel Data")
	}
	return b[i:]
}

// A policy's view decides which instances a caller sees and how their
// headers leave: the rewrite applies to search results, metadata and
// retrieved objects alike, Pixel Data passes through byte for byte, the
// meta group follows the rewritten UIDs, and every access is recorded on
// the view's chain with the role used.
func TestPolicyScopesAndRewrites(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	view := blinded{db: f.db, submission: f.subs[0].Submission}
	a, b := f.subs[0], f.subs[1]

	q := catalog.Query{Level: catalog.StudyLevel, Limit: 10}
	res, err := f.cat.Search(ctx, f.qc, view, "TC", q, "/base")
	if err != nil {
		t.Fatal(err)
	}
	found := res.Matches
	if len(found) != 1 || res.Total != 1 {
		t.Fatalf("search: %d studies (total %d), want only the view's one", len(found), res.Total)
	}
	js, _ := json.Marshal(found[0])
	var study map[string]json.RawMessage
	json.Unmarshal(js, &study)
	if got := stringOf(t, study["0020000D"]); got != a.StudyInstanceUID {
		t.Errorf("search found study %s, want %s", got, a.StudyInstanceUID)
	}
	if got := stringOf(t, study["00100020"]); got != caseCode {
		t.Errorf("search result PatientID %q, want the rewritten %q", got, caseCode)
	}

	md, err := f.cat.Metadata(ctx, f.qc, view, "TC", catalog.Selection{Study: a.StudyInstanceUID, Series: a.SeriesInstanceUID}, "/base")
	if err != nil {
		t.Fatal(err)
	}
	if len(md) != 1 || stringOf(t, md[0]["00100020"]) != caseCode || stringOf(t, md[0]["00100010"]) != caseCode ||
		stringOf(t, md[0]["00080018"]) != a.SOPInstanceUID {
		t.Errorf("metadata %v, want the instance with its rewritten patient", md)
	}
	if _, err := f.cat.Metadata(ctx, f.qc, view, "TC", catalog.Selection{Study: b.StudyInstanceUID, Series: b.SeriesInstanceUID}, "/base"); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("metadata of a series outside the view: %v, want not found", err)
	}

	// As stored, through the QC view; rewritten, through the test view.
	qcView := catalog.QCView(f.db)
	selA := catalog.Selection{Study: a.StudyInstanceUID, Series: a.SeriesInstanceUID, Instance: a.SOPInstanceUID}
	stored, size, err := retrieveOne(ctx, f, qcView, selA)
	if err != nil || int64(len(stored)) != size {
		t.Fatalf("QC view retrieve: %d bytes of %d: %v", len(stored), size, err)
	}
	got, size, err := retrieveOne(ctx, f, view, selA)
	if err != nil || size != -1 {
		t.Fatalf("rewritten retrieve: size %d: %v", size, err)
	}
	obj, err := dicom.Parse(bytes.NewReader(got), dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if pid := obj.Dataset.String(dicom.PatientID); pid != caseCode {
		t.Errorf("retrieved PatientID %q, want %q", pid, caseCode)
	}
	if obj.Meta.String(dicom.MediaStorageSOPInstanceUID) != obj.Dataset.String(dicom.SOPInstanceUID) {
		t.Error("the meta group names another instance than the data set")
	}
	if !bytes.Equal(pixelData(t, got), pixelData(t, stored)) {
		t.Error("the rewritten object's Pixel Data differs from the stored object's")
	}
	selB := catalog.Selection{Study: b.StudyInstanceUID, Series: b.SeriesInstanceUID, Instance: b.SOPInstanceUID}
	if _, _, err := retrieveOne(ctx, f, view, selB); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("retrieve outside the view: %v, want not found", err)
	}

	// A stored object that no longer matches its hash fails the rewritten
	// stream too: only a read to the end verifies, and it does not verify.
	key := storage.Key(sha256.Sum256(stored))
	path := filepath.Join(f.objects, filepath.FromSlash(key))
	os.Chmod(path, 0o600)
	bad := bytes.Clone(stored)
	bad[len(bad)-1] ^= 0xff
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = retrieveOne(ctx, f, view, selA)
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("reading a corrupt object through a rewriting view: %v, want ErrCorrupt", err)
	}

	// Refused: recorded by the policy, naming what was asked for.
	if _, err := f.cat.Search(ctx, f.up, view, "TC", q, "/base"); trialgate.ErrorCode(err) != trialgate.EForbidden {
		t.Errorf("uploader's search: %v, want forbidden", err)
	}
	if err := f.db.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	err = f.db.AuditRecords(ctx, audit.Filter{Chains: []string{"trial/TC"}}, func(r *audit.Record) error {
		e, err := audit.Decode(r.Entry)
		if err != nil {
			return err
		}
		switch {
		case e.Action == audit.ActionAccessDenied && e.Actor.Username == "up1" && e.Object.String() == "dicomweb/view/TC":
			counts["denied"]++
		case e.Actor.Username == "qc1" && e.Actor.Role == "qc_reviewer" &&
			(e.Action == audit.ActionStudiesQueried || e.Action == audit.ActionInstanceRetrieved):
			counts[string(e.Action)]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One search; one metadata and three instance retrievals that found
	// their instance (the refused and missing ones record nothing).
	if counts["dicomweb.queried"] != 1 || counts["instance.retrieved"] != 4 || counts["denied"] != 1 {
		t.Errorf("recorded %v, want 1 search, 4 retrievals, 1 refusal", counts)
	}
}

// Frames, rendered images, bulk data and metadata go through the view too:
// inside it they come from the stored object (with the rewritten header),
// outside it they are not found, and each access is recorded.
func TestFramesRenderBulkThroughView(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	view := blinded{db: f.db, submission: f.subs[0].Submission}
	a, b := f.subs[0], f.subs[1]
	selA := catalog.Selection{Study: a.StudyInstanceUID, Series: a.SeriesInstanceUID, Instance: a.SOPInstanceUID}
	selB := catalog.Selection{Study: b.StudyInstanceUID, Series: b.SeriesInstanceUID, Instance: b.SOPInstanceUID}
	octets := func(s dicom.Syntax) (string, bool, bool) { return "application/octet-stream", false, !s.Encapsulated }

	frames := func(policy catalog.Policy, sel catalog.Selection) ([][]byte, error) {
		fs, err := f.cat.Frames(ctx, f.qc, policy, "TC", sel, nil, octets)
		if err != nil {
			return nil, err
		}
		defer fs.Close()
		var out [][]byte
		err = fs.Each(ctx, func(_ int, r io.Reader) error {
			b, err := io.ReadAll(r)
			out = append(out, b)
			return err
		})
		return out, err
	}
	viewed, err := frames(view, selA)
	if err != nil || len(viewed) == 0 {
		t.Fatalf("frames through the view: %v", err)
	}
	stored, err := frames(catalog.QCView(f.db), selA)
	if err != nil || len(stored) != len(viewed) || !bytes.Equal(stored[0], viewed[0]) {
		t.Fatalf("frames through the QC view differ: %v", err)
	}
	if _, err := frames(view, selB); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("frames outside the view: %v, want not found", err)
	}
	if _, err := f.cat.Frames(ctx, f.qc, view, "TC", selA, []int{99}, octets); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("frame 99: %v, want not found", err)
	}
	if _, err := f.cat.Frames(ctx, f.qc, view, "TC", selA, nil, func(dicom.Syntax) (string, bool, bool) { return "", false, false }); trialgate.ErrorCode(err) != trialgate.ENotAcceptable {
		t.Errorf("frames nobody accepts: %v, want not acceptable", err)
	}

	img, err := f.cat.Render(ctx, f.qc, view, "TC", catalog.Selection{Study: a.StudyInstanceUID}, 0, render.Options{Viewport: render.Viewport{Width: 32, Height: 32}})
	if err != nil || img.Bounds().Dx() > 32 || img.Bounds().Dy() > 32 {
		t.Errorf("study thumbnail through the view: %v, %v", img, err)
	}
	if _, err := f.cat.Render(ctx, f.qc, view, "TC", selB, 1, render.Options{}); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("render outside the view: %v, want not found", err)
	}
	if _, _, err := f.cat.BulkData(ctx, f.qc, view, "TC", selA, "00100010"); trialgate.ErrorCode(err) != trialgate.ENotFound {
		t.Errorf("bulk data of a text attribute: %v, want not found", err)
	}
	if _, _, err := f.cat.BulkData(ctx, f.qc, view, "TC", selA, "../x"); trialgate.ErrorCode(err) != trialgate.EInvalid {
		t.Errorf("malformed bulk data path: %v, want invalid", err)
	}
	if _, err := f.cat.Metadata(ctx, f.qc, view, "TC", catalog.Selection{Study: "1.02"}, "/base"); trialgate.ErrorCode(err) != trialgate.EInvalid {
		t.Errorf("metadata of an invalid UID: %v, want invalid", err)
	}

	if err := f.db.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	err = f.db.AuditRecords(ctx, audit.Filter{Chains: []string{"trial/TC"}}, func(r *audit.Record) error {
		e, err := audit.Decode(r.Entry)
		if err != nil || e.Action != audit.ActionInstanceRetrieved {
			return err
		}
		var after struct{ What string }
		json.Unmarshal(e.After.(json.RawMessage), &after)
		kinds[after.What]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two Pixel Data reads (view, QC view) and one thumbnail; the refused,
	// missing and unacceptable ones record nothing.
	if kinds["pixel data"] != 2 || kinds["rendered"] != 1 || kinds["bulkdata"] != 0 {
		t.Errorf("recorded %v", kinds)
	}
}

// BenchmarkRetrieve compares a retrieval through the QC view (the stored
// object, streamed) with one through a rewriting view (header parsed,
// rewritten and re-encoded, Pixel Data copied), side by side: the reader
// view is such a view.
func BenchmarkRetrieve(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	a := f.subs[0]
	sel := catalog.Selection{Study: a.StudyInstanceUID, Series: a.SeriesInstanceUID, Instance: a.SOPInstanceUID}
	for _, bm := range []struct {
		name   string
		policy catalog.Policy
	}{{"as-stored", catalog.QCView(f.db)}, {"rewritten", blinded{db: f.db, submission: a.Submission}}} {
		b.Run(bm.name, func(b *testing.B) {
			for range b.N {
				got, _, err := retrieveOne(ctx, f, bm.policy, sel)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(got)))
			}
		})
	}
}
