package render

import (
	"math"

	"github.com/trialgate/trialgate/dicom"
)

// lut is a lookup table of PS3.3 C.11 or C.7.6.3.1.5: entry k maps input
// first+k; inputs below first map to the first entry, inputs past the last
// to the last.
type lut struct {
	first int
	bits  int // of each entry, 1 to 16
	data  []uint16
}

// at returns the entry for input x, rounded to the nearest integer.
func (l *lut) at(x float64) float64 {
	k := math.Round(x) - float64(l.first)
	switch {
	case k <= 0 || math.IsNaN(k):
		return float64(l.data[0])
	case k >= float64(len(l.data)-1):
		return float64(l.data[len(l.data)-1])
	}
	return float64(l.data[int(k)])
}

// parseLUT reads a LUT from its descriptor and data elements. The
// descriptor's three values are the number of entries (0 meaning 65536),
// the first input mapped, signed if the descriptor is SS or signed is set
// (Pixel Representation 1: implicit VR files cannot say), and the bits
// per entry. Entries of up to 8 bits may be packed one per byte (as
// palettes with 8-bit entries are, C.7.6.3.1.6) or held one per 16-bit
// word (as most other LUTs are): the data's length tells which.
func parseLUT(desc, data *dicom.Element, signed bool) (*lut, error) {
	if desc == nil || data == nil {
		return nil, errMalformed("LUT without its descriptor or data")
	}
	d := desc.Value
	if len(d) < 6 {
		return nil, errMalformed("LUT descriptor %s of %d bytes (want three 16-bit values)", desc.Tag, len(d))
	}
	n := int(uint16(d[0]) | uint16(d[1])<<8)
	if n == 0 {
		n = 1 << 16
	}
	first := int(uint16(d[2]) | uint16(d[3])<<8)
	if signed || desc.VR == "SS" {
		first = int(int16(first))
	}
	bits := int(uint16(d[4]) | uint16(d[5])<<8)
	if bits < 1 || bits > 16 {
		return nil, errMalformed("LUT descriptor %s: %d bits per entry (want 1 to 16)", desc.Tag, bits)
	}
	v := data.Value
	l := &lut{first: first, bits: bits, data: make([]uint16, n)}
	switch {
	case len(v) >= 2*n:
		for k := range l.data {
			l.data[k] = uint16(v[2*k]) | uint16(v[2*k+1])<<8
		}
	case bits <= 8 && len(v) >= n:
		for k := range l.data {
			l.data[k] = uint16(v[k])
		}
	default:
		return nil, errMalformed("LUT data %s of %d bytes for %d entries of %d bits", data.Tag, len(v), n, bits)
	}
	return l, nil
}

// firstLUT returns the LUT of the first item of the sequence t of ds
// (Modality LUT Sequence, VOI LUT Sequence).
func firstLUT(ds *dicom.Dataset, t dicom.Tag, signed bool) (*lut, error) {
	e := ds.Get(t)
	if e == nil || len(e.Items) == 0 {
		return nil, errMalformed("%s has no item", t)
	}
	it := e.Items[0]
	return parseLUT(it.Get(tagLUTDescriptor), it.Get(tagLUTData), signed)
}

// renderPalette renders a native PALETTE COLOR frame (C.7.6.3.1.5).
func renderPalette(ds *dicom.Dataset, p pixelModule, frame []byte) (*plane, error) {
	var luts [3]*lut
	for c := range luts {
		off := dicom.Tag(c)
		if ds.Get(tagSegmentedRedPaletteData+off) != nil && ds.Get(tagRedPaletteData+off) == nil {
			return nil, errUnsupported("segmented palette color lookup tables")
		}
		l, err := parseLUT(ds.Get(tagRedPaletteDescriptor+off), ds.Get(tagRedPaletteData+off), p.signed)
		if err != nil {
			return nil, err
		}
		if l.bits != 8 && l.bits != 16 {
			return nil, errMalformed("palette entries of %d bits (want 8 or 16)", l.bits)
		}
		luts[c] = l
	}
	// Map each stored value once: palette indices are at most 16 bits.
	var tables [3][]byte
	s := newSampler(p, frame)
	n := p.rows * p.cols
	bits := storedBits(s, n)
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, u := range bits {
		v := s.extend(uint32(u))
		lo, hi = min(lo, v), max(hi, v)
	}
	for c, l := range luts {
		tables[c] = make([]byte, hi-lo+1)
		for k := range tables[c] {
			e := l.at(float64(lo + int64(k)))
			if l.bits == 16 {
				e = math.Floor(e / 256)
			}
			tables[c][k] = byte(min(e, 255))
		}
	}
	out := make([]byte, 4*n)
	for i, u := range bits {
		k := s.extend(uint32(u)) - lo
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = tables[0][k], tables[1][k], tables[2][k], 255
	}
	return &plane{pix: out, w: p.cols, h: p.rows, ch: 4}, nil
}
