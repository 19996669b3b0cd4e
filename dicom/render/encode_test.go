package render_test

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"slices"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom/render"
)

// TestEncode encodes gray and color images in every media type and
// decodes them with the standard library: the size must survive, and the
// lossless encodings every gray level.
func TestEncode(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 37, 23))
	col := image.NewRGBA(image.Rect(0, 0, 37, 23))
	for y := range 23 {
		for x := range 37 {
			gray.SetGray(x, y, color.Gray{Y: uint8(x*7 + y)})
			col.Set(x, y, color.RGBA{R: uint8(x * 7), G: uint8(y * 11), B: 90, A: 255})
		}
	}
	decoders := map[string]func(io.Reader) (image.Image, error){
		render.JPEG: jpeg.Decode, render.PNG: png.Decode, render.GIF: gif.Decode,
	}
	if got := render.MediaTypes(); !slices.Equal(got, []string{render.JPEG, render.PNG, render.GIF}) {
		t.Fatalf("MediaTypes() = %v", got)
	}
	render.MediaTypes()[0] = "changed"
	if render.MediaTypes()[0] != render.JPEG {
		t.Fatal("MediaTypes shares its slice")
	}
	for _, mt := range render.MediaTypes() {
		for _, img := range []image.Image{gray, col} {
			for _, q := range []int{0, 1, 100} {
				var b bytes.Buffer
				if err := render.Encode(&b, img, mt, q); err != nil {
					t.Fatalf("%s %T quality %d: %v", mt, img, q, err)
				}
				out, err := decoders[mt](&b)
				if err != nil {
					t.Fatalf("%s %T: decode: %v", mt, img, err)
				}
				if out.Bounds().Size() != img.Bounds().Size() {
					t.Errorf("%s %T: decoded %v, want %v", mt, img, out.Bounds().Size(), img.Bounds().Size())
				}
				tol := 0
				switch {
				case mt == render.JPEG && q == 1:
					continue // anything goes at quality 1
				case mt == render.JPEG:
					tol = 12
				case mt == render.GIF && img == image.Image(col):
					// Plan 9's 256 colors, dithered: right on average over an area.
					if d := blockDiff(out, img, 6); d > 4 {
						t.Errorf("GIF %T: 6x6 block means differ by up to %.1f, want at most 4", img, d)
					}
					continue
				}
				if m, over := compare(t, out, img, tol); over > 0 {
					t.Errorf("%s %T quality %d: %d values off by more than %d (max %d)", mt, img, q, over, tol, m)
				}
			}
		}
	}
	var b bytes.Buffer
	if err := render.Encode(&b, gray, "image/webp", 0); trialgate.ErrorCode(err) != trialgate.EMediaType {
		t.Errorf("image/webp: err %v, want EMediaType", err)
	}
	for _, q := range []int{-1, 101} {
		if err := render.Encode(&b, gray, render.JPEG, q); trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Errorf("quality %d: err %v, want EInvalid", q, err)
		}
	}
}

// blockDiff returns the largest difference between the mean 8-bit RGB
// channels of two same-sized images over n x n blocks.
func blockDiff(a, b image.Image, n int) float64 {
	var worst float64
	r := a.Bounds()
	for by := r.Min.Y; by+n <= r.Max.Y; by += n {
		for bx := r.Min.X; bx+n <= r.Max.X; bx += n {
			var sum [3]float64
			for y := by; y < by+n; y++ {
				for x := bx; x < bx+n; x++ {
					r1, g1, b1, _ := a.At(x, y).RGBA()
					r2, g2, b2, _ := b.At(x, y).RGBA()
					sum[0] += float64(r1>>8) - float64(r2>>8)
					sum[1] += float64(g1>>8) - float64(g2>>8)
					sum[2] += float64(b1>>8) - float64(b2>>8)
				}
			}
			for _, s := range sum {
				worst = max(worst, max(s, -s)/float64(n*n))
			}
		}
	}
	return worst
}
