package dicom

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// implementationClassUID identifies TrialGate as the writer of the file
// meta groups NewMeta builds (a UUID-derived UID, PS3.5 B.2).
const implementationClassUID = "2.25.302934848105215926331717281398432106329"

// implementationVersionName accompanies implementationClassUID.
const implementationVersionName = "TRIALGATE_1"

// errWritten is returned by a Write, WriteAs or ReadFrames of a parsed
// Object whose source an earlier one consumed.
var errWritten = errors.New("dicom: the source was consumed by an earlier Write, WriteAs or ReadFrames")

// NewMeta returns a file meta group for an instance of SOP class
// sopClass with UID sopInstance, encoded in syntax s.
func NewMeta(sopClass, sopInstance string, s Syntax) *Dataset {
	m := &Dataset{}
	m.Set(&Element{Tag: FileMetaInformationVersion, VR: "OB", Value: []byte{0, 1}})
	m.SetString(MediaStorageSOPClassUID, "UI", sopClass)
	m.SetString(MediaStorageSOPInstanceUID, "UI", sopInstance)
	m.SetString(TransferSyntaxUID, "UI", s.UID)
	m.SetString(ImplementationClassUID, "UI", implementationClassUID)
	m.SetString(ImplementationVersionName, "SH", implementationVersionName)
	return m
}

// Encode writes an in-memory object: preamble, meta (see Object.Write)
// and ds in syntax s. Encapsulated Pixel Data must hold its encoded
// fragments (see Fragments); it is written with undefined length.
func Encode(w io.Writer, meta, ds *Dataset, s Syntax) error {
	_, err := (&Object{Preamble: true, Meta: meta, Syntax: s, Dataset: ds}).Write(w, nil)
	return err
}

// Fragments returns the value of encapsulated Pixel Data (PS3.5 A.4) for
// Encode: an empty Basic Offset Table, one item per fragment (padded to
// even length) and the Sequence Delimitation Item.
func Fragments(frags ...[]byte) []byte {
	var b bytes.Buffer
	item := func(t Tag, v []byte) {
		n := len(v) + len(v)%2
		b.Write(binary.LittleEndian.AppendUint16(nil, t.Group()))
		b.Write(binary.LittleEndian.AppendUint16(nil, t.Element()))
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(n)))
		b.Write(v)
		if len(v)%2 == 1 {
			b.WriteByte(0)
		}
	}
	item(ItemTag, nil)
	for _, f := range frags {
		item(ItemTag, f)
	}
	item(SequenceDelimitation, nil)
	return b.Bytes()
}

// Write writes o as a DICOM file: a 128-byte zero preamble and "DICM",
// the meta group (explicit VR little endian, with (0002,0000) recomputed
// and (0002,0001) added if missing), then o.Dataset in o.Syntax with
// sequences and items of undefined length. For a parsed Object it then
// copies the Pixel Data element byte for byte from the source, through a
// fixed-size buffer, and writes the elements that followed it after
// passing them to trailer (if not nil), which may change them.
//
// Group 0002 elements belong in Meta only; one in Dataset is an error.
// The Pixel Data of a parsed Object stays encoded as it was, so its
// Syntax must not be changed: WriteAs is the way to another syntax.
// Write consumes the source of a parsed Object: a second call (or one
// of WriteAs or ReadFrames) is an error. It returns the number of bytes
// written to w.
func (o *Object) Write(w io.Writer, trailer func(*Dataset) error) (int64, error) {
	return o.writeAs(w, o.Meta, o.Syntax, trailer)
}

// writeAs writes o with meta as its meta group and everything after it
// in syntax s, re-encoding Pixel Data and the elements after it when s
// is not o.Syntax (see WriteAs).
func (o *Object) writeAs(w io.Writer, meta *Dataset, s Syntax, trailer func(*Dataset) error) (int64, error) {
	if o.consumed {
		return 0, errWritten
	}
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	if err := o.write(bw, meta, s, trailer); err != nil {
		return cw.n, err
	}
	err := bw.Flush()
	return cw.n, err
}

