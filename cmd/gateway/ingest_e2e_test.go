package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// realDir is the shared real DICOM test data; in CI its absence fails.
func realDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "real")
	if _, err := os.Stat(filepath.Join(dir, "1.dcm")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real test data missing: %v", err)
		}
		t.Skipf("real test data missing: %v", err)
	}
	return dir
}

const e2eTrial = `{"id":"T-E2E","name":"End to end","sites":[{"id":"S1","name":"One"}],
 "visits":[{"id":"BL","label":"Baseline"}],
 "deid":{"options":["retain_long_modified_dates","retain_device_identity"]},
 "qc":{"rules":[{"id":"mod","kind":"allowed_modalities","severity":"fail","modalities":["CT","MR","PT","CR","OT"]},
   {"id":"ser","kind":"expected_series","severity":"warn","modality":"CT","min_instances":1}]},
 "reads":{"design":"single","form":{"fields":[{"id":"resp","type":"choice","required":true,"choices":["yes","no"]}]}}}`

// testIngest uploads the real files through the real gateway (whichever
// backends it runs on), reads them back through WADO-RS, and holds the
// de-identified objects against the originals with dciodvfy (dicom3tools)
// as an independent validator: no error the original did not have.
func testIngest(t *testing.T, g *gateway) {
	dir := realDir(t)
	defineIngestTrial(t, g)
	uma, subID := openSubmission(t, g.base, "E2E-001")
	quinn := token(t, g.base, "quinn")

	names := []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	originals := map[string][]byte{}
	gen := otherSyntaxes(t, filepath.Join(dir, "3.dcm"))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		originals[n] = b
	}
	for n, b := range gen {
		names = append(names, n)
		originals[n] = b
	}
	for _, n := range names {
		b := originals[n]
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		w.Write(b)
	}
	mw.Close()
	ct := fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary())
	r := do(t, "POST", g.base+"/dicomweb/submissions/"+subID+"/studies", uma, ct, &body)
	if r.status != http.StatusOK {
		t.Fatalf("STOW: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", g.base+"/api/v1/submissions/"+subID+"/complete", uma, "", nil); r.status != http.StatusOK {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	var view struct {
		Status    string
		Instances []struct {
			SOP    string `json:"sop_instance_uid"`
			Class  string `json:"sop_class_uid"`
			Study  string `json:"study_instance_uid"`
			Series string `json:"series_instance_uid"`
			Status string
			Orig   string `json:"original_sha256"`
		}
	}
	do(t, "GET", g.base+"/api/v1/submissions/"+subID, quinn, "", nil).json(t, &view)
	if view.Status != "completed" || len(view.Instances) != len(names) {
		t.Fatalf("submission: %+v", view)
	}
	byHash := map[string]string{}
	for n, b := range originals {
		byHash[sha256hex(b)] = n
	}
	out := t.TempDir()
	for _, in := range view.Instances {
		name := byHash[in.Orig]
		src, err := dicom.Parse(bytes.NewReader(originals[name]), dicom.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		// Asked for in the original's transfer syntax (de-identification
		// keeps it): the object exactly as stored.
		got := wado(t, g.base+fmt.Sprintf("/dicomweb/trials/T-E2E/studies/%s/series/%s/instances/%s", in.Study, in.Series, in.SOP), quinn, src.Syntax.UID)
		obj, err := dicom.Parse(bytes.NewReader(got), dicom.Limits{})
		if err != nil {
			t.Fatalf("%s: retrieved object: %v", name, err)
		}
		// The original's identifiers left nothing behind: not in the
		// object served, not in the gateway's logs.
		for _, tag := range []dicom.Tag{dicom.SOPInstanceUID, dicom.StudyInstanceUID, dicom.SeriesInstanceUID} {
			uid := src.Dataset.String(tag)
			if name != "6.dcm" && bytes.Contains(got, []byte(uid)) {
				t.Errorf("%s: the served object still holds the original %s %s", name, tag, uid)
			}
			if obj.Dataset.String(tag) == uid {
				t.Errorf("%s: %s not remapped", name, tag)
			}
			if strings.Contains(g.logs.String(), uid) {
				t.Errorf("%s: the gateway's logs hold the original %s", name, tag)
			}
		}
		if pid := obj.Dataset.String(dicom.PatientID); pid != "E2E-001" {
			t.Errorf("%s: de-identified PatientID %q, want the subject code", name, pid)
		}
		if name != "6.dcm" { // deflated: Pixel Data is compressed with the rest
			if px := pixelElement(originals[name]); px == nil || !bytes.HasSuffix(got, px) {
				t.Errorf("%s: the de-identified object does not end with the original's Pixel Data element", name)
			}
		}
		orig := filepath.Join(out, "orig-"+name)
		deid := filepath.Join(out, "deid-"+name)
		os.WriteFile(orig, originals[name], 0o600)
		os.WriteFile(deid, got, 0o600)
		if newErrs := newValidationErrors(t, orig, deid); len(newErrs) > 0 {
			t.Errorf("%s: dciodvfy finds errors the original did not have:\n%s", name, strings.Join(newErrs, "\n"))
		}
	}
	// The held instance is released after review, the submission accepted:
	// the state changes the database's guards allow, on every backend.
	for _, in := range view.Instances {
		if in.Status != "held" {
			continue
		}
		body := strings.NewReader(`{"decision":"release","reason":"no burned-in text"}`)
		if r := do(t, "POST", g.base+"/api/v1/submissions/"+subID+"/instances/"+in.SOP+"/review", quinn, "application/json", body); r.status != http.StatusOK {
			t.Fatalf("review: %d %s", r.status, r.body)
		}
	}
	accept := strings.NewReader(`{"decision":"accept","reason":"complete and readable"}`)
	if r := do(t, "POST", g.base+"/api/v1/submissions/"+subID+"/qc-decision", quinn, "application/json", accept); r.status != http.StatusOK {
		t.Fatalf("qc-decision: %d %s", r.status, r.body)
	}
	es := queryTrail(t, g.base, token(t, g.base, "ines"), "trial=T-E2E")
	n := len(names)
	for action, want := range map[string]int{"instance.received": n, "instance.deidentified": n, "instance.quarantined": 1,
		"qc.evaluated": n + 1, "submission.completed": 1, "instance.retrieved": n, "instance.reviewed": 1, "qc.decided": 1} {
		if got := count(es, action, "success"); got != want {
			t.Errorf("%s: %d entries, want %d", action, got, want)
		}
	}
}

// defineIngestTrial defines trial T-E2E from the command line and adds its
// people: dana (data manager), uma (uploader, site S1), quinn (QC
// reviewer) and ines (inspector).
func defineIngestTrial(t *testing.T, g *gateway) {
	t.Helper()
	def := filepath.Join(t.TempDir(), "trial.json")
	if err := os.WriteFile(def, []byte(e2eTrial), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := g.cli("", "trial", "create", "--file", def); err != nil {
		t.Fatal(err)
	}
	g.addUser("dana", "data_manager:T-E2E")
	g.addUser("uma", "site_uploader:T-E2E:S1")
	g.addUser("quinn", "qc_reviewer:T-E2E")
	g.addUser("ines", "inspector:T-E2E")
}

// openSubmission has dana approve T-E2E (once per gateway) and uma open a
// submission for subject at visit BL; it returns uma's token and the
// submission's id.
func openSubmission(t *testing.T, base, subject string) (string, string) {
	t.Helper()
	dana, uma := token(t, base, "dana"), token(t, base, "uma")
	approve := `{"password":"` + testPassword + `","meaning":"approval"}`
	if r := do(t, "POST", base+"/api/v1/trials/T-E2E/versions/1/approve", dana, "application/json", strings.NewReader(approve)); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	r := do(t, "POST", base+"/api/v1/trials/T-E2E/submissions", uma, "application/json",
		strings.NewReader(`{"site":"S1","subject":"`+subject+`","visit":"BL"}`))
	if r.status != http.StatusCreated {
		t.Fatalf("submission: %d %s", r.status, r.body)
	}
	var sub struct{ ID string }
	r.json(t, &sub)
	return uma, sub.ID
}

// otherSyntaxes has dcmtk re-encode a file in explicit big endian,
// implicit little endian, JPEG lossless and RLE, each under a new SOP
// Instance UID: real tools' output in the syntaxes the real files lack.
func otherSyntaxes(t *testing.T, src string) map[string][]byte {
	t.Helper()
	if _, err := exec.LookPath("dcmconv"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dcmtk is required in CI")
		}
		t.Skip("dcmtk not installed (apt-get install dcmtk)")
	}
	dir := t.TempDir()
	out := map[string][]byte{}
	for _, c := range []struct{ name, tool, flag string }{
		{"be.dcm", "dcmconv", "+tb"}, {"implicit.dcm", "dcmconv", "+ti"}, {"jpeg.dcm", "dcmcjpeg", ""}, {"rle.dcm", "dcmcrle", ""},
	} {
		path := filepath.Join(dir, c.name)
		args := []string{src, path}
		if c.flag != "" {
			args = append([]string{c.flag}, args...)
		}
		if b, err := exec.Command(c.tool, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", c.tool, err, b)
		}
		if b, err := exec.Command("dcmodify", "-q", "-nb", "-gin", path).CombinedOutput(); err != nil {
			t.Fatalf("dcmodify: %v %s", err, b)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out[c.name] = b
	}
	return out
}

// pixelElement returns a file's bytes from its last Pixel Data tag
// (little or big endian) to the end: the top-level Pixel Data element of
// a file with nothing after it, which de-identification must copy byte for
// byte.
func pixelElement(b []byte) []byte {
	i := max(bytes.LastIndex(b, []byte{0xE0, 0x7F, 0x10, 0x00}), bytes.LastIndex(b, []byte{0x7F, 0xE0, 0x00, 0x10}))
	if i < 0 {
		return nil
	}
	return b[i:]
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// wado retrieves one instance, in the transfer syntax asked for (the
// server's default when syntax is "").
func wado(t *testing.T, url, token, syntax string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if syntax != "" {
		req.Header.Set("Accept", `multipart/related; type="application/dicom"; transfer-syntax=`+syntax)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("WADO: %d %s", resp.StatusCode, b)
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
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

// values are the parts of a dciodvfy message that quote data: they change
// with de-identification without the object becoming less valid.
var values = regexp.MustCompile(`<[^>]*>|\[[0-9]+\] = <[^>]*>|\(0x[0-9a-f]{4},0x[0-9a-f]{4}\) [A-Z]{2} [^-]*`)

// newValidationErrors runs dciodvfy on an original and its de-identified
// version and returns the errors only the latter has. Deflated files are
// inflated with dcmconv first (dciodvfy cannot read them).
func newValidationErrors(t *testing.T, orig, deid string) []string {
	t.Helper()
	if _, err := exec.LookPath("dciodvfy"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dciodvfy (dicom3tools) is required in CI")
		}
		t.Skip("dciodvfy not installed (apt-get install dicom3tools)")
	}
	errs := func(path string) []string {
		if out, err := exec.Command("dcmdump", "-q", path).CombinedOutput(); err == nil && bytes.Contains(out, []byte("DeflatedLittleEndian")) {
			inflated := path + ".inflated"
			if out, err := exec.Command("dcmconv", "+te", path, inflated).CombinedOutput(); err != nil {
				t.Fatalf("dcmconv %s: %v %s", path, err, out)
			}
			path = inflated
		}
		out, _ := exec.Command("dciodvfy", path).CombinedOutput()
		var list []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "Error") {
				list = append(list, values.ReplaceAllString(line, "<value>"))
			}
		}
		return list
	}
	before := errs(orig)
	after := errs(deid)
	t.Logf("dciodvfy: %s has %d errors, its de-identified version %d", filepath.Base(orig), len(before), len(after))
	var added []string
	for _, e := range after {
		if i := slices.Index(before, e); i >= 0 {
			before = slices.Delete(before, i, i+1)
			continue
		}
		added = append(added, e)
	}
	return added
}
