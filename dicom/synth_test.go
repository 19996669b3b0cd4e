package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func us(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

// sampleDataset is a header with the shapes a reader gets wrong: nested
// sequences, an empty sequence, an empty value, private tags, binary
// numbers of every size and a tag value. Its VRs are the dictionary's, so
// that it reads back the same under implicit VR.
func sampleDataset() *Dataset {
	code := &Dataset{}
	code.SetString(CodeValue, "SH", "113100")
	code.SetString(CodingSchemeDesignator, "SH", "DCM")
	code.SetString(CodeMeaning, "LO", "Basic Application Confidentiality Profile")
	inner := &Dataset{}
	inner.SetString(CodeValue, "SH", "113101")
	code.Set(&Element{Tag: NewTag(0x0040, 0xA730), VR: "SQ", Items: []*Dataset{inner, {}}}) // ContentSequence
	ds := &Dataset{}
	ds.SetString(SpecificCharacterSet, "CS", "ISO_IR 100")
	ds.SetString(ImageType, "CS", "ORIGINAL", "PRIMARY", "AXIAL")
	ds.SetString(SOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.2")
	ds.SetString(SOPInstanceUID, "UI", "1.2.3.4.5.6.7")
	ds.SetString(StudyDate, "DA", "20240102")
	ds.SetString(AccessionNumber, "SH")
	ds.SetString(Modality, "CS", "CT")
	ds.SetString(PatientName, "PN", "M\xfcller^Hans")
	ds.SetString(PatientID, "LO", "PID-1")
	ds.Set(&Element{Tag: NewTag(0x0009, 0x0010), VR: "LO", Value: PadString("LO", "ACME 1.0")})
	ds.Set(&Element{Tag: NewTag(0x0009, 0x1001), VR: "UN", Value: []byte{1, 2, 3, 4}})
	ds.Set(&Element{Tag: DeidentificationMethodCodeSequence, VR: "SQ", Items: []*Dataset{code}})
	ds.Set(&Element{Tag: NewTag(0x0008, 0x1140), VR: "SQ"}) // ReferencedImageSequence, empty
	ds.SetString(SliceThickness, "DS", "1.25")
	ds.SetString(InstanceNumber, "IS", "7")
	ds.Set(&Element{Tag: NewTag(0x0018, 0x9327), VR: "FD", Value: binary.LittleEndian.AppendUint64(nil, 0x4059000000000000)}) // TablePosition 100.0
	ds.Set(&Element{Tag: Rows, VR: "US", Value: us(512)})
	ds.Set(&Element{Tag: Columns, VR: "US", Value: us(256)})
	ds.SetString(PixelSpacing, "DS", "0.5", "0.5")
	ds.Set(&Element{Tag: NewTag(0x0028, 0x0009), VR: "AT", Value: []byte{0x54, 0x00, 0x10, 0x00}}) // FrameIncrementPointer
	ds.Set(&Element{Tag: NewTag(0x0028, 0x1052), VR: "DS", Value: PadString("DS", "-1024")})
	ds.Set(&Element{Tag: NewTag(0x0054, 0x1330), VR: "US", Value: us(3)})
	return ds
}

var syntaxUIDs = []string{
	ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
	DeflatedExplicitVRLittleEndian, JPEGBaseline, RLELossless,
}

// sampleFile encodes sampleDataset with Pixel Data and a trailing
// padding element in the syntax uid; it returns the file and the
// encoded Pixel Data element.
func sampleFile(t testing.TB, uid string) (file, pixel []byte) {
	t.Helper()
	s, err := LookupSyntax(uid)
	if err != nil {
		t.Fatal(err)
	}
	ds := sampleDataset()
	px := &Element{Tag: PixelData, VR: "OW", Value: bytes.Repeat([]byte{1, 2, 3, 4}, 64)}
	if s.Encapsulated {
		px = &Element{Tag: PixelData, VR: "OB", Value: Fragments([]byte("frame one"), []byte("frame two!"))}
	}
	ds.Set(px)
	if s.Encapsulated { // an icon, encapsulated too
		icon := &Dataset{}
		icon.Set(&Element{Tag: Rows, VR: "US", Value: us(8)})
		icon.Set(&Element{Tag: PixelData, VR: "OB", Value: Fragments([]byte("icon"))})
		ds.Set(&Element{Tag: NewTag(0x0088, 0x0200), VR: "SQ", Items: []*Dataset{icon}})
	}
	ds.Set(&Element{Tag: NewTag(0xFFFC, 0xFFFC), VR: "OB", Value: make([]byte, 8)})
	var b bytes.Buffer
	if err := Encode(&b, NewMeta("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5.6.7", s), ds, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), rawPixelData(t, b.Bytes())
}

func TestSyntaxes(t *testing.T) {
	for _, uid := range syntaxUIDs {
		t.Run(uid, func(t *testing.T) {
			in, pixel := sampleFile(t, uid)
			if len(pixel) < 64 {
				t.Fatalf("Pixel Data element of %d bytes", len(pixel))
			}
			o, err := Parse(bytes.NewReader(in), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if o.Syntax.UID != uid || !o.Preamble {
				t.Errorf("syntax %q preamble %v", o.Syntax.UID, o.Preamble)
			}
			want := sampleDataset()
			if icon := o.Dataset.Get(NewTag(0x0088, 0x0200)); o.Syntax.Encapsulated {
				if icon == nil || !bytes.Equal(icon.Items[0].Get(PixelData).Value, Fragments([]byte("icon"))) {
					t.Fatalf("encapsulated icon: %+v", icon)
				}
				want.Set(icon)
			}
			if !o.Dataset.Equal(want) {
				got, _ := o.Dataset.MarshalJSON()
				want, _ := want.MarshalJSON()
				t.Fatalf("data set:\n got %s\nwant %s", got, want)
			}
			if f, _ := o.Dataset.Get(Rows).Floats(); len(f) != 1 || f[0] != 512 {
				t.Errorf("Rows = %v", f)
			}
			if o.Syntax.BigEndian && !bytes.Contains(in, []byte{0x00, 0x28, 0x00, 0x10, 'U', 'S', 0x00, 0x02, 0x02, 0x00}) {
				t.Error("Rows is not encoded big endian")
			}
			if o.Syntax.Deflated && bytes.Contains(in, []byte("1.2.3.4.5.6.7\x00\x10\x00")) {
				t.Error("the data set is not deflated")
			}
			var out bytes.Buffer
			_, err = o.Write(&out, func(tail *Dataset) error {
				if tail.Get(NewTag(0xFFFC, 0xFFFC)) == nil {
					t.Error("trailing element missing")
				}
				tail.Remove(NewTag(0xFFFC, 0xFFFC))
				tail.Set(&Element{Tag: NewTag(0xFFFA, 0xFFFA), VR: "SQ"}) // an empty Digital Signatures Sequence
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.Write(io.Discard, nil); err == nil {
				t.Error("second Write succeeded")
			}
			o2, err := Parse(bytes.NewReader(out.Bytes()), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !o2.Dataset.Equal(o.Dataset) {
				t.Error("data set changed")
			}
			if got := rawPixelData(t, out.Bytes()); !bytes.Equal(got, pixel) {
				t.Errorf("Pixel Data changed:\n got %x\nwant %x", got, pixel)
			}
			var tail *Dataset
			if _, err := o2.Write(io.Discard, func(d *Dataset) error { tail = d; return nil }); err != nil {
				t.Fatal(err)
			}
			if tail.Get(NewTag(0xFFFC, 0xFFFC)) != nil || tail.Get(NewTag(0xFFFA, 0xFFFA)) == nil {
				t.Errorf("trailer change lost: %v", tail.Elements)
			}
		})
	}
}

// rawBuilder encodes elements for hand-built inputs.
type rawBuilder struct {
	bytes.Buffer
	o byteOrder
}

func (b *rawBuilder) tag(t Tag) *rawBuilder {
	b.Write(b.o.AppendUint16(nil, t.Group()))
	b.Write(b.o.AppendUint16(nil, t.Element()))
	return b
}
func (b *rawBuilder) u16(v uint16) *rawBuilder { b.Write(b.o.AppendUint16(nil, v)); return b }
func (b *rawBuilder) u32(v uint32) *rawBuilder { b.Write(b.o.AppendUint32(nil, v)); return b }
func (b *rawBuilder) str(s string) *rawBuilder { b.WriteString(s); return b }

// withMeta prefixes body with a preamble and a meta group for uid.
func withMeta(t testing.TB, uid string, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	m := &Dataset{}
	m.SetString(TransferSyntaxUID, "UI", uid)
	if err := writeMeta(&b, m, Syntax{UID: uid}); err != nil {
		t.Fatal(err)
	}
	b.Write(body)
	return b.Bytes()
}

func TestDefinedLengthsAndUNSequences(t *testing.T) {
	b := &rawBuilder{o: binary.LittleEndian}
	b.tag(NewTag(0x0008, 0x0000)).str("UL").u16(4).u32(1234) // group length: dropped
	b.tag(SOPInstanceUID).str("UI").u16(4).str("1.2\x00")
	// Defined-length sequence, one defined-length item holding one element.
	b.tag(DeidentificationMethodCodeSequence).str("SQ").u16(0).u32(8 + 14)
	b.tag(ItemTag).u32(14)
	b.tag(CodeValue).str("SH").u16(6).str("113100")
	// UN of undefined length: a sequence in implicit VR little endian.
	b.tag(NewTag(0x0009, 0x0010)).str("LO").u16(4).str("ACME")
	b.tag(NewTag(0x0009, 0x1010)).str("UN").u16(0).u32(undefinedLength)
	b.tag(ItemTag).u32(undefinedLength)
	b.tag(CodeValue).u32(2).str("AB")
	b.tag(ItemDelimitation).u32(0)
	b.tag(SequenceDelimitation).u32(0)
	in := withMeta(t, ExplicitVRLittleEndian, b.Bytes())
	o, err := Parse(bytes.NewReader(in), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Dataset.Get(NewTag(0x0008, 0x0000)) != nil {
		t.Error("group length kept")
	}
	seq := o.Dataset.Get(DeidentificationMethodCodeSequence)
	if seq == nil || len(seq.Items) != 1 || seq.Items[0].String(CodeValue) != "113100" {
		t.Fatalf("defined-length sequence: %+v", seq)
	}
	un := o.Dataset.Get(NewTag(0x0009, 0x1010))
	if un == nil || un.VR != "SQ" || len(un.Items) != 1 || un.Items[0].Get(CodeValue).VR != "SH" || un.Items[0].String(CodeValue) != "AB" {
		t.Fatalf("UN sequence: %+v", un)
	}
	var out bytes.Buffer
	if _, err := o.Write(&out, nil); err != nil {
		t.Fatal(err)
	}
	o2, err := Parse(&out, Limits{})
	if err != nil || !o2.Dataset.Equal(o.Dataset) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestTruncatedPixelData(t *testing.T) {
	for _, uid := range syntaxUIDs {
		in, pixel := sampleFile(t, uid)
		if s, _ := LookupSyntax(uid); s.Deflated {
			continue // offsets in the file are not offsets in the data set
		}
		start := bytes.Index(in, pixel)
		for cut := start; cut < start+len(pixel); cut++ {
			o, err := Parse(bytes.NewReader(in[:cut]), Limits{})
			if cut-start < 4 && cut > start { // inside the tag
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("%s: cut at %d: %v", uid, cut, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: cut at %d: %v", uid, cut, err)
			}
			if cut == start {
				if o.src != nil {
					t.Fatalf("%s: a cut before Pixel Data left a source", uid)
				}
				continue
			}
			if _, err := o.Write(io.Discard, nil); !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s: cut at %d inside Pixel Data: %v", uid, cut, err)
			}
		}
	}
}

func TestNoPreamble(t *testing.T) {
	in, _ := sampleFile(t, ExplicitVRLittleEndian)
	o, err := Parse(bytes.NewReader(in[132:]), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Preamble || o.Dataset.String(SOPInstanceUID) != "1.2.3.4.5.6.7" {
		t.Errorf("preamble %v, %q", o.Preamble, o.Dataset.String(SOPInstanceUID))
	}
}

func TestErrors(t *testing.T) {
	le := func() *rawBuilder { return &rawBuilder{o: binary.LittleEndian} }
	deep := le()
	for range 40 {
		deep.tag(DeidentificationMethodCodeSequence).str("SQ").u16(0).u32(undefinedLength).tag(ItemTag).u32(undefinedLength)
	}
	noTS := &Dataset{}
	noTS.SetString(MediaStorageSOPInstanceUID, "UI", "1.2")
	var noTSFile bytes.Buffer
	noTSFile.Write(make([]byte, 128))
	noTSFile.WriteString("DICM")
	(&encoder{w: &noTSFile, enc: metaEncoding, meta: true}).writeDataset(noTS, 0)

	for _, tt := range []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotDICOM, ""},
		{"random", []byte(strings.Repeat("\x13\x37garbage", 40)), ErrNotDICOM, ""},
		{"unsupported", withMeta(t, "1.2.3.4.5", nil), ErrUnsupported, "1.2.3.4.5"},
		{"missing transfer syntax", noTSFile.Bytes(), ErrMalformed, "(0002,0010)"},
		{"absurd length", withMeta(t, ExplicitVRLittleEndian, le().tag(NewTag(0x0008, 0x0119)).str("UC").u16(0).u32(0xFFFFFFF0).Bytes()), ErrTooLarge, "(0008,0119)"},
		{"lying length", withMeta(t, ExplicitVRLittleEndian, le().tag(NewTag(0x0008, 0x0119)).str("UC").u16(0).u32(60<<20).str("short").Bytes()), ErrTruncated, "(0008,0119)"},
		{"odd length", withMeta(t, ExplicitVRLittleEndian, le().tag(Modality).str("CS").u16(3).str("CT ").Bytes()), ErrMalformed, "odd"},
		{"bad VR", withMeta(t, ExplicitVRLittleEndian, le().tag(Modality).str("c?").u16(2).str("CT").Bytes()), ErrMalformed, "VR"},
		{"item at top level", withMeta(t, ExplicitVRLittleEndian, le().tag(ItemTag).u32(0).Bytes()), ErrMalformed, "(FFFE,E000)"},
		{"not an item", withMeta(t, ExplicitVRLittleEndian, le().tag(DeidentificationMethodCodeSequence).str("SQ").u16(0).u32(undefinedLength).tag(Modality).u32(0).Bytes()), ErrMalformed, "item"},
		{"too deep", withMeta(t, ExplicitVRLittleEndian, deep.Bytes()), ErrMalformed, "deeper"},
		{"item overruns sequence", withMeta(t, ExplicitVRLittleEndian, le().tag(DeidentificationMethodCodeSequence).str("SQ").u16(0).u32(8).tag(ItemTag).u32(100).Bytes()), ErrMalformed, "overruns"},
		{"undefined-length item cut", withMeta(t, ExplicitVRLittleEndian, le().tag(DeidentificationMethodCodeSequence).str("SQ").u16(0).u32(undefinedLength).tag(ItemTag).u32(undefinedLength).Bytes()), ErrTruncated, ""},
		{"meta element in data set", withMeta(t, ExplicitVRLittleEndian, le().tag(Modality).str("CS").u16(2).str("CT").tag(TransferSyntaxUID).str("UI").u16(2).str("1\x00").Bytes()), ErrMalformed, "(0002,0010)"},
		{"undefined length string", withMeta(t, ExplicitVRLittleEndian, le().tag(NewTag(0x0008, 0x0119)).str("UC").u16(0).u32(undefinedLength).Bytes()), ErrMalformed, "undefined length"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse(bytes.NewReader(tt.in), Limits{})
			if err == nil {
				t.Fatalf("parsed: %+v", o.Dataset)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want %v naming %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestEncodeRefusesLongShortVR(t *testing.T) {
	ds := &Dataset{}
	ds.SetString(PatientID, "LO", strings.Repeat("x", 70000))
	err := Encode(io.Discard, NewMeta("1.2", "1.3", Syntax{UID: ExplicitVRLittleEndian}), ds, Syntax{UID: ExplicitVRLittleEndian})
	if err == nil || !strings.Contains(err.Error(), "(0010,0020)") {
		t.Errorf("error %v", err)
	}
}
