package api_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// BenchmarkSTOW measures the whole ingest path in-process on the embedded
// backends: HTTP, multipart, spool and hash, parse, QC, de-identification,
// object store and the audited transaction, one instance per request (a
// PET image of 64 KiB from the real test data, under a new SOP Instance
// UID each time), and a chest X-ray of 7 MiB (spooled to disk).
//
// 64KiB+100locks is 64KiB with 100 unrelated subject locks in force in
// the same trial: the lock guard's look-up by scope key, side by side with
// the run without (DESIGN.md section 8: at most 3% of ingest throughput).
func BenchmarkSTOW(b *testing.B) {
	b.Run("64KiB", func(b *testing.B) { benchmarkSTOW(b, "1.dcm", 0) })
	b.Run("64KiB+100locks", func(b *testing.B) { benchmarkSTOW(b, "1.dcm", 100) })
	b.Run("7MiB", func(b *testing.B) { benchmarkSTOW(b, "4.dcm", 0) })
}

func benchmarkSTOW(b *testing.B, benchFile string, locks int) {
	src, err := os.ReadFile(filepath.Join("..", "testdata", "real", benchFile))
	if err != nil {
		b.Skip("real test data missing")
	}
	f := newIngestFixture(b, "T-BENCH", realClasses)
	for i := range locks {
		subject := fmt.Sprintf("LOCKED-%03d", i)
		f.submission(b, f.uploader, "S1", subject, "BL")
		r := f.do(b, "POST", "/api/v1/trials/T-BENCH/locks", f.dm, map[string]string{"scope": "subject", "subject": subject,
			"password": testPassword, "meaning": "lock", "reason": "benchmark"})
		if r.status != http.StatusCreated {
			b.Fatalf("lock %s: %d %s", subject, r.status, r.body)
		}
	}
	sub := f.submission(b, f.uploader, "S1", "BENCH-1", "BL")
	url := f.url + "/dicomweb/submissions/" + sub + "/studies"
	bodies := make([][]byte, b.N)
	var boundary string
	for i := range bodies {
		obj, err := dicom.Parse(bytes.NewReader(src), dicom.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		uid := fmt.Sprintf("1.2.826.0.1.3680043.10.1457.99.%d", i)
		obj.Dataset.SetString(dicom.SOPInstanceUID, "UI", uid)
		obj.Meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", uid)
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.SetBoundary("benchboundary")
		boundary = mw.Boundary()
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if _, err := obj.Write(w, nil); err != nil {
			b.Fatal(err)
		}
		mw.Close()
		bodies[i] = body.Bytes()
	}
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for i := range b.N {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(bodies[i]))
		req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
		req.Header.Set("Authorization", "Bearer "+f.uploader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("STOW: %d", resp.StatusCode)
		}
	}
}

// BenchmarkDICOMweb times the QC view's answers over HTTP on the real
// files: a trial-wide QIDO-RS search that must read every header
// (PatientID is not a column), a study retrieve as stored and converted
// to implicit VR, and a frames read.
func BenchmarkDICOMweb(b *testing.B) {
	files := realFiles(b)
	f := newIngestFixture(b, "T-BWEB", realClasses)
	sub := f.submission(b, f.uploader, "S1", "BENCH-1", "BL")
	var bodies [][]byte
	for i := 1; i <= 6; i++ {
		bodies = append(bodies, files[fmt.Sprintf("%d.dcm", i)])
	}
	if res := f.stow(b, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(bodies...)); res.status != http.StatusOK {
		b.Fatalf("STOW: %d %s", res.status, res.raw)
	}
	v := f.view(b, sub, f.qc)
	var ct struct{ study, series, sop string }
	for _, in := range v.Instances {
		if strings.HasPrefix(in.SOP, "2.25.") && in.Status == "released" {
			ct.study, ct.series, ct.sop = in.Study, in.Series, in.SOP
		}
	}
	get := func(b *testing.B, path, accept string) int64 {
		req, _ := http.NewRequest("GET", f.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.qc)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return n
	}
	base := "/dicomweb/trials/T-BWEB"
	study := base + "/studies/" + ct.study
	for _, bm := range []struct{ name, path, accept string }{
		{"qido-patientid", base + "/instances?PatientID=BENCH-1", "application/dicom+json"},
		{"study-as-stored", study, `multipart/related; type="application/dicom"; transfer-syntax=*`},
		{"study-implicit", study, `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2`},
		{"frames", study + "/series/" + ct.series + "/instances/" + ct.sop + "/frames/1", `multipart/related; type="application/octet-stream"`},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(get(b, bm.path, bm.accept))
			b.ResetTimer()
			for range b.N {
				get(b, bm.path, bm.accept)
			}
		})
	}
}
