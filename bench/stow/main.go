// Command stow is a STOW-RS load tool: it uploads a corpus of DICOM files
// (or one synthetic multi-frame instance of any size) to TrialGate or to
// Orthanc from concurrent clients, streaming every file from disk into the
// request bodies, and reports instances stored (as the responses say),
// throughput, request latency and the server's peak memory.
//
//	go run ./bench/stow -target orthanc -url http://127.0.0.1:8042 -dir CORPUS -clients 4 -pid PID
//	go run ./bench/stow -target gateway -url http://127.0.0.1:8080 -username U -password-file F \
//	    -trial T -site S1 -subject BENCH -visit BL -dir CORPUS -clients 4 -pid PID
//	go run ./bench/stow -target gateway ... -big 1GiB -pid PID
//	go run ./bench/stow -make-corpus 200 -from testdata/real -out CORPUS
//	go run ./bench/stow -table orthanc.json sqlite.json postgres.json
//
// See bench/README.md, section "Ingest (STOW-RS)".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command line's flags.
type options struct {
	writeBig     string
	baseURL      string
	target       string
	label        string
	dir          string
	clients      int
	perRequest   int
	token        string
	username     string
	password     string
	passwordFile string
	tc           trialContext
	submission   string
	complete     bool
	pid          int
	jsonOut      bool
	jsonFile     string
	big          string
	timeout      time.Duration
	makeCorpus   int
	from         string
	corpusOut    string
	table        bool
}

func main() {
	var o options
	fs := flag.NewFlagSet("stow", flag.ExitOnError)
	fs.StringVar(&o.baseURL, "url", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&o.target, "target", "gateway", "gateway (POST {url}/dicomweb/submissions/{id}/studies) or orthanc (POST {url}/dicom-web/studies)")
	fs.StringVar(&o.label, "label", "", "name of this run in the report and in -table (default: the target)")
	fs.StringVar(&o.dir, "dir", "", "corpus folder, walked; files without a DICOM preamble are skipped")
	fs.IntVar(&o.clients, "clients", 4, "concurrent clients")
	fs.IntVar(&o.perRequest, "per-request", 1, "instances per multipart request")
	fs.StringVar(&o.token, "token", "", "gateway: bearer token (else -username and a password log in)")
	fs.StringVar(&o.username, "username", "", "gateway: site_uploader to log in as")
	fs.StringVar(&o.password, "password", "", "gateway: password (visible in ps; prefer -password-file or STOW_PASSWORD)")
	fs.StringVar(&o.passwordFile, "password-file", "", "gateway: file whose first line is the password")
	fs.StringVar(&o.tc.trial, "trial", "", "gateway: trial to create submissions in")
	fs.StringVar(&o.tc.site, "site", "", "gateway: site of the submissions")
	fs.StringVar(&o.tc.subject, "subject", "BENCH", "gateway: subject; with more than one client each client gets its own submission for subject SUBJECT-NN")
	fs.StringVar(&o.tc.visit, "visit", "", "gateway: visit of the submissions")
	fs.StringVar(&o.submission, "submission", "", "gateway: use this existing submission for every client instead of creating them")
	fs.BoolVar(&o.complete, "complete", true, "gateway: complete the created submissions after the run (timed separately)")
	fs.IntVar(&o.pid, "pid", 0, "server process to sample (/proc/PID/status VmHWM and VmRSS every 100 ms)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the summary as one JSON object instead of text")
	fs.StringVar(&o.jsonFile, "json-file", "", "also write the JSON summary to this file")
	fs.StringVar(&o.big, "big", "", "upload one synthetic multi-frame Enhanced CT instance with this much pixel data (e.g. 1GiB) instead of -dir")
	fs.StringVar(&o.writeBig, "write-big", "", "with -big: write the synthetic instance to this file instead of uploading it (bench/deid), then exit")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "per-request timeout (0: none)")
	fs.IntVar(&o.makeCorpus, "make-corpus", 0, "write this many distinct instances derived from -from into -out, then exit")
	fs.StringVar(&o.from, "from", "", "-make-corpus: folder of source DICOM files")
	fs.StringVar(&o.corpusOut, "out", "", "-make-corpus: folder to write the corpus into")
	fs.BoolVar(&o.table, "table", false, "print a side-by-side table of the JSON summaries named as arguments (the first is the reference for ratios), then exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: stow [flags]\n\nA STOW-RS load tool for TrialGate and Orthanc; see bench/README.md.\n\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:]) // ExitOnError

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case o.table:
		err = printTable(os.Stdout, fs.Args())
	case o.writeBig != "":
		err = writeBig(o)
	case o.makeCorpus > 0:
		if o.from == "" || o.corpusOut == "" {
			err = errors.New("-make-corpus needs -from DIR and -out DIR")
		} else {
			err = makeCorpus(ctx, o.makeCorpus, o.from, o.corpusOut, os.Stderr)
		}
	default:
		if fs.NArg() > 0 {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		} else {
			err = run(ctx, o, os.Stdout, os.Stderr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stow:", err)
		os.Exit(1)
	}
}

// writeBig writes the synthetic -big instance to the -write-big file.
func writeBig(o options) error {
	size, err := parseSize(o.big)
	if err != nil {
		return fmt.Errorf("-big: %w", err)
	}
	tc := o.tc
	if tc.site == "" {
		tc = trialContext{trial: "BENCH", site: "S1", subject: "BIG-001", visit: "BL"}
	}
	b, err := newBigInstance(size, tc)
	if err != nil {
		return err
	}
	f, err := os.Create(o.writeBig)
	if err != nil {
		return err
	}
	rc, _ := b.part().open()
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", o.writeBig, err)
	}
	return f.Close()
}

