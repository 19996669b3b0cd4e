// Package agreement computes reader-variability statistics over double
// reads: Cohen's kappa (unweighted, linearly and quadratically weighted) for
// categorical fields, the intraclass correlations ICC(2,1) and ICC(3,1) for
// numeric fields, and Bland-Altman limits of agreement, each with its 95%
// confidence interval.
//
// Every function is pure: it takes the paired readings of one form field,
// case by case (a[i] and b[i] are the two readers' values for case i), and
// returns a value or an error. It holds no state and does no I/O, so the
// reads service can call it per field inside a report without locking.
//
// Errors are *trialgate.Error values with code EInvalid whose messages name
// the problem but never a reading (readings may be clinical data). Data for
// which a statistic is mathematically undefined (every reading identical, so
// that the statistic is 0/0) give an error that also matches ErrUndefined
// under errors.Is, so a report can show "not estimable" for that field and
// go on with the others.
//
// Intervals are unclipped normal-theory or F-based intervals, as the cited
// papers define them; with few cases they can reach outside the range of the
// statistic itself.
package agreement

import (
	"errors"
	"math"

	"github.com/trialgate/trialgate"
)

// ErrUndefined is matched (through errors.Is) by the error a function
// returns when the statistic is 0/0 for the data given, for example kappa
// when both readers gave every case the same single category.
var ErrUndefined = errors.New("agreement: statistic undefined for these data")

// Weighting selects the agreement weights of a kappa: how much credit a
// disagreement between ordered categories i and j still earns.
type Weighting int

const (
	// Unweighted gives credit only for identical categories (Cohen 1960).
	Unweighted Weighting = iota
	// Linear weights are 1 - |i-j|/(k-1) (Cicchetti & Allison 1971).
	Linear
	// Quadratic weights are 1 - (i-j)²/(k-1)² (Fleiss & Cohen 1973); the
	// quadratically weighted kappa approximates the ICC of the category
	// ranks.
	Quadratic
)

// String returns the weighting's name as the API reports it.
func (w Weighting) String() string {
	switch w {
	case Unweighted:
		return "unweighted"
	case Linear:
		return "linear"
	case Quadratic:
		return "quadratic"
	}
	return "unknown"
}

// MarshalText encodes w by its name, so JSON reports say "linear", not 1.
func (w Weighting) MarshalText() ([]byte, error) {
	if w != Unweighted && w != Linear && w != Quadratic {
		return nil, trialgate.Errorf(trialgate.EInvalid, "kappa: unknown weighting %d", int(w))
	}
	return []byte(w.String()), nil
}

// UnmarshalText decodes a weighting name, as in a ?weights= query.
func (w *Weighting) UnmarshalText(text []byte) error {
	for _, c := range []Weighting{Unweighted, Linear, Quadratic} {
		if string(text) == c.String() {
			*w = c
			return nil
		}
	}
	return trialgate.Errorf(trialgate.EInvalid, "kappa: unknown weighting %q; want unweighted, linear or quadratic", text)
}

// Kappa is Cohen's kappa for two raters on one categorical field.
type Kappa struct {
	N        int       // cases rated by both raters
	Weights  Weighting // the agreement weights used
	Observed float64   // observed (weighted) proportion of agreement, p_o
	Expected float64   // (weighted) agreement expected from the margins, p_e
	Kappa    float64   // (p_o - p_e) / (1 - p_e)
	// SE is the large-sample standard error of kappa when kappa is not
	// assumed to be zero (Fleiss, Cohen & Everitt 1969, Psychological
	// Bulletin 72:323-327; the formula SAS PROC FREQ reports as ASE).
	SE float64
	// Low and High bound the 95% interval Kappa ± 1.96 SE.
	Low, High float64
}

// CohenKappa returns Cohen's kappa for the paired ratings a and b (a[i] and
// b[i] rate the same case). categories lists every allowed value once, in
// their order; the order matters only for the Linear and Quadratic weights.
//
// It fails with EInvalid when a and b differ in length, there are fewer
// than 2 cases, categories is empty or repeats a value, a rating is not a
// listed category, or a weighted kappa is asked for with fewer than 2
// categories. A category only one rater used is fine: it just counts in that
// rater's margin. When the expected agreement is 1 (both raters put every
// case in the same one category) kappa is 0/0 and the error matches
// ErrUndefined; the Kappa returned with it still carries N, Observed and
// Expected.
func CohenKappa(a, b []string, categories []string, w Weighting) (Kappa, error) {
	if len(a) != len(b) {
		return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: the raters have %d and %d ratings; they must rate the same cases", len(a), len(b))
	}
	index := make(map[string]int, len(categories))
	for i, c := range categories {
		if _, dup := index[c]; dup {
			return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: category %d repeats an earlier category", i)
		}
		index[c] = i
	}
	k := len(categories)
	table := make([][]float64, k)
	for i := range table {
		table[i] = make([]float64, k)
	}
	for i := range a {
		r, ok := index[a[i]]
		if !ok {
			return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: case %d: the first rater's value is not one of the categories", i)
		}
		c, ok := index[b[i]]
		if !ok {
			return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: case %d: the second rater's value is not one of the categories", i)
		}
		table[r][c]++
	}
	return CohenKappaTable(table, w)
}

