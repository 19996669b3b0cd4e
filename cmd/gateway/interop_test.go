package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialgate/trialgate/dicom"
)

// The gateway's DICOMweb QC view through independent peers: the
// JavaScript dicomweb-client library under node (search at every level,
// every WADO-RS retrieval), and Orthanc with its DICOMweb plugin retrieving
// a whole study as a DICOMweb client. Both run against the real server on
// the embedded backend, with the real test files uploaded through STOW-RS.

// interopTrial is the example trial (examples/trial.json), id T1.
const interopTrial = "T1"

// interopInstance is one stored instance as the peers should find it: its
// de-identified UIDs, as the submission lists them (not as the catalogue
// does), and what its source file holds.
type interopInstance struct {
	File              string   `json:"file"`
	Subject           string   `json:"subject"`
	Study             string   `json:"study"`
	Series            string   `json:"series"`
	SOP               string   `json:"sop"`
	SOPClass          string   `json:"sopClass"`
	Modality          string   `json:"modality"`
	StudyDescription  string   `json:"studyDescription"`
	OriginalStudy     string   `json:"originalStudy"`
	OriginalStudyDate string   `json:"originalStudyDate"`
	OriginalAccession string   `json:"originalAccession"`
	Rows              int      `json:"rows"`
	Columns           int      `json:"columns"`
	SamplesPerPixel   int      `json:"samplesPerPixel"`
	BitsAllocated     int      `json:"bitsAllocated"`
	Frames            int      `json:"frames"`
	FrameSHA256       []string `json:"frameSHA256"` // of each native frame, little endian
	PixelSHA256       string   `json:"pixelSHA256"` // of the native Pixel Data value
}

// interopFixture is a gateway serving trial T1 with the uploads of two
// subjects, QC-released and accepted.
type interopFixture struct {
	URL       string            `json:"url"`   // the trial's DICOMweb base
	Token     string            `json:"token"` // a QC reviewer's
	Instances []interopInstance `json:"instances"`

	gw *gateway
}

