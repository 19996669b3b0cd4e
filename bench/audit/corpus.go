package main

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/trialgate/trialgate/audit"
)

// generator makes realistic audit events and actors, deterministically from
// its seed: people with full names, sessions, addresses and browser user
// agents, and events whose canonical entries are 300-500 bytes, like the
// gateway's account and login events. It is not safe for concurrent use.
type generator struct {
	rng    *rand.Rand
	actors []audit.Actor
}

var (
	givenNames  = []string{"Ada", "Björn", "Chiara", "Dmitri", "Eun-ji", "Farah", "Gustavo", "Hanna", "Igor", "Jun", "Kateřina", "Lars", "Maëlle", "Nnamdi", "Olga", "Priya"}
	familyNames = []string{"Andersson", "Bianchi", "Chen", "Dubois", "Eriksen", "Fernández", "García", "Hoffmann", "Ivanova", "Jensen", "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Petrov"}
	roles       = []string{"site_uploader", "qc_reviewer", "reader", "data_manager", "qa_reviewer"}
	userAgents  = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"trialgate-uploader/1.4.2",
	}
	// ascii folds the names' letters into user names.
	ascii = strings.NewReplacer("á", "a", "é", "e", "í", "i", "ö", "o", "ü", "u", "ë", "e", "ř", "r", "'", "", "-", "")
)

func newGenerator(seed uint64) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(seed, 0x7472_6961_6c67_6174))}
	for i := range 64 {
		given, family := givenNames[g.rng.IntN(len(givenNames))], familyNames[g.rng.IntN(len(familyNames))]
		g.actors = append(g.actors, audit.Actor{
			ID:        "u_" + g.hex(16),
			Username:  fmt.Sprintf("%c%s%02d", given[0]|0x20, lower(family), i),
			FullName:  given + " " + family,
			Role:      roles[g.rng.IntN(len(roles))],
			Session:   "s_" + g.hex(24),
			IP:        fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254)),
			UserAgent: userAgents[g.rng.IntN(len(userAgents))],
		})
	}
	return g
}

func lower(s string) string {
	b := []byte(ascii.Replace(s))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (g *generator) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

// actor returns one of the generator's people.
func (g *generator) actor() audit.Actor { return g.actors[g.rng.IntN(len(g.actors))] }

// account is the business row of the write benchmark: an account created
// at a trial site.
type account struct {
	id       int64
	trial    string
	site     string
	username string
	fullName string
	email    string
	role     string
}

// account returns a new account row with id and the event recording it.
func (g *generator) account(id int64, trial string) (account, audit.Event) {
	given, family := givenNames[g.rng.IntN(len(givenNames))], familyNames[g.rng.IntN(len(familyNames))]
	a := account{
		id:       id,
		trial:    trial,
		site:     fmt.Sprintf("S%03d", 1+g.rng.IntN(120)),
		username: fmt.Sprintf("%c%s%d", given[0]|0x20, lower(family), id),
		fullName: given + " " + family,
		role:     roles[g.rng.IntN(len(roles))],
	}
	a.email = a.username + "@site.example.org"
	return a, audit.Event{
		Action: audit.ActionUserCreated,
		Object: audit.Object{Type: "user", ID: fmt.Sprintf("u_%016x", uint64(id))},
		After:  map[string]string{"username": a.username, "full_name": a.fullName, "role": a.role},
	}
}

// event returns a realistic entry of trial, without its time and actor:
// account changes, grants and logins in proportions like a working
// trial's, most of them at a site.
func (g *generator) event(trial string) audit.Entry {
	site := fmt.Sprintf("S%03d", 1+g.rng.IntN(120))
	user := audit.Object{Type: "user", ID: "u_" + g.hex(16)}
	switch p := g.rng.IntN(10); {
	case p < 4:
		return audit.Entry{Trial: trial, Site: site, Event: audit.Event{Action: audit.ActionUserGrantAdded, Object: user,
			After:  map[string]string{"role": roles[g.rng.IntN(len(roles))], "trial": trial, "site": site},
			Reason: "site activation"}}
	case p < 7:
		a, ev := g.account(g.rng.Int64N(1<<20), trial)
		return audit.Entry{Trial: trial, Site: a.site, Event: ev}
	case p < 9:
		ev := audit.Event{Action: audit.ActionLogin, Object: audit.Object{Type: "session", ID: "s_" + g.hex(24)},
			After: map[string]string{"method": "password", "mfa": "totp"}}
		if g.rng.IntN(8) == 0 {
			ev.Outcome, ev.After = audit.Failed, map[string]string{"method": "password", "failure": "wrong password"}
		}
		return audit.Entry{Trial: trial, Event: ev}
	default:
		return audit.Entry{Trial: trial, Site: site, Event: audit.Event{Action: audit.ActionUserDeactivated, Object: user,
			Before: map[string]bool{"active": true}, After: map[string]bool{"active": false},
			Reason: "left the study team"}}
	}
}

// corpus is a chained trail held in memory.
type corpus struct {
	records []audit.Record
	heads   []audit.Head
	bytes   int64 // bytes hashed by a verification: 32 + len(entry) per record
}

// buildCorpus encodes n realistic entries (in parallel) spread over chains
// trial chains and chains them with audit.Head.Next, as the sequencer does.
func buildCorpus(n, chains int, seed uint64) (*corpus, error) {
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	entries := make([][]byte, n)
	times := make([]time.Time, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGenerator(seed + uint64(w))
			for i := w; i < n; i += workers {
				e := g.event(fmt.Sprintf("T%03d", i%chains))
				e.Time, e.Actor = base.Add(time.Duration(i)*time.Millisecond), g.actor()
				c, err := audit.Encode(&e)
				if err != nil {
					errs[w] = err
					return
				}
				entries[i], times[i] = c, e.Time
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
	}
	c := &corpus{records: make([]audit.Record, n)}
	heads := map[string]*audit.Head{}
	var order []string
	for i := range n {
		chain := audit.ChainOf(fmt.Sprintf("T%03d", i%chains))
		h := heads[chain]
		if h == nil {
			h = &audit.Head{Chain: chain}
			heads[chain] = h
			order = append(order, chain)
		}
		c.records[i], _ = h.Next(entries[i], times[i], times[i].Add(80*time.Millisecond))
		c.bytes += int64(len(h.Hash) + len(entries[i]))
	}
	for _, ch := range order {
		c.heads = append(c.heads, *heads[ch])
	}
	return c, nil
}
