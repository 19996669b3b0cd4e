package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
)

// statusOf is the one table that turns domain error codes into HTTP statuses.
var statusOf = map[string]int{
	trialgate.EInvalid:       http.StatusBadRequest,
	trialgate.EUnauthorized:  http.StatusUnauthorized,
	trialgate.EForbidden:     http.StatusForbidden,
	trialgate.ENotFound:      http.StatusNotFound,
	trialgate.EConflict:      http.StatusConflict,
	trialgate.ETooLarge:      http.StatusRequestEntityTooLarge,
	trialgate.EMediaType:     http.StatusUnsupportedMediaType,
	trialgate.ENotAcceptable: http.StatusNotAcceptable,
	trialgate.EMethod:        http.StatusMethodNotAllowed,
	trialgate.ELocked:        http.StatusLocked,
	trialgate.EUnavailable:   http.StatusServiceUnavailable,
	trialgate.EInternal:      http.StatusInternalServerError,
}

// retryAfter is the Retry-After, in seconds, of a 503.
const retryAfter = "5"

// errorBody is the JSON shape of every error response:
// {"error": {"code": ..., "message": ..., details...}}.
type errorBody struct {
	Error errorObject `json:"error"`
}

// errorObject is the "error" member: the code, the public message and the
// error's details, if it has any.
type errorObject struct {
	Code    string
	Message string
	Details map[string]any
}

// MarshalJSON writes the details beside code and message, which they
// cannot replace.
func (o errorObject) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(o.Details)+2)
	maps.Copy(m, o.Details)
	m["code"], m["message"] = o.Code, o.Message
	return json.Marshal(m)
}

// detailed is an error that carries public fields beside its code and
// message, which the error response adds to its "error" object: the
// locked_until of a locked account (auth.LockedError), say. They must be
// as fit to show a client as a message: never PHI, SQL or a secret.
type detailed interface {
	error
	ErrorDetails() map[string]any
}

// fail writes err as the JSON error response. Internal errors are logged in
// full and shown as a generic message: their text may carry SQL or PHI.
func (s *Server) fail(c *gin.Context, err error) {
	code := trialgate.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = trialgate.EInternal, http.StatusInternalServerError
	}
	log := s.log.With("request_id", requestID(c))
	if status >= 500 {
		// The cause goes to the log only; it never reaches the client.
		log.Error("request failed", "route", route(c), "code", code, "err", err)
	} else {
		log.Info("request refused", "route", route(c), "code", code, "message", trialgate.ErrorMessage(err))
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", retryAfter)
	}
	if c.Writer.Written() {
		// A streamed response already sent its status; cut it short so the
		// client sees a broken transfer rather than a silently short one.
		c.Abort()
		panic(http.ErrAbortHandler)
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = trialgate.ErrorMessage(err)
	if d, ok := errors.AsType[detailed](err); ok && status < 500 {
		body.Error.Details = d.ErrorDetails()
	}
	c.AbortWithStatusJSON(status, body)
}

func route(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// logAttrs are the request attributes safe to log: the route template (never
// the raw path or query, which may name a subject) and the method.
func logAttrs(c *gin.Context) []any {
	return []any{slog.String("method", c.Request.Method), slog.String("route", route(c))}
}
