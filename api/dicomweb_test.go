package api_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/ingest"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/storage/fs"
)

// realFiles returns the real DICOM files of the repository (testdata/real);
// in CI their absence is a failure, elsewhere a skip.
func realFiles(t testing.TB) map[string][]byte {
	t.Helper()
	dir := filepath.Join("..", "testdata", "real")
	out := map[string][]byte{}
	for i := 1; i <= 6; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.dcm", i)))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("real test data missing: %v", err)
			}
			t.Skipf("real test data missing: %v", err)
		}
		out[fmt.Sprintf("%d.dcm", i)] = b
	}
	return out
}

// ingestTrial is a trial whose rules admit the real files' modalities.
const ingestTrial = `{"id":"%s","name":"Ingest trial","sites":[{"id":"S1","name":"One"},{"id":"S2","name":"Two"}],
 "visits":[{"id":"BL","label":"Baseline"},{"id":"W4","label":"Week 4"}],
 "deid":{"options":["retain_long_modified_dates"]},
 "qc":{"rules":[
   {"id":"mod","kind":"allowed_modalities","severity":"fail","modalities":["CT","MR","PT","CR","OT"]},
   {"id":"sops","kind":"allowed_sop_classes","severity":"fail","sop_classes":[%s]},
   {"id":"thick","kind":"numeric_range","severity":"warn","attribute":"SliceThickness","min":0.5,"max":5}]},
 "reads":{"design":"single","form":{"fields":[{"id":"resp","type":"choice","required":true,"choices":["yes","no"]}]}}}`

// The SOP classes of the real files.
var realClasses = []string{"1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.1",
	"1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.7"}

// ingestFixture is a gateway with an approved trial and its people.
type ingestFixture struct {
	*gateway
	trial                          string
	uploader, other, qc, dm, admin string // tokens
}

func newIngestFixture(t testing.TB, trialID string, classes []string, options ...func(*ingest.Config)) *ingestFixture {
	t.Helper()
	g := newGateway(t, options...)
	g.addUser(t, "dm1", auth.Grant{Role: auth.DataManager, Trial: trialID})
	g.addUser(t, "up1", auth.Grant{Role: auth.SiteUploader, Trial: trialID, Site: "S1"})
	g.addUser(t, "up2", auth.Grant{Role: auth.SiteUploader, Trial: trialID, Site: "S2"})
	g.addUser(t, "qc1", auth.Grant{Role: auth.QCReviewer, Trial: trialID})
	g.addUser(t, "adm", auth.Grant{Role: auth.Admin})
	f := &ingestFixture{gateway: g, trial: trialID, uploader: g.login(t, "up1"), other: g.login(t, "up2"),
		qc: g.login(t, "qc1"), dm: g.login(t, "dm1"), admin: g.login(t, "adm")}
	quoted := make([]string, len(classes))
	for i, c := range classes {
		quoted[i] = `"` + c + `"`
	}
	def := fmt.Sprintf(ingestTrial, trialID, strings.Join(quoted, ","))
	if keepOriginals[trialID] {
		def = strings.Replace(def, `"deid":{`, `"deid":{"keep_original":true,`, 1)
	}
	if r := g.do(t, "POST", "/api/v1/trials", f.dm, def); r.status != http.StatusCreated {
		t.Fatalf("create trial: %d %s", r.status, r.body)
	}
	// A person never approves what they authored: a second data manager signs.
	g.addUser(t, "dm2", auth.Grant{Role: auth.DataManager, Trial: trialID})
	approve := map[string]string{"password": testPassword, "meaning": "approval"}
	if r := g.do(t, "POST", "/api/v1/trials/"+trialID+"/versions/1/approve", g.login(t, "dm2"), approve); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	return f
}

// submission opens a submission and returns its id.
func (f *ingestFixture) submission(t testing.TB, token, site, subject, visit string) string {
	t.Helper()
	r := f.do(t, "POST", "/api/v1/trials/"+f.trial+"/submissions", token,
		map[string]string{"site": site, "subject": subject, "visit": visit})
	if r.status != http.StatusCreated {
		t.Fatalf("create submission: %d %s", r.status, r.body)
	}
	var out struct{ ID string }
	r.decode(t, &out)
	return out.ID
}

// part is one part of a STOW-RS request.
type part struct {
	contentType string
	body        []byte
}

func dicomParts(bodies ...[]byte) []part {
	out := make([]part, len(bodies))
	for i, b := range bodies {
		out[i] = part{"application/dicom", b}
	}
	return out
}

