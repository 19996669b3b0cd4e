package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/trialgate/trialgate/api"
	"github.com/trialgate/trialgate/audit/trail"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/catalog"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/lock"
	"github.com/trialgate/trialgate/reads"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/trial"
)

// serveConfig is everything serve reads from flags and environment.
type serveConfig struct {
	addr      string
	backends  backendFlags
	logLevel  string
	maxBody   int64
	maxUpload int64
	auth      auth.Config
	ingest    ingestFlags
	publicURL string
	cors      listFlag
}

func serveCmd(ctx context.Context, env *environment, args []string) error {
	cfg, err := parseServe(env, args)
	if err != nil {
		return err
	}
	log, err := newLogger(env, cfg.logLevel)
	if err != nil {
		return err
	}
	m := &Main{cfg: cfg, log: log}
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	defer m.Close()
	return m.Run(ctx)
}

// parseServe reads serve's flags and environment.
func parseServe(env *environment, args []string) (serveConfig, error) {
	var cfg serveConfig
	fs := env.flags("serve", `usage: gateway serve [--addr 127.0.0.1:8080] [storage flags] [flags]
Runs the gateway: the HTTP API and DICOMweb. A place that holds no store yet
gets a new one (the log says where).`)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen address")
	cfg.backends.register(fs)
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Int64Var(&cfg.maxBody, "max-body", api.DefaultMaxBody, "largest JSON request body, in bytes")
	fs.Int64Var(&cfg.maxUpload, "max-upload", api.DefaultMaxUpload, "largest STOW-RS request body, in bytes")
	fs.StringVar(&cfg.publicURL, "public-url", "", "absolute URL clients reach the gateway by, for DICOMweb RetrieveURL and BulkDataURI (default: each request's scheme and Host)")
	fs.Var(&cfg.cors, "cors-origin", "an origin whose browser scripts may call the API and DICOMweb, e.g. a web viewer's (repeatable or comma-separated; * for any)")
	cfg.ingest.register(fs)
	cfg.auth = auth.DefaultConfig()
	registerAuthFlags(fs, &cfg.auth)
	if err := env.parse(fs, args); err != nil {
		return serveConfig{}, err
	}
	if fs.NArg() > 0 {
		return serveConfig{}, exitError{code: 2, msg: fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0))}
	}
	return cfg, nil
}

// Main is a running gateway: end-to-end tests drive it as serve does.
type Main struct {
	cfg serveConfig
	log *slog.Logger
	// guards vet every change to regulated data inside its transaction
	// (db.Guard), after the data lock, which always does (openDB).
	guards []db.Guard
	db     *db.DB
	store  storage.Store
	locks  *lock.Service
	api    *api.Server
	ln     net.Listener
	srv    *http.Server
}

// Open connects the backends, migrates, and starts listening.
func (m *Main) Open(ctx context.Context) error {
	d, created, err := m.cfg.backends.openDB(ctx, m.log, createStore, m.guards...)
	if err != nil {
		return err
	}
	m.db = d
	if created {
		m.log.Info("created a new TrialGate store", "store", m.cfg.backends.where())
	}
	if m.store, err = m.cfg.backends.openStore(ctx); err != nil {
		return err
	}
	authSvc := auth.New(d, m.cfg.auth)
	trials := trial.NewService(d, authSvc, nil)
	pipeline, err := m.cfg.ingest.open(ctx, d, m.store, &m.cfg.backends, trials, m.log)
	if err != nil {
		return err
	}
	m.locks = lock.New(lock.Config{DB: d, Accounts: authSvc, Trials: trials,
		Retainer: m.cfg.backends.retainer(m.store), Logger: m.log})
	m.api, err = api.New(api.Config{DB: d, Store: m.store, Auth: authSvc, Trials: trials, Ingest: pipeline,
		Catalog: catalog.New(d, m.store, dicom.Limits{}), Reads: reads.NewService(d, trials, authSvc, nil),
		Locks: m.locks,
		Audit: trail.New(d), Logger: m.log,
		MaxBody: m.cfg.maxBody, MaxUpload: m.cfg.maxUpload, PublicURL: m.cfg.publicURL, CORSOrigins: m.cfg.cors})
	if err != nil {
		return err
	}
	if m.ln, err = net.Listen("tcp", m.cfg.addr); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.srv = &http.Server{
		Handler:           m.api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	d.Start(context.WithoutCancel(ctx))
	return nil
}

// Addr is the address the gateway listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully: requests in flight
// get up to 30 seconds to finish.
func (m *Main) Run(ctx context.Context) error {
	m.log.Info("gateway listening", "addr", m.Addr(), "database", m.db.Dialect())
	rctx, stopRetention := context.WithCancel(ctx)
	retention := make(chan struct{})
	go func() { defer close(retention); m.locks.RunRetention(rctx) }()
	defer func() { stopRetention(); <-retention }()
	errc := make(chan error, 1)
	go func() { errc <- m.srv.Serve(m.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	m.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close releases the backends.
func (m *Main) Close() error {
	if m.db != nil {
		return m.db.Close()
	}
	return nil
}

// listFlag is a flag that may be given several times, each value a
// comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
