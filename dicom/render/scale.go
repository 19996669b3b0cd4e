package render

import (
	"math"

	"github.com/trialgate/trialgate"
)

// region is the part of a frame a Viewport selects.
type region struct {
	x, y, w, h   int
	flipX, flipY bool
}

// region returns the region of a cols x rows frame that v selects, or an
// EInvalid error if it reaches outside the frame.
func (v Viewport) region(cols, rows int) (region, error) {
	r := region{x: v.SX, y: v.SY, w: abs(v.SW), h: abs(v.SH), flipX: v.SW < 0, flipY: v.SH < 0}
	if r.w == 0 {
		r.w = cols - r.x
	}
	if r.h == 0 {
		r.h = rows - r.y
	}
	if r.x < 0 || r.y < 0 || r.w <= 0 || r.h <= 0 || r.x+r.w > cols || r.y+r.h > rows {
		return region{}, trialgate.Errorf(trialgate.EInvalid,
			"viewport: source region %d,%d,%d,%d is not within the %dx%d frame", v.SX, v.SY, v.SW, v.SH, cols, rows)
	}
	return r, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// fit returns the size of a w x h image scaled, aspect kept, to the
// largest size within vw x vh (a zero bound is no bound), at least 1x1.
func fit(w, h, vw, vh int) (int, int) {
	if vw <= 0 && vh <= 0 {
		return w, h
	}
	s := math.Inf(1)
	if vw > 0 {
		s = float64(vw) / float64(w)
	}
	if vh > 0 {
		s = min(s, float64(vh)/float64(h))
	}
	dw := max(1, int(math.Round(float64(w)*s)))
	dh := max(1, int(math.Round(float64(h)*s)))
	if vw > 0 {
		dw = min(dw, vw)
	}
	if vh > 0 {
		dh = min(dh, vh)
	}
	return dw, dh
}

// taps are the weights of a one-dimensional resampling: output o is the
// sum of weight[k] * input[index[k]] for k in start[o]:start[o+1].
type taps struct {
	start  []int
	index  []int
	weight []float32
}

// newTaps resamples the n inputs first..first+n-1 (reversed if flip) to d
// outputs. Shrinking averages the inputs each output covers, weighted by
// how much of each it covers (area averaging: no aliasing, and a uniform
// area stays uniform); enlarging interpolates linearly between the two
// nearest inputs, pixel centres aligned.
func newTaps(first, n, d int, flip bool) taps {
	src := func(i int) int {
		if flip {
			return first + n - 1 - i
		}
		return first + i
	}
	t := taps{start: make([]int, 0, d+1)}
	add := func(i int, w float64) {
		t.index = append(t.index, src(i))
		t.weight = append(t.weight, float32(w))
	}
	scale := float64(n) / float64(d)
	for o := range d {
		t.start = append(t.start, len(t.index))
		if d < n {
			lo, hi := float64(o)*scale, float64(o+1)*scale
			for i := int(lo); i < n && float64(i) < hi; i++ {
				if w := min(hi, float64(i+1)) - max(lo, float64(i)); w > 1e-9 {
					add(i, w/scale)
				}
			}
			continue
		}
		c := (float64(o)+0.5)*scale - 0.5
		i := int(math.Floor(c))
		f := c - float64(i)
		switch {
		case i < 0:
			i, f = 0, 0
		case i >= n-1:
			i, f = n-1, 0
		}
		add(i, 1-f)
		if f > 0 {
			add(i+1, f)
		}
	}
	t.start = append(t.start, len(t.index))
	return t
}

// resample returns region r of pl, flipped as r says, scaled to dw x dh:
// pl itself when that changes nothing, an exact copy of the region's
// pixels when only cropping or flipping, else the separable resampling of
// newTaps, rows first.
//
// The vertical pass streams: it keeps only the horizontally resampled
// rows the current output row draws on, in a ring as deep as the most
// rows any output row draws on (about the scale factor), so memory beyond
// the output is a few rows, not the region. Flipping vertically writes
// the output rows bottom up (resampling commutes with mirroring), so
// that the rows each output row draws on only ever move down.
func (pl *plane) resample(r region, dw, dh int) *plane {
	ch := pl.ch
	if r.x == 0 && r.y == 0 && r.w == pl.w && r.h == pl.h && !r.flipX && !r.flipY && dw == pl.w && dh == pl.h {
		return pl
	}
	out := &plane{pix: make([]byte, dw*dh*ch), w: dw, h: dh, ch: ch}
	outRow := func(o int) []byte {
		if r.flipY {
			o = dh - 1 - o
		}
		return out.pix[o*dw*ch : (o+1)*dw*ch]
	}
	if dw == r.w && dh == r.h {
		for y := range dh {
			row := pl.pix[(r.y+y)*pl.w*ch:]
			dst := outRow(y)
			if !r.flipX {
				copy(dst, row[r.x*ch:(r.x+dw)*ch])
				continue
			}
			for x := range dw {
				sx := r.x + r.w - 1 - x
				copy(dst[x*ch:(x+1)*ch], row[sx*ch:(sx+1)*ch])
			}
		}
		return out
	}
	xt := newTaps(r.x, r.w, dw, r.flipX)
	yt := newTaps(r.y, r.h, dh, false)
	depth := 1
	for o := range dh {
		first, last := yt.index[yt.start[o]], yt.index[yt.start[o+1]-1]
		depth = max(depth, last-first+1)
	}
	ring := make([]float32, depth*dw*ch)
	next := r.y // the next source row to resample horizontally
	acc := make([]float32, dw*ch)
	for o := range dh {
		for last := yt.index[yt.start[o+1]-1]; next <= last; next++ {
			dst := ring[(next%depth)*dw*ch:][:dw*ch]
			clear(dst)
			row := pl.pix[next*pl.w*ch:]
			for x := range dw {
				for k := xt.start[x]; k < xt.start[x+1]; k++ {
					w, s := xt.weight[k], xt.index[k]*ch
					for c := range ch {
						dst[x*ch+c] += w * float32(row[s+c])
					}
				}
			}
		}
		clear(acc)
		for k := yt.start[o]; k < yt.start[o+1]; k++ {
			w, src := yt.weight[k], ring[(yt.index[k]%depth)*dw*ch:][:dw*ch]
			for i := range acc {
				acc[i] += w * src[i]
			}
		}
		dst := outRow(o)
		for i, v := range acc {
			dst[i] = byte(min(255, max(0, v+0.5)))
		}
	}
	return out
}
