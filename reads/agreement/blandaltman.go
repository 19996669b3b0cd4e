package agreement

import (
	"math"

	"github.com/trialgate/trialgate"
)

// BlandAltman is the Bland-Altman analysis of paired numeric readings: the
// differences d = a - b (first reader minus second), their mean (the bias),
// their standard deviation, and the 95% limits of agreement, each with a 95%
// confidence interval.
type BlandAltman struct {
	N    int
	Bias float64 // mean difference
	SD   float64 // sample standard deviation of the differences (n-1 divisor)
	// Lower and Upper are the limits of agreement, Bias ∓ 1.96 SD.
	Lower, Upper float64
	// BiasLow..UpperHigh bound the 95% confidence intervals of the bias and
	// of each limit (Bland & Altman 1999): the estimate ± t·SE, with t the
	// 0.975 point of Student's t on n-1 degrees of freedom, SE(bias) =
	// SD/√n and SE(limit) = SD·√(1/n + 1.96²/(2(n-1))).
	BiasLow, BiasHigh   float64
	LowerLow, LowerHigh float64
	UpperLow, UpperHigh float64
}

// BlandAltmanLimits returns the Bland-Altman analysis of the paired readings
// a and b (a[i] and b[i] measure the same case), after Bland & Altman (1986,
// Lancet 327:307-310; 1999, Statistical Methods in Medical Research
// 8:135-160).
//
// It fails with EInvalid when a and b differ in length, there are fewer than
// 2 pairs (the SD needs two), or a reading is NaN or infinite. Differences
// that do not vary are fine: SD is 0 and every limit and bound equals the
// bias.
func BlandAltmanLimits(a, b []float64) (BlandAltman, error) {
	return blandAltman(a, b, z975, exactLimitSE)
}

// exactLimitSE is the standard error of a limit of agreement,
// Var(d̄ ± z s) ≈ s²/n + z² s²/(2(n-1)).
func exactLimitSE(n int, sd, z float64) float64 {
	fn := float64(n)
	return sd * math.Sqrt(1/fn+z*z/(2*(fn-1)))
}

// blandAltman is BlandAltmanLimits with the limit multiplier z and the
// standard error of a limit as parameters, so that the tests can reproduce
// the 1986 paper's arithmetic (z = 2, SE ≈ √(3s²/n)) as published.
func blandAltman(a, b []float64, z float64, limitSE func(n int, sd, z float64) float64) (BlandAltman, error) {
	if len(a) != len(b) {
		return BlandAltman{}, trialgate.Errorf(trialgate.EInvalid, "bland-altman: the readers have %d and %d readings; they must read the same cases", len(a), len(b))
	}
	n := len(a)
	if n < 2 {
		return BlandAltman{}, trialgate.Errorf(trialgate.EInvalid, "bland-altman: %d pairs; at least 2 are needed", n)
	}
	d := make([]float64, n)
	var sum float64
	for i := range a {
		if math.IsNaN(a[i]) || math.IsInf(a[i], 0) || math.IsNaN(b[i]) || math.IsInf(b[i], 0) {
			return BlandAltman{}, trialgate.Errorf(trialgate.EInvalid, "bland-altman: case %d: a reading is not a finite number", i)
		}
		d[i] = a[i] - b[i]
		if math.IsInf(d[i], 0) {
			return BlandAltman{}, trialgate.Errorf(trialgate.EInvalid, "bland-altman: case %d: the difference overflows", i)
		}
		sum += d[i]
	}
	fn := float64(n)
	bias := sum / fn
	// The second pass over deviations keeps the variance exact for large,
	// nearly equal differences.
	var ss float64
	for _, v := range d {
		ss += (v - bias) * (v - bias)
	}
	sd := math.Sqrt(ss / (fn - 1))

	t := tQuantile975(fn - 1)
	seBias := sd / math.Sqrt(fn)
	seLimit := limitSE(n, sd, z)
	lower, upper := bias-z*sd, bias+z*sd
	return BlandAltman{
		N:         n,
		Bias:      bias,
		SD:        sd,
		Lower:     lower,
		Upper:     upper,
		BiasLow:   bias - t*seBias,
		BiasHigh:  bias + t*seBias,
		LowerLow:  lower - t*seLimit,
		LowerHigh: lower + t*seLimit,
		UpperLow:  upper - t*seLimit,
		UpperHigh: upper + t*seLimit,
	}, nil
}
