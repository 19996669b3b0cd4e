package catalog

import (
	"encoding/json"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

// Level is a QIDO-RS query level.
type Level int

// The query levels.
const (
	StudyLevel Level = iota
	SeriesLevel
	InstanceLevel
)

func (l Level) String() string { return [...]string{"study", "series", "instance"}[l] }

// Query is a QIDO-RS search (PS3.18 10.6): the level, the UIDs of the
// path, the matching keys, the attributes to return beyond the level's
// defaults, and paging.
type Query struct {
	Level         Level
	Study, Series string // from the path; empty for a search of all studies, series or instances
	Keys          []Key
	// Include names attributes to return besides the defaults; All returns
	// every attribute of the matching instance's header.
	Include []dicom.Tag
	All     bool
	Fuzzy   bool // fuzzymatching=true: person names match by component prefix
	Limit   int
	Offset  int
}

// The paging bounds: a search without limit returns at most DefaultLimit
// matches, and no search more than MaxLimit (the Warning header says when
// there were more).
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// A Key is one matching key: an attribute (a path through sequences, for
// sequence matching) and the value it must match (PS3.4 C.2.2.2 as PS3.18
// 8.3.4 applies it).
type Key struct {
	Path  []dicom.Tag
	VR    string
	Value string
}

// Name is the key as a client writes it, for messages and the audit entry.
func (k Key) Name() string {
	names := make([]string, len(k.Path))
	for i, t := range k.Path {
		if _, kw, ok := dicom.Lookup(t); ok && kw != "" {
			names[i] = kw
		} else {
			names[i] = t.Hex()
		}
	}
	return strings.Join(names, ".")
}

// Attributes computed by the catalogue rather than read from a header.
var (
	tagInstanceAvailability = dicom.NewTag(0x0008, 0x0056)
	tagModalitiesInStudy    = dicom.NewTag(0x0008, 0x0061)
	tagRetrieveURL          = dicom.NewTag(0x0008, 0x1190)
	tagStudySeries          = dicom.NewTag(0x0020, 0x1206)
	tagStudyInstances       = dicom.NewTag(0x0020, 0x1208)
	tagSeriesInstances      = dicom.NewTag(0x0020, 0x1209)
)

// computed lists the attributes that are counts or URLs, never matched.
var computed = []dicom.Tag{tagInstanceAvailability, tagRetrieveURL, tagStudySeries, tagStudyInstances, tagSeriesInstances}

// ParseQuery reads QIDO-RS query parameters (PS3.18 8.3.4): matching keys
// by keyword or tag (dotted for sequence matching), includefield (a list,
// or "all"), fuzzymatching, limit and offset. Unknown parameters and
// malformed values are refused by name rather than ignored: a search that
// quietly matches everything would mislead.
func ParseQuery(level Level, study, series string, v url.Values) (Query, error) {
	q := Query{Level: level, Study: study, Series: series, Limit: DefaultLimit}
	for _, uid := range []string{study, series} {
		if uid != "" && !dicom.ValidUID(uid) {
			return Query{}, trialgate.Errorf(trialgate.EInvalid, "%q in the path is not a valid UID", clip(uid))
		}
	}
	params := make([]string, 0, len(v))
	for k := range v {
		params = append(params, k)
	}
	slices.Sort(params)
	for _, k := range params {
		vals := v[k]
		switch k {
		case "limit", "offset":
			val := vals[len(vals)-1]
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return Query{}, trialgate.Errorf(trialgate.EInvalid, "%s: %q is not a non-negative integer", k, clip(val))
			}
			if k == "limit" {
				q.Limit = min(max(n, 1), MaxLimit)
			} else {
				q.Offset = n
			}
		case "fuzzymatching":
			b, err := strconv.ParseBool(vals[len(vals)-1])
			if err != nil {
				return Query{}, trialgate.Errorf(trialgate.EInvalid, "fuzzymatching: %q is not true or false", clip(vals[len(vals)-1]))
			}
			q.Fuzzy = b
		case "includefield":
			for _, val := range vals {
				for _, f := range strings.Split(val, ",") {
					f = strings.TrimSpace(f)
					if f == "all" {
						q.All = true
						continue
					}
					path, err := attributePath(f)
					if err != nil {
						return Query{}, trialgate.Errorf(trialgate.EInvalid, "includefield: %v", err)
					}
					q.Include = append(q.Include, path[0])
				}
			}
		default:
			path, err := attributePath(k)
			if err != nil {
				return Query{}, trialgate.Errorf(trialgate.EInvalid, "query parameter %q: %v (matching keys are attribute keywords or tags; the other parameters are includefield, fuzzymatching, limit and offset)", clip(k), err)
			}
			last := path[len(path)-1]
			if slices.Contains(computed, last) {
				return Query{}, trialgate.Errorf(trialgate.EInvalid, "%s is computed by the server and cannot be a matching key", clip(k))
			}
			vr, _, _ := dicom.Lookup(last)
			key := Key{Path: path, VR: vr, Value: vals[len(vals)-1]}
			if err := key.validate(); err != nil {
				return Query{}, err
			}
			q.Keys = append(q.Keys, key)
		}
	}
	return q, nil
}

