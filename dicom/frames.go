package dicom

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"
)

// NumberOfFrames returns the number of frames of o's Pixel Data: Number
// of Frames (0028,0008) when it holds a positive integer, else 1; 0 when
// o has no top-level Pixel Data in its source (Pixel Data set in
// o.Dataset by hand does not count).
func (o *Object) NumberOfFrames() int {
	if o.src == nil && !o.consumed {
		return 0
	}
	n, err := strconv.Atoi(o.Dataset.String(NumberOfFrames))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// FrameMediaType returns the media type of one frame of Pixel Data
// encoded in s, as PS3.18 names it (the pixeldata rule of section
// 8.7.3.5 and Table 8.7.3-5, 2024 editions): application/octet-stream for
// the native syntaxes (frames of which ReadFrames returns in little
// endian), image/jpeg, image/dicom-rle, image/jls, image/jp2, image/jpx,
// image/jphc (HTJ2K), image/jxl, video/mpeg, video/mp4 or video/H265 for
// the encapsulated ones. It returns "" where PS3.18 names none: JPIP
// Referenced (the object holds no pixels), Deflated Image Frame
// Compression, and syntaxes this package does not know.
func (s Syntax) FrameMediaType() string {
	switch trimUID(s.UID) {
	case ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian:
		return "application/octet-stream"
	case "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70":
		return "image/jpeg"
	case "1.2.840.10008.1.2.5":
		return "image/dicom-rle"
	case "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81":
		return "image/jls"
	case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91":
		return "image/jp2"
	case "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93":
		return "image/jpx"
	case "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203":
		return "image/jphc"
	case "1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112":
		return "image/jxl"
	case "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101":
		return "video/mpeg"
	case "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104",
		"1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.106":
		return "video/mp4"
	case "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108":
		return "video/H265"
	}
	return ""
}

// ReadFrames streams the frames numbered want (1-based, strictly
// ascending) of o's Pixel Data to fn, in order, each as a reader of
// exactly that frame's bytes, valid until fn returns (fn need not read it
// all). It returns fn's first error as it is. ReadFrames consumes o's
// source: Write, WriteAs and ReadFrames cannot follow.
//
// Every number is checked against NumberOfFrames before anything is
// read (an error wrapping ErrNoFrame), so that a caller can refuse the
// request before it answers anything. Other errors before fn is first
// called wrap ErrUnsupported (frames that cannot be delimited) or
// ErrMalformed; later ones, ErrMalformed or ErrTruncated.
//
// Native Pixel Data holds frames of Rows × Columns × Samples per Pixel ×
// Bits Allocated / 8 bytes, back to back; frames of a big-endian source
// are swapped to little endian, those of a deflated one read as they
// inflate. Frames that do not start on a byte (Bits Allocated 1) are
// ErrUnsupported.
//
// Encapsulated Pixel Data (PS3.5 A.4) yields the concatenated fragments
// of each frame, without item headers. The fragments of a single-frame
// object are its frame. Otherwise frames start where the Basic Offset
// Table says, else where the Extended Offset Table (7FE0,0001) of
// o.Dataset says; without either, a fragment that starts as a JPEG,
// JPEG-LS (FFD8FF), JPEG 2000 or HTJ2K (FF4FFF51) or JPEG XL codestream
// starts a frame, and RLE and Deflated Image Frame Compression, which
// PS3.5 allows one fragment per frame, have exactly that; frames of
// other syntaxes (video) are ErrUnsupported.
//
// Nothing is buffered beyond fixed-size buffers and the offset table, so
// memory does not grow with the size of the Pixel Data.
func (o *Object) ReadFrames(want []int, fn func(n int, frame io.Reader) error) error {
	if o.consumed {
		return errWritten
	}
	total := o.NumberOfFrames()
	if len(want) == 0 {
		return errors.New("dicom: read frames: no frame numbers")
	}
	for i, n := range want {
		if n < 1 || n > total {
			return fmt.Errorf("dicom: frame %d of %d: %w", n, total, ErrNoFrame)
		}
		if i > 0 && n <= want[i-1] {
			return fmt.Errorf("dicom: read frames %v: numbers not strictly ascending", want)
		}
	}
	d := o.src
	o.src, o.consumed = nil, true
	start := d.off
	t, vr, length, _, err := d.readPixelHeader()
	if err != nil {
		return err
	}
	if !o.Syntax.Encapsulated {
		if length == undefinedLength {
			return fmt.Errorf("dicom: Pixel Data %s at offset %d: undefined length in a native transfer syntax: %w", t, start, ErrMalformed)
		}
		return d.readNativeFrames(o.Dataset, total, t, vr, int64(length), want, fn)
	}
	if length != undefinedLength {
		return fmt.Errorf("dicom: Pixel Data %s at offset %d: defined length in an encapsulated transfer syntax: %w", t, start, ErrMalformed)
	}
	s, err := d.newFragmentScanner(o.Syntax, o.Dataset, total)
	if err != nil {
		return err
	}
	return s.readFrames(want, fn)
}

// frameLength returns the length of one native frame described by ds.
func frameLength(ds *Dataset, frames int, valueLen int64) (int64, error) {
	rows, cols := usValue(ds, Rows, 0), usValue(ds, Columns, 0)
	samples, alloc := usValue(ds, SamplesPerPixel, 1), usValue(ds, BitsAllocated, 0)
	if rows <= 0 || cols <= 0 || samples <= 0 || alloc <= 0 {
		return 0, fmt.Errorf("dicom: frame size: Rows %d, Columns %d, Samples per Pixel %d, Bits Allocated %d: %w", rows, cols, samples, alloc, ErrMalformed)
	}
	// Each factor is at most 65535: the product of all four fits in
	// 64 bits unsigned, not in an int64.
	if samples == 3 && strings.TrimSpace(ds.String(PhotometricInterpretation)) == "YBR_FULL_422" {
		// Native YBR_FULL_422 keeps one Cb and one Cr per two pixels:
		// two values a pixel (PS3.3 C.7.6.3.1.2).
		samples = 2
	}
	hi, bitsPer := bits.Mul64(uint64(rows)*uint64(cols), uint64(samples)*uint64(alloc))
	if hi != 0 || bitsPer > 1<<62 {
		return 0, fmt.Errorf("dicom: frame of %d×%d×%d×%d bits: %w", rows, cols, samples, alloc, ErrMalformed)
	}
	if bitsPer%8 != 0 && frames > 1 {
		return 0, fmt.Errorf("dicom: frames of %d bits do not start on a byte: %w", bitsPer, ErrUnsupported)
	}
	n := int64((bitsPer + 7) / 8)
	if hi, lo := bits.Mul64(uint64(n), uint64(frames)); hi != 0 || lo > uint64(valueLen) {
		return 0, fmt.Errorf("dicom: Pixel Data of %d bytes holds fewer than %d frames of %d bytes: %w", valueLen, frames, n, ErrMalformed)
	}
	return n, nil
}

// readNativeFrames serves the frames want of the native Pixel Data
// element t whose header has just been read.
func (d *decoder) readNativeFrames(ds *Dataset, total int, t Tag, vr string, length int64, want []int, fn func(int, io.Reader) error) error {
	size, err := frameLength(ds, total, length)
	if err != nil {
		return err
	}
	v := &valueReader{d: d, t: t, n: length}
	var pixels interface {
		io.Reader
		skip(int64) error
	} = v
	if unit := swapSize(vr); d.enc.bigEndian && unit > 1 {
		pixels = &swapReader{r: v, unit: unit, buf: make([]byte, 32<<10)}
	}
	var pos int64
	for _, n := range want {
		off := int64(n-1) * size
		if err := pixels.skip(off - pos); err != nil {
			return err
		}
		f := &frameReader{r: pixels, n: size}
		err := fn(n, f)
		f.r = nil
		if err != nil {
			return err
		}
		pos = off + size - f.n
	}
	return v.err
}

// frameReader reads the n bytes of a native frame from r; r is nil once
// the frame's fn has returned.
type frameReader struct {
	r io.Reader
	n int64
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, errStaleFrame
	}
	if f.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.n)]
	k, err := f.r.Read(p)
	f.n -= int64(k)
	if err == io.EOF && f.n > 0 {
		// The value ended first, which frameLength rules out: a backstop.
		err = fmt.Errorf("dicom: frame ends %d bytes early: %w", f.n, ErrTruncated)
	} else if err == io.EOF {
		err = nil
	}
	return k, err
}

