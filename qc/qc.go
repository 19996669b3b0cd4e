// Package qc evaluates a trial's automatic quality-control rules
// (Rule) and reports one Result per rule and thing checked.
//
// # Levels
//
// Rules work at one of three levels:
//
//   - instance: one header, checked on upload by Instance
//     (required_attribute, allowed_modalities, allowed_sop_classes,
//     numeric_range, clinical_trial_tags);
//   - series: every series of a submission, checked when the submission is
//     completed by Submission (instance_count, single_frame_of_reference,
//     contiguous_instance_numbers);
//   - visit: the submission as a whole, also by Submission (expected_series,
//     no_duplicate_instances).
//
// Every rule that applies yields a result, passes included, so the stored
// record shows what was checked; results are sorted by level, rule and
// subject, so the same input always gives the same results. A rule that
// does not hold has the rule's severity (warn or fail) as its outcome.
//
// # Built-ins
//
// single_frame_of_reference, contiguous_instance_numbers and
// no_duplicate_instances need no parameters and catch upload mistakes
// that are nearly always worth a look, so Submission runs them even when
// the trial lists no rule of their kind: as rule "builtin.<kind>" with
// severity warn. A trial that defines a rule of such a kind replaces the
// built-in with its own (and its severity). Instance-level rules have no
// built-ins.
//
// # Refusal
//
// Most findings are recorded for a QC reviewer. Only a failing
// allowed_modalities or allowed_sop_classes rule of severity fail refuses
// an object outright (it is not stored): see Refusal.
//
// # PHI
//
// Results are stored and shown to reviewers, so Seen never echoes free
// text from the header: it holds codes (modality, UIDs, numbers), counts
// and words such as "missing". Values are made valid UTF-8 and capped at
// 200 bytes. The package does no I/O.
package qc

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Level says what a result is about.
type Level string

// The levels, in the order results are sorted.
const (
	LevelInstance Level = "instance" // Subject is a SOP Instance UID
	LevelSeries   Level = "series"   // Subject is a Series Instance UID
	LevelVisit    Level = "visit"    // Subject is the submission's visit id
)

// Outcome is the outcome of one rule.
type Outcome string

// The outcomes, from best to worst.
const (
	Pass Outcome = "pass"
	Warn Outcome = "warn"
	Fail Outcome = "fail"
)

// The rule kinds (Rule.Kind).
const (
	KindRequiredAttribute         = "required_attribute"
	KindAllowedModalities         = "allowed_modalities"
	KindAllowedSOPClasses         = "allowed_sop_classes"
	KindNumericRange              = "numeric_range"
	KindClinicalTrialTags         = "clinical_trial_tags"
	KindExpectedSeries            = "expected_series"
	KindInstanceCount             = "instance_count"
	KindSingleFrameOfReference    = "single_frame_of_reference"
	KindContiguousInstanceNumbers = "contiguous_instance_numbers"
	KindNoDuplicateInstances      = "no_duplicate_instances"
)

// BuiltinPrefix starts the rule id of a built-in check ("builtin." + kind);
// trial definitions may not use it.
const BuiltinPrefix = "builtin."

// builtinKinds are the kinds Submission runs even when the trial defines
// no rule of theirs.
var builtinKinds = []string{KindSingleFrameOfReference, KindContiguousInstanceNumbers, KindNoDuplicateInstances}

// LevelOf returns the level at which rules of kind are evaluated, or ""
// for an unknown kind.
func LevelOf(kind string) Level {
	switch kind {
	case KindRequiredAttribute, KindAllowedModalities, KindAllowedSOPClasses, KindNumericRange, KindClinicalTrialTags:
		return LevelInstance
	case KindInstanceCount, KindSingleFrameOfReference, KindContiguousInstanceNumbers:
		return LevelSeries
	case KindExpectedSeries, KindNoDuplicateInstances:
		return LevelVisit
	}
	return ""
}

// Result is one rule's outcome on one subject, with the values seen.
type Result struct {
	Rule     string  `json:"rule"` // the rule's id, or builtin.<kind>
	Kind     string  `json:"kind"`
	Level    Level   `json:"level"`
	Subject  string  `json:"subject"`  // the SOP Instance UID, Series Instance UID or visit id
	Outcome  Outcome `json:"outcome"`  // pass, or the rule's severity when it does not hold
	Seen     string  `json:"seen"`     // what was seen, short: "3.0", "MR", "missing", "14 instances, 1..15: gap after 7"
	Expected string  `json:"expected"` // what the rule wants: "0.5..5", "one of CT, MR"
}

// Worst returns the worst outcome of results (fail > warn > pass), or
// pass for none.
func Worst(results []Result) Outcome {
	worst := Pass
	for _, r := range results {
		if rank(r.Outcome) > rank(worst) {
			worst = r.Outcome
		}
	}
	return worst
}

func rank(o Outcome) int {
	switch o {
	case Pass:
		return 0
	case Warn:
		return 1
	}
	return 2
}

// Refusal returns the first result that must refuse the object outright:
// a failing allowed_modalities or allowed_sop_classes rule of severity
// fail. The object is then not stored, and the STOW-RS response gives the
// reason. ok is false if there is none.
func Refusal(results []Result) (r Result, ok bool) {
	for _, res := range results {
		if res.Level == LevelInstance && res.Outcome == Fail &&
			(res.Kind == KindAllowedModalities || res.Kind == KindAllowedSOPClasses) {
			return res, true
		}
	}
	return Result{}, false
}

// result builds the result of rule on subject: pass when ok, the rule's
// severity otherwise.
func result(rule *Rule, level Level, subject string, ok bool, seen, expected string) Result {
	o := Pass
	if !ok {
		o = severity(rule.Severity)
	}
	return Result{Rule: rule.ID, Kind: rule.Kind, Level: level, Subject: clean(subject),
		Outcome: o, Seen: clean(seen), Expected: clean(expected)}
}

// severity maps a rule's severity to an outcome; anything but warn fails,
// so an unvalidated rule errs on the side of attention.
func severity(s string) Outcome {
	if s == string(Warn) {
		return Warn
	}
	return Fail
}

// sortResults orders results by level, rule and subject.
func sortResults(rs []Result) {
	slices.SortStableFunc(rs, func(a, b Result) int {
		return cmp.Or(
			cmp.Compare(levelRank(a.Level), levelRank(b.Level)),
			strings.Compare(a.Rule, b.Rule),
			strings.Compare(a.Subject, b.Subject))
	})
}

func levelRank(l Level) int {
	switch l {
	case LevelInstance:
		return 0
	case LevelSeries:
		return 1
	}
	return 2
}

// maxText is the most bytes a Seen, Expected or Subject holds.
const maxText = 200

// clean returns s as short printable UTF-8: invalid bytes and control
// characters become '?', and text beyond maxText bytes is cut at a rune
// boundary and marked with "...".
func clean(s string) string {
	ok := len(s) <= maxText && utf8.ValidString(s) && !strings.ContainsFunc(s, isControl)
	if ok {
		return s
	}
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || isControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= maxText {
		return s
	}
	const mark = "..."
	cut := maxText - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
