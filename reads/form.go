package reads

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trialgate/trialgate"
)

// Field types. "enum" is accepted for TypeChoice and "number" for
// TypeDecimal; ParseDesign stores the canonical name.
const (
	TypeChoice  = "choice"  // one of Choices, a string
	TypeInteger = "integer" // a whole number, within Min and Max
	TypeDecimal = "decimal" // a number, within Min and Max
	TypeBoolean = "boolean" // true or false
	TypeDate    = "date"    // a calendar date, "YYYY-MM-DD"
	TypeText    = "text"    // free text of at most MaxLength characters
	TypeGroup   = "group"   // repeated rows of Fields, such as a lesion table
)

// Limits that keep a form, and a read, of bounded size.
const (
	// DefaultMaxLength is the length limit of a text field that sets none.
	DefaultMaxLength = 4000
	// DefaultMaxRows is the row limit of a group that sets none.
	DefaultMaxRows = 100
	maxFields      = 200 // fields per form or group
	maxChoices     = 100
	maxLabel       = 1000
)

// Form is a read form: the fields a reader fills in, and those the
// gateway derives from them. A form is either written out in the trial
// definition ({"fields": [...]}) or a shipped template
// ({"template": "recist_1.1"}).
type Form struct {
	// Template names the shipped template the form is, or is "".
	Template string
	// Fields are the top-level fields in display order.
	Fields []Field

	// derive fills in the derived fields of normalised values, given the
	// results of the earlier time points; nil for a form without derived
	// fields.
	derive    func(values map[string]any, prior []Result) error
	usesPrior bool
	// rules are a template's default adjudication rules.
	rules []Rule
}

// Field is one field of a form, or of a group's rows.
type Field struct {
	// ID names the field in values and exports; unique among its siblings.
	ID string `json:"id"`
	// Type is one of the Type constants.
	Type string `json:"type"`
	// Label and Help are what the reader's form shows.
	Label string `json:"label,omitempty"`
	Help  string `json:"help,omitempty"`
	// Required fields must have a value (a group: an array, maybe empty).
	Required bool `json:"required,omitempty"`
	// Derived fields are computed by the gateway; a reader who sends one
	// is refused. Only templates have them.
	Derived bool `json:"derived,omitempty"`
	// Choices are the allowed values of a choice field.
	Choices []string `json:"choices,omitempty"`
	// Min and Max bound a numeric field, inclusive; Unit is its unit.
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
	Unit string   `json:"unit,omitempty"`
	// MaxLength bounds a text field, in characters.
	MaxLength int `json:"max_length,omitempty"`
	// Fields are a group's columns; MinRows and MaxRows bound its rows.
	Fields  []Field `json:"fields,omitempty"`
	MinRows int     `json:"min_rows,omitempty"`
	MaxRows int     `json:"max_rows,omitempty"`
}

// Result is a validated read: normalised values with the derived fields
// filled in. Values hold string (choice, date, text), int64 (integer),
// float64 (decimal), bool, and []map[string]any (group rows); a field
// without a value is absent. A Result decoded back from JSON (float64 for
// every number, []any for rows) is accepted wherever a Result is taken.
type Result struct {
	Values map[string]any `json:"values"`
}

// MarshalJSON writes a template form as its template name only, so the
// trial definition holds the choice, not a copy of the template; a written
// out form as its fields. The output parses back with ParseDesign.
func (f *Form) MarshalJSON() ([]byte, error) {
	if f.Template != "" {
		return json.Marshal(struct {
			Template string `json:"template"`
		}{f.Template})
	}
	return json.Marshal(struct {
		Fields []Field `json:"fields"`
	}{f.Fields})
}

// UsesPrior reports whether Validate needs the results of the subject's
// earlier time points to derive its fields.
func (f *Form) UsesPrior() bool { return f.usesPrior }

// field returns the top-level field with the given id, or nil.
func (f *Form) field(id string) *Field {
	for i := range f.Fields {
		if f.Fields[i].ID == id {
			return &f.Fields[i]
		}
	}
	return nil
}

// templates are the shipped forms, by name.
var templates = map[string]func() *Form{
	RECISTTemplate: RECIST11,
}