// errStaleFrame is returned by a frame's reader used after its fn
// returned.
var errStaleFrame = errors.New("dicom: frame reader used after its callback returned")

// valueReader reads the n value bytes of element t from the decoder,
// reporting a source that ends before them as ErrTruncated. Its first
// error sticks.
type valueReader struct {
	d   *decoder
	t   Tag
	n   int64
	err error
}

func (v *valueReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), v.n)]
	k, err := v.d.r.Read(p)
	v.n -= int64(k)
	v.d.off += int64(k)
	if err == io.EOF && k > 0 {
		err = nil
	}
	if err != nil {
		v.err = fmt.Errorf("dicom: read %s value at offset %d: %w", v.t, v.d.off, truncated(err))
		return k, v.err
	}
	return k, nil
}

// skip discards k value bytes.
func (v *valueReader) skip(k int64) error {
	if v.err != nil {
		return v.err
	}
	if k > v.n {
		return fmt.Errorf("dicom: skip %d bytes of %s with %d left: %w", k, v.t, v.n, ErrMalformed)
	}
	for k > 0 {
		m, err := v.d.r.Discard(int(min(k, 1<<30)))
		k -= int64(m)
		v.n -= int64(m)
		v.d.off += int64(m)
		if err != nil {
			v.err = fmt.Errorf("dicom: read %s value at offset %d: %w", v.t, v.d.off, truncated(err))
			return v.err
		}
	}
	return nil
}