// tool returns the path of an external program the test needs, or skips
// the test (fails it in CI, where scripts/test.sh installs it).
func tool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		// Debian puts servers such as Orthanc in /usr/sbin, which a user's
		// PATH may lack.
		if sbin := filepath.Join("/usr/sbin", name); isExecutable(sbin) {
			return sbin
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (%s; scripts/test.sh does)", name, install)
		}
		t.Skipf("%s not found: %s (scripts/test.sh does)", name, install)
	}
	return path
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// newInteropFixture starts the gateway, defines the example trial, and has
// two subjects' visits uploaded: S1-001 the two PET studies and an MR study
// of two series (the MR image as sent, and dcmtk's implicit VR, big endian,
// JPEG Lossless and RLE copies of it, plus a copy in a second series);
// S1-002 the chest X-ray, the two-frame CT and the deflated secondary
// capture (held for burned-in text review, then released).
func newInteropFixture(t *testing.T) *interopFixture {
	t.Helper()
	dir := realDir(t)
	files := map[string][]byte{}
	for _, n := range []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	for n, b := range otherSyntaxes(t, filepath.Join(dir, "3.dcm")) {
		files[n] = b
	}
	files["series2.dcm"] = secondSeries(t, filepath.Join(dir, "3.dcm"))
	uploads := map[string][]string{
		"S1-001": {"1.dcm", "2.dcm", "3.dcm", "implicit.dcm", "be.dcm", "jpeg.dcm", "rle.dcm", "series2.dcm"},
		"S1-002": {"4.dcm", "5.dcm", "6.dcm"},
	}

	g := &gateway{t: t, args: []string{"--data-dir", t.TempDir()}}
	if _, err := g.cli("", "trial", "create", "--file", filepath.Join("..", "..", "examples", "trial.json")); err != nil {
		t.Fatal(err)
	}
	g.addUser("dm1", "data_manager:"+interopTrial)
	g.addUser("up1", "site_uploader:"+interopTrial+":S1")
	g.addUser("qc1", "qc_reviewer:"+interopTrial)
	g.addUser("rd1", "reader:"+interopTrial)
	g.addUser("rd2", "reader:"+interopTrial)
	g.serve()
	dm, up, qc := token(t, g.base, "dm1"), token(t, g.base, "up1"), token(t, g.base, "qc1")
	approve := `{"password":"` + testPassword + `","meaning":"approval"}`
	if r := do(t, "POST", g.base+"/api/v1/trials/"+interopTrial+"/versions/1/approve", dm, "application/json", strings.NewReader(approve)); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}

	fx := &interopFixture{URL: g.base + "/dicomweb/trials/" + interopTrial, Token: qc, gw: g}
	byHash := map[string]string{}
	for n, b := range files {
		byHash[sha256hex(b)] = n
	}
	for _, subject := range []string{"S1-001", "S1-002"} {
		r := do(t, "POST", g.base+"/api/v1/trials/"+interopTrial+"/submissions", up, "application/json",
			strings.NewReader(`{"site":"S1","subject":"`+subject+`","visit":"BL"}`))
		if r.status != http.StatusCreated {
			t.Fatalf("submission: %d %s", r.status, r.body)
		}
		var sub struct{ ID string }
		r.json(t, &sub)
		var parts [][]byte
		for _, n := range uploads[subject] {
			parts = append(parts, files[n])
		}
		ct, body := stowBody(parts...)
		if r := do(t, "POST", g.base+"/dicomweb/submissions/"+sub.ID+"/studies", up, ct, bytes.NewReader(body)); r.status != http.StatusOK {
			t.Fatalf("STOW-RS %s: %d %s", subject, r.status, r.body)
		}
		if r := do(t, "POST", g.base+"/api/v1/submissions/"+sub.ID+"/complete", up, "", nil); r.status != http.StatusOK {
			t.Fatalf("complete: %d %s", r.status, r.body)
		}
		var view struct {
			Instances []struct {
				SOP    string `json:"sop_instance_uid"`
				Class  string `json:"sop_class_uid"`
				Study  string `json:"study_instance_uid"`
				Series string `json:"series_instance_uid"`
				Status string `json:"status"`
				Orig   string `json:"original_sha256"`
			}
		}
		do(t, "GET", g.base+"/api/v1/submissions/"+sub.ID, qc, "", nil).json(t, &view)
		if len(view.Instances) != len(uploads[subject]) {
			t.Fatalf("submission %s holds %d instances, want %d", subject, len(view.Instances), len(uploads[subject]))
		}
		for _, in := range view.Instances {
			if in.Status == "held" {
				r := do(t, "POST", g.base+"/api/v1/submissions/"+sub.ID+"/instances/"+in.SOP+"/review", qc, "application/json",
					strings.NewReader(`{"decision":"release","reason":"no burned-in text"}`))
				if r.status != http.StatusOK {
					t.Fatalf("review: %d %s", r.status, r.body)
				}
			}
			name := byHash[in.Orig]
			if name == "" {
				t.Fatalf("instance %s matches no uploaded file", in.SOP)
			}
			ii := describeSource(t, name, files[name], files["3.dcm"])
			ii.Subject, ii.Study, ii.Series, ii.SOP, ii.SOPClass = subject, in.Study, in.Series, in.SOP, in.Class
			fx.Instances = append(fx.Instances, ii)
		}
		r = do(t, "POST", g.base+"/api/v1/submissions/"+sub.ID+"/qc-decision", qc, "application/json",
			strings.NewReader(`{"decision":"accept","reason":"complete and readable"}`))
		if r.status != http.StatusOK {
			t.Fatalf("qc-decision: %d %s", r.status, r.body)
		}
	}
	slices.SortFunc(fx.Instances, func(a, b interopInstance) int { return strings.Compare(a.File, b.File) })
	return fx
}

// secondSeries is a copy of the file at src in a new series (dcmtk's
// dcmodify: new Series and SOP Instance UIDs, series number 2).
func secondSeries(t *testing.T, src string) []byte {
	t.Helper()
	tool(t, "dcmodify", "apt-get install dcmtk")
	path := filepath.Join(t.TempDir(), "series2.dcm")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dcmodify", "-q", "-nb", "-gse", "-gin", "-i", "(0020,0011)=2", path).CombinedOutput(); err != nil {
		t.Fatalf("dcmodify: %v %s", err, out)
	}
	b, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// describeSource reads what a source file holds. The dcmtk copies of the
