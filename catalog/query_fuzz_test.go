package catalog

import (
	"net/url"
	"testing"

	"github.com/trialgate/trialgate"
)

// FuzzParseQuery feeds arbitrary query strings, frame lists and bulk data
// paths (outside input, from the URL) to their parsers: they must never
// panic, and anything they refuse is a client error, never an internal
// one. An accepted query's keys must match without panicking too.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"PatientID=SUBJ*&StudyDate=20200101-20201231", "ModalitiesInStudy=CT%5CMR&limit=5&offset=2",
		"includefield=all&fuzzymatching=true&PatientName=doe", "RequestAttributesSequence.ScheduledProcedureStepID=1",
		"AcquisitionDateTime=20200101120000-0500", "StudyTime=1030-", "00100020=&0020000D=1.2,1.3", "%zz", "limit=99999999999999999999"} {
		f.Add(s, "1,2,3", "00880200/1/00291010")
	}
	f.Fuzz(func(t *testing.T, query, frames, bulk string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for _, level := range []Level{StudyLevel, SeriesLevel, InstanceLevel} {
			q, err := ParseQuery(level, "", "", v)
			if err != nil {
				if code := trialgate.ErrorCode(err); code != trialgate.EInvalid {
					t.Fatalf("ParseQuery(%q): %v (code %s)", query, err, code)
				}
				continue
			}
			for _, k := range q.Keys {
				k.matches([]string{"", "SUBJ-1", "20200101", "1.2.3", "DOE^JOHN"}, q.Fuzzy)
				k.matchesList([]string{"CT", "MR"})
			}
		}
		if _, err := ParseFrameList(frames); err != nil && trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Fatalf("ParseFrameList(%q): %v", frames, err)
		}
		if _, _, err := parseBulkPath(bulk); err != nil && trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Fatalf("parseBulkPath(%q): %v", bulk, err)
		}
	})
}
