package agreement

import (
	"errors"
	"math"
	"testing"

	"github.com/trialgate/trialgate"
)

// shroutFleiss is Table 2 of Shrout & Fleiss (1979), Intraclass
// correlations: uses in assessing rater reliability, Psychological Bulletin
// 86:420-428: six targets (rows) rated by four judges (columns).
var shroutFleiss = [][]float64{
	{9, 2, 5, 8},
	{6, 1, 3, 2},
	{8, 4, 6, 8},
	{7, 1, 2, 6},
	{10, 5, 6, 9},
	{6, 2, 4, 7},
}

// judges returns the given columns of shroutFleiss, one slice per judge,
// as ICC2_1 and ICC3_1 take them.
func judges(cols ...int) [][]float64 {
	out := make([][]float64, len(cols))
	for j, c := range cols {
		for _, row := range shroutFleiss {
			out[j] = append(out[j], row[c])
		}
	}
	return out
}

// TestICCShroutFleiss checks both ICCs against the published example.
//
// Four judges, published: Shrout & Fleiss (1979) give, for these data, the
// mean squares BMS = 11.24 (targets), JMS = 32.49 (judges) and EMS = 1.02
// (residual), and ICC(2,1) = .29 and ICC(3,1) = .71. The paper prints
// neither F nor the intervals of McGraw & Wong (1996); those are checked in
// the SciPy rows.
//
// SciPy rows: the same four judges, and judges 1-2 and 3-4 as double reads,
// computed independently of this package with SciPy 1.10.1 from McGraw &
// Wong (1996) Table 7 (/usr/bin/python3 testdata/reference.py), to 10
// significant digits.
func TestICCShroutFleiss(t *testing.T) {
	type want struct {
		icc2, low2, high2 float64
		icc3, low3, high3 float64
		f, df1, df2       float64
		msr, msc, mse     float64
	}
	tests := []struct {
		name      string
		raters    [][]float64
		published bool // only Value and the mean squares are published
		tol       float64
		want      want
	}{
		{
			name: "4 judges, published", raters: judges(0, 1, 2, 3), published: true,
			tol:  0.005, // the paper gives two decimal places
			want: want{icc2: 0.29, icc3: 0.71, msr: 11.24, msc: 32.49, mse: 1.02},
		},
		{
			name: "4 judges, SciPy", raters: judges(0, 1, 2, 3), tol: 1e-8,
			want: want{
				icc2: 0.2897637795, low2: 0.01878651337, high2: 0.7610843696,
				icc3: 0.7148407148, low3: 0.342464765, high3: 0.94585826,
				f: 11.02724796, df1: 5, df2: 15,
				msr: 11.24166667, msc: 32.48611111, mse: 1.019444444,
			},
		},
		{
			name: "judges 1 and 2, SciPy", raters: judges(0, 1), tol: 1e-8,
			want: want{
				icc2: 0.1256544503, low2: -0.02365322154, high2: 0.599851484,
				icc3: 0.7453416149, low3: -0.0209087463, high3: 0.9599830815,
				f: 6.853658537, df1: 5, df2: 5,
				msr: 4.683333333, msc: 80.08333333, mse: 0.6833333333,
			},
		},
		{
			name: "judges 3 and 4, SciPy", raters: judges(2, 3), tol: 1e-8,
			want: want{
				icc2: 0.4230769231, low2: -0.1488760308, high2: 0.8748490583,
				icc3: 0.6567164179, low3: -0.193802541, high3: 0.9436446051,
				f: 4.826086957, df1: 5, df2: 5,
				msr: 7.4, msc: 16.33333333, mse: 1.533333333,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i2, err := ICC2_1(tt.raters...)
			if err != nil {
				t.Fatal(err)
			}
			i3, err := ICC3_1(tt.raters...)
			if err != nil {
				t.Fatal(err)
			}
			check := func(field string, got, want float64) {
				t.Helper()
				if !closeAbs(got, want, tt.tol) {
					t.Errorf("%s = %.10f, want %.10f (±%g)", field, got, want, tt.tol)
				}
			}
			w := tt.want
			check("ICC(2,1)", i2.Value, w.icc2)
			check("ICC(3,1)", i3.Value, w.icc3)
			for _, r := range []ICC{i2, i3} {
				check("MSR", r.MSR, w.msr)
				check("MSC", r.MSC, w.msc)
				check("MSE", r.MSE, w.mse)
				if r.N != len(shroutFleiss) || r.Raters != len(tt.raters) {
					t.Errorf("N %d, Raters %d; want %d and %d", r.N, r.Raters, len(shroutFleiss), len(tt.raters))
				}
			}
			if tt.published {
				return
			}
			check("ICC(2,1) low", i2.Low, w.low2)
			check("ICC(2,1) high", i2.High, w.high2)
			check("ICC(3,1) low", i3.Low, w.low3)
			check("ICC(3,1) high", i3.High, w.high3)
			for _, r := range []ICC{i2, i3} {
				check("F", r.F, w.f)
				check("DF1", r.DF1, w.df1)
				check("DF2", r.DF2, w.df2)
			}
		})
	}
}

