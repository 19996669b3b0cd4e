package codec

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/trialgate/trialgate/dicom"
)

// Transfer syntaxes decoded here besides dicom.RLELossless.
const (
	jpegLossless    = "1.2.840.10008.1.2.4.57" // Process 14
	jpegLosslessSV1 = "1.2.840.10008.1.2.4.70" // Process 14, Selection Value 1
)

// Tags of the Image Pixel module (PS3.3 C.7.6.3) that dicom does not name.
const (
	tagPlanarConfiguration = dicom.Tag(0x00280006)
	tagBitsStored          = dicom.Tag(0x00280101)
	tagExtendedOffsetTable = dicom.ExtendedOffsetTable
	tagExtendedOffsetLens  = dicom.ExtendedOffsetTableLengths
)

// Decodes reports whether frames encoded in syntax s can be decoded here
// to native pixel data without loss (RLE Lossless 1.2.840.10008.1.2.5;
// JPEG Lossless 1.2.840.10008.1.2.4.57 and .70).
func Decodes(s dicom.Syntax) bool {
	switch uid(s) {
	case dicom.RLELossless, jpegLossless, jpegLosslessSV1:
		return true
	}
	return false
}

// uid returns s's UID without the padding of a UI value.
func uid(s dicom.Syntax) string { return strings.TrimRight(s.UID, "\x00 ") }

// FrameSize is the length of one native frame described by ds
// (Rows*Columns*SamplesPerPixel*BitsAllocated/8), or an error wrapping
// dicom.ErrMalformed (attributes missing, zero or not integers) or
// dicom.ErrUnsupported (Bits Allocated not a multiple of 8). It is the
// length of what Decode returns, whatever the Photometric Interpretation
// (see NativeHeader for YBR_FULL_422).
func FrameSize(ds *dicom.Dataset) (int, error) {
	p, err := readPixelModule(ds)
	if err != nil {
		return 0, err
	}
	return p.frameSize()
}

// Decode decodes one compressed frame (the bytes dicom.Object.ReadFrames
// yields) of an object with header ds in syntax s into native
// little-endian pixel data laid out as the same object would be in
// Explicit VR Little Endian: samples as the header's Planar Configuration
// says for RLE, always interleaved for JPEG (see NativeHeader for the
// header a decoded object is written with). It appends to dst[:0] and
// returns it, FrameSize(ds) bytes long.
//
// Errors wrap dicom.ErrUnsupported when the frame cannot be decoded here
// (another transfer syntax, JPEG arithmetic coding, a JPEG precision that
// Bits Allocated cannot hold, ...) or dicom.ErrMalformed when the stream
// is corrupt or does not match the header. Work and memory are bounded
// by the lengths of frame and of the decoded frame, which must be one
// the input could expand to.
func Decode(ds *dicom.Dataset, s dicom.Syntax, frame []byte, dst []byte) ([]byte, error) {
	if !Decodes(s) {
		return dst[:0], errUnsupported("decoding frames of transfer syntax %s", uid(s))
	}
	p, err := readPixelModule(ds)
	if err != nil {
		return dst[:0], err
	}
	if uid(s) == dicom.RLELossless {
		return decodeRLE(p, frame, dst)
	}
	return decodeJPEG(p, frame, dst)
}

// NativeHeader returns the data set to write with pixel data that Decode
// decoded from an object with header ds in syntax s: a copy of ds (its
// elements shared, not copied) with Planar Configuration 0 for a JPEG
// syntax and more than one sample, Photometric Interpretation
// YBR_FULL_422 changed to YBR_FULL, and the Extended Offset Table and
// its Lengths removed. The Transfer Syntax UID, in the file meta group,
// is the caller's to set. ds itself is not changed.
func NativeHeader(ds *dicom.Dataset, s dicom.Syntax) *dicom.Dataset {
	out := &dicom.Dataset{Elements: slices.Clone(ds.Elements)}
	out.Remove(tagExtendedOffsetTable)
	out.Remove(tagExtendedOffsetLens)
	if ds.String(dicom.PhotometricInterpretation) == "YBR_FULL_422" {
		out.SetString(dicom.PhotometricInterpretation, "CS", "YBR_FULL")
	}
	if u := uid(s); u == jpegLossless || u == jpegLosslessSV1 {
		if v, _ := intAttr(ds, dicom.SamplesPerPixel, 1); v > 1 {
			out.Set(&dicom.Element{Tag: tagPlanarConfiguration, VR: "US", Value: []byte{0, 0}})
		}
	}
	return out
}

