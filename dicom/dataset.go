package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Tag is a DICOM attribute tag, group<<16 | element.
type Tag uint32

// NewTag returns the tag (group,element).
func NewTag(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group returns the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element returns the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

// IsPrivate reports whether t is in a private (odd) group.
func (t Tag) IsPrivate() bool { return t.Group()%2 == 1 }

// IsPrivateCreator reports whether t is a private creator, (gggg,0010-00FF)
// with gggg odd.
func (t Tag) IsPrivateCreator() bool {
	return t.IsPrivate() && t.Element() >= 0x0010 && t.Element() <= 0x00FF
}

// String formats t as "(GGGG,EEEE)", the form PS3.15's table uses.
func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element()) }

// Hex formats t as "GGGGEEEE", the form DICOM JSON uses.
func (t Tag) Hex() string { return fmt.Sprintf("%08X", uint32(t)) }

// ParseTag reads "GGGGEEEE", "(GGGG,EEEE)" or "GGGG,EEEE" (hex).
func ParseTag(s string) (Tag, error) {
	h := strings.NewReplacer("(", "", ")", "", ",", "").Replace(s)
	if len(h) != 8 {
		return 0, fmt.Errorf("dicom: tag %q: want 8 hex digits", s)
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("dicom: tag %q: not hex", s)
	}
	return Tag(n), nil
}

// Element is one data element. Value holds the raw value bytes exactly as
// they were read (padding included), except that binary values of a
// big-endian data set are held in little-endian order: the reader swaps
// them on the way in and the writer on the way out, so code that
// inspects or sets values never sees the byte order. Sequences (VR SQ)
// hold Items instead of a Value.
type Element struct {
	Tag   Tag
	VR    string // two letters; under implicit VR, from the dictionary ("UN" if unknown)
	Value []byte
	Items []*Dataset // VR SQ only; an empty sequence has none
}

// IsSequence reports whether e is a sequence.
func (e *Element) IsSequence() bool { return e.VR == "SQ" }

