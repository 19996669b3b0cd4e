// Package render turns one frame of DICOM Pixel Data into an image for a
// rendered WADO-RS response (PS3.18 8.3.5, 10.4): the grayscale pipeline
// of PS3.3 C.11 (Modality LUT, VOI window or LUT, MONOCHROME1 inversion)
// down to 8-bit gray, or the color one (RGB, YBR_FULL, YBR_FULL_422,
// PALETTE COLOR) down to 8-bit RGB, then the viewport's region, flip and
// scaling, then JPEG, PNG or GIF.
//
// # What it renders
//
// Native frames (any transfer syntax that is not encapsulated; the frame
// holds little-endian values, as dicom.Object.ReadFrames yields them):
// MONOCHROME1 and MONOCHROME2 with Bits Allocated 8, 16 or 32, any Bits
// Stored and High Bit within them (values are shifted down, masked and,
// for Pixel Representation 1, sign-extended, so junk in the unused high
// bits is ignored); RGB and YBR_FULL with Bits Allocated 8 or 16 (RGB)
// and Planar Configuration 0 or 1; YBR_FULL_422 (two luminance samples
// and one Cb, Cr pair per two pixels, Rows x Columns x 2 bytes); PALETTE
// COLOR with 8- or 16-bit palette entries.
//
// Encapsulated frames: RLE Lossless (PS3.5 Annex G, decoded by
// dicom/codec, then rendered as native), and JPEG Baseline and Extended (8-bit) through
// image/jpeg. A grayscale JPEG's samples go through the grayscale
// pipeline as 8-bit unsigned stored values, so a requested window, the
// header's rescale and window, and MONOCHROME1 inversion apply to them as
// to native pixels. A color JPEG is shown as decoded: VOI transforms are
// grayscale only (PS3.3 C.11.2), so a requested window is ignored for any
// color image. A three-component JPEG whose Photometric Interpretation is
// RGB is taken as RGB (not color-transformed, PS3.5 8.2.1) even where the
// JPEG stream does not say so. Everything else (JPEG Lossless, JPEG-LS,
// JPEG 2000, HTJ2K, video, 12-bit JPEG, segmented palettes, Bits Allocated
// 1, other photometric interpretations) is an error wrapping
// dicom.ErrUnsupported, which a caller answers with 406.
//
// # Grayscale
//
// The Modality LUT is Rescale Slope and Intercept, else the Modality LUT
// Sequence, else identity. The VOI transform is, in this order: the
// requested Window; the object's first Window Center and Width with its
// VOI LUT Function; the first item of the VOI LUT Sequence; a linear
// ramp from the frame's minimum (black) to its maximum (white), the
// LINEAR_EXACT window of center (min+max)/2 and width max-min. Enhanced multi-frame objects keep rescale and window in the
// Pixel Value Transformation and Frame VOI LUT functional groups: those of
// the frame's Per-Frame Functional Groups item (Options.Frame) are used
// first, then the shared ones, then the top-level attributes. Presentation
// LUT Shape and presentation states are not applied.
//
// # Bounds
//
// Work and memory are proportional to Rows x Columns, which must not
// exceed Options.MaxPixels (DefaultMaxPixels, 32 Mi pixels: a 16-bit
// 5792 x 5792 frame, larger than any single projection radiograph); the
// rendered image is bounded the same way. A frame whose length does not
// match the header is an error before anything is allocated for it, an
// RLE segment too short to expand to a full plane is refused before it is
// decoded, and a JPEG must declare the header's dimensions before it is
// decoded.
package render

import (
	"fmt"
	"image"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/codec"
)

// DefaultMaxPixels bounds Rows x Columns of a frame and of a rendered
// image where Options.MaxPixels is zero.
const DefaultMaxPixels = 32 << 20

// Options are the rendering parameters of a request.
type Options struct {
	// Window, if not nil, replaces the object's VOI transform (grayscale
	// images only).
	Window *Window
	// Viewport selects the region and bounds the size of the result.
	Viewport Viewport
	// Quality is the JPEG quality, 1 to 100; 0 means Encode's default.
	// Image does not use it; it travels with the other parameters of a
	// request.
	Quality int
	// Frame is the 1-based number of the frame rendered, which selects its
	// item of the Per-Frame Functional Groups Sequence (5200,9230) of an
	// enhanced multi-frame object; 0 uses the shared groups only.
	Frame int
	// MaxPixels bounds Rows x Columns of the frame and of the rendered
	// image; 0 means DefaultMaxPixels.
	MaxPixels int
}

// jpegExtended is JPEG Extended (Process 2 & 4), which image/jpeg
// decodes when its samples have 8 bits.
const jpegExtended = "1.2.840.10008.1.2.4.51"

