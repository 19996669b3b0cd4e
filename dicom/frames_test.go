package dicom

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFrameMediaType(t *testing.T) {
	for _, tt := range []struct{ uid, want string }{
		{ImplicitVRLittleEndian, "application/octet-stream"},
		{ExplicitVRLittleEndian, "application/octet-stream"},
		{DeflatedExplicitVRLittleEndian, "application/octet-stream"},
		{ExplicitVRBigEndian, "application/octet-stream"},
		{"1.2.840.10008.1.2.4.50", "image/jpeg"},
		{"1.2.840.10008.1.2.4.51", "image/jpeg"},
		{"1.2.840.10008.1.2.4.57", "image/jpeg"},
		{"1.2.840.10008.1.2.4.70", "image/jpeg"},
		{"1.2.840.10008.1.2.4.80", "image/jls"},
		{"1.2.840.10008.1.2.4.81", "image/jls"},
		{"1.2.840.10008.1.2.4.90", "image/jp2"},
		{"1.2.840.10008.1.2.4.91", "image/jp2"},
		{"1.2.840.10008.1.2.4.92", "image/jpx"},
		{"1.2.840.10008.1.2.4.93", "image/jpx"},
		{"1.2.840.10008.1.2.4.201", "image/jphc"},
		{"1.2.840.10008.1.2.4.202", "image/jphc"},
		{"1.2.840.10008.1.2.4.203", "image/jphc"},
		{"1.2.840.10008.1.2.4.110", "image/jxl"},
		{"1.2.840.10008.1.2.4.111", "image/jxl"},
		{"1.2.840.10008.1.2.4.112", "image/jxl"},
		{"1.2.840.10008.1.2.5", "image/dicom-rle"},
		{"1.2.840.10008.1.2.4.100", "video/mpeg"},
		{"1.2.840.10008.1.2.4.101", "video/mpeg"},
		{"1.2.840.10008.1.2.4.102", "video/mp4"},
		{"1.2.840.10008.1.2.4.106", "video/mp4"},
		{"1.2.840.10008.1.2.4.107", "video/H265"},
		{"1.2.840.10008.1.2.4.108", "video/H265"},
		{"1.2.840.10008.1.2.4.94", ""}, // JPIP: no pixels in the object
		{"1.2.840.10008.1.2.8.1", ""},
		{"1.2.3", ""},
	} {
		if got := (Syntax{UID: tt.uid + "\x00"}).FrameMediaType(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.uid, got, tt.want)
		}
	}
	// Every syntax LookupSyntax knows but JPIP and deflated frames has one.
	for _, uid := range append(encapsulatedSyntaxes, ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian) {
		s, err := LookupSyntax(uid)
		if err != nil {
			t.Fatal(err)
		}
		if s.FrameMediaType() == "" && uid != "1.2.840.10008.1.2.4.94" && uid != "1.2.840.10008.1.2.4.95" && uid != "1.2.840.10008.1.2.8.1" {
			t.Errorf("%s has no frame media type", uid)
		}
	}
}

