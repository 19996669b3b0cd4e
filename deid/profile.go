// Package deid de-identifies DICOM headers for a trial: the PS3.15 Annex E
// Basic Application Level Confidentiality Profile (Table E.1-1, embedded)
// plus the options the trial chose, deterministic keyed UID remapping, a
// per-subject date shift, pseudonyms for audit rows, the trial's Clinical
// Trial Subject codes and the decision to hold objects whose pixels may
// carry burned-in text.
//
// The package works on the header only (the meta group, the data set before
// Pixel Data and the elements after it); pixel data is never touched. It
// does no I/O. A Profile is compiled once per trial version by New and is
// then immutable, so it is safe for concurrent use.
//
// Where the standard leaves a choice:
//
//   - Conditional rows (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) resolve by the Type
//     the object's IOD gives the attribute (iod.go, from PS3.3): Type 1 is
//     D, Type 2 Z, else X; X/Z/U* keeps a Type 1 or 2 sequence with its
//     UIDs remapped. For a SOP class not in that table Z/D is D and the
//     others X. Nested attributes resolve like top-level ones, except
//     where a macro says otherwise (nestedType).
//   - Options replace the basic action on their rows; with several options
//     on a row K wins over C. The modified-dates C shifts DA and DT by a
//     per-subject offset (365-3650 days back) and keeps TM.
//   - D gives a dummy valid for the VR (dummy); a sequence's dummy is one
//     empty item. Z empties a sequence. K, U and a kept X/Z/U* sequence
//     keep the sequence and de-identify its items.
//   - C on text removes the object's own identifying values and runs of 5
//     or more digits (clean); a cleaned sequence is de-identified inside
//     and its free text not named by the table is cleaned too.
//   - Private attributes are removed with their creators unless the
//     Retain Safe Private option lists them ("gggg,CREATOR,ee"), matched
//     through the block's creator, never the block number.
//   - The trial's codes replace Patient Name and ID and fill the Clinical
//     Trial Subject module; a sponsor name already present is kept (it
//     names the sponsor, not the patient).
package deid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

// TrialGate's implementation identity, written to (0002,0012) and
// (0002,0013) of every file it de-identifies. The UID was derived once
// from a random UUID (PS3.5 B.2) and never changes.
const (
	ImplementationClassUID    = "2.25.205356143845611425398755315962394726313"
	ImplementationVersionName = "TRIALGATE_1"
)

// MinKeyLen is the shortest trial key New accepts (bytes).
const MinKeyLen = 32

// action is what a rule does to an attribute.
type action uint8

const (
	actKeep   action = iota // K: keep; a sequence's items are de-identified
	actRemove               // X
	actZero                 // Z: zero length; a sequence loses its items
	actDummy                // D: a dummy value valid for the VR
	actClean                // C: clean (see (*applier).clean)
	actRemap                // U: remap UIDs with the trial key
	actShift                // C of retain_long_modified_dates: shift dates, keep times
	actKeepSQ               // X/Z/U* resolved to keep: keep the sequence, de-identify its items (UIDs remapped)
	actCond                 // X/Z, X/D, Z/D, X/Z/D, X/Z/U*: resolved per IOD by the SOP class
)

// parseAction reads a basic-profile action code of Table E.1-1.
func parseAction(code string) (action, error) {
	switch code {
	case "K":
		return actKeep, nil
	case "X":
		return actRemove, nil
	case "Z":
		return actZero, nil
	case "D":
		return actDummy, nil
	case "C":
		return actClean, nil
	case "U":
		return actRemap, nil
	case "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*":
		return actCond, nil
	}
	return 0, fmt.Errorf("unknown action %q", code)
}

// resolve returns the action of a conditional code for an attribute of
// Type typ (0: Type 3 or not in the IOD). known is false for a SOP class
// missing from iodTypes: then Z/D becomes D (a value is always valid) and
// the others X (removing is the most conservative choice; an unknown IOD
// may lose a Type 2 attribute, which a reviewer can accept more readily
// than a leak).
func resolve(code string, typ uint8, known bool) action {
	if !known {
		if code == "Z/D" {
			return actDummy
		}
		return actRemove
	}
	switch code {
	case "X/Z/U*":
		if typ == type1 || typ == type2 {
			return actKeepSQ
		}
		return actRemove
	case "Z/D":
		if typ == type1 {
			return actDummy
		}
		return actZero
	}
	// X/Z, X/D, X/Z/D: the weakest action that keeps the IOD valid.
	switch typ {
	case type1:
		return actDummy
	case type2:
		return actZero
	}
	return actRemove
}