// Image renders one frame: frame holds its bytes exactly as
// dicom.Object.ReadFrames yields them (native: the little-endian pixel
// values of that frame; encapsulated: the frame's compressed bitstream),
// described by ds, the instance's data set, and encoded in syntax s. The
// result is an *image.Gray for grayscale images and an *image.RGBA
// (opaque) for color ones.
//
// Errors that mean the frame cannot be rendered here wrap
// dicom.ErrUnsupported; a header that contradicts itself or a frame that
// does not match it wraps dicom.ErrMalformed; a viewport region outside
// the frame, or a rendered size above the limit, is a trialgate EInvalid
// error.
func Image(ds *dicom.Dataset, s dicom.Syntax, frame []byte, o Options) (image.Image, error) {
	maxPixels := o.MaxPixels
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	p, err := readPixelModule(ds, maxPixels)
	if err != nil {
		return nil, err
	}
	// Check the viewport before the frame: a bad request is the client's
	// error whatever the frame holds, and costs nothing to find.
	r, err := o.Viewport.region(p.cols, p.rows)
	if err != nil {
		return nil, err
	}
	dw, dh := fit(r.w, r.h, o.Viewport.Width, o.Viewport.Height)
	if int64(dw)*int64(dh) > int64(maxPixels) {
		return nil, trialgate.Errorf(trialgate.EInvalid, "viewport: a rendered image of %dx%d pixels exceeds the limit of %d pixels", dw, dh, maxPixels)
	}
	var pl *plane
	switch {
	case !s.Encapsulated:
		pl, err = renderNative(ds, p, frame, o)
	case s.UID == dicom.RLELossless:
		var native []byte
		// codec.Decode lays the samples out as the header's Planar
		// Configuration says, so p describes native, except that RLE
		// segments are whole planes: nothing is subsampled.
		if native, err = codec.Decode(ds, s, frame, nil); err == nil {
			if p.photometric == "YBR_FULL_422" {
				p.photometric = "YBR_FULL"
			}
			pl, err = renderNative(ds, p, native, o)
		}
	case s.UID == dicom.JPEGBaseline || s.UID == jpegExtended:
		pl, err = renderJPEG(ds, p, frame, o)
	default:
		err = errUnsupported("frames of transfer syntax %s", s.UID)
	}
	if err != nil {
		return nil, err
	}
	return pl.resample(r, dw, dh).image(), nil
}

// errUnsupported returns an error wrapping dicom.ErrUnsupported.
func errUnsupported(format string, args ...any) error {
	return &unsupportedError{msg: fmt.Sprintf(format, args...)}
}

// unsupportedError says what cannot be rendered; it wraps
// dicom.ErrUnsupported, whose own text ("unsupported transfer syntax")
// would misname most causes.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return "render: " + e.msg + ": not supported" }
func (e *unsupportedError) Unwrap() error { return dicom.ErrUnsupported }

// errMalformed returns an error wrapping dicom.ErrMalformed.
func errMalformed(format string, args ...any) error {
	return fmt.Errorf("render: %s: %w", fmt.Sprintf(format, args...), dicom.ErrMalformed)
}

// Tags of the Image Pixel module (PS3.3 C.7.6.3), the LUT modules (C.11)
// and the functional groups (C.7.6.16) that Image reads.
const (
	tagSamplesPerPixel          = dicom.SamplesPerPixel
	tagPhotometric              = dicom.PhotometricInterpretation
	tagPlanarConfiguration      = dicom.Tag(0x00280006)
	tagRows                     = dicom.Rows
	tagColumns                  = dicom.Columns
	tagBitsAllocated            = dicom.BitsAllocated
	tagBitsStored               = dicom.Tag(0x00280101)
	tagHighBit                  = dicom.Tag(0x00280102)
	tagPixelRepresentation      = dicom.PixelRepresentation
	tagWindowCenter             = dicom.Tag(0x00281050)
	tagWindowWidth              = dicom.Tag(0x00281051)
	tagRescaleIntercept         = dicom.Tag(0x00281052)
	tagRescaleSlope             = dicom.Tag(0x00281053)
	tagVOILUTFunction           = dicom.Tag(0x00281056)
	tagRedPaletteDescriptor     = dicom.Tag(0x00281101) // green and blue follow it
	tagRedPaletteData           = dicom.Tag(0x00281201) // green and blue follow it
	tagSegmentedRedPaletteData  = dicom.Tag(0x00281221) // green and blue follow it
	tagModalityLUTSequence      = dicom.Tag(0x00283000)
	tagLUTDescriptor            = dicom.Tag(0x00283002)
	tagLUTData                  = dicom.Tag(0x00283006)
	tagVOILUTSequence           = dicom.Tag(0x00283010)
	tagFrameVOILUTSequence      = dicom.Tag(0x00289132)
	tagPixelValueTransformation = dicom.Tag(0x00289145)
	tagSharedFunctionalGroups   = dicom.Tag(0x52009229)
	tagPerFrameFunctionalGroups = dicom.Tag(0x52009230)
)

