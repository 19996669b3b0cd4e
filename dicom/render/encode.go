package render

import (
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/trialgate/trialgate"
)

// Rendered media types (PS3.18 8.7.4) that Encode writes.
const (
	JPEG = "image/jpeg"
	PNG  = "image/png"
	GIF  = "image/gif"
)

// DefaultQuality is the JPEG quality Encode uses when given 0: higher than
// image/jpeg's 75, which blurs the fine texture readers look at.
const DefaultQuality = 90

// MediaTypes returns the media types Encode writes, preferred first:
// JPEG (compact, and the default of PS3.18 for rendered images), PNG
// (lossless), GIF (lossless for grayscale, a 256-color palette for color).
// It returns a new slice on each call.
func MediaTypes() []string { return []string{JPEG, PNG, GIF} }

// Encode writes img as mediaType, one of MediaTypes; quality (1 to 100,
// 0 meaning DefaultQuality) applies to JPEG only. An unknown media type is
// an EMediaType error, a quality out of range an EInvalid one.
func Encode(w io.Writer, img image.Image, mediaType string, quality int) error {
	var err error
	switch mediaType {
	case JPEG:
		if quality == 0 {
			quality = DefaultQuality
		}
		if quality < 1 || quality > 100 {
			return trialgate.Errorf(trialgate.EInvalid, "quality %d: want 1 to 100", quality)
		}
		err = jpeg.Encode(w, img, &jpeg.Options{Quality: quality})
	case PNG:
		// Rendered images are made on request and sent once: speed matters
		// more than the last few percent of size.
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, img)
	case GIF:
		err = gif.Encode(w, paletted(img), nil)
	default:
		return trialgate.Errorf(trialgate.EMediaType, "rendered media type %q is not supported (supported: %s, %s, %s)", mediaType, JPEG, PNG, GIF)
	}
	if err != nil {
		return fmt.Errorf("render: encode %s: %w", mediaType, err)
	}
	return nil
}

// paletted returns a gray image as a paletted one with the 256 gray
// levels, losing nothing; other images are returned as they are, for
// image/gif to quantize.
func paletted(img image.Image) image.Image {
	g, ok := img.(*image.Gray)
	if !ok {
		return img
	}
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.Gray{Y: uint8(i)}
	}
	return &image.Paletted{Pix: g.Pix, Stride: g.Stride, Rect: g.Rect, Palette: pal}
}
