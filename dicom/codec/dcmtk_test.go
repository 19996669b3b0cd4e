package codec_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/codec"
)

// needTools returns the paths of the dcmtk tools named, skipping the test
// when one is missing, except under CI=true, where that is a failure.
func needTools(t *testing.T, names ...string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("dcmtk's %s is needed (apt-get install dcmtk): %v", n, err)
			}
			t.Skipf("dcmtk's %s is not installed (apt-get install dcmtk): skipping the comparison with dcmtk", n)
		}
		paths[n] = p
	}
	return paths
}

// realFile returns the path of a shared real test file: fatal in CI when
// missing, skipped elsewhere.
func realFile(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "testdata", "real", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real test file: %v", err)
		}
		t.Skipf("real test file: %v", err)
	}
	return p
}

// run runs a tool, failing the test with its output if it fails.
func run(t *testing.T, tool string, args ...string) {
	t.Helper()
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(tool), strings.Join(args, " "), err, out)
	}
}

// object is a parsed DICOM file and its frames as ReadFrames yields them.
type object struct {
	ds     *dicom.Dataset
	s      dicom.Syntax
	frames [][]byte
}

func readObject(t testing.TB, path string) object {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := dicom.Parse(f, dicom.Limits{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	want := make([]int, o.NumberOfFrames())
	for i := range want {
		want[i] = i + 1
	}
	obj := object{ds: o.Dataset, s: o.Syntax}
	err = o.ReadFrames(want, func(_ int, r io.Reader) error {
		b, err := io.ReadAll(r)
		obj.frames = append(obj.frames, b)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

// pixelAttr returns the first value of a US attribute of ds, or def.
func pixelAttr(ds *dicom.Dataset, tag dicom.Tag, def int) int {
	if e := ds.Get(tag); e != nil && len(e.Value) >= 2 {
		return int(binary.LittleEndian.Uint16(e.Value))
	}
	return def
}

// interleaved returns a native frame described by ds with its samples
// interleaved, whatever its Planar Configuration.
func interleaved(ds *dicom.Dataset, frame []byte) []byte {
	spp := pixelAttr(ds, dicom.SamplesPerPixel, 1)
	size := pixelAttr(ds, dicom.BitsAllocated, 8) / 8
	n := pixelAttr(ds, dicom.Rows, 0) * pixelAttr(ds, dicom.Columns, 0)
	return interleave(frame[:n*spp*size], n, spp, size, pixelAttr(ds, dicom.NewTag(0x0028, 0x0006), 0))
}

// dropBits clears the low pt bits of each sample of a little-endian
// frame, which a point transform discards.
func dropBits(frame []byte, size, pt int) []byte {
	out := bytes.Clone(frame)
	for i := 0; i+size <= len(out); i += size {
		var v uint64
		for k := range size {
			v |= uint64(out[i+k]) << (8 * k)
		}
		v = v >> pt << pt
		for k := range size {
			out[i+k] = byte(v >> (8 * k))
		}
	}
	return out
}

// writeBMP writes a 24-bit BMP of w x h pixels, rgb interleaved top row
// first, for img2dcm.
func writeBMP(path string, rgb []byte, w, h int) error {
	stride := (3*w + 3) &^ 3
	le := binary.LittleEndian
	b := []byte("BM")
	b = le.AppendUint32(b, uint32(54+stride*h))
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 54)
	b = le.AppendUint32(b, 40)
	b = le.AppendUint32(b, uint32(w))
	b = le.AppendUint32(b, uint32(h))
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 24)
	b = append(b, make([]byte, 24)...) // no compression, sizes and palette unstated
	for y := h - 1; y >= 0; y-- {      // bottom-up
		row := make([]byte, stride)
		for x := range w {
			p := rgb[3*(y*w+x):]
			row[3*x], row[3*x+1], row[3*x+2] = p[2], p[1], p[0]
		}
		b = append(b, row...)
	}
	return os.WriteFile(path, b, 0o644)
}

// writeNative writes a native Explicit VR Little Endian object with the
// pixel module h and the frames' pixel data (interleaved, or planar as h
// says).
func writeNative(t *testing.T, path string, h header, frames int, pixels []byte) {
	t.Helper()
	ds := h.dataset()
	ds.SetString(dicom.SOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7")
	ds.SetString(dicom.SOPInstanceUID, "UI", "2.25.9001")
	ds.SetString(dicom.StudyInstanceUID, "UI", "2.25.9002")
	ds.SetString(dicom.SeriesInstanceUID, "UI", "2.25.9003")
	ds.SetString(dicom.Modality, "CS", "OT")
	ds.SetString(dicom.PatientName, "PN", "Codec^Test")
	if frames > 1 {
		ds.SetString(dicom.NumberOfFrames, "IS", fmt.Sprint(frames))
	}
	ds.Set(&dicom.Element{Tag: dicom.PixelData, VR: "OW", Value: append(pixels, make([]byte, len(pixels)%2)...)})
	s := syntax(t, dicom.ExplicitVRLittleEndian)
	var b bytes.Buffer
	if err := dicom.Encode(&b, dicom.NewMeta("1.2.840.10008.5.1.4.1.1.7", "2.25.9001", s), ds, s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDCMTK compresses real and synthesized objects with dcmtk (dcmcrle,
// dcmcjpeg with each lossless predictor and point transforms), decodes
// every frame with Decode, and compares the result byte for byte with
// the original's native pixel data and with dcmtk's own decompression
// (dcmdrle, dcmdjpeg). The pixel attributes of NativeHeader must match
// those of dcmtk's decompressed object.
func TestDCMTK(t *testing.T) {
	tools := needTools(t, "dcmcrle", "dcmdrle", "dcmcjpeg", "dcmdjpeg", "dcmconv", "img2dcm")
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }

	// Inputs: the real files (6.dcm is deflated, which the tools
	// compress only after inflating) and synthesized ones for what they
	// lack: RGB, signed 12-bit, odd sizes.
	type input struct {
		name, path string
		mono16     bool // 16-bit grayscale: worth a point transform
	}
	inputs := []input{
		{"MR 16-bit 12 stored (3.dcm)", realFile(t, "3.dcm"), true},
		{"CR 16-bit 10 stored (4.dcm)", realFile(t, "4.dcm"), true},
		{"PET signed 16-bit (1.dcm)", realFile(t, "1.dcm"), true},
		{"CT 2 frames (5.dcm)", realFile(t, "5.dcm"), true},
	}
	run(t, tools["dcmconv"], "+te", realFile(t, "6.dcm"), path("6-inflated.dcm"))
	inputs = append(inputs, input{"8-bit (6.dcm inflated)", path("6-inflated.dcm"), false})

	r := rand.New(rand.NewPCG(7, 8))
	const w, h = 61, 45
	rgb := randomFrame(r, w*h, 3, 1, false)
	if err := writeBMP(path("rgb.bmp"), rgb, w, h); err != nil {
		t.Fatal(err)
	}
	run(t, tools["img2dcm"], "-i", "BMP", path("rgb.bmp"), path("rgb-sc.dcm"))
	inputs = append(inputs, input{"RGB secondary capture (img2dcm)", path("rgb-sc.dcm"), false})

	writeNative(t, path("rgb16.dcm"), header{rows: 20, cols: 30, spp: 3, ba: 16}, 1, randomFrame(r, 600, 3, 2, true))
	inputs = append(inputs, input{"RGB 16-bit", path("rgb16.dcm"), false})
	var s12 []byte
	for range 50 * 40 {
		s12 = binary.LittleEndian.AppendUint16(s12, uint16(r.IntN(4096)-2048)) // sign-extended to 16 bits
	}
	writeNative(t, path("s12.dcm"), header{rows: 40, cols: 50, ba: 16, bs: 12, pr: 1}, 1, s12)
	inputs = append(inputs, input{"signed 12-bit", path("s12.dcm"), true})
	writeNative(t, path("odd8.dcm"), header{rows: 17, cols: 33, ba: 8}, 3, randomFrame(r, 17*33*3, 1, 1, true))
	inputs = append(inputs, input{"8-bit 33x17, 3 frames", path("odd8.dcm"), false})

	type variant struct {
		name   string
		args   []string // of dcmcjpeg; nil for RLE
		uid    string
		pt     int
		mono16 bool // only for 16-bit grayscale inputs
		// lossy: dcmtk changes the pixels before compressing (its
		// pseudo-lossless codec rescales them to the precision asked
		// for), so only its own decompression is the reference.
		lossy     bool
		precision int // of the JPEG frame header, if the variant fixes it
	}
	variants := []variant{
		{name: "RLE", uid: dicom.RLELossless},
		{name: "JPEG SV1", args: []string{"+e1"}, uid: jpegLosslessSV1},
	}
	for sv := 1; sv <= 7; sv++ {
		variants = append(variants, variant{name: fmt.Sprintf("JPEG predictor %d", sv), args: []string{"+el", "+sv", fmt.Sprint(sv)}, uid: jpegLossless})
	}
	variants = append(variants,
		variant{name: "JPEG predictor 6 point transform 2", args: []string{"+el", "+sv", "6", "+pt", "2"}, uid: jpegLossless, pt: 2, mono16: true},
		variant{name: "JPEG SV1 point transform 5", args: []string{"+e1", "+pt", "5"}, uid: jpegLosslessSV1, pt: 5, mono16: true},
		// Precision 12 (the true lossless codec always codes Bits
		// Allocated bits), with a predictor of each kind.
		variant{name: "JPEG 12-bit predictor 1", args: []string{"+pl", "+el", "+sv", "1", "+bt"}, uid: jpegLossless, mono16: true, lossy: true, precision: 12},
		variant{name: "JPEG 12-bit predictor 7", args: []string{"+pl", "+el", "+sv", "7", "+bt"}, uid: jpegLossless, mono16: true, lossy: true, precision: 12},
		variant{name: "JPEG 12-bit SV1 point transform 1", args: []string{"+pl", "+e1", "+bt", "+pt", "1"}, uid: jpegLosslessSV1, mono16: true, lossy: true, precision: 12},
	)

	for i, in := range inputs {
		orig := readObject(t, in.path)
		for j, v := range variants {
			if v.mono16 && !in.mono16 {
				continue
			}
			t.Run(in.name+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				comp, ref := path(fmt.Sprintf("%d-%d.dcm", i, j)), path(fmt.Sprintf("%d-%d-dcmtk.dcm", i, j))
				if v.args == nil {
					run(t, tools["dcmcrle"], in.path, comp)
					run(t, tools["dcmdrle"], comp, ref)
				} else {
					run(t, tools["dcmcjpeg"], append(v.args, in.path, comp)...)
					run(t, tools["dcmdjpeg"], comp, ref)
				}
				c, d := readObject(t, comp), readObject(t, ref)
				if c.s.UID != v.uid {
					t.Fatalf("dcmtk wrote transfer syntax %s, want %s", c.s.UID, v.uid)
				}
				if len(c.frames) != len(orig.frames) || len(d.frames) != len(orig.frames) {
					t.Fatalf("%d compressed and %d decompressed frames, want %d", len(c.frames), len(d.frames), len(orig.frames))
				}
				if i := bytes.Index(c.frames[0], []byte{0xFF, 0xC3}); v.precision != 0 && (i < 0 || i+4 >= len(c.frames[0]) || int(c.frames[0][i+4]) != v.precision) {
					t.Fatalf("dcmtk's stream does not have precision %d", v.precision)
				}
				native := codec.NativeHeader(c.ds, c.s)
				for _, tag := range []dicom.Tag{dicom.SamplesPerPixel, dicom.NewTag(0x0028, 0x0004), dicom.Rows, dicom.Columns,
					dicom.BitsAllocated, dicom.NewTag(0x0028, 0x0101), dicom.NewTag(0x0028, 0x0102), dicom.PixelRepresentation} {
					if a, b := native.Get(tag), d.ds.Get(tag); (a == nil) != (b == nil) || a != nil && !bytes.Equal(a.Value, b.Value) {
						t.Errorf("NativeHeader's %s is %v, dcmtk's %v", tag, a, b)
					}
				}
				size := pixelAttr(c.ds, dicom.BitsAllocated, 8) / 8
				var buf []byte
				for k, frame := range c.frames {
					got, err := codec.Decode(c.ds, c.s, frame, buf)
					if err != nil {
						t.Fatalf("frame %d: %v", k+1, err)
					}
					if n, err := codec.FrameSize(c.ds); err != nil || n != len(got) {
						t.Fatalf("frame %d: %d bytes decoded; FrameSize %d, %v", k+1, len(got), n, err)
					}
					got = interleaved(native, got)
					want := interleaved(orig.ds, orig.frames[k])
					if v.pt > 0 {
						want = dropBits(want, size, v.pt)
					}
					if !v.lossy && !bytes.Equal(got, want) {
						t.Errorf("frame %d: %d of %d bytes differ from the original", k+1, diffCount(got, want), len(want))
					}
					if dw := interleaved(d.ds, d.frames[k]); !bytes.Equal(got, dw) {
						t.Errorf("frame %d: %d of %d bytes differ from dcmtk's decompression", k+1, diffCount(got, dw), len(dw))
					}
					buf = got
				}
			})
		}
	}
}
