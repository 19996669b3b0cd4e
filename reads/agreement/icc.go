package agreement

import (
	"math"

	"github.com/trialgate/trialgate"
)

// ICC is a single-rater intraclass correlation with its 95% confidence
// interval, from the two-way analysis of variance of n cases × k raters.
type ICC struct {
	N      int     // cases
	Raters int     // raters, k
	Value  float64 // the ICC
	// Low and High bound the 95% interval (McGraw & Wong 1996, Table 7).
	Low, High float64
	// F = MSR/MSE tests the hypothesis ICC = 0 on DF1 = n-1 and
	// DF2 = (n-1)(k-1) degrees of freedom. It is +Inf when the error mean
	// square is 0 (the raters differ by at most a constant per rater).
	F        float64
	DF1, DF2 float64
	// MSR, MSC and MSE are the mean squares of cases (rows), raters
	// (columns) and error, for callers that report the ANOVA.
	MSR, MSC, MSE float64
}

// anova holds the two-way ANOVA of an n × k table without replication.
type anova struct {
	n, k          int
	msr, msc, mse float64
}

// twoWay checks the ratings and computes the mean squares. raters[j][i] is
// rater j's rating of case i.
func twoWay(raters [][]float64) (anova, error) {
	k := len(raters)
	if k < 2 {
		return anova{}, trialgate.Errorf(trialgate.EInvalid, "icc: %d raters; at least 2 are needed", k)
	}
	n := len(raters[0])
	for j, r := range raters {
		if len(r) != n {
			return anova{}, trialgate.Errorf(trialgate.EInvalid, "icc: rater %d has %d ratings, rater 0 has %d; they must rate the same cases", j, len(r), n)
		}
		for i, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return anova{}, trialgate.Errorf(trialgate.EInvalid, "icc: case %d: rater %d's rating is not a finite number", i, j)
			}
		}
	}
	if n < 2 {
		return anova{}, trialgate.Errorf(trialgate.EInvalid, "icc: %d cases; at least 2 are needed", n)
	}
	var grand float64
	rowMean := make([]float64, n)
	colMean := make([]float64, k)
	for j, r := range raters {
		for i, v := range r {
			rowMean[i] += v
			colMean[j] += v
			grand += v
		}
	}
	fn, fk := float64(n), float64(k)
	grand /= fn * fk
	for i := range rowMean {
		rowMean[i] /= fk
	}
	for j := range colMean {
		colMean[j] /= fn
	}
	// Sums of squares from deviations rather than from raw sums of squares,
	// which lose every digit when readings are large and close together.
	var ssr, ssc, sse float64
	for _, m := range rowMean {
		ssr += (m - grand) * (m - grand)
	}
	ssr *= fk
	for _, m := range colMean {
		ssc += (m - grand) * (m - grand)
	}
	ssc *= fn
	for j, r := range raters {
		for i, v := range r {
			e := v - rowMean[i] - colMean[j] + grand
			sse += e * e
		}
	}
	return anova{
		n:   n,
		k:   k,
		msr: ssr / (fn - 1),
		msc: ssc / (fk - 1),
		mse: sse / ((fn - 1) * (fk - 1)),
	}, nil
}

// negligible reports whether a mean square is rounding noise next to the
// scale of the data, so that identical readings give exactly zero variance
// rather than 1e-30 and a meaningless ratio.
func negligible(ms, scale float64) bool {
	return ms <= 1e-12*scale
}

// result fills the fields every ICC shares.
func (a anova) result(value, low, high float64) ICC {
	f := math.Inf(1)
	if a.mse > 0 {
		f = a.msr / a.mse
	}
	return ICC{
		N: a.n, Raters: a.k, Value: value, Low: low, High: high,
		F: f, DF1: float64(a.n - 1), DF2: float64((a.n - 1) * (a.k - 1)),
		MSR: a.msr, MSC: a.msc, MSE: a.mse,
	}
}

// scale is the largest mean square, the yardstick of negligible.
func (a anova) scale() float64 { return max(a.msr, a.msc, a.mse) }

// clean zeroes the mean squares that are rounding noise.
func (a anova) clean() anova {
	s := a.scale()
	if negligible(a.mse, s) {
		a.mse = 0
	}
	if negligible(a.msc, s) {
		a.msc = 0
	}
	if negligible(a.msr, s) {
		a.msr = 0
	}
	return a
}

