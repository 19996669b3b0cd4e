package render

import (
	"encoding/binary"
	"math"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

// sampler reads the stored values of a native frame: samples of
// bytes-per-sample little-endian bytes, shifted down so the high bit is
// bit bits-1, masked to bits and sign-extended when signed.
type sampler struct {
	data   []byte
	size   int // bytes per sample: 1, 2 or 4
	shift  uint
	mask   uint32
	bits   uint
	signed bool
}

func newSampler(p pixelModule, data []byte) sampler {
	bits := uint(p.bitsStored)
	return sampler{
		data:   data,
		size:   p.bitsAllocated / 8,
		shift:  uint(p.highBit + 1 - p.bitsStored),
		mask:   uint32(1<<bits - 1),
		bits:   bits,
		signed: p.signed,
	}
}

// unsigned returns sample i's stored bits, not sign-extended.
func (s sampler) unsigned(i int) uint32 {
	var raw uint32
	switch s.size {
	case 1:
		raw = uint32(s.data[i])
	case 2:
		j := 2 * i
		raw = uint32(s.data[j]) | uint32(s.data[j+1])<<8
	default:
		j := 4 * i
		raw = uint32(s.data[j]) | uint32(s.data[j+1])<<8 | uint32(s.data[j+2])<<16 | uint32(s.data[j+3])<<24
	}
	return raw >> s.shift & s.mask
}

// value returns sample i's stored value.
func (s sampler) value(i int) int64 { return s.extend(s.unsigned(i)) }

// extend returns the stored value whose stored bits are u.
func (s sampler) extend(u uint32) int64 {
	if s.signed && u>>(s.bits-1) != 0 {
		return int64(u) - 1<<s.bits
	}
	return int64(u)
}

// grayTransform maps stored values to 8-bit output levels: the Modality
// LUT (rescale or LUT), then the VOI transform, then MONOCHROME1's
// inversion.
type grayTransform struct {
	slope, intercept float64
	modalityLUT      *lut // replaces slope and intercept when present
	// voi maps a Modality LUT output to [0, 255]; nil means a window over
	// the frame's range, to be computed.
	voi    func(float64) float64
	invert bool
}

func (t *grayTransform) modality(v float64) float64 {
	if t.modalityLUT != nil {
		return t.modalityLUT.at(v)
	}
	return v*t.slope + t.intercept
}

// level returns the output level of Modality LUT output x.
func (t *grayTransform) level(x float64) byte {
	y := math.Round(t.voi(x))
	if y < 0 || math.IsNaN(y) {
		y = 0
	} else if y > 255 {
		y = 255
	}
	if t.invert {
		return 255 - byte(y)
	}
	return byte(y)
}

// newGrayTransform finds the transforms of PS3.3 C.11 that apply to the
// frame; see the package documentation for the order of precedence.
func newGrayTransform(ds *dicom.Dataset, p pixelModule, o Options) (*grayTransform, error) {
	t := &grayTransform{slope: 1, invert: p.photometric == "MONOCHROME1"}
	rescale := ds
	if it := frameMacro(ds, o.Frame, tagPixelValueTransformation); it != nil && it.Get(tagRescaleSlope) != nil {
		rescale = it
	}
	slope, hasSlope, err := floatAttr(rescale, tagRescaleSlope)
	if err != nil {
		return nil, err
	}
	intercept, _, err := floatAttr(rescale, tagRescaleIntercept)
	if err != nil {
		return nil, err
	}
	switch {
	case hasSlope && slope != 0 && !math.IsInf(slope, 0) && !math.IsInf(intercept, 0):
		t.slope, t.intercept = slope, intercept
	case ds.Get(tagModalityLUTSequence) != nil:
		if t.modalityLUT, err = firstLUT(ds, tagModalityLUTSequence, p.signed); err != nil {
			return nil, err
		}
	}
	if o.Window != nil {
		if !o.Window.valid() {
			return nil, trialgate.Errorf(trialgate.EInvalid, "window %v,%v,%s cannot be applied", o.Window.Center, o.Window.Width, o.Window.Function)
		}
		t.voi = o.Window.apply
		return t, nil
	}
	for _, d := range []*dicom.Dataset{frameMacro(ds, o.Frame, tagFrameVOILUTSequence), ds} {
		if d == nil {
			continue
		}
		if w, ok := storedWindow(d); ok {
			t.voi = w.apply
			return t, nil
		}
	}
	if ds.Get(tagVOILUTSequence) != nil {
		// The VOI LUT's input is the Modality LUT's output (C.11.2.1.1).
		l, err := firstLUT(ds, tagVOILUTSequence, p.signed)
		if err != nil {
			return nil, err
		}
		top := float64(int(1)<<l.bits - 1)
		t.voi = func(x float64) float64 { return l.at(x) * 255 / top }
	}
	return t, nil
}

// storedWindow returns the first window of d's Window Center and Width,
// with its VOI LUT Function, if there is one that can be applied.
func storedWindow(d *dicom.Dataset) (Window, bool) {
	c, okc, errc := floatAttr(d, tagWindowCenter)
	w, okw, errw := floatAttr(d, tagWindowWidth)
	if !okc || !okw || errc != nil || errw != nil {
		return Window{}, false
	}
	win := Window{Center: c, Width: w, Function: Linear}
	switch f := d.String(tagVOILUTFunction); f {
	case LinearExact, Sigmoid:
		win.Function = f
	}
	return win, win.valid()
}

// minMaxVOI returns the VOI transform that maps lo to 0 and hi to 255,
// linearly between them: the LINEAR_EXACT window of center (lo+hi)/2 and
// width hi-lo (dcmtk's min-max window too). A frame of one value is black.
func minMaxVOI(lo, hi float64) func(float64) float64 {
	if !(hi > lo) {
		return func(float64) float64 { return 0 }
	}
	return Window{Center: (lo + hi) / 2, Width: hi - lo, Function: LinearExact}.apply
}

// apply maps x through w to [0, 255] (PS3.3 C.11.2.1.2 and C.11.2.1.3,
// with y_min 0 and y_max 255).
func (w Window) apply(x float64) float64 {
	const top = 255
	switch w.Function {
	case LinearExact:
		switch {
		case x <= w.Center-w.Width/2:
			return 0
		case x > w.Center+w.Width/2:
			return top
		}
		return ((x-w.Center)/w.Width + 0.5) * top
	case Sigmoid:
		return top / (1 + math.Exp(-4*(x-w.Center)/w.Width))
	}
	c, wd := w.Center-0.5, w.Width-1
	switch {
	case x <= c-wd/2:
		return 0
	case x > c+wd/2:
		return top
	}
	return ((x-c)/wd + 0.5) * top
}

// renderGray renders a native MONOCHROME1 or MONOCHROME2 frame.
func renderGray(ds *dicom.Dataset, p pixelModule, frame []byte, o Options) (*plane, error) {
	t, err := newGrayTransform(ds, p, o)
	if err != nil {
		return nil, err
	}
	s := newSampler(p, frame)
	n := p.rows * p.cols
	out := make([]byte, n)
	if p.bitsStored > 16 {
		// Too many possible values for a table: transform each pixel.
		if t.voi == nil {
			lo, hi := math.Inf(1), math.Inf(-1)
			for i := range n {
				x := t.modality(float64(s.value(i)))
				lo, hi = min(lo, x), max(hi, x)
			}
			t.voi = minMaxVOI(lo, hi)
		}
		for i := range n {
			out[i] = t.level(t.modality(float64(s.value(i))))
		}
		return &plane{pix: out, w: p.cols, h: p.rows, ch: 1}, nil
	}
	// Transform each stored value present once, through a table indexed
	// by the stored bits (at most 65536 entries) filled for the frame's
	// range of values only.
	bits := storedBits(s, n)
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	if s.signed {
		up := 16 - s.bits // moves the sign bit to bit 15
		for _, u := range bits {
			v := int64(int16(u<<up) >> up)
			lo, hi = min(lo, v), max(hi, v)
		}
	} else {
		for _, u := range bits {
			lo, hi = min(lo, int64(u)), max(hi, int64(u))
		}
	}
	if t.voi == nil {
		mlo, mhi := t.modality(float64(lo)), t.modality(float64(hi))
		if t.modalityLUT != nil {
			// A LUT need not be monotonic: take the range of what the
			// frame's values map to.
			mlo, mhi = math.Inf(1), math.Inf(-1)
			for _, u := range bits {
				x := t.modality(float64(s.extend(uint32(u))))
				mlo, mhi = min(mlo, x), max(mhi, x)
			}
		}
		t.voi = minMaxVOI(min(mlo, mhi), max(mlo, mhi))
	}
	table := make([]byte, s.mask+1)
	for v := lo; v <= hi; v++ {
		table[uint32(v)&s.mask] = t.level(t.modality(float64(v)))
	}
	for i, u := range bits {
		out[i] = table[u]
	}
	return &plane{pix: out, w: p.cols, h: p.rows, ch: 1}, nil
}

// storedBits returns the stored bits of the first n samples of a frame of
// at most 16 bits stored, unpacked by a loop for each sample size: the
// sampler's general path costs several times as much per pixel.
func storedBits(s sampler, n int) []uint16 {
	out := make([]uint16, n)
	d, shift, mask := s.data, s.shift, s.mask
	switch s.size {
	case 1:
		for i := range out {
			out[i] = uint16(uint32(d[i]) >> shift & mask)
		}
	case 2:
		d = d[:2*n]
		for i := range out {
			out[i] = uint16((uint32(d[2*i]) | uint32(d[2*i+1])<<8) >> shift & mask)
		}
	default:
		d = d[:4*n]
		for i := range out {
			out[i] = uint16(binary.LittleEndian.Uint32(d[4*i:]) >> shift & mask)
		}
	}
	return out
}

// frameMacro returns the first item of the functional group sequence t
// that applies to the frame numbered frame (1-based): from the frame's
// item of the Per-Frame Functional Groups Sequence, else from the Shared
// Functional Groups Sequence; nil if neither has it.
func frameMacro(ds *dicom.Dataset, frame int, t dicom.Tag) *dicom.Dataset {
	var groups []*dicom.Dataset
	if pf := ds.Get(tagPerFrameFunctionalGroups); pf != nil && frame >= 1 && frame <= len(pf.Items) {
		groups = append(groups, pf.Items[frame-1])
	}
	if sh := ds.Get(tagSharedFunctionalGroups); sh != nil && len(sh.Items) > 0 {
		groups = append(groups, sh.Items[0])
	}
	for _, g := range groups {
		if e := g.Get(t); e != nil && len(e.Items) > 0 {
			return e.Items[0]
		}
	}
	return nil
}
