package catalog

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/codec"
	"github.com/trialgate/trialgate/dicom/render"
)

// ParseFrameList reads a WADO-RS frame list ("1,3,5"): frame numbers from
// 1, in the order the client wants them.
func ParseFrameList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, trialgate.Errorf(trialgate.EInvalid, "frame list %q: %q is not a frame number (1, 2, ...)", clip(s), clip(f))
		}
		out = append(out, n)
	}
	if len(out) > MaxLimit {
		return nil, trialgate.Errorf(trialgate.EInvalid, "frame list: at most %d frames at a time", MaxLimit)
	}
	return out, nil
}

// A FrameNegotiator picks the media type frames of Pixel Data stored in
// syntax stored are sent as, and whether they are decoded to uncompressed
// frames first (only where Decompresses allows); ok is false when the
// client accepts none.
type FrameNegotiator func(stored dicom.Syntax) (mediaType string, decode, ok bool)

// FrameSet is a recorded retrieval of frames of one instance, ready to
// stream.
type FrameSet struct {
	c         *Catalog
	v         *View
	row       stored
	obj       *dicom.Object
	src       io.Closer
	numbers   []int
	MediaType string       // the media type of every frame
	Syntax    dicom.Syntax // the stored transfer syntax
	// Decoded says the frames are sent uncompressed, decoded from the
	// stored syntax; otherwise they are sent as stored.
	Decoded bool
}

