package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/trialgate/trialgate/db"
)

type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	parts    *prometheus.CounterVec
}

func newMetrics(stats func() db.Stats) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trialgate_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trialgate_http_request_duration_seconds", Help: "HTTP request duration by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		parts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trialgate_stow_instances_total",
			Help: "STOW-RS parts by outcome: stored, held (stored, held for review), duplicate, failed (by failure reason).",
		}, []string{"outcome", "reason"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.parts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		auditCollector{stats})
	return m
}

// auditCollector exports the audit trail's counters at scrape time.
type auditCollector struct{ stats func() db.Stats }

var (
	appendedDesc = prometheus.NewDesc("trialgate_audit_entries_appended_total", "Audit entries committed.", nil, nil)
	chainedDesc  = prometheus.NewDesc("trialgate_audit_entries_chained_total", "Audit entries chained by this process.", nil, nil)
	batchesDesc  = prometheus.NewDesc("trialgate_audit_sequencer_batches_total", "Sequencer batches committed by this process.", nil, nil)
	leaderDesc   = prometheus.NewDesc("trialgate_audit_sequencer_leader", "1 if this process leads the audit sequencer.", nil, nil)
	lagDesc      = prometheus.NewDesc("trialgate_audit_chain_lag_seconds", "Event-to-chained time of the oldest entry in the newest batch.", nil, nil)
)

func (auditCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- appendedDesc
	ch <- chainedDesc
	ch <- batchesDesc
	ch <- leaderDesc
	ch <- lagDesc
}

func (a auditCollector) Collect(ch chan<- prometheus.Metric) {
	s := a.stats()
	leader := 0.0
	if s.Leader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(appendedDesc, prometheus.CounterValue, float64(s.Appended))
	ch <- prometheus.MustNewConstMetric(chainedDesc, prometheus.CounterValue, float64(s.Chained))
	ch <- prometheus.MustNewConstMetric(batchesDesc, prometheus.CounterValue, float64(s.Batches))
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, s.LastLag.Seconds())
}
