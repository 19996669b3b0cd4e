package reads

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/reads/agreement"
)

// The reader-variability report: how well the two readers of a double read
// agree, field by field, and how often their cases went to adjudication.
// It is what GET /api/v1/trials/{trial}/reads/agreement serves, as JSON
// (the AgreementReport marshalled with encoding/json) or as CSV (WriteCSV).

// Names of the statistics of a FieldAgreement, as the report spells them in
// JSON ("statistic") and in the CSV statistic column. They are stable.
const (
	// StatObserved is the proportion of pairs whose two values are the
	// same category (unweighted observed agreement, p_o).
	StatObserved = "observed_agreement"
	// StatKappa is Cohen's unweighted kappa with its 95% interval and
	// large-sample standard error (agreement.CohenKappaTable).
	StatKappa = "kappa"
	// StatKappaLinear and StatKappaQuadratic are the linearly and
	// quadratically weighted kappas, reported only for choice fields with
	// more than two choices.
	StatKappaLinear    = "kappa_linear"
	StatKappaQuadratic = "kappa_quadratic"
	// StatICC21 is ICC(2,1) (two-way random, absolute agreement) and
	// StatICC31 ICC(3,1) (two-way mixed, consistency), each with its 95%
	// interval (agreement.ICC2_1, agreement.ICC3_1).
	StatICC21 = "icc_2_1"
	StatICC31 = "icc_3_1"
	// StatICCF is the ANOVA statistic F = MSR/MSE that tests ICC = 0, on
	// n-1 and n-1 degrees of freedom for two readers. It is null, with a
	// note, when MSE is 0 (F would be +Inf).
	StatICCF = "icc_f"
	// StatBias is the Bland-Altman mean difference Reader 1 - Reader 2,
	// with its 95% interval; StatSD the standard deviation of the
	// differences; StatLoALower and StatLoAUpper the 95% limits of
	// agreement, bias ∓ 1.96 SD, each with its 95% interval
	// (agreement.BlandAltmanLimits).
	StatBias     = "bias"
	StatSD       = "sd"
	StatLoALower = "loa_lower"
	StatLoAUpper = "loa_upper"
)

// Pair is one double-read time point: the latest signed results of the two
// reads of a case.
type Pair struct {
	Case string // case code
	// Timepoint is the 1-based index of the time point within the case
	// (1 for a case that is one visit).
	Timepoint int
	// Readers are the usernames of Reader 1 and Reader 2 (slots 1 and 2).
	// The statistics use only the slot order, so pairs read by different
	// readers pool into one analysis, as usual with a pool of central
	// readers.
	Readers [2]string
	// Results are Reader 1's and Reader 2's results, as Validate returned
	// them (or their JSON round trip).
	Results [2]Result
}

// CaseAdjudication says whether a double-read case went to adjudication.
type CaseAdjudication struct {
	Case        string
	Readers     [2]string // Reader 1 and Reader 2
	Adjudicated bool
}

// AgreementReport is the reader-variability report of a trial's double
// reads. Marshalled with encoding/json it is the JSON form of the report;
// every number that is not estimable is null, never NaN or an error.
type AgreementReport struct {
	// Cases counts the distinct cases among the pairs; Pairs the pairs
	// (double-read time points).
	Cases int `json:"cases"`
	Pairs int `json:"pairs"`
	// DoubleReadCases counts the distinct cases given for adjudication,
	// AdjudicatedCases those that went to adjudication, and
	// AdjudicationRate is their ratio (null when there are none).
	DoubleReadCases  int       `json:"double_read_cases"`
	AdjudicatedCases int       `json:"adjudicated_cases"`
	AdjudicationRate NullFloat `json:"adjudication_rate"`
	// Fields has one entry per analysed top-level field of the form, in
	// form order.
	Fields []FieldAgreement `json:"fields"`
	// Readers has one entry per reader of a double-read case, sorted by
	// username.
	Readers []ReaderAdjudication `json:"readers"`
}