// MR image hold its pixels: their native frames are mr's.
func describeSource(t *testing.T, name string, b, mr []byte) interopInstance {
	t.Helper()
	obj, err := dicom.Parse(bytes.NewReader(b), dicom.Limits{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ds := obj.Dataset
	num := func(tag dicom.Tag, def int) int {
		e := ds.Get(tag)
		if e == nil {
			return def
		}
		f, err := e.Floats()
		if err != nil || len(f) == 0 {
			return def
		}
		return int(f[0])
	}
	ii := interopInstance{
		File:              name,
		Modality:          ds.String(dicom.Modality),
		StudyDescription:  ds.String(dicom.StudyDescription),
		OriginalStudy:     ds.String(dicom.StudyInstanceUID),
		OriginalStudyDate: ds.String(dicom.StudyDate),
		OriginalAccession: ds.String(dicom.AccessionNumber),
		Rows:              num(dicom.Rows, 0),
		Columns:           num(dicom.Columns, 0),
		SamplesPerPixel:   num(dicom.SamplesPerPixel, 1),
		BitsAllocated:     num(dicom.BitsAllocated, 0),
		Frames:            num(dicom.NumberOfFrames, 1),
	}
	native := b
	switch syn := obj.Syntax; {
	case syn.Deflated:
		native = inflated(t, b)
	case syn.BigEndian || syn.Encapsulated:
		native = mr // dcmtk's big endian, JPEG Lossless and RLE copies of it
	}
	px := nativePixels(t, name, native)
	size := ii.Rows * ii.Columns * ii.SamplesPerPixel * ii.BitsAllocated / 8
	if len(px) != size*ii.Frames {
		t.Fatalf("%s: native Pixel Data of %d bytes, want %d frames of %d", name, len(px), ii.Frames, size)
	}
	ii.PixelSHA256 = sha256hex(px)
	for f := range ii.Frames {
		ii.FrameSHA256 = append(ii.FrameSHA256, sha256hex(px[f*size:(f+1)*size]))
	}
	return ii
}

// inflated is a deflated file re-encoded by dcmtk in Explicit VR Little
// Endian.
func inflated(t *testing.T, b []byte) []byte {
	t.Helper()
	tool(t, "dcmconv", "apt-get install dcmtk")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.dcm"), filepath.Join(dir, "out.dcm")
	if err := os.WriteFile(in, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("dcmconv", "+te", in, out).CombinedOutput(); err != nil {
		t.Fatalf("dcmconv: %v %s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nativePixels returns the value of the top-level, native Pixel Data of a
// little endian file whose last element it is (explicit VR OW/OB: a 12-byte
// header; implicit VR: 8 bytes).
func nativePixels(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	el := pixelElement(b)
	if len(el) < 12 {
		t.Fatalf("%s: no Pixel Data", name)
	}
	hdr := 8
	if vr := string(el[4:6]); vr == "OW" || vr == "OB" {
		hdr = 12
	}
	l := el[hdr-4 : hdr] // little endian (the name binary is crash_test.go's)
	n := uint32(l[0]) | uint32(l[1])<<8 | uint32(l[2])<<16 | uint32(l[3])<<24
	if int(n) != len(el)-hdr {
		t.Fatalf("%s: Pixel Data length %d, %d bytes follow", name, n, len(el)-hdr)
	}
	return el[hdr:]
}

func TestInteropDICOMwebClient(t *testing.T) {
	node := tool(t, "node", "apt-get install nodejs")
	js, err := filepath.Abs(filepath.Join("..", "..", "interop", "js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []string{"dicomweb-client", "dicom-parser", "xhr2"} {
		if _, err := os.Stat(filepath.Join(js, "node_modules", mod, "package.json")); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("interop/js/node_modules/%s missing: run npm ci in interop/js (scripts/test.sh does)", mod)
			}
			t.Skipf("interop/js/node_modules/%s missing: run npm ci in interop/js (scripts/test.sh does)", mod)
		}
	}
	fx := newInteropFixture(t)
	b, err := json.Marshal(fx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fixture.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dicomweb.mjs", path)
	cmd.Dir = js
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("dicomweb-client (%.1fs):\n%s", time.Since(start).Seconds(), out)
	if err != nil {
		var failures []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "FAIL ") {
				failures = append(failures, line)
			}
		}
		t.Fatalf("dicomweb-client checks failed (%v):\n%s", err, strings.Join(failures, "\n"))
	}
}

// TestInteropDICOMwebClientReaderView holds the blinded reader view to the
// same independent client: a reader's task, searched and retrieved with
// dicomweb-client, shows the case code and the source's pixels, nothing
// of the subject, the site or the source's dates, and no other case.
func TestInteropDICOMwebClientReaderView(t *testing.T) {
	node := tool(t, "node", "apt-get install nodejs")
	js, err := filepath.Abs(filepath.Join("..", "..", "interop", "js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(js, "node_modules", "dicomweb-client", "package.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("interop/js/node_modules missing: run npm ci in interop/js (scripts/test.sh does)")
		}
		t.Skip("interop/js/node_modules missing: run npm ci in interop/js (scripts/test.sh does)")
	}
	fx := newInteropFixture(t)
	base := fx.gw.base
	dm := token(t, base, "dm1")
	if r := do(t, "POST", base+"/api/v1/trials/"+interopTrial+"/read-assignments", dm, "application/json",
		strings.NewReader(`{"seed":"interop"}`)); r.status != http.StatusOK {
		t.Fatalf("assign: %d %s", r.status, r.body)
	}
	var overview struct {
		Tasks []struct{ ID, Case, Subject, Reader string }
	}
	do(t, "GET", base+"/api/v1/trials/"+interopTrial+"/read-tasks", dm, "", nil).json(t, &overview)
	var task, code string
	for _, x := range overview.Tasks {
		if x.Subject == "S1-001" && x.Reader == "rd1" {
			task, code = x.ID, x.Case
		}
	}
	if task == "" {
		t.Fatalf("rd1 holds no task of S1-001: %+v", overview.Tasks)
	}
	type readerFixture struct {
		URL        string            `json:"url"`
		Token      string            `json:"token"`
		Code       string            `json:"code"`
		Forbidden  []string          `json:"forbidden"`
		Instances  []interopInstance `json:"instances"`
		OtherStudy string            `json:"otherStudy"`
	}
	rf := readerFixture{URL: base + "/dicomweb/reads/" + task, Token: token(t, base, "rd1"), Code: code,
		Forbidden: []string{"S1-001", "S1-002", "City Hospital Radiology", "Baseline"}}
	for _, in := range fx.Instances {
		if in.Subject != "S1-001" {
			rf.OtherStudy = in.Study
			continue
		}
		rf.Instances = append(rf.Instances, in)
		for _, v := range []string{in.OriginalStudy, in.OriginalStudyDate, in.OriginalAccession} {
			if len(v) >= 6 && !slices.Contains(rf.Forbidden, v) {
				rf.Forbidden = append(rf.Forbidden, v)
			}
		}
	}
	b, err := json.Marshal(rf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "reader.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "reader.mjs", path)
	cmd.Dir = js
	out, err := cmd.CombinedOutput()
	t.Logf("dicomweb-client on the reader view:\n%s", out)
	if err != nil {
		t.Fatalf("dicomweb-client checks of the reader view failed: %v", err)
	}
}

// orthanc is an Orthanc server run for one test.
type orthanc struct {
	base string
	logs *syncBuffer
}

// startOrthanc runs Orthanc with its DICOMweb plugin on a free HTTP port,
// its DICOM server off, its storage in a temporary folder and the gateway's
// trial configured as the DICOMweb server "gateway". It is killed when the
// test ends.
func startOrthanc(t *testing.T, gatewayURL, bearer string) *orthanc {
	t.Helper()
	bin := tool(t, "Orthanc", "apt-get install orthanc orthanc-dicomweb")
	plugin := dicomwebPlugin(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	cfg := map[string]any{
		"Name":                  "trialgate-interop",
		"StorageDirectory":      filepath.Join(dir, "storage"),
		"IndexDirectory":        filepath.Join(dir, "index"),
		"HttpPort":              json.Number(port),
		"RemoteAccessAllowed":   false,
		"AuthenticationEnabled": false,
		"DicomServerEnabled":    false,
		"DicomPort":             json.Number(strings.TrimPrefix(freeAddr(t), "127.0.0.1:")),
		"StorageCompression":    false,
		"HttpTimeout":           60,
		"Plugins":               []string{plugin},
		"DicomWeb": map[string]any{
			"Enable": true,
			"Root":   "/dicom-web/",
			"Servers": map[string]any{
				"gateway": map[string]any{
					"Url":         gatewayURL + "/",
					"HttpHeaders": map[string]string{"Authorization": "Bearer " + bearer},
				},
			},
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	o := &orthanc{base: "http://" + addr, logs: &syncBuffer{}}
	cmd := exec.Command(bin, conf)
	cmd.Stdout, cmd.Stderr = o.logs, o.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("Orthanc's log:\n%s", o.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("Orthanc exited: %v\n%s", err, o.logs.String())
		default:
		}
		if resp, err := http.Get(o.base + "/system"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return o
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Orthanc not up after 30s:\n%s", o.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dicomwebPlugin finds the DICOMweb plugin's library among the files of
// the Debian package orthanc-dicomweb.
func dicomwebPlugin(t *testing.T) string {
	t.Helper()
	dpkg := tool(t, "dpkg", "a Debian system")
	out, err := exec.Command(dpkg, "-L", "orthanc-dicomweb").Output()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(line, "/plugins/libOrthancDicomWeb.so") {
				if _, err := os.Stat(line); err == nil {
					return line
				}
			}
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the Orthanc DICOMweb plugin is required in CI (apt-get install orthanc-dicomweb): dpkg -L: %v", err)
	}
	t.Skipf("the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)")
	return ""
}

// get fetches an Orthanc resource as JSON.
func (o *orthanc) get(t *testing.T, path string, v any) {
	t.Helper()
	r := do(t, "GET", o.base+path, "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("Orthanc GET %s: %d %s", path, r.status, r.body)
	}
	r.json(t, v)
}

// recorder forwards requests to target and notes each one's method, path,
// Accept header, status and Content-Type.
type recorder struct {
	target string
	mu     sync.Mutex
	lines  []string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u, _ := url.Parse(rec.target)
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	httputil.NewSingleHostReverseProxy(u).ServeHTTP(rw, r)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.lines = append(rec.lines, fmt.Sprintf("%s %s (Accept: %s) -> %d %s", r.Method, r.URL.RequestURI(),
		r.Header.Get("Accept"), rw.status, rw.Header().Get("Content-Type")))
}

func (rec *recorder) String() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return strings.Join(rec.lines, "\n")
}

// statusWriter notes the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func TestInteropOrthancRetrievesStudy(t *testing.T) {
	tool(t, "Orthanc", "apt-get install orthanc orthanc-dicomweb")
	fx := newInteropFixture(t)
	// Orthanc reaches the gateway through a recording proxy: what it asked
	// for and what it got is in the log when the test fails.
	rec := &recorder{target: fx.gw.base}
	proxy := httptest.NewServer(rec)
	t.Cleanup(proxy.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Orthanc's requests to the gateway:\n%s", rec.String())
		}
	})
	o := startOrthanc(t, proxy.URL+strings.TrimPrefix(fx.URL, fx.gw.base), fx.Token)
	var mr interopInstance
	for _, in := range fx.Instances {
		if in.File == "3.dcm" {
			mr = in
		}
	}
	var want []string
	for _, in := range fx.Instances {
		if in.Study == mr.Study {
			want = append(want, in.SOP)
		}
	}
	slices.Sort(want)

	body := fmt.Sprintf(`{"Resources":[{"Study":%q}]}`, mr.Study)
	start := time.Now()
	r := do(t, "POST", o.base+"/dicom-web/servers/gateway/retrieve", "", "application/json", strings.NewReader(body))
	t.Logf("Orthanc retrieve: %d in %.1fs: %s", r.status, time.Since(start).Seconds(), r.body)
	if r.status != http.StatusOK {
		t.Fatalf("POST /dicom-web/servers/gateway/retrieve: %d %s", r.status, r.body)
	}

	var instances []struct {
		ID            string
		ParentSeries  string
		MainDicomTags map[string]string
	}
	o.get(t, "/instances?expand", &instances)
	var got []string
	for _, in := range instances {
		got = append(got, in.MainDicomTags["SOPInstanceUID"])
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Orthanc holds instances %v, want the study's de-identified instances %v", got, want)
	}
	var studies []struct {
		MainDicomTags        map[string]string
		PatientMainDicomTags map[string]string
		Series               []string
	}
	o.get(t, "/studies?expand", &studies)
	if len(studies) != 1 || studies[0].MainDicomTags["StudyInstanceUID"] != mr.Study {
		t.Fatalf("Orthanc holds studies %+v, want one: %s", studies, mr.Study)
	}
	if pid := studies[0].PatientMainDicomTags["PatientID"]; pid != "S1-001" {
		t.Errorf("Orthanc's PatientID %q, want the subject code S1-001", pid)
	}
	if n := len(studies[0].Series); n != 2 {
		t.Errorf("Orthanc's study has %d series, want 2", n)
	}
	// What Orthanc stored is what the gateway serves: the de-identified
	// object, Pixel Data and all (one of them, read back from Orthanc).
	file := do(t, "GET", o.base+"/instances/"+instances[0].ID+"/file", "", "", nil)
	if file.status != http.StatusOK {
		t.Fatalf("Orthanc file: %d", file.status)
	}
	obj, err := dicom.Parse(bytes.NewReader(file.body), dicom.Limits{})
	if err != nil {
		t.Fatalf("the file Orthanc stored: %v", err)
	}
	if uid := obj.Dataset.String(dicom.StudyInstanceUID); uid != mr.Study {
		t.Errorf("the file Orthanc stored is of study %s", uid)
	}
	if uid := obj.Dataset.String(dicom.StudyInstanceUID); uid == mr.OriginalStudy {
		t.Error("Orthanc received the original Study Instance UID")
	}
}
