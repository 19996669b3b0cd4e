package deid

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// realDir holds the real test files (TCIA and others, see their README).
var realDir = filepath.Join("..", "testdata", "real")

func realFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(realDir, name))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return b
}

// Real files: de-identified, written and parsed again; the Pixel Data
// element is byte for byte the input's; the original identifiers are gone.
func TestDeidRealFiles(t *testing.T) {
	p := mustProfile(t, Config{Options: []string{RetainLongModifiedDates}})
	for _, name := range []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"} {
		t.Run(name, func(t *testing.T) {
			in := realFile(t, name)
			o, err := dicom.Parse(bytes.NewReader(in), dicom.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			origName, origID := o.Dataset.String(dicom.PatientName), o.Dataset.String(dicom.PatientID)
			res, err := p.Apply(o.Meta, o.Dataset, subj)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := o.Write(&out, func(tr *dicom.Dataset) error { return p.Trailer(tr, subj, res) }); err != nil {
				t.Fatal(err)
			}
			back, err := dicom.Parse(bytes.NewReader(out.Bytes()), dicom.Limits{})
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			ds := back.Dataset
			if ds.String(dicom.SOPInstanceUID) != res.SOPInstanceUID || back.Meta.String(dicom.MediaStorageSOPInstanceUID) != res.SOPInstanceUID {
				t.Errorf("SOP Instance UID %q, meta %q, result %q", ds.String(dicom.SOPInstanceUID), back.Meta.String(dicom.MediaStorageSOPInstanceUID), res.SOPInstanceUID)
			}
			if ds.String(dicom.PatientIdentityRemoved) != "YES" || ds.String(dicom.PatientID) != subj.Subject {
				t.Error("de-identification not recorded")
			}
			for _, v := range []string{origName, origID} {
				if len(v) >= 6 && v != subj.Subject && bytes.Contains(out.Bytes(), []byte(v)) {
					t.Errorf("original identifier %q in the output", v)
				}
			}
			ds.Walk(func(_ []*dicom.Element, e *dicom.Element) bool {
				if e.Tag.IsPrivate() {
					t.Errorf("private %s in the output", e.Tag)
				}
				return true
			})
			if o.Syntax.Deflated {
				t.Logf("%s is deflated: Pixel Data compared by the codec's tests", name)
				return
			}
			a, b := pixelTail(in), pixelTail(out.Bytes())
			if a == nil || !bytes.Equal(a, b) {
				t.Errorf("Pixel Data differs: %d input bytes, %d output bytes", len(a), len(b))
			}
			t.Logf("%s: %+v hold=%q", name, res.Counts, res.Hold)
		})
	}
}

// pixelTail returns the top-level Pixel Data element and what follows it:
// the first (7FE0,0010) whose encoded length reaches the end of the file
// (an icon's Pixel Data inside a sequence does not).
func pixelTail(b []byte) []byte {
	tag := []byte{0xE0, 0x7F, 0x10, 0x00}
	le := binary.LittleEndian
	for i := 0; ; {
		j := bytes.Index(b[i:], tag)
		if j < 0 {
			return nil
		}
		i += j
		rest := b[i:]
		if len(rest) >= 12 && (string(rest[4:6]) == "OW" || string(rest[4:6]) == "OB") {
			n := le.Uint32(rest[8:12])
			if n == 0xFFFFFFFF || int(n)+12 <= len(rest) && int(n)+12 >= len(rest)-16 {
				return rest
			}
		}
		if len(rest) >= 8 {
			if n := le.Uint32(rest[4:8]); int(n)+8 <= len(rest) && int(n)+8 >= len(rest)-16 {
				return rest
			}
		}
		i++
	}
}

// clone deep-copies a data set, so that a benchmark applies the profile
// to a fresh header each time.
func clone(d *dicom.Dataset) *dicom.Dataset {
	out := &dicom.Dataset{Elements: make([]*dicom.Element, len(d.Elements))}
	for i, e := range d.Elements {
		c := *e
		if e.Items != nil {
			c.Items = make([]*dicom.Dataset, len(e.Items))
			for j, it := range e.Items {
				c.Items[j] = clone(it)
			}
		}
		out.Elements[i] = &c
	}
	return out
}

// BenchmarkApply de-identifies real headers (CT and PET); the clone of the
// header each iteration needs is measured by BenchmarkClone.
func BenchmarkApply(b *testing.B) {
	for _, name := range []string{"5.dcm", "1.dcm"} {
		o, err := dicom.Parse(bytes.NewReader(realFile(b, name)), dicom.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		for _, opts := range [][]string{nil, {RetainLongModifiedDates, CleanDescriptors, RetainSafePrivate}} {
			p := mustProfile(b, Config{Options: opts})
			b.Run(name+"/"+strings.Join(append([]string{"basic"}, opts...), "+"), func(b *testing.B) {
				b.ReportAllocs()
				n := 0
				o.Dataset.Walk(func([]*dicom.Element, *dicom.Element) bool { n++; return true })
				for b.Loop() {
					if _, err := p.Apply(clone(o.Meta), clone(o.Dataset), subj); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n), "elements")
			})
		}
	}
}

func BenchmarkClone(b *testing.B) {
	o, err := dicom.Parse(bytes.NewReader(realFile(b, "5.dcm")), dicom.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		clone(o.Meta)
		clone(o.Dataset)
	}
}