func (o *Object) write(bw *bufio.Writer, meta *Dataset, s Syntax, trailer func(*Dataset) error) error {
	var pre [132]byte
	copy(pre[128:], "DICM")
	if _, err := bw.Write(pre[:]); err != nil {
		return err
	}
	if err := writeMeta(bw, meta, s); err != nil {
		return err
	}
	var body io.Writer = bw
	var fw *flate.Writer
	if s.Deflated {
		fw, _ = flate.NewWriter(bw, flate.DefaultCompression) // the level is valid
		body = fw
	}
	transcode := s.UID != o.Syntax.UID
	enc := &encoder{w: body, enc: encoding{implicit: s.Implicit, bigEndian: s.BigEndian}}
	if transcode && o.Syntax.Implicit && !s.Implicit {
		// The VRs came from the dictionary, which leaves some open.
		enc.resolve = true
		enc.signed = pixelRepresentation(o.Dataset) == 1
	}
	if err := enc.writeDataset(o.Dataset, 0); err != nil {
		return err
	}
	if d := o.src; d != nil {
		o.consumed = true
		o.src = nil
		var err error
		if transcode {
			err = d.transcodePixelData(enc, o.Dataset)
		} else {
			err = d.copyPixelData(body)
		}
		if err != nil {
			return err
		}
		tail, err := d.readDataset(d.enc, 0, -1, -1, false)
		if err != nil {
			return fmt.Errorf("dicom: read elements after Pixel Data: %w", err)
		}
		if trailer != nil {
			if err := trailer(tail); err != nil {
				return err
			}
		}
		if err := enc.writeDataset(tail, 0); err != nil {
			return err
		}
	}
	if fw != nil {
		return fw.Close()
	}
	return nil
}

