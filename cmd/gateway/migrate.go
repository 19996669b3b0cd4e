package main

import (
	"context"
	"flag"
	"fmt"
)

func migrateCmd(ctx context.Context, env *environment, args []string) error {
	var b backendFlags
	var logLevel string
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	b.register(fs)
	fs.StringVar(&logLevel, "log-level", "info", "log level")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(env, logLevel)
	if err != nil {
		return err
	}
	d, err := b.openDB(ctx, log)
	if err != nil {
		return err
	}
	defer d.Close()
	// Entries written by the migrations are chained before we return, so a
	// migrate followed by verify sees them.
	d.Start(ctx)
	if err := d.WaitChained(ctx); err != nil {
		return err
	}
	applied, known, err := d.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "schema at version %d of %d (%s)\n", applied, known, d.Dialect())
	return nil
}
