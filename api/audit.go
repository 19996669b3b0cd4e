package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/audit/trail"
	"github.com/trialgate/trialgate/trial"
)

// The audit trail endpoints: package trail decides who may read which
// chains and records every use; these handlers read the parameters and
// stream the answer.

var auditQueryParams = []string{"trial", "object", "actor", "action", "outcome", "post_lock", "from", "to", "limit", "format"}

// Bounds of the free-text filters, well above any object (type/id, ids of
// at most 64 bytes) or actor (a user id, a username, system:component)
// that can be recorded.
const (
	maxObjectParam = 256
	maxActorParam  = 128
)

// checkQuery refuses a query whose parameters are not all in known, given
// once each, and fit to reach a database: the free-text filters (names)
// must be text without control characters (PostgreSQL refuses a NUL in
// text) of bounded length. A trial, when named, must be "system" or a
// valid trial id. Each error names the parameter.
func checkQuery(q url.Values, known []string, bounds map[string]int) error {
	for k, vs := range q {
		switch {
		case !slices.Contains(known, k):
			return trialgate.Errorf(trialgate.EInvalid, "unknown query parameter %.64q", k)
		case len(vs) > 1:
			return trialgate.Errorf(trialgate.EInvalid, "query parameter %s: given %d times, at most once", k, len(vs))
		}
		v := vs[0]
		if k == "trial" && v != "" && v != audit.SystemChain && !trial.ValidID(v) {
			return errInvalidTrialID("query parameter trial")
		}
		if max, ok := bounds[k]; ok {
			switch {
			case len(v) > max:
				return trialgate.Errorf(trialgate.EInvalid, "query parameter %s: longer than %d bytes", k, max)
			case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
				return trialgate.Errorf(trialgate.EInvalid, "query parameter %s: must be text without control characters", k)
			}
		}
	}
	return nil
}

// parseAuditQuery reads the request of GET /api/v1/audit and validates it
// (trail.Request.Validate).
func parseAuditQuery(c *gin.Context) (trail.Request, error) {
	q := c.Request.URL.Query()
	if err := checkQuery(q, auditQueryParams, map[string]int{"object": maxObjectParam, "actor": maxActorParam}); err != nil {
		return trail.Request{}, err
	}
	f := audit.Filter{Object: q.Get("object"), Actor: q.Get("actor"), Action: audit.Action(q.Get("action")),
		Outcome: audit.Outcome(q.Get("outcome"))}
	for _, tp := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(tp.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return trail.Request{}, trialgate.Errorf(trialgate.EInvalid, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", tp.name)
			}
			*tp.dst = t
		}
	}
	switch v := q.Get("post_lock"); v {
	case "", "false":
	case "true":
		f.PostLock = true
	default:
		return trail.Request{}, trialgate.Errorf(trialgate.EInvalid, "post_lock must be true or false")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return trail.Request{}, trialgate.Errorf(trialgate.EInvalid, "limit must be a positive whole number")
		}
		f.Limit = n
	}
	req := trail.Request{Trial: q.Get("trial"), Filter: f, Format: audit.Format(q.Get("format"))}
	if req.Format == "" {
		req.Format = audit.JSON
	}
	return req, req.Validate()
}

// auditQuery streams the entries the caller asked for, once the query is
// recorded on every chain it reads.
func (s *Server) auditQuery(c *gin.Context) error {
	req, err := parseAuditQuery(c)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	export, err := s.audit.Query(ctx, principal(c), req)
	if err != nil {
		return err
	}
	c.Header("Content-Type", req.Format.ContentType())
	if req.Format == audit.CSV {
		c.Header("Content-Disposition", `attachment; filename="audit.csv"`)
	}
	c.Status(http.StatusOK)
	_, err = export.Stream(ctx, c.Writer)
	return err
}

// auditVerify recomputes the chains the caller may see (or the one asked
// for); the verification and its result are recorded on each.
func (s *Server) auditVerify(c *gin.Context) error {
	if err := checkQuery(c.Request.URL.Query(), []string{"trial"}, nil); err != nil {
		return err
	}
	rep, err := s.audit.Verify(c.Request.Context(), principal(c), c.Query("trial"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, rep)
	return nil
}
