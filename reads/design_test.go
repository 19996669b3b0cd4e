package reads

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/trialgate/trialgate"
)

// custom is a written-out form with every field type, used across tests.
const custom = `{"fields": [
	{"id": "response", "type": "choice", "required": true, "choices": ["CR", "PR", "SD", "PD"]},
	{"id": "lesions", "type": "integer", "min": 0, "max": 20},
	{"id": "volume", "type": "number", "unit": "ml", "min": 0},
	{"id": "progressed", "type": "boolean"},
	{"id": "seen_on", "type": "date"},
	{"id": "note", "type": "text", "max_length": 10},
	{"id": "table", "type": "group", "min_rows": 1, "max_rows": 3, "fields": [
		{"id": "site", "type": "enum", "required": true, "choices": ["liver", "lung"]},
		{"id": "diameter_mm", "type": "decimal", "min": 1, "max": 300, "unit": "mm", "required": true}
	]}
]}`

func TestParseDesignExample(t *testing.T) {
	// The shipped example trial's reads section must parse unchanged.
	b, err := os.ReadFile("../examples/trial.json")
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		Reads json.RawMessage `json:"reads"`
	}
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	d, err := ParseDesign(def.Reads)
	if err != nil {
		t.Fatalf("ParseDesign(example): %v", err)
	}
	if d.Design != DoubleAdjudicated || d.Case != ByVisit || d.Blinding != (Blinding{DatesHide, TimepointsLabel}) {
		t.Errorf("defaults: got %+v", d)
	}
	var rules []string
	for _, r := range d.Adjudication.Rules {
		rules = append(rules, r.Field)
	}
	if want := []string{"overall_response", "new_lesions"}; !reflect.DeepEqual(rules, want) {
		t.Errorf("default rules = %v, want %v", rules, want)
	}
	if f := d.Form.field("sum_of_diameters_mm"); f == nil || f.Type != TypeDecimal {
		t.Errorf(`"number" not read as decimal: %+v`, f)
	}
}

func TestParseDesign(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func(*Design) bool
	}{
		{"single", `{"design": "single", "form": ` + custom + `}`,
			func(d *Design) bool { return d.Adjudication == nil && d.Case == ByVisit }},
		{"explicit everything", `{"design": "double_adjudicated", "case": "subject",
			"blinding": {"dates": "shift", "timepoints": "hide"},
			"adjudication": {"rules": [{"field": "response"}, {"field": "volume", "abs_diff": 5, "rel_diff": 0.1}, {"field": "seen_on"}]},
			"form": ` + custom + `}`,
			func(d *Design) bool {
				r := d.Adjudication.Rules
				return d.Case == BySubject && d.Blinding == (Blinding{DatesShift, TimepointsHide}) &&
					len(r) == 3 && *r[1].AbsDiff == 5 && *r[1].RelDiff == 0.1
			}},
		{"recist defaults", `{"design": "double_adjudicated", "form": {"template": "recist_1.1"}}`,
			func(d *Design) bool {
				return d.Case == BySubject && d.Form.Template == RECISTTemplate &&
					reflect.DeepEqual(d.Adjudication.Rules, []Rule{{Field: "overall_response"}})
			}},
		{"recist rule on the derived sum", `{"design": "double_adjudicated", "case": "subject", "form": {"template": "recist_1.1"},
			"adjudication": {"rules": [{"field": "sum_of_diameters_mm", "rel_diff": 0.2}]}}`,
			func(d *Design) bool { return d.Adjudication.Rules[0].Field == "sum_of_diameters_mm" }},
		{"nulls are absent", `{"design": "single", "case": null, "blinding": null, "adjudication": null, "form": ` + custom + `}`,
			func(d *Design) bool { return d.Case == ByVisit && d.Blinding.Dates == DatesHide }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDesign(json.RawMessage(tt.in))
			if err != nil {
				t.Fatalf("ParseDesign: %v", err)
			}
			if !tt.want(d) {
				t.Errorf("unexpected design %+v", d)
			}
			// What the gateway stores parses back to the same design.
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			d2, err := ParseDesign(b)
			if err != nil {
				t.Fatalf("reparse %s: %v", b, err)
			}
			b2, _ := json.Marshal(d2)
			if string(b) != string(b2) {
				t.Errorf("round trip changed the design:\n%s\n%s", b, b2)
			}
		})
	}
}

