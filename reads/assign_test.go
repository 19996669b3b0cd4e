package reads_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/reads"
)

func TestAssignRejects(t *testing.T) {
	ok := []reads.Reader{{ID: "r1"}, {ID: "r2", Sites: []string{"S1"}}}
	tests := []struct {
		name string
		req  reads.AssignRequest
		code string
		want []string // substrings of the message
	}{
		{"empty seed", reads.AssignRequest{Cases: []reads.Case{{"C1", "S1"}}, Readers: ok},
			trialgate.EInvalid, []string{"seed"}},
		{"case without id", reads.AssignRequest{Seed: "s", Cases: []reads.Case{{"", "S1"}}, Readers: ok},
			trialgate.EInvalid, []string{"no id"}},
		{"case without site", reads.AssignRequest{Seed: "s", Cases: []reads.Case{{"C1", ""}}, Readers: ok},
			trialgate.EInvalid, []string{"C1", "no site"}},
		{"duplicate case", reads.AssignRequest{Seed: "s", Cases: []reads.Case{{"C1", "S1"}, {"C1", "S2"}}, Readers: ok},
			trialgate.EInvalid, []string{"C1", "twice"}},
		{"reader without id", reads.AssignRequest{Seed: "s", Cases: []reads.Case{{"C1", "S1"}}, Readers: []reads.Reader{{}}},
			trialgate.EInvalid, []string{"no id"}},
		{"duplicate reader", reads.AssignRequest{Seed: "s", Cases: []reads.Case{{"C1", "S1"}}, Readers: []reads.Reader{{ID: "r1"}, {ID: "r1"}}},
			trialgate.EInvalid, []string{"r1", "twice"}},
		{"empty affiliation", reads.AssignRequest{Seed: "s", Cases: []reads.Case{{"C1", "S1"}}, Readers: []reads.Reader{{ID: "r1", Sites: []string{""}}}},
			trialgate.EInvalid, []string{"r1", "empty site"}},
		{"negative load", reads.AssignRequest{Seed: "s", Cases: []reads.Case{{"C1", "S1"}}, Readers: ok, Load: map[string]int{"r2": -1}},
			trialgate.EInvalid, []string{"r2", "negative"}},
		{"no readers", reads.AssignRequest{Seed: "s", Cases: []reads.Case{{"C1", "S1"}}},
			trialgate.EConflict, []string{"case C1", "no reader is outside site S1", "nothing was assigned"}},
		{"only readers of the site", reads.AssignRequest{Seed: "s",
			Cases:   []reads.Case{{"C1", "S2"}, {"C2", "S1"}},
			Readers: []reads.Reader{{ID: "r1", Sites: []string{"S1"}}, {ID: "r2", Sites: []string{"S3", "S1"}}}},
			trialgate.EConflict, []string{"case C2", "no reader is outside site S1"}},
		{"double read with one eligible reader", reads.AssignRequest{Seed: "s", Double: true,
			Cases: []reads.Case{{"C1", "S2"}, {"C2", "S1"}, {"C3", "S1"}}, Readers: ok},
			trialgate.EConflict, []string{"case C2", "two readers outside site S1", "and 1 more cases"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reads.Assign(tt.req)
			if got != nil {
				t.Errorf("Assign returned %d assignments with the error; want none", len(got))
			}
			if code := trialgate.ErrorCode(err); code != tt.code {
				t.Fatalf("Assign error = %v; want code %s", err, tt.code)
			}
			msg := trialgate.ErrorMessage(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestAssignNothing(t *testing.T) {
	got, err := reads.Assign(reads.AssignRequest{Seed: "s", Double: true, Readers: []reads.Reader{{ID: "r1"}}})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Assign with no cases = %v, %v; want an empty list", got, err)
	}
}

// TestAssignGolden pins the output of one seed. If it changes, stored seeds
// no longer reproduce their assignments: bump reads.AssignAlgorithm.
func TestAssignGolden(t *testing.T) {
	req := reads.AssignRequest{
		Seed:   "golden",
		Double: true,
		Cases:  []reads.Case{{"K1", "S1"}, {"K2", "S2"}, {"K3", "S1"}, {"K4", "S3"}},
		Readers: []reads.Reader{
			{ID: "ann", Sites: []string{"S1"}}, {ID: "bob"}, {ID: "cat", Sites: []string{"S2"}}, {ID: "dan"},
		},
		Load: map[string]int{"bob": 1},
	}
	got, err := reads.Assign(req)
	if err != nil {
		t.Fatal(err)
	}
	want := goldenAssignment
	if !slices.Equal(got, want) {
		t.Errorf("assignment of seed %q changed under %s:\n got %v\nwant %v", req.Seed, reads.AssignAlgorithm, got, want)
	}
}

var goldenAssignment = []reads.Assignment{
	{"K1", "bob", "read", 1}, {"K1", "cat", "read", 2},
	{"K2", "ann", "read", 1}, {"K2", "dan", "read", 2},
	{"K3", "cat", "read", 1}, {"K3", "bob", "read", 2},
	{"K4", "dan", "read", 1}, {"K4", "ann", "read", 2},
}

// TestAssignUnbalanceable shows what Assign does when exclusions or earlier
// load make an even split impossible: the most even split there is.
func TestAssignUnbalanceable(t *testing.T) {
	tests := []struct {
		name string
		req  reads.AssignRequest
		want map[string]int // new tasks per reader
	}{{
		// x may read only the two S2 cases; the other ten go to y and z.
		name: "exclusions",
		req: reads.AssignRequest{
			Cases:   append(cases("A", "S1", 10), cases("B", "S2", 2)...),
			Readers: []reads.Reader{{ID: "x", Sites: []string{"S1"}}, {ID: "y"}, {ID: "z"}},
		},
		want: map[string]int{"x": 2, "y": 5, "z": 5},
	}, {
		// x already holds ten tasks: the four new ones go to the others.
		name: "earlier load",
		req: reads.AssignRequest{
			Cases:   cases("A", "S1", 4),
			Readers: []reads.Reader{{ID: "x"}, {ID: "y"}, {ID: "z"}},
			Load:    map[string]int{"x": 10},
		},
		want: map[string]int{"x": 0, "y": 2, "z": 2},
	}, {
		// Double read: x and y may read only S2 and S1 respectively; w and
		// v may read anything and take the rest, evening out with the others
		// where they can.
		name: "double read",
		req: reads.AssignRequest{
			Double:  true,
			Cases:   append(cases("A", "S1", 6), cases("B", "S2", 2)...),
			Readers: []reads.Reader{{ID: "x", Sites: []string{"S1"}}, {ID: "y", Sites: []string{"S2"}}, {ID: "v"}, {ID: "w"}},
		},
		// 16 tasks: x can take at most 2; y, v and w share the other 14
		// as 5, 5, 4 in some order; checked as a multiset below.
		want: map[string]int{"x": 2},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range 20 {
				tt.req.Seed = fmt.Sprint(seed)
				got, err := reads.Assign(tt.req)
				if err != nil {
					t.Fatal(err)
				}
				n := map[string]int{}
				for _, a := range got {
					n[a.Reader]++
				}
				for r, w := range tt.want {
					if n[r] != w {
						t.Errorf("seed %d: %s got %d tasks, want %d (all: %v)", seed, r, n[r], w, n)
					}
				}
				if tt.name == "double read" {
					rest := []int{n["y"], n["v"], n["w"]}
					slices.Sort(rest)
					if !slices.Equal(rest, []int{4, 5, 5}) {
						t.Errorf("seed %d: y, v, w got %v tasks, want 4, 5, 5 in some order", seed, n)
					}
				}
				checkValid(t, tt.req, got)
				checkNoImprovingChain(t, tt.req, got)
			}
		})
	}
}

func cases(prefix, site string, n int) []reads.Case {
	out := make([]reads.Case, n)
	for i := range out {
		out[i] = reads.Case{ID: fmt.Sprintf("%s%03d", prefix, i), Site: site}
	}
	return out
}

// TestAssignProperties checks every invariant on random inputs: validity
// (each case read once or twice by distinct, eligible readers), all or
// nothing, determinism, order independence, and balance (no chain of
// reassignments could even the loads out further; spread at most one
// when no site excludes anyone).
func TestAssignProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 0))
	for iter := range 400 {
		req := randomRequest(rng, 0, 60, 8)
		name := fmt.Sprintf("iter %d (%d cases, %d readers, double %v)", iter, len(req.Cases), len(req.Readers), req.Double)
		got, err := reads.Assign(req)
		feasible := isFeasible(req)
		if !feasible {
			if trialgate.ErrorCode(err) != trialgate.EConflict || got != nil {
				t.Fatalf("%s: infeasible input gave %d assignments, %v; want none and a conflict", name, len(got), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkValid(t, req, got)
		checkNoImprovingChain(t, req, got)
		if noExclusions(req) && len(req.Load) == 0 {
			n := newLoads(req, got)
			lo, hi := spread(n, req.Readers)
			if hi-lo > 1 {
				t.Errorf("%s: without exclusions loads span %d..%d", name, lo, hi)
			}
		}

		// Same seed, input permuted: same output.
		perm := permuted(rng, req)
		again, err := reads.Assign(perm)
		if err != nil || !slices.Equal(got, again) {
			t.Errorf("%s: permuted input gave a different assignment (%v)", name, err)
		}
	}
}

// TestAssignOptimal compares Assign with an exhaustive search on small
// inputs: its largest and smallest loads and its sum of squared loads are
// the best any valid assignment achieves, so loads span at most one
// whenever some assignment gets them there.
func TestAssignOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 0))
	checked := 0
	for iter := 0; checked < 1000; iter++ {
		req := randomRequest(rng, 3, 6, 4)
		if !isFeasible(req) {
			continue
		}
		checked++
		got, err := reads.Assign(req)
		if err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		best := exhaustive(req)
		l := totalLoads(req, got)
		var sq int
		for _, n := range l {
			sq += n * n
		}
		lo, hi := spread(l, eligibleReaders(req))
		if sq != best.squares || hi != best.max || lo != best.min {
			t.Errorf("iter %d: %+v\n got squares %d, loads %d..%d; best possible squares %d, loads %d..%d",
				iter, req, sq, lo, hi, best.squares, best.min, best.max)
		}
		if best.spread <= 1 && hi-lo > 1 {
			t.Errorf("iter %d: loads span %d..%d though %d is possible", iter, lo, hi, best.spread)
		}
	}
}

