package reads

import (
	"encoding/json"
	"testing"

	"github.com/trialgate/trialgate"
)

// The worked cases follow the definitions of RECIST 1.1 (Eisenhauer et
// al., Eur J Cancer 2009;45:228-247): §4.3.1 for target lesions (PR: a 30%
// decrease from the baseline sum; PD: a 20% and at least 5 mm increase over
// the smallest sum on study; CR: non-nodal lesions gone and nodes under
// 10 mm short axis), §4.3.2 for non-target lesions, §4.3.4 with Table 1
// (target disease) and Table 2 (non-target disease only) for the overall
// response.

// les is a non-nodal target lesion of the given longest diameter.
func les(organ string, mm float64) any {
	return map[string]any{"location": organ + " lesion", "organ": organ, "nodal": false, "longest_diameter_mm": mm}
}

// node is a target lymph node of the given short axis.
func node(mm float64) any {
	return map[string]any{"location": "node", "organ": "lymph node", "nodal": true, "short_axis_mm": mm}
}

// gone is a target lesion that could not be assessed.
func gone(organ string, nodal bool) any {
	return map[string]any{"location": organ + " lesion", "organ": organ, "nodal": nodal, "evaluable": false}
}

// tp is the reader's values at one time point: target lesions, the
// statuses of the non-target lesions, and whether there are new lesions.
func tp(targets []any, nonTargets []string, newLesions bool) map[string]any {
	nt := make([]any, len(nonTargets))
	for i, s := range nonTargets {
		nt[i] = map[string]any{"location": "site", "status": s}
	}
	if targets == nil {
		targets = []any{}
	}
	return map[string]any{"target_lesions": targets, "non_target_lesions": nt, "new_lesions": newLesions}
}

// lesions lists target lesions.
func lesions(l ...any) []any { return l }

