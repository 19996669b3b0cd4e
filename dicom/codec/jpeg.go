package codec

import (
	"encoding/binary"
	"slices"
)

// JPEG markers (ITU-T T.81 Table B.1) the lossless decoder acts on.
const (
	markerSOF3 = 0xC3 // lossless, Huffman
	markerDHT  = 0xC4
	markerDAC  = 0xCC // arithmetic conditioning
	markerRST0 = 0xD0 // RST0 to RST7
	markerSOI  = 0xD8
	markerEOI  = 0xD9
	markerSOS  = 0xDA
	markerDQT  = 0xDB
	markerDNL  = 0xDC
	markerDRI  = 0xDD
	markerDHP  = 0xDE // hierarchical progression
	markerEXP  = 0xDF // expand reference components
	markerCOM  = 0xFE
)

// sofProcess names the processes of the other SOF markers, which this
// package does not decode.
var sofProcess = map[byte]string{
	0xC0: "baseline DCT", 0xC1: "extended sequential DCT", 0xC2: "progressive DCT",
	0xC5: "differential sequential DCT", 0xC6: "differential progressive DCT", 0xC7: "differential lossless",
	0xC9: "extended sequential DCT with arithmetic coding", 0xCA: "progressive DCT with arithmetic coding",
	0xCB: "lossless with arithmetic coding", 0xCD: "differential sequential DCT with arithmetic coding",
	0xCE: "differential progressive DCT with arithmetic coding", 0xCF: "differential lossless with arithmetic coding",
}

// jpegComponent is one component of the frame header.
type jpegComponent struct {
	id      byte
	decoded bool // a scan has decoded it
}

// jpegDecoder decodes one JPEG lossless (process 14) image, T.81 Annex H
// with the interchange format of Annex B.
type jpegDecoder struct {
	p         pixelModule
	data      []byte
	pos       int // offset in data of the next marker
	precision int // P of the frame header, 0 before it
	comps     []jpegComponent
	specs     [4]huffSpec   // DC tables defined, by id
	defined   [4]bool       // specs[i] is defined
	tables    [4]*huffTable // specs[i] built, nil until a scan uses it
	restart   int           // restart interval in MCUs, 0 for none
	out       []byte        // the decoded frame, allocated at the first scan
	dst       []byte        // the caller's buffer
}

// decodeJPEG decodes a JPEG Lossless frame to the native frame p
// describes, samples interleaved.
func decodeJPEG(p pixelModule, frame, dst []byte) ([]byte, error) {
	d := &jpegDecoder{p: p, data: frame, dst: dst}
	out, err := d.decode()
	if err != nil {
		return dst[:0], err
	}
	return out, nil
}

func (d *jpegDecoder) decode() ([]byte, error) {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != markerSOI {
		return nil, errMalformed("JPEG frame does not start with SOI")
	}
	d.pos = 2
	for {
		m, ok, err := d.nextMarker()
		if err != nil {
			return nil, err
		}
		if !ok || m == markerEOI {
			// A stream that ends without EOI after its last scan is
			// whole: accept it, as decoders commonly do.
			return d.finish(ok)
		}
		switch {
		case m == markerSOF3:
			err = d.readFrameHeader()
		case sofProcess[m] != "":
			return nil, errUnsupported("JPEG %s (SOF%d) in a lossless transfer syntax", sofProcess[m], m-0xC0)
		case m == markerDHT:
			err = d.readHuffmanTables()
		case m == markerDAC:
			return nil, errUnsupported("JPEG arithmetic coding")
		case m == markerDRI:
			err = d.readRestartInterval()
		case m == markerSOS:
			err = d.readScan()
		case m == markerDHP || m == markerEXP:
			return nil, errUnsupported("hierarchical JPEG")
		case m == markerDNL, m == markerDQT, m == markerCOM, m >= 0xE0 && m <= 0xEF, m >= 0xF0 && m <= 0xFD:
			// DNL repeats the frame header's height (0 is refused
			// there); quantization tables serve DCT processes only;
			// APPn, COM and JPGn carry nothing for decoding.
			_, err = d.segment(m)
		case m >= markerRST0 && m <= markerRST0+7:
			return nil, errMalformed("JPEG RST%d outside entropy-coded data at offset %d", m-markerRST0, d.pos-2)
		default:
			return nil, errMalformed("JPEG marker FF%02X at offset %d", m, d.pos-2)
		}
		if err != nil {
			return nil, err
		}
	}
}

