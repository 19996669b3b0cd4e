package agreement

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/trialgate/trialgate"
)

// skinCondition is the agreement study of the SAS/STAT User's Guide, PROC
// FREQ, "Getting Started: Agreement Study" (Table "Skin Condition Data"):
// two dermatologists rate 88 patients terrible / poor / marginal / clear.
// Rows are dermatologist 1, columns dermatologist 2.
var skinCondition = [][]float64{
	{10, 4, 1, 0},
	{5, 10, 12, 2},
	{2, 4, 12, 5},
	{0, 2, 6, 13},
}

// psychiatricDiagnosis is the worked example of Fleiss, Levin & Paik (2003),
// Statistical Methods for Rates and Proportions, 3rd ed., chapter 18 (also
// Fleiss 1981, 2nd ed., chapter 13): two raters diagnose 100 subjects as
// psychotic / neurotic / organic, with p_o = .89, p_e = .66 and κ = .68.
var psychiatricDiagnosis = [][]float64{
	{75, 1, 4},
	{5, 4, 1},
	{0, 0, 10},
}

// TestCohenKappaPublished checks kappa against published worked examples.
//
// Skin condition, unweighted: SAS prints Kappa 0.3449, ASE 0.0724, 95%
// limits 0.2030 and 0.4868; its ASE is the Fleiss-Cohen-Everitt (1969)
// variance this package uses. Linear (SAS's default Cicchetti-Allison
// weights): SAS prints weighted kappa 0.5082, ASE 0.0655, limits 0.3798 and
// 0.6366. The quadratic row and the SEs of the Fleiss example are not
// published there; they were computed independently of this package from
// the same formulas with NumPy 1.24.2:
//
//	/usr/bin/python3 testdata/reference.py
//
// which also reproduces every published figure above.
func TestCohenKappaPublished(t *testing.T) {
	tests := []struct {
		name                    string
		table                   [][]float64
		w                       Weighting
		po, pe, kappa, se, l, h float64
		tol                     float64 // published figures are rounded
	}{
		{"SAS skin unweighted", skinCondition, Unweighted, 0.5113636364, 0.2541322314, 0.3449, 0.0724, 0.2030, 0.4868, 5e-5},
		{"SAS skin linear", skinCondition, Linear, 0.8106060606, 0.6149276860, 0.5082, 0.0655, 0.3798, 0.6366, 5e-5},
		{"skin quadratic (NumPy)", skinCondition, Quadratic, 0.9191919192, 0.7618227732, 0.6607228916, 0.0616428324, 0.5399051601, 0.7815406230, 1e-9},
		{"Fleiss psychiatric unweighted", psychiatricDiagnosis, Unweighted, 0.89, 0.66, 0.6764705882, 0.0877029535, 0.5045759581, 0.8483652184, 1e-9},
		{"Fleiss psychiatric linear (NumPy)", psychiatricDiagnosis, Linear, 0.925, 0.73, 0.7222222222, 0.0843009539, 0.5569953887, 0.8874490558, 1e-9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CohenKappaTable(tt.table, tt.w)
			if err != nil {
				t.Fatal(err)
			}
			check := func(field string, got, want float64) {
				t.Helper()
				if !closeAbs(got, want, tt.tol) {
					t.Errorf("%s = %.10f, want %.10f (±%g)", field, got, want, tt.tol)
				}
			}
			check("Observed", got.Observed, tt.po)
			check("Expected", got.Expected, tt.pe)
			check("Kappa", got.Kappa, tt.kappa)
			check("SE", got.SE, tt.se)
			check("Low", got.Low, tt.l)
			check("High", got.High, tt.h)
			if got.Weights != tt.w {
				t.Errorf("Weights = %v, want %v", got.Weights, tt.w)
			}
		})
	}
	// The published Fleiss example gives κ to two places.
	got, err := CohenKappaTable(psychiatricDiagnosis, Unweighted)
	if err != nil || math.Round(got.Kappa*100)/100 != 0.68 || got.N != 100 {
		t.Errorf("Fleiss example: kappa %.4f, N %d, err %v; want .68 and 100", got.Kappa, got.N, err)
	}
}

// expand turns a contingency table into the paired ratings it counts.
func expand(table [][]float64, cats []string) (a, b []string) {
	for i, row := range table {
		for j, n := range row {
			for range int(n) {
				a = append(a, cats[i])
				b = append(b, cats[j])
			}
		}
	}
	return a, b
}