// run uploads the corpus (or the synthetic instance) and reports.
func run(ctx context.Context, o options, stdout, log io.Writer) error {
	if o.clients < 1 {
		return fmt.Errorf("-clients %d: want at least 1", o.clients)
	}
	if o.big != "" {
		o.clients = 1 // one instance, one request
	}
	if o.label == "" {
		o.label = o.target
	}
	base := strings.TrimRight(o.baseURL, "/")
	hc := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: o.clients,
		DisableCompression:  true,
	}}

	var (
		endpoints   []string
		token       string
		gw          *gatewayClient
		submissions []string
		tc          = o.tc
	)
	switch o.target {
	case "orthanc":
		for range o.clients {
			endpoints = append(endpoints, base+"/dicom-web/studies")
		}
	case "gateway":
		gw = &gatewayClient{hc: hc, base: base, token: o.token}
		if gw.token == "" {
			password, err := readPassword(o)
			if err != nil {
				return err
			}
			if err := gw.login(ctx, o.username, password); err != nil {
				return err
			}
		}
		token = gw.token
		if o.submission != "" {
			for range o.clients {
				endpoints = append(endpoints, base+"/dicomweb/submissions/"+o.submission+"/studies")
			}
			break
		}
		if tc.trial == "" || tc.site == "" || tc.subject == "" || tc.visit == "" {
			return errors.New("gateway: give -submission, or -trial, -site, -subject and -visit to create submissions")
		}
		for i := range o.clients {
			c := tc
			if o.clients > 1 {
				c.subject = fmt.Sprintf("%s-%02d", tc.subject, i+1)
			}
			if i == 0 {
				tc.subject = c.subject // the synthetic instance's subject
			}
			id, err := gw.createSubmission(ctx, c)
			if err != nil {
				return err
			}
			submissions = append(submissions, id)
			endpoints = append(endpoints, base+"/dicomweb/submissions/"+id+"/studies")
		}
	default:
		return fmt.Errorf("-target %q: want gateway or orthanc", o.target)
	}

	var parts []part
	switch {
	case o.big != "":
		size, err := parseSize(o.big)
		if err != nil {
			return err
		}
		if tc.trial == "" {
			tc.trial = "BENCH"
		}
		bi, err := newBigInstance(size, tc)
		if err != nil {
			return err
		}
		parts = []part{bi.part()}
		fmt.Fprintf(log, "stow: synthetic Enhanced CT instance %s: %d frames of %dx%d 16-bit, %d bytes\n",
			bi.uid, bi.frames, bigColumns, bigRows, bi.size())
	case o.dir != "":
		files, err := dicomFiles(o.dir)
		if err != nil {
			return err
		}
		for _, f := range files {
			p, err := filePart(f)
			if err != nil {
				return err
			}
			parts = append(parts, p)
		}
	default:
		return errors.New("give -dir CORPUS or -big SIZE")
	}

	var sampler *memSampler
	if o.pid > 0 {
		s, err := startSampler(o.pid, 100*time.Millisecond)
		if err != nil {
			return fmt.Errorf("-pid: %w", err)
		}
		sampler = s
	}
	res, runErr := runLoad(ctx, hc, loadConfig{endpoints: endpoints, token: token, parts: parts,
		perRequest: o.perRequest, timeout: o.timeout})
	var mem *memReport
	if sampler != nil {
		m := sampler.stop()
		mem = &m
	}
	if runErr != nil {
		return runErr
	}
	rep := summarize(o, res, mem)
	if o.big != "" {
		rep.Big = o.big
	}
	if gw != nil && o.complete && len(submissions) > 0 {
		start := time.Now()
		for _, id := range submissions {
			if err := gw.complete(ctx, id); err != nil {
				rep.CompleteError = err.Error()
				break
			}
		}
		rep.CompleteSeconds = time.Since(start).Seconds()
	}
	rep.Submissions = submissions
	if o.jsonFile != "" {
		if err := writeJSON(o.jsonFile, rep); err != nil {
			return err
		}
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(stdout)
	return nil
}