// readAllFrames returns the frames want of file, read through
// ReadFrames, and whether fn was called before an error.
func readAllFrames(t testing.TB, file []byte, want []int) (frames [][]byte, called bool, err error) {
	t.Helper()
	o, err := Parse(bytes.NewReader(file), Limits{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	err = o.ReadFrames(want, func(n int, r io.Reader) error {
		called = true
		if len(frames) >= len(want) || want[len(frames)] != n {
			return fmt.Errorf("frame %d out of order", n)
		}
		b, err := io.ReadAll(r)
		if err == nil {
			frames = append(frames, b)
		}
		return err
	})
	return frames, called, err
}

func digests(frames [][]byte) []string {
	var d []string
	for _, f := range frames {
		s := sha256.Sum256(f)
		d = append(d, hex.EncodeToString(s[:]))
	}
	return d
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

// realFrameDigests are the SHA-256 digests of the frames of the real test
// files, made with the pydicom peer and checked with dcmtk:
//
//	/usr/bin/python3 dicom/testdata/frames_peer.py testdata/real/*.dcm
//	dcmdump -q +W DIR testdata/real/5.dcm; head -c 524288 DIR/5.dcm.0.raw | sha256sum (and tail -c)
var realFrameDigests = map[string][]string{
	"1.dcm": {"24528270f0d24c88d48de7d45144ca91fe78563ffccb33d38c98f846edd7be96"},
	"2.dcm": {"370077118e5c352d37b8addccf3d7982396ccc152c66311f9df121a535f04564"},
	"3.dcm": {"8a78a7deb14e65b93aa0368fbc95ca7e7528f551909d5484fd61b8a354232e4d"},
	"4.dcm": {"a2df1d74dcb8c510cf03d943b132cf53ef4a92c1b67c2a28d294cfcb45c5fab9"},
	"5.dcm": {"fd4b6d58bc02947dc294d64777ec7ce13a64987050285aa17308995e88dcc77a", "7fc7db8ef4bee56cfeb0e39496cc0df03706489e3f6f149bc1da75f2ad3201a4"},
	"6.dcm": {"1f5f1b1c1a57606a55d7e4212ee2655c8205b45e264bd55057f7388c258deef8"},
}

func TestReadFramesReal(t *testing.T) {
	for _, name := range realFiles {
		t.Run(name, func(t *testing.T) {
			in := readReal(t, name)
			want := realFrameDigests[name]
			o, err := Parse(bytes.NewReader(in), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if n := o.NumberOfFrames(); n != len(want) {
				t.Fatalf("NumberOfFrames %d, want %d", n, len(want))
			}
			checkFrames(t, in, want)
		})
	}
}

// checkFrames reads every frame of file, each frame alone, and the
// frames with fn reading only a byte of each, and compares them with
// the digests want.
func checkFrames(t *testing.T, file []byte, want []string) {
	t.Helper()
	frames, _, err := readAllFrames(t, file, seq(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if got := digests(frames); !slices.Equal(got, want) {
		t.Fatalf("frame digests\n got %v\nwant %v", got, want)
	}
	for i := range want {
		one, _, err := readAllFrames(t, file, []int{i + 1})
		if err != nil || !bytes.Equal(one[0], frames[i]) {
			t.Errorf("frame %d alone: %v", i+1, err)
		}
	}
	o, _ := Parse(bytes.NewReader(file), Limits{})
	var firsts []byte
	err = o.ReadFrames(seq(len(want)), func(n int, r io.Reader) error {
		var b [1]byte
		_, err := io.ReadFull(r, b[:])
		firsts = append(firsts, b[0])
		return err
	})
	if err != nil {
		t.Fatalf("reading a byte of each frame: %v", err)
	}
	for i, f := range frames {
		if len(f) > 0 && firsts[i] != f[0] {
			t.Errorf("frame %d read partly starts with %#x, want %#x", i+1, firsts[i], f[0])
		}
	}
}

// peerFrames returns the frame digests of files computed by the pydicom
// peer, keyed by path; it skips the test when pydicom is missing.
func peerFrames(t *testing.T, paths ...string) map[string][]string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import pydicom").Run(); err != nil {
		t.Skipf("pydicom peer: %v", err)
	}
	out, err := exec.Command(py, append([]string{filepath.Join("testdata", "frames_peer.py")}, paths...)...).Output()
	if err != nil {
		t.Fatalf("pydicom peer: %v", err)
	}
	m := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		var r struct {
			Path   string
			Frames []string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("peer output %q: %v", line, err)
		}
		m[r.Path] = r.Frames
	}
	return m
}

// dcmtk runs a dcmtk tool, skipping the test when it is missing.
func dcmtk(t *testing.T, tool string, args ...string) {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("dcmtk: %v", err)
	}
	if out, err := exec.Command(p, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

// TestReadFramesPeer checks the frames of objects that dcmtk derives from
// the real files (encapsulated with and without Basic Offset Tables and
// with several fragments per frame, big endian, implicit, deflated)
// against the pydicom peer.
func TestReadFramesPeer(t *testing.T) {
	dir := filepath.Join(realDir(t))
	tmp := t.TempDir()
	variants := []struct {
		name, tool, src string
		args            []string
	}{
		{"jpeg-ls-bot", "dcmcjpeg", "5.dcm", nil},                                 // JPEG lossless, a fragment per frame
		{"jpeg-ls-frag-bot", "dcmcjpeg", "5.dcm", []string{"+fs", "16", "+ot"}},   // fragments of 16 KiB
		{"jpeg-ls-frag-nobot", "dcmcjpeg", "5.dcm", []string{"+fs", "16", "-ot"}}, // frames from SOI
		{"jpeg-single-frag", "dcmcjpeg", "4.dcm", []string{"+fs", "64", "-ot"}},   // one frame, 58 fragments
		{"jpeg-baseline", "dcmcjpeg", "6.dcm", []string{"+eb"}},
		{"jpegls-frag-nobot", "dcmcjpls", "5.dcm", []string{"+fs", "16", "-ot"}},
		{"rle-nobot", "dcmcrle", "5.dcm", []string{"-ot"}},
		{"rle-bot", "dcmcrle", "1.dcm", nil},
		{"big-endian", "dcmconv", "5.dcm", []string{"+tb"}},
		{"big-endian-8bit", "dcmconv", "6.dcm", []string{"+tb"}},
		{"implicit", "dcmconv", "5.dcm", []string{"+ti"}},
		{"deflated", "dcmconv", "5.dcm", []string{"+td"}},
	}
	var paths []string
	for _, v := range variants {
		p := filepath.Join(tmp, v.name+".dcm")
		dcmtk(t, v.tool, append(v.args, filepath.Join(dir, v.src), p)...)
		paths = append(paths, p)
	}
	peer := peerFrames(t, paths...)
	for i, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			in, err := os.ReadFile(paths[i])
			if err != nil {
				t.Fatal(err)
			}
			want := peer[paths[i]]
			if len(want) == 0 {
				t.Fatal("the peer found no frames")
			}
			checkFrames(t, in, want)
		})
	}
}

// items encodes encapsulated Pixel Data: the Basic Offset Table bot, the
// fragments and the Sequence Delimitation Item.
func items(bot []byte, frags ...[]byte) []byte {
	b := &rawBuilder{o: binary.LittleEndian}
	b.tag(ItemTag).u32(uint32(len(bot)))
	b.Write(bot)
	for _, f := range frags {
		b.tag(ItemTag).u32(uint32(len(f)))
		b.Write(f)
	}
	b.tag(SequenceDelimitation).u32(0)
	return b.Bytes()
}

// offsets returns the offsets of fragment items from the first, as an
// offset table of size-byte entries, for frames starting at the
// fragments numbered starts (0-based).
func offsets(size int, frags [][]byte, starts ...int) []byte {
	var b []byte
	var pos uint64
	for i, f := range frags {
		if slices.Contains(starts, i) {
			if size == 4 {
				b = binary.LittleEndian.AppendUint32(b, uint32(pos))
			} else {
				b = binary.LittleEndian.AppendUint64(b, pos)
			}
		}
		pos += 8 + uint64(len(f))
	}
	return b
}

// imageFile encodes an image in syntax uid: frames frames of rows×cols
// pixels of bits bits, a Pixel Data element px, and extra elements.
func imageFile(t testing.TB, uid string, rows, cols, bits, frames int, px *Element, extra ...*Element) []byte {
	t.Helper()
	s, err := LookupSyntax(uid)
	if err != nil {
		t.Fatal(err)
	}
	ds := &Dataset{}
	ds.SetString(SOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7")
	ds.SetString(SOPInstanceUID, "UI", "1.2.3.4")
	ds.Set(&Element{Tag: SamplesPerPixel, VR: "US", Value: us(1)})
	if frames > 0 {
		ds.SetString(NumberOfFrames, "IS", fmt.Sprint(frames))
	}
	ds.Set(&Element{Tag: Rows, VR: "US", Value: us(uint16(rows))})
	ds.Set(&Element{Tag: Columns, VR: "US", Value: us(uint16(cols))})
	ds.Set(&Element{Tag: BitsAllocated, VR: "US", Value: us(uint16(bits))})
	for _, e := range extra {
		ds.Set(e)
	}
	if px != nil {
		ds.Set(px)
	}
	ds.Set(&Element{Tag: NewTag(0xFFFC, 0xFFFC), VR: "OB", Value: make([]byte, 4)})
	var b bytes.Buffer
	if err := Encode(&b, NewMeta("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4", s), ds, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// counting returns n bytes counting up from start.
func counting(start, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(start + i)
	}
	return b
}

func TestReadFramesSynthesized(t *testing.T) {
	const jpeg, j2k, rle, mp4 = "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90", RLELossless, "1.2.840.10008.1.2.4.102"
	soi := func(s string) []byte { return []byte("\xFF\xD8\xFF\xE0" + s) }
	soc := func(s string) []byte { return []byte("\xFF\x4F\xFF\x51" + s) }
	plain := [][]byte{[]byte("f1a-"), []byte("f1b---"), []byte("f2a-"), []byte("f2b-"), []byte("f3--")}
	marked := [][]byte{soi("1a"), []byte("1b"), soi("2a"), []byte("2b"), []byte("2c"), soi("3a")}
	px := func(frags ...[]byte) *Element { return &Element{Tag: PixelData, VR: "OB", Value: items(nil, frags...)} }
	pxBOT := func(bot []byte, frags ...[]byte) *Element {
		return &Element{Tag: PixelData, VR: "OB", Value: items(bot, frags...)}
	}
	cat := func(b ...[]byte) []byte { return bytes.Join(b, nil) }
	le16 := counting(0, 3*2*3*2) // 3 frames of 2×3 16-bit pixels
	ow := func(v []byte) *Element { return &Element{Tag: PixelData, VR: "OW", Value: v} }
	ob := func(v []byte) *Element { return &Element{Tag: PixelData, VR: "OB", Value: v} }
	eot := func(frags [][]byte, starts ...int) *Element {
		return &Element{Tag: ExtendedOffsetTable, VR: "OV", Value: offsets(8, frags, starts...)}
	}
	// Native Pixel Data of undefined length: a forgery.
	undefinedNative := func() []byte {
		f := imageFile(t, ExplicitVRLittleEndian, 1, 2, 8, 1, px([]byte("ab")))
		return f
	}()
	truncated := imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16))
	truncated = truncated[:bytes.Index(truncated, le16)+20] // inside frame 2
	for _, tt := range []struct {
		name     string
		file     []byte
		want     []int
		frames   [][]byte
		err      error
		beforeFn bool // the error comes before fn is called
	}{
		// Native.
		{"explicit LE", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), []int{1, 2, 3}, [][]byte{le16[:12], le16[12:24], le16[24:]}, nil, false},
		{"explicit LE, frames 1 and 3", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), []int{1, 3}, [][]byte{le16[:12], le16[24:]}, nil, false},
		{"implicit", imageFile(t, ImplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), []int{2}, [][]byte{le16[12:24]}, nil, false},
		{"deflated", imageFile(t, DeflatedExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), []int{2, 3}, [][]byte{le16[12:24], le16[24:]}, nil, false},
		{"big endian OW", imageFile(t, ExplicitVRBigEndian, 2, 3, 16, 3, ow(le16)), []int{1, 2, 3}, [][]byte{le16[:12], le16[12:24], le16[24:]}, nil, false},
		{"big endian OB", imageFile(t, ExplicitVRBigEndian, 2, 3, 8, 2, ob(le16[:12])), []int{2}, [][]byte{le16[6:12]}, nil, false},
		// Frames of 3 bytes in 16-bit words: frame 2 starts inside a word.
		{"big endian OW, odd frames", imageFile(t, ExplicitVRBigEndian, 1, 3, 8, 3, ow(append(counting(1, 9), 0))), []int{2, 3}, [][]byte{counting(4, 3), counting(7, 3)}, nil, false},
		{"big endian float", imageFile(t, ExplicitVRBigEndian, 1, 2, 32, 2, &Element{Tag: FloatPixelData, VR: "OF", Value: counting(0, 16)}), []int{2}, [][]byte{counting(8, 8)}, nil, false},
		{"1-bit, whole bytes", imageFile(t, ExplicitVRLittleEndian, 4, 4, 1, 2, ob(counting(0, 4))), []int{2}, [][]byte{counting(2, 2)}, nil, false},
		{"1-bit, single frame", imageFile(t, ExplicitVRLittleEndian, 3, 3, 1, 1, ob(counting(0, 2))), []int{1}, [][]byte{counting(0, 2)}, nil, false},
		{"1-bit across bytes", imageFile(t, ExplicitVRLittleEndian, 3, 3, 1, 2, ob(counting(0, 4))), []int{1}, nil, ErrUnsupported, true},
		{"too short for its frames", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 4, ow(le16)), []int{1}, nil, ErrMalformed, true},
		{"no Rows", imageFile(t, ExplicitVRLittleEndian, 0, 3, 16, 3, ow(le16)), []int{1}, nil, ErrMalformed, true},
		{"undefined length native", undefinedNative, []int{1}, nil, ErrMalformed, true},
		{"truncated", truncated, []int{1, 2}, [][]byte{le16[:12]}, ErrTruncated, false},
		// Encapsulated.
		{"a fragment per frame (RLE)", imageFile(t, rle, 8, 8, 8, 5, px(plain...)), []int{1, 4, 5}, [][]byte{plain[0], plain[3], plain[4]}, nil, false},
		{"BOT", imageFile(t, rle, 8, 8, 8, 3, pxBOT(offsets(4, plain, 0, 2, 4), plain...)), []int{1, 2, 3}, [][]byte{cat(plain[:2]...), cat(plain[2:4]...), plain[4]}, nil, false},
		{"BOT over markers", imageFile(t, jpeg, 8, 8, 8, 2, pxBOT(offsets(4, marked, 0, 3), marked...)), []int{1, 2}, [][]byte{cat(marked[:3]...), cat(marked[3:]...)}, nil, false},
		{"EOT", imageFile(t, j2k, 8, 8, 8, 3, px(plain...), eot(plain, 0, 2, 4)), []int{2, 3}, [][]byte{cat(plain[2:4]...), plain[4]}, nil, false},
		{"JPEG starts", imageFile(t, jpeg, 8, 8, 8, 3, px(marked...)), []int{1, 2, 3}, [][]byte{cat(marked[:2]...), cat(marked[2:5]...), marked[5]}, nil, false},
		{"JPEG starts, BOT of the wrong count", imageFile(t, jpeg, 8, 8, 8, 3, pxBOT(offsets(4, marked, 0, 2), marked...)), []int{3}, [][]byte{marked[5]}, nil, false},
		{"JPEG 2000 starts", imageFile(t, j2k, 8, 8, 8, 2, px(soc("a"), []byte("b"), soc("c"))), []int{2}, [][]byte{soc("c")}, nil, false},
		{"single frame, several fragments", imageFile(t, jpeg, 8, 8, 8, 1, px(marked...)), []int{1}, [][]byte{cat(marked...)}, nil, false},
		{"single frame, no Number of Frames", imageFile(t, jpeg, 8, 8, 8, 0, px(marked[:2]...)), []int{1}, [][]byte{cat(marked[:2]...)}, nil, false},
		{"video, one frame", imageFile(t, mp4, 8, 8, 8, 1, px(plain...)), []int{1}, [][]byte{cat(plain...)}, nil, false},
		{"video frames", imageFile(t, mp4, 8, 8, 8, 3, px(plain...)), []int{1}, nil, ErrUnsupported, true},
		{"fewer fragments than frames", imageFile(t, rle, 8, 8, 8, 6, px(plain...)), []int{6}, nil, ErrMalformed, true},
		{"more frames than Number of Frames", imageFile(t, jpeg, 8, 8, 8, 2, px(marked...)), []int{2}, nil, ErrMalformed, false},
		{"BOT inside a fragment", imageFile(t, rle, 8, 8, 8, 2, pxBOT(binary.LittleEndian.AppendUint32(make([]byte, 4), 10), plain...)), []int{1, 2}, nil, ErrMalformed, false},
		// Frame numbers.
		{"frame 0", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), []int{0}, nil, ErrNoFrame, true},
		{"frame past the end", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), []int{2, 4}, nil, ErrNoFrame, true},
		{"encapsulated frame past the end", imageFile(t, rle, 8, 8, 8, 5, px(plain...)), []int{6}, nil, ErrNoFrame, true},
		{"no Pixel Data", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, nil), []int{1}, nil, ErrNoFrame, true},
		{"descending", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), []int{2, 1}, nil, nil, true},
		{"duplicate", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), []int{2, 2}, nil, nil, true},
		{"none", imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, ow(le16)), nil, nil, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			frames, called, err := readAllFrames(t, tt.file, tt.want)
			switch {
			case tt.err == nil && tt.beforeFn: // refused frame lists
				if err == nil || called {
					t.Fatalf("err %v, fn called %v", err, called)
				}
			case tt.err == nil && err != nil:
				t.Fatal(err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("error %v, want %v", err, tt.err)
			case tt.beforeFn && called:
				t.Fatalf("fn called before the error %v", err)
			}
			if len(frames) != len(tt.frames) {
				t.Fatalf("%d frames, want %d (%v)", len(frames), len(tt.frames), err)
			}
			for i := range frames {
				if !bytes.Equal(frames[i], tt.frames[i]) {
					t.Errorf("frame %d: %x, want %x", tt.want[i], frames[i], tt.frames[i])
				}
			}
		})
	}
}

