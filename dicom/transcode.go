package dicom

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// CanTranscode reports whether WriteAs can re-encode an object in syntax
// from as syntax to without loss: any syntax as itself; any native
// (uncompressed) syntax as a little-endian one (implicit VR, explicit VR
// or deflated explicit VR little endian). Explicit VR big endian is
// never a target (PS3.18 forbids it on the web; nothing needs it) and
// encapsulated syntaxes go only to themselves, since this package never
// decodes pixel data. Unknown syntaxes go nowhere.
func CanTranscode(from, to Syntax) bool {
	f, err := LookupSyntax(from.UID)
	if err != nil {
		return false
	}
	t, err := LookupSyntax(to.UID)
	if err != nil {
		return false
	}
	if f.UID == t.UID {
		return true
	}
	return !f.Encapsulated && !t.Encapsulated && !t.BigEndian
}

// WriteAs is Write with everything after the meta group re-encoded in
// syntax to, and the meta group's Transfer Syntax UID (0002,0010) set to
// to.UID (its other elements are kept). It fails with an error wrapping
// ErrUnsupported unless CanTranscode(o.Syntax, to).
//
// Re-encoding keeps every value's bytes and changes how they are framed:
// byte order (values of a big-endian source are already held little
// endian; Pixel Data is swapped as it streams, by the units of its VR),
// VRs (written or dropped), deflation. Writing explicit VR from an
// implicit VR source, where VRs came from the dictionary, elements the
// dictionary gives a choice of VRs get the one PS3.5 implies: OW for "OB
// or OW" and "US or OW" (implicit VR encodes those as OW, PS3.5 A.1); for
// "US or SS", SS when the data set's (or else the enclosing one's) Pixel
// Representation (0028,0103) is 1 and US otherwise, but US for LUT
// descriptors, as dcmtk does; private and unknown elements stay UN, sequences
// are written as SQ, and a value too long for a VR with a 16-bit length
// field becomes UN (PS3.5 6.2.2). Native Pixel Data is written as OW,
// or as OB where an explicit VR source said OB and Bits Allocated is at
// most 8; Float and Double Float Pixel Data keep OF and OD.
//
// Pixel Data streams through a fixed buffer as in Write, so memory does
// not grow with its size. The elements after it are passed to trailer as
// in Write. Pixel Data of undefined length in a native syntax is an
// error wrapping ErrMalformed. WriteAs consumes the source as Write does.
func (o *Object) WriteAs(w io.Writer, to Syntax, trailer func(*Dataset) error) (int64, error) {
	if o.consumed {
		return 0, errWritten
	}
	if !CanTranscode(o.Syntax, to) {
		return 0, fmt.Errorf("dicom: transcode %s to %s: %w", o.Syntax.UID, to.UID, ErrUnsupported)
	}
	to, _ = LookupSyntax(to.UID) // its properties, not the caller's idea of them
	meta := &Dataset{}
	if o.Meta != nil {
		meta.Elements = slices.Clone(o.Meta.Elements)
	}
	meta.SetString(TransferSyntaxUID, "UI", to.UID)
	return o.writeAs(w, meta, to, trailer)
}

// explicitVR returns the VR to write el with in explicit VR when vr was
// looked up in the dictionary, signed telling whether its data set's
// Pixel Representation is 1 (see WriteAs).
func explicitVR(el *Element, vr string, signed bool) string {
	if vrs, keyword, ok := dictEntry(el.Tag); ok && len(vrs) > 1 && vr == vrs[0] {
		switch {
		case slices.Contains(vrs, "OW"):
			vr = "OW"
		case strings.HasSuffix(keyword, "Descriptor"):
			// LUT descriptors: the first and third values are unsigned
			// whatever the pixels (PS3.3 C.11.1.1.1); dcmtk writes US too.
			vr = "US"
		case slices.Equal(vrs, []string{"US", "SS"}) && signed:
			vr = "SS"
		}
	}
	if !longVR(vr) && len(el.Value) > 0xFFFE {
		vr = "UN"
	}
	return vr
}

// pixelRepresentation returns the Pixel Representation (0028,0103) of
// ds, or -1 when it has none.
func pixelRepresentation(ds *Dataset) int {
	return usValue(ds, PixelRepresentation, -1)
}

// usValue returns the first value of the US element t of ds, or def when
// ds has no such value.
func usValue(ds *Dataset, t Tag, def int) int {
	e := ds.Get(t)
	if e == nil || len(e.Value) < 2 {
		return def
	}
	switch e.VR {
	case "US", "SS", "UN", "OW", "OB": // UN: as an implicit private dictionary would leave it
		return int(e.Value[0]) | int(e.Value[1])<<8
	case "IS":
		if n, err := strconv.Atoi(e.String()); err == nil {
			return n
		}
	}
	return def
}

// transcodePixelData writes the native Pixel Data element at the
// decoder's position with e, ds being the data set before it.
func (d *decoder) transcodePixelData(e *encoder, ds *Dataset) error {
	start := d.off
	t, vr, length, _, err := d.readPixelHeader()
	if err != nil {
		return err
	}
	if length == undefinedLength {
		return fmt.Errorf("dicom: Pixel Data %s at offset %d: undefined length in a native transfer syntax: %w", t, start, ErrMalformed)
	}
	out := vr
	if t == PixelData {
		out = "OW"
		if !d.enc.implicit && vr == "OB" && usValue(ds, BitsAllocated, 0) <= 8 {
			out = "OB"
		}
	}
	if err := e.writeHeader(t, out, length); err != nil {
		return err
	}
	if unit := swapSize(vr); d.enc.bigEndian != e.enc.bigEndian && unit > 1 {
		return d.copySwapped(e.w, t, int64(length), unit)
	}
	return d.copyN(e.w, t, int64(length))
}

// copySwapped copies n value bytes of element t to w, reversing the byte
// order of each unit-byte unit, through a fixed-size buffer.
func (d *decoder) copySwapped(w io.Writer, t Tag, n int64, unit int) error {
	start := d.off
	buf := make([]byte, 64<<10) // a multiple of every unit
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		if err := d.readFull(b); err != nil {
			return fmt.Errorf("dicom: copy %s value at offset %d: %w", t, start, err)
		}
		swapUnits(b, unit)
		if _, err := w.Write(b); err != nil {
			return err
		}
		n -= int64(len(b))
	}
	return nil
}