// rule is the compiled action for one tag: act, or for actCond the
// conditional code resolved per IOD.
type rule struct {
	act  action
	cond string
}

// safeKey identifies a safe private attribute: its group, its private
// creator and the low byte of its element (the block byte is assigned per
// object, so it is not part of the key).
type safeKey struct {
	group   uint16
	creator string
	elem    uint8
}

// Profile is a trial's compiled de-identification profile. It holds no
// mutable state: use one Profile from any number of goroutines.
type Profile struct {
	trialID string
	key     []byte
	options []string        // applied trial options, in Options order
	has     map[string]bool // options applied

	exact   map[dicom.Tag]rule // every exact-tag row
	curve   rule               // (50XX,XXXX)
	ovData  rule               // (60XX,3000)
	ovText  rule               // (60XX,4000)
	private rule               // (GGGG,EEEE): actRemove, or actClean = keep the safe ones
	safe    map[safeKey]bool

	iods    map[string]map[dicom.Tag]action // per SOP class: resolved conditional rows
	unknown map[dicom.Tag]action            // conditional rows for SOP classes not in iodTypes

	cleans  bool            // some rule cleans text: collect the object's identifying values
	release map[string]bool // modalities and SOP classes released without burned-in review
	method  []string        // (0012,0063) values
	codes   []code          // (0012,0064) items
	ltim    string          // (0028,0303)
}

// code is a coded concept of PS3.16 (scheme DCM).
type code struct{ value, meaning string }

// optionCode returns an option's code in CID 7050 (PS3.16). 113101 Clean
// Pixel Data and 113102 Clean Recognizable Visual Features are never
// applied: the gateway does not change pixel data.
func optionCode(o string) code {
	switch o {
	case CleanGraphics:
		return code{"113103", "Clean Graphics Option"}
	case CleanStructuredContent:
		return code{"113104", "Clean Structured Content Option"}
	case CleanDescriptors:
		return code{"113105", "Clean Descriptors Option"}
	case RetainLongFullDates:
		return code{"113106", "Retain Longitudinal Temporal Information Full Dates Option"}
	case RetainLongModifiedDates:
		return code{"113107", "Retain Longitudinal Temporal Information Modified Dates Option"}
	case RetainPatientCharacteristics:
		return code{"113108", "Retain Patient Characteristics Option"}
	case RetainDeviceIdentity:
		return code{"113109", "Retain Device Identity Option"}
	case RetainUIDs:
		return code{"113110", "Retain UIDs Option"}
	case RetainSafePrivate:
		return code{"113111", "Retain Safe Private Option"}
	case RetainInstitutionIdentity:
		return code{"113112", "Retain Institution Identity Option"}
	}
	panic("deid: no CID 7050 code for option " + o) // New accepts only Options
}

// TrialKey derives a trial's de-identification key from the gateway's
// master secret: HMAC-SHA256(master, "trialgate/deid/v1/"+trialID). Each
// trial thus remaps UIDs and shifts dates independently: instances of two
// trials cannot be linked through their UIDs.
func TrialKey(master []byte, trialID string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("trialgate/deid/v1/" + trialID))
	return m.Sum(nil)
}

