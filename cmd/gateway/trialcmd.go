package main

import (
	"context"
	"fmt"
	"os"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/trial"
)

const trialUsage = `usage: gateway trial create --file trial.json [storage flags]
(the same JSON as POST /api/v1/trials; creates the store if there is none yet)`

// trialSubcommands are the subcommands of gateway trial.
var trialSubcommands = []string{"create"}

// maxDefinitionFile bounds a definition file, like the API's body limit.
const maxDefinitionFile = 1 << 20

// trialCmd defines trials from the command line, audited as system:cli.
func trialCmd(ctx context.Context, env *environment, args []string) error {
	_, args, err := env.group(trialUsage, trialSubcommands, args)
	if err != nil {
		return err
	}
	var b backendFlags
	var file string
	fs := env.flags("trial create", `usage: gateway trial create --file trial.json [storage flags]
Defines a trial (version 1) from the JSON of POST /api/v1/trials, audited as
system:cli acting as the trial's data manager.`)
	b.register(fs)
	fs.StringVar(&file, "file", "", "the trial definition (JSON)")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if file == "" {
		return exitError{code: 2, msg: "--file is required"}
	}
	st, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("trial create: %w", err)
	}
	if st.Size() > maxDefinitionFile {
		return exitError{code: 2, msg: fmt.Sprintf("%s is larger than %d bytes", file, maxDefinitionFile)}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("trial create: %w", err)
	}
	// Validated before the database is opened, for a quick answer; the
	// command acts as the data manager of the trial the file defines.
	def, err := trial.ParseDefinition(data)
	if err != nil {
		return exitError{code: 1, msg: trialgate.ErrorMessage(err)}
	}
	d, err := openChained(ctx, env, &b, createStore)
	if err != nil {
		return err
	}
	defer d.Close()
	op := operator(auth.Grant{Role: auth.DataManager, Trial: def.ID})
	v, err := trial.NewService(d, auth.New(d, auth.DefaultConfig()), nil).Create(ctx, op, data)
	if err != nil {
		return err
	}
	if err := d.WaitChained(ctx); err != nil {
		return fmt.Errorf("trial create: %w", err)
	}
	fmt.Fprintf(env.stdout, "created trial %s version %d (sha256 %s)\n", v.Trial, v.Version, v.SHA256)
	return nil
}
