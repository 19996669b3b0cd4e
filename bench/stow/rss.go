package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memStatus is the memory part of /proc/PID/status, in bytes.
type memStatus struct {
	HWM int64 // VmHWM: the kernel's own peak resident set size
	RSS int64 // VmRSS: the resident set size now
}

// parseStatus reads VmHWM and VmRSS from the text of /proc/PID/status
// (lines like "VmHWM:\t  123456 kB").
func parseStatus(r io.Reader) (memStatus, error) {
	var m memStatus
	var haveHWM, haveRSS bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("%s: unexpected value %q", key, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmHWM" {
			m.HWM, haveHWM = kb<<10, true
		} else {
			m.RSS, haveRSS = kb<<10, true
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if !haveHWM || !haveRSS {
		return m, fmt.Errorf("no VmHWM/VmRSS lines (a kernel thread or a zombie?)")
	}
	return m, nil
}

// readStatus reads /proc/pid/status.
func readStatus(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	m, err := parseStatus(f)
	if err != nil {
		return m, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return m, nil
}

// memSampler samples a process's memory every interval until stopped.
type memSampler struct {
	pid    int
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	start   memStatus // at the first sample
	last    memStatus // at the latest successful sample
	peakRSS int64     // largest VmRSS sampled
	samples int
	err     error // the first failed read
}

// startSampler takes a first sample of pid (failing if it cannot be read)
// and goes on sampling every interval.
func startSampler(pid int, interval time.Duration) (*memSampler, error) {
	first, err := readStatus(pid)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &memSampler{pid: pid, cancel: cancel, done: make(chan struct{}), start: first, last: first,
		peakRSS: first.RSS, samples: 1}
	go s.loop(ctx, interval)
	return s, nil
}

func (s *memSampler) loop(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *memSampler) sample() {
	m, err := readStatus(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.last = m
	s.peakRSS = max(s.peakRSS, m.RSS)
	s.samples++
}

// memReport is the sampler's summary.
type memReport struct {
	PID          int    `json:"pid"`
	StartHWM     int64  `json:"start_vm_hwm_bytes"` // VmHWM before the run
	PeakHWM      int64  `json:"vm_hwm_bytes"`       // VmHWM after the run: the process's peak
	PeakRSS      int64  `json:"peak_vm_rss_bytes"`  // largest VmRSS sampled during the run
	Samples      int    `json:"samples"`
	SampleErrors string `json:"sample_error,omitempty"`
}

// stop takes a last sample, stops sampling and reports.
func (s *memSampler) stop() memReport {
	s.cancel()
	<-s.done
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := memReport{PID: s.pid, StartHWM: s.start.HWM, PeakHWM: s.last.HWM, PeakRSS: s.peakRSS, Samples: s.samples}
	if s.err != nil {
		r.SampleErrors = s.err.Error()
	}
	return r
}
