package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestAllowOrigins(t *testing.T) {
	tests := []struct {
		allowed        []string
		method, origin string
		preflight      bool
		status         int
		allowOrigin    string
	}{
		{nil, "GET", "https://viewer.example", false, 200, ""},
		{[]string{"https://viewer.example"}, "GET", "https://viewer.example", false, 200, "https://viewer.example"},
		{[]string{"https://viewer.example"}, "GET", "https://evil.example", false, 200, ""},
		{[]string{"*"}, "GET", "https://any.example", false, 200, "https://any.example"},
		{[]string{"https://viewer.example"}, "OPTIONS", "https://viewer.example", true, 204, "https://viewer.example"},
		{[]string{"https://viewer.example"}, "OPTIONS", "https://evil.example", true, 200, ""},
		{[]string{"https://viewer.example"}, "GET", "", false, 200, ""},
	}
	for _, tt := range tests {
		s := &Server{cors: tt.allowed}
		e := gin.New()
		e.Use(s.allowOrigins)
		e.Handle(tt.method, "/x", func(c *gin.Context) { c.Status(http.StatusOK) })
		req := httptest.NewRequest(tt.method, "/x", nil)
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		if tt.preflight {
			req.Header.Set("Access-Control-Request-Method", "GET")
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != tt.status || w.Header().Get("Access-Control-Allow-Origin") != tt.allowOrigin {
			t.Errorf("%v %s from %q: %d, allow-origin %q; want %d, %q", tt.allowed, tt.method, tt.origin, w.Code,
				w.Header().Get("Access-Control-Allow-Origin"), tt.status, tt.allowOrigin)
		}
		if tt.preflight && tt.status == 204 && w.Header().Get("Access-Control-Allow-Headers") == "" {
			t.Errorf("preflight without Allow-Headers")
		}
	}
}