// clip shortens a client's value for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// attributePath reads "PatientID", "00100020" or, for sequence matching,
// "RequestAttributesSequence.ScheduledProcedureStepID".
func attributePath(s string) ([]dicom.Tag, error) {
	parts := strings.Split(s, ".")
	path := make([]dicom.Tag, len(parts))
	for i, p := range parts {
		t, ok := dicom.TagForKeyword(p)
		if !ok {
			var err error
			if len(p) != 8 {
				return nil, trialgate.Errorf(trialgate.EInvalid, "%q is not a DICOM attribute keyword or tag", clip(p))
			}
			if t, err = dicom.ParseTag(p); err != nil {
				return nil, trialgate.Errorf(trialgate.EInvalid, "%q is not a DICOM attribute keyword or tag", clip(p))
			}
		}
		if vr, _, _ := dicom.Lookup(t); i < len(parts)-1 && vr != "SQ" {
			return nil, trialgate.Errorf(trialgate.EInvalid, "%q is not a sequence, so %q cannot follow it", clip(p), clip(parts[i+1]))
		}
		path[i] = t
	}
	return path, nil
}

// validate checks that a key's value is well formed for its VR.
func (k Key) validate() error {
	v := k.Value
	if v == "" || v == "*" {
		return nil
	}
	bad := func(what string) error {
		return trialgate.Errorf(trialgate.EInvalid, "%s: %q is not %s", k.Name(), clip(v), what)
	}
	switch k.VR {
	case "UI":
		for _, uid := range splitList(v) {
			if !dicom.ValidUID(uid) {
				return bad("a UID or a list of UIDs")
			}
		}
	case "DA", "TM", "DT":
		lo, hi, isRange := strings.Cut(v, "-")
		if k.VR == "DT" {
			// A DT may carry a "-ZZXX" offset; ranges of them are not taken.
			lo, hi, isRange = cutDTRange(v)
		}
		if isRange && lo == "" && hi == "" {
			return bad("a value or a range")
		}
		for _, s := range []string{lo, hi} {
			if s != "" && !validTemporal(k.VR, s) {
				return bad(map[string]string{"DA": "a date (YYYYMMDD) or a date range", "TM": "a time (HHMMSS.FFFFFF) or a time range", "DT": "a date-time or a range"}[k.VR])
			}
		}
	case "IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV":
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return bad("a number")
		}
	case "SQ":
		return trialgate.Errorf(trialgate.EInvalid, "%s is a sequence: match one of its attributes (%s.Keyword=value)", k.Name(), k.Name())
	case "OB", "OW", "OD", "OF", "OL", "OV", "UN":
		return trialgate.Errorf(trialgate.EInvalid, "%s has binary values, which cannot be matched", k.Name())
	}
	return nil
}

// cutDTRange splits a DT range at its hyphen. A DT may itself hold a
// hyphen (a negative UTC offset), so the split taken is the first whose
// ends are both valid (or empty) and in order; a value with no such split
// is single.
func cutDTRange(v string) (lo, hi string, isRange bool) {
	for i := 0; i < len(v); i++ {
		if v[i] != '-' {
			continue
		}
		lo, hi = v[:i], v[i+1:]
		if (lo == "" || validTemporal("DT", lo)) && (hi == "" || validTemporal("DT", hi)) &&
			// "20200101120000-0500" is one value with its offset, not a
			// range that ends before it starts.
			!(validTemporal("DT", v) && lo != "" && hi != "" && temporalKey("DT", hi, true) < temporalKey("DT", lo, false)) {
			return lo, hi, true
		}
	}
	return v, "", false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// validTemporal checks the form of a DA, TM or DT value (PS3.5 6.2).
func validTemporal(vr, s string) bool {
	switch vr {
	case "DA":
		return len(s) == 8 && allDigits(s)
	case "TM":
		hms, frac, hasFrac := strings.Cut(s, ".")
		return (len(hms) == 2 || len(hms) == 4 || len(hms) == 6) && allDigits(hms) &&
			(!hasFrac || len(hms) == 6 && len(frac) >= 1 && len(frac) <= 6 && allDigits(frac))
	default: // DT
		if i := strings.IndexAny(s, "+-"); i >= 0 {
			if off := s[i+1:]; len(off) != 4 || !allDigits(off) {
				return false
			}
			s = s[:i]
		}
		ymd, frac, hasFrac := strings.Cut(s, ".")
		return len(ymd) >= 4 && len(ymd) <= 14 && len(ymd)%2 == 0 && allDigits(ymd) &&
			(!hasFrac || len(ymd) == 14 && len(frac) >= 1 && len(frac) <= 6 && allDigits(frac))
	}
}

// splitList splits a list of UIDs, separated by commas or backslashes.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\\' })
}

