package qc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate/dicom"
)

// Context is where an instance belongs: the submission's site, subject and
// visit ids.
type Context struct{ Site, Subject, Visit string }

// Instance evaluates the instance-level rules among rules on one header,
// checking clinical_trial_tags rules against ctx, and returns one result
// per rule, sorted by rule id, about the header's SOP Instance UID. Rules
// of other levels are skipped. A caller that evaluates the header before
// de-identification replaces Subject with the de-identified UID before
// the results are stored or shown.
func Instance(rules []Rule, ds *dicom.Dataset, ctx Context) []Result {
	sop := ds.String(dicom.SOPInstanceUID)
	var out []Result
	for i := range rules {
		r := &rules[i]
		var seen, expected string
		var ok bool
		switch r.Kind {
		case KindRequiredAttribute:
			ok, seen, expected = requiredAttribute(r, ds)
		case KindAllowedModalities:
			ok, seen, expected = oneOf(ds, dicom.Modality, r.Modalities)
		case KindAllowedSOPClasses:
			ok, seen, expected = oneOf(ds, dicom.SOPClassUID, r.SOPClasses)
		case KindNumericRange:
			ok, seen, expected = numericRange(r, ds)
		case KindClinicalTrialTags:
			ok, seen, expected = clinicalTrialTags(r, ds, ctx)
		default:
			continue
		}
		out = append(out, result(r, LevelInstance, sop, ok, seen, expected))
	}
	sortResults(out)
	return out
}

// attributeTag resolves a rule's attribute: an 8-digit hex tag (the only
// tag form trial definitions allow, parsed here without dicom.ParseTag's
// allocations) or a DICOM keyword.
func attributeTag(attr string) (dicom.Tag, bool) {
	if len(attr) == 8 {
		if n, err := strconv.ParseUint(attr, 16, 32); err == nil {
			return dicom.Tag(n), true
		}
	}
	return dicom.TagForKeyword(attr)
}

// requiredAttribute checks that the attribute is present and not empty: a
// sequence needs an item, a string value a non-blank component. It never
// reports the value, which may be PHI.
func requiredAttribute(r *Rule, ds *dicom.Dataset) (ok bool, seen, expected string) {
	expected = "present, not empty"
	t, known := attributeTag(r.Attribute)
	if !known {
		return false, "unknown attribute " + r.Attribute, expected
	}
	e := ds.Get(t)
	switch {
	case e == nil:
		return false, "missing", expected
	case isEmpty(e):
		return false, "empty", expected
	}
	return true, "present", expected
}

func isEmpty(e *dicom.Element) bool {
	if e.IsSequence() {
		return len(e.Items) == 0
	}
	if dicom.IsStringVR(e.VR) {
		for _, s := range e.Strings() {
			if strings.TrimSpace(s) != "" {
				return false
			}
		}
		return true
	}
	return len(e.Value) == 0
}

// oneOf checks that the value of t is one of allowed.
func oneOf(ds *dicom.Dataset, t dicom.Tag, allowed []string) (ok bool, seen, expected string) {
	expected = "one of " + strings.Join(allowed, ", ")
	v := ds.String(t)
	if v == "" {
		return false, "missing", expected
	}
	for _, a := range allowed {
		if v == a {
			return true, v, expected
		}
	}
	return false, v, expected
}

// numericRange checks that every value of the attribute is a number within
// the rule's bounds.
func numericRange(r *Rule, ds *dicom.Dataset) (ok bool, seen, expected string) {
	expected = rangeText(r.Min, r.Max, "")
	t, known := attributeTag(r.Attribute)
	if !known {
		return false, "unknown attribute " + r.Attribute, expected
	}
	e := ds.Get(t)
	if e == nil {
		return false, "missing", expected
	}
	var vals []float64
	var texts []string
	switch e.VR {
	case "DS", "IS":
		// Parse the text ourselves to keep it as written ("3.0") and to
		// name the component that is not a number.
		for _, s := range e.Strings() {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil && t.Group() == patientGroup {
				return false, "not a number", expected
			}
			if err != nil {
				return false, "not a number: " + s, expected
			}
			vals = append(vals, f)
			texts = append(texts, s)
		}
	default:
		fs, err := e.Floats()
		if err != nil {
			return false, "not a number: VR " + e.VR, expected
		}
		for _, f := range fs {
			vals = append(vals, f)
			texts = append(texts, strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	if len(vals) == 0 {
		return false, "empty", expected
	}
	ok = true
	for _, v := range vals {
		// Written so that NaN is out of any bounded range.
		if (r.Min != nil && !(v >= *r.Min)) || (r.Max != nil && !(v <= *r.Max)) {
			ok = false
		}
	}
	switch {
	case t.Group() != patientGroup:
		return ok, strings.Join(texts, `\`), expected
	case ok:
		return true, "in range", expected
	}
	return false, "out of range", expected
}

// patientGroup holds the Patient module attributes (weight, size ...):
// numeric_range reports whether their values are in range, never the
// values, which may be evaluated before de-identification removes them.
const patientGroup = 0x0010

// rangeText formats bounds: "0.5..5", ">= 0.5", "<= 5", each followed by
// unit when it is set.
func rangeText[N int | float64](lo, hi *N, unit string) string {
	f := func(n N) string { return fmt.Sprint(n) }
	var s string
	switch {
	case lo != nil && hi != nil:
		s = f(*lo) + ".." + f(*hi)
	case lo != nil:
		s = ">= " + f(*lo)
	case hi != nil:
		s = "<= " + f(*hi)
	default:
		s = "any"
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// clinicalTrialTags checks the Clinical Trial Subject and Study module ids
// against the submission: site (0012,0030) and subject (0012,0040) must
// match when present, and be present when the rule says required; the time
// point (0012,0050) must match the visit when present. The ids seen are not
// reported (a mistaken site may have put a patient identifier there); the
// expected ones are the trial's own.
func clinicalTrialTags(r *Rule, ds *dicom.Dataset, ctx Context) (ok bool, seen, expected string) {
	checks := []struct {
		name     string
		tag      dicom.Tag
		want     string
		required bool
	}{
		{"site id", dicom.ClinicalTrialSiteID, ctx.Site, r.Required},
		{"subject id", dicom.ClinicalTrialSubjectID, ctx.Subject, r.Required},
		{"time point id", dicom.ClinicalTrialTimePointID, ctx.Visit, false},
	}
	ok = true
	var b strings.Builder
	for i, c := range checks {
		v := strings.TrimSpace(ds.String(c.tag))
		var state string
		switch {
		case v == "" && c.required:
			state, ok = "missing", false
		case v == "":
			state = "absent"
		case c.want == "":
			state = "not checked" // the submission does not say
		case v != c.want:
			state, ok = "differs", false
		default:
			state = "matches"
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name + " " + state)
	}
	expected = fmt.Sprintf("site %s, subject %s, time point %s", ctx.Site, ctx.Subject, ctx.Visit)
	if r.Required {
		expected += " (site and subject required)"
	}
	return ok, b.String(), expected
}
