package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trialgate/trialgate/db/postgres/pgtest"
	"github.com/trialgate/trialgate/dicom"
)

// Upload integrity through the real gateway over HTTP, on both database
// backends, with the objects in the data directory so that the test can
// list the store: malformed instances are refused with a reason and leave
// nothing, a stub never blocks its file, one original instance is stored
// once whoever sends it where, and a refused part leaves no object.
func TestUploadIntegrity(t *testing.T) {
	dir := realDir(t)
	for _, b := range []struct {
		name string
		args func(t *testing.T, dataDir string) []string
	}{
		{"embedded", func(t *testing.T, dataDir string) []string { return []string{"--data-dir", dataDir} }},
		{"postgres", func(t *testing.T, dataDir string) []string {
			return []string{"--data-dir", dataDir, "--database-url", pgtest.NewDatabase(t)}
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			dataDir := t.TempDir()
			g := &gateway{t: t, args: b.args(t, dataDir)}
			defineIngestTrial(t, g)
			g.serve()
			uma, first := openSubmission(t, g.base, "INT-000")
			h := &integrity{g: g, uma: uma, ines: token(t, g.base, "ines"), quinn: token(t, g.base, "quinn"),
				objects: filepath.Join(dataDir, "objects"), dir: dir, subs: []string{first}}
			t.Run("stub and file, both orders", h.stubs)
			t.Run("same file for two subjects", h.twoSubjects)
			t.Run("same SOP instance, other bytes", h.otherBytes)
			t.Run("invalid UIDs", h.invalidUIDs)
			t.Run("image without pixel data", h.noPixels)
			t.Run("race into two subjects", h.race)
			h.noOrphans(t)
			var rep struct{ OK bool }
			if r := do(t, "GET", g.base+"/api/v1/audit/verify?trial=T-E2E", h.ines, "", nil); r.status != http.StatusOK {
				t.Errorf("verify: %d %s", r.status, r.body)
			} else if r.json(t, &rep); !rep.OK {
				t.Errorf("the trail does not verify: %s", r.body)
			}
		})
	}
}

// integrity is one gateway under test, with what its subtests share.
type integrity struct {
	g              *gateway
	uma            string // site uploader of S1
	ines, quinn    string // inspector, QC reviewer
	objects        string // the object store's folder
	dir            string // the real test files
	subs           []string
	mu             sync.Mutex
	subjectCounter atomic.Int64
}

// submission opens a submission for a new subject at visit BL.
func (h *integrity) submission(t *testing.T) (id, subject string) {
	t.Helper()
	subject = fmt.Sprintf("INT-%03d", h.subjectCounter.Add(1))
	r := do(t, "POST", h.g.base+"/api/v1/trials/T-E2E/submissions", h.uma, "application/json",
		strings.NewReader(`{"site":"S1","subject":"`+subject+`","visit":"BL"}`))
	if r.status != http.StatusCreated {
		t.Fatalf("submission: %d %s", r.status, r.body)
	}
	var sub struct{ ID string }
	r.json(t, &sub)
	h.mu.Lock()
	h.subs = append(h.subs, sub.ID)
	h.mu.Unlock()
	return sub.ID, subject
}

// stowItem is one item of a STOW-RS response.
type stowItem struct {
	SOP     string // ReferencedSOPInstanceUID, "" if absent
	Failure int    // FailureReason, 0 for a stored instance
	Comment string
}

// stow sends parts to a submission and returns the status and the
// response's stored and failed items.
func (h *integrity) stow(t *testing.T, sub string, parts ...[]byte) (int, []stowItem, []stowItem) {
	t.Helper()
	r, err := h.post(sub, parts...)
	if err != nil {
		t.Fatal(err)
	}
	return r.status, stowItems(t, r, "00081199"), stowItems(t, r, "00081198")
}

// post sends a STOW-RS request; it is safe in any goroutine.
func (h *integrity) post(sub string, parts ...[]byte) (response, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		w.Write(p)
	}
	mw.Close()
	req, err := http.NewRequest("POST", h.g.base+"/dicomweb/submissions/"+sub+"/studies", &body)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Authorization", "Bearer "+h.uma)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}, err
}

func stowItems(t *testing.T, r response, seq string) []stowItem {
	t.Helper()
	var out map[string]struct{ Value []map[string]json.RawMessage }
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("STOW response %d: %v: %s", r.status, err, r.body)
	}
	var items []stowItem
	for _, it := range out[seq].Value {
		var sop struct{ Value []string }
		var reason struct{ Value []int }
		var comment struct{ Value []string }
		json.Unmarshal(it["00081155"], &sop)
		json.Unmarshal(it["00081197"], &reason)
		json.Unmarshal(it["00000902"], &comment)
		var item stowItem
		if len(sop.Value) == 1 {
			item.SOP = sop.Value[0]
		}
		if len(reason.Value) == 1 {
			item.Failure = reason.Value[0]
		}
		if len(comment.Value) == 1 {
			item.Comment = comment.Value[0]
		}
		items = append(items, item)
	}
	return items
}

