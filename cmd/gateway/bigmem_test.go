package main

import (
	"bufio"
	"bytes"
	le "encoding/binary"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trialgate/trialgate/dicom"
)

// bigInstance streams a synthetic Enhanced CT instance with frames
// 512x512 16-bit frames of native Pixel Data, generated as it is read.
func bigInstance(t *testing.T, frames int) (io.Reader, int64) {
	t.Helper()
	const frameBytes = 512 * 512 * 2
	syntax, err := dicom.LookupSyntax("1.2.840.10008.1.2.1")
	if err != nil {
		t.Fatal(err)
	}
	uid := fmt.Sprintf("1.2.826.0.1.3680043.10.1457.7.%d", time.Now().UnixNano())
	ds := &dicom.Dataset{}
	for tag, v := range map[dicom.Tag][2]string{
		dicom.SOPClassUID: {"UI", "1.2.840.10008.5.1.4.1.1.2.1"}, dicom.SOPInstanceUID: {"UI", uid},
		dicom.StudyInstanceUID: {"UI", uid + ".1"}, dicom.SeriesInstanceUID: {"UI", uid + ".2"},
		dicom.Modality: {"CS", "CT"}, dicom.PatientID: {"LO", "BIG"}, dicom.NumberOfFrames: {"IS", strconv.Itoa(frames)},
		dicom.BurnedInAnnotation: {"CS", "NO"},
	} {
		ds.SetString(tag, v[0], v[1])
	}
	for tag, v := range map[dicom.Tag]uint16{dicom.Rows: 512, dicom.Columns: 512, dicom.BitsAllocated: 16} {
		ds.Set(&dicom.Element{Tag: tag, VR: "US", Value: le.LittleEndian.AppendUint16(nil, v)})
	}
	var head bytes.Buffer
	if err := dicom.Encode(&head, dicom.NewMeta("1.2.840.10008.5.1.4.1.1.2.1", uid, syntax), ds, syntax); err != nil {
		t.Fatal(err)
	}
	n := int64(frames) * frameBytes
	head.Write([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0})
	head.Write(le.LittleEndian.AppendUint32(nil, uint32(n)))
	frame := bytes.Repeat([]byte{0x12, 0x34, 0x56, 0x78}, frameBytes/4)
	pixels := io.LimitReader(&repeater{b: frame}, n)
	return io.MultiReader(bytes.NewReader(head.Bytes()), pixels), int64(head.Len()) + n
}

// repeater reads b over and over.
type repeater struct {
	b   []byte
	off int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

// peakRSS reads a process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// A 1 GiB multi-frame instance ingests and is retrieved (WADO-RS study,
// converted, frames), streamed end to end, with the gateway's peak RSS
// under 128 MiB (DESIGN.md section 8).
func TestOneGiBInstanceMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 1 GiB")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			g := &gateway{t: t, args: b.args(t)}
			defineIngestTrial(t, g)
			g.addUser("rhea", "reader:T-E2E")
			p := startProcess(t, g.args)
			uma, subID := openSubmission(t, p.base, "BIG-1")
			before := peakRSS(t, p.cmd.Process.Pid)

			instance, size := bigInstance(t, 2048) // 1 GiB of Pixel Data
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			go func() {
				w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
				if err == nil {
					_, err = io.Copy(w, instance)
				}
				if err == nil {
					err = mw.Close()
				}
				pw.CloseWithError(err)
			}()
			req, _ := http.NewRequest("POST", p.base+"/dicomweb/submissions/"+subID+"/studies", pr)
			req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
			req.Header.Set("Authorization", "Bearer "+uma)
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("STOW of %d bytes: %d %s", size, resp.StatusCode, body)
			}
			peak := peakRSS(t, p.cmd.Process.Pid)
			t.Logf("%d bytes in %v; gateway peak RSS %d MiB (%d MiB before the upload)",
				size, time.Since(start).Round(time.Millisecond), peak>>20, before>>20)
			if peak >= 128<<20 {
				t.Errorf("peak RSS %d MiB, budget 128 MiB", peak>>20)
			}

			// Retrieved back as a study, as stored and converted to
			// implicit VR, and by frames: streamed too.
			var stored struct {
				Instances []struct {
					SOP    string `json:"sop_instance_uid"`
					Study  string `json:"study_instance_uid"`
					Series string `json:"series_instance_uid"`
				}
			}
			do(t, "GET", p.base+"/api/v1/submissions/"+subID, uma, "", nil).json(t, &stored)
			if len(stored.Instances) != 1 {
				t.Fatalf("submission holds %d instances", len(stored.Instances))
			}
			in := stored.Instances[0]
			quinn := token(t, p.base, "quinn")
			study := p.base + "/dicomweb/trials/T-E2E/studies/" + in.Study
			instanceURL := study + "/series/" + in.Series + "/instances/" + in.SOP
			// The blinded reader view rewrites the header on the fly and
			// copies the Pixel Data through: streamed as well.
			for _, step := range []struct{ path, token, body string }{
				{"/api/v1/submissions/" + subID + "/complete", uma, ""},
				{"/api/v1/submissions/" + subID + "/qc-decision", quinn, `{"decision":"accept","reason":"complete"}`},
			} {
				if r := do(t, "POST", p.base+step.path, step.token, "application/json", strings.NewReader(step.body)); r.status != http.StatusOK {
					t.Fatalf("%s: %d %s", step.path, r.status, r.body)
				}
			}
			var run struct{ Tasks []struct{ ID string } }
			r := do(t, "POST", p.base+"/api/v1/trials/T-E2E/read-assignments", token(t, p.base, "dana"), "application/json",
				strings.NewReader(`{}`))
			r.json(t, &run)
			if r.status != http.StatusOK || len(run.Tasks) != 1 {
				t.Fatalf("assign: %d %s", r.status, r.body)
			}
			rhea := token(t, p.base, "rhea")
			readerStudy := p.base + "/dicomweb/reads/" + run.Tasks[0].ID + "/studies/" + in.Study
			for _, get := range []struct{ url, accept, token string }{
				{study, `multipart/related; type="application/dicom"; transfer-syntax=*`, quinn},
				{readerStudy, `multipart/related; type="application/dicom"; transfer-syntax=*`, rhea},
				{study, `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2`, quinn},
				{instanceURL + "/frames/1,1024,2048", `multipart/related; type="application/octet-stream"`, quinn},
			} {
				req, _ := http.NewRequest("GET", get.url, nil)
				req.Header.Set("Authorization", "Bearer "+get.token)
				req.Header.Set("Accept", get.accept)
				start := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || n < 3*512*512*2 {
					t.Fatalf("GET %s (%s): %d, %d bytes: %v", get.url, get.accept, resp.StatusCode, n, err)
				}
				peak := peakRSS(t, p.cmd.Process.Pid)
				t.Logf("GET %s (%s): %d bytes in %v; gateway peak RSS %d MiB", strings.TrimPrefix(get.url, p.base), get.accept, n, time.Since(start).Round(time.Millisecond), peak>>20)
				if peak >= 128<<20 {
					t.Errorf("peak RSS %d MiB after %s, budget 128 MiB", peak>>20, get.accept)
				}
			}
		})
	}
}
