package render_test

import (
	"io"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/render"
)

// BenchmarkRender renders a 512x512 signed 16-bit CT-like frame with
// rescale and a stored window, then encodes it:
//
//	go test ./dicom/render -run '^$' -bench . -benchmem
func BenchmarkRender(b *testing.B) {
	h := header{rows: 512, cols: 512, photometric: "MONOCHROME2", ba: 16, bs: 12, hb: 11, pr: 1, extra: []*dicom.Element{
		strElem(tagRescaleSlope, "DS", "1"), strElem(tagRescaleIntercept, "DS", "-1024"),
		strElem(tagWindowCenter, "DS", "40"), strElem(tagWindowWidth, "DS", "400"),
	}}
	ds := h.dataset()
	vals := make([]int, 512*512)
	for i := range vals {
		x, y := i%512-256, i/512-256
		vals[i] = (x*x+y*y)%2048 - 1024 // rings across the whole 12-bit range
	}
	frame := le16(vals...)
	s := syntax(b, dicom.ExplicitVRLittleEndian)
	cases := []struct {
		name, mediaType string
		v               render.Viewport
	}{
		{"image only", "", render.Viewport{}},
		{"jpeg", render.JPEG, render.Viewport{}},
		{"png", render.PNG, render.Viewport{}},
		{"thumbnail 128 jpeg", render.JPEG, render.Viewport{Width: 128, Height: 128}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				img, err := render.Image(ds, s, frame, render.Options{Viewport: c.v})
				if err != nil {
					b.Fatal(err)
				}
				if c.mediaType != "" {
					if err := render.Encode(io.Discard, img, c.mediaType, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
