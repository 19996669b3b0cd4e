package render_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// header describes the Image Pixel module of a synthesized image.
type header struct {
	rows, cols  int
	spp         int // 0 means 1
	photometric string
	ba, bs, hb  int // bs and hb 0 mean ba and bs-1
	pr, planar  int
	extra       []*dicom.Element
}

// dataset returns h as a data set of a Secondary Capture image.
func (h header) dataset() *dicom.Dataset {
	if h.spp == 0 {
		h.spp = 1
	}
	if h.bs == 0 {
		h.bs = h.ba
	}
	if h.hb == 0 {
		h.hb = h.bs - 1
	}
	ds := &dicom.Dataset{}
	ds.SetString(dicom.SOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7")
	ds.SetString(dicom.SOPInstanceUID, "UI", "2.25.1234")
	ds.SetString(dicom.Modality, "CS", "OT")
	ds.Set(usElem(dicom.SamplesPerPixel, h.spp))
	ds.SetString(dicom.NewTag(0x0028, 0x0004), "CS", h.photometric)
	if h.spp == 3 {
		ds.Set(usElem(dicom.NewTag(0x0028, 0x0006), h.planar))
	}
	ds.Set(usElem(dicom.Rows, h.rows))
	ds.Set(usElem(dicom.Columns, h.cols))
	ds.Set(usElem(dicom.BitsAllocated, h.ba))
	ds.Set(usElem(dicom.NewTag(0x0028, 0x0101), h.bs))
	ds.Set(usElem(dicom.NewTag(0x0028, 0x0102), h.hb))
	ds.Set(usElem(dicom.NewTag(0x0028, 0x0103), h.pr))
	for _, e := range h.extra {
		ds.Set(e)
	}
	return ds
}

func usElem(t dicom.Tag, vs ...int) *dicom.Element {
	return &dicom.Element{Tag: t, VR: "US", Value: le16(vs...)}
}

func ssElem(t dicom.Tag, vs ...int) *dicom.Element {
	return &dicom.Element{Tag: t, VR: "SS", Value: le16(vs...)}
}

func owElem(t dicom.Tag, b []byte) *dicom.Element {
	return &dicom.Element{Tag: t, VR: "OW", Value: b}
}

func strElem(t dicom.Tag, vr string, vs ...string) *dicom.Element {
	d := &dicom.Dataset{}
	d.SetString(t, vr, vs...)
	return d.Get(t)
}

func seqElem(t dicom.Tag, items ...*dicom.Dataset) *dicom.Element {
	return &dicom.Element{Tag: t, VR: "SQ", Items: items}
}

func item(es ...*dicom.Element) *dicom.Dataset {
	d := &dicom.Dataset{}
	for _, e := range es {
		d.Set(e)
	}
	return d
}

// le16 encodes values as 16-bit little-endian words (negative ones in
// two's complement).
func le16(vs ...int) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func le32(vs ...int) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b
}

// Tags the tests set beyond the Image Pixel module.
var (
	tagWindowCenter     = dicom.NewTag(0x0028, 0x1050)
	tagWindowWidth      = dicom.NewTag(0x0028, 0x1051)
	tagRescaleIntercept = dicom.NewTag(0x0028, 0x1052)
	tagRescaleSlope     = dicom.NewTag(0x0028, 0x1053)
	tagVOILUTFunction   = dicom.NewTag(0x0028, 0x1056)
)

