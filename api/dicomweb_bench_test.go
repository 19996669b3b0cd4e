package api_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// BenchmarkSTOW measures the whole ingest path in-process on the embedded
// backends: HTTP, multipart, spool and hash, parse, QC, de-identification,
// object store and the audited transaction, one instance per request (a
// PET image of 64 KiB from the real test data, under a new SOP Instance
// UID each time), and a chest X-ray of 7 MiB (spooled to disk).
func BenchmarkSTOW(b *testing.B) {
	b.Run("64KiB", func(b *testing.B) { benchmarkSTOW(b, "1.dcm") })
	b.Run("7MiB", func(b *testing.B) { benchmarkSTOW(b, "4.dcm") })
}

func benchmarkSTOW(b *testing.B, benchFile string) {
	src, err := os.ReadFile(filepath.Join("..", "testdata", "real", benchFile))
	if err != nil {
		b.Skip("real test data missing")
	}
	f := newIngestFixture(b, "T-BENCH", realClasses)
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
