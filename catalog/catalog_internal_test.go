package catalog

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

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