// TestAssignSeed checks that the seed is what decides: different seeds
// give different assignments, and over many seeds every eligible reader
// gets a given case at some point.
func TestAssignSeed(t *testing.T) {
	req := reads.AssignRequest{
		Double:  true,
		Cases:   append(cases("A", "S1", 30), cases("B", "S2", 30)...),
		Readers: []reads.Reader{{ID: "r1", Sites: []string{"S1"}}, {ID: "r2"}, {ID: "r3"}, {ID: "r4", Sites: []string{"S2"}}, {ID: "r5"}},
	}
	seen := map[string]bool{}
	var prev []reads.Assignment
	for seed := range 40 {
		req.Seed = fmt.Sprintf("seed-%d", seed)
		got, err := reads.Assign(req)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && slices.Equal(got, prev) {
			t.Errorf("seed %d gave the same assignment as seed %d", seed, seed-1)
		}
		prev = got
		for _, a := range got {
			if a.Case == "A000" {
				seen[a.Reader] = true
			}
		}
	}
	// A000 is from S1, so r1 never reads it.
	if want := map[string]bool{"r2": true, "r3": true, "r4": true, "r5": true}; !mapsEqual(seen, want) {
		t.Errorf("readers of A000 over 40 seeds = %v; want %v", seen, want)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAssignAdjudicator(t *testing.T) {
	readers := []reads.Reader{
		{ID: "r1"}, {ID: "r2"}, {ID: "r3", Sites: []string{"S1"}}, {ID: "r4"}, {ID: "r5", Sites: []string{"S2", "S1"}},
	}
	tests := []struct {
		name     string
		site     string
		excluded []string
		readers  []reads.Reader
		load     map[string]int
		want     []string // any of these
		code     string
	}{
		{"least loaded wins", "S1", []string{"r1", "r2"}, readers, map[string]int{"r4": 0}, []string{"r4"}, ""},
		{"site excluded even if idle", "S1", []string{"r1"}, readers, map[string]int{"r2": 5, "r4": 3}, []string{"r4"}, ""},
		{"load decides", "S9", []string{"r1", "r2"}, readers, map[string]int{"r3": 4, "r4": 2, "r5": 1}, []string{"r5"}, ""},
		{"tie broken by seed", "S9", []string{"r1"}, readers, nil, []string{"r2", "r3", "r4", "r5"}, ""},
		{"nobody left", "S1", []string{"r1", "r2", "r4"}, readers, nil, nil, trialgate.EConflict},
		{"no readers", "S1", nil, nil, nil, nil, trialgate.EConflict},
		{"duplicate reader", "S1", nil, []reads.Reader{{ID: "r1"}, {ID: "r1"}}, nil, nil, trialgate.EInvalid},
		{"no site", "", nil, readers, nil, nil, trialgate.EInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reads.AssignAdjudicator("seed", "C7", tt.site, tt.excluded, tt.readers, tt.load)
			if code := trialgate.ErrorCode(err); code != tt.code {
				t.Fatalf("error %v; want code %q", err, tt.code)
			}
			if tt.code == trialgate.EConflict && !strings.Contains(trialgate.ErrorMessage(err), "case C7") {
				t.Errorf("message %q does not name the case", trialgate.ErrorMessage(err))
			}
			if tt.code == "" && !slices.Contains(tt.want, got) {
				t.Errorf("got %q; want one of %v", got, tt.want)
			}
		})
	}
}

// TestAssignAdjudicatorTies checks that ties are broken by seed and case,
// not by order: the reader order does not matter, every tied reader is
// chosen for some case, and the choice repeats for the same seed.
func TestAssignAdjudicatorTies(t *testing.T) {
	readers := []reads.Reader{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}, {ID: "e", Sites: []string{"S1"}}}
	reversed := slices.Clone(readers)
	slices.Reverse(reversed)
	load := map[string]int{"a": 1, "b": 1, "c": 1, "d": 2}
	count := map[string]int{}
	for i := range 200 {
		id := fmt.Sprintf("C%d", i)
		got, err := reads.AssignAdjudicator("s", id, "S1", []string{"x", "y"}, readers, load)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := reads.AssignAdjudicator("s", id, "S1", []string{"y", "x"}, reversed, load)
		if again != got {
			t.Fatalf("case %s: %q, then %q with readers reversed", id, got, again)
		}
		count[got]++
	}
	for _, r := range []string{"a", "b", "c"} {
		if count[r] < 40 { // expected about 67 each
			t.Errorf("tied reader %s chosen %d of 200 times: %v", r, count[r], count)
		}
	}
	if count["d"]+count["e"] != 0 {
		t.Errorf("a more loaded or affiliated reader was chosen: %v", count)
	}
}

