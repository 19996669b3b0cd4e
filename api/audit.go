package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
)

// auditReaders are the roles that may read a trial's audit trail; with a
// grant on every trial ("*") they also read the system chain, as the admin
// may.
var auditReaders = []auth.Role{auth.Inspector, auth.QAReviewer}

// auditScope returns the chains the caller asks for (trialParam: a trial
// id, "system", or "" for everything the caller may see) and the role that
// allows it. ok is false when the caller may see none of them.
func auditScope(p *auth.Principal, trialParam string) (chains []string, role auth.Role, ok bool) {
	switch trialParam {
	case audit.SystemChain:
		for _, g := range p.Grants {
			if g.Role == auth.Admin || slices.Contains(auditReaders, g.Role) && g.Trial == auth.AllTrials {
				return []string{audit.SystemChain}, g.Role, true
			}
		}
		return nil, "", false
	case "":
		seen := map[string]bool{}
		for _, g := range p.Grants {
			switch {
			case slices.Contains(auditReaders, g.Role) && g.Trial == auth.AllTrials:
				return nil, g.Role, true // every chain
			case slices.Contains(auditReaders, g.Role):
				if c := audit.ChainOf(g.Trial); !seen[c] {
					seen[c] = true
					chains = append(chains, c)
					role = g.Role
				}
			case g.Role == auth.Admin:
				if !seen[audit.SystemChain] {
					seen[audit.SystemChain] = true
					chains = append(chains, audit.SystemChain)
					role = g.Role
				}
			}
		}
		return chains, role, len(chains) > 0
	default:
		for _, g := range p.Grants {
			if slices.Contains(auditReaders, g.Role) && (g.Trial == trialParam || g.Trial == auth.AllTrials) {
				return []string{audit.ChainOf(trialParam)}, g.Role, true
			}
		}
		return nil, "", false
	}
}

// trialOfChain is the trial a chain belongs to ("" for the system chain).
func trialOfChain(chain string) string {
	if t, ok := strings.CutPrefix(chain, "trial/"); ok {
		return t
	}
	return ""
}

var auditQueryParams = []string{"trial", "object", "actor", "action", "outcome", "from", "to", "limit", "format"}

// parseAuditQuery reads the filter and format of GET /api/v1/audit.
func parseAuditQuery(c *gin.Context) (audit.Filter, audit.Format, error) {
	q := c.Request.URL.Query()
	for k := range q {
		if !slices.Contains(auditQueryParams, k) {
			return audit.Filter{}, "", trialgate.Errorf(trialgate.EInvalid, "unknown query parameter %q", k)
		}
	}
	f := audit.Filter{Object: q.Get("object"), Actor: q.Get("actor"), Action: audit.Action(q.Get("action")),
		Outcome: audit.Outcome(q.Get("outcome"))}
	if f.Action != "" && !audit.Known(f.Action) {
		return f, "", trialgate.Errorf(trialgate.EInvalid, "unknown action %q", f.Action)
	}
	switch f.Outcome {
	case "", audit.Success, audit.Denied, audit.Failed:
	default:
		return f, "", trialgate.Errorf(trialgate.EInvalid, "outcome must be success, denied or failed")
	}
	for _, tp := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(tp.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, "", trialgate.Errorf(trialgate.EInvalid, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", tp.name)
			}
			*tp.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return f, "", trialgate.Errorf(trialgate.EInvalid, "limit must be a positive whole number")
		}
		f.Limit = n
	}
	format := audit.Format(q.Get("format"))
	switch format {
	case "":
		format = audit.JSON
	case audit.JSON, audit.JSONL, audit.CSV:
	case "pdf":
		return f, "", trialgate.Errorf(trialgate.EInvalid, "format pdf is not available yet; use json, jsonl or csv")
	default:
		return f, "", trialgate.Errorf(trialgate.EInvalid, "format must be json, jsonl or csv")
	}
	return f, format, nil
}

