package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trialgate/trialgate/dicom"
)

// variants returns n distinct instances made from one real file: the same
// header and Pixel Data under new SOP Instance UIDs.
func variants(t *testing.T, path string, n int) [][]byte {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, n)
	for i := range out {
		obj, err := dicom.Parse(bytes.NewReader(src), dicom.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		uid := fmt.Sprintf("1.2.826.0.1.3680043.10.1457.%d.%d", time.Now().UnixNano()%1e9, i)
		obj.Dataset.SetString(dicom.SOPInstanceUID, "UI", uid)
		obj.Meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", uid)
		var b bytes.Buffer
		if _, err := obj.Write(&b, nil); err != nil {
			t.Fatal(err)
		}
		out[i] = b.Bytes()
	}
	return out
}

// stowOne uploads one instance and returns the status and the stored
// instance's UID.
func stowOne(client *http.Client, url, token string, b []byte) (int, string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
	w.Write(b)
	mw.Close()
	req, _ := http.NewRequest("POST", url, &body)
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out map[string]struct {
		Value []map[string]json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out["00081199"].Value) != 1 {
		return resp.StatusCode, "", nil
	}
	var sop struct{ Value []string }
	if err := json.Unmarshal(out["00081199"].Value[0]["00081155"], &sop); err != nil || len(sop.Value) != 1 {
		return resp.StatusCode, "", nil
	}
	return resp.StatusCode, sop.Value[0], nil
}

// Kill -9 the gateway while sites upload, restart it: the trail verifies,
// every acknowledged instance is there with its audit entries and its
// object, nothing is visible without them, and uploading everything again
// stores each instance exactly once.
func TestKillNineDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	dir := realDir(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			g := &gateway{t: t, args: b.args(t)}
			defineIngestTrial(t, g)
			p := startProcess(t, g.args)
			uma, subID := openSubmission(t, p.base, "CRASH-1")
			stowURL := "/dicomweb/submissions/" + subID + "/studies"

			instances := variants(t, filepath.Join(dir, "1.dcm"), 80)
			var mu sync.Mutex
			acked := map[string]bool{}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			client := &http.Client{Timeout: 10 * time.Second}
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(instances) && ctx.Err() == nil; i += 4 {
						status, sop, err := stowOne(client, p.base+stowURL, uma, instances[i])
						if err == nil && status == http.StatusOK && sop != "" {
							mu.Lock()
							acked[sop] = true
							mu.Unlock()
						}
					}
				}()
			}
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 15 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.exited
			cancel()
			wg.Wait()
			if len(acked) == 0 || len(acked) == len(instances) {
				t.Fatalf("%d of %d uploads acknowledged before the kill: the kill did not land mid-load", len(acked), len(instances))
			}
			t.Logf("%d of %d uploads acknowledged before SIGKILL", len(acked), len(instances))

			p2 := startProcess(t, g.args)
			if out, err := exec.Command(binary(t), append([]string{"audit", "verify"}, g.args...)...).CombinedOutput(); err != nil {
				t.Fatalf("audit verify after kill -9: %v\n%s", err, out)
			}
			uma = token(t, p2.base, "uma")
			danaTok := token(t, p2.base, "dana")
			var view struct {
				Instances []struct {
					SOP    string `json:"sop_instance_uid"`
					Study  string `json:"study_instance_uid"`
					Series string `json:"series_instance_uid"`
				}
			}
			do(t, "GET", p2.base+"/api/v1/submissions/"+subID, uma, "", nil).json(t, &view)
			present := map[string]bool{}
			for _, in := range view.Instances {
				present[in.SOP] = true
				// No instance without its object.
				wado(t, p2.base+fmt.Sprintf("/dicomweb/trials/T-E2E/studies/%s/series/%s/instances/%s", in.Study, in.Series, in.SOP), danaTok, "")
			}
			for sop := range acked {
				if !present[sop] {
					t.Errorf("acknowledged instance %s missing after the restart", sop)
				}
			}
			es := queryTrail(t, p2.base, token(t, p2.base, "ines"), "trial=T-E2E&action=instance.received")
			if got := count(es, "instance.received", "success"); got != len(view.Instances) {
				t.Errorf("%d instances visible, %d instance.received entries: every instance has exactly its entry", len(view.Instances), got)
			}

			// Everything again: each instance ends up stored once.
			for i, b := range instances {
				status, _, err := stowOne(client, p2.base+stowURL, uma, b)
				if err != nil || status != http.StatusOK {
					t.Fatalf("retry %d: %d %v", i, status, err)
				}
			}
			do(t, "GET", p2.base+"/api/v1/submissions/"+subID, uma, "", nil).json(t, &view)
			if len(view.Instances) != len(instances) {
				t.Errorf("after the retry: %d instances, want %d", len(view.Instances), len(instances))
			}
		})
	}
}