// FieldAgreement is the agreement of the two readers on one form field.
type FieldAgreement struct {
	Field   string `json:"field"` // the field id
	Type    string `json:"type"`  // choice, boolean, integer or decimal
	Derived bool   `json:"derived"`
	Label   string `json:"label,omitempty"`
	Unit    string `json:"unit,omitempty"`
	// N counts the pairs in which both readers have a value; only those
	// enter the statistics. Missing counts the pairs in which either value
	// is absent, Invalid those in which both are present but one is not a
	// value of the field as the form defines it (a number in a choice
	// field, a choice the form no longer lists). N + Missing + Invalid is
	// the report's Pairs.
	N       int `json:"n"`
	Missing int `json:"missing"`
	Invalid int `json:"invalid"`
	// Categories are the categories of a choice or boolean field in their
	// order (a choice field's Choices; false, true), and Table their
	// contingency table: Table[i][j] counts the pairs where Reader 1 gave
	// Categories[i] and Reader 2 Categories[j]. Both are absent for a
	// numeric field.
	Categories []string `json:"categories,omitempty"`
	Table      [][]int  `json:"table,omitempty"`
	// Statistics are the field's statistics, always the same names in the
	// same order for a given field type and number of choices:
	// observed_agreement, kappa[, kappa_linear, kappa_quadratic] for a
	// categorical field; icc_2_1, icc_3_1, icc_f, bias, sd, loa_lower,
	// loa_upper for a numeric one.
	Statistics []Statistic `json:"statistics"`
}

// Lookup returns the statistic with the given name (one of the Stat
// constants), and whether the field has it.
func (f *FieldAgreement) Lookup(name string) (Statistic, bool) {
	for _, s := range f.Statistics {
		if s.Name == name {
			return s, true
		}
	}
	return Statistic{}, false
}

// Statistic is one statistic of a field. A statistic that is not estimable
// for the data (too few pairs, no variance, 0/0) has a null Value and a Note
// saying why; a statistic without a confidence interval (observed
// agreement, SD, F) has null Low and High and no note for them.
type Statistic struct {
	Name  string    `json:"statistic"` // one of the Stat constants
	Value NullFloat `json:"value"`
	// Low and High bound the 95% confidence interval.
	Low  NullFloat `json:"ci_low"`
	High NullFloat `json:"ci_high"`
	// SE is the standard error of a kappa, absent for the others.
	SE   NullFloat `json:"se,omitzero"`
	Note string    `json:"note,omitempty"`
}

// ReaderAdjudication is one reader's adjudication record: of the
// double-read cases the reader read (as Reader 1 or 2), how many went to
// adjudication.
type ReaderAdjudication struct {
	Reader          string  `json:"reader"` // username
	DoubleReadCases int     `json:"double_read_cases"`
	Adjudicated     int     `json:"adjudicated"`
	Rate            float64 `json:"rate"` // Adjudicated / DoubleReadCases
}

// NullFloat is a number of the report that may be missing, as
// sql.NullFloat64: Valid is false when the statistic is not estimable. It
// marshals as a JSON number, or null when not Valid; a Float64 that is NaN
// or ±Inf marshals as null too, so a report always encodes.
type NullFloat struct {
	Float64 float64
	Valid   bool
}

// nullFloat returns x as a NullFloat, invalid when x is not finite.
func nullFloat(x float64) NullFloat {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return NullFloat{}
	}
	return NullFloat{Float64: x, Valid: true}
}

// finite reports whether n holds a finite number.
func (n NullFloat) finite() bool {
	return n.Valid && !math.IsNaN(n.Float64) && !math.IsInf(n.Float64, 0)
}

// MarshalJSON writes n as a number, or null when it is not a finite number.
func (n NullFloat) MarshalJSON() ([]byte, error) {
	if !n.finite() {
		return []byte("null"), nil
	}
	return json.Marshal(n.Float64)
}

