package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// walkthrough runs examples/walkthrough.sh with the gateway binary bin on
// a fresh data directory and a free port, in an environment without the
// caller's GATEWAY_* variables (the gateway reads them too).
func walkthrough(t *testing.T, bin, data string) (string, error) {
	t.Helper()
	tool(t, "bash", "apt-get install bash")
	tool(t, "curl", "apt-get install curl")
	script, err := filepath.Abs(filepath.Join("..", "..", "examples", "walkthrough.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GATEWAY_BIN="+bin, "GATEWAY_DATA_DIR="+data, "GATEWAY_ADDR="+freeAddr(t))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestWalkthrough runs the newcomer's walk-through as README.md tells them
// to, against the built binary: every step must answer as the script
// expects, and the trail it leaves must verify.
func TestWalkthrough(t *testing.T) {
	realDir(t)
	bin := binary(t)
	t.Run("every step", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "walkthrough-data")
		start := time.Now()
		out, err := walkthrough(t, bin, data)
		t.Logf("walkthrough.sh (%.1fs):\n%s", time.Since(start).Seconds(), out)
		if err != nil {
			t.Fatalf("walkthrough.sh: %v", err)
		}
		if !strings.Contains(out, "Every step answered as expected.") {
			t.Fatal("walkthrough.sh exited 0 without finishing")
		}
		// The trail it leaves verifies, recomputed offline by the command line.
		g := &gateway{t: t, args: []string{"--data-dir", data}}
		if rep, err := g.cli("", "audit", "verify"); err != nil {
			t.Fatalf("audit verify: %v\n%s", err, rep)
		}
	})

	t.Run("a used data directory is refused", func(t *testing.T) {
		data := t.TempDir()
		if err := os.WriteFile(filepath.Join(data, "trialgate.db"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := walkthrough(t, bin, data)
		if err == nil || !strings.Contains(out, "is not empty") {
			t.Fatalf("walkthrough.sh on a used data directory: %v\n%s", err, out)
		}
	})

	// A step whose status is not the one expected stops the script with a
	// failure naming the request: here the gateway refuses uploads over
	// 1,000 bytes, so STOW-RS answers 413.
	t.Run("a failing step fails the script", func(t *testing.T) {
		wrapper := filepath.Join(t.TempDir(), "gateway")
		sh := "#!/bin/sh\nif [ \"$1\" = serve ]; then shift; exec '" + bin + "' serve --max-upload 1000 \"$@\"; fi\nexec '" + bin + "' \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(sh), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := walkthrough(t, wrapper, filepath.Join(t.TempDir(), "data"))
		var ex *exec.ExitError
		if !errors.As(err, &ex) || ex.ExitCode() == 0 {
			t.Fatalf("walkthrough.sh with a failing STOW-RS: %v\n%s", err, out)
		}
		// The gateway answers 413 and closes the connection; curl sees
		// the answer, or, still sending the body, a reset: either way the
		// script must stop at that request and name it.
		named := strings.Contains(out, "/studies: HTTP 413, want 200") || strings.Contains(out, "/studies: curl failed")
		if !named || !strings.Contains(out, "walkthrough: FAILED: POST /dicomweb/submissions/") {
			t.Errorf("the failure does not name the request and its status:\n%s", out)
		}
		if strings.Contains(out, "Every step answered as expected.") {
			t.Error("the script went on after the failing step")
		}
	})
}

// TestHelpExitsZero asks every command and subcommand for help: each must
// print its usage and exit 0. Every command the top-level usage lists is
// covered.
func TestHelpExitsZero(t *testing.T) {
	commands := map[string][]string{
		"serve":   nil,
		"migrate": nil,
		"user":    {"add", "grant", "revoke", "deactivate", "activate"},
		"audit":   {"verify", "export"},
		"trial":   {"create"},
		"lock":    {"verify"},
		"deid":    nil,
	}
	cases := [][]string{{"-h"}, {"--help"}, {"help"}}
	for cmd, subs := range commands {
		for _, h := range []string{"-h", "--help"} {
			cases = append(cases, []string{cmd, h})
			for _, sub := range subs {
				cases = append(cases, []string{cmd, sub, h})
			}
		}
	}
	// The usage's command list and the table above agree.
	var out bytes.Buffer
	run(context.Background(), []string{"help"}, noEnv, strings.NewReader(""), &out, &out)
	listed := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") {
			listed++
			if _, ok := commands[f[0]]; !ok {
				t.Errorf("usage lists %q, which this test does not ask for help", f[0])
			}
		}
	}
	if listed != len(commands) {
		t.Errorf("usage lists %d commands, want %d:\n%s", listed, len(commands), out.String())
	}

	for _, args := range cases {
		var stdout, stderr bytes.Buffer
		env := map[string]string{"GATEWAY_DATA_DIR": t.TempDir()}
		err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
		var ex exitError
		if err != nil && (!errors.As(err, &ex) || ex.code != 0) {
			t.Errorf("gateway %s: %v, want exit 0", strings.Join(args, " "), err)
			continue
		}
		text := strings.ToLower(stdout.String() + stderr.String())
		if !strings.Contains(text, "usage") {
			t.Errorf("gateway %s printed no usage: %q", strings.Join(args, " "), text)
		}
	}
}
