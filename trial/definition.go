package trial

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/trialgate/trialgate"
)

// Definition is a trial's definition: its sites, visits, de-identification
// profile, QC rules and read design. It is stored, versioned and signed as
// its canonical bytes (see Canonical).
type Definition struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Sites  []Site  `json:"sites"`
	Visits []Visit `json:"visits"`
	Deid   Deid    `json:"deid"`
	QC     QC      `json:"qc"`
	Reads  Reads   `json:"reads"`
}

// Site is an imaging site of the trial.
type Site struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Visit is a protocol time point.
type Visit struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Deid is the de-identification profile: the PS3.15 Annex E options applied
// on top of the Basic Application Level Confidentiality Profile.
type Deid struct {
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

// QC holds the automatic quality-control rules.
type QC struct {
	Rules []QCRule `json:"rules"`
}

// QCRule is one typed QC rule; which of the kind-specific fields must or
// may be set depends on Kind. Package qc evaluates them:
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
type QCRule struct {
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

// Reads is the blinded-read design and its case report form.
type Reads struct {
	Design string `json:"design"`
	Form   Form   `json:"form"`
}

// Form is the reader's case report form.
type Form struct {
	Fields []Field `json:"fields"`
}

// Field is one form field.
type Field struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Choices  []string `json:"choices,omitempty"`
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

// DeidOptions returns the recognised de-identification options.
func DeidOptions() []string {
	return []string{RetainLongFullDates, RetainLongModifiedDates, RetainPatientCharacteristics,
		RetainDeviceIdentity, RetainInstitutionIdentity, RetainUIDs, RetainSafePrivate,
		CleanDescriptors, CleanStructuredContent, CleanGraphics}
}

// QC rule kinds and severities, read designs and form field types.
var (
	qcKinds = []string{"required_attribute", "allowed_modalities", "allowed_sop_classes", "numeric_range",
		"clinical_trial_tags", "expected_series", "instance_count", "single_frame_of_reference",
		"contiguous_instance_numbers", "no_duplicate_instances"}
	qcSeverity  = []string{"fail", "warn"}
	readDesigns = []string{"single", "double_adjudicated"}
	fieldTypes  = []string{"text", "number", "choice", "date", "boolean"}
)

var (
	idPattern        = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	tagPattern       = regexp.MustCompile(`^[0-9A-Fa-f]{8}$`)
	keywordPattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,63}$`)
	modalityPattern  = regexp.MustCompile(`^[A-Z0-9]{1,16}$`)
	uidPattern       = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$`)
	errTrailingInput = errors.New("trailing data after the definition")
)

