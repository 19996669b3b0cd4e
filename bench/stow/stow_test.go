package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// memPart is a part whose content is s.
func memPart(name, s string) part {
	return part{name: name, size: int64(len(s)), open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(s)), nil
	}}
}

// receivedRequest is what the fake STOW-RS server saw.
type receivedRequest struct {
	contentLength int64
	chunked       bool
	mediaType     string
	params        map[string]string
	partTypes     []string
	parts         []string
	auth          string
	err           error
}

// fakeSTOW is an httptest server that parses each request as multipart and
// answers with respond(parts).
func fakeSTOW(t *testing.T, respond func(w http.ResponseWriter, parts []string)) (*httptest.Server, chan receivedRequest) {
	t.Helper()
	got := make(chan receivedRequest, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr := receivedRequest{contentLength: r.ContentLength, chunked: len(r.TransferEncoding) > 0,
			auth: r.Header.Get("Authorization")}
		defer func() { got <- rr }()
		rr.mediaType, rr.params, rr.err = mime.ParseMediaType(r.Header.Get("Content-Type"))
		if rr.err != nil {
			http.Error(w, rr.err.Error(), http.StatusUnsupportedMediaType)
			return
		}
		mr := multipart.NewReader(r.Body, rr.params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rr.err = err
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			b, err := io.ReadAll(p)
			if err != nil {
				rr.err = err
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rr.partTypes = append(rr.partTypes, p.Header.Get("Content-Type"))
			rr.parts = append(rr.parts, string(b))
		}
		respond(w, rr.parts)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// stowJSON renders a STOW-RS response storing stored UIDs and failing
// failed ones with code.
func stowJSON(stored, failed []string, code int) string {
	item := func(uid string, extra string) string {
		return fmt.Sprintf(`{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]},"00081155":{"vr":"UI","Value":[%q]}%s}`, uid, extra)
	}
	var refs, fails []string
	for _, u := range stored {
		refs = append(refs, item(u, ""))
	}
	for _, u := range failed {
		fails = append(fails, item(u, fmt.Sprintf(`,"00081197":{"vr":"US","Value":[%d]},"00090010":{"vr":"LO","Value":["not DICOM"]}`, code)))
	}
	return fmt.Sprintf(`{"00081199":{"vr":"SQ","Value":[%s]},"00081198":{"vr":"SQ","Value":[%s]}}`,
		strings.Join(refs, ","), strings.Join(fails, ","))
}

// The multipart body: exact Content-Length (no chunking), the STOW-RS media
// type and part headers, and each part's bytes unchanged.
func TestMultipartBody(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 50_000) // larger than the copy buffer
	tests := []struct {
		name  string
		parts []part
	}{
		{"one part", []part{memPart("a", "DICM-a")}},
		{"three parts", []part{memPart("a", "first"), memPart("b", "second\r\n--not-a-boundary"), memPart("c", "third")}},
		{"empty part", []part{memPart("a", "")}},
		{"large part", []part{memPart("big", big), memPart("small", "x")}},
	}
	srv, got := fakeSTOW(t, func(w http.ResponseWriter, parts []string) {
		w.Header().Set("Content-Type", "application/dicom+json")
		io.WriteString(w, stowJSON(make([]string, len(parts)), nil, 0))
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := sendRequest(context.Background(), srv.Client(), srv.URL, "tok", tt.parts, 0)
			if err != nil {
				t.Fatal(err)
			}
			rr := <-got
			if rr.err != nil {
				t.Fatalf("server: %v", rr.err)
			}
			if rr.chunked {
				t.Error("body sent chunked, want a Content-Length")
			}
			boundary, want := rr.params["boundary"], int64(0)
			if want, err = bodySize(boundary, tt.parts); err != nil || rr.contentLength != want {
				t.Errorf("Content-Length %d, want %d (%v)", rr.contentLength, want, err)
			}
			if rr.mediaType != "multipart/related" || rr.params["type"] != "application/dicom" {
				t.Errorf("media type %s %v", rr.mediaType, rr.params)
			}
			if rr.auth != "Bearer tok" {
				t.Errorf("Authorization %q", rr.auth)
			}
			if len(rr.parts) != len(tt.parts) {
				t.Fatalf("%d parts received, want %d", len(rr.parts), len(tt.parts))
			}
			for i, p := range tt.parts {
				if rr.partTypes[i] != "application/dicom" {
					t.Errorf("part %d Content-Type %q", i, rr.partTypes[i])
				}
				rc, _ := p.open()
				b, _ := io.ReadAll(rc)
				if rr.parts[i] != string(b) {
					t.Errorf("part %d: %d bytes received, want %d", i, len(rr.parts[i]), len(b))
				}
			}
			if r.outcome.stored != len(tt.parts) || r.outcome.failed != 0 {
				t.Errorf("outcome %+v", r.outcome)
			}
		})
	}
}

// A file that does not have its announced size fails the request instead of
// sending a body that contradicts its Content-Length.
func TestMultipartBodySizeMismatch(t *testing.T) {
	p := memPart("short", "abc")
	p.size = 10
	var buf bytes.Buffer
	err := writeBody(&buf, "b0undary", []part{p}, make([]byte, 8))
	if err == nil || !strings.Contains(err.Error(), "3 bytes, want 10") {
		t.Fatalf("err %v", err)
	}
}

// Responses: stored only what the ReferencedSOPSequence lists.
func TestSendRequestOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       func(parts []string) string
		sent       int
		wantStored int
		wantFailed int
		wantReason string
	}{
		{"all stored", 200, func(p []string) string { return stowJSON([]string{"1.1", "1.2"}, nil, 0) }, 2, 2, 0, ""},
		{"some failed", 202, func(p []string) string { return stowJSON([]string{"1.1"}, []string{"1.2"}, 0xC000) }, 2, 1, 1,
			"HTTP 202: FailureReason 0xC000 (1.2): not DICOM"},
		{"none stored", 409, func(p []string) string { return stowJSON(nil, []string{"1.1"}, 0xA900) }, 1, 0, 1, "FailureReason 0xA900"},
		{"200 but not listed", 200, func(p []string) string { return stowJSON([]string{"1.1"}, nil, 0) }, 2, 1, 1,
			"1 instance(s) neither stored nor failed"},
		{"empty 200", 200, func(p []string) string { return "" }, 1, 0, 1, "neither stored nor failed"},
		{"array form", 200, func(p []string) string { return "[" + stowJSON([]string{"1.1"}, nil, 0) + "]" }, 1, 1, 0, ""},
		{"JSON error", 403, func(p []string) string { return `{"error":{"code":"forbidden","message":"not your site"}}` }, 3, 0, 3,
			"HTTP 403: {\"error\""},
		{"not JSON", 500, func(p []string) string { return "boom" }, 1, 0, 1, "HTTP 500: boom"},
		{"garbage 200", 200, func(p []string) string { return "<html>" }, 1, 0, 1, "unreadable response"},
		{"400 with sequences (Orthanc)", 400, func(p []string) string {
			return `{"00081198":{"vr":"SQ"},"00081199":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.1"]}}]}}`
		}, 2, 1, 1, "HTTP 400: 1 instance(s) neither stored nor failed"},
		{"wrong VR", 200, func(p []string) string { return `{"00081199":{"vr":"UI","Value":["1.1"]}}` }, 1, 0, 1, "want SQ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeSTOW(t, func(w http.ResponseWriter, parts []string) {
				w.Header().Set("Content-Type", "application/dicom+json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body(parts))
			})
			parts := make([]part, tt.sent)
			for i := range parts {
				parts[i] = memPart(fmt.Sprint(i), "DICM")
			}
			r, err := sendRequest(context.Background(), srv.Client(), srv.URL, "", parts, 0)
			if err != nil {
				t.Fatal(err)
			}
			o := r.outcome
			if o.stored != tt.wantStored || o.failed != tt.wantFailed {
				t.Errorf("stored %d failed %d, want %d %d (%v)", o.stored, o.failed, tt.wantStored, tt.wantFailed, o.reasons)
			}
			joined := strings.Join(o.reasons, "; ")
			if tt.wantReason == "" && joined != "" || !strings.Contains(joined, tt.wantReason) {
				t.Errorf("reasons %q, want %q", joined, tt.wantReason)
			}
		})
	}
}

