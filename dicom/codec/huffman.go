package codec

// lutBits is how many leading bits the Huffman lookup decodes; the rarer
// longer codes are decoded as in T.81 F.2.2.3. fastBits is how many the
// lookup of whole differences (code and extra bits) takes.
const (
	lutBits  = 9
	fastBits = 12
)

// huffSpec is a Huffman table as DHT defines it (B.2.4.2): counts[l-1]
// codes of length l (BITS) take the values vals (HUFFVAL) in order.
type huffSpec struct {
	counts [16]int32
	vals   []byte
}

// newHuffSpec returns the table of counts and vals after checking that
// canonical codes (C.2) exist for them.
func newHuffSpec(counts [16]int, vals []byte) (huffSpec, error) {
	h := huffSpec{vals: vals}
	code := int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		if code+n > 1<<l {
			return huffSpec{}, errMalformed("JPEG Huffman table with more codes of %d bits than there are", l)
		}
		h.counts[l-1] = n
		code = (code + n) << 1
	}
	return h, nil
}

// huffTable is a Huffman table (T.81 Annex C) ready for decoding. It is
// built when a scan first uses its specification: a stream may define
// any number of tables, but its scans use at most one per component, so
// the cost of building them does not grow with the stream.
type huffTable struct {
	vals []byte
	// lut maps the next lutBits bits to length<<8 | value for codes of
	// at most lutBits bits; 0 means a longer code.
	lut [1 << lutBits]uint16
	// maxcode[l] is the largest code of length l, -1 if there is none;
	// the value of code c of length l is vals[valptr[l]+c].
	maxcode [17]int32
	valptr  [17]int32
	// fast maps the next fastBits bits to diff<<8 | bits for the
	// differences whose code and extra bits take at most fastBits bits
	// (most of them, in medical images); 0 means another.
	fast [1 << fastBits]int32
}

// build assigns the canonical codes (C.2) of h and fills the lookup
// tables.
func (h huffSpec) build() *huffTable {
	t := &huffTable{vals: h.vals}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := h.counts[l-1]
		t.valptr[l] = k - code
		t.maxcode[l] = -1
		if n > 0 {
			t.maxcode[l] = code + n - 1
		}
		for c := code; c < code+n; c++ {
			v := h.vals[k+c-code]
			if l <= lutBits {
				e := uint16(l)<<8 | uint16(v)
				lo := c << (lutBits - l)
				for i := lo; i < lo+1<<(lutBits-l); i++ {
					t.lut[i] = e
				}
			}
			t.addFast(c, l, v)
		}
		k += n
		code = (code + n) << 1
	}
	return t
}

// addFast enters the differences that code c of length l for category
// s starts into t.fast.
func (t *huffTable) addFast(c int32, l int, s byte) {
	extra := int(s)
	if s == 16 || s > 16 {
		extra = 0 // 32768, or left to diff to refuse
	}
	total := l + extra
	if total > fastBits || s > 16 {
		return
	}
	for e := int32(0); e < 1<<extra; e++ {
		var d int32
		switch {
		case s == 16:
			d = 32768
		case s > 0:
			d = extend(e, uint(s))
		}
		lo := (c<<extra | e) << (fastBits - total)
		for i := lo; i < lo+1<<(fastBits-total); i++ {
			t.fast[i] = d<<8 | int32(total)
		}
	}
}

