package qc_test

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/qc"
)

func ptr[T any](v T) *T { return &v }

// header returns a CT header with the clinical trial ids of ctx.
func header() *dicom.Dataset {
	ds := &dicom.Dataset{}
	ds.SetString(dicom.SOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.2")
	ds.SetString(dicom.SOPInstanceUID, "UI", "2.25.1")
	ds.SetString(dicom.Modality, "CS", "CT")
	ds.SetString(dicom.PatientName, "PN", "Doe^Jane")
	ds.SetString(dicom.ClinicalTrialSiteID, "LO", "S01")
	ds.SetString(dicom.ClinicalTrialSubjectID, "LO", "0001")
	ds.SetString(dicom.ClinicalTrialTimePointID, "LO", "BL")
	ds.SetString(dicom.SliceThickness, "DS", "3.0")
	ds.SetString(dicom.PixelSpacing, "DS", "0.7", "0.7")
	ds.SetString(dicom.SeriesInstanceUID, "UI", "2.25.2")
	ds.SetString(dicom.InstanceNumber, "IS", "7")
	ds.Set(&dicom.Element{Tag: dicom.Rows, VR: "US", Value: binary.LittleEndian.AppendUint16(nil, 512)})
	ds.Set(&dicom.Element{Tag: dicom.DeidentificationMethodCodeSequence, VR: "SQ", Items: []*dicom.Dataset{{}}})
	return ds
}

var ctx = qc.Context{Site: "S01", Subject: "0001", Visit: "BL"}

func TestInstanceRules(t *testing.T) {
	cases := []struct {
		name     string
		rule     qc.Rule
		edit     func(ds *dicom.Dataset)
		outcome  qc.Outcome
		seen     string
		expected string
	}{
		// required_attribute
		{name: "required present", rule: qc.Rule{Kind: "required_attribute", Attribute: "SliceThickness"},
			outcome: qc.Pass, seen: "present", expected: "present, not empty"},
		{name: "required by tag", rule: qc.Rule{Kind: "required_attribute", Attribute: "00180050"},
			outcome: qc.Pass, seen: "present"},
		{name: "required missing", rule: qc.Rule{Kind: "required_attribute", Attribute: "SliceThickness"},
			edit: func(ds *dicom.Dataset) { ds.Remove(dicom.SliceThickness) }, outcome: qc.Fail, seen: "missing"},
		{name: "required blank", rule: qc.Rule{Kind: "required_attribute", Attribute: "PatientName", Severity: "warn"},
			edit: func(ds *dicom.Dataset) { ds.SetString(dicom.PatientName, "PN", "  ") }, outcome: qc.Warn, seen: "empty"},
		{name: "required value never shown", rule: qc.Rule{Kind: "required_attribute", Attribute: "PatientName"},
			outcome: qc.Pass, seen: "present"},
		{name: "required sequence", rule: qc.Rule{Kind: "required_attribute", Attribute: "DeidentificationMethodCodeSequence"},
			outcome: qc.Pass, seen: "present"},
		{name: "required empty sequence", rule: qc.Rule{Kind: "required_attribute", Attribute: "00120064"},
			edit: func(ds *dicom.Dataset) {
				ds.Set(&dicom.Element{Tag: dicom.DeidentificationMethodCodeSequence, VR: "SQ"})
			}, outcome: qc.Fail, seen: "empty"},
		{name: "required binary", rule: qc.Rule{Kind: "required_attribute", Attribute: "Rows"},
			outcome: qc.Pass, seen: "present"},
		{name: "required empty binary", rule: qc.Rule{Kind: "required_attribute", Attribute: "Rows"},
			edit: func(ds *dicom.Dataset) { ds.Set(&dicom.Element{Tag: dicom.Rows, VR: "US"}) }, outcome: qc.Fail, seen: "empty"},
		{name: "required unknown keyword", rule: qc.Rule{Kind: "required_attribute", Attribute: "NoSuchKeyword"},
			outcome: qc.Fail, seen: "unknown attribute NoSuchKeyword"},

		// allowed_modalities
		{name: "modality allowed", rule: qc.Rule{Kind: "allowed_modalities", Modalities: []string{"CT", "MR"}},
			outcome: qc.Pass, seen: "CT", expected: "one of CT, MR"},
		{name: "modality refused", rule: qc.Rule{Kind: "allowed_modalities", Modalities: []string{"MR"}},
			outcome: qc.Fail, seen: "CT", expected: "one of MR"},
		{name: "modality warn", rule: qc.Rule{Kind: "allowed_modalities", Severity: "warn", Modalities: []string{"MR"}},
			outcome: qc.Warn, seen: "CT"},
		{name: "modality missing", rule: qc.Rule{Kind: "allowed_modalities", Modalities: []string{"CT"}},
			edit: func(ds *dicom.Dataset) { ds.Remove(dicom.Modality) }, outcome: qc.Fail, seen: "missing"},
		{name: "modality garbage", rule: qc.Rule{Kind: "allowed_modalities", Modalities: []string{"CT"}},
			edit: func(ds *dicom.Dataset) { ds.SetString(dicom.Modality, "CS", "C\x01T\xff") }, outcome: qc.Fail, seen: "C?T?"},

		// allowed_sop_classes
		{name: "sop class allowed", rule: qc.Rule{Kind: "allowed_sop_classes", SOPClasses: []string{"1.2.840.10008.5.1.4.1.1.2"}},
			outcome: qc.Pass, seen: "1.2.840.10008.5.1.4.1.1.2", expected: "one of 1.2.840.10008.5.1.4.1.1.2"},
		{name: "sop class refused", rule: qc.Rule{Kind: "allowed_sop_classes", SOPClasses: []string{"1.2.840.10008.5.1.4.1.1.4"}},
			outcome: qc.Fail, seen: "1.2.840.10008.5.1.4.1.1.2"},
		{name: "sop class missing", rule: qc.Rule{Kind: "allowed_sop_classes", Severity: "warn", SOPClasses: []string{"1.2.3"}},
			edit: func(ds *dicom.Dataset) { ds.Remove(dicom.SOPClassUID) }, outcome: qc.Warn, seen: "missing"},

		// numeric_range
		{name: "range pass", rule: qc.Rule{Kind: "numeric_range", Attribute: "SliceThickness", Min: ptr(0.5), Max: ptr(5.0)},
			outcome: qc.Pass, seen: "3.0", expected: "0.5..5"},
		{name: "range above", rule: qc.Rule{Kind: "numeric_range", Attribute: "SliceThickness", Max: ptr(2.5)},
			outcome: qc.Fail, seen: "3.0", expected: "<= 2.5"},
		{name: "range below warn", rule: qc.Rule{Kind: "numeric_range", Severity: "warn", Attribute: "SliceThickness", Min: ptr(4.0)},
			outcome: qc.Warn, seen: "3.0", expected: ">= 4"},
		{name: "range bounds inclusive", rule: qc.Rule{Kind: "numeric_range", Attribute: "SliceThickness", Min: ptr(3.0), Max: ptr(3.0)},
			outcome: qc.Pass, seen: "3.0"},
		{name: "range multi-valued pass", rule: qc.Rule{Kind: "numeric_range", Attribute: "PixelSpacing", Min: ptr(0.5), Max: ptr(1.0)},
			outcome: qc.Pass, seen: `0.7\0.7`},
		{name: "range multi-valued one out", rule: qc.Rule{Kind: "numeric_range", Attribute: "00280030", Min: ptr(0.5), Max: ptr(1.0)},
			edit: func(ds *dicom.Dataset) { ds.SetString(dicom.PixelSpacing, "DS", "0.7", "1.2") }, outcome: qc.Fail, seen: `0.7\1.2`},
		{name: "range missing", rule: qc.Rule{Kind: "numeric_range", Attribute: "SliceThickness", Min: ptr(1.0)},
			edit: func(ds *dicom.Dataset) { ds.Remove(dicom.SliceThickness) }, outcome: qc.Fail, seen: "missing"},
		{name: "range missing warn", rule: qc.Rule{Kind: "numeric_range", Severity: "warn", Attribute: "SliceThickness", Min: ptr(1.0)},
			edit: func(ds *dicom.Dataset) { ds.Remove(dicom.SliceThickness) }, outcome: qc.Warn, seen: "missing"},
		{name: "range empty", rule: qc.Rule{Kind: "numeric_range", Attribute: "SliceThickness", Min: ptr(1.0)},
			edit: func(ds *dicom.Dataset) { ds.SetString(dicom.SliceThickness, "DS", "") }, outcome: qc.Fail, seen: "empty"},
		{name: "range malformed", rule: qc.Rule{Kind: "numeric_range", Attribute: "SliceThickness", Min: ptr(1.0)},
			edit: func(ds *dicom.Dataset) { ds.SetString(dicom.SliceThickness, "DS", "3mm") }, outcome: qc.Fail, seen: "not a number: 3mm"},
		{name: "range not numeric VR", rule: qc.Rule{Kind: "numeric_range", Severity: "warn", Attribute: "PatientName", Min: ptr(1.0)},
			outcome: qc.Warn, seen: "not a number: VR PN"},
		{name: "range binary", rule: qc.Rule{Kind: "numeric_range", Attribute: "Rows", Min: ptr(256.0), Max: ptr(1024.0)},
			outcome: qc.Pass, seen: "512"},
		{name: "range NaN", rule: qc.Rule{Kind: "numeric_range", Attribute: "00189087", Min: ptr(0.0)},
			edit: func(ds *dicom.Dataset) {
				ds.Set(&dicom.Element{Tag: dicom.NewTag(0x0018, 0x9087), VR: "FD",
					Value: binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN()))})
			}, outcome: qc.Fail, seen: "NaN"},

		{name: "range patient value hidden", rule: qc.Rule{Kind: "numeric_range", Attribute: "PatientWeight", Max: ptr(150.0)},
			edit: func(ds *dicom.Dataset) { ds.SetString(dicom.NewTag(0x0010, 0x1030), "DS", "72.5") }, outcome: qc.Pass, seen: "in range"},
		{name: "range patient value out", rule: qc.Rule{Kind: "numeric_range", Attribute: "00101030", Max: ptr(50.0)},
			edit: func(ds *dicom.Dataset) { ds.SetString(dicom.NewTag(0x0010, 0x1030), "DS", "72.5") }, outcome: qc.Fail, seen: "out of range"},
		{name: "range patient malformed", rule: qc.Rule{Kind: "numeric_range", Attribute: "00101030", Max: ptr(50.0)},
			edit: func(ds *dicom.Dataset) { ds.SetString(dicom.NewTag(0x0010, 0x1030), "DS", "72kg") }, outcome: qc.Fail, seen: "not a number"},

		// clinical_trial_tags
		{name: "trial tags match", rule: qc.Rule{Kind: "clinical_trial_tags", Required: true},
			outcome: qc.Pass, seen: "site id matches, subject id matches, time point id matches",
			expected: "site S01, subject 0001, time point BL (site and subject required)"},
		{name: "trial tags absent, optional", rule: qc.Rule{Kind: "clinical_trial_tags"},
			edit: func(ds *dicom.Dataset) {
				ds.Remove(dicom.ClinicalTrialSiteID)
				ds.Remove(dicom.ClinicalTrialSubjectID)
				ds.Remove(dicom.ClinicalTrialTimePointID)
			}, outcome: qc.Pass, seen: "site id absent, subject id absent, time point id absent",
			expected: "site S01, subject 0001, time point BL"},
		{name: "trial tags absent, required", rule: qc.Rule{Kind: "clinical_trial_tags", Required: true},
			edit: func(ds *dicom.Dataset) {
				ds.Remove(dicom.ClinicalTrialSubjectID)
				ds.Remove(dicom.ClinicalTrialTimePointID)
			}, outcome: qc.Fail, seen: "site id matches, subject id missing, time point id absent"},
		{name: "trial tags wrong subject", rule: qc.Rule{Kind: "clinical_trial_tags", Severity: "warn"},
			edit:    func(ds *dicom.Dataset) { ds.SetString(dicom.ClinicalTrialSubjectID, "LO", "MRN123456") },
			outcome: qc.Warn, seen: "site id matches, subject id differs, time point id matches"},
		{name: "trial tags wrong visit", rule: qc.Rule{Kind: "clinical_trial_tags"},
			edit:    func(ds *dicom.Dataset) { ds.SetString(dicom.ClinicalTrialTimePointID, "LO", "W12") },
			outcome: qc.Fail, seen: "site id matches, subject id matches, time point id differs"},
		{name: "trial tags blank is absent", rule: qc.Rule{Kind: "clinical_trial_tags", Required: true},
			edit:    func(ds *dicom.Dataset) { ds.SetString(dicom.ClinicalTrialSiteID, "LO", " ") },
			outcome: qc.Fail, seen: "site id missing, subject id matches, time point id matches"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := header()
			if tc.edit != nil {
				tc.edit(ds)
			}
			r := tc.rule
			r.ID = "r1"
			if r.Severity == "" {
				r.Severity = "fail"
			}
			got := qc.Instance([]qc.Rule{r}, ds, ctx)
			if len(got) != 1 {
				t.Fatalf("got %d results, want 1: %+v", len(got), got)
			}
			g := got[0]
			if g.Rule != "r1" || g.Kind != r.Kind || g.Level != qc.LevelInstance || g.Subject != "2.25.1" {
				t.Errorf("identity: %+v", g)
			}
			if g.Outcome != tc.outcome || g.Seen != tc.seen {
				t.Errorf("got %s %q, want %s %q", g.Outcome, g.Seen, tc.outcome, tc.seen)
			}
			if tc.expected != "" && g.Expected != tc.expected {
				t.Errorf("expected %q, want %q", g.Expected, tc.expected)
			}
			if strings.Contains(g.Seen, "Doe") || strings.Contains(g.Seen, "MRN") {
				t.Errorf("PHI in seen: %q", g.Seen)
			}
		})
	}
}

