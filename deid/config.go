package deid

import (
	"fmt"
	"slices"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

// Config is a trial's de-identification profile as its definition states
// it: the PS3.15 Annex E options applied on top of the Basic Application
// Level Confidentiality Profile, and what is kept or released. New compiles
// it into a Profile.
type Config struct {
	Options []string `json:"options"`
	// SafePrivate lists the private attributes kept, each as
	// "gggg,CREATOR,ee" (odd group, private creator, element byte; matched
	// by creator, never by block number); allowed only with the
	// retain_safe_private option.
	SafePrivate []string `json:"safe_private,omitempty"`
	// ReleaseWithoutReview lists modalities and SOP class UIDs that the
	// trial releases without burned-in text review although they are known
	// to carry it (e.g. ultrasound whose pixels the site cleaned). Objects
	// that declare BurnedInAnnotation YES are held for review regardless.
	ReleaseWithoutReview []string `json:"release_without_review,omitempty"`
	// KeepOriginal keeps the PHI original of every instance in the
	// restricted quarantine store; without it only its SHA-256 and size are
	// kept, as proof of receipt.
	KeepOriginal bool `json:"keep_original,omitempty"`
}

// The de-identification options (DICOM PS3.15 Annex E, Table E.1-1).
const (
	RetainLongFullDates          = "retain_long_full_dates"
	RetainLongModifiedDates      = "retain_long_modified_dates"
	RetainPatientCharacteristics = "retain_patient_characteristics"
	RetainDeviceIdentity         = "retain_device_identity"
	RetainInstitutionIdentity    = "retain_institution_identity"
	RetainUIDs                   = "retain_uids"
	RetainSafePrivate            = "retain_safe_private"
	CleanDescriptors             = "clean_descriptors"
	CleanStructuredContent       = "clean_structured_content"
	CleanGraphics                = "clean_graphics"
)

// Options returns the recognised de-identification options.
func Options() []string {
	return []string{RetainLongFullDates, RetainLongModifiedDates, RetainPatientCharacteristics,
		RetainDeviceIdentity, RetainInstitutionIdentity, RetainUIDs, RetainSafePrivate,
		CleanDescriptors, CleanStructuredContent, CleanGraphics}
}

// invalid returns a trialgate.EInvalid error naming the field path within
// the Config (a trial definition puts "deid." before it).
func invalid(path, format string, args ...any) error {
	return trialgate.Errorf(trialgate.EInvalid, "%s: %s", path, fmt.Sprintf(format, args...))
}

// Validate checks the configuration and returns the first problem as a
// trialgate.EInvalid error whose message starts with the field path
// (e.g. "options[2]: unknown option ...").
func (c *Config) Validate() error {
	seen := map[string]bool{}
	for i, o := range c.Options {
		p := fmt.Sprintf("options[%d]", i)
		switch {
		case !slices.Contains(Options(), o):
			return invalid(p, "unknown option %q", o)
		case seen[o]:
			return invalid(p, "duplicate option %q", o)
		}
		seen[o] = true
	}
	if seen[RetainLongFullDates] && seen[RetainLongModifiedDates] {
		return invalid("options", "%s and %s are mutually exclusive", RetainLongFullDates, RetainLongModifiedDates)
	}
	if len(c.SafePrivate) > 0 && !seen[RetainSafePrivate] {
		return invalid("safe_private", "allowed only with the %s option", RetainSafePrivate)
	}
	// A safe_private entry is "gggg,CREATOR,ee": the odd private group (4
	// hex digits), the private creator as the objects write it, and the
	// element's low byte (2 hex digits), e.g. "0019,SIEMENS MR HEADER,08".
	// The block byte is assigned per object, so entries name the creator
	// instead (and are matched that way).
	isHex := func(s string) bool { return s != "" && strings.Trim(s, "0123456789abcdefABCDEF") == "" }
	dup := map[string]bool{}
	for i, s := range c.SafePrivate {
		p := fmt.Sprintf("safe_private[%d]", i)
		if len(s) < 9 || s[4] != ',' || s[len(s)-3] != ',' {
			return invalid(p, "%q must be gggg,CREATOR,ee (e.g. \"0019,SIEMENS MR HEADER,08\")", s)
		}
		group, elem := strings.ToUpper(s[:4]), s[len(s)-2:]
		creator := strings.TrimRight(s[5:len(s)-3], " ")
		switch {
		case !isHex(group) || !strings.ContainsAny(group[3:], "13579BDF") || group < "0009" || group == "FFFF":
			return invalid(p, "%q: %s is not a private (odd) group", s, s[:4])
		case !isHex(elem):
			return invalid(p, "%q: element %s is not 2 hex digits", s, elem)
		case creator == "" || len(creator) > 64 || strings.Contains(creator, `\`):
			return invalid(p, "%q: the creator must be 1-64 characters without a backslash", s)
		case dup[s]:
			return invalid(p, "duplicate entry %q", s)
		}
		dup[s] = true
	}
	dup = map[string]bool{}
	for i, s := range c.ReleaseWithoutReview {
		p := fmt.Sprintf("release_without_review[%d]", i)
		switch {
		case !dicom.ValidModality(s) && !dicom.ValidUID(s):
			return invalid(p, "%q is neither a modality nor a SOP class UID", s)
		case dup[s]:
			return invalid(p, "duplicate entry %q", s)
		}
		dup[s] = true
	}
	return nil
}
