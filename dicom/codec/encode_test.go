package codec_test

import (
	"encoding/binary"
	"math/bits"
)

// The encoders here are the tests' own, written from the standards
// independently of the decoders under test, so that streams with every
// option the decoders must handle (predictors, point transforms, restart
// intervals, separate scans, long Huffman codes) exist without a
// third-party tool.

// rleEncode compresses a native frame (samples interleaved) of n pixels,
// spp samples of size bytes each, as an RLE Lossless frame (PS3.5 Annex
// G): one segment per byte of each sample, most significant first, each
// a PackBits stream of runs (2 to 128 equal bytes) and literals, padded
// to even length with a no-op.
func rleEncode(frame []byte, n, spp, size int) []byte {
	nseg := spp * size
	var segs [][]byte
	for k := range nseg {
		c, b := k/size, size-1-k%size
		plane := make([]byte, n)
		for i := range n {
			plane[i] = frame[(i*spp+c)*size+b]
		}
		var seg []byte
		for i := 0; i < n; {
			j := i + 1
			for j < n && j-i < 128 && plane[j] == plane[i] {
				j++
			}
			if j-i >= 2 {
				seg = append(seg, byte(int8(1-(j-i))), plane[i])
				i = j
				continue
			}
			j = i + 1
			for j < n && j-i < 128 && (j+1 >= n || plane[j] != plane[j+1]) {
				j++
			}
			seg = append(seg, byte(j-i-1))
			seg = append(seg, plane[i:j]...)
			i = j
		}
		if len(seg)%2 == 1 {
			seg = append(seg, 0x80)
		}
		segs = append(segs, seg)
	}
	out := make([]byte, 64)
	binary.LittleEndian.PutUint32(out, uint32(nseg))
	off := 64
	for k, s := range segs {
		binary.LittleEndian.PutUint32(out[4+4*k:], uint32(off))
		off += len(s)
	}
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}

// jpegOptions are the choices of jpegEncode.
type jpegOptions struct {
	precision int     // P, 2 to 16
	pred      int     // selection value, 1 to 7 (0 means 1)
	pt        int     // point transform
	restart   int     // restart interval in MCUs, 0 for none
	scans     [][]int // components of each scan; nil is one scan of all
	long      bool    // use the table of long codes (up to 16 bits)
	ids       []byte  // component identifiers; nil is 1, 2, 3, ...
}

// huffSpec is a Huffman table as DHT carries it: the number of codes of
// each length, then the values in code order.
type huffSpec struct {
	counts [16]byte
	vals   []byte
}

// shortTable codes all 17 difference categories in 5 bits.
var shortTable = huffSpec{counts: [16]byte{4: 17}, vals: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}

// longTable gives category 0 a code of 2 bits, 1 and 2 codes of 3, then
// one more bit for each category up to 16 bits for 15 and 16, so that
// large differences take the decoder's slow path.
var longTable = huffSpec{
	counts: [16]byte{1: 1, 2: 2, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 10: 1, 11: 1, 12: 1, 13: 1, 14: 1, 15: 2},
	vals:   []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
}

// codes assigns the canonical codes of T.81 C.2: code and length of each
// value.
func (h huffSpec) codes() map[byte][2]int {
	m := map[byte][2]int{}
	code, k := 0, 0
	for l := 1; l <= 16; l++ {
		for range int(h.counts[l-1]) {
			m[h.vals[k]] = [2]int{code, l}
			code++
			k++
		}
		code <<= 1
	}
	return m
}

// bitWriter writes entropy-coded data: bits most significant first,
// FF followed by a stuffed 00 (B.1.1.5), padded with 1 bits (F.1.2.3).
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc int
}

