// Package trail is the audit trail as its readers use it: who may query,
// verify and export which chains, and the record of every such use
// (audit.queried, audit.verified), for the HTTP API and the command line
// alike. The entries themselves (encoding, chaining, verification) are
// package audit's; their storage is package db's.
//
// # Who reads what
//
// Inspectors and QA reviewers read the chains of the trials they hold a
// grant for; with a grant for every trial ("*") they read every chain,
// the system chain included. Administrators read the system chain (logins,
// accounts, grants), never a trial's. A caller names a trial's chain by
// the trial id, the system chain as "system", or nothing for every chain
// they may read.
package trail

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// readers are the roles that read a trial's trail.
var readers = []auth.Role{auth.Inspector, auth.QAReviewer}

// chainWait bounds how long a query or a verification waits for the
// sequencer, so that it shows the entries its caller just caused.
const chainWait = 2 * time.Second

// Service queries, verifies and exports the trail under its access policy.
type Service struct {
	db *db.DB
}

// New returns the service over d.
func New(d *db.DB) *Service { return &Service{db: d} }

// selection is what a caller may read of the chains they asked for.
type selection struct {
	chains []string   // nil: every chain
	role   auth.Role  // the role that allows it
	scopes []db.Scope // where each read is recorded, one per chain
}

// scopeOfChain is the scope whose chain is name: the system's for a name
// that is no valid trial's (a chain left by an earlier release that named
// chains after unchecked request parameters), where its reads are recorded.
func scopeOfChain(name string) db.Scope {
	if t, ok := strings.CutPrefix(name, "trial/"); ok && db.TrialScope(t).Validate() == nil {
		return db.TrialScope(t)
	}
	return db.System
}

// allowed returns the chains p may read of those asked for (trial: a trial
// id, "system", or "" for all), or refuses, recording the refusal; what
// names the use in the refusal ("read", "verify").
func (s *Service) allowed(ctx context.Context, p *auth.Principal, trial, what string) (selection, error) {
	deny := func(sc db.Scope, chain string) (selection, error) {
		return selection{}, auth.Deny(ctx, s.db, p, sc, audit.Object{Type: "chain", ID: chain},
			fmt.Sprintf("you may not %s this audit trail", what))
	}
	switch trial {
	case audit.SystemChain:
		for _, g := range p.Grants {
			if g.Role == auth.Admin || slices.Contains(readers, g.Role) && g.Trial == auth.AllTrials {
				return selection{chains: []string{audit.SystemChain}, role: g.Role, scopes: []db.Scope{db.System}}, nil
			}
		}
		return deny(db.System, audit.SystemChain)
	case "":
		sel := selection{}
		seen := map[string]bool{}
		for _, g := range p.Grants {
			switch {
			case slices.Contains(readers, g.Role) && g.Trial == auth.AllTrials:
				return s.everyChain(ctx, g.Role)
			case slices.Contains(readers, g.Role):
				if c := audit.ChainOf(g.Trial); !seen[c] {
					seen[c] = true
					// A grant may name a trial not defined yet: its chain
					// is not read, and recording the read must not start it.
					started, err := s.db.ChainStarted(ctx, db.TrialScope(g.Trial))
					if err != nil {
						return selection{}, fmt.Errorf("trail: look up trial %s: %w", g.Trial, err)
					}
					if started {
						sel.chains, sel.role = append(sel.chains, c), g.Role
						sel.scopes = append(sel.scopes, db.TrialScope(g.Trial))
					}
				}
			case g.Role == auth.Admin:
				if !seen[audit.SystemChain] {
					seen[audit.SystemChain] = true
					sel.chains, sel.role = append(sel.chains, audit.SystemChain), g.Role
					sel.scopes = append(sel.scopes, db.System)
				}
			}
		}
		if len(sel.chains) == 0 {
			return deny(db.System, "*")
		}
		return sel, nil
	}
	if err := checkTrial(trial); err != nil {
		return selection{}, err
	}
	// A trial that does not exist is "no trial", whoever asks, its refusal
	// on the system chain: reading its chain would find nothing, and
	// recording the read would start it.
	if err := auth.Exists(ctx, s.db, p, db.TrialScope(trial), audit.Object{Type: "chain", ID: audit.ChainOf(trial)}); err != nil {
		return selection{}, err
	}
	for _, g := range p.Grants {
		if slices.Contains(readers, g.Role) && (g.Trial == trial || g.Trial == auth.AllTrials) {
			return selection{chains: []string{audit.ChainOf(trial)}, role: g.Role, scopes: []db.Scope{db.TrialScope(trial)}}, nil
		}
	}
	return deny(db.TrialScope(trial), audit.ChainOf(trial))
}

// everyChain selects every chain that has entries.
func (s *Service) everyChain(ctx context.Context, role auth.Role) (selection, error) {
	chains, err := s.db.Chains(ctx)
	if err != nil {
		return selection{}, err
	}
	sel := selection{chains: chains, role: role}
	for _, c := range chains {
		if sc := scopeOfChain(c); !slices.Contains(sel.scopes, sc) {
			sel.scopes = append(sel.scopes, sc)
		}
	}
	return sel, nil
}

