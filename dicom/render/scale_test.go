package render_test

import (
	"bytes"
	"image"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/render"
)

// identity is the window that leaves 8-bit values as they are.
var identity = &render.Window{Center: 128, Width: 256}

// TestViewport checks regions, flips and scaling pixel by pixel on 8-bit
// frames rendered through the identity window, against values worked out
// by hand: shrinking averages the source area each output pixel covers,
// enlarging interpolates linearly between pixel centres.
func TestViewport(t *testing.T) {
	// 4x4: 0 10 20 30 / 40 50 60 70 / 80 90 100 110 / 120 130 140 150
	var f4 []byte
	for i := range 16 {
		f4 = append(f4, byte(10*i))
	}
	tests := []struct {
		name       string
		rows, cols int
		frame      []byte
		v          render.Viewport
		w, h       int
		want       []byte
	}{
		{name: "no viewport", rows: 4, cols: 4, frame: f4, w: 4, h: 4, want: f4},
		{name: "halve: 2x2 block averages", rows: 4, cols: 4, frame: f4, v: render.Viewport{Width: 2, Height: 2},
			w: 2, h: 2, want: []byte{25, 45, 105, 125}},
		{name: "width bound only", rows: 4, cols: 4, frame: f4, v: render.Viewport{Width: 2},
			w: 2, h: 2, want: []byte{25, 45, 105, 125}},
		{name: "the tighter bound wins", rows: 4, cols: 4, frame: f4, v: render.Viewport{Width: 3, Height: 1},
			w: 1, h: 1, want: []byte{75}},
		// 3 -> 2: output 0 covers [0, 1.5): (0 + 90/2) / 1.5; output 1 (90/2 + 180) / 1.5.
		{name: "fractional area", rows: 1, cols: 3, frame: []byte{0, 90, 180}, v: render.Viewport{Width: 2},
			w: 2, h: 1, want: []byte{30, 150}},
		// 2 -> 4: centres at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
		{name: "enlarge", rows: 1, cols: 2, frame: []byte{0, 100}, v: render.Viewport{Width: 4, Height: 4},
			w: 4, h: 2, want: []byte{0, 25, 75, 100, 0, 25, 75, 100}},
		{name: "region", rows: 4, cols: 4, frame: f4, v: render.Viewport{SX: 1, SY: 1, SW: 2, SH: 2},
			w: 2, h: 2, want: []byte{50, 60, 90, 100}},
		{name: "region to the edges", rows: 4, cols: 4, frame: f4, v: render.Viewport{SX: 2, SY: 3},
			w: 2, h: 1, want: []byte{140, 150}},
		{name: "flip horizontally", rows: 4, cols: 4, frame: f4, v: render.Viewport{SW: -4},
			w: 4, h: 4, want: []byte{30, 20, 10, 0, 70, 60, 50, 40, 110, 100, 90, 80, 150, 140, 130, 120}},
		{name: "flip vertically", rows: 4, cols: 4, frame: f4, v: render.Viewport{SH: -4},
			w: 4, h: 4, want: []byte{120, 130, 140, 150, 80, 90, 100, 110, 40, 50, 60, 70, 0, 10, 20, 30}},
		{name: "flipped region", rows: 4, cols: 4, frame: f4, v: render.Viewport{SX: 1, SY: 1, SW: -2, SH: -2},
			w: 2, h: 2, want: []byte{100, 90, 60, 50}},
		{name: "flipped and halved", rows: 4, cols: 4, frame: f4, v: render.Viewport{Width: 2, SW: -4, SH: -4},
			w: 2, h: 2, want: []byte{125, 105, 45, 25}},
		{name: "flipped and enlarged", rows: 1, cols: 2, frame: []byte{0, 100}, v: render.Viewport{Width: 4, SW: -2},
			w: 4, h: 2, want: []byte{100, 75, 25, 0, 100, 75, 25, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header{rows: tt.rows, cols: tt.cols, photometric: "MONOCHROME2", ba: 8}
			img, err := render.Image(h.dataset(), syntax(t, dicom.ExplicitVRLittleEndian), tt.frame,
				render.Options{Window: identity, Viewport: tt.v})
			if err != nil {
				t.Fatal(err)
			}
			if s := img.Bounds().Size(); s != image.Pt(tt.w, tt.h) {
				t.Fatalf("size %v, want %dx%d", s, tt.w, tt.h)
			}
			if got := grayPix(t, img); !bytes.Equal(got, tt.want) {
				t.Errorf("levels %v, want %v", got, tt.want)
			}
		})
	}
}