// readPassword returns the gateway password from -password, -password-file
// or STOW_PASSWORD.
func readPassword(o options) (string, error) {
	if o.username == "" {
		return "", errors.New("gateway: give -token, or -username and a password")
	}
	switch {
	case o.password != "":
		return o.password, nil
	case o.passwordFile != "":
		b, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	case os.Getenv("STOW_PASSWORD") != "":
		return os.Getenv("STOW_PASSWORD"), nil
	}
	return "", errors.New("gateway: give -password, -password-file or STOW_PASSWORD")
}

// report is a run's summary; its JSON form is what -json prints and
// -table reads.
type report struct {
	Label           string     `json:"label"`
	Target          string     `json:"target"`
	URL             string     `json:"url"`
	Big             string     `json:"big,omitempty"`
	Clients         int        `json:"clients"`
	PerRequest      int        `json:"per_request"`
	Requests        int        `json:"requests"`
	Sent            int        `json:"instances_sent"`
	Stored          int        `json:"instances_stored"`
	Failed          int        `json:"instances_failed"`
	Bytes           int64      `json:"bytes_sent"`
	StoredBytes     int64      `json:"bytes_stored"`
	WallSeconds     float64    `json:"wall_seconds"`
	InstancesPerSec float64    `json:"instances_per_second"` // stored instances per wall second
	MBPerSec        float64    `json:"mb_per_second"`        // bytes of stored instances, 10^6 per wall second
	P50ms           float64    `json:"p50_ms"`
	P99ms           float64    `json:"p99_ms"`
	MaxMs           float64    `json:"max_ms"`
	Reasons         []string   `json:"failure_reasons,omitempty"` // the first few
	Memory          *memReport `json:"server_memory,omitempty"`
	Submissions     []string   `json:"submissions,omitempty"`
	CompleteSeconds float64    `json:"complete_seconds,omitempty"`
	CompleteError   string     `json:"complete_error,omitempty"`
}

// maxReasons is how many failure reasons a report keeps.
const maxReasons = 5

// summarize computes the report of a run.
func summarize(o options, res loadResult, mem *memReport) report {
	r := report{Label: o.label, Target: o.target, URL: o.baseURL, Clients: o.clients, PerRequest: o.perRequest,
		Requests: len(res.requests), WallSeconds: res.wall.Seconds(), Memory: mem}
	lat := make([]time.Duration, 0, len(res.requests))
	for _, q := range res.requests {
		lat = append(lat, q.latency)
		r.Sent += q.sent
		r.Bytes += q.bytes
		r.Stored += q.outcome.stored
		r.Failed += q.outcome.failed
		if q.outcome.failed == 0 {
			r.StoredBytes += q.bytes
		} else if q.sent > 0 {
			// Which parts of a partly failed request were stored is not
			// known by size; count the average.
			r.StoredBytes += q.bytes * int64(q.outcome.stored) / int64(q.sent)
		}
		for _, reason := range q.outcome.reasons {
			if len(r.Reasons) < maxReasons {
				r.Reasons = append(r.Reasons, reason)
			}
		}
	}
	if s := res.wall.Seconds(); s > 0 {
		r.InstancesPerSec = float64(r.Stored) / s
		r.MBPerSec = float64(r.StoredBytes) / 1e6 / s
	}
	slices.Sort(lat)
	r.P50ms = ms(percentile(lat, 50))
	r.P99ms = ms(percentile(lat, 99))
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
	}
	return r
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// print writes the report as text.
func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "%s (%s %s): %d clients, %d instance(s) per request, %d requests\n",
		r.Label, r.Target, r.URL, r.Clients, r.PerRequest, r.Requests)
	fmt.Fprintf(w, "  instances: %d sent, %d stored, %d failed; %.1f MB sent\n", r.Sent, r.Stored, r.Failed, float64(r.Bytes)/1e6)
	fmt.Fprintf(w, "  wall %.2f s: %.1f instances/s, %.1f MB/s stored\n", r.WallSeconds, r.InstancesPerSec, r.MBPerSec)
	fmt.Fprintf(w, "  request latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.P50ms, r.P99ms, r.MaxMs)
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "  server pid %d: peak RSS (VmHWM) %.1f MiB (%.1f MiB before the run); largest VmRSS sampled %.1f MiB (%d samples)\n",
			m.PID, mib(m.PeakHWM), mib(m.StartHWM), mib(m.PeakRSS), m.Samples)
		fmt.Fprintf(w, "  server CPU (user + system) %.2f s, %.1f ms per stored instance\n", m.CPUSeconds, cpuPerInstance(r))
		if m.SampleErrors != "" {
			fmt.Fprintf(w, "  sampling error: %s\n", m.SampleErrors)
		}
	}
	if r.CompleteSeconds > 0 {
		fmt.Fprintf(w, "  completing %d submission(s) after the run: %.2f s\n", len(r.Submissions), r.CompleteSeconds)
	}
	if r.CompleteError != "" {
		fmt.Fprintf(w, "  completing the submissions failed: %s\n", r.CompleteError)
	}
	for _, reason := range r.Reasons {
		fmt.Fprintf(w, "  failure: %s\n", reason)
	}
}

