package trial_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/trial"
)

// validDefinition is a definition that passes validation; the table below
// breaks it one field at a time.
const validDefinition = `{
 "id": "T1", "name": "Trial One",
 "sites": [{"id": "S01", "name": "Site one"}, {"id": "S02", "name": "Site two"}],
 "visits": [{"id": "BL", "label": "Baseline"}, {"id": "W12", "label": "Week 12"}],
 "deid": {"options": ["retain_long_modified_dates", "retain_safe_private", "clean_descriptors"], "safe_private": ["0029,SIEMENS CSA HEADER,10"]},
 "qc": {"rules": [
  {"id": "q1", "kind": "required_attribute", "severity": "fail", "attribute": "SliceThickness"},
  {"id": "q2", "kind": "allowed_modalities", "severity": "fail", "modalities": ["CT", "MR"]},
  {"id": "q3", "kind": "allowed_sop_classes", "severity": "warn", "sop_classes": ["1.2.840.10008.5.1.4.1.1.2"]},
  {"id": "q4", "kind": "numeric_range", "severity": "warn", "attribute": "00180050", "min": 0.5, "max": 5},
  {"id": "q5", "kind": "clinical_trial_tags", "severity": "fail", "required": true},
  {"id": "q6", "kind": "expected_series", "severity": "fail", "visit": "BL", "modality": "MR", "description": "t1", "min_instances": 20, "max_instances": 400},
  {"id": "q7", "kind": "instance_count", "severity": "warn", "modality": "CT", "min_instances": 10},
  {"id": "q8", "kind": "single_frame_of_reference", "severity": "fail"},
  {"id": "q9", "kind": "contiguous_instance_numbers", "severity": "warn"},
  {"id": "q10", "kind": "no_duplicate_instances", "severity": "fail"}
 ]},
 "reads": {"design": "double_adjudicated", "adjudication": {"rules": [{"field": "response"}]}, "case": "visit",
  "blinding": {"dates": "hide", "timepoints": "label"}, "form": {"fields": [
  {"id": "response", "type": "choice", "required": true, "choices": ["CR", "PR", "SD", "PD"]},
  {"id": "comment", "type": "text"}
 ]}}
}`

