package qc

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

// Rule is one typed QC rule of a trial definition; which of the
// kind-specific fields must or may be set depends on Kind:
//
//   - on each instance at upload: required_attribute {attribute},
//     allowed_modalities {modalities}, allowed_sop_classes {sop_classes}
//     (the two refuse the object when their severity is fail),
//     numeric_range {attribute, min, max}, clinical_trial_tags {required};
//   - on each series when a submission is completed: instance_count
//     {min_instances, max_instances, modality}, single_frame_of_reference,
//     contiguous_instance_numbers;
//   - on the submission as a whole: expected_series {modality, visit,
//     description, min_instances, max_instances}, no_duplicate_instances.
//
// single_frame_of_reference, contiguous_instance_numbers and
// no_duplicate_instances run as built-ins of severity warn (rule ids
// "builtin.<kind>", a reserved prefix) unless the trial defines a rule of
// their kind.
type Rule struct {
	ID         string   `json:"id"`
	Kind       string   `json:"kind"`
	Severity   string   `json:"severity"`
	Attribute  string   `json:"attribute,omitempty"`   // required_attribute, numeric_range: keyword or tag
	Modalities []string `json:"modalities,omitempty"`  // allowed_modalities
	SOPClasses []string `json:"sop_classes,omitempty"` // allowed_sop_classes: UIDs
	Min        *float64 `json:"min,omitempty"`         // numeric_range
	Max        *float64 `json:"max,omitempty"`         // numeric_range
	// The fields below came later; omitempty keeps the canonical bytes of
	// definitions that do not use them unchanged.
	Required     bool   `json:"required,omitempty"`      // clinical_trial_tags: absent site and subject ids are a finding
	Visit        string `json:"visit,omitempty"`         // expected_series: the visit id it applies to (every visit when empty)
	Modality     string `json:"modality,omitempty"`      // expected_series (required), instance_count (optional filter)
	Description  string `json:"description,omitempty"`   // expected_series: case-insensitive substring of SeriesDescription
	MinInstances *int   `json:"min_instances,omitempty"` // expected_series, instance_count
	MaxInstances *int   `json:"max_instances,omitempty"` // expected_series, instance_count
}

// Rule kinds and severities.
var (
	kinds = []string{"required_attribute", "allowed_modalities", "allowed_sop_classes", "numeric_range",
		"clinical_trial_tags", "expected_series", "instance_count", "single_frame_of_reference",
		"contiguous_instance_numbers", "no_duplicate_instances"}
	severities = []string{"fail", "warn"}
)

