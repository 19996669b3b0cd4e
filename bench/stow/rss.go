package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100

// parseStat returns the CPU time (user + system) from the text of
// /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so the fields are counted from its closing parenthesis.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("CPU time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// readCPU returns the CPU time pid has used.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	d, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return d, nil
}

// memSampler samples a process's memory every interval until stopped, and
// its CPU time at the start and the end.
type memSampler struct {
	pid    int
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	start   memStatus     // at the first sample
	cpu0    time.Duration // CPU time at the first sample
	peakHWM int64         // largest VmHWM read
	peakRSS int64         // largest VmRSS read
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
	cpu0, err := readCPU(pid)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &memSampler{pid: pid, cancel: cancel, done: make(chan struct{}), start: first,
		peakHWM: first.HWM, peakRSS: first.RSS, samples: 1, cpu0: cpu0}
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
	s.peakHWM = max(s.peakHWM, m.HWM)
	s.peakRSS = max(s.peakRSS, m.RSS)
	s.samples++
}

// memReport is the sampler's summary.
type memReport struct {
	PID          int     `json:"pid"`
	StartHWM     int64   `json:"start_vm_hwm_bytes"` // VmHWM before the run
	PeakHWM      int64   `json:"vm_hwm_bytes"`       // the process's peak: the largest VmHWM (or VmRSS) read
	PeakRSS      int64   `json:"peak_vm_rss_bytes"`  // largest VmRSS sampled during the run
	CPUSeconds   float64 `json:"cpu_seconds"`        // user + system CPU time of the process during the run
	Samples      int     `json:"samples"`
	SampleErrors string  `json:"sample_error,omitempty"`
}

// stop takes a last sample, stops sampling and reports.
func (s *memSampler) stop() memReport {
	s.cancel()
	<-s.done
	s.sample()
	cpu, cpuErr := readCPU(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := memReport{PID: s.pid, StartHWM: s.start.HWM, PeakHWM: max(s.peakHWM, s.peakRSS), PeakRSS: s.peakRSS, Samples: s.samples,
		CPUSeconds: (cpu - s.cpu0).Seconds()}
	if cpuErr != nil && s.err == nil {
		s.err = cpuErr
	}
	if s.err != nil {
		r.SampleErrors = s.err.Error()
	}
	return r
}