func TestReadFramesConsumes(t *testing.T) {
	file := imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, &Element{Tag: PixelData, VR: "OW", Value: counting(0, 36)})
	o, err := Parse(bytes.NewReader(file), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if n := o.NumberOfFrames(); n != 3 || !o.HasPixelData() {
		t.Fatalf("NumberOfFrames %d, HasPixelData %v", n, o.HasPixelData())
	}
	if err := o.ReadFrames([]int{4}, nil); !errors.Is(err, ErrNoFrame) {
		t.Fatalf("frame 4: %v", err)
	}
	var kept io.Reader
	if err := o.ReadFrames([]int{1}, func(_ int, r io.Reader) error { kept = r; return nil }); err != nil {
		t.Fatalf("refused frame numbers consumed the source: %v", err)
	}
	if _, err := kept.Read(make([]byte, 4)); err != errStaleFrame {
		t.Errorf("reader used after fn: %v", err)
	}
	if err := o.ReadFrames([]int{1}, func(int, io.Reader) error { return nil }); err != errWritten {
		t.Errorf("second ReadFrames: %v", err)
	}
	if _, err := o.Write(io.Discard, nil); err != errWritten {
		t.Errorf("Write after ReadFrames: %v", err)
	}
	if n := o.NumberOfFrames(); n != 3 {
		t.Errorf("NumberOfFrames after ReadFrames: %d", n)
	}
	stop := errors.New("stop")
	o, _ = Parse(bytes.NewReader(file), Limits{})
	if err := o.ReadFrames([]int{1, 2}, func(int, io.Reader) error { return stop }); err != stop {
		t.Errorf("fn's error came back as %v", err)
	}
	o, _ = Parse(bytes.NewReader(file), Limits{})
	if _, err := o.Write(io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.ReadFrames([]int{1}, func(int, io.Reader) error { return nil }); err != errWritten {
		t.Errorf("ReadFrames after Write: %v", err)
	}
	for _, tt := range []struct {
		value string
		want  int
	}{{"12", 12}, {" 7 ", 7}, {"0", 1}, {"-3", 1}, {"x", 1}, {"", 1}} {
		f := imageFile(t, ExplicitVRLittleEndian, 1, 1, 8, 0, &Element{Tag: PixelData, VR: "OB", Value: []byte{1, 2}},
			&Element{Tag: NumberOfFrames, VR: "IS", Value: PadString("IS", tt.value)})
		o, _ := Parse(bytes.NewReader(f), Limits{})
		if n := o.NumberOfFrames(); n != tt.want {
			t.Errorf("Number of Frames %q: %d, want %d", tt.value, n, tt.want)
		}
	}
	o, _ = Parse(bytes.NewReader(imageFile(t, ExplicitVRLittleEndian, 2, 3, 16, 3, nil)), Limits{})
	if n := o.NumberOfFrames(); n != 0 {
		t.Errorf("NumberOfFrames without Pixel Data: %d", n)
	}
}

func TestSwapUnits(t *testing.T) {
	for _, unit := range []int{2, 4, 8} {
		for n := range 41 {
			v := counting(0, n)
			want := slices.Clone(v)
			for i := 0; i+unit <= n; i += unit {
				slices.Reverse(want[i : i+unit])
			}
			if swapUnits(v, unit); !bytes.Equal(v, want) {
				t.Errorf("unit %d, %d bytes: %x, want %x", unit, n, v, want)
			}
		}
	}
}

// Native YBR_FULL_422 frames hold two values a pixel, not three (PS3.3
// C.7.6.3.1.2): two 4x2 8-bit frames are 16 bytes each.
func TestReadFramesYBR422(t *testing.T) {
	px := counting(0, 2*4*2*2)
	file := imageFile(t, ExplicitVRLittleEndian, 2, 4, 8, 2, &Element{Tag: PixelData, VR: "OB", Value: px},
		&Element{Tag: SamplesPerPixel, VR: "US", Value: us(3)},
		&Element{Tag: PhotometricInterpretation, VR: "CS", Value: []byte("YBR_FULL_422")})
	frames, _, err := readAllFrames(t, file, []int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 || !bytes.Equal(frames[0], px[:16]) || !bytes.Equal(frames[1], px[16:]) {
		t.Errorf("frames %x, want two halves of %x", frames, px)
	}
}
