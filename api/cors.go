package api

import (
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
)

// allowOrigins lets the browser scripts of the configured origins (a web
// viewer served from elsewhere) call the server: CORS headers on their
// requests, and answers to their preflight requests. Requests from other
// origins get no CORS headers, so browsers keep them from reading answers.
// Credentials are bearer tokens the script sends, never cookies, so
// Access-Control-Allow-Credentials is not needed.
func (s *Server) allowOrigins(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin == "" || len(s.cors) == 0 || !slices.Contains(s.cors, "*") && !slices.Contains(s.cors, origin) {
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Content-Type, Content-Length, Content-Location, Warning, Retry-After, X-Request-ID")
	if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}
