package render_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/render"
)

// TestGray checks grayscale frames pixel by pixel against levels worked
// out by hand from PS3.3 C.11.2.1.2 (LINEAR: x <= c-0.5-(w-1)/2 is 0,
// x > c-0.5+(w-1)/2 is 255, else ((x-(c-0.5))/(w-1)+0.5)*255; LINEAR_EXACT:
// ((x-c)/w+0.5)*255 between c-w/2 and c+w/2; SIGMOID: 255/(1+exp(-4(x-c)/w))),
// rounded to the nearest level.
func TestGray(t *testing.T) {
	mono := func(photometric string, ba, bs, hb, pr int, extra ...*dicom.Element) header {
		return header{rows: 1, cols: 6, photometric: photometric, ba: ba, bs: bs, hb: hb, pr: pr, extra: extra}
	}
	u8 := []byte{0, 50, 100, 150, 200, 255}
	tests := []struct {
		name   string
		h      header
		frame  []byte
		window *render.Window
		want   []byte
	}{
		{
			// 50: ((50-99.5)/100+0.5)*255 = 1.275; 100: 128.775.
			name: "MONOCHROME2 8-bit, requested window", h: mono("MONOCHROME2", 8, 8, 7, 0),
			frame: u8, window: &render.Window{Center: 100, Width: 101},
			want: []byte{0, 1, 129, 255, 255, 255},
		},
		{
			name: "MONOCHROME1 inverts", h: mono("MONOCHROME1", 8, 8, 7, 0),
			frame: u8, window: &render.Window{Center: 100, Width: 101},
			want: []byte{255, 254, 126, 0, 0, 0},
		},
		{
			// The stored window (and its function) when none is requested:
			// LINEAR_EXACT 100,100: 50 -> 0, 75 -> 63.75, 100 -> 127.5, 150 -> 255.
			name: "stored window, LINEAR_EXACT",
			h: header{rows: 1, cols: 5, photometric: "MONOCHROME2", ba: 8, extra: []*dicom.Element{
				strElem(tagWindowCenter, "DS", "100", "40"), strElem(tagWindowWidth, "DS", "100", "80"),
				strElem(tagVOILUTFunction, "CS", "LINEAR_EXACT"),
			}},
			frame: []byte{50, 75, 100, 150, 151},
			want:  []byte{0, 64, 128, 255, 255},
		},
		{
			// SIGMOID 100,100: 50 -> 255/(1+e^2) = 30.4; 125 -> 255/(1+e^-1) = 186.4.
			name: "requested window overrides the stored one, SIGMOID",
			h: header{rows: 1, cols: 3, photometric: "MONOCHROME2", ba: 8, extra: []*dicom.Element{
				strElem(tagWindowCenter, "DS", "10"), strElem(tagWindowWidth, "DS", "5"),
			}},
			frame: []byte{50, 100, 125}, window: &render.Window{Center: 100, Width: 100, Function: render.Sigmoid},
			want: []byte{30, 128, 186},
		},
		{
			// Modality: 2v-100 = -2148 -2100 -100 -20 60 1900. Window
			// -20,161: 0 below -100.5, 255 above 59.5; -100 -> 0.797, -20 -> 128.3.
			name: "signed 16-bit with rescale",
			h: mono("MONOCHROME2", 16, 16, 15, 1,
				strElem(tagRescaleSlope, "DS", "2"), strElem(tagRescaleIntercept, "DS", "-100")),
			frame: le16(-1024, -1000, 0, 40, 80, 1000), window: &render.Window{Center: -20, Width: 161},
			want: []byte{0, 0, 1, 128, 255, 255},
		},
		{
			// Bits 12-15 hold junk. No window: min 0 is black, max 4095
			// white, linearly between: 1000 -> 62.3, 2000 -> 124.5.
			name:  "12 bits stored, high bit 11, junk above, min-max window",
			h:     mono("MONOCHROME2", 16, 12, 11, 0),
			frame: le16(0xA000|0, 0xF000|1000, 0x5000|2000, 0x0000|4095, 0x3000|4095, 0xF000|0),
			want:  []byte{0, 62, 125, 255, 255, 0},
		},
		{
			// The same values with high bit 15: stored in bits 4-15, junk below.
			name:  "12 bits stored, high bit 15, junk below",
			h:     mono("MONOCHROME2", 16, 12, 15, 0),
			frame: le16(0<<4|0xA, 1000<<4|0xF, 2000<<4|0x5, 4095<<4, 4095<<4|0x3, 0<<4|0xF),
			want:  []byte{0, 62, 125, 255, 255, 0},
		},
		{
			// 12-bit two's complement, sign bit 11, junk above: 0x800 is
			// -2048, 0xFFF is -1. Window 0,2: 0 below -1.5... -1 -> 0, 0 -> 255*0.75.
			name:   "12 bits stored signed, sign-extended from bit 11",
			h:      mono("MONOCHROME2", 16, 12, 11, 1),
			frame:  le16(0xF800, 0x0FFF, 0xA000, 0x07FF, 0x5001, 0x0FFE),
			window: &render.Window{Center: 0, Width: 4, Function: render.LinearExact},
			// -2048 -> 0; -1 -> ((-1)/4+0.5)*255 = 63.75; 0 -> 127.5; 2047 -> 255; 1 -> 191.25; -2 -> 0 (x <= -2).
			want: []byte{0, 64, 128, 255, 191, 0},
		},
		{
			name:   "32 bits allocated, signed, with rescale",
			h:      mono("MONOCHROME2", 32, 32, 31, 1, strElem(tagRescaleSlope, "DS", "0.5"), strElem(tagRescaleIntercept, "DS", "0")),
			frame:  le32(-2000000, 0, 200, 400, 2000000, 1),
			window: &render.Window{Center: 100, Width: 201},
			// x = v/2: -1e6 -> 0; 0 -> 0 (<= -0.5 is false: ((0-99.5)/200+0.5)*255 = 0.6375 -> 1);
			// 100 -> 128.1; 200 -> 255 (> 199.5); 0.5 -> 1.275.
			want: []byte{0, 1, 128, 255, 255, 1},
		},
		{
			// No window: min black, max white, linearly between.
			name:  "min-max window, 16-bit unsigned",
			h:     header{rows: 1, cols: 4, photometric: "MONOCHROME2", ba: 16},
			frame: le16(100, 200, 300, 150),
			want:  []byte{0, 128, 255, 64},
		},
		{
			name:  "min-max window, one value",
			h:     header{rows: 1, cols: 2, photometric: "MONOCHROME2", ba: 16},
			frame: le16(7, 7),
			want:  []byte{0, 0},
		},
		{
			// Rescale and window from the shared functional groups of an
			// enhanced object, overriding the top-level attributes.
			name: "functional groups",
			h: mono("MONOCHROME2", 16, 16, 15, 0,
				strElem(tagRescaleIntercept, "DS", "5000"), strElem(tagWindowCenter, "DS", "1"), strElem(tagWindowWidth, "DS", "1"),
				seqElem(dicom.NewTag(0x5200, 0x9229), item(
					seqElem(dicom.NewTag(0x0028, 0x9145), item(strElem(tagRescaleIntercept, "DS", "-1024"), strElem(tagRescaleSlope, "DS", "1"))),
					seqElem(dicom.NewTag(0x0028, 0x9132), item(strElem(tagWindowCenter, "DS", "0"), strElem(tagWindowWidth, "DS", "101"))),
				))),
			// x = v-1024 = -1024 -974 -924 -874 -824 -24: all 0 (<= -50.5) but -24:
			// ((-24+0.5)/100+0.5)*255 = 67.6.
			frame: le16(0, 50, 100, 150, 200, 1000),
			want:  []byte{0, 0, 0, 0, 0, 68},
		},
		{
			// A VOI LUT of 4 entries from input 10, 8 bits: 0 64 128 255.
			name: "VOI LUT Sequence",
			h: header{rows: 1, cols: 5, photometric: "MONOCHROME2", ba: 8, extra: []*dicom.Element{
				seqElem(dicom.NewTag(0x0028, 0x3010), item(
					usElem(dicom.NewTag(0x0028, 0x3002), 4, 10, 8),
					owElem(dicom.NewTag(0x0028, 0x3006), le16(0, 64, 128, 255)),
				)),
			}},
			frame: []byte{0, 10, 11, 12, 200},
			want:  []byte{0, 0, 64, 128, 255},
		},
		{
			// A Modality LUT of 3 entries from input 1: 1000 2000 3000,
			// then the window 2000,1001: 1000 -> 0, 2000 -> 127.9, 3000 -> 255.
			name: "Modality LUT Sequence",
			h: header{rows: 1, cols: 4, photometric: "MONOCHROME2", ba: 8, extra: []*dicom.Element{
				seqElem(dicom.NewTag(0x0028, 0x3000), item(
					usElem(dicom.NewTag(0x0028, 0x3002), 3, 1, 16),
					owElem(dicom.NewTag(0x0028, 0x3006), le16(1000, 2000, 3000)),
				)),
			}},
			frame: []byte{0, 1, 2, 3}, window: &render.Window{Center: 2000, Width: 1001},
			want: []byte{0, 0, 128, 255},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := render.Image(tt.h.dataset(), syntax(t, dicom.ExplicitVRLittleEndian), tt.frame, render.Options{Window: tt.window})
			if err != nil {
				t.Fatal(err)
			}
			if got := grayPix(t, img); !bytes.Equal(got, tt.want) {
				t.Errorf("levels %v, want %v", got, tt.want)
			}
		})
	}
}

