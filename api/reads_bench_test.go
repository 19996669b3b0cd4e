package api_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/trialgate/trialgate/auth"
)

// BenchmarkReaderView retrieves the same study through the trial's QC
// view and through a reader's blinded view, alternately in one loop, so
// that both meet the same machine state; it reports each view's
// throughput and their ratio (the blinded view rewrites every header on
// the fly and copies Pixel Data through).
//
//	go test ./api -run '^$' -bench BenchmarkReaderView -benchtime 200x
func BenchmarkReaderView(b *testing.B) {
	files := realFiles(b)
	f := newIngestFixture(b, "T-BREAD", realClasses)
	f.addUser(b, "rd1", auth.Grant{Role: auth.Reader, Trial: "T-BREAD"})
	sub := f.submission(b, f.uploader, "S1", "BENCH-1", "BL")
	var bodies [][]byte
	for i := 1; i <= 6; i++ {
		bodies = append(bodies, files[fmt.Sprintf("%d.dcm", i)])
	}
	if res := f.stow(b, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(bodies...)); res.status != http.StatusOK {
		b.Fatalf("STOW: %d %s", res.status, res.raw)
	}
	for _, step := range []struct {
		path, token string
		body        any
	}{
		{"/api/v1/submissions/" + sub + "/complete", f.uploader, nil},
		{"/api/v1/submissions/" + sub + "/qc-decision", f.qc, map[string]string{"decision": "accept", "reason": "bench"}},
	} {
		if r := f.do(b, "POST", step.path, step.token, step.body); r.status != http.StatusOK {
			b.Fatalf("%s: %d %s", step.path, r.status, r.body)
		}
	}
	var run struct{ Tasks []struct{ ID string } }
	if r := f.do(b, "POST", "/api/v1/trials/T-BREAD/read-assignments", f.dm, map[string]string{}); r.status != http.StatusOK {
		b.Fatalf("assign: %d %s", r.status, r.body)
	} else {
		r.decode(b, &run)
	}
	reader := f.login(b, "rd1")
	v := f.view(b, sub, f.qc)
	study := v.Instances[0].Study
	get := func(path, token string) int64 {
		req, _ := http.NewRequest("GET", f.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
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
	plain := "/dicomweb/trials/T-BREAD/studies/" + study
	blind := "/dicomweb/reads/" + run.Tasks[0].ID + "/studies/" + study
	var plainTime, blindTime time.Duration
	var plainBytes, blindBytes int64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		plainBytes += get(plain, f.qc)
		t1 := time.Now()
		blindBytes += get(blind, reader)
		plainTime, blindTime = plainTime+t1.Sub(t0), blindTime+time.Since(t1)
	}
	plainRate := float64(plainBytes) / plainTime.Seconds() / 1e6
	blindRate := float64(blindBytes) / blindTime.Seconds() / 1e6
	b.ReportMetric(plainRate, "trial-MB/s")
	b.ReportMetric(blindRate, "reader-MB/s")
	b.ReportMetric(blindRate/plainRate, "reader/trial")
}