func TestICCEdgeCases(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name        string
		raters      [][]float64
		wantErr     bool
		undefined2  bool // ICC2_1's error matches ErrUndefined
		undefined3  bool // ICC3_1's error matches ErrUndefined
		icc2, icc3  float64
		low3, high3 float64
		f           float64
	}{
		{name: "no raters", wantErr: true},
		{name: "one rater", raters: [][]float64{{1, 2, 3}}, wantErr: true},
		{name: "one case", raters: [][]float64{{1}, {2}}, wantErr: true},
		{name: "no cases", raters: [][]float64{{}, {}}, wantErr: true},
		{name: "ragged", raters: [][]float64{{1, 2, 3}, {1, 2}}, wantErr: true},
		{name: "NaN", raters: [][]float64{{1, math.NaN()}, {1, 2}}, wantErr: true},
		{name: "Inf", raters: [][]float64{{1, 2}, {inf, 2}}, wantErr: true},
		{name: "-Inf", raters: [][]float64{{1, 2}, {1, -inf}}, wantErr: true},
		{name: "every rating the same", raters: [][]float64{{4, 4, 4}, {4, 4, 4}}, wantErr: true, undefined2: true, undefined3: true},
		// Identical readings that vary across cases: perfect agreement.
		{name: "identical readers", raters: [][]float64{{10, 20, 35}, {10, 20, 35}}, icc2: 1, icc3: 1, low3: 1, high3: 1, f: inf},
		// Readings identical in floating point up to rounding noise.
		{name: "identical readers, large values", raters: [][]float64{{1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3}, {1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3}}, icc2: 1, icc3: 1, low3: 1, high3: 1, f: inf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i2, err2 := ICC2_1(tt.raters...)
			i3, err3 := ICC3_1(tt.raters...)
			if tt.wantErr {
				for _, err := range []error{err2, err3} {
					var te *trialgate.Error
					if !errors.As(err, &te) || te.Code != trialgate.EInvalid {
						t.Errorf("error %v is not an EInvalid *trialgate.Error", err)
					}
				}
				if errors.Is(err2, ErrUndefined) != tt.undefined2 || errors.Is(err3, ErrUndefined) != tt.undefined3 {
					t.Errorf("ErrUndefined: ICC2_1 %v, ICC3_1 %v; want %v, %v", err2, err3, tt.undefined2, tt.undefined3)
				}
				return
			}
			if err2 != nil || err3 != nil {
				t.Fatal(err2, err3)
			}
			if i2.Value != tt.icc2 || i3.Value != tt.icc3 || i3.Low != tt.low3 || i3.High != tt.high3 || i3.F != tt.f {
				t.Errorf("ICC2 %+v\nICC3 %+v", i2, i3)
			}
		})
	}
}

// TestICCMirrored covers two cases read in mirror order: MSR = MSC = 0, so
// ICC(2,1) = -MSE/0 is undefined, while ICC(3,1) = -MSE/MSE = -1 exactly,
// and so is its whole interval.
func TestICCMirrored(t *testing.T) {
	a, b := []float64{1, 2}, []float64{2, 1}
	if got, err := ICC2_1(a, b); !errors.Is(err, ErrUndefined) {
		t.Errorf("ICC2_1 = %+v, %v; want ErrUndefined", got, err)
	}
	got, err := ICC3_1(a, b)
	if err != nil || got.Value != -1 || got.Low != -1 || got.High != -1 {
		t.Errorf("ICC3_1 = %+v, %v; want -1 [-1, -1]", got, err)
	}
}