// matches reports whether any of vals (an attribute's values as strings;
// nil when it is absent) matches the key. An empty key value or "*"
// matches anything, present or not (universal matching).
func (k Key) matches(vals []string, fuzzy bool) bool {
	v := k.Value
	if v == "" || v == "*" {
		return true
	}
	if len(vals) == 0 {
		return false
	}
	switch k.VR {
	case "UI":
		list := splitList(v)
		return slices.ContainsFunc(vals, func(s string) bool { return slices.Contains(list, s) })
	case "DA", "TM", "DT":
		lo, hi, isRange := strings.Cut(v, "-")
		if k.VR == "DT" {
			lo, hi, isRange = cutDTRange(v)
		}
		if !isRange {
			return slices.ContainsFunc(vals, func(s string) bool { return temporalKey(k.VR, s, false) == temporalKey(k.VR, v, false) })
		}
		return slices.ContainsFunc(vals, func(s string) bool {
			return (lo == "" || temporalKey(k.VR, s, false) >= temporalKey(k.VR, lo, false)) &&
				(hi == "" || temporalKey(k.VR, s, false) <= temporalKey(k.VR, hi, true))
		})
	case "IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV":
		want, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return slices.ContainsFunc(vals, func(s string) bool {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			return err == nil && (f == want || math.Abs(f-want) <= 1e-9*math.Max(1, math.Abs(want)))
		})
	case "PN":
		return slices.ContainsFunc(vals, func(s string) bool { return matchName(v, s, fuzzy) })
	}
	if strings.ContainsAny(v, "*?") {
		return slices.ContainsFunc(vals, func(s string) bool { return wildcard(v, s) })
	}
	return slices.Contains(vals, v)
}

// temporalKey normalises a DA, TM or DT value so that values order as
// strings; end pads a range's upper bound to the last instant it names
// ("1030" up to 10:30:59.999999).
func temporalKey(vr, s string, end bool) string {
	s = strings.TrimSpace(s)
	if vr == "DT" {
		if i := strings.IndexAny(s, "+-"); i >= 4 {
			s = s[:i] // offsets are not compared
		}
	}
	full := map[string][2]string{
		"DA": {"00000000", "99999999"},
		"TM": {"000000.000000", "235959.999999"},
		"DT": {"00000101000000.000000", "99991231235959.999999"},
	}[vr]
	pad := full[0]
	if end {
		pad = full[1]
	}
	if len(s) < len(pad) {
		s += pad[len(s):]
	}
	return s
}

// matchName matches a person name (PS3.5 6.2: components separated by ^,
// groups by =): case-insensitively, with wildcards; with fuzzy, a value
// also matches when each of its words starts a component of the name.
func matchName(query, name string, fuzzy bool) bool {
	q, n := strings.ToLower(query), strings.ToLower(name)
	if strings.ContainsAny(q, "*?") {
		if wildcard(q, n) {
			return true
		}
	} else if q == n || q == strings.TrimRight(n, "^") {
		return true
	}
	if !fuzzy {
		return false
	}
	comps := strings.FieldsFunc(n, func(r rune) bool { return r == '^' || r == '=' || r == ' ' })
	for _, w := range strings.FieldsFunc(strings.Trim(q, "*"), func(r rune) bool { return r == '^' || r == ' ' || r == ',' }) {
		if !slices.ContainsFunc(comps, func(c string) bool { return strings.HasPrefix(c, w) }) {
			return false
		}
	}
	return true
}

// wildcard matches s against a pattern where * is any run of characters
// and ? exactly one.
func wildcard(pattern, s string) bool {
	p, r := []rune(pattern), []rune(s)
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(r) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == r[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// values returns the values of the attribute at path in a DICOM JSON
// object as strings: numbers as written, person names as their alphabetic
// form; through sequences, the values of every item.
func values(md map[string]json.RawMessage, path []dicom.Tag) []string {
	raw, ok := md[path[0].Hex()]
	if !ok {
		return nil
	}
	var el struct {
		VR    string            `json:"vr"`
		Value []json.RawMessage `json:"Value"`
	}
	if json.Unmarshal(raw, &el) != nil {
		return nil
	}
	var out []string
	for _, v := range el.Value {
		if len(path) > 1 {
			var item map[string]json.RawMessage
			if json.Unmarshal(v, &item) == nil {
				out = append(out, values(item, path[1:])...)
			}
			continue
		}
		var s string
		var pn struct{ Alphabetic string }
		switch {
		case json.Unmarshal(v, &s) == nil:
			out = append(out, s)
		case el.VR == "PN" && json.Unmarshal(v, &pn) == nil:
			out = append(out, pn.Alphabetic)
		default:
			out = append(out, string(v))
		}
	}
	return out
}
