package qc_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/qc"
)

// series returns instances of one series numbered nums (nil: no number).
// Instance UIDs are series.<i>; original hashes are unique.
func series(uid, modality, desc, frame string, nums ...*int) []qc.Summary {
	out := make([]qc.Summary, len(nums))
	for i, n := range nums {
		out[i] = qc.Summary{
			SOPInstanceUID: fmt.Sprintf("%s.%d", uid, i+1), SOPClassUID: "1.2.840.10008.5.1.4.1.1.4",
			SeriesInstanceUID: uid, Modality: modality, SeriesDescription: desc, FrameOfReferenceUID: frame,
			OriginalSHA256: hash(fmt.Sprintf("%s.%d", uid, i+1)), InstanceNumber: n,
		}
	}
	return out
}

// hash returns the hex SHA-256 of s.
func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// seq returns pointers to from..to.
func seq(from, to int) []*int {
	var out []*int
	for i := from; i <= to; i++ {
		out = append(out, ptr(i))
	}
	return out
}

func concat(parts ...[]qc.Summary) []qc.Summary { return slices.Concat(parts...) }

// brief is a result reduced to what the tables compare.
type brief struct {
	Subject string
	Outcome qc.Outcome
	Seen    string
}

func briefs(rs []qc.Result, rule string) []brief {
	var out []brief
	for _, r := range rs {
		if r.Rule == rule {
			out = append(out, brief{r.Subject, r.Outcome, r.Seen})
		}
	}
	return out
}

