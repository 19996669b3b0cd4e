package ingest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/trialgate/trialgate/dicom"
)

// MaxUIDLen is the longest UID PS3.5 section 9.1 allows, in characters.
const MaxUIDLen = 64

// UIDProblem says why v, the raw value of a UI element (padding and all),
// is not a UID as PS3.5 section 9.1 defines it, or returns "" when it is
// one: one to 64 characters of numeric components separated by dots, at
// least two components (<org root>.<suffix>), none empty, none with a
// leading zero unless it is the single digit 0, and no padding but the one
// trailing NUL that brings an odd-length UID to even length. The problem
// is worded to follow the attribute's name and never quotes the value
// (it may hold anything, PHI included).
//
// It is stricter than dicom.ValidUID applied to Dataset.String, which
// trims every trailing space and NUL and any leading space, keeps only the
// first of several backslash-separated values and checks no length: those
// would accept "1.2.3 ", "1.2.3\x00\x00", "1.2.3\\../x" or a 300-digit
// "UID". The grammar of components is the same.
func UIDProblem(v []byte) string {
	if n := len(v); n > 0 && v[n-1] == 0 {
		v = v[:n-1] // the one padding NUL PS3.5 allows
	}
	switch {
	case len(v) == 0:
		return "is empty"
	case len(v) > MaxUIDLen:
		return fmt.Sprintf("is %d characters long; a UID has at most %d (PS3.5 9.1)", len(v), MaxUIDLen)
	}
	for i, c := range v {
		switch {
		case c >= '0' && c <= '9' || c == '.':
		case c == 0:
			return fmt.Sprintf("holds a NUL byte at position %d; only one trailing NUL may pad a UID (PS3.5 9.1)", i+1)
		case c == ' ':
			return fmt.Sprintf("holds a space at position %d; a UID is padded only by one trailing NUL (PS3.5 9.1)", i+1)
		case c == '\\':
			return "holds more than one value; this attribute takes exactly one UID"
		default:
			return fmt.Sprintf("holds a character other than a digit or a dot at position %d (PS3.5 9.1)", i+1)
		}
	}
	components := 0
	for comp := range bytes.SplitSeq(v, []byte(".")) {
		components++
		switch {
		case len(comp) == 0:
			return fmt.Sprintf("has an empty component (component %d): UIDs are digits separated by single dots (PS3.5 9.1)", components)
		case len(comp) > 1 && comp[0] == '0':
			return fmt.Sprintf("has a leading zero in component %d (PS3.5 9.1)", components)
		}
	}
	if components < 2 {
		return "has a single component; a UID is <org root>.<suffix> (PS3.5 9.1)"
	}
	return ""
}

// uidAttribute is a UID an instance must carry.
type uidAttribute struct {
	tag  dicom.Tag
	name string
}

func (a uidAttribute) String() string { return a.tag.String() + " " + a.name }

// The UIDs every stored instance must carry, valid (PS3.3 SOP Common,
// General Study and General Series modules, all Type 1).
var (
	attrSOPClass  = uidAttribute{dicom.SOPClassUID, "SOP Class UID"}
	attrSOPInst   = uidAttribute{dicom.SOPInstanceUID, "SOP Instance UID"}
	attrStudy     = uidAttribute{dicom.StudyInstanceUID, "Study Instance UID"}
	attrSeries    = uidAttribute{dicom.SeriesInstanceUID, "Series Instance UID"}
	attrSyntax    = uidAttribute{dicom.TransferSyntaxUID, "Transfer Syntax UID"}
	attrMetaClass = uidAttribute{dicom.MediaStorageSOPClassUID, "Media Storage SOP Class UID"}
)

// identity is what the checks found of an instance: its UIDs as the
// sender wrote them, without padding. A UID that failed its check is "".
type identity struct {
	class, instance, study, series string
}

