package reads

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/trialgate/trialgate"
)

// Read designs.
const (
	Single            = "single"             // one read per case
	DoubleAdjudicated = "double_adjudicated" // two independent reads, adjudicated when discordant
)

// Case groupings: which time points one read covers.
const (
	// ByVisit makes each accepted visit a case of its own.
	ByVisit = "visit"
	// BySubject makes all visits of a subject one case, read in visit
	// order, as oncology reads are: the reader measures each time point
	// against the earlier ones.
	BySubject = "subject"
)

// Blinding modes.
const (
	DatesHide       = "hide"  // dates removed from what the reader sees
	DatesShift      = "shift" // dates moved by a per-case offset, intervals kept
	TimepointsLabel = "label" // visits shown as "baseline" / "follow-up n"
	TimepointsHide  = "hide"  // no visit label at all
)

// Design is the read design of a trial definition: its "reads" section.
type Design struct {
	// Design is Single or DoubleAdjudicated.
	Design string `json:"design"`
	// Adjudication says when two reads of a case disagree. Nil for a
	// single read; never nil for a double read (ParseDesign fills in the
	// default rules when the definition gives none).
	Adjudication *Adjudication `json:"adjudication,omitempty"`
	// Case is ByVisit or BySubject.
	Case string `json:"case"`
	// Blinding says what the reader may not see.
	Blinding Blinding `json:"blinding"`
	// Form is the read form.
	Form *Form `json:"form"`
}

// Adjudication holds the rules that make two reads discordant. The reads
// are discordant when any rule finds a difference.
type Adjudication struct {
	Rules []Rule `json:"rules"`
}

// Rule compares one top-level form field of two reads. A categorical field
// (choice, boolean, date) is discordant on any difference. A numeric field
// (integer, decimal) is discordant when the values differ by more than
// AbsDiff, or by more than RelDiff of the larger magnitude of the two;
// when both are set, either suffices. A value present in one read and
// missing in the other is a difference. Fields inside repeated groups
// cannot be compared row by row (rows of two readers need not correspond);
// compare a derived total instead, such as the RECIST sum of diameters.
type Rule struct {
	Field   string   `json:"field"`
	AbsDiff *float64 `json:"abs_diff,omitempty"`
	RelDiff *float64 `json:"rel_diff,omitempty"`
}

// Blinding is what the reader's view hides.
type Blinding struct {
	Dates      string `json:"dates"`      // DatesHide or DatesShift
	Timepoints string `json:"timepoints"` // TimepointsLabel or TimepointsHide
}

