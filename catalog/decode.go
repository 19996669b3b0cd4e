package catalog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/codec"
)

// Objects stored compressed losslessly (RLE, JPEG Lossless) are sent
// uncompressed when that is what the client takes: the default of WADO-RS,
// and uncompressed frames. Frames are decoded one at a time, so memory
// stays that of one compressed and one decoded frame whatever the object's
// size.

// Decompresses reports whether an object stored in syntax stored can be
// sent uncompressed in syntax to: stored is one codec decodes and to is
// explicit or implicit VR little endian.
func Decompresses(stored, to dicom.Syntax) bool {
	return stored.Encapsulated && codec.Decodes(stored) && !to.Encapsulated && !to.BigEndian && !to.Deflated
}

// maxCompressedFrame bounds what is read of one compressed frame to decode
// it: a lossless stream is never much larger than the frame it codes.
func maxCompressedFrame(frameSize int) int64 { return 2*int64(frameSize) + 64<<10 }

// readFrame reads one compressed frame whole, refusing one far larger than
// the decoded frame could need.
func readFrame(r io.Reader, frameSize int, buf []byte) ([]byte, error) {
	b := bytes.NewBuffer(buf[:0])
	limit := maxCompressedFrame(frameSize)
	n, err := b.ReadFrom(io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		return nil, err
	case n > limit:
		return nil, fmt.Errorf("catalog: a compressed frame of more than %d bytes for a frame of %d: %w", limit, frameSize, dicom.ErrMalformed)
	}
	return b.Bytes(), nil
}

// writeDecompressed writes obj (its header already rewritten for the view)
// in the native syntax to, its Pixel Data decoded frame by frame. The
// header is codec.NativeHeader's, the meta group new; elements that follow
// the Pixel Data (rare: padding, signatures over the compressed form) are
// not carried over.
func writeDecompressed(w io.Writer, obj *dicom.Object, to dicom.Syntax) error {
	hdr := codec.NativeHeader(obj.Dataset, obj.Syntax)
	size, err := codec.FrameSize(hdr)
	if err != nil {
		return err
	}
	frames := obj.NumberOfFrames()
	total := int64(size) * int64(frames)
	if total > 0xFFFFFFFE {
		return fmt.Errorf("catalog: %d bytes of Pixel Data do not fit one element: %w", total, dicom.ErrUnsupported)
	}
	meta := dicom.NewMeta(hdr.String(dicom.SOPClassUID), hdr.String(dicom.SOPInstanceUID), to)
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := dicom.Encode(bw, meta, hdr, to); err != nil {
		return err
	}
	vr := "OW"
	if bits, err := hdr.Get(dicom.BitsAllocated).Floats(); err == nil && len(bits) > 0 && bits[0] <= 8 {
		vr = "OB"
	}
	length := uint32(total + total%2)
	el := binary.LittleEndian.AppendUint16(nil, dicom.PixelData.Group())
	el = binary.LittleEndian.AppendUint16(el, dicom.PixelData.Element())
	if !to.Implicit {
		el = append(el, vr[0], vr[1], 0, 0)
	}
	el = binary.LittleEndian.AppendUint32(el, length)
	if _, err := bw.Write(el); err != nil {
		return err
	}
	all := make([]int, frames)
	for i := range all {
		all[i] = i + 1
	}
	var in, out []byte
	err = obj.ReadFrames(all, func(_ int, r io.Reader) error {
		var err error
		if in, err = readFrame(r, size, in); err != nil {
			return err
		}
		if out, err = codec.Decode(obj.Dataset, obj.Syntax, in, out); err != nil {
			return err
		}
		_, err = bw.Write(out)
		return err
	})
	if err != nil {
		return err
	}
	if total%2 == 1 {
		if err := bw.WriteByte(0); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// decodeFrames wraps fn so that it is handed each compressed frame decoded.
func decodeFrames(obj *dicom.Object, fn func(n int, frame io.Reader) error) (func(int, io.Reader) error, error) {
	size, err := codec.FrameSize(codec.NativeHeader(obj.Dataset, obj.Syntax))
	if err != nil {
		return nil, err
	}
	var in, out []byte
	return func(n int, r io.Reader) error {
		var err error
		if in, err = readFrame(r, size, in); err != nil {
			return err
		}
		if out, err = codec.Decode(obj.Dataset, obj.Syntax, in, out); err != nil {
			return err
		}
		return fn(n, bytes.NewReader(out))
	}, nil
}