// BenchmarkAssign is the budget: 10,000 cases double read by 20
// readers across 10 sites, each reader affiliated with one site.
func BenchmarkAssign(b *testing.B) {
	req := reads.AssignRequest{Seed: "bench", Double: true}
	for i := range 10_000 {
		req.Cases = append(req.Cases, reads.Case{ID: fmt.Sprintf("C%05d", i), Site: fmt.Sprintf("S%d", i%10)})
	}
	for i := range 20 {
		req.Readers = append(req.Readers, reads.Reader{ID: fmt.Sprintf("R%02d", i), Sites: []string{fmt.Sprintf("S%d", i%10)}})
	}
	for b.Loop() {
		if _, err := reads.Assign(req); err != nil {
			b.Fatal(err)
		}
	}
}

// randomRequest draws minCases to maxCases cases and up to maxReaders
// readers over a few sites, with random affiliations, double reads and
// earlier loads.
func randomRequest(rng *rand.Rand, minCases, maxCases, maxReaders int) reads.AssignRequest {
	nsites := 1 + rng.IntN(4)
	site := func() string { return fmt.Sprintf("S%d", rng.IntN(nsites)) }
	req := reads.AssignRequest{Seed: fmt.Sprint(rng.Uint64()), Double: rng.IntN(2) == 0}
	for i := range minCases + rng.IntN(maxCases-minCases+1) {
		req.Cases = append(req.Cases, reads.Case{ID: fmt.Sprintf("C%d", i), Site: site()})
	}
	affiliated := rng.Float64() // some inputs with few exclusions, some with many
	for i := range 1 + rng.IntN(maxReaders) {
		r := reads.Reader{ID: fmt.Sprintf("R%d", i)}
		for s := range nsites {
			if rng.Float64() < affiliated/2 {
				r.Sites = append(r.Sites, fmt.Sprintf("S%d", s))
			}
		}
		req.Readers = append(req.Readers, r)
	}
	if rng.IntN(3) == 0 {
		req.Load = map[string]int{}
		for _, r := range req.Readers {
			if rng.IntN(2) == 0 {
				req.Load[r.ID] = rng.IntN(4)
			}
		}
	}
	return req
}

