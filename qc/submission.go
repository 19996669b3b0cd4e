package qc

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate/dicom"
)

// Summary is what the series and visit rules need to know about one stored
// instance; the ingest pipeline keeps it as columns of the instance row.
type Summary struct {
	SOPInstanceUID      string `json:"sop_instance_uid"`
	SOPClassUID         string `json:"sop_class_uid"`
	SeriesInstanceUID   string `json:"series_instance_uid"`
	Modality            string `json:"modality"`
	SeriesDescription   string `json:"series_description"`
	FrameOfReferenceUID string `json:"frame_of_reference_uid"`
	OriginalSHA256      string `json:"original_sha256"` // hex SHA-256 of the object as received
	InstanceNumber      *int   `json:"instance_number"` // nil when absent or not an integer
}

// SummaryOf extracts a Summary from a de-identified header and the SHA-256
// of the original object.
func SummaryOf(ds *dicom.Dataset, originalSHA256 string) Summary {
	s := Summary{
		SOPInstanceUID:      ds.String(dicom.SOPInstanceUID),
		SOPClassUID:         ds.String(dicom.SOPClassUID),
		SeriesInstanceUID:   ds.String(dicom.SeriesInstanceUID),
		Modality:            ds.String(dicom.Modality),
		SeriesDescription:   ds.String(dicom.SeriesDescription),
		FrameOfReferenceUID: ds.String(dicom.FrameOfReferenceUID),
		OriginalSHA256:      originalSHA256,
	}
	if n, err := strconv.Atoi(strings.TrimSpace(ds.String(dicom.InstanceNumber))); err == nil {
		s.InstanceNumber = &n
	}
	return s
}

// series is one series of a submission: its instances sorted by SOP
// Instance UID (pointers into the caller's slice, which is only read), and
// the first modality and description they give.
type series struct {
	uid, modality, description string
	instances                  []*Summary
}

// Submission evaluates the series and visit rules among rules, and the
// built-ins the trial does not replace, over all instances of one
// submission whose visit id is visit. expected_series rules naming another
// visit are skipped, as are instance-level rules. The results are sorted
// by level, rule and subject.
func Submission(rules []Rule, visit string, instances []Summary) []Result {
	all := make([]*Summary, len(instances))
	for i := range instances {
		all[i] = &instances[i]
	}
	slices.SortFunc(all, func(a, b *Summary) int {
		return cmp.Or(strings.Compare(a.SeriesInstanceUID, b.SeriesInstanceUID),
			strings.Compare(a.SOPInstanceUID, b.SOPInstanceUID))
	})
	var groups []series
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].SeriesInstanceUID == all[i].SeriesInstanceUID {
			j++
		}
		g := series{uid: all[i].SeriesInstanceUID, instances: all[i:j:j]}
		for _, s := range g.instances {
			g.modality = cmp.Or(g.modality, s.Modality)
			g.description = cmp.Or(g.description, s.SeriesDescription)
		}
		groups = append(groups, g)
		i = j
	}

	var out []Result
	defined := map[string]bool{}
	for i := range rules {
		r := &rules[i]
		if lv := LevelOf(r.Kind); lv != LevelSeries && lv != LevelVisit {
			continue
		}
		defined[r.Kind] = true
		out = evaluate(out, r, visit, groups, all)
	}
	for _, kind := range builtinKinds {
		if !defined[kind] {
			r := Rule{ID: BuiltinPrefix + kind, Kind: kind, Severity: string(Warn)}
			out = evaluate(out, &r, visit, groups, all)
		}
	}
	sortResults(out)
	return out
}

// evaluate appends the results of one series or visit rule to out.
func evaluate(out []Result, r *Rule, visit string, groups []series, all []*Summary) []Result {
	switch r.Kind {
	case KindInstanceCount:
		for _, g := range groups {
			if r.Modality != "" && g.modality != r.Modality {
				continue
			}
			n := len(g.instances)
			out = append(out, result(r, LevelSeries, g.uid, inRange(n, r.MinInstances, r.MaxInstances),
				plural(n, "instance"), rangeText(r.MinInstances, r.MaxInstances, "instances")))
		}
	case KindSingleFrameOfReference:
		for _, g := range groups {
			ok, seen := singleFrameOfReference(g)
			out = append(out, result(r, LevelSeries, g.uid, ok, seen, "one frame of reference"))
		}
	case KindContiguousInstanceNumbers:
		for _, g := range groups {
			ok, seen := contiguous(g)
			out = append(out, result(r, LevelSeries, g.uid, ok, seen, "instance numbers without gaps or repeats"))
		}
	case KindExpectedSeries:
		if r.Visit != "" && r.Visit != visit {
			break
		}
		ok, seen, expected := expectedSeries(r, groups)
		out = append(out, result(r, LevelVisit, visit, ok, seen, expected))
	case KindNoDuplicateInstances:
		ok, seen := noDuplicates(all)
		out = append(out, result(r, LevelVisit, visit, ok, seen, "distinct SOP Instance UIDs and originals"))
	}
	return out
}

