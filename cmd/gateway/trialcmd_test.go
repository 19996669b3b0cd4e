package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gateway trial create defines a trial from a file, audited as system:cli,
// and refuses an invalid definition with its field path.
func TestTrialCreate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{"GATEWAY_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate"}, getenv, nil, &out, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	write := func(name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const def = `{"id":"T1","name":"Trial One","sites":[{"id":"S1","name":"One"}],"visits":[{"id":"BL","label":"Baseline"}],
	 "deid":{"options":[]},"qc":{"rules":[]},"reads":{"design":"single","form":{"fields":[{"id":"x","type":"text","required":false}]}}}`

	bad := write("bad.json", strings.Replace(def, `"visits":[{"id":"BL","label":"Baseline"}]`, `"visits":[]`, 1))
	err := run(ctx, []string{"trial", "create", "--file", bad}, getenv, nil, &out, &out)
	if err == nil || err.Error() != "visits: at least one visit is required" {
		t.Fatalf("invalid definition: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"trial", "create", "--file", write("t.json", def)}, getenv, nil, &out, &out); err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.HasPrefix(out.String(), "created trial T1 version 1 (sha256 ") {
		t.Errorf("output %q", out.String())
	}
	if err := run(ctx, []string{"trial", "create", "--file", write("t.json", def)}, getenv, nil, &out, &out); err == nil {
		t.Error("second create succeeded")
	}
	raw := openSQLite(t, filepath.Join(dir, "trialgate.db"))
	var actor string
	if err := raw.QueryRow(`SELECT actor_id FROM audit_log WHERE action = 'trial.created' AND trial = 'T1'`).Scan(&actor); err != nil {
		t.Fatal(err)
	}
	if actor != "system:cli" {
		t.Errorf("trial.created by %q", actor)
	}
}