// pixelModule is what the Image Pixel module says about the frame.
type pixelModule struct {
	rows, cols, spp int
	photometric     string
	bitsAllocated   int
	bitsStored      int
	highBit         int
	signed          bool // Pixel Representation 1
	planar          int  // Planar Configuration
}

// readPixelModule reads and checks the Image Pixel module of ds.
func readPixelModule(ds *dicom.Dataset, maxPixels int) (pixelModule, error) {
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
	p.rows = get(tagRows, -1)
	p.cols = get(tagColumns, -1)
	p.spp = get(tagSamplesPerPixel, 1)
	p.bitsAllocated = get(tagBitsAllocated, -1)
	p.bitsStored = get(tagBitsStored, p.bitsAllocated)
	p.highBit = get(tagHighBit, p.bitsStored-1)
	pr := get(tagPixelRepresentation, 0)
	p.planar = get(tagPlanarConfiguration, 0)
	if err != nil {
		return p, err
	}
	p.signed = pr == 1
	p.photometric = ds.String(tagPhotometric)
	switch {
	case p.rows <= 0 || p.cols <= 0:
		return p, errMalformed("Rows %d, Columns %d: want both present and positive", p.rows, p.cols)
	case int64(p.rows)*int64(p.cols) > int64(maxPixels):
		return p, errUnsupported("a frame of %dx%d pixels exceeds the rendering limit of %d pixels", p.cols, p.rows, maxPixels)
	case p.bitsAllocated != 8 && p.bitsAllocated != 16 && p.bitsAllocated != 32:
		return p, errUnsupported("Bits Allocated %d (want 8, 16 or 32)", p.bitsAllocated)
	case p.bitsStored < 1 || p.bitsStored > p.bitsAllocated:
		return p, errMalformed("Bits Stored %d with Bits Allocated %d", p.bitsStored, p.bitsAllocated)
	case p.highBit < p.bitsStored-1 || p.highBit >= p.bitsAllocated:
		return p, errMalformed("High Bit %d with Bits Stored %d and Bits Allocated %d", p.highBit, p.bitsStored, p.bitsAllocated)
	case pr != 0 && pr != 1:
		return p, errMalformed("Pixel Representation %d (want 0 or 1)", pr)
	case p.planar != 0 && p.planar != 1:
		return p, errMalformed("Planar Configuration %d (want 0 or 1)", p.planar)
	}
	switch p.photometric {
	case "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR":
		if p.spp != 1 {
			return p, errMalformed("%s with Samples per Pixel %d (want 1)", p.photometric, p.spp)
		}
	case "RGB", "YBR_FULL", "YBR_FULL_422":
		if p.spp != 3 {
			return p, errMalformed("%s with Samples per Pixel %d (want 3)", p.photometric, p.spp)
		}
	case "":
		return p, errMalformed("no Photometric Interpretation")
	default:
		return p, errUnsupported("Photometric Interpretation %q", p.photometric)
	}
	return p, nil
}

// frameSize returns the length in bytes of a native frame p describes.
func (p pixelModule) frameSize() int64 {
	n := int64(p.rows) * int64(p.cols)
	if p.photometric == "YBR_FULL_422" {
		return n * 2 // PS3.3 C.7.6.3.1.2: Y Y Cb Cr for every two pixels
	}
	return n * int64(p.spp) * int64(p.bitsAllocated/8)
}

// checkLength checks that a native frame has the length the header
// implies, allowing the pad byte that ends an odd-length Pixel Data value.
func (p pixelModule) checkLength(frame []byte) error {
	want := p.frameSize()
	if n := int64(len(frame)); n != want && (want%2 == 0 || n != want+1) {
		return errMalformed("frame of %d bytes; %dx%d %s with %d samples of %d bits allocated is %d bytes",
			n, p.cols, p.rows, p.photometric, p.spp, p.bitsAllocated, want)
	}
	return nil
}

// intAttr returns the first value of the integer attribute t, or def if
// ds lacks it or it is empty.
func intAttr(ds *dicom.Dataset, t dicom.Tag, def int) (int, error) {
	f, ok, err := floatAttr(ds, t)
	if err != nil || !ok {
		return def, err
	}
	if f != float64(int(f)) || f < -1<<31 || f > 1<<31 {
		return 0, errMalformed("%s: %v is not an integer", t, f)
	}
	return int(f), nil
}

// floatAttr returns the first value of the numeric attribute t of ds and
// whether there is one.
func floatAttr(ds *dicom.Dataset, t dicom.Tag) (float64, bool, error) {
	e := ds.Get(t)
	if e == nil {
		return 0, false, nil
	}
	vs, err := e.Floats()
	if err != nil {
		return 0, false, fmt.Errorf("render: %w (%w)", err, dicom.ErrMalformed)
	}
	if len(vs) == 0 {
		return 0, false, nil
	}
	return vs[0], true, nil
}
