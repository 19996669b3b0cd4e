package catalog

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query   string
		keys    map[string]string // key name -> value
		limit   int
		offset  int
		include int
		all     bool
		fuzzy   bool
		problem string // part of the error message; "" for none
	}{
		{query: "", keys: map[string]string{}, limit: DefaultLimit},
		{query: "Modality=CT&limit=5&offset=10", keys: map[string]string{"Modality": "CT"}, limit: 5, offset: 10},
		{query: "0020000D=1.2.3&SeriesInstanceUID=4.5", keys: map[string]string{"StudyInstanceUID": "1.2.3", "SeriesInstanceUID": "4.5"}, limit: DefaultLimit},
		{query: "includefield=all&fuzzymatching=true", keys: map[string]string{}, limit: DefaultLimit, all: true, fuzzy: true},
		{query: "includefield=00081030,PatientAge&includefield=StudyID", keys: map[string]string{}, limit: DefaultLimit, include: 3},
		{query: "PatientName=DOE*&StudyDate=20200101-20201231&ModalitiesInStudy=CT", keys: map[string]string{"PatientName": "DOE*", "StudyDate": "20200101-20201231", "ModalitiesInStudy": "CT"}, limit: DefaultLimit},
		{query: "StudyDate=-20201231&StudyTime=1030-", keys: map[string]string{"StudyDate": "-20201231", "StudyTime": "1030-"}, limit: DefaultLimit},
		{query: "RequestAttributesSequence.ScheduledProcedureStepID=SPS1", keys: map[string]string{"RequestAttributesSequence.ScheduledProcedureStepID": "SPS1"}, limit: DefaultLimit},
		{query: "AccessionNumber=&PatientID=", keys: map[string]string{"AccessionNumber": "", "PatientID": ""}, limit: DefaultLimit},
		{query: "limit=0", keys: map[string]string{}, limit: 1},
		{query: "limit=999999", keys: map[string]string{}, limit: MaxLimit},
		{query: "limit=-1", problem: "limit"},
		{query: "offset=x", problem: "offset"},
		{query: "fuzzymatching=perhaps", problem: "fuzzymatching"},
		{query: "NoSuchKeyword=1", problem: `"NoSuchKeyword" is not a DICOM attribute keyword or tag`},
		{query: "includefield=Bogus", problem: "Bogus"},
		{query: "StudyDate=2020", problem: "StudyDate"},
		{query: "StudyDate=20200101-2021", problem: "StudyDate"},
		{query: "StudyDate=-", problem: "StudyDate"},
		{query: "StudyTime=25", problem: ""},
		{query: "StudyInstanceUID=../../etc/passwd", problem: "StudyInstanceUID"},
		{query: "SOPInstanceUID=1.02.3", problem: "SOPInstanceUID"},
		{query: "InstanceNumber=abc", problem: "InstanceNumber"},
		{query: "PatientID.StudyID=1", problem: "not a sequence"},
		{query: "NumberOfStudyRelatedInstances=3", problem: "computed"},
		{query: "RequestAttributesSequence=x", problem: "sequence"},
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
			if tt.keys == nil {
				return // only checks that it parses or not
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.Level != SeriesLevel || q.Study != "1.2" || q.Limit != tt.limit || q.Offset != tt.offset ||
				len(q.Keys) != len(tt.keys) || len(q.Include) != tt.include || q.All != tt.all || q.Fuzzy != tt.fuzzy {
				t.Fatalf("query %+v, want keys %v limit %d offset %d include %d", q, tt.keys, tt.limit, tt.offset, tt.include)
			}
			for _, k := range q.Keys {
				if want, ok := tt.keys[k.Name()]; !ok || k.Value != want {
					t.Errorf("key %s = %q, want %q", k.Name(), k.Value, want)
				}
			}
		})
	}
	if _, err := ParseQuery(StudyLevel, "1.2/../3", "", nil); trialgate.ErrorCode(err) != trialgate.EInvalid {
		t.Errorf("invalid study UID in the path: %v", err)
	}
}

func key(t *testing.T, name, value string) Key {
	t.Helper()
	path, err := attributePath(name)
	if err != nil {
		t.Fatal(err)
	}
	vr, _, _ := dicom.Lookup(path[len(path)-1])
	return Key{Path: path, VR: vr, Value: value}
}