func parseForm(p string, raw json.RawMessage) (*Form, error) {
	obj, err := object(p, raw, "template", "fields")
	if err != nil {
		return nil, err
	}
	var name string
	if err := str(p+".template", obj["template"], &name); err != nil {
		return nil, err
	}
	if name != "" {
		mk, ok := templates[name]
		if !ok {
			return nil, invalid(p+".template", "%q is not a shipped template (have: %s)", name, strings.Join(slices.Sorted(maps.Keys(templates)), ", "))
		}
		if !isAbsent(obj["fields"]) {
			return nil, invalid(p+".fields", "not allowed with a template")
		}
		return mk(), nil
	}
	fields, err := parseFields(p+".fields", obj["fields"], false)
	if err != nil {
		return nil, err
	}
	return &Form{Fields: fields}, nil
}

func parseFields(p string, raw json.RawMessage, inGroup bool) ([]Field, error) {
	items, err := array(p, raw)
	if err != nil {
		return nil, err
	}
	switch {
	case len(items) == 0:
		return nil, invalid(p, "at least one field is required")
	case len(items) > maxFields:
		return nil, invalid(p, "at most %d fields", maxFields)
	}
	fields := make([]Field, 0, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		fp := fmt.Sprintf("%s[%d]", p, i)
		f, err := parseField(fp, item, inGroup)
		if err != nil {
			return nil, err
		}
		if seen[f.ID] {
			return nil, invalid(fp+".id", "duplicate field id %q", f.ID)
		}
		seen[f.ID] = true
		fields = append(fields, f)
	}
	return fields, nil
}

func parseField(p string, raw json.RawMessage, inGroup bool) (Field, error) {
	var f Field
	obj, err := object(p, raw, "id", "type", "label", "help", "required",
		"choices", "min", "max", "unit", "max_length", "fields", "min_rows", "max_rows")
	if err != nil {
		return f, err
	}
	if err := str(p+".id", obj["id"], &f.ID); err != nil {
		return f, err
	}
	switch {
	case f.ID == "":
		return f, invalid(p+".id", "required")
	case !trialgate.ValidID(f.ID):
		return f, invalid(p+".id", "%q must be 1-64 of A-Z a-z 0-9 . _ -", f.ID)
	}
	if err := str(p+".type", obj["type"], &f.Type); err != nil {
		return f, err
	}
	switch f.Type {
	case "enum":
		f.Type = TypeChoice
	case "number":
		f.Type = TypeDecimal
	case TypeChoice, TypeInteger, TypeDecimal, TypeBoolean, TypeDate, TypeText, TypeGroup:
	case "":
		return f, invalid(p+".type", "required")
	default:
		return f, invalid(p+".type", "%q must be one of choice (enum), integer, decimal (number), boolean, date, text, group", f.Type)
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"label", &f.Label}, {"help", &f.Help}, {"unit", &f.Unit}} {
		if err := str(p+"."+s.name, obj[s.name], s.dst); err != nil {
			return f, err
		}
		if len(*s.dst) > maxLabel {
			return f, invalid(p+"."+s.name, "at most %d bytes", maxLabel)
		}
	}
	if err := boolean(p+".required", obj["required"], &f.Required); err != nil {
		return f, err
	}

	// Each property belongs to some types only: a property that the type
	// ignores is a mistake in the definition, not something to drop.
	only := func(name string, types ...string) error {
		if !isAbsent(obj[name]) && !slices.Contains(types, f.Type) {
			return invalid(p+"."+name, "allowed only for type %s", strings.Join(types, " or "))
		}
		return nil
	}
	for _, c := range []struct {
		name  string
		types []string
	}{
		{"choices", []string{TypeChoice}},
		{"min", []string{TypeInteger, TypeDecimal}},
		{"max", []string{TypeInteger, TypeDecimal}},
		{"unit", []string{TypeInteger, TypeDecimal}},
		{"max_length", []string{TypeText}},
		{"fields", []string{TypeGroup}},
		{"min_rows", []string{TypeGroup}},
		{"max_rows", []string{TypeGroup}},
	} {
		if err := only(c.name, c.types...); err != nil {
			return f, err
		}
	}

	switch f.Type {
	case TypeChoice:
		if err := parseChoices(p+".choices", obj["choices"], &f); err != nil {
			return f, err
		}
	case TypeInteger, TypeDecimal:
		if err := parseRange(p, obj, &f); err != nil {
			return f, err
		}
	case TypeText:
		n, err := optInt(p+".max_length", obj["max_length"])
		if err != nil {
			return f, err
		}
		if n != nil {
			if *n == 0 {
				return f, invalid(p+".max_length", "must be at least 1")
			}
			f.MaxLength = *n
		}
	case TypeGroup:
		if inGroup {
			return f, invalid(p+".type", "groups do not nest")
		}
		if f.Fields, err = parseFields(p+".fields", obj["fields"], true); err != nil {
			return f, err
		}
		lo, err := optInt(p+".min_rows", obj["min_rows"])
		if err != nil {
			return f, err
		}
		hi, err := optInt(p+".max_rows", obj["max_rows"])
		if err != nil {
			return f, err
		}
		if lo != nil {
			f.MinRows = *lo
		}
		if hi != nil {
			if *hi == 0 {
				return f, invalid(p+".max_rows", "must be at least 1")
			}
			f.MaxRows = *hi
		}
		if f.MaxRows != 0 && f.MinRows > f.MaxRows {
			return f, invalid(p+".min_rows", "%d is above max_rows %d", f.MinRows, f.MaxRows)
		}
	}
	return f, nil
}