func TestInstanceSkipsOtherLevelsAndSorts(t *testing.T) {
	rules := []qc.Rule{
		{ID: "z", Kind: "allowed_modalities", Severity: "fail", Modalities: []string{"CT"}},
		{ID: "series", Kind: "instance_count", Severity: "fail", MinInstances: ptr(3)},
		{ID: "a", Kind: "required_attribute", Severity: "warn", Attribute: "SliceThickness"},
		{ID: "visit", Kind: "no_duplicate_instances", Severity: "fail"},
		{ID: "m", Kind: "numeric_range", Severity: "warn", Attribute: "SliceThickness", Max: ptr(1.0)},
	}
	got := qc.Instance(rules, header(), ctx)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.Rule)
	}
	if want := []string{"a", "m", "z"}; !slices.Equal(ids, want) {
		t.Errorf("rules %v, want %v", ids, want)
	}
	if w := qc.Worst(got); w != qc.Warn {
		t.Errorf("worst %s, want warn", w)
	}
	if _, ok := qc.Refusal(got); ok {
		t.Error("refused on a warning")
	}
	if got := qc.Instance(nil, header(), ctx); got != nil {
		t.Errorf("no rules: %+v", got)
	}
}

func TestRefusal(t *testing.T) {
	rules := []qc.Rule{
		{ID: "attr", Kind: "required_attribute", Severity: "fail", Attribute: "NumberOfFrames"},
		{ID: "mod-warn", Kind: "allowed_modalities", Severity: "warn", Modalities: []string{"MR"}},
		{ID: "sop", Kind: "allowed_sop_classes", Severity: "fail", SOPClasses: []string{"1.2.840.10008.5.1.4.1.1.4"}},
		{ID: "mod", Kind: "allowed_modalities", Severity: "fail", Modalities: []string{"MR"}},
	}
	got := qc.Instance(rules, header(), ctx)
	r, ok := qc.Refusal(got)
	if !ok || r.Rule != "mod" || r.Seen != "CT" || r.Expected != "one of MR" {
		t.Errorf("refusal %+v %v, want rule mod", r, ok)
	}
	// A failing rule of another kind is a finding, not a refusal.
	got = qc.Instance(rules[:2], header(), ctx)
	if r, ok := qc.Refusal(got); ok {
		t.Errorf("refused by %+v", r)
	}
	if qc.Worst(got) != qc.Fail {
		t.Errorf("worst %s, want fail", qc.Worst(got))
	}
}

