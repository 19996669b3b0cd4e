package api

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/audit/trail"
)

// The audit trail endpoints: package trail decides who may read which
// chains and records every use; these handlers read the parameters and
// stream the answer.

var auditQueryParams = []string{"trial", "object", "actor", "action", "outcome", "from", "to", "limit", "format"}

// parseAuditQuery reads the request of GET /api/v1/audit and validates it
// (trail.Request.Validate).
func parseAuditQuery(c *gin.Context) (trail.Request, error) {
	q := c.Request.URL.Query()
	for k := range q {
		if !slices.Contains(auditQueryParams, k) {
			return trail.Request{}, trialgate.Errorf(trialgate.EInvalid, "unknown query parameter %q", k)
		}
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
	for k := range c.Request.URL.Query() {
		if k != "trial" {
			return trialgate.Errorf(trialgate.EInvalid, "unknown query parameter %q", k)
		}
	}
	rep, err := s.audit.Verify(c.Request.Context(), principal(c), c.Query("trial"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, rep)
	return nil
}