// finish checks that every component was decoded; sawEOI tells whether
// the stream ended with EOI or just ended.
func (d *jpegDecoder) finish(sawEOI bool) ([]byte, error) {
	if d.precision == 0 {
		return nil, errMalformed("JPEG stream without a frame header")
	}
	for i, c := range d.comps {
		if !c.decoded {
			if sawEOI {
				return nil, errMalformed("JPEG EOI before component %d (of %d) was decoded", i+1, len(d.comps))
			}
			return nil, errMalformed("JPEG stream ends before component %d (of %d) was decoded", i+1, len(d.comps))
		}
	}
	return d.out, nil
}

// nextMarker reads the marker at d.pos, skipping fill bytes (B.1.1.2).
// It returns ok false when the data ends first (trailing zero padding,
// such as the byte that evens a fragment, counts as the end).
func (d *jpegDecoder) nextMarker() (m byte, ok bool, err error) {
	rest := d.data[d.pos:]
	if len(rest) == 0 || allZero(rest) {
		return 0, false, nil
	}
	if rest[0] != 0xFF {
		return 0, false, errMalformed("JPEG: byte %02X at offset %d where a marker should be", rest[0], d.pos)
	}
	i := 1
	for i < len(rest) && rest[i] == 0xFF {
		i++
	}
	if i == len(rest) {
		return 0, false, errMalformed("JPEG stream ends inside a marker at offset %d", d.pos)
	}
	if rest[i] == 0 {
		return 0, false, errMalformed("JPEG: stuffed byte FF00 at offset %d outside entropy-coded data", d.pos+i-1)
	}
	d.pos += i + 1
	return rest[i], true, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// segment returns the parameters of the marker segment m at d.pos (after
// its length) and moves d.pos past it.
func (d *jpegDecoder) segment(m byte) ([]byte, error) {
	if len(d.data)-d.pos < 2 {
		return nil, errMalformed("JPEG marker FF%02X at offset %d: no length", m, d.pos-2)
	}
	n := int(binary.BigEndian.Uint16(d.data[d.pos:]))
	if n < 2 || n > len(d.data)-d.pos {
		return nil, errMalformed("JPEG marker FF%02X at offset %d: length %d with %d bytes left", m, d.pos-2, n, len(d.data)-d.pos)
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

// readFrameHeader reads SOF3 (B.2.2) and checks it against the DICOM
// header.
func (d *jpegDecoder) readFrameHeader() error {
	seg, err := d.segment(markerSOF3)
	if err != nil {
		return err
	}
	if d.precision != 0 {
		return errMalformed("JPEG stream with two frame headers")
	}
	if len(seg) < 6 || len(seg) != 6+3*int(seg[5]) {
		return errMalformed("JPEG SOF3 of %d bytes", len(seg))
	}
	p := d.p
	precision, y, x, nf := int(seg[0]), int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:])), int(seg[5])
	switch {
	case precision < 2 || precision > 16:
		return errMalformed("JPEG lossless precision %d (want 2 to 16)", precision)
	case precision > p.bitsAllocated:
		return errUnsupported("JPEG precision %d with Bits Allocated %d", precision, p.bitsAllocated)
	case y == 0:
		return errUnsupported("JPEG frame whose height a DNL marker gives")
	case y != p.rows || x != p.cols:
		return errMalformed("JPEG frame of %dx%d pixels; the header says %dx%d", x, y, p.cols, p.rows)
	case nf != p.spp:
		return errMalformed("JPEG frame of %d components; the header says %d samples per pixel", nf, p.spp)
	case nf > 4:
		return errUnsupported("JPEG frame of %d components", nf)
	}
	if p.bitsAllocated > 32 {
		return errUnsupported("JPEG with Bits Allocated %d", p.bitsAllocated)
	}
	d.comps = make([]jpegComponent, nf)
	for i := range nf {
		c := seg[6+3*i:]
		d.comps[i].id = c[0]
		// One component's sampling factors mean nothing; several must
		// all be 1, so that each has every pixel's sample.
		if h, v := c[1]>>4, c[1]&15; nf > 1 && (h != 1 || v != 1) {
			return errUnsupported("JPEG component %d sampled %dx%d", i+1, h, v)
		}
		for j := range i {
			if d.comps[j].id == c[0] {
				return errMalformed("JPEG frame with two components numbered %d", c[0])
			}
		}
	}
	d.precision = precision
	return nil
}