// checkInstance checks a parsed instance before anything is derived from
// it (placement, de-identification, the remapped UIDs, the conflict
// checks): the UIDs it is filed under are present and valid, and an image
// has its pixels. It returns what it could read even when it fails, so
// that a refusal names the sender's SOP class and instance where they were
// valid.
//
// Missing attributes and missing Pixel Data do not match the SOP class
// (0xA900); a value that is not a UID cannot be understood (0xC000).
func checkInstance(obj *dicom.Object) (identity, *failure) {
	var id identity
	// The meta group first: it is the first thing in the file. Parse
	// already refused a missing or unknown Transfer Syntax UID; its form is
	// checked here, padding included. The Media Storage SOP Class UID is
	// kept in the stored object as sent, so it must be a UID too.
	if f := checkUID(obj.Meta, attrSyntax, true); f != nil {
		return id, f
	}
	if f := checkUID(obj.Meta, attrMetaClass, false); f != nil {
		return id, f
	}
	var first *failure
	for _, a := range []struct {
		attr uidAttribute
		dst  *string
	}{{attrSOPClass, &id.class}, {attrSOPInst, &id.instance}, {attrStudy, &id.study}, {attrSeries, &id.series}} {
		f := checkUID(obj.Dataset, a.attr, true)
		if f == nil {
			*a.dst = trimUID(obj.Dataset.Get(a.attr.tag).Value)
		} else if first == nil {
			first = f
		}
	}
	if first != nil {
		return id, first
	}
	if name, ok := imageSOPClasses[id.class]; ok && !obj.HasPixelData() {
		return id, fail(FailDoesNotMatch,
			"SOP class %s (%s) requires Pixel Data (7FE0,0010), Float Pixel Data (7FE0,0008) or Double Float Pixel Data (7FE0,0009), and the instance has none: it may be a partial upload cut off before its pixels; send the complete file",
			id.class, name)
	}
	if !obj.HasPixelData() && obj.Dataset.Get(dicom.Rows) != nil {
		// A file cut exactly between two elements parses as a shorter one.
		return id, fail(FailCannotUnderstand,
			"the header describes an image (Rows (0028,0010)) but no Pixel Data follows: the file is truncated")
	}
	return id, nil
}

// checkUID checks attribute a of ds: required (a missing or empty value
// is a failure) or optional, and a valid UID when present.
func checkUID(ds *dicom.Dataset, a uidAttribute, required bool) *failure {
	var e *dicom.Element
	if ds != nil {
		e = ds.Get(a.tag)
	}
	switch {
	case (e == nil || len(e.Value) == 0) && required:
		return fail(FailDoesNotMatch, "%s is missing: every instance must carry it (PS3.3, Type 1)", a)
	case e == nil || len(e.Value) == 0:
		return nil
	}
	if p := UIDProblem(e.Value); p != "" {
		return fail(FailCannotUnderstand, "%s is not a valid UID: it %s", a, p)
	}
	return nil
}

// trimUID returns a valid UI value without its padding NUL.
func trimUID(v []byte) string { return strings.TrimSuffix(string(v), "\x00") }

// syntaxFailure classifies a file whose transfer syntax dicom does not
// support: if (0002,0010) is not even a UID it cannot be understood
// (0xC000, naming the attribute, never quoting it); else its syntax is not
// supported (0xC122, naming the UID, which is then harmless to quote).
func syntaxFailure(part io.Reader) *failure {
	v, err := metaTransferSyntax(part)
	if err != nil {
		return fail(FailCannotUnderstand, "%s cannot be read from the file meta group: %v", attrSyntax, err)
	}
	if p := UIDProblem(v); p != "" {
		return fail(FailCannotUnderstand, "%s is not a valid UID: it %s", attrSyntax, p)
	}
	return fail(FailTransferSyntax, "transfer syntax %s is not supported", trimUID(v))
}

// Bounds of metaTransferSyntax: the meta group is small (PS3.10 7.1), so
// anything beyond these is not worth reading to name a refusal.
const (
	maxMetaElement = 4 << 10
	maxMetaGroup   = 64 << 10
)

var errNoSyntax = errors.New("no (0002,0010) element in the file meta group")

// metaTransferSyntax returns the raw value of (0002,0010) from the file
// meta group at the start of r: after the 128-byte preamble and "DICM", or
// at once (dicom.Parse accepts both). The meta group is always explicit VR
// little endian (PS3.10 7.1). It reads only far enough to find the
// element, and is used only to word the refusal of a file dicom.Parse
// could not open, so it does not interpret anything else.
func metaTransferSyntax(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 4096)
	if head, err := br.Peek(132); err == nil && string(head[128:132]) == "DICM" {
		br.Discard(132)
	}
	lr := &io.LimitedReader{R: br, N: maxMetaGroup}
	var h [8]byte
	for {
		if _, err := io.ReadFull(lr, h[:]); err != nil {
			return nil, errNoSyntax
		}
		group, elem := binary.LittleEndian.Uint16(h[0:]), binary.LittleEndian.Uint16(h[2:])
		if group != 0x0002 {
			return nil, errNoSyntax
		}
		n := uint32(binary.LittleEndian.Uint16(h[6:]))
		switch string(h[4:6]) {
		case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
			var l [4]byte
			if _, err := io.ReadFull(lr, l[:]); err != nil {
				return nil, errNoSyntax
			}
			n = binary.LittleEndian.Uint32(l[:])
		}
		if n > maxMetaElement {
			return nil, fmt.Errorf("element (0002,%04X) is %d bytes long", elem, n)
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(lr, v); err != nil {
			return nil, errNoSyntax
		}
		if dicom.NewTag(group, elem) == dicom.TransferSyntaxUID {
			return v, nil
		}
	}
}
