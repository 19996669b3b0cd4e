package render_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/render"
)

// fuzzMaxPixels bounds the frames the fuzzer renders, so that each input
// costs little; the bound itself is what the fuzzer checks is kept.
const fuzzMaxPixels = 1 << 14

// FuzzImage renders arbitrary frames under arbitrary Image Pixel module
// values, LUTs, windows, viewports and syntaxes. Image must never panic,
// and a rendered image must have the size the viewport implies and no
// more than the pixel bound. Every allocation Image makes is bounded by
// the pixel limit or by a constant times the frame's length.
//
//	go test ./dicom/render -run '^$' -fuzz FuzzImage -fuzztime 60s
func FuzzImage(f *testing.F) {
	var gray bytes.Buffer
	if err := jpeg.Encode(&gray, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		f.Fatal(err)
	}
	seeds := []struct {
		rows, cols                     uint16
		spp, ba, bs, hb, pr, pl, photo uint8
		uid                            uint8
		lut                            []byte
		c, w                           float64
		fn                             uint8
		vw, vh, sx, sy, sw, sh         int16
		frame                          []byte
	}{
		{rows: 2, cols: 2, spp: 1, ba: 16, bs: 12, hb: 11, pr: 1, frame: le16(1, 2, 0xF003, 4)},
		{rows: 2, cols: 3, spp: 1, ba: 8, bs: 8, hb: 7, c: 100, w: 50, fn: 2, vw: 5, sw: -2, frame: []byte{1, 2, 3, 4, 5, 6}},
		{rows: 2, cols: 2, spp: 3, ba: 8, bs: 8, hb: 7, pl: 1, photo: 2, vw: 1, vh: 1, frame: make([]byte, 12)},
		{rows: 2, cols: 2, spp: 3, ba: 8, bs: 8, hb: 7, photo: 4, frame: make([]byte, 8)},
		{rows: 2, cols: 2, spp: 1, ba: 8, bs: 8, hb: 7, photo: 5, lut: le16(4, 0, 8), frame: []byte{0, 1, 2, 3}},
		{rows: 2, cols: 4, spp: 1, ba: 8, bs: 8, hb: 7, uid: 1, frame: append(append(le32(1, 64), make([]byte, 56)...), 0x02, 1, 2, 3, 0xFC, 9)},
		{rows: 8, cols: 8, spp: 1, ba: 8, bs: 8, hb: 7, uid: 2, vw: 3, frame: gray.Bytes()},
		{rows: 1, cols: 2, spp: 1, ba: 32, bs: 32, hb: 31, pr: 1, frame: le32(-5, 1<<30)},
	}
	for _, s := range seeds {
		f.Add(s.rows, s.cols, s.spp, s.ba, s.bs, s.hb, s.pr, s.pl, s.photo, s.uid, s.lut, s.c, s.w, s.fn,
			s.vw, s.vh, s.sx, s.sy, s.sw, s.sh, s.frame)
	}
	photometrics := []string{"MONOCHROME2", "MONOCHROME1", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "YBR_ICT", ""}
	uids := []string{dicom.ExplicitVRLittleEndian, dicom.RLELossless, dicom.JPEGBaseline, "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.90"}
	functions := []string{"", render.Linear, render.LinearExact, render.Sigmoid, "GAMMA"}
	f.Fuzz(func(t *testing.T, rows, cols uint16, spp, ba, bs, hb, pr, pl, photo, uid uint8, lut []byte,
		c, w float64, fn uint8, vw, vh, sx, sy, sw, sh int16, frame []byte) {
		h := header{rows: int(rows), cols: int(cols), spp: int(spp), photometric: photometrics[int(photo)%len(photometrics)],
			ba: int(ba), bs: int(bs), hb: int(hb), pr: int(pr), planar: int(pl)}
		if len(lut) >= 6 {
			// The same bytes as every LUT: descriptor first, data after.
			desc := &dicom.Element{VR: "US", Value: lut[:6]}
			data := lut[6:]
			for k := range 3 {
				d, e := *desc, &dicom.Element{Tag: dicom.NewTag(0x0028, 0x1201+uint16(k)), VR: "OW", Value: data}
				d.Tag = dicom.NewTag(0x0028, 0x1101+uint16(k))
				h.extra = append(h.extra, &d, e)
			}
			lutItem := item(&dicom.Element{Tag: dicom.NewTag(0x0028, 0x3002), VR: "US", Value: lut[:6]}, owElem(dicom.NewTag(0x0028, 0x3006), data))
			h.extra = append(h.extra, seqElem(dicom.NewTag(0x0028, 0x3010), lutItem))
			if lut[0]%2 == 1 {
				h.extra = append(h.extra, seqElem(dicom.NewTag(0x0028, 0x3000), lutItem))
			}
		}
		ds := h.dataset()
		if spp == 0 {
			ds.Remove(dicom.SamplesPerPixel)
		}
		o := render.Options{
			Viewport:  render.Viewport{Width: int(vw), Height: int(vh), SX: int(sx), SY: int(sy), SW: int(sw), SH: int(sh)},
			MaxPixels: fuzzMaxPixels,
		}
		if fn > 0 {
			o.Window = &render.Window{Center: c, Width: w, Function: functions[int(fn)%len(functions)]}
		}
		img, err := render.Image(ds, syntax(t, uids[int(uid)%len(uids)]), frame, o)
		if err != nil {
			return
		}
		size := img.Bounds().Size()
		if size.X < 1 || size.Y < 1 || size.X*size.Y > fuzzMaxPixels {
			t.Fatalf("rendered %v", size)
		}
		if (vw > 0 && size.X > int(vw)) || (vh > 0 && size.Y > int(vh)) {
			t.Fatalf("rendered %v, beyond the viewport %dx%d", size, vw, vh)
		}
	})
}