// stowResult is a decoded STOW-RS response.
type stowResult struct {
	status int
	stored []map[string]json.RawMessage
	failed []map[string]json.RawMessage
	raw    []byte
}

// failures returns the FailureReason and comment of every failed item.
func (s stowResult) failures(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, it := range s.failed {
		var reason, comment struct{ Value []any }
		json.Unmarshal(it["00081197"], &reason)
		json.Unmarshal(it["00000902"], &comment)
		if len(reason.Value) != 1 || len(comment.Value) != 1 {
			t.Fatalf("failed item without reason or comment: %s", s.raw)
		}
		out = append(out, fmt.Sprintf("%04X %v", int(reason.Value[0].(float64)), comment.Value[0]))
	}
	return out
}

// stow sends a STOW-RS request.
func (f *ingestFixture) stow(t testing.TB, path, token, contentType string, parts []part) stowResult {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.body)
	}
	mw.Close()
	if contentType == "" {
		contentType = fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary())
	}
	req, err := http.NewRequest("POST", f.url+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := stowResult{status: resp.StatusCode, raw: raw}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode < 300 || resp.StatusCode == http.StatusConflict && strings.HasPrefix(ct, "application/dicom+json") {
		var body map[string]struct {
			Value []map[string]json.RawMessage
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("STOW response %d %q: %v: %s", resp.StatusCode, ct, err, raw)
		}
		res.stored, res.failed = body["00081199"].Value, body["00081198"].Value
	}
	return res
}

// uid reads the first value of a UI attribute of a DICOM JSON item.
func uid(t testing.TB, item map[string]json.RawMessage, tag string) string {
	t.Helper()
	var v struct{ Value []string }
	if err := json.Unmarshal(item[tag], &v); err != nil || len(v.Value) == 0 {
		t.Fatalf("no %s in %v", tag, item)
	}
	return v.Value[0]
}

// pixelElement returns the bytes of a file from its last top-level Pixel
// Data tag (explicit or implicit VR little endian, no trailing elements)
// to its end: the element Pixel Data must be copied as, byte for byte.
func pixelElement(t testing.TB, b []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(b, []byte{0xE0, 0x7F, 0x10, 0x00})
	if i < 0 {
		t.Fatal("no Pixel Data")
	}
	return b[i:]
}

type submissionView struct {
	ID        string
	Status    string
	QCRuns    int    `json:"qc_runs"`
	QCOutcome string `json:"qc_outcome"`
	Instances []struct {
		SOP        string `json:"sop_instance_uid"`
		Study      string `json:"study_instance_uid"`
		Series     string `json:"series_instance_uid"`
		Status     string
		HoldReason string `json:"hold_reason"`
		Original   string `json:"original_sha256"`
	}
	QC []struct {
		Run     int
		Level   string
		Rule    string
		Outcome string
		Seen    string
	}
}

func (f *ingestFixture) view(t testing.TB, id, token string) submissionView {
	t.Helper()
	r := f.do(t, "GET", "/api/v1/submissions/"+id, token, nil)
	if r.status != http.StatusOK {
		t.Fatalf("get submission: %d %s", r.status, r.body)
	}
	var v submissionView
	r.decode(t, &v)
	return v
}

// actions counts the trail's entries by action and outcome.
func (f *ingestFixture) actions(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range f.trail(t) {
		out[string(e.entry.Action)+"/"+string(e.entry.Outcome)]++
	}
	return out
}