// edit applies fn to the valid definition decoded as generic JSON.
func edit(t *testing.T, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(validDefinition), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(m map[string]any, path ...any) map[string]any {
	var cur any = m
	for _, p := range path {
		switch k := p.(type) {
		case string:
			cur = cur.(map[string]any)[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
	return cur.(map[string]any)
}

func TestValidDefinition(t *testing.T) {
	d, err := trial.ParseDefinition([]byte(validDefinition))
	if err != nil {
		t.Fatal(err)
	}
	a, err := d.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	// The canonical bytes are stable: parsing them gives the same bytes.
	d2, err := trial.ParseDefinition(a)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := d2.Canonical()
	if !bytes.Equal(a, b) {
		t.Fatalf("canonical form not stable:\n%s\n%s", a, b)
	}
	if bytes.ContainsAny(a, "\n\t") {
		t.Errorf("canonical form has whitespace: %s", a)
	}
	// validDefinition lists its keys in declaration order, so its compact
	// form is the canonical one: in particular, rules that do not use the
	// later QC fields (required, visit, modality ...) encode without them,
	// and its read design spells out what reads.ParseDesign fills in.
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(validDefinition)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, compact.Bytes()) {
		t.Errorf("canonical form differs from the compact input:\n got %s\nwant %s", a, compact.Bytes())
	}
}

func TestValidationMessages(t *testing.T) {
	cases := []struct {
		name string
		edit func(m map[string]any)
		raw  string // used instead of edit when set
		want string
	}{
		{name: "unknown field", raw: `{"id":"T1","colour":"red"}`, want: `definition: unknown field "colour"`},
		{name: "trailing", raw: validDefinition + `{}`, want: "definition: trailing data after the JSON object"},
		{name: "malformed", raw: `{"id":`, want: "definition: empty or truncated JSON"},
		{name: "wrong type", raw: `{"id":5}`, want: "definition: id: wrong type number"},
		{name: "no id", edit: func(m map[string]any) { delete(m, "id") }, want: "id: required"},
		{name: "bad id", edit: func(m map[string]any) { m["id"] = "T 1" },
			want: `id: "T 1" must be 1-64 of A-Z a-z 0-9 . _ - and not "system"`},
		{name: "long id", edit: func(m map[string]any) { m["id"] = strings.Repeat("a", 65) },
			want: `id: "` + strings.Repeat("a", 65) + `" must be 1-64 of A-Z a-z 0-9 . _ - and not "system"`},
		{name: "system id", edit: func(m map[string]any) { m["id"] = "system" },
			want: `id: "system" must be 1-64 of A-Z a-z 0-9 . _ - and not "system"`},
		{name: "no name", edit: func(m map[string]any) { m["name"] = "" }, want: "name: required"},
		{name: "no sites", edit: func(m map[string]any) { m["sites"] = []any{} }, want: "sites: at least one site is required"},
		{name: "no visits", edit: func(m map[string]any) { delete(m, "visits") }, want: "visits: at least one visit is required"},
		{name: "duplicate site", edit: func(m map[string]any) {
			m["sites"] = append(m["sites"].([]any), map[string]any{"id": "S01", "name": "again"})
		}, want: `sites[2].id: duplicate site id "S01"`},
		{name: "site without name", edit: func(m map[string]any) { obj(m, "sites", 1)["name"] = "" }, want: "sites[1].name: required"},
		{name: "bad site id", edit: func(m map[string]any) { obj(m, "sites", 0)["id"] = "S/1" },
			want: `sites[0].id: "S/1" must be 1-64 of A-Z a-z 0-9 . _ -`},
		{name: "duplicate visit", edit: func(m map[string]any) { obj(m, "visits", 1)["id"] = "BL" },
			want: `visits[1].id: duplicate visit id "BL"`},
		{name: "visit without label", edit: func(m map[string]any) { obj(m, "visits", 0)["label"] = "" },
			want: "visits[0].label: required"},
		{name: "unknown deid option", edit: func(m map[string]any) { obj(m, "deid")["options"] = []any{"retain_everything"} },
			want: `deid.options[0]: unknown option "retain_everything"`},
		{name: "duplicate deid option", edit: func(m map[string]any) {
			obj(m, "deid")["options"] = []any{"clean_graphics", "clean_graphics"}
		}, want: `deid.options[1]: duplicate option "clean_graphics"`},
		{name: "both date options", edit: func(m map[string]any) {
			obj(m, "deid")["options"] = []any{"retain_long_full_dates", "retain_long_modified_dates"}
		}, want: "deid.options: retain_long_full_dates and retain_long_modified_dates are mutually exclusive"},
		{name: "safe private without option", edit: func(m map[string]any) {
			obj(m, "deid")["options"] = []any{"clean_descriptors"}
		}, want: "deid.safe_private: allowed only with the retain_safe_private option"},
		{name: "unknown deid field", edit: func(m map[string]any) { obj(m, "deid")["profile"] = "basic" },
			want: `definition: unknown field "profile"`},
		{name: "duplicate rule", edit: func(m map[string]any) { obj(m, "qc", "rules", 1)["id"] = "q1" },
			want: `qc.rules[1].id: duplicate rule id "q1"`},
		{name: "bad kind", edit: func(m map[string]any) { obj(m, "qc", "rules", 0)["kind"] = "magic" },
			want: `qc.rules[0].kind: "magic" must be one of required_attribute, allowed_modalities, allowed_sop_classes, numeric_range, ` +
				`clinical_trial_tags, expected_series, instance_count, single_frame_of_reference, contiguous_instance_numbers, no_duplicate_instances`},
		{name: "bad severity", edit: func(m map[string]any) { obj(m, "qc", "rules", 0)["severity"] = "error" },
			want: `qc.rules[0].severity: "error" must be one of fail, warn`},
		{name: "missing attribute", edit: func(m map[string]any) { delete(obj(m, "qc", "rules", 0), "attribute") },
			want: "qc.rules[0].attribute: required for kind required_attribute"},
		{name: "bad attribute", edit: func(m map[string]any) { obj(m, "qc", "rules", 0)["attribute"] = "0018,0050" },
			want: `qc.rules[0].attribute: "0018,0050" must be a DICOM keyword or an 8-digit hex tag`},
		{name: "field of other kind", edit: func(m map[string]any) { obj(m, "qc", "rules", 0)["modalities"] = []any{"CT"} },
			want: "qc.rules[0].modalities: not allowed for kind required_attribute"},
		{name: "no modalities", edit: func(m map[string]any) { obj(m, "qc", "rules", 1)["modalities"] = []any{} },
			want: "qc.rules[1].modalities: at least one modality is required"},
		{name: "bad modality", edit: func(m map[string]any) { obj(m, "qc", "rules", 1)["modalities"] = []any{"ct"} },
			want: `qc.rules[1].modalities[0]: "ct" is not a valid modality`},
		{name: "bad sop class", edit: func(m map[string]any) { obj(m, "qc", "rules", 2)["sop_classes"] = []any{"1.2.03"} },
			want: `qc.rules[2].sop_classes[0]: "1.2.03" is not a valid SOP class UID`},
		{name: "range without bounds", edit: func(m map[string]any) {
			r := obj(m, "qc", "rules", 3)
			delete(r, "min")
			delete(r, "max")
		}, want: "qc.rules[3]: numeric_range needs min, max or both"},
		{name: "inverted range", edit: func(m map[string]any) { obj(m, "qc", "rules", 3)["min"] = 9 },
			want: "qc.rules[3].min: 9 is greater than max 5"},
		{name: "reserved rule id", edit: func(m map[string]any) { obj(m, "qc", "rules", 7)["id"] = "builtin.single_frame_of_reference" },
			want: `qc.rules[7].id: "builtin.single_frame_of_reference": the prefix builtin. is reserved for the built-in checks`},
		{name: "required on other kind", edit: func(m map[string]any) { obj(m, "qc", "rules", 0)["required"] = true },
			want: "qc.rules[0].required: not allowed for kind required_attribute"},
		{name: "attribute on clinical trial tags", edit: func(m map[string]any) { obj(m, "qc", "rules", 4)["attribute"] = "PatientID" },
			want: "qc.rules[4].attribute: not allowed for kind clinical_trial_tags"},
		{name: "expected series without modality", edit: func(m map[string]any) { delete(obj(m, "qc", "rules", 5), "modality") },
			want: "qc.rules[5].modality: required for kind expected_series"},
		{name: "expected series bad modality", edit: func(m map[string]any) { obj(m, "qc", "rules", 5)["modality"] = "mr" },
			want: `qc.rules[5].modality: "mr" is not a valid modality`},
		{name: "expected series bad visit", edit: func(m map[string]any) { obj(m, "qc", "rules", 5)["visit"] = "week 12" },
			want: `qc.rules[5].visit: "week 12" is not a valid visit id`},
		{name: "expected series long description", edit: func(m map[string]any) {
			obj(m, "qc", "rules", 5)["description"] = strings.Repeat("x", 65)
		}, want: "qc.rules[5].description: longer than 64 bytes (the length of a SeriesDescription)"},
		{name: "expected series modalities", edit: func(m map[string]any) { obj(m, "qc", "rules", 5)["modalities"] = []any{"MR"} },
			want: "qc.rules[5].modalities: not allowed for kind expected_series"},
		{name: "expected series inverted counts", edit: func(m map[string]any) { obj(m, "qc", "rules", 5)["min_instances"] = 500 },
			want: "qc.rules[5].min_instances: 500 is greater than max_instances 400"},
		{name: "expected series zero max", edit: func(m map[string]any) { obj(m, "qc", "rules", 5)["max_instances"] = 0 },
			want: "qc.rules[5].max_instances: 0 must be at least 1"},
		{name: "expected series fractional count", edit: func(m map[string]any) { obj(m, "qc", "rules", 5)["min_instances"] = 1.5 },
			want: "definition: qc.rules.min_instances: wrong type number 1.5"},
		{name: "instance count without bounds", edit: func(m map[string]any) { delete(obj(m, "qc", "rules", 6), "min_instances") },
			want: "qc.rules[6]: instance_count needs min_instances, max_instances or both"},
		{name: "instance count negative min", edit: func(m map[string]any) { obj(m, "qc", "rules", 6)["min_instances"] = -1 },
			want: "qc.rules[6].min_instances: -1 must be at least 1"},
		{name: "instance count visit", edit: func(m map[string]any) { obj(m, "qc", "rules", 6)["visit"] = "BL" },
			want: "qc.rules[6].visit: not allowed for kind instance_count"},
		{name: "instance count description", edit: func(m map[string]any) { obj(m, "qc", "rules", 6)["description"] = "t1" },
			want: "qc.rules[6].description: not allowed for kind instance_count"},
		{name: "frame of reference counts", edit: func(m map[string]any) { obj(m, "qc", "rules", 7)["max_instances"] = 3 },
			want: "qc.rules[7].max_instances: not allowed for kind single_frame_of_reference"},
		{name: "contiguity modality", edit: func(m map[string]any) { obj(m, "qc", "rules", 8)["modality"] = "CT" },
			want: "qc.rules[8].modality: not allowed for kind contiguous_instance_numbers"},
		{name: "duplicates required", edit: func(m map[string]any) { obj(m, "qc", "rules", 9)["required"] = true },
			want: "qc.rules[9].required: not allowed for kind no_duplicate_instances"},
		{name: "numeric range min instances", edit: func(m map[string]any) { obj(m, "qc", "rules", 3)["min_instances"] = 2 },
			want: "qc.rules[3].min_instances: not allowed for kind numeric_range"},
		{name: "bad design", edit: func(m map[string]any) { obj(m, "reads")["design"] = "triple" },
			want: `reads.design: "triple" must be one of single, double_adjudicated`},
		{name: "no reads", edit: func(m map[string]any) { delete(m, "reads") }, want: "reads: required"},
		{name: "adjudication on a text field", edit: func(m map[string]any) {
			obj(m, "reads")["adjudication"] = map[string]any{"rules": []any{map[string]any{"field": "comment"}}}
		}, want: `reads.adjudication.rules[0].field: "comment" is free text, which cannot be compared`},
		{name: "no form fields", edit: func(m map[string]any) { obj(m, "reads", "form")["fields"] = []any{} },
			want: "reads.form.fields: at least one field is required"},
		{name: "bad field type", edit: func(m map[string]any) { obj(m, "reads", "form", "fields", 1)["type"] = "blob" },
			want: `reads.form.fields[1].type: "blob" must be one of choice (enum), integer, decimal (number), boolean, date, text, group`},
		{name: "duplicate field", edit: func(m map[string]any) { obj(m, "reads", "form", "fields", 1)["id"] = "response" },
			want: `reads.form.fields[1].id: duplicate field id "response"`},
		{name: "choices on text", edit: func(m map[string]any) { obj(m, "reads", "form", "fields", 1)["choices"] = []any{"a", "b"} },
			want: "reads.form.fields[1].choices: allowed only for type choice"},
		{name: "one choice", edit: func(m map[string]any) { obj(m, "reads", "form", "fields", 0)["choices"] = []any{"CR"} },
			want: "reads.form.fields[0].choices: a choice field needs at least two choices"},
		{name: "duplicate choice", edit: func(m map[string]any) {
			obj(m, "reads", "form", "fields", 0)["choices"] = []any{"CR", "CR"}
		}, want: `reads.form.fields[0].choices[1]: duplicate choice "CR"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.raw)
			if tc.raw == "" {
				in = edit(t, tc.edit)
			}
			_, err := trial.ParseDefinition(in)
			if trialgate.ErrorCode(err) != trialgate.EInvalid {
				t.Fatalf("got %v, want %s", err, trialgate.EInvalid)
			}
			if got := trialgate.ErrorMessage(err); got != tc.want {
				t.Errorf("message\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