// cpuPerInstance is the server's CPU milliseconds per stored instance, 0
// if unknown.
func cpuPerInstance(r report) float64 {
	if r.Memory == nil || r.Stored == 0 {
		return 0
	}
	return r.Memory.CPUSeconds * 1000 / float64(r.Stored)
}

// writeJSON writes rep to path.
func writeJSON(path string, rep report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// tableRow is one label's runs in -table: sums of the counts and medians
// of the figures.
type tableRow struct {
	label                          string
	runs, stored, sent, failed     int
	wall, ips, mbps, p50, p99, hwm float64 // medians; hwm in bytes, 0 if not sampled
	cpu                            float64 // median server CPU ms per stored instance, 0 if not sampled
}

// printTable prints the reports in files side by side as a Markdown table,
// one row per label (the median of its runs when there are several, e.g.
// one per round), with the ratios of each row's medians to the first
// row's (the reference, Orthanc).
func printTable(w io.Writer, files []string) error {
	if len(files) == 0 {
		return errors.New("-table: name the JSON summaries to compare")
	}
	var order []string
	byLabel := map[string][]report{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("-table: %w", err)
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("-table: %s: %w", f, err)
		}
		if _, ok := byLabel[r.Label]; !ok {
			order = append(order, r.Label)
		}
		byLabel[r.Label] = append(byLabel[r.Label], r)
	}
	rows := make([]tableRow, 0, len(order))
	for _, label := range order {
		rows = append(rows, newTableRow(label, byLabel[label]))
	}
	ref := rows[0]
	fmt.Fprintf(w, "| target | runs | stored / sent | failed | wall s | instances/s | MB/s | p50 ms | p99 ms | server peak RSS (VmHWM) MiB | server CPU ms/instance | instances/s ÷ %[1]s | p99 ÷ %[1]s | RSS ÷ %[1]s | CPU ÷ %[1]s |\n", ref.label)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		rss, rssRatio, cpu, cpuRatio := "n/a", "n/a", "n/a", "n/a"
		if r.hwm > 0 {
			rss = fmt.Sprintf("%.1f", r.hwm/(1<<20))
			rssRatio = ratio(r.hwm, ref.hwm)
		}
		if r.cpu > 0 {
			cpu = fmt.Sprintf("%.1f", r.cpu)
			cpuRatio = ratio(r.cpu, ref.cpu)
		}
		fmt.Fprintf(w, "| %s | %d | %d / %d | %d | %.2f | %.1f | %.1f | %.1f | %.1f | %s | %s | %s | %s | %s | %s |\n",
			r.label, r.runs, r.stored, r.sent, r.failed, r.wall, r.ips, r.mbps, r.p50, r.p99, rss, cpu,
			ratio(r.ips, ref.ips), ratio(r.p99, ref.p99), rssRatio, cpuRatio)
	}
	return nil
}

// newTableRow summarises the runs of one label.
func newTableRow(label string, runs []report) tableRow {
	row := tableRow{label: label, runs: len(runs)}
	var wall, ips, mbps, p50, p99, hwm, cpu []float64
	for _, r := range runs {
		row.stored += r.Stored
		row.sent += r.Sent
		row.failed += r.Failed
		wall = append(wall, r.WallSeconds)
		ips = append(ips, r.InstancesPerSec)
		mbps = append(mbps, r.MBPerSec)
		p50 = append(p50, r.P50ms)
		p99 = append(p99, r.P99ms)
		if r.Memory != nil {
			hwm = append(hwm, float64(r.Memory.PeakHWM))
			cpu = append(cpu, cpuPerInstance(r))
		}
	}
	row.wall, row.ips, row.mbps = median(wall), median(ips), median(mbps)
	row.p50, row.p99, row.hwm, row.cpu = median(p50), median(p99), median(hwm), median(cpu)
	return row
}

// median returns the median of v (the mean of the middle two for an even
// count), 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio formats a/b, or n/a when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}