// ParseDesign parses and validates the "reads" section of a trial
// definition. It refuses unknown fields and fills in defaults: case
// ByVisit (BySubject for forms that derive from earlier time points),
// dates hidden, time points labelled, and for a double read without rules
// the template's default rules or else any disagreement on every top-level
// choice and boolean field.
// Every error is EInvalid and names the field path ("reads.form...").
func ParseDesign(raw json.RawMessage) (*Design, error) {
	const p = "reads"
	obj, err := object(p, raw, "design", "adjudication", "case", "blinding", "form")
	if err != nil {
		return nil, err
	}
	d := &Design{}
	if err := str(p+".design", obj["design"], &d.Design); err != nil {
		return nil, err
	}
	switch d.Design {
	case Single, DoubleAdjudicated:
	case "":
		return nil, invalid(p+".design", "required: single or double_adjudicated")
	default:
		return nil, invalid(p+".design", "%q must be one of single, double_adjudicated", d.Design)
	}

	if isAbsent(obj["form"]) {
		return nil, invalid(p+".form", "required")
	}
	if d.Form, err = parseForm(p+".form", obj["form"]); err != nil {
		return nil, err
	}

	if err := str(p+".case", obj["case"], &d.Case); err != nil {
		return nil, err
	}
	switch d.Case {
	case "":
		d.Case = ByVisit
		if d.Form.UsesPrior() {
			d.Case = BySubject
		}
	case ByVisit:
		if d.Form.UsesPrior() {
			return nil, invalid(p+".case", `the %s form derives responses from earlier time points, so a case must be "subject"`, d.Form.Template)
		}
	case BySubject:
	default:
		return nil, invalid(p+".case", "%q must be one of visit, subject", d.Case)
	}

	if d.Blinding, err = parseBlinding(p+".blinding", obj["blinding"]); err != nil {
		return nil, err
	}

	adj := obj["adjudication"]
	switch {
	case d.Design == Single && !isAbsent(adj):
		return nil, invalid(p+".adjudication", "allowed only for design double_adjudicated")
	case d.Design == DoubleAdjudicated:
		if d.Adjudication, err = parseAdjudication(p+".adjudication", adj, d.Form); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// UnmarshalJSON parses a "reads" section with ParseDesign, so that a
// trial definition that holds a Design is validated as it is decoded.
func (d *Design) UnmarshalJSON(raw []byte) error {
	p, err := ParseDesign(raw)
	if err != nil {
		return err
	}
	*d = *p
	return nil
}

func parseBlinding(p string, raw json.RawMessage) (Blinding, error) {
	b := Blinding{Dates: DatesHide, Timepoints: TimepointsLabel}
	if isAbsent(raw) {
		return b, nil
	}
	obj, err := object(p, raw, "dates", "timepoints")
	if err != nil {
		return b, err
	}
	if err := str(p+".dates", obj["dates"], &b.Dates); err != nil {
		return b, err
	}
	if b.Dates != DatesHide && b.Dates != DatesShift {
		return b, invalid(p+".dates", "%q must be one of hide, shift", b.Dates)
	}
	if err := str(p+".timepoints", obj["timepoints"], &b.Timepoints); err != nil {
		return b, err
	}
	if b.Timepoints != TimepointsLabel && b.Timepoints != TimepointsHide {
		return b, invalid(p+".timepoints", "%q must be one of label, hide", b.Timepoints)
	}
	return b, nil
}

func parseAdjudication(p string, raw json.RawMessage, f *Form) (*Adjudication, error) {
	if isAbsent(raw) {
		return defaultAdjudication(p, f)
	}
	obj, err := object(p, raw, "rules")
	if err != nil {
		return nil, err
	}
	rules, err := array(p+".rules", obj["rules"])
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return nil, invalid(p+".rules", "at least one rule is required (or leave adjudication out for the default)")
	}
	a := &Adjudication{}
	seen := map[string]bool{}
	for i, r := range rules {
		rp := fmt.Sprintf("%s.rules[%d]", p, i)
		rule, err := parseRule(rp, r, f)
		if err != nil {
			return nil, err
		}
		if seen[rule.Field] {
			return nil, invalid(rp+".field", "a second rule for field %q", rule.Field)
		}
		seen[rule.Field] = true
		a.Rules = append(a.Rules, rule)
	}
	return a, nil
}

func parseRule(p string, raw json.RawMessage, f *Form) (Rule, error) {
	var r Rule
	obj, err := object(p, raw, "field", "abs_diff", "rel_diff")
	if err != nil {
		return r, err
	}
	if err := str(p+".field", obj["field"], &r.Field); err != nil {
		return r, err
	}
	if r.Field == "" {
		return r, invalid(p+".field", "required")
	}
	field := f.field(r.Field)
	if field == nil {
		return r, invalid(p+".field", "no field %q in the form", r.Field)
	}
	if r.AbsDiff, err = optNumber(p+".abs_diff", obj["abs_diff"]); err != nil {
		return r, err
	}
	if r.RelDiff, err = optNumber(p+".rel_diff", obj["rel_diff"]); err != nil {
		return r, err
	}
	switch field.Type {
	case TypeInteger, TypeDecimal:
		if r.AbsDiff == nil && r.RelDiff == nil {
			return r, invalid(p, "numeric field %q needs abs_diff or rel_diff", r.Field)
		}
		if r.AbsDiff != nil && *r.AbsDiff < 0 {
			return r, invalid(p+".abs_diff", "must not be negative")
		}
		if r.RelDiff != nil && *r.RelDiff <= 0 {
			return r, invalid(p+".rel_diff", "must be above 0 (a fraction: 0.1 is 10%%)")
		}
	case TypeChoice, TypeBoolean, TypeDate:
		if r.AbsDiff != nil {
			return r, invalid(p+".abs_diff", "allowed only for a numeric field; %q is %s", r.Field, field.Type)
		}
		if r.RelDiff != nil {
			return r, invalid(p+".rel_diff", "allowed only for a numeric field; %q is %s", r.Field, field.Type)
		}
	case TypeGroup:
		return r, invalid(p+".field", "%q is a repeated group, whose rows cannot be compared; name a field outside it", r.Field)
	default: // text
		return r, invalid(p+".field", "%q is free text, which cannot be compared", r.Field)
	}
	return r, nil
}

// defaultAdjudication returns a template's own default rules (RECIST 1.1:
// the overall response, on which a central read is adjudicated), or else
// compares every top-level choice and boolean field.
func defaultAdjudication(p string, f *Form) (*Adjudication, error) {
	if f.rules != nil {
		return &Adjudication{Rules: slices.Clone(f.rules)}, nil
	}
	a := &Adjudication{}
	for _, fl := range f.Fields {
		if fl.Type == TypeChoice || fl.Type == TypeBoolean {
			a.Rules = append(a.Rules, Rule{Field: fl.ID})
		}
	}
	if len(a.Rules) == 0 {
		return nil, invalid(p+".rules", "required: the form has no choice or boolean field to compare by default")
	}
	return a, nil
}

// Discordant returns the ids of the fields on which two reads of a case
// disagree under the design's adjudication rules, in rule order; none for a
// single read. The results are those Validate returned (or their JSON
// round trip).
func (d *Design) Discordant(r1, r2 Result) []string {
	if d.Adjudication == nil {
		return nil
	}
	var out []string
	for _, rule := range d.Adjudication.Rules {
		if rule.discordant(r1.Values[rule.Field], r2.Values[rule.Field]) {
			out = append(out, rule.Field)
		}
	}
	return out
}

func (r Rule) discordant(a, b any) bool {
	if a == nil || b == nil {
		return (a == nil) != (b == nil)
	}
	x, xok := number(a)
	y, yok := number(b)
	if !xok || !yok {
		return !equalScalar(a, b)
	}
	if r.AbsDiff == nil && r.RelDiff == nil {
		return x != y
	}
	diff := math.Abs(x - y)
	if r.AbsDiff != nil && diff > *r.AbsDiff {
		return true
	}
	if r.RelDiff != nil {
		if m := max(math.Abs(x), math.Abs(y)); m > 0 && diff/m > *r.RelDiff {
			return true
		}
	}
	return false
}

func equalScalar(a, b any) bool {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	}
	return false
}

