package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/trialgate/trialgate/auth"
)

// The bearer scheme's name is matched in any case (RFC 7235 section 2.1);
// anything else is a 401, recorded.
func TestAuthorizationHeader(t *testing.T) {
	g := newGateway(t)
	g.addUser(t, "ivy", auth.Grant{Role: auth.Inspector, Trial: auth.AllTrials})
	tok := g.login(t, "ivy")
	tests := []struct {
		header string
		status int
	}{
		{"Bearer " + tok, http.StatusOK},
		{"bearer " + tok, http.StatusOK},
		{"BEARER " + tok, http.StatusOK},
		{"BeArEr " + tok, http.StatusOK},
		{"Bearer   " + tok, http.StatusOK}, // 1*SP
		{"", http.StatusUnauthorized},
		{"Bearer", http.StatusUnauthorized},
		{"Bearer ", http.StatusUnauthorized},
		{"Bearer" + tok, http.StatusUnauthorized},
		{"Basic " + tok, http.StatusUnauthorized},
		{"Bearers " + tok, http.StatusUnauthorized},
		{tok, http.StatusUnauthorized},
		{"Bearer " + tok + "x", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		req, err := http.NewRequest("GET", g.url+"/api/v1/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("Authorization %.16q...: %d, want %d", tc.header, resp.StatusCode, tc.status)
		}
	}
}

// The right password of a locked account is answered 423 with the lock's
// end and how to lift it, beside code and message; PATCH unlock lifts it.
func TestLockedLogin(t *testing.T) {
	g := newGateway(t)
	g.addUser(t, "root", auth.Grant{Role: auth.Admin})
	g.addUser(t, "lou", auth.Grant{Role: auth.Reader, Trial: "T1"})
	admin := g.login(t, "root")
	for range auth.DefaultConfig().LockoutThreshold {
		g.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "lou", "password": "not the password"})
	}
	r := g.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "lou", "password": testPassword})
	var body struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusLocked || body.Error["code"] != "locked" || body.Error["locked_until"] == nil ||
		body.Error["failed_attempts"] != float64(5) || len(body.Error) != 4 {
		t.Fatalf("locked login: %d %s", r.status, r.body)
	}
	if r := g.do(t, "PATCH", "/api/v1/users/LOU", admin, map[string]bool{"unlock": true}); r.status != http.StatusOK {
		t.Fatalf("unlock: %d %s", r.status, r.body)
	}
	g.login(t, "lou")
	if r := g.do(t, "PATCH", "/api/v1/users/lou", admin, map[string]any{}); r.status != http.StatusBadRequest ||
		r.errorMessage() != "nothing to change: set grants, affiliations, active or unlock" {
		t.Errorf("empty patch: %d %s", r.status, r.body)
	}
}
