package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

const auditUsage = `usage: gateway audit verify [--trial T] [--export FILE.jsonl] [storage flags]
       gateway audit export --trial T|--system --format csv|jsonl|json --out FILE [filters] [storage flags]`

func auditCmd(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 {
		return exitError{code: 2, msg: auditUsage}
	}
	switch args[0] {
	case "verify":
		return auditVerifyCmd(ctx, env, args[1:])
	case "export":
		return auditExportCmd(ctx, env, args[1:])
	}
	return exitError{code: 2, msg: auditUsage}
}

// cliActor is who acts from the command line: the CLI, as the OS user.
func cliActor() audit.Actor {
	a := audit.System("cli")
	if u, err := user.Current(); err == nil {
		a.Username = u.Username
		a.FullName = u.Name
	}
	return a
}

// openChained opens the database for a CLI command, starts the sequencer and
// waits until everything committed so far is chained, so that the command
// sees the whole trail.
func openChained(ctx context.Context, env *environment, b *backendFlags) (*db.DB, error) {
	log, err := newLogger(env, "warn")
	if err != nil {
		return nil, err
	}
	d, err := b.openDB(ctx, log)
	if err != nil {
		return nil, err
	}
	d.Start(ctx)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.WaitChained(wctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("wait for the sequencer: %w", err)
	}
	return d, nil
}

func auditVerifyCmd(ctx context.Context, env *environment, args []string) error {
	var b backendFlags
	var trialID, export string
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	b.register(fs)
	fs.StringVar(&trialID, "trial", "", "verify only this trial's chain (\"system\" for the system chain)")
	fs.StringVar(&export, "export", "", "verify a JSON Lines export file offline, without a database")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	var rep audit.Report
	if export != "" {
		var err error
		if rep, err = verifyExport(export, trialID); err != nil {
			return err
		}
	} else {
		d, err := openChained(ctx, env, &b)
		if err != nil {
			return err
		}
		defer d.Close()
		var chains []string
		if trialID != "" {
			chains = []string{chainOf(trialID)}
		}
		if rep, err = d.VerifyAudit(ctx, chains...); err != nil {
			return err
		}
		ev := audit.Event{Action: audit.ActionAuditVerified, Trial: trialOf(trialID),
			After: map[string]any{"ok": rep.OK, "entries": rep.Entries}}
		if !rep.OK {
			ev.Outcome = audit.Failed
			ev.After = map[string]any{"ok": false, "entries": rep.Entries, "first_bad": rep.FirstBad}
		}
		if err := d.Record(ctx, cliActor(), ev); err != nil {
			return fmt.Errorf("record the verification: %w", err)
		}
	}
	out, _ := json.Marshal(rep)
	fmt.Fprintln(env.stdout, string(out))
	if !rep.OK {
		return exitError{code: 1, msg: fmt.Sprintf("audit trail does NOT verify: chain %s, seq %d: %s",
			rep.FirstBad.Chain, rep.FirstBad.Seq, rep.FirstBad.Reason)}
	}
	fmt.Fprintf(env.stderr, "audit trail verifies: %d entries in %d chains\n", rep.Entries, rep.Chains)
	return nil
}

// verifyExport checks a JSON Lines export: every hash and link, offline.
func verifyExport(path, trialID string) (audit.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return audit.Report{}, err
	}
	defer f.Close()
	v := audit.NewVerifier()
	err = audit.ReadJSONL(f, func(r *audit.Record) error {
		if trialID != "" && r.Chain != chainOf(trialID) {
			return nil
		}
		v.Add(r)
		return nil
	})
	if err != nil {
		return audit.Report{}, fmt.Errorf("read export: %w", err)
	}
	return v.Finish(nil), nil
}

// chainOf maps the --trial flag to a chain; "system" names the system chain.
func chainOf(trialID string) string { return audit.ChainOf(trialOf(trialID)) }

func trialOf(trialID string) string {
	if trialID == audit.SystemChain {
		return ""
	}
	return trialID
}

func auditExportCmd(ctx context.Context, env *environment, args []string) error {
	var b backendFlags
	var trialID, format, out, from, to, actor, action, object, outcome string
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	b.register(fs)
	fs.StringVar(&trialID, "trial", "", "the trial whose chain to export (\"system\" for the system chain; required)")
	fs.StringVar(&format, "format", "jsonl", "csv, jsonl or json")
	fs.StringVar(&out, "out", "", "output file (required)")
	fs.StringVar(&from, "from", "", "only entries at or after this time (RFC 3339)")
	fs.StringVar(&to, "to", "", "only entries before this time (RFC 3339)")
	fs.StringVar(&actor, "actor", "", "only entries by this actor (id or username)")
	fs.StringVar(&action, "action", "", "only entries with this action")
	fs.StringVar(&object, "object", "", "only entries about this object (type/id)")
	fs.StringVar(&outcome, "outcome", "", "only entries with this outcome")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if trialID == "" || out == "" {
		return exitError{code: 2, msg: "audit export needs --trial and --out"}
	}
	f := audit.Filter{Chains: []string{chainOf(trialID)}, Actor: actor, Action: audit.Action(action),
		Object: object, Outcome: audit.Outcome(outcome)}
	var err error
	if f.From, err = parseTime("--from", from); err != nil {
		return err
	}
	if f.To, err = parseTime("--to", to); err != nil {
		return err
	}
	d, err := openChained(ctx, env, &b)
	if err != nil {
		return err
	}
	defer d.Close()
	file, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w, err := audit.NewWriter(file, audit.Format(format))
	if err != nil {
		file.Close()
		os.Remove(out)
		return exitError{code: 2, msg: err.Error()}
	}
	// The export is itself recorded before any entry leaves the database.
	if err := d.Record(ctx, cliActor(), audit.Event{Action: audit.ActionAuditQueried, Trial: trialOf(trialID),
		After: map[string]any{"format": format, "filter": f.Fields()}}); err != nil {
		file.Close()
		os.Remove(out)
		return err
	}
	n := 0
	err = d.AuditRecords(ctx, f, func(r *audit.Record) error { n++; return w.Write(r) })
	if err == nil {
		err = w.Close()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
		return err
	}
	fmt.Fprintf(env.stderr, "exported %d entries to %s\n", n, out)
	return nil
}

func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, exitError{code: 2, msg: fmt.Sprintf("%s: want an RFC 3339 time such as 2026-01-02T15:04:05Z", name)}
	}
	return t, nil
}