// TestViewportSizes checks the rendered size for viewports of every
// shape, and that a uniform frame stays uniform at any scale, in gray
// and in color.
func TestViewportSizes(t *testing.T) {
	tests := []struct {
		v    render.Viewport
		w, h int
	}{
		{render.Viewport{Width: 30, Height: 30}, 30, 15},
		{render.Viewport{Height: 10}, 20, 10},
		{render.Viewport{Width: 7}, 7, 4}, // 3.5 rounds up
		{render.Viewport{Width: 1000, Height: 1000}, 1000, 500},
		{render.Viewport{Width: 1, Height: 1}, 1, 1}, // at least one pixel each way
		{render.Viewport{Width: 64, SX: 10, SW: 20, SH: -40}, 64, 128},
	}
	gray := header{rows: 50, cols: 100, photometric: "MONOCHROME2", ba: 8}
	rgb := header{rows: 50, cols: 100, spp: 3, photometric: "RGB", ba: 8}
	for _, tt := range tests {
		for _, h := range []header{gray, rgb} {
			frame := bytes.Repeat([]byte{77}, 100*50*h.spp1())
			img, err := render.Image(h.dataset(), syntax(t, dicom.ExplicitVRLittleEndian), frame,
				render.Options{Window: identity, Viewport: tt.v})
			if err != nil {
				t.Fatal(err)
			}
			if s := img.Bounds().Size(); s != image.Pt(tt.w, tt.h) {
				t.Errorf("%s, viewport %+v: size %v, want %dx%d", h.photometric, tt.v, s, tt.w, tt.h)
			}
			b := img.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					if r, g, bl, a := img.At(x, y).RGBA(); r>>8 != 77 || g>>8 != 77 || bl>>8 != 77 || a>>8 != 255 {
						t.Fatalf("%s, viewport %+v: pixel %d,%d is %d,%d,%d,%d, want 77 opaque", h.photometric, tt.v, x, y, r>>8, g>>8, bl>>8, a>>8)
					}
				}
			}
		}
	}
}

func (h header) spp1() int { return max(h.spp, 1) }

// TestPeerScaled compares a quarter-size rendering of 4.dcm (1760x2140 to
// 440x535) with dcm2pnm's, scaled with its pbmplus algorithm (area
// averaging, as Image's):
//
//	dcm2pnm +on +Wi 1 +Sxv 440 +i 1 testdata/real/4.dcm peer.png
func TestPeerScaled(t *testing.T) {
	ds, s, pixel := realFile(t, "4.dcm")
	want := dcm2pnm(t, filepath.Join(realDir, "4.dcm"), "+Wi", "1", "+Sxv", "440", "+i", "1")
	got, err := render.Image(ds, s, pixel, render.Options{Viewport: render.Viewport{Width: 440, Height: 440 * 2140 / 1760}})
	if err != nil {
		t.Fatal(err)
	}
	// Averaging 8-bit levels (Image) or values before the VOI
	// transform (dcmtk) differs by rounding at most.
	m, over := compare(t, got, want, 2)
	if over > 0 {
		t.Errorf("%d channel values differ from dcm2pnm's by more than 2 (max %d)", over, m)
	}
	t.Logf("largest difference from dcm2pnm: %d", m)
}
