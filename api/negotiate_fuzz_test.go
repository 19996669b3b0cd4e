package api

import (
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

// FuzzNegotiate feeds arbitrary Accept headers (outside input) to every
// negotiation: none may panic, a refusal is always 406, and what is chosen
// is something the resource can be.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "*/*", `multipart/related; type="application/dicom"; transfer-syntax=*`,
		`multipart/related; type="application/octet-stream", image/png;q=0.5`, "application/dicom+json;q=0",
		`multipart/related; type="image/jpeg"; transfer-syntax="1.2.840.10008.1.2.4.50", text/html`, `a/b; q=1.5`, `"`, ","} {
		f.Add(s)
	}
	stored := []string{dicom.ImplicitVRLittleEndian, dicom.ExplicitVRLittleEndian, dicom.ExplicitVRBigEndian,
		dicom.DeflatedExplicitVRLittleEndian, dicom.JPEGBaseline, dicom.RLELossless, "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90"}
	f.Fuzz(func(t *testing.T, accept string) {
		check := func(what string, err error) {
			if err != nil && trialgate.ErrorCode(err) != trialgate.ENotAcceptable {
				t.Fatalf("%s(%q): %v", what, accept, err)
			}
		}
		check("acceptJSON", acceptJSON(accept))
		if mt, err := renderedType(accept); err == nil && mt == "" {
			t.Fatalf("renderedType(%q) chose nothing", accept)
		} else {
			check("renderedType", err)
		}
		frames, err := frameNegotiation(accept)
		check("frameNegotiation", err)
		for _, single := range []bool{false, true} {
			_, instances, err := instanceNegotiation(accept, single)
			check("instanceNegotiation", err)
			for _, uid := range stored {
				s, err := dicom.LookupSyntax(uid)
				if err != nil {
					t.Fatal(err)
				}
				if instances != nil {
					if send, ok := instances(s); ok && send.UID != s.UID && !dicom.CanTranscode(s, send) && !s.Encapsulated {
						t.Fatalf("%q: %s sent as %s, which it cannot be", accept, s.UID, send.UID)
					}
				}
				if frames != nil {
					if mt, _, ok := frames(s); ok && mt == "" {
						t.Fatalf("%q: frames of %s with no media type", accept, s.UID)
					}
				}
			}
		}
	})
}
