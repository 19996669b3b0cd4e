package qc_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/qc"
)

// benchRules are ten instance rules of every instance kind, most of them
// naming their attribute by keyword (the slower lookup).
var benchRules = []qc.Rule{
	{ID: "q01", Kind: "required_attribute", Severity: "fail", Attribute: "SliceThickness"},
	{ID: "q02", Kind: "required_attribute", Severity: "warn", Attribute: "PixelSpacing"},
	{ID: "q03", Kind: "required_attribute", Severity: "warn", Attribute: "00200052"},
	{ID: "q04", Kind: "allowed_modalities", Severity: "fail", Modalities: []string{"CT", "MR", "PT"}},
	{ID: "q05", Kind: "allowed_sop_classes", Severity: "fail", SOPClasses: []string{"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"}},
	{ID: "q06", Kind: "numeric_range", Severity: "warn", Attribute: "SliceThickness", Min: ptr(0.5), Max: ptr(5.0)},
	{ID: "q07", Kind: "numeric_range", Severity: "warn", Attribute: "PixelSpacing", Min: ptr(0.3), Max: ptr(1.0)},
	{ID: "q08", Kind: "numeric_range", Severity: "warn", Attribute: "Rows", Min: ptr(256.0)},
	{ID: "q09", Kind: "numeric_range", Severity: "warn", Attribute: "00280011", Min: ptr(256.0)},
	{ID: "q10", Kind: "clinical_trial_tags", Severity: "fail", Required: true},
}

// benchHeader is header() padded to about 150 elements.
func benchHeader() *dicom.Dataset {
	ds := header()
	ds.SetString(dicom.FrameOfReferenceUID, "UI", "2.25.3")
	ds.Set(&dicom.Element{Tag: dicom.Columns, VR: "US", Value: []byte{0, 2}})
	for i := 0; len(ds.Elements) < 150; i++ {
		ds.SetString(dicom.NewTag(0x0019, uint16(0x1000+i)), "LO", fmt.Sprintf("value %d", i))
	}
	return ds
}

// BenchmarkInstance evaluates benchRules, naming attributes by keyword as
// written and by tag, which shows the cost of dicom.TagForKeyword.
func BenchmarkInstance(b *testing.B) {
	ds := benchHeader()
	byTag := slices.Clone(benchRules)
	for i, r := range byTag {
		if t, ok := dicom.TagForKeyword(r.Attribute); ok {
			byTag[i].Attribute = t.Hex()
		}
	}
	for _, bc := range []struct {
		name  string
		rules []qc.Rule
	}{{"keywords", benchRules}, {"tags", byTag}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rs := qc.Instance(bc.rules, ds, ctx); len(rs) != len(bc.rules) || qc.Worst(rs) != qc.Pass {
					b.Fatalf("%d results, worst %s", len(rs), qc.Worst(rs))
				}
			}
		})
	}
}

func BenchmarkSubmission(b *testing.B) {
	var in []qc.Summary
	for s := range 10 {
		in = append(in, series(fmt.Sprintf("2.25.%d", 1000+s), "MR", fmt.Sprintf("T%d", s), "2.25.9", seq(1, 100)...)...)
	}
	rules := []qc.Rule{
		{ID: "count", Kind: "instance_count", Severity: "warn", MinInstances: ptr(50), MaxInstances: ptr(200)},
		{ID: "t1", Kind: "expected_series", Severity: "fail", Modality: "MR", Description: "t1", MinInstances: ptr(20)},
		{ID: "flair", Kind: "expected_series", Severity: "warn", Modality: "MR", Description: "flair"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if rs := qc.Submission(rules, "BL", in); len(rs) != 10+2+10+10+1 {
			b.Fatalf("%d results", len(rs))
		}
	}
}