func parseChoices(p string, raw json.RawMessage, f *Field) error {
	if isAbsent(raw) {
		return invalid(p, "required for a choice field")
	}
	if json.Unmarshal(raw, &f.Choices) != nil {
		return invalid(p, "must be an array of strings")
	}
	switch {
	case len(f.Choices) < 2:
		return invalid(p, "a choice field needs at least two choices")
	case len(f.Choices) > maxChoices:
		return invalid(p, "at most %d choices", maxChoices)
	}
	seen := map[string]bool{}
	for j, ch := range f.Choices {
		cp := fmt.Sprintf("%s[%d]", p, j)
		switch {
		case ch == "":
			return invalid(cp, "empty choice")
		case len(ch) > maxLabel:
			return invalid(cp, "at most %d bytes", maxLabel)
		case seen[ch]:
			return invalid(cp, "duplicate choice %q", ch)
		}
		seen[ch] = true
	}
	return nil
}

func parseRange(p string, obj map[string]json.RawMessage, f *Field) error {
	var err error
	if f.Min, err = optNumber(p+".min", obj["min"]); err != nil {
		return err
	}
	if f.Max, err = optNumber(p+".max", obj["max"]); err != nil {
		return err
	}
	if f.Type == TypeInteger {
		for _, b := range []struct {
			name string
			v    *float64
		}{{"min", f.Min}, {"max", f.Max}} {
			if b.v != nil && (*b.v != math.Trunc(*b.v) || math.Abs(*b.v) > maxExactInt) {
				return invalid(p+"."+b.name, "%s must be a whole number for an integer field", fnum(*b.v))
			}
		}
	}
	if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		return invalid(p+".min", "%s is above max %s", fnum(*f.Min), fnum(*f.Max))
	}
	return nil
}

// maxExactInt is the largest integer float64 holds exactly (2^53): beyond
// it an integer field's value would not survive JSON.
const maxExactInt = 1 << 53

// Validate checks a reader's values against the form, normalises them and
// fills in the derived fields. prior are the validated results of the
// subject's earlier time points within the case, oldest (the baseline)
// first, and empty for the baseline itself; a form that does not
// UsesPrior ignores them. Errors about values are EInvalid naming the
// path ("values.target_lesions[1].longest_diameter_mm: ..."); a malformed
// prior is the caller's bug and is not EInvalid.
func (f *Form) Validate(values map[string]any, prior []Result) (Result, error) {
	out, err := validateFields("values", f.Fields, values)
	if err != nil {
		return Result{}, err
	}
	if f.derive != nil {
		if err := f.derive(out, prior); err != nil {
			return Result{}, err
		}
	}
	return Result{Values: out}, nil
}

func validateFields(p string, fields []Field, values map[string]any) (map[string]any, error) {
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if !slices.ContainsFunc(fields, func(f Field) bool { return f.ID == k }) {
			return nil, invalid(member(p, k), "no such field in the form")
		}
	}
	out := make(map[string]any, len(fields))
	for i := range fields {
		f := &fields[i]
		fp := member(p, f.ID)
		v, given := values[f.ID]
		if v == nil {
			given = false
		}
		switch {
		case f.Derived && given:
			return nil, invalid(fp, "derived by the gateway; do not send it")
		case f.Derived:
			continue
		case !given && f.Required:
			return nil, invalid(fp, "required")
		case !given:
			continue
		}
		nv, err := f.value(fp, v)
		if err != nil {
			return nil, err
		}
		out[f.ID] = nv
	}
	return out, nil
}