// ybrToRGB is PS3.3 C.7.6.3.1.2's YBR_FULL to RGB conversion, the
// inverse of its RGB to YBR_FULL equations.
func ybrToRGB(y, cb, cr float64) [3]float64 {
	return [3]float64{
		y + 1.402*(cr-128),
		y - 0.344136*(cb-128) - 0.714136*(cr-128),
		y + 1.772*(cb-128),
	}
}

// TestColor checks color frames against their RGB values: the same
// pixels interleaved and by plane, as YBR_FULL and YBR_FULL_422, through
// 8- and 16-bit palettes, and RLE-compressed.
func TestColor(t *testing.T) {
	rgb := []byte{255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30} // 2x2: red green / blue dark
	planar := []byte{255, 0, 0, 10, 0, 255, 0, 20, 0, 0, 255, 30}
	rgb16 := le16(0xFFFF, 0, 0, 0, 0xFFFF, 0, 0, 0, 0xFFFF, 10*257, 20*257, 30*257)
	rgbHeader := func(ba, planar int) header {
		return header{rows: 2, cols: 2, spp: 3, photometric: "RGB", ba: ba, planar: planar}
	}
	// Palette: index 100 red, 101 green, 102 blue, 103 (10,20,30); 8-bit
	// entries packed one per byte, 16-bit ones scaled by 257.
	pal := func(bits int, vals ...int) []byte {
		if bits == 8 {
			b := make([]byte, len(vals))
			for i, v := range vals {
				b[i] = byte(v)
			}
			return b
		}
		for i := range vals {
			vals[i] *= 257
		}
		return le16(vals...)
	}
	palHeader := func(bits int) header {
		return header{rows: 2, cols: 2, photometric: "PALETTE COLOR", ba: 8, extra: []*dicom.Element{
			usElem(dicom.NewTag(0x0028, 0x1101), 4, 100, bits),
			usElem(dicom.NewTag(0x0028, 0x1102), 4, 100, bits),
			usElem(dicom.NewTag(0x0028, 0x1103), 4, 100, bits),
			owElem(dicom.NewTag(0x0028, 0x1201), pal(bits, 255, 0, 0, 10)),
			owElem(dicom.NewTag(0x0028, 0x1202), pal(bits, 0, 255, 0, 20)),
			owElem(dicom.NewTag(0x0028, 0x1203), pal(bits, 0, 0, 255, 30)),
		}}
	}
	// YBR_FULL values of the rgb pixels, from the RGB to YBR_FULL equations.
	var ybr, ybrPlanar []byte
	var ybrWant []byte
	for i := 0; i < len(rgb); i += 3 {
		r, g, b := float64(rgb[i]), float64(rgb[i+1]), float64(rgb[i+2])
		y := math.Round(0.299*r + 0.587*g + 0.114*b)
		cb := math.Round(-0.168736*r - 0.331264*g + 0.5*b + 128)
		cr := math.Round(0.5*r - 0.418688*g - 0.081312*b + 128)
		ybr = append(ybr, byte(y), byte(min(255, cb)), byte(min(255, cr)))
		for _, v := range ybrToRGB(y, min(255, cb), min(255, cr)) {
			ybrWant = append(ybrWant, byte(math.Max(0, math.Min(255, math.Round(v)))))
		}
	}
	for c := range 3 {
		for i := range 4 {
			ybrPlanar = append(ybrPlanar, ybr[3*i+c])
		}
	}
	// YBR_FULL_422, 2x2: per row Y1 Y2 Cb Cr.
	ybr422 := []byte{76, 150, 85, 255, 29, 120, 200, 60}
	var ybr422Want []byte
	for _, p := range [][3]float64{{76, 85, 255}, {150, 85, 255}, {29, 200, 60}, {120, 200, 60}} {
		for _, v := range ybrToRGB(p[0], p[1], p[2]) {
			ybr422Want = append(ybr422Want, byte(math.Max(0, math.Min(255, math.Round(v)))))
		}
	}
	tests := []struct {
		name  string
		h     header
		uid   string
		frame []byte
		want  []byte
		tol   int
	}{
		{name: "RGB interleaved", h: rgbHeader(8, 0), frame: rgb, want: rgb},
		{name: "RGB planar", h: rgbHeader(8, 1), frame: planar, want: rgb},
		{name: "RGB 16-bit", h: rgbHeader(16, 0), frame: rgb16, want: rgb},
		{name: "RGB RLE", h: rgbHeader(8, 0), uid: dicom.RLELossless, frame: rleEncode(rgb, 4, 3, 1), want: rgb},
		{name: "RGB 16-bit RLE", h: rgbHeader(16, 0), uid: dicom.RLELossless, frame: rleEncode(rgb16, 4, 3, 2), want: rgb},
		// The conversion rounds through 8 bits twice: allow 1.
		{name: "YBR_FULL", h: header{rows: 2, cols: 2, spp: 3, photometric: "YBR_FULL", ba: 8}, frame: ybr, want: ybrWant, tol: 1},
		{name: "YBR_FULL planar", h: header{rows: 2, cols: 2, spp: 3, photometric: "YBR_FULL", ba: 8, planar: 1}, frame: ybrPlanar, want: ybrWant, tol: 1},
		{name: "YBR_FULL_422", h: header{rows: 2, cols: 2, spp: 3, photometric: "YBR_FULL_422", ba: 8}, frame: ybr422, want: ybr422Want, tol: 1},
		{name: "palette 8-bit", h: palHeader(8), frame: []byte{100, 101, 102, 103}, want: rgb},
		{name: "palette 16-bit", h: palHeader(16), frame: []byte{100, 101, 102, 103}, want: rgb},
		// Indices outside the table clamp to its ends.
		{name: "palette clamps", h: palHeader(8), frame: []byte{0, 101, 102, 250}, want: rgb},
		{name: "palette RLE", h: palHeader(16), uid: dicom.RLELossless, frame: rleEncode([]byte{100, 101, 102, 103}, 4, 1, 1), want: rgb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid := tt.uid
			if uid == "" {
				uid = dicom.ExplicitVRLittleEndian
			}
			img, err := render.Image(tt.h.dataset(), syntax(t, uid), tt.frame, render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := rgbPix(t, img)
			if len(got) != len(tt.want) {
				t.Fatalf("%d values, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if d := int(got[i]) - int(tt.want[i]); d > tt.tol || -d > tt.tol {
					t.Fatalf("RGB %v, want %v (within %d)", got, tt.want, tt.tol)
				}
			}
		})
	}
}