func syntax(t testing.TB, uid string) dicom.Syntax {
	t.Helper()
	s, err := dicom.LookupSyntax(uid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// grayPix returns img's pixels as 8-bit gray levels, failing unless it is
// an *image.Gray.
func grayPix(t testing.TB, img image.Image) []byte {
	t.Helper()
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("rendered a %T, want *image.Gray", img)
	}
	var out []byte
	for y := g.Rect.Min.Y; y < g.Rect.Max.Y; y++ {
		out = append(out, g.Pix[(y-g.Rect.Min.Y)*g.Stride:][:g.Rect.Dx()]...)
	}
	return out
}

// rgbPix returns img's pixels as R, G, B bytes, failing unless it is an
// opaque *image.RGBA.
func rgbPix(t testing.TB, img image.Image) []byte {
	t.Helper()
	m, ok := img.(*image.RGBA)
	if !ok {
		t.Fatalf("rendered a %T, want *image.RGBA", img)
	}
	var out []byte
	for y := range m.Rect.Dy() {
		row := m.Pix[y*m.Stride:]
		for x := range m.Rect.Dx() {
			if a := row[4*x+3]; a != 255 {
				t.Fatalf("pixel %d,%d has alpha %d", x, y, a)
			}
			out = append(out, row[4*x:4*x+3]...)
		}
	}
	return out
}

// compare returns the largest difference between two images' channels and
// how many channel values differ by more than tol. Both must have the
// same size; gray and color images compare by their RGB values.
func compare(t testing.TB, got, want image.Image, tol int) (maxDiff, over int) {
	t.Helper()
	if got.Bounds().Size() != want.Bounds().Size() {
		t.Fatalf("rendered %v, peer %v", got.Bounds().Size(), want.Bounds().Size())
	}
	if g, ok := got.(*image.Gray); ok {
		if w, ok := want.(*image.Gray); ok {
			gp, wp := grayPix(t, g), grayPix(t, w)
			for i := range gp {
				d := int(gp[i]) - int(wp[i])
				d = max(d, -d)
				maxDiff = max(maxDiff, d)
				if d > tol {
					over++
				}
			}
			return maxDiff, over
		}
	}
	gb, wb := got.Bounds(), want.Bounds()
	for y := range gb.Dy() {
		for x := range gb.Dx() {
			r1, g1, b1, _ := got.At(gb.Min.X+x, gb.Min.Y+y).RGBA()
			r2, g2, b2, _ := want.At(wb.Min.X+x, wb.Min.Y+y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				d = max(d, -d)
				maxDiff = max(maxDiff, d)
				if d > tol {
					over++
				}
			}
		}
	}
	return maxDiff, over
}

// realDir is the repository's real DICOM test files.
const realDir = "../../testdata/real"

// realFile parses a real test file and returns its header, syntax and
// the value of its Pixel Data element (native files only). It finds the
// value with the dicom package's public API alone: Write copies the Pixel
// Data element byte for byte right after the header it re-encodes, so
// the element starts where dicom.Encode of the same header ends. A
// deflated file is written undeflated (its Pixel Data is native), so
// that the element can be read.
func realFile(t testing.TB, name string) (*dicom.Dataset, dicom.Syntax, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(realDir, name))
	if err != nil {
		t.Fatal(err)
	}
	o, err := dicom.Parse(bytes.NewReader(b), dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	s := o.Syntax
	plain := s
	plain.Deflated = false
	o.Syntax = plain
	var head, full bytes.Buffer
	if err := dicom.Encode(&head, o.Meta, o.Dataset, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write(&full, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(full.Bytes(), head.Bytes()) {
		t.Fatalf("%s: Write did not start with the header Encode writes", name)
	}
	rest := full.Bytes()[head.Len():]
	le := binary.LittleEndian
	if len(rest) < 12 || le.Uint16(rest) != 0x7FE0 || le.Uint16(rest[2:]) != 0x0010 {
		t.Fatalf("%s: no Pixel Data after the header", name)
	}
	var n, off int
	if s.Implicit {
		n, off = int(le.Uint32(rest[4:])), 8
	} else {
		n, off = int(le.Uint32(rest[8:])), 12
	}
	if n == 0xFFFFFFFF || off+n > len(rest) {
		t.Fatalf("%s: Pixel Data of length %#x is not native", name, n)
	}
	return o.Dataset, s, rest[off : off+n]
}

// nativeFrame returns frame n (1-based) of native Pixel Data.
func nativeFrame(t testing.TB, ds *dicom.Dataset, pixel []byte, n int) []byte {
	t.Helper()
	get := func(tag dicom.Tag) int {
		e := ds.Get(tag)
		if e == nil {
			return 1
		}
		v, err := e.Floats()
		if err != nil || len(v) == 0 {
			t.Fatalf("%s: %v", tag, err)
		}
		return int(v[0])
	}
	size := get(dicom.Rows) * get(dicom.Columns) * get(dicom.SamplesPerPixel) * get(dicom.BitsAllocated) / 8
	if n*size > len(pixel) {
		t.Fatalf("frame %d of %d bytes is past the Pixel Data's %d", n, size, len(pixel))
	}
	return pixel[(n-1)*size : n*size]
}

// dcm2pnm renders file with dcmtk's dcm2pnm, the independent peer, with
// args (VOI and frame options) and PNG output; it skips the test when
// dcmtk is not installed.
func dcm2pnm(t testing.TB, file string, args ...string) image.Image {
	t.Helper()
	bin, err := exec.LookPath("dcm2pnm")
	if err != nil {
		t.Skip("dcmtk's dcm2pnm is not installed (apt-get install dcmtk)")
	}
	out := filepath.Join(t.TempDir(), "peer.png")
	cmd := exec.Command(bin, append(append([]string{"+on"}, args...), file, out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeDICOM writes ds with Pixel Data pixel in syntax uid to a file for
// the peer and returns its path.
func writeDICOM(t testing.TB, ds *dicom.Dataset, uid string, pixel []byte) string {
	t.Helper()
	s := syntax(t, uid)
	d := &dicom.Dataset{Elements: append([]*dicom.Element(nil), ds.Elements...)}
	vr := "OW"
	if s.Encapsulated || ds.Get(dicom.BitsAllocated).Value[0] == 8 {
		vr = "OB"
	}
	d.Set(&dicom.Element{Tag: dicom.PixelData, VR: vr, Value: pixel})
	path := filepath.Join(t.TempDir(), "synth.dcm")
	var b bytes.Buffer
	if err := dicom.Encode(&b, dicom.NewMeta(d.String(dicom.SOPClassUID), d.String(dicom.SOPInstanceUID), s), d, s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ftoa formats a window value for dcm2pnm's command line.
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// isUnsupported reports whether err wraps dicom.ErrUnsupported.
func isUnsupported(err error) bool { return errors.Is(err, dicom.ErrUnsupported) }