// UnmarshalJSON reads a number or null, so that clients and tests can
// decode a report.
func (n *NullFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = NullFloat{}
		return nil
	}
	var x float64
	if err := json.Unmarshal(b, &x); err != nil {
		return fmt.Errorf("reads: agreement report number: %w", err)
	}
	*n = NullFloat{Float64: x, Valid: true}
	return nil
}

// String formats n the shortest way that reads back the same
// (strconv 'g', -1), or as "" when it is not a finite number.
func (n NullFloat) String() string {
	if !n.finite() {
		return ""
	}
	return strconv.FormatFloat(n.Float64, 'g', -1, 64)
}

// Notes of statistics that the report, rather than the agreement package,
// finds not estimable.
const (
	noteNoPairs   = "no pairs with both values"
	noteFewPairs  = "fewer than 2 pairs with both values"
	noteFInf      = "infinite: the error mean square is 0"
	noteNotFinite = "not a finite number"
)

// Agreement computes the reader-variability report of form f from the
// double-read pairs and the adjudication outcome of each double-read case.
//
// Fields: every top-level field of the form, in form order, derived fields
// included (for RECIST 1.1 the sum of diameters and the target, non-target
// and overall responses, the ones that matter most). Text, date and group
// fields are skipped: free text has no agreement statistic, and the rows of
// a group (such as a lesion table) need not correspond between readers;
// their derived totals are the fields to compare.
//
//   - Choice and boolean fields are categorical: observed agreement, and
//     Cohen's unweighted kappa, over the categories of the field (a choice
//     field's Choices in form order; false, true for a boolean). A choice
//     field with more than two choices also gets the linearly and
//     quadratically weighted kappas, whose weights take the order of the
//     choices as the form defines it as their ordinal scale (RECIST's
//     CR, PR, SD, ... order, NE last, for example).
//   - Integer and decimal fields are numeric: ICC(2,1) and ICC(3,1) with
//     their 95% intervals and F, and the Bland-Altman bias (Reader 1 minus
//     Reader 2), SD of the differences and limits of agreement, with the
//     95% intervals of the bias and of the limits.
//
// A pair enters a field's statistics only when both readers have a usable
// value for the field; FieldAgreement counts the others as Missing or
// Invalid. A statistic that is not estimable (fewer than 2 pairs, every
// value the same, any 0/0: agreement.ErrUndefined) is null with a short
// note; Agreement itself never fails. Each time point of a multi-visit case
// counts as one pair, as if the pairs were independent.
//
// Adjudication: the cases are counted once per case code (a case given
// twice is adjudicated if either entry says so); each reader is credited
// with every case in which they are Reader 1 or 2.
//
// The result depends on the pairs as a set: they are analysed in case and
// time point order whatever the order given. A nil form gives a report
// without fields.
func Agreement(f *Form, pairs []Pair, cases []CaseAdjudication) *AgreementReport {
	sorted := slices.Clone(pairs)
	slices.SortStableFunc(sorted, func(a, b Pair) int {
		return cmp.Or(strings.Compare(a.Case, b.Case), cmp.Compare(a.Timepoint, b.Timepoint))
	})
	r := &AgreementReport{
		Pairs:   len(pairs),
		Fields:  []FieldAgreement{},
		Readers: []ReaderAdjudication{},
	}
	for i, p := range sorted {
		if i == 0 || p.Case != sorted[i-1].Case {
			r.Cases++
		}
	}
	if f != nil {
		for i := range f.Fields {
			fld := &f.Fields[i]
			switch fld.Type {
			case TypeChoice, TypeBoolean:
				r.Fields = append(r.Fields, categoricalAgreement(fld, sorted))
			case TypeInteger, TypeDecimal:
				r.Fields = append(r.Fields, numericAgreement(fld, sorted))
			}
		}
	}
	r.adjudication(cases)
	return r
}

// newFieldAgreement returns the description part of a field's entry.
func newFieldAgreement(fld *Field) FieldAgreement {
	return FieldAgreement{Field: fld.ID, Type: fld.Type, Derived: fld.Derived, Label: fld.Label, Unit: fld.Unit}
}