// New compiles a trial's profile: the Basic Profile plus cfg's options.
// key is the trial key (TrialKey), at least MinKeyLen bytes. Errors are
// trialgate.EInvalid naming what is wrong.
func New(trialID string, cfg Config, key []byte) (*Profile, error) {
	if !trialgate.ValidID(trialID) {
		return nil, trialgate.Errorf(trialgate.EInvalid, "deid: invalid trial id %q", trialID)
	}
	if len(key) < MinKeyLen {
		return nil, trialgate.Errorf(trialgate.EInvalid, "deid: trial key is %d bytes, want at least %d", len(key), MinKeyLen)
	}
	p := &Profile{
		trialID: trialID,
		key:     slices.Clone(key),
		has:     map[string]bool{},
		exact:   map[dicom.Tag]rule{},
		iods:    map[string]map[dicom.Tag]action{},
		unknown: map[dicom.Tag]action{},
		release: map[string]bool{},
	}
	for _, o := range cfg.Options {
		if !slices.Contains(Options(), o) {
			return nil, trialgate.Errorf(trialgate.EInvalid, "deid: unknown option %q", o)
		}
		p.has[o] = true
	}
	if p.has[RetainLongFullDates] && p.has[RetainLongModifiedDates] {
		return nil, trialgate.Errorf(trialgate.EInvalid, "deid: %s and %s are mutually exclusive", RetainLongFullDates, RetainLongModifiedDates)
	}
	for _, o := range Options() {
		if p.has[o] {
			p.options = append(p.options, o)
		}
	}
	if len(cfg.SafePrivate) > 0 && !p.has[RetainSafePrivate] {
		return nil, trialgate.Errorf(trialgate.EInvalid, "deid: safe_private needs the %s option", RetainSafePrivate)
	}
	if p.has[RetainSafePrivate] {
		p.safe = map[safeKey]bool{}
		for i, s := range cfg.SafePrivate {
			k, err := parseSafePrivate(s)
			if err != nil {
				return nil, trialgate.Wrap(err, trialgate.EInvalid, fmt.Sprintf("deid: safe_private[%d]: %v", i, err))
			}
			p.safe[k] = true
		}
	}
	for _, r := range cfg.ReleaseWithoutReview {
		p.release[r] = true
	}

	rows, err := table()
	if err != nil {
		return nil, fmt.Errorf("deid: %w", err)
	}
	conds := map[dicom.Tag]string{}
	for _, r := range rows {
		ru := p.compile(r)
		p.cleans = p.cleans || ru.act == actClean || ru.act == actShift
		_, value, _ := r.match() // checked by parseTable
		switch r.Tag {
		case wildCurve:
			p.curve = ru
		case wildOverlayData:
			p.ovData = ru
		case wildOverlayComment:
			p.ovText = ru
		case wildPrivate:
			p.private = ru
		default:
			p.exact[value] = ru
			if ru.act == actCond {
				conds[value] = ru.cond
			}
		}
	}
	for uid, types := range iodTypes() {
		m := make(map[dicom.Tag]action, len(conds))
		for t, c := range conds {
			m[t] = resolve(c, types[t], true)
		}
		p.iods[uid] = m
	}
	for t, c := range conds {
		p.unknown[t] = resolve(c, 0, false)
	}

	// CID 7050 De-identification Method (PS3.16): the profile, then each
	// option; (0012,0063) names the same, each value within LO's 64.
	basic := code{"113100", "Basic Application Confidentiality Profile"}
	p.codes = []code{basic}
	p.method = []string{"TrialGate " + ImplementationVersionName + " PS3.15 Annex E 2024b", basic.meaning}
	for _, o := range p.options {
		p.codes = append(p.codes, optionCode(o))
		p.method = append(p.method, optionCode(o).meaning)
	}
	switch {
	case p.has[RetainLongFullDates]:
		p.ltim = "UNMODIFIED"
	case p.has[RetainLongModifiedDates]:
		p.ltim = "MODIFIED"
	default:
		p.ltim = "REMOVED"
	}
	return p, nil
}

// compile combines a row's basic action with the profile's options as
// PS3.15 E.3 says: an option's K or C replaces the basic action for its
// rows; where several options act on one row, K wins over C (the trial
// asked to retain the attribute); the C of the modified-dates option is a
// date shift.
func (p *Profile) compile(r row) rule {
	var k, c, shift bool
	for o, a := range r.Options {
		if !p.has[o] {
			continue
		}
		switch {
		case a == "K":
			k = true
		case o == RetainLongModifiedDates:
			shift = true
		default:
			c = true
		}
	}
	switch {
	case k:
		return rule{act: actKeep}
	case shift:
		return rule{act: actShift}
	case c:
		return rule{act: actClean}
	}
	a, _ := parseAction(r.Basic) // checked by parseTable
	return rule{act: a, cond: r.Basic}
}

