package agreement

import (
	"math"
	"testing"
)

// The reference values below were computed with SciPy 1.10.1 (Debian
// python3-scipy) by
//
//	/usr/bin/python3 -c 'from scipy import special, stats; print(special.betainc(a, b, x), stats.f.ppf(p, d1, d2), stats.t.ppf(0.975, df))'
//
// for each row; they check the continued fraction and its inversion, not the
// statistics built on them (the other tests check those against published
// examples).

func TestBetaInc(t *testing.T) {
	tests := []struct {
		x, a, b, want float64
	}{
		{0.3, 2, 3, 0.3483}, // closed form: a polynomial for integer a, b
		{0.9, 0.5, 0.5, 0.795167235300866},
		{0.01, 10, 2, 1.09e-19},
		{0.5, 50, 60, 0.830907293901669},
		{0, 2, 3, 0},
		{1, 2, 3, 1},
	}
	for _, tt := range tests {
		got := betaInc(tt.x, tt.a, tt.b)
		if !closeRel(got, tt.want, 1e-10) {
			t.Errorf("betaInc(%g, %g, %g) = %.15g, want %.15g", tt.x, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFQuantile(t *testing.T) {
	tests := []struct {
		p, d1, d2, want float64
	}{
		{0.975, 5, 15, 3.57641534928},
		{0.975, 15, 5, 6.42772816708},
		{0.95, 1, 16, 4.49399847767},
		{0.5, 2.5, 7.3, 0.824738481042},
		{0.999, 3, 1000, 5.46366798505},
		{0.01, 0.7, 2.2, 5.35579508052e-06},
	}
	for _, tt := range tests {
		got := fQuantile(tt.p, tt.d1, tt.d2)
		if !closeRel(got, tt.want, 1e-9) {
			t.Errorf("fQuantile(%g, %g, %g) = %.12g, want %.12g", tt.p, tt.d1, tt.d2, got, tt.want)
		}
	}
}

func TestTQuantile975(t *testing.T) {
	for _, tt := range []struct{ df, want float64 }{
		{1, 12.7062047364},
		{16, 2.11990529922},
		{1e6, 1.95996635},
	} {
		if got := tQuantile975(tt.df); !closeRel(got, tt.want, 1e-8) {
			t.Errorf("tQuantile975(%g) = %.12g, want %.12g", tt.df, got, tt.want)
		}
	}
}

// closeRel reports whether got is within rel of want, relatively (or
// absolutely, for want near zero).
func closeRel(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*max(math.Abs(want), 1e-300)
}

// closeAbs reports whether got is within tol of want.
func closeAbs(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol
}