// The real files upload into a submission, are de-identified with their
// Pixel Data byte for byte, the secondary capture is held for review, a
// retry changes nothing, and the trial's QC view serves them, audited.
func TestSTOWRealFiles(t *testing.T) {
	files := realFiles(t)
	f := newIngestFixture(t, "T-ING", realClasses)
	sub := f.submission(t, f.uploader, "S1", "SUBJ-001", "BL")
	var bodies [][]byte
	for i := 1; i <= 6; i++ {
		bodies = append(bodies, files[fmt.Sprintf("%d.dcm", i)])
	}
	res := f.stow(t, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(bodies...))
	if res.status != http.StatusOK || len(res.stored) != 6 || len(res.failed) != 0 {
		t.Fatalf("STOW: %d %s", res.status, res.raw)
	}
	v := f.view(t, sub, f.uploader)
	if len(v.Instances) != 6 {
		t.Fatalf("instances: %+v", v.Instances)
	}
	held := 0
	for _, in := range v.Instances {
		if in.Status == "held" {
			held++
			if in.HoldReason == "" {
				t.Errorf("held without a reason: %+v", in)
			}
		}
	}
	if held != 1 {
		t.Errorf("held %d instances, want 1 (the secondary capture)", held)
	}
	before := f.actions(t)
	if before["instance.received/success"] != 6 || before["instance.deidentified/success"] != 6 ||
		before["instance.quarantined/success"] != 1 || before["qc.evaluated/success"] != 6 {
		t.Errorf("trail after upload: %v", before)
	}

	// A retry of the same bytes is recognised and changes nothing.
	again := f.stow(t, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(bodies...))
	if again.status != http.StatusOK || len(again.stored) != 6 {
		t.Fatalf("retry: %d %s", again.status, again.raw)
	}
	for i := range res.stored {
		if a, b := uid(t, res.stored[i], "00081155"), uid(t, again.stored[i], "00081155"); a != b {
			t.Errorf("retry %d answered %s, first upload %s", i, b, a)
		}
	}
	if v2 := f.view(t, sub, f.uploader); len(v2.Instances) != 6 {
		t.Errorf("retry added instances: %d", len(v2.Instances))
	}
	metrics := string(f.do(t, "GET", "/metrics", "", nil).body)
	for _, line := range []string{`trialgate_stow_instances_total{outcome="duplicate",reason=""} 6`,
		`trialgate_stow_instances_total{outcome="held",reason=""} 1`, `trialgate_stow_instances_total{outcome="stored",reason=""} 5`} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	after := f.actions(t)
	if after["instance.duplicate/success"] != 6 || after["instance.received/success"] != 6 {
		t.Errorf("trail after retry: %v", after)
	}

	// QIDO-RS: the QC reviewer sees every study, the data manager only
	// released instances.
	studies := f.do(t, "GET", "/dicomweb/trials/T-ING/studies", f.qc, nil)
	if studies.status != http.StatusOK {
		t.Fatalf("QIDO studies: %d %s", studies.status, studies.body)
	}
	var found []map[string]json.RawMessage
	studies.decode(t, &found)
	if len(found) == 0 {
		t.Fatalf("no studies: %s", studies.body)
	}
	for _, s := range found {
		var pid struct{ Value []string }
		json.Unmarshal(s["00100020"], &pid)
		if len(pid.Value) != 1 || pid.Value[0] != "SUBJ-001" {
			t.Errorf("study PatientID %v, want the subject code", pid.Value)
		}
	}
	if r := f.do(t, "GET", "/dicomweb/trials/T-ING/studies", f.uploader, nil); r.status != http.StatusForbidden {
		t.Errorf("uploader QIDO: %d, want 403", r.status)
	}
	if r := f.do(t, "GET", "/dicomweb/trials/T-ING/studies?NoSuchAttribute=x", f.qc, nil); r.status != http.StatusBadRequest {
		t.Errorf("unknown query key: %d, want 400", r.status)
	}

	// WADO-RS: each released instance comes back de-identified, with the
	// original's Pixel Data element byte for byte.
	for i, in := range v.Instances {
		path := fmt.Sprintf("/dicomweb/trials/T-ING/studies/%s/series/%s/instances/%s", in.Study, in.Series, in.SOP)
		obj := f.retrieve(t, path, f.qc)
		parsed, err := dicom.Parse(bytes.NewReader(obj), dicom.Limits{})
		if err != nil {
			t.Fatalf("retrieved %s: %v", in.SOP, err)
		}
		if got := parsed.Dataset.String(dicom.PatientID); got != "SUBJ-001" {
			t.Errorf("instance %d PatientID %q", i, got)
		}
		if got := parsed.Dataset.String(dicom.PatientIdentityRemoved); got != "YES" {
			t.Errorf("instance %d PatientIdentityRemoved %q", i, got)
		}
		if got := parsed.Dataset.String(dicom.SOPInstanceUID); got != in.SOP || !strings.HasPrefix(got, "2.25.") {
			t.Errorf("instance %d SOP Instance UID %q, listed %q", i, got, in.SOP)
		}
		if parsed.Dataset.String(dicom.SOPClassUID) != "1.2.840.10008.5.1.4.1.1.7" && !samePixels(t, files, obj) {
			t.Errorf("instance %d: no original's Pixel Data element is the retrieved one's", i)
		}
	}
	if r := f.do(t, "GET", fmt.Sprintf("/dicomweb/trials/T-ING/studies/%s/series/%s/metadata", v.Instances[0].Study,
		v.Instances[0].Series), f.dm, nil); r.status != http.StatusOK && r.status != http.StatusNotFound {
		t.Errorf("metadata: %d %s", r.status, r.body)
	}
	// The held secondary capture: invisible to the data manager until a QC
	// reviewer releases it, with a reason.
	var heldIn struct{ sop, study, series string }
	for _, in := range v.Instances {
		if in.Status == "held" {
			heldIn.sop, heldIn.study, heldIn.series = in.SOP, in.Study, in.Series
		}
	}
	seriesPath := fmt.Sprintf("/dicomweb/trials/T-ING/studies/%s/series/%s/instances", heldIn.study, heldIn.series)
	listed := func(token string) int {
		r := f.do(t, "GET", seriesPath, token, nil)
		var items []map[string]json.RawMessage
		r.decode(t, &items)
		return len(items)
	}
	if n, m := listed(f.dm), listed(f.qc); n != 0 || m != 1 {
		t.Errorf("held instance listed %d times to the data manager, %d to the QC reviewer; want 0 and 1", n, m)
	}
	review := "/api/v1/submissions/" + sub + "/instances/" + heldIn.sop + "/review"
	if r := f.do(t, "POST", review, f.dm, map[string]string{"decision": "release", "reason": "x"}); r.status != http.StatusForbidden {
		t.Errorf("data manager reviews: %d", r.status)
	}
	if r := f.do(t, "POST", review, f.qc, map[string]string{"decision": "release"}); r.status != http.StatusBadRequest {
		t.Errorf("review without reason: %d", r.status)
	}
	if r := f.do(t, "POST", review, f.qc, map[string]string{"decision": "release", "reason": "no burned-in text on review"}); r.status != http.StatusOK {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", review, f.qc, map[string]string{"decision": "reject", "reason": "again"}); r.status != http.StatusConflict {
		t.Errorf("second review: %d", r.status)
	}
	if n := listed(f.dm); n != 1 {
		t.Errorf("released instance listed %d times to the data manager", n)
	}
	final := f.actions(t)
	// The two GETs; complete, decide and review answer with the view too,
	// but they are recorded as the changes they are.
	if final["submission.viewed/success"] != 2 {
		t.Errorf("submission.viewed entries: %d", final["submission.viewed/success"])
	}
	if final["instance.reviewed/success"] != 1 {
		t.Errorf("instance.reviewed entries: %d", final["instance.reviewed/success"])
	}
	if final["instance.retrieved/success"] < 6 || final["dicomweb.queried/success"] < 1 || final["access.denied/denied"] < 1 {
		t.Errorf("trail after retrievals: %v", final)
	}
}