func TestParseDesignErrors(t *testing.T) {
	const fld = `{"id": "x", "type": "text"}`
	form := func(fields string) string { return `{"design": "single", "form": {"fields": [` + fields + `]}}` }
	double := func(rules string) string {
		return `{"design": "double_adjudicated", "adjudication": ` + rules + `, "form": ` + custom + `}`
	}
	tests := []struct{ in, want string }{
		{``, `reads: must be a JSON object`},
		{`[]`, `reads: must be a JSON object`},
		{`null`, `reads: must be a JSON object`},
		{`{"design": "single", "form": ` + custom + `, "extra": 1}`, `reads.extra: unknown field (allowed: design, adjudication, case, blinding, form)`},
		{`{"form": ` + custom + `}`, `reads.design: required: single or double_adjudicated`},
		{`{"design": 1}`, `reads.design: must be a string`},
		{`{"design": "triple", "form": ` + custom + `}`, `reads.design: "triple" must be one of single, double_adjudicated`},
		{`{"design": "single"}`, `reads.form: required`},
		{`{"design": "single", "form": 3}`, `reads.form: must be a JSON object`},
		{`{"design": "single", "form": {"fields": [], "x": 1}}`, `reads.form.x: unknown field (allowed: template, fields)`},
		{`{"design": "single", "form": {}}`, `reads.form.fields: required`},
		{`{"design": "single", "form": {"fields": {}}}`, `reads.form.fields: must be a JSON array`},
		{form(``), `reads.form.fields: at least one field is required`},
		{`{"design": "single", "form": {"template": 5}}`, `reads.form.template: must be a string`},
		{`{"design": "single", "form": {"template": "who"}}`, `reads.form.template: "who" is not a shipped template (have: recist_1.1)`},
		{`{"design": "single", "form": {"template": "recist_1.1", "fields": [` + fld + `]}}`, `reads.form.fields: not allowed with a template`},
		{`{"design": "single", "case": "visit", "form": {"template": "recist_1.1"}}`, `reads.case: the recist_1.1 form derives responses from earlier time points, so a case must be "subject"`},
		{`{"design": "single", "case": "site", "form": ` + custom + `}`, `reads.case: "site" must be one of visit, subject`},
		{`{"design": "single", "case": true, "form": ` + custom + `}`, `reads.case: must be a string`},
		{form(`1`), `reads.form.fields[0]: must be a JSON object`},
		{form(fld + `, {"id": "y", "type": "text", "colour": "red"}`), `reads.form.fields[1].colour: unknown field (allowed: id, type, label, help, required, choices, min, max, unit, max_length, fields, min_rows, max_rows)`},
		{form(`{"type": "text"}`), `reads.form.fields[0].id: required`},
		{form(`{"id": 7, "type": "text"}`), `reads.form.fields[0].id: must be a string`},
		{form(`{"id": "a b", "type": "text"}`), `reads.form.fields[0].id: "a b" must be 1-64 of A-Z a-z 0-9 . _ -`},
		{form(fld + `,` + fld), `reads.form.fields[1].id: duplicate field id "x"`},
		{form(`{"id": "x"}`), `reads.form.fields[0].type: required`},
		{form(`{"id": "x", "type": "float"}`), `reads.form.fields[0].type: "float" must be one of choice (enum), integer, decimal (number), boolean, date, text, group`},
		{form(`{"id": "x", "type": "text", "label": 1}`), `reads.form.fields[0].label: must be a string`},
		{form(`{"id": "x", "type": "text", "help": false}`), `reads.form.fields[0].help: must be a string`},
		{form(`{"id": "x", "type": "text", "required": "yes"}`), `reads.form.fields[0].required: must be true or false`},
		{form(`{"id": "x", "type": "text", "choices": ["a", "b"]}`), `reads.form.fields[0].choices: allowed only for type choice`},
		{form(`{"id": "x", "type": "boolean", "min": 1}`), `reads.form.fields[0].min: allowed only for type integer or decimal`},
		{form(`{"id": "x", "type": "date", "max": 1}`), `reads.form.fields[0].max: allowed only for type integer or decimal`},
		{form(`{"id": "x", "type": "text", "unit": "mm"}`), `reads.form.fields[0].unit: allowed only for type integer or decimal`},
		{form(`{"id": "x", "type": "integer", "max_length": 3}`), `reads.form.fields[0].max_length: allowed only for type text`},
		{form(`{"id": "x", "type": "text", "fields": []}`), `reads.form.fields[0].fields: allowed only for type group`},
		{form(`{"id": "x", "type": "text", "min_rows": 1}`), `reads.form.fields[0].min_rows: allowed only for type group`},
		{form(`{"id": "x", "type": "text", "max_rows": 1}`), `reads.form.fields[0].max_rows: allowed only for type group`},
		{form(`{"id": "x", "type": "choice"}`), `reads.form.fields[0].choices: required for a choice field`},
		{form(`{"id": "x", "type": "choice", "choices": "a"}`), `reads.form.fields[0].choices: must be an array of strings`},
		{form(`{"id": "x", "type": "choice", "choices": ["a"]}`), `reads.form.fields[0].choices: a choice field needs at least two choices`},
		{form(`{"id": "x", "type": "choice", "choices": ["a", ""]}`), `reads.form.fields[0].choices[1]: empty choice`},
		{form(`{"id": "x", "type": "choice", "choices": ["a", "b", "a"]}`), `reads.form.fields[0].choices[2]: duplicate choice "a"`},
		{form(`{"id": "x", "type": "decimal", "min": "1"}`), `reads.form.fields[0].min: must be a number`},
		{form(`{"id": "x", "type": "decimal", "max": []}`), `reads.form.fields[0].max: must be a number`},
		{form(`{"id": "x", "type": "decimal", "min": 5, "max": 1}`), `reads.form.fields[0].min: 5 is above max 1`},
		{form(`{"id": "x", "type": "integer", "min": 0.5}`), `reads.form.fields[0].min: 0.5 must be a whole number for an integer field`},
		{form(`{"id": "x", "type": "integer", "max": 1e300}`), `reads.form.fields[0].max: 1e+300 must be a whole number for an integer field`},
		{form(`{"id": "x", "type": "text", "max_length": 0}`), `reads.form.fields[0].max_length: must be at least 1`},
		{form(`{"id": "x", "type": "text", "max_length": -1}`), `reads.form.fields[0].max_length: must be a whole number from 0 to 1000000`},
		{form(`{"id": "x", "type": "text", "max_length": 1.5}`), `reads.form.fields[0].max_length: must be a whole number from 0 to 1000000`},
		{form(`{"id": "g", "type": "group"}`), `reads.form.fields[0].fields: required`},
		{form(`{"id": "g", "type": "group", "fields": []}`), `reads.form.fields[0].fields: at least one field is required`},
		{form(`{"id": "g", "type": "group", "fields": [{"id": "h", "type": "group", "fields": [` + fld + `]}]}`), `reads.form.fields[0].fields[0].type: groups do not nest`},
		{form(`{"id": "g", "type": "group", "fields": [` + fld + `, {"id": "x", "type": "date"}]}`), `reads.form.fields[0].fields[1].id: duplicate field id "x"`},
		{form(`{"id": "g", "type": "group", "fields": [{"id": "x", "type": "choice", "choices": ["a"]}]}`), `reads.form.fields[0].fields[0].choices: a choice field needs at least two choices`},
		{form(`{"id": "g", "type": "group", "fields": [` + fld + `], "min_rows": "1"}`), `reads.form.fields[0].min_rows: must be a number`},
		{form(`{"id": "g", "type": "group", "fields": [` + fld + `], "max_rows": 0}`), `reads.form.fields[0].max_rows: must be at least 1`},
		{form(`{"id": "g", "type": "group", "fields": [` + fld + `], "max_rows": 2.5}`), `reads.form.fields[0].max_rows: must be a whole number from 0 to 1000000`},
		{form(`{"id": "g", "type": "group", "fields": [` + fld + `], "min_rows": 3, "max_rows": 2}`), `reads.form.fields[0].min_rows: 3 is above max_rows 2`},
		{`{"design": "single", "blinding": [], "form": ` + custom + `}`, `reads.blinding: must be a JSON object`},
		{`{"design": "single", "blinding": {"names": "hide"}, "form": ` + custom + `}`, `reads.blinding.names: unknown field (allowed: dates, timepoints)`},
		{`{"design": "single", "blinding": {"dates": "blur"}, "form": ` + custom + `}`, `reads.blinding.dates: "blur" must be one of hide, shift`},
		{`{"design": "single", "blinding": {"dates": 1}, "form": ` + custom + `}`, `reads.blinding.dates: must be a string`},
		{`{"design": "single", "blinding": {"timepoints": "show"}, "form": ` + custom + `}`, `reads.blinding.timepoints: "show" must be one of label, hide`},
		{`{"design": "single", "blinding": {"timepoints": 0}, "form": ` + custom + `}`, `reads.blinding.timepoints: must be a string`},
		{`{"design": "single", "adjudication": {"rules": []}, "form": ` + custom + `}`, `reads.adjudication: allowed only for design double_adjudicated`},
		{`{"design": "double_adjudicated", "form": {"fields": [` + fld + `]}}`, `reads.adjudication.rules: required: the form has no choice or boolean field to compare by default`},
		{double(`7`), `reads.adjudication: must be a JSON object`},
		{double(`{"rule": []}`), `reads.adjudication.rule: unknown field (allowed: rules)`},
		{double(`{}`), `reads.adjudication.rules: required`},
		{double(`{"rules": {}}`), `reads.adjudication.rules: must be a JSON array`},
		{double(`{"rules": []}`), `reads.adjudication.rules: at least one rule is required (or leave adjudication out for the default)`},
		{double(`{"rules": [3]}`), `reads.adjudication.rules[0]: must be a JSON object`},
		{double(`{"rules": [{"field": "response", "weight": 1}]}`), `reads.adjudication.rules[0].weight: unknown field (allowed: field, abs_diff, rel_diff)`},
		{double(`{"rules": [{}]}`), `reads.adjudication.rules[0].field: required`},
		{double(`{"rules": [{"field": 1}]}`), `reads.adjudication.rules[0].field: must be a string`},
		{double(`{"rules": [{"field": "x"}]}`), `reads.adjudication.rules[0].field: no field "x" in the form`},
		{double(`{"rules": [{"field": "response"}, {"field": "response"}]}`), `reads.adjudication.rules[1].field: a second rule for field "response"`},
		{double(`{"rules": [{"field": "volume"}]}`), `reads.adjudication.rules[0]: numeric field "volume" needs abs_diff or rel_diff`},
		{double(`{"rules": [{"field": "volume", "abs_diff": "5"}]}`), `reads.adjudication.rules[0].abs_diff: must be a number`},
		{double(`{"rules": [{"field": "volume", "rel_diff": true}]}`), `reads.adjudication.rules[0].rel_diff: must be a number`},
		{double(`{"rules": [{"field": "lesions", "abs_diff": -1}]}`), `reads.adjudication.rules[0].abs_diff: must not be negative`},
		{double(`{"rules": [{"field": "lesions", "rel_diff": 0}]}`), `reads.adjudication.rules[0].rel_diff: must be above 0 (a fraction: 0.1 is 10%)`},
		{double(`{"rules": [{"field": "response", "abs_diff": 1}]}`), `reads.adjudication.rules[0].abs_diff: allowed only for a numeric field; "response" is choice`},
		{double(`{"rules": [{"field": "progressed", "rel_diff": 0.1}]}`), `reads.adjudication.rules[0].rel_diff: allowed only for a numeric field; "progressed" is boolean`},
		{double(`{"rules": [{"field": "table"}]}`), `reads.adjudication.rules[0].field: "table" is a repeated group, whose rows cannot be compared; name a field outside it`},
		{double(`{"rules": [{"field": "note"}]}`), `reads.adjudication.rules[0].field: "note" is free text, which cannot be compared`},
		{double(`{"rules": [{"field": "diameter_mm", "abs_diff": 1}]}`), `reads.adjudication.rules[0].field: no field "diameter_mm" in the form`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := ParseDesign(json.RawMessage(tt.in))
			if code := trialgate.ErrorCode(err); code != trialgate.EInvalid {
				t.Fatalf("ParseDesign(%s): code %q (%v), want invalid", tt.in, code, err)
			}
			if got := trialgate.ErrorMessage(err); got != tt.want {
				t.Errorf("ParseDesign(%s):\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestDiscordant(t *testing.T) {
	d, err := ParseDesign(json.RawMessage(`{"design": "double_adjudicated", "form": ` + custom + `,
		"adjudication": {"rules": [{"field": "response"}, {"field": "lesions", "abs_diff": 2},
		{"field": "volume", "rel_diff": 0.25}, {"field": "progressed"}, {"field": "seen_on"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := func(kv ...any) Result {
		v := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			v[kv[i].(string)] = kv[i+1]
		}
		return Result{Values: v}
	}
	tests := []struct {
		name   string
		r1, r2 Result
		want   []string
	}{
		{"identical", r("response", "PR", "lesions", int64(3)), r("response", "PR", "lesions", int64(3)), nil},
		{"categorical", r("response", "PR"), r("response", "SD"), []string{"response"}},
		{"abs within", r("lesions", int64(3)), r("lesions", int64(5)), nil},
		{"abs over", r("lesions", int64(3)), r("lesions", int64(6)), []string{"lesions"}},
		{"abs over after JSON", r("lesions", int64(3)), r("lesions", 6.0), []string{"lesions"}},
		{"rel within: 25 of 100", r("volume", 75.0), r("volume", 100.0), nil},
		{"rel over: 26 of 100", r("volume", 74.0), r("volume", 100.0), []string{"volume"}},
		{"rel both zero", r("volume", 0.0), r("volume", 0.0), nil},
		{"one missing", r("volume", 1.0), r(), []string{"volume"}},
		{"both missing", r(), r(), nil},
		{"boolean", r("progressed", true), r("progressed", false), []string{"progressed"}},
		{"date", r("seen_on", "2026-01-02"), r("seen_on", "2026-01-03"), []string{"seen_on"}},
		{"several, in rule order", r("seen_on", "2026-01-02", "response", "CR"), r("response", "PD"), []string{"response", "seen_on"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Discordant(tt.r1, tt.r2); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Discordant = %v, want %v", got, tt.want)
			}
			if got := d.Discordant(tt.r2, tt.r1); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Discordant swapped = %v, want %v", got, tt.want)
			}
		})
	}
	single, err := ParseDesign(json.RawMessage(`{"design": "single", "form": ` + custom + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := single.Discordant(r("response", "PR"), r("response", "SD")); got != nil {
		t.Errorf("single read: Discordant = %v, want none", got)
	}
}

func FuzzParseDesign(f *testing.F) {
	f.Add([]byte(`{"design": "single", "form": ` + custom + `}`))
	f.Add([]byte(`{"design": "double_adjudicated", "form": {"template": "recist_1.1"}}`))
	f.Add([]byte(`{"design": "double_adjudicated", "case": "subject", "blinding": {"dates": "shift"}, "adjudication": {"rules": [{"field": "volume", "abs_diff": 1}]}, "form": ` + custom + `}`))
	f.Add([]byte(`{"design": "single", "form": {"fields": [{"id": "g", "type": "group", "fields": [{"id": "g", "type": "group"}]}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := ParseDesign(raw)
		if err != nil {
			if code := trialgate.ErrorCode(err); code != trialgate.EInvalid {
				t.Fatalf("error code %q: %v", code, err)
			}
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if _, err := ParseDesign(b); err != nil {
			t.Fatalf("accepted %s, but not its own output %s: %v", raw, b, err)
		}
	})
}
