package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

const principalKey = "trialgate.principal"

// client describes where a request comes from, for the audit trail.
func client(c *gin.Context) auth.Client {
	return auth.Client{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()}
}

// anonymous is the actor of a request without valid credentials.
func anonymous(c *gin.Context) audit.Actor {
	cl := client(c)
	return audit.Actor{ID: auth.Anonymous, IP: cl.IP, UserAgent: cl.UserAgent}
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme (RFC 6750), whose name is case-insensitive like every HTTP
// authentication scheme's (RFC 7235 section 2.1): "Bearer", "bearer" or
// "BEARER", then one or more spaces, then the token.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// authenticate resolves the bearer token to a principal; without one the
// request is refused with 401 and the refusal is audited.
func (s *Server) authenticate(c *gin.Context) {
	token, ok := bearerToken(c.GetHeader("Authorization"))
	if !ok {
		s.deny(c, trialgate.Errorf(trialgate.EUnauthorized, "missing bearer token"))
		return
	}
	p, err := s.auth.Authenticate(c.Request.Context(), token, client(c))
	if err != nil {
		if trialgate.ErrorCode(err) == trialgate.EUnauthorized {
			s.deny(c, err)
			return
		}
		s.fail(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// principal returns the authenticated caller; authenticate guarantees one.
func principal(c *gin.Context) *auth.Principal {
	return c.MustGet(principalKey).(*auth.Principal)
}

// endpoint is the audit object of a refused request: its method and route.
func endpoint(c *gin.Context) audit.Object {
	return audit.Object{Type: "endpoint", ID: c.Request.Method + " " + route(c)}
}

// deny refuses a request without valid credentials with err (a 401) and
// records the refusal on the system chain, in its own transaction so it
// survives the refused request. Refusals of signed-in callers are recorded
// by the services that authorize them (auth.Require).
func (s *Server) deny(c *gin.Context, err error) {
	ev := audit.Event{Action: audit.ActionAccessDenied, Outcome: audit.Denied, Object: endpoint(c),
		Reason: trialgate.ErrorMessage(err)}
	if rerr := s.db.Record(c.Request.Context(), anonymous(c), db.System, ev); rerr != nil {
		// Fail closed: without its audit entry the refusal is an error.
		s.fail(c, rerr)
		return
	}
	s.fail(c, err)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(c *gin.Context) error {
	var req loginRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return trialgate.Errorf(trialgate.EInvalid, "username and password are required")
	}
	sess, err := s.auth.Login(c.Request.Context(), req.Username, req.Password, client(c))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"token": sess.Token, "expires_at": sess.ExpiresAt.UTC().Format(time.RFC3339)})
	return nil
}

func (s *Server) logout(c *gin.Context) error {
	if err := s.auth.Logout(c.Request.Context(), principal(c)); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

type grantJSON struct {
	Role  string `json:"role"`
	Trial string `json:"trial,omitempty"`
	Site  string `json:"site,omitempty"`
}

func (s *Server) me(c *gin.Context) error {
	p := principal(c)
	grants := make([]grantJSON, 0, len(p.Grants))
	for _, g := range p.Grants {
		grants = append(grants, grantJSON{Role: string(g.Role), Trial: g.Trial, Site: g.Site})
	}
	c.JSON(http.StatusOK, gin.H{
		"id": p.User.ID, "username": p.User.Username, "full_name": p.User.FullName, "grants": grants,
	})
	return nil
}