// TestCohenKappaFromRatings checks that the rating-list entry point builds
// the same table as the published one and gives the same answer.
func TestCohenKappaFromRatings(t *testing.T) {
	cats := []string{"terrible", "poor", "marginal", "clear"}
	a, b := expand(skinCondition, cats)
	for _, w := range []Weighting{Unweighted, Linear, Quadratic} {
		fromTable, err := CohenKappaTable(skinCondition, w)
		if err != nil {
			t.Fatal(err)
		}
		fromRatings, err := CohenKappa(a, b, cats, w)
		if err != nil {
			t.Fatal(err)
		}
		if fromTable != fromRatings {
			t.Errorf("%v: from ratings %+v, from table %+v", w, fromRatings, fromTable)
		}
		if fromRatings.N != 88 {
			t.Errorf("N = %d, want 88", fromRatings.N)
		}
	}
}

func TestCohenKappaEdgeCases(t *testing.T) {
	ynCats := []string{"yes", "no"}
	tests := []struct {
		name      string
		a, b      []string
		cats      []string
		w         Weighting
		wantErr   bool
		undefined bool // the error matches ErrUndefined
		kappa     float64
	}{
		{name: "lengths differ", a: []string{"yes", "no"}, b: []string{"yes"}, cats: ynCats, wantErr: true},
		{name: "no cases", cats: ynCats, wantErr: true},
		{name: "one case", a: []string{"yes"}, b: []string{"yes"}, cats: ynCats, wantErr: true},
		{name: "no categories", a: []string{"yes", "no"}, b: []string{"yes", "no"}, wantErr: true},
		{name: "duplicate category", a: []string{"yes", "no"}, b: []string{"yes", "no"}, cats: []string{"yes", "no", "yes"}, wantErr: true},
		{name: "first rater value not a category", a: []string{"yes", "maybe"}, b: []string{"yes", "no"}, cats: ynCats, wantErr: true},
		{name: "second rater value not a category", a: []string{"yes", "no"}, b: []string{"Yes", "no"}, cats: ynCats, wantErr: true},
		{name: "weighted with one category", a: []string{"x", "x"}, b: []string{"x", "x"}, cats: []string{"x"}, w: Linear, wantErr: true},
		{name: "unknown weighting", a: []string{"yes", "no"}, b: []string{"yes", "no"}, cats: ynCats, w: Weighting(7), wantErr: true},
		{name: "everyone says yes", a: []string{"yes", "yes", "yes"}, b: []string{"yes", "yes", "yes"}, cats: ynCats, wantErr: true, undefined: true},
		{name: "everyone says yes, weighted", a: []string{"yes", "yes"}, b: []string{"yes", "yes"}, cats: ynCats, w: Quadratic, wantErr: true, undefined: true},
		// Perfect agreement with both categories used: κ = 1, SE 0.
		{name: "perfect agreement", a: []string{"yes", "no", "yes"}, b: []string{"yes", "no", "yes"}, cats: ynCats, kappa: 1},
		// Only rater a ever says yes: p_o = 1/2, p_e = 1/2·0 + 1/2·1 = 1/2, κ = 0.
		{name: "category only one rater used", a: []string{"yes", "no"}, b: []string{"no", "no"}, cats: ynCats, kappa: 0},
		// Systematic total disagreement on a balanced table: κ = -1.
		{name: "total disagreement", a: []string{"yes", "no"}, b: []string{"no", "yes"}, cats: ynCats, kappa: -1},
		// A listed category nobody used changes nothing unweighted.
		{name: "unused category", a: []string{"yes", "no", "yes"}, b: []string{"yes", "no", "no"}, cats: []string{"yes", "no", "n/a"}, kappa: 0.4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CohenKappa(tt.a, tt.b, tt.cats, tt.w)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				var te *trialgate.Error
				if !errors.As(err, &te) || te.Code != trialgate.EInvalid {
					t.Errorf("error %v is not an EInvalid *trialgate.Error", err)
				}
				if errors.Is(err, ErrUndefined) != tt.undefined {
					t.Errorf("errors.Is(%v, ErrUndefined) = %v, want %v", err, !tt.undefined, tt.undefined)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !closeAbs(got.Kappa, tt.kappa, 1e-12) {
				t.Errorf("Kappa = %v, want %v", got.Kappa, tt.kappa)
			}
			if math.IsNaN(got.SE) || got.SE < 0 || got.Low > got.Kappa || got.High < got.Kappa {
				t.Errorf("SE %v, interval [%v, %v] around %v", got.SE, got.Low, got.High, got.Kappa)
			}
		})
	}
}

