// Package api is TrialGate's HTTP interface: the JSON API, health, metrics
// and DICOMweb, on gin. Handlers decode the request, call the domain
// service that owns the action (which authorizes it and records every
// refusal), and return errors; fail maps them to statuses in one table
// (errors.go). Requests without valid credentials are refused (401) and
// recorded here, before any handler runs.
package api

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit/trail"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/catalog"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/ingest"
	"github.com/trialgate/trialgate/lock"
	"github.com/trialgate/trialgate/reads"
	"github.com/trialgate/trialgate/trial"
)

// DefaultMaxBody is the largest JSON request body accepted by default.
const DefaultMaxBody = 1 << 20

// DefaultMaxUpload is the largest STOW-RS request accepted by default.
const DefaultMaxUpload = 64 << 30

// Pinger reports whether a dependency is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config holds the server's dependencies.
type Config struct {
	DB      *db.DB
	Store   Pinger // the object store
	Auth    *auth.Service
	Trials  *trial.Service
	Ingest  *ingest.Service
	Catalog *catalog.Catalog
	Reads   *reads.Service
	Locks   *lock.Service
	Audit   *trail.Service
	Logger  *slog.Logger
	// MaxBody bounds JSON request bodies; 0 means DefaultMaxBody.
	MaxBody int64
	// MaxUpload bounds STOW-RS request bodies; 0 means DefaultMaxUpload.
	MaxUpload int64
	// TrustedProxies may set X-Forwarded-For; none by default, so the
	// recorded client address is the TCP peer.
	TrustedProxies []string
	// PublicURL is the absolute URL clients reach the server by
	// ("https://gateway.example.org"), for the RetrieveURL and BulkDataURI
	// values of DICOMweb answers; empty means the scheme and Host of each
	// request, right unless a proxy rewrites them.
	PublicURL string
	// CORSOrigins are the origins whose browser scripts may call the API
	// and DICOMweb (a web viewer such as OHIF on another origin); "*" is
	// any origin. None by default.
	CORSOrigins []string
}

// Server serves the HTTP API.
type Server struct {
	db        *db.DB
	store     Pinger
	auth      *auth.Service
	trials    *trial.Service
	ingest    *ingest.Service
	catalog   *catalog.Catalog
	qcView    catalog.Policy
	reads     *reads.Service
	locks     *lock.Service
	audit     *trail.Service
	log       *slog.Logger
	maxBody   int64
	maxUpload int64
	metrics   *metrics
	publicURL string
	cors      []string
	engine    *gin.Engine
}

//go:embed openapi.json
var openapi []byte

// New returns the server's handler.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil || cfg.Store == nil || cfg.Auth == nil || cfg.Trials == nil || cfg.Ingest == nil ||
		cfg.Catalog == nil || cfg.Reads == nil || cfg.Locks == nil || cfg.Audit == nil {
		return nil, errors.New("api: DB, Store, Auth, Trials, Ingest, Catalog, Reads, Locks and Audit are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	// gin keeps its mode in a package variable; release mode only silences
	// its debug output.
	gin.SetMode(gin.ReleaseMode)
	s := &Server{db: cfg.DB, store: cfg.Store, auth: cfg.Auth, trials: cfg.Trials, ingest: cfg.Ingest,
		catalog: cfg.Catalog, qcView: catalog.QCView(cfg.DB), reads: cfg.Reads, locks: cfg.Locks, audit: cfg.Audit, log: cfg.Logger,
		maxBody: cfg.MaxBody, maxUpload: cfg.MaxUpload,
		metrics: newMetrics(cfg.DB.Stats), publicURL: strings.TrimRight(cfg.PublicURL, "/"), cors: cfg.CORSOrigins}
	if s.publicURL != "" {
		if u, err := url.Parse(s.publicURL); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" {
			return nil, fmt.Errorf("api: public URL %q is not an absolute http or https URL", cfg.PublicURL)
		}
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api: trusted proxies: %w", err)
	}
	e.Use(withRequestID, s.logRequests, s.recoverPanics, s.allowOrigins)
	e.NoRoute(func(c *gin.Context) { s.fail(c, trialgate.Errorf(trialgate.ENotFound, "no such endpoint")) })
	e.NoMethod(func(c *gin.Context) {
		s.fail(c, trialgate.Errorf(trialgate.EMethod, "method %s is not allowed here", c.Request.Method))
	})

	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.h(s.ready))
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})))

	v1 := e.Group("/api/v1", s.limitBodies)
	v1.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", openapi) })
	v1.POST("/auth/login", s.h(s.login))

	authed := v1.Group("", s.authenticate)
	authed.POST("/auth/logout", s.h(s.logout))
	authed.GET("/me", s.h(s.me))
	authed.GET("/audit", s.h(s.auditQuery))
	authed.GET("/audit/verify", s.h(s.auditVerify))
	authed.POST("/users", s.h(s.createUser))
	authed.GET("/users", s.h(s.listUsers))
	authed.GET("/users/:username", s.h(s.getUser))
	authed.PATCH("/users/:username", s.h(s.patchUser))
	authed.POST("/trials", s.h(s.createTrial))
	authed.GET("/trials/:trial", s.h(s.getTrial))
	authed.PUT("/trials/:trial", s.h(s.changeTrial))
	authed.GET("/trials/:trial/versions/:n", s.h(s.getVersion))
	authed.POST("/trials/:trial/versions/:n/approve", s.h(s.approveVersion))
	authed.POST("/trials/:trial/submissions", s.h(s.createSubmission))
	authed.GET("/submissions/:id", s.h(s.getSubmission))
	authed.POST("/submissions/:id/complete", s.h(s.completeSubmission))
	authed.POST("/submissions/:id/qc-decision", s.h(s.decideSubmission))
	authed.POST("/submissions/:id/instances/:sop/review", s.h(s.reviewInstance))
	authed.POST("/trials/:trial/read-assignments", s.h(s.assignReads))
	authed.GET("/trials/:trial/read-tasks", s.h(s.trialReadTasks))
	authed.GET("/trials/:trial/reads", s.h(s.exportReads))
	authed.GET("/trials/:trial/reads/outcomes", s.h(s.readOutcomes))
	authed.GET("/trials/:trial/reads/agreement", s.h(s.readAgreement))
	authed.POST("/trials/:trial/reads/release", s.h(s.releaseReads))
	authed.POST("/trials/:trial/locks", s.h(s.applyLock))
	authed.GET("/trials/:trial/locks", s.h(s.trialLocks))
	authed.POST("/locks/:id/release", s.h(s.releaseLock))
	authed.GET("/locks/:id/manifest", s.h(s.lockManifest))
	authed.GET("/locks/:id/verify", s.h(s.verifyLock))
	authed.GET("/read-tasks", s.h(s.readTasks))
	authed.GET("/read-tasks/:id", s.h(s.readTask))
	authed.PUT("/read-tasks/:id/result", s.h(s.saveResult))
	authed.POST("/read-tasks/:id/sign", s.h(s.signTask))
	authed.POST("/read-tasks/:id/reassign", s.h(s.reassignTask))

	web := e.Group("/dicomweb", s.authenticate)
	web.POST("/submissions/:id/studies", s.h(s.stowSubmission))
	qc := web.Group("/trials/:trial", useView(&dicomView{policy: s.qcView, prefix: "/dicomweb/trials/", ref: trialID}))
	qc.POST("/studies", s.h(s.stowTrial))
	s.viewRoutes(qc)
	// The blinded reader view of a read task: its ref is the task id.
	readerView := &dicomView{policy: s.reads.ReaderView(), prefix: "/dicomweb/reads/", ref: taskID}
	s.viewRoutes(web.Group("/reads/:task", useView(readerView)))

	s.engine = e
	return s, nil
}

