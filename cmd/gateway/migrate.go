package main

import (
	"context"
	"fmt"
)

func migrateCmd(ctx context.Context, env *environment, args []string) error {
	var b backendFlags
	var logLevel string
	fs := env.flags("migrate", `usage: gateway migrate [storage flags]
Creates the store where the storage flags point if there is none (and says
so), or applies the migrations its database lacks.`)
	b.register(fs)
	fs.StringVar(&logLevel, "log-level", "info", "log level")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return exitError{code: 2, msg: fmt.Sprintf("migrate: unexpected argument %q", fs.Arg(0))}
	}
	log, err := newLogger(env, logLevel)
	if err != nil {
		return err
	}
	d, created, err := b.openDB(ctx, log, createStore)
	if err != nil {
		return err
	}
	defer d.Close()
	if created {
		env.created(&b)
	}
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
