package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// bigFrames returns a reader of a file in syntax uid holding frames
// frames of 512×512 16-bit pixels (512 KiB each), generated as they are
// read: native Pixel Data, or encapsulated one fragment per frame with an
// empty Basic Offset Table (RLE's layout), then a trailing element.
func bigFrames(t testing.TB, uid string, frames int) (r io.Reader, pixels int64) {
	t.Helper()
	const rows, cols = 512, 512
	size := int64(rows * cols * 2)
	s, err := LookupSyntax(uid)
	if err != nil {
		t.Fatal(err)
	}
	ds := &Dataset{}
	ds.SetString(SOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.2.1")
	ds.SetString(SOPInstanceUID, "UI", "1.2.3.4")
	ds.Set(&Element{Tag: SamplesPerPixel, VR: "US", Value: us(1)})
	ds.SetString(NumberOfFrames, "IS", strconv.Itoa(frames))
	ds.Set(&Element{Tag: Rows, VR: "US", Value: us(rows)})
	ds.Set(&Element{Tag: Columns, VR: "US", Value: us(cols)})
	ds.Set(&Element{Tag: BitsAllocated, VR: "US", Value: us(16)})
	var head, tail bytes.Buffer
	if err := Encode(&head, NewMeta("1.2.840.10008.5.1.4.1.1.2.1", "1.2.3.4", s), ds, s); err != nil {
		t.Fatal(err)
	}
	enc := &encoder{w: &head, enc: encoding{implicit: s.Implicit, bigEndian: s.BigEndian}}
	readers := []io.Reader{&head}
	if s.Encapsulated {
		enc.writeHeader(PixelData, "OB", undefinedLength)
		enc.writeItemTag(ItemTag, 0)
		for range frames {
			item := binary.LittleEndian.AppendUint32([]byte{0xFE, 0xFF, 0x00, 0xE0}, uint32(size))
			readers = append(readers, bytes.NewReader(item), &patternReader{n: size})
		}
		readers = append(readers, bytes.NewReader([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}))
	} else {
		enc.writeHeader(PixelData, "OW", uint32(size)*uint32(frames))
		readers = append(readers, &patternReader{n: size * int64(frames)})
	}
	trailing := &Dataset{}
	trailing.Set(&Element{Tag: NewTag(0xFFFC, 0xFFFC), VR: "OB", Value: make([]byte, 16)})
	if err := (&encoder{w: &tail, enc: enc.enc}).writeDataset(trailing, 0); err != nil {
		t.Fatal(err)
	}
	return io.MultiReader(append(readers, &tail)...), size * int64(frames)
}

// readEveryFrame reads all frames of the object in r, returning the
// bytes read.
func readEveryFrame(tb testing.TB, r io.Reader) int64 {
	o, err := Parse(r, Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	err = o.ReadFrames(seq(o.NumberOfFrames()), func(_ int, f io.Reader) error {
		k, err := io.Copy(io.Discard, f)
		n += k
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestFramesMemory streams 512 MiB objects through ReadFrames and WriteAs
// and checks that what they allocate does not grow with the object.
func TestFramesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams gigabytes")
	}
	const frames = 1024 // 512 MiB
	for _, tt := range []struct {
		name, from, to string
		frames         int
	}{
		{"ReadFrames explicit LE", ExplicitVRLittleEndian, "", frames},
		{"ReadFrames big endian", ExplicitVRBigEndian, "", frames},
		{"ReadFrames encapsulated", RLELossless, "", frames},
		{"WriteAs explicit → implicit", ExplicitVRLittleEndian, ImplicitVRLittleEndian, frames},
		{"WriteAs big endian → explicit", ExplicitVRBigEndian, ExplicitVRLittleEndian, frames},
		{"WriteAs implicit → deflated", ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, frames / 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, size := bigFrames(t, tt.from, tt.frames)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var n int64
			if tt.to == "" {
				n = readEveryFrame(t, src)
			} else {
				o, err := Parse(src, Limits{})
				if err != nil {
					t.Fatal(err)
				}
				s, _ := LookupSyntax(tt.to)
				if n, err = o.WriteAs(io.Discard, s, nil); err != nil {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			if tt.to == "" && n != size || n < size/1000 {
				t.Fatalf("%d bytes out of %d", n, size)
			}
			grew := after.TotalAlloc - before.TotalAlloc
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			t.Logf("%d MiB: allocated %d KiB in %d allocations; heap in use %d KiB; process max RSS %d MiB",
				size>>20, grew>>10, after.Mallocs-before.Mallocs, after.HeapInuse>>10, ru.Maxrss>>10)
			if grew > 16<<20 {
				t.Errorf("allocated %d MiB for %d MiB of Pixel Data", grew>>20, size>>20)
			}
		})
	}
}

// benchSource holds a 64 MiB object in memory, so that benchmarks time
// the package, not the generator.
func benchSource(b *testing.B, uid string) []byte {
	src, _ := bigFrames(b, uid, 128)
	in, err := io.ReadAll(src)
	if err != nil {
		b.Fatal(err)
	}
	return in
}

func BenchmarkReadFrames(b *testing.B) {
	for _, uid := range []string{ExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless} {
		b.Run(uid, func(b *testing.B) {
			in := benchSource(b, uid)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				readEveryFrame(b, bytes.NewReader(in))
			}
		})
	}
}

func BenchmarkWriteAs(b *testing.B) {
	for _, tt := range []struct{ from, to string }{
		{ExplicitVRLittleEndian, ImplicitVRLittleEndian},
		{ImplicitVRLittleEndian, ExplicitVRLittleEndian},
		{ExplicitVRBigEndian, ExplicitVRLittleEndian},
		{ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian},
	} {
		b.Run(tt.from+"→"+tt.to, func(b *testing.B) {
			in := benchSource(b, tt.from)
			to, _ := LookupSyntax(tt.to)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				o, err := Parse(bytes.NewReader(in), Limits{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := o.WriteAs(io.Discard, to, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// pixelPayload returns what the frames of the object in file must add up
// to: the value of native Pixel Data (little endian), or the fragments of
// encapsulated Pixel Data, concatenated. Values over 8 MiB are not read.
func pixelPayload(file []byte) ([]byte, error) {
	o, err := Parse(bytes.NewReader(file), Limits{})
	if err != nil || o.src == nil {
		return nil, errors.New("no Pixel Data")
	}
	d := o.src
	t, vr, length, _, err := d.readPixelHeader()
	if err != nil {
		return nil, err
	}
	if length != undefinedLength {
		if length > 8<<20 {
			return nil, ErrTooLarge
		}
		v, err := d.readValue(length)
		if err == nil && o.Syntax.BigEndian {
			swapInPlace(vr, v)
		}
		return v, err
	}
	v, err := d.readFragments(d.enc, t, 0)
	if err != nil {
		return nil, err
	}
	var out []byte
	for first := true; len(v) > 8; first = false {
		n := binary.LittleEndian.Uint32(v[4:8])
		if !first {
			out = append(out, v[8:8+n]...)
		}
		v = v[8+n:]
	}
	return out, nil
}

func FuzzReadFrames(f *testing.F) {
	dir := filepath.Join("..", "testdata", "real")
	for _, name := range realFiles {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			f.Add(b[:min(len(b), 70000)]) // 4.dcm and 5.dcm cut inside Pixel Data
		}
	}
	plain := [][]byte{[]byte("f1a-"), []byte("f1b---"), []byte("f2a-"), []byte("f2b-"), []byte("f3--")}
	marked := [][]byte{[]byte("\xFF\xD8\xFF\xE01a"), []byte("1b"), []byte("\xFF\xD8\xFF\xE02a"), []byte("2b")}
	px := func(bot []byte, frags ...[]byte) *Element {
		return &Element{Tag: PixelData, VR: "OB", Value: items(bot, frags...)}
	}
	ow := &Element{Tag: PixelData, VR: "OW", Value: counting(0, 36)}
	for _, file := range [][]byte{
		imageFile(f, RLELossless, 8, 8, 8, 5, px(nil, plain...)),
		imageFile(f, RLELossless, 8, 8, 8, 3, px(offsets(4, plain, 0, 2, 4), plain...)),
		imageFile(f, "1.2.840.10008.1.2.4.90", 8, 8, 8, 3, px(nil, plain...), &Element{Tag: ExtendedOffsetTable, VR: "OV", Value: offsets(8, plain, 0, 2, 4)}),
		imageFile(f, JPEGBaseline, 8, 8, 8, 2, px(nil, marked...)),
		imageFile(f, ExplicitVRBigEndian, 2, 3, 16, 3, ow),
		imageFile(f, ExplicitVRBigEndian, 1, 3, 8, 3, &Element{Tag: PixelData, VR: "OW", Value: counting(1, 10)}),
		imageFile(f, DeflatedExplicitVRLittleEndian, 2, 3, 16, 3, ow),
		imageFile(f, ImplicitVRLittleEndian, 2, 3, 16, 3, ow),
	} {
		f.Add(file)
	}
	errStop := errors.New("read enough")
	f.Fuzz(func(t *testing.T, in []byte) {
		o, err := Parse(bytes.NewReader(in), Limits{MaxHeader: 1 << 20})
		if err != nil {
			return
		}
		total := o.NumberOfFrames()
		if total == 0 {
			if err := o.ReadFrames([]int{1}, func(int, io.Reader) error { return nil }); !errors.Is(err, ErrNoFrame) {
				t.Fatalf("no Pixel Data, frame 1: %v", err)
			}
			return
		}
		want := seq(min(total, 64))
		var frames [][]byte
		budget := int64(4 << 20) // of frame bytes read: a deflated input inflates
		err = o.ReadFrames(want, func(n int, r io.Reader) error {
			if n != want[len(frames)] {
				t.Fatalf("frame %d where %d was due", n, want[len(frames)])
			}
			b, err := io.ReadAll(io.LimitReader(r, budget+1))
			if err != nil {
				return err
			}
			if budget -= int64(len(b)); budget < 0 {
				return errStop
			}
			frames = append(frames, b)
			return nil
		})
		switch {
		case err == errStop:
			return
		case err != nil:
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		// The frames are the Pixel Data (or its fragments) cut in order.
		payload, err := pixelPayload(in)
		if err != nil {
			return
		}
		got := bytes.Join(frames, nil)
		if !bytes.HasPrefix(payload, got) {
			t.Fatalf("the %d frames (%d bytes) are not the start of the Pixel Data (%d bytes)", len(frames), len(got), len(payload))
		}
		if o.Syntax.Encapsulated && len(frames) == total && len(got) != len(payload) {
			t.Fatalf("all %d frames hold %d bytes, the fragments %d", total, len(got), len(payload))
		}
		if !o.Syntax.Encapsulated {
			for _, fr := range frames {
				if len(fr) != len(frames[0]) {
					t.Fatalf("native frames of %d and %d bytes", len(frames[0]), len(fr))
				}
			}
		}
	})
}
