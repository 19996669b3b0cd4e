package reads_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/reads"
	"github.com/trialgate/trialgate/reads/agreement"
)

// agrForm is a written-out form with a field of every type. Text, date and
// group fields must not appear in the report.
func agrForm() *reads.Form {
	return &reads.Form{Fields: []reads.Field{
		{ID: "diagnosis", Type: reads.TypeChoice, Label: "Diagnosis", Choices: []string{"psychotic", "neurotic", "organic"}},
		{ID: "comment", Type: reads.TypeText},
		{ID: "skin", Type: reads.TypeChoice, Choices: []string{"terrible", "poor", "marginal", "clear"}},
		{ID: "scan_date", Type: reads.TypeDate},
		{ID: "score", Type: reads.TypeInteger},
		{ID: "pefr", Type: reads.TypeDecimal, Unit: "l/min"},
		{ID: "lesions", Type: reads.TypeGroup, Fields: []reads.Field{{ID: "size", Type: reads.TypeDecimal}}},
		{ID: "positive", Type: reads.TypeBoolean},
		{ID: "side", Type: reads.TypeChoice, Choices: []string{"left", "right"}},
	}}
}

// agrPairs makes one visit case per element of a and b: pair i has field
// id valued a[i] by Reader 1 and b[i] by Reader 2; a nil value is left out.
// Readers rotate through a small pool, as in a real central read.
func agrPairs(id string, a, b []any) []reads.Pair {
	pool := []string{"ann", "bob", "cat"}
	out := make([]reads.Pair, len(a))
	for i := range a {
		r1, r2 := map[string]any{}, map[string]any{}
		if a[i] != nil {
			r1[id] = a[i]
		}
		if b[i] != nil {
			r2[id] = b[i]
		}
		out[i] = reads.Pair{
			Case: fmt.Sprintf("C%04d", i), Timepoint: 1,
			Readers: [2]string{pool[i%3], pool[(i+1)%3]},
			Results: [2]reads.Result{{Values: r1}, {Values: r2}},
		}
	}
	return out
}

// agrTable expands a contingency table over cats into paired ratings.
func agrTable(table [][]int, cats []any) (a, b []any) {
	for i, row := range table {
		for j, n := range row {
			for range n {
				a = append(a, cats[i])
				b = append(b, cats[j])
			}
		}
	}
	return a, b
}

func agrFloats(xs ...float64) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func agrInts(xs ...int64) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// agrField returns the report's entry for field id, failing the test when
// there is none.
func agrField(t *testing.T, r *reads.AgreementReport, id string) *reads.FieldAgreement {
	t.Helper()
	for i := range r.Fields {
		if r.Fields[i].Field == id {
			return &r.Fields[i]
		}
	}
	t.Fatalf("no field %q in the report", id)
	return nil
}

// agrStat returns statistic name of fa, failing the test when it is absent.
func agrStat(t *testing.T, fa *reads.FieldAgreement, name string) reads.Statistic {
	t.Helper()
	s, ok := fa.Lookup(name)
	if !ok {
		t.Fatalf("field %s has no statistic %s", fa.Field, name)
	}
	return s
}

// want is an expected statistic: its value, and, when ci or se is set, the
// interval or the standard error.
type want struct {
	stat            string
	value, low, hi  float64
	se              float64
	ci, hasSE, null bool
}

func checkStat(t *testing.T, fa *reads.FieldAgreement, w want, tol float64) {
	t.Helper()
	s := agrStat(t, fa, w.stat)
	if w.null {
		if s.Value.Valid || s.Note == "" {
			t.Errorf("%s.%s = %+v, want null with a note", fa.Field, w.stat, s)
		}
		return
	}
	near := func(what string, got reads.NullFloat, want float64) {
		t.Helper()
		if !got.Valid || math.Abs(got.Float64-want) > tol {
			t.Errorf("%s.%s %s = %v (valid %v), want %.10g (±%g)", fa.Field, w.stat, what, got.Float64, got.Valid, want, tol)
		}
	}
	near("value", s.Value, w.value)
	if w.ci {
		near("ci_low", s.Low, w.low)
		near("ci_high", s.High, w.hi)
	}
	if w.hasSE {
		near("se", s.SE, w.se)
	}
}

