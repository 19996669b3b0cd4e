package api

import (
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

func TestAcceptJSON(t *testing.T) {
	tests := []struct {
		accept string
		ok     bool
	}{
		{"", true},
		{"*/*", true},
		{"application/*", true},
		{"application/dicom+json", true},
		{"application/json; q=0.9", true},
		{"application/dicom+json; q=0", false},
		{`multipart/related; type="application/dicom"`, false},
		{`multipart/related; type="application/dicom+xml"`, false},
		{"text/html, application/xml", false},
		{"text/html, application/dicom+json;q=0.1", true},
	}
	for _, tt := range tests {
		err := acceptJSON(tt.accept)
		if (err == nil) != tt.ok {
			t.Errorf("acceptJSON(%q) = %v, want ok %v", tt.accept, err, tt.ok)
		}
		if err != nil && trialgate.ErrorCode(err) != trialgate.ENotAcceptable {
			t.Errorf("acceptJSON(%q): code %q, want not_acceptable", tt.accept, trialgate.ErrorCode(err))
		}
	}
}

func syntax(t *testing.T, uid string) dicom.Syntax {
	t.Helper()
	s, err := dicom.LookupSyntax(uid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Each Accept header, for objects stored in each syntax: the representation
// and the transfer syntax sent, or 406.
func TestInstanceNegotiation(t *testing.T) {
	const (
		implicit = dicom.ImplicitVRLittleEndian
		explicit = dicom.ExplicitVRLittleEndian
		deflated = dicom.DeflatedExplicitVRLittleEndian
		jpeg     = dicom.JPEGBaseline
		big      = dicom.ExplicitVRBigEndian
	)
	tests := []struct {
		accept    string
		single    bool
		stored    string
		multipart bool
		send      string // "" for 406
	}{
		{"", false, implicit, true, explicit},
		{"", false, jpeg, true, jpeg},
		{"*/*", true, explicit, true, explicit},
		{`multipart/related; type="application/dicom"`, false, implicit, true, explicit},
		{`multipart/related; type="application/dicom"; transfer-syntax=*`, false, implicit, true, explicit},
		{`multipart/related; type="application/dicom"; transfer-syntax=*`, false, deflated, true, deflated},
		{`multipart/related; type="application/dicom"; transfer-syntax=*`, false, jpeg, true, jpeg},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2`, false, explicit, true, implicit},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`, false, deflated, true, explicit},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`, false, big, true, explicit},
		{`multipart/related; type="application/dicom"; transfer-syntax=*`, false, big, true, explicit},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.2`, false, big, true, big},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1`, false, jpeg, true, ""},
		{"", false, jpegLossless, true, explicit},      // decompressed: lossless
		{"", false, dicom.RLELossless, true, explicit}, // decompressed: lossless
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2`, false, dicom.RLELossless, true, implicit},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1.99`, false, dicom.RLELossless, true, ""},
		{`multipart/related; type="application/dicom"; transfer-syntax=*`, false, jpegLossless, true, jpegLossless},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50`, false, explicit, true, ""},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50`, false, jpeg, true, jpeg},
		{`multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50, multipart/related; type="application/dicom"; transfer-syntax=*; q=0.5`,
			false, explicit, true, explicit},
		{`multipart/related; type="application/dicom"; transfer-syntax=9.9.9`, false, explicit, true, ""},
		{"application/dicom", true, implicit, false, explicit},
		{"application/dicom; transfer-syntax=*", true, jpeg, false, jpeg},
		{"application/dicom; transfer-syntax=1.2.840.10008.1.2", true, explicit, false, implicit},
	}
	for _, tt := range tests {
		multi, negotiate, err := instanceNegotiation(tt.accept, tt.single)
		if err != nil {
			t.Errorf("instanceNegotiation(%q): %v", tt.accept, err)
			continue
		}
		if multi != tt.multipart {
			t.Errorf("instanceNegotiation(%q): multipart %v, want %v", tt.accept, multi, tt.multipart)
		}
		send, ok := negotiate(syntax(t, tt.stored))
		switch {
		case tt.send == "" && ok:
			t.Errorf("%q, stored %s: sends %s, want 406", tt.accept, tt.stored, send.UID)
		case tt.send != "" && (!ok || send.UID != tt.send):
			t.Errorf("%q, stored %s: sends %s (ok %v), want %s", tt.accept, tt.stored, send.UID, ok, tt.send)
		}
	}
	for _, accept := range []string{"application/dicom+json", `multipart/related; type="application/dicom+xml"`, "image/jpeg", "text/html"} {
		if _, _, err := instanceNegotiation(accept, false); trialgate.ErrorCode(err) != trialgate.ENotAcceptable {
			t.Errorf("instanceNegotiation(%q) = %v, want not_acceptable", accept, err)
		}
	}
	if _, _, err := instanceNegotiation("application/dicom", false); trialgate.ErrorCode(err) != trialgate.ENotAcceptable {
		t.Errorf("application/dicom for a study: %v, want not_acceptable", err)
	}
}

const jpegLossless = "1.2.840.10008.1.2.4.70"

func TestFrameNegotiation(t *testing.T) {
	tests := []struct {
		accept, stored, want string // want "" for 406
		decode               bool
	}{
		{"", dicom.ExplicitVRLittleEndian, "application/octet-stream", false},
		{"", dicom.JPEGBaseline, "image/jpeg", false},
		{`multipart/related; type="application/octet-stream"`, dicom.ImplicitVRLittleEndian, "application/octet-stream", false},
		{`multipart/related; type="application/octet-stream"`, dicom.JPEGBaseline, "", false},
		{`multipart/related; type="application/octet-stream"`, jpegLossless, "application/octet-stream", true},
		{`multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1`, dicom.RLELossless, "application/octet-stream", true},
		{`multipart/related; type="application/octet-stream"; transfer-syntax=*`, dicom.RLELossless, "application/octet-stream", false},
		{`multipart/related; type="image/dicom-rle"`, dicom.RLELossless, "image/dicom-rle", false},
		{`multipart/related; type="application/octet-stream"; transfer-syntax=*`, dicom.JPEGBaseline, "application/octet-stream", false},
		{`multipart/related; type="image/jpeg"`, dicom.JPEGBaseline, "image/jpeg", false},
		{`multipart/related; type="image/jpeg"`, dicom.ExplicitVRLittleEndian, "", false},
		{`multipart/related; type="image/*"`, dicom.JPEGBaseline, "image/jpeg", false},
		{`multipart/related; type="image/jpeg", multipart/related; type="application/octet-stream"`, dicom.ExplicitVRLittleEndian, "application/octet-stream", false},
		{`multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70`, dicom.JPEGBaseline, "", false},
		{"", "1.2.840.10008.1.2.8.1", "application/octet-stream", false}, // deflated image frames: no media type of their own
	}
	for _, tt := range tests {
		negotiate, err := frameNegotiation(tt.accept)
		if err != nil {
			t.Errorf("frameNegotiation(%q): %v", tt.accept, err)
			continue
		}
		got, decode, ok := negotiate(syntax(t, tt.stored))
		if tt.want == "" && ok || tt.want != "" && got != tt.want || decode != tt.decode {
			t.Errorf("%q, stored %s: %q (decode %v, ok %v), want %q (decode %v)", tt.accept, tt.stored, got, decode, ok, tt.want, tt.decode)
		}
	}
	if _, err := frameNegotiation("application/dicom+json"); trialgate.ErrorCode(err) != trialgate.ENotAcceptable {
		t.Errorf("frames as JSON: %v, want not_acceptable", err)
	}
}

func TestRenderedType(t *testing.T) {
	tests := []struct{ accept, want string }{
		{"", "image/jpeg"},
		{"image/png", "image/png"},
		{"image/*", "image/jpeg"},
		{"image/png;q=0.5, image/jpeg", "image/jpeg"},
		{"application/dicom", ""},
	}
	for _, tt := range tests {
		got, err := renderedType(tt.accept)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("renderedType(%q) = %q, %v; want %q", tt.accept, got, err, tt.want)
		}
	}
}
