package codec

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// rleHeader is the size of an RLE frame's header: the number of segments
// and fifteen segment offsets, each a little-endian uint32 (PS3.5 G.5).
const rleHeader = 64

// decodeRLE decodes an RLE Lossless frame (PS3.5 Annex G) to the native
// frame p describes, laid out as p's Planar Configuration says.
//
// Each segment holds one byte of every sample of one component, most
// significant byte first (G.2): segment k is byte (k mod b) from the top
// of component k div b, b being the bytes per sample. A segment is a
// PackBits run-length stream (G.3.1) that must expand to exactly Rows x
// Columns bytes; bytes after that are padding. The segments together
// write every byte of the frame once, so dst's old contents never show.
func decodeRLE(p pixelModule, frame, dst []byte) ([]byte, error) {
	size := p.bitsAllocated / 8
	nseg := p.spp * size
	if nseg > 15 {
		return dst[:0], errUnsupported("RLE of %d samples of %d bits: %d segments (an RLE header holds 15)", p.spp, p.bitsAllocated, nseg)
	}
	if len(frame) < rleHeader {
		return dst[:0], errMalformed("RLE frame of %d bytes (the header alone is %d)", len(frame), rleHeader)
	}
	le := binary.LittleEndian
	if n := le.Uint32(frame); n != uint32(nseg) {
		return dst[:0], errMalformed("RLE frame of %d segments; %d samples of %d bits need %d", n, p.spp, p.bitsAllocated, nseg)
	}
	n := p.rows * p.cols // at most 65535², fits an int on 64 bits; frameSize checks the rest
	total, err := p.frameSize()
	if err != nil {
		return dst[:0], err
	}
	var ends [16]int
	for k := range nseg {
		ends[k] = int(le.Uint32(frame[4+4*k:]))
	}
	ends[nseg] = len(frame)
	for k := range nseg {
		start, end := ends[k], ends[k+1]
		if start < rleHeader || end < start || end > len(frame) {
			return dst[:0], errMalformed("RLE segment %d at offset %d (next at %d, frame of %d bytes)", k+1, start, end, len(frame))
		}
		// Two bytes expand to at most 128: refuse a segment that cannot
		// fill a plane before allocating the frame for it.
		if int64(end-start)*64 < int64(n) {
			return dst[:0], errMalformed("RLE segment %d of %d bytes cannot expand to %d", k+1, end-start, n)
		}
	}
	out := slices.Grow(dst[:0], total)[:total]
	for k := range nseg {
		c, b := k/size, size-1-k%size // component, byte in the little-endian sample
		// Where byte b of component c's first sample goes, and how far
		// apart the bytes of consecutive pixels are.
		start, stride := (c*size + b), p.spp*size
		if p.planar == 1 {
			start, stride = c*n*size+b, size
		}
		if err := unpackBits(out, start, stride, n, frame[ends[k]:ends[k+1]]); err != nil {
			return out[:0], errMalformed("RLE segment %d: %v", k+1, err)
		}
	}
	return out, nil
}

// unpackBits decodes the PackBits stream src into the n bytes of dst at
// start, start+stride, ...: a header byte h from 0 to 127 is followed by
// h+1 literal bytes, one from -127 to -1 by one byte repeated 1-h times;
// -128 is a no-op. Decoding stops when the n bytes are written.
func unpackBits(dst []byte, start, stride, n int, src []byte) error {
	j := 0 // bytes written
	for i := 0; j < n; {
		if i >= len(src) {
			return fmt.Errorf("ends after %d of %d bytes", j, n)
		}
		h := int8(src[i])
		i++
		switch {
		case h >= 0:
			k := int(h) + 1
			if i+k > len(src) || j+k > n {
				return fmt.Errorf("literal at byte %d overruns the segment or its plane", i-1)
			}
			lit := src[i : i+k]
			if stride == 1 {
				copy(dst[start+j:], lit)
			} else {
				o := start + j*stride
				for _, v := range lit {
					dst[o] = v
					o += stride
				}
			}
			i += k
			j += k
		case h != -128:
			k := 1 - int(h)
			if i >= len(src) || j+k > n {
				return fmt.Errorf("run at byte %d overruns the segment or its plane", i-1)
			}
			v := src[i]
			i++
			if stride == 1 {
				run := dst[start+j : start+j+k]
				for x := range run {
					run[x] = v
				}
			} else {
				for o, end := start+j*stride, start+(j+k)*stride; o < end; o += stride {
					dst[o] = v
				}
			}
			j += k
		}
	}
	return nil
}