// TestAgreementPublished feeds published worked examples through Agreement
// as double-read pairs and checks the report's figures.
//
//   - Fleiss, Levin & Paik (2003), Statistical Methods for Rates and
//     Proportions, 3rd ed., ch. 18: two raters diagnose 100 subjects
//     psychotic / neurotic / organic; p_o = .89, κ = .68. The SE, the
//     interval and the linear kappa are the NumPy reference figures the
//     agreement package's tests check (agreement/testdata/reference.py).
//   - SAS/STAT User's Guide, PROC FREQ, "Getting Started: Agreement Study"
//     (skin condition, 88 patients, 4 ordered categories): simple kappa
//     0.3449, ASE 0.0724, 95% limits 0.2030-0.4868; weighted (Cicchetti-
//     Allison, i.e. linear) kappa 0.5082, ASE 0.0655, 0.3798-0.6366. The
//     quadratic row is the NumPy reference of the agreement package.
//   - Shrout & Fleiss (1979), Psychological Bulletin 86:420-428, Table 2:
//     judges 1 and 2, and judges 3 and 4, as double reads; ICC and
//     intervals (McGraw & Wong 1996, Table 7) as the agreement package's
//     SciPy reference gives them.
//   - Bland & Altman (1986), Lancet 327:307-310, Table 1: PEFR of 17
//     subjects, Wright vs mini Wright meter; bias -2.1, SD 38.8, limits
//     -78 to 74 with 1.96 SD; intervals (Bland & Altman 1999) from the
//     agreement package's SciPy reference.
//   - A 2×2 table by hand: [[20, 5], [10, 15]] gives p_o = 35/50 = .7,
//     p_e = .5·.6 + .5·.4 = .5, κ = .4.
func TestAgreementPublished(t *testing.T) {
	fleissA, fleissB := agrTable([][]int{{75, 1, 4}, {5, 4, 1}, {0, 0, 10}}, []any{"psychotic", "neurotic", "organic"})
	skinA, skinB := agrTable([][]int{{10, 4, 1, 0}, {5, 10, 12, 2}, {2, 4, 12, 5}, {0, 2, 6, 13}}, []any{"terrible", "poor", "marginal", "clear"})
	boolA, boolB := agrTable([][]int{{20, 5}, {10, 15}}, []any{false, true})
	// Shrout & Fleiss Table 2, judges 1-4 by column.
	sf := [4][]int64{{9, 6, 8, 7, 10, 6}, {2, 1, 4, 1, 5, 2}, {5, 3, 6, 2, 6, 4}, {8, 2, 8, 6, 9, 7}}
	sfFloat := func(j int) []any {
		out := make([]any, len(sf[j]))
		for i, v := range sf[j] {
			out[i] = float64(v)
		}
		return out
	}
	wright := agrFloats(494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427)
	mini := agrFloats(512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451)

	tests := []struct {
		name  string
		field string
		a, b  []any
		n     int
		tol   float64
		want  []want
	}{
		{
			name: "Fleiss psychiatric, published", field: "diagnosis", a: fleissA, b: fleissB, n: 100, tol: 0.005,
			want: []want{{stat: reads.StatObserved, value: 0.89}, {stat: reads.StatKappa, value: 0.68}},
		},
		{
			name: "Fleiss psychiatric, reference", field: "diagnosis", a: fleissA, b: fleissB, n: 100, tol: 1e-9,
			want: []want{
				{stat: reads.StatObserved, value: 0.89},
				{stat: reads.StatKappa, value: 0.6764705882, low: 0.5045759581, hi: 0.8483652184, se: 0.0877029535, ci: true, hasSE: true},
				{stat: reads.StatKappaLinear, value: 0.7222222222, low: 0.5569953887, hi: 0.8874490558, se: 0.0843009539, ci: true, hasSE: true},
			},
		},
		{
			name: "SAS skin condition, published", field: "skin", a: skinA, b: skinB, n: 88, tol: 5e-5,
			want: []want{
				{stat: reads.StatKappa, value: 0.3449, low: 0.2030, hi: 0.4868, se: 0.0724, ci: true, hasSE: true},
				{stat: reads.StatKappaLinear, value: 0.5082, low: 0.3798, hi: 0.6366, se: 0.0655, ci: true, hasSE: true},
			},
		},
		{
			name: "SAS skin condition, reference", field: "skin", a: skinA, b: skinB, n: 88, tol: 1e-9,
			want: []want{
				{stat: reads.StatObserved, value: 0.5113636364},
				{stat: reads.StatKappaQuadratic, value: 0.6607228916, low: 0.5399051601, hi: 0.7815406230, se: 0.0616428324, ci: true, hasSE: true},
			},
		},
		{
			name: "boolean 2x2 by hand", field: "positive", a: boolA, b: boolB, n: 50, tol: 1e-12,
			want: []want{{stat: reads.StatObserved, value: 0.7}, {stat: reads.StatKappa, value: 0.4}},
		},
		{
			// Integer values as Validate stores them (int64).
			name: "Shrout & Fleiss judges 1 and 2, integer", field: "score", a: agrInts(sf[0]...), b: agrInts(sf[1]...), n: 6, tol: 1e-8,
			want: []want{
				{stat: reads.StatICC21, value: 0.1256544503, low: -0.02365322154, hi: 0.599851484, ci: true},
				{stat: reads.StatICC31, value: 0.7453416149, low: -0.0209087463, hi: 0.9599830815, ci: true},
				{stat: reads.StatICCF, value: 6.853658537},
				// Differences 7, 5, 4, 6, 5, 4 by hand: mean 31/6.
				{stat: reads.StatBias, value: 31.0 / 6},
			},
		},
		{
			name: "Shrout & Fleiss judges 3 and 4, decimal", field: "pefr", a: sfFloat(2), b: sfFloat(3), n: 6, tol: 1e-8,
			want: []want{
				{stat: reads.StatICC21, value: 0.4230769231, low: -0.1488760308, hi: 0.8748490583, ci: true},
				{stat: reads.StatICC31, value: 0.6567164179, low: -0.193802541, hi: 0.9436446051, ci: true},
				{stat: reads.StatICCF, value: 4.826086957},
			},
		},
		{
			name: "Bland & Altman PEFR, published", field: "pefr", a: wright, b: mini, n: 17, tol: 0.05,
			want: []want{{stat: reads.StatBias, value: -2.1}, {stat: reads.StatSD, value: 38.8}},
		},
		{
			name: "Bland & Altman PEFR, reference", field: "pefr", a: wright, b: mini, n: 17, tol: 1e-6,
			want: []want{
				{stat: reads.StatBias, value: -2.117647059, low: -22.0488377, hi: 17.81354358, ci: true},
				{stat: reads.StatSD, value: 38.76512987},
				{stat: reads.StatLoALower, value: -78.09590547, low: -112.8515531, hi: -43.34025779, ci: true},
				{stat: reads.StatLoAUpper, value: 73.86061135, low: 39.10496368, hi: 108.616259, ci: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := reads.Agreement(agrForm(), agrPairs(tt.field, tt.a, tt.b), nil)
			fa := agrField(t, rep, tt.field)
			if fa.N != tt.n || fa.Missing != 0 || fa.Invalid != 0 || rep.Pairs != tt.n || rep.Cases != tt.n {
				t.Errorf("n %d, missing %d, invalid %d, pairs %d, cases %d; want n = pairs = cases = %d", fa.N, fa.Missing, fa.Invalid, rep.Pairs, rep.Cases, tt.n)
			}
			for _, w := range tt.want {
				checkStat(t, fa, w, tt.tol)
			}
		})
	}

	// The published PEFR limits with 1.96 SD: -78 to 74 l/min.
	fa := agrField(t, reads.Agreement(agrForm(), agrPairs("pefr", wright, mini), nil), "pefr")
	lo, hi := agrStat(t, fa, reads.StatLoALower), agrStat(t, fa, reads.StatLoAUpper)
	if math.Round(lo.Value.Float64) != -78 || math.Round(hi.Value.Float64) != 74 {
		t.Errorf("limits %v to %v, want -78 to 74", lo.Value, hi.Value)
	}
	// The contingency table is the published one, rows Reader 1.
	fa = agrField(t, reads.Agreement(agrForm(), agrPairs("diagnosis", fleissA, fleissB), nil), "diagnosis")
	if !reflect.DeepEqual(fa.Table, [][]int{{75, 1, 4}, {5, 4, 1}, {0, 0, 10}}) ||
		!slices.Equal(fa.Categories, []string{"psychotic", "neurotic", "organic"}) {
		t.Errorf("categories %v, table %v", fa.Categories, fa.Table)
	}
}

// TestAgreementLayout checks which fields are analysed, in which order,
// and which statistics each type gets.
func TestAgreementLayout(t *testing.T) {
	rep := reads.Agreement(agrForm(), nil, nil)
	var ids []string
	for _, f := range rep.Fields {
		ids = append(ids, f.Field)
	}
	if want := []string{"diagnosis", "skin", "score", "pefr", "positive", "side"}; !slices.Equal(ids, want) {
		t.Fatalf("fields %v, want %v (form order, no text, date or group)", ids, want)
	}
	categorical3 := []string{reads.StatObserved, reads.StatKappa, reads.StatKappaLinear, reads.StatKappaQuadratic}
	categorical2 := []string{reads.StatObserved, reads.StatKappa}
	numeric := []string{reads.StatICC21, reads.StatICC31, reads.StatICCF, reads.StatBias, reads.StatSD, reads.StatLoALower, reads.StatLoAUpper}
	wantStats := map[string][]string{
		"diagnosis": categorical3, "skin": categorical3,
		"positive": categorical2, "side": categorical2, // boolean; two choices: no weighted kappa
		"score": numeric, "pefr": numeric,
	}
	for _, f := range rep.Fields {
		var names []string
		for _, s := range f.Statistics {
			names = append(names, s.Name)
			// No pairs at all: every statistic is null and says why.
			if s.Value.Valid || s.Note == "" {
				t.Errorf("%s.%s = %+v with no pairs, want null with a note", f.Field, s.Name, s)
			}
		}
		if !slices.Equal(names, wantStats[f.Field]) {
			t.Errorf("%s: statistics %v, want %v", f.Field, names, wantStats[f.Field])
		}
	}
	if f := agrField(t, rep, "positive"); !slices.Equal(f.Categories, []string{"false", "true"}) {
		t.Errorf("boolean categories %v, want [false true]", f.Categories)
	}
	if f := agrField(t, rep, "pefr"); f.Categories != nil || f.Table != nil || f.Unit != "l/min" || f.Type != reads.TypeDecimal {
		t.Errorf("numeric field %+v", f)
	}
	if len(reads.Agreement(nil, nil, nil).Fields) != 0 {
		t.Error("a nil form gave fields")
	}
}

// recistTimepoint is a reader's RECIST 1.1 values at one time point: one
// non-nodal target lesion in the liver, one non-target lesion present, no
// new lesions.
func recistTimepoint(mm float64) map[string]any {
	return map[string]any{
		"target_lesions":     []any{map[string]any{"location": "liver segment 4", "organ": "liver", "nodal": false, "longest_diameter_mm": mm}},
		"non_target_lesions": []any{map[string]any{"location": "lung", "status": "present"}},
		"new_lesions":        false,
	}
}

// recistRead validates one reader's time points in order, as the reads
// service does, each against the stored (JSON round-tripped) results
// before it.
func recistRead(t *testing.T, f *reads.Form, sizes ...float64) []reads.Result {
	t.Helper()
	var prior []reads.Result
	for _, mm := range sizes {
		r, err := f.Validate(recistTimepoint(mm), prior)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var stored reads.Result
		if err := json.Unmarshal(b, &stored); err != nil {
			t.Fatal(err)
		}
		prior = append(prior, stored)
	}
	return prior
}

// TestAgreementRECIST runs the report over the RECIST 1.1 template: the
// derived fields (sum of diameters, responses) are the ones analysed.
//
// Four subjects, baseline and one follow-up each, sums of diameters in mm
// (Reader 1 / Reader 2) with the responses RECIST 1.1 §4.3.1 gives:
//
//	C1  50→30 (-40%, PR)   50→32 (-36%, PR)
//	C2  40→40 (SD)         42→52 (+24%, +10 mm, PD)
//	C3  60→70 (+17%, SD)   60→70 (SD)
//	C4  30→20 (-33%, PR)   30→22 (-27%, SD)
//
// By hand: overall response pairs (PR,PR) (SD,PD) (SD,SD) (PR,SD):
// p_o = 2/4, p_e = (2/4)(1/4) + (2/4)(2/4) = 3/8, κ = (1/2-3/8)/(5/8) = .2.
// Sum of diameters over the 8 time points, differences R1-R2
// 0,-2,-2,-12,0,0,0,-2: bias -18/8 = -2.25, SS of deviations 115.5,
// SD = √(115.5/7) = √16.5. New lesions and non-target response are the
// same for every pair: kappa 0/0, reported null with a note.
func TestAgreementRECIST(t *testing.T) {
	f := reads.RECIST11()
	sizes := [][2][]float64{
		{{50, 30}, {50, 32}},
		{{40, 40}, {42, 52}},
		{{60, 70}, {60, 70}},
		{{30, 20}, {30, 22}},
	}
	var pairs []reads.Pair
	var cases []reads.CaseAdjudication
	for i, s := range sizes {
		code := fmt.Sprintf("C%d", i+1)
		r1, r2 := recistRead(t, f, s[0]...), recistRead(t, f, s[1]...)
		for k := range r1 {
			pairs = append(pairs, reads.Pair{Case: code, Timepoint: k + 1, Readers: [2]string{"ann", "bob"}, Results: [2]reads.Result{r1[k], r2[k]}})
		}
		cases = append(cases, reads.CaseAdjudication{Case: code, Readers: [2]string{"ann", "bob"}, Adjudicated: i == 1 || i == 3})
	}
	rep := reads.Agreement(f, pairs, cases)

	var ids []string
	for _, fa := range rep.Fields {
		ids = append(ids, fa.Field)
	}
	want := []string{"new_lesions", "sum_of_diameters_mm", "target_response", "non_target_response", "overall_response"}
	if !slices.Equal(ids, want) {
		t.Fatalf("fields %v, want %v", ids, want)
	}
	if rep.Cases != 4 || rep.Pairs != 8 {
		t.Errorf("cases %d, pairs %d; want 4 and 8", rep.Cases, rep.Pairs)
	}

	sum := agrField(t, rep, "sum_of_diameters_mm")
	if !sum.Derived || sum.N != 8 || sum.Missing != 0 || sum.Unit != "mm" {
		t.Errorf("sum of diameters: %+v", sum)
	}
	checkStat(t, sum, want2(reads.StatBias, -2.25), 1e-12)
	checkStat(t, sum, want2(reads.StatSD, math.Sqrt(16.5)), 1e-12)
	checkStat(t, sum, want2(reads.StatLoALower, -2.25-1.959963984540054*math.Sqrt(16.5)), 1e-9)
	for _, name := range []string{reads.StatICC21, reads.StatICC31, reads.StatICCF} {
		if s := agrStat(t, sum, name); !s.Value.Valid {
			t.Errorf("sum of diameters %s null: %s", name, s.Note)
		}
	}

	overall := agrField(t, rep, "overall_response")
	// Baselines have no response: 4 pairs missing, 4 analysed.
	if !overall.Derived || overall.N != 4 || overall.Missing != 4 || overall.Invalid != 0 {
		t.Errorf("overall response: n %d, missing %d, invalid %d", overall.N, overall.Missing, overall.Invalid)
	}
	checkStat(t, overall, want2(reads.StatObserved, 0.5), 1e-12)
	checkStat(t, overall, want2(reads.StatKappa, 0.2), 1e-12)
	// Six ordered responses (CR, PR, SD, NON_CR_NON_PD, PD, NE): weighted
	// kappas too, with weights by that order.
	for _, name := range []string{reads.StatKappaLinear, reads.StatKappaQuadratic} {
		if s := agrStat(t, overall, name); !s.Value.Valid {
			t.Errorf("overall response %s null: %s", name, s.Note)
		}
	}
	// The target response is the overall response here (non-target
	// disease neither gone nor progressing, no new lesions).
	tr := agrField(t, rep, "target_response")
	if tr.N != 4 || tr.Missing != 4 {
		t.Errorf("target response: n %d, missing %d; want 4 and 4", tr.N, tr.Missing)
	}
	checkStat(t, tr, want2(reads.StatKappa, 0.2), 1e-12)

	for _, id := range []string{"new_lesions", "non_target_response"} {
		fa := agrField(t, rep, id)
		checkStat(t, fa, want2(reads.StatObserved, 1), 0)
		k := agrStat(t, fa, reads.StatKappa)
		if k.Value.Valid || !strings.Contains(k.Note, "undefined") {
			t.Errorf("%s kappa = %+v, want null with an 'undefined' note", id, k)
		}
	}

	if rep.DoubleReadCases != 4 || rep.AdjudicatedCases != 2 || rep.AdjudicationRate != (reads.NullFloat{Float64: 0.5, Valid: true}) {
		t.Errorf("adjudication %d of %d, rate %v", rep.AdjudicatedCases, rep.DoubleReadCases, rep.AdjudicationRate)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
}

func want2(stat string, value float64) want { return want{stat: stat, value: value} }

// TestAgreementMissingValues checks that a pair enters a field only when
// both values are there and usable, and that the statistics are those of
// the remaining pairs.
func TestAgreementMissingValues(t *testing.T) {
	a := []any{10.0, 20.0, nil, 30.0, 40.0, "12", 55.0, nil, 61.0}
	b := []any{11.0, 19.0, 25.0, nil, 42.0, 12.0, 50.0, nil, int64(60)}
	// Kept: pairs 0, 1, 4, 6, 8. Missing: 2, 3, 7. Invalid: 5.
	keptA := []float64{10, 20, 40, 55, 61}
	keptB := []float64{11, 19, 42, 50, 60}
	fa := agrField(t, reads.Agreement(agrForm(), agrPairs("pefr", a, b), nil), "pefr")
	if fa.N != 5 || fa.Missing != 3 || fa.Invalid != 1 {
		t.Fatalf("n %d, missing %d, invalid %d; want 5, 3, 1", fa.N, fa.Missing, fa.Invalid)
	}
	i2, err := agreement.ICC2_1(keptA, keptB)
	if err != nil {
		t.Fatal(err)
	}
	i3, err := agreement.ICC3_1(keptA, keptB)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := agreement.BlandAltmanLimits(keptA, keptB)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []want{
		{stat: reads.StatICC21, value: i2.Value, low: i2.Low, hi: i2.High, ci: true},
		{stat: reads.StatICC31, value: i3.Value, low: i3.Low, hi: i3.High, ci: true},
		{stat: reads.StatICCF, value: i3.F},
		{stat: reads.StatBias, value: ba.Bias, low: ba.BiasLow, hi: ba.BiasHigh, ci: true},
		{stat: reads.StatSD, value: ba.SD},
		{stat: reads.StatLoALower, value: ba.Lower, low: ba.LowerLow, hi: ba.LowerHigh, ci: true},
		{stat: reads.StatLoAUpper, value: ba.Upper, low: ba.UpperLow, hi: ba.UpperHigh, ci: true},
	} {
		checkStat(t, fa, w, 0)
	}

	// Categorical: a choice the form does not list, or a value of the
	// wrong type, is invalid; an absent one missing.
	ca := []any{"left", "right", "up", nil, "left", true, "right"}
	cb := []any{"left", "left", "left", "right", nil, "left", "right"}
	fa = agrField(t, reads.Agreement(agrForm(), agrPairs("side", ca, cb), nil), "side")
	if fa.N != 3 || fa.Missing != 2 || fa.Invalid != 2 || !reflect.DeepEqual(fa.Table, [][]int{{1, 0}, {1, 1}}) {
		t.Errorf("side: n %d, missing %d, invalid %d, table %v; want 3, 2, 2, [[1 0] [1 1]]", fa.N, fa.Missing, fa.Invalid, fa.Table)
	}
	ba2 := []any{true, "true", 1.0, false}
	bb2 := []any{true, true, true, false}
	fa = agrField(t, reads.Agreement(agrForm(), agrPairs("positive", ba2, bb2), nil), "positive")
	if fa.N != 2 || fa.Invalid != 2 {
		t.Errorf("positive: n %d, invalid %d; want 2 and 2", fa.N, fa.Invalid)
	}
	checkStat(t, fa, want2(reads.StatKappa, 1), 1e-12)
}

// TestAgreementUndefined checks that statistics the data do not determine
// are null with a note, and that the rest of the field is still reported.
func TestAgreementUndefined(t *testing.T) {
	type expect struct {
		stat  string
		value float64 // when !null
		null  bool
		note  string // a substring of the note, when null
	}
	tests := []struct {
		name  string
		field string
		a, b  []any
		want  []expect
	}{
		{
			name: "every reading the same", field: "pefr", a: agrFloats(4, 4, 4), b: agrFloats(4, 4, 4),
			want: []expect{
				{stat: reads.StatICC21, null: true, note: "undefined"},
				{stat: reads.StatICC31, null: true, note: "undefined"},
				{stat: reads.StatICCF, null: true, note: "undefined"},
				{stat: reads.StatBias, value: 0}, {stat: reads.StatSD, value: 0},
				{stat: reads.StatLoALower, value: 0}, {stat: reads.StatLoAUpper, value: 0},
			},
		},
		{
			// MSR = MSC = 0: ICC(2,1) is -MSE/0, ICC(3,1) is exactly -1.
			name: "two cases in mirror order", field: "score", a: agrInts(1, 2), b: agrInts(2, 1),
			want: []expect{
				{stat: reads.StatICC21, null: true, note: "opposite order"},
				{stat: reads.StatICC31, value: -1},
				{stat: reads.StatICCF, value: 0},
				{stat: reads.StatBias, value: 0},
			},
		},
		{
			// Only an offset, no case variance: ICC(2,1) = 0, ICC(3,1) 0/0.
			name: "pure offset", field: "pefr", a: agrFloats(3, 3, 3), b: agrFloats(5, 5, 5),
			want: []expect{
				{stat: reads.StatICC21, value: 0},
				{stat: reads.StatICC31, null: true, note: "undefined"},
				{stat: reads.StatICCF, null: true, note: "undefined"},
				{stat: reads.StatBias, value: -2}, {stat: reads.StatSD, value: 0},
			},
		},
		{
			name: "one pair", field: "pefr", a: agrFloats(1), b: agrFloats(2),
			want: []expect{
				{stat: reads.StatICC21, null: true, note: "fewer than 2"},
				{stat: reads.StatICCF, null: true, note: "fewer than 2"},
				{stat: reads.StatBias, null: true, note: "fewer than 2"},
				{stat: reads.StatLoAUpper, null: true, note: "fewer than 2"},
			},
		},
		{
			name: "one pair, categorical", field: "skin", a: []any{"poor"}, b: []any{"clear"},
			want: []expect{
				{stat: reads.StatObserved, value: 0},
				{stat: reads.StatKappa, null: true, note: "fewer than 2"},
				{stat: reads.StatKappaQuadratic, null: true, note: "fewer than 2"},
			},
		},
		{
			name: "only missing values", field: "skin", a: []any{nil, "poor"}, b: []any{"poor", nil},
			want: []expect{
				{stat: reads.StatObserved, null: true, note: "no pairs"},
				{stat: reads.StatKappa, null: true, note: "fewer than 2"},
			},
		},
		{
			name: "one category throughout", field: "diagnosis", a: []any{"organic", "organic", "organic"}, b: []any{"organic", "organic", "organic"},
			want: []expect{
				{stat: reads.StatObserved, value: 1},
				{stat: reads.StatKappa, null: true, note: "undefined"},
				{stat: reads.StatKappaLinear, null: true, note: "undefined"},
				{stat: reads.StatKappaQuadratic, null: true, note: "undefined"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := reads.Agreement(agrForm(), agrPairs(tt.field, tt.a, tt.b), nil)
			fa := agrField(t, rep, tt.field)
			for _, w := range tt.want {
				s := agrStat(t, fa, w.stat)
				if w.null {
					if s.Value.Valid || s.Low.Valid || s.High.Valid || s.SE.Valid || !strings.Contains(s.Note, w.note) {
						t.Errorf("%s = %+v, want null with a note containing %q", w.stat, s, w.note)
					}
					continue
				}
				if !s.Value.Valid || math.Abs(s.Value.Float64-w.value) > 1e-12 {
					t.Errorf("%s = %+v, want %v", w.stat, s, w.value)
				}
			}
			// Whatever the data, no null goes without a note and the
			// report encodes.
			for _, f := range rep.Fields {
				for _, s := range f.Statistics {
					if !s.Value.Valid && s.Note == "" {
						t.Errorf("%s.%s is null without a note", f.Field, s.Name)
					}
				}
			}
			if _, err := json.Marshal(rep); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAgreementJSONInfinity covers identical readers: no error variance,
// so ICC = 1 and F = MSR/MSE = +Inf, which JSON cannot hold. The report
// writes it as null with a note.
func TestAgreementJSONInfinity(t *testing.T) {
	a := agrFloats(10, 20, 35)
	if i3, err := agreement.ICC3_1([]float64{10, 20, 35}, []float64{10, 20, 35}); err != nil || !math.IsInf(i3.F, 1) {
		t.Fatalf("precondition: ICC3_1 F = %v, %v; want +Inf", i3.F, err)
	}
	rep := reads.Agreement(agrForm(), agrPairs("pefr", a, a), nil)
	fa := agrField(t, rep, "pefr")
	checkStat(t, fa, want{stat: reads.StatICC21, value: 1, low: 1, hi: 1, ci: true}, 0)
	checkStat(t, fa, want{stat: reads.StatICC31, value: 1, low: 1, hi: 1, ci: true}, 0)
	f := agrStat(t, fa, reads.StatICCF)
	if f.Value.Valid || !strings.Contains(f.Note, "infinite") {
		t.Errorf("F = %+v, want null noted infinite", f)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var generic struct {
		Fields []struct {
			Field      string           `json:"field"`
			Statistics []map[string]any `json:"statistics"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, gf := range generic.Fields {
		if gf.Field != "pefr" {
			continue
		}
		for _, s := range gf.Statistics {
			if s["statistic"] != reads.StatICCF {
				continue
			}
			found = true
			if v, ok := s["value"]; !ok || v != nil {
				t.Errorf("icc_f value in JSON = %v (present %v), want null", v, ok)
			}
			if s["note"] != f.Note {
				t.Errorf("icc_f note in JSON = %v", s["note"])
			}
		}
	}
	if !found {
		t.Fatalf("no icc_f in %s", b)
	}
	// The JSON decodes back to the same report.
	var back reads.AgreementReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rep) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, *rep)
	}

	// Non-finite numbers, however they got into a report, encode as null.
	for _, x := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		st := reads.Statistic{Name: "x", Value: reads.NullFloat{Float64: x, Valid: true}, Low: reads.NullFloat{Float64: x, Valid: true}}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("%v: %v", x, err)
		}
		if want := `{"statistic":"x","value":null,"ci_low":null,"ci_high":null}`; string(b) != want {
			t.Errorf("%v: %s, want %s", x, b, want)
		}
		if s := st.Value.String(); s != "" {
			t.Errorf("%v: String() = %q, want empty", x, s)
		}
	}
	if b, _ := json.Marshal(reads.NullFloat{Float64: 0.1, Valid: true}); string(b) != "0.1" {
		t.Errorf("0.1 marshals as %s", b)
	}
}

// TestAgreementAdjudication checks the adjudication counts, overall and per
// reader.
func TestAgreementAdjudication(t *testing.T) {
	cases := []reads.CaseAdjudication{
		{Case: "A", Readers: [2]string{"zoe", "ann"}, Adjudicated: true},
		{Case: "B", Readers: [2]string{"ann", "bob"}},
		{Case: "C", Readers: [2]string{"bob", "zoe"}, Adjudicated: true},
		{Case: "D", Readers: [2]string{"ann", "zoe"}},
		// A case given twice counts once, adjudicated if either says so.
		{Case: "B", Readers: [2]string{"ann", "bob"}, Adjudicated: true},
	}
	rep := reads.Agreement(agrForm(), nil, cases)
	want := []reads.ReaderAdjudication{
		{Reader: "ann", DoubleReadCases: 3, Adjudicated: 2, Rate: 2.0 / 3},
		{Reader: "bob", DoubleReadCases: 2, Adjudicated: 2, Rate: 1},
		{Reader: "zoe", DoubleReadCases: 3, Adjudicated: 2, Rate: 2.0 / 3},
	}
	if !reflect.DeepEqual(rep.Readers, want) {
		t.Errorf("readers %+v\nwant %+v", rep.Readers, want)
	}
	if rep.DoubleReadCases != 4 || rep.AdjudicatedCases != 3 || rep.AdjudicationRate != (reads.NullFloat{Float64: 0.75, Valid: true}) {
		t.Errorf("overall %d of %d, rate %v; want 3 of 4, 0.75", rep.AdjudicatedCases, rep.DoubleReadCases, rep.AdjudicationRate)
	}

	empty := reads.Agreement(agrForm(), nil, nil)
	if empty.AdjudicationRate.Valid || empty.Readers == nil || len(empty.Readers) != 0 {
		t.Errorf("no cases: rate %v, readers %#v", empty.AdjudicationRate, empty.Readers)
	}
	b, err := json.Marshal(empty)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"readers":[]`)) || !bytes.Contains(b, []byte(`"adjudication_rate":null`)) {
		t.Errorf("empty report JSON %s", b)
	}
}

// TestAgreementOrderIndependent checks that the report depends on the
// pairs and cases as sets.
func TestAgreementOrderIndependent(t *testing.T) {
	a := agrFloats(494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427)
	b := agrFloats(512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451)
	pairs := agrPairs("pefr", a, b)
	for i := range pairs {
		pairs[i].Results[0].Values["skin"] = []string{"poor", "clear", "marginal"}[i%3]
		pairs[i].Results[1].Values["skin"] = []string{"poor", "marginal", "clear", "terrible"}[i%4]
	}
	cases := []reads.CaseAdjudication{{Case: "X", Readers: [2]string{"a1", "b1"}, Adjudicated: true}, {Case: "Y", Readers: [2]string{"b1", "c1"}}}
	want := reads.Agreement(agrForm(), pairs, cases)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		p, c := slices.Clone(pairs), slices.Clone(cases)
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		if got := reads.Agreement(agrForm(), p, c); !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffled input changed the report")
		}
	}
}

// TestAgreementCSV parses the CSV back and checks its layout and cells.
func TestAgreementCSV(t *testing.T) {
	fleissA, fleissB := agrTable([][]int{{75, 1, 4}, {5, 4, 1}, {0, 0, 10}}, []any{"psychotic", "neurotic", "organic"})
	pairs := agrPairs("diagnosis", fleissA, fleissB)
	// Identical readers on pefr for the first 3 cases (F = +Inf), missing
	// for the rest.
	for i, v := range []float64{10, 20, 35} {
		pairs[i].Results[0].Values["pefr"] = v
		pairs[i].Results[1].Values["pefr"] = v
	}
	cases := []reads.CaseAdjudication{
		{Case: "C0000", Readers: [2]string{"bob", "ann"}, Adjudicated: true},
		{Case: "C0001", Readers: [2]string{"ann", "bob"}},
	}
	rep := reads.Agreement(agrForm(), pairs, cases)
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll() // also checks every row has the header's width
	if err != nil {
		t.Fatal(err)
	}
	header := []string{"section", "field", "type", "derived", "statistic", "value", "ci_low", "ci_high", "se",
		"n", "missing", "invalid", "note", "reader", "double_read_cases", "adjudicated", "rate"}
	if !slices.Equal(records[0], header) {
		t.Fatalf("header %v\nwant %v", records[0], header)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	rows := records[1:]
	nStats := 0
	for _, f := range rep.Fields {
		nStats += len(f.Statistics)
	}
	if want := 5 + nStats + len(rep.Readers); len(rows) != want {
		t.Fatalf("%d rows, want %d", len(rows), want)
	}
	// Sections come in order: summary, field, reader.
	var sections []string
	for _, r := range rows {
		if len(sections) == 0 || sections[len(sections)-1] != r[0] {
			sections = append(sections, r[0])
		}
	}
	if !slices.Equal(sections, []string{"summary", "field", "reader"}) {
		t.Errorf("sections %v", sections)
	}

	rec := func(cells map[string]string) []string {
		r := make([]string, len(header))
		for k, v := range cells {
			r[col[k]] = v
		}
		return r
	}
	find := func(section, field, stat, reader string) []string {
		t.Helper()
		for _, r := range rows {
			if r[col["section"]] == section && r[col["field"]] == field && r[col["statistic"]] == stat && r[col["reader"]] == reader {
				return r
			}
		}
		t.Fatalf("no row %s/%s/%s/%s", section, field, stat, reader)
		return nil
	}
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	kappa := agrStat(t, agrField(t, rep, "diagnosis"), reads.StatKappa)
	checks := []struct {
		name      string
		got, want []string
	}{
		{"summary cases", find("summary", "", "cases", ""), rec(map[string]string{"section": "summary", "statistic": "cases", "value": "100"})},
		{"summary pairs", find("summary", "", "pairs", ""), rec(map[string]string{"section": "summary", "statistic": "pairs", "value": "100"})},
		{"summary rate", find("summary", "", "adjudication_rate", ""), rec(map[string]string{"section": "summary", "statistic": "adjudication_rate", "value": "0.5"})},
		{"kappa", find("field", "diagnosis", "kappa", ""), rec(map[string]string{
			"section": "field", "field": "diagnosis", "type": "choice", "derived": "false", "statistic": "kappa",
			"value": g(kappa.Value.Float64), "ci_low": g(kappa.Low.Float64), "ci_high": g(kappa.High.Float64), "se": g(kappa.SE.Float64),
			"n": "100", "missing": "0", "invalid": "0",
		})},
		{"observed", find("field", "diagnosis", "observed_agreement", ""), rec(map[string]string{
			"section": "field", "field": "diagnosis", "type": "choice", "derived": "false", "statistic": "observed_agreement",
			"value": "0.89", "n": "100", "missing": "0", "invalid": "0",
		})},
		{"infinite F", find("field", "pefr", "icc_f", ""), rec(map[string]string{
			"section": "field", "field": "pefr", "type": "decimal", "derived": "false", "statistic": "icc_f",
			"n": "3", "missing": "97", "invalid": "0", "note": "infinite: the error mean square is 0",
		})},
		{"icc", find("field", "pefr", "icc_2_1", ""), rec(map[string]string{
			"section": "field", "field": "pefr", "type": "decimal", "derived": "false", "statistic": "icc_2_1",
			"value": "1", "ci_low": "1", "ci_high": "1", "n": "3", "missing": "97", "invalid": "0",
		})},
		{"undefined kappa", find("field", "positive", "kappa", ""), rec(map[string]string{
			"section": "field", "field": "positive", "type": "boolean", "derived": "false", "statistic": "kappa",
			"n": "0", "missing": "100", "invalid": "0", "note": "fewer than 2 pairs with both values",
		})},
		{"reader ann", find("reader", "", "", "ann"), rec(map[string]string{"section": "reader", "reader": "ann", "double_read_cases": "2", "adjudicated": "1", "rate": "0.5"})},
		{"reader bob", find("reader", "", "", "bob"), rec(map[string]string{"section": "reader", "reader": "bob", "double_read_cases": "2", "adjudicated": "1", "rate": "0.5"})},
	}
	for _, c := range checks {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s row\n got %q\nwant %q", c.name, c.got, c.want)
		}
	}
	// Every number cell reads back as the report's value, exactly.
	for _, r := range rows {
		if r[0] != "field" {
			continue
		}
		s := agrStat(t, agrField(t, rep, r[col["field"]]), r[col["statistic"]])
		for name, v := range map[string]reads.NullFloat{"value": s.Value, "ci_low": s.Low, "ci_high": s.High, "se": s.SE} {
			cell := r[col[name]]
			if cell == "" {
				if v.Valid {
					t.Errorf("%s.%s %s empty, report has %v", r[1], r[4], name, v.Float64)
				}
				continue
			}
			x, err := strconv.ParseFloat(cell, 64)
			if err != nil || !v.Valid || x != v.Float64 {
				t.Errorf("%s.%s %s = %q, report has %v", r[1], r[4], name, cell, v)
			}
		}
	}
}

// errWriter fails every write.
type errWriter struct{}

var errAgrWrite = errors.New("disk full")

func (errWriter) Write([]byte) (int, error) { return 0, errAgrWrite }

func TestAgreementCSVWriteError(t *testing.T) {
	rep := reads.Agreement(agrForm(), nil, nil)
	if err := rep.WriteCSV(errWriter{}); !errors.Is(err, errAgrWrite) {
		t.Errorf("WriteCSV to a failing writer: %v, want the write error", err)
	}
}