// TestCohenKappaTableErrors covers what only the table entry point can get
// wrong.
func TestCohenKappaTableErrors(t *testing.T) {
	for name, table := range map[string][][]float64{
		"empty":     nil,
		"ragged":    {{1, 2}, {3}},
		"negative":  {{1, -1}, {0, 3}},
		"NaN":       {{1, math.NaN()}, {0, 3}},
		"Inf":       {{1, math.Inf(1)}, {0, 3}},
		"one case":  {{1, 0}, {0, 0}},
		"all zeros": {{0, 0}, {0, 0}},
	} {
		if got, err := CohenKappaTable(table, Unweighted); err == nil {
			t.Errorf("%s: got %+v, want an error", name, got)
		}
	}
}

// TestCohenKappaUndefinedKeepsAgreement checks that the undefined case still
// reports what is known: every case agreed.
func TestCohenKappaUndefinedKeepsAgreement(t *testing.T) {
	got, err := CohenKappa([]string{"PD", "PD"}, []string{"PD", "PD"}, []string{"CR", "PR", "SD", "PD"}, Unweighted)
	if !errors.Is(err, ErrUndefined) {
		t.Fatalf("err = %v, want ErrUndefined", err)
	}
	if got.N != 2 || got.Observed != 1 || got.Expected != 1 {
		t.Errorf("got %+v, want N 2, Observed 1, Expected 1", got)
	}
}

// FuzzCohenKappa checks properties that hold for every table: κ ≤ 1 and
// κ ≥ -1, p_o and p_e in [0, 1], SE ≥ 0, an interval around κ, and symmetry
// in the raters (swapping them transposes the table, which leaves κ, p_o,
// p_e and the SE unchanged for these symmetric weights).
func FuzzCohenKappa(f *testing.F) {
	f.Add([]byte{10, 4, 1, 0, 5, 10, 12, 2, 2, 4, 12, 5, 0, 2, 6, 13}, uint8(0))
	f.Add([]byte{75, 1, 4, 5, 4, 1, 0, 0, 10}, uint8(1))
	f.Add([]byte{0, 3, 3, 0}, uint8(2))
	f.Add([]byte{1, 0, 0, 1}, uint8(2))
	f.Fuzz(func(t *testing.T, cells []byte, wsel uint8) {
		k := int(math.Sqrt(float64(len(cells))))
		if k < 1 || k > 8 {
			return
		}
		cats := make([]string, k)
		for i := range cats {
			cats[i] = "c" + strconv.Itoa(i)
		}
		table := make([][]float64, k)
		for i := range table {
			table[i] = make([]float64, k)
			for j := range table[i] {
				table[i][j] = float64(cells[i*k+j] % 32)
			}
		}
		a, b := expand(table, cats)
		w := Weighting(int(wsel) % 3)
		got, err := CohenKappa(a, b, cats, w)
		swapped, errSwapped := CohenKappa(b, a, cats, w)
		if (err == nil) != (errSwapped == nil) {
			t.Fatalf("err %v, swapped %v", err, errSwapped)
		}
		if err != nil {
			if len(a) >= 2 && !errors.Is(err, ErrUndefined) && !(w != Unweighted && k < 2) {
				t.Fatalf("unexpected error for %d cases: %v", len(a), err)
			}
			return
		}
		const eps = 1e-9
		if got.Kappa > 1+eps || got.Kappa < -1-eps {
			t.Errorf("kappa %v outside [-1, 1]", got.Kappa)
		}
		if got.Observed < -eps || got.Observed > 1+eps || got.Expected < -eps || got.Expected > 1+eps {
			t.Errorf("p_o %v, p_e %v outside [0, 1]", got.Observed, got.Expected)
		}
		if math.IsNaN(got.SE) || got.SE < 0 || got.Low > got.Kappa+eps || got.High < got.Kappa-eps {
			t.Errorf("SE %v, interval [%v, %v] around %v", got.SE, got.Low, got.High, got.Kappa)
		}
		if !closeAbs(got.Kappa, swapped.Kappa, eps) || !closeAbs(got.SE, swapped.SE, 1e-6) ||
			!closeAbs(got.Observed, swapped.Observed, eps) || !closeAbs(got.Expected, swapped.Expected, eps) {
			t.Errorf("not symmetric in the raters: %+v vs %+v", got, swapped)
		}
	})
}

func TestWeightingText(t *testing.T) {
	for _, w := range []Weighting{Unweighted, Linear, Quadratic} {
		b, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		var back Weighting
		if err := json.Unmarshal(b, &back); err != nil || back != w {
			t.Errorf("%v: round trip through %s gave %v, %v", w, b, back, err)
		}
	}
	if b, err := json.Marshal(Weighting(9)); err == nil {
		t.Errorf("unknown weighting marshalled as %s", b)
	}
	var w Weighting
	if err := w.UnmarshalText([]byte("Linear")); err == nil {
		t.Error("names are case-sensitive; \"Linear\" was accepted")
	}
}
