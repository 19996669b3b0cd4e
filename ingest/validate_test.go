package ingest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// UIDProblem accepts exactly the UIDs of PS3.5 section 9.1 and says what
// is wrong with anything else, without quoting it.
func TestUIDProblem(t *testing.T) {
	long := "1." + strings.Repeat("2", 62)                      // 64 characters
	root := "2.25." + "302934848105215926331717281398432106329" // a UUID-derived UID
	junk := strings.Repeat("1.22.333.", 33) + "4"               // 298 characters
	for _, c := range []struct {
		value string
		want  string // "" for a valid UID, else a fragment of the problem
	}{
		{"1.2", ""},
		{"0.0", ""},
		{"1.2.840.10008.5.1.4.1.1.2", ""},
		{"1.2.840.10008.1.2.1\x00", ""}, // odd length, padded with its one NUL
		{root, ""},
		{long, ""},
		{"", "is empty"},
		{"\x00", "is empty"},
		{"1", "single component"},
		{"12", "single component"},
		{"../../etc/passwd", "other than a digit or a dot at position 3"},
		{"/", "other than a digit or a dot at position 1"},
		{junk, "298 characters"},
		{long + "3", "65 characters"},
		{"1.2\x00.3", "NUL byte at position 4"},
		{"1.2.3\x00\x00", "NUL byte at position 6"},
		{"1.2.3 ", "space at position 6"},
		{" 1.2.3", "space at position 1"},
		{"1.2.3\n", "other than a digit or a dot at position 6"},
		{"1..2", "empty component (component 2)"},
		{".1.2", "empty component (component 1)"},
		{"1.2.", "empty component (component 3)"},
		{"1.02", "leading zero in component 2"},
		{"01.2", "leading zero in component 1"},
		{"1.2.00", "leading zero in component 3"},
		{`1.2\1.3`, "more than one value"},
		{"1.2.3a", "position 6"},
		{"１.2", "position 1"}, // a full-width digit is not a digit
	} {
		got := UIDProblem([]byte(c.value))
		switch {
		case c.want == "" && got != "":
			t.Errorf("UIDProblem(%q) = %q, want valid", c.value, got)
		case c.want != "" && got == "":
			t.Errorf("UIDProblem(%q) accepted it", c.value)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("UIDProblem(%q) = %q, want it to say %q", c.value, got, c.want)
		}
		if got != "" && len(c.value) > 3 && strings.Contains(got, strings.Trim(c.value, "\x00 ")) {
			t.Errorf("UIDProblem(%q) = %q quotes the value", c.value, got)
		}
	}
}

// uidReference is PS3.5 9.1 through dicom.ValidUID: one trailing NUL of
// padding removed, then the component grammar and the 64-character limit
// (which ValidUID leaves to its caller).
func uidReference(v []byte) bool {
	u := strings.TrimSuffix(string(v), "\x00")
	return len(u) <= MaxUIDLen && dicom.ValidUID(u)
}

// UIDProblem and dicom.ValidUID agree on the grammar of UIDs: they differ
// only where dicom leaves checks to its callers (length, padding).
func TestUIDProblemMatchesValidUID(t *testing.T) {
	for _, s := range uidSeeds() {
		if got, want := UIDProblem([]byte(s)) == "", uidReference([]byte(s)); got != want {
			t.Errorf("%q: UIDProblem valid = %v, reference = %v", s, got, want)
		}
	}
}

func uidSeeds() []string {
	return []string{"", "1", "1.2", "0.0", "00.1", "1.2.3\x00", "1.2\x00", "1.2.3 ", "1.2.3\n", "1.2\n.3", "1.2.",
		"..", "1.2\\3.4", "../../etc/passwd", "/", "1.2\x00.3", "1." + strings.Repeat("9", 62), "1." + strings.Repeat("9", 63),
		"2.25.302934848105215926331717281398432106329", "1.2.840.10008.1.2.1\x00"}
}

// The same agreement on whatever the fuzzer finds: the validator is fed
// values straight from uploaded files.
func FuzzUIDProblem(f *testing.F) {
	for _, s := range uidSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		p := UIDProblem(v)
		if got, want := p == "", uidReference(v); got != want {
			t.Fatalf("%q: UIDProblem = %q, reference valid = %v", v, p, want)
		}
	})
}