// record records one use on every chain it touched, each in its own
// transaction (a chain is a scope).
func (s *Service) record(ctx context.Context, p *auth.Principal, sel selection, ev audit.Event) error {
	for _, sc := range sel.scopes {
		if err := s.db.Record(ctx, p.Actor(sel.role), sc, ev); err != nil {
			return err
		}
	}
	return nil
}

// Request is a query or an export: the chains (as for Query) and what to
// select of them.
type Request struct {
	Trial  string // a trial id, "system", or "" for every chain the caller may read
	Filter audit.Filter
	Format audit.Format
}

// checkTrial checks the chains a caller names: a trial id, "system" or "".
func checkTrial(trial string) error {
	if trial != "" && trial != audit.SystemChain && !trialgate.ValidID(trial) {
		return trialgate.Errorf(trialgate.EInvalid, "trial: %q is not a valid trial id", trial)
	}
	return nil
}

// Validate checks what the caller chose, as Query does before anything
// else: the trial, the filter's action and outcome, and the format.
// Filter.Chains is the service's to set.
func (r *Request) Validate() error {
	if err := checkTrial(r.Trial); err != nil {
		return err
	}
	f := r.Filter
	switch {
	case f.Action != "" && !audit.Known(f.Action):
		return trialgate.Errorf(trialgate.EInvalid, "unknown action %q", f.Action)
	case f.Outcome != "" && f.Outcome != audit.Success && f.Outcome != audit.Denied && f.Outcome != audit.Failed:
		return trialgate.Errorf(trialgate.EInvalid, "outcome must be success, denied or failed")
	case f.Limit < 0:
		return trialgate.Errorf(trialgate.EInvalid, "limit must be a positive whole number")
	case r.Format == "pdf":
		return trialgate.Errorf(trialgate.EInvalid, "format pdf is not available yet; use json, jsonl or csv")
	case !r.Format.Valid():
		return trialgate.Errorf(trialgate.EInvalid, "format must be json, jsonl or csv")
	}
	return nil
}

// Export is a query that has been authorized and recorded, ready to stream.
type Export struct {
	db     *db.DB
	filter audit.Filter
	format audit.Format
}

// Query authorizes p's request, records it (audit.queried, with its format
// and filter) on every chain it reads, and waits briefly for the sequencer,
// so that the answer shows what the caller just did, its own query
// included. Nothing leaves until the query is recorded: the caller streams
// the entries with the returned Export's Stream.
func (s *Service) Query(ctx context.Context, p *auth.Principal, req Request) (*Export, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	sel, err := s.allowed(ctx, p, req.Trial, "read")
	if err != nil {
		return nil, err
	}
	f := req.Filter
	f.Chains = sel.chains
	if f.Chains == nil {
		f.Chains = []string{}
	}
	ev := audit.Event{Action: audit.ActionAuditQueried, After: map[string]any{"format": string(req.Format), "filter": f.Fields()}}
	if err := s.record(ctx, p, sel, ev); err != nil {
		return nil, err
	}
	if err := s.db.WaitChainedFor(ctx, chainWait); err != nil {
		return nil, err
	}
	return &Export{db: s.db, filter: f, format: req.Format}, nil
}

// Format is the export's format.
func (e *Export) Format() audit.Format { return e.format }

// Stream writes the matching entries to w in chain and seq order, from one
// snapshot, and returns how many it wrote. A failure mid-way leaves w cut
// short; the caller must not present it as complete.
func (e *Export) Stream(ctx context.Context, w io.Writer) (int, error) {
	aw, err := audit.NewWriter(w, e.format)
	if err != nil {
		return 0, err
	}
	n := 0
	err = e.db.AuditRecords(ctx, e.filter, func(r *audit.Record) error {
		n++
		return aw.Write(r)
	})
	if err != nil {
		return n, err
	}
	return n, aw.Close()
}

// Verify recomputes every hash of the chains p asked for (trial as in
// Request) and compares each chain with its head, then records the
// verification and its result (audit.verified, outcome failed when it
// does not verify) on each chain.
func (s *Service) Verify(ctx context.Context, p *auth.Principal, trial string) (audit.Report, error) {
	sel, err := s.allowed(ctx, p, trial, "verify")
	if err != nil {
		return audit.Report{}, err
	}
	if err := s.db.WaitChainedFor(ctx, chainWait); err != nil {
		return audit.Report{}, err
	}
	rep := audit.Report{OK: true}
	if len(sel.chains) > 0 {
		if rep, err = s.db.VerifyAudit(ctx, sel.chains...); err != nil {
			return audit.Report{}, err
		}
	}
	ev := audit.Event{Action: audit.ActionAuditVerified, After: map[string]any{"ok": rep.OK, "entries": rep.Entries}}
	if !rep.OK {
		ev.Outcome = audit.Failed
		ev.After = map[string]any{"ok": false, "entries": rep.Entries, "first_bad": rep.FirstBad}
	}
	if err := s.record(ctx, p, sel, ev); err != nil {
		return audit.Report{}, err
	}
	return rep, nil
}