// Attribute matching (PS3.4 C.2.2.2): single values, wildcards, UID
// lists, ranges, numbers, person names, universal matching.
func TestKeyMatches(t *testing.T) {
	tests := []struct {
		name, value string
		vals        []string
		fuzzy       bool
		want        bool
	}{
		{"PatientID", "SUBJ-1", []string{"SUBJ-1"}, false, true},
		{"PatientID", "SUBJ-1", []string{"SUBJ-10"}, false, false},
		{"PatientID", "subj-1", []string{"SUBJ-1"}, false, false}, // case matters outside PN
		{"PatientID", "", nil, false, true},                       // universal, even when absent
		{"PatientID", "*", nil, false, true},
		{"PatientID", "SUBJ", nil, false, false},
		{"StudyDescription", "CT*", []string{"CT CHEST"}, false, true},
		{"StudyDescription", "*CHEST*", []string{"CT CHEST W/O"}, false, true},
		{"StudyDescription", "C?", []string{"CT"}, false, true},
		{"StudyDescription", "C?", []string{"CTA"}, false, false},
		{"StudyDescription", "*", []string{""}, false, true},
		{"StudyInstanceUID", "1.2,1.3", []string{"1.3"}, false, true},
		{"StudyInstanceUID", `1.2\1.3`, []string{"1.4"}, false, false},
		{"StudyDate", "20200101-20201231", []string{"20200615"}, false, true},
		{"StudyDate", "20200101-20201231", []string{"20210101"}, false, false},
		{"StudyDate", "-20200101", []string{"20200101"}, false, true},
		{"StudyDate", "20200102-", []string{"20200101"}, false, false},
		{"StudyDate", "20200101", []string{"20200101"}, false, true},
		{"StudyTime", "1000-1030", []string{"103059.5"}, false, true},
		{"StudyTime", "1000-1030", []string{"103100"}, false, false},
		{"StudyTime", "10", []string{"100000"}, false, true},
		{"AcquisitionDateTime", "20200101-20200102", []string{"20200102235959"}, false, true},
		{"AcquisitionDateTime", "20200101120000-0500", []string{"20200101120000"}, false, true},
		{"SeriesNumber", "3", []string{"3"}, false, true},
		{"SeriesNumber", "3", []string{"03"}, false, true},
		{"SeriesNumber", "3", []string{"4"}, false, false},
		{"PatientName", "doe^john", []string{"DOE^JOHN"}, false, true},
		{"PatientName", "DOE*", []string{"DOE^JOHN"}, false, true},
		{"PatientName", "JOHN", []string{"DOE^JOHN"}, false, false},
		{"PatientName", "JOHN", []string{"DOE^JOHN"}, true, true},
		{"PatientName", "jo do", []string{"DOE^JOHN"}, true, true},
		{"PatientName", "SMITH", []string{"DOE^JOHN"}, true, false},
		{"RequestAttributesSequence.ScheduledProcedureStepID", "SPS1", []string{"SPS0", "SPS1"}, false, true},
	}
	for _, tt := range tests {
		k := key(t, tt.name, tt.value)
		if got := k.matches(tt.vals, tt.fuzzy); got != tt.want {
			t.Errorf("%s=%q against %q (fuzzy %v) = %v, want %v", tt.name, tt.value, tt.vals, tt.fuzzy, got, tt.want)
		}
	}
	mis := key(t, "ModalitiesInStudy", `CT\MR`)
	if !mis.matchesList([]string{"PT", "MR"}) || mis.matchesList([]string{"PT"}) {
		t.Errorf("ModalitiesInStudy list matching is wrong")
	}
}

