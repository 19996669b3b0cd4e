package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvironmentTwins(t *testing.T) {
	fromEnv, fromFlag := t.TempDir(), t.TempDir()
	env := map[string]string{"GATEWAY_DATA_DIR": fromEnv}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"migrate"}, getenv, nil, &out, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(fromEnv, "trialgate.db")); err != nil {
		t.Fatalf("GATEWAY_DATA_DIR ignored: %v", err)
	}
	// A flag on the command line wins over its variable.
	if err := run(ctx, []string{"migrate", "--data-dir", fromFlag}, getenv, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(fromFlag, "trialgate.db")); err != nil {
		t.Fatalf("--data-dir ignored: %v", err)
	}
	if !strings.Contains(out.String(), "schema at version") {
		t.Errorf("output: %s", out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		{},
		{"frobnicate"},
		{"serve", "--no-such-flag"},
		{"serve", "--s3-endpoint", "127.0.0.1:9000"},
		{"audit"},
		{"audit", "export", "--trial", "T1"},
		{"user"},
		{"user", "add", "--username", "x"},
	}
	for _, args := range tests {
		var out bytes.Buffer
		env := map[string]string{"GATEWAY_DATA_DIR": t.TempDir()}
		err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &out)
		var ex exitError
		if !errors.As(err, &ex) || ex.code != 2 {
			t.Errorf("%q: err = %v, want a usage error (exit 2)", args, err)
		}
	}
}
