package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// DICOM JSON keys of the STOW-RS response attributes (PS3.18 10.5.3).
const (
	tagFailedSOPSequence     = "00081198"
	tagReferencedSOPSequence = "00081199"
	tagFailureReason         = "00081197"
	tagReferencedSOPInstance = "00081155"
)

// jsonElement is one attribute of a DICOM JSON object (PS3.18 F.2).
type jsonElement struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// jsonObject is a DICOM JSON data set, keyed by "ggggeeee".
type jsonObject map[string]jsonElement

// outcome is what one STOW-RS request achieved, as its response says.
type outcome struct {
	stored  int      // instances in the ReferencedSOPSequence
	failed  int      // instances failed or not accounted for
	reasons []string // one per failure, for the first few to be printed
}

// parseResponse reads a STOW-RS response for a request of sent instances.
// An instance counts as stored only if the response's ReferencedSOPSequence
// lists it; every other instance counts as failed: those in the
// FailedSOPSequence with their FailureReason, and any instance the response
// does not account for. A status other than 200, 202 or 409 whose body is
// not a DICOM JSON STOW-RS response (e.g. a JSON error) fails the whole
// request; with such a body (Orthanc answers 400 with the instances it did
// store when one part is not DICOM) the sequences are believed, and the
// status is reported.
func parseResponse(status int, body []byte, sent int) outcome {
	stowStatus := status == http.StatusOK || status == http.StatusAccepted || status == http.StatusConflict
	obj, err := decodeObject(body)
	if err != nil {
		if !stowStatus {
			return outcome{failed: sent, reasons: []string{fmt.Sprintf("HTTP %d: %s", status, snippet(body))}}
		}
		return outcome{failed: sent, reasons: []string{fmt.Sprintf("HTTP %d, unreadable response: %v: %s", status, err, snippet(body))}}
	}
	_, hasRefs := obj[tagReferencedSOPSequence]
	_, hasFails := obj[tagFailedSOPSequence]
	if !stowStatus && !hasRefs && !hasFails {
		return outcome{failed: sent, reasons: []string{fmt.Sprintf("HTTP %d: %s", status, snippet(body))}}
	}
	refs, err := obj.items(tagReferencedSOPSequence)
	if err != nil {
		return outcome{failed: sent, reasons: []string{fmt.Sprintf("HTTP %d: %v", status, err)}}
	}
	fails, err := obj.items(tagFailedSOPSequence)
	if err != nil {
		return outcome{failed: sent, reasons: []string{fmt.Sprintf("HTTP %d: %v", status, err)}}
	}
	var o outcome
	o.stored = min(len(refs), sent)
	for _, f := range fails {
		o.reasons = append(o.reasons, fmt.Sprintf("HTTP %d: %s", status, describeFailure(f)))
	}
	o.failed = sent - o.stored
	if missing := o.failed - len(fails); missing > 0 {
		o.reasons = append(o.reasons, fmt.Sprintf("HTTP %d: %d instance(s) neither stored nor failed in the response", status, missing))
	}
	return o
}

// decodeObject decodes a DICOM JSON response: one object, or an array of
// one object (as some servers send).
func decodeObject(body []byte) (jsonObject, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return jsonObject{}, nil
	}
	if body[0] == '[' {
		var arr []jsonObject
		if err := json.Unmarshal(body, &arr); err != nil {
			return nil, err
		}
		if len(arr) != 1 {
			return nil, fmt.Errorf("array of %d objects, want 1", len(arr))
		}
		return arr[0], nil
	}
	var obj jsonObject
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// items returns the items of the sequence attribute tag (none if absent).
func (o jsonObject) items(tag string) ([]jsonObject, error) {
	e, ok := o[tag]
	if !ok {
		return nil, nil
	}
	if e.VR != "" && e.VR != "SQ" {
		return nil, fmt.Errorf("%s has VR %s, want SQ", tag, e.VR)
	}
	out := make([]jsonObject, 0, len(e.Value))
	for i, raw := range e.Value {
		var item jsonObject
		if err := json.Unmarshal(raw, &item); err != nil {
			return nil, fmt.Errorf("%s item %d: %w", tag, i+1, err)
		}
		out = append(out, item)
	}
	return out, nil
}

// describeFailure renders one FailedSOPSequence item: its FailureReason,
// the instance's UID and any text the server added.
func describeFailure(item jsonObject) string {
	var b strings.Builder
	b.WriteString("FailureReason ")
	if e, ok := item[tagFailureReason]; ok && len(e.Value) > 0 {
		var code uint64
		if err := json.Unmarshal(e.Value[0], &code); err == nil {
			fmt.Fprintf(&b, "0x%04X", code)
		} else {
			b.Write(e.Value[0])
		}
	} else {
		b.WriteString("missing")
	}
	if uid := item.firstString(tagReferencedSOPInstance); uid != "" {
		fmt.Fprintf(&b, " (%s)", uid)
	}
	keys := make([]string, 0, len(item))
	for k := range item {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch item[k].VR {
		case "LO", "LT", "ST", "UT", "SH", "CS":
			if s := item.firstString(k); s != "" {
				fmt.Fprintf(&b, ": %s", s)
			}
		}
	}
	return b.String()
}

// firstString returns the first value of tag if it is a JSON string.
func (o jsonObject) firstString(tag string) string {
	e, ok := o[tag]
	if !ok || len(e.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(e.Value[0], &s) != nil {
		return ""
	}
	return s
}

// snippet returns the start of a response body for a message.
func snippet(body []byte) string {
	const limit = 200
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}
