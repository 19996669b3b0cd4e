package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/trialgate/trialgate"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query   string
		match   map[string]string
		limit   int
		offset  int
		problem string // part of the error message; "" for none
	}{
		{"", map[string]string{}, 1000, 0, ""},
		{"Modality=CT&limit=5&offset=10", map[string]string{"modality": "CT"}, 5, 10, ""},
		{"0020000D=1.2.3&SeriesInstanceUID=4.5", map[string]string{"study_uid": "1.2.3", "series_uid": "4.5"}, 1000, 0, ""},
		{"includefield=all&fuzzymatching=true", map[string]string{}, 1000, 0, ""},
		{"limit=0", map[string]string{}, 1, 0, ""},
		{"limit=999999", map[string]string{}, 10000, 0, ""},
		{"limit=-1", nil, 0, 0, "limit"},
		{"offset=x", nil, 0, 0, "offset"},
		{"PatientName=DOE", nil, 0, 0, `"PatientName" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			q, err := ParseQuery(SeriesLevel, "1.2", "", v)
			if tt.problem != "" {
				if trialgate.ErrorCode(err) != trialgate.EInvalid || !strings.Contains(trialgate.ErrorMessage(err), tt.problem) {
					t.Fatalf("err = %v, want invalid naming %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.Level != SeriesLevel || q.Study != "1.2" || q.Limit != tt.limit || q.Offset != tt.offset || len(q.Match) != len(tt.match) {
				t.Fatalf("query %+v, want match %v limit %d offset %d", q, tt.match, tt.limit, tt.offset)
			}
			for k, want := range tt.match {
				if q.Match[k] != want {
					t.Errorf("match[%s] = %q, want %q", k, q.Match[k], want)
				}
			}
		})
	}
}

// A search folds instance rows into studies, series or instances with
// their counts, and takes each level's attributes from the metadata.
func TestGroup(t *testing.T) {
	rows := []stored{
		{study: "S1", series: "A", sop: "1", modality: "CT", status: "released"},
		{study: "S1", series: "A", sop: "2", modality: "CT", status: "released"},
		{study: "S1", series: "B", sop: "3", modality: "SR", status: "held"},
		{study: "S2", series: "C", sop: "4", modality: "MR", status: "released"},
	}
	meta := map[string]json.RawMessage{
		"0020000D": json.RawMessage(`{"vr":"UI","Value":["S1"]}`),
		"00100020": json.RawMessage(`{"vr":"LO","Value":["SUBJ"]}`),
		"00080060": json.RawMessage(`{"vr":"CS","Value":["CT"]}`),
	}
	encode := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		level Level
		n     int
		first map[string]string // tag -> JSON of the first match's value
	}{
		{StudyLevel, 2, map[string]string{
			"00201206": `{"vr":"IS","Value":[2]}`, "00201208": `{"vr":"IS","Value":[3]}`,
			"00080061": `{"vr":"CS","Value":["CT","SR"]}`, "00100020": `{"vr":"LO","Value":["SUBJ"]}`,
			"00081190": `{"vr":"UR","Value":["/base/studies/S1"]}`,
		}},
		{SeriesLevel, 3, map[string]string{
			"00201209": `{"vr":"IS","Value":[2]}`, "00080060": `{"vr":"CS","Value":["CT"]}`,
			"00081190": `{"vr":"UR","Value":["/base/studies/S1/series/A"]}`,
		}},
		{InstanceLevel, 4, map[string]string{
			"00081190": `{"vr":"UR","Value":["/base/studies/S1/series/A/instances/1"]}`,
		}},
	}
	for _, tt := range tests {
		ms := group(rows, tt.level)
		if len(ms) != tt.n {
			t.Fatalf("level %d: %d matches, want %d", tt.level, len(ms), tt.n)
		}
		o := ms[0].object(tt.level, meta, "/base")
		for tag, want := range tt.first {
			if got := encode(o[tag]); got != want {
				t.Errorf("level %d: %s = %s, want %s", tt.level, tag, got, want)
			}
		}
		if _, ok := o["00100020"]; ok != (tt.level == StudyLevel) {
			t.Errorf("level %d: PatientID present = %v", tt.level, ok)
		}
	}
}

// Parts up to memorySpool stay in memory, larger ones go to a file; both
// keep every byte and hash them as they arrive, and release cleans up.
func TestSpool(t *testing.T) {
	s := &Service{tempDir: t.TempDir(), buffers: sync.Pool{New: newSpoolBuffer}}
	for _, n := range []int{0, 1, memorySpool - 1, memorySpool, memorySpool + 1, 3*memorySpool + 17} {
		data := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
		// One byte per read: as slowly as any network delivers it.
		sp, err := s.spool(iotest.OneByteReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if sp.sha256 != hex.EncodeToString(sum[:]) || sp.size != int64(n) {
			t.Errorf("%d bytes: spooled %d, hash %s", n, sp.size, sp.sha256)
		}
		if onDisk := sp.f != nil; onDisk != (n >= memorySpool) {
			t.Errorf("%d bytes: on disk = %v", n, onDisk)
		}
		for range 2 { // rewinding gives the bytes again
			r, err := sp.rewind()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: read back %d (%v)", n, len(got), err)
			}
		}
		s.release(sp)
		if sp.f != nil {
			if _, err := os.Stat(sp.f.Name()); !os.IsNotExist(err) {
				t.Errorf("%d bytes: spool file left behind", n)
			}
		}
	}
	// A part that fails mid-way leaves nothing behind.
	if _, err := s.spool(iotest.ErrReader(io.ErrUnexpectedEOF)); err == nil {
		t.Error("a failing part spooled")
	}
	if left, _ := os.ReadDir(s.tempDir); len(left) != 0 {
		t.Errorf("%d files left in the spool directory", len(left))
	}
}

func TestValidCode(t *testing.T) {
	for code, want := range map[string]bool{
		"S01-001": true, "a.b_c-D": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "SUBJ 1": false, "Doe^John": false, "ü": false,
	} {
		if got := validCode(code); got != want {
			t.Errorf("validCode(%q) = %v, want %v", code, got, want)
		}
	}
}
