package api

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
)

func testContext(method, target, ctype, body string) *gin.Context {
	gin.SetMode(gin.ReleaseMode)
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(method, target, strings.NewReader(body))
	if ctype != "" {
		c.Request.Header.Set("Content-Type", ctype)
	}
	return c
}

func TestDecodeJSON(t *testing.T) {
	s := &Server{maxBody: 64}
	type req struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tests := []struct {
		name, ctype, body string
		code              string // "" means accepted
		msg               string
	}{
		{"ok", "application/json", `{"name":"a","count":2}`, "", ""},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"a"}`, "", ""},
		{"no content type", "", `{}`, trialgate.EMediaType, "application/json"},
		{"form", "application/x-www-form-urlencoded", `name=a`, trialgate.EMediaType, "application/json"},
		{"empty", "application/json", ``, trialgate.EInvalid, "empty"},
		{"truncated", "application/json", `{"name":`, trialgate.EInvalid, "truncated"},
		{"syntax", "application/json", `{"name" "a"}`, trialgate.EInvalid, "malformed JSON at byte"},
		{"unknown field", "application/json", `{"nme":"a"}`, trialgate.EInvalid, `unknown field "nme"`},
		{"wrong type", "application/json", `{"count":"two"}`, trialgate.EInvalid, `field "count" must be a number`},
		{"array", "application/json", `[1]`, trialgate.EInvalid, "must be a JSON object"},
		{"trailing", "application/json", `{} {}`, trialgate.EInvalid, "exactly one JSON object"},
		{"trailing garbage", "application/json", `{} x`, trialgate.EInvalid, "malformed JSON"},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", 100) + `"}`, trialgate.ETooLarge, "64 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v req
			err := s.decodeJSON(testContext("POST", "/", tc.ctype, tc.body), &v)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if trialgate.ErrorCode(err) != tc.code || !strings.Contains(trialgate.ErrorMessage(err), tc.msg) {
				t.Fatalf("err = %v (%s: %q), want %s containing %q", err, trialgate.ErrorCode(err), trialgate.ErrorMessage(err), tc.code, tc.msg)
			}
		})
	}
}

func TestParseAuditQuery(t *testing.T) {
	tests := []struct {
		query string
		ok    bool
	}{
		{"", true},
		{"trial=T1&object=user/u_1&actor=ada&action=auth.login&outcome=failed&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00.5Z&limit=10&format=csv", true},
		{"format=jsonl", true},
		{"format=pdf", false},
		{"format=xml", false},
		{"action=auth.nope", false},
		{"outcome=maybe", false},
		{"from=2026-01-01", false},
		{"limit=0", false},
		{"limit=-1", false},
		{"limit=ten", false},
		{"page=2", false},
	}
	for _, tc := range tests {
		_, err := parseAuditQuery(testContext("GET", "/?"+tc.query, "", ""))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok=%v", tc.query, err, tc.ok)
		}
		if err != nil && trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Errorf("%q: code %s", tc.query, trialgate.ErrorCode(err))
		}
	}
}

// Every body and query a client can send gets either a value or a public
// error with a known code: never a panic, never an internal error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"username":"a","password":"b"}`, `{"a":`, `[]`, `{} {}`, "\x00", `{"username":1e999}`} {
		f.Add(s)
	}
	s := &Server{maxBody: 1 << 10}
	f.Fuzz(func(t *testing.T, body string) {
		var v loginRequest
		err := s.decodeJSON(testContext("POST", "/", "application/json", body), &v)
		if err != nil {
			if _, ok := statusOf[trialgate.ErrorCode(err)]; !ok || trialgate.ErrorCode(err) == trialgate.EInternal {
				t.Fatalf("error %v has code %q", err, trialgate.ErrorCode(err))
			}
		}
	})
}

func FuzzParseAuditQuery(f *testing.F) {
	f.Add("trial=T1&from=2026-01-01T00:00:00Z&limit=5")
	f.Add("format=%zz")
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := url.ParseQuery(q); err != nil {
			return
		}
		c := testContext("GET", "/", "", "")
		c.Request.URL.RawQuery = q
		if _, err := parseAuditQuery(c); err != nil && trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Fatalf("code %s", trialgate.ErrorCode(err))
		}
	})
}
