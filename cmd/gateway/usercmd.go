package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/trialgate/trialgate/auth"
)

const userUsage = `usage: gateway user add --username U --full-name "N" --role ROLE[:TRIAL[:SITE]] ... [--affiliation TRIAL:SITE ...] --password-stdin
       gateway user grant|revoke --username U --role ROLE[:TRIAL[:SITE]]
       gateway user affiliate|unaffiliate --username U --affiliation TRIAL:SITE
       gateway user deactivate|activate --username U
       gateway user unlock --username U
(and the storage flags of serve; every change is audited as system:cli)`

// userSubcommands are the subcommands of gateway user.
var userSubcommands = []string{"add", "grant", "revoke", "affiliate", "unaffiliate", "deactivate", "activate", "unlock"}

// userSubUsage is the usage of each subcommand of gateway user.
var userSubUsage = map[string]string{
	"add": `usage: gateway user add --username U --full-name "N" --role ROLE[:TRIAL[:SITE]] ... [--affiliation TRIAL:SITE ...] --password-stdin [storage flags]
Creates an account (and the store, if there is none yet). The password is
the first line of standard input; it never goes on the command line. An
affiliation records a site the person belongs to: they are never given a
blinded read of that site's cases.`,
	"affiliate": `usage: gateway user affiliate --username U --affiliation TRIAL:SITE [storage flags]
Records that the person belongs to a site of a trial (audited): they are never
given a blinded read of that site's cases.`,
	"unaffiliate": `usage: gateway user unaffiliate --username U --affiliation TRIAL:SITE [storage flags]`,
	"grant":       `usage: gateway user grant --username U --role ROLE[:TRIAL[:SITE]] [storage flags]`,
	"revoke":      `usage: gateway user revoke --username U --role ROLE[:TRIAL[:SITE]] [storage flags]`,
	"deactivate":  `usage: gateway user deactivate --username U [storage flags]`,
	"activate":    `usage: gateway user activate --username U [storage flags]`,
	"unlock": `usage: gateway user unlock --username U [storage flags]
Lifts the lockout of an account locked after repeated wrong passwords,
before it runs out, and clears its count of failures (audited).`,
}

// roleFlags collects repeated --role values.
type roleFlags []auth.Grant

func (r *roleFlags) String() string { return fmt.Sprint(*r) }

func (r *roleFlags) Set(v string) error {
	g, err := parseGrant(v)
	if err != nil {
		return err
	}
	*r = append(*r, g)
	return nil
}

// affiliationFlags collects repeated --affiliation values.
type affiliationFlags []auth.Affiliation

func (a *affiliationFlags) String() string { return fmt.Sprint(*a) }

func (a *affiliationFlags) Set(v string) error {
	trial, site, ok := strings.Cut(v, ":")
	if !ok || trial == "" || site == "" || strings.Contains(site, ":") {
		return fmt.Errorf("want TRIAL:SITE, got %q", v)
	}
	*a = append(*a, auth.Affiliation{Trial: trial, Site: site})
	return nil
}

// parseGrant reads ROLE[:TRIAL[:SITE]]; auth validates the combination.
func parseGrant(v string) (auth.Grant, error) {
	parts := strings.Split(v, ":")
	if len(parts) > 3 || parts[0] == "" {
		return auth.Grant{}, fmt.Errorf("want ROLE[:TRIAL[:SITE]], got %q", v)
	}
	g := auth.Grant{Role: auth.Role(parts[0])}
	if len(parts) > 1 {
		g.Trial = parts[1]
	}
	if len(parts) > 2 {
		g.Site = parts[2]
	}
	return g, nil
}

func userCmd(ctx context.Context, env *environment, args []string) error {
	sub, args, err := env.group(userUsage, userSubcommands, args)
	if err != nil {
		return err
	}
	var b backendFlags
	var username, fullName string
	var roles roleFlags
	var affiliations affiliationFlags
	var passwordStdin bool
	fs := env.flags("user "+sub, userSubUsage[sub])
	b.register(fs)
	fs.StringVar(&username, "username", "", "the account's username")
	switch sub {
	case "add":
		fs.StringVar(&fullName, "full-name", "", "the person's full (printed) name")
		fs.Var(&roles, "role", "a role grant ROLE[:TRIAL[:SITE]] (repeatable)")
		fs.Var(&affiliations, "affiliation", "a site the person belongs to, TRIAL:SITE (repeatable)")
		fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	case "grant", "revoke":
		fs.Var(&roles, "role", "the role grant ROLE[:TRIAL[:SITE]]")
	case "affiliate", "unaffiliate":
		fs.Var(&affiliations, "affiliation", "the affiliation TRIAL:SITE")
	}
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if username == "" {
		return exitError{code: 2, msg: "--username is required"}
	}
	var password string
	use := existingStore
	if sub == "add" {
		if !passwordStdin {
			return exitError{code: 2, msg: "user add needs --password-stdin (passwords never go on the command line)"}
		}
		sc := bufio.NewScanner(env.stdin)
		if !sc.Scan() {
			return exitError{code: 2, msg: "no password on standard input"}
		}
		password = strings.TrimRight(sc.Text(), "\r")
		use = createStore
	}
	d, err := openChained(ctx, env, &b, use)
	if err != nil {
		return err
	}
	defer d.Close()
	svc := auth.New(d, auth.DefaultConfig())
	by := cliActor()
	switch sub {
	case "add":
		u, err := svc.CreateUser(ctx, by, auth.NewUser{Username: username, FullName: fullName,
			Password: password, Grants: roles, Affiliations: affiliations})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "created user %s (%s)\n", u.Username, u.ID)
	case "grant", "revoke":
		if len(roles) != 1 {
			return exitError{code: 2, msg: "give exactly one --role"}
		}
		if sub == "grant" {
			err = svc.AddGrant(ctx, by, username, roles[0])
		} else {
			err = svc.RevokeGrant(ctx, by, username, roles[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s %s: %s\n", sub, username, roles[0])
	case "affiliate", "unaffiliate":
		if len(affiliations) != 1 {
			return exitError{code: 2, msg: "give exactly one --affiliation"}
		}
		if sub == "affiliate" {
			err = svc.AddAffiliation(ctx, by, username, affiliations[0])
		} else {
			err = svc.RemoveAffiliation(ctx, by, username, affiliations[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s %s: %s\n", sub, username, affiliations[0])
	case "deactivate":
		if err := svc.Deactivate(ctx, by, username); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "deactivated %s\n", username)
	case "activate":
		if err := svc.Activate(ctx, by, username); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "activated %s\n", username)
	case "unlock":
		if err := svc.Unlock(ctx, by, username); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "unlocked %s\n", username)
	}
	// Entries are chained before the command returns (PostgreSQL).
	return d.WaitChained(ctx)
}

// registerAuthFlags adds the session and lockout settings to serve.
func registerAuthFlags(fs *flag.FlagSet, c *auth.Config) {
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "absolute lifetime of a session")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "a session unused this long expires")
	fs.IntVar(&c.LockoutThreshold, "lockout-threshold", c.LockoutThreshold, "consecutive failed logins that lock an account")
	fs.DurationVar(&c.LockoutDuration, "lockout-duration", c.LockoutDuration, "how long a locked account stays locked")
}