// A server that is gone counts the request as failed without stopping the run.
func TestSendRequestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r, err := sendRequest(context.Background(), http.DefaultClient, url, "", []part{memPart("a", "x")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.outcome.failed != 1 || len(r.outcome.reasons) != 1 {
		t.Errorf("outcome %+v", r.outcome)
	}
}

// runLoad sends every part once, spread over the clients, K per request.
func TestRunLoad(t *testing.T) {
	srv, _ := fakeSTOW(t, func(w http.ResponseWriter, parts []string) {
		io.WriteString(w, stowJSON(parts, nil, 0))
	})
	var parts []part
	for i := range 7 {
		parts = append(parts, memPart(fmt.Sprint(i), fmt.Sprintf("instance %d", i)))
	}
	res, err := runLoad(context.Background(), srv.Client(), loadConfig{
		endpoints: []string{srv.URL, srv.URL, srv.URL}, parts: parts, perRequest: 3})
	if err != nil {
		t.Fatal(err)
	}
	rep := summarize(options{clients: 3, perRequest: 3}, res, nil)
	if rep.Requests != 3 || rep.Sent != 7 || rep.Stored != 7 || rep.Failed != 0 {
		t.Errorf("report %+v", rep)
	}
}

func TestParseStatus(t *testing.T) {
	const status = "Name:\tgateway\nVmPeak:\t 1000 kB\nVmHWM:\t   98304 kB\nVmRSS:\t   65536 kB\nThreads:\t9\n"
	tests := []struct {
		name    string
		in      string
		want    memStatus
		wantErr string
	}{
		{"process", status, memStatus{HWM: 96 << 20, RSS: 64 << 20}, ""},
		{"kernel thread", "Name:\tkthreadd\nThreads:\t1\n", memStatus{}, "no VmHWM/VmRSS"},
		{"bad unit", "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", memStatus{}, "unexpected value"},
		{"bad number", "VmHWM:\t x kB\nVmRSS:\t 1 kB\n", memStatus{}, "VmHWM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	const line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 5 0 250 75 0 0 20 0 9 0 100 0\n"
	got, err := parseStat([]byte(line))
	if err != nil || got != 3250*time.Millisecond {
		t.Fatalf("got %v, %v; want 3.25s", got, err)
	}
	for _, bad := range []string{"4242 no parenthesis", "4242 (x) S 1 2", "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 5 0 x 75 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The sampler reads this very process.
func TestSamplerSelf(t *testing.T) {
	s, err := startSampler(os.Getpid(), 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	r := s.stop()
	if r.PeakHWM <= 0 || r.PeakRSS <= 0 || r.PeakHWM < r.StartHWM || r.Samples < 2 || r.SampleErrors != "" {
		t.Errorf("report %+v", r)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "100MB": 100e6, "4096": 4096, " 2 KiB": 2048} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1GiB", "1TB", "GiB", "99999999999GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
}

// The synthetic instance is well-formed explicit VR little endian with a
// Pixel Data element of exactly frames × frame bytes, and the streamed
// content has the announced size.
func TestBigInstance(t *testing.T) {
	bi, err := newBigInstance(3*bigFrameBytes-1, trialContext{trial: "T", site: "S1", subject: "BIG", visit: "BL"})
	if err != nil {
		t.Fatal(err)
	}
	if bi.frames != 3 {
		t.Fatalf("%d frames, want 3", bi.frames)
	}
	p := bi.part()
	rc, _ := p.open()
	data, err := io.ReadAll(rc)
	if err != nil || int64(len(data)) != p.size {
		t.Fatalf("%d bytes read, want %d (%v)", len(data), p.size, err)
	}
	if string(data[128:132]) != "DICM" {
		t.Fatal("no DICM prefix")
	}
	elems := walkExplicit(t, data[132:])
	if got := elems[0x7FE00010]; got != 3*bigFrameBytes {
		t.Errorf("Pixel Data length %d, want %d", got, 3*bigFrameBytes)
	}
	for _, tag := range []uint32{0x00020010, 0x00080016, 0x00080018, 0x00120040, 0x00280008, 0x00280010} {
		if _, ok := elems[tag]; !ok {
			t.Errorf("(%04X,%04X) missing", tag>>16, tag&0xFFFF)
		}
	}
	// Frames differ (each is stamped).
	px := data[len(data)-3*bigFrameBytes:]
	if bytes.Equal(px[:bigFrameBytes], px[bigFrameBytes:2*bigFrameBytes]) {
		t.Error("frames 1 and 2 are equal")
	}
	if _, err := newBigInstance(5<<30, trialContext{}); err == nil {
		t.Error("5 GiB: no error")
	}
}

// walkExplicit reads explicit VR little endian elements (no sequences)
// and returns each tag's value length; the walk must end exactly at the end.
func walkExplicit(t *testing.T, b []byte) map[uint32]int {
	t.Helper()
	out := map[uint32]int{}
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("%d trailing bytes", len(b))
		}
		tag := uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
		vr := string(b[4:6])
		var n, hdr int
		if longVR(vr) {
			n, hdr = int(binary.LittleEndian.Uint32(b[8:])), 12
		} else {
			n, hdr = int(binary.LittleEndian.Uint16(b[6:])), 8
		}
		if n%2 != 0 || hdr+n > len(b) {
			t.Fatalf("(%04X,%04X) %s: bad length %d", tag>>16, tag&0xFFFF, vr, n)
		}
		out[tag] = n
		b = b[hdr+n:]
	}
	return out
}

// The corpus walk keeps DICOM files and skips the rest.
func TestDICOMFiles(t *testing.T) {
	dir := t.TempDir()
	dicm := append(make([]byte, 128), "DICM rest"...)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "b.dcm"), dicm, 0o644))
	must(os.WriteFile(filepath.Join(dir, "a.dcm"), dicm, 0o644))
	must(os.WriteFile(filepath.Join(dir, "README.md"), []byte("# not DICOM"), 0o644))
	got, err := dicomFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.dcm"), filepath.Join(dir, "sub", "b.dcm")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// longVR reports whether vr has a 2-byte reserved field and a 4-byte
// length in explicit VR (PS3.5 7.1.2).
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// -table: one row per label, medians over its runs, ratios to the first.
func TestPrintTable(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, r report) string {
		path := filepath.Join(dir, name)
		if err := writeJSON(path, r); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mem := func(mib int64) *memReport { return &memReport{PeakHWM: mib << 20, CPUSeconds: float64(mib) / 100} }
	files := []string{
		write("o1", report{Label: "Orthanc", Sent: 10, Stored: 10, InstancesPerSec: 50, P99ms: 100, Memory: mem(200)}),
		write("g1", report{Label: "TrialGate", Sent: 10, Stored: 9, Failed: 1, InstancesPerSec: 60, P99ms: 50, Memory: mem(50)}),
		write("o2", report{Label: "Orthanc", Sent: 10, Stored: 10, InstancesPerSec: 40, P99ms: 300, Memory: mem(100)}),
		write("g2", report{Label: "TrialGate", Sent: 10, Stored: 10, InstancesPerSec: 120, P99ms: 150, Memory: mem(100)}),
		write("o3", report{Label: "Orthanc", Sent: 10, Stored: 10, InstancesPerSec: 60, P99ms: 200, Memory: mem(300)}),
	}
	var out bytes.Buffer
	if err := printTable(&out, files); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	for i, want := range []string{
		"| Orthanc | 3 | 30 / 30 | 0 | 0.00 | 50.0 | 0.0 | 0.0 | 200.0 | 200.0 | 200.0 | 1.00 | 1.00 | 1.00 | 1.00 |",
		"| TrialGate | 2 | 19 / 20 | 1 | 0.00 | 90.0 | 0.0 | 0.0 | 100.0 | 75.0 | 77.8 | 1.80 | 0.50 | 0.38 | 0.39 |",
	} {
		if lines[2+i] != want {
			t.Errorf("row %d:\n got %s\nwant %s", i, lines[2+i], want)
		}
	}
}