func TestSubmissionRules(t *testing.T) {
	t1 := series("2.25.10", "MR", "AX T1 post", "2.25.99", seq(1, 20)...)
	t2 := series("2.25.11", "MR", "AX T2", "2.25.99", seq(1, 5)...)
	ct := series("2.25.12", "CT", "", "", seq(1, 3)...)
	cases := []struct {
		name      string
		rule      qc.Rule
		visit     string
		instances []qc.Summary
		want      []brief
		expected  string
	}{
		// instance_count
		{name: "count in range", rule: qc.Rule{Kind: "instance_count", MinInstances: ptr(5), MaxInstances: ptr(20)},
			instances: concat(t1, t2), want: []brief{{"2.25.10", qc.Pass, "20 instances"}, {"2.25.11", qc.Pass, "5 instances"}},
			expected: "5..20 instances"},
		{name: "count too few", rule: qc.Rule{Kind: "instance_count", MinInstances: ptr(10)},
			instances: concat(t1, t2), want: []brief{{"2.25.10", qc.Pass, "20 instances"}, {"2.25.11", qc.Fail, "5 instances"}},
			expected: ">= 10 instances"},
		{name: "count too many warn", rule: qc.Rule{Kind: "instance_count", Severity: "warn", MaxInstances: ptr(1)},
			instances: ct, want: []brief{{"2.25.12", qc.Warn, "3 instances"}}, expected: "<= 1 instances"},
		{name: "count modality filter", rule: qc.Rule{Kind: "instance_count", Modality: "CT", MinInstances: ptr(4)},
			instances: concat(t1, ct), want: []brief{{"2.25.12", qc.Fail, "3 instances"}}},
		{name: "count modality absent", rule: qc.Rule{Kind: "instance_count", Modality: "PT", MinInstances: ptr(4)},
			instances: concat(t1, ct), want: nil},

		// single_frame_of_reference
		{name: "frame shared", rule: qc.Rule{Kind: "single_frame_of_reference"},
			instances: t2, want: []brief{{"2.25.11", qc.Pass, "2.25.99"}}, expected: "one frame of reference"},
		{name: "frame absent everywhere", rule: qc.Rule{Kind: "single_frame_of_reference"},
			instances: ct, want: []brief{{"2.25.12", qc.Pass, "absent"}}},
		{name: "frame differs", rule: qc.Rule{Kind: "single_frame_of_reference"},
			instances: concat(t2, series("2.25.11", "MR", "AX T2", "2.25.98", ptr(6))),
			want:      []brief{{"2.25.11", qc.Fail, "2 frames of reference: 2.25.99 (5), 2.25.98 (1)"}}},
		{name: "frame partly missing warn", rule: qc.Rule{Kind: "single_frame_of_reference", Severity: "warn"},
			instances: concat(t2, series("2.25.11", "MR", "AX T2", "", ptr(6), ptr(7))),
			want:      []brief{{"2.25.11", qc.Warn, "missing in 2 of 7 instances"}}},

		// contiguous_instance_numbers
		{name: "contiguous", rule: qc.Rule{Kind: "contiguous_instance_numbers"},
			instances: concat(t2, series("2.25.13", "MR", "", "", seq(0, 3)...)),
			want:      []brief{{"2.25.11", qc.Pass, "5 instances, 1..5"}, {"2.25.13", qc.Pass, "4 instances, 0..3"}},
			expected:  "instance numbers without gaps or repeats"},
		{name: "gap", rule: qc.Rule{Kind: "contiguous_instance_numbers"},
			instances: series("2.25.11", "MR", "", "", ptr(1), ptr(2), ptr(3), ptr(5), ptr(9)),
			want:      []brief{{"2.25.11", qc.Fail, "5 instances, 1..9: gap after 3, 5"}}},
		{name: "repeat warn", rule: qc.Rule{Kind: "contiguous_instance_numbers", Severity: "warn"},
			instances: series("2.25.11", "MR", "", "", ptr(1), ptr(2), ptr(2), ptr(2), ptr(3), ptr(3)),
			want:      []brief{{"2.25.11", qc.Warn, "6 instances, 1..3: repeated 2, 3"}}},
		{name: "partly unnumbered", rule: qc.Rule{Kind: "contiguous_instance_numbers"},
			instances: series("2.25.11", "MR", "", "", ptr(1), nil, ptr(4)),
			want:      []brief{{"2.25.11", qc.Fail, "3 instances, 1..4: gap after 1; 1 without a number"}}},
		{name: "unnumbered", rule: qc.Rule{Kind: "contiguous_instance_numbers"},
			instances: series("2.25.11", "MR", "", "", nil, nil),
			want:      []brief{{"2.25.11", qc.Pass, "2 instances, no instance numbers"}}},
		{name: "many gaps", rule: qc.Rule{Kind: "contiguous_instance_numbers"},
			instances: series("2.25.11", "MR", "", "", ptr(1), ptr(3), ptr(5), ptr(7), ptr(9), ptr(11), ptr(13), ptr(15)),
			want:      []brief{{"2.25.11", qc.Fail, "8 instances, 1..15: gap after 1, 3, 5, 7, 9 and 2 more"}}},

		// expected_series
		{name: "expected found", rule: qc.Rule{Kind: "expected_series", Modality: "MR", Description: "t1", MinInstances: ptr(10)},
			visit: "BL", instances: concat(t1, t2, ct), want: []brief{{"BL", qc.Pass, "series 2.25.10: 20 instances"}},
			expected: `MR series with description containing "t1", >= 10 instances`},
		{name: "expected any description", rule: qc.Rule{Kind: "expected_series", Modality: "CT"},
			visit: "BL", instances: concat(t1, ct), want: []brief{{"BL", qc.Pass, "series 2.25.12: 3 instances"}},
			expected: "CT series"},
		{name: "expected second series in range", rule: qc.Rule{Kind: "expected_series", Modality: "MR", MaxInstances: ptr(5)},
			visit: "BL", instances: concat(t1, t2), want: []brief{{"BL", qc.Pass, "series 2.25.11: 5 instances"}}},
		{name: "expected wrong count", rule: qc.Rule{Kind: "expected_series", Modality: "MR", MinInstances: ptr(30), MaxInstances: ptr(40)},
			visit: "BL", instances: concat(t1, t2, ct),
			want: []brief{{"BL", qc.Fail, "series 2.25.10: 20 instances, series 2.25.11: 5 instances"}}},
		{name: "expected missing", rule: qc.Rule{Kind: "expected_series", Severity: "warn", Modality: "MR", Description: "FLAIR"},
			visit: "BL", instances: concat(t1, t2, ct), want: []brief{{"BL", qc.Warn, "no matching series; series seen: MR x2, CT x1"}}},
		{name: "expected nothing uploaded", rule: qc.Rule{Kind: "expected_series", Modality: "MR"},
			visit: "BL", want: []brief{{"BL", qc.Fail, "no series"}}},
		{name: "expected this visit", rule: qc.Rule{Kind: "expected_series", Visit: "BL", Modality: "PT"},
			visit: "BL", instances: ct, want: []brief{{"BL", qc.Fail, "no matching series; series seen: CT x1"}}},
		{name: "expected other visit", rule: qc.Rule{Kind: "expected_series", Visit: "W12", Modality: "PT"},
			visit: "BL", instances: ct, want: nil},

		// no_duplicate_instances
		{name: "distinct", rule: qc.Rule{Kind: "no_duplicate_instances"},
			visit: "BL", instances: concat(t1, t2), want: []brief{{"BL", qc.Pass, "25 instances, all distinct"}},
			expected: "distinct SOP Instance UIDs and originals"},
		{name: "same uid", rule: qc.Rule{Kind: "no_duplicate_instances"},
			visit: "BL", instances: concat(t2, t2[:1]),
			want: []brief{{"BL", qc.Fail, "repeated SOP Instance UIDs: 2.25.11.1 x2; repeated originals: sha256 " + hash("2.25.11.1")[:12] + " x2"}}},
		{name: "same original warn", rule: qc.Rule{Kind: "no_duplicate_instances", Severity: "warn"},
			visit: "BL", instances: func() []qc.Summary {
				s := slices.Clone(t2)
				s[3].OriginalSHA256 = s[1].OriginalSHA256
				return s
			}(),
			want: []brief{{"BL", qc.Warn, "repeated originals: sha256 " + hash("2.25.11.2")[:12] + " x2"}}},
		{name: "empty submission", rule: qc.Rule{Kind: "no_duplicate_instances"},
			visit: "BL", want: []brief{{"BL", qc.Pass, "0 instances, all distinct"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			r.ID = "r"
			if r.Severity == "" {
				r.Severity = "fail"
			}
			got := qc.Submission([]qc.Rule{r}, tc.visit, tc.instances)
			if b := briefs(got, "r"); !slices.Equal(b, tc.want) {
				t.Errorf("got  %+v\nwant %+v", b, tc.want)
			}
			for _, g := range got {
				if g.Rule == "r" {
					if g.Kind != r.Kind || g.Level != qc.LevelOf(r.Kind) {
						t.Errorf("kind/level: %+v", g)
					}
					if tc.expected != "" && g.Expected != tc.expected {
						t.Errorf("expected %q, want %q", g.Expected, tc.expected)
					}
				}
				if strings.HasPrefix(g.Rule, qc.BuiltinPrefix+r.Kind) {
					t.Errorf("built-in %s ran beside the trial's rule of its kind", g.Rule)
				}
			}
		})
	}
}

func TestBuiltins(t *testing.T) {
	good := concat(series("2.25.10", "MR", "T1", "2.25.99", seq(1, 4)...), series("2.25.11", "MR", "T2", "", seq(1, 2)...))
	got := qc.Submission(nil, "BL", good)
	want := []qc.Result{
		{Rule: "builtin.contiguous_instance_numbers", Kind: "contiguous_instance_numbers", Level: qc.LevelSeries, Subject: "2.25.10",
			Outcome: qc.Pass, Seen: "4 instances, 1..4", Expected: "instance numbers without gaps or repeats"},
		{Rule: "builtin.contiguous_instance_numbers", Kind: "contiguous_instance_numbers", Level: qc.LevelSeries, Subject: "2.25.11",
			Outcome: qc.Pass, Seen: "2 instances, 1..2", Expected: "instance numbers without gaps or repeats"},
		{Rule: "builtin.single_frame_of_reference", Kind: "single_frame_of_reference", Level: qc.LevelSeries, Subject: "2.25.10",
			Outcome: qc.Pass, Seen: "2.25.99", Expected: "one frame of reference"},
		{Rule: "builtin.single_frame_of_reference", Kind: "single_frame_of_reference", Level: qc.LevelSeries, Subject: "2.25.11",
			Outcome: qc.Pass, Seen: "absent", Expected: "one frame of reference"},
		{Rule: "builtin.no_duplicate_instances", Kind: "no_duplicate_instances", Level: qc.LevelVisit, Subject: "BL",
			Outcome: qc.Pass, Seen: "6 instances, all distinct", Expected: "distinct SOP Instance UIDs and originals"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}

	// Built-ins warn; a trial rule of the kind replaces the built-in and
	// sets the severity; the other built-ins still run.
	bad := concat(good, series("2.25.10", "MR", "T1", "2.25.98", ptr(9)))
	got = qc.Submission(nil, "BL", bad)
	if w := qc.Worst(got); w != qc.Warn {
		t.Errorf("built-ins: worst %s, want warn: %+v", w, got)
	}
	rules := []qc.Rule{{ID: "frame", Kind: "single_frame_of_reference", Severity: "fail"}}
	got = qc.Submission(rules, "BL", bad)
	var rulesRun []string
	for _, r := range got {
		if !slices.Contains(rulesRun, r.Rule) {
			rulesRun = append(rulesRun, r.Rule)
		}
		if r.Rule == "frame" && r.Subject == "2.25.10" && r.Outcome != qc.Fail {
			t.Errorf("trial rule: %+v", r)
		}
		if r.Rule == "builtin.contiguous_instance_numbers" && r.Subject == "2.25.10" &&
			(r.Outcome != qc.Warn || r.Seen != "5 instances, 1..9: gap after 4") {
			t.Errorf("built-in contiguity: %+v", r)
		}
	}
	if want := []string{"builtin.contiguous_instance_numbers", "frame", "builtin.no_duplicate_instances"}; !slices.Equal(rulesRun, want) {
		t.Errorf("rules run %v, want %v", rulesRun, want)
	}
	if qc.Worst(got) != qc.Fail {
		t.Errorf("worst %s, want fail", qc.Worst(got))
	}
}

func TestSubmissionSkipsInstanceRules(t *testing.T) {
	rules := []qc.Rule{{ID: "m", Kind: "allowed_modalities", Severity: "fail", Modalities: []string{"CT"}}}
	for _, r := range qc.Submission(rules, "BL", series("2.25.1", "MR", "", "", ptr(1))) {
		if r.Rule == "m" {
			t.Errorf("instance rule evaluated at completion: %+v", r)
		}
	}
}

// The results do not depend on the order of the instances or rules, and
// are sorted by level, rule and subject.
func TestSubmissionDeterministic(t *testing.T) {
	rules := []qc.Rule{
		{ID: "count", Kind: "instance_count", Severity: "warn", MinInstances: ptr(3)},
		{ID: "t1", Kind: "expected_series", Severity: "fail", Modality: "MR", Description: "t1"},
		{ID: "dups", Kind: "no_duplicate_instances", Severity: "fail"},
	}
	var in []qc.Summary
	for s := range 6 {
		uid := fmt.Sprintf("2.25.%d", 100+s)
		in = append(in, series(uid, "MR", fmt.Sprintf("T%d", s%3), "2.25.9"+fmt.Sprint(s%2), seq(1, 2+s)...)...)
	}
	in[4].FrameOfReferenceUID = "2.25.77" // a finding in series 2.25.100
	want := qc.Submission(rules, "BL", in)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		rng.Shuffle(len(rules), func(i, j int) { rules[i], rules[j] = rules[j], rules[i] })
		if got := qc.Submission(rules, "BL", in); !slices.Equal(got, want) {
			t.Fatalf("order changed the results:\n%+v\n%+v", got, want)
		}
	}
	sorted := slices.IsSortedFunc(want, func(a, b qc.Result) int {
		return strings.Compare(string(a.Level)+"\x00"+a.Rule+"\x00"+a.Subject, string(b.Level)+"\x00"+b.Rule+"\x00"+b.Subject)
	})
	if !sorted {
		t.Errorf("not sorted: %+v", want)
	}
}
