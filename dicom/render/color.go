package render

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"

	"github.com/trialgate/trialgate/dicom"
)

// plane is a rendered 8-bit image: h rows of w pixels of ch bytes each,
// 1 (gray) or 4 (RGBA, always opaque), without padding.
type plane struct {
	pix      []byte
	w, h, ch int
}

// image returns pl as an *image.Gray or *image.RGBA sharing its pixels.
func (pl *plane) image() image.Image {
	r := image.Rect(0, 0, pl.w, pl.h)
	if pl.ch == 1 {
		return &image.Gray{Pix: pl.pix, Stride: pl.w, Rect: r}
	}
	return &image.RGBA{Pix: pl.pix, Stride: 4 * pl.w, Rect: r}
}

// renderNative renders a native frame (or a decoded RLE one).
func renderNative(ds *dicom.Dataset, p pixelModule, frame []byte, o Options) (*plane, error) {
	if err := p.checkLength(frame); err != nil {
		return nil, err
	}
	switch p.photometric {
	case "MONOCHROME1", "MONOCHROME2":
		return renderGray(ds, p, frame, o)
	case "PALETTE COLOR":
		if p.bitsAllocated > 16 {
			return nil, errUnsupported("PALETTE COLOR with Bits Allocated %d", p.bitsAllocated)
		}
		return renderPalette(ds, p, frame)
	case "YBR_FULL_422":
		return renderYBR422(p, frame)
	}
	return renderColor(p, frame)
}

// renderColor renders a native RGB or YBR_FULL frame, interleaved
// (Planar Configuration 0: R G B R G B ...) or by plane (1: all R, then
// all G, then all B).
func renderColor(p pixelModule, frame []byte) (*plane, error) {
	if p.photometric == "YBR_FULL" && p.bitsAllocated != 8 {
		return nil, errUnsupported("YBR_FULL with Bits Allocated %d", p.bitsAllocated)
	}
	if p.bitsAllocated > 16 {
		return nil, errUnsupported("RGB with Bits Allocated %d", p.bitsAllocated)
	}
	// Color samples are unsigned (C.7.6.3.1.1 allows Pixel Representation
	// 1 only for monochrome data): read them so whatever the header says.
	p.signed = false
	s := newSampler(p, frame)
	n := p.rows * p.cols
	index := func(i, c int) int { return 3*i + c }
	if p.planar == 1 {
		index = func(i, c int) int { return c*n + i }
	}
	// Scale stored values to 8 bits through a table of every stored value.
	top := int(s.mask)
	scale := make([]byte, top+1)
	for v := range scale {
		scale[v] = byte((v*255 + top/2) / top)
	}
	out := make([]byte, 4*n)
	for i := range n {
		r := scale[s.unsigned(index(i, 0))]
		g := scale[s.unsigned(index(i, 1))]
		b := scale[s.unsigned(index(i, 2))]
		if p.photometric == "YBR_FULL" {
			r, g, b = color.YCbCrToRGB(r, g, b)
		}
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = r, g, b, 255
	}
	return &plane{pix: out, w: p.cols, h: p.rows, ch: 4}, nil
}

// renderYBR422 renders a native YBR_FULL_422 frame: each pair of pixels
// of a row is Y1 Y2 Cb Cr (PS3.3 C.7.6.3.1.2).
func renderYBR422(p pixelModule, frame []byte) (*plane, error) {
	if p.bitsAllocated != 8 {
		return nil, errUnsupported("YBR_FULL_422 with Bits Allocated %d", p.bitsAllocated)
	}
	if p.cols%2 != 0 {
		return nil, errMalformed("YBR_FULL_422 with an odd number of columns (%d)", p.cols)
	}
	s := newSampler(p, frame)
	n := p.rows * p.cols
	out := make([]byte, 4*n)
	for i := 0; i < n; i += 2 {
		j := 2 * i
		y1, y2 := byte(s.unsigned(j)), byte(s.unsigned(j+1))
		cb, cr := byte(s.unsigned(j+2)), byte(s.unsigned(j+3))
		r, g, b := color.YCbCrToRGB(y1, cb, cr)
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = r, g, b, 255
		r, g, b = color.YCbCrToRGB(y2, cb, cr)
		out[4*i+4], out[4*i+5], out[4*i+6], out[4*i+7] = r, g, b, 255
	}
	return &plane{pix: out, w: p.cols, h: p.rows, ch: 4}, nil
}

// renderJPEG decodes a JPEG Baseline or Extended frame with image/jpeg.
func renderJPEG(ds *dicom.Dataset, p pixelModule, frame []byte, o Options) (*plane, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(frame))
	if err != nil {
		return nil, jpegError(err)
	}
	if cfg.Width != p.cols || cfg.Height != p.rows {
		return nil, errMalformed("JPEG frame of %dx%d pixels in a %dx%d image", cfg.Width, cfg.Height, p.cols, p.rows)
	}
	img, err := jpeg.Decode(bytes.NewReader(frame))
	if err != nil {
		return nil, jpegError(err)
	}
	gray := p.photometric == "MONOCHROME1" || p.photometric == "MONOCHROME2"
	n := p.rows * p.cols
	switch m := img.(type) {
	case *image.Gray:
		if !gray {
			return nil, errMalformed("grayscale JPEG frame with Photometric Interpretation %s", p.photometric)
		}
		// The decoded samples are 8-bit unsigned stored values.
		q := p
		q.bitsAllocated, q.bitsStored, q.highBit, q.signed = 8, 8, 7, false
		return renderGray(ds, q, compact(m.Pix, m.Stride, p.cols, p.rows), o)
	case *image.YCbCr:
		if gray || p.photometric == "PALETTE COLOR" {
			return nil, errMalformed("color JPEG frame with Photometric Interpretation %s", p.photometric)
		}
		out := make([]byte, 4*n)
		rgb := p.photometric == "RGB"
		for y := range p.rows {
			for x := range p.cols {
				a, b, c := m.Y[m.YOffset(x, y)], m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)]
				if !rgb {
					a, b, c = color.YCbCrToRGB(a, b, c)
				}
				i := 4 * (y*p.cols + x)
				out[i], out[i+1], out[i+2], out[i+3] = a, b, c, 255
			}
		}
		return &plane{pix: out, w: p.cols, h: p.rows, ch: 4}, nil
	case *image.RGBA:
		if gray || p.photometric == "PALETTE COLOR" {
			return nil, errMalformed("color JPEG frame with Photometric Interpretation %s", p.photometric)
		}
		return &plane{pix: compact(m.Pix, m.Stride, 4*p.cols, p.rows), w: p.cols, h: p.rows, ch: 4}, nil
	}
	return nil, errUnsupported("JPEG frame decoded as %T", img)
}

// jpegError classifies an image/jpeg error: a feature it lacks (12-bit
// precision, arithmetic coding, lossless) means the frame cannot be
// rendered here; anything else is a corrupt frame.
func jpegError(err error) error {
	var u jpeg.UnsupportedError
	if errors.As(err, &u) {
		return errUnsupported("JPEG frame: %v", err)
	}
	return errMalformed("JPEG frame: %v", err)
}

// compact returns rows of rowBytes bytes taken every stride bytes of pix,
// pix itself when there is no padding between them.
func compact(pix []byte, stride, rowBytes, rows int) []byte {
	if stride == rowBytes {
		return pix[:rowBytes*rows]
	}
	out := make([]byte, 0, rowBytes*rows)
	for y := range rows {
		out = append(out, pix[y*stride:y*stride+rowBytes]...)
	}
	return out
}