// TestICCConstantOffset shows the difference between the two ICCs: a
// reader who measures every case exactly 5 units longer agrees perfectly in
// consistency (ICC(3,1) = 1) but not in absolute terms. By hand: with cases
// 10, 20, 30 and offset 5, MSR = 2·100 = 200, MSC = 3·12.5 = 37.5, MSE = 0,
// so ICC(2,1) = 200 / (200 + 2·37.5/3) = 200/225 = 8/9.
func TestICCConstantOffset(t *testing.T) {
	a := []float64{10, 20, 30}
	b := []float64{15, 25, 35}
	i3, err := ICC3_1(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if i3.Value != 1 || i3.Low != 1 || i3.High != 1 {
		t.Errorf("ICC(3,1) = %+v, want 1 [1, 1]", i3)
	}
	i2, err := ICC2_1(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !closeAbs(i2.Value, 8.0/9, 1e-12) || !(i2.Low < i2.Value && i2.Value < i2.High && i2.High <= 1) {
		t.Errorf("ICC(2,1) = %+v, want 8/9 inside its interval", i2)
	}
	// No case variance at all, only the offset: ICC(2,1) is 0, ICC(3,1)
	// is 0/0.
	i2, err = ICC2_1([]float64{3, 3, 3}, []float64{5, 5, 5})
	if err != nil || i2.Value != 0 {
		t.Errorf("ICC2_1 of a pure offset = %+v, %v; want 0", i2, err)
	}
	if _, err := ICC3_1([]float64{3, 3, 3}, []float64{5, 5, 5}); !errors.Is(err, ErrUndefined) {
		t.Errorf("ICC3_1 of a pure offset: err %v, want ErrUndefined", err)
	}
}

// FuzzICC checks, for arbitrary double reads, that the ICCs are at most 1,
// ICC(3,1) is at least -1/(k-1) = -1, intervals are ordered and contain
// ICC(3,1), nothing is NaN, and both ICCs are symmetric in the raters.
func FuzzICC(f *testing.F) {
	f.Add([]byte{9, 2, 6, 1, 8, 4, 7, 1, 10, 5, 6, 2})
	f.Add([]byte{1, 1, 2, 2, 3, 3})
	f.Add([]byte{1, 9, 9, 1, 1, 9, 9, 1})
	f.Fuzz(func(t *testing.T, pairs []byte) {
		n := len(pairs) / 2
		if n > 200 {
			return
		}
		a := make([]float64, n)
		b := make([]float64, n)
		for i := range n {
			a[i] = float64(pairs[2*i])
			b[i] = float64(pairs[2*i+1]) / 4
		}
		for name, fn := range map[string]func(...[]float64) (ICC, error){"ICC2_1": ICC2_1, "ICC3_1": ICC3_1} {
			got, err := fn(a, b)
			swapped, errSwapped := fn(b, a)
			if (err == nil) != (errSwapped == nil) {
				t.Fatalf("%s: err %v, swapped %v", name, err, errSwapped)
			}
			if err != nil {
				if n >= 2 && !errors.Is(err, ErrUndefined) {
					t.Fatalf("%s: unexpected error for %d cases: %v", name, n, err)
				}
				continue
			}
			const eps = 1e-9
			if math.IsNaN(got.Value) || math.IsNaN(got.Low) || math.IsNaN(got.High) {
				t.Fatalf("%s: NaN in %+v", name, got)
			}
			if got.Value > 1+eps || got.High > 1+eps || got.Low > got.High+eps {
				t.Errorf("%s: %+v out of bounds", name, got)
			}
			if name == "ICC3_1" && (got.Value < -1-eps || got.Low < -1-eps || got.Low > got.Value+eps || got.High < got.Value-eps) {
				t.Errorf("%s: %+v out of bounds", name, got)
			}
			if !closeAbs(got.Value, swapped.Value, eps) || !closeAbs(got.Low, swapped.Low, 1e-7) || !closeAbs(got.High, swapped.High, 1e-7) {
				t.Errorf("%s: not symmetric in the raters: %+v vs %+v", name, got, swapped)
			}
		}
	})
}
