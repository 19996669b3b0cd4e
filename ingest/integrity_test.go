package ingest_test

// Upload integrity, on both database backends: what is refused before
// anything is stored (malformed UIDs, missing attributes, images without
// pixels), how a stub never blocks the complete file, and how one original
// instance is stored once, whoever sends it where, even when uploads race.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/dbtest"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/ingest"
	"github.com/trialgate/trialgate/storage"
	storagefs "github.com/trialgate/trialgate/storage/fs"
	"github.com/trialgate/trialgate/trial"
)

// The trials of every environment: two that keep nothing but the
// de-identified objects, one that keeps PHI originals too.
const (
	trialA    = "T-A"
	trialB    = "T-B"
	trialKeep = "T-KEEP"
)

const definition = `{"id":%q,"name":"Integrity","sites":[{"id":"S1","name":"One"},{"id":"S2","name":"Two"}],
 "visits":[{"id":"BL","label":"Baseline"},{"id":"W4","label":"Week 4"}],
 "deid":{"options":["retain_long_modified_dates"]%s},
 "qc":{"rules":[{"id":"mod","kind":"allowed_modalities","severity":"fail","modalities":["CT","MR","PT","CR","OT"]}]},
 "reads":{"design":"single","form":{"fields":[{"id":"resp","type":"choice","required":true,"choices":["yes","no"]}]}}}`

// backends open a fresh, migrated database of each kind.
var backends = []struct {
	name string
	open func(t *testing.T) *db.DB
}{
	{"sqlite", func(t *testing.T) *db.DB { d, _ := dbtest.OpenSQLite(t, nil); return d }},
	{"postgres", func(t *testing.T) *db.DB { d, _ := dbtest.OpenPostgres(t, nil); return d }},
}

// eachBackend runs fn on a fresh environment of every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, newEnv(t, b.open(t))) })
	}
}

// firstVersion reads trial definitions through the trial service, taking
// version 1 as approved: approval (an e-signature) is the trial package's
// to test, and every definition here is version 1.
type firstVersion struct{ *trial.Service }

func (f firstVersion) Approved(ctx context.Context, id string) (trial.Version, error) {
	return f.Load(ctx, id, 1)
}

