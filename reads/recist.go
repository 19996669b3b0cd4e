package reads

import (
	"fmt"
	"math"
	"strings"
)

// The rules here are those of RECIST 1.1: E.A. Eisenhauer, P. Therasse,
// J. Bogaerts et al., "New response evaluation criteria in solid tumours:
// Revised RECIST guideline (version 1.1)", Eur J Cancer 2009;45:228-247
// (doi:10.1016/j.ejca.2008.10.026). Section numbers below are the paper's.

// RECISTTemplate is the name of the RECIST 1.1 form template in a trial
// definition: {"form": {"template": "recist_1.1"}}.
const RECISTTemplate = "recist_1.1"

// Responses, as RECIST 1.1 names them. NonCRNonPD is the response of
// non-target disease that is neither gone nor progressing (§4.3.2, Table 2).
const (
	CR         = "CR" // complete response
	PR         = "PR" // partial response
	SD         = "SD" // stable disease
	PD         = "PD" // progressive disease
	NE         = "NE" // not evaluable
	NonCRNonPD = "NON_CR_NON_PD"
)

// Statuses of a non-target lesion at a time point.
const (
	Present     = "present"
	Absent      = "absent"
	Progression = "unequivocal_progression"
	NotAssessed = "not_evaluated"
)

// Field ids of the RECIST 1.1 form.
const (
	fTargets       = "target_lesions"
	fNonTargets    = "non_target_lesions"
	fNewLesions    = "new_lesions"
	fLocation      = "location"
	fOrgan         = "organ"
	fNodal         = "nodal"
	fLongest       = "longest_diameter_mm"
	fShortAxis     = "short_axis_mm"
	fEvaluable     = "evaluable"
	fStatus        = "status"
	fSum           = "sum_of_diameters_mm"
	fTargetResp    = "target_response"
	fNonTargetResp = "non_target_response"
	fOverallResp   = "overall_response"
)

// RECIST 1.1 limits (§3.1.1, §3.2.2).
const (
	maxTargets         = 5  // target lesions in total
	maxTargetsPerOrgan = 2  // lymph nodes of any site are one organ
	minLongestMM       = 10 // a measurable non-nodal lesion on CT (slice <= 5 mm)
	minNodeMM          = 15 // a measurable (pathological) lymph node, short axis
	normalNodeMM       = 10 // a node under this short axis is normal (§4.3.1)
)

