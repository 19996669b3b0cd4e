package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
)

const requestIDKey = "trialgate.request_id"

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// withRequestID gives every request an id, returned in X-Request-ID and
// carried by every log line of the request. A client's own id is not trusted.
func withRequestID(c *gin.Context) {
	var b [8]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

// logRequests logs one JSON line per request: no path parameters, query
// strings, headers or bodies, which may carry PHI or credentials.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	d := time.Since(start)
	status := c.Writer.Status()
	s.metrics.requests.WithLabelValues(c.Request.Method, route(c), strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(c.Request.Method, route(c)).Observe(d.Seconds())
	if c.Request.URL.Path == "/healthz" || c.Request.URL.Path == "/metrics" {
		return
	}
	s.log.Info("request", append(logAttrs(c),
		"request_id", requestID(c), "status", status, "bytes", c.Writer.Size(), "duration_ms", d.Milliseconds())...)
}

// recoverPanics turns a panic into a 500 and logs it; a deliberate abort of
// a streamed response is passed on so the server cuts the connection.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic", append(logAttrs(c), "request_id", requestID(c), "panic", r)...)
			if !c.Writer.Written() {
				s.fail(c, trialgate.Errorf(trialgate.EInternal, "internal error"))
			}
		}
	}()
	c.Next()
}

// limitBodies refuses declared bodies over the limit before reading them;
// decodeJSON enforces the same limit on the bytes actually read.
func (s *Server) limitBodies(c *gin.Context) {
	if c.Request.ContentLength > s.maxBody {
		s.fail(c, trialgate.Errorf(trialgate.ETooLarge, "request body exceeds %d bytes", s.maxBody))
		return
	}
	c.Next()
}
