package dicom

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCanTranscode(t *testing.T) {
	const (
		imp, exp, defl, be = ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian
		jpeg, rle, bogus   = JPEGBaseline, RLELossless, "1.2.3.4"
	)
	for _, tt := range []struct {
		from, to string
		want     bool
	}{
		{imp, imp, true}, {imp, exp, true}, {imp, defl, true}, {imp, be, false},
		{exp, imp, true}, {exp, exp, true}, {exp, defl, true}, {exp, be, false},
		{defl, imp, true}, {defl, exp, true}, {defl, defl, true}, {defl, be, false},
		{be, imp, true}, {be, exp, true}, {be, defl, true}, {be, be, true},
		{jpeg, jpeg, true}, {jpeg, exp, false}, {exp, jpeg, false}, {jpeg, rle, false}, {rle, imp, false},
		{bogus, bogus, false}, {exp, bogus, false},
	} {
		// The UIDs alone decide, whatever the flags say.
		if got := CanTranscode(Syntax{UID: tt.from}, Syntax{UID: tt.to + "\x00", Encapsulated: true}); got != tt.want {
			t.Errorf("CanTranscode(%s, %s) = %v", tt.from, tt.to, got)
		}
	}
}

// pixelValue returns the VR and the value, little endian (the items of
// encapsulated Pixel Data), of the Pixel Data element of file.
func pixelValue(t testing.TB, file []byte) (string, []byte) {
	t.Helper()
	o, err := Parse(bytes.NewReader(file), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := o.src
	tag, vr, length, _, err := d.readPixelHeader()
	if err != nil {
		t.Fatal(err)
	}
	var v []byte
	if length == undefinedLength {
		v, err = d.readFragments(d.enc, tag, 0)
	} else {
		v, err = d.readValue(length)
	}
	if err != nil {
		t.Fatal(err)
	}
	if o.Syntax.BigEndian {
		swapInPlace(vr, v)
	}
	return vr, v
}

// checkDcmdump runs dcmdump on file, if installed, and fails on an exit
// status or an error or warning it prints.
func checkDcmdump(t *testing.T, file []byte) string {
	t.Helper()
	dcmdump, err := exec.LookPath("dcmdump")
	if err != nil {
		return ""
	}
	p := filepath.Join(t.TempDir(), "out.dcm")
	if err := os.WriteFile(p, file, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dcmdump, "-q", p).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("E: ")) || bytes.Contains(out, []byte("W: ")) {
		t.Errorf("dcmdump: %v\n%s", err, out)
	}
	return string(out)
}

