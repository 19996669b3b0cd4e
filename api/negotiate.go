package api

import (
	"mime"
	"slices"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/catalog"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/render"
)

// Content negotiation of DICOMweb responses (PS3.18 8.7): the Accept
// header's media ranges, their type and transfer-syntax parameters, and
// what each resource can be sent as. What cannot be produced is 406.

// mediaRange is one element of an Accept header.
type mediaRange struct {
	mediaType string            // lower case, "*/*" and "type/*" included
	params    map[string]string // names lower case, values as sent
	q         float64
}

// parseAccept reads an Accept header, most preferred first (q descending,
// then as listed); elements that do not parse and those with q=0 are left
// out. No header accepts anything.
func parseAccept(h string) []mediaRange {
	if strings.TrimSpace(h) == "" {
		return []mediaRange{{mediaType: "*/*", q: 1}}
	}
	var out []mediaRange
	for _, el := range splitAccept(h) {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(el))
		if err != nil {
			continue
		}
		r := mediaRange{mediaType: mt, params: params, q: 1}
		if qs, ok := params["q"]; ok {
			q, err := strconv.ParseFloat(qs, 64)
			if err != nil || q < 0 || q > 1 {
				continue
			}
			r.q = q
		}
		if r.q > 0 {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b mediaRange) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	return out
}

// splitAccept splits an Accept header at the commas between its elements,
// not at those inside quoted parameter values.
func splitAccept(h string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(h); i++ {
		switch h[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, h[start:i])
				start = i + 1
			}
		}
	}
	return append(out, h[start:])
}

// covers reports whether the range takes the media type mt.
func (r mediaRange) covers(mt string) bool {
	if r.mediaType == "*/*" || r.mediaType == mt {
		return true
	}
	typ, _, _ := strings.Cut(mt, "/")
	return r.mediaType == typ+"/*"
}

// partType is the type parameter of a multipart/related range (its parts'
// media type), or "" when it names none.
func (r mediaRange) partType() string { return strings.ToLower(r.params["type"]) }

