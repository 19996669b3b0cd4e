package dicom

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/suyashkumar/dicom/pkg/charset"
)

// MarshalJSON encodes d in the DICOM JSON model (PS3.18 F.2): an object
// keyed by "GGGGEEEE" whose members hold "vr" and "Value" (or
// "InlineBinary" for binary VRs). Text is converted to UTF-8 according to
// Specific Character Set (0008,0005); bytes that do not decode become
// U+FFFD. It never fails on element values.
func (d *Dataset) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	marshalDataset(&b, d, decoderFor(d, nil))
	return b.Bytes(), nil
}

// textDecoder converts the bytes of a text value to UTF-8.
type textDecoder func([]byte) string

// decoderFor returns the text decoder for d: from its own Specific
// Character Set if it has one, else inherited.
func decoderFor(d *Dataset, inherited textDecoder) textDecoder {
	e := d.Get(SpecificCharacterSet)
	if e == nil {
		if inherited != nil {
			return inherited
		}
		return validUTF8
	}
	terms := e.Strings()
	// Code extensions (ISO 2022 escapes) are not interpreted: the first
	// named character set decodes everything, which is right for the
	// common single-byte and UTF-8 cases.
	name := ""
	for _, t := range terms {
		if t != "" {
			name = t
			break
		}
	}
	switch name {
	case "", "ISO_IR 6", "ISO 2022 IR 6", "ISO_IR 192":
		return validUTF8
	case "ISO_IR 100", "ISO 2022 IR 100":
		return latin1
	}
	cs, err := charset.ParseSpecificCharacterSet([]string{name})
	if err != nil || cs.Ideographic == nil {
		return validUTF8
	}
	dec := cs.Ideographic
	return func(b []byte) string {
		s, err := dec.Bytes(b)
		if err != nil {
			return strings.ToValidUTF8(string(b), "\uFFFD")
		}
		return strings.ToValidUTF8(string(s), "\uFFFD")
	}
}

func validUTF8(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// latin1 decodes ISO 8859-1, whose bytes are the first 256 code points.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// charsetVR reports whether values of vr may hold characters beyond the
// default repertoire, so Specific Character Set applies (PS3.5 6.1.2.3).
func charsetVR(vr string) bool {
	switch vr {
	case "SH", "LO", "ST", "LT", "PN", "UC", "UT":
		return true
	}
	return false
}

func marshalDataset(b *bytes.Buffer, d *Dataset, dec textDecoder) {
	b.WriteByte('{')
	if d != nil {
		for i, e := range d.Elements {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + e.Tag.Hex() + `":`)
			marshalElement(b, e, dec)
		}
	}
	b.WriteByte('}')
}

func marshalElement(b *bytes.Buffer, e *Element, dec textDecoder) {
	vr := e.VR
	if !validVR([]byte(vr)) {
		vr = "UN"
	}
	b.WriteString(`{"vr":"` + vr + `"`)
	defer b.WriteByte('}')
	switch {
	case vr == "SQ":
		if len(e.Items) == 0 {
			return
		}
		b.WriteString(`,"Value":[`)
		for i, it := range e.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			marshalDataset(b, it, decoderFor(it, dec))
		}
		b.WriteByte(']')
		return
	case len(e.Value) == 0:
		return
	case IsStringVR(vr):
		marshalStrings(b, e, vr, dec)
	case vr == "AT":
		b.WriteString(`,"Value":[`)
		for i, v := 0, e.Value; len(v) >= 4; i, v = i+1, v[4:] {
			if i > 0 {
				b.WriteByte(',')
			}
			t := NewTag(binary.LittleEndian.Uint16(v), binary.LittleEndian.Uint16(v[2:]))
			b.WriteString(`"` + t.Hex() + `"`)
		}
		b.WriteByte(']')
	case binarySize[vr] > 0:
		marshalNumbers(b, e.Value, vr)
	default: // OB, OD, OF, OL, OV, OW, UN
		b.WriteString(`,"InlineBinary":"` + base64.StdEncoding.EncodeToString(e.Value) + `"`)
	}
}

