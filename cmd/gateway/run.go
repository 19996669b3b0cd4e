package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strings"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
)

const usage = `usage: gateway <command> [flags]

commands:
  serve     run the gateway
  migrate   apply database migrations
  user      add, grant, revoke, deactivate or activate accounts
  audit     verify or export the audit trail
  trial     define a trial from a JSON file
  deid      de-identify DICOM files offline with a trial's profile

Run "gateway <command> -h" for a command's flags. Every flag can also be
set by the environment variable GATEWAY_<FLAG> (e.g. GATEWAY_DATABASE_URL).
`

// run is the whole program: main only supplies the process's arguments,
// environment and streams, so tests run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{code: 2}
	}
	env := &environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serveCmd(ctx, env, rest)
	case "migrate":
		return migrateCmd(ctx, env, rest)
	case "user":
		return userCmd(ctx, env, rest)
	case "audit":
		return auditCmd(ctx, env, rest)
	case "trial":
		return trialCmd(ctx, env, rest)
	case "deid":
		return deidCmd(ctx, env, rest)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return exitError{code: 2, msg: fmt.Sprintf("unknown command %q", cmd)}
	}
}

// environment is what the process was given.
type environment struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// parse parses args into fs, then fills every flag not given on the command
// line from its GATEWAY_* environment variable.
func (e *environment) parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitError{code: 0}
		}
		return exitError{code: 2}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v := e.getenv(envName(f.Name)); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = exitError{code: 2, msg: fmt.Sprintf("%s: %v", envName(f.Name), serr)}
			}
		}
	})
	return err
}

// envName returns the environment twin of a flag: GATEWAY_<FLAG_IN_CAPS>.
func envName(flag string) string {
	return "GATEWAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// cliActor is who acts from the command line: the CLI, as the OS user.
func cliActor() audit.Actor {
	return operator().Actor("")
}

// operator is the command line as a principal of the domain services: the
// CLI as the OS user, holding the grants a command acts with.
func operator(grants ...auth.Grant) *auth.Principal {
	username, name := "", ""
	if u, err := user.Current(); err == nil {
		username, name = u.Username, u.Name
	}
	return auth.Operator("cli", username, name, grants...)
}
