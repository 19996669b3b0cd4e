package render_test

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/render"
)

// peerCase is a frame rendered both by Image and by dcmtk's dcm2pnm (an
// independent implementation of PS3.3 C.11), which must agree on every
// pixel within tol: dcm2pnm truncates where Image rounds to the nearest
// level, so they may differ by one.
type peerCase struct {
	name  string
	file  string // DICOM file for dcm2pnm
	ds    *dicom.Dataset
	s     dicom.Syntax
	frame []byte
	o     render.Options
	args  []string // dcm2pnm options besides +on (PNG output)
	tol   int      // 0 means 1
}

// TestPeerReal renders the repository's real files (all native) and
// compares them with dcm2pnm's rendering of the same files. Each case
// logs the dcm2pnm command it compares with, e.g.
//
//	dcm2pnm +on +Wi 1 testdata/real/3.dcm peer.png
func TestPeerReal(t *testing.T) {
	var cases []peerCase
	add := func(name, file string, frame int, o render.Options, args ...string) {
		ds, s, pixel := realFile(t, file)
		if strings.Contains(name, "min-max") {
			// Image prefers the stored window: without it, it falls back
			// on min-max, as dcm2pnm +Wm does whatever the file holds.
			ds.Remove(tagWindowCenter)
			ds.Remove(tagWindowWidth)
		}
		o.Frame = frame
		cases = append(cases, peerCase{
			name: name, file: filepath.Join(realDir, file), ds: ds, s: s,
			frame: nativeFrame(t, ds, pixel, frame), o: o, args: args,
		})
	}
	win := func(c, w float64, f string) render.Options {
		return render.Options{Window: &render.Window{Center: c, Width: w, Function: f}}
	}
	// 1.dcm, 2.dcm: PET, signed 16-bit, Rescale Slope 9.12 / 46.26, a stored window.
	add("1 stored window", "1.dcm", 1, render.Options{}, "+Wi", "1")
	add("1 min-max", "1.dcm", 1, render.Options{}, "+Wm")
	add("1 requested window", "1.dcm", 1, win(3000, 6000, render.Linear), "+Ww", "3000", "6000")
	add("2 stored window", "2.dcm", 1, render.Options{}, "+Wi", "1")
	// 3.dcm: MR, 12 bits stored in 16, LINEAR stored window.
	add("3 stored window", "3.dcm", 1, render.Options{}, "+Wi", "1")
	add("3 min-max", "3.dcm", 1, render.Options{}, "+Wm")
	add("3 sigmoid", "3.dcm", 1, win(378, 465, render.Sigmoid), "+Ww", "378", "465", "+Wfs")
	// 4.dcm: CR, MONOCHROME1, 10 bits stored, 1760x2140, implicit VR.
	add("4 stored window", "4.dcm", 1, render.Options{}, "+Wi", "1")
	add("4 min-max", "4.dcm", 1, render.Options{}, "+Wm")
	// 5.dcm: enhanced CT, two frames, rescale (-1024) and window (49,
	// 102) in the shared functional groups only. dcm2pnm reads no window
	// there: it is given the one Image must have found.
	add("5 frame 1 functional groups", "5.dcm", 1, render.Options{}, "+Ww", "49", "102")
	add("5 frame 2 functional groups", "5.dcm", 2, render.Options{}, "+F", "2", "+Ww", "49", "102")
	add("5 frame 2 requested window", "5.dcm", 2, win(40, 400, render.Linear), "+F", "2", "+Ww", "40", "400")
	// 6.dcm: deflated data set, 8-bit MONOCHROME2, no window.
	add("6 min-max", "6.dcm", 1, render.Options{}, "+Wm")
	runPeer(t, cases)
}