func (w *bitWriter) put(v, n int) {
	for i := n - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | uint32(v>>i&1)
		w.nacc++
		if w.nacc == 8 {
			w.out = append(w.out, byte(w.acc))
			if byte(w.acc) == 0xFF {
				w.out = append(w.out, 0)
			}
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *bitWriter) flush() {
	for w.nacc != 0 {
		w.put(1, 1)
	}
}

// jpegEncode compresses the samples of each component (row-major, w x h,
// values below 2^precision) as a JPEG lossless (process 14) stream, T.81
// Annex H with the syntax of Annex B.
func jpegEncode(comps [][]uint16, w, h int, o jpegOptions) []byte {
	if o.pred == 0 {
		o.pred = 1
	}
	if o.scans == nil {
		all := make([]int, len(comps))
		for i := range all {
			all[i] = i
		}
		o.scans = [][]int{all}
	}
	ids := o.ids
	if ids == nil {
		for i := range comps {
			ids = append(ids, byte(i+1))
		}
	}
	spec := shortTable
	if o.long {
		spec = longTable
	}
	codes := spec.codes()
	be := binary.BigEndian
	out := []byte{0xFF, 0xD8}
	seg := func(m byte, body []byte) {
		out = append(out, 0xFF, m)
		out = be.AppendUint16(out, uint16(len(body)+2))
		out = append(out, body...)
	}
	seg(0xFE, []byte("codec test encoder"))
	sof := []byte{byte(o.precision)}
	sof = be.AppendUint16(sof, uint16(h))
	sof = be.AppendUint16(sof, uint16(w))
	sof = append(sof, byte(len(comps)))
	for i := range comps {
		sof = append(sof, ids[i], 0x11, 0)
	}
	seg(0xC3, sof)
	// The table is defined as tables 0 and 2: scans alternate.
	for _, id := range []byte{0, 2} {
		seg(0xC4, append(append([]byte{id}, spec.counts[:]...), spec.vals...))
	}
	if o.restart > 0 {
		seg(0xDD, be.AppendUint16(nil, uint16(o.restart)))
	}
	for si, sc := range o.scans {
		sos := []byte{byte(len(sc))}
		for _, c := range sc {
			sos = append(sos, ids[c], byte(si%2*2)<<4)
		}
		sos = append(sos, byte(o.pred), 0, byte(o.pt))
		seg(0xDA, sos)
		out = append(out, encodeScan(comps, sc, w, h, o, codes)...)
	}
	return append(out, 0xFF, 0xD9)
}

// encodeScan codes the components sc: point transform, prediction
// (Table H.1; the first line of the scan and of each restart interval
// from the left, its first sample from 2^(P-Pt-1); the first sample of
// other lines from above), differences modulo 2^16 (H.1.2.1), then
// category and extra bits (H.1.2.2).
func encodeScan(comps [][]uint16, sc []int, w, h int, o jpegOptions, codes map[byte][2]int) []byte {
	var bw bitWriter
	mcu, rst := 0, 0
	resetRow, resetCol := 0, 0
	for y := range h {
		for x := range w {
			if o.restart > 0 && mcu > 0 && mcu%o.restart == 0 {
				bw.flush()
				bw.out = append(bw.out, 0xFF, byte(0xD0+rst%8))
				rst++
				resetRow, resetCol = y, x
			}
			mcu++
			for _, c := range sc {
				s := func(x, y int) int { return int(comps[c][y*w+x] >> o.pt) }
				var px int
				switch {
				case y == resetRow && x == resetCol:
					px = 1 << (o.precision - o.pt - 1)
				case y == resetRow:
					px = s(x-1, y)
				case x == 0:
					px = s(x, y-1)
				default:
					ra, rb, rc := s(x-1, y), s(x, y-1), s(x-1, y-1)
					px = [...]int{0, ra, rb, rc, ra + rb - rc, ra + (rb-rc)>>1, rb + (ra-rc)>>1, (ra + rb) >> 1}[o.pred]
				}
				d := (s(x, y) - px) & 0xFFFF
				if d >= 0x8000 {
					d -= 0x10000
				}
				cat := bits.Len(uint(abs(d)))
				if d == -0x8000 {
					cat = 16
				}
				code := codes[byte(cat)]
				bw.put(code[0], code[1])
				if cat > 0 && cat < 16 {
					v := d
					if d < 0 {
						v = d - 1
					}
					bw.put(v&(1<<cat-1), cat)
				}
			}
		}
	}
	bw.flush()
	return bw.out
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
