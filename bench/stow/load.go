package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// maxResponse bounds the response body read from the server.
const maxResponse = 16 << 20

// loadConfig is what one load run needs.
type loadConfig struct {
	endpoints  []string // STOW-RS URL per client (all equal when shared)
	token      string   // bearer token; "" for none
	parts      []part
	perRequest int
	timeout    time.Duration // per request; 0 for none
}

// requestResult is one request's outcome and timing.
type requestResult struct {
	latency time.Duration
	sent    int
	bytes   int64
	outcome outcome
}

// loadResult is the whole run.
type loadResult struct {
	wall     time.Duration
	requests []requestResult
}

// newBoundary returns a random multipart boundary.
func newBoundary() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("boundary: %w", err)
	}
	return "tgbench-" + hex.EncodeToString(b[:]), nil
}

// runLoad sends parts in requests of perRequest instances from one client
// goroutine per endpoint; a client takes the next request's parts from a
// shared queue, so the clients stay busy until the corpus is sent.
func runLoad(ctx context.Context, hc *http.Client, cfg loadConfig) (loadResult, error) {
	if cfg.perRequest < 1 {
		return loadResult{}, fmt.Errorf("per-request %d: want at least 1", cfg.perRequest)
	}
	batches := make(chan []part, len(cfg.parts)/cfg.perRequest+1)
	for p := range slices.Chunk(cfg.parts, cfg.perRequest) {
		batches <- p
	}
	close(batches)

	var (
		mu      sync.Mutex
		results []requestResult
		firstEr error
		wg      sync.WaitGroup
	)
	start := time.Now()
	for _, endpoint := range cfg.endpoints {
		wg.Go(func() {
			for batch := range batches {
				r, err := sendRequest(ctx, hc, endpoint, cfg.token, batch, cfg.timeout)
				mu.Lock()
				if err != nil && firstEr == nil {
					firstEr = err
				}
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res := loadResult{wall: time.Since(start), requests: results}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, firstEr
}

// sendRequest posts one STOW-RS request of parts and reads its outcome. A
// transport error counts the parts as failed and is returned only when the
// run itself was cancelled.
func sendRequest(ctx context.Context, hc *http.Client, endpoint, token string, parts []part, timeout time.Duration) (requestResult, error) {
	r := requestResult{sent: len(parts)}
	for _, p := range parts {
		r.bytes += p.size
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	boundary, err := newBoundary()
	if err != nil {
		return r, err
	}
	body, size, err := newBody(boundary, parts)
	if err != nil {
		return r, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, body)
	if err != nil {
		body.Close()
		return r, fmt.Errorf("request: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", contentType(boundary))
	req.Header.Set("Accept", "application/dicom+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		r.latency = time.Since(start)
		r.outcome = outcome{failed: len(parts), reasons: []string{fmt.Sprintf("request to %s: %v", endpoint, err)}}
		return r, ctxErr(ctx)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	r.latency = time.Since(start)
	if err != nil {
		r.outcome = outcome{failed: len(parts), reasons: []string{fmt.Sprintf("HTTP %d, reading the response: %v", resp.StatusCode, err)}}
		return r, ctxErr(ctx)
	}
	r.outcome = parseResponse(resp.StatusCode, data, len(parts))
	return r, nil
}

// ctxErr is ctx's error only if the caller's context (not a per-request
// timeout) ended it; a timed-out request is a failure, not a reason to stop.
func ctxErr(ctx context.Context) error {
	if ctx.Err() == context.Canceled {
		return ctx.Err()
	}
	return nil
}

// gatewayClient talks to TrialGate's JSON API.
type gatewayClient struct {
	hc    *http.Client
	base  string
	token string
}

// postJSON posts in to path and decodes the response into out, failing on
// a status other than want (any 2xx when want is 0).
func (g *gatewayClient) postJSON(ctx context.Context, path string, in, out any, want int) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if g.token != "" {
		req.Header.Set("Authorization", "Bearer "+g.token)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("POST %s: reading the response: %w", path, err)
	}
	if ok := resp.StatusCode == want || want == 0 && resp.StatusCode/100 == 2; !ok {
		return fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, snippet(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("POST %s: response: %w", path, err)
		}
	}
	return nil
}

// login signs in and keeps the session token.
func (g *gatewayClient) login(ctx context.Context, username, password string) error {
	var out struct {
		Token string `json:"token"`
	}
	in := map[string]string{"username": username, "password": password}
	if err := g.postJSON(ctx, "/api/v1/auth/login", in, &out, http.StatusOK); err != nil {
		return fmt.Errorf("login as %s: %w", username, err)
	}
	if out.Token == "" {
		return fmt.Errorf("login as %s: no token in the response", username)
	}
	g.token = out.Token
	return nil
}

// createSubmission opens a submission and returns its id.
func (g *gatewayClient) createSubmission(ctx context.Context, tc trialContext) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	in := map[string]string{"site": tc.site, "subject": tc.subject, "visit": tc.visit}
	path := "/api/v1/trials/" + url.PathEscape(tc.trial) + "/submissions"
	if err := g.postJSON(ctx, path, in, &out, http.StatusCreated); err != nil {
		return "", fmt.Errorf("create submission for subject %s: %w", tc.subject, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("create submission for subject %s: no id in the response", tc.subject)
	}
	return out.ID, nil
}

// complete closes a submission (running series and visit QC).
func (g *gatewayClient) complete(ctx context.Context, id string) error {
	path := "/api/v1/submissions/" + url.PathEscape(id) + "/complete"
	if err := g.postJSON(ctx, path, struct{}{}, nil, 0); err != nil {
		return fmt.Errorf("complete submission %s: %w", id, err)
	}
	return nil
}