// The image SOP classes are registered storage UIDs, and the list keeps
// out the classes whose IODs have no (or only conditional) pixel data.
func TestImageSOPClasses(t *testing.T) {
	for uid, name := range imageSOPClasses {
		if p := UIDProblem([]byte(uid)); p != "" || !strings.HasPrefix(uid, "1.2.840.10008.5.1.4.1.1.") {
			t.Errorf("%s (%s): not a storage SOP class UID: %s", uid, name, p)
		}
		if !strings.HasSuffix(strings.TrimSuffix(name, " (Retired)"), "Storage") &&
			!strings.Contains(name, "Storage - For") {
			t.Errorf("%s: name %q is not a storage SOP class's", uid, name)
		}
	}
	for _, uid := range []string{
		"1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.1", // the real files'
		"1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.2",
		"1.2.840.10008.5.1.4.1.1.77.1.6", "1.2.840.10008.5.1.4.1.1.481.1", "1.2.840.10008.5.1.4.1.1.1.2",
	} {
		if _, ok := imageSOPClasses[uid]; !ok {
			t.Errorf("image SOP class %s missing", uid)
		}
	}
	for _, uid := range []string{
		"1.2.840.10008.5.1.4.1.1.88.33",    // Comprehensive SR
		"1.2.840.10008.5.1.4.1.1.104.1",    // Encapsulated PDF
		"1.2.840.10008.5.1.4.1.1.481.2",    // RT Dose: pixel data only for grid-based dose
		"1.2.840.10008.5.1.4.1.1.481.3",    // RT Structure Set
		"1.2.840.10008.5.1.4.1.1.481.5",    // RT Plan
		"1.2.840.10008.5.1.4.1.1.4.2",      // MR Spectroscopy
		"1.2.840.10008.5.1.4.1.1.11.1",     // Grayscale Softcopy Presentation State
		"1.2.840.10008.5.1.4.1.1.88.59",    // Key Object Selection
		"1.2.840.10008.5.1.4.1.1.9.1.1",    // 12-lead ECG
		"1.2.840.10008.5.1.4.1.1.66.5",     // Surface Segmentation
		"1.2.840.10008.5.1.4.1.1.66.1",     // Spatial Registration
		"1.2.840.10008.5.1.4.1.1.78.1",     // Lensometry Measurements
		"1.2.840.10008.5.1.4.1.1.77.1.5.3", // Stereometric Relationship
	} {
		if name, ok := imageSOPClasses[uid]; ok {
			t.Errorf("%s (%s) has no mandatory pixel data but is listed", uid, name)
		}
	}
}

// encodeMeta returns a file's start: preamble (or none), meta group with
// the given raw Transfer Syntax UID value, and a data set element.
func encodeMeta(t *testing.T, preamble bool, syntax []byte) []byte {
	t.Helper()
	meta := dicom.NewMeta("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", dicom.Syntax{UID: "1.2.840.10008.1.2.1"})
	meta.Set(&dicom.Element{Tag: dicom.TransferSyntaxUID, VR: "UI", Value: syntax})
	ds := &dicom.Dataset{}
	ds.SetString(dicom.SOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.2")
	var b bytes.Buffer
	if err := dicom.Encode(&b, meta, ds, dicom.Syntax{UID: "1.2.840.10008.1.2.1"}); err != nil {
		t.Fatal(err)
	}
	if !preamble {
		return b.Bytes()[132:]
	}
	return b.Bytes()
}

// metaTransferSyntax finds (0002,0010) as written, with or without the
// preamble, and gives up on anything that is not a meta group.
func TestMetaTransferSyntax(t *testing.T) {
	for _, v := range [][]byte{[]byte("1.2.840.10008.1.2.1\x00"), []byte("../../etc/passwd"),
		[]byte(strings.Repeat("1.2.", 75)), []byte("1.2\x00.3")} {
		for _, pre := range []bool{true, false} {
			got, err := metaTransferSyntax(bytes.NewReader(encodeMeta(t, pre, v)))
			if err != nil || !bytes.Equal(got, v) {
				t.Errorf("preamble %v, %q: got %q, %v", pre, v, got, err)
			}
		}
	}
	full := encodeMeta(t, true, []byte("1.2.840.10008.1.2.1\x00"))
	for _, bad := range [][]byte{nil, []byte("not DICOM at all"), full[:140], full[:132+12]} {
		if got, err := metaTransferSyntax(bytes.NewReader(bad)); err == nil {
			t.Errorf("%d bytes: found %q", len(bad), got)
		}
	}
	huge := encodeMeta(t, true, bytes.Repeat([]byte("1."), 3000))
	if _, err := metaTransferSyntax(bytes.NewReader(huge)); err == nil || errors.Is(err, errNoSyntax) {
		t.Errorf("an oversized element: %v, want a length error", err)
	}
}