// swapReader reads r reversing the byte order of each unit-byte unit,
// counted from r's start; a trailing partial unit is left as it is.
type swapReader struct {
	r    io.Reader
	unit int
	buf  []byte // holds buf[i:j] swapped, not yet read
	i, j int
	eof  bool
}

func (s *swapReader) Read(p []byte) (int, error) {
	if s.i == s.j {
		if s.eof {
			return 0, io.EOF
		}
		// Whole units only, except at the end.
		n, err := io.ReadFull(s.r, s.buf)
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			s.eof = true
		default:
			return 0, err
		}
		swapUnits(s.buf[:n], s.unit)
		s.i, s.j = 0, n
		if n == 0 {
			return 0, io.EOF
		}
	}
	k := copy(p, s.buf[s.i:s.j])
	s.i += k
	return k, nil
}

func (s *swapReader) skip(k int64) error {
	if k == 0 {
		return nil
	}
	n, err := io.CopyN(io.Discard, s, k)
	if err == io.EOF && n < k {
		err = fmt.Errorf("dicom: skip %d bytes of Pixel Data with %d left: %w", k, n, ErrMalformed)
	}
	return err
}

// A fragmentScanner walks the fragments of encapsulated Pixel Data and
// tells which frame each belongs to. Its head fragment is the one whose
// item header was read last; its first error sticks.
type fragmentScanner struct {
	d      *decoder
	frames int   // Number of Frames
	pos    int64 // offset of the head fragment's item from the first fragment's
	next   int64 // offset of the item after the head fragment
	left   int64 // value bytes of the head fragment not yet read
	frame  int   // frame of the head fragment; 0 before the first
	end    bool  // the Sequence Delimitation Item has been read: no head
	err    error
	// starts reports whether a fragment at pos whose value starts with
	// head, following one of frame, starts frame+1.
	starts func(frame int, pos int64, head []byte) (bool, error)
}

