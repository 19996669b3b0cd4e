// Command audit measures TrialGate's audit path against the budgets of
// DESIGN.md section 8, each figure side by side with its baseline in one run
// (absolute numbers on a shared machine are noise; the ratios matter):
//
//   - write: 64 concurrent writers, each transaction one business INSERT plus
//     its audit entry, in three variants run back to back: "audited" (the real
//     db.DB.Write path: a regulated table with the tg_require_audit deferred
//     trigger, the entry queued, the sequencer chaining it), "noaudit" (the
//     same INSERT in a plain transaction) and "naive" (the chain head locked,
//     hashed and advanced inside every business transaction). It also measures
//     how long after its commit each audited entry is chained. Ablation
//     variants (audited-noseq, audited-notrigger, noaudit-rt, noaudit-encode)
//     and proposal emulations (pgx-noaudit, pgx-audited, pgx-pipelined) take
//     the audited path's cost apart; see -variants.
//   - verify: audit.Verifier over N in-memory records against raw SHA-256 over
//     the same bytes.
//   - export: N entries loaded through the real path into PostgreSQL, then
//     db.DB.VerifyAudit and a JSON Lines export (db.DB.AuditRecords +
//     audit.NewWriter) timed.
//   - sqlite: the audited and plain write variants on the embedded backend,
//     where entries are chained inline (not run by default).
//
// Every PostgreSQL part runs in a database created for the run and dropped
// after it. See bench/README.md for the commands and the measured results.
//
// Usage:
//
//	go run ./bench/audit [-database-url URL] [-parts write,verify,export,sqlite] [-writers 64]
//	    [-warmup 3s] [-duration 15s] [-rounds 1] [-variants audited,noaudit,naive] [-chains 1]
//	    [-entries 1000000] [-quick] [-keep] [-cpuprofile FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit bench:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks a command-line error.
var errUsage = errors.New("usage")

// defaultServerURL is the maintenance database of the local test server.
const defaultServerURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// config is the parsed command line.
type config struct {
	serverURL  string
	parts      []string
	variants   []string
	writers    int
	warmup     time.Duration
	duration   time.Duration
	rounds     int
	chains     int
	interval   time.Duration
	entries    int
	loaders    int
	out        string
	keep       bool
	cpuProfile string
	sqliteDir  string
}

var (
	allParts    = []string{"write", "verify", "export", "sqlite"}
	allVariants = []string{variantAudited, variantNoAudit, variantNaive}
	ablations   = []string{variantAuditedNoSeq, variantAuditedNoTrigger, variantNoAuditRT, variantNoAuditEncode}
)

// parseFlags parses args; getenv supplies defaults from the environment.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	defURL := getenv("TRIALGATE_TEST_DATABASE_URL")
	if defURL == "" {
		defURL = defaultServerURL
	}
	var parts, variants string
	var quick bool
	fs.StringVar(&c.serverURL, "database-url", defURL, "PostgreSQL server URL; a fresh database is created on this server for the run and dropped after it; TRIALGATE_TEST_DATABASE_URL, if set, is the default")
	fs.StringVar(&parts, "parts", "write,verify,export", "comma-separated parts to run: "+strings.Join(allParts, ", "))
	fs.StringVar(&variants, "variants", strings.Join(allVariants, ","), "write variants, run in this order in every round; the ablations "+strings.Join(ablations, ", ")+
		" explain the audited path's cost, and "+strings.Join(proposals, ", ")+" emulate sending the queue insert with COMMIT")
	fs.IntVar(&c.writers, "writers", 64, "concurrent writers (and the pool has writers+2 connections)")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured warm-up of each write variant")
	fs.DurationVar(&c.duration, "duration", 15*time.Second, "measured time of each write variant")
	fs.IntVar(&c.rounds, "rounds", 1, "run the write variants this many times, interleaved; the summary takes medians")
	fs.IntVar(&c.chains, "chains", 1, "trial chains the writers spread over (1: every writer appends to the same chain, the naive design's worst and the busy-trial case)")
	fs.DurationVar(&c.interval, "interval", 100*time.Millisecond, "sequencer interval (db.Options.SequencerInterval)")
	fs.IntVar(&c.entries, "entries", 1_000_000, "entries for the verify and export parts")
	fs.IntVar(&c.loaders, "loaders", 4, "concurrent loading transactions (1,000 entries each) in the export part")
	fs.StringVar(&c.out, "out", "", "JSON Lines export file (default: a temporary file, removed after)")
	fs.BoolVar(&c.keep, "keep", false, "keep the benchmark databases (and the export file) instead of dropping them")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&c.sqliteDir, "sqlite-dir", "", "directory for the SQLite part's database file (default: a temporary directory)")
	fs.BoolVar(&quick, "quick", false, "a short run for regression checks: 1s warm-up and 2s per variant, 20,000 entries (explicit flags win)")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["warmup"] {
			c.warmup = time.Second
		}
		if !set["duration"] {
			c.duration = 2 * time.Second
		}
		if !set["entries"] {
			c.entries = 20_000
		}
	}
	var err error
	if c.parts, err = list("-parts", parts, allParts); err != nil {
		return nil, err
	}
	if c.variants, err = list("-variants", variants, slices.Concat(allVariants, ablations, proposals)); err != nil {
		return nil, err
	}
	switch {
	case c.writers < 1:
		return nil, fmt.Errorf("%w: -writers must be at least 1", errUsage)
	case c.duration <= 0 || c.warmup < 0:
		return nil, fmt.Errorf("%w: -duration must be positive and -warmup not negative", errUsage)
	case c.rounds < 1 || c.chains < 1 || c.loaders < 1:
		return nil, fmt.Errorf("%w: -rounds, -chains and -loaders must be at least 1", errUsage)
	case c.entries < 1:
		return nil, fmt.Errorf("%w: -entries must be at least 1", errUsage)
	case c.interval <= 0:
		return nil, fmt.Errorf("%w: -interval must be positive", errUsage)
	}
	return c, nil
}

// list parses a comma-separated list whose items must be in known.
func list(name, s string, known []string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(known, p) {
			return nil, fmt.Errorf("%w: %s: unknown %q (known: %s)", errUsage, name, p, strings.Join(known, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// run is the whole command: parse flags, run the chosen parts, print reports
// to stdout and progress to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	fmt.Fprintf(stdout, "# TrialGate audit benchmarks, %s, %s/%s, GOMAXPROCS=%d, %d CPUs\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())
	env := &benchEnv{cfg: c, log: log, progress: progress, out: stdout}
	defer env.cleanup()
	for _, p := range c.parts {
		var err error
		switch p {
		case "write":
			err = env.writePart(ctx)
		case "verify":
			err = env.verifyPart(ctx)
		case "export":
			err = env.exportPart(ctx)
		case "sqlite":
			err = env.sqlitePart(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// benchEnv carries a run's configuration, output and the databases to drop.
type benchEnv struct {
	cfg      *config
	log      *slog.Logger
	progress func(format string, args ...any)
	out      io.Writer
	drops    []func()
}

// cleanup drops what the run created, newest first.
func (e *benchEnv) cleanup() {
	for i := len(e.drops) - 1; i >= 0; i-- {
		e.drops[i]()
	}
}
