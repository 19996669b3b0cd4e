package dicom

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	sdicom "github.com/suyashkumar/dicom"
	stag "github.com/suyashkumar/dicom/pkg/tag"
)

// realDir returns the directory of the shared real test files: fatal in
// CI when missing, skipped elsewhere.
func realDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "testdata", "real")
	if _, err := os.Stat(filepath.Join(dir, "1.dcm")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real test files: %v", err)
		}
		t.Skipf("real test files: %v", err)
	}
	return dir
}

var realFiles = []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"}

func readReal(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(realDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawPixelData returns the encoded Pixel Data element (header and value)
// of a DICOM file, read with this package's decoder but not its writer.
func rawPixelData(t testing.TB, file []byte) []byte {
	t.Helper()
	o, err := Parse(bytes.NewReader(file), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if o.src == nil {
		return nil
	}
	var b bytes.Buffer
	if err := o.src.copyPixelData(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRealRoundTrip(t *testing.T) {
	for _, name := range realFiles {
		t.Run(name, func(t *testing.T) {
			in := readReal(t, name)
			o, err := Parse(bytes.NewReader(in), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if o.Dataset.String(SOPInstanceUID) == "" {
				t.Fatal("no SOP Instance UID")
			}
			var out bytes.Buffer
			n, err := o.Write(&out, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(out.Len()) {
				t.Errorf("Write returned %d, wrote %d", n, out.Len())
			}
			if _, err := o.Write(io.Discard, nil); err != errWritten {
				t.Errorf("second Write: %v", err)
			}
			o2, err := Parse(bytes.NewReader(out.Bytes()), Limits{})
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			if !o.Dataset.Equal(o2.Dataset) {
				t.Error("data set changed by the round trip")
			}
			if o.Syntax != o2.Syntax {
				t.Errorf("syntax %v, then %v", o.Syntax, o2.Syntax)
			}
			if !bytes.Equal(rawPixelData(t, in), rawPixelData(t, out.Bytes())) {
				t.Error("Pixel Data bytes differ")
			}
			// The peer: suyashkumar/dicom's full parser reads what we wrote.
			peer, err := sdicom.Parse(bytes.NewReader(out.Bytes()), int64(out.Len()), nil)
			if err != nil {
				t.Fatalf("peer parse: %v", err)
			}
			el, err := peer.FindElementByTag(stag.SOPInstanceUID)
			if err != nil {
				t.Fatalf("peer: %v", err)
			}
			if got := sdicom.MustGetStrings(el.Value); len(got) != 1 || got[0] != o.Dataset.String(SOPInstanceUID) {
				t.Errorf("peer SOP Instance UID %q, want %q", got, o.Dataset.String(SOPInstanceUID))
			}
			if o.Syntax.Deflated {
				return // the peer does not inflate
			}
			pd, err := peer.FindElementByTag(stag.PixelData)
			if err != nil {
				t.Fatalf("peer: %v", err)
			}
			info := sdicom.MustGetPixelDataInfo(pd.Value)
			if len(info.Frames) == 0 {
				t.Error("peer sees no frames")
			}
			if dcmdump, err := exec.LookPath("dcmdump"); err == nil {
				p := filepath.Join(t.TempDir(), "out.dcm")
				os.WriteFile(p, out.Bytes(), 0o600)
				if b, err := exec.Command(dcmdump, "-q", p).CombinedOutput(); err != nil || bytes.Contains(b, []byte("E: ")) {
					t.Errorf("dcmdump: %v\n%s", err, b)
				}
			}
		})
	}
}

func TestRealTruncated(t *testing.T) {
	in := readReal(t, "1.dcm")
	o, err := Parse(bytes.NewReader(in), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	full := o
	headerEnd := int(o.src.off) // not deflated: offsets are file offsets
	boundaries := 0
	defer func() { t.Logf("%d cuts fell between top-level elements", boundaries) }()
	for cut := 0; cut < len(in); cut += 1 + cut/50 {
		o, err := Parse(bytes.NewReader(in[:cut]), Limits{})
		if cut < headerEnd {
			if err == nil {
				// A cut exactly between two top-level elements looks like
				// a file without Pixel Data; it must at least be a prefix.
				if !isPrefix(o.Dataset, full.Dataset) || o.src != nil {
					t.Fatalf("cut at %d of header ending at %d: parsed to a non-prefix", cut, headerEnd)
				}
				boundaries++
				continue
			}
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotDICOM) {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("cut at %d after the header: %v", cut, err)
		}
		if _, err := o.Write(io.Discard, nil); cut < len(in) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d in Pixel Data: Write: %v", cut, err)
		}
	}
}

// isPrefix reports whether a holds the first elements of b, unchanged.
func isPrefix(a, b *Dataset) bool {
	if len(a.Elements) >= len(b.Elements) {
		return false
	}
	return a.Equal(&Dataset{Elements: b.Elements[:len(a.Elements)]})
}

func TestRealLimits(t *testing.T) {
	in := readReal(t, "1.dcm")
	if _, err := Parse(bytes.NewReader(in), Limits{MaxHeader: 4096}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxHeader 4096: %v", err)
	}
	if _, err := Parse(bytes.NewReader(in), Limits{MaxDepth: 1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("MaxDepth 1 on doubly nested sequences: %v", err)
	}
	if _, err := Parse(bytes.NewReader(in), Limits{MaxDepth: 2}); err != nil {
		t.Errorf("MaxDepth 2: %v", err)
	}
}