// invalid returns an EInvalid error naming the field path.
func invalid(path, format string, args ...any) error {
	return trialgate.Errorf(trialgate.EInvalid, "%s: %s", path, fmt.Sprintf(format, args...))
}

// isAbsent reports whether a member is missing or JSON null; both mean
// "not given".
func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// object decodes a JSON object and refuses members outside allowed, so
// that every refusal names its path (encoding/json's own unknown-field
// error does not).
func object(p string, raw json.RawMessage, allowed ...string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if isAbsent(raw) || json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, invalid(p, "must be a JSON object")
	}
	// Sorted, so that the error names the same member every time.
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if !slices.Contains(allowed, k) {
			return nil, invalid(p+"."+k, "unknown field (allowed: %s)", strings.Join(allowed, ", "))
		}
	}
	return obj, nil
}

func array(p string, raw json.RawMessage) ([]json.RawMessage, error) {
	var a []json.RawMessage
	if isAbsent(raw) {
		return nil, invalid(p, "required")
	}
	if json.Unmarshal(raw, &a) != nil {
		return nil, invalid(p, "must be a JSON array")
	}
	return a, nil
}

// str decodes an optional string member into *s, leaving it when absent.
func str(p string, raw json.RawMessage, s *string) error {
	if isAbsent(raw) {
		return nil
	}
	if json.Unmarshal(raw, s) != nil {
		return invalid(p, "must be a string")
	}
	return nil
}

func boolean(p string, raw json.RawMessage, b *bool) error {
	if isAbsent(raw) {
		return nil
	}
	if json.Unmarshal(raw, b) != nil {
		return invalid(p, "must be true or false")
	}
	return nil
}

func optNumber(p string, raw json.RawMessage) (*float64, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return nil, invalid(p, "must be a number")
	}
	return &f, nil
}

func optInt(p string, raw json.RawMessage) (*int, error) {
	f, err := optNumber(p, raw)
	if err != nil || f == nil {
		return nil, err
	}
	if *f != math.Trunc(*f) || *f < 0 || *f > 1e6 {
		return nil, invalid(p, "must be a whole number from 0 to 1000000")
	}
	n := int(*f)
	return &n, nil
}