func marshalStrings(b *bytes.Buffer, e *Element, vr string, dec textDecoder) {
	conv := validUTF8
	if charsetVR(vr) {
		conv = dec
	}
	vals := e.Strings()
	if vr == "PN" {
		for i, s := range vals {
			vals[i] = trimPN(s)
		}
	}
	if !slices.ContainsFunc(vals, func(s string) bool { return s != "" }) {
		return // nothing but padding and delimiters: no Value (as dcmtk)
	}
	b.WriteString(`,"Value":[`)
	for i, s := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		switch {
		case s == "":
			b.WriteString("null") // PS3.18 F.2.5: an empty component is null
		case vr == "PN":
			marshalPN(b, conv([]byte(s)))
		case vr == "IS" || vr == "DS":
			b.WriteString(jsonNumber(s))
		default:
			writeJSONString(b, conv([]byte(s)))
		}
	}
	b.WriteByte(']')
}

// trimPN drops the trailing, insignificant component and group
// delimiters of a person name (PS3.5 6.2.1): "Doe^^^=" is "Doe".
func trimPN(s string) string {
	groups := strings.SplitN(s, "=", 3)
	for i, g := range groups {
		groups[i] = strings.TrimRight(g, "^ ")
	}
	return strings.TrimRight(strings.Join(groups, "="), "=")
}

// marshalPN writes a person name as its component groups (F.2.2).
func marshalPN(b *bytes.Buffer, s string) {
	b.WriteByte('{')
	n := 0
	for i, g := range strings.SplitN(s, "=", 3) {
		if g == "" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(`"` + [...]string{"Alphabetic", "Ideographic", "Phonetic"}[i] + `":`)
		writeJSONString(b, g)
	}
	b.WriteByte('}')
}

// jsonNumber returns an IS or DS value as a JSON number: the text itself
// when JSON accepts it, else the parsed value, else (for text that is
// not a number at all) a JSON string, which F.2.3.1 allows.
func jsonNumber(s string) string {
	if json.Valid([]byte(s)) && s[0] != '"' && s[0] != '[' && s[0] != '{' && s != "true" && s != "false" && s != "null" {
		return s
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	var b bytes.Buffer
	writeJSONString(&b, validUTF8([]byte(s)))
	return b.String()
}

// marshalNumbers writes the binary numbers of v (little endian) exactly:
// 64-bit integers as integer text, floats in their shortest form, and
// the non-finite floats JSON cannot hold as strings.
func marshalNumbers(b *bytes.Buffer, v []byte, vr string) {
	le := binary.LittleEndian
	size := binarySize[vr]
	b.WriteString(`,"Value":[`)
	for i := 0; len(v) >= size; i, v = i+1, v[size:] {
		if i > 0 {
			b.WriteByte(',')
		}
		var s string
		switch vr {
		case "US":
			s = strconv.FormatUint(uint64(le.Uint16(v)), 10)
		case "SS":
			s = strconv.FormatInt(int64(int16(le.Uint16(v))), 10)
		case "UL":
			s = strconv.FormatUint(uint64(le.Uint32(v)), 10)
		case "SL":
			s = strconv.FormatInt(int64(int32(le.Uint32(v))), 10)
		case "UV":
			s = strconv.FormatUint(le.Uint64(v), 10)
		case "SV":
			s = strconv.FormatInt(int64(le.Uint64(v)), 10)
		case "FL":
			s = formatFloat(float64(math.Float32frombits(le.Uint32(v))), 32)
		case "FD":
			s = formatFloat(math.Float64frombits(le.Uint64(v)), 64)
		}
		b.WriteString(s)
	}
	b.WriteByte(']')
}

func formatFloat(f float64, bits int) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return `"` + strconv.FormatFloat(f, 'g', -1, bits) + `"`
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

func writeJSONString(b *bytes.Buffer, s string) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	q, _ := json.Marshal(s) // a valid string always marshals
	b.Write(q)
}