// readInOrder validates the time points of a subject in order, as the
// reads service does, each against the results before it as they come
// back from storage (JSON), and returns the last result.
func readInOrder(t *testing.T, points ...map[string]any) (Result, error) {
	t.Helper()
	f := RECIST11()
	var prior []Result
	for i, v := range points {
		r, err := f.Validate(v, prior)
		if err != nil {
			if i == len(points)-1 {
				return r, err
			}
			t.Fatalf("time point %d: %v", i, err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var stored Result
		if err := json.Unmarshal(b, &stored); err != nil {
			t.Fatal(err)
		}
		prior = append(prior, stored)
		if i == len(points)-1 {
			return r, nil
		}
	}
	t.Fatal("no time points")
	return Result{}, nil
}

func TestRECIST(t *testing.T) {
	none := []string(nil)
	tests := []struct {
		name    string
		points  []map[string]any
		sum     any // nil: absent
		target  any
		nt      any
		overall any
	}{
		{"baseline derives the sum only",
			[]map[string]any{tp(lesions(les("liver", 60), node(40)), []string{Present}, false)},
			100.0, nil, nil, nil},
		{"100 -> 69: PR (31% decrease)",
			[]map[string]any{tp(lesions(les("liver", 60), les("lung", 40)), none, false), tp(lesions(les("liver", 40), les("lung", 29)), none, false)},
			69.0, PR, nil, PR},
		{"100 -> 70: PR (exactly 30%)",
			[]map[string]any{tp(lesions(les("liver", 60), les("lung", 40)), none, false), tp(lesions(les("liver", 40), les("lung", 30)), none, false)},
			70.0, PR, nil, PR},
		{"100 -> 71: SD",
			[]map[string]any{tp(lesions(les("liver", 60), les("lung", 40)), none, false), tp(lesions(les("liver", 41), les("lung", 30)), none, false)},
			71.0, SD, nil, SD},
		{"decimal millimetres: 10.1 -> 7.07 is 30%: PR",
			[]map[string]any{tp(lesions(les("liver", 10.1)), none, false), tp(lesions(les("liver", 7.07)), none, false)},
			7.07, PR, nil, PR},
		{"nadir 50 -> 61 (+22%, +11 mm): PD",
			[]map[string]any{tp(lesions(les("liver", 50)), none, false), tp(lesions(les("liver", 61)), none, false)},
			61.0, PD, nil, PD},
		{"nadir after baseline 100 -> 50 -> 61: PD against the nadir, not the baseline",
			[]map[string]any{tp(lesions(les("liver", 100)), none, false), tp(lesions(les("liver", 50)), none, false), tp(lesions(les("liver", 61)), none, false)},
			61.0, PD, nil, PD},
		{"nadir 50 -> 60 (exactly +20%, +10 mm): PD",
			[]map[string]any{tp(lesions(les("liver", 50)), none, false), tp(lesions(les("liver", 60)), none, false)},
			60.0, PD, nil, PD},
		{"nadir 50 -> 59 (+18%): SD",
			[]map[string]any{tp(lesions(les("liver", 50)), none, false), tp(lesions(les("liver", 59)), none, false)},
			59.0, SD, nil, SD},
		{"small nadir 9 -> 12 (+33% but +3 mm): not PD, still PR against baseline 20",
			[]map[string]any{tp(lesions(les("liver", 20)), none, false), tp(lesions(les("liver", 9)), none, false), tp(lesions(les("liver", 12)), none, false)},
			12.0, PR, nil, PR},
		{"small nadir 9 -> 14 (+5 mm, +56%): PD",
			[]map[string]any{tp(lesions(les("liver", 20)), none, false), tp(lesions(les("liver", 9)), none, false), tp(lesions(les("liver", 14)), none, false)},
			14.0, PD, nil, PD},
		{"nodal short axis under 10 mm is normal: CR with a non-zero sum",
			[]map[string]any{tp(lesions(les("liver", 30), node(20)), none, false), tp(lesions(les("liver", 0), node(8)), none, false)},
			8.0, CR, nil, CR},
		{"node at 10 mm is not normal: PR",
			[]map[string]any{tp(lesions(les("liver", 30), node(20)), none, false), tp(lesions(les("liver", 0), node(10)), none, false)},
			10.0, PR, nil, PR},
		{"nodes growing while under 10 mm stay CR",
			[]map[string]any{tp(lesions(node(20), node(20)), none, false), tp(lesions(node(2), node(2)), none, false), tp(lesions(node(9), node(9)), none, false)},
			18.0, CR, nil, CR},
		{"Table 1: target CR, non-target CR, no new: CR",
			[]map[string]any{tp(lesions(les("liver", 30)), []string{Present}, false), tp(lesions(les("liver", 0)), []string{Absent}, false)},
			0.0, CR, CR, CR},
		{"Table 1: target CR, non-target non-CR/non-PD: PR",
			[]map[string]any{tp(lesions(les("liver", 30)), []string{Present, Present}, false), tp(lesions(les("liver", 0)), []string{Absent, Present}, false)},
			0.0, CR, NonCRNonPD, PR},
		{"Table 1: target CR, non-target not evaluated: PR",
			[]map[string]any{tp(lesions(les("liver", 30)), []string{Present}, false), tp(lesions(les("liver", 0)), []string{NotAssessed}, false)},
			0.0, CR, NE, PR},
		{"Table 1: target PR, non-target not evaluated: PR",
			[]map[string]any{tp(lesions(les("liver", 30)), []string{Present}, false), tp(lesions(les("liver", 20)), []string{NotAssessed}, false)},
			20.0, PR, NE, PR},
		{"Table 1: target SD, non-target non-CR/non-PD: SD",
			[]map[string]any{tp(lesions(les("liver", 30)), []string{Present}, false), tp(lesions(les("liver", 28)), []string{Present}, false)},
			28.0, SD, NonCRNonPD, SD},
		{"Table 1: target SD, non-target unequivocal progression: PD",
			[]map[string]any{tp(lesions(les("liver", 30)), []string{Present}, false), tp(lesions(les("liver", 28)), []string{Progression}, false)},
			28.0, SD, PD, PD},
		{"Table 1: target PR with a new lesion: PD",
			[]map[string]any{tp(lesions(les("liver", 30)), none, false), tp(lesions(les("liver", 10)), none, true)},
			10.0, PR, nil, PD},
		{"Table 1: a target lesion not evaluable: NE, no sum",
			[]map[string]any{tp(lesions(les("liver", 30), les("lung", 20)), []string{Present}, false), tp(lesions(gone("liver", false), les("lung", 20)), []string{Present}, false)},
			nil, NE, NonCRNonPD, NE},
		{"§4.3.4: not all evaluated, but the rest already progressed: PD",
			[]map[string]any{tp(lesions(les("liver", 30), les("lung", 20)), none, false), tp(lesions(gone("liver", false), les("lung", 70)), none, false)},
			nil, PD, nil, PD},
		{"a not-evaluable time point gives no nadir",
			[]map[string]any{tp(lesions(les("liver", 30), les("lung", 20)), none, false), tp(lesions(gone("liver", false), les("lung", 5)), none, false),
				tp(lesions(les("liver", 30), les("lung", 24)), none, false)},
			54.0, SD, nil, SD},
		{"Table 2: non-target CR",
			[]map[string]any{tp(nil, []string{Present, Present}, false), tp(nil, []string{Absent, Absent}, false)},
			nil, nil, CR, CR},
		{"Table 2: non-CR/non-PD",
			[]map[string]any{tp(nil, []string{Present, Present}, false), tp(nil, []string{Absent, Present}, false)},
			nil, nil, NonCRNonPD, NonCRNonPD},
		{"Table 2: not evaluated",
			[]map[string]any{tp(nil, []string{Present}, false), tp(nil, []string{NotAssessed}, false)},
			nil, nil, NE, NE},
		{"Table 2: unequivocal progression",
			[]map[string]any{tp(nil, []string{Present, Present}, false), tp(nil, []string{NotAssessed, Progression}, false)},
			nil, nil, PD, PD},
		{"Table 2: new lesion",
			[]map[string]any{tp(nil, []string{Present}, false), tp(nil, []string{Absent}, true)},
			nil, nil, CR, PD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readInOrder(t, tt.points...)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			for _, c := range []struct {
				field string
				want  any
			}{{fSum, tt.sum}, {fTargetResp, tt.target}, {fNonTargetResp, tt.nt}, {fOverallResp, tt.overall}} {
				if got := r.Values[c.field]; got != c.want {
					t.Errorf("%s = %v, want %v", c.field, got, c.want)
				}
			}
		})
	}
}

func TestRECISTErrors(t *testing.T) {
	base := tp(lesions(les("liver", 30), node(20)), []string{Present}, false)
	tests := []struct {
		name   string
		points []map[string]any
		want   string
	}{
		{"six target lesions", []map[string]any{tp(lesions(les("a", 10), les("b", 10), les("c", 10), les("d", 10), les("e", 10), les("f", 10)), nil, false)},
			`values.target_lesions: 6 rows, more than the maximum 5`},
		{"three per organ, however spelt", []map[string]any{tp(lesions(les("liver", 10), les("Liver", 10), les(" liver ", 10)), nil, false)},
			`values.target_lesions[2].organ: at most 2 target lesions per organ`},
		{"three nodes, however named", []map[string]any{tp(lesions(node(15), map[string]any{"location": "x", "organ": "axilla", "nodal": true, "short_axis_mm": 15.0}, node(20)), nil, false)},
			`values.target_lesions[2].nodal: at most 2 target lymph nodes (RECIST 1.1: all nodes are one organ)`},
		{"baseline non-nodal under 10 mm", []map[string]any{tp(lesions(les("liver", 9.9)), nil, false)},
			`values.target_lesions[0].longest_diameter_mm: 9.9 is below 10 mm: not measurable at baseline`},
		{"baseline node under 15 mm", []map[string]any{tp(lesions(node(14)), nil, false)},
			`values.target_lesions[0].short_axis_mm: 14 is below 15 mm: not measurable at baseline`},
		{"baseline not evaluable", []map[string]any{tp(lesions(gone("liver", false)), nil, false)},
			`values.target_lesions[0].evaluable: every target lesion is measured at baseline`},
		{"baseline non-target absent", []map[string]any{tp(lesions(les("liver", 10)), []string{Absent}, false)},
			`values.non_target_lesions[0].status: must be present at baseline`},
		{"baseline new lesions", []map[string]any{tp(lesions(les("liver", 10)), nil, true)},
			`values.new_lesions: must be false at baseline: lesions seen at baseline are target or non-target lesions`},
		{"baseline without disease", []map[string]any{tp(nil, nil, false)},
			`values.target_lesions: a baseline needs at least one target or non-target lesion`},
		{"evaluable lesion without its diameter", []map[string]any{tp(lesions(map[string]any{"location": "x", "organ": "liver", "nodal": false}), nil, false)},
			`values.target_lesions[0].longest_diameter_mm: required for an evaluable non-nodal lesion`},
		{"evaluable node without its short axis", []map[string]any{tp(lesions(map[string]any{"location": "x", "organ": "n", "nodal": true, "longest_diameter_mm": 30.0}), nil, false)},
			`values.target_lesions[0].short_axis_mm: required for an evaluable lymph node`},
		{"not evaluable but measured", []map[string]any{base, tp(lesions(map[string]any{"location": "x", "organ": "liver", "nodal": false, "evaluable": false, "longest_diameter_mm": 3.0}, node(20)), []string{Present}, false)},
			`values.target_lesions[0].longest_diameter_mm: leave it out for a lesion that is not evaluable`},
		{"short axis of a non-nodal lesion", []map[string]any{tp(lesions(map[string]any{"location": "x", "organ": "liver", "nodal": false, "longest_diameter_mm": 30.0, "short_axis_mm": 20.0}), nil, false)},
			`values.target_lesions[0].short_axis_mm: only for a lymph node`},
		{"negative diameter", []map[string]any{tp(lesions(les("liver", -1)), nil, false)},
			`values.target_lesions[0].longest_diameter_mm: -1 is below the minimum 0`},
		{"follow-up drops a target lesion", []map[string]any{base, tp(lesions(les("liver", 30)), []string{Present}, false)},
			`values.target_lesions: 1 rows, but the baseline has 2 target lesions: the baseline's lesions are followed, in order, at every time point (a lesion that appears later is a new lesion)`},
		{"follow-up adds a non-target lesion", []map[string]any{base, tp(lesions(les("liver", 30), node(20)), []string{Present, Present}, false)},
			`values.non_target_lesions: 2 rows, but the baseline has 1 non-target lesions: the baseline's lesions are followed, in order, at every time point`},
		{"follow-up swaps lesions", []map[string]any{base, tp(lesions(node(20), les("liver", 30)), []string{Present}, false)},
			`values.target_lesions[0].nodal: true, but the baseline lesion 0 has false`},
		{"missing new_lesions", []map[string]any{{"target_lesions": []any{les("liver", 30)}, "non_target_lesions": []any{}}},
			`values.new_lesions: required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readInOrder(t, tt.points...)
			if code := trialgate.ErrorCode(err); code != trialgate.EInvalid {
				t.Fatalf("code %q (%v), want invalid", code, err)
			}
			if got := trialgate.ErrorMessage(err); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRECISTBadPrior(t *testing.T) {
	// A prior the service assembled wrongly is its bug, not the reader's
	// mistake: not EInvalid, so it is not shown as a 400.
	f := RECIST11()
	v := tp(lesions(les("liver", 30)), nil, false)
	for name, prior := range map[string][]Result{
		"no rows":      {{Values: map[string]any{}}},
		"no sum":       {{Values: map[string]any{"target_lesions": []any{map[string]any{"nodal": false}}, "non_target_lesions": []any{}}}},
		"nil values":   {{}},
		"bad sum type": {{Values: map[string]any{"target_lesions": []any{map[string]any{}}, "non_target_lesions": []any{}, fSum: "50"}}},
	} {
		_, err := f.Validate(v, prior)
		if err == nil || trialgate.ErrorCode(err) == trialgate.EInvalid {
			t.Errorf("%s: err %v, want a non-EInvalid error", name, err)
		}
	}
}

func TestRECISTForm(t *testing.T) {
	f := RECIST11()
	if !f.UsesPrior() || f.Template != RECISTTemplate {
		t.Fatalf("RECIST11: UsesPrior %t, Template %q", f.UsesPrior(), f.Template)
	}
	for _, id := range []string{fSum, fTargetResp, fNonTargetResp, fOverallResp} {
		if fl := f.field(id); fl == nil || !fl.Derived {
			t.Errorf("%s: not a derived field: %+v", id, fl)
		}
	}
	if customForm(t).UsesPrior() {
		t.Error("a written-out form claims to use prior results")
	}
}

func TestRECISTFormIsWellFormed(t *testing.T) {
	// The template obeys the rules a written-out form does.
	var typed []Field
	for _, f := range RECIST11().Fields {
		if !f.Derived {
			typed = append(typed, f)
		}
	}
	b, err := json.Marshal(map[string]any{"design": "single", "case": "subject", "form": map[string]any{"fields": typed}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDesign(b); err != nil {
		t.Errorf("the RECIST template's reader fields as a written-out form: %v", err)
	}
}
