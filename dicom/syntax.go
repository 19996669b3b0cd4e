package dicom

import "fmt"

// Transfer syntax UIDs the gateway names in code.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	JPEGBaseline                   = "1.2.840.10008.1.2.4.50"
	RLELossless                    = "1.2.840.10008.1.2.5"
)

// Syntax describes how a data set is encoded: the properties of a transfer
// syntax this package needs to read and write it.
type Syntax struct {
	UID          string
	Implicit     bool // implicit VR (else explicit)
	BigEndian    bool // big-endian binary values (else little-endian)
	Deflated     bool // everything after the file meta group is raw-deflated (PS3.5 A.5)
	Encapsulated bool // Pixel Data is a sequence of fragments of undefined length
}

// encapsulatedSyntaxes lists the encapsulated transfer syntaxes
// (explicit VR little endian with compressed, fragmented Pixel Data).
var encapsulatedSyntaxes = []string{
	"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", // JPEG baseline, extended
	"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", // JPEG lossless
	"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", // JPEG-LS
	"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", // JPEG 2000
	"1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93", // JPEG 2000 multi-component
	"1.2.840.10008.1.2.4.94", "1.2.840.10008.1.2.4.95", // JPIP referenced
	"1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102",
	"1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105",
	"1.2.840.10008.1.2.4.106", "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108", // MPEG-2/4, HEVC
	"1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112", // JPEG XL
	"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203", // HTJ2K
	"1.2.840.10008.1.2.5",   // RLE lossless
	"1.2.840.10008.1.2.8.1", // deflated image frame compression: frames are deflated, the data set is not
}

// LookupSyntax returns the Syntax of the transfer syntax uid (trailing
// padding allowed). An unknown or unsupported UID is an error wrapping
// ErrUnsupported.
func LookupSyntax(uid string) (Syntax, error) {
	uid = trimUID(uid)
	switch uid {
	case ImplicitVRLittleEndian:
		return Syntax{UID: uid, Implicit: true}, nil
	case ExplicitVRLittleEndian:
		return Syntax{UID: uid}, nil
	case ExplicitVRBigEndian:
		return Syntax{UID: uid, BigEndian: true}, nil
	case DeflatedExplicitVRLittleEndian:
		return Syntax{UID: uid, Deflated: true}, nil
	}
	for _, u := range encapsulatedSyntaxes {
		if u == uid {
			return Syntax{UID: uid, Encapsulated: true}, nil
		}
	}
	return Syntax{}, fmt.Errorf("dicom: transfer syntax %q: %w", uid, ErrUnsupported)
}

// trimUID removes the NUL or space padding of a UI value.
func trimUID(s string) string {
	for len(s) > 0 && (s[len(s)-1] == 0 || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