// readHuffmanTables reads DHT (B.2.4.2). Lossless coding uses DC tables
// (class 0) only; AC tables are checked for form and dropped.
func (d *jpegDecoder) readHuffmanTables() error {
	seg, err := d.segment(markerDHT)
	if err != nil {
		return err
	}
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errMalformed("JPEG DHT ends inside a table")
		}
		class, id := seg[0]>>4, seg[0]&15
		if class > 1 || id > 3 {
			return errMalformed("JPEG Huffman table class %d, id %d", class, id)
		}
		var counts [16]int
		total := 0
		for i := range counts {
			counts[i] = int(seg[1+i])
			total += counts[i]
		}
		if len(seg) < 17+total {
			return errMalformed("JPEG DHT ends inside table %d", id)
		}
		h, err := newHuffSpec(counts, seg[17:17+total])
		if err != nil {
			return err
		}
		if class == 0 {
			d.specs[id], d.defined[id], d.tables[id] = h, true, nil
		}
		seg = seg[17+total:]
	}
	return nil
}

// readRestartInterval reads DRI (B.2.4.4).
func (d *jpegDecoder) readRestartInterval() error {
	seg, err := d.segment(markerDRI)
	if err != nil {
		return err
	}
	if len(seg) != 2 {
		return errMalformed("JPEG DRI of %d bytes", len(seg))
	}
	d.restart = int(binary.BigEndian.Uint16(seg))
	return nil
}

// readScan reads a scan header (B.2.3) and decodes the scan that
// follows it.
func (d *jpegDecoder) readScan() error {
	seg, err := d.segment(markerSOS)
	if err != nil {
		return err
	}
	if d.precision == 0 {
		return errMalformed("JPEG scan before the frame header")
	}
	if len(seg) < 1 || len(seg) != 4+2*int(seg[0]) || seg[0] < 1 || seg[0] > 4 {
		return errMalformed("JPEG SOS of %d bytes", len(seg))
	}
	ns := int(seg[0])
	s := scan{pred: int(seg[1+2*ns]), pt: int(seg[3+2*ns] & 15)}
	if s.pred < 1 || s.pred > 7 {
		return errMalformed("JPEG lossless predictor %d (want 1 to 7)", s.pred)
	}
	if s.pt >= d.precision {
		return errMalformed("JPEG point transform %d with precision %d", s.pt, d.precision)
	}
	for j := range ns {
		id, td := seg[1+2*j], seg[2+2*j]>>4
		ci := slices.IndexFunc(d.comps, func(c jpegComponent) bool { return c.id == id })
		switch {
		case ci < 0:
			return errMalformed("JPEG scan of component %d, which the frame lacks", id)
		case d.comps[ci].decoded:
			return errMalformed("JPEG component %d in two scans", id)
		case td > 3 || !d.defined[td]:
			return errMalformed("JPEG scan of component %d with undefined Huffman table %d", id, td)
		}
		d.comps[ci].decoded = true
		if d.tables[td] == nil {
			d.tables[td] = d.specs[td].build()
		}
		s.comps = append(s.comps, ci)
		s.tables = append(s.tables, d.tables[td])
	}
	if d.out == nil {
		if err := d.allocate(); err != nil {
			return err
		}
	}
	return d.decodeScan(&s)
}

