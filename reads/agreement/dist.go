package agreement

import "math"

// z975 is the 0.975 quantile of the standard normal distribution, the
// multiplier of every normal-theory 95% interval in this package.
const z975 = 1.959963984540054

// betaInc returns the regularized incomplete beta function I_x(a, b), the
// distribution function at x of a Beta(a, b) variable, for a, b > 0 and
// 0 <= x <= 1.
//
// It evaluates the continued fraction
//
//	I_x(a, b) = x^a (1-x)^b / (a B(a, b)) · 1/(1+ d1/(1+ d2/(1+ ...)))
//	d(2m+1) = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1))
//	d(2m)   =  m(b-m) x / ((a+2m-1)(a+2m))
//
// (Abramowitz & Stegun 26.5.8; Numerical Recipes §6.4), which converges fast
// for x < (a+1)/(a+b+2); above that point it uses I_x(a, b) = 1 - I_{1-x}(b, a)
// so the fraction is always evaluated on its fast side.
func betaInc(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	if x > (a+1)/(a+b+2) {
		return 1 - betaInc(1-x, b, a)
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	// The prefactor in logs: x^a (1-x)^b / (a B(a,b)) over- or underflows
	// for large a and b long before the result does.
	front := math.Exp(a*math.Log(x) + b*math.Log1p(-x) + lab - la - lb - math.Log(a))
	return front * betaFraction(x, a, b)
}

// betaFraction evaluates the continued fraction 1/(1+ d1/(1+ d2/(1+ ...))) of
// betaInc by the modified Lentz method: the convergent is carried as a product
// of ratios C/D, and a tiny value stands in for a zero denominator so that
// no step divides by zero.
func betaFraction(x, a, b float64) float64 {
	const (
		tiny    = 1e-300
		epsilon = 1e-15
		maxIter = 500
	)
	clamp := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	// The leading term is 1/(1 + d1), d1 being the first odd coefficient.
	c := 1.0
	d := 1 / clamp(1-(a+b)*x/(a+1))
	f := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		// Even step, d(2m).
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		f *= c * d
		// Odd step, d(2m+1).
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		delta := c * d
		f *= delta
		if math.Abs(delta-1) < epsilon {
			break
		}
	}
	return f
}

// betaQuantile returns the x in [0, 1] with I_x(a, b) = p. I_x is monotone
// in x, so bisection always converges; 200 halvings of [0, 1] reach the
// resolution of a float64 long before they run out, and the loop stops as
// soon as the bracket cannot shrink further.
func betaQuantile(p, a, b float64) float64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	lo, hi := 0.0, 1.0
	for range 200 {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if betaInc(mid, a, b) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2
}

// fQuantile returns the p quantile of the F distribution with d1 and d2
// degrees of freedom (which need not be integers: the Satterthwaite degrees
// of freedom of ICC(2,1) are not). If X ~ F(d1, d2) then
// Y = d1 X / (d1 X + d2) ~ Beta(d1/2, d2/2), so the quantile is found on
// the beta scale and mapped back by X = d2 Y / (d1 (1 - Y)).
func fQuantile(p, d1, d2 float64) float64 {
	y := betaQuantile(p, d1/2, d2/2)
	if y >= 1 {
		return math.Inf(1)
	}
	return d2 * y / (d1 * (1 - y))
}

// tQuantile975 returns the 0.975 quantile of Student's t distribution with
// df degrees of freedom: T² ~ F(1, df), and the two-sided 95% point of T is
// the square root of the 0.95 point of F(1, df).
func tQuantile975(df float64) float64 {
	return math.Sqrt(fQuantile(0.95, 1, df))
}