// newFragmentScanner reads the Basic Offset Table of the encapsulated
// Pixel Data whose header has just been read and chooses how to find
// its frames.
func (d *decoder) newFragmentScanner(s Syntax, ds *Dataset, frames int) (*fragmentScanner, error) {
	f := &fragmentScanner{d: d, frames: frames}
	start := d.off
	if err := d.readFull(d.buf[:8]); err != nil {
		return nil, fmt.Errorf("dicom: read Basic Offset Table at offset %d: %w", start, err)
	}
	o := d.enc.order()
	it, length := NewTag(o.Uint16(d.buf[:2]), o.Uint16(d.buf[2:4])), o.Uint32(d.buf[4:8])
	if it != ItemTag || length == undefinedLength {
		return nil, fmt.Errorf("dicom: Basic Offset Table at offset %d: %s length %d: %w", start, it, length, ErrMalformed)
	}
	var table offsetTable
	if length > 0 && frames > 1 && length%4 == 0 && int64(length/4) == int64(frames) {
		v, err := d.readValue(length) // charged against Limits.MaxHeader
		if err != nil {
			return nil, fmt.Errorf("dicom: read Basic Offset Table at offset %d: %w", start, err)
		}
		table = offsetTable{v, 4}
	} else if err := (&valueReader{d: d, t: it, n: int64(length)}).skip(int64(length)); err != nil {
		return nil, err // a table of no use: skipped
	}
	if !table.valid(frames) {
		table = offsetTable{}
		if e := ds.Get(ExtendedOffsetTable); e != nil && frames > 1 && len(e.Value) == 8*frames {
			table = offsetTable{e.Value, 8}
		}
	}
	switch sig := frameSignature(s.UID); {
	case frames == 1:
		f.starts = func(int, int64, []byte) (bool, error) { return false, nil }
	case table.valid(frames):
		f.starts = func(frame int, pos int64, _ []byte) (bool, error) {
			if frame >= frames {
				return false, nil
			}
			switch next := table.at(frame); {
			case pos == next:
				return true, nil
			case pos > next:
				return false, fmt.Errorf("dicom: the offset table starts frame %d at offset %d, inside a fragment: %w", frame+1, next, ErrMalformed)
			}
			return false, nil
		}
	case sig != nil:
		f.starts = func(_ int, _ int64, head []byte) (bool, error) { return sig(head), nil }
	case s.UID == RLELossless || s.UID == "1.2.840.10008.1.2.8.1":
		f.starts = func(int, int64, []byte) (bool, error) { return true, nil }
	default:
		return nil, fmt.Errorf("dicom: %d frames in transfer syntax %s without an offset table: %w", frames, s.UID, ErrUnsupported)
	}
	return f, nil
}

// offsetTable is a Basic (4-byte) or Extended (8-byte) Offset Table:
// the offsets of the frames' first fragment items from the first
// fragment item, little endian.
type offsetTable struct {
	b    []byte
	size int
}

func (t offsetTable) at(i int) int64 {
	if t.size == 4 {
		return int64(binary.LittleEndian.Uint32(t.b[4*i:]))
	}
	return int64(binary.LittleEndian.Uint64(t.b[8*i:]))
}

// valid reports whether t has frames offsets, starting at 0 and strictly
// ascending, each item holding at least its 8-byte header.
func (t offsetTable) valid(frames int) bool {
	if t.size == 0 || len(t.b) != t.size*frames || t.at(0) != 0 {
		return false
	}
	for i := 1; i < frames; i++ {
		if a, b := t.at(i-1), t.at(i); b < 0 || b-a < 8 {
			return false
		}
	}
	return true
}

