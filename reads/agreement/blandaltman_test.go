package agreement

import (
	"errors"
	"math"
	"testing"

	"github.com/trialgate/trialgate"
)

// Bland JM, Altman DG (1986). Statistical methods for assessing agreement
// between two methods of clinical measurement. Lancet 327(8476):307-310,
// Table 1: peak expiratory flow rate (l/min) of 17 subjects, the first
// measurement with the Wright peak flow meter and with the mini Wright meter.
var (
	pefrWright = []float64{494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427}
	pefrMini   = []float64{512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451}
)

// TestBlandAltmanLancet1986 reproduces the paper's worked example as
// published. The paper gives the mean difference (Wright - mini) -2.1 l/min,
// the SD of the differences 38.8 l/min, and limits of agreement -2.1 ± 2 SD
// = -79.7 to 75.5. For the precision of the estimates it takes
// SE(bias) = √(s²/n) = 9.4 and SE(limit) ≈ √(3s²/n) = 16.3 with t = 2.12 on
// 16 df, giving the 95% intervals -22.1 to 17.9 (bias), -114.3 to -45.1
// (lower limit) and 40.9 to 110.1 (upper limit). The paper rounded its
// intermediate figures (-2.1, 38.8, 9.4, 16.3, 2.12), so the limits are
// checked to ±0.1 and the interval bounds to ±0.2.
func TestBlandAltmanLancet1986(t *testing.T) {
	approx := func(n int, sd, _ float64) float64 { return math.Sqrt(3 * sd * sd / float64(n)) }
	got, err := blandAltman(pefrWright, pefrMini, 2, approx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field     string
		got, want float64
		tol       float64
	}{
		{"Bias", got.Bias, -2.1, 0.05},
		{"SD", got.SD, 38.8, 0.05},
		{"Lower", got.Lower, -79.7, 0.1}, // the paper computes -2.1 - 2·38.8
		{"Upper", got.Upper, 75.5, 0.1},  // and -2.1 + 2·38.8 from rounded figures
		{"BiasLow", got.BiasLow, -22.1, 0.2},
		{"BiasHigh", got.BiasHigh, 17.9, 0.2},
		{"LowerLow", got.LowerLow, -114.3, 0.2},
		{"LowerHigh", got.LowerHigh, -45.1, 0.2},
		{"UpperLow", got.UpperLow, 40.9, 0.2},
		{"UpperHigh", got.UpperHigh, 110.1, 0.2},
	}
	for _, tt := range tests {
		if !closeAbs(tt.got, tt.want, tt.tol) {
			t.Errorf("%s = %.3f, published %.1f (±%g)", tt.field, tt.got, tt.want, tt.tol)
		}
	}
	if got.N != 17 {
		t.Errorf("N = %d, want 17", got.N)
	}
}

// TestBlandAltmanLimits checks the exported function, which uses 1.96 SD
// and the SE(limit) of Bland & Altman (1999). On the same PEFR data its
// limits, -2.1 ± 1.96·38.8, are -78.1 to 73.9 (the -78 to 74 usually quoted
// for this example); the intervals were computed independently with SciPy
// 1.10.1 (/usr/bin/python3 testdata/reference.py).
func TestBlandAltmanLimits(t *testing.T) {
	got, err := BlandAltmanLimits(pefrWright, pefrMini)
	if err != nil {
		t.Fatal(err)
	}
	want := BlandAltman{
		N:         17,
		Bias:      -2.117647059,
		SD:        38.76512987,
		Lower:     -78.09590547,
		Upper:     73.86061135,
		BiasLow:   -22.0488377,
		BiasHigh:  17.81354358,
		LowerLow:  -112.8515531,
		LowerHigh: -43.34025779,
		UpperLow:  39.10496368,
		UpperHigh: 108.616259,
	}
	pairs := []struct {
		field     string
		got, want float64
	}{
		{"Bias", got.Bias, want.Bias}, {"SD", got.SD, want.SD},
		{"Lower", got.Lower, want.Lower}, {"Upper", got.Upper, want.Upper},
		{"BiasLow", got.BiasLow, want.BiasLow}, {"BiasHigh", got.BiasHigh, want.BiasHigh},
		{"LowerLow", got.LowerLow, want.LowerLow}, {"LowerHigh", got.LowerHigh, want.LowerHigh},
		{"UpperLow", got.UpperLow, want.UpperLow}, {"UpperHigh", got.UpperHigh, want.UpperHigh},
	}
	for _, p := range pairs {
		if !closeAbs(p.got, p.want, 1e-6) {
			t.Errorf("%s = %.10g, want %.10g", p.field, p.got, p.want)
		}
	}
	if math.Round(got.Lower) != -78 || math.Round(got.Upper) != 74 {
		t.Errorf("limits %.2f to %.2f, want -78 to 74", got.Lower, got.Upper)
	}
	if got.N != want.N {
		t.Errorf("N = %d, want %d", got.N, want.N)
	}
}

