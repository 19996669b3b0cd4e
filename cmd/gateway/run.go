package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strings"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
)

// command is a subcommand of gateway: the usage lists them, help asks
// each, and a test holds every one (and every one of its subcommands) to
// answering -h.
type command struct {
	name    string
	summary string   // the usage's one line
	subs    []string // its own subcommands (user add ...), if any
	run     func(ctx context.Context, env *environment, args []string) error
}

// commands returns the subcommands, in the usage's order.
func commands() []command {
	return []command{
		{"serve", "run the gateway", nil, serveCmd},
		{"migrate", "create the store, or bring its database schema up to date", nil, migrateCmd},
		{"user", "add, grant, revoke, deactivate, activate or unlock accounts", userSubcommands, userCmd},
		{"audit", "verify or export the audit trail", auditSubcommands, auditCmd},
		{"trial", "define a trial from a JSON file", trialSubcommands, trialCmd},
		{"lock", "verify a data lock's manifest against the data in its scope", lockSubcommands, lockCmd},
		{"deid", "de-identify DICOM files offline with a trial's profile", nil, deidCmd},
	}
}

// usage is the program's usage. Only command lines are indented by two
// spaces (a test reads them).
func usage() string {
	var b strings.Builder
	b.WriteString("usage: gateway <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run "gateway <command> -h" (or "gateway help <command>") for a command's
usage and flags. Every flag can also be set by the environment variable
GATEWAY_<FLAG> (e.g. GATEWAY_DATABASE_URL).

The store (database and objects) is found by --data-dir (default
./gateway-data, an embedded SQLite database and object folder) or
--database-url and the --s3-* flags. Commands that only read it, or
change accounts in it, refuse a place that holds no store; migrate,
serve, user add and trial create create one there, and say so.
`)
	return b.String()
}

// errHelp means help was asked for and printed: the command succeeds.
var errHelp = errors.New("help requested")

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// run is the whole program: main only supplies the process's arguments,
// environment and streams, so tests run it in-process. Help (gateway help,
// gateway X -h, gateway X --help, gateway X Y -h ...) prints to stdout and
// succeeds; a usage error prints to stderr and exits 2.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitError{code: 2}
	}
	cmd, rest := args[0], args[1:]
	if isHelp(cmd) {
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage())
			return nil
		}
		// gateway help user add: as gateway user add -h.
		cmd, rest = rest[0], append(rest[1:], "-h")
	}
	for _, c := range commands() {
		if c.name == cmd {
			err := c.run(ctx, env, rest)
			if errors.Is(err, errHelp) {
				return nil
			}
			return err
		}
	}
	fmt.Fprint(stderr, usage())
	return exitError{code: 2, msg: fmt.Sprintf("unknown command %q", cmd)}
}

// environment is what the process was given.
type environment struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// flags returns the flag set of a command whose usage (one or more
// "usage: gateway ..." lines, and any notes) help prints before the flags.
func (e *environment) flags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n", strings.TrimRight(usage, "\n"))
		if hasFlags(fs) {
			fmt.Fprintf(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// group runs a command with subcommands (user, audit, trial): help, or no
// or an unknown subcommand, prints its usage (to stdout for help, which
// succeeds; to stderr otherwise, exit 2).
func (e *environment) group(usage string, subs []string, args []string) (sub string, rest []string, err error) {
	switch {
	case len(args) > 0 && isHelp(args[0]):
		if len(args) > 1 && slices.Contains(subs, args[1]) {
			// gateway user help add: as gateway user add -h.
			return args[1], append(args[2:], "-h"), nil
		}
		fmt.Fprintln(e.stdout, usage)
		return "", nil, errHelp
	case len(args) == 0:
		return "", nil, exitError{code: 2, msg: usage}
	case !slices.Contains(subs, args[0]):
		return "", nil, exitError{code: 2, msg: fmt.Sprintf("unknown subcommand %q\n%s", args[0], usage)}
	}
	return args[0], args[1:], nil
}

// parse parses args into fs, then fills every flag not given on the command
// line from its GATEWAY_* environment variable. Asked for help (-h,
// --help), it prints the usage to stdout and returns errHelp; a bad flag
// prints the error and the usage to stderr (exit 2).
func (e *environment) parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return errHelp
		}
		fs.SetOutput(e.stderr)
		fmt.Fprintf(e.stderr, "gateway %s: %v\n", fs.Name(), err)
		fs.Usage()
		return exitError{code: 2}
	}
	fs.SetOutput(e.stderr)
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

// created tells the operator that a command made a new store, and where.
func (e *environment) created(b *backendFlags) {
	fmt.Fprintf(e.stderr, "gateway: created a new TrialGate store in %s\n", b.where())
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