// objectKeys lists the object store's folder.
func (h *integrity) objectKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	err := filepath.WalkDir(filepath.Join(h.objects, "sha256"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		keys = append(keys, filepath.Base(path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// view is what the tests read of a submission.
type integrityView struct {
	Instances []struct {
		SOP    string `json:"sop_instance_uid"`
		Object string `json:"object_sha256"`
		Orig   string `json:"original_sha256"`
	}
}

func (h *integrity) view(t *testing.T, sub string) integrityView {
	t.Helper()
	var v integrityView
	r := do(t, "GET", h.g.base+"/api/v1/submissions/"+sub, h.quinn, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("view: %d %s", r.status, r.body)
	}
	r.json(t, &v)
	return v
}

// noOrphans checks that the store holds exactly the objects the stored
// instances reference: nothing a refused part wrote stayed behind.
func (h *integrity) noOrphans(t *testing.T) {
	t.Helper()
	var want []string
	for _, sub := range h.subs {
		for _, in := range h.view(t, sub).Instances {
			want = append(want, in.Object)
		}
	}
	slices.Sort(want)
	if got := h.objectKeys(t); !slices.Equal(got, want) {
		t.Errorf("the store holds %d objects, the instances reference %d:\nstore %v\nrefs  %v", len(got), len(want), got, want)
	}
}

// trail returns the trial's entries with an action, decoded as JSON.
func (h *integrity) trail(t *testing.T, action string) []map[string]any {
	t.Helper()
	r := do(t, "GET", h.g.base+"/api/v1/audit?format=jsonl&trial=T-E2E&action="+action, h.ines, "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("audit: %d %s", r.status, r.body)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(r.body), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec struct{ Entry map[string]any }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, rec.Entry)
	}
	return out
}

// file returns a real file under a new SOP Instance UID, with its series
// description set when desc is not "" (other bytes, same instance).
func (h *integrity) file(t *testing.T, name, sop, desc string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := dicom.Parse(bytes.NewReader(src), dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Dataset.SetString(dicom.SOPInstanceUID, "UI", sop)
	obj.Meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", sop)
	if desc != "" {
		obj.Dataset.SetString(dicom.SeriesDescription, "LO", desc)
	}
	var b bytes.Buffer
	if _, err := obj.Write(&b, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var integritySeq atomic.Int64

func integrityUID() string {
	return fmt.Sprintf("1.2.826.0.1.3680043.10.1457.7.%d.%d", time.Now().UnixNano(), integritySeq.Add(1))
}

// stubOf cuts a file exactly before its top-level Pixel Data element
// (explicit VR little endian OW): a complete header, no pixels.
func stubOf(t *testing.T, b []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(b, []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W'})
	if i < 0 {
		t.Fatal("no Pixel Data")
	}
	return b[:i]
}

// A stub is refused (0xA900, nothing stored); the complete file is stored
// whether it comes before or after, each in its own request.
func (h *integrity) stubs(t *testing.T) {
	for _, fileFirst := range []bool{false, true} {
		sub, _ := h.submission(t)
		file := h.file(t, "1.dcm", integrityUID(), "")
		stub := stubOf(t, file)
		order := [][]byte{stub, file}
		if fileFirst {
			order = [][]byte{file, stub}
		}
		for i, part := range order {
			before := h.objectKeys(t)
			status, stored, failed := h.stow(t, sub, part)
			if isStub := bytes.Equal(part, stub); isStub {
				if status != http.StatusConflict || len(failed) != 1 || failed[0].Failure != 0xA900 ||
					!strings.Contains(failed[0].Comment, "requires Pixel Data") {
					t.Fatalf("stub (file first: %v): %d %+v", fileFirst, status, failed)
				}
				if after := h.objectKeys(t); !slices.Equal(after, before) {
					t.Errorf("the stub left objects: %v", after)
				}
			} else if status != http.StatusOK || len(stored) != 1 {
				t.Fatalf("file (part %d, file first: %v): %d %+v %+v", i, fileFirst, status, stored, failed)
			}
		}
		if v := h.view(t, sub); len(v.Instances) != 1 {
			t.Errorf("file first %v: %d instances, want the file's", fileFirst, len(v.Instances))
		}
	}
}

// The same file into a second subject's submission is refused as a
// conflict and audited; the first subject's instance is untouched.
func (h *integrity) twoSubjects(t *testing.T) {
	subA, subjectA := h.submission(t)
	subB, subjectB := h.submission(t)
	sop := integrityUID()
	file := h.file(t, "3.dcm", sop, "")
	if status, stored, _ := h.stow(t, subA, file); status != http.StatusOK || len(stored) != 1 {
		t.Fatalf("first subject: %d", status)
	}
	viewA := h.view(t, subA)
	keys := h.objectKeys(t)
	conflictsBefore := len(h.trail(t, "instance.conflict"))

	status, stored, failed := h.stow(t, subB, file)
	if status != http.StatusConflict || len(stored) != 0 || len(failed) != 1 {
		t.Fatalf("second subject: %d %+v %+v", status, stored, failed)
	}
	f := failed[0]
	if f.Failure != 0x0111 || f.SOP != sop || !strings.Contains(f.Comment, "already received for another subject of this trial ("+subjectA) ||
		!strings.Contains(f.Comment, "mixed up") || !strings.Contains(f.Comment, subA) {
		t.Errorf("refusal %+v", f)
	}
	if v := h.view(t, subB); len(v.Instances) != 0 {
		t.Errorf("the second subject holds %d instances", len(v.Instances))
	}
	if v := h.view(t, subA); !sameJSON(v, viewA) {
		t.Errorf("the first subject's submission changed: %+v -> %+v", viewA, v)
	}
	if after := h.objectKeys(t); !slices.Equal(after, keys) {
		t.Errorf("objects changed: %d -> %d", len(keys), len(after))
	}
	conflicts := h.trail(t, "instance.conflict")
	if len(conflicts) != conflictsBefore+1 {
		t.Fatalf("%d instance.conflict entries, want %d", len(conflicts), conflictsBefore+1)
	}
	en := conflicts[len(conflicts)-1]
	raw, _ := json.Marshal(en)
	after, _ := en["after"].(map[string]any)
	storedIn, _ := after["stored_in"].(map[string]any)
	receivedFor, _ := after["received_for"].(map[string]any)
	if en["outcome"] != "failed" || storedIn["subject"] != subjectA || receivedFor["subject"] != subjectB ||
		after["conflict"] != "subject" || bytes.Contains(raw, []byte(sop)) {
		t.Errorf("conflict entry %s", raw)
	}
	// The same file into its own submission again is a duplicate.
	if status, stored, _ := h.stow(t, subA, file); status != http.StatusOK || len(stored) != 1 || stored[0].SOP != viewA.Instances[0].SOP {
		t.Errorf("retry into the first subject: %d %+v", status, stored)
	}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// Two parts with one SOP Instance UID and different bytes: one stored,
// one refused (0x0111), and only the stored one's object in the store.
func (h *integrity) otherBytes(t *testing.T) {
	sub, _ := h.submission(t)
	sop := integrityUID()
	before := h.objectKeys(t)
	status, stored, failed := h.stow(t, sub, h.file(t, "3.dcm", sop, "FIRST"), h.file(t, "3.dcm", sop, "SECOND"))
	if status != http.StatusAccepted || len(stored) != 1 || len(failed) != 1 || failed[0].Failure != 0x0111 ||
		!strings.Contains(failed[0].Comment, "with other content") {
		t.Fatalf("%d %+v %+v", status, stored, failed)
	}
	after := h.objectKeys(t)
	v := h.view(t, sub)
	if len(after) != len(before)+1 || len(v.Instances) != 1 || !slices.Contains(after, v.Instances[0].Object) {
		t.Errorf("store %d -> %d objects, instances %+v: want exactly the stored one's added", len(before), len(after), v.Instances)
	}
}

// Malformed UIDs are refused (0xC000) naming the attribute, before any
// remapping: nothing is stored, the value is echoed nowhere.
func (h *integrity) invalidUIDs(t *testing.T) {
	sub, _ := h.submission(t)
	values := []struct{ name, v string }{
		{"a path", "../../etc/passwd"}, {"a slash", "/\x00"}, {"300 characters", strings.Repeat("1.23.456.", 33) + "789"},
		{"an embedded NUL", "1.2\x00.3"},
	}
	attrs := []struct {
		tag  dicom.Tag
		name string
	}{{dicom.SOPClassUID, "(0008,0016) SOP Class UID"}, {dicom.SOPInstanceUID, "(0008,0018) SOP Instance UID"},
		{dicom.StudyInstanceUID, "(0020,000D) Study Instance UID"}, {dicom.SeriesInstanceUID, "(0020,000E) Series Instance UID"},
		{dicom.TransferSyntaxUID, "(0002,0010) Transfer Syntax UID"}}
	var parts [][]byte
	var want []string
	for _, a := range attrs {
		for _, v := range values {
			src, err := os.ReadFile(filepath.Join(h.dir, "3.dcm"))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := dicom.Parse(bytes.NewReader(src), dicom.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			obj.Dataset.SetString(dicom.SOPInstanceUID, "UI", integrityUID())
			el := &dicom.Element{Tag: a.tag, VR: "UI", Value: []byte(v.v)}
			if a.tag.Group() == 2 {
				obj.Meta.Set(el)
			} else {
				obj.Dataset.Set(el)
			}
			var b bytes.Buffer
			if _, err := obj.Write(&b, nil); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, b.Bytes())
			want = append(want, a.name+" is not a valid UID")
		}
	}
	before := h.objectKeys(t)
	status, stored, failed := h.stow(t, sub, parts...)
	if status != http.StatusConflict || len(stored) != 0 || len(failed) != len(parts) {
		t.Fatalf("%d: %d stored, %d failed of %d", status, len(stored), len(failed), len(parts))
	}
	for i, f := range failed {
		if f.Failure != 0xC000 || !strings.Contains(f.Comment, want[i]) {
			t.Errorf("part %d: %04X %q, want C000 naming %q", i, f.Failure, f.Comment, want[i])
		}
		if strings.Contains(f.Comment, "etc/passwd") || strings.Contains(f.SOP, "/") {
			t.Errorf("part %d echoes the value: %+v", i, f)
		}
	}
	if after := h.objectKeys(t); !slices.Equal(after, before) {
		t.Errorf("objects stored: %d -> %d", len(before), len(after))
	}
	if v := h.view(t, sub); len(v.Instances) != 0 {
		t.Errorf("%d instances stored", len(v.Instances))
	}
	rejected := h.trail(t, "instance.rejected")
	raw, _ := json.Marshal(rejected)
	if len(rejected) < len(parts) || bytes.Contains(raw, []byte("etc/passwd")) {
		t.Errorf("%d instance.rejected entries (want at least %d), or they quote the value", len(rejected), len(parts))
	}
	if strings.Contains(h.g.logs.String(), "etc/passwd") {
		t.Error("the logs quote the value")
	}
}

// A CT image (synthesized, from nothing) without Pixel Data is refused as
// not matching its SOP class.
func (h *integrity) noPixels(t *testing.T) {
	sub, _ := h.submission(t)
	syntax, err := dicom.LookupSyntax(dicom.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	const ctClass = "1.2.840.10008.5.1.4.1.1.2"
	sop := integrityUID()
	ds := &dicom.Dataset{}
	ds.SetString(dicom.SOPClassUID, "UI", ctClass)
	ds.SetString(dicom.SOPInstanceUID, "UI", sop)
	ds.SetString(dicom.Modality, "CS", "CT")
	ds.SetString(dicom.StudyInstanceUID, "UI", integrityUID())
	ds.SetString(dicom.SeriesInstanceUID, "UI", integrityUID())
	ds.Set(&dicom.Element{Tag: dicom.Rows, VR: "US", Value: []byte{4, 0}}) // 4, little endian
	var b bytes.Buffer
	if err := dicom.Encode(&b, dicom.NewMeta(ctClass, sop, syntax), ds, syntax); err != nil {
		t.Fatal(err)
	}
	status, _, failed := h.stow(t, sub, b.Bytes())
	if status != http.StatusConflict || len(failed) != 1 || failed[0].Failure != 0xA900 || failed[0].SOP != sop ||
		!strings.Contains(failed[0].Comment, "CT Image Storage") || !strings.Contains(failed[0].Comment, "Pixel Data") {
		t.Fatalf("%d %+v", status, failed)
	}
}

// The same SOP instance sent for two subjects at the same moment: exactly
// one is stored, the other refused as a conflict, in every round.
func (h *integrity) race(t *testing.T) {
	for round := range 6 {
		subA, _ := h.submission(t)
		subB, _ := h.submission(t)
		file := h.file(t, "1.dcm", integrityUID(), "")
		type result struct {
			status         int
			stored, failed []stowItem
		}
		responses := make([]response, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, sub := range []string{subA, subB} {
			wg.Go(func() {
				<-start
				responses[i], errs[i] = h.post(sub, file)
			})
		}
		close(start)
		wg.Wait()
		won, refused := 0, 0
		for i, resp := range responses {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			r := result{resp.status, stowItems(t, resp, "00081199"), stowItems(t, resp, "00081198")}
			switch {
			case r.status == http.StatusOK && len(r.stored) == 1:
				won++
			case r.status == http.StatusConflict && len(r.failed) == 1 && r.failed[0].Failure == 0x0111 &&
				strings.Contains(r.failed[0].Comment, "another subject"):
				refused++
			default:
				t.Errorf("round %d: %+v", round, r)
			}
		}
		if won != 1 || refused != 1 {
			t.Errorf("round %d: %d stored, %d refused; want exactly one of each", round, won, refused)
		}
		if n := len(h.view(t, subA).Instances) + len(h.view(t, subB).Instances); n != 1 {
			t.Errorf("round %d: %d instances stored", round, n)
		}
	}
}
