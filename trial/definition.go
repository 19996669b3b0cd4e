package trial

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/deid"
	"github.com/trialgate/trialgate/qc"
	"github.com/trialgate/trialgate/reads"
)

// Definition is a trial's definition: its sites, visits, de-identification
// profile, QC rules and read design (package reads parses and validates it). It is stored, versioned and signed as
// its canonical bytes (see Canonical).
type Definition struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Sites  []Site       `json:"sites"`
	Visits []Visit      `json:"visits"`
	Deid   deid.Config  `json:"deid"`
	QC     QC           `json:"qc"`
	Reads  reads.Design `json:"reads"`
	// Locks is omitted when unset, so definitions written before it
	// existed keep their canonical bytes.
	Locks *LockPolicy `json:"locks,omitempty"`
}

// LockPolicy is how the trial's data locks are lifted (package lock).
type LockPolicy struct {
	// ReleaseSigners is how many people must sign the release of a lock:
	// 1 (the default, 0 here) or 2, a second data manager or QA reviewer
	// who is not the first, before the release takes effect.
	ReleaseSigners int `json:"release_signers,omitempty"`
}

// Signers returns the number of release signatures a lock needs (p may be
// nil: the default, one).
func (p *LockPolicy) Signers() int {
	if p == nil {
		return 1
	}
	return max(p.ReleaseSigners, 1)
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

// QC holds the automatic quality-control rules, which package qc
// evaluates.
type QC struct {
	Rules []qc.Rule `json:"rules"`
}

var errTrailingInput = errors.New("trailing data after the definition")

// ParseDefinition reads one JSON definition, refusing unknown fields and
// trailing data, and validates it. Errors are EInvalid with a message
// naming the field path.
func ParseDefinition(data []byte) (*Definition, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Definition
	if err := dec.Decode(&d); err != nil {
		// The read design parses itself (reads.Design.UnmarshalJSON) and
		// names its own field paths.
		if trialgate.ErrorCode(err) == trialgate.EInvalid {
			return nil, err
		}
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

// within puts the name of a definition's section before the field path of
// an error its package returned (deid "options[0]: ..." is
// "deid.options[0]: ...").
func within(section string, err error) error {
	var e *trialgate.Error
	if errors.As(err, &e) && e.Code == trialgate.EInvalid {
		return trialgate.Errorf(trialgate.EInvalid, "%s.%s", section, e.Message)
	}
	return err
}

// invalid returns an EInvalid error naming the field path.
func invalid(path, format string, args ...any) error {
	return trialgate.Errorf(trialgate.EInvalid, "%s: %s", path, fmt.Sprintf(format, args...))
}

// ValidID reports whether id is a valid trial id: a valid id
// (trialgate.ValidID), not "system" (the name of the audit trail's system
// chain).
func ValidID(id string) bool { return trialgate.ValidID(id) && id != "system" }

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
	case d.Locks != nil && (d.Locks.ReleaseSigners < 1 || d.Locks.ReleaseSigners > 2):
		return invalid("locks.release_signers", "must be 1 or 2")
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
	if err := d.Deid.Validate(); err != nil {
		return within("deid", err)
	}
	visits := make([]string, len(d.Visits))
	for i, v := range d.Visits {
		visits[i] = v.ID
	}
	if err := qc.ValidateRules(d.QC.Rules, visits); err != nil {
		return within("qc", err)
	}
	if d.Reads.Form == nil {
		// Absent: a parsed design always has a form.
		return invalid("reads", "required")
	}
	return nil
}

// checkID checks one id at path for form and uniqueness among seen.
func checkID(path, id, what string, seen map[string]bool) error {
	switch {
	case id == "":
		return invalid(path, "required")
	case !trialgate.ValidID(id):
		return invalid(path, "%q must be 1-64 of A-Z a-z 0-9 . _ -", id)
	case seen[id]:
		return invalid(path, "duplicate %s id %q", what, id)
	}
	seen[id] = true
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