// member names a member of the object at p, quoting a name that is not an
// id so that the path stays readable.
func member(p, k string) string {
	if trialgate.ValidID(k) {
		return p + "." + k
	}
	if len(k) > 64 {
		k = k[:64] + "..."
	}
	return fmt.Sprintf("%s[%q]", p, k)
}

// value checks and normalises one given (non-null) value of field f.
func (f *Field) value(p string, v any) (any, error) {
	switch f.Type {
	case TypeChoice:
		s, ok := v.(string)
		if !ok {
			return nil, invalid(p, "must be a string, one of %s", strings.Join(f.Choices, ", "))
		}
		if !slices.Contains(f.Choices, s) {
			return nil, invalid(p, "%s is not one of %s", quote(s), strings.Join(f.Choices, ", "))
		}
		return s, nil
	case TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, invalid(p, "must be true or false")
		}
		return b, nil
	case TypeDate:
		s, ok := v.(string)
		if !ok {
			return nil, invalid(p, "must be a date string YYYY-MM-DD")
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, invalid(p, "%s is not a date YYYY-MM-DD", quote(s))
		}
		return s, nil
	case TypeText:
		s, ok := v.(string)
		if !ok {
			return nil, invalid(p, "must be a string")
		}
		limit := f.MaxLength
		if limit == 0 {
			limit = DefaultMaxLength
		}
		if !utf8.ValidString(s) {
			return nil, invalid(p, "must be valid UTF-8")
		}
		if n := utf8.RuneCountInString(s); n > limit {
			return nil, invalid(p, "%d characters, more than the maximum %d", n, limit)
		}
		return s, nil
	case TypeInteger, TypeDecimal:
		x, ok := number(v)
		if !ok {
			return nil, invalid(p, "must be a number")
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, invalid(p, "must be a finite number")
		}
		if f.Type == TypeInteger && x != math.Trunc(x) {
			return nil, invalid(p, "%s is not a whole number", fnum(x))
		}
		if f.Type == TypeInteger && math.Abs(x) > maxExactInt {
			return nil, invalid(p, "%s is too large for an integer", fnum(x))
		}
		if f.Min != nil && x < *f.Min {
			return nil, invalid(p, "%s is below the minimum %s", fnum(x), fnum(*f.Min))
		}
		if f.Max != nil && x > *f.Max {
			return nil, invalid(p, "%s is above the maximum %s", fnum(x), fnum(*f.Max))
		}
		if f.Type == TypeInteger {
			return int64(x), nil
		}
		return x, nil
	case TypeGroup:
		rows, ok := rowsOf(v)
		if !ok {
			return nil, invalid(p, "must be an array of objects")
		}
		limit := f.MaxRows
		if limit == 0 {
			limit = DefaultMaxRows
		}
		switch {
		case len(rows) < f.MinRows:
			return nil, invalid(p, "%d rows, fewer than the minimum %d", len(rows), f.MinRows)
		case len(rows) > limit:
			return nil, invalid(p, "%d rows, more than the maximum %d", len(rows), limit)
		}
		out := make([]map[string]any, len(rows))
		for i, row := range rows {
			rp := fmt.Sprintf("%s[%d]", p, i)
			if row == nil {
				return nil, invalid(rp, "must be an object")
			}
			nr, err := validateFields(rp, f.Fields, row)
			if err != nil {
				return nil, err
			}
			out[i] = nr
		}
		return out, nil
	}
	return nil, fmt.Errorf("reads: field %s has unknown type %q", p, f.Type)
}

// number returns v as a float64 if it is a number as encoding/json (with
// or without UseNumber) or Validate produces it.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case json.Number:
		x, err := n.Float64()
		return x, err == nil
	}
	return 0, false
}

// rowsOf returns v as group rows if it is an array of objects, either as
// Validate produces it or as JSON decodes it; a non-object row is nil.
func rowsOf(v any) ([]map[string]any, bool) {
	switch r := v.(type) {
	case []map[string]any:
		return r, true
	case []any:
		out := make([]map[string]any, len(r))
		for i, x := range r {
			m, _ := x.(map[string]any)
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

// fnum formats a number the shortest way that reads back the same.
func fnum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// quote quotes a reader's string for an error message, shortened: the
// message is shown and logged, and needs no more than a glimpse.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "..."
	}
	return strconv.Quote(s)
}
