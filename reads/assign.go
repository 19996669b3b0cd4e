package reads

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/trialgate/trialgate"
)

// AssignAlgorithm names the assignment algorithm and its version. A seed
// reproduces an assignment only under the same algorithm, so the caller
// records this beside the seed in the audit entry; any change to the output
// of Assign or AssignAdjudicator for a given input must change it.
const AssignAlgorithm = "reads.assign/v1"

// Task kinds of an Assignment.
const (
	AssignKindRead         = "read"
	AssignKindAdjudication = "adjudication"
)

// Case is a readable, unassigned case as the assignment sees it: its case
// code and the site its images come from.
type Case struct {
	ID   string
	Site string
}

// Reader is a reader account and the sites it is affiliated with. A reader
// is never given a case from one of its sites.
type Reader struct {
	ID    string
	Sites []string
}

// AssignRequest is the input of Assign.
type AssignRequest struct {
	// Seed drives every random choice. It must not be empty: the caller
	// draws it (or takes the data manager's) and records it with
	// AssignAlgorithm, so that the assignment can be reproduced.
	Seed string
	// Double asks for two reads of every case, by two different readers.
	Double bool
	Cases  []Case
	// Readers are the readers available to this run.
	Readers []Reader
	// Load is the number of tasks each reader already holds, so that
	// workloads stay balanced across runs. Missing readers hold none;
	// entries for readers not in Readers are ignored.
	Load map[string]int
}

// Assignment is one read task: Reader reads Case. Slot is 1 for a single
// read and 1 or 2 for the two reads of a double read (the "Reader 1" and
// "Reader 2" an adjudicator sees).
type Assignment struct {
	Case   string
	Reader string
	Kind   string
	Slot   int
}

// Assign assigns every case of req to readers: one read per case, or two
// by different readers when req.Double is set. No reader gets a case from
// a site it is affiliated with.
//
// The result depends only on the seed and on the input as a set: cases,
// readers and sites are put in a canonical order before any random choice,
// so the order the caller lists them in does not matter. It is sorted by
// case and slot.
//
// The workloads (tasks in req.Load plus tasks assigned here) are as even
// as the site exclusions and the existing load allow: the result minimises
// the sum of the squared workloads over all valid assignments, which also
// minimises the largest workload and maximises the smallest. Hence the
// workloads of the readers eligible for at least one case differ by at
// most one whenever any valid assignment achieves that. When none does
// (a reader who can read only a few cases, or one who already holds many
// more tasks than the others), no chain of reassignments could move a task
// from a reader to one holding two or more fewer.
//
// If a case has no eligible reader, or fewer than two for a double read,
// Assign assigns nothing and returns an EConflict error naming the case.
func Assign(req AssignRequest) ([]Assignment, error) {
	p, err := newProblem(req)
	if err != nil {
		return nil, err
	}
	if len(p.cases) == 0 {
		return []Assignment{}, nil
	}
	if err := p.feasible(); err != nil {
		return nil, err
	}
	rng := newRand(AssignAlgorithm, "assign", req.Seed)
	p.greedy(rng)
	p.repair()
	return p.result(), nil
}

// AssignAdjudicator chooses the adjudicator of a discordant case: a reader
// who did neither read (excluded), is not affiliated with the case's site,
// and holds the fewest tasks in load; ties are broken at random by the
// seed and the case, independently of the order of readers. If no reader
// qualifies it returns an EConflict error naming the case.
func AssignAdjudicator(seed, caseID, site string, excluded []string, readers []Reader, load map[string]int) (string, error) {
	switch {
	case seed == "":
		return "", trialgate.Errorf(trialgate.EInvalid, "assignment seed is empty")
	case caseID == "":
		return "", trialgate.Errorf(trialgate.EInvalid, "case id is empty")
	case site == "":
		return "", trialgate.Errorf(trialgate.EInvalid, "case %s has no site", caseID)
	}
	rs, err := canonicalReaders(readers, load)
	if err != nil {
		return "", err
	}
	var tied []string // canonical order, since rs is sorted
	best := 0
	for _, r := range rs {
		if slices.Contains(excluded, r.id) || r.sites[site] {
			continue
		}
		switch {
		case len(tied) == 0 || r.load < best:
			tied, best = append(tied[:0], r.id), r.load
		case r.load == best:
			tied = append(tied, r.id)
		}
	}
	if len(tied) == 0 {
		return "", trialgate.Errorf(trialgate.EConflict,
			"case %s cannot be adjudicated: no reader outside site %s who did neither read", caseID, site)
	}
	rng := newRand(AssignAlgorithm, "adjudicate", seed, caseID)
	return tied[uniform(rng, len(tied))], nil
}