// samePixels reports whether obj ends with some original's Pixel Data
// value, byte for byte (the deflated file excepted: its Pixel Data is
// compressed with the rest of its data set). Values are compared, not
// elements: an implicit VR original is served in explicit VR, with the
// element's header in that form.
func samePixels(t testing.TB, files map[string][]byte, obj []byte) bool {
	got := pixelValue(t, obj)
	for name, orig := range files {
		if name != "6.dcm" && bytes.Equal(got, pixelValue(t, orig)) {
			return true
		}
	}
	return false
}

// pixelValue is the value of a file's last top-level Pixel Data element,
// in explicit or implicit VR.
func pixelValue(t testing.TB, b []byte) []byte {
	el := pixelElement(t, b)
	if vr := string(el[4:6]); vr == "OW" || vr == "OB" {
		return el[12:]
	}
	return el[8:]
}

// retrieve fetches one instance by WADO-RS, as stored, and returns its
// bytes.
func (f *ingestFixture) retrieve(t testing.TB, path, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", f.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("WADO %s: %d %s", path, resp.StatusCode, b)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := multipart.NewReader(resp.Body, params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every kind of bad input is refused with a precise reason, audited, and
// leaves nothing stored.
func TestSTOWBadInput(t *testing.T) {
	files := realFiles(t)
	// MR is not among this trial's SOP classes.
	f := newIngestFixture(t, "T-BAD", []string{"1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.2.1"})
	sub := f.submission(t, f.uploader, "S1", "SUBJ-002", "BL")
	stowPath := "/dicomweb/submissions/" + sub + "/studies"
	pet := files["1.dcm"]
	// The same object declaring a transfer syntax nobody defined.
	obj, err := dicom.Parse(bytes.NewReader(pet), dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Meta.SetString(dicom.TransferSyntaxUID, "UI", "1.2.840.10008.1.2.4.999")
	var unknownSyntax bytes.Buffer
	if _, err := obj.Write(&unknownSyntax, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		token       string
		contentType string
		parts       []part
		status      int
		failure     string // prefix of the failure reason, for DICOM JSON responses
	}{
		{"not DICOM", f.uploader, "", dicomParts([]byte("this is not a DICOM file, only text")), 409, "C000"},
		{"truncated in the header", f.uploader, "", dicomParts(pet[:700]), 409, "C000"},
		{"truncated in Pixel Data", f.uploader, "", dicomParts(pet[:len(pet)-1000]), 409, "C000"},
		{"part of the wrong type", f.uploader, "", []part{{"text/plain", pet}}, 409, "C000"},
		{"SOP class not allowed", f.uploader, "", dicomParts(files["3.dcm"]), 409, "0122"},
		{"unsupported transfer syntax", f.uploader, "", dicomParts(unknownSyntax.Bytes()), 409, "C122"},
		{"wrong Content-Type", f.uploader, "application/json", dicomParts(pet), 415, ""},
		{"wrong multipart type", f.uploader, `multipart/related; type="application/dicom+xml"; boundary=x`, dicomParts(pet), 415, ""},
		{"another site's submission", f.other, "", dicomParts(pet), 403, ""},
		{"empty body", f.uploader, "", nil, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.actions(t)
			res := f.stow(t, stowPath, c.token, c.contentType, c.parts)
			if res.status != c.status {
				t.Fatalf("status %d, want %d: %s", res.status, c.status, res.raw)
			}
			if c.failure != "" {
				fails := res.failures(t)
				if len(fails) != 1 || !strings.HasPrefix(fails[0], c.failure+" ") || len(fails[0]) < 12 {
					t.Fatalf("failures %q, want one %s with a reason", fails, c.failure)
				}
				t.Logf("reason: %s", fails[0])
				if got := f.actions(t)["instance.rejected/failed"] - before["instance.rejected/failed"]; got != 1 {
					t.Errorf("%d instance.rejected entries, want 1", got)
				}
			}
			if c.status == http.StatusForbidden {
				if got := f.actions(t)["access.denied/denied"] - before["access.denied/denied"]; got != 1 {
					t.Errorf("%d access.denied entries, want 1", got)
				}
			}
			if v := f.view(t, sub, f.uploader); len(v.Instances) != 0 {
				t.Errorf("stored %d instances", len(v.Instances))
			}
		})
	}

	// A body cut off inside a part (no closing boundary) is a malformed
	// request, not a short instance: 400, nothing stored.
	cut := "--cut\r\nContent-Type: application/dicom\r\n\r\n" + string(pet[:2000])
	req, _ := http.NewRequest("POST", f.url+stowPath, strings.NewReader(cut))
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=cut`)
	req.Header.Set("Authorization", "Bearer "+f.uploader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "multipart") {
		t.Errorf("body cut off in a part: %d %s, want 400 naming the multipart body", resp.StatusCode, body)
	}
	if v := f.view(t, sub, f.uploader); len(v.Instances) != 0 {
		t.Errorf("a cut-off part stored %d instances", len(v.Instances))
	}

	// One good and one bad part: 202, one of each.
	res := f.stow(t, stowPath, f.uploader, "", dicomParts(pet, []byte("garbage")))
	if res.status != http.StatusAccepted || len(res.stored) != 1 || len(res.failed) != 1 {
		t.Fatalf("mixed: %d %s", res.status, res.raw)
	}

	// Complete, then uploads are refused (409), audited.
	if r := f.do(t, "POST", "/api/v1/submissions/"+sub+"/complete", f.other, nil); r.status != http.StatusForbidden {
		t.Errorf("another site completes: %d", r.status)
	}
	if r := f.do(t, "POST", "/api/v1/submissions/"+sub+"/complete", f.uploader, nil); r.status != http.StatusOK {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	before := f.actions(t)
	if res := f.stow(t, stowPath, f.uploader, "", dicomParts(files["2.dcm"])); res.status != http.StatusConflict {
		t.Errorf("upload to a completed submission: %d %s", res.status, res.raw)
	}
	if got := f.actions(t)["instance.rejected/failed"] - before["instance.rejected/failed"]; got != 1 {
		t.Errorf("closed submission: %d instance.rejected entries, want 1", got)
	}
}

// A submission goes through completion, a query back to the site, a
// second completion and acceptance; each step is the right person's,
// with a reason, in the trail.
func TestSubmissionLifecycle(t *testing.T) {
	files := realFiles(t)
	f := newIngestFixture(t, "T-LIFE", realClasses)
	sub := f.submission(t, f.uploader, "S1", "SUBJ-003", "W4")
	if r := f.do(t, "POST", "/api/v1/trials/T-LIFE/submissions", f.uploader,
		map[string]string{"site": "S1", "subject": "SUBJ-003", "visit": "W4"}); r.status != http.StatusConflict {
		t.Errorf("second open submission for the same visit: %d %s", r.status, r.body)
	}
	for _, bad := range []map[string]string{
		{"site": "S2", "subject": "X", "visit": "BL"},        // not the uploader's site
		{"site": "S1", "subject": "SUBJ 3", "visit": "BL"},   // bad subject code
		{"site": "S1", "subject": "SUBJ-009", "visit": "W9"}, // no such visit
	} {
		r := f.do(t, "POST", "/api/v1/trials/T-LIFE/submissions", f.uploader, bad)
		if r.status != http.StatusForbidden && r.status != http.StatusBadRequest {
			t.Errorf("submission %v: %d %s", bad, r.status, r.body)
		}
	}
	if r := f.do(t, "POST", "/api/v1/submissions/"+sub+"/complete", f.uploader, nil); r.status != http.StatusConflict {
		t.Errorf("complete an empty submission: %d %s", r.status, r.body)
	}
	if res := f.stow(t, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(files["1.dcm"], files["2.dcm"])); res.status != http.StatusOK {
		t.Fatalf("STOW: %d %s", res.status, res.raw)
	}
	decide := func(token, decision, reason string) response {
		return f.do(t, "POST", "/api/v1/submissions/"+sub+"/qc-decision", token,
			map[string]string{"decision": decision, "reason": reason})
	}
	if r := decide(f.qc, "accept", "looks fine"); r.status != http.StatusConflict {
		t.Errorf("decide before completion: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/api/v1/submissions/"+sub+"/complete", f.uploader, nil); r.status != http.StatusOK {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	v := f.view(t, sub, f.qc)
	if v.Status != "completed" || v.QCRuns != 1 {
		t.Fatalf("after completion: %+v", v)
	}
	runs := map[int]int{}
	for _, q := range v.QC {
		runs[q.Run]++
	}
	if runs[0] == 0 || runs[1] == 0 {
		t.Errorf("QC results by run: %v (want instance results in run 0 and series/visit results in run 1)", runs)
	}
	if r := decide(f.uploader, "accept", "mine"); r.status != http.StatusForbidden {
		t.Errorf("uploader decides: %d", r.status)
	}
	if r := decide(f.qc, "accept", ""); r.status != http.StatusBadRequest {
		t.Errorf("decision without reason: %d", r.status)
	}
	if r := decide(f.qc, "maybe", "hmm"); r.status != http.StatusBadRequest {
		t.Errorf("unknown decision: %d", r.status)
	}
	if r := decide(f.qc, "query", "series 2 is missing"); r.status != http.StatusOK {
		t.Fatalf("query: %d %s", r.status, r.body)
	}
	// Queried: the site uploads again and completes again.
	if res := f.stow(t, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(files["5.dcm"])); res.status != http.StatusOK {
		t.Fatalf("STOW after query: %d %s", res.status, res.raw)
	}
	if r := f.do(t, "POST", "/api/v1/submissions/"+sub+"/complete", f.uploader, nil); r.status != http.StatusOK {
		t.Fatalf("complete again: %d %s", r.status, r.body)
	}
	if r := decide(f.qc, "accept", "complete now"); r.status != http.StatusOK {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	if r := decide(f.qc, "reject", "changed my mind"); r.status != http.StatusConflict {
		t.Errorf("decide a final submission: %d", r.status)
	}
	if v := f.view(t, sub, f.dm); v.Status != "accepted" || v.QCRuns != 2 || len(v.Instances) != 3 {
		t.Errorf("final: %+v", v)
	}
	var decided []*audit.Entry
	for _, e := range f.trail(t) {
		if e.entry.Action == audit.ActionQCDecided {
			decided = append(decided, e.entry)
		}
	}
	if len(decided) != 2 || decided[0].Reason != "series 2 is missing" || decided[1].Actor.Username != "qc1" {
		t.Errorf("qc.decided entries: %+v", decided)
	}
}

// keepOriginals names the test trials that keep PHI originals.
var keepOriginals = map[string]bool{"T-KEEP": true, "T-KEEP-NONE": true}

// A trial that keeps originals stores each one, byte for byte, in the
// restricted store only; without such a store it takes no uploads.
func TestKeepOriginals(t *testing.T) {
	files := realFiles(t)
	dir := t.TempDir()
	var originals storage.Store
	f := newIngestFixture(t, "T-KEEP", realClasses, func(c *ingest.Config) {
		s, err := fs.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		c.Originals, originals = s, s
	})
	sub := f.submission(t, f.uploader, "S1", "KEEP-1", "BL")
	if res := f.stow(t, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(files["1.dcm"])); res.status != http.StatusOK {
		t.Fatalf("STOW: %d %s", res.status, res.raw)
	}
	v := f.view(t, sub, f.uploader)
	sum, err := hex.DecodeString(v.Instances[0].Original)
	if err != nil || len(sum) != 32 {
		t.Fatalf("original hash %q", v.Instances[0].Original)
	}
	rc, err := originals.Get(t.Context(), storage.Key([32]byte(sum)))
	if err != nil {
		t.Fatalf("original not in the restricted store: %v", err)
	}
	kept, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(kept, files["1.dcm"]) {
		t.Errorf("restricted store holds %d bytes, not the original (%v)", len(kept), err)
	}
	for _, e := range f.trail(t) {
		if e.entry.Action == audit.ActionInstanceReceived && !bytes.Contains(e.raw, []byte(`"original_kept":true`)) {
			t.Errorf("instance.received does not record the kept original: %s", e.raw)
		}
	}

	none := newIngestFixture(t, "T-KEEP-NONE", realClasses)
	sub = none.submission(t, none.uploader, "S1", "KEEP-2", "BL")
	res := none.stow(t, "/dicomweb/submissions/"+sub+"/studies", none.uploader, "", dicomParts(files["1.dcm"]))
	if res.status != http.StatusServiceUnavailable || !strings.Contains(string(res.raw), "originals") {
		t.Errorf("no restricted store: %d %s, want 503 naming it", res.status, res.raw)
	}
}

// withTrialTags rewrites a file's Clinical Trial Subject module.
func withTrialTags(t testing.TB, b []byte, site, subject, visit string) []byte {
	t.Helper()
	obj, err := dicom.Parse(bytes.NewReader(b), dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Dataset.SetString(dicom.ClinicalTrialSiteID, "LO", site)
	obj.Dataset.SetString(dicom.ClinicalTrialSubjectID, "LO", subject)
	obj.Dataset.SetString(dicom.ClinicalTrialTimePointID, "LO", visit)
	var out bytes.Buffer
	if _, err := obj.Write(&out, nil); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// The trial endpoint places each instance by its Clinical Trial Subject
// module tags, within the uploader's own site only.
func TestSTOWByTrialTags(t *testing.T) {
	files := realFiles(t)
	f := newIngestFixture(t, "T-TAGS", realClasses)
	mine := withTrialTags(t, files["1.dcm"], "S1", "SUBJ-010", "BL")
	theirs := withTrialTags(t, files["2.dcm"], "S2", "SUBJ-011", "BL")
	untagged := files["3.dcm"]
	res := f.stow(t, "/dicomweb/trials/T-TAGS/studies", f.uploader, "", dicomParts(mine, theirs, untagged))
	if res.status != http.StatusAccepted || len(res.stored) != 1 || len(res.failed) != 2 {
		t.Fatalf("STOW: %d %s", res.status, res.raw)
	}
	fails := res.failures(t)
	if !strings.HasPrefix(fails[0], "0124 ") || !strings.Contains(fails[0], "S2") || !strings.HasPrefix(fails[1], "A900 ") {
		t.Errorf("failures: %q", fails)
	}
	if a := f.actions(t); a["instance.rejected/denied"] != 1 || a["submission.created/success"] != 1 {
		t.Errorf("trail: %v", a)
	}
	if r := f.stow(t, "/dicomweb/trials/T-TAGS/studies", f.qc, "", dicomParts(mine)); r.status != http.StatusForbidden {
		t.Errorf("QC reviewer uploads: %d", r.status)
	}
}

// Every ingest endpoint against every kind of caller: the expected status,
// and each refusal (401, 403) in the audit trail as access.denied.
func TestIngestAuthorization(t *testing.T) {
	files := realFiles(t)
	f := newIngestFixture(t, "T-AUTH", realClasses)
	f.addUser(t, "insp1", auth.Grant{Role: auth.Inspector, Trial: "T-AUTH"})
	f.addUser(t, "reader1", auth.Grant{Role: auth.Reader, Trial: "T-AUTH"})
	insp, reader := f.login(t, "insp1"), f.login(t, "reader1")
	sub := f.submission(t, f.uploader, "S1", "AUTH-1", "BL")
	res := f.stow(t, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(files["1.dcm"], files["6.dcm"]))
	if res.status != http.StatusOK {
		t.Fatalf("STOW: %d %s", res.status, res.raw)
	}
	v := f.view(t, sub, f.uploader)
	in := v.Instances[0]
	held := v.Instances[1].SOP
	if v.Instances[0].Status == "held" {
		in, held = v.Instances[1], v.Instances[0].SOP
	}
	series := fmt.Sprintf("/dicomweb/trials/T-AUTH/studies/%s/series/%s", in.Study, in.Series)

	callers := []struct{ name, token string }{
		{"anonymous", ""}, {"uploader S1", f.uploader}, {"uploader S2", f.other}, {"qc_reviewer", f.qc},
		{"data_manager", f.dm}, {"admin", f.admin}, {"inspector", insp}, {"reader", reader},
	}
	const (
		ok, made, who, no = http.StatusOK, http.StatusCreated, http.StatusUnauthorized, http.StatusForbidden
		skip              = 0 // not sent: it would change the state the other rows need
	)
	n := 0
	newSubject := func() any {
		n++
		return map[string]string{"site": "S1", "subject": fmt.Sprintf("AUTH-%d", n+1), "visit": "BL"}
	}
	rows := []struct {
		method, path string
		body         func() any
		want         [8]int
	}{
		{"POST", "/api/v1/trials/T-AUTH/submissions", newSubject, [8]int{who, made, no, no, no, no, no, no}},
		{"GET", "/api/v1/submissions/" + sub, nil, [8]int{who, ok, no, ok, ok, no, ok, no}},
		{"POST", "/api/v1/submissions/" + sub + "/complete", nil, [8]int{who, skip, no, no, no, no, no, no}},
		{"POST", "/api/v1/submissions/" + sub + "/qc-decision", func() any { return map[string]string{"decision": "accept", "reason": "r"} },
			[8]int{who, no, no, skip, no, no, no, no}},
		{"POST", "/api/v1/submissions/" + sub + "/instances/" + held + "/review", func() any { return map[string]string{"decision": "release", "reason": "r"} },
			[8]int{who, no, no, skip, no, no, no, no}},
		{"GET", "/dicomweb/trials/T-AUTH/studies", nil, [8]int{who, no, no, ok, ok, no, no, no}},
		{"GET", "/dicomweb/trials/T-AUTH/studies/" + in.Study + "/series", nil, [8]int{who, no, no, ok, ok, no, no, no}},
		{"GET", series + "/instances", nil, [8]int{who, no, no, ok, ok, no, no, no}},
		{"GET", series + "/metadata", nil, [8]int{who, no, no, ok, ok, no, no, no}},
		{"GET", series + "/instances/" + in.SOP, nil, [8]int{who, no, no, ok, ok, no, no, no}},
	}
	denied := func() int { return f.actions(t)["access.denied/denied"] }
	for _, row := range rows {
		for i, c := range callers {
			want := row.want[i]
			if want == skip {
				continue
			}
			before := denied()
			var body any
			if row.body != nil {
				body = row.body()
			}
			r := f.do(t, row.method, row.path, c.token, body)
			if r.status != want {
				t.Errorf("%s %s as %s: %d %s, want %d", row.method, row.path, c.name, r.status, r.body, want)
			}
			if want == who || want == no {
				if got := denied() - before; got != 1 {
					t.Errorf("%s %s as %s: %d access.denied entries, want 1", row.method, row.path, c.name, got)
				}
			}
		}
	}
	// STOW-RS refusals, by the same rules.
	for i, c := range callers {
		want := [8]int{who, skip, no, no, no, no, no, no}[i]
		if want == skip {
			continue
		}
		for _, path := range []string{"/dicomweb/submissions/" + sub + "/studies", "/dicomweb/trials/T-AUTH/studies"} {
			if c.name == "uploader S2" && strings.Contains(path, "/trials/") {
				continue // uploads for its own site there; placement decides per instance
			}
			before := denied()
			if r := f.stow(t, path, c.token, "", dicomParts(files["2.dcm"])); r.status != want {
				t.Errorf("STOW %s as %s: %d %s, want %d", path, c.name, r.status, r.raw, want)
			}
			if got := denied() - before; got != 1 {
				t.Errorf("STOW %s as %s: %d access.denied entries, want 1", path, c.name, got)
			}
		}
	}
}