// allocate makes the output frame once the frame header has been
// checked against the DICOM header, refusing a stream too short for it.
func (d *jpegDecoder) allocate() error {
	total, err := d.p.frameSize()
	if err != nil {
		return err
	}
	// Every sample costs at least one bit (a Huffman code is 1 to 16
	// bits long), so the stream bounds the frame it can decode to.
	if samples := int64(d.p.rows) * int64(d.p.cols) * int64(d.p.spp); int64(len(d.data))*8 < samples {
		return errMalformed("JPEG frame of %d bytes cannot hold %d samples", len(d.data), samples)
	}
	d.out = slices.Grow(d.dst[:0], total)[:total]
	return nil
}

// scan is what a scan header says.
type scan struct {
	comps  []int // frame component index of each scan component
	tables []*huffTable
	pred   int // selection value, 1 to 7
	pt     int // point transform
}

// decodeScan decodes the entropy-coded data of s that starts at d.pos
// (H.2, with the prediction of H.1.2.1), writing its components' samples
// to d.out, and leaves d.pos at the marker that ends it.
func (d *jpegDecoder) decodeScan(s *scan) error {
	x, y, ns := d.p.cols, d.p.rows, len(s.comps)
	rows := make([]int32, 2*ns*x)
	prev, cur := make([][]int32, ns), make([][]int32, ns)
	for j := range ns {
		prev[j], cur[j] = rows[2*j*x:(2*j+1)*x], rows[(2*j+1)*x:(2*j+2)*x]
	}
	br := bitReader{data: d.data, pos: d.pos}
	initial := int32(1) << (d.precision - s.pt - 1)
	// The first sample of the scan and of each restart interval is
	// predicted from initial, the rest of its line from the left (H.1.2.1).
	resetRow, resetCol := 0, 0
	left, next := d.restart, 0 // MCUs left in the restart interval; the next RST number
	for row := range y {
		for col := 0; col < x; {
			if d.restart > 0 && left == 0 {
				if err := br.restartAt(next); err != nil {
					return err
				}
				next = (next + 1) & 7
				left = d.restart
				resetRow, resetCol = row, col
			}
			end := x
			if d.restart > 0 {
				end = min(x, col+left)
				left -= end - col
			}
			if ns == 1 {
				decodeRun(&br, s.tables[0], s.pred, prev[0], cur[0], col, end, row == resetRow, resetCol, initial)
			} else {
				decodeInterleaved(&br, s, prev, cur, col, end, row == resetRow, resetCol, initial)
			}
			col = end
		}
		if br.err != nil {
			return br.err
		}
		for j, ci := range s.comps {
			d.writeRow(row, ci, cur[j], s.pt)
			prev[j], cur[j] = cur[j], prev[j]
		}
	}
	d.pos = br.markerPos()
	return nil
}

// predict returns the prediction of selection value sel for sample x of
// a line (x > 0, not the first line of a restart interval) from cur (the
// line so far) and prev (the line above): Table H.1, in full integer
// precision, halving by arithmetic shift.
func predict(sel int, cur, prev []int32, x int) int32 {
	ra, rb, rc := cur[x-1], prev[x], prev[x-1]
	switch sel {
	case 1:
		return ra
	case 2:
		return rb
	case 3:
		return rc
	case 4:
		return ra + rb - rc
	case 5:
		return ra + (rb-rc)>>1
	case 6:
		return rb + (ra-rc)>>1
	}
	return (ra + rb) >> 1
}