// frameSignature returns, for syntaxes whose frames start with a
// recognisable marker, a test of a fragment's first bytes, else nil.
func frameSignature(uid string) func(head []byte) bool {
	has := func(sigs ...string) func([]byte) bool {
		return func(head []byte) bool {
			for _, s := range sigs {
				if len(head) >= len(s) && string(head[:len(s)]) == s {
					return true
				}
			}
			return false
		}
	}
	switch uid {
	case "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
		"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81":
		return has("\xFF\xD8\xFF") // SOI, then another marker
	case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93",
		"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203":
		return has("\xFF\x4F\xFF\x51") // SOC, then SIZ
	case "1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112":
		return has("\xFF\x0A", "\x00\x00\x00\x0CJXL \r\n\x87\n") // codestream, or container
	}
	return nil
}

// advance skips the rest of the head fragment and reads the next item
// header.
func (f *fragmentScanner) advance() error {
	if f.err != nil {
		return f.err
	}
	if f.end {
		return nil
	}
	d := f.d
	if f.left > 0 {
		if err := (&valueReader{d: d, t: PixelData, n: f.left}).skip(f.left); err != nil {
			f.err = err
			return err
		}
		f.left = 0
	}
	start := d.off
	if err := d.readFull(d.buf[:8]); err != nil {
		f.err = fmt.Errorf("dicom: read Pixel Data fragment at offset %d: %w", start, err)
		return f.err
	}
	o := d.enc.order()
	it, n := NewTag(o.Uint16(d.buf[:2]), o.Uint16(d.buf[2:4])), o.Uint32(d.buf[4:8])
	switch {
	case it == SequenceDelimitation:
		f.end = true
		return nil
	case it != ItemTag || n == undefinedLength:
		f.err = fmt.Errorf("dicom: Pixel Data fragment at offset %d: %s length %d: %w", start, it, n, ErrMalformed)
		return f.err
	}
	f.pos, f.next, f.left = f.next, f.next+8+int64(n), int64(n)
	if f.frame == 0 {
		f.frame = 1
		return nil
	}
	head, _ := d.r.Peek(int(min(n, 8))) // short only if truncated, which reading will report
	ok, err := f.starts(f.frame, f.pos, head)
	if err == nil && ok && f.frame == f.frames {
		err = fmt.Errorf("dicom: fragment at offset %d starts a frame after the last of %d: %w", start, f.frames, ErrMalformed)
	}
	if err != nil {
		f.err = err
		return err
	}
	if ok {
		f.frame++
	}
	return nil
}

// readFrames serves the frames want, as ReadFrames.
func (f *fragmentScanner) readFrames(want []int, fn func(int, io.Reader) error) error {
	for _, n := range want {
		for !f.end && f.frame < n {
			if err := f.advance(); err != nil {
				return err
			}
		}
		if f.end {
			return fmt.Errorf("dicom: Pixel Data ends after %d of %d frames: %w", f.frame, f.frames, ErrMalformed)
		}
		r := &fragmentFrame{f: f, n: n}
		err := fn(n, r)
		r.f = nil
		if err != nil {
			return err
		}
	}
	return f.err
}

// fragmentFrame reads frame n through the fragment scanner f; f is nil
// once the frame's fn has returned.
type fragmentFrame struct {
	f *fragmentScanner
	n int
}

func (r *fragmentFrame) Read(p []byte) (int, error) {
	f := r.f
	if f == nil {
		return 0, errStaleFrame
	}
	for {
		if f.err != nil {
			return 0, f.err
		}
		if f.end || f.frame != r.n {
			return 0, io.EOF
		}
		if f.left > 0 {
			break
		}
		if err := f.advance(); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	v := valueReader{d: f.d, t: PixelData, n: f.left}
	k, err := v.Read(p)
	f.left -= int64(k)
	if err != nil {
		f.err = err
	}
	return k, err
}