// rleEncode compresses a native frame (samples interleaved) of n pixels,
// spp samples of size bytes each, as an RLE Lossless frame (PS3.5 Annex
// G): one segment per byte of each sample, most significant first, each
// a PackBits stream of runs (2 to 128 equal bytes) and literals, written
// independently of the decoder under test.
func rleEncode(frame []byte, n, spp, size int) []byte {
	nseg := spp * size
	var segs [][]byte
	for k := range nseg {
		c, b := k/size, size-1-k%size
		plane := make([]byte, n)
		for i := range n {
			plane[i] = frame[(i*spp+c)*size+b]
		}
		var seg []byte
		for i := 0; i < n; {
			j := i + 1
			for j < n && j-i < 128 && plane[j] == plane[i] {
				j++
			}
			if j-i >= 2 {
				seg = append(seg, byte(int8(1-(j-i))), plane[i])
				i = j
				continue
			}
			j = i + 1
			for j < n && j-i < 128 && (j+1 >= n || plane[j] != plane[j+1]) {
				j++
			}
			seg = append(seg, byte(j-i-1))
			seg = append(seg, plane[i:j]...)
			i = j
		}
		if len(seg)%2 == 1 {
			seg = append(seg, 0x80) // a no-op pads the segment to even length
		}
		segs = append(segs, seg)
	}
	hdr := make([]byte, 64)
	hdr[0] = byte(nseg)
	off := 64
	for k, s := range segs {
		hdr[4+4*k], hdr[5+4*k] = byte(off), byte(off>>8)
		hdr[6+4*k] = byte(off >> 16)
		off += len(s)
	}
	out := hdr
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}