func TestWorst(t *testing.T) {
	for _, tc := range []struct {
		in   []qc.Outcome
		want qc.Outcome
	}{
		{nil, qc.Pass},
		{[]qc.Outcome{qc.Pass, qc.Pass}, qc.Pass},
		{[]qc.Outcome{qc.Pass, qc.Warn}, qc.Warn},
		{[]qc.Outcome{qc.Fail, qc.Warn, qc.Pass}, qc.Fail},
	} {
		var rs []qc.Result
		for _, o := range tc.in {
			rs = append(rs, qc.Result{Outcome: o})
		}
		if got := qc.Worst(rs); got != tc.want {
			t.Errorf("Worst(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSeenCapped(t *testing.T) {
	ds := header()
	ds.SetString(dicom.Modality, "CS", strings.Repeat("é", 300))
	got := qc.Instance([]qc.Rule{{ID: "m", Kind: "allowed_modalities", Severity: "fail", Modalities: []string{"CT"}}}, ds, ctx)
	s := got[0].Seen
	if len(s) > 200 || !strings.HasSuffix(s, "...") || strings.ContainsRune(s, '\uFFFD') {
		t.Errorf("seen not capped cleanly: %d bytes %q", len(s), s)
	}
}

func TestSummaryOf(t *testing.T) {
	ds := header()
	ds.SetString(dicom.SeriesDescription, "LO", "AX T1")
	ds.SetString(dicom.FrameOfReferenceUID, "UI", "2.25.3")
	s := qc.SummaryOf(ds, "ab")
	want := qc.Summary{SOPInstanceUID: "2.25.1", SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", SeriesInstanceUID: "2.25.2",
		Modality: "CT", SeriesDescription: "AX T1", FrameOfReferenceUID: "2.25.3", OriginalSHA256: "ab"}
	n := s.InstanceNumber
	s.InstanceNumber = nil
	if s != want || n == nil || *n != 7 {
		t.Errorf("got %+v (number %v), want %+v", s, n, want)
	}
	for _, v := range []string{"", "7.5", "x"} {
		ds.SetString(dicom.InstanceNumber, "IS", v)
		if s := qc.SummaryOf(ds, ""); s.InstanceNumber != nil {
			t.Errorf("InstanceNumber %q: got %d, want nil", v, *s.InstanceNumber)
		}
	}
	ds.SetString(dicom.InstanceNumber, "IS", " 12")
	if s := qc.SummaryOf(ds, ""); s.InstanceNumber == nil || *s.InstanceNumber != 12 {
		t.Errorf("InstanceNumber with leading space: %v", s.InstanceNumber)
	}
}