func TestValues(t *testing.T) {
	md := map[string]json.RawMessage{
		"00100010": json.RawMessage(`{"vr":"PN","Value":[{"Alphabetic":"DOE^JOHN"}]}`),
		"00200011": json.RawMessage(`{"vr":"IS","Value":[3]}`),
		"00400275": json.RawMessage(`{"vr":"SQ","Value":[{"00400009":{"vr":"SH","Value":["A"]}},{"00400009":{"vr":"SH","Value":["B"]}}]}`),
		"00080060": json.RawMessage(`{"vr":"CS"}`),
	}
	tests := []struct {
		name string
		want string
	}{
		{"PatientName", "DOE^JOHN"},
		{"SeriesNumber", "3"},
		{"RequestAttributesSequence.ScheduledProcedureStepID", "A,B"},
		{"Modality", ""},
		{"PatientID", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(values(md, key(t, tt.name, "").Path), ","); got != tt.want {
			t.Errorf("values(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A search folds instance rows into studies, series or instances with
// their counts, and takes each level's attributes from the metadata.
func TestObject(t *testing.T) {
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
		"00181030": json.RawMessage(`{"vr":"LO","Value":["PROTO"]}`),
		"00291010": json.RawMessage(`{"vr":"OB","InlineBinary":"AAAA"}`),
	}
	encode := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		q      Query
		n      int
		first  map[string]string // tag -> JSON of the first match's value
		absent []string
	}{
		{Query{Level: StudyLevel}, 2, map[string]string{
			"00201206": `{"vr":"IS","Value":[2]}`, "00201208": `{"vr":"IS","Value":[3]}`,
			"00080061": `{"vr":"CS","Value":["CT","SR"]}`, "00100020": `{"vr":"LO","Value":["SUBJ"]}`,
			"00081190": `{"vr":"UR","Value":["http://h/base/studies/S1"]}`, "00080056": `{"vr":"CS","Value":["ONLINE"]}`,
		}, []string{"00080060", "00201209", "00181030"}},
		{Query{Level: SeriesLevel, Study: "S1"}, 3, map[string]string{
			"00201209": `{"vr":"IS","Value":[2]}`, "00080060": `{"vr":"CS","Value":["CT"]}`,
			"00081190": `{"vr":"UR","Value":["http://h/base/studies/S1/series/A"]}`,
		}, []string{"00100020", "00201208", "00080056"}},
		{Query{Level: SeriesLevel}, 3, map[string]string{ // all series: study attributes too
			"00100020": `{"vr":"LO","Value":["SUBJ"]}`, "00201208": `{"vr":"IS","Value":[3]}`,
		}, nil},
		{Query{Level: InstanceLevel, Study: "S1", Series: "A"}, 4, map[string]string{
			"00081190": `{"vr":"UR","Value":["http://h/base/studies/S1/series/A/instances/1"]}`,
		}, []string{"00100020", "00201209"}},
		{Query{Level: InstanceLevel, Study: "S1", All: true}, 4, map[string]string{
			"00181030": `{"vr":"LO","Value":["PROTO"]}`, "00201209": `{"vr":"IS","Value":[2]}`,
		}, []string{"00291010"}},
		{Query{Level: InstanceLevel, Study: "S1", Series: "A", Include: []dicom.Tag{dicom.NewTag(0x0018, 0x1030)}}, 4, map[string]string{
			"00181030": `{"vr":"LO","Value":["PROTO"]}`,
		}, nil},
	}
	for _, tt := range tests {
		ms := aggregate(rows, tt.q.Level)
		if len(ms.list) != tt.n {
			t.Fatalf("%+v: %d matches, want %d", tt.q, len(ms.list), tt.n)
		}
		first := ms.list[0].first
		o := tt.q.object(first, meta, aggregate(rows, StudyLevel).index[first.study], aggregate(rows, SeriesLevel).index[first.series], "http://h/base")
		for tag, want := range tt.first {
			if got := encode(o[tag]); got != want {
				t.Errorf("%+v: %s = %s, want %s", tt.q, tag, got, want)
			}
		}
		for _, tag := range tt.absent {
			if _, ok := o[tag]; ok {
				t.Errorf("%+v: %s is returned", tt.q, tag)
			}
		}
	}
}

func TestBulkify(t *testing.T) {
	long := strings.Repeat("QUJD", 400) // 1200 bytes
	md := map[string]json.RawMessage{
		"00291010": json.RawMessage(`{"vr":"OB","InlineBinary":"` + long + `"}`),
		"00291011": json.RawMessage(`{"vr":"OB","InlineBinary":"AAAA"}`),
		"00880200": json.RawMessage(`{"vr":"SQ","Value":[{"00291010":{"vr":"OW","InlineBinary":"` + long + `"}}]}`),
	}
	out, err := bulkify(md, "http://h/i/bulkdata/")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"00291010": `{"BulkDataURI":"http://h/i/bulkdata/00291010","vr":"OB"}`,
		"00291011": `{"vr":"OB","InlineBinary":"AAAA"}`,
		"00880200": `{"Value":[{"00291010":{"BulkDataURI":"http://h/i/bulkdata/00880200/1/00291010","vr":"OW"}}],"vr":"SQ"}`,
	}
	for tag, w := range want {
		if string(out[tag]) != w {
			t.Errorf("%s = %s, want %s", tag, out[tag], w)
		}
	}
	tags, items, err := parseBulkPath("00880200/1/00291010")
	if err != nil || len(tags) != 2 || len(items) != 1 || items[0] != 1 || tags[1] != dicom.NewTag(0x0029, 0x1010) {
		t.Errorf("parseBulkPath = %v %v %v", tags, items, err)
	}
	for _, bad := range []string{"00880200/1", "0088020/1/00291010", "00880200/0/00291010", "../etc"} {
		if _, _, err := parseBulkPath(bad); trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Errorf("parseBulkPath(%q) = %v, want invalid", bad, err)
		}
	}
}
