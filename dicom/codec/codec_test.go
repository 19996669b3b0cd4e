package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/codec"
)

const (
	jpegLossless    = "1.2.840.10008.1.2.4.57"
	jpegLosslessSV1 = "1.2.840.10008.1.2.4.70"
)

// header describes the Image Pixel module of a test object.
type header struct {
	rows, cols, spp, ba, bs, pr, planar int
	photometric                         string
}

func (h header) dataset() *dicom.Dataset {
	if h.spp == 0 {
		h.spp = 1
	}
	if h.bs == 0 {
		h.bs = h.ba
	}
	if h.photometric == "" {
		h.photometric = map[int]string{1: "MONOCHROME2", 3: "RGB"}[h.spp]
	}
	ds := &dicom.Dataset{}
	ds.Set(us(dicom.SamplesPerPixel, h.spp))
	ds.SetString(dicom.NewTag(0x0028, 0x0004), "CS", h.photometric)
	if h.spp > 1 {
		ds.Set(us(dicom.NewTag(0x0028, 0x0006), h.planar))
	}
	ds.Set(us(dicom.Rows, h.rows))
	ds.Set(us(dicom.Columns, h.cols))
	ds.Set(us(dicom.BitsAllocated, h.ba))
	ds.Set(us(dicom.NewTag(0x0028, 0x0101), h.bs))
	ds.Set(us(dicom.NewTag(0x0028, 0x0102), h.bs-1))
	ds.Set(us(dicom.PixelRepresentation, h.pr))
	return ds
}

func us(t dicom.Tag, vs ...int) *dicom.Element {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return &dicom.Element{Tag: t, VR: "US", Value: b}
}