// notAcceptable is the 406 of a resource that has none of the types the
// request accepts.
func notAcceptable(accept, offered string) error {
	return trialgate.Errorf(trialgate.ENotAcceptable, "Accept %q: this resource is available as %s", clip(accept), offered)
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

const octets = "application/octet-stream"

// acceptJSON checks that a DICOM JSON answer (QIDO-RS, metadata, the
// STOW-RS response) is acceptable.
func acceptJSON(accept string) error {
	for _, r := range parseAccept(accept) {
		if r.covers(mediaDICOMJSON) || r.covers("application/json") {
			return nil
		}
	}
	return notAcceptable(accept, mediaDICOMJSON)
}

// The transfer syntax a native object is sent in when the request names
// none: PS3.18's default for application/dicom.
var defaultSyntax, _ = dicom.LookupSyntax(dicom.ExplicitVRLittleEndian)

// instanceNegotiation negotiates a WADO-RS retrieval of instances:
// multipart/related of application/dicom parts (or, for one instance,
// application/dicom alone when that is preferred), each instance in the
// first transfer syntax the request accepts that can be produced without
// loss: as stored for transfer-syntax=* (implicit VR and big endian
// objects in explicit VR little endian), explicit VR little endian by
// default (compressed objects are
// then sent as stored: nothing here decompresses).
func instanceNegotiation(accept string, single bool) (multipart bool, negotiate catalog.Negotiator, err error) {
	var ranges []mediaRange
	for _, r := range parseAccept(accept) {
		switch {
		case r.mediaType == "multipart/related" && (r.partType() == "" || r.partType() == mediaDICOM),
			r.mediaType == "multipart/*", r.mediaType == "*/*":
			if len(ranges) == 0 {
				multipart = true
			}
		case r.mediaType == mediaDICOM && single:
			if len(ranges) == 0 {
				multipart = false
			}
		default:
			continue
		}
		ranges = append(ranges, r)
	}
	if len(ranges) == 0 {
		return false, nil, notAcceptable(accept, `multipart/related; type="application/dicom"`)
	}
	negotiate = func(stored dicom.Syntax) (dicom.Syntax, bool) {
		for _, r := range ranges {
			if (r.mediaType == mediaDICOM) == multipart {
				continue // the representation is chosen by the first range
			}
			ts, named := r.params["transfer-syntax"]
			switch {
			case !named || ts == "":
				if dicom.CanTranscode(stored, defaultSyntax) || catalog.Decompresses(stored, defaultSyntax) {
					return defaultSyntax, true
				}
				if stored.Encapsulated {
					return stored, true // not decoded here: as stored
				}
			case ts == "*" && (stored.BigEndian || stored.Implicit) && dicom.CanTranscode(stored, defaultSyntax):
				// "Implicit VR Little Endian and Explicit VR Big Endian
				// shall not be used with Web Services" (PS3.18 6.1.1.8):
				// "any" is answered in explicit VR little endian. Asked
				// for by name, they are still sent as asked.
				return defaultSyntax, true
			case ts == "*" || ts == stored.UID:
				return stored, true
			default:
				if want, err := dicom.LookupSyntax(ts); err == nil && (dicom.CanTranscode(stored, want) || catalog.Decompresses(stored, want)) {
					return want, true
				}
			}
		}
		return dicom.Syntax{}, false
	}
	return multipart, negotiate, nil
}

// frameNegotiation negotiates a WADO-RS retrieval of frames (or of the
// Pixel Data as bulk data): multipart/related whose parts are
// application/octet-stream for uncompressed frames, or the compressed
// frames' own media type (image/jpeg, image/jp2, ...). Compressed frames
// asked for as application/octet-stream are decoded where that can be
// done without loss (RLE, JPEG Lossless), else refused; with
// transfer-syntax=* they are taken as they are.
func frameNegotiation(accept string) (catalog.FrameNegotiator, error) {
	var ranges []mediaRange
	for _, r := range parseAccept(accept) {
		if r.mediaType == "multipart/related" || r.mediaType == "multipart/*" || r.mediaType == "*/*" {
			ranges = append(ranges, r)
		}
	}
	if len(ranges) == 0 {
		return nil, notAcceptable(accept, `multipart/related; type="application/octet-stream" (uncompressed frames) or the compressed frames' media type`)
	}
	return func(stored dicom.Syntax) (string, bool, bool) {
		native := stored.FrameMediaType()
		if native == "" {
			// PS3.18 names no frame media type for this syntax (deflated
			// image frames, JPIP): octet-stream, with the transfer-syntax
			// parameter saying what the bytes are.
			native = octets
		}
		decodes := catalog.Decompresses(stored, defaultSyntax)
		for _, r := range ranges {
			pt := r.partType()
			ts := r.params["transfer-syntax"]
			uncompressed := ts == "" || ts == dicom.ExplicitVRLittleEndian || ts == dicom.ImplicitVRLittleEndian
			switch {
			case pt == "" || pt == "*/*" || r.mediaType != "multipart/related":
				return native, false, true
			case pt == octets && (ts == "*" || ts == stored.UID || !stored.Encapsulated && uncompressed):
				return octets, false, true
			case pt == octets && decodes && uncompressed:
				return octets, true, true
			case (mediaRange{mediaType: pt}).covers(native) && (ts == "" || ts == "*" || ts == stored.UID):
				return native, false, true
			}
		}
		return "", false, false
	}, nil
}

// renderedType negotiates a rendered or thumbnail resource: the first of
// render.MediaTypes the request accepts.
func renderedType(accept string) (string, error) {
	for _, r := range parseAccept(accept) {
		for _, mt := range render.MediaTypes() {
			if r.covers(mt) {
				return mt, nil
			}
		}
	}
	return "", notAcceptable(accept, strings.Join(render.MediaTypes(), ", "))
}