func inRange(n int, lo, hi *int) bool {
	return (lo == nil || n >= *lo) && (hi == nil || n <= *hi)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// singleFrameOfReference checks that the instances of g share one Frame
// of Reference UID, or all have none.
func singleFrameOfReference(g series) (ok bool, seen string) {
	counts := map[string]int{}
	missing := 0
	for _, s := range g.instances {
		if s.FrameOfReferenceUID == "" {
			missing++
		} else {
			counts[s.FrameOfReferenceUID]++
		}
	}
	switch {
	case len(counts) == 0:
		return true, "absent"
	case len(counts) == 1 && missing == 0:
		for uid := range counts {
			return true, uid
		}
	}
	var b strings.Builder
	if len(counts) > 1 {
		fmt.Fprintf(&b, "%d frames of reference: ", len(counts))
		for i, uid := range byCount(counts) {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s (%d)", uid, counts[uid])
		}
	}
	if missing > 0 {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "missing in %d of %d instances", missing, len(g.instances))
	}
	return false, b.String()
}

// byCount returns the keys of counts, most frequent first, then in order.
func byCount(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b))
	})
	return keys
}

// contiguous checks that the Instance Numbers of g have no gaps and no
// repeats. A series without any instance number passes (there is nothing
// to check); one where only some instances have one does not.
func contiguous(g series) (ok bool, seen string) {
	nums := make([]int, 0, len(g.instances))
	for _, s := range g.instances {
		if s.InstanceNumber != nil {
			nums = append(nums, *s.InstanceNumber)
		}
	}
	n := len(g.instances)
	if len(nums) == 0 {
		return true, plural(n, "instance") + ", no instance numbers"
	}
	slices.Sort(nums)
	var gaps, repeats []string
	for i := 1; i < len(nums); i++ {
		switch d := nums[i] - nums[i-1]; {
		case d == 0 && (i == 1 || nums[i-2] != nums[i]):
			repeats = append(repeats, strconv.Itoa(nums[i]))
		case d > 1:
			gaps = append(gaps, strconv.Itoa(nums[i-1]))
		}
	}
	missing := n - len(nums)
	seen = fmt.Sprintf("%s, %d..%d", plural(n, "instance"), nums[0], nums[len(nums)-1])
	if len(gaps) == 0 && len(repeats) == 0 && missing == 0 {
		return true, seen
	}
	var problems []string
	if len(gaps) > 0 {
		problems = append(problems, "gap after "+list(gaps, 5))
	}
	if len(repeats) > 0 {
		problems = append(problems, "repeated "+list(repeats, 5))
	}
	if missing > 0 {
		problems = append(problems, fmt.Sprintf("%d without a number", missing))
	}
	return false, seen + ": " + strings.Join(problems, "; ")
}

// list joins up to max items, noting how many more there are.
func list(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:max], ", "), len(items)-max)
}

// expectedSeries checks that at least one series has the rule's modality
// and description and an instance count in range. The descriptions seen
// are not reported (they are free text).
func expectedSeries(r *Rule, groups []series) (ok bool, seen, expected string) {
	expected = r.Modality + " series"
	if r.Description != "" {
		expected += fmt.Sprintf(" with description containing %q", r.Description)
	}
	if r.MinInstances != nil || r.MaxInstances != nil {
		expected += ", " + rangeText(r.MinInstances, r.MaxInstances, "instances")
	}
	want := strings.ToLower(r.Description)
	var found []string
	for _, g := range groups {
		if g.modality != r.Modality || !strings.Contains(strings.ToLower(g.description), want) {
			continue
		}
		n := len(g.instances)
		desc := fmt.Sprintf("series %s: %s", g.uid, plural(n, "instance"))
		if inRange(n, r.MinInstances, r.MaxInstances) {
			return true, desc, expected
		}
		found = append(found, desc)
	}
	if len(found) > 0 {
		return false, list(found, 3), expected
	}
	counts := map[string]int{}
	for _, g := range groups {
		counts[cmp.Or(g.modality, "no modality")]++
	}
	if len(counts) == 0 {
		return false, "no series", expected
	}
	var other []string
	for _, m := range byCount(counts) {
		other = append(other, fmt.Sprintf("%s x%d", m, counts[m]))
	}
	return false, "no matching series; series seen: " + list(other, 5), expected
}

// noDuplicates checks that no SOP Instance UID and no original (by
// SHA-256) occurs twice among all.
func noDuplicates(all []*Summary) (ok bool, seen string) {
	uids := make(map[string]int, len(all))
	hashes := make(map[string]int, len(all))
	for _, s := range all {
		if s.SOPInstanceUID != "" {
			uids[s.SOPInstanceUID]++
		}
		if s.OriginalSHA256 != "" {
			hashes[s.OriginalSHA256]++
		}
	}
	dups := func(counts map[string]int, short func(string) string) []string {
		repeated := map[string]int{}
		for k, n := range counts {
			if n > 1 {
				repeated[k] = n
			}
		}
		var out []string
		for _, k := range byCount(repeated) {
			out = append(out, fmt.Sprintf("%s x%d", short(k), counts[k]))
		}
		return out
	}
	du := dups(uids, func(s string) string { return s })
	dh := dups(hashes, func(s string) string { return "sha256 " + s[:min(len(s), 12)] })
	if len(du) == 0 && len(dh) == 0 {
		return true, plural(len(all), "instance") + ", all distinct"
	}
	var problems []string
	if len(du) > 0 {
		problems = append(problems, "repeated SOP Instance UIDs: "+list(du, 3))
	}
	if len(dh) > 0 {
		problems = append(problems, "repeated originals: "+list(dh, 3))
	}
	return false, strings.Join(problems, "; ")
}