// permuted returns req with cases, readers and affiliations shuffled.
func permuted(rng *rand.Rand, req reads.AssignRequest) reads.AssignRequest {
	out := req
	out.Cases = slices.Clone(req.Cases)
	rng.Shuffle(len(out.Cases), func(i, j int) { out.Cases[i], out.Cases[j] = out.Cases[j], out.Cases[i] })
	out.Readers = nil
	for _, r := range req.Readers {
		r.Sites = slices.Clone(r.Sites)
		rng.Shuffle(len(r.Sites), func(i, j int) { r.Sites[i], r.Sites[j] = r.Sites[j], r.Sites[i] })
		out.Readers = append(out.Readers, r)
	}
	rng.Shuffle(len(out.Readers), func(i, j int) { out.Readers[i], out.Readers[j] = out.Readers[j], out.Readers[i] })
	return out
}

func eligible(r reads.Reader, c reads.Case) bool { return !slices.Contains(r.Sites, c.Site) }

func reads1(req reads.AssignRequest) int {
	if req.Double {
		return 2
	}
	return 1
}

func isFeasible(req reads.AssignRequest) bool {
	for _, c := range req.Cases {
		n := 0
		for _, r := range req.Readers {
			if eligible(r, c) {
				n++
			}
		}
		if n < reads1(req) {
			return false
		}
	}
	return true
}