// env is a pipeline over one database, with folder stores whose contents
// the tests list.
type env struct {
	db        *db.DB
	svc       *ingest.Service
	objects   string // the de-identified object store's folder
	originals string // the restricted store's folder
	barrier   *barrierStore
	up1, up2  *auth.Principal // site uploaders of S1 (every trial) and S2 (trial A)
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	e := &env{db: d, objects: filepath.Join(dir, "objects"), originals: filepath.Join(dir, "originals")}
	store, err := storagefs.New(e.objects)
	if err != nil {
		t.Fatal(err)
	}
	originals, err := storagefs.New(e.originals)
	if err != nil {
		t.Fatal(err)
	}
	e.barrier = &barrierStore{Store: store}
	trials := trial.NewService(d, nil, nil)
	for _, id := range []string{trialA, trialB, trialKeep} {
		keep := ""
		if id == trialKeep {
			keep = `,"keep_original":true`
		}
		dm := auth.Operator("test", "tester", "Test Operator", auth.Grant{Role: auth.DataManager, Trial: id})
		if _, err := trials.Create(ctx, dm, fmt.Appendf(nil, definition, id, keep)); err != nil {
			t.Fatalf("define %s: %v", id, err)
		}
	}
	e.svc, err = ingest.New(ingest.Config{DB: d, Store: e.barrier, Originals: originals, Trials: firstVersion{trials},
		Secret: bytes.Repeat([]byte{9}, 32), TempDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.up1 = uploader("u_000000000000000000000001", "up1", "S1", trialA, trialB, trialKeep)
	e.up2 = uploader("u_000000000000000000000002", "up2", "S2", trialA)
	return e
}

func uploader(id, name, site string, trials ...string) *auth.Principal {
	p := &auth.Principal{User: auth.User{ID: id, Username: name, FullName: "Uploader " + name, Active: true}}
	for _, tr := range trials {
		p.Grants = append(p.Grants, auth.Grant{Role: auth.SiteUploader, Trial: tr, Site: site})
	}
	return p
}

// submission opens a submission for p.
func (e *env) submission(t *testing.T, p *auth.Principal, trialID, site, subject, visit string) string {
	t.Helper()
	sub, err := e.svc.CreateSubmission(t.Context(), p, trialID, site, subject, visit)
	if err != nil {
		t.Fatalf("open submission %s/%s/%s: %v", site, subject, visit, err)
	}
	return sub.ID
}

// upload sends parts as one STOW-RS request would and returns their
// receipts.
func (e *env) upload(t *testing.T, p *auth.Principal, target ingest.Target, parts ...[]byte) []ingest.Receipt {
	t.Helper()
	ctx := t.Context()
	up, err := e.svc.Begin(ctx, p, target)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	var out []ingest.Receipt
	for _, b := range parts {
		r, err := up.Store(ctx, bytes.NewReader(b))
		if err != nil {
			t.Fatalf("store: %v", err)
		}
		out = append(out, r)
	}
	return out
}

func (e *env) uploadOne(t *testing.T, p *auth.Principal, sub string, b []byte) ingest.Receipt {
	t.Helper()
	return e.upload(t, p, ingest.Target{Submission: sub}, b)[0]
}

// listObjects returns the keys of every object in a folder store.
func listObjects(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	root := filepath.Join(dir, "sha256")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		keys = append(keys, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// row is an instance as the tests check it.
type row struct {
	trial, sop, submission, object string
	originalKey                    *string
}

// rows returns every stored instance.
func (e *env) rows(t *testing.T) []row {
	t.Helper()
	ctx := t.Context()
	var out []row
	err := e.db.Read(ctx, func(r *db.Reader) error {
		rs, err := r.Query(ctx, `SELECT trial_id, sop_uid, submission_id, object_sha256, original_key FROM instances ORDER BY trial_id, sop_uid`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var x row
			if err := rs.Scan(&x.trial, &x.sop, &x.submission, &x.object, &x.originalKey); err != nil {
				return err
			}
			out = append(out, x)
		}
		return rs.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkStores checks the invariant the pipeline keeps whatever happens:
// every row's objects exist, and the stores hold nothing else.
func (e *env) checkStores(t *testing.T) {
	t.Helper()
	want, wantOrig := map[string]bool{}, map[string]bool{}
	for _, r := range e.rows(t) {
		want["sha256/"+r.object[:2]+"/"+r.object] = true
		if r.originalKey != nil {
			wantOrig[*r.originalKey] = true
		}
	}
	for _, s := range []struct {
		dir  string
		want map[string]bool
	}{{e.objects, want}, {e.originals, wantOrig}} {
		have := listObjects(t, s.dir)
		for _, k := range have {
			if !s.want[k] {
				t.Errorf("%s: object %s is referenced by no instance (an orphan)", filepath.Base(s.dir), k)
			}
		}
		for k := range s.want {
			if !slices.Contains(have, k) {
				t.Errorf("%s: an instance references %s, which is missing", filepath.Base(s.dir), k)
			}
		}
	}
}

// entry is an audit entry as the tests read it.
type entry struct {
	chain string
	raw   []byte
	audit.Entry
	after map[string]any
}

// entries returns the chained entries of a trial with the given action.
func (e *env) entries(t *testing.T, trialID string, action audit.Action) []entry {
	t.Helper()
	ctx := t.Context()
	if err := e.db.WaitChained(ctx); err != nil {
		t.Fatal(err)
	}
	var out []entry
	err := e.db.AuditRecords(ctx, audit.Filter{Chains: []string{audit.ChainOf(trialID)}, Action: action}, func(r *audit.Record) error {
		en, err := audit.Decode(r.Entry)
		if err != nil {
			return err
		}
		var w struct {
			After map[string]any `json:"after"`
		}
		if err := json.Unmarshal(r.Entry, &w); err != nil {
			return err
		}
		out = append(out, entry{chain: r.Chain, raw: bytes.Clone(r.Entry), Entry: *en, after: w.After})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// barrierStore holds every Put until n of them wait (or a while has
// passed), so that racing uploads are all past their look-up before any
// commits: the race is then decided by the database's unique indexes.
type barrierStore struct {
	storage.Store
	mu      sync.Mutex
	n       int // 0: no barrier
	waiting int
	open    chan struct{}
}

// arm makes the next n Puts wait for each other.
func (b *barrierStore) arm(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n, b.waiting, b.open = n, 0, make(chan struct{})
}

func (b *barrierStore) Put(ctx context.Context, r io.Reader) (storage.Object, error) {
	b.mu.Lock()
	open := b.open
	if b.n > 0 {
		if b.waiting++; b.waiting == b.n {
			close(b.open)
			b.n = 0
		}
	}
	b.mu.Unlock()
	if open != nil {
		select {
		case <-open:
		case <-time.After(20 * time.Second):
		}
	}
	return b.Store.Put(ctx, r)
}

// Instances the tests make.

const classCT = "1.2.840.10008.5.1.4.1.1.2"

var uidSeq atomic.Int64

// newUID returns a UID no test used before.
func newUID() string {
	return fmt.Sprintf("1.2.826.0.1.3680043.10.1457.%d.%d", time.Now().UnixNano(), uidSeq.Add(1))
}

// ct describes a synthetic CT image. Empty UIDs are left out; raw values
// replace elements byte for byte (nil removes the element).
type ct struct {
	class, sop, study, series string
	raw                       map[dicom.Tag][]byte
	syntax                    []byte // raw (0002,0010), else explicit VR little endian
	metaClass                 []byte // raw (0002,0002), else the class
	noPixels                  bool
	description               string
}

func newCT() ct {
	return ct{class: classCT, sop: newUID(), study: newUID(), series: newUID(), description: "AXIAL"}
}

func (c ct) bytes(t *testing.T) []byte {
	t.Helper()
	syntax, err := dicom.LookupSyntax(dicom.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	meta := dicom.NewMeta(classCT, "1.2.3.4", syntax)
	if c.class != "" {
		meta.SetString(dicom.MediaStorageSOPClassUID, "UI", c.class)
	}
	if c.metaClass != nil {
		meta.Set(&dicom.Element{Tag: dicom.MediaStorageSOPClassUID, VR: "UI", Value: c.metaClass})
	}
	if c.syntax != nil {
		meta.Set(&dicom.Element{Tag: dicom.TransferSyntaxUID, VR: "UI", Value: c.syntax})
	}
	ds := &dicom.Dataset{}
	ds.SetString(dicom.SpecificCharacterSet, "CS", "ISO_IR 100")
	ds.SetString(dicom.Modality, "CS", "CT")
	ds.SetString(dicom.SeriesDescription, "LO", c.description)
	ds.SetString(dicom.PatientName, "PN", "Doe^Jane")
	ds.SetString(dicom.PatientID, "LO", "PID-42")
	ds.SetString(dicom.InstanceNumber, "IS", "1")
	for _, u := range []struct {
		tag dicom.Tag
		v   string
	}{{dicom.SOPClassUID, c.class}, {dicom.SOPInstanceUID, c.sop}, {dicom.StudyInstanceUID, c.study}, {dicom.SeriesInstanceUID, c.series}} {
		if u.v != "" {
			ds.SetString(u.tag, "UI", u.v)
		}
	}
	ds.Set(&dicom.Element{Tag: dicom.Rows, VR: "US", Value: binary.LittleEndian.AppendUint16(nil, 8)})
	ds.Set(&dicom.Element{Tag: dicom.Columns, VR: "US", Value: binary.LittleEndian.AppendUint16(nil, 8)})
	for tag, v := range c.raw {
		if v == nil {
			ds.Remove(tag)
			continue
		}
		ds.Set(&dicom.Element{Tag: tag, VR: "UI", Value: v})
	}
	if !c.noPixels {
		ds.Set(&dicom.Element{Tag: dicom.PixelData, VR: "OW", Value: bytes.Repeat([]byte{1, 2}, 64)})
	}
	var b bytes.Buffer
	if err := dicom.Encode(&b, meta, ds, syntax); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// realFile reads a file of testdata/real.
func realFile(t *testing.T, name string) []byte {
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

// variant is a real file under a new SOP Instance UID (and, if tags is
// not nil, with its Clinical Trial Subject module set): the same header
// and Pixel Data, byte for byte.
func variant(t *testing.T, src []byte, sop string, tags ...string) []byte {
	t.Helper()
	obj, err := dicom.Parse(bytes.NewReader(src), dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Dataset.SetString(dicom.SOPInstanceUID, "UI", sop)
	obj.Meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", sop)
	if len(tags) == 3 {
		obj.Dataset.SetString(dicom.ClinicalTrialSiteID, "LO", tags[0])
		obj.Dataset.SetString(dicom.ClinicalTrialSubjectID, "LO", tags[1])
		obj.Dataset.SetString(dicom.ClinicalTrialTimePointID, "LO", tags[2])
	}
	var b bytes.Buffer
	if _, err := obj.Write(&b, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cutAt returns b up to (not including) the last occurrence of an explicit
// VR little endian element header for tag with vr: a complete file cut
// off exactly at that element's boundary.
func cutAt(t *testing.T, b []byte, tag dicom.Tag, vr string) []byte {
	t.Helper()
	h := binary.LittleEndian.AppendUint16(nil, tag.Group())
	h = binary.LittleEndian.AppendUint16(h, tag.Element())
	h = append(h, vr...)
	i := bytes.LastIndex(b, h)
	if i < 0 {
		t.Fatalf("no %s %s in the file", tag, vr)
	}
	return b[:i]
}

// wantFailure checks a receipt's refusal.
func wantFailure(t *testing.T, r ingest.Receipt, code uint16, reason string) {
	t.Helper()
	if r.Stored != nil || r.Failure != code || !strings.Contains(r.Reason, reason) {
		t.Errorf("receipt %04X %q (stored %+v), want %04X naming %q", r.Failure, r.Reason, r.Stored, code, reason)
	}
}

// Every malformed instance is refused before anything is derived from it,
// with the reason naming the attribute; nothing is stored, no UID of it is
// remapped, and its entry quotes none of its values.
func TestRefusedBeforeStoring(t *testing.T) {
	pet := realFile(t, "1.dcm")
	long := []byte(strings.Repeat("1.23.456.", 33) + "789") // 300 characters
	bad := []struct {
		name  string
		value []byte
	}{
		{"a path", []byte("../../etc/passwd")},
		{"a slash", []byte("/\x00")},
		{"300 characters", long},
		{"an embedded NUL", []byte("1.2\x00.3")},
		{"space padding", []byte("1.2.3.4 ")},
		{"a leading zero", []byte("1.2.03\x00")},
	}
	type refusal struct {
		name   string
		file   func(t *testing.T) []byte
		code   uint16
		reason string
		quoted []byte // a value the refusal must not echo
	}
	cases := []refusal{
		{"no SOP Class UID", func(t *testing.T) []byte { c := newCT(); c.class = ""; return c.bytes(t) },
			ingest.FailDoesNotMatch, "(0008,0016) SOP Class UID is missing", nil},
		{"no SOP Instance UID", func(t *testing.T) []byte { c := newCT(); c.sop = ""; return c.bytes(t) },
			ingest.FailDoesNotMatch, "(0008,0018) SOP Instance UID is missing", nil},
		{"no Study Instance UID", func(t *testing.T) []byte { c := newCT(); c.study = ""; return c.bytes(t) },
			ingest.FailDoesNotMatch, "(0020,000D) Study Instance UID is missing", nil},
		{"no Series Instance UID", func(t *testing.T) []byte { c := newCT(); c.series = ""; return c.bytes(t) },
			ingest.FailDoesNotMatch, "(0020,000E) Series Instance UID is missing", nil},
		{"an empty SOP Instance UID", func(t *testing.T) []byte {
			c := newCT()
			c.raw = map[dicom.Tag][]byte{dicom.SOPInstanceUID: {}}
			return c.bytes(t)
		}, ingest.FailDoesNotMatch, "(0008,0018) SOP Instance UID is missing", nil},
		{"a CT without Pixel Data", func(t *testing.T) []byte { c := newCT(); c.noPixels = true; return c.bytes(t) },
			ingest.FailDoesNotMatch, "(CT Image Storage) requires Pixel Data", nil},
		{"a real PET cut before its Pixel Data", func(t *testing.T) []byte { return cutAt(t, pet, dicom.PixelData, "OW") },
			ingest.FailDoesNotMatch, "(Positron Emission Tomography Image Storage) requires Pixel Data", nil},
		{"a real PET cut before its UIDs", func(t *testing.T) []byte { return cutAt(t, pet, dicom.SOPClassUID, "UI") },
			ingest.FailDoesNotMatch, "(0008,0016) SOP Class UID is missing", nil},
		{"an unknown transfer syntax", func(t *testing.T) []byte {
			c := newCT()
			c.syntax = []byte("1.2.840.10008.1.2.4.999\x00")
			return c.bytes(t)
		}, ingest.FailTransferSyntax, "transfer syntax 1.2.840.10008.1.2.4.999 is not supported", nil},
		{"a known transfer syntax padded with a space", func(t *testing.T) []byte {
			c := newCT()
			c.syntax = []byte(dicom.ExplicitVRLittleEndian + " ")
			return c.bytes(t)
		}, ingest.FailCannotUnderstand, "(0002,0010) Transfer Syntax UID is not a valid UID: it holds a space at position 20", nil},
	}
	for _, v := range bad {
		for _, a := range []struct {
			tag  dicom.Tag
			name string
		}{{dicom.SOPClassUID, "(0008,0016) SOP Class UID"}, {dicom.SOPInstanceUID, "(0008,0018) SOP Instance UID"},
			{dicom.StudyInstanceUID, "(0020,000D) Study Instance UID"}, {dicom.SeriesInstanceUID, "(0020,000E) Series Instance UID"}} {
			cases = append(cases, refusal{a.name + " is " + v.name, func(t *testing.T) []byte {
				c := newCT()
				c.raw = map[dicom.Tag][]byte{a.tag: v.value}
				return c.bytes(t)
			}, ingest.FailCannotUnderstand, a.name + " is not a valid UID", v.value})
		}
		cases = append(cases, refusal{"(0002,0010) is " + v.name, func(t *testing.T) []byte {
			c := newCT()
			c.syntax = v.value
			return c.bytes(t)
		}, ingest.FailCannotUnderstand, "(0002,0010) Transfer Syntax UID is not a valid UID", v.value})
		cases = append(cases, refusal{"(0002,0002) is " + v.name, func(t *testing.T) []byte {
			c := newCT()
			c.metaClass = v.value
			return c.bytes(t)
		}, ingest.FailCannotUnderstand, "(0002,0002) Media Storage SOP Class UID is not a valid UID", v.value})
	}

	eachBackend(t, func(t *testing.T, e *env) {
		sub := e.submission(t, e.up1, trialA, "S1", "R-1", "BL")
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				file := c.file(t)
				before := len(e.entries(t, trialA, audit.ActionInstanceRejected))
				r := e.uploadOne(t, e.up1, sub, file)
				wantFailure(t, r, c.code, c.reason)
				for _, u := range []string{r.SOPClassUID, r.SOPInstanceUID} {
					if u != "" && ingest.UIDProblem([]byte(u)) != "" {
						t.Errorf("the receipt names an invalid UID %q", u)
					}
				}
				if n := len(e.rows(t)); n != 0 {
					t.Errorf("%d instances stored", n)
				}
				if keys := listObjects(t, e.objects); len(keys) != 0 {
					t.Errorf("objects stored: %v", keys)
				}
				rejected := e.entries(t, trialA, audit.ActionInstanceRejected)
				if len(rejected) != before+1 {
					t.Fatalf("%d instance.rejected entries, want %d", len(rejected), before+1)
				}
				last := rejected[len(rejected)-1]
				if last.Outcome != audit.Failed || last.Reason != r.Reason || last.after["failure_reason"] != float64(c.code) {
					t.Errorf("entry %s", last.raw)
				}
				if v := bytes.Trim(c.quoted, "\x00 "); len(v) > 2 && (bytes.Contains(last.raw, v) || strings.Contains(r.Reason, string(v))) {
					t.Errorf("the refusal quotes the invalid value: %s", last.raw)
				}
			})
		}
		// Nothing was de-identified: no remapped UID was ever recorded.
		for _, a := range []audit.Action{audit.ActionInstanceReceived, audit.ActionInstanceDeidentified} {
			if n := len(e.entries(t, trialA, a)); n != 0 {
				t.Errorf("%d %s entries", n, a)
			}
		}
	})
}

// A stub (a complete file cut off at an element boundary before Pixel
// Data, with or without its UIDs) is refused and never blocks the complete
// file, whichever comes first.
func TestStubNeverBlocksTheFile(t *testing.T) {
	for _, name := range []string{"1.dcm", "3.dcm"} {
		src := realFile(t, name)
		// One subtest per file around the backends': a repeated subtest
		// name gets a "#01" suffix, which db/sqlite's file: URI would cut.
		t.Run(name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, e *env) {
				for i, order := range []struct {
					name  string
					first bool // the complete file first
					cut   dicom.Tag
					vr    string
				}{
					{"stub then file", false, dicom.PixelData, "OW"},
					{"stub without UIDs then file", false, dicom.SOPClassUID, "UI"},
					{"file then stub", true, dicom.PixelData, "OW"},
					{"file then stub without UIDs", true, dicom.SOPClassUID, "UI"},
				} {
					t.Run(order.name, func(t *testing.T) {
						file := variant(t, src, newUID())
						stub := cutAt(t, file, order.cut, order.vr)
						sub := e.submission(t, e.up1, trialA, "S1", fmt.Sprintf("STUB-%d", i), "BL")
						parts := [][]byte{stub, file}
						if order.first {
							parts = [][]byte{file, stub}
						}
						before := len(e.rows(t))
						rs := e.upload(t, e.up1, ingest.Target{Submission: sub}, parts...)
						got, stubbed := rs[1], rs[0]
						if order.first {
							got, stubbed = rs[0], rs[1]
						}
						if got.Stored == nil || got.Stored.Duplicate {
							t.Fatalf("the complete file: %04X %q, duplicate %v", got.Failure, got.Reason, got.Stored != nil)
						}
						wantFailure(t, stubbed, ingest.FailDoesNotMatch, "")
						if n := len(e.rows(t)); n != before+1 {
							t.Errorf("%d instances, want %d", n, before+1)
						}
						e.checkStores(t)
					})
				}
			})
		})
	}
}

// The same original instance sent for another subject, visit, site or
// trial is refused as a conflict and audited as a site error; the same
// bytes for the same subject's visit are a duplicate. The first instance
// is untouched either way.
func TestSameInstanceElsewhere(t *testing.T) {
	src := realFile(t, "3.dcm")
	type place struct {
		p                           func(e *env) *auth.Principal
		trial, site, subject, visit string
	}
	cases := []struct {
		name     string
		second   place
		complete bool   // complete the first submission before
		tags     bool   // send through the trial endpoint, placed by its tags
		conflict string // the conflict recorded, "" for a duplicate
		reason   []string
		hidden   []string // what the reason must not reveal
	}{
		{name: "the same submission", second: place{trial: trialA, site: "S1", visit: "BL"}},
		{name: "a new submission of the same visit", complete: true, second: place{trial: trialA, site: "S1", visit: "BL"}},
		{name: "another subject", second: place{trial: trialA, site: "S1", subject: "OTHER", visit: "BL"},
			conflict: "subject", reason: []string{"another subject of this trial (FIRST-", "visit BL", "mixed up", "not stored for subject OTHER"}},
		{name: "another visit", second: place{trial: trialA, site: "S1", visit: "W4"},
			conflict: "visit", reason: []string{"another visit (BL) of this subject", "mixed up"}},
		{name: "another site's subject", second: place{p: func(e *env) *auth.Principal { return e.up2 }, trial: trialA, site: "S2", subject: "THEIRS", visit: "BL"},
			conflict: "site", reason: []string{"a subject of another site", "not stored for subject THEIRS"}, hidden: []string{"FIRST-", "sub-"}},
		{name: "another trial", second: place{trial: trialB, site: "S1", subject: "B-SIDE", visit: "BL"},
			conflict: "trial", reason: []string{"another trial"}, hidden: []string{"FIRST-", "T-A", "sub-"}},
		{name: "another subject through the trial endpoint", tags: true, second: place{trial: trialA, site: "S1", subject: "TAGGED", visit: "BL"},
			conflict: "subject", reason: []string{"another subject of this trial (FIRST-"}},
	}
	eachBackend(t, func(t *testing.T, e *env) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ctx := t.Context()
				first := fmt.Sprintf("FIRST-%d", i)
				sop := newUID()
				file := variant(t, src, sop)
				sub := e.submission(t, e.up1, trialA, "S1", first, "BL")
				stored := e.uploadOne(t, e.up1, sub, file)
				if stored.Stored == nil {
					t.Fatalf("first upload: %04X %s", stored.Failure, stored.Reason)
				}
				received := e.entries(t, trialA, audit.ActionInstanceReceived)
				firstHMAC := received[len(received)-1].after["original_sop_instance_hmac"]
				if c.complete {
					if _, err := e.svc.Complete(ctx, e.up1, sub); err != nil {
						t.Fatal(err)
					}
				}

				s := c.second
				p := e.up1
				if s.p != nil {
					p = s.p(e)
				}
				if s.subject == "" {
					s.subject = first
				}
				var r ingest.Receipt
				switch {
				case c.tags:
					file = variant(t, src, sop, s.site, s.subject, s.visit)
					r = e.upload(t, p, ingest.Target{Trial: s.trial}, file)[0]
				case c.name == "the same submission":
					r = e.uploadOne(t, p, sub, file)
				default:
					r = e.uploadOne(t, p, e.submission(t, p, s.trial, s.site, s.subject, s.visit), file)
				}
				keys, rows := listObjects(t, e.objects), e.rows(t)
				conflicts := e.entries(t, s.trial, audit.ActionInstanceConflict)

				if c.conflict == "" {
					if r.Stored == nil || !r.Stored.Duplicate || r.Stored.SOPInstanceUID != stored.Stored.SOPInstanceUID {
						t.Fatalf("a retry: %+v %04X %s, want the stored instance as a duplicate", r.Stored, r.Failure, r.Reason)
					}
					if n := len(e.entries(t, trialA, audit.ActionInstanceDuplicate)); n == 0 {
						t.Error("no instance.duplicate entry")
					}
				} else {
					wantFailure(t, r, ingest.FailDuplicateSOP, "")
					for _, want := range c.reason {
						if !strings.Contains(r.Reason, want) {
							t.Errorf("reason %q does not say %q", r.Reason, want)
						}
					}
					for _, secret := range c.hidden {
						if strings.Contains(r.Reason, secret) {
							t.Errorf("reason %q reveals %q", r.Reason, secret)
						}
					}
					if r.SOPInstanceUID != sop {
						t.Errorf("the receipt names %q, want the sender's UID", r.SOPInstanceUID)
					}
					checkConflictEntry(t, conflicts, c.conflict, s.trial, s.site, r.Reason, first, sop, firstHMAC)
				}
				// The first instance is untouched, nothing else was stored,
				// no submission was opened for the refused one's tags.
				if n := len(e.rows(t)); n != len(rows) {
					t.Errorf("rows changed")
				}
				v, err := e.svc.Submission(ctx, e.up1, sub)
				if err != nil {
					t.Fatal(err)
				}
				if len(v.Instances) != 1 || v.Instances[0].SOPInstanceUID != stored.Stored.SOPInstanceUID {
					t.Errorf("the first submission now holds %+v", v.Instances)
				}
				if n := countRows(t, e, trialA, stored.Stored.SOPInstanceUID); n != 1 {
					t.Errorf("%d rows for the first instance", n)
				}
				if c.tags && countSubmissions(t, e, s.subject) != 0 {
					t.Error("a submission was opened for the refused instance")
				}
				if after := listObjects(t, e.objects); !slices.Equal(after, keys) {
					t.Errorf("objects changed: %v -> %v", keys, after)
				}
				e.checkStores(t)
			})
		}
	})
}

// checkConflictEntry checks the newest instance.conflict entry of a
// trial: on the trial's chain in the refused upload's scope, both sides
// named where the trial may name them, the original UID nowhere in clear.
func checkConflictEntry(t *testing.T, es []entry, kind, trialID, site, reason, first, sop string, firstHMAC any) {
	t.Helper()
	if len(es) == 0 {
		t.Fatal("no instance.conflict entry")
	}
	en := es[len(es)-1]
	if en.Outcome != audit.Failed || en.Trial != trialID || en.Site != site || en.chain != audit.ChainOf(trialID) || en.Reason != reason {
		t.Errorf("entry: %s", en.raw)
	}
	if en.after["conflict"] != kind || en.after["failure_reason"] != float64(ingest.FailDuplicateSOP) {
		t.Errorf("entry after: %v", en.after)
	}
	if bytes.Contains(en.raw, []byte(sop)) {
		t.Errorf("the entry holds the original SOP Instance UID in clear: %s", en.raw)
	}
	storedIn, _ := en.after["stored_in"].(map[string]any)
	receivedFor, _ := en.after["received_for"].(map[string]any)
	if receivedFor["site"] != site {
		t.Errorf("received_for %v", receivedFor)
	}
	if kind == "trial" {
		if storedIn["other_trial"] != true || len(storedIn) != 1 || bytes.Contains(en.raw, []byte(first)) {
			t.Errorf("another trial's side is recorded: %s", en.raw)
		}
		return
	}
	if storedIn["subject"] != first || storedIn["visit"] != "BL" || storedIn["site"] != "S1" || storedIn["submission"] == nil {
		t.Errorf("stored_in %v", storedIn)
	}
	if en.Object.Type != "instance" || en.Object.ID != storedIn["sop_instance_uid"] {
		t.Errorf("object %+v", en.Object)
	}
	if en.after["original_sop_instance_hmac"] != firstHMAC || firstHMAC == nil {
		t.Errorf("the conflict's pseudonym %v is not the first instance.received's %v", en.after["original_sop_instance_hmac"], firstHMAC)
	}
}

func countRows(t *testing.T, e *env, trialID, sop string) int {
	t.Helper()
	return count(t, e, `SELECT count(*) FROM instances WHERE trial_id = $1 AND sop_uid = $2`, trialID, sop)
}

func countSubmissions(t *testing.T, e *env, subject string) int {
	t.Helper()
	return count(t, e, `SELECT count(*) FROM submissions WHERE subject = $1`, subject)
}

func count(t *testing.T, e *env, query string, args ...any) int {
	t.Helper()
	var n int
	err := e.db.Read(t.Context(), func(r *db.Reader) error { return r.QueryRow(t.Context(), query, args...).Scan(&n) })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two parts with one SOP Instance UID and different bytes: the first is
// stored, the second refused before it writes anything.
func TestSameInstanceOtherBytes(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sub := e.submission(t, e.up1, trialA, "S1", "BYTES-1", "BL")
		a := newCT()
		b := a
		b.description = "CORONAL"
		rs := e.upload(t, e.up1, ingest.Target{Submission: sub}, a.bytes(t), b.bytes(t))
		if rs[0].Stored == nil {
			t.Fatalf("first part: %04X %s", rs[0].Failure, rs[0].Reason)
		}
		wantFailure(t, rs[1], ingest.FailDuplicateSOP, "already received for this subject's visit with other content")
		if keys := listObjects(t, e.objects); len(keys) != 1 {
			t.Errorf("objects %v, want only the stored instance's", keys)
		}
		rej := e.entries(t, trialA, audit.ActionInstanceRejected)
		if len(rej) != 1 || rej[0].after["failure_reason"] != float64(ingest.FailDuplicateSOP) || rej[0].Object.Type != "instance" {
			t.Errorf("entries %v", rej)
		}
		e.checkStores(t)
	})
}

// Uploads of one instance that race past the look-up (every Put is held
// until all have reached it) are decided by the unique indexes: exactly
// one is stored, the others are refused or, for the same bytes and place,
// answered as duplicates; whatever the losers wrote is removed unless the
// winner references it, and no instance is left without its objects.
func TestRaces(t *testing.T) {
	const n = 4
	src := realFile(t, "3.dcm")
	type upload struct {
		trial, site, subject string
		file                 int // index into the files of the case
	}
	cases := []struct {
		name       string
		files      int // distinct files, all with the same SOP Instance UID
		uploads    []upload
		duplicates int    // uploads answered as duplicates
		refusal    string // the losers' reason
		conflicts  int    // instance.conflict entries
		originals  int    // objects in the restricted store afterwards
	}{
		{name: "subjects of one site", files: 1, refusal: "another subject of this trial", conflicts: n - 1,
			uploads: []upload{{trialA, "S1", "RACE-1", 0}, {trialA, "S1", "RACE-2", 0}, {trialA, "S1", "RACE-3", 0}, {trialA, "S1", "RACE-4", 0}}},
		{name: "two trials", files: 1, refusal: "", conflicts: 1,
			uploads: []upload{{trialA, "S1", "RACE-5", 0}, {trialB, "S1", "RACE-5", 0}}},
		{name: "other bytes, one visit", files: n, refusal: "with other content",
			uploads: []upload{{trialA, "S1", "RACE-6", 0}, {trialA, "S1", "RACE-6", 1}, {trialA, "S1", "RACE-6", 2}, {trialA, "S1", "RACE-6", 3}}},
		{name: "the same bytes, one visit", files: 1, duplicates: n - 1,
			uploads: []upload{{trialA, "S1", "RACE-7", 0}, {trialA, "S1", "RACE-7", 0}, {trialA, "S1", "RACE-7", 0}, {trialA, "S1", "RACE-7", 0}}},
		{name: "kept originals, two subjects", files: 1, refusal: "another subject of this trial", conflicts: 1, originals: 1,
			uploads: []upload{{trialKeep, "S1", "RACE-8", 0}, {trialKeep, "S1", "RACE-9", 0}}},
	}
	eachBackend(t, func(t *testing.T, e *env) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ctx := t.Context()
				sop := newUID()
				files := make([][]byte, c.files)
				for i := range files {
					files[i] = variant(t, src, sop, "S1", fmt.Sprintf("V%d", i), "BL") // distinct bytes, one UID
				}
				subs := map[string]string{}
				for _, u := range c.uploads {
					if subs[u.trial+u.subject] == "" {
						subs[u.trial+u.subject] = e.submission(t, e.up1, u.trial, u.site, u.subject, "BL")
					}
				}
				before := listObjects(t, e.objects)
				conflictsBefore := 0
				for _, tr := range []string{trialA, trialB, trialKeep} {
					conflictsBefore += len(e.entries(t, tr, audit.ActionInstanceConflict))
				}
				e.barrier.arm(len(c.uploads))
				receipts := make([]ingest.Receipt, len(c.uploads))
				var wg sync.WaitGroup
				for i, u := range c.uploads {
					wg.Go(func() {
						up, err := e.svc.Begin(ctx, e.up1, ingest.Target{Submission: subs[u.trial+u.subject]})
						if err == nil {
							receipts[i], err = up.Store(ctx, bytes.NewReader(files[u.file]))
						}
						if err != nil {
							t.Errorf("upload %d: %v", i, err)
						}
					})
				}
				wg.Wait()
				stored, dups := 0, 0
				for i, r := range receipts {
					switch {
					case r.Stored != nil && r.Stored.Duplicate:
						dups++
					case r.Stored != nil:
						stored++
					default:
						if r.Failure != ingest.FailDuplicateSOP || !strings.Contains(r.Reason, c.refusal) {
							t.Errorf("upload %d: %04X %q, want 0111 saying %q", i, r.Failure, r.Reason, c.refusal)
						}
					}
				}
				if stored != 1 || dups != c.duplicates {
					t.Errorf("%d stored, %d duplicates; want 1 and %d", stored, dups, c.duplicates)
				}
				conflicts := -conflictsBefore
				for _, tr := range []string{trialA, trialB, trialKeep} {
					conflicts += len(e.entries(t, tr, audit.ActionInstanceConflict))
				}
				if conflicts != c.conflicts {
					t.Errorf("%d instance.conflict entries, want %d", conflicts, c.conflicts)
				}
				if added := len(listObjects(t, e.objects)) - len(before); added != 1 {
					t.Errorf("%d objects added, want 1 (the winner's)", added)
				}
				if got := len(listObjects(t, e.originals)); got != c.originals {
					t.Errorf("%d kept originals, want %d", got, c.originals)
				}
				e.checkStores(t)
			})
		}
	})
}