// problem is the assignment in index form. Readers and cases are indexed
// in canonical (id) order; a unit is one slot of one case, u = c*k + slot.
type problem struct {
	k       int       // reads per case: 1 or 2
	readers []reader  // sorted by id
	cases   []Case    // sorted by id
	site    []int32   // case -> index into elig
	elig    [][]bool  // site index -> reader -> may read cases of that site
	holder  []int32   // unit -> reader
	load    []int     // reader -> tasks held, req.Load included
	held    [][]int32 // reader -> units it holds, in no particular order
	pos     []int32   // unit -> its index in held[holder[unit]]
	movable []int32   // r*R+q -> cases r holds that q may take (eligible, not a holder)
	rank    []int     // reader -> random rank, to break ties without favouring early ids
}

// reader is a canonical Reader with its starting load.
type reader struct {
	id    string
	sites map[string]bool
	load  int
}

func canonicalReaders(in []Reader, load map[string]int) ([]reader, error) {
	rs := make([]reader, len(in))
	for i, r := range in {
		if r.ID == "" {
			return nil, trialgate.Errorf(trialgate.EInvalid, "reader %d has no id", i)
		}
		n := load[r.ID]
		if n < 0 {
			return nil, trialgate.Errorf(trialgate.EInvalid, "reader %s has a negative load %d", r.ID, n)
		}
		sites := make(map[string]bool, len(r.Sites))
		for _, s := range r.Sites {
			if s == "" {
				return nil, trialgate.Errorf(trialgate.EInvalid, "reader %s has an empty site affiliation", r.ID)
			}
			sites[s] = true
		}
		rs[i] = reader{id: r.ID, sites: sites, load: n}
	}
	slices.SortFunc(rs, func(a, b reader) int { return cmp.Compare(a.id, b.id) })
	for i := 1; i < len(rs); i++ {
		if rs[i].id == rs[i-1].id {
			return nil, trialgate.Errorf(trialgate.EInvalid, "reader %s is listed twice", rs[i].id)
		}
	}
	return rs, nil
}

func newProblem(req AssignRequest) (*problem, error) {
	if req.Seed == "" {
		return nil, trialgate.Errorf(trialgate.EInvalid, "assignment seed is empty")
	}
	rs, err := canonicalReaders(req.Readers, req.Load)
	if err != nil {
		return nil, err
	}
	cs := slices.Clone(req.Cases)
	slices.SortFunc(cs, func(a, b Case) int { return cmp.Compare(a.ID, b.ID) })
	for i, c := range cs {
		switch {
		case c.ID == "":
			return nil, trialgate.Errorf(trialgate.EInvalid, "a case has no id")
		case c.Site == "":
			return nil, trialgate.Errorf(trialgate.EInvalid, "case %s has no site", c.ID)
		case i > 0 && c.ID == cs[i-1].ID:
			return nil, trialgate.Errorf(trialgate.EInvalid, "case %s is listed twice", c.ID)
		}
	}
	p := &problem{k: 1, readers: rs, cases: cs, site: make([]int32, len(cs))}
	if req.Double {
		p.k = 2
	}
	index := make(map[string]int32)
	for i, c := range cs {
		s, ok := index[c.Site]
		if !ok {
			s = int32(len(p.elig))
			index[c.Site] = s
			e := make([]bool, len(rs))
			for r := range rs {
				e[r] = !rs[r].sites[c.Site]
			}
			p.elig = append(p.elig, e)
		}
		p.site[i] = s
	}
	return p, nil
}