// ICC2_1 returns ICC(2,1) of Shrout & Fleiss (1979), ICC(A,1) of McGraw &
// Wong (1996): two-way random effects, absolute agreement, single rater.
// Each argument is one rater's ratings of the same cases in the same order;
// call it as ICC2_1(a, b) for a double read, or with more raters.
//
//	ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)
//
// The 95% interval is McGraw & Wong's (Table 7, ICC(A,1)), whose F
// quantiles take the Satterthwaite degrees of freedom
//
//	v = (a MSC + b MSE)² / ((a MSC)²/(k-1) + (b MSE)²/((n-1)(k-1)))
//	a = k ρ / (n (1-ρ)),  b = 1 + k ρ (n-1) / (n (1-ρ))
//
// with ρ the point estimate.
//
// It fails with EInvalid for fewer than 2 raters or 2 cases, ragged ratings
// or a NaN or infinite rating. When every rating is the same the ICC is 0/0
// and the error matches ErrUndefined (as it does for the one other 0/0: two
// cases that two raters read in exactly opposite order). When the raters
// agree exactly (no error and no rater variance) the ICC and both bounds are
// 1; when cases do not differ but raters do by a constant, all three are 0.
// Mean squares below 1e-12 of the largest are taken as exact zeros, so that
// rounding noise in identical readings does not pose as variance.
func ICC2_1(raters ...[]float64) (ICC, error) {
	a, err := twoWay(raters)
	if err != nil {
		return ICC{}, err
	}
	a = a.clean()
	if a.msr == 0 && a.msc == 0 && a.mse == 0 {
		return ICC{}, trialgate.Wrap(ErrUndefined, trialgate.EInvalid, "icc: undefined, every rating is the same")
	}
	n, k := float64(a.n), float64(a.k)
	if a.mse == 0 && a.msc == 0 {
		return a.result(1, 1, 1), nil
	}
	if a.msr == 0 && a.mse == 0 {
		// Cases do not differ and raters differ by a constant: no
		// agreement at all on a scale with no true-score variance. The
		// interval formula divides 0 by 0 here; the ICC is 0 and so is
		// everything it could be.
		return a.result(0, 0, 0), nil
	}
	denom := a.msr + (k-1)*a.mse + k*(a.msc-a.mse)/n
	if denom <= 0 {
		// Only for 2 cases × 2 raters whose readings are exact mirror
		// images (MSR = MSC = 0): the estimate is -∞.
		return ICC{}, trialgate.Wrap(ErrUndefined, trialgate.EInvalid, "icc: undefined, two cases read in exactly opposite order by two raters")
	}
	rho := (a.msr - a.mse) / denom
	ca := k * rho / (n * (1 - rho))
	cb := 1 + k*rho*(n-1)/(n*(1-rho))
	am, bm := ca*a.msc, cb*a.mse
	v := (am + bm) * (am + bm) / (am*am/(k-1) + bm*bm/((n-1)*(k-1)))
	fl, fu := math.Inf(1), math.Inf(1)
	if v > 0 {
		fl = fQuantile(0.975, n-1, v)
		fu = fQuantile(0.975, v, n-1)
	}
	// When a negative estimate drives v towards 0 the F quantiles overflow;
	// the bounds then take their limits as F → ∞ (mid > 0 there, because
	// v → 0 needs MSC > 0).
	mid := k*a.msc + (k*n-k-n)*a.mse
	var low, high float64
	if math.IsInf(fl, 1) {
		low = -n * a.mse / mid
	} else {
		low = n * (a.msr - fl*a.mse) / (fl*mid + n*a.msr)
	}
	switch {
	case !math.IsInf(fu, 1):
		high = n * (fu*a.msr - a.mse) / (mid + n*fu*a.msr)
	case a.msr > 0:
		high = 1
	default:
		high = -n * a.mse / mid
	}
	if math.IsNaN(low) || math.IsNaN(high) {
		return ICC{}, trialgate.Wrap(ErrUndefined, trialgate.EInvalid, "icc: the confidence interval is undefined for these data")
	}
	return a.result(rho, low, high), nil
}

// ICC3_1 returns ICC(3,1) of Shrout & Fleiss (1979), ICC(C,1) of McGraw &
// Wong (1996): two-way mixed effects, consistency, single rater. Raters'
// constant offsets do not count against agreement.
//
//	ICC(3,1) = (MSR - MSE) / (MSR + (k-1) MSE)
//
// The 95% interval is McGraw & Wong's (Table 7, ICC(C,1)): with F0 =
// MSR/MSE, FL = F0 / F(0.975; n-1, (n-1)(k-1)) and FU = F0 · F(0.975;
// (n-1)(k-1), n-1), the bounds are (FL-1)/(FL+k-1) and (FU-1)/(FU+k-1).
//
// The errors are those of ICC2_1. When there is no error variance (raters
// differ by at most a constant each) and cases differ, the ICC and both
// bounds are 1; when neither cases nor error vary, it is 0/0 and the error
// matches ErrUndefined.
func ICC3_1(raters ...[]float64) (ICC, error) {
	a, err := twoWay(raters)
	if err != nil {
		return ICC{}, err
	}
	a = a.clean()
	if a.msr == 0 && a.mse == 0 {
		return ICC{}, trialgate.Wrap(ErrUndefined, trialgate.EInvalid, "icc: undefined, the cases do not differ and neither do the raters' differences")
	}
	k := float64(a.k)
	if a.mse == 0 {
		return a.result(1, 1, 1), nil
	}
	rho := (a.msr - a.mse) / (a.msr + (k-1)*a.mse)
	f0 := a.msr / a.mse
	df1, df2 := float64(a.n-1), float64((a.n-1)*(a.k-1))
	fl := f0 / fQuantile(0.975, df1, df2)
	fu := f0 * fQuantile(0.975, df2, df1)
	return a.result(rho, (fl-1)/(fl+k-1), (fu-1)/(fu+k-1)), nil
}