// TestPeerSynthetic renders synthesized frames of the kinds the real files
// lack and compares them with dcm2pnm's rendering of the same frames
// written as DICOM files.
func TestPeerSynthetic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols = 48, 64
	n := rows * cols
	ramp := func(lo, hi int, mask func(int) int) []int {
		vs := make([]int, n)
		for i := range vs {
			x, y := i%cols, i/cols
			v := lo + (hi-lo)*(x+y)/(rows+cols-2) + rng.IntN(9) - 4
			vs[i] = mask(max(lo, min(hi, v)))
		}
		return vs
	}
	id := func(v int) int { return v }
	var cases []peerCase
	add := func(name string, h header, uid string, frame, pixel []byte, o render.Options, args ...string) {
		ds := h.dataset()
		c := peerCase{
			name: name, file: writeDICOM(t, ds, uid, pixel), ds: ds, s: syntax(t, uid),
			frame: frame, o: o, args: args,
		}
		if strings.HasPrefix(h.photometric, "YBR") {
			// dcmtk's fixed-point YCbCr conversion is itself up to 2 away
			// from PS3.3 C.7.6.3.1.2's equations rounded (measured over a
			// grid of every 5th Y, Cb and Cr); TestColor holds Image to 1.
			c.tol = 2
		}
		cases = append(cases, c)
	}
	native := func(name string, h header, frame []byte, o render.Options, args ...string) {
		add(name, h, dicom.ExplicitVRLittleEndian, frame, frame, o, args...)
	}
	rescale := []*dicom.Element{strElem(tagRescaleSlope, "DS", "1.5"), strElem(tagRescaleIntercept, "DS", "-1024")}
	signed := header{rows: rows, cols: cols, photometric: "MONOCHROME2", ba: 16, pr: 1, extra: rescale}
	s16 := le16(ramp(-2000, 3000, id)...)
	native("signed 16-bit, rescale, window", signed, s16,
		render.Options{Window: &render.Window{Center: 40, Width: 400}}, "+Ww", "40", "400")
	native("signed 16-bit, rescale, min-max", signed, s16, render.Options{}, "+Wm")
	mono1 := signed
	mono1.photometric = "MONOCHROME1"
	native("MONOCHROME1 signed 16-bit", mono1, s16, render.Options{Window: &render.Window{Center: 500, Width: 3000}}, "+Ww", "500", "3000")
	// 12 bits stored at bits 0-11, random junk in bits 12-15.
	junk := func(v int) int { return v | rng.IntN(16)<<12 }
	h12 := header{rows: rows, cols: cols, photometric: "MONOCHROME2", ba: 16, bs: 12, hb: 11}
	native("12 bits stored, junk above", h12, le16(ramp(0, 4095, junk)...), render.Options{}, "+Wm")
	h12s := h12
	h12s.pr = 1
	native("12 bits stored signed, junk above", h12s, le16(ramp(-2048, 2047, func(v int) int { return junk(v & 0xFFF) })...),
		render.Options{Window: &render.Window{Center: 0, Width: 2000}}, "+Ww", "0", "2000")
	// Color: the same pixels interleaved, by plane, as YBR_FULL, RLE.
	rgb := make([]byte, 3*n)
	for i := range rgb {
		rgb[i] = byte(ramp(0, 255, id)[i/3] ^ (i%3)*85)
	}
	planar := make([]byte, 3*n)
	for i := range n {
		for c := range 3 {
			planar[c*n+i] = rgb[3*i+c]
		}
	}
	rgbH := header{rows: rows, cols: cols, spp: 3, photometric: "RGB", ba: 8}
	native("RGB interleaved", rgbH, rgb, render.Options{})
	rgbP := rgbH
	rgbP.planar = 1
	native("RGB planar", rgbP, planar, render.Options{})
	ybr := rgbH
	ybr.photometric = "YBR_FULL"
	native("YBR_FULL", ybr, rgb, render.Options{})
	ybr422 := rgbH
	ybr422.photometric = "YBR_FULL_422"
	native("YBR_FULL_422", ybr422, rgb[:2*n], render.Options{})
	rle := rleEncode(rgb, n, 3, 1)
	add("RGB RLE", rgbH, dicom.RLELossless, rle, dicom.Fragments(rle), render.Options{})
	rle16 := rleEncode(s16, n, 1, 2)
	add("signed 16-bit RLE", signed, dicom.RLELossless, rle16, dicom.Fragments(rle16), render.Options{}, "+Wm")
	// Palette: 256 entries of 16 bits from 0.
	var red, green, blue []int
	for i := range 256 {
		red, green, blue = append(red, i*257), append(green, (255-i)*257), append(blue, (i*7%256)*257)
	}
	pal := header{rows: rows, cols: cols, photometric: "PALETTE COLOR", ba: 8, extra: []*dicom.Element{
		usElem(dicom.NewTag(0x0028, 0x1101), 256, 0, 16), usElem(dicom.NewTag(0x0028, 0x1102), 256, 0, 16),
		usElem(dicom.NewTag(0x0028, 0x1103), 256, 0, 16),
		owElem(dicom.NewTag(0x0028, 0x1201), le16(red...)), owElem(dicom.NewTag(0x0028, 0x1202), le16(green...)),
		owElem(dicom.NewTag(0x0028, 0x1203), le16(blue...)),
	}}
	idx := make([]byte, n)
	for i, v := range ramp(0, 255, id) {
		idx[i] = byte(v)
	}
	native("PALETTE COLOR 16-bit entries", pal, idx, render.Options{})
	runPeer(t, cases)
}

func runPeer(t *testing.T, cases []peerCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tol := max(c.tol, 1)
			t.Logf("peer: dcm2pnm +on %s %s peer.png", strings.Join(c.args, " "), c.file)
			want := dcm2pnm(t, c.file, c.args...)
			got, err := render.Image(c.ds, c.s, c.frame, c.o)
			if err != nil {
				t.Fatal(err)
			}
			m, over := compare(t, got, want, tol)
			if over > 0 {
				t.Errorf("%d channel values differ from dcm2pnm's by more than %d (max %d)", over, tol, m)
			}
			t.Logf("largest difference from dcm2pnm: %d", m)
		})
	}
}