// feasible reports the first case (in id order) that cannot get its k
// readers. Since a reader may take any number of cases, that is the only
// way an assignment can fail.
func (p *problem) feasible() error {
	var bad []int
	for c := range p.cases {
		n := 0
		for _, ok := range p.elig[p.site[c]] {
			if ok {
				n++
			}
		}
		if n < p.k {
			bad = append(bad, c)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	c := p.cases[bad[0]]
	why := fmt.Sprintf("no reader is outside site %s", c.Site)
	if p.k == 2 {
		why = fmt.Sprintf("a double read needs two readers outside site %s", c.Site)
	}
	more := ""
	if len(bad) > 1 {
		more = fmt.Sprintf(" (and %d more cases)", len(bad)-1)
	}
	return trialgate.Errorf(trialgate.EConflict, "case %s cannot be assigned: %s%s; nothing was assigned", c.ID, why, more)
}

// greedy gives each slot, taking the cases in random order, to a least
// loaded eligible reader not already reading the case, chosen uniformly
// among the tied. The result is valid and nearly balanced; repair makes
// it balanced.
func (p *problem) greedy(rng *rand.Rand) {
	nr := len(p.readers)
	p.rank = permutation(rng, nr)
	p.load = make([]int, nr)
	p.held = make([][]int32, nr)
	for r := range p.readers {
		p.load[r] = p.readers[r].load
	}
	p.holder = make([]int32, len(p.cases)*p.k)
	p.pos = make([]int32, len(p.holder))
	for _, c := range permutation(rng, len(p.cases)) {
		elig := p.elig[p.site[c]]
		for slot := range p.k {
			best, ties := -1, 0
			for r := range nr {
				if !elig[r] || (slot == 1 && int(p.holder[c*p.k]) == r) {
					continue
				}
				switch {
				case best < 0 || p.load[r] < p.load[best]:
					best, ties = r, 1
				case p.load[r] == p.load[best]:
					// Reservoir sampling: each of the tied is kept with
					// equal probability.
					ties++
					if uniform(rng, ties) == 0 {
						best = r
					}
				}
			}
			u := int32(c*p.k + slot)
			p.holder[u] = int32(best)
			p.pos[u] = int32(len(p.held[best]))
			p.held[best] = append(p.held[best], u)
			p.load[best]++
		}
	}
	p.movable = make([]int32, nr*nr)
	for c := range p.cases {
		p.count(c, 1)
	}
}

// count adds d times case c's contribution to movable: one for each
// holder h and each reader q who may take c from h.
func (p *problem) count(c int, d int32) {
	nr := len(p.readers)
	elig := p.elig[p.site[c]]
	hs := p.holder[c*p.k : c*p.k+p.k]
	for q := range nr {
		if !elig[q] || slices.Contains(hs, int32(q)) {
			continue
		}
		for _, h := range hs {
			p.movable[int(h)*nr+q] += d
		}
	}
}

// repair moves tasks along chains of reassignments until no reader can
// pass a task, directly or through others, to a reader holding two or
// more fewer. Each move lowers the sum of squared loads by at least two,
// so it ends; when it ends, that sum is minimal (the chains are the
// negative cycles of the min-cost flow whose cost is that sum).
func (p *problem) repair() {
	nr := len(p.readers)
	order := make([]int, nr)
	parent := make([]int, nr)
	queue := make([]int, 0, nr)
	for {
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			return cmp.Or(cmp.Compare(p.load[b], p.load[a]), cmp.Compare(p.rank[a], p.rank[b]))
		})
		low := p.load[order[nr-1]]
		moved := false
		for _, a := range order {
			if p.load[a]-low < 2 {
				break // order is by load, so no later reader can give either
			}
			if b := p.search(a, parent, queue); b >= 0 {
				p.shift(a, b, parent)
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}

// search does a breadth-first search from reader a over "may pass a task
// to" and returns the least loaded reached reader holding at least two
// fewer tasks than a, or -1. parent records the search tree.
func (p *problem) search(a int, parent, queue []int) int {
	nr := len(p.readers)
	for i := range parent {
		parent[i] = -1
	}
	parent[a] = a
	queue = append(queue[:0], a)
	best := -1
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if r != a && p.load[r] <= p.load[a]-2 &&
			(best < 0 || p.load[r] < p.load[best] || (p.load[r] == p.load[best] && p.rank[r] < p.rank[best])) {
			best = r
		}
		for q := range nr {
			if parent[q] < 0 && p.movable[r*nr+q] > 0 {
				parent[q] = r
				queue = append(queue, q)
			}
		}
	}
	return best
}

// shift moves one task along the search path from a to b: each reader on
// it passes one task to the next, so only a and b change load.
func (p *problem) shift(a, b int, parent []int) {
	var path []int
	for r := b; r != a; r = parent[r] {
		path = append(path, r)
	}
	path = append(path, a)
	slices.Reverse(path)
	// Going from a's end, each giver has only gained tasks and each taker
	// is untouched so far, so every edge the search saw is still there.
	for i := 0; i+1 < len(path); i++ {
		p.move(path[i], path[i+1])
	}
}

// move passes one of from's cases that to may take from from to to.
func (p *problem) move(from, to int) {
	for _, u := range p.held[from] {
		c := int(u) / p.k
		if !p.elig[p.site[c]][to] || slices.Contains(p.holder[c*p.k:c*p.k+p.k], int32(to)) {
			continue
		}
		p.count(c, -1)
		// Remove u from held[from] by swapping the last unit into its place.
		h := p.held[from]
		last := h[len(h)-1]
		h[p.pos[u]] = last
		p.pos[last] = p.pos[u]
		p.held[from] = h[:len(h)-1]
		p.holder[u] = int32(to)
		p.pos[u] = int32(len(p.held[to]))
		p.held[to] = append(p.held[to], u)
		p.load[from]--
		p.load[to]++
		p.count(c, 1)
		return
	}
	panic("reads: assignment repair lost an edge") // search saw one; see shift
}

func (p *problem) result() []Assignment {
	out := make([]Assignment, 0, len(p.holder))
	for u, r := range p.holder {
		out = append(out, Assignment{
			Case:   p.cases[u/p.k].ID,
			Reader: p.readers[r].id,
			Kind:   AssignKindRead,
			Slot:   u%p.k + 1,
		})
	}
	return out
}

// newRand returns a ChaCha8 generator keyed by the SHA-256 of the parts,
// each length-prefixed so that no two part lists share a key.
func newRand(parts ...string) *rand.Rand {
	h := sha256.New()
	for _, s := range parts {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return rand.New(rand.NewChaCha8([32]byte(h.Sum(nil))))
}

// uniform returns a uniform integer in [0, n). The ChaCha8 stream is fixed
// by its specification, but the derivations in math/rand/v2 (IntN,
// Shuffle) are not promised to stay the same across Go releases; a stored
// seed must reproduce its assignment after an upgrade, so the bounded draw
// (Lemire's multiply-and-reject) and the shuffle are done here.
func uniform(rng *rand.Rand, n int) int {
	bound := uint64(n)
	hi, lo := bits.Mul64(rng.Uint64(), bound)
	if lo < bound {
		threshold := -bound % bound
		for lo < threshold {
			hi, lo = bits.Mul64(rng.Uint64(), bound)
		}
	}
	return int(hi)
}

// permutation returns a uniformly random permutation of [0, n)
// (Fisher-Yates).
func permutation(rng *rand.Rand, n int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := uniform(rng, i+1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}
