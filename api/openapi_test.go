package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/sqlite"
	"github.com/trialgate/trialgate/ingest"
	"github.com/trialgate/trialgate/storage/fs"
	"github.com/trialgate/trialgate/trial/registry"
)

// Every route the server serves is in the OpenAPI document with its
// method, and the document lists nothing the server does not serve.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
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

	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	d, err := sqlite.Open(ctx, filepath.Join(dir, "gateway.db"), db.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store, err := fs.New(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(d, auth.DefaultConfig())
	pipeline, err := ingest.New(ingest.Config{DB: d, Store: store, Trials: registry.New(d, a, nil),
		Secret: bytes.Repeat([]byte{1}, 32), TempDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{DB: d, Store: store, Auth: a, Ingest: pipeline, Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	param := regexp.MustCompile(`:([a-z]+)`)
	served := map[string]bool{}
	for _, r := range s.engine.Routes() {
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