// writeMeta writes the meta group of an object in syntax s: meta's
// elements other than (0002,0000), which it recomputes, plus (0002,0001)
// and (0002,0010) when meta lacks them.
func writeMeta(w io.Writer, meta *Dataset, s Syntax) error {
	m := &Dataset{}
	if meta != nil {
		for _, e := range meta.Elements {
			if e.Tag != FileMetaInformationGroupLength {
				m.Elements = append(m.Elements, e)
			}
		}
	}
	if m.Get(FileMetaInformationVersion) == nil {
		m.Set(&Element{Tag: FileMetaInformationVersion, VR: "OB", Value: []byte{0, 1}})
	}
	if m.Get(TransferSyntaxUID) == nil {
		m.SetString(TransferSyntaxUID, "UI", s.UID)
	}
	var b bytes.Buffer
	if err := (&encoder{w: &b, enc: metaEncoding, meta: true}).writeDataset(m, 0); err != nil {
		return fmt.Errorf("dicom: write meta group: %w", err)
	}
	gl := &Element{Tag: FileMetaInformationGroupLength, VR: "UL", Value: binary.LittleEndian.AppendUint32(nil, uint32(b.Len()))}
	if err := (&encoder{w: w, enc: metaEncoding, meta: true}).writeElement(gl, 0); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// copyPixelData copies the Pixel Data element at the decoder's position
// to w exactly as it is encoded: header, then the value (native) or the
// fragment items through the Sequence Delimitation Item (encapsulated).
func (d *decoder) copyPixelData(w io.Writer) error {
	t, _, length, hdr, err := d.readPixelHeader()
	if err != nil {
		return err
	}
	o := d.enc.order()
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	if length != undefinedLength {
		return d.copyN(w, t, int64(length))
	}
	for {
		start := d.off
		if err := d.readFull(d.buf[:8]); err != nil {
			return fmt.Errorf("dicom: read Pixel Data fragment at offset %d: %w", start, err)
		}
		it := NewTag(o.Uint16(d.buf[:2]), o.Uint16(d.buf[2:4]))
		n := o.Uint32(d.buf[4:8])
		if _, err := w.Write(d.buf[:8]); err != nil {
			return err
		}
		switch {
		case it == SequenceDelimitation:
			return nil
		case it != ItemTag || n == undefinedLength:
			return fmt.Errorf("dicom: Pixel Data fragment at offset %d: %s length %d: %w", start, it, n, ErrMalformed)
		}
		if err := d.copyN(w, t, int64(n)); err != nil {
			return err
		}
	}
}

// readPixelHeader reads the header of the Pixel Data element at the
// decoder's position and returns its tag, VR (the dictionary's under
// implicit VR), value length and encoded bytes (in d.buf, valid until
// the next read).
func (d *decoder) readPixelHeader() (t Tag, vr string, length uint32, hdr []byte, err error) {
	start := d.off
	o := d.enc.order()
	hdr = d.buf[:8]
	if err := d.readFull(hdr); err != nil {
		return 0, "", 0, nil, fmt.Errorf("dicom: read Pixel Data header at offset %d: %w", start, err)
	}
	t = NewTag(o.Uint16(hdr[:2]), o.Uint16(hdr[2:4]))
	length = o.Uint32(hdr[4:8])
	if d.enc.implicit {
		return t, vrOf(t), length, hdr, nil
	}
	if !validVR(hdr[4:6]) || !longVR(string(hdr[4:6])) {
		return 0, "", 0, nil, fmt.Errorf("dicom: Pixel Data %s at offset %d: VR %q: %w", t, start, hdr[4:6], ErrMalformed)
	}
	vr = string(hdr[4:6])
	hdr = d.buf[:12]
	if err := d.readFull(hdr[8:12]); err != nil {
		return 0, "", 0, nil, d.wrapAt(t, start, err)
	}
	return t, vr, o.Uint32(hdr[8:12]), hdr, nil
}

// directCopy is the size from which a value is copied straight from the
// source rather than through the read buffer.
const directCopy = 1 << 20

// copyN copies n value bytes of element t to w.
//
// A large value of a source that is not deflated is copied from the raw
// source once the read buffer is drained: with a file on both sides the
// copy then happens inside the kernel (copy_file_range), which is what
// keeps offline de-identification of large instances close to a plain
// file copy.
func (d *decoder) copyN(w io.Writer, t Tag, n int64) error {
	start := d.off
	var m int64
	var err error
	bw, flushable := w.(*bufio.Writer)
	if d.raw != nil && flushable && n >= directCopy {
		m, err = io.CopyN(w, d.r, min(int64(d.r.Buffered()), n))
		if err == nil {
			err = bw.Flush()
		}
		if err == nil && m < n {
			var k int64
			k, err = io.Copy(w, io.LimitReader(d.raw, n-m))
			m += k
			if err == nil && m < n {
				err = io.ErrUnexpectedEOF
			}
		}
	} else {
		m, err = io.CopyN(w, d.r, n)
	}
	d.off += m
	if err != nil {
		return fmt.Errorf("dicom: copy %s value of %d bytes at offset %d: %w", t, n, start, truncated(err))
	}
	return nil
}

// isFragments reports whether v is encapsulated Pixel Data as Fragments
// builds it and Parse holds it: items ending with a Sequence Delimitation
// Item. Native pixel values never start and end so in practice.
func isFragments(v []byte) bool {
	const item, end = "\xfe\xff\x00\xe0", "\xfe\xff\xdd\xe0\x00\x00\x00\x00"
	return len(v) >= 16 && string(v[:4]) == item && string(v[len(v)-8:]) == end
}

// encoder writes elements in one encoding.
type encoder struct {
	w    io.Writer
	enc  encoding
	meta bool // writing the file meta group, the only place for group 0002
	// resolve is set when writing explicit VR what was read as implicit
	// VR: elements still holding the dictionary's first VR where it
	// allows several get the one their data set calls for (explicitVR).
	resolve bool
	signed  bool // Pixel Representation of the data set being written is 1 (resolve only)
	buf     [12]byte
}

func (e *encoder) writeDataset(ds *Dataset, depth int) error {
	if ds == nil {
		return nil
	}
	if e.resolve {
		if pr := pixelRepresentation(ds); pr >= 0 {
			defer func(s bool) { e.signed = s }(e.signed)
			e.signed = pr == 1
		}
	}
	for _, el := range ds.Elements {
		if el.Tag.Element() == 0 && el.Tag.Group() != 0x0002 {
			continue // group lengths would have to be recomputed; they are optional
		}
		if (el.Tag.Group() == 0x0002) != e.meta {
			return fmt.Errorf("dicom: write element %s: group 0002 belongs in the meta group, and only it", el.Tag)
		}
		if err := e.writeElement(el, depth); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) writeElement(el *Element, depth int) error {
	vr := el.VR
	if vr == "" {
		vr = vrOf(el.Tag)
	}
	if !validVR([]byte(vr)) {
		return fmt.Errorf("dicom: write element %s: invalid VR %q", el.Tag, vr)
	}
	if vr == "SQ" || len(el.Items) > 0 {
		return e.writeSequence(el, depth)
	}
	if e.resolve {
		vr = explicitVR(el, vr, e.signed)
	}
	if el.Tag == PixelData && isFragments(el.Value) {
		if e.enc.implicit {
			return fmt.Errorf("dicom: write element %s: encapsulated Pixel Data has no implicit VR encoding", el.Tag)
		}
		if err := e.writeHeader(el.Tag, "OB", undefinedLength); err != nil {
			return err
		}
		_, err := e.w.Write(el.Value)
		return err
	}
	v := el.Value
	if len(v)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" || !IsStringVR(vr) {
			pad = 0
		}
		v = append(v[:len(v):len(v)], pad)
	}
	if e.enc.bigEndian && swapSize(vr) > 0 {
		v = bytes.Clone(v)
		swapInPlace(vr, v)
	}
	if uint64(len(v)) >= undefinedLength || (!e.enc.implicit && !longVR(vr) && len(v) > 0xFFFF) {
		return fmt.Errorf("dicom: write element %s: %s value of %d bytes is too long for its length field", el.Tag, vr, len(v))
	}
	if err := e.writeHeader(el.Tag, vr, uint32(len(v))); err != nil {
		return err
	}
	_, err := e.w.Write(v)
	return err
}