// TestRLE checks the RLE decoder on streams written by hand (PS3.5
// G.3.1: 0..127 is a literal of n+1 bytes, -1..-127 a run of 1-n bytes,
// -128 nothing) and on grayscale frames that the test's own encoder
// compresses.
func TestRLE(t *testing.T) {
	h := header{rows: 2, cols: 4, photometric: "MONOCHROME2", ba: 8}
	w := &render.Window{Center: 128, Width: 256} // identity for 8 bits
	seg := []byte{
		0x02, 10, 20, 30, // literal of 3
		0xFD, 40, // run of 4
		0x80, // no-op
		0x00, 50,
		0x80, // padding after the plane is full
	}
	frame := append(make([]byte, 64), seg...)
	frame[0], frame[4] = 1, 64
	img, err := render.Image(h.dataset(), syntax(t, dicom.RLELossless), frame, render.Options{Window: w})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := grayPix(t, img), []byte{10, 20, 30, 40, 40, 40, 40, 50}; !bytes.Equal(got, want) {
		t.Errorf("levels %v, want %v", got, want)
	}

	// 16-bit signed with rescale, RLE vs native, on a 64x64 ramp with runs.
	h16 := header{rows: 64, cols: 64, photometric: "MONOCHROME2", ba: 16, pr: 1,
		extra: []*dicom.Element{strElem(tagRescaleIntercept, "DS", "-1024"), strElem(tagRescaleSlope, "DS", "1")}}
	var vals []int
	for i := range 64 * 64 {
		vals = append(vals, (i/7)*13-800)
	}
	native := le16(vals...)
	want, err := render.Image(h16.dataset(), syntax(t, dicom.ExplicitVRLittleEndian), native, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := render.Image(h16.dataset(), syntax(t, dicom.RLELossless), rleEncode(native, 64*64, 1, 2), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(grayPix(t, got), grayPix(t, want)) {
		t.Error("the RLE frame renders differently from the same frame native")
	}

	bad := []struct {
		name  string
		frame []byte
	}{
		{"short header", make([]byte, 10)},
		{"two segments for one", func() []byte { f := append([]byte(nil), frame...); f[0] = 2; f[8] = 70; return f }()},
		{"segment offset past the end", func() []byte { f := append([]byte(nil), frame...); f[4] = 200; return f }()},
		{"plane not filled", append(append([]byte(nil), frame[:64]...), 0x02, 10, 20, 30)},
		{"run past the plane", append(append([]byte(nil), frame[:64]...), 0x88, 1)},
		{"literal past the segment", append(append([]byte(nil), frame[:64]...), 0x7F, 1, 2)},
	}
	for _, b := range bad {
		if _, err := render.Image(h.dataset(), syntax(t, dicom.RLELossless), b.frame, render.Options{}); !errors.Is(err, dicom.ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", b.name, err)
		}
	}
}

// TestJPEG renders JPEG Baseline frames made with image/jpeg and checks
// them against image/jpeg's own decoding.
func TestJPEG(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 32, 16))
	col := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for y := range 16 {
		for x := range 32 {
			gray.SetGray(x, y, color.Gray{Y: uint8(x*8 + y)})
			// G and B constant over 2x2 blocks: image/jpeg subsamples
			// chroma 4:2:0, and the RGB case below keeps G and B in it.
			col.Set(x, y, color.RGBA{R: uint8(x * 8), G: uint8(y / 2 * 32), B: 128, A: 255})
		}
	}
	enc := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	decoded := func(b []byte) image.Image {
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	// A 4:4:4 YCbCr image whose planes hold R, G and B, as an encoder
	// writing RGB without a color transform does.
	rgbInYCbCr := image.NewYCbCr(col.Rect, image.YCbCrSubsampleRatio444)
	for i := range 32 * 16 {
		rgbInYCbCr.Y[i], rgbInYCbCr.Cb[i], rgbInYCbCr.Cr[i] = col.Pix[4*i], col.Pix[4*i+1], col.Pix[4*i+2]
	}
	grayJPEG, colJPEG, rgbJPEG := enc(gray), enc(col), enc(rgbInYCbCr)
	invert := image.NewGray(gray.Rect)
	for i, v := range decoded(grayJPEG).(*image.Gray).Pix {
		invert.Pix[i] = 255 - v
	}
	monoHeader := func(p string) header { return header{rows: 16, cols: 32, photometric: p, ba: 8} }
	tests := []struct {
		name   string
		h      header
		frame  []byte
		window *render.Window
		want   image.Image
		tol    int
	}{
		// The identity window leaves image/jpeg's levels exactly.
		{name: "MONOCHROME2", h: monoHeader("MONOCHROME2"), frame: grayJPEG, window: &render.Window{Center: 128, Width: 256}, want: decoded(grayJPEG)},
		{name: "MONOCHROME1", h: monoHeader("MONOCHROME1"), frame: grayJPEG, window: &render.Window{Center: 128, Width: 256}, want: invert},
		// A requested window applies to color images not at all.
		{name: "YBR_FULL_422", h: header{rows: 16, cols: 32, spp: 3, photometric: "YBR_FULL_422", ba: 8}, frame: colJPEG,
			window: &render.Window{Center: 10, Width: 2}, want: decoded(colJPEG)},
		// image/jpeg converts through YCbCr with its own rounding: allow 1.
		{name: "RGB not color-transformed", h: header{rows: 16, cols: 32, spp: 3, photometric: "RGB", ba: 8}, frame: rgbJPEG, want: col, tol: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := render.Image(tt.h.dataset(), syntax(t, dicom.JPEGBaseline), tt.frame, render.Options{Window: tt.window})
			if err != nil {
				t.Fatal(err)
			}
			tol := max(tt.tol, 1)
			if m, n := compare(t, img, tt.want, tol); n > 0 {
				t.Errorf("%d channel values differ by more than %d (max %d)", n, tol, m)
			}
		})
	}
	if _, err := render.Image(monoHeader("MONOCHROME2").dataset(), syntax(t, dicom.JPEGBaseline), colJPEG, render.Options{}); !errors.Is(err, dicom.ErrMalformed) {
		t.Errorf("color JPEG in a MONOCHROME2 image: err %v, want ErrMalformed", err)
	}
	small := monoHeader("MONOCHROME2")
	small.rows = 8
	if _, err := render.Image(small.dataset(), syntax(t, dicom.JPEGBaseline), grayJPEG, render.Options{}); !errors.Is(err, dicom.ErrMalformed) {
		t.Errorf("JPEG of other dimensions than the header's: err %v, want ErrMalformed", err)
	}
	if _, err := render.Image(small.dataset(), syntax(t, dicom.JPEGBaseline), grayJPEG[:len(grayJPEG)/2], render.Options{}); err == nil {
		t.Error("truncated JPEG: no error")
	}
}