func noExclusions(req reads.AssignRequest) bool {
	for _, r := range req.Readers {
		for _, c := range req.Cases {
			if !eligible(r, c) {
				return false
			}
		}
	}
	return true
}

// eligibleReaders are the readers who may read at least one case.
func eligibleReaders(req reads.AssignRequest) []reads.Reader {
	var out []reads.Reader
	for _, r := range req.Readers {
		if slices.ContainsFunc(req.Cases, func(c reads.Case) bool { return eligible(r, c) }) {
			out = append(out, r)
		}
	}
	return out
}

// checkValid checks that got reads every case of req the right number of
// times, with slots 1..k, by distinct readers of req not of the case's
// site, and is sorted by case and slot.
func checkValid(t *testing.T, req reads.AssignRequest, got []reads.Assignment) {
	t.Helper()
	k := reads1(req)
	if len(got) != k*len(req.Cases) {
		t.Fatalf("%d assignments for %d cases, want %d", len(got), len(req.Cases), k*len(req.Cases))
	}
	byID := map[string]reads.Case{}
	for _, c := range req.Cases {
		byID[c.ID] = c
	}
	readers := map[string]reads.Reader{}
	for _, r := range req.Readers {
		readers[r.ID] = r
	}
	slots := map[string][]string{}
	for i, a := range got {
		if i > 0 && (got[i-1].Case > a.Case || got[i-1].Case == a.Case && got[i-1].Slot >= a.Slot) {
			t.Errorf("assignments not sorted by case and slot at %d: %v, %v", i, got[i-1], a)
		}
		c, ok := byID[a.Case]
		r, rok := readers[a.Reader]
		switch {
		case !ok:
			t.Errorf("%v: unknown case", a)
		case !rok:
			t.Errorf("%v: unknown reader", a)
		case !eligible(r, c):
			t.Errorf("%v: reader is affiliated with the case's site %s", a, c.Site)
		case a.Kind != reads.AssignKindRead:
			t.Errorf("%v: kind %q", a, a.Kind)
		case a.Slot != len(slots[a.Case])+1:
			t.Errorf("%v: slot out of order", a)
		case slices.Contains(slots[a.Case], a.Reader):
			t.Errorf("%v: reader reads the case twice", a)
		}
		slots[a.Case] = append(slots[a.Case], a.Reader)
	}
}

