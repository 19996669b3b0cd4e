package reads

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/trialgate/trialgate"
)

func customForm(t testing.TB) *Form {
	t.Helper()
	d, err := ParseDesign(json.RawMessage(`{"design": "single", "form": ` + custom + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return d.Form
}

// decode decodes values as the api package does, so numbers are float64.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestValidate(t *testing.T) {
	f := customForm(t)
	tests := []struct {
		name string
		in   string
		want map[string]any
	}{
		{"required only", `{"response": "PR"}`, map[string]any{"response": "PR"}},
		{"nulls are absent", `{"response": "PR", "note": null, "table": null}`, map[string]any{"response": "PR"}},
		{"every type", `{"response": "SD", "lesions": 3, "volume": 12.5, "progressed": false,
			"seen_on": "2026-02-28", "note": "ünïcödé ok", "table": [{"site": "liver", "diameter_mm": 1}, {"site": "lung", "diameter_mm": 300}]}`,
			map[string]any{"response": "SD", "lesions": int64(3), "volume": 12.5, "progressed": false,
				"seen_on": "2026-02-28", "note": "ünïcödé ok", "table": []map[string]any{
					{"site": "liver", "diameter_mm": 1.0}, {"site": "lung", "diameter_mm": 300.0}}}},
		{"integer written as 3.0", `{"response": "CR", "lesions": 3.0}`, map[string]any{"response": "CR", "lesions": int64(3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Validate(decode(t, tt.in), nil)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !reflect.DeepEqual(got.Values, tt.want) {
				t.Errorf("Validate:\n got %#v\nwant %#v", got.Values, tt.want)
			}
		})
	}

	// Values that did not come through encoding/json are taken too.
	got, err := f.Validate(map[string]any{"response": "PR", "lesions": 2, "volume": json.Number("1.5")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Values["lesions"] != int64(2) || got.Values["volume"] != 1.5 {
		t.Errorf("Go numbers: got %#v", got.Values)
	}
}

func TestValidateErrors(t *testing.T) {
	f := customForm(t)
	tests := []struct{ in, want string }{
		{`{}`, `values.response: required`},
		{`{"response": null}`, `values.response: required`},
		{`{"response": "PR", "colour": 1}`, `values.colour: no such field in the form`},
		{`{"response": "PR", "a b": 1}`, `values["a b"]: no such field in the form`},
		{`{"response": 1}`, `values.response: must be a string, one of CR, PR, SD, PD`},
		{`{"response": "pr"}`, `values.response: "pr" is not one of CR, PR, SD, PD`},
		{`{"response": "PR", "lesions": "3"}`, `values.lesions: must be a number`},
		{`{"response": "PR", "lesions": 2.5}`, `values.lesions: 2.5 is not a whole number`},
		{`{"response": "PR", "lesions": 1e300}`, `values.lesions: 1e+300 is too large for an integer`},
		{`{"response": "PR", "lesions": -1}`, `values.lesions: -1 is below the minimum 0`},
		{`{"response": "PR", "lesions": 21}`, `values.lesions: 21 is above the maximum 20`},
		{`{"response": "PR", "volume": -0.5}`, `values.volume: -0.5 is below the minimum 0`},
		{`{"response": "PR", "volume": true}`, `values.volume: must be a number`},
		{`{"response": "PR", "progressed": "yes"}`, `values.progressed: must be true or false`},
		{`{"response": "PR", "seen_on": 20260101}`, `values.seen_on: must be a date string YYYY-MM-DD`},
		{`{"response": "PR", "seen_on": "2026-02-30"}`, `values.seen_on: "2026-02-30" is not a date YYYY-MM-DD`},
		{`{"response": "PR", "seen_on": "1/2/2026"}`, `values.seen_on: "1/2/2026" is not a date YYYY-MM-DD`},
		{`{"response": "PR", "note": 5}`, `values.note: must be a string`},
		{`{"response": "PR", "note": "ééééééééééé"}`, `values.note: 11 characters, more than the maximum 10`},
		{`{"response": "PR", "table": {}}`, `values.table: must be an array of objects`},
		{`{"response": "PR", "table": []}`, `values.table: 0 rows, fewer than the minimum 1`},
		{`{"response": "PR", "table": [{"site": "lung", "diameter_mm": 5}, {"site": "lung", "diameter_mm": 5}, {"site": "lung", "diameter_mm": 5}, {"site": "lung", "diameter_mm": 5}]}`,
			`values.table: 4 rows, more than the maximum 3`},
		{`{"response": "PR", "table": [3]}`, `values.table[0]: must be an object`},
		{`{"response": "PR", "table": [{"site": "lung", "diameter_mm": 5}, {"site": "lung"}]}`, `values.table[1].diameter_mm: required`},
		{`{"response": "PR", "table": [{"site": "lung", "diameter_mm": 5}, {"site": "lung", "diameter_mm": 0.5}]}`,
			`values.table[1].diameter_mm: 0.5 is below the minimum 1`},
		{`{"response": "PR", "table": [{"site": "brain", "diameter_mm": 5}]}`, `values.table[0].site: "brain" is not one of liver, lung`},
		{`{"response": "PR", "table": [{"site": "lung", "diameter_mm": 5, "x": 1}]}`, `values.table[0].x: no such field in the form`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := f.Validate(decode(t, tt.in), nil)
			if code := trialgate.ErrorCode(err); code != trialgate.EInvalid {
				t.Fatalf("Validate(%s): code %q (%v), want invalid", tt.in, code, err)
			}
			if got := trialgate.ErrorMessage(err); got != tt.want {
				t.Errorf("Validate(%s):\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}

	// Limits that need long input.
	long := `{"response": "PR", "table": [` + strings.Repeat(`{"site": "lung", "diameter_mm": 5},`, 2) + `{"site": "lung", "diameter_mm": 5}]}`
	if _, err := f.Validate(decode(t, long), nil); err != nil {
		t.Errorf("3 rows: %v", err)
	}
	plain := &Form{Fields: []Field{{ID: "t", Type: TypeText}, {ID: "g", Type: TypeGroup, Fields: []Field{{ID: "x", Type: TypeBoolean}}}}}
	if _, err := plain.Validate(map[string]any{"t": strings.Repeat("a", DefaultMaxLength+1)}, nil); trialgate.ErrorMessage(err) != "values.t: 4001 characters, more than the maximum 4000" {
		t.Errorf("default text limit: %v", err)
	}
	if _, err := plain.Validate(map[string]any{"t": "\xff"}, nil); trialgate.ErrorMessage(err) != "values.t: must be valid UTF-8" {
		t.Errorf("invalid UTF-8: %v", err)
	}
	rows := make([]any, DefaultMaxRows+1)
	for i := range rows {
		rows[i] = map[string]any{}
	}
	if _, err := plain.Validate(map[string]any{"g": rows}, nil); trialgate.ErrorMessage(err) != "values.g: 101 rows, more than the maximum 100" {
		t.Errorf("default row limit: %v", err)
	}
}

func TestValidateDerivedRefused(t *testing.T) {
	f := RECIST11()
	v := decode(t, `{"target_lesions": [], "non_target_lesions": [{"location": "pleura", "status": "present"}], "new_lesions": false, "overall_response": "CR"}`)
	_, err := f.Validate(v, nil)
	if got, want := trialgate.ErrorMessage(err), "values.overall_response: derived by the gateway; do not send it"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"values": {"response": "PR", "table": [{"site": "lung", "diameter_mm": 5}]}}`))
	f.Add([]byte(`{"values": {"target_lesions": [{"location": "liver", "organ": "liver", "nodal": false, "longest_diameter_mm": 50}], "non_target_lesions": [], "new_lesions": false}}`))
	f.Add([]byte(`{"values": {"target_lesions": [{"location": "liver", "organ": "liver", "nodal": false, "longest_diameter_mm": 40}], "non_target_lesions": [], "new_lesions": false},
		"prior": [{"values": {"target_lesions": [{"nodal": false}], "non_target_lesions": [], "sum_of_diameters_mm": 50}}]}`))
	f.Add([]byte(`{"values": {"target_lesions": [{"location": "n", "organ": "n", "nodal": true, "evaluable": false}], "non_target_lesions": [{"location": "x", "status": "not_evaluated"}], "new_lesions": true},
		"prior": [{"values": {"target_lesions": [{}], "non_target_lesions": [1], "sum_of_diameters_mm": "x"}}, {"values": null}]}`))
	forms := []*Form{customForm(f), RECIST11()}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var in struct {
			Values map[string]any `json:"values"`
			Prior  []Result       `json:"prior"`
		}
		if json.Unmarshal(raw, &in) != nil {
			return
		}
		for _, form := range forms {
			r, err := form.Validate(in.Values, in.Prior)
			if err != nil {
				continue // a malformed prior may be any error; none may panic
			}
			// What was accepted is storable and comparable.
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("Marshal(%#v): %v", r, err)
			}
		}
	})
}