// writeSequence writes el and its items with undefined lengths, which
// every transfer syntax allows and which need no size computed ahead.
func (e *encoder) writeSequence(el *Element, depth int) error {
	if err := e.writeHeader(el.Tag, "SQ", undefinedLength); err != nil {
		return err
	}
	for _, it := range el.Items {
		if err := e.writeItemTag(ItemTag, undefinedLength); err != nil {
			return err
		}
		if err := e.writeDataset(it, depth+1); err != nil {
			return err
		}
		if err := e.writeItemTag(ItemDelimitation, 0); err != nil {
			return err
		}
	}
	return e.writeItemTag(SequenceDelimitation, 0)
}

func (e *encoder) writeItemTag(t Tag, length uint32) error {
	o := e.enc.order()
	b := o.AppendUint16(e.buf[:0], t.Group())
	b = o.AppendUint16(b, t.Element())
	b = o.AppendUint32(b, length)
	_, err := e.w.Write(b)
	return err
}

func (e *encoder) writeHeader(t Tag, vr string, length uint32) error {
	o := e.enc.order()
	b := o.AppendUint16(e.buf[:0], t.Group())
	b = o.AppendUint16(b, t.Element())
	switch {
	case e.enc.implicit:
		b = o.AppendUint32(b, length)
	case longVR(vr):
		b = append(b, vr[0], vr[1], 0, 0)
		b = o.AppendUint32(b, length)
	default:
		b = append(b, vr[0], vr[1])
		b = o.AppendUint16(b, uint16(length))
	}
	_, err := e.w.Write(b)
	return err
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadFrom lets bufio.Writer hand large copies to the destination's own
// ReadFrom (an *os.File's uses copy_file_range or splice).
func (c *countWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := c.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{c.w}, r)
	}
	c.n += n
	return n, err
}