// RECIST11 returns the RECIST 1.1 read form. The reader records, at each
// time point, the target lesions chosen at baseline (at most 5, at most 2
// per organ; lymph nodes by short axis, others by longest diameter: 0 when
// gone, 5 when too small to measure, §4.3.1 and Appendix II), the
// non-target lesions with their status, and whether there are new lesions.
// The gateway derives the sum of diameters, the target, non-target and
// overall time-point responses (§4.3, Tables 1 and 2) from these and the
// subject's earlier time points: give Validate the earlier results in
// order, the baseline first. At baseline, responses are not derived.
func RECIST11() *Form {
	mm := func(id, label, help string) Field {
		return Field{ID: id, Type: TypeDecimal, Label: label, Help: help, Min: ptr(0.0), Max: ptr(1000.0), Unit: "mm"}
	}
	responses := []string{CR, PR, SD, PD, NE}
	return &Form{
		Template:  RECISTTemplate,
		usesPrior: true,
		derive:    deriveRECIST,
		rules:     []Rule{{Field: fOverallResp}},
		Fields: []Field{
			{
				ID: fTargets, Type: TypeGroup, Label: "Target lesions", Required: true, MaxRows: maxTargets,
				Help: "The lesions chosen at baseline, in the same order at every time point: at most 5, at most 2 per organ. Send [] when there are none.",
				Fields: []Field{
					{ID: fLocation, Type: TypeText, Label: "Location", Required: true, MaxLength: 200},
					{ID: fOrgan, Type: TypeText, Label: "Organ", Required: true, MaxLength: 100,
						Help: "Lymph nodes of any site count as one organ."},
					{ID: fNodal, Type: TypeBoolean, Label: "Lymph node", Required: true},
					mm(fLongest, "Longest diameter", "Non-nodal lesions: 0 if it has disappeared, 5 if too small to measure. At baseline at least 10."),
					mm(fShortAxis, "Short axis", "Lymph nodes only. At baseline at least 15; under 10 is normal."),
					{ID: fEvaluable, Type: TypeBoolean, Label: "Evaluable",
						Help: "false if the lesion cannot be assessed at this time point (then leave the measurements out). Default true."},
				},
			},
			{
				ID: fNonTargets, Type: TypeGroup, Label: "Non-target lesions", Required: true,
				Help: "All other lesions present at baseline, in the same order at every time point. Send [] when there are none.",
				Fields: []Field{
					{ID: fLocation, Type: TypeText, Label: "Location", Required: true, MaxLength: 200},
					{ID: fStatus, Type: TypeChoice, Label: "Status", Required: true,
						Choices: []string{Present, Absent, Progression, NotAssessed},
						Help:    "absent: gone (a lymph node: under 10 mm short axis). At baseline always present."},
				},
			},
			{ID: fNewLesions, Type: TypeBoolean, Label: "New lesions", Required: true,
				Help: "Unequivocal new lesions since baseline."},
			{ID: fSum, Type: TypeDecimal, Label: "Sum of diameters", Unit: "mm", Derived: true,
				Help: "Longest diameters of non-nodal and short axes of nodal target lesions; absent when a target lesion is not evaluable."},
			{ID: fTargetResp, Type: TypeChoice, Label: "Target response", Derived: true, Choices: responses},
			{ID: fNonTargetResp, Type: TypeChoice, Label: "Non-target response", Derived: true,
				Choices: []string{CR, NonCRNonPD, PD, NE}},
			{ID: fOverallResp, Type: TypeChoice, Label: "Overall response", Derived: true,
				Choices: []string{CR, PR, SD, NonCRNonPD, PD, NE}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// target is one target lesion's measurement at a time point.
type target struct {
	nodal     bool
	evaluable bool
	size      float64 // short axis of a node, longest diameter otherwise
}

func deriveRECIST(v map[string]any, prior []Result) error {
	rows, _ := v[fTargets].([]map[string]any)
	ntRows, _ := v[fNonTargets].([]map[string]any)
	baseline := len(prior) == 0

	targets, err := measure(rows, baseline)
	if err != nil {
		return err
	}
	statuses := make([]string, len(ntRows))
	for i, r := range ntRows {
		statuses[i], _ = r[fStatus].(string)
		if baseline && statuses[i] != Present {
			return invalid(fmt.Sprintf("values.%s[%d].%s", fNonTargets, i, fStatus), "must be present at baseline")
		}
	}
	newLesions, _ := v[fNewLesions].(bool)

	if baseline {
		if newLesions {
			return invalid("values."+fNewLesions, "must be false at baseline: lesions seen at baseline are target or non-target lesions")
		}
		if len(targets)+len(statuses) == 0 {
			return invalid("values."+fTargets, "a baseline needs at least one target or non-target lesion")
		}
		if len(targets) > 0 {
			v[fSum], _ = sum(targets)
		}
		return nil
	}

	// Target and non-target lesions are those of baseline, followed at
	// every time point (§3.3, §4.3.3); a lesion that appears later is new.
	base, err := followed(prior[0], len(targets), len(statuses))
	if err != nil {
		return err
	}
	for i, t := range targets {
		if t.nodal != base[i] {
			return invalid(fmt.Sprintf("values.%s[%d].%s", fTargets, i, fNodal), "%t, but the baseline lesion %d has %t", t.nodal, i, base[i])
		}
	}

	var tr, ntr string
	if len(targets) > 0 {
		ref, err := references(prior)
		if err != nil {
			return err
		}
		s, complete := sum(targets)
		if complete {
			v[fSum] = s
		}
		tr = targetResponse(targets, s, complete, ref)
		v[fTargetResp] = tr
	}
	if len(statuses) > 0 {
		ntr = nonTargetResponse(statuses)
		v[fNonTargetResp] = ntr
	}
	v[fOverallResp] = overallResponse(tr, ntr, newLesions)
	return nil
}

// measure reads the target lesion rows, checking what the generic field
// checks cannot: which measurement a lesion needs, the per-organ limit,
// and, at baseline, measurability (§3.1.1).
func measure(rows []map[string]any, baseline bool) ([]target, error) {
	perOrgan := map[string]int{}
	out := make([]target, len(rows))
	for i, r := range rows {
		p := fmt.Sprintf("values.%s[%d]", fTargets, i)
		t := target{evaluable: true}
		t.nodal, _ = r[fNodal].(bool)
		if e, ok := r[fEvaluable].(bool); ok {
			t.evaluable = e
		}
		organ, _ := r[fOrgan].(string)
		key := strings.ToLower(strings.Join(strings.Fields(organ), " "))
		if t.nodal {
			key = "\x00lymph nodes" // one organ, whatever the reader called it
		}
		if perOrgan[key]++; perOrgan[key] > maxTargetsPerOrgan {
			if t.nodal {
				return nil, invalid(p+"."+fNodal, "at most %d target lymph nodes (RECIST 1.1: all nodes are one organ)", maxTargetsPerOrgan)
			}
			return nil, invalid(p+"."+fOrgan, "at most %d target lesions per organ", maxTargetsPerOrgan)
		}

		need, other, least := fLongest, fShortAxis, float64(minLongestMM)
		if t.nodal {
			need, other, least = fShortAxis, "", minNodeMM
		}
		if other != "" && r[other] != nil {
			return nil, invalid(p+"."+other, "only for a lymph node")
		}
		size, given := r[need].(float64)
		switch {
		case baseline && !t.evaluable:
			return nil, invalid(p+"."+fEvaluable, "every target lesion is measured at baseline")
		case !t.evaluable && given:
			return nil, invalid(p+"."+need, "leave it out for a lesion that is not evaluable")
		case t.evaluable && !given:
			return nil, invalid(p+"."+need, "required for an evaluable %s", map[bool]string{true: "lymph node", false: "non-nodal lesion"}[t.nodal])
		case baseline && size < least:
			return nil, invalid(p+"."+need, "%s is below %s mm: not measurable at baseline", fnum(size), fnum(least))
		}
		t.size = size
		out[i] = t
	}
	return out, nil
}

// sum returns the sum of diameters of the evaluable lesions, and whether
// every lesion was evaluable.
func sum(ts []target) (float64, bool) {
	s, complete := 0.0, true
	for _, t := range ts {
		if !t.evaluable {
			complete = false
			continue
		}
		s += t.size
	}
	return s, complete
}

// followed returns the baseline's target lesions (whether each is nodal),
// refusing a time point that does not follow the same lesions.
func followed(base Result, targets, nonTargets int) ([]bool, error) {
	rows, ok := rowsOf(base.Values[fTargets])
	if !ok {
		return nil, fmt.Errorf("reads: baseline result has no %s", fTargets)
	}
	ntRows, ok := rowsOf(base.Values[fNonTargets])
	if !ok {
		return nil, fmt.Errorf("reads: baseline result has no %s", fNonTargets)
	}
	if targets != len(rows) {
		return nil, invalid("values."+fTargets, "%d rows, but the baseline has %d target lesions: the baseline's lesions are followed, in order, at every time point (a lesion that appears later is a new lesion)", targets, len(rows))
	}
	if nonTargets != len(ntRows) {
		return nil, invalid("values."+fNonTargets, "%d rows, but the baseline has %d non-target lesions: the baseline's lesions are followed, in order, at every time point", nonTargets, len(ntRows))
	}
	nodal := make([]bool, len(rows))
	for i, r := range rows {
		nodal[i], _ = r[fNodal].(bool)
	}
	return nodal, nil
}

// reference holds the sums a follow-up is measured against: the baseline
// sum for response, the nadir for progression.
type reference struct {
	baseline, nadir float64
}

// references returns the baseline sum and the nadir: the smallest sum on
// study, the baseline included (§4.3.1). A time point whose sum is absent
// (a lesion not evaluable) gives no nadir.
func references(prior []Result) (reference, error) {
	b, ok := number(prior[0].Values[fSum])
	if !ok {
		return reference{}, fmt.Errorf("reads: baseline result has target lesions but no %s", fSum)
	}
	ref := reference{baseline: b, nadir: b}
	for _, r := range prior[1:] {
		if s, ok := number(r.Values[fSum]); ok {
			ref.nadir = min(ref.nadir, s)
		}
	}
	return ref, nil
}

// atLeast compares sums of diameters, forgiving the float rounding of
// decimal millimetres (a 30.0% decrease must count as 30%).
func atLeast(a, b float64) bool { return a >= b-1e-9*max(1, math.Abs(b)) }

// progressed applies §4.3.1 PD: the sum is at least 20% above the nadir
// and at least 5 mm above it.
func progressed(s float64, ref reference) bool {
	return atLeast(s-ref.nadir, 5) && atLeast(s, 1.2*ref.nadir)
}

// targetResponse applies §4.3.1. s is the sum of the evaluable lesions and
// complete whether every lesion was evaluable.
func targetResponse(ts []target, s float64, complete bool, ref reference) string {
	if !complete {
		// §4.3.4: a time point with a lesion not assessed is NE, unless
		// the lesions that were assessed already show progression.
		if progressed(s, ref) {
			return PD
		}
		return NE
	}
	// CR first: nodes under 10 mm are normal (§4.3.1) even when their
	// short axes, which stay in the sum, grew since the nadir.
	cr := true
	for _, t := range ts {
		if t.nodal && t.size >= normalNodeMM || !t.nodal && t.size != 0 {
			cr = false
			break
		}
	}
	switch {
	case cr:
		return CR
	case progressed(s, ref):
		return PD
	case atLeast(ref.baseline-s, 0.3*ref.baseline):
		return PR
	}
	return SD
}

// nonTargetResponse applies §4.3.2 to the statuses of the non-target
// lesions. "Absent" of a node means it is normal (under 10 mm).
func nonTargetResponse(statuses []string) string {
	allAbsent, notAssessed := true, false
	for _, s := range statuses {
		switch s {
		case Progression:
			return PD
		case NotAssessed:
			notAssessed = true
		}
		allAbsent = allAbsent && s == Absent
	}
	switch {
	case notAssessed:
		return NE
	case allAbsent:
		return CR
	}
	return NonCRNonPD
}

// overallResponse applies §4.3.4, Table 1 (target disease at baseline,
// tr set) and Table 2 (non-target disease only, tr ""). ntr is "" when
// there is no non-target disease, which Table 1 treats as CR.
func overallResponse(tr, ntr string, newLesions bool) string {
	if newLesions || tr == PD || ntr == PD {
		return PD
	}
	if tr == "" {
		return ntr // Table 2: CR, NON_CR_NON_PD or NE
	}
	switch tr {
	case CR:
		if ntr == "" || ntr == CR {
			return CR
		}
		return PR // non-target non-CR/non-PD or not evaluated
	case PR, SD, NE:
		return tr
	}
	return NE
}