// count sorts one pair of values into N, Missing or Invalid, and reports
// whether it enters the statistics.
func (fa *FieldAgreement) count(v [2]any, usable func(any) bool) bool {
	switch {
	case v[0] == nil || v[1] == nil:
		fa.Missing++
		return false
	case !usable(v[0]) || !usable(v[1]):
		fa.Invalid++
		return false
	}
	fa.N++
	return true
}

// values returns the two readers' values of field id in p.
func (p *Pair) values(id string) [2]any {
	return [2]any{p.Results[0].Values[id], p.Results[1].Values[id]}
}

// categoricalAgreement computes the statistics of a choice or boolean field.
func categoricalAgreement(fld *Field, pairs []Pair) FieldAgreement {
	fa := newFieldAgreement(fld)
	cats := []string{"false", "true"}
	if fld.Type == TypeChoice {
		cats = slices.Clone(fld.Choices)
	}
	index := make(map[string]int, len(cats))
	for i, c := range cats {
		index[c] = i
	}
	category := func(v any) (int, bool) {
		var s string
		switch x := v.(type) {
		case string:
			if fld.Type != TypeChoice {
				return 0, false
			}
			s = x
		case bool:
			if fld.Type != TypeBoolean {
				return 0, false
			}
			s = strconv.FormatBool(x)
		default:
			return 0, false
		}
		i, ok := index[s]
		return i, ok
	}
	usable := func(v any) bool { _, ok := category(v); return ok }

	k := len(cats)
	table := make([][]int, k)
	for i := range table {
		table[i] = make([]int, k)
	}
	for i := range pairs {
		v := pairs[i].values(fld.ID)
		if fa.count(v, usable) {
			a, _ := category(v[0])
			b, _ := category(v[1])
			table[a][b]++
		}
	}
	fa.Categories = cats
	fa.Table = table

	observed := Statistic{Name: StatObserved}
	if fa.N == 0 {
		observed.Note = noteNoPairs
	} else {
		agree := 0
		for i := range k {
			agree += table[i][i]
		}
		observed.Value = nullFloat(float64(agree) / float64(fa.N))
	}
	fa.Statistics = append(fa.Statistics, observed)

	type kappaStat struct {
		name string
		w    agreement.Weighting
	}
	weights := []kappaStat{{StatKappa, agreement.Unweighted}}
	if fld.Type == TypeChoice && k > 2 {
		weights = append(weights, kappaStat{StatKappaLinear, agreement.Linear}, kappaStat{StatKappaQuadratic, agreement.Quadratic})
	}
	counts := make([][]float64, k)
	for i := range counts {
		counts[i] = make([]float64, k)
		for j := range counts[i] {
			counts[i][j] = float64(table[i][j])
		}
	}
	for _, w := range weights {
		s := Statistic{Name: w.name}
		if fa.N < 2 {
			s.Note = noteFewPairs
		} else if kp, err := agreement.CohenKappaTable(counts, w.w); err != nil {
			s.Note = agreementNote(err)
		} else {
			s.Value, s.Low, s.High, s.SE = nullFloat(kp.Kappa), nullFloat(kp.Low), nullFloat(kp.High), nullFloat(kp.SE)
		}
		fa.Statistics = append(fa.Statistics, s.checked())
	}
	return fa
}