// dciodvfy returns the errors and warnings dicom3tools' dciodvfy finds
// in file (the IOD's, mostly inherited from the source), or "" when it is
// not installed.
func dciodvfy(t *testing.T, file []byte) string {
	t.Helper()
	p, err := exec.LookPath("dciodvfy")
	if err != nil {
		return ""
	}
	f := filepath.Join(t.TempDir(), "f.dcm")
	if err := os.WriteFile(f, file, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(p, f).CombinedOutput() // exits 1 on findings
	var b strings.Builder
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "Error") || strings.HasPrefix(line, "Warning") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestWriteAsSynthesized(t *testing.T) {
	targets := append(syntaxUIDs, "1.2.840.10008.1.2.4.90")
	for _, from := range syntaxUIDs {
		in, _ := sampleFile(t, from)
		fromSyntax, _ := LookupSyntax(from)
		for _, to := range targets {
			toSyntax, _ := LookupSyntax(to)
			t.Run(from+"→"+to, func(t *testing.T) {
				o, err := Parse(bytes.NewReader(in), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				n, err := o.WriteAs(&out, toSyntax, func(tail *Dataset) error {
					if tail.Get(NewTag(0xFFFC, 0xFFFC)) == nil {
						t.Error("trailing element missing")
					}
					tail.SetString(NewTag(0xFFFA, 0x0010), "LO", "TRAILER") // not a real tag: it will be UN if implicit
					return nil
				})
				if !CanTranscode(fromSyntax, toSyntax) {
					if !errors.Is(err, ErrUnsupported) || out.Len() != 0 {
						t.Fatalf("error %v after %d bytes, want ErrUnsupported before any", err, out.Len())
					}
					if _, err := o.Write(io.Discard, nil); err != nil {
						t.Errorf("the refusal consumed the source: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if n != int64(out.Len()) {
					t.Errorf("WriteAs returned %d, wrote %d", n, out.Len())
				}
				if _, err := o.WriteAs(io.Discard, toSyntax, nil); err != errWritten {
					t.Errorf("second WriteAs: %v", err)
				}
				o2, err := Parse(bytes.NewReader(out.Bytes()), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				if o2.Syntax != toSyntax {
					t.Errorf("syntax %+v, want %+v", o2.Syntax, toSyntax)
				}
				wantMeta := &Dataset{Elements: append([]*Element(nil), o.Meta.Elements...)}
				wantMeta.SetString(TransferSyntaxUID, "UI", to)
				if !o2.Meta.Equal(wantMeta) {
					t.Errorf("meta group %v, want %v", o2.Meta.Elements, wantMeta.Elements)
				}
				if !o2.Dataset.Equal(o.Dataset) {
					got, _ := o2.Dataset.MarshalJSON()
					want, _ := o.Dataset.MarshalJSON()
					t.Fatalf("data set:\n got %s\nwant %s", got, want)
				}
				gotVR, got := pixelValue(t, out.Bytes())
				wantVR, want := pixelValue(t, in)
				if !bytes.Equal(got, want) {
					t.Errorf("Pixel Data:\n got %x\nwant %x", got, want)
				}
				if !fromSyntax.Encapsulated && gotVR != "OW" || fromSyntax.Encapsulated && gotVR != wantVR {
					t.Errorf("Pixel Data VR %s (source %s)", gotVR, wantVR)
				}
				if !toSyntax.Encapsulated && !bytes.Equal(got, bytes.Repeat([]byte{1, 2, 3, 4}, 64)) {
					t.Errorf("native Pixel Data not little endian: %x", got[:8])
				}
				var tail *Dataset
				if _, err := o2.Write(io.Discard, func(d *Dataset) error { tail = d; return nil }); err != nil {
					t.Fatal(err)
				}
				if e := tail.Get(NewTag(0xFFFA, 0x0010)); e == nil || string(e.Value) != "TRAILER " {
					t.Errorf("trailer change lost: %v", tail.Elements)
				}
				checkDcmdump(t, out.Bytes())
			})
		}
	}
}

// dataSetBytes returns the bytes of file after its meta group, inflated
// if need be. The group length (0002,0000) must come first.
func dataSetBytes(t testing.TB, file []byte) []byte {
	t.Helper()
	if len(file) < 144 || string(file[128:132]) != "DICM" || string(file[132:136]) != "\x02\x00\x00\x00" {
		t.Fatalf("no meta group length at offset 132")
	}
	end := 144 + int(binary.LittleEndian.Uint32(file[140:144]))
	o, err := Parse(bytes.NewReader(file), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Syntax.Deflated {
		return file[end:]
	}
	b, err := io.ReadAll(flate.NewReader(bytes.NewReader(file[end:])))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameValues reports whether a and b hold the same elements, VRs and
// values, string values compared without their padding (dcmtk writes a
// value of spaces as an empty one).
func sameValues(a, b *Dataset) bool {
	if len(a.Elements) != len(b.Elements) {
		return false
	}
	for i, e := range a.Elements {
		f := b.Elements[i]
		if e.Tag != f.Tag || e.VR != f.VR || len(e.Items) != len(f.Items) {
			return false
		}
		if IsStringVR(e.VR) {
			if strings.Join(e.Strings(), `\`) != strings.Join(f.Strings(), `\`) {
				return false
			}
		} else if !bytes.Equal(e.Value, f.Value) {
			return false
		}
		for j := range e.Items {
			if !sameValues(e.Items[j], f.Items[j]) {
				return false
			}
		}
	}
	return true
}

var dcmconvOption = map[string]string{
	ImplicitVRLittleEndian:         "+ti",
	ExplicitVRLittleEndian:         "+te",
	DeflatedExplicitVRLittleEndian: "+td",
	ExplicitVRBigEndian:            "+tb",
}

// TestWriteAsPeer transcodes the real files (and big-endian copies of
// some, made by dcmtk) to each little-endian syntax and compares the
// result with what dcmconv makes of the same file: the data set's bytes
// (dcmconv -e -g: undefined lengths, no group lengths, as Write), or,
// where dcmtk normalizes a value, its values; and the frames with the
// known digests.
func TestWriteAsPeer(t *testing.T) {
	dir := realDir(t)
	if _, err := exec.LookPath("dcmconv"); err != nil {
		t.Skipf("dcmtk: %v", err)
	}
	tmp := t.TempDir()
	type source struct{ name, path, digestsOf string }
	var sources []source
	for _, name := range realFiles {
		sources = append(sources, source{name, filepath.Join(dir, name), name})
	}
	for _, name := range []string{"1.dcm", "5.dcm", "6.dcm"} {
		p := filepath.Join(tmp, "be-"+name)
		dcmtk(t, "dcmconv", "+tb", filepath.Join(dir, name), p)
		sources = append(sources, source{"be-" + name, p, name})
	}
	for _, src := range sources {
		for _, to := range []string{ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian} {
			t.Run(src.name+"→"+to, func(t *testing.T) {
				t.Parallel() // dcmtk and dicom3tools run as processes
				in, err := os.ReadFile(src.path)
				if err != nil {
					t.Fatal(err)
				}
				o, err := Parse(bytes.NewReader(in), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				s, _ := LookupSyntax(to)
				var out bytes.Buffer
				if _, err := o.WriteAs(&out, s, nil); err != nil {
					t.Fatal(err)
				}
				peer := filepath.Join(t.TempDir(), "peer.dcm")
				dcmtk(t, "dcmconv", dcmconvOption[to], "-e", "-g", src.path, peer)
				want, err := os.ReadFile(peer)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(dataSetBytes(t, out.Bytes()), dataSetBytes(t, want)) {
					ours, _ := Parse(bytes.NewReader(out.Bytes()), Limits{})
					theirs, _ := Parse(bytes.NewReader(want), Limits{})
					if !sameValues(ours.Dataset, theirs.Dataset) {
						t.Fatal("data set differs from dcmconv's")
					}
					_, p1 := pixelValue(t, out.Bytes())
					if _, p2 := pixelValue(t, want); !bytes.Equal(p1, p2) {
						t.Fatal("Pixel Data differs from dcmconv's")
					}
					t.Logf("same values as dcmconv's, not the same bytes (dcmtk normalizes string padding)")
				}
				meta, _ := Parse(bytes.NewReader(out.Bytes()), Limits{})
				for _, e := range o.Meta.Elements {
					if e.Tag != TransferSyntaxUID && !bytes.Equal(meta.Meta.Get(e.Tag).Value, e.Value) {
						t.Errorf("meta element %s changed", e.Tag)
					}
				}
				checkDcmdump(t, out.Bytes())
				if !s.Deflated { // dciodvfy fails to inflate some deflated files, dcmtk's too
					if got, want := dciodvfy(t, out.Bytes()), dciodvfy(t, want); got != want {
						t.Errorf("dciodvfy on ours:\n%s\non dcmconv's:\n%s", got, want)
					}
				}
				checkFrames(t, out.Bytes(), realFrameDigests[src.digestsOf])
			})
		}
	}
}

// ambiguousDataset holds elements whose dictionary VR is a choice, as
// an implicit VR reader (ours) returns them, and what explicit VR output
// must call them.
func ambiguousDataset() (ds *Dataset, want map[Tag]string) {
	ds = &Dataset{}
	ds.SetString(SOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7")
	ds.SetString(SOPInstanceUID, "UI", "1.2.3.4")
	ds.Set(&Element{Tag: NewTag(0x0009, 0x0010), VR: "LO", Value: PadString("LO", "ACME")})
	ds.Set(&Element{Tag: NewTag(0x0009, 0x1001), VR: "UN", Value: []byte{1, 2, 3, 4}})
	private := &Dataset{}
	private.SetString(CodeValue, "SH", "X1")
	ds.Set(&Element{Tag: NewTag(0x0009, 0x1002), VR: "SQ", Items: []*Dataset{private}})
	ds.SetString(NewTag(0x0010, 0x4000), "LT", strings.Repeat("x", 70000)) // too long for LT in explicit VR
	ds.Set(&Element{Tag: SamplesPerPixel, VR: "US", Value: us(1)})
	ds.Set(&Element{Tag: Rows, VR: "US", Value: us(2)})
	ds.Set(&Element{Tag: Columns, VR: "US", Value: us(2)})
	ds.Set(&Element{Tag: BitsAllocated, VR: "US", Value: us(8)})
	ds.Set(&Element{Tag: PixelRepresentation, VR: "US", Value: us(1)})
	ds.Set(&Element{Tag: NewTag(0x0028, 0x0106), VR: "US", Value: us(0xFFFE)}) // Smallest Image Pixel Value
	ds.Set(&Element{Tag: NewTag(0x0028, 0x0120), VR: "US", Value: us(0x8000)}) // Pixel Padding Value
	lut := &Dataset{}
	lut.Set(&Element{Tag: NewTag(0x0028, 0x3002), VR: "US", Value: append(append(us(4), us(0xFFFE)...), us(16)...)}) // LUT Descriptor
	lut.Set(&Element{Tag: NewTag(0x0028, 0x3006), VR: "US", Value: bytes.Repeat([]byte{1, 2}, 4)})                   // LUT Data
	ds.Set(&Element{Tag: NewTag(0x0028, 0x3010), VR: "SQ", Items: []*Dataset{lut}})
	icon := &Dataset{}
	icon.Set(&Element{Tag: PixelRepresentation, VR: "US", Value: us(0)})
	icon.Set(&Element{Tag: NewTag(0x0028, 0x0107), VR: "US", Value: us(3)}) // Largest Image Pixel Value
	icon.Set(&Element{Tag: PixelData, VR: "OW", Value: []byte{1, 2, 3, 4}})
	ds.Set(&Element{Tag: NewTag(0x0088, 0x0200), VR: "SQ", Items: []*Dataset{icon}})
	ds.Set(&Element{Tag: NewTag(0x6000, 0x3000), VR: "OB", Value: []byte{0xF0, 0x0F}}) // Overlay Data
	ds.Set(&Element{Tag: PixelData, VR: "OW", Value: []byte{1, 2, 3, 4}})
	return ds, map[Tag]string{
		NewTag(0x0009, 0x1001): "UN", NewTag(0x0009, 0x1002): "SQ", NewTag(0x0010, 0x4000): "UN",
		NewTag(0x0028, 0x0106): "SS", NewTag(0x0028, 0x0120): "SS", NewTag(0x0028, 0x3002): "US",
		NewTag(0x0028, 0x3006): "OW", NewTag(0x0028, 0x0107): "US", NewTag(0x6000, 0x3000): "OW", PixelData: "OW",
	}
}

func TestWriteAsResolvesVRs(t *testing.T) {
	ds, want := ambiguousDataset()
	var in bytes.Buffer
	imp := Syntax{UID: ImplicitVRLittleEndian, Implicit: true}
	if err := Encode(&in, NewMeta("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4", imp), ds, imp); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian} {
		t.Run(to, func(t *testing.T) {
			o, err := Parse(bytes.NewReader(in.Bytes()), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			s, _ := LookupSyntax(to)
			var out bytes.Buffer
			if _, err := o.WriteAs(&out, s, nil); err != nil {
				t.Fatal(err)
			}
			o2, err := Parse(bytes.NewReader(out.Bytes()), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			o2.Dataset.Walk(func(_ []*Element, e *Element) bool {
				if vr, ok := want[e.Tag]; ok {
					seen++
					if e.VR != vr {
						t.Errorf("%s: VR %s, want %s", e.Tag, e.VR, vr)
					}
				}
				return true
			})
			if seen != len(want) {
				t.Errorf("saw %d of the %d elements", seen, len(want))
			}
			if vr, _ := pixelValue(t, out.Bytes()); vr != "OW" {
				t.Errorf("Pixel Data VR %s", vr)
			}
			// The values did not change: the data set reads back the same
			// in implicit VR.
			var back bytes.Buffer
			o3, _ := Parse(bytes.NewReader(out.Bytes()), Limits{})
			if _, err := o3.WriteAs(&back, imp, nil); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dataSetBytes(t, back.Bytes()), dataSetBytes(t, in.Bytes())) {
				t.Error("implicit → explicit → implicit changed the data set")
			}
			if _, err := exec.LookPath("dcmconv"); err != nil {
				return
			}
			src := filepath.Join(t.TempDir(), "in.dcm")
			peer := filepath.Join(t.TempDir(), "peer.dcm")
			if err := os.WriteFile(src, in.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			dcmtk(t, "dcmconv", dcmconvOption[to], "-e", "-g", src, peer)
			theirs, _ := os.ReadFile(peer)
			if !bytes.Equal(dataSetBytes(t, out.Bytes()), dataSetBytes(t, theirs)) {
				t.Error("data set differs from dcmconv's")
			}
		})
	}
}

func TestWriteAsErrors(t *testing.T) {
	explicit, _ := LookupSyntax(ExplicitVRLittleEndian)
	// Native Pixel Data of undefined length.
	undefined := imageFile(t, ExplicitVRLittleEndian, 1, 2, 8, 1, &Element{Tag: PixelData, VR: "OB", Value: items(nil, []byte("ab"))})
	o, err := Parse(bytes.NewReader(undefined), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.WriteAs(io.Discard, Syntax{UID: ImplicitVRLittleEndian}, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("native Pixel Data of undefined length: %v", err)
	}
	// Encapsulated icon in a native syntax cannot go implicit.
	ds := &Dataset{}
	icon := &Dataset{}
	icon.Set(&Element{Tag: PixelData, VR: "OB", Value: Fragments([]byte("icon"))})
	ds.Set(&Element{Tag: NewTag(0x0088, 0x0200), VR: "SQ", Items: []*Dataset{icon}})
	var b bytes.Buffer
	if err := Encode(&b, NewMeta("1.2", "1.3", explicit), ds, explicit); err != nil {
		t.Fatal(err)
	}
	o, _ = Parse(bytes.NewReader(b.Bytes()), Limits{})
	if _, err := o.WriteAs(io.Discard, Syntax{UID: ImplicitVRLittleEndian}, nil); err == nil {
		t.Error("encapsulated Pixel Data written in implicit VR")
	}
	// No Pixel Data at all.
	o, _ = Parse(bytes.NewReader(imageFile(t, ImplicitVRLittleEndian, 2, 2, 8, 1, nil)), Limits{})
	var out bytes.Buffer
	if _, err := o.WriteAs(&out, explicit, nil); err != nil {
		t.Fatal(err)
	}
	if o2, err := Parse(&out, Limits{}); err != nil || o2.HasPixelData() || o2.Dataset.String(SOPInstanceUID) != "1.2.3.4" {
		t.Errorf("no Pixel Data: %v", err)
	}
	// Unknown target.
	o, _ = Parse(bytes.NewReader(imageFile(t, ImplicitVRLittleEndian, 2, 2, 8, 1, nil)), Limits{})
	if _, err := o.WriteAs(io.Discard, Syntax{UID: "1.2.3"}, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown syntax: %v", err)
	}
	// A trailer's error stops the write.
	stop := errors.New("stop")
	in, _ := sampleFile(t, ExplicitVRBigEndian)
	o, _ = Parse(bytes.NewReader(in), Limits{})
	if _, err := o.WriteAs(io.Discard, explicit, func(*Dataset) error { return stop }); err != stop {
		t.Errorf("trailer error: %v", err)
	}
	// A truncated big-endian source.
	o, _ = Parse(bytes.NewReader(in[:len(in)-40]), Limits{})
	if _, err := o.WriteAs(io.Discard, explicit, nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated: %v", err)
	}
}
