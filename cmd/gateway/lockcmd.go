package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/trialgate/trialgate/lock"
)

const lockUsage = `usage: gateway lock verify --lock ID [storage flags]
(reads an existing store, and refuses a place that holds none)`

// lockSubcommands are the subcommands of gateway lock.
var lockSubcommands = []string{"verify"}

func lockCmd(ctx context.Context, env *environment, args []string) error {
	_, args, err := env.group(lockUsage, lockSubcommands, args)
	if err != nil {
		return err
	}
	return lockVerifyCmd(ctx, env, args)
}

func lockVerifyCmd(ctx context.Context, env *environment, args []string) error {
	var b backendFlags
	var id string
	fs := env.flags("lock verify", `usage: gateway lock verify --lock ID [storage flags]
Recomputes a data lock's manifest from the data now in its scope and
compares it with the one recorded when the lock was applied; prints the
comparison as JSON. Exit 0 only if nothing in the scope changed (recorded
as lock.verified, by the CLI as the OS user).`)
	b.register(fs)
	fs.StringVar(&id, "lock", "", "the lock's id (required)")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if id == "" {
		return exitError{code: 2, msg: "lock verify: --lock is required"}
	}
	d, err := openChained(ctx, env, &b, existingStore)
	if err != nil {
		return err
	}
	defer d.Close()
	cmp, err := lock.New(lock.Config{DB: d}).Verify(ctx, auditor(), id)
	if err != nil {
		return cliError(err)
	}
	out, _ := json.Marshal(cmp)
	fmt.Fprintln(env.stdout, string(out))
	if !cmp.OK {
		return exitError{code: 1, msg: fmt.Sprintf("lock %s does NOT verify: %d changed, %d added, %d removed",
			id, len(cmp.Changed), len(cmp.Added), len(cmp.Removed))}
	}
	fmt.Fprintf(env.stderr, "lock %s verifies: %d records unchanged since it was applied (root %s)\n", id, cmp.Leaves, cmp.Root)
	return nil
}