// ParseDefinition reads one JSON definition, refusing unknown fields and
// trailing data, and validates it. Errors are EInvalid with a message
// naming the field path.
func ParseDefinition(data []byte) (*Definition, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Definition
	if err := dec.Decode(&d); err != nil {
		return nil, trialgate.Wrap(err, trialgate.EInvalid, "definition: "+jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, trialgate.Wrap(errTrailingInput, trialgate.EInvalid, "definition: trailing data after the JSON object")
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: wrong type %s", te.Field, te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated JSON"
	}
	// json reports unknown fields as `json: unknown field "x"`.
	if msg := err.Error(); len(msg) > 6 && msg[:6] == "json: " {
		return msg[6:]
	}
	return "malformed JSON"
}

// invalid returns an EInvalid error naming the field path.
func invalid(path, format string, args ...any) error {
	return trialgate.Errorf(trialgate.EInvalid, "%s: %s", path, fmt.Sprintf(format, args...))
}

// ValidID reports whether id is a valid trial id: 1-64 of [A-Za-z0-9._-],
// not "system" (the name of the audit trail's system chain).
func ValidID(id string) bool { return idPattern.MatchString(id) && id != "system" }

// Validate checks the definition and returns the first problem as an
// EInvalid error whose message names the field path.
func (d *Definition) Validate() error {
	switch {
	case d.ID == "":
		return invalid("id", "required")
	case !ValidID(d.ID):
		return invalid("id", "%q must be 1-64 of A-Z a-z 0-9 . _ - and not \"system\"", d.ID)
	case d.Name == "":
		return invalid("name", "required")
	case len(d.Sites) == 0:
		return invalid("sites", "at least one site is required")
	case len(d.Visits) == 0:
		return invalid("visits", "at least one visit is required")
	}
	seen := map[string]bool{}
	for i, s := range d.Sites {
		p := fmt.Sprintf("sites[%d]", i)
		if err := checkID(p+".id", s.ID, "site", seen); err != nil {
			return err
		}
		if s.Name == "" {
			return invalid(p+".name", "required")
		}
	}
	seen = map[string]bool{}
	for i, v := range d.Visits {
		p := fmt.Sprintf("visits[%d]", i)
		if err := checkID(p+".id", v.ID, "visit", seen); err != nil {
			return err
		}
		if v.Label == "" {
			return invalid(p+".label", "required")
		}
	}
	if err := d.Deid.validate(); err != nil {
		return err
	}
	seen = map[string]bool{}
	for i, r := range d.QC.Rules {
		p := fmt.Sprintf("qc.rules[%d]", i)
		if err := r.validate(p, seen); err != nil {
			return err
		}
		// A misspelt visit would silently disable the rule.
		if r.Visit != "" && !slices.ContainsFunc(d.Visits, func(v Visit) bool { return v.ID == r.Visit }) {
			return invalid(p+".visit", "%q is not a visit of this trial", r.Visit)
		}
	}
	return d.Reads.validate()
}

// checkID checks one id at path for form and uniqueness among seen.
func checkID(path, id, what string, seen map[string]bool) error {
	switch {
	case id == "":
		return invalid(path, "required")
	case !idPattern.MatchString(id):
		return invalid(path, "%q must be 1-64 of A-Z a-z 0-9 . _ -", id)
	case seen[id]:
		return invalid(path, "duplicate %s id %q", what, id)
	}
	seen[id] = true
	return nil
}

func (d *Deid) validate() error {
	seen := map[string]bool{}
	for i, o := range d.Options {
		p := fmt.Sprintf("deid.options[%d]", i)
		switch {
		case !slices.Contains(DeidOptions(), o):
			return invalid(p, "unknown option %q", o)
		case seen[o]:
			return invalid(p, "duplicate option %q", o)
		}
		seen[o] = true
	}
	if seen[RetainLongFullDates] && seen[RetainLongModifiedDates] {
		return invalid("deid.options", "%s and %s are mutually exclusive", RetainLongFullDates, RetainLongModifiedDates)
	}
	if len(d.SafePrivate) > 0 && !seen[RetainSafePrivate] {
		return invalid("deid.safe_private", "allowed only with the %s option", RetainSafePrivate)
	}
	// A safe_private entry is "gggg,CREATOR,ee": the odd private group (4
	// hex digits), the private creator as the objects write it, and the
	// element's low byte (2 hex digits), e.g. "0019,SIEMENS MR HEADER,08".
	// The block byte is assigned per object, so entries name the creator
	// instead (package deid matches them the same way).
	isHex := func(s string) bool { return s != "" && strings.Trim(s, "0123456789abcdefABCDEF") == "" }
	dup := map[string]bool{}
	for i, s := range d.SafePrivate {
		p := fmt.Sprintf("deid.safe_private[%d]", i)
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
	for i, s := range d.ReleaseWithoutReview {
		p := fmt.Sprintf("deid.release_without_review[%d]", i)
		switch {
		case !modalityPattern.MatchString(s) && !uidPattern.MatchString(s):
			return invalid(p, "%q is neither a modality nor a SOP class UID", s)
		case dup[s]:
			return invalid(p, "duplicate entry %q", s)
		}
		dup[s] = true
	}
	return nil
}

func (r *QCRule) validate(p string, seen map[string]bool) error {
	if err := checkID(p+".id", r.ID, "rule", seen); err != nil {
		return err
	}
	if strings.HasPrefix(r.ID, "builtin.") {
		return invalid(p+".id", "%q: the prefix builtin. is reserved for the built-in checks", r.ID)
	}
	if !slices.Contains(qcSeverity, r.Severity) {
		return invalid(p+".severity", "%q must be one of fail, warn", r.Severity)
	}
	// only reports a kind-specific field set for another kind.
	only := func(field string, set bool, kinds ...string) error {
		if set && !slices.Contains(kinds, r.Kind) {
			return invalid(p+"."+field, "not allowed for kind %s", r.Kind)
		}
		return nil
	}
	if !slices.Contains(qcKinds, r.Kind) {
		return invalid(p+".kind", "%q must be one of %s", r.Kind, strings.Join(qcKinds, ", "))
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
		return checkList(p+".modalities", r.Modalities, modalityPattern, "modality")
	case "allowed_sop_classes":
		return checkList(p+".sop_classes", r.SOPClasses, uidPattern, "SOP class UID")
	case "expected_series":
		if r.Modality == "" {
			return invalid(p+".modality", "required for kind expected_series")
		}
		if r.Visit != "" && !idPattern.MatchString(r.Visit) {
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
func (r *QCRule) validateCounts(p string) error {
	if r.Modality != "" && !modalityPattern.MatchString(r.Modality) {
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

// checkList checks a non-empty list of unique values of a pattern.
func checkList(p string, vs []string, re *regexp.Regexp, what string) error {
	if len(vs) == 0 {
		return invalid(p, "at least one %s is required", what)
	}
	seen := map[string]bool{}
	for i, v := range vs {
		switch {
		case !re.MatchString(v) || len(v) > 64:
			return invalid(fmt.Sprintf("%s[%d]", p, i), "%q is not a valid %s", v, what)
		case seen[v]:
			return invalid(fmt.Sprintf("%s[%d]", p, i), "duplicate %s %q", what, v)
		}
		seen[v] = true
	}
	return nil
}

func (r *Reads) validate() error {
	if !slices.Contains(readDesigns, r.Design) {
		return invalid("reads.design", "%q must be one of single, double_adjudicated", r.Design)
	}
	if len(r.Form.Fields) == 0 {
		return invalid("reads.form.fields", "at least one field is required")
	}
	seen := map[string]bool{}
	for i, f := range r.Form.Fields {
		p := fmt.Sprintf("reads.form.fields[%d]", i)
		if err := checkID(p+".id", f.ID, "field", seen); err != nil {
			return err
		}
		if !slices.Contains(fieldTypes, f.Type) {
			return invalid(p+".type", "%q must be one of text, number, choice, date, boolean", f.Type)
		}
		if f.Type != "choice" {
			if f.Choices != nil {
				return invalid(p+".choices", "allowed only for type choice")
			}
			continue
		}
		if len(f.Choices) < 2 {
			return invalid(p+".choices", "a choice field needs at least two choices")
		}
		dup := map[string]bool{}
		for j, ch := range f.Choices {
			switch {
			case ch == "":
				return invalid(fmt.Sprintf("%s.choices[%d]", p, j), "empty choice")
			case dup[ch]:
				return invalid(fmt.Sprintf("%s.choices[%d]", p, j), "duplicate choice %q", ch)
			}
			dup[ch] = true
		}
	}
	return nil
}

// Canonical returns the definition's canonical bytes: json.Marshal of the
// structs above, whose field order is fixed by their declaration, with
// slices in the order given (order is meaningful: it is how sites, visits
// and form fields are listed) and no insignificant whitespace. These are
// exactly the bytes stored with a version, hashed (sha256) and signed; a
// signature is always verified against the stored bytes, never against a
// re-encoding.
func (d *Definition) Canonical() ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("trial: encode definition: %w", err)
	}
	return b, nil
}