// auditQuery streams the entries the caller asked for. The query is recorded
// on every chain it reads before the first entry leaves the server.
func (s *Server) auditQuery(c *gin.Context) error {
	p := principal(c)
	ctx := c.Request.Context()
	f, format, err := parseAuditQuery(c)
	if err != nil {
		return err
	}
	trialParam := c.Query("trial")
	chains, role, ok := auditScope(p, trialParam)
	if !ok {
		return s.forbid(c, p, trialOf(trialParam), "you may not read this audit trail")
	}
	if chains == nil {
		if chains, err = s.db.Chains(ctx); err != nil {
			return err
		}
	}
	f.Chains = chains
	after := map[string]any{"format": string(format), "filter": f.Fields()}
	events := make([]audit.Event, len(chains))
	for i, ch := range chains {
		events[i] = audit.Event{Action: audit.ActionAuditQueried, Trial: trialOfChain(ch), After: after}
	}
	if err := s.db.Record(ctx, p.Actor(role), events...); err != nil {
		return err
	}
	if err := s.awaitChained(ctx); err != nil {
		return err
	}
	c.Header("Content-Type", format.ContentType())
	if format == audit.CSV {
		c.Header("Content-Disposition", `attachment; filename="audit.csv"`)
	}
	c.Status(http.StatusOK)
	w, err := audit.NewWriter(c.Writer, format)
	if err != nil {
		return err
	}
	if err := s.db.AuditRecords(ctx, f, w.Write); err != nil {
		return err
	}
	return w.Close()
}

// trialOf maps the trial query parameter to the chain a refusal is recorded on.
func trialOf(trialParam string) string {
	if trialParam == audit.SystemChain {
		return ""
	}
	return trialParam
}

// auditVerify recomputes the chains the caller may see (or the one asked
// for) and records the verification and its result on each.
func (s *Server) auditVerify(c *gin.Context) error {
	p := principal(c)
	ctx := c.Request.Context()
	for k := range c.Request.URL.Query() {
		if k != "trial" {
			return trialgate.Errorf(trialgate.EInvalid, "unknown query parameter %q", k)
		}
	}
	trialParam := c.Query("trial")
	chains, role, ok := auditScope(p, trialParam)
	if !ok {
		return s.forbid(c, p, trialOf(trialParam), "you may not verify this audit trail")
	}
	if chains == nil {
		var err error
		if chains, err = s.db.Chains(ctx); err != nil {
			return err
		}
	}
	if err := s.awaitChained(ctx); err != nil {
		return err
	}
	rep := audit.Report{OK: true}
	if len(chains) > 0 {
		var err error
		if rep, err = s.db.VerifyAudit(ctx, chains...); err != nil {
			return err
		}
	}
	after := map[string]any{"ok": rep.OK, "entries": rep.Entries}
	outcome := audit.Success
	if !rep.OK {
		after["first_bad"] = rep.FirstBad
		outcome = audit.Failed
	}
	events := make([]audit.Event, len(chains))
	for i, ch := range chains {
		events[i] = audit.Event{Action: audit.ActionAuditVerified, Trial: trialOfChain(ch), After: after, Outcome: outcome}
	}
	if len(events) > 0 {
		if err := s.db.Record(ctx, p.Actor(role), events...); err != nil {
			return err
		}
	}
	c.JSON(http.StatusOK, rep)
	return nil
}

// chainWait bounds how long a query waits for the sequencer.
const chainWait = 2 * time.Second

// awaitChained lets the sequencer chain what was committed before the
// request (normally within one interval), so a query sees the entries its
// caller just caused, including its own. Past chainWait it answers with
// what is chained: a slow sequencer delays entries, it does not hide them.
func (s *Server) awaitChained(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, chainWait)
	defer cancel()
	err := s.db.WaitChained(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("audit sequencer is behind; answering with the entries chained so far")
		return nil
	}
	return err
}
