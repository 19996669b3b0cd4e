package codec_test

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/codec"
)

// fuzzDecode decodes frame under the header the fuzzer chose and checks
// what Decode promises for any input: no panic, an error wrapping
// ErrMalformed or ErrUnsupported, or exactly FrameSize bytes; and
// allocation bounded by what the input could expand to (ratio bytes of
// output per input byte), not by what the header declares.
func fuzzDecode(t *testing.T, uid string, ratio int, rows, cols uint16, spp, ba, planar uint8, signed bool, frame []byte) {
	h := header{rows: int(rows), cols: int(cols), spp: int(spp%4) + 1, ba: int(ba%5) * 8, planar: int(planar % 3)}
	if h.ba == 0 {
		h.ba = 1
	}
	if signed {
		h.pr = 1
	}
	ds := h.dataset()
	s, err := dicom.LookupSyntax(uid)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := codec.Decode(ds, s, frame, nil)
	runtime.ReadMemStats(&after)
	if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(ratio*len(frame))+8<<20; alloc > limit {
		t.Fatalf("%d bytes allocated for a frame of %d bytes (limit %d)", alloc, len(frame), limit)
	}
	if err != nil {
		if !errors.Is(err, dicom.ErrMalformed) && !errors.Is(err, dicom.ErrUnsupported) {
			t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnsupported", err)
		}
		if len(out) != 0 {
			t.Fatalf("%d bytes returned with an error", len(out))
		}
		return
	}
	if n, err := codec.FrameSize(ds); err != nil || n != len(out) {
		t.Fatalf("%d bytes decoded; FrameSize %d, %v", len(out), n, err)
	}
}

func FuzzRLE(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, h := range []header{
		{rows: 4, cols: 4, ba: 8},
		{rows: 8, cols: 5, ba: 16},
		{rows: 3, cols: 3, spp: 3, ba: 8, planar: 1},
		{rows: 2, cols: 6, spp: 3, ba: 16},
		{rows: 2, cols: 2, ba: 32},
	} {
		spp := max(h.spp, 1)
		n := h.rows * h.cols
		frame := rleEncode(randomFrame(r, n, spp, h.ba/8, true), n, spp, h.ba/8)
		f.Add(uint16(h.rows), uint16(h.cols), uint8(spp-1), uint8(h.ba/8), uint8(h.planar), false, frame)
	}
	f.Fuzz(func(t *testing.T, rows, cols uint16, spp, ba, planar uint8, signed bool, frame []byte) {
		// A segment of 2 bytes fills 128 of its plane, and the frame
		// has a segment per byte of a sample.
		fuzzDecode(t, dicom.RLELossless, 64, rows, cols, spp, ba, planar, signed, frame)
	})
}

func FuzzJPEGLossless(f *testing.F) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, c := range []jpegCase{
		{h: header{rows: 8, cols: 8, ba: 16}, o: jpegOptions{precision: 16, pred: 1}, wild: true},
		{h: header{rows: 5, cols: 7, ba: 8}, o: jpegOptions{precision: 8, pred: 4, restart: 3}},
		{h: header{rows: 6, cols: 6, ba: 16, bs: 12, pr: 1}, o: jpegOptions{precision: 12, pred: 6, pt: 2, long: true}, wild: true},
		{h: header{rows: 4, cols: 5, spp: 3, ba: 8}, o: jpegOptions{precision: 8, pred: 7}},
		{h: header{rows: 4, cols: 5, spp: 3, ba: 16}, o: jpegOptions{precision: 16, pred: 5, scans: [][]int{{0}, {2, 1}}, restart: 4}, wild: true},
	} {
		stream, _ := c.build(r)
		f.Add(uint16(c.h.rows), uint16(c.h.cols), uint8(max(c.h.spp, 1)-1), uint8(c.h.ba/8), uint8(c.h.planar), c.h.pr == 1, stream)
	}
	f.Fuzz(func(t *testing.T, rows, cols uint16, spp, ba, planar uint8, signed bool, frame []byte) {
		// Every sample costs a bit: 8 samples of at most 4 bytes a byte.
		fuzzDecode(t, jpegLossless, 32, rows, cols, spp, ba, planar, signed, frame)
	})
}