var (
	tagPattern     = regexp.MustCompile(`^[0-9A-Fa-f]{8}$`)
	keywordPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,63}$`)
)

// invalid returns a trialgate.EInvalid error naming the field path within
// the rules (a trial definition puts "qc." before it).
func invalid(path, format string, args ...any) error {
	return trialgate.Errorf(trialgate.EInvalid, "%s: %s", path, fmt.Sprintf(format, args...))
}

// ValidateRules checks a trial's rules against the ids of its visits and
// returns the first problem as a trialgate.EInvalid error whose message
// starts with the field path (e.g. "rules[1].severity: ...").
func ValidateRules(rules []Rule, visits []string) error {
	seen := map[string]bool{}
	for i, r := range rules {
		p := fmt.Sprintf("rules[%d]", i)
		if err := r.validate(p, seen); err != nil {
			return err
		}
		// A misspelt visit would silently disable the rule.
		if r.Visit != "" && !slices.Contains(visits, r.Visit) {
			return invalid(p+".visit", "%q is not a visit of this trial", r.Visit)
		}
	}
	return nil
}

func (r *Rule) validate(p string, seen map[string]bool) error {
	switch {
	case r.ID == "":
		return invalid(p+".id", "required")
	case !trialgate.ValidID(r.ID):
		return invalid(p+".id", "%q must be 1-64 of A-Z a-z 0-9 . _ -", r.ID)
	case seen[r.ID]:
		return invalid(p+".id", "duplicate rule id %q", r.ID)
	}
	seen[r.ID] = true
	if strings.HasPrefix(r.ID, "builtin.") {
		return invalid(p+".id", "%q: the prefix builtin. is reserved for the built-in checks", r.ID)
	}
	if !slices.Contains(severities, r.Severity) {
		return invalid(p+".severity", "%q must be one of fail, warn", r.Severity)
	}
	// only reports a kind-specific field set for another kind.
	only := func(field string, set bool, kinds ...string) error {
		if set && !slices.Contains(kinds, r.Kind) {
			return invalid(p+"."+field, "not allowed for kind %s", r.Kind)
		}
		return nil
	}
	if !slices.Contains(kinds, r.Kind) {
		return invalid(p+".kind", "%q must be one of %s", r.Kind, strings.Join(kinds, ", "))
	}
	for _, err := range []error{
		only("attribute", r.Attribute != "", "required_attribute", "numeric_range"),
		only("modalities", r.Modalities != nil, "allowed_modalities"),
		only("sop_classes", r.SOPClasses != nil, "allowed_sop_classes"),
		only("min", r.Min != nil, "numeric_range"),
		only("max", r.Max != nil, "numeric_range"),
		only("required", r.Required, "clinical_trial_tags"),
		only("visit", r.Visit != "", "expected_series"),
		only("modality", r.Modality != "", "expected_series", "instance_count"),
		only("description", r.Description != "", "expected_series"),
		only("min_instances", r.MinInstances != nil, "expected_series", "instance_count"),
		only("max_instances", r.MaxInstances != nil, "expected_series", "instance_count"),
	} {
		if err != nil {
			return err
		}
	}
	switch r.Kind {
	case "required_attribute", "numeric_range":
		if r.Attribute == "" {
			return invalid(p+".attribute", "required for kind %s", r.Kind)
		}
		if !tagPattern.MatchString(r.Attribute) && !keywordPattern.MatchString(r.Attribute) {
			return invalid(p+".attribute", "%q must be a DICOM keyword or an 8-digit hex tag", r.Attribute)
		}
		if r.Kind == "numeric_range" {
			switch {
			case r.Min == nil && r.Max == nil:
				return invalid(p, "numeric_range needs min, max or both")
			case r.Min != nil && r.Max != nil && *r.Min > *r.Max:
				return invalid(p+".min", "%v is greater than max %v", *r.Min, *r.Max)
			}
		}
	case "allowed_modalities":
		return checkList(p+".modalities", r.Modalities, dicom.ValidModality, "modality")
	case "allowed_sop_classes":
		return checkList(p+".sop_classes", r.SOPClasses, dicom.ValidUID, "SOP class UID")
	case "expected_series":
		if r.Modality == "" {
			return invalid(p+".modality", "required for kind expected_series")
		}
		if r.Visit != "" && !trialgate.ValidID(r.Visit) {
			return invalid(p+".visit", "%q is not a valid visit id", r.Visit)
		}
		if len(r.Description) > 64 {
			return invalid(p+".description", "longer than 64 bytes (the length of a SeriesDescription)")
		}
		return r.validateCounts(p)
	case "instance_count":
		if r.MinInstances == nil && r.MaxInstances == nil {
			return invalid(p, "instance_count needs min_instances, max_instances or both")
		}
		return r.validateCounts(p)
	}
	return nil
}

// validateCounts checks the modality and instance counts of the
// expected_series and instance_count kinds.
func (r *Rule) validateCounts(p string) error {
	if r.Modality != "" && !dicom.ValidModality(r.Modality) {
		return invalid(p+".modality", "%q is not a valid modality", r.Modality)
	}
	switch {
	case r.MinInstances != nil && *r.MinInstances < 1:
		return invalid(p+".min_instances", "%d must be at least 1", *r.MinInstances)
	case r.MaxInstances != nil && *r.MaxInstances < 1:
		return invalid(p+".max_instances", "%d must be at least 1", *r.MaxInstances)
	case r.MinInstances != nil && r.MaxInstances != nil && *r.MinInstances > *r.MaxInstances:
		return invalid(p+".min_instances", "%d is greater than max_instances %d", *r.MinInstances, *r.MaxInstances)
	}
	return nil
}

// checkList checks a non-empty list of unique values of a form.
func checkList(p string, vs []string, valid func(string) bool, what string) error {
	if len(vs) == 0 {
		return invalid(p, "at least one %s is required", what)
	}
	seen := map[string]bool{}
	for i, v := range vs {
		switch {
		case !valid(v) || len(v) > 64:
			return invalid(fmt.Sprintf("%s[%d]", p, i), "%q is not a valid %s", v, what)
		case seen[v]:
			return invalid(fmt.Sprintf("%s[%d]", p, i), "duplicate %s %q", what, v)
		}
		seen[v] = true
	}
	return nil
}