// decodeRun decodes samples col to end-1 of a line of a one-component
// scan into cur. first says whether the line is the first of its restart
// interval, which starts at resetCol.
func decodeRun(br *bitReader, t *huffTable, sel int, prev, cur []int32, col, end int, first bool, resetCol int, initial int32) {
	x := col
	if first {
		if x == resetCol {
			cur[x] = (initial + br.diff(t)) & 0xFFFF
			x++
		}
		for ; x < end; x++ {
			cur[x] = (cur[x-1] + br.diff(t)) & 0xFFFF
		}
		return
	}
	if x == 0 && x < end {
		cur[0] = (prev[0] + br.diff(t)) & 0xFFFF
		x++
	}
	// Each predictor gets a loop of its own: this is where the decoder
	// spends its time, and a switch per sample costs a third more.
	switch sel {
	case 1:
		for ; x < end; x++ {
			cur[x] = (cur[x-1] + br.diff(t)) & 0xFFFF
		}
	case 2:
		for ; x < end; x++ {
			cur[x] = (prev[x] + br.diff(t)) & 0xFFFF
		}
	case 3:
		for ; x < end; x++ {
			cur[x] = (prev[x-1] + br.diff(t)) & 0xFFFF
		}
	case 4:
		for ; x < end; x++ {
			cur[x] = (cur[x-1] + prev[x] - prev[x-1] + br.diff(t)) & 0xFFFF
		}
	case 5:
		for ; x < end; x++ {
			cur[x] = (cur[x-1] + (prev[x]-prev[x-1])>>1 + br.diff(t)) & 0xFFFF
		}
	case 6:
		for ; x < end; x++ {
			cur[x] = (prev[x] + (cur[x-1]-prev[x-1])>>1 + br.diff(t)) & 0xFFFF
		}
	default:
		for ; x < end; x++ {
			cur[x] = ((cur[x-1]+prev[x])>>1 + br.diff(t)) & 0xFFFF
		}
	}
}

// decodeInterleaved is decodeRun for a scan of several components, each
// MCU holding one sample of each in scan order.
func decodeInterleaved(br *bitReader, s *scan, prev, cur [][]int32, col, end int, first bool, resetCol int, initial int32) {
	for x := col; x < end; x++ {
		for j, t := range s.tables {
			c, p := cur[j], prev[j]
			var px int32
			switch {
			case first && x == resetCol:
				px = initial
			case first:
				px = c[x-1]
			case x == 0:
				px = p[0]
			default:
				px = predict(s.pred, c, p, x)
			}
			c[x] = (px + br.diff(t)) & 0xFFFF
		}
	}
}

// writeRow writes line row of frame component ci to d.out: undoes the
// point transform, keeps the frame's precision, sign-extends signed
// samples to the bytes allocated, and stores them little endian.
func (d *jpegDecoder) writeRow(row, ci int, line []int32, pt int) {
	size := d.p.bitsAllocated / 8
	step := d.p.spp * size
	o := (row*d.p.cols*d.p.spp + ci) * size
	mask := int32(1)<<d.precision - 1
	ext := 32 - d.precision // shift up and back to copy bit P-1 upwards
	if !d.p.signed {
		ext = 0
	}
	out := d.out
	switch {
	case size == 2 && step == 2 && pt == 0 && d.precision == 16:
		// The common case, 16-bit grayscale: nothing to shift or mask.
		row := out[o : o+2*len(line)]
		for i, v := range line {
			binary.LittleEndian.PutUint16(row[2*i:], uint16(v))
		}
	case size == 1:
		for _, v := range line {
			out[o] = byte(((v << pt) & mask) << ext >> ext)
			o += step
		}
	case size == 2:
		for _, v := range line {
			v = ((v << pt) & mask) << ext >> ext
			out[o], out[o+1] = byte(v), byte(v>>8)
			o += step
		}
	default:
		for _, v := range line {
			v = ((v << pt) & mask) << ext >> ext
			for b := range size {
				out[o+b] = byte(v >> min(8*b, 31))
			}
			o += step
		}
	}
}