// CohenKappaTable returns Cohen's kappa from a k×k contingency table:
// table[i][j] counts the cases the first rater put in category i and the
// second in category j, categories in their order. Counts may be fractional
// (weighted cases) but must be finite and non-negative. The errors are those
// of CohenKappa, plus EInvalid for a table that is not square.
func CohenKappaTable(table [][]float64, w Weighting) (Kappa, error) {
	k := len(table)
	if k == 0 {
		return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: no categories")
	}
	if w != Unweighted && w != Linear && w != Quadratic {
		return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: unknown weighting %d", int(w))
	}
	if w != Unweighted && k < 2 {
		return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: %s weights need at least 2 ordered categories", w)
	}
	var n float64
	for i, row := range table {
		if len(row) != k {
			return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: row %d of the table has %d cells, want %d", i, len(row), k)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: cell (%d,%d) is not a finite non-negative count", i, j)
			}
			n += v
		}
	}
	if n < 2 {
		return Kappa{}, trialgate.Errorf(trialgate.EInvalid, "kappa: %g cases; at least 2 are needed", n)
	}

	weight := func(i, j int) float64 {
		switch w {
		case Linear:
			return 1 - math.Abs(float64(i-j))/float64(k-1)
		case Quadratic:
			d := float64(i-j) / float64(k-1)
			return 1 - d*d
		}
		if i == j {
			return 1
		}
		return 0
	}

	// Proportions and margins: rows[i] = p_i., cols[j] = p_.j.
	p := make([][]float64, k)
	rows := make([]float64, k)
	cols := make([]float64, k)
	for i := range table {
		p[i] = make([]float64, k)
		for j := range table[i] {
			p[i][j] = table[i][j] / n
			rows[i] += p[i][j]
			cols[j] += p[i][j]
		}
	}
	var po, pe float64
	for i := range k {
		for j := range k {
			po += weight(i, j) * p[i][j]
			pe += weight(i, j) * rows[i] * cols[j]
		}
	}
	res := Kappa{N: int(math.Round(n)), Weights: w, Observed: po, Expected: pe}
	if 1-pe <= 1e-12 {
		return res, trialgate.Wrap(ErrUndefined, trialgate.EInvalid, "kappa: undefined, both raters used one and the same category for every case")
	}
	kappa := (po - pe) / (1 - pe)

	// Fleiss, Cohen & Everitt (1969): with wr[i] = Σ_j p_.j w_ij and
	// wc[j] = Σ_i p_i. w_ij, the large-sample variance of weighted kappa is
	//   [Σ_ij p_ij (w_ij - (wr[i] + wc[j])(1-κ))² - (κ - p_e(1-κ))²] / (n (1-p_e)²).
	// With identity weights it reduces to their unweighted formula.
	wr := make([]float64, k)
	wc := make([]float64, k)
	for i := range k {
		for j := range k {
			wr[i] += cols[j] * weight(i, j)
			wc[j] += rows[i] * weight(i, j)
		}
	}
	var sum float64
	for i := range k {
		for j := range k {
			d := weight(i, j) - (wr[i]+wc[j])*(1-kappa)
			sum += p[i][j] * d * d
		}
	}
	t := kappa - pe*(1-kappa)
	// The numerator is a difference of terms of order 1, so anything below
	// 1e-12 is cancellation noise (it can even come out negative when the
	// true variance is 0, as with perfect agreement); the square root would
	// magnify it to 1e-6.
	num := sum - t*t
	if num < 1e-12 {
		num = 0
	}
	variance := num / (n * (1 - pe) * (1 - pe))
	se := math.Sqrt(variance)

	res.Kappa = kappa
	res.SE = se
	res.Low = kappa - z975*se
	res.High = kappa + z975*se
	return res, nil
}
