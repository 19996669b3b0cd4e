package dicom

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Object is a DICOM file parsed up to its Pixel Data. The header (Meta
// and Dataset) is in memory; Pixel Data and whatever follows it are still
// in the source, which Write streams to its destination.
type Object struct {
	Preamble bool     // the input had a 128-byte preamble and "DICM"
	Meta     *Dataset // file meta group (0002,xxxx), without (0002,0000)
	Syntax   Syntax   // transfer syntax of Dataset, from (0002,0010)
	Dataset  *Dataset // the data set up to, not including, Pixel Data

	// src is positioned at the tag of the top-level Pixel Data element,
	// or nil when there is none (or it has been consumed by Write).
	src *decoder
	// consumed is set by Write when it has read src.
	consumed bool
}

// encoding is how the elements being read or written are encoded. It
// differs from the object's Syntax inside sequences of VR UN, which are
// always implicit VR little endian (PS3.5 6.2.2).
type encoding struct {
	implicit, bigEndian bool
}

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func (e encoding) order() byteOrder {
	if e.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// metaEncoding is the encoding of the file meta group, whatever the
// transfer syntax.
var metaEncoding = encoding{}

// decoder reads elements from a buffered stream, keeping count of the
// offset (in the decoded stream: for deflated syntaxes, offsets past the
// meta group count inflated bytes) and of the memory budget left.
type decoder struct {
	r *bufio.Reader
	// raw is the source under r when the data set is not deflated, so
	// that large values can be copied straight from it (see copyN).
	raw      io.Reader
	off      int64
	budget   int64
	maxDepth int
	enc      encoding // of the top-level data set
	inMeta   bool     // reading the file meta group
	buf      [12]byte
}

// Parse reads a DICOM file's preamble, meta group and data set from r,
// stopping before the top-level Pixel Data element (7FE0,0010),
// (7FE0,0008) or (7FE0,0009). It reads r through a bufio.Reader and no
// further than it must; call Write to stream the rest.
//
// The input may start with the 128-byte preamble and "DICM" or directly
// with the meta group. Group length elements (gggg,0000) are dropped.
// Errors wrap ErrNotDICOM, ErrTruncated, ErrUnsupported, ErrMalformed or
// ErrTooLarge.
func Parse(r io.Reader, lim Limits) (*Object, error) {
	lim = lim.withDefaults()
	d := &decoder{r: bufio.NewReaderSize(r, 64<<10), raw: r, budget: lim.MaxHeader, maxDepth: lim.MaxDepth}
	o := &Object{}
	var err error
	if o.Preamble, err = d.readPreamble(); err != nil {
		return nil, err
	}
	if o.Meta, err = d.readMeta(); err != nil {
		return nil, err
	}
	ts := o.Meta.Get(TransferSyntaxUID)
	if ts == nil {
		return nil, fmt.Errorf("dicom: file meta group has no Transfer Syntax UID %s: %w", TransferSyntaxUID, ErrMalformed)
	}
	if o.Syntax, err = LookupSyntax(string(ts.Value)); err != nil {
		return nil, err
	}
	if o.Syntax.Deflated {
		// flate reads through d.r's io.ByteReader, so it takes no more
		// of the source than the compressed stream.
		d.r = bufio.NewReaderSize(flate.NewReader(d.r), 64<<10)
		d.raw = nil
	}
	d.enc = encoding{implicit: o.Syntax.Implicit, bigEndian: o.Syntax.BigEndian}
	if o.Dataset, err = d.readDataset(d.enc, 0, -1, -1, true); err != nil {
		return nil, err
	}
	if _, err := d.r.Peek(1); err == nil {
		o.src = d
	} else if !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("dicom: read at offset %d: %w", d.off, err)
	}
	return o, nil
}

// readPreamble consumes the preamble and "DICM" if present and reports
// whether it was; otherwise the input must start with a meta element.
func (d *decoder) readPreamble() (bool, error) {
	b, err := d.r.Peek(132)
	if err != nil && err != io.EOF {
		return false, fmt.Errorf("dicom: read preamble: %w", err)
	}
	if len(b) == 132 && string(b[128:]) == "DICM" {
		d.discard(132)
		return true, nil
	}
	if len(b) >= 6 && b[0] == 0x02 && b[1] == 0 && validVR(b[4:6]) {
		return false, nil
	}
	return false, fmt.Errorf("dicom: no \"DICM\" at offset 128 and no file meta group at offset 0: %w", ErrNotDICOM)
}

// readMeta reads the (0002,xxxx) elements, always explicit VR little
// endian, up to the first element of another group.
func (d *decoder) readMeta() (*Dataset, error) {
	d.inMeta = true
	defer func() { d.inMeta = false }()
	ds := &Dataset{}
	for {
		t, err := d.peekTag(metaEncoding)
		if err == io.EOF || (err == nil && t.Group() != 0x0002) {
			return ds, nil
		}
		if err != nil {
			return nil, err
		}
		e, err := d.readElement(metaEncoding, 0, -1)
		if err != nil {
			return nil, err
		}
		if e != nil {
			add(ds, e)
		}
	}
}

// add appends e to ds, keeping ds sorted when the input is not.
func add(ds *Dataset, e *Element) {
	if n := len(ds.Elements); n == 0 || ds.Elements[n-1].Tag < e.Tag {
		ds.Elements = append(ds.Elements, e)
		return
	}
	ds.Set(e)
}

// readDataset reads elements until end (an offset; -1 for a data set
// that ends at an Item Delimitation, or at EOF when depth is 0). Nothing
// may extend past limit, the end of the enclosing defined-length item or
// sequence (-1: none). At depth 0 with stop set, it returns before a
// Pixel Data element, unread.
func (d *decoder) readDataset(enc encoding, depth int, end, limit int64, stop bool) (*Dataset, error) {
	if end >= 0 {
		limit = end
	}
	ds := &Dataset{}
	for {
		if end < 0 && limit >= 0 && d.off >= limit {
			return nil, fmt.Errorf("dicom: item at offset %d runs past the end of its enclosing sequence or item at %d: %w", d.off, limit, ErrMalformed)
		}
		if end >= 0 {
			if d.off == end {
				return ds, nil
			}
			if d.off > end {
				return nil, fmt.Errorf("dicom: element before offset %d overruns its item, which ends at %d: %w", d.off, end, ErrMalformed)
			}
		}
		t, err := d.peekTag(enc)
		if err == io.EOF {
			if depth == 0 && end < 0 {
				return ds, nil
			}
			return nil, fmt.Errorf("dicom: item at depth %d ends at offset %d without a delimiter: %w", depth, d.off, ErrTruncated)
		}
		if err != nil {
			return nil, err
		}
		if depth == 0 && stop && isPixelTag(t) {
			return ds, nil
		}
		if t == ItemDelimitation && end < 0 && depth > 0 {
			if err := d.readFull(d.buf[:8]); err != nil {
				return nil, d.wrap(t, err)
			}
			return ds, nil
		}
		e, err := d.readElement(enc, depth, limit)
		if err != nil {
			return nil, err
		}
		if e != nil {
			add(ds, e)
		}
	}
}

// readElement reads one element at depth, which must end by the offset
// limit (-1: none). It returns nil for group length elements, which it
// drops.
func (d *decoder) readElement(enc encoding, depth int, limit int64) (*Element, error) {
	start := d.off
	if err := d.readFull(d.buf[:4]); err != nil {
		return nil, fmt.Errorf("dicom: read tag at offset %d: %w", start, err)
	}
	o := enc.order()
	t := NewTag(o.Uint16(d.buf[:2]), o.Uint16(d.buf[2:4]))
	if t.Group() == 0xFFFE {
		return nil, fmt.Errorf("dicom: unexpected %s at offset %d: %w", t, start, ErrMalformed)
	}
	if t.Group() == 0x0002 && !d.inMeta {
		// Rewritten, it would join the meta group.
		return nil, fmt.Errorf("dicom: file meta element %s in the data set at offset %d: %w", t, start, ErrMalformed)
	}
	var vr string
	var length uint32
	if enc.implicit {
		vr = vrOf(t)
		if err := d.readFull(d.buf[:4]); err != nil {
			return nil, d.wrapAt(t, start, err)
		}
		length = o.Uint32(d.buf[:4])
	} else {
		if err := d.readFull(d.buf[:4]); err != nil {
			return nil, d.wrapAt(t, start, err)
		}
		if !validVR(d.buf[:2]) {
			return nil, fmt.Errorf("dicom: element %s at offset %d: invalid VR %q: %w", t, start, d.buf[:2], ErrMalformed)
		}
		vr = string(d.buf[:2])
		if longVR(vr) {
			if err := d.readFull(d.buf[:4]); err != nil {
				return nil, d.wrapAt(t, start, err)
			}
			length = o.Uint32(d.buf[:4])
		} else {
			length = uint32(o.Uint16(d.buf[2:4]))
		}
	}
	if err := d.charge(elementOverhead); err != nil {
		return nil, d.wrapAt(t, start, err)
	}
	if t.Element() == 0 && (vr == "SQ" || length == undefinedLength) {
		// Group lengths are dropped (below); one posing as a sequence
		// would vanish with its items, so a rewrite would differ.
		return nil, fmt.Errorf("dicom: group length %s at offset %d is a sequence: %w", t, start, ErrMalformed)
	}
	if length == undefinedLength {
		// An undefined length is a sequence: SQ, or UN (whose items are
		// implicit VR little endian, PS3.5 6.2.2), or anything in an
		// implicit VR data set, where the dictionary may not know the tag.
		switch {
		case t == PixelData && !enc.implicit && (vr == "OB" || vr == "OW"):
			// Encapsulated Pixel Data where Parse does not stop: in an
			// item (an icon) or after the top-level one. It is small
			// enough to hold, as its encoded fragments (see Fragments).
			v, err := d.readFragments(enc, t, start)
			if err != nil {
				return nil, err
			}
			return &Element{Tag: t, VR: vr, Value: v}, nil
		case vr == "SQ" || enc.implicit:
		case vr == "UN":
			enc = encoding{implicit: true}
		default:
			return nil, fmt.Errorf("dicom: element %s (%s) at offset %d has undefined length: %w", t, vr, start, ErrMalformed)
		}
		items, err := d.readSequence(enc, depth+1, -1, limit)
		if err != nil {
			return nil, err
		}
		return &Element{Tag: t, VR: "SQ", Items: items}, nil
	}
	if limit >= 0 && d.off+int64(length) > limit {
		return nil, fmt.Errorf("dicom: element %s at offset %d: length %d overruns its item, which ends at %d: %w", t, start, length, limit, ErrMalformed)
	}
	if vr == "SQ" {
		end := d.off + int64(length)
		items, err := d.readSequence(enc, depth+1, end, end)
		if err != nil {
			return nil, err
		}
		return &Element{Tag: t, VR: "SQ", Items: items}, nil
	}
	if length%2 == 1 {
		return nil, fmt.Errorf("dicom: element %s at offset %d: odd length %d: %w", t, start, length, ErrMalformed)
	}
	v, err := d.readValue(length)
	if err != nil {
		return nil, d.wrapAt(t, start, err)
	}
	if t.Element() == 0 {
		return nil, nil // group length: wrong as soon as anything changes
	}
	if enc.bigEndian {
		swapInPlace(vr, v)
	}
	return &Element{Tag: t, VR: vr, Value: v}, nil
}

// readSequence reads the items of a sequence at depth, up to the offset
// end or, when end is -1, the Sequence Delimitation Item, which must come
// before limit (-1: none).
func (d *decoder) readSequence(enc encoding, depth int, end, limit int64) ([]*Dataset, error) {
	if depth > d.maxDepth {
		return nil, fmt.Errorf("dicom: sequence at offset %d nested deeper than %d: %w", d.off, d.maxDepth, ErrMalformed)
	}
	var items []*Dataset
	o := enc.order()
	for {
		if end < 0 && limit >= 0 && d.off >= limit {
			return nil, fmt.Errorf("dicom: sequence at offset %d runs past the end of its enclosing item at %d: %w", d.off, limit, ErrMalformed)
		}
		if end >= 0 {
			if d.off == end {
				return items, nil
			}
			if d.off > end {
				return nil, fmt.Errorf("dicom: item before offset %d overruns its sequence, which ends at %d: %w", d.off, end, ErrMalformed)
			}
		}
		start := d.off
		if err := d.readFull(d.buf[:8]); err != nil {
			return nil, fmt.Errorf("dicom: read item at offset %d: %w", start, err)
		}
		t := NewTag(o.Uint16(d.buf[:2]), o.Uint16(d.buf[2:4]))
		length := o.Uint32(d.buf[4:8])
		switch {
		case t == SequenceDelimitation && end < 0:
			return items, nil
		case t != ItemTag:
			return nil, fmt.Errorf("dicom: %s at offset %d where an item was expected: %w", t, start, ErrMalformed)
		}
		if err := d.charge(elementOverhead); err != nil {
			return nil, d.wrapAt(t, start, err)
		}
		itemEnd := int64(-1)
		if length != undefinedLength {
			itemEnd = d.off + int64(length)
			if limit >= 0 && itemEnd > limit {
				return nil, fmt.Errorf("dicom: item at offset %d: length %d overruns its sequence, which ends at %d: %w", start, length, limit, ErrMalformed)
			}
		}
		item, err := d.readDataset(enc, depth, itemEnd, limit, false)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
}

// readFragments reads the items of encapsulated Pixel Data t through
// its Sequence Delimitation Item and returns them as encoded, in little
// endian (encapsulated syntaxes are all little endian).
func (d *decoder) readFragments(enc encoding, t Tag, start int64) ([]byte, error) {
	var v []byte
	o := enc.order()
	for {
		if err := d.readFull(d.buf[:8]); err != nil {
			return nil, d.wrapAt(t, start, err)
		}
		it := NewTag(o.Uint16(d.buf[:2]), o.Uint16(d.buf[2:4]))
		n := o.Uint32(d.buf[4:8])
		if err := d.charge(8); err != nil {
			return nil, d.wrapAt(t, start, err)
		}
		v = append(v, d.buf[:8]...)
		switch {
		case it == SequenceDelimitation:
			return v, nil
		case it != ItemTag || n == undefinedLength || n%2 == 1:
			return nil, fmt.Errorf("dicom: fragment of %s at offset %d: %s length %d: %w", t, start, it, n, ErrMalformed)
		}
		f, err := d.readValue(n)
		if err != nil {
			return nil, d.wrapAt(t, start, err)
		}
		v = append(v, f...)
	}
}

// peekTag returns the next tag without consuming it, or io.EOF if the
// input ends cleanly before it.
func (d *decoder) peekTag(enc encoding) (Tag, error) {
	b, err := d.r.Peek(4)
	if len(b) == 4 {
		o := enc.order()
		return NewTag(o.Uint16(b[:2]), o.Uint16(b[2:])), nil
	}
	if len(b) == 0 && err == io.EOF {
		return 0, io.EOF
	}
	return 0, fmt.Errorf("dicom: read tag at offset %d: %w", d.off, truncated(err))
}

// charge takes n bytes from the memory budget.
func (d *decoder) charge(n int64) error {
	if n > d.budget {
		return fmt.Errorf("%d more bytes exceed the limit: %w", n, ErrTooLarge)
	}
	d.budget -= n
	return nil
}

// readValue reads an n-byte value, charged to the budget. It grows the
// buffer as bytes arrive, so a lying length costs no more memory than
// the input actually holds.
func (d *decoder) readValue(n uint32) ([]byte, error) {
	if err := d.charge(int64(n)); err != nil {
		return nil, err
	}
	const chunk = 1 << 20
	v := make([]byte, 0, min(int(n), chunk))
	for len(v) < int(n) {
		k := min(int(n)-len(v), chunk)
		v = slices.Grow(v, k)
		if err := d.readFull(v[len(v) : len(v)+k]); err != nil {
			return nil, err
		}
		v = v[:len(v)+k]
	}
	return v, nil
}

// readFull fills b, mapping a premature end of input to ErrTruncated.
func (d *decoder) readFull(b []byte) error {
	n, err := io.ReadFull(d.r, b)
	d.off += int64(n)
	if err != nil {
		return truncated(err)
	}
	return nil
}

// discard skips n bytes known to be buffered.
func (d *decoder) discard(n int) {
	m, _ := d.r.Discard(n)
	d.off += int64(m)
}

// truncated maps the errors of a premature end of input, including a
// truncated deflate stream, to ErrTruncated.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrTruncated
	}
	var ce flate.CorruptInputError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: corrupt deflate stream: %w", ErrMalformed, err)
	}
	return err
}

func (d *decoder) wrap(t Tag, err error) error { return d.wrapAt(t, d.off, err) }

func (d *decoder) wrapAt(t Tag, off int64, err error) error {
	return fmt.Errorf("dicom: read element %s at offset %d: %w", t, off, err)
}

// HasPixelData reports whether a top-level Pixel Data element follows the
// header (and has not been consumed by Write yet).
func (o *Object) HasPixelData() bool { return o.src != nil && !o.consumed }