func TestBlandAltmanEdgeCases(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name    string
		a, b    []float64
		wantErr bool
		bias    float64
	}{
		{name: "lengths differ", a: []float64{1, 2}, b: []float64{1}, wantErr: true},
		{name: "no pairs", wantErr: true},
		{name: "one pair", a: []float64{1}, b: []float64{2}, wantErr: true},
		{name: "NaN", a: []float64{1, math.NaN()}, b: []float64{1, 2}, wantErr: true},
		{name: "Inf", a: []float64{1, 2}, b: []float64{inf, 2}, wantErr: true},
		{name: "difference overflows", a: []float64{math.MaxFloat64, 0}, b: []float64{-math.MaxFloat64, 0}, wantErr: true},
		// Constant differences: SD 0, everything collapses onto the bias.
		{name: "constant offset", a: []float64{15, 25, 35}, b: []float64{10, 20, 30}, bias: 5},
		{name: "identical", a: []float64{1, 2}, b: []float64{1, 2}, bias: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BlandAltmanLimits(tt.a, tt.b)
			if tt.wantErr {
				var te *trialgate.Error
				if !errors.As(err, &te) || te.Code != trialgate.EInvalid {
					t.Fatalf("got %+v, %v; want an EInvalid *trialgate.Error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []float64{got.Lower, got.Upper, got.BiasLow, got.BiasHigh, got.LowerLow, got.LowerHigh, got.UpperLow, got.UpperHigh} {
				if v != tt.bias {
					t.Errorf("got %+v, want every figure %v", got, tt.bias)
					break
				}
			}
			if got.SD != 0 || got.Bias != tt.bias {
				t.Errorf("SD %v, Bias %v; want 0 and %v", got.SD, got.Bias, tt.bias)
			}
		})
	}
}

// FuzzBlandAltman checks the ordering of the figures for any finite
// readings, and that swapping the readers mirrors every figure: the bias
// and limits change sign and swap, the SD stays.
func FuzzBlandAltman(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6}, 1.5)
	f.Add([]byte{9, 9, 9, 9}, 0.0)
	f.Fuzz(func(t *testing.T, pairs []byte, scale float64) {
		if math.IsNaN(scale) || math.IsInf(scale, 0) || math.Abs(scale) > 1e100 {
			return
		}
		n := len(pairs) / 2
		a := make([]float64, n)
		b := make([]float64, n)
		for i := range n {
			a[i] = float64(pairs[2*i]) * scale
			b[i] = float64(pairs[2*i+1])
		}
		got, err := BlandAltmanLimits(a, b)
		if n < 2 {
			if err == nil {
				t.Fatalf("%d pairs: no error", n)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !(got.SD >= 0 && got.Lower <= got.Bias && got.Bias <= got.Upper &&
			got.BiasLow <= got.Bias && got.Bias <= got.BiasHigh &&
			got.LowerLow <= got.Lower && got.Lower <= got.LowerHigh &&
			got.UpperLow <= got.Upper && got.Upper <= got.UpperHigh) {
			t.Fatalf("figures out of order: %+v", got)
		}
		sw, err := BlandAltmanLimits(b, a)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-9 * (1 + math.Abs(got.Upper) + math.Abs(got.Lower))
		if !closeAbs(sw.Bias, -got.Bias, tol) || !closeAbs(sw.SD, got.SD, tol) ||
			!closeAbs(sw.Lower, -got.Upper, tol) || !closeAbs(sw.Upper, -got.Lower, tol) {
			t.Errorf("swap: %+v vs %+v", sw, got)
		}
	})
}