// Frames selects frames of one instance (WADO-RS frames, or the Pixel
// Data as bulk data when numbers is nil: every frame) in the view that
// policy opens for ref. A frame the instance does not have is ENotFound
// and a media type the client does not accept is ENotAcceptable, both
// before anything is recorded or sent; then the retrieval is recorded.
// The caller streams the frames with Each and must Close the set.
func (c *Catalog) Frames(ctx context.Context, p *auth.Principal, policy Policy, ref string, sel Selection, numbers []int, negotiate FrameNegotiator) (*FrameSet, error) {
	v, rows, err := c.open(ctx, p, policy, ref, sel)
	if err != nil {
		return nil, err
	}
	f := &FrameSet{c: c, v: v, row: rows[0], numbers: numbers}
	if f.obj, f.src, err = c.openObject(ctx, v, &f.row); err != nil {
		return nil, err
	}
	n := f.obj.NumberOfFrames()
	if n == 0 {
		f.Close()
		return nil, trialgate.Errorf(trialgate.ENotFound, "instance %s has no Pixel Data", sel.Instance)
	}
	if numbers == nil {
		for i := 1; i <= n; i++ {
			f.numbers = append(f.numbers, i)
		}
	}
	if i := slices.IndexFunc(f.numbers, func(k int) bool { return k > n }); i >= 0 {
		f.Close()
		return nil, trialgate.Errorf(trialgate.ENotFound, "instance %s has %d frame(s): there is no frame %d", sel.Instance, n, f.numbers[i])
	}
	f.Syntax = f.obj.Syntax
	var ok bool
	if f.MediaType, f.Decoded, ok = negotiate(f.Syntax); !ok {
		f.Close()
		return nil, trialgate.Errorf(trialgate.ENotAcceptable,
			"the frames of instance %s are stored as %s (transfer syntax %s), which is not decoded here; accept that media type, or transfer-syntax=*",
			sel.Instance, f.Syntax.FrameMediaType(), f.Syntax.UID)
	}
	what := "frames"
	if numbers == nil {
		what = "pixel data"
	}
	err = c.record(ctx, p, v, audit.Event{Action: audit.ActionInstanceRetrieved, Object: sel.object(),
		After: map[string]any{"what": what, "frames": f.numbers}})
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Numbers are the frame numbers, in the order Each yields them.
func (f *FrameSet) Numbers() []int { return f.numbers }

// Each streams the frames to fn in the order asked. The object is read
// once for each run of ascending frame numbers: frames stream from the
// store, never all held.
func (f *FrameSet) Each(ctx context.Context, fn func(n int, frame io.Reader) error) error {
	rest := f.numbers
	for len(rest) > 0 {
		run := 1
		for run < len(rest) && rest[run] > rest[run-1] {
			run++
		}
		if f.obj == nil {
			var err error
			if f.obj, f.src, err = f.c.openObject(ctx, f.v, &f.row); err != nil {
				return err
			}
		}
		each := fn
		if f.Decoded {
			var err error
			if each, err = decodeFrames(f.obj, fn); err != nil {
				f.Close()
				return fmt.Errorf("catalog: instance %s: frames: %w", f.row.sop, err)
			}
		}
		err := f.obj.ReadFrames(rest[:run], each)
		f.Close()
		if err != nil {
			return fmt.Errorf("catalog: instance %s: frames: %w", f.row.sop, err)
		}
		rest = rest[run:]
	}
	return nil
}

// Close releases the stored object.
func (f *FrameSet) Close() error {
	if f.src == nil {
		return nil
	}
	err := f.src.Close()
	f.obj, f.src = nil, nil
	return err
}

// explicitVRLittleEndian is the syntax of decoded frames.
var explicitVRLittleEndian, _ = dicom.LookupSyntax(dicom.ExplicitVRLittleEndian)

// MaxRenderedFrame bounds the bytes of a frame that is rendered, which is
// read into memory whole to be decoded.
const MaxRenderedFrame = 256 << 20

// Render renders one frame (WADO-RS rendered and thumbnail resources) in
// the view that policy opens for ref, recorded as a retrieval. A selection
// of a study or a series renders its representative instance (the middle
// one of its first series), and frame 0 the representative frame (the
// middle one). A frame that cannot be decoded here is ENotAcceptable.
func (c *Catalog) Render(ctx context.Context, p *auth.Principal, policy Policy, ref string, sel Selection, frame int, opt render.Options) (image.Image, error) {
	v, rows, err := c.open(ctx, p, policy, ref, sel)
	if err != nil {
		return nil, err
	}
	series := rows[:1+slices.IndexFunc(rows[1:], func(r stored) bool { return r.series != rows[0].series })]
	if len(series) == 0 {
		series = rows
	}
	row := series[len(series)/2]
	obj, src, err := c.openObject(ctx, v, &row)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	n := obj.NumberOfFrames()
	switch {
	case n == 0:
		return nil, trialgate.Errorf(trialgate.ENotFound, "instance %s has no Pixel Data to render", row.sop)
	case frame > n:
		return nil, trialgate.Errorf(trialgate.ENotFound, "instance %s has %d frame(s): there is no frame %d", row.sop, n, frame)
	case frame == 0:
		frame = (n + 1) / 2
	}
	err = c.record(ctx, p, v, audit.Event{Action: audit.ActionInstanceRetrieved, Object: audit.Object{Type: "instance", ID: row.sop},
		After: map[string]any{"what": "rendered", "frame": frame}})
	if err != nil {
		return nil, err
	}
	var img image.Image
	err = obj.ReadFrames([]int{frame}, func(_ int, r io.Reader) error {
		b, err := io.ReadAll(io.LimitReader(r, MaxRenderedFrame+1))
		if err != nil {
			return err
		}
		if len(b) > MaxRenderedFrame {
			return trialgate.Errorf(trialgate.ENotAcceptable, "frame %d of instance %s is larger than %d bytes, too large to render", frame, row.sop, MaxRenderedFrame)
		}
		opt.Frame = frame // an enhanced object's per-frame window and rescale
		if codec.Decodes(obj.Syntax) {
			// Decoded here, rendered as the uncompressed frame it is.
			if b, err = codec.Decode(obj.Dataset, obj.Syntax, b, nil); err != nil {
				return err
			}
			img, err = render.Image(codec.NativeHeader(obj.Dataset, obj.Syntax), explicitVRLittleEndian, b, opt)
			return err
		}
		img, err = render.Image(obj.Dataset, obj.Syntax, b, opt)
		return err
	})
	switch {
	case errors.Is(err, dicom.ErrUnsupported):
		return nil, trialgate.Wrap(err, trialgate.ENotAcceptable,
			fmt.Sprintf("instance %s (transfer syntax %s) cannot be rendered here; retrieve its frames instead", row.sop, obj.Syntax.UID))
	case err != nil:
		return nil, fmt.Errorf("catalog: render instance %s frame %d: %w", row.sop, frame, err)
	}
	return img, nil
}