func syntax(t testing.TB, uid string) dicom.Syntax {
	t.Helper()
	s, err := dicom.LookupSyntax(uid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodes(t *testing.T) {
	for _, tt := range []struct {
		uid  string
		want bool
	}{
		{dicom.RLELossless, true},
		{jpegLossless, true},
		{jpegLosslessSV1, true},
		{dicom.ExplicitVRLittleEndian, false}, // native: nothing to decode
		{dicom.JPEGBaseline, false},
		{"1.2.840.10008.1.2.4.51", false},
		{"1.2.840.10008.1.2.4.80", false}, // JPEG-LS
		{"1.2.840.10008.1.2.4.90", false}, // JPEG 2000
		{"1.2.840.10008.1.2.8.1", false},
	} {
		if got := codec.Decodes(syntax(t, tt.uid)); got != tt.want {
			t.Errorf("Decodes(%s) = %v, want %v", tt.uid, got, tt.want)
		}
	}
	if !codec.Decodes(dicom.Syntax{UID: jpegLosslessSV1 + "\x00", Encapsulated: true}) {
		t.Error("Decodes does not trim the padding of a UID")
	}
}

func TestFrameSize(t *testing.T) {
	tests := []struct {
		name string
		ds   *dicom.Dataset
		want int
		err  error
	}{
		{"MR 16-bit", header{rows: 176, cols: 176, ba: 16, bs: 12}.dataset(), 176 * 176 * 2, nil},
		{"RGB 8-bit", header{rows: 3, cols: 5, spp: 3, ba: 8}.dataset(), 45, nil},
		{"odd length", header{rows: 3, cols: 3, ba: 8}.dataset(), 9, nil},
		{"32-bit", header{rows: 2, cols: 2, ba: 32}.dataset(), 16, nil},
		{"largest", header{rows: 65535, cols: 65535, spp: 3, ba: 32, bs: 32}.dataset(), 65535 * 65535 * 12, nil},
		{"no rows", func() *dicom.Dataset { d := header{rows: 1, cols: 1, ba: 8}.dataset(); d.Remove(dicom.Rows); return d }(), 0, dicom.ErrMalformed},
		{"zero columns", header{rows: 4, cols: 0, ba: 8}.dataset(), 0, dicom.ErrMalformed},
		{"no bits allocated", func() *dicom.Dataset {
			d := header{rows: 1, cols: 1, ba: 8}.dataset()
			d.Remove(dicom.BitsAllocated)
			return d
		}(), 0, dicom.ErrMalformed},
		{"1-bit", header{rows: 8, cols: 8, ba: 1}.dataset(), 0, dicom.ErrUnsupported},
		{"12 bits allocated", header{rows: 8, cols: 8, ba: 12}.dataset(), 0, dicom.ErrUnsupported},
		{"bits stored above allocated", header{rows: 8, cols: 8, ba: 8, bs: 12}.dataset(), 0, dicom.ErrMalformed},
		{"rows not a number", func() *dicom.Dataset {
			d := header{rows: 1, cols: 1, ba: 8}.dataset()
			d.Set(&dicom.Element{Tag: dicom.Rows, VR: "IS", Value: []byte("x ")})
			return d
		}(), 0, dicom.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.FrameSize(tt.ds)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FrameSize = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestNativeHeader(t *testing.T) {
	ybr := header{rows: 2, cols: 2, spp: 3, ba: 8, planar: 1, photometric: "YBR_FULL_422"}.dataset()
	ybr.Set(&dicom.Element{Tag: dicom.ExtendedOffsetTable, VR: "OV", Value: make([]byte, 8)})
	ybr.Set(&dicom.Element{Tag: dicom.ExtendedOffsetTableLengths, VR: "OV", Value: make([]byte, 8)})
	orig := &dicom.Dataset{Elements: slices.Clone(ybr.Elements)}
	planar := func(ds *dicom.Dataset) int {
		e := ds.Get(dicom.NewTag(0x0028, 0x0006))
		if e == nil {
			return -1
		}
		return int(binary.LittleEndian.Uint16(e.Value))
	}
	for _, tt := range []struct {
		uid    string
		planar int
	}{{jpegLossless, 0}, {jpegLosslessSV1, 0}, {dicom.RLELossless, 1}} {
		got := codec.NativeHeader(ybr, syntax(t, tt.uid))
		if p := planar(got); p != tt.planar {
			t.Errorf("%s: Planar Configuration %d, want %d", tt.uid, p, tt.planar)
		}
		if pi := got.String(dicom.NewTag(0x0028, 0x0004)); pi != "YBR_FULL" {
			t.Errorf("%s: Photometric Interpretation %q, want YBR_FULL", tt.uid, pi)
		}
		if got.Get(dicom.ExtendedOffsetTable) != nil || got.Get(dicom.ExtendedOffsetTableLengths) != nil {
			t.Errorf("%s: the Extended Offset Table is still there", tt.uid)
		}
		// Nothing else changes.
		for _, e := range orig.Elements {
			switch e.Tag {
			case dicom.ExtendedOffsetTable, dicom.ExtendedOffsetTableLengths, dicom.NewTag(0x0028, 0x0004), dicom.NewTag(0x0028, 0x0006):
				continue
			}
			if g := got.Get(e.Tag); g == nil || !bytes.Equal(g.Value, e.Value) {
				t.Errorf("%s: %s changed", tt.uid, e.Tag)
			}
		}
	}
	if !ybr.Equal(orig) {
		t.Error("NativeHeader changed its argument")
	}
	mono := header{rows: 2, cols: 2, ba: 16}.dataset()
	if got := codec.NativeHeader(mono, syntax(t, jpegLossless)); !got.Equal(mono) {
		t.Error("NativeHeader changed a grayscale header")
	}
}

// interleave returns a native frame of n pixels of spp samples of size
// bytes, stored as planar says, with its samples interleaved.
func interleave(frame []byte, n, spp, size, planar int) []byte {
	if planar == 0 || spp == 1 {
		return frame
	}
	out := make([]byte, len(frame))
	for c := range spp {
		for i := range n {
			copy(out[(i*spp+c)*size:][:size], frame[(c*n+i)*size:][:size])
		}
	}
	return out
}

// randomFrame returns an interleaved native frame of n pixels: smooth
// ramps with noise, and, where wild is set, values anywhere in range, so
// that every difference category occurs.
func randomFrame(r *rand.Rand, n, spp, size int, wild bool) []byte {
	b := make([]byte, n*spp*size)
	for i := range n * spp {
		v := uint64(i*37/(spp*3)) + r.Uint64N(9)
		if wild && r.IntN(4) == 0 {
			v = r.Uint64()
		}
		for k := range size {
			b[i*size+k] = byte(v >> (8 * k))
		}
	}
	return b
}

func TestRLE(t *testing.T) {
	rle := syntax(t, dicom.RLELossless)
	// A stream written by hand (PS3.5 G.3.1): 0..127 is a literal of n+1
	// bytes, -1..-127 a run of 1-n bytes, -128 nothing.
	seg := []byte{
		0x02, 10, 20, 30, // literal of 3
		0xFD, 40, // run of 4
		0x80, // no-op
		0x00, 50,
		0x80, // padding after the plane is full
	}
	hand := append(make([]byte, 64), seg...)
	hand[0], hand[4] = 1, 64
	small := header{rows: 2, cols: 4, ba: 8}
	got, err := codec.Decode(small.dataset(), rle, hand, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{10, 20, 30, 40, 40, 40, 40, 50}; !bytes.Equal(got, want) {
		t.Errorf("decoded %v, want %v", got, want)
	}

	r := rand.New(rand.NewPCG(1, 2))
	for _, h := range []header{
		{rows: 7, cols: 9, ba: 8},
		{rows: 64, cols: 64, ba: 16, bs: 12},
		{rows: 33, cols: 17, ba: 16, pr: 1},
		{rows: 5, cols: 300, ba: 32},
		{rows: 16, cols: 16, spp: 3, ba: 8},
		{rows: 16, cols: 16, spp: 3, ba: 8, planar: 1},
		{rows: 9, cols: 11, spp: 3, ba: 16},
		{rows: 9, cols: 11, spp: 3, ba: 16, planar: 1},
		{rows: 4, cols: 4, spp: 3, ba: 32, planar: 1}, // 12 segments
	} {
		t.Run(fmt.Sprintf("%dx%dx%d %d-bit planar %d", h.cols, h.rows, h.spp, h.ba, h.planar), func(t *testing.T) {
			spp := max(h.spp, 1)
			n, size := h.rows*h.cols, h.ba/8
			native := randomFrame(r, n, spp, size, true)
			frame := rleEncode(native, n, spp, size)
			garbage := bytes.Repeat([]byte{0xA5}, len(native)+10)
			got, err := codec.Decode(h.dataset(), rle, frame, garbage)
			if err != nil {
				t.Fatal(err)
			}
			if &got[0] != &garbage[0] {
				t.Error("Decode did not reuse dst")
			}
			if !bytes.Equal(interleave(got, n, spp, size, h.planar), native) {
				t.Error("decoded frame differs from the original")
			}
		})
	}

	bad := []struct {
		name  string
		h     header
		frame []byte
		err   error
	}{
		{"short header", small, make([]byte, 10), dicom.ErrMalformed},
		{"two segments for one", small, func() []byte { f := slices.Clone(hand); f[0] = 2; f[8] = 70; return f }(), dicom.ErrMalformed},
		{"segment offset past the end", small, func() []byte { f := slices.Clone(hand); f[4] = 200; return f }(), dicom.ErrMalformed},
		{"segment inside the header", small, func() []byte { f := slices.Clone(hand); f[4] = 60; return f }(), dicom.ErrMalformed},
		{"plane not filled", small, append(slices.Clone(hand[:64]), 0x02, 10, 20, 30), dicom.ErrMalformed},
		{"run past the plane", small, append(slices.Clone(hand[:64]), 0x88, 1), dicom.ErrMalformed},
		{"literal past the segment", small, append(slices.Clone(hand[:64]), 0x7F, 1, 2), dicom.ErrMalformed},
		{"run without its byte", small, append(slices.Clone(hand[:64]), 0x80, 0xF9), dicom.ErrMalformed},
		// 2 bytes expand to 128 at most: 100 bytes cannot fill 64x128.
		{"segment too short for its plane", header{rows: 128, cols: 64, ba: 8}, append(slices.Clone(hand[:64]), make([]byte, 100)...), dicom.ErrMalformed},
		{"sixteen segments", header{rows: 2, cols: 2, spp: 4, ba: 32}, hand, dicom.ErrUnsupported},
		{"1-bit", header{rows: 8, cols: 8, ba: 1}, hand, dicom.ErrUnsupported},
	}
	for _, b := range bad {
		if _, err := codec.Decode(b.h.dataset(), rle, b.frame, nil); !errors.Is(err, b.err) {
			t.Errorf("%s: err %v, want %v", b.name, err, b.err)
		}
	}
}

// jpegCase is a synthetic JPEG lossless frame and the native frame it
// must decode to.
type jpegCase struct {
	name string
	h    header
	o    jpegOptions
	wild bool // samples anywhere in range, not smooth
}

// build returns the JPEG stream of c and the native frame (interleaved)
// it decodes to: samples as coded, their point transform undone, signed
// ones sign-extended from the precision to Bits Allocated.
func (c jpegCase) build(r *rand.Rand) (stream, native []byte) {
	spp, size := max(c.h.spp, 1), c.h.ba/8
	n := c.h.rows * c.h.cols
	p := c.o.precision
	comps := make([][]uint16, spp)
	for i := range comps {
		comps[i] = make([]uint16, n)
	}
	native = make([]byte, n*spp*size)
	for i := range n * spp {
		v := uint64(i*29/(spp*5)) + r.Uint64N(7)
		if c.wild && r.IntN(3) == 0 {
			v = r.Uint64()
		}
		v &= 1<<p - 1
		comps[i%spp][i/spp] = uint16(v)
		out := int64(v >> c.o.pt << c.o.pt)
		if c.h.pr == 1 && out >= 1<<(p-1) {
			out -= 1 << p
		}
		for k := range size {
			native[i*size+k] = byte(out >> (8 * k))
		}
	}
	return jpegEncode(comps, c.h.cols, c.h.rows, c.o), native
}

func TestJPEG(t *testing.T) {
	var tests []jpegCase
	for pred := 1; pred <= 7; pred++ {
		tests = append(tests,
			jpegCase{name: fmt.Sprintf("16-bit predictor %d", pred), h: header{rows: 40, cols: 37, ba: 16}, o: jpegOptions{precision: 16, pred: pred}, wild: true},
			jpegCase{name: fmt.Sprintf("8-bit predictor %d", pred), h: header{rows: 23, cols: 31, ba: 8}, o: jpegOptions{precision: 8, pred: pred}},
			jpegCase{name: fmt.Sprintf("RGB predictor %d", pred), h: header{rows: 17, cols: 19, spp: 3, ba: 8}, o: jpegOptions{precision: 8, pred: pred}, wild: true},
			jpegCase{name: fmt.Sprintf("12-bit point transform 3 predictor %d", pred), h: header{rows: 20, cols: 20, ba: 16, bs: 12}, o: jpegOptions{precision: 12, pred: pred, pt: 3}},
			jpegCase{name: fmt.Sprintf("restart every 2 lines predictor %d", pred), h: header{rows: 21, cols: 13, ba: 16}, o: jpegOptions{precision: 16, pred: pred, restart: 26}},
		)
	}
	tests = append(tests,
		jpegCase{name: "precision 2", h: header{rows: 9, cols: 9, ba: 8, bs: 2}, o: jpegOptions{precision: 2, pred: 4}, wild: true},
		jpegCase{name: "16-bit long codes", h: header{rows: 30, cols: 30, ba: 16}, o: jpegOptions{precision: 16, pred: 6, long: true}, wild: true},
		jpegCase{name: "16-bit point transform 15", h: header{rows: 8, cols: 8, ba: 16}, o: jpegOptions{precision: 16, pred: 7, pt: 15}, wild: true},
		jpegCase{name: "signed 16-bit", h: header{rows: 12, cols: 12, ba: 16, pr: 1}, o: jpegOptions{precision: 16, pred: 5}, wild: true},
		jpegCase{name: "signed 12-bit sign-extended", h: header{rows: 12, cols: 12, ba: 16, bs: 12, pr: 1}, o: jpegOptions{precision: 12, pred: 1}, wild: true},
		jpegCase{name: "signed 8-bit", h: header{rows: 12, cols: 12, ba: 8, pr: 1}, o: jpegOptions{precision: 8, pred: 2}, wild: true},
		jpegCase{name: "8 bits in 16", h: header{rows: 10, cols: 10, ba: 16, bs: 8}, o: jpegOptions{precision: 8, pred: 1}},
		jpegCase{name: "16 bits in 32", h: header{rows: 10, cols: 10, ba: 32, bs: 16, pr: 1}, o: jpegOptions{precision: 16, pred: 1}, wild: true},
		jpegCase{name: "RGB 16-bit", h: header{rows: 11, cols: 13, spp: 3, ba: 16}, o: jpegOptions{precision: 16, pred: 1}, wild: true},
		jpegCase{name: "RGB planar header", h: header{rows: 11, cols: 13, spp: 3, ba: 8, planar: 1}, o: jpegOptions{precision: 8, pred: 1}},
		jpegCase{name: "RGB a scan per component", h: header{rows: 14, cols: 9, spp: 3, ba: 8}, o: jpegOptions{precision: 8, pred: 4, scans: [][]int{{0}, {1}, {2}}}, wild: true},
		jpegCase{name: "RGB scans out of order", h: header{rows: 14, cols: 9, spp: 3, ba: 8}, o: jpegOptions{precision: 8, pred: 7, scans: [][]int{{2, 0}, {1}}}},
		jpegCase{name: "RGB component ids 0", h: header{rows: 4, cols: 4, spp: 3, ba: 8}, o: jpegOptions{precision: 8, pred: 1, ids: []byte{0, 'G', 'B'}}},
		jpegCase{name: "RGB restart mid-line", h: header{rows: 10, cols: 10, spp: 3, ba: 8}, o: jpegOptions{precision: 8, pred: 4, restart: 7}, wild: true},
		jpegCase{name: "restart mid-line", h: header{rows: 10, cols: 10, ba: 16}, o: jpegOptions{precision: 16, pred: 6, restart: 3}, wild: true},
		jpegCase{name: "restart every MCU", h: header{rows: 5, cols: 5, ba: 16}, o: jpegOptions{precision: 16, pred: 7, restart: 1}, wild: true},
		jpegCase{name: "one pixel", h: header{rows: 1, cols: 1, ba: 16}, o: jpegOptions{precision: 16, pred: 1}},
		jpegCase{name: "one column", h: header{rows: 20, cols: 1, ba: 16}, o: jpegOptions{precision: 16, pred: 5}, wild: true},
	)
	r := rand.New(rand.NewPCG(3, 4))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, native := tt.build(r)
			for _, uid := range []string{jpegLossless, jpegLosslessSV1} {
				got, err := codec.Decode(tt.h.dataset(), syntax(t, uid), stream, nil)
				if err != nil {
					t.Fatalf("%s: %v", uid, err)
				}
				if !bytes.Equal(got, native) {
					i := 0
					for i < len(got) && i < len(native) && got[i] == native[i] {
						i++
					}
					t.Fatalf("%s: %d bytes differ from the original (%d bytes), first at %d", uid, diffCount(got, native), len(native), i)
				}
			}
			// An odd-length fragment's pad byte follows EOI.
			if _, err := codec.Decode(tt.h.dataset(), syntax(t, jpegLossless), append(stream, 0), nil); err != nil {
				t.Errorf("with a pad byte: %v", err)
			}
		})
	}
}

func diffCount(a, b []byte) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestJPEGErrors checks that streams that are not JPEG lossless, or not
// the frame the header describes, or corrupt, are refused as such.
func TestJPEGErrors(t *testing.T) {
	h := header{rows: 8, cols: 8, ba: 16}
	r := rand.New(rand.NewPCG(5, 6))
	good, _ := jpegCase{h: h, o: jpegOptions{precision: 16, pred: 1}, wild: true}.build(r)
	restart, _ := jpegCase{h: h, o: jpegOptions{precision: 16, pred: 1, restart: 8}, wild: true}.build(r)
	rgb, _ := jpegCase{h: header{rows: 8, cols: 8, spp: 3, ba: 8}, o: jpegOptions{precision: 8, scans: [][]int{{0}, {1}, {2}}}}.build(r)
	// Columns alternating 0 and 32768: every difference is of category
	// 16.
	alt := make([]uint16, 64)
	for i := range alt {
		alt[i] = uint16(i%2) << 15
	}
	cat16 := jpegEncode([][]uint16{alt}, 8, 8, jpegOptions{precision: 16, pred: 1})
	if _, err := codec.Decode(h.dataset(), syntax(t, jpegLossless), cat16, nil); err != nil {
		t.Fatal(err)
	}
	// find returns the offset of marker m in s.
	find := func(s []byte, m byte) int { return bytes.Index(s, []byte{0xFF, m}) }
	// with returns good with the byte at the offset of marker m plus
	// off set to v.
	with := func(s []byte, m byte, off int, v byte) []byte {
		s = slices.Clone(s)
		s[find(s, m)+off] = v
		return s
	}
	sof := find(good, 0xC3)
	sos := find(good, 0xDA)
	tests := []struct {
		name  string
		h     header
		frame []byte
		err   error
	}{
		{"arithmetic coding (SOF11)", h, with(good, 0xC3, 1, 0xCB), dicom.ErrUnsupported},
		{"baseline (SOF0)", h, with(good, 0xC3, 1, 0xC0), dicom.ErrUnsupported},
		{"differential lossless (SOF7)", h, with(good, 0xC3, 1, 0xC7), dicom.ErrUnsupported},
		{"conditioning tables", h, slices.Concat(good[:sos], []byte{0xFF, 0xCC, 0, 4, 0, 0x11}, good[sos:]), dicom.ErrUnsupported},
		{"hierarchical", h, slices.Concat(good[:2], []byte{0xFF, 0xDE, 0, 2}, good[2:]), dicom.ErrUnsupported},
		{"height from DNL", h, with(with(good, 0xC3, 5, 0), 0xC3, 6, 0), dicom.ErrUnsupported},
		{"precision above Bits Allocated", header{rows: 8, cols: 8, ba: 8}, good, dicom.ErrUnsupported},
		{"subsampled component", header{rows: 8, cols: 8, spp: 3, ba: 8}, with(rgb, 0xC3, 11, 0x21), dicom.ErrUnsupported},
		{"another transfer syntax", h, good, dicom.ErrUnsupported}, // see below
		{"no SOI", h, good[2:], dicom.ErrMalformed},
		{"empty", h, nil, dicom.ErrMalformed},
		{"width differs", header{rows: 8, cols: 9, ba: 16}, good, dicom.ErrMalformed},
		{"height differs", header{rows: 7, cols: 8, ba: 16}, good, dicom.ErrMalformed},
		{"components differ", header{rows: 8, cols: 8, spp: 3, ba: 16}, good, dicom.ErrMalformed},
		{"precision 1", h, with(good, 0xC3, 4, 1), dicom.ErrMalformed},
		{"precision 17", header{rows: 8, cols: 8, ba: 32}, with(good, 0xC3, 4, 17), dicom.ErrMalformed},
		{"SOF length", h, with(good, 0xC3, 3, 12), dicom.ErrMalformed},
		{"two frame headers", h, slices.Concat(good[:sos], good[sof:sof+13], good[sos:]), dicom.ErrMalformed},
		{"two components with one number", header{rows: 8, cols: 8, spp: 3, ba: 8}, with(rgb, 0xC3, 13, 1), dicom.ErrMalformed},
		{"scan before the frame header", h, slices.Concat(good[:2], good[sos:]), dicom.ErrMalformed},
		{"predictor 0", h, with(good, 0xDA, 7, 0), dicom.ErrMalformed},
		{"predictor 8", h, with(good, 0xDA, 7, 8), dicom.ErrMalformed},
		{"point transform at the precision", header{rows: 8, cols: 8, ba: 8}, with(with(good, 0xC3, 4, 8), 0xDA, 9, 8), dicom.ErrMalformed},
		{"undefined table", h, with(good, 0xDA, 6, 0x30), dicom.ErrMalformed},
		{"scan of an unknown component", h, with(good, 0xDA, 5, 9), dicom.ErrMalformed},
		{"component in two scans", header{rows: 8, cols: 8, spp: 3, ba: 8}, with(rgb, 0xDA, 5, 2), dicom.ErrMalformed},
		{"component never decoded", header{rows: 8, cols: 8, spp: 3, ba: 8}, rgb[:bytes.LastIndex(rgb, []byte{0xFF, 0xDA})], dicom.ErrMalformed},
		{"no scan", h, slices.Concat(good[:sos], []byte{0xFF, 0xD9}), dicom.ErrMalformed},
		{"no frame header", h, []byte{0xFF, 0xD8, 0xFF, 0xD9}, dicom.ErrMalformed},
		{"truncated entropy data", h, good[:len(good)-40], dicom.ErrMalformed},
		{"truncated segment", h, good[:sof+6], dicom.ErrMalformed},
		{"oversubscribed Huffman table", h, with(with(good, 0xC4, 5, 2), 0xC4, 9, 15), dicom.ErrMalformed},
		{"Huffman table id 4", h, with(good, 0xC4, 4, 0x04), dicom.ErrMalformed},
		{"difference category 17", h, func() []byte {
			s := slices.Clone(cat16)
			s[find(s, 0xC4)+5+16+16] = 17 // the value of the code of category 16
			return s
		}(), dicom.ErrMalformed},
		{"wrong restart marker", h, func() []byte {
			s := slices.Clone(restart)
			s[bytes.Index(s, []byte{0xFF, 0xD1})+1] = 0xD5
			return s
		}(), dicom.ErrMalformed},
		{"missing restart marker", h, func() []byte {
			s := slices.Clone(restart)
			i := bytes.Index(s, []byte{0xFF, 0xD1})
			return slices.Delete(s, i, i+2)
		}(), dicom.ErrMalformed},
		{"RST outside a scan", h, slices.Concat(good[:2], []byte{0xFF, 0xD0}, good[2:]), dicom.ErrMalformed},
		{"garbage between segments", h, slices.Concat(good[:2], []byte{0x12}, good[2:]), dicom.ErrMalformed},
		{"too short for its samples", header{rows: 1000, cols: 1000, ba: 16}, func() []byte {
			s := slices.Clone(good)
			binary.BigEndian.PutUint16(s[sof+5:], 1000)
			binary.BigEndian.PutUint16(s[sof+7:], 1000)
			return s
		}(), dicom.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := syntax(t, jpegLossless)
			if tt.name == "another transfer syntax" {
				s = syntax(t, dicom.JPEGBaseline)
			}
			got, err := codec.Decode(tt.h.dataset(), s, tt.frame, make([]byte, 3, 100))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if len(got) != 0 {
				t.Errorf("%d bytes returned with the error", len(got))
			}
		})
	}
}

// TestJPEGBoundedWork checks that what a stream repeats does not make
// Decode allocate more: Huffman tables are built for the scans that use
// them, not for every definition.
func TestJPEGBoundedWork(t *testing.T) {
	h := header{rows: 8, cols: 8, ba: 16}
	good, _ := jpegCase{h: h, o: jpegOptions{precision: 16, pred: 1}}.build(rand.New(rand.NewPCG(15, 16)))
	dht := bytes.Index(good, []byte{0xFF, 0xC4})
	seg := good[dht : dht+2+int(binary.BigEndian.Uint16(good[dht+2:]))]
	flood := slices.Concat(good[:dht], bytes.Repeat(seg, 5000), good[dht:])
	ds, s := h.dataset(), syntax(t, jpegLossless)
	dst := make([]byte, 0, 128)
	allocs := func(frame []byte) float64 {
		return testing.AllocsPerRun(10, func() {
			if _, err := codec.Decode(ds, s, frame, dst); err != nil {
				t.Fatal(err)
			}
		})
	}
	if one, many := allocs(good), allocs(flood); many > one {
		t.Errorf("%v allocations per Decode with one table definition, %v with 5001", one, many)
	}
}
