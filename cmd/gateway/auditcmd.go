package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/audit/trail"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

const auditUsage = `usage: gateway audit verify [--trial T] [--export FILE.jsonl] [storage flags]
       gateway audit export --trial T|system --format csv|jsonl|json --out FILE [filters] [storage flags]
(both read an existing store, and refuse a place that holds none)`

// auditSubcommands are the subcommands of gateway audit.
var auditSubcommands = []string{"verify", "export"}

func auditCmd(ctx context.Context, env *environment, args []string) error {
	sub, args, err := env.group(auditUsage, auditSubcommands, args)
	if err != nil {
		return err
	}
	if sub == "verify" {
		return auditVerifyCmd(ctx, env, args)
	}
	return auditExportCmd(ctx, env, args)
}

// auditor is the command line reading the trail: the audit commands act as
// an inspector of every trial, whose reads trail records like anyone's.
func auditor() *auth.Principal {
	return operator(auth.Grant{Role: auth.Inspector, Trial: auth.AllTrials})
}

// openChained opens the database for a CLI command (use says whether a
// missing store may be created, which it then says on stderr), starts the
// sequencer and waits until everything committed so far is chained, so
// that the command sees the whole trail.
func openChained(ctx context.Context, env *environment, b *backendFlags, use storeUse) (*db.DB, error) {
	log, err := newLogger(env, "warn")
	if err != nil {
		return nil, err
	}
	d, created, err := b.openDB(ctx, log, use)
	if err != nil {
		return nil, err
	}
	if created {
		env.created(b)
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
	fs := env.flags("audit verify", `usage: gateway audit verify [--trial T] [--export FILE.jsonl] [storage flags]
Recomputes every hash of the audit trail (or of one trial's chain, or of a
JSON Lines export, offline) and compares each chain with its head. Exit 0
only if everything verifies.`)
	b.register(fs)
	fs.StringVar(&trialID, "trial", "", "verify only this trial's chain (\"system\" for the system chain)")
	fs.StringVar(&export, "export", "", "verify a JSON Lines export file offline, without a database")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	var rep audit.Report
	if export != "" {
		f, err := os.Open(export)
		if err != nil {
			return err
		}
		defer f.Close()
		chain := ""
		if trialID != "" {
			chain = audit.ChainOf(trialID)
			if trialID == audit.SystemChain {
				chain = audit.SystemChain
			}
		}
		if rep, err = audit.VerifyJSONL(f, chain); err != nil {
			return err
		}
	} else {
		if err := (&trail.Request{Trial: trialID, Format: audit.JSONL}).Validate(); err != nil {
			return cliError(err)
		}
		d, err := openChained(ctx, env, &b, existingStore)
		if err != nil {
			return err
		}
		defer d.Close()
		if rep, err = trail.New(d).Verify(ctx, auditor(), trialID); err != nil {
			return cliError(err)
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

// cliError turns a refusal of the caller's input into a usage error (exit
// 2, with its public message), and a trial that does not exist into exit 1
// with its message; other errors pass on.
func cliError(err error) error {
	switch trialgate.ErrorCode(err) {
	case trialgate.EInvalid:
		return exitError{code: 2, msg: trialgate.ErrorMessage(err)}
	case trialgate.ENotFound:
		return exitError{code: 1, msg: trialgate.ErrorMessage(err)}
	}
	return err
}

func auditExportCmd(ctx context.Context, env *environment, args []string) error {
	var b backendFlags
	var trialID, format, out, from, to, actor, action, object, outcome string
	fs := env.flags("audit export", `usage: gateway audit export --trial T|system --format csv|jsonl|json --out FILE [filters] [storage flags]
Writes one chain's entries (the export itself recorded first) to a new file.`)
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
	var postLock bool
	fs.BoolVar(&postLock, "post-lock", false, "only what touched locked data (access.denied_locked, access.after_lock)")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if trialID == "" || out == "" {
		return exitError{code: 2, msg: "audit export needs --trial and --out"}
	}
	req := trail.Request{Trial: trialID, Format: audit.Format(format), Filter: audit.Filter{Actor: actor,
		Action: audit.Action(action), Object: object, Outcome: audit.Outcome(outcome), PostLock: postLock}}
	var err error
	if req.Filter.From, err = parseTime("--from", from); err != nil {
		return err
	}
	if req.Filter.To, err = parseTime("--to", to); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return cliError(err)
	}
	d, err := openChained(ctx, env, &b, existingStore)
	if err != nil {
		return err
	}
	defer d.Close()
	file, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	// The export is recorded before any entry leaves the database.
	export, err := trail.New(d).Query(ctx, auditor(), req)
	n := 0
	if err == nil {
		n, err = export.Stream(ctx, file)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
		return cliError(err)
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