// numericAgreement computes the statistics of an integer or decimal field.
func numericAgreement(fld *Field, pairs []Pair) FieldAgreement {
	fa := newFieldAgreement(fld)
	usable := func(v any) bool {
		x, ok := number(v)
		return ok && !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	var a, b []float64
	for i := range pairs {
		v := pairs[i].values(fld.ID)
		if fa.count(v, usable) {
			x, _ := number(v[0])
			y, _ := number(v[1])
			a = append(a, x)
			b = append(b, y)
		}
	}
	names := []string{StatICC21, StatICC31, StatICCF, StatBias, StatSD, StatLoALower, StatLoAUpper}
	if fa.N < 2 {
		for _, n := range names {
			fa.Statistics = append(fa.Statistics, Statistic{Name: n, Note: noteFewPairs})
		}
		return fa
	}

	icc := func(name string, fn func(...[]float64) (agreement.ICC, error)) (Statistic, agreement.ICC, error) {
		s := Statistic{Name: name}
		res, err := fn(a, b)
		if err != nil {
			s.Note = agreementNote(err)
		} else {
			s.Value, s.Low, s.High = nullFloat(res.Value), nullFloat(res.Low), nullFloat(res.High)
		}
		return s.checked(), res, err
	}
	icc2, _, _ := icc(StatICC21, agreement.ICC2_1)
	icc3, res3, err3 := icc(StatICC31, agreement.ICC3_1)
	// F = MSR/MSE is the same for both ICCs; ICC(3,1) is undefined exactly
	// when F is 0/0, so its error is F's note too.
	f := Statistic{Name: StatICCF}
	switch {
	case err3 != nil:
		f.Note = icc3.Note
	case math.IsInf(res3.F, 1):
		f.Note = noteFInf
	default:
		f.Value = nullFloat(res3.F)
	}
	fa.Statistics = append(fa.Statistics, icc2, icc3, f.checked())

	bias, sd := Statistic{Name: StatBias}, Statistic{Name: StatSD}
	lower, upper := Statistic{Name: StatLoALower}, Statistic{Name: StatLoAUpper}
	if ba, err := agreement.BlandAltmanLimits(a, b); err != nil {
		note := agreementNote(err)
		bias.Note, sd.Note, lower.Note, upper.Note = note, note, note, note
	} else {
		bias.Value, bias.Low, bias.High = nullFloat(ba.Bias), nullFloat(ba.BiasLow), nullFloat(ba.BiasHigh)
		sd.Value = nullFloat(ba.SD)
		lower.Value, lower.Low, lower.High = nullFloat(ba.Lower), nullFloat(ba.LowerLow), nullFloat(ba.LowerHigh)
		upper.Value, upper.Low, upper.High = nullFloat(ba.Upper), nullFloat(ba.UpperLow), nullFloat(ba.UpperHigh)
	}
	fa.Statistics = append(fa.Statistics, bias.checked(), sd.checked(), lower.checked(), upper.checked())
	return fa
}

// checked gives a statistic whose value came out null without a reason
// (a non-finite result the agreement package did not flag) a note, so that
// no null goes unexplained.
func (s Statistic) checked() Statistic {
	if !s.Value.Valid && s.Note == "" {
		s.Note = noteNotFinite
	}
	return s
}

// agreementNote turns an error of the agreement package into a note: its
// public message without the "kappa: " or "icc: " prefix, such as
// "undefined, every rating is the same". The messages never carry a
// reading.
func agreementNote(err error) string {
	msg := trialgate.ErrorMessage(err)
	if _, rest, ok := strings.Cut(msg, ": "); ok {
		msg = rest
	}
	return msg
}

// adjudication fills in the adjudication counts and the per-reader rows.
func (r *AgreementReport) adjudication(cases []CaseAdjudication) {
	type caseInfo struct {
		readers     []string
		adjudicated bool
	}
	byCase := map[string]*caseInfo{}
	var order []string
	for _, c := range cases {
		ci := byCase[c.Case]
		if ci == nil {
			ci = &caseInfo{}
			byCase[c.Case] = ci
			order = append(order, c.Case)
		}
		ci.adjudicated = ci.adjudicated || c.Adjudicated
		for _, u := range c.Readers {
			if u != "" && !slices.Contains(ci.readers, u) {
				ci.readers = append(ci.readers, u)
			}
		}
	}
	perReader := map[string]*ReaderAdjudication{}
	for _, code := range order {
		ci := byCase[code]
		r.DoubleReadCases++
		if ci.adjudicated {
			r.AdjudicatedCases++
		}
		for _, u := range ci.readers {
			ra := perReader[u]
			if ra == nil {
				ra = &ReaderAdjudication{Reader: u}
				perReader[u] = ra
			}
			ra.DoubleReadCases++
			if ci.adjudicated {
				ra.Adjudicated++
			}
		}
	}
	if r.DoubleReadCases > 0 {
		r.AdjudicationRate = nullFloat(float64(r.AdjudicatedCases) / float64(r.DoubleReadCases))
	}
	for _, ra := range perReader {
		ra.Rate = float64(ra.Adjudicated) / float64(ra.DoubleReadCases)
		r.Readers = append(r.Readers, *ra)
	}
	slices.SortFunc(r.Readers, func(a, b ReaderAdjudication) int { return strings.Compare(a.Reader, b.Reader) })
}

// agreementCSVHeader is the header row of WriteCSV.
func agreementCSVHeader() []string {
	return []string{
		"section", "field", "type", "derived", "statistic", "value", "ci_low", "ci_high", "se",
		"n", "missing", "invalid", "note", "reader", "double_read_cases", "adjudicated", "rate",
	}
}

// WriteCSV writes the report as one CSV table (RFC 4180, encoding/csv)
// with a single header row:
//
//	section,field,type,derived,statistic,value,ci_low,ci_high,se,n,missing,invalid,note,reader,double_read_cases,adjudicated,rate
//
// The first column says which columns a row uses; the others are empty:
//
//   - "summary": statistic and value, one row each for cases, pairs,
//     double_read_cases, adjudicated_cases and adjudication_rate, in that
//     order.
//   - "field": one row per (field, statistic), fields in form order and
//     statistics in FieldAgreement order: field, type, derived (true or
//     false), statistic, value, ci_low, ci_high, se, n, missing, invalid
//     and note of the field.
//   - "reader": one row per reader, by username: reader,
//     double_read_cases, adjudicated and rate.
//
// Numbers are formatted with strconv 'g', -1 (the shortest form that reads
// back the same); a null is an empty cell. Field ids and usernames are
// restricted to letters, digits, '.', '_' and '-', so no cell starts a
// spreadsheet formula.
func (r *AgreementReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := agreementCSVHeader()
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[h] = i
	}
	row := func(cells map[string]string) error {
		rec := make([]string, len(header))
		for k, v := range cells {
			rec[col[k]] = v
		}
		return cw.Write(rec)
	}
	itoa := strconv.Itoa
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("reads: agreement csv: %w", err)
	}
	summary := []struct {
		name  string
		value string
	}{
		{"cases", itoa(r.Cases)},
		{"pairs", itoa(r.Pairs)},
		{"double_read_cases", itoa(r.DoubleReadCases)},
		{"adjudicated_cases", itoa(r.AdjudicatedCases)},
		{"adjudication_rate", r.AdjudicationRate.String()},
	}
	for _, s := range summary {
		if err := row(map[string]string{"section": "summary", "statistic": s.name, "value": s.value}); err != nil {
			return fmt.Errorf("reads: agreement csv: %w", err)
		}
	}
	for _, f := range r.Fields {
		for _, s := range f.Statistics {
			err := row(map[string]string{
				"section": "field", "field": f.Field, "type": f.Type, "derived": strconv.FormatBool(f.Derived),
				"statistic": s.Name, "value": s.Value.String(), "ci_low": s.Low.String(), "ci_high": s.High.String(),
				"se": s.SE.String(), "n": itoa(f.N), "missing": itoa(f.Missing), "invalid": itoa(f.Invalid), "note": s.Note,
			})
			if err != nil {
				return fmt.Errorf("reads: agreement csv: %w", err)
			}
		}
	}
	for _, ra := range r.Readers {
		err := row(map[string]string{
			"section": "reader", "reader": ra.Reader, "double_read_cases": itoa(ra.DoubleReadCases),
			"adjudicated": itoa(ra.Adjudicated), "rate": strconv.FormatFloat(ra.Rate, 'g', -1, 64),
		})
		if err != nil {
			return fmt.Errorf("reads: agreement csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("reads: agreement csv: %w", err)
	}
	return nil
}