// Strings returns a string value's components: the value split at
// backslashes (except for VRs that do not allow multiple values), with
// trailing padding (spaces, NULs) and, for VRs other than UT/ST/LT,
// leading spaces removed. It returns nil for binary VRs.
func (e *Element) Strings() []string {
	if !IsStringVR(e.VR) || len(e.Value) == 0 {
		return nil
	}
	s := string(e.Value)
	var parts []string
	if SingleValued(e.VR) {
		parts = []string{s}
	} else {
		parts = strings.Split(s, `\`)
	}
	for i, p := range parts {
		p = strings.TrimRight(p, " \x00")
		if e.VR != "UT" && e.VR != "ST" && e.VR != "LT" {
			p = strings.TrimLeft(p, " ")
		}
		parts[i] = p
	}
	return parts
}

// String returns the first string component, or "".
func (e *Element) String() string {
	if v := e.Strings(); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Floats returns the numeric values of a DS, IS, FL, FD, US, SS, UL, SL,
// SV or UV element. Text numbers that do not parse are an error naming
// the tag.
func (e *Element) Floats() ([]float64, error) {
	var out []float64
	switch e.VR {
	case "DS", "IS":
		for _, s := range e.Strings() {
			if s == "" {
				continue
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("dicom: %s %s: %q is not a number", e.Tag, e.VR, s)
			}
			out = append(out, f)
		}
		return out, nil
	}
	size, ok := binarySize[e.VR]
	if !ok {
		return nil, fmt.Errorf("dicom: %s: VR %s is not numeric", e.Tag, e.VR)
	}
	le := binary.LittleEndian
	for b := e.Value; len(b) >= size; b = b[size:] {
		var f float64
		switch e.VR {
		case "US":
			f = float64(le.Uint16(b))
		case "SS":
			f = float64(int16(le.Uint16(b)))
		case "UL":
			f = float64(le.Uint32(b))
		case "SL":
			f = float64(int32(le.Uint32(b)))
		case "FL":
			f = float64(math.Float32frombits(le.Uint32(b)))
		case "FD":
			f = math.Float64frombits(le.Uint64(b))
		case "SV":
			f = float64(int64(le.Uint64(b)))
		case "UV":
			f = float64(le.Uint64(b))
		}
		out = append(out, f)
	}
	return out, nil
}

// binarySize is the size of one value of each fixed-size numeric VR.
var binarySize = map[string]int{"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8}

// IsStringVR reports whether values of vr are character strings.
func IsStringVR(vr string) bool {
	switch vr {
	case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT":
		return true
	}
	return false
}

// SingleValued reports whether a string VR never holds several values
// (a backslash in it is data, not a separator).
func SingleValued(vr string) bool { return vr == "LT" || vr == "ST" || vr == "UT" || vr == "UR" }

// Dataset is an ordered set of elements, sorted by tag. Item data sets of
// sequences are Datasets too.
type Dataset struct {
	Elements []*Element
}

// find returns the index of t in d.Elements and whether it is there.
func (d *Dataset) find(t Tag) (int, bool) {
	return slices.BinarySearchFunc(d.Elements, t, func(e *Element, t Tag) int {
		switch {
		case e.Tag < t:
			return -1
		case e.Tag > t:
			return 1
		}
		return 0
	})
}

// Get returns the element with tag t, or nil.
func (d *Dataset) Get(t Tag) *Element {
	if d == nil {
		return nil
	}
	if i, ok := d.find(t); ok {
		return d.Elements[i]
	}
	return nil
}

// String returns the first string component of t's value, or "".
func (d *Dataset) String(t Tag) string {
	if e := d.Get(t); e != nil {
		return e.String()
	}
	return ""
}

// Set inserts e, replacing any element with the same tag.
func (d *Dataset) Set(e *Element) {
	i, ok := d.find(e.Tag)
	if ok {
		d.Elements[i] = e
		return
	}
	d.Elements = slices.Insert(d.Elements, i, e)
}

// SetString sets t to the string values joined by backslashes, padded to
// even length as vr requires (NUL for UI, space otherwise).
func (d *Dataset) SetString(t Tag, vr string, values ...string) {
	d.Set(&Element{Tag: t, VR: vr, Value: PadString(vr, strings.Join(values, `\`))})
}

// Remove deletes the element with tag t, reporting whether it was there.
func (d *Dataset) Remove(t Tag) bool {
	i, ok := d.find(t)
	if ok {
		d.Elements = slices.Delete(d.Elements, i, i+1)
	}
	return ok
}

// PadString returns s as a value of vr: padded to even length with NUL for
// UI and with a space for other string VRs.
func PadString(vr, s string) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		if vr == "UI" {
			b = append(b, 0)
		} else {
			b = append(b, ' ')
		}
	}
	return b
}

// Walk calls fn for every element of d and, depth first, of every item of
// its sequences, with the path of sequence elements above it (outermost
// first). Returning false from fn skips the element's items.
func (d *Dataset) Walk(fn func(path []*Element, e *Element) bool) {
	d.walk(nil, fn)
}

func (d *Dataset) walk(path []*Element, fn func([]*Element, *Element) bool) {
	for _, e := range d.Elements {
		if !fn(path, e) {
			continue
		}
		for _, it := range e.Items {
			it.walk(append(path[:len(path):len(path)], e), fn)
		}
	}
}

// Equal reports whether two data sets hold the same elements and values.
func (d *Dataset) Equal(o *Dataset) bool {
	if len(d.Elements) != len(o.Elements) {
		return false
	}
	for i, e := range d.Elements {
		f := o.Elements[i]
		if e.Tag != f.Tag || e.VR != f.VR || !bytes.Equal(e.Value, f.Value) || len(e.Items) != len(f.Items) {
			return false
		}
		for j := range e.Items {
			if !e.Items[j].Equal(f.Items[j]) {
				return false
			}
		}
	}
	return true
}