// pixelModule is what the Image Pixel module says about a frame.
type pixelModule struct {
	rows, cols, spp int
	bitsAllocated   int
	bitsStored      int
	signed          bool // Pixel Representation 1
	planar          int  // Planar Configuration
}

// readPixelModule reads and checks the attributes of ds that lay out a
// native frame.
func readPixelModule(ds *dicom.Dataset) (pixelModule, error) {
	var p pixelModule
	var err error
	get := func(t dicom.Tag, def int) int {
		if err != nil {
			return 0
		}
		var v int
		v, err = intAttr(ds, t, def)
		return v
	}
	p.rows = get(dicom.Rows, 0)
	p.cols = get(dicom.Columns, 0)
	p.spp = get(dicom.SamplesPerPixel, 1)
	p.bitsAllocated = get(dicom.BitsAllocated, 0)
	p.bitsStored = get(tagBitsStored, p.bitsAllocated)
	pr := get(dicom.PixelRepresentation, 0)
	p.planar = get(tagPlanarConfiguration, 0)
	if err != nil {
		return p, err
	}
	p.signed = pr == 1
	switch {
	case p.rows <= 0 || p.rows > 0xFFFF || p.cols <= 0 || p.cols > 0xFFFF:
		return p, errMalformed("Rows %d, Columns %d: want both present, positive and at most 65535", p.rows, p.cols)
	case p.spp <= 0 || p.spp > 0xFFFF:
		return p, errMalformed("Samples per Pixel %d", p.spp)
	case p.bitsAllocated <= 0 || p.bitsAllocated > 0xFFFF:
		return p, errMalformed("Bits Allocated %d", p.bitsAllocated)
	case p.bitsAllocated%8 != 0:
		return p, errUnsupported("Bits Allocated %d (want a multiple of 8)", p.bitsAllocated)
	case p.bitsStored < 1 || p.bitsStored > p.bitsAllocated:
		return p, errMalformed("Bits Stored %d with Bits Allocated %d", p.bitsStored, p.bitsAllocated)
	case pr != 0 && pr != 1:
		return p, errMalformed("Pixel Representation %d (want 0 or 1)", pr)
	case p.spp > 1 && p.planar != 0 && p.planar != 1:
		return p, errMalformed("Planar Configuration %d (want 0 or 1)", p.planar)
	}
	if p.spp == 1 {
		p.planar = 0 // meaningless for one sample
	}
	return p, nil
}

// frameSize returns the length in bytes of a native frame p describes.
func (p pixelModule) frameSize() (int, error) {
	// Each factor is at most 65535: the product fits in 64 bits.
	hi, n := bits.Mul64(uint64(p.rows)*uint64(p.cols), uint64(p.spp)*uint64(p.bitsAllocated/8))
	if hi != 0 || n > uint64(maxInt) {
		return 0, errUnsupported("a frame of %d×%d×%d samples of %d bits", p.rows, p.cols, p.spp, p.bitsAllocated)
	}
	return int(n), nil
}

const maxInt = int(^uint(0) >> 1)

// intAttr returns the first value of the integer attribute t of ds, or
// def if ds lacks it or it is empty.
func intAttr(ds *dicom.Dataset, t dicom.Tag, def int) (int, error) {
	e := ds.Get(t)
	if e == nil {
		return def, nil
	}
	vs, err := e.Floats()
	if err != nil {
		return 0, fmt.Errorf("codec: %w (%w)", err, dicom.ErrMalformed)
	}
	if len(vs) == 0 {
		return def, nil
	}
	f := vs[0]
	if f != float64(int32(f)) {
		return 0, errMalformed("%s: %v is not an integer", t, f)
	}
	return int(f), nil
}

// errUnsupported returns an error wrapping dicom.ErrUnsupported.
func errUnsupported(format string, args ...any) error {
	return &unsupportedError{msg: fmt.Sprintf(format, args...)}
}

// unsupportedError says what cannot be decoded; it wraps
// dicom.ErrUnsupported, whose own text ("unsupported transfer syntax")
// would misname most causes.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return "codec: " + e.msg + ": not supported" }
func (e *unsupportedError) Unwrap() error { return dicom.ErrUnsupported }

// errMalformed returns an error wrapping dicom.ErrMalformed.
func errMalformed(format string, args ...any) error {
	return fmt.Errorf("codec: %s: %w", fmt.Sprintf(format, args...), dicom.ErrMalformed)
}