// viewRoutes registers the QIDO-RS and WADO-RS resources of a DICOMweb
// view on its group.
func (s *Server) viewRoutes(g *gin.RouterGroup) {
	g.GET("/studies", s.h(s.qido(catalog.StudyLevel)))
	g.GET("/series", s.h(s.qido(catalog.SeriesLevel)))
	g.GET("/instances", s.h(s.qido(catalog.InstanceLevel)))
	study := "/studies/:study"
	g.GET(study, s.h(s.retrieve))
	g.GET(study+"/metadata", s.h(s.metadata))
	g.GET(study+"/thumbnail", s.h(s.rendered(true)))
	g.GET(study+"/series", s.h(s.qido(catalog.SeriesLevel)))
	g.GET(study+"/instances", s.h(s.qido(catalog.InstanceLevel)))
	series := study + "/series/:series"
	g.GET(series, s.h(s.retrieve))
	g.GET(series+"/metadata", s.h(s.metadata))
	g.GET(series+"/thumbnail", s.h(s.rendered(true)))
	g.GET(series+"/instances", s.h(s.qido(catalog.InstanceLevel)))
	instance := series + "/instances/:instance"
	g.GET(instance, s.h(s.retrieve))
	g.GET(instance+"/metadata", s.h(s.metadata))
	g.GET(instance+"/rendered", s.h(s.rendered(false)))
	g.GET(instance+"/thumbnail", s.h(s.rendered(true)))
	g.GET(instance+"/frames/:frames", s.h(s.frames))
	g.GET(instance+"/frames/:frames/rendered", s.h(s.rendered(false)))
	g.GET(instance+"/frames/:frames/thumbnail", s.h(s.rendered(true)))
	g.GET(instance+"/bulkdata/*path", s.h(s.bulkdata))
}

// Route is one served endpoint: its method and its path template, with
// parameters as :name (e.g. /api/v1/submissions/:id/complete).
type Route struct {
	Method, Path string
}

// Routes lists the endpoints the server serves, for the tests that hold
// every one of them to a rule (documentation, authorization, guards).
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.engine.Routes() {
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// h adapts a handler that returns an error.
func (s *Server) h(fn func(*gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := fn(c); err != nil {
			s.fail(c, err)
		}
	}
}

// ready reports whether the database and the object store are reachable.
func (s *Server) ready(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return trialgate.Wrap(err, trialgate.EUnavailable, "the database is unavailable")
	}
	if err := s.store.Ping(ctx); err != nil {
		return trialgate.Wrap(err, trialgate.EUnavailable, "the object store is unavailable")
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "database": s.db.Dialect()})
	return nil
}