// TestErrors checks what Image refuses and how it says so.
func TestErrors(t *testing.T) {
	mono := header{rows: 2, cols: 2, photometric: "MONOCHROME2", ba: 16}
	frame := le16(1, 2, 3, 4)
	with := func(h header, f func(*header)) header { f(&h); return h }
	tests := []struct {
		name  string
		ds    *dicom.Dataset
		uid   string
		frame []byte
		o     render.Options
		is    error  // errors.Is target, or nil
		code  string // trialgate code, or ""
	}{
		{name: "frame too short", ds: mono.dataset(), frame: frame[:6], is: dicom.ErrMalformed},
		{name: "frame too long", ds: mono.dataset(), frame: append(frame, 0, 0), is: dicom.ErrMalformed},
		{name: "no rows", ds: func() *dicom.Dataset { d := mono.dataset(); d.Remove(dicom.Rows); return d }(), frame: frame, is: dicom.ErrMalformed},
		{name: "bits stored above allocated", ds: with(mono, func(h *header) { h.bs = 17 }).dataset(), frame: frame, is: dicom.ErrMalformed},
		{name: "high bit below bits stored", ds: with(mono, func(h *header) { h.bs, h.hb = 12, 10 }).dataset(), frame: frame, is: dicom.ErrMalformed},
		{name: "RGB with one sample", ds: with(mono, func(h *header) { h.photometric = "RGB" }).dataset(), frame: frame, is: dicom.ErrMalformed},
		{name: "1 bit allocated", ds: with(mono, func(h *header) { h.ba = 1 }).dataset(), frame: frame[:1], is: dicom.ErrUnsupported},
		{name: "unknown photometric", ds: with(mono, func(h *header) { h.photometric = "HSV" }).dataset(), frame: frame, is: dicom.ErrUnsupported},
		{name: "JPEG 2000", ds: mono.dataset(), uid: "1.2.840.10008.1.2.4.90", frame: frame, is: dicom.ErrUnsupported},
		{name: "JPEG lossless", ds: mono.dataset(), uid: "1.2.840.10008.1.2.4.70", frame: frame, is: dicom.ErrUnsupported},
		{name: "over the pixel limit", ds: mono.dataset(), frame: frame, o: render.Options{MaxPixels: 3}, is: dicom.ErrUnsupported},
		{name: "segmented palette", ds: with(mono, func(h *header) {
			h.photometric = "PALETTE COLOR"
			h.extra = []*dicom.Element{usElem(dicom.NewTag(0x0028, 0x1101), 4, 0, 16), owElem(dicom.NewTag(0x0028, 0x1221), le16(0, 4, 0))}
		}).dataset(), frame: frame, is: dicom.ErrUnsupported},
		{name: "palette without its table", ds: with(mono, func(h *header) { h.photometric = "PALETTE COLOR" }).dataset(), frame: frame, is: dicom.ErrMalformed},
		{name: "region outside the frame", ds: mono.dataset(), frame: frame, o: render.Options{Viewport: render.Viewport{SX: 1, SW: 2}}, code: trialgate.EInvalid},
		{name: "region flipped outside the frame", ds: mono.dataset(), frame: frame, o: render.Options{Viewport: render.Viewport{SY: 1, SH: -2}}, code: trialgate.EInvalid},
		{name: "rendered size over the limit", ds: mono.dataset(), frame: frame, o: render.Options{Viewport: render.Viewport{Width: 100, Height: 100}, MaxPixels: 1000}, code: trialgate.EInvalid},
		{name: "unusable window", ds: mono.dataset(), frame: frame, o: render.Options{Window: &render.Window{Center: 1, Width: 0.5}}, code: trialgate.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid := tt.uid
			if uid == "" {
				uid = dicom.ExplicitVRLittleEndian
			}
			_, err := render.Image(tt.ds, syntax(t, uid), tt.frame, tt.o)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err %v, want one wrapping %v", err, tt.is)
			}
			if tt.code != "" && trialgate.ErrorCode(err) != tt.code {
				t.Errorf("err %v, want code %s", err, tt.code)
			}
			if tt.is != dicom.ErrUnsupported && isUnsupported(err) {
				t.Errorf("err %v wraps ErrUnsupported: the caller would answer 406", err)
			}
		})
	}
}