// parseSafePrivate reads one safe_private entry, "gggg,CREATOR,ee": the
// odd private group (4 hex digits), the private creator exactly as the
// object writes it (trailing spaces ignored), and the element's low byte
// (2 hex digits). The block byte of the element is not part of the entry:
// it is assigned per object, so the attribute is found through its
// creator. Example: "0019,SIEMENS MR HEADER,08" is (0019,xx08) of the
// block whose creator is "SIEMENS MR HEADER".
func parseSafePrivate(s string) (safeKey, error) {
	if len(s) < 9 || s[4] != ',' || s[len(s)-3] != ',' {
		return safeKey{}, fmt.Errorf("%q is not gggg,CREATOR,ee", s)
	}
	var g [2]byte
	var e [1]byte
	if _, err := hex.Decode(g[:], []byte(s[:4])); err != nil {
		return safeKey{}, fmt.Errorf("%q: group is not 4 hex digits", s)
	}
	if _, err := hex.Decode(e[:], []byte(s[len(s)-2:])); err != nil {
		return safeKey{}, fmt.Errorf("%q: element is not 2 hex digits", s)
	}
	group := binary.BigEndian.Uint16(g[:])
	creator := strings.TrimRight(s[5:len(s)-3], " ")
	switch {
	case group%2 == 0 || group < 0x0009 || group == 0xFFFF:
		return safeKey{}, fmt.Errorf("%q: group %04X is not a private group", s, group)
	case creator == "" || len(creator) > 64 || strings.ContainsAny(creator, `\`):
		return safeKey{}, fmt.Errorf("%q: creator must be 1-64 characters without a backslash", s)
	}
	return safeKey{group: group, creator: creator, elem: e[0]}, nil
}

// UID returns the remapped UID: "2.25." followed by the decimal value of
// the first 128 bits of HMAC-SHA256(key, uid). The same original always
// maps to the same UID within a trial, so references between instances
// stay resolvable. Well-known DICOM UIDs (1.2.840.10008.*: SOP classes,
// transfer syntaxes, coding schemes) are returned unchanged, as is "".
func (p *Profile) UID(orig string) string { return p.uid(p.mac(), orig) }

// mac returns a new HMAC-SHA256 with the trial key. An Apply reuses one
// (Reset between values) instead of setting up the key for every UID.
func (p *Profile) mac() hash.Hash { return hmac.New(sha256.New, p.key) }

// uid is UID with the caller's HMAC.
func (p *Profile) uid(m hash.Hash, orig string) string {
	orig = strings.TrimRight(orig, " \x00")
	if orig == "" || strings.HasPrefix(orig, "1.2.840.10008.") {
		return orig
	}
	m.Reset()
	m.Write([]byte(orig))
	var buf [sha256.Size]byte
	sum := m.Sum(buf[:0])
	return "2.25." + decimal128(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16]))
}

// decimal128 formats the 128-bit number hi<<64|lo in decimal (at most 39
// digits, no leading zeros), in base 10^19 limbs.
func decimal128(hi, lo uint64) string {
	const e19 = 10_000_000_000_000_000_000
	var limbs [3]uint64
	n := 0
	for n == 0 || hi != 0 || lo != 0 {
		q, r := hi/e19, hi%e19
		lo, limbs[n] = bits.Div64(r, lo, e19)
		hi = q
		n++
	}
	b := strconv.AppendUint(make([]byte, 0, 39), limbs[n-1], 10)
	for i := n - 2; i >= 0; i-- {
		s := strconv.FormatUint(limbs[i], 10)
		b = append(b, strings.Repeat("0", 19-len(s))...)
		b = append(b, s...)
	}
	return string(b)
}

// Pseudonym returns HMAC-SHA256(key, "pseudonym/"+v) in hex: a value that
// correlates audit rows about the same original (PatientID, SOP Instance
// UID) without disclosing it. The prefix keeps pseudonyms distinct from
// the UID remapping, so an audit row does not reveal which released UID a
// pseudonym stands for.
func (p *Profile) Pseudonym(v string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("pseudonym/" + v))
	return hex.EncodeToString(m.Sum(nil))
}

// Options returns the trial options the profile applies, in the order of
// Options.
func (p *Profile) Options() []string { return slices.Clone(p.options) }

// dateOffset returns the subject's date shift in days, between -3650 and
// -365: derived from HMAC(key, "date-offset/"+subject), so every object of
// a subject moves by the same amount (intervals are preserved) and
// subjects move independently.
func (p *Profile) dateOffset(subject string) int {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("date-offset/" + subject))
	n := binary.BigEndian.Uint64(m.Sum(nil))
	return -(365 + int(n%(3650-365+1)))
}
