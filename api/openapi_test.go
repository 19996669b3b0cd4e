package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Every route the server serves is in the OpenAPI document with its
// method, and the document lists nothing the server does not serve.
func TestOpenAPICoversRoutes(t *testing.T) {
	g := newGateway(t)
	r := g.do(t, "GET", "/api/v1/openapi.json", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("openapi.json: %d", r.status)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}

	param := regexp.MustCompile(`[:*]([a-z]+)`)
	served := map[string]bool{}
	for _, r := range g.server.Routes() {
		key := r.Method + " " + param.ReplaceAllString(r.Path, "{$1}")
		served[key] = true
		if !documented[key] {
			t.Errorf("%s is served but not in openapi.json", key)
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is in openapi.json but not served", key)
		}
	}
}