// extend converts the s extra bits v of a difference of category s to
// its value (F.2.2.1 EXTEND).
func extend(v int32, s uint) int32 {
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// bitReader reads the entropy-coded data of a scan (B.1.1.5, F.2.2.5):
// bytes, of which FF00 stands for FF, up to the marker that ends it. Its
// first error sticks: decoding after it yields zeros, and the caller
// checks it once a line, so a corrupt stream costs no more than a valid
// one.
type bitReader struct {
	data   []byte
	pos    int    // next byte to load
	acc    uint64 // n bits, most significant first
	n      uint
	marker bool // pos is at a marker, or the data's end
	err    error
}

// fill loads bytes until acc holds more than 56 bits or a marker is
// reached.
func (b *bitReader) fill() {
	for b.n <= 56 && !b.marker {
		if b.pos >= len(b.data) {
			b.marker = true
			return
		}
		c := b.data[b.pos]
		if c == 0xFF {
			if b.pos+1 >= len(b.data) || b.data[b.pos+1] != 0 {
				b.marker = true
				return
			}
			b.pos++ // a stuffed zero
		}
		b.pos++
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// short records that the data ended inside a code.
func (b *bitReader) short() {
	if b.err == nil {
		b.err = errMalformed("JPEG entropy-coded data ends early at offset %d", b.pos)
	}
}

// decode returns the next Huffman-coded value of t.
func (b *bitReader) decode(t *huffTable) int {
	if b.n < 16 {
		b.fill()
	}
	if e := t.lut[b.acc>>(64-lutBits)]; e != 0 {
		l := uint(e >> 8)
		if l > b.n {
			b.short()
			return 0
		}
		b.acc <<= l
		b.n -= l
		return int(e & 0xFF)
	}
	for l := uint(lutBits + 1); l <= 16; l++ {
		code := int32(b.acc >> (64 - l))
		if code <= t.maxcode[l] {
			if l > b.n {
				b.short()
				return 0
			}
			b.acc <<= l
			b.n -= l
			return int(t.vals[t.valptr[l]+code])
		}
	}
	if b.err == nil {
		b.err = errMalformed("JPEG: invalid Huffman code near offset %d", b.pos)
	}
	return 0
}

// diff decodes a difference (H.1.2.2, Table H.2): its category SSSS,
// then SSSS bits that EXTEND (F.2.2.1) to a signed value; category 16
// is 32768 with no bits.
func (b *bitReader) diff(t *huffTable) int32 {
	if b.n < fastBits {
		b.fill()
	}
	if e := t.fast[b.acc>>(64-fastBits)]; e != 0 && uint(e&0xFF) <= b.n {
		b.acc <<= uint(e & 0xFF)
		b.n -= uint(e & 0xFF)
		return e >> 8
	}
	s := uint(b.decode(t))
	switch {
	case s == 0:
		return 0
	case s == 16:
		return 32768
	case s > 16:
		if b.err == nil {
			b.err = errMalformed("JPEG lossless difference category %d", s)
		}
		return 0
	}
	if b.n < s {
		b.fill()
		if b.n < s {
			b.short()
			return 0
		}
	}
	v := int32(b.acc >> (64 - s))
	b.acc <<= s
	b.n -= s
	return extend(v, s)
}

// restartAt consumes the marker RSTn that ends a restart interval,
// dropping the bits that pad the interval to a byte (F.2.2.5) and any
// other bytes before the marker.
func (b *bitReader) restartAt(n int) error {
	if b.err != nil {
		return b.err
	}
	for !b.marker {
		b.acc, b.n = 0, 0
		b.fill()
	}
	b.acc, b.n = 0, 0
	p := b.markerPos()
	for p < len(b.data) && b.data[p] == 0xFF {
		p++ // fill bytes
	}
	if p >= len(b.data) || b.data[p] != byte(markerRST0+n) {
		got := "the end of the data"
		if p < len(b.data) {
			got = "marker FF" + hex2(b.data[p])
		}
		b.err = errMalformed("JPEG: %s at offset %d where RST%d should be", got, p-1, n)
		return b.err
	}
	b.pos, b.marker = p+1, false
	return nil
}

// markerPos returns the offset of the marker that stopped the reader, or
// the data's end.
func (b *bitReader) markerPos() int {
	for !b.marker {
		b.acc, b.n = 0, 0
		b.fill()
	}
	return b.pos
}

func hex2(c byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[c>>4], digits[c&15]})
}