func newLoads(req reads.AssignRequest, got []reads.Assignment) map[string]int {
	n := map[string]int{}
	for _, r := range req.Readers {
		n[r.ID] = 0
	}
	for _, a := range got {
		n[a.Reader]++
	}
	return n
}

func totalLoads(req reads.AssignRequest, got []reads.Assignment) map[string]int {
	n := newLoads(req, got)
	for r := range n {
		n[r] += req.Load[r]
	}
	return n
}

func spread(n map[string]int, among []reads.Reader) (lo, hi int) {
	for i, r := range among {
		if i == 0 || n[r.ID] < lo {
			lo = n[r.ID]
		}
		if i == 0 || n[r.ID] > hi {
			hi = n[r.ID]
		}
	}
	return lo, hi
}

// checkNoImprovingChain checks the optimality condition of the balance:
// no reader a can pass a task, directly or through a chain of readers each
// passing one on, to a reader b holding two or more fewer (counting Load).
// An edge p -> q exists when p reads a case that q may read and does not.
func checkNoImprovingChain(t *testing.T, req reads.AssignRequest, got []reads.Assignment) {
	t.Helper()
	l := totalLoads(req, got)
	byID := map[string]reads.Case{}
	for _, c := range req.Cases {
		byID[c.ID] = c
	}
	readersOf := map[string][]string{}
	for _, a := range got {
		readersOf[a.Case] = append(readersOf[a.Case], a.Reader)
	}
	edge := map[[2]string]bool{}
	for _, a := range got {
		for _, q := range req.Readers {
			if eligible(q, byID[a.Case]) && !slices.Contains(readersOf[a.Case], q.ID) {
				edge[[2]string{a.Reader, q.ID}] = true
			}
		}
	}
	for _, a := range req.Readers {
		seen := map[string]bool{a.ID: true}
		queue := []string{a.ID}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if l[p] <= l[a.ID]-2 {
				t.Errorf("reader %s (load %d) could pass a task to %s (load %d); loads %v", a.ID, l[a.ID], p, l[p], l)
				return
			}
			for _, q := range req.Readers {
				if !seen[q.ID] && edge[[2]string{p, q.ID}] {
					seen[q.ID] = true
					queue = append(queue, q.ID)
				}
			}
		}
	}
}

type best struct{ squares, max, min, spread int }

// exhaustive tries every valid assignment of req and returns the best sum
// of squared loads, largest load, smallest load and spread (each best on
// its own) among the eligible readers, counting Load.
func exhaustive(req reads.AssignRequest) best {
	k := reads1(req)
	// choices[c] lists the reader sets case c may get.
	var choices [][][]int
	for _, c := range req.Cases {
		var opts [][]int
		for i, r := range req.Readers {
			if !eligible(r, c) {
				continue
			}
			if k == 1 {
				opts = append(opts, []int{i})
				continue
			}
			for j := i + 1; j < len(req.Readers); j++ {
				if eligible(req.Readers[j], c) {
					opts = append(opts, []int{i, j})
				}
			}
		}
		choices = append(choices, opts)
	}
	var elig []int
	for i, r := range req.Readers {
		if slices.ContainsFunc(req.Cases, func(c reads.Case) bool { return eligible(r, c) }) {
			elig = append(elig, i)
		}
	}
	load := make([]int, len(req.Readers))
	for i, r := range req.Readers {
		load[i] = req.Load[r.ID]
	}
	b := best{squares: -1}
	var walk func(c int)
	walk = func(c int) {
		if c == len(choices) {
			sq := 0
			for _, n := range load {
				sq += n * n
			}
			lo, hi := 0, 0
			for j, i := range elig {
				if j == 0 || load[i] < lo {
					lo = load[i]
				}
				if j == 0 || load[i] > hi {
					hi = load[i]
				}
			}
			if b.squares < 0 {
				b = best{sq, hi, lo, hi - lo}
			}
			b.squares, b.max, b.min, b.spread = min(b.squares, sq), min(b.max, hi), max(b.min, lo), min(b.spread, hi-lo)
			return
		}
		for _, set := range choices[c] {
			for _, r := range set {
				load[r]++
			}
			walk(c + 1)
			for _, r := range set {
				load[r]--
			}
		}
	}
	walk(0)
	return b
}
