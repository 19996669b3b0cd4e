package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the gateway once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "trialgate-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build gateway: %v", buildErr)
	}
	return binPath
}

// process is the gateway binary serving.
type process struct {
	cmd    *exec.Cmd
	base   string
	done   chan error    // receives Wait's result once, for waitHealthy
	exited chan struct{} // closed when the process has exited
}

func startProcess(t *testing.T, args []string) *process {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary(t), append([]string{"serve", "--addr", addr, "--log-level", "warn"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, base: "http://" + addr, done: make(chan error, 1), exited: make(chan struct{})}
	go func() {
		p.done <- cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("gateway stderr:\n%s", stderr.String())
		}
	})
	waitHealthy(t, p.base, p.done)
	return p
}

// Kill -9 the gateway while clients log in and query the trail (every one
// an audited write), restart it, and check that the trail verifies with no
// gap and holds every write a client saw acknowledged.
func TestKillNineDuringAuditedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			g := &gateway{t: t, args: b.args(t)}
			g.addUser("ada", "admin")
			g.addUser("ivy", "inspector:*")
			start := time.Now()
			p := startProcess(t, g.args)
			t.Logf("started in %v", time.Since(start))

			var acked atomic.Int64 // successful logins the clients saw
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			client := &http.Client{Timeout: 5 * time.Second}
			for w := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						body := `{"username":"ada","password":"` + testPassword + `"}`
						if w%3 == 0 {
							body = `{"username":"nobody","password":"wrong wrong wrong"}`
						}
						req, _ := http.NewRequest("POST", p.base+"/api/v1/auth/login", bytes.NewReader([]byte(body)))
						req.Header.Set("Content-Type", "application/json")
						resp, err := client.Do(req)
						if err != nil {
							continue // the server is gone
						}
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							acked.Add(1)
						}
					}
				}()
			}
			// Let load build, then kill mid-flight.
			deadline := time.Now().Add(10 * time.Second)
			for acked.Load() < 30 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.exited
			cancel()
			wg.Wait()
			if acked.Load() == 0 {
				t.Fatal("no write was acknowledged before the kill")
			}

			t.Logf("%d logins acknowledged before SIGKILL", acked.Load())
			// Restart: the chain verifies and has no gap (verify checks
			// seq continuity), and every acknowledged login is there.
			t.Logf("killed after %v", time.Since(start))
			p2 := startProcess(t, g.args)
			t.Logf("restarted after %v", time.Since(start))
			ivy := token(t, p2.base, "ivy")
			out, err := exec.Command(binary(t), append([]string{"audit", "verify"}, g.args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("audit verify after kill -9: %v\n%s", err, out)
			}
			sys := queryTrail(t, p2.base, ivy, "trial=system&action=auth.login")
			// ivy's own login and the acknowledged ones; more may have
			// committed whose response the kill swallowed.
			if got := int64(count(sys, "auth.login", "success")); got < acked.Load()+1 {
				t.Fatalf("successful logins in the trail = %d, acknowledged = %d", got, acked.Load())
			}
			for i, e := range sys {
				if i > 0 && e.Seq <= sys[i-1].Seq {
					t.Fatalf("seq not increasing at %d", e.Seq)
				}
			}
		})
	}
}

// The acceptance check of the audit trail from the command line: with the
// triggers removed by hand, one changed byte makes verify exit non-zero and
// name the entry.
func TestVerifyCLIDetectsTampering(t *testing.T) {
	g := &gateway{t: t, args: []string{"--data-dir", t.TempDir()}}
	g.addUser("ada", "admin")
	g.addUser("bob", "inspector:*")
	if _, err := g.cli("", "audit", "verify"); err != nil {
		t.Fatalf("verify of an intact trail: %v", err)
	}
	raw := openSQLite(t, filepath.Join(g.args[1], "trialgate.db"))
	exec1 := func(q string) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := raw.Exec(`UPDATE audit_log SET outcome = 'x' WHERE seq = 2`); err == nil {
		t.Fatal("UPDATE of an audit row succeeded")
	}
	var seq int
	if err := raw.QueryRow(`SELECT seq FROM audit_log WHERE chain = 'system' AND action = 'user.created'
		AND CAST(canonical AS TEXT) LIKE '%Test bob%'`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	exec1(`DROP TRIGGER audit_log_no_update`)
	// One byte: "bob" becomes "bib" in the stored entry.
	exec1(fmt.Sprintf(`UPDATE audit_log SET canonical = CAST(replace(CAST(canonical AS TEXT), 'Test bob', 'Test bib') AS BLOB)
		WHERE chain = 'system' AND seq = %d`, seq))
	_, err := g.cli("", "audit", "verify")
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 1 || !strings.Contains(ex.msg, fmt.Sprintf("seq %d:", seq)) {
		t.Fatalf("verify after tampering: %v, want exit 1 naming seq %d", err, seq)
	}
}

// SIGTERM drains the server and exits 0; the trail still verifies.
func TestSIGTERMShutsDownGracefully(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	g := &gateway{t: t, args: []string{"--data-dir", t.TempDir()}}
	g.addUser("ada", "admin")
	p := startProcess(t, g.args)
	token(t, p.base, "ada")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30s after SIGTERM")
	}
	if _, err := g.cli("", "audit", "verify"); err != nil {
		t.Fatalf("verify after shutdown: %v", err)
	}
}