// TestPadByte accepts the pad byte that ends an odd-length Pixel Data
// value of a single frame.
func TestPadByte(t *testing.T) {
	h := header{rows: 1, cols: 3, photometric: "MONOCHROME2", ba: 8}
	img, err := render.Image(h.dataset(), syntax(t, dicom.ExplicitVRLittleEndian), []byte{0, 1, 2, 0}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := grayPix(t, img); !bytes.Equal(got, []byte{0, 128, 255}) {
		t.Errorf("levels %v", got)
	}
}

// TestPerFrameGroups checks that Options.Frame selects the frame's item
// of the Per-Frame Functional Groups Sequence, which overrides the shared
// groups, and that a frame whose item lacks a group falls back on them.
func TestPerFrameGroups(t *testing.T) {
	voi := func(c, w string) *dicom.Element {
		return seqElem(dicom.NewTag(0x0028, 0x9132), item(strElem(tagWindowCenter, "DS", c), strElem(tagWindowWidth, "DS", w)))
	}
	h := header{rows: 1, cols: 3, photometric: "MONOCHROME2", ba: 8, extra: []*dicom.Element{
		seqElem(dicom.NewTag(0x5200, 0x9229), item(voi("100", "101"))), // shared: 49.5 to 149.5
		seqElem(dicom.NewTag(0x5200, 0x9230),
			item(seqElem(dicom.NewTag(0x0020, 0x9111))), // frame 1: no Frame VOI LUT
			item(voi("10", "11")),                       // frame 2: 4.5 to 14.5
		),
	}}
	frame := []byte{10, 100, 150}
	tests := []struct {
		frame int
		want  []byte
	}{
		{0, []byte{0, 129, 255}},   // shared only
		{1, []byte{0, 129, 255}},   // falls back on the shared groups
		{2, []byte{140, 255, 255}}, // ((10-9.5)/10+0.5)*255 = 140.25
		{3, []byte{0, 129, 255}},   // no such item: shared
	}
	for _, tt := range tests {
		img, err := render.Image(h.dataset(), syntax(t, dicom.ExplicitVRLittleEndian), frame, render.Options{Frame: tt.frame})
		if err != nil {
			t.Fatal(err)
		}
		if got := grayPix(t, img); !bytes.Equal(got, tt.want) {
			t.Errorf("frame %d: levels %v, want %v", tt.frame, got, tt.want)
		}
	}
}
