package api

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
)

// statusOf is the one table that turns domain error codes into HTTP statuses.
var statusOf = map[string]int{
	trialgate.EInvalid:      http.StatusBadRequest,
	trialgate.EUnauthorized: http.StatusUnauthorized,
	trialgate.EForbidden:    http.StatusForbidden,
	trialgate.ENotFound:     http.StatusNotFound,
	trialgate.EConflict:     http.StatusConflict,
	trialgate.ETooLarge:     http.StatusRequestEntityTooLarge,
	trialgate.EMediaType:    http.StatusUnsupportedMediaType,
	trialgate.EMethod:       http.StatusMethodNotAllowed,
	trialgate.ELocked:       http.StatusLocked,
	trialgate.EUnavailable:  http.StatusServiceUnavailable,
	trialgate.EInternal:     http.StatusInternalServerError,
}

// retryAfter is the Retry-After, in seconds, of a 503.
const retryAfter = "5"

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
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
